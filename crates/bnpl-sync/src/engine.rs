//! The scheduler: syncs every due stream of every active account, concurrent
//! across accounts (globally and per provider), one account's failure never
//! stopping the others.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use bnpl_core::{
    AccountCredentials, AccountSession, AccountStatus, ConnectorError, CredentialStore, ErrorKind,
    Stream,
};
use bnpl_store::{AccountKey, AccountRecord, ApplyStats, Database, StoreError, StreamAttempt};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use secrecy::SecretString;
use tokio::sync::Semaphore;

use crate::plan::{Cadences, SyncPlan, plan};
use crate::report::{AccountReport, RunReport, StreamReport};
use crate::retry::with_retries;
use crate::settings::{ProviderRuntime, SyncSettings};

/// Hooks for progress displays; every method has a no-op default.
pub trait SyncObserver: Send + Sync {
    fn run_started(&self, _accounts: usize) {}
    fn page_applied(&self, _key: &AccountKey, _stream: Stream, _stats: &ApplyStats) {}
    fn account_finished(&self, _report: &AccountReport) {}
}

struct Silent;
impl SyncObserver for Silent {}

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct Engine {
    db: Arc<dyn Database>,
    providers: BTreeMap<&'static str, (ProviderRuntime, Arc<Semaphore>)>,
    settings: SyncSettings,
    observer: Arc<dyn SyncObserver>,
    clock: Clock,
}

/// Rotated credentials go straight to the database, committed before the
/// connector uses them.
struct StoreCredentials {
    db: Arc<dyn Database>,
    provider: String,
}

#[async_trait]
impl CredentialStore for StoreCredentials {
    async fn save(&self, account_id: &str, secret: &SecretString) -> Result<(), ConnectorError> {
        self.db
            .save_secret(&AccountKey::new(self.provider.clone(), account_id), secret)
            .await
            .map_err(|e| ConnectorError::CredentialStore(e.to_string()))
    }
}

/// Retries one session call per the policy, counting requests and retries.
/// A macro because the call borrows the session mutably on every attempt.
macro_rules! retrying {
    ($policy:expr, $report:expr, $call:expr) => {{
        let mut attempt = 0;
        loop {
            $report.requests += 1;
            match $call.await {
                Ok(v) => break Ok(v),
                Err(e) => match $policy.delay_with_thread_rng(attempt, &e) {
                    Some(wait) => {
                        tracing::debug!(error = %e, wait_ms = wait.as_millis() as u64, "retrying");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        $report.retries += 1;
                    }
                    None => break Err(e),
                },
            }
        }
    }};
}

/// What a stream's failure means for the rest of the account.
enum AfterStream {
    Continue,
    StopAccount,
}

impl Engine {
    pub fn new(
        db: Arc<dyn Database>,
        providers: Vec<ProviderRuntime>,
        settings: SyncSettings,
    ) -> Self {
        let providers = providers
            .into_iter()
            .map(|p| {
                let permits = Arc::new(Semaphore::new(p.max_concurrent_accounts.max(1)));
                (p.id(), (p, permits))
            })
            .collect();
        Engine {
            db,
            providers,
            settings,
            observer: Arc::new(Silent),
            clock: Arc::new(Utc::now),
        }
    }

