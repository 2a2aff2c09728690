//! The SQLite statements of a write transaction. Timestamps are bound as
//! text in the one format of `crate::time`, never through sqlx's own encoding.
//! Every statement text is built once per process, so each connection
//! prepares it once. Batches arrive as one JSON array, read with `jsonb_each`
//! (parsed once per statement; each row's `->>` then reads the binary form).

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use bnpl_core::{BalanceSnapshot, PointsSnapshot, Profile, Stream};

use crate::StoreError;
use crate::apply::batch::{
    Column, EVENT_COLUMNS, HISTORY_COLUMNS, INSTALLMENT_COLUMNS, ITEM_COLUMNS, list, record_columns,
};
use crate::apply::{
    EventRow, HistoryRow, InstallmentRow, ItemRow, JsonRows, RecordRow, StoredInstallment, Table,
    WriteTx,
};
use crate::rows::{self, RowExt};
use crate::time::{format_timestamp as ts, parse_timestamp};

pub(super) struct Writer<'c> {
    pub conn: &'c mut SqliteConnection,
}

/// Binds a list of ids as one JSON array, read back with `json_each`: one
/// statement text whatever the page size.
fn json_list(ids: &[&str]) -> String {
    serde_json::to_string(ids).expect("a list of strings serializes")
}

const EXISTING: [&str; 5] = [
    "SELECT external_id, updated_at FROM purchases WHERE account_id = $1 AND external_id IN (SELECT value FROM json_each($2))",
    "SELECT external_id, updated_at FROM card_transactions WHERE account_id = $1 AND external_id IN (SELECT value FROM json_each($2))",
    "SELECT external_id, updated_at FROM balance_entries WHERE account_id = $1 AND external_id IN (SELECT value FROM json_each($2))",
    "SELECT external_id, updated_at FROM points_entries WHERE account_id = $1 AND external_id IN (SELECT value FROM json_each($2))",
    "SELECT external_id, updated_at FROM deliveries WHERE account_id = $1 AND external_id IN (SELECT value FROM json_each($2))",
];

const REMOVE: [&str; 5] = [
    "DELETE FROM purchases WHERE account_id = $1 AND external_id IN (SELECT value FROM json_each($2)) RETURNING external_id",
    "DELETE FROM card_transactions WHERE account_id = $1 AND external_id IN (SELECT value FROM json_each($2)) RETURNING external_id",
    "DELETE FROM balance_entries WHERE account_id = $1 AND external_id IN (SELECT value FROM json_each($2)) RETURNING external_id",
    "DELETE FROM points_entries WHERE account_id = $1 AND external_id IN (SELECT value FROM json_each($2)) RETURNING external_id",
    "DELETE FROM deliveries WHERE account_id = $1 AND external_id IN (SELECT value FROM json_each($2)) RETURNING external_id",
];

/// `r.value ->> 'a', r.value ->> 'b'`: the columns read from the batch row `r`.
fn read(columns: &[Column]) -> String {
    list(columns, |c| format!("r.value ->> '{c}'"))
}

/// Inserts a batch of the table's rows, or updates a stored row when the
/// batch's is newer (`WHERE true` keeps SQLite from reading `ON CONFLICT` as
/// a join constraint).
fn upsert_records_sql(table: Table) -> String {
    let name = table.name();
    let columns = record_columns(table);
    format!(
        "INSERT INTO {name} (account_id, {cols}, synced_at) \
         SELECT $1, {values}, $2 FROM jsonb_each($3) AS r WHERE true \
         ON CONFLICT (account_id, external_id) DO UPDATE SET {sets}, \
         synced_at = excluded.synced_at WHERE excluded.updated_at > {name}.updated_at",
        cols = list(columns, str::to_string),
        values = read(columns),
        sets = list(&columns[1..], |c| format!("{c} = excluded.{c}")),
    )
}

static UPSERT_RECORDS: LazyLock<[String; 5]> = LazyLock::new(|| Table::ALL.map(upsert_records_sql));

/// The purchase a child row names, holding the version it was written with.
/// `CROSS JOIN` makes the batch the outer loop (one index seek per row):
/// with a plain join SQLite may walk the account's purchases instead and
/// scan the batch for each, which grows with the account.
const PARENT_JOIN: &str = "CROSS JOIN purchases p WHERE p.account_id = $1 \
    AND p.external_id = r.value ->> 'purchase' AND p.updated_at = r.value ->> 'version'";

static INSERT_ITEMS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO purchase_items (purchase_id, {cols}) SELECT p.id, {values} \
         FROM jsonb_each($2) AS r {PARENT_JOIN}",
        cols = list(ITEM_COLUMNS, str::to_string),
        values = read(ITEM_COLUMNS),
    )
});

