//! Per-account, per-stream change feeds and their opaque cursors.
//!
//! Every change of a row gives it a new, strictly increasing sequence
//! number within its (account, stream) feed. The log keeps `(seq, row)`
//! entries in seq order; an entry is live only while the row still carries
//! that seq, so a changed row appears at its latest position only. Seqs are
//! handed out in `(updated_at, id)` order, so feed order is that order.
//!
//! A cursor is `base64url(version, stream, account, epoch, seq, mac)`: the
//! position after which the next page starts, bound to one account and one
//! stream, with a keyed checksum so garbage or a forged cursor is rejected.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::ids::mix64;
use crate::model::FeedRow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Stream {
    Purchases = 0,
    Card = 1,
    Balance = 2,
    Points = 3,
    Deliveries = 4,
}

pub(crate) const STREAMS: usize = 5;

impl Stream {
    #[cfg(test)]
    pub(crate) const ALL: [Stream; STREAMS] = [
        Stream::Purchases,
        Stream::Card,
        Stream::Balance,
        Stream::Points,
        Stream::Deliveries,
    ];

    /// The key of the rows array in a page.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Stream::Purchases => "purchases",
            Stream::Card => "transactions",
            Stream::Balance | Stream::Points => "entries",
            Stream::Deliveries => "deliveries",
        }
    }

    pub(crate) fn path(self) -> &'static str {
        match self {
            Stream::Purchases => "/consumer/v2/purchases",
            Stream::Card => "/consumer/v2/card/transactions",
            Stream::Balance => "/consumer/v2/balance/transactions",
            Stream::Points => "/consumer/v2/rewards/transactions",
            Stream::Deliveries => "/consumer/v2/deliveries",
        }
    }
}

#[derive(Default, Debug, Clone)]
pub(crate) struct Feed {
    log: Vec<(u64, u32)>,
    last_seq: u64,
}

impl Feed {
    /// Gives every dirty row a new position, in `(updated_at, id)` order.
    /// All dirty rows must carry an `updated_at` not older than any row
    /// positioned before (true: the clock only moves forward).
    pub(crate) fn assign<R: FeedRow>(&mut self, rows: &mut [R], dirty: &mut Vec<u32>) {
        dirty.sort_unstable();
        dirty.dedup();
        dirty.sort_by_key(|&i| {
            let r = &rows[i as usize];
            (r.updated_at(), r.id())
        });
        self.log.reserve(dirty.len());
        for &i in dirty.iter() {
            self.last_seq += 1;
            rows[i as usize].set_seq(self.last_seq);
            self.log.push((self.last_seq, i));
        }
        dirty.clear();
        if self.log.len() > 2 * rows.len() + 64 {
            self.log.retain(|&(s, i)| rows[i as usize].seq() == s);
        }
    }

    pub(crate) fn shrink(&mut self) {
        self.log.shrink_to_fit();
    }

    /// Up to `limit` live rows after position `after`, and the position of
    /// the last one returned.
    pub(crate) fn page<R: FeedRow>(
        &self,
        rows: &[R],
        after: u64,
        limit: usize,
    ) -> (Vec<u32>, Option<u64>) {
        let start = self.log.partition_point(|&(s, _)| s <= after);
        let mut out = Vec::with_capacity(limit.min(128));
        let mut last = None;
        for &(s, i) in &self.log[start..] {
            if out.len() >= limit {
                break;
            }
            if rows[i as usize].seq() == s {
                out.push(i);
                last = Some(s);
            }
        }
        (out, last)
    }

    #[cfg(test)]
    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    #[cfg(test)]
    pub(crate) fn log_len(&self) -> usize {
        self.log.len()
    }
}

const CURSOR_VERSION: u8 = 1;
const CURSOR_LEN: usize = 22;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub stream: u8,
    pub account: u32,
    pub epoch: u32,
    pub seq: u64,
}

impl Cursor {
    fn mac(&self, key: u64) -> u32 {
        let head = (u64::from(CURSOR_VERSION) << 56)
            | (u64::from(self.stream) << 48)
            | u64::from(self.account);
        let mut h = key;
        for w in [head, u64::from(self.epoch), self.seq] {
            h = mix64(h ^ w).wrapping_add(0x632b_e59b_d9b4_e019);
        }
        (h >> 32) as u32
    }