    pub fn with_observer(mut self, observer: Arc<dyn SyncObserver>) -> Self {
        self.observer = observer;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn database(&self) -> &Arc<dyn Database> {
        &self.db
    }

    /// Syncs every stream of every active account once (`bnpl sync --once`).
    pub async fn run_once(&self) -> Result<RunReport, StoreError> {
        Ok(self.tick(true).await?.0)
    }

    /// Syncs what is due now; returns the report and when to look again.
    ///
    /// Accounts are read `sync.accounts_per_read` at a time, twice
    /// ([`Engine::planned_pages`]): a first pass keeps only the count, the
    /// skipped accounts and the next wake; the second reads the pages again
    /// as the sync reaches them.
    /// Memory follows one page and the accounts in flight, not the number of
    /// accounts (issue 6), and a tick with nothing due reads them once.
    pub async fn tick(
        &self,
        every_stream: bool,
    ) -> Result<(RunReport, Option<DateTime<Utc>>), StoreError> {
        let started_at = (self.clock)();
        let cadences: Cadences<'_> = self
            .providers
            .iter()
            .map(|(id, (p, _))| (*id, &p.cadence))
            .collect();
        let mut report = RunReport::new(started_at);
        let mut due = 0;
        let mut next_wake: Option<DateTime<Utc>> = None;
        let unreadable = std::sync::Mutex::new(None);
        let mut pages =
            std::pin::pin!(self.planned_pages(started_at, &cadences, every_stream, &unreadable));
        while let Some((_, planned)) = pages.next().await {
            due += planned.due.len();
            report
                .skipped
                .extend(planned.skipped.into_iter().map(|s| (s.key, s.reason)));
            next_wake = match (next_wake, planned.next_wake) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        take_error(&unreadable)?;
        self.observer.run_started(due);

        if due > 0 {
            let finished = self
                .planned_pages(started_at, &cadences, every_stream, &unreadable)
                .flat_map(|(page, planned)| futures::stream::iter(due_records(page, planned)))
                .map(|(record, streams)| async move {
                    let account = self.sync_account(&record, &streams).await;
                    self.observer.account_finished(&account);
                    account
                })
                .buffer_unordered(self.settings.max_concurrent_accounts.max(1));
            let mut finished = std::pin::pin!(finished);
            while let Some(account) = finished.next().await {
                report.add(account);
            }
            take_error(&unreadable)?;
        }

        // The clock moves installments to due and late even when no page did.
        let now = (self.clock)();
        if let Err(e) = self.db.refresh_states(now.date_naive(), now).await {
            tracing::error!(error = %e, "could not refresh installment states");
        }
        report.finished_at = (self.clock)();
        Ok((report, next_wake))
    }

    /// Every account in key order, a page of `sync.accounts_per_read` at a
    /// time, read as the stream is consumed, each page with its plan. A page
    /// that cannot be read ends the stream and is left in `unreadable`.
    fn planned_pages<'a>(
        &'a self,
        now: DateTime<Utc>,
        cadences: &'a Cadences<'a>,
        every_stream: bool,
        unreadable: &'a std::sync::Mutex<Option<StoreError>>,
    ) -> impl futures::Stream<Item = (Vec<AccountRecord>, SyncPlan)> + 'a {
        bnpl_store::account_pages(self.db.as_ref(), self.settings.accounts_per_read).filter_map(
            move |page| async move {
                match page {
                    Ok(page) => {
                        let planned = plan(now, &page, cadences, every_stream);
                        Some((page, planned))
                    }
                    Err(e) => {
                        *unreadable.lock().expect("not poisoned") = Some(e);
                        None
                    }
                }
            },
        )
    }

