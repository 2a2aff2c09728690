//! The mirror: one small [`Database`] trait, one implementation per backend
//! (SQLite by default, PostgreSQL at scale), migrations per backend under
//! `schema/<backend>/`.
//!
//! Every write that the sync makes goes through [`Database::apply_page`] or
//! [`Database::apply_snapshot`], each one transaction: a page's rows and the
//! stream's new cursor are committed together or not at all.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use secrecy::SecretString;
use serde::Serialize;

use bnpl_core::{
    AccountStatus, BalanceEntry, BalanceSnapshot, CardTransaction, Delivery, InstallmentState,
    Page, PointsEntry, PointsSnapshot, Profile, Purchase, Records, SnapshotData, Stream,
};

mod apply;
pub mod cipher;
mod error;
mod migrate;
pub mod postgres;
mod rows;
pub mod sqlite;
pub mod time;

pub use cipher::SecretCipher;
pub use error::StoreError;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Opens the mirror at `url`, choosing the backend from its scheme
/// (`sqlite:`, `postgres:` or `postgresql:`), and runs pending migrations.
pub async fn open(url: &str, cipher: SecretCipher) -> Result<Box<dyn Database>, StoreError> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => Ok(Box::new(SqliteStore::open(url, cipher).await?)),
        Some("postgres" | "postgresql") => Ok(Box::new(PostgresStore::open(url, cipher).await?)),
        _ => Err(StoreError::UnsupportedUrl(url.to_string())),
    }
}

/// An account as the operator names it: provider id plus the provider's account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AccountKey {
    pub provider: String,
    pub account_id: String,
}

impl AccountKey {
    pub fn new(provider: impl Into<String>, account_id: impl Into<String>) -> Self {
        AccountKey {
            provider: provider.into(),
            account_id: account_id.into(),
        }
    }
}

impl std::fmt::Display for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.account_id)
    }
}

/// An account row, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRecord {
    pub key: AccountKey,
    pub status: AccountStatus,
    /// Why the status is what it is (the provider's error for `reauth_required`).
    pub status_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub streams: Vec<StreamState>,
}

/// Where one stream of one account stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamState {
    pub stream: Stream,
    /// The provider's opaque cursor (delta streams only).
    pub cursor: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Set when a provider quota forbids reading before this time.
    pub next_allowed_at: Option<DateTime<Utc>>,
}

/// The outcome of one stream's sync attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAttempt {
    pub stream: Stream,
    pub at: DateTime<Utc>,
    /// `None` when the stream caught up.
    pub error: Option<String>,
    /// The earliest time the provider allows the next attempt (a quota).
    pub next_allowed_at: Option<DateTime<Utc>>,
}

/// What one write changed. `unchanged` counts rows that were already at least
/// as new in the mirror (replays, overlaps, older versions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApplyStats {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub removed: u64,
}

impl ApplyStats {
    pub fn add(&mut self, other: ApplyStats) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.removed += other.removed;
    }

    /// Rows written (inserted or updated).
    pub fn upserted(&self) -> u64 {
        self.inserted + self.updated
    }
}

/// Everything the mirror holds for one account, in the normalized model,
/// each list sorted by external id. Used by `bnpl export` and by the tests
/// that compare the mirror with the provider's truth.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AccountMirror {
    pub purchases: Vec<Purchase>,
    pub card_transactions: Vec<CardTransaction>,
    pub balance_entries: Vec<BalanceEntry>,
    pub points_entries: Vec<PointsEntry>,
    pub deliveries: Vec<Delivery>,
    /// The latest snapshot of each (ledger, balance type).
    pub balances: Vec<BalanceSnapshot>,
    pub points: Option<PointsSnapshot>,
    pub profile: Option<Profile>,
}

impl AccountMirror {
    /// Orders every list by external id in byte order, whatever the database's collation.
    fn sort(&mut self) {
        self.purchases.sort_by(|a, b| a.id.cmp(&b.id));
        self.card_transactions.sort_by(|a, b| a.id.cmp(&b.id));
        self.balance_entries.sort_by(|a, b| a.id.cmp(&b.id));
        self.points_entries.sort_by(|a, b| a.id.cmp(&b.id));
        self.deliveries.sort_by(|a, b| a.id.cmp(&b.id));
        self.balances.sort_by(|a, b| {
            (&a.ledger, &a.balance_type, a.amount.currency).cmp(&(
                &b.ledger,
                &b.balance_type,
                b.amount.currency,
            ))
        });
    }
}

