//! Issue 3 on SQLite: clock-derived installment states, reconciliation, history.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Row, SqlitePool};

use crate::time::{format_date, format_timestamp, parse_date, parse_timestamp};
use crate::{AccountKey, HistoryEntry, ReconciliationCheck, StoreError};

use super::read::account_id;

/// The mirror's state of an installment at `$1` with a grace of `$3` days.
/// Kept in step with `bnpl_core::lifecycle::derive_state_with_grace`.
macro_rules! derived {
    ($today:literal, $grace:literal) => {
        concat!(
            "CASE WHEN reported_state = 'scheduled' AND due_date < date(",
            $today,
            ", printf('-%d days', ",
            $grace,
            ")) THEN 'late' ",
            "WHEN reported_state = 'scheduled' AND due_date <= ",
            $today,
            " THEN 'due' ",
            "ELSE reported_state END"
        )
    };
}

pub(super) async fn refresh_states(
    tx: &mut sqlx::SqliteConnection,
    today: NaiveDate,
    at: DateTime<Utc>,
    grace_days: u64,
) -> Result<u64, StoreError> {
    let today = format_date(today);
    let at = format_timestamp(at);
    // Only the clock's own changes are recorded here; a provider's report was
    // recorded when its page was applied.
    sqlx::query(concat!(
        "INSERT INTO installment_history (installment_id, from_state, to_state, from_due_date, to_due_date, \
         from_amount_minor, to_amount_minor, changed_at, synced_at, cause) \
         SELECT id, COALESCE(state, 'scheduled'), ",
        derived!("$1", "$3"),
        ", due_date, due_date, amount_minor, amount_minor, $2, $2, 'clock' FROM installments \
         WHERE reported_state = 'scheduled' AND COALESCE(state, 'scheduled') <> ",
        derived!("$1", "$3")
    ))
    .bind(&today)
    .bind(&at)
    .bind(grace_days as i64)
    .execute(&mut *tx)
    .await?;
    let updated = sqlx::query(concat!(
        "UPDATE installments SET state = ",
        derived!("$1", "$2"),
        " WHERE state IS NULL OR state <> ",
        derived!("$1", "$2")
    ))
    .bind(&today)
    .bind(grace_days as i64)
    .execute(&mut *tx)
    .await?;
    Ok(updated.rows_affected())
}

pub(super) async fn reconcile(
    tx: &mut sqlx::SqliteConnection,
    key: &AccountKey,
    checked_at: DateTime<Utc>,
) -> Result<Vec<ReconciliationCheck>, StoreError> {
    let id = account_id(tx, key).await?;
    let at = format_timestamp(checked_at);
    sqlx::query(
        "INSERT INTO reconciliation_checks (account_id, kind, ledger, currency, snapshot_minor, entries_minor, gap_minor, as_of, checked_at) \
         SELECT account_id, 'balance', ledger, currency, snapshot_minor, entries_minor, snapshot_minor - entries_minor, as_of, $2 \
         FROM balance_reconciliation WHERE account_id = $1",
    )
    .bind(id)
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO reconciliation_checks (account_id, kind, ledger, currency, snapshot_minor, entries_minor, gap_minor, as_of, checked_at) \
         SELECT account_id, 'points', 'points', NULL, snapshot_points, entries_points, snapshot_points - entries_points, as_of, $2 \
         FROM points_reconciliation WHERE account_id = $1",
    )
    .bind(id)
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query(
        "SELECT a.provider, a.external_id, c.kind, c.ledger, c.currency, c.snapshot_minor, c.entries_minor, \
                c.gap_minor, c.as_of, c.checked_at \
         FROM reconciliation_checks c JOIN accounts a ON a.id = c.account_id \
         WHERE c.account_id = $1 AND c.checked_at = $2 ORDER BY c.kind, c.ledger",
    )
    .bind(id)
    .bind(&at)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter().map(check).collect()
}

pub(super) async fn gaps(pool: &SqlitePool) -> Result<Vec<ReconciliationCheck>, StoreError> {
    let rows = sqlx::query(
        "SELECT provider, account AS external_id, kind, ledger, currency, snapshot_minor, entries_minor, \
                gap_minor, as_of, checked_at \
         FROM reconciliation_gaps ORDER BY provider, external_id, kind, ledger",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(check).collect()
}

fn check(row: &sqlx::sqlite::SqliteRow) -> Result<ReconciliationCheck, StoreError> {
    Ok(ReconciliationCheck {
        account: AccountKey::new(
            row.try_get::<String, _>("provider")?,
            row.try_get::<String, _>("external_id")?,
        ),
        kind: row.try_get("kind")?,
        ledger: row.try_get("ledger")?,
        currency: row.try_get("currency")?,
        snapshot_minor: row.try_get("snapshot_minor")?,
        entries_minor: row.try_get("entries_minor")?,
        gap_minor: row.try_get("gap_minor")?,
        as_of: parse_timestamp(&row.try_get::<String, _>("as_of")?)?,
        checked_at: parse_timestamp(&row.try_get::<String, _>("checked_at")?)?,
    })
}

pub(super) async fn history(
    pool: &SqlitePool,
    key: &AccountKey,
    purchase: &str,
    seq: u32,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT h.changed_at, h.cause, h.from_state, h.to_state, h.from_due_date, h.to_due_date, \
                h.from_amount_minor, h.to_amount_minor \
         FROM installment_history h \
         JOIN installments i ON i.id = h.installment_id \
         JOIN purchases p ON p.id = i.purchase_id \
         JOIN accounts a ON a.id = i.account_id \
         WHERE a.provider = $1 AND a.external_id = $2 AND p.external_id = $3 AND i.seq = $4 \
         ORDER BY h.changed_at, h.id",
    )
    .bind(&key.provider)
    .bind(&key.account_id)
    .bind(purchase)
    .bind(i64::from(seq))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(HistoryEntry {
                changed_at: parse_timestamp(&r.try_get::<String, _>("changed_at")?)?,
                cause: r.try_get("cause")?,
                from_state: r.try_get("from_state")?,
                to_state: r.try_get("to_state")?,
                from_due: parse_date(&r.try_get::<String, _>("from_due_date")?)?,
                to_due: parse_date(&r.try_get::<String, _>("to_due_date")?)?,
                from_amount_minor: r.try_get("from_amount_minor")?,
                to_amount_minor: r.try_get("to_amount_minor")?,
            })
        })
        .collect()
}