    pub(crate) fn encode(&self, key: u64) -> String {
        let mut b = Vec::with_capacity(CURSOR_LEN);
        b.push(CURSOR_VERSION);
        b.push(self.stream);
        b.extend_from_slice(&self.account.to_be_bytes());
        b.extend_from_slice(&self.epoch.to_be_bytes());
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.mac(key).to_be_bytes());
        URL_SAFE_NO_PAD.encode(b)
    }

    /// `None` for anything that is not a cursor this sandbox issued.
    pub(crate) fn decode(s: &str, key: u64) -> Option<Cursor> {
        let b = URL_SAFE_NO_PAD.decode(s.as_bytes()).ok()?;
        if b.len() != CURSOR_LEN || b[0] != CURSOR_VERSION {
            return None;
        }
        let c = Cursor {
            stream: b[1],
            account: u32::from_be_bytes(b[2..6].try_into().ok()?),
            epoch: u32::from_be_bytes(b[6..10].try_into().ok()?),
            seq: u64::from_be_bytes(b[10..18].try_into().ok()?),
        };
        let mac = u32::from_be_bytes(b[18..22].try_into().ok()?);
        (mac == c.mac(key)).then_some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row {
        id: u64,
        updated_at: i64,
        seq: u64,
    }

    impl FeedRow for Row {
        fn id(&self) -> u64 {
            self.id
        }
        fn updated_at(&self) -> i64 {
            self.updated_at
        }
        fn seq(&self) -> u64 {
            self.seq
        }
        fn set_seq(&mut self, seq: u64) {
            self.seq = seq;
        }
    }

    #[test]
    fn cursor_round_trips_and_rejects_tampering() {
        let c = Cursor {
            stream: 2,
            account: 7,
            epoch: 1,
            seq: 12345,
        };
        let s = c.encode(99);
        assert_eq!(Cursor::decode(&s, 99), Some(c));
        assert_eq!(Cursor::decode(&s, 98), None);
        assert_eq!(Cursor::decode("garbage", 99), None);
        assert_eq!(Cursor::decode("", 99), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&s).unwrap();
        bytes[12] ^= 1;
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode(&bytes), 99), None);
    }

    #[test]
    fn changed_rows_move_to_the_end_and_appear_once() {
        let mut rows: Vec<Row> = (0..10)
            .map(|i| Row {
                id: 100 - i,
                updated_at: 10,
                seq: 0,
            })
            .collect();
        let mut feed = Feed::default();
        let mut dirty: Vec<u32> = (0..10).collect();
        feed.assign(&mut rows, &mut dirty);
        // Ordered by (updated_at, id): ids ascending.
        let (page, last) = feed.page(&rows, 0, 3);
        let ids: Vec<u64> = page.iter().map(|&i| rows[i as usize].id).collect();
        assert_eq!(ids, vec![91, 92, 93]);
        let after = last.unwrap();

        // Row with id 92 (already served) and 95 (not yet served) change.
        for r in rows.iter_mut().filter(|r| r.id == 92 || r.id == 95) {
            r.updated_at = 20;
        }
        let mut dirty: Vec<u32> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.updated_at == 20)
            .map(|(i, _)| i as u32)
            .collect();
        feed.assign(&mut rows, &mut dirty);
        let (page, _) = feed.page(&rows, after, 100);
        let ids: Vec<u64> = page.iter().map(|&i| rows[i as usize].id).collect();
        assert_eq!(ids, vec![94, 96, 97, 98, 99, 100, 92, 95]);
    }

    #[test]
    fn log_compacts_without_moving_positions() {
        let mut rows: Vec<Row> = (0..4)
            .map(|i| Row {
                id: i,
                updated_at: 0,
                seq: 0,
            })
            .collect();
        let mut feed = Feed::default();
        for t in 0..100 {
            for r in rows.iter_mut() {
                r.updated_at = t;
            }
            let mut dirty: Vec<u32> = (0..4).collect();
            feed.assign(&mut rows, &mut dirty);
        }
        assert!(feed.log_len() <= 2 * rows.len() + 64);
        let (page, last) = feed.page(&rows, 0, 100);
        assert_eq!(page.len(), 4);
        assert_eq!(last, Some(feed.last_seq()));
    }
}
