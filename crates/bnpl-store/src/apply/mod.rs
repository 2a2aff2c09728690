//! What `apply_page` and `apply_snapshot` mean, written once for both
//! backends. A backend only supplies the statements ([`WriteTx`]), run inside
//! the one transaction it opened for the page; the caller commits.
//!
//! Per row: one pre-read per page tells which rows exist and how new they are,
//! so a replayed or older row costs no statement at all, and new rows can be
//! told from updated ones. The upsert keeps its own `updated_at` guard anyway:
//! the database, not this pre-read, has the last word.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use bnpl_core::{
    BalanceEntry, BalanceSnapshot, CardTransaction, Delivery, Installment, Page, PointsEntry,
    PointsSnapshot, Profile, Purchase, PurchaseItem, Records, ReportedInstallmentState,
    SnapshotData, Stream,
};

use crate::time::stored;
use crate::{ApplyStats, StoreError};

/// The `cause` of installment history rows written from a provider's page.
pub(crate) const CAUSE_PROVIDER_REPORT: &str = "provider_report";

/// The table of one delta stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Purchases,
    CardTransactions,
    BalanceEntries,
    PointsEntries,
    Deliveries,
}

impl Table {
    pub(crate) fn of(stream: Stream) -> Option<Table> {
        Some(match stream {
            Stream::Purchases => Table::Purchases,
            Stream::CardTransactions => Table::CardTransactions,
            Stream::BalanceEntries => Table::BalanceEntries,
            Stream::PointsEntries => Table::PointsEntries,
            Stream::Deliveries => Table::Deliveries,
            Stream::Balance | Stream::Points | Stream::Profile => return None,
        })
    }

    /// First half of the event kinds of this table's rows (`purchase.created`).
    fn noun(self) -> &'static str {
        match self {
            Table::Purchases => "purchase",
            Table::CardTransactions => "card_transaction",
            Table::BalanceEntries => "balance_entry",
            Table::PointsEntries => "points_entry",
            Table::Deliveries => "delivery",
        }
    }
}

/// One row of a page, whatever its stream.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RecordRef<'a> {
    Purchase(&'a Purchase),
    CardTransaction(&'a CardTransaction),
    BalanceEntry(&'a BalanceEntry),
    PointsEntry(&'a PointsEntry),
    Delivery(&'a Delivery),
}

impl RecordRef<'_> {
    fn id(&self) -> &str {
        match self {
            RecordRef::Purchase(r) => &r.id,
            RecordRef::CardTransaction(r) => &r.id,
            RecordRef::BalanceEntry(r) => &r.id,
            RecordRef::PointsEntry(r) => &r.id,
            RecordRef::Delivery(r) => &r.id,
        }
    }

    fn updated_at(&self) -> DateTime<Utc> {
        stored(match self {
            RecordRef::Purchase(r) => r.updated_at,
            RecordRef::CardTransaction(r) => r.updated_at,
            RecordRef::BalanceEntry(r) => r.updated_at,
            RecordRef::PointsEntry(r) => r.updated_at,
            RecordRef::Delivery(r) => r.updated_at,
        })
    }

    fn payload(&self) -> Result<Value, StoreError> {
        match self {
            RecordRef::Purchase(r) => to_json(r),
            RecordRef::CardTransaction(r) => to_json(r),
            RecordRef::BalanceEntry(r) => to_json(r),
            RecordRef::PointsEntry(r) => to_json(r),
            RecordRef::Delivery(r) => to_json(r),
        }
    }
}

fn records(records: &Records) -> Vec<RecordRef<'_>> {
    match records {
        Records::Purchases(v) => v.iter().map(RecordRef::Purchase).collect(),
        Records::CardTransactions(v) => v.iter().map(RecordRef::CardTransaction).collect(),
        Records::BalanceEntries(v) => v.iter().map(RecordRef::BalanceEntry).collect(),
        Records::PointsEntries(v) => v.iter().map(RecordRef::PointsEntry).collect(),
        Records::Deliveries(v) => v.iter().map(RecordRef::Delivery).collect(),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Invalid(format!("event payload: {e}")))
}

/// An installment row as stored: what a new report is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredInstallment {
    pub id: i64,
    pub seq: u32,
    pub due: NaiveDate,
    pub amount_minor: i64,
    pub currency: String,
    pub reported_state: ReportedInstallmentState,
    pub paid_at: Option<DateTime<Utc>>,
    pub late_fee_minor: i64,
}

impl StoredInstallment {
    fn from_new(id: i64, new: &Installment, currency: &str) -> StoredInstallment {
        StoredInstallment {
            id,
            seq: new.seq,
            due: new.due,
            amount_minor: new.amount_minor,
            currency: currency.to_string(),
            reported_state: new.reported_state,
            paid_at: new.paid_at.map(stored),
            late_fee_minor: new.late_fee_minor,
        }
    }

    fn same_as(&self, new: &Installment, currency: &str) -> bool {
        *self == StoredInstallment::from_new(self.id, new, currency)
    }

    /// The changes `installment_history` records.
    fn history_differs(&self, new: &Installment) -> bool {
        self.reported_state != new.reported_state
            || self.due != new.due
            || self.amount_minor != new.amount_minor
    }
}

/// One `installment_history` row.
#[derive(Debug)]
pub(crate) struct HistoryRow<'a> {
    pub installment_id: i64,
    pub from: &'a StoredInstallment,
    pub to: &'a Installment,
    pub changed_at: DateTime<Utc>,
    pub synced_at: DateTime<Utc>,
    pub cause: &'static str,
}