/// A new row gets the state derived on the day of the write. On update a
/// provider's state other than `scheduled` is the mirror's state as it is; a
/// scheduled one keeps its state for `refresh_states`, which records what the
/// clock changes.
static UPSERT_INSTALLMENTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO installments (purchase_id, account_id, {cols}, state) \
         SELECT p.id, $1, {values}, r.value ->> 'state' FROM jsonb_each($2) AS r {PARENT_JOIN} \
         ON CONFLICT (purchase_id, seq) DO UPDATE SET {sets}, \
         state = CASE WHEN excluded.reported_state <> 'scheduled' THEN excluded.reported_state \
         ELSE installments.state END",
        cols = list(INSTALLMENT_COLUMNS, str::to_string),
        values = read(INSTALLMENT_COLUMNS),
        sets = list(&INSTALLMENT_COLUMNS[1..], |c| format!("{c} = excluded.{c}")),
    )
});

static INSERT_HISTORY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO installment_history ({cols}) SELECT {values} FROM jsonb_each($1) AS r",
        cols = list(HISTORY_COLUMNS, str::to_string),
        values = read(HISTORY_COLUMNS),
    )
});

static INSERT_EVENTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO events (account_id, {cols}) SELECT $1, {values} FROM jsonb_each($2) AS r",
        cols = list(EVENT_COLUMNS, str::to_string),
        values = read(EVENT_COLUMNS),
    )
});

