//! The sandbox's whole state behind its mutex.

use serde::Serialize;
use serde_json::{Value, json};

use crate::account::Account;
use crate::auth::Tokens;
use crate::data::build_account;
use crate::error::ApiError;
use crate::faults::FaultQueue;
use crate::feed::{Cursor, Feed, Stream};
use crate::ids::mix64;
use crate::model::FeedRow;
use crate::time::Ts;
use crate::{AdvanceSummary, SandboxConfig, wire};

pub(crate) struct State {
    pub now: Ts,
    pub accounts: Vec<Account>,
    pub tokens: Tokens,
    pub faults: FaultQueue,
    pub cursor_key: u64,
}

/// Runs `f` over `items` on a few threads (deterministic: each item is
/// independent) and collects the results in order.
fn par_map<T: Send, R: Send>(items: &mut [T], f: impl Fn(&mut T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if threads <= 1 || items.len() < 64 {
        return items.iter_mut().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks_mut(chunk)
            .map(|c| s.spawn(move || c.iter_mut().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

impl State {
    pub(crate) fn new(cfg: &SandboxConfig) -> State {
        let start = cfg.start.timestamp();
        let mut idx: Vec<u32> = (0..cfg.accounts as u32).collect();
        let (seed, ppa) = (cfg.seed, cfg.purchases_per_account);
        let accounts = par_map(&mut idx, |&mut i| build_account(seed, i, ppa, start));
        let tokens = Tokens::new(
            cfg.seed,
            accounts.iter().map(|a| (a.refresh_token.clone(), a.idx)),
        );
        State {
            now: start,
            accounts,
            tokens,
            faults: FaultQueue::default(),
            cursor_key: mix64(cfg.seed ^ 0x6375_7273_6f72_6b79),
        }
    }

    pub(crate) fn account_index(&self, id: &str) -> Option<usize> {
        let n: usize = id.strip_prefix("kus_")?.parse().ok()?;
        let i = n.checked_sub(1)?;
        (self.accounts.get(i)?.id == id).then_some(i)
    }

    pub(crate) fn advance(&mut self, secs: i64) -> AdvanceSummary {
        if secs <= 0 {
            return AdvanceSummary::default();
        }
        let until = self.now + secs;
        let parts = par_map(&mut self.accounts, |a| a.advance_to(until));
        self.now = until;
        self.tokens.prune(until);
        parts
            .into_iter()
            .fold(AdvanceSummary::default(), |acc, s| acc + s)
    }

    /// One page of a delta collection, serialised.
    pub(crate) fn page(
        &self,
        ai: usize,
        stream: Stream,
        after: Option<&str>,
        size: usize,
    ) -> Result<Vec<u8>, ApiError> {
        let acct = &self.accounts[ai];
        let from = match after {
            None => 0,
            Some(s) => {
                let c = Cursor::decode(s, self.cursor_key).ok_or_else(|| {
                    ApiError::bad_value("updated_after is not a cursor issued by this API")
                })?;
                if c.account != acct.idx || c.stream != stream as u8 {
                    return Err(ApiError::bad_value(
                        "updated_after belongs to another account or another stream",
                    ));
                }
                if c.epoch < self.faults.min_epoch {
                    return Err(ApiError::cursor_expired());
                }
                c.seq
            }
        };
        let feed = &acct.feeds[stream as usize];
        let body = match stream {
            Stream::Purchases => self.render(
                acct,
                stream,
                feed,
                &acct.purchases,
                from,
                size,
                after,
                wire::purchase,
            ),
            Stream::Card => self.render(
                acct,
                stream,
                feed,
                &acct.card,
                from,
                size,
                after,
                wire::card,
            ),
            Stream::Balance => self.render(
                acct,
                stream,
                feed,
                &acct.balance_entries,
                from,
                size,
                after,
                wire::balance_entry,
            ),
            Stream::Points => self.render(
                acct,
                stream,
                feed,
                &acct.points_entries,
                from,
                size,
                after,
                wire::points_entry,
            ),
            Stream::Deliveries => self.render(
                acct,
                stream,
                feed,
                &acct.deliveries,
                from,
                size,
                after,
                wire::delivery,
            ),
        };
        Ok(body)
    }

    #[allow(clippy::too_many_arguments)]
    fn render<R: FeedRow, W: Serialize>(
        &self,
        acct: &Account,
        stream: Stream,
        feed: &Feed,
        rows: &[R],
        from: u64,
        size: usize,
        after: Option<&str>,
        view: fn(&R) -> W,
    ) -> Vec<u8> {
        let (idx, last) = feed.page(rows, from, size);
        let cursor = |seq| {
            Cursor {
                stream: stream as u8,
                account: acct.idx,
                epoch: self.faults.epoch,
                seq,
            }
            .encode(self.cursor_key)
        };
        let next = match (last, after) {
            (Some(seq), _) => cursor(seq),
            (None, Some(a)) => a.to_owned(),
            (None, None) => cursor(0),
        };
        let page = wire::Page {
            key: stream.key(),
            rows: idx.iter().map(|&i| view(&rows[i as usize])).collect(),
            next_cursor: &next,
        };
        serde_json::to_vec(&page).unwrap_or_default()
    }

    /// The full current truth of an account, rows sorted by id.
    pub(crate) fn state_json(&self, ai: usize) -> Value {
        let a = &self.accounts[ai];
        json!({
            "purchases": sorted(&a.purchases, wire::purchase),
            "card_transactions": sorted(&a.card, wire::card),
            "balance_entries": sorted(&a.balance_entries, wire::balance_entry),
            "points_entries": sorted(&a.points_entries, wire::points_entry),
            "deliveries": sorted(&a.deliveries, wire::delivery),
            "balance": wire::balance(a, self.now),
            "rewards": wire::rewards(a, self.now),
            "profile": wire::profile(a),
        })
    }
}

fn sorted<R: FeedRow, W: Serialize>(rows: &[R], view: fn(&R) -> W) -> Value {
    let mut refs: Vec<&R> = rows.iter().collect();
    refs.sort_by_key(|r| r.id());
    Value::Array(
        refs.into_iter()
            .map(|r| serde_json::to_value(view(r)).unwrap_or(Value::Null))
            .collect(),
    )
}