/// One `events` row.
#[derive(Debug)]
pub(crate) struct NewEvent<'a> {
    pub kind: String,
    pub object_id: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub payload: Value,
}

/// The statements of one write transaction. Timestamps handed in are
/// already truncated to what the mirror stores.
#[async_trait]
pub(crate) trait WriteTx: Send {
    /// The `updated_at` of the rows of `table` among `ids` that the account already has.
    async fn existing(
        &mut self,
        table: Table,
        account: i64,
        ids: &[&str],
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;
    /// Installments of the account's purchases `purchase_ids`, keyed by purchase external id.
    async fn stored_installments(
        &mut self,
        account: i64,
        purchase_ids: &[&str],
    ) -> Result<Vec<(String, StoredInstallment)>, StoreError>;
    /// Inserts the row, or updates it when `updated_at` is newer than the
    /// stored one. The row id when it was written, `None` when it was not.
    async fn upsert(
        &mut self,
        account: i64,
        record: RecordRef<'_>,
        synced_at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError>;
    async fn delete_items(&mut self, purchase: i64) -> Result<(), StoreError>;
    async fn insert_item(
        &mut self,
        purchase: i64,
        seq: u32,
        item: &PurchaseItem,
        currency: &str,
    ) -> Result<(), StoreError>;
    /// Inserts or overwrites the installment `(purchase, seq)`; its row id.
    async fn upsert_installment(
        &mut self,
        account: i64,
        purchase: i64,
        currency: &str,
        installment: &Installment,
    ) -> Result<i64, StoreError>;
    async fn delete_installment(&mut self, id: i64) -> Result<(), StoreError>;
    async fn insert_history(&mut self, row: &HistoryRow<'_>) -> Result<(), StoreError>;
    /// Deletes the account's rows of `table` among `ids`; the ids it deleted.
    async fn remove(
        &mut self,
        table: Table,
        account: i64,
        ids: &[&str],
    ) -> Result<Vec<String>, StoreError>;
    async fn insert_event(&mut self, account: i64, event: &NewEvent<'_>) -> Result<(), StoreError>;
    /// Stores the stream's cursor (`None` for snapshot streams) and `synced_at`.
    async fn save_stream_sync(
        &mut self,
        account: i64,
        stream: Stream,
        cursor: Option<&str>,
        synced_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// False when a snapshot with this key and `as_of` is already stored.
    async fn insert_balance_snapshot(
        &mut self,
        account: i64,
        snapshot: &BalanceSnapshot,
        synced_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// The amount of the newest snapshot of the same ledger, type and currency before `as_of`.
    async fn previous_balance(
        &mut self,
        account: i64,
        snapshot: &BalanceSnapshot,
    ) -> Result<Option<i64>, StoreError>;
    async fn insert_points_snapshot(
        &mut self,
        account: i64,
        snapshot: &PointsSnapshot,
        synced_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn previous_points(
        &mut self,
        account: i64,
        snapshot: &PointsSnapshot,
    ) -> Result<Option<i64>, StoreError>;
    async fn profile_updated_at(
        &mut self,
        account: i64,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Inserts or (when newer) updates the profile; whether it was written.
    async fn upsert_profile(
        &mut self,
        account: i64,
        profile: &Profile,
        synced_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

pub(crate) async fn apply_page<W: WriteTx + ?Sized>(
    tx: &mut W,
    account: i64,
    stream: Stream,
    page: &Page,
    synced_at: DateTime<Utc>,
) -> Result<ApplyStats, StoreError> {
    let table = Table::of(stream)
        .ok_or_else(|| StoreError::Invalid(format!("{stream} is a snapshot stream, not paged")))?;
    if page.records.stream() != stream {
        return Err(StoreError::Invalid(format!(
            "a page of {} handed in as {stream}",
            page.records.stream()
        )));
    }
    let stats = apply_rows(tx, account, table, &page.records, &page.removed, synced_at).await?;
    tx.save_stream_sync(account, stream, Some(&page.next_cursor), stored(synced_at))
        .await?;
    Ok(stats)
}

/// Writes a batch of native-export records (`bnpl import`): the same guard,
/// history and events as a page, but no cursor is read or moved.
pub(crate) async fn apply_import<W: WriteTx + ?Sized>(
    tx: &mut W,
    account: i64,
    batch: &Records,
    synced_at: DateTime<Utc>,
) -> Result<ApplyStats, StoreError> {
    let stream = batch.stream();
    let table = Table::of(stream)
        .ok_or_else(|| StoreError::Invalid(format!("{stream} is a snapshot stream, not paged")))?;
    apply_rows(tx, account, table, batch, &[], synced_at).await
}

/// The rows of a page (or an import batch) and its removals.
async fn apply_rows<W: WriteTx + ?Sized>(
    tx: &mut W,
    account: i64,
    table: Table,
    batch: &Records,
    removed: &[String],
    synced_at: DateTime<Utc>,
) -> Result<ApplyStats, StoreError> {
    let synced_at = stored(synced_at);
    let rows = records(batch);
    let mut stats = ApplyStats::default();

    let ids: Vec<&str> = rows.iter().map(|r| r.id()).collect();
    let mut known: HashMap<String, DateTime<Utc>> = if ids.is_empty() {
        HashMap::new()
    } else {
        tx.existing(table, account, &ids)
            .await?
            .into_iter()
            .collect()
    };
    // Only purchases that will be overwritten need their old plan for the diff.
    let mut plans: HashMap<String, Vec<StoredInstallment>> = HashMap::new();
    if table == Table::Purchases {
        let stale: Vec<&str> = rows
            .iter()
            .filter(|r| known.get(r.id()).is_some_and(|at| *at < r.updated_at()))
            .map(|r| r.id())
            .collect();
        if !stale.is_empty() {
            for (purchase, installment) in tx.stored_installments(account, &stale).await? {
                plans.entry(purchase).or_default().push(installment);
            }
        }
    }

    for row in rows {
        let updated_at = row.updated_at();
        let before = known.get(row.id()).copied();
        if before.is_some_and(|at| at >= updated_at) {
            stats.unchanged += 1;
            continue;
        }
        let Some(row_id) = tx.upsert(account, row, synced_at).await? else {
            stats.unchanged += 1;
            continue;
        };
        let existed = before.is_some();
        if existed {
            stats.updated += 1;
        } else {
            stats.inserted += 1;
        }
        // A page may carry the same id twice: the second copy is compared with the first.
        known.insert(row.id().to_string(), updated_at);
        let verb = if existed { "updated" } else { "created" };
        tx.insert_event(
            account,
            &NewEvent {
                kind: format!("{}.{verb}", table.noun()),
                object_id: row.id(),
                occurred_at: updated_at,
                recorded_at: synced_at,
                payload: row.payload()?,
            },
        )
        .await?;
        if let RecordRef::Purchase(purchase) = row {
            let old = plans.remove(&purchase.id).unwrap_or_default();
            let now = write_plan(tx, account, row_id, purchase, existed, &old, synced_at).await?;
            plans.insert(purchase.id.clone(), now);
        }
    }

    if !removed.is_empty() {
        let ids: Vec<&str> = removed.iter().map(String::as_str).collect();
        for id in tx.remove(table, account, &ids).await? {
            stats.removed += 1;
            tx.insert_event(
                account,
                &NewEvent {
                    kind: format!("{}.removed", table.noun()),
                    object_id: &id,
                    occurred_at: synced_at,
                    recorded_at: synced_at,
                    payload: json!({ "id": id }),
                },
            )
            .await?;
        }
    }

    Ok(stats)
}

/// Rewrites a written purchase's items and installments. Installments are
/// matched on `seq` and kept as rows (their history points at them); only
/// changed ones are written. Returns the plan as now stored.
async fn write_plan<W: WriteTx + ?Sized>(
    tx: &mut W,
    account: i64,
    purchase_row: i64,
    purchase: &Purchase,
    existed: bool,
    old: &[StoredInstallment],
    synced_at: DateTime<Utc>,
) -> Result<Vec<StoredInstallment>, StoreError> {
    let currency = purchase.amount.currency.code();
    let changed_at = stored(purchase.updated_at);

    let mut seqs = HashSet::new();
    if let Some(dup) = purchase
        .plan
        .installments
        .iter()
        .find(|i| !seqs.insert(i.seq))
    {
        return Err(StoreError::Invalid(format!(
            "purchase {}: two installments with seq {}",
            purchase.id, dup.seq
        )));
    }

    if existed {
        tx.delete_items(purchase_row).await?;
    }
    for (i, item) in purchase.items.iter().enumerate() {
        let seq = u32::try_from(i + 1).map_err(|_| StoreError::Invalid("too many items".into()))?;
        tx.insert_item(purchase_row, seq, item, currency).await?;
    }

    let old_by_seq: HashMap<u32, &StoredInstallment> = old.iter().map(|o| (o.seq, o)).collect();
    for gone in old.iter().filter(|o| !seqs.contains(&o.seq)) {
        tx.delete_installment(gone.id).await?;
    }
    let mut now = Vec::with_capacity(purchase.plan.installments.len());
    for new in &purchase.plan.installments {
        let before = old_by_seq.get(&new.seq).copied();
        if let Some(o) = before.filter(|o| o.same_as(new, currency)) {
            now.push(o.clone());
            continue;
        }
        let id = tx
            .upsert_installment(account, purchase_row, currency, new)
            .await?;
        if let Some(o) = before.filter(|o| o.history_differs(new)) {
            tx.insert_history(&HistoryRow {
                installment_id: id,
                from: o,
                to: new,
                changed_at,
                synced_at,
                cause: CAUSE_PROVIDER_REPORT,
            })
            .await?;
            let kind = if o.reported_state != new.reported_state {
                "installment.state_changed"
            } else {
                "installment.updated"
            };
            tx.insert_event(
                account,
                &NewEvent {
                    kind: kind.into(),
                    object_id: &purchase.id,
                    occurred_at: changed_at,
                    recorded_at: synced_at,
                    payload: json!({
                        "purchase_id": purchase.id,
                        "seq": new.seq,
                        "from_state": o.reported_state,
                        "to_state": new.reported_state,
                        "from_due_date": o.due,
                        "to_due_date": new.due,
                        "from_amount_minor": o.amount_minor,
                        "to_amount_minor": new.amount_minor,
                        "currency": currency,
                    }),
                },
            )
            .await?;
        }
        now.push(StoredInstallment::from_new(id, new, currency));
    }
    Ok(now)
}

pub(crate) async fn apply_snapshot<W: WriteTx + ?Sized>(
    tx: &mut W,
    account: i64,
    snapshot: &SnapshotData,
    synced_at: DateTime<Utc>,
) -> Result<ApplyStats, StoreError> {
    let synced_at = stored(synced_at);
    let mut stats = ApplyStats::default();
    match snapshot {
        SnapshotData::Balance(balances) => {
            for b in balances {
                let b = BalanceSnapshot {
                    as_of: stored(b.as_of),
                    ..b.clone()
                };
                if !tx.insert_balance_snapshot(account, &b, synced_at).await? {
                    stats.unchanged += 1;
                    continue;
                }
                stats.inserted += 1;
                // History keeps every as_of; the outbox only says when the figure moved.
                let previous = tx.previous_balance(account, &b).await?;
                if previous != Some(b.amount.minor) {
                    let mut payload = to_json(&b)?;
                    payload["previous_minor"] = json!(previous);
                    tx.insert_event(
                        account,
                        &NewEvent {
                            kind: "balance.updated".into(),
                            object_id: &b.ledger,
                            occurred_at: b.as_of,
                            recorded_at: synced_at,
                            payload,
                        },
                    )
                    .await?;
                }
            }
        }
        SnapshotData::Points(p) => {
            let p = PointsSnapshot {
                points: p.points,
                as_of: stored(p.as_of),
            };
            if tx.insert_points_snapshot(account, &p, synced_at).await? {
                stats.inserted += 1;
                let previous = tx.previous_points(account, &p).await?;
                if previous != Some(p.points) {
                    let mut payload = to_json(&p)?;
                    payload["previous_points"] = json!(previous);
                    tx.insert_event(
                        account,
                        &NewEvent {
                            kind: "points.updated".into(),
                            object_id: "points",
                            occurred_at: p.as_of,
                            recorded_at: synced_at,
                            payload,
                        },
                    )
                    .await?;
                }
            } else {
                stats.unchanged += 1;
            }
        }
        SnapshotData::Profile(profile) => {
            let updated_at = stored(profile.updated_at);
            let before = tx.profile_updated_at(account).await?;
            if before.is_some_and(|b| b >= updated_at)
                || !tx.upsert_profile(account, profile, synced_at).await?
            {
                stats.unchanged += 1;
            } else {
                if before.is_some() {
                    stats.updated += 1;
                } else {
                    stats.inserted += 1;
                }
                tx.insert_event(
                    account,
                    &NewEvent {
                        kind: "profile.updated".into(),
                        object_id: "profile",
                        occurred_at: updated_at,
                        recorded_at: synced_at,
                        payload: to_json(profile)?,
                    },
                )
                .await?;
            }
        }
    }
    tx.save_stream_sync(account, snapshot.stream(), None, synced_at)
        .await?;
    Ok(stats)
}

#[cfg(test)]
pub(crate) mod checks;