#[async_trait]
impl WriteTx for Writer<'_> {
    async fn existing(
        &mut self,
        table: Table,
        account: i64,
        ids: &[&str],
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query(EXISTING[table as usize])
            .bind(account)
            .bind(json_list(ids))
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter()
            .map(|r| Ok((r.text("external_id")?, r.timestamp("updated_at")?)))
            .collect()
    }

    async fn stored_installments(
        &mut self,
        account: i64,
        purchase_ids: &[&str],
    ) -> Result<Vec<(String, StoredInstallment)>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.id, p.external_id AS purchase_external_id, i.seq, i.due_date, \
             i.amount_minor, i.currency, i.reported_state, i.paid_at, i.late_fee_minor \
             FROM installments i JOIN purchases p ON p.id = i.purchase_id \
             WHERE p.account_id = $1 AND p.external_id IN (SELECT value FROM json_each($2))",
        )
        .bind(account)
        .bind(json_list(purchase_ids))
        .fetch_all(&mut *self.conn)
        .await?;
        rows.iter().map(rows::stored_installment).collect()
    }

    async fn upsert_records(
        &mut self,
        table: Table,
        account: i64,
        synced_at: DateTime<Utc>,
        rows: &JsonRows<RecordRow<'_>>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(UPSERT_RECORDS[table as usize].as_str())
            .bind(account)
            .bind(ts(synced_at))
            .bind(rows.as_str())
            .execute(&mut *self.conn)
            .await?;
        Ok(done.rows_affected())
    }

    async fn delete_items(
        &mut self,
        account: i64,
        purchase_ids: &[&str],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM purchase_items WHERE purchase_id IN (SELECT id FROM purchases \
             WHERE account_id = $1 AND external_id IN (SELECT value FROM json_each($2)))",
        )
        .bind(account)
        .bind(json_list(purchase_ids))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn insert_items(
        &mut self,
        account: i64,
        rows: &JsonRows<ItemRow<'_>>,
    ) -> Result<(), StoreError> {
        sqlx::query(INSERT_ITEMS.as_str())
            .bind(account)
            .bind(rows.as_str())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn upsert_installments(
        &mut self,
        account: i64,
        rows: &JsonRows<InstallmentRow<'_>>,
    ) -> Result<(), StoreError> {
        sqlx::query(UPSERT_INSTALLMENTS.as_str())
            .bind(account)
            .bind(rows.as_str())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn delete_installments(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM installments WHERE id IN (SELECT value FROM json_each($1))")
            .bind(serde_json::to_string(ids).expect("a list of integers serializes"))
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn insert_history(&mut self, rows: &JsonRows<HistoryRow>) -> Result<(), StoreError> {
        sqlx::query(INSERT_HISTORY.as_str())
            .bind(rows.as_str())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn remove(
        &mut self,
        table: Table,
        account: i64,
        ids: &[&str],
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(REMOVE[table as usize])
            .bind(account)
            .bind(json_list(ids))
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter().map(|r| r.text("external_id")).collect()
    }

    async fn insert_events(
        &mut self,
        account: i64,
        rows: &JsonRows<EventRow<'_>>,
    ) -> Result<(), StoreError> {
        sqlx::query(INSERT_EVENTS.as_str())
            .bind(account)
            .bind(rows.as_str())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn save_stream_sync(
        &mut self,
        account: i64,
        stream: Stream,
        cursor: Option<&str>,
        synced_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO stream_state (account_id, stream, cursor, synced_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, stream) DO UPDATE SET cursor = excluded.cursor, \
             synced_at = excluded.synced_at",
        )
        .bind(account)
        .bind(stream.as_str())
        .bind(cursor)
        .bind(ts(synced_at))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn insert_balance_snapshot(
        &mut self,
        account: i64,
        b: &BalanceSnapshot,
        synced_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO balance_snapshots (account_id, ledger, balance_type, currency, \
             amount_minor, as_of, synced_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (account_id, ledger, balance_type, currency, as_of) DO NOTHING",
        )
        .bind(account)
        .bind(&b.ledger)
        .bind(&b.balance_type)
        .bind(b.amount.currency.code())
        .bind(b.amount.minor)
        .bind(ts(b.as_of))
        .bind(ts(synced_at))
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn previous_balance(
        &mut self,
        account: i64,
        b: &BalanceSnapshot,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT amount_minor FROM balance_snapshots WHERE account_id = $1 AND ledger = $2 \
             AND balance_type = $3 AND currency = $4 AND as_of < $5 ORDER BY as_of DESC LIMIT 1",
        )
        .bind(account)
        .bind(&b.ledger)
        .bind(&b.balance_type)
        .bind(b.amount.currency.code())
        .bind(ts(b.as_of))
        .fetch_optional(&mut *self.conn)
        .await?;
        row.map(|r| r.int("amount_minor")).transpose()
    }

    async fn insert_points_snapshot(
        &mut self,
        account: i64,
        p: &PointsSnapshot,
        synced_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO points_snapshots (account_id, points, as_of, synced_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, as_of) DO NOTHING",
        )
        .bind(account)
        .bind(p.points)
        .bind(ts(p.as_of))
        .bind(ts(synced_at))
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn previous_points(
        &mut self,
        account: i64,
        p: &PointsSnapshot,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT points FROM points_snapshots WHERE account_id = $1 AND as_of < $2 \
             ORDER BY as_of DESC LIMIT 1",
        )
        .bind(account)
        .bind(ts(p.as_of))
        .fetch_optional(&mut *self.conn)
        .await?;
        row.map(|r| r.int("points")).transpose()
    }

    async fn profile_updated_at(
        &mut self,
        account: i64,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT updated_at FROM profiles WHERE account_id = $1")
                .bind(account)
                .fetch_optional(&mut *self.conn)
                .await?;
        row.map(|(t,)| parse_timestamp(&t)).transpose()
    }

    async fn upsert_profile(
        &mut self,
        account: i64,
        p: &Profile,
        synced_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO profiles (account_id, name, email, phone, country, membership_tier, \
             purchase_power_minor, purchase_power_currency, refunds_to_balance, updated_at, \
             synced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (account_id) DO UPDATE SET name = excluded.name, \
             email = excluded.email, phone = excluded.phone, country = excluded.country, \
             membership_tier = excluded.membership_tier, \
             purchase_power_minor = excluded.purchase_power_minor, \
             purchase_power_currency = excluded.purchase_power_currency, \
             refunds_to_balance = excluded.refunds_to_balance, updated_at = excluded.updated_at, \
             synced_at = excluded.synced_at \
             WHERE excluded.updated_at > profiles.updated_at",
        )
        .bind(account)
        .bind(&p.name)
        .bind(&p.email)
        .bind(&p.phone)
        .bind(&p.country)
        .bind(p.membership_tier.map(|t| t.as_str()))
        .bind(p.purchase_power.map(|m| m.minor))
        .bind(p.purchase_power.map(|m| m.currency.code()))
        .bind(p.refunds_to_balance)
        .bind(ts(p.updated_at))
        .bind(ts(synced_at))
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SecretCipher, SqliteStore};

    /// Each child row costs one index seek of its purchase, whatever the
    /// account's size: the batch is the outer loop.
    #[tokio::test]
    async fn child_rows_seek_their_purchase() {
        let store = SqliteStore::open("sqlite::memory:", SecretCipher::from_key_bytes([0; 32]))
            .await
            .unwrap();
        for sql in [INSERT_ITEMS.as_str(), UPSERT_INSTALLMENTS.as_str()] {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .bind(1_i64)
                    .bind("[]")
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
            let details: Vec<&str> = plan.iter().map(|(_, _, _, d)| d.as_str()).collect();
            assert!(
                details.iter().any(|d| d.starts_with("SCAN r")),
                "{details:?}"
            );
            assert!(
                details
                    .iter()
                    .any(|d| d.starts_with("SEARCH p USING INDEX")),
                "{details:?}"
            );
            assert!(
                !details.iter().any(|d| d.starts_with("SCAN p")),
                "{details:?}"
            );
        }
    }
}