/// One installment with what a person needs to see it in context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallmentView {
    pub account: AccountKey,
    pub purchase_id: String,
    pub merchant: String,
    pub plan: String,
    pub seq: u32,
    pub due: NaiveDate,
    pub amount_minor: i64,
    pub late_fee_minor: i64,
    pub currency: String,
    pub state: InstallmentState,
}

impl InstallmentView {
    /// This row's place in the listing order, to ask for the page after it.
    pub fn position(&self) -> InstallmentPosition {
        InstallmentPosition {
            due: self.due,
            purchase_id: self.purchase_id.clone(),
            provider: self.account.provider.clone(),
            account_id: self.account.account_id.clone(),
            seq: self.seq,
        }
    }
}

/// A place in the order [`Database::installments`] lists rows in: due date,
/// purchase external id, provider, account external id, installment number
/// (text in byte order). A keyset for paging: the next page starts strictly
/// after it, so rows inserted or removed meanwhile never shift a page.
///
/// Written as `DUE/PROVIDER/ACCOUNT/PURCHASE/SEQ`, e.g.
/// `2026-03-01/klarna-us/kus_0001/p_8fa3c1/2` (the `bnpl due` installment
/// column prefixed by the due date).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallmentPosition {
    pub due: NaiveDate,
    pub purchase_id: String,
    pub provider: String,
    pub account_id: String,
    pub seq: u32,
}

impl std::fmt::Display for InstallmentPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}/{}",
            self.due, self.provider, self.account_id, self.purchase_id, self.seq
        )
    }
}

impl std::str::FromStr for InstallmentPosition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let [due, provider, account, purchase, seq] = parts.as_slice() else {
            return Err(format!(
                "{s:?}: expected DUE/PROVIDER/ACCOUNT/PURCHASE/SEQ, e.g. 2026-03-01/klarna-us/kus_0001/p_8fa3c1/2"
            ));
        };
        Ok(InstallmentPosition {
            due: due
                .parse()
                .map_err(|e| format!("{s:?}: {due:?} is not a date (YYYY-MM-DD): {e}"))?,
            provider: provider.to_string(),
            account_id: account.to_string(),
            purchase_id: purchase.to_string(),
            seq: seq
                .parse()
                .map_err(|_| format!("{s:?}: {seq:?} is not an installment number"))?,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct InstallmentFilter {
    pub provider: Option<String>,
    pub account_id: Option<String>,
    /// Only installments not yet paid or cancelled.
    pub open_only: bool,
    pub due_on_or_before: Option<NaiveDate>,
    /// At most this many rows (a page); `None` returns every matching row.
    pub limit: Option<u32>,
    /// Only rows strictly after this position in the listing order: pass the
    /// [`InstallmentView::position`] of a page's last row to get the next page.
    pub after: Option<InstallmentPosition>,
}

/// What an installment filter matches, in one currency (never summed across
/// currencies). Overdue: due before `today` and still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallmentTotals {
    pub currency: String,
    pub installments: u64,
    pub amount_minor: i64,
    pub late_fee_minor: i64,
    pub overdue_installments: u64,
    pub overdue_amount_minor: i64,
}

/// Amount still owed on plans, per provider and currency (never summed across currencies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutstandingTotal {
    pub provider: String,
    pub currency: String,
    pub outstanding_minor: i64,
    pub open_installments: u64,
    pub active_plans: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurchaseSummary {
    pub account: AccountKey,
    pub purchase_id: String,
    pub merchant: String,
    pub plan: String,
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub open_installments: u64,
    pub outstanding_minor: i64,
}

/// One check of a snapshot against the sum of its ledger (`kind` is
/// `balance` or `points`; `gap_minor` is snapshot minus entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconciliationCheck {
    pub account: AccountKey,
    pub kind: String,
    pub ledger: String,
    pub currency: Option<String>,
    pub snapshot_minor: i64,
    pub entries_minor: i64,
    pub gap_minor: i64,
    pub as_of: DateTime<Utc>,
    pub checked_at: DateTime<Utc>,
}

