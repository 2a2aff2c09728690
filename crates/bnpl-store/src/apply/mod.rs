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
    PointsSnapshot, Profile, Purchase, Records, ReportedInstallmentState, SnapshotData, Stream,
};

use crate::time::stored;
use crate::{ApplyStats, StoreError, StreamAttempt};

pub(crate) mod batch;
mod outbox;
pub(crate) mod statements;

pub(crate) use batch::{EventRow, HistoryRow, InstallmentRow, ItemRow, RecordRow};
use outbox::Outbox;
pub(crate) use outbox::{ImportTotals, finish_import, record_attempts};

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
    /// Every table, in declaration order: `table as usize` indexes this.
    pub(crate) const ALL: [Table; 5] = [
        Table::Purchases,
        Table::CardTransactions,
        Table::BalanceEntries,
        Table::PointsEntries,
        Table::Deliveries,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Purchases => "purchases",
            Table::CardTransactions => "card_transactions",
            Table::BalanceEntries => "balance_entries",
            Table::PointsEntries => "points_entries",
            Table::Deliveries => "deliveries",
        }
    }

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

impl<'a> RecordRef<'a> {
    fn id(&self) -> &'a str {
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

    /// The outbox row saying this record was written; the payload is the record.
    fn event(&self, kind: String, recorded_at: DateTime<Utc>) -> Result<EventRow<'a>, StoreError> {
        let (id, at) = (self.id(), self.updated_at());
        match *self {
            RecordRef::Purchase(r) => EventRow::new(kind, id, at, recorded_at, r),
            RecordRef::CardTransaction(r) => EventRow::new(kind, id, at, recorded_at, r),
            RecordRef::BalanceEntry(r) => EventRow::new(kind, id, at, recorded_at, r),
            RecordRef::PointsEntry(r) => EventRow::new(kind, id, at, recorded_at, r),
            RecordRef::Delivery(r) => EventRow::new(kind, id, at, recorded_at, r),
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

/// The statements of one write transaction. Batches are one statement each,
/// whatever their length. Timestamps handed in are already truncated to what
/// the mirror stores.
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
    /// Inserts the rows (distinct ids), or updates those whose `updated_at`
    /// is newer than the stored one; how many it wrote.
    async fn upsert_records(
        &mut self,
        table: Table,
        account: i64,
        synced_at: DateTime<Utc>,
        rows: &[RecordRow<'_>],
    ) -> Result<u64, StoreError>;
    /// Deletes the items of the account's purchases `purchase_ids`.
    async fn delete_items(&mut self, account: i64, purchase_ids: &[&str])
    -> Result<(), StoreError>;
    /// Inserts items of purchases that hold the row's `version`.
    async fn insert_items(&mut self, account: i64, rows: &[ItemRow<'_>]) -> Result<(), StoreError>;
    /// Inserts or overwrites the installments `(purchase, seq)` of purchases
    /// that hold the row's `version`.
    async fn upsert_installments(
        &mut self,
        account: i64,
        rows: &[InstallmentRow<'_>],
    ) -> Result<(), StoreError>;
    async fn delete_installments(&mut self, ids: &[i64]) -> Result<(), StoreError>;
    async fn insert_history(&mut self, rows: &[HistoryRow]) -> Result<(), StoreError>;
    /// Deletes the account's rows of `table` among `ids`; the ids it deleted.
    async fn remove(
        &mut self,
        table: Table,
        account: i64,
        ids: &[&str],
    ) -> Result<Vec<String>, StoreError>;
    async fn insert_events(
        &mut self,
        account: i64,
        rows: &[EventRow<'_>],
    ) -> Result<(), StoreError>;
    /// Whether a sync of the stream has ever caught up (`last_success_at`).
    async fn first_sync_done(&mut self, account: i64, stream: Stream) -> Result<bool, StoreError>;
    /// Records an attempt of the stream: when, and its error or its success.
    async fn save_attempt(
        &mut self,
        account: i64,
        attempt: &StreamAttempt,
    ) -> Result<(), StoreError>;
    /// How many rows of `table` the account has.
    async fn count_rows(&mut self, table: Table, account: i64) -> Result<i64, StoreError>;
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
    let outbox = if tx.first_sync_done(account, stream).await? {
        Outbox::per_row()
    } else {
        Outbox::held_for_backfill()
    };
    let stats = apply_rows(
        tx,
        account,
        table,
        &page.records,
        &page.removed,
        synced_at,
        outbox,
    )
    .await?;
    tx.save_stream_sync(account, stream, Some(&page.next_cursor), stored(synced_at))
        .await?;
    Ok(stats)
}

/// Writes a batch of native-export records (`bnpl import`): the same guard
/// and history as a page, but no cursor is read or moved, and no per-row
/// event is written: an export is history, and a million `.created` events
/// would flood the outbox. [`finish_import`] writes one event per stream.
pub(crate) async fn apply_import<W: WriteTx + ?Sized>(
    tx: &mut W,
    account: i64,
    batch: &Records,
    synced_at: DateTime<Utc>,
    totals: &mut ImportTotals,
) -> Result<(), StoreError> {
    let stream = batch.stream();
    let table = Table::of(stream)
        .ok_or_else(|| StoreError::Invalid(format!("{stream} is a snapshot stream, not paged")))?;
    let held = Outbox::held_for_backfill();
    let stats = apply_rows(tx, account, table, batch, &[], synced_at, held).await?;
    totals.add(stream, stats);
    Ok(())
}

/// The rows of a page (or an import batch) and its removals, in a fixed
/// number of statements whatever the page's length.
async fn apply_rows<W: WriteTx + ?Sized>(
    tx: &mut W,
    account: i64,
    table: Table,
    batch: &Records,
    removed: &[String],
    synced_at: DateTime<Utc>,
    mut events: Outbox<'_>,
) -> Result<ApplyStats, StoreError> {
    let synced_at = stored(synced_at);
    let rows = newest_copies(records(batch));
    let mut stats = ApplyStats {
        unchanged: (batch.len() - rows.len()) as u64,
        ..ApplyStats::default()
    };

    let ids: Vec<&str> = rows.iter().map(|r| r.id()).collect();
    let known: HashMap<String, DateTime<Utc>> = if ids.is_empty() {
        HashMap::new()
    } else {
        tx.existing(table, account, &ids)
            .await?
            .into_iter()
            .collect()
    };
    // A replayed or older row costs no statement at all.
    let mut written: Vec<(RecordRef<'_>, bool)> = Vec::with_capacity(rows.len());
    for row in rows {
        match known.get(row.id()) {
            Some(at) if *at >= row.updated_at() => stats.unchanged += 1,
            Some(_) => written.push((row, true)),
            None => written.push((row, false)),
        }
    }

    if !written.is_empty() {
        let records: Vec<RecordRow<'_>> = written.iter().map(|(r, _)| RecordRow::of(*r)).collect();
        let count = tx
            .upsert_records(table, account, synced_at, &records)
            .await?;
        if count != written.len() as u64 {
            // Only another writer between the pre-read and the upsert (two
            // processes on one PostgreSQL account) gets here; the guard kept
            // the newer rows and the version join keeps their children.
            tracing::warn!(
                table = table.noun(),
                expected = written.len(),
                written = count,
                "another writer changed rows of this page meanwhile"
            );
        }
        for (row, existed) in &written {
            if *existed {
                stats.updated += 1;
            } else {
                stats.inserted += 1;
            }
            let verb = if *existed { "updated" } else { "created" };
            events.push(|| row.event(format!("{}.{verb}", table.noun()), synced_at))?;
        }
        if table == Table::Purchases {
            write_plans(tx, account, &written, synced_at, &mut events).await?;
        }
    }

    let mut gone = Vec::new();
    if !removed.is_empty() {
        let ids: Vec<&str> = removed.iter().map(String::as_str).collect();
        gone = tx.remove(table, account, &ids).await?;
    }
    for id in &gone {
        stats.removed += 1;
        events.push(|| {
            EventRow::new(
                format!("{}.removed", table.noun()),
                id,
                synced_at,
                synced_at,
                &json!({ "id": id }),
            )
        })?;
    }
    if !events.rows.is_empty() {
        tx.insert_events(account, &events.rows).await?;
    }
    Ok(stats)
}

/// One copy of each id, in page order: the newest, the first of equals.
/// A page may carry an id twice; an older or equal second copy would not
/// overwrite the first, and one statement must not touch a row twice.
fn newest_copies(rows: Vec<RecordRef<'_>>) -> Vec<RecordRef<'_>> {
    let mut newest: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        newest
            .entry(row.id())
            .and_modify(|kept| {
                if rows[*kept].updated_at() < row.updated_at() {
                    *kept = i;
                }
            })
            .or_insert(i);
    }
    if newest.len() == rows.len() {
        return rows;
    }
    let keep: HashSet<usize> = newest.into_values().collect();
    rows.into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, r)| r)
        .collect()
}

/// Rewrites the items and installments of the written purchases. Installments
/// are matched on `seq` and kept as rows (their history points at them); only
/// changed ones are written.
async fn write_plans<'a, W: WriteTx + ?Sized>(
    tx: &mut W,
    account: i64,
    written: &[(RecordRef<'a>, bool)],
    synced_at: DateTime<Utc>,
    events: &mut Outbox<'a>,
) -> Result<(), StoreError> {
    let purchases: Vec<(&'a Purchase, bool, String)> = written
        .iter()
        .filter_map(|(r, existed)| match r {
            RecordRef::Purchase(p) => Some((*p, *existed, batch::purchase_version(p))),
            _ => None,
        })
        .collect();
    let rewritten: Vec<&str> = purchases
        .iter()
        .filter(|(_, existed, _)| *existed)
        .map(|(p, _, _)| p.id.as_str())
        .collect();
    let mut old_plans: HashMap<String, Vec<StoredInstallment>> = HashMap::new();
    if !rewritten.is_empty() {
        for (purchase, installment) in tx.stored_installments(account, &rewritten).await? {
            old_plans.entry(purchase).or_default().push(installment);
        }
        tx.delete_items(account, &rewritten).await?;
    }

    let mut items = Vec::new();
    let mut installments = Vec::new();
    let mut gone = Vec::new();
    let mut history = Vec::new();
    for (purchase, _, version) in &purchases {
        let currency = purchase.amount.currency.code();
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
        for (i, item) in purchase.items.iter().enumerate() {
            let seq =
                u32::try_from(i + 1).map_err(|_| StoreError::Invalid("too many items".into()))?;
            items.push(ItemRow::new(&purchase.id, version, seq, item, currency));
        }

        let old = old_plans.remove(&purchase.id).unwrap_or_default();
        gone.extend(old.iter().filter(|o| !seqs.contains(&o.seq)).map(|o| o.id));
        let old_by_seq: HashMap<u32, &StoredInstallment> = old.iter().map(|o| (o.seq, o)).collect();
        let changed_at = stored(purchase.updated_at);
        for new in &purchase.plan.installments {
            let before = old_by_seq.get(&new.seq).copied();
            if before.is_some_and(|o| o.same_as(new, currency)) {
                continue;
            }
            installments.push(InstallmentRow::new(
                &purchase.id,
                version,
                currency,
                new,
                synced_at.date_naive(),
            ));
            let Some(o) = before.filter(|o| o.history_differs(new)) else {
                continue;
            };
            history.push(HistoryRow::new(
                o,
                new,
                changed_at,
                synced_at,
                CAUSE_PROVIDER_REPORT,
            ));
            let kind = if o.reported_state != new.reported_state {
                "installment.state_changed"
            } else {
                "installment.updated"
            };
            events.push(|| {
                EventRow::new(
                    kind.into(),
                    &purchase.id,
                    changed_at,
                    synced_at,
                    &json!({
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
                )
            })?;
        }
    }

    if !items.is_empty() {
        tx.insert_items(account, &items).await?;
    }
    if !gone.is_empty() {
        tx.delete_installments(&gone).await?;
    }
    if !installments.is_empty() {
        tx.upsert_installments(account, &installments).await?;
    }
    if !history.is_empty() {
        tx.insert_history(&history).await?;
    }
    Ok(())
}

pub(crate) async fn apply_snapshot<W: WriteTx + ?Sized>(
    tx: &mut W,
    account: i64,
    snapshot: &SnapshotData,
    synced_at: DateTime<Utc>,
) -> Result<ApplyStats, StoreError> {
    let synced_at = stored(synced_at);
    let mut stats = ApplyStats::default();
    let mut events = Vec::new();
    match snapshot {
        SnapshotData::Balance(balances) => {
            for reported in balances {
                let b = BalanceSnapshot {
                    as_of: stored(reported.as_of),
                    ..reported.clone()
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
                    events.push(EventRow::new(
                        "balance.updated".into(),
                        &reported.ledger,
                        b.as_of,
                        synced_at,
                        &payload,
                    )?);
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
                    events.push(EventRow::new(
                        "points.updated".into(),
                        "points",
                        p.as_of,
                        synced_at,
                        &payload,
                    )?);
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
                events.push(EventRow::new(
                    "profile.updated".into(),
                    "profile",
                    updated_at,
                    synced_at,
                    profile,
                )?);
            }
        }
    }
    if !events.is_empty() {
        tx.insert_events(account, &events).await?;
    }
    tx.save_stream_sync(account, snapshot.stream(), None, synced_at)
        .await?;
    Ok(stats)
}

#[cfg(test)]
pub(crate) mod checks;
