//! What one run did: totals per stream, and in full only the accounts that
//! need a look. A run over a million accounts keeps a few counters, not a
//! million reports; every account's report goes to the observer as it ends.

use std::fmt;

use bnpl_core::Stream;
use bnpl_store::AccountKey;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamReport {
    pub pages: u64,
    pub requests: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub removed: u64,
    pub retries: u64,
    /// The stream was restarted because the provider expired its cursor.
    pub restarted: bool,
    pub error: Option<String>,
}

impl StreamReport {
    pub fn upserted(&self) -> u64 {
        self.inserted + self.updated
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountReport {
    pub account: AccountKey,
    pub streams: Vec<(Stream, StreamReport)>,
    /// An error that stopped the whole account (sign-in failed, re-auth required).
    pub error: Option<String>,
    /// Snapshots that did not equal the sum of their entries after this run.
    pub reconciliation_gaps: u64,
}

impl AccountReport {
    pub fn new(account: AccountKey) -> Self {
        AccountReport {
            account,
            streams: Vec::new(),
            error: None,
            reconciliation_gaps: 0,
        }
    }

    pub fn failed(&self) -> bool {
        self.error.is_some() || self.streams.iter().any(|(_, s)| s.error.is_some())
    }

    /// Failed, restarted a stream, or left money that does not add up.
    pub fn needs_attention(&self) -> bool {
        self.failed()
            || self.reconciliation_gaps > 0
            || self.streams.iter().any(|(_, s)| s.restarted)
    }

    pub fn stream(&self, stream: Stream) -> Option<&StreamReport> {
        self.streams
            .iter()
            .find(|(s, _)| *s == stream)
            .map(|(_, r)| r)
    }
}

/// One stream's figures summed over the accounts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamTotals {
    /// Accounts that read this stream.
    pub accounts: u64,
    pub pages: u64,
    pub requests: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub removed: u64,
    pub retries: u64,
    /// Accounts whose cursor had expired, so the stream was read from the start.
    pub restarts: u64,
    /// Accounts for which this stream failed.
    pub failures: u64,
}

impl From<&StreamReport> for StreamTotals {
    /// One account's stream, as totals of one account.
    fn from(s: &StreamReport) -> Self {
        StreamTotals {
            accounts: 1,
            pages: s.pages,
            requests: s.requests,
            inserted: s.inserted,
            updated: s.updated,
            unchanged: s.unchanged,
            removed: s.removed,
            retries: s.retries,
            restarts: u64::from(s.restarted),
            failures: u64::from(s.error.is_some()),
        }
    }
}

impl StreamTotals {
    pub fn upserted(&self) -> u64 {
        self.inserted + self.updated
    }