/// One row of the outbox (`events`, docs/schema.md): what changed, in the
/// order it was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Increasing; a consumer stores the last one it handled.
    pub id: i64,
    pub account: AccountKey,
    /// `purchase.created`, `installment.state_changed`, `stream.backfilled`...
    pub kind: String,
    /// The provider id of the object (the stream for `stream.*`).
    pub object_id: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

/// One recorded change of an installment: its state, due date or amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub changed_at: DateTime<Utc>,
    /// `provider_report` (a synced change) or `clock` (due or late by date).
    pub cause: String,
    pub from_state: String,
    pub to_state: String,
    pub from_due: NaiveDate,
    pub to_due: NaiveDate,
    pub from_amount_minor: i64,
    pub to_amount_minor: i64,
}

/// The PSD2 consent an account reads under (issue 4): what was granted and
/// where it stands, stored beside the data. The consent id is a secret and is
/// kept only in the account's encrypted credentials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentRecord {
    pub account: AccountKey,
    /// How the data is reached: `psd2-ais`.
    pub route: String,
    /// The consent's `access` object as the bank reports it.
    pub scope: serde_json::Value,
    pub recurring: bool,
    pub valid_until: NaiveDate,
    pub frequency_per_day: u32,
    /// Berlin Group `consentStatus` (`valid`, `expired`, `terminatedByTpp`, ...).
    pub status: String,
    pub last_action_date: Option<NaiveDate>,
    /// Set by the store on first insert (ignored by [`Database::put_consent`]).
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[async_trait]
pub trait Database: Send + Sync {
    /// Backend name for logs and reports (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    // ---- accounts: data, not config ----