    /// Runs until `shutdown` completes, waking when the next stream is due.
    pub async fn run_forever<F: Future<Output = ()>>(&self, shutdown: F) -> Result<(), StoreError> {
        tokio::pin!(shutdown);
        loop {
            let (report, next_wake) = self.tick(false).await?;
            if report.accounts > 0 {
                let total = report.total();
                tracing::info!(
                    accounts = report.accounts,
                    failed = report.failed_accounts(),
                    rows = total.upserted(),
                    pages = total.pages,
                    "sync tick done"
                );
            }
            // Look again at least every minute: accounts may be added meanwhile.
            let now = (self.clock)();
            let wait = next_wake
                .map(|t| (t - now).to_std().unwrap_or_default())
                .unwrap_or(std::time::Duration::from_secs(60))
                .clamp(
                    std::time::Duration::from_secs(1),
                    std::time::Duration::from_secs(60),
                );
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Syncs the given streams of one account with one session.
    pub async fn sync_account(&self, account: &AccountRecord, streams: &[Stream]) -> AccountReport {
        let key = &account.key;
        let mut report = AccountReport::new(key.clone());
        let Some((runtime, permits)) = self.providers.get(key.provider.as_str()) else {
            report.error = Some(format!("provider {} is not enabled", key.provider));
            return report;
        };
        let _permit = permits.acquire().await.expect("semaphore never closed");

        let secret = match self.db.account_secret(key).await {
            Ok(s) => s,
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        };
        let credentials = AccountCredentials {
            account_id: key.account_id.clone(),
            secret,
        };
        let store: Arc<dyn CredentialStore> = Arc::new(StoreCredentials {
            db: self.db.clone(),
            provider: key.provider.clone(),
        });
        let (opened, _) = with_retries(&self.settings.retry, || {
            runtime.connector.open(credentials.clone(), store.clone())
        })
        .await;
        let mut session = match opened {
            Ok(s) => s,
            Err(e) => {
                self.account_failed(key, &e).await;
                report.error = Some(e.to_string());
                return report;
            }
        };

        let mut attempts = Vec::with_capacity(streams.len());
        for &stream in streams {
            if !runtime.registration.streams.contains(&stream) {
                continue;
            }
            let state = account.streams.iter().find(|s| s.stream == stream);
            let cursor = state.and_then(|s| s.cursor.clone());
            let mut stream_report = StreamReport::default();
            let outcome = if stream.is_delta() {
                self.sync_delta(key, session.as_mut(), stream, cursor, &mut stream_report)
                    .await
            } else {
                self.sync_snapshot(key, session.as_mut(), stream, &mut stream_report)
                    .await
            };
            let (error, next_allowed, after) = match outcome {
                Ok(()) => (None, None, AfterStream::Continue),
                Err(e) => {
                    let next_allowed = match &e {
                        ConnectorError::QuotaExhausted { next_allowed } => Some(*next_allowed),
                        _ => None,
                    };
                    let after = if e.stops_account() {
                        self.account_failed(key, &e).await;
                        AfterStream::StopAccount
                    } else {
                        AfterStream::Continue
                    };
                    tracing::warn!(account = %key, stream = %stream, error = %e, "stream failed");
                    (Some(e.to_string()), next_allowed, after)
                }
            };
            stream_report.error = stream_report.error.take().or(error);
            attempts.push(StreamAttempt {
                stream,
                at: (self.clock)(),
                error: stream_report.error.clone(),
                next_allowed_at: next_allowed,
            });
            report.streams.push((stream, stream_report));
            if matches!(after, AfterStream::StopAccount) {
                break;
            }
        }
        // One write for all of the account's attempts, not one per stream.
        if let Err(e) = self.db.record_stream_attempts(key, &attempts).await {
            for (_, stream_report) in &mut report.streams {
                stream_report.error.get_or_insert_with(|| e.to_string());
            }
        }
        self.reconcile(&mut report).await;
        report
    }

    /// Once every stream of the account caught up in this run, its snapshots
    /// must equal the sum of their entries; a gap is stored and reported.
    async fn reconcile(&self, report: &mut AccountReport) {
        let all_ok =
            report.error.is_none() && report.streams.iter().all(|(_, s)| s.error.is_none());
        let ledgers_read = report
            .streams
            .iter()
            .any(|(s, _)| matches!(s, Stream::Balance | Stream::Points));
        if !all_ok || !ledgers_read {
            return;
        }
        match self.db.reconcile(&report.account, (self.clock)()).await {
            Ok(checks) => {
                for c in checks.iter().filter(|c| c.gap_minor != 0) {
                    tracing::warn!(
                        account = %report.account, kind = %c.kind, ledger = %c.ledger,
                        snapshot = c.snapshot_minor, entries = c.entries_minor, gap = c.gap_minor,
                        "reconciliation gap"
                    );
                    report.reconciliation_gaps += 1;
                }
            }
            Err(e) => {
                tracing::error!(account = %report.account, error = %e, "reconciliation failed")
            }
        }
    }

    async fn account_failed(&self, key: &AccountKey, error: &ConnectorError) {
        if error.kind() == ErrorKind::ReauthRequired {
            tracing::warn!(account = %key, error = %error, "account needs re-consent");
            if let Err(e) = self
                .db
                .set_account_status(key, AccountStatus::ReauthRequired, Some(&error.to_string()))
                .await
            {
                tracing::error!(account = %key, error = %e, "could not mark account reauth_required");
            }
        }
    }

    async fn sync_delta(
        &self,
        key: &AccountKey,
        session: &mut dyn AccountSession,
        stream: Stream,
        mut cursor: Option<String>,
        report: &mut StreamReport,
    ) -> Result<(), ConnectorError> {
        let policy = &self.settings.retry;
        loop {
            if report.pages >= u64::from(self.settings.max_pages_per_stream) {
                report.error = Some(format!(
                    "stopped after {} pages without catching up (sync.max_pages_per_stream)",
                    report.pages
                ));
                return Ok(());
            }
            let pulled = retrying!(policy, report, session.pull(stream, cursor.as_deref()));
            let page = match pulled {
                Ok(page) => page,
                Err(ConnectorError::CursorExpired { .. }) if !report.restarted => {
                    tracing::info!(account = %key, stream = %stream, "cursor expired; restarting the stream");
                    self.db
                        .reset_cursor(key, stream)
                        .await
                        .map_err(store_error)?;
                    report.restarted = true;
                    cursor = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if page.records.stream() != stream {
                return Err(ConnectorError::permanent(format!(
                    "connector answered {} rows for the {stream} stream",
                    page.records.stream()
                )));
            }
            // Catching up costs one empty page per stream (the contract): when
            // it leaves the cursor where it was, there is nothing to write.
            let unchanged = page.records.is_empty()
                && page.removed.is_empty()
                && cursor.as_deref() == Some(page.next_cursor.as_str());
            let stats = if unchanged {
                ApplyStats::default()
            } else {
                self.db
                    .apply_page(key, stream, &page, (self.clock)())
                    .await
                    .map_err(store_error)?
            };
            report.pages += 1;
            report.inserted += stats.inserted;
            report.updated += stats.updated;
            report.unchanged += stats.unchanged;
            report.removed += stats.removed;
            self.observer.page_applied(key, stream, &stats);
            if page.caught_up {
                return Ok(());
            }
            cursor = Some(page.next_cursor);
        }
    }

    async fn sync_snapshot(
        &self,
        key: &AccountKey,
        session: &mut dyn AccountSession,
        stream: Stream,
        report: &mut StreamReport,
    ) -> Result<(), ConnectorError> {
        let policy = &self.settings.retry;
        let snapshot = retrying!(policy, report, session.snapshot(stream))?;
        let stats = self
            .db
            .apply_snapshot(key, &snapshot, (self.clock)())
            .await
            .map_err(store_error)?;
        report.pages += 1;
        report.inserted += stats.inserted;
        report.updated += stats.updated;
        report.unchanged += stats.unchanged;
        self.observer.page_applied(key, stream, &stats);
        Ok(())
    }
}

/// The page's due accounts, each with the streams to sync.
fn due_records(page: Vec<AccountRecord>, planned: SyncPlan) -> Vec<(AccountRecord, Vec<Stream>)> {
    let mut records: HashMap<AccountKey, AccountRecord> =
        page.into_iter().map(|a| (a.key.clone(), a)).collect();
    planned
        .due
        .into_iter()
        .filter_map(|d| Some((records.remove(&d.key)?, d.streams)))
        .collect()
}

/// The error a page stream left behind, if any.
fn take_error(unreadable: &std::sync::Mutex<Option<StoreError>>) -> Result<(), StoreError> {
    match unreadable.lock().expect("not poisoned").take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A store failure ends the stream for this run; the next run resumes from
/// the last committed cursor.
fn store_error(e: StoreError) -> ConnectorError {
    ConnectorError::permanent(format!("store: {e}"))
}