    fn absorb(&mut self, t: &StreamTotals) {
        self.accounts += t.accounts;
        self.pages += t.pages;
        self.requests += t.requests;
        self.inserted += t.inserted;
        self.updated += t.updated;
        self.unchanged += t.unchanged;
        self.removed += t.removed;
        self.retries += t.retries;
        self.restarts += t.restarts;
        self.failures += t.failures;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Accounts synced in this run, failed or not.
    pub accounts: u64,
    /// Accounts that failed (a stream or the whole account).
    pub failed: u64,
    /// Per stream, in stream order, summed over every account.
    pub streams: Vec<(Stream, StreamTotals)>,
    /// Snapshots that did not equal the sum of their entries, over every account.
    pub reconciliation_gaps: u64,
    /// In full, the accounts that [need attention](AccountReport::needs_attention).
    pub attention: Vec<AccountReport>,
    /// Accounts not synced, with why (re-auth required, provider disabled).
    pub skipped: Vec<(AccountKey, String)>,
}

impl RunReport {
    pub fn new(started_at: DateTime<Utc>) -> Self {
        RunReport {
            started_at,
            finished_at: started_at,
            accounts: 0,
            failed: 0,
            streams: Vec::new(),
            reconciliation_gaps: 0,
            attention: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// Counts one account's report in, keeping it only if it needs attention.
    pub fn add(&mut self, account: AccountReport) {
        self.accounts += 1;
        self.failed += u64::from(account.failed());
        self.reconciliation_gaps += account.reconciliation_gaps;
        for (stream, s) in &account.streams {
            let at = match self.streams.binary_search_by_key(stream, |(k, _)| *k) {
                Ok(at) => at,
                Err(at) => {
                    self.streams.insert(at, (*stream, StreamTotals::default()));
                    at
                }
            };
            self.streams[at].1.absorb(&StreamTotals::from(s));
        }
        if account.needs_attention() {
            let at = self
                .attention
                .partition_point(|a| a.account < account.account);
            self.attention.insert(at, account);
        }
    }

    pub fn failed_accounts(&self) -> usize {
        self.failed as usize
    }

    /// One stream's totals (zero when no account read it).
    pub fn stream(&self, stream: Stream) -> StreamTotals {
        self.streams
            .iter()
            .find(|(s, _)| *s == stream)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    }

    /// Every stream's totals summed (`accounts` counts account-streams).
    pub fn total(&self) -> StreamTotals {
        let mut t = StreamTotals::default();
        for (_, s) in &self.streams {
            t.absorb(s);
        }
        t
    }

    /// The report of one account, if it needed attention.
    pub fn account(&self, account_id: &str) -> Option<&AccountReport> {
        self.attention
            .iter()
            .find(|a| a.account.account_id == account_id)
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<18} {:>8} {:>7} {:>9} {:>9} {:>9} {:>7} {:>8}",
            "stream",
            "accounts",
            "pages",
            "inserted",
            "updated",
            "unchanged",
            "retries",
            "failures"
        )?;
        for (stream, s) in &self.streams {
            writeln!(
                f,
                "{:<18} {:>8} {:>7} {:>9} {:>9} {:>9} {:>7} {:>8}",
                stream.as_str(),
                s.accounts,
                s.pages,
                s.inserted,
                s.updated,
                s.unchanged,
                s.retries,
                s.failures
            )?;
        }
        for account in &self.attention {
            let key = account.account.to_string();
            if let Some(e) = &account.error {
                writeln!(f, "{key:<28} {:<18} {e}", "(account)")?;
            }
            for (stream, s) in &account.streams {
                if let Some(e) = &s.error {
                    writeln!(f, "{key:<28} {:<18} {e}", stream.as_str())?;
                } else if s.restarted {
                    writeln!(
                        f,
                        "{key:<28} {:<18} cursor expired: read again from the start",
                        stream.as_str()
                    )?;
                }
            }
            if account.reconciliation_gaps > 0 {
                writeln!(
                    f,
                    "{key:<28} {:<18} {} snapshot(s) differ from the sum of their entries",
                    "(reconciliation)", account.reconciliation_gaps
                )?;
            }
        }
        for (key, why) in &self.skipped {
            writeln!(f, "{:<28} {:<18} skipped: {why}", key.to_string(), "")?;
        }
        let t = self.total();
        write!(
            f,
            "{} account(s), {} failed, {} skipped: {} pages, {} rows written, {} unchanged, {} retries in {:.1}s",
            self.accounts,
            self.failed,
            self.skipped.len(),
            t.pages,
            t.upserted(),
            t.unchanged,
            t.retries,
            (self.finished_at - self.started_at).num_milliseconds() as f64 / 1000.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str, purchases: StreamReport) -> AccountReport {
        AccountReport {
            account: AccountKey::new("p", id),
            streams: vec![
                (Stream::Purchases, purchases),
                (
                    Stream::Balance,
                    StreamReport {
                        pages: 1,
                        requests: 1,
                        ..StreamReport::default()
                    },
                ),
            ],
            error: None,
            reconciliation_gaps: 0,
        }
    }

    #[test]
    fn sums_every_account_and_keeps_only_those_that_need_attention() {
        let mut run = RunReport::new(Utc::now());
        let ok = StreamReport {
            pages: 2,
            requests: 3,
            inserted: 20,
            retries: 1,
            ..StreamReport::default()
        };
        run.add(account("b-ok", ok.clone()));
        run.add(account(
            "c-failed",
            StreamReport {
                error: Some("boom".into()),
                ..ok.clone()
            },
        ));
        run.add(account(
            "a-restarted",
            StreamReport {
                restarted: true,
                ..ok.clone()
            },
        ));
        let mut gap = account("d-gap", ok.clone());
        gap.reconciliation_gaps = 2;
        run.add(gap);

        assert_eq!(
            (run.accounts, run.failed, run.reconciliation_gaps),
            (4, 1, 2)
        );
        let purchases = run.stream(Stream::Purchases);
        assert_eq!(
            (purchases.accounts, purchases.pages, purchases.inserted),
            (4, 8, 80)
        );
        assert_eq!(
            (purchases.retries, purchases.restarts, purchases.failures),
            (4, 1, 1)
        );
        assert_eq!(run.stream(Stream::Balance).requests, 4);
        assert_eq!(run.total().requests, 16);
        // Streams in stream order, attention in key order; the clean account is only counted.
        let streams: Vec<Stream> = run.streams.iter().map(|(s, _)| *s).collect();
        let mut sorted = streams.clone();
        sorted.sort();
        assert_eq!(streams, sorted);
        let kept: Vec<&str> = run
            .attention
            .iter()
            .map(|a| a.account.account_id.as_str())
            .collect();
        assert_eq!(kept, ["a-restarted", "c-failed", "d-gap"]);
        assert!(run.account("b-ok").is_none());
        let shown = run.to_string();
        assert!(
            shown.contains("p/c-failed") && shown.contains("boom"),
            "{shown}"
        );
        assert!(shown.contains("cursor expired"), "{shown}");
        assert!(!shown.contains("b-ok"), "{shown}");
    }
}