    /// Adds an account or replaces the secret of an existing one (re-consent);
    /// a re-added account becomes `active` again. Nothing mirrored is touched.
    async fn put_account(&self, key: &AccountKey, secret: &SecretString) -> Result<(), StoreError>;
    /// Every account (of `provider`, when given), in key order.
    async fn accounts(&self, provider: Option<&str>) -> Result<Vec<AccountRecord>, StoreError>;
    /// Up to `limit` accounts in key order, starting after `after` (keyset
    /// paging): the scheduler reads accounts this way, so its memory does
    /// not grow with their number.
    async fn accounts_page(
        &self,
        after: Option<&AccountKey>,
        limit: u32,
    ) -> Result<Vec<AccountRecord>, StoreError>;
    async fn account_secret(&self, key: &AccountKey) -> Result<SecretString, StoreError>;
    /// Persists rotated credentials durably (committed before it returns).
    async fn save_secret(&self, key: &AccountKey, secret: &SecretString) -> Result<(), StoreError>;
    async fn set_account_status(
        &self,
        key: &AccountKey,
        status: AccountStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError>;

    // ---- sync writes ----

    /// Upserts a page's rows (a row never overwritten by an older `updated_at`,
    /// a replay a no-op), removes the page's `removed` ids, and stores the new
    /// cursor and `synced_at`, all in one transaction.
    async fn apply_page(
        &self,
        key: &AccountKey,
        stream: Stream,
        page: &Page,
        synced_at: DateTime<Utc>,
    ) -> Result<ApplyStats, StoreError>;

    /// Stores a snapshot (balances and points keep their history by `as_of`).
    async fn apply_snapshot(
        &self,
        key: &AccountKey,
        snapshot: &SnapshotData,
        synced_at: DateTime<Utc>,
    ) -> Result<ApplyStats, StoreError>;

    /// Writes records read from a provider's native export (`bnpl import`),
    /// batch after batch, all in one transaction: with the same guard and
    /// history as [`Database::apply_page`], but no stream's cursor is read
    /// or moved, and one `stream.imported` event per stream stands for the
    /// rows instead of an event per row. The first `Err` from `batches` rolls everything back and is
    /// returned as is; the account must exist.
    async fn import_records(
        &self,
        key: &AccountKey,
        batches: &mut (dyn Iterator<Item = Result<Records, StoreError>> + Send),
        synced_at: DateTime<Utc>,
    ) -> Result<ApplyStats, StoreError>;

    /// Forgets a stream's cursor (the provider expired it); rows stay.
    async fn reset_cursor(&self, key: &AccountKey, stream: Stream) -> Result<(), StoreError>;

    /// Records the outcome of one stream's sync attempt.
    async fn record_stream_attempt(
        &self,
        key: &AccountKey,
        stream: Stream,
        at: DateTime<Utc>,
        error: Option<&str>,
        next_allowed_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Records the outcomes of several of an account's stream attempts in
    /// one write (the engine's way: one transaction per account, not per stream).
    async fn record_stream_attempts(
        &self,
        key: &AccountKey,
        attempts: &[StreamAttempt],
    ) -> Result<(), StoreError>;

    // ---- reads ----

    async fn mirror(&self, key: &AccountKey) -> Result<AccountMirror, StoreError>;
    /// Installments with their state derived at `today`, sorted by due date.
    async fn installments(
        &self,
        filter: &InstallmentFilter,
        today: NaiveDate,
    ) -> Result<Vec<InstallmentView>, StoreError>;
    /// Per currency, the count and sums of what `filter` matches, computed by
    /// the database; `limit` and `after` are ignored (the totals are of every
    /// matching row). Sorted by currency.
    async fn installment_totals(
        &self,
        filter: &InstallmentFilter,
        today: NaiveDate,
    ) -> Result<Vec<InstallmentTotals>, StoreError>;
    async fn outstanding(&self) -> Result<Vec<OutstandingTotal>, StoreError>;
    async fn purchases(&self) -> Result<Vec<PurchaseSummary>, StoreError>;

    // ---- the installment lifecycle (issue 3) ----

    /// Materializes each installment's state at `today` (`due`, `late` by the
    /// clock) and records every change the clock alone made, cause `clock`.
    async fn refresh_states(&self, today: NaiveDate, at: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Compares the account's latest balance and points snapshots with the sum
    /// of their entries, stores the checks and returns them.
    async fn reconcile(
        &self,
        key: &AccountKey,
        checked_at: DateTime<Utc>,
    ) -> Result<Vec<ReconciliationCheck>, StoreError>;
    /// The latest check of each ledger that found a gap.
    async fn reconciliation_gaps(&self) -> Result<Vec<ReconciliationCheck>, StoreError>;
    /// Every recorded change of one installment, oldest first.
    async fn installment_history(
        &self,
        key: &AccountKey,
        purchase_id: &str,
        seq: u32,
    ) -> Result<Vec<HistoryEntry>, StoreError>;
    /// The outbox after event `after` (0 from the start), in id order, at
    /// most `limit` events.
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>, StoreError>;

    // ---- PSD2 consents (issue 4) ----

    /// Inserts or replaces the consent record of an existing account.
    async fn put_consent(&self, record: &ConsentRecord) -> Result<(), StoreError>;
    /// The stored consent records, of one provider or all, by account.
    async fn consents(&self, provider: Option<&str>) -> Result<Vec<ConsentRecord>, StoreError>;
}

/// Every account in key order, `per_read` at a time (keyset paging over
/// [`Database::accounts_page`]), each page read as the stream is consumed:
/// what holds the accounts never grows with their number. A short page is
/// the last; an error is yielded and ends the stream.
pub fn account_pages(
    db: &dyn Database,
    per_read: u32,
) -> impl futures::Stream<Item = Result<Vec<AccountRecord>, StoreError>> + '_ {
    let per_read = per_read.max(1);
    // `Some(after)` while pages may remain (`Some(None)`: from the first account).
    futures::stream::unfold(
        Some(None),
        move |after: Option<Option<AccountKey>>| async move {
            let after = after?;
            match db.accounts_page(after.as_ref(), per_read).await {
                Err(e) => Some((Err(e), None)),
                Ok(page) => {
                    let last = page.last()?.key.clone();
                    let more = page.len() == per_read as usize;
                    Some((Ok(page), more.then_some(Some(last))))
                }
            }
        },
    )
}
