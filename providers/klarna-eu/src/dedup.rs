//! The delta cursor of the `balance_entries` stream and the rules that turn
//! overlapping PSD2 transaction reports into a clean mirror.
//!
//! The cursor is this module's JSON ([`Cursor`]); the engine stores it with
//! each page, so every decision below is committed atomically with the rows
//! it produced. Per ledger (IBAN) it keeps:
//! - `read_on`: the day of the last complete read. The next read asks for
//!   `dateFrom = read_on - overlap_days`, so a row booked late with an earlier
//!   booking date is still seen.
//! - `booked`: id → content fingerprint of booked rows inside the overlap
//!   window, so rows served again by the overlap are not emitted again
//!   (only new or changed rows are).
//! - `pending`: the pending rows in the mirror, with what they match on.
//! - `expired`: pending ids removed by expiry that the bank still lists.
//!
//! Ids: `<ledger>/<transactionId>`; without a `transactionId`,
//! `<ledger>/e-<entryReference>`; without either, `<ledger>/h-<hash>` where
//! the hash covers the row's content (status, dates, amount, parties,
//! remittance, references), and the n-th identical row of one report gets
//! `-n` appended. Content and report order being the same, the id is the
//! same on every read.
//!
//! Pending → booked under a new id: when a read ends, a booked row of that
//! read replaces a tracked pending row (whose id goes to `Page.removed`) if
//! the pending row is no longer listed, has the same amount and currency on
//! the same ledger, the same counterparty name or the same remittance text,
//! and the booking date falls between 3 days before the pending row's date
//! and `pending_expiry_days` after it was first seen. Each booked row
//! replaces at most one pending row, the oldest candidate first.
//!
//! Expiry: a pending row first seen `pending_expiry_days` ago or more leaves
//! the mirror (its id goes to `Page.removed`); if the bank still lists it,
//! its id is remembered in `expired` so it is not mirrored again.

use std::collections::{BTreeMap, BTreeSet};

use bnpl_core::{BalanceEntry, BookingStatus};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::wire::Row;

pub(crate) const CURSOR_VERSION: u32 = 1;
/// A pending row's date may be this many days after its booking date.
const EARLY_BOOKING_DAYS: i64 = 3;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cursor {
    pub v: u32,
    #[serde(default)]
    pub ledgers: BTreeMap<String, LedgerState>,
    /// The sync run in progress, when a run stopped between pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,
}

impl Cursor {
    pub fn new() -> Self {
        Cursor {
            v: CURSOR_VERSION,
            ..Cursor::default()
        }
    }

