//! What one run did, per account and per stream.

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

    pub fn stream(&self, stream: Stream) -> Option<&StreamReport> {
        self.streams
            .iter()
            .find(|(s, _)| *s == stream)
            .map(|(_, r)| r)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub accounts: Vec<AccountReport>,
    /// Accounts not synced, with why (re-auth required, provider disabled).
    pub skipped: Vec<(AccountKey, String)>,
}

impl RunReport {
    pub fn failed_accounts(&self) -> usize {
        self.accounts.iter().filter(|a| a.failed()).count()
    }

    pub fn total(&self) -> StreamReport {
        let mut t = StreamReport::default();
        for (_, s) in self.accounts.iter().flat_map(|a| &a.streams) {
            t.pages += s.pages;
            t.requests += s.requests;
            t.inserted += s.inserted;
            t.updated += s.updated;
            t.unchanged += s.unchanged;
            t.removed += s.removed;
            t.retries += s.retries;
        }
        t
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} {:<18} {:>6} {:>9} {:>9} {:>9} {:>7}  error",
            "account", "stream", "pages", "inserted", "updated", "unchanged", "retries"
        )?;
        for account in &self.accounts {
            if let Some(e) = &account.error {
                writeln!(
                    f,
                    "{:<28} {:<18} {e}",
                    account.account.to_string(),
                    "(account)"
                )?;
            }
            for (stream, s) in &account.streams {
                writeln!(
                    f,
                    "{:<28} {:<18} {:>6} {:>9} {:>9} {:>9} {:>7}  {}",
                    account.account.to_string(),
                    stream.as_str(),
                    s.pages,
                    s.inserted,
                    s.updated,
                    s.unchanged,
                    s.retries,
                    s.error.as_deref().unwrap_or("")
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
            self.accounts.len(),
            self.failed_accounts(),
            self.skipped.len(),
            t.pages,
            t.upserted(),
            t.unchanged,
            t.retries,
            (self.finished_at - self.started_at).num_milliseconds() as f64 / 1000.0
        )
    }
}