    /// `None` when the text is not a cursor of this version.
    pub fn parse(text: &str) -> Option<Cursor> {
        serde_json::from_str::<Cursor>(text)
            .ok()
            .filter(|c| c.v == CURSOR_VERSION)
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("the cursor always serializes")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LedgerState {
    #[serde(default)]
    pub read_on: Option<NaiveDate>,
    #[serde(default)]
    pub booked: BTreeMap<String, BookedSeen>,
    #[serde(default)]
    pub pending: BTreeMap<String, PendingTrack>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub expired: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BookedSeen {
    pub fp: String,
    pub date: NaiveDate,
    /// This booked row already replaced a pending row.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub claimed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MatchKey {
    pub minor: i64,
    pub currency: String,
    /// Short hashes of the normalized counterparty name and remittance text
    /// (empty when the row has none).
    pub cp: String,
    pub ri: String,
}

impl MatchKey {
    fn matches(&self, other: &MatchKey) -> bool {
        self.minor == other.minor
            && self.currency == other.currency
            && ((!self.cp.is_empty() && self.cp == other.cp)
                || (!self.ri.is_empty() && self.ri == other.ri))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PendingTrack {
    pub fp: String,
    pub key: MatchKey,
    /// The row's own date (value date), else the day it was first seen.
    pub date: NaiveDate,
    pub first_seen: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Run {
    /// Ledgers still to read after `current`.
    pub queue: Vec<String>,
    #[serde(default)]
    pub current: Option<Read>,
}

/// One ledger's read in progress (one report, possibly several pages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Read {
    pub ledger: String,
    pub date_from: NaiveDate,
    pub today: NaiveDate,
    /// `_links.next` of the last page.
    #[serde(default)]
    pub next: Option<String>,
    /// The report was restarted once because a page link was gone.
    #[serde(default)]
    pub restarted: bool,
    #[serde(default)]
    pub pending_seen: BTreeSet<String>,
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Rows without an id seen so far in this report, per content hash.
    #[serde(default)]
    pub occurrences: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Candidate {
    pub id: String,
    pub key: MatchKey,
    pub date: NaiveDate,
}

impl Read {
    pub fn new(ledger: String, date_from: NaiveDate, today: NaiveDate) -> Self {
        Read {
            ledger,
            date_from,
            today,
            next: None,
            restarted: false,
            pending_seen: BTreeSet::new(),
            candidates: Vec::new(),
            occurrences: BTreeMap::new(),
        }
    }

    /// Forgets what the pages read so far contributed (before a restart).
    pub fn restart(&mut self) {
        self.next = None;
        self.restarted = true;
        self.pending_seen.clear();
        self.candidates.clear();
        self.occurrences.clear();
    }
}

fn hex(bytes: &[u8], len: usize) -> String {
    bytes
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(len)
        .map(|n| char::from_digit(u32::from(n), 16).expect("a nibble is a hex digit"))
        .collect()
}

fn hash(parts: &[String], len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex(&h.finalize(), len)
}

/// Lower case letters and digits only, words joined by one space.
pub(crate) fn normalize(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

fn short(text: Option<&str>) -> String {
    match text.map(normalize).filter(|t| !t.is_empty()) {
        Some(t) => hash(&[t], 12),
        None => String::new(),
    }
}

pub(crate) fn match_key(row: &Row) -> MatchKey {
    MatchKey {
        minor: row.amount.minor,
        currency: row.amount.currency.to_string(),
        cp: short(row.counterparty.as_deref()),
        ri: short(row.remittance.as_deref()),
    }
}

/// The fingerprint of a row's content (changes when anything shown changes).
pub(crate) fn fingerprint(row: &Row) -> String {
    let mut parts = row.identity.clone();
    parts.push(row.kind.as_str().to_string());
    parts.push(row.transaction_id.clone().unwrap_or_default());
    parts.push(row.entry_reference.clone().unwrap_or_default());
    hash(&parts, 16)
}

/// The id of a row without a `transactionId` or `entryReference`, before
/// the occurrence suffix.
pub(crate) fn content_id(ledger: &str, row: &Row) -> String {
    let mut parts = vec![ledger.to_string()];
    parts.extend(row.identity.iter().cloned());
    format!("{ledger}/h-{}", hash(&parts, 24))
}

fn row_id(ledger: &str, row: &Row, read: &mut Read) -> String {
    if let Some(id) = &row.transaction_id {
        return format!("{ledger}/{id}");
    }
    if let Some(r) = &row.entry_reference {
        return format!("{ledger}/e-{r}");
    }
    let base = content_id(ledger, row);
    let n = read.occurrences.entry(base.clone()).or_insert(0);
    let id = if *n == 0 { base } else { format!("{base}-{n}") };
    *n += 1;
    id
}

/// Applies one page of a report: returns the rows to upsert (new or
/// changed only, each id once) and updates the ledger's state.
pub(crate) fn apply_page(
    state: &mut LedgerState,
    read: &mut Read,
    rows: &[Row],
    read_at: DateTime<Utc>,
) -> Vec<BalanceEntry> {
    let ledger = read.ledger.clone();
    let mut out: Vec<BalanceEntry> = Vec::new();
    let mut emit = |entry: BalanceEntry| {
        if let Some(existing) = out.iter_mut().find(|e| e.id == entry.id) {
            *existing = entry;
        } else {
            out.push(entry);
        }
    };
    // Booked rows first: a row listed as both is booked.
    let mut ordered: Vec<&Row> = rows
        .iter()
        .filter(|r| r.booking == BookingStatus::Booked)
        .collect();
    ordered.extend(rows.iter().filter(|r| r.booking == BookingStatus::Pending));
    for row in ordered {
        let id = row_id(&ledger, row, read);
        let fp = fingerprint(row);
        let date = row.date().unwrap_or(read.today);
        match row.booking {
            BookingStatus::Booked => {
                state.pending.remove(&id);
                state.expired.remove(&id);
                let key = match_key(row);
                let previous = state.booked.get(&id);
                let claimed = previous.is_some_and(|p| p.claimed);
                if !claimed && state.pending.values().any(|p| p.key.minor == key.minor) {
                    read.candidates.push(Candidate {
                        id: id.clone(),
                        key,
                        date,
                    });
                }
                if previous.is_none_or(|p| p.fp != fp) {
                    emit(row.entry(id.clone(), &ledger, read_at));
                }
                state.booked.insert(id, BookedSeen { fp, date, claimed });
            }
            BookingStatus::Pending => {
                read.pending_seen.insert(id.clone());
                if state.expired.contains(&id) || state.booked.contains_key(&id) {
                    continue;
                }
                let previous = state.pending.get(&id);
                if previous.is_none_or(|p| p.fp != fp) {
                    emit(row.entry(id.clone(), &ledger, read_at));
                }
                let first_seen = previous.map(|p| p.first_seen).unwrap_or(read.today);
                state.pending.insert(
                    id,
                    PendingTrack {
                        fp,
                        key: match_key(row),
                        date: row.date().unwrap_or(first_seen),
                        first_seen,
                    },
                );
            }
        }
    }
    out
}

/// Ends a ledger's read: matches booked rows to vanished pending rows,
/// expires old pending rows, prunes the state. Returns the ids to remove.
pub(crate) fn finish_read(
    state: &mut LedgerState,
    read: &Read,
    pending_expiry_days: u32,
    overlap_days: u32,
) -> Vec<String> {
    let expiry = Duration::days(i64::from(pending_expiry_days));
    let mut removed: Vec<String> = Vec::new();
    for candidate in &read.candidates {
        if state.booked.get(&candidate.id).is_some_and(|b| b.claimed) {
            continue;
        }
        let best = state
            .pending
            .iter()
            .filter(|(id, _)| !read.pending_seen.contains(*id))
            .filter(|(_, p)| p.key.matches(&candidate.key))
            .filter(|(_, p)| {
                candidate.date >= p.date - Duration::days(EARLY_BOOKING_DAYS)
                    && candidate.date <= p.first_seen.max(p.date) + expiry
            })
            .min_by(|a, b| (a.1.date, a.0).cmp(&(b.1.date, b.0)))
            .map(|(id, _)| id.clone());
        if let Some(pending_id) = best {
            state.pending.remove(&pending_id);
            if let Some(b) = state.booked.get_mut(&candidate.id) {
                b.claimed = true;
            }
            removed.push(pending_id);
        }
    }
    let stale: Vec<String> = state
        .pending
        .iter()
        .filter(|(_, p)| read.today >= p.first_seen + expiry)
        .map(|(id, _)| id.clone())
        .collect();
    for id in stale {
        state.pending.remove(&id);
        if read.pending_seen.contains(&id) {
            state.expired.insert(id.clone());
        }
        removed.push(id);
    }
    state.expired.retain(|id| read.pending_seen.contains(id));
    let keep_from = read.today - Duration::days(i64::from(overlap_days));
    state.booked.retain(|_, b| b.date >= keep_from);
    state.read_on = Some(read.today);
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{TransactionIn, row};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        format!("{s}T08:00:00Z").parse().unwrap()
    }

    fn tx(booking: BookingStatus, v: serde_json::Value) -> Row {
        let t: TransactionIn = serde_json::from_value(v).unwrap();
        row(&t, booking, "t").unwrap()
    }

    fn pending(id: Option<&str>, amount: &str, who: &str, value: &str) -> Row {
        let mut v = serde_json::json!({
            "transactionAmount": {"currency": "EUR", "amount": amount},
            "creditorName": who, "valueDate": value
        });
        if let Some(id) = id {
            v["transactionId"] = id.into();
        }
        tx(BookingStatus::Pending, v)
    }

    fn booked(id: Option<&str>, amount: &str, who: &str, date: &str) -> Row {
        let mut v = serde_json::json!({
            "transactionAmount": {"currency": "EUR", "amount": amount},
            "creditorName": who, "bookingDate": date, "valueDate": date
        });
        if let Some(id) = id {
            v["transactionId"] = id.into();
        }
        tx(BookingStatus::Booked, v)
    }

    fn read_once(
        state: &mut LedgerState,
        today: &str,
        rows: &[Row],
    ) -> (Vec<BalanceEntry>, Vec<String>) {
        let mut read = Read::new("DE1".into(), d(today) - Duration::days(3), d(today));
        let entries = apply_page(state, &mut read, rows, at(today));
        let removed = finish_read(state, &read, 14, 3);
        (entries, removed)
    }

    #[test]
    fn pending_booked_under_a_new_id_replaces_it() {
        let mut s = LedgerState::default();
        let (e, r) = read_once(
            &mut s,
            "2026-11-01",
            &[pending(Some("p1"), "-12.50", "ACME Shop", "2026-11-01")],
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].id, "DE1/p1");
        assert_eq!(e[0].booking, BookingStatus::Pending);
        assert!(r.is_empty());
        let (e, r) = read_once(
            &mut s,
            "2026-11-03",
            &[booked(Some("b1"), "-12.50", "Acme  shop", "2026-11-02")],
        );
        assert_eq!(
            e.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["DE1/b1"]
        );
        assert_eq!(r, ["DE1/p1"]);
        assert!(s.pending.is_empty());
        // The overlap serves the booked row again: nothing new, nothing removed.
        let (e, r) = read_once(
            &mut s,
            "2026-11-04",
            &[booked(Some("b1"), "-12.50", "Acme  shop", "2026-11-02")],
        );
        assert!(e.is_empty() && r.is_empty());
    }

    #[test]
    fn a_pending_row_still_listed_is_not_replaced_by_a_lookalike() {
        let mut s = LedgerState::default();
        read_once(
            &mut s,
            "2026-11-01",
            &[pending(Some("p1"), "-3.00", "Cafe", "2026-11-01")],
        );
        let (e, r) = read_once(
            &mut s,
            "2026-11-02",
            &[
                booked(Some("b0"), "-3.00", "Cafe", "2026-11-02"),
                pending(Some("p1"), "-3.00", "Cafe", "2026-11-01"),
            ],
        );
        assert_eq!(e.len(), 1);
        assert!(r.is_empty(), "{r:?}");
        // Next day the pending is gone: the booked row (still in the overlap) replaces it.
        let (e, r) = read_once(
            &mut s,
            "2026-11-03",
            &[booked(Some("b0"), "-3.00", "Cafe", "2026-11-02")],
        );
        assert!(e.is_empty());
        assert_eq!(r, ["DE1/p1"]);
    }

    #[test]
    fn a_pending_row_that_never_books_expires_once() {
        let mut s = LedgerState::default();
        read_once(
            &mut s,
            "2026-11-01",
            &[pending(Some("p9"), "-40", "Hotel", "2026-11-01")],
        );
        let (_, r) = read_once(
            &mut s,
            "2026-11-14",
            &[pending(Some("p9"), "-40", "Hotel", "2026-11-01")],
        );
        assert!(r.is_empty());
        let (_, r) = read_once(
            &mut s,
            "2026-11-15",
            &[pending(Some("p9"), "-40", "Hotel", "2026-11-01")],
        );
        assert_eq!(r, ["DE1/p9"]);
        // Still listed by the bank: not mirrored again.
        let (e, r) = read_once(
            &mut s,
            "2026-11-16",
            &[pending(Some("p9"), "-40", "Hotel", "2026-11-01")],
        );
        assert!(e.is_empty() && r.is_empty());
        assert!(s.expired.contains("DE1/p9"));
        // Gone from the bank: the tombstone goes too.
        read_once(&mut s, "2026-11-17", &[]);
        assert!(s.expired.is_empty());
    }

    #[test]
    fn rows_without_ids_get_stable_content_ids() {
        let rows = [
            booked(None, "-2.00", "Bakery", "2026-11-02"),
            booked(None, "-2.00", "Bakery", "2026-11-02"),
            booked(None, "-2.50", "Bakery", "2026-11-02"),
        ];
        let mut s1 = LedgerState::default();
        let (e1, _) = read_once(&mut s1, "2026-11-03", &rows);
        let ids: Vec<String> = e1.iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids.len(), 3);
        assert!(
            ids[0].starts_with("DE1/h-") && ids[1] == format!("{}-1", ids[0]),
            "{ids:?}"
        );
        let mut s2 = LedgerState::default();
        let (e2, _) = read_once(&mut s2, "2026-11-04", &rows);
        assert_eq!(e2.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), ids);
        // And on the same state, an overlapping read emits nothing new.
        let (e3, _) = read_once(&mut s1, "2026-11-04", &rows);
        assert!(e3.is_empty());
    }

    #[test]
    fn changed_rows_are_emitted_again_and_old_booked_rows_pruned() {
        let mut s = LedgerState::default();
        read_once(
            &mut s,
            "2026-11-02",
            &[booked(Some("b1"), "-1.00", "A", "2026-11-01")],
        );
        let (e, _) = read_once(
            &mut s,
            "2026-11-02",
            &[booked(Some("b1"), "-1.10", "A", "2026-11-01")],
        );
        assert_eq!(e.len(), 1);
        read_once(&mut s, "2026-11-10", &[]);
        assert!(s.booked.is_empty());
        assert_eq!(s.read_on, Some(d("2026-11-10")));
    }

    #[test]
    fn cursor_round_trips() {
        let mut c = Cursor::new();
        c.ledgers.insert("DE1".into(), LedgerState::default());
        c.run = Some(Run {
            queue: vec!["SE1".into()],
            current: Some(Read::new("DE1".into(), d("2026-01-01"), d("2026-01-04"))),
        });
        assert_eq!(Cursor::parse(&c.to_text()), Some(c));
        assert_eq!(Cursor::parse("{\"v\":99}"), None);
        assert_eq!(Cursor::parse("garbage"), None);
    }
}
