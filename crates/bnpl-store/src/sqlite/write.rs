//! The SQLite statements of a write transaction. Timestamps are bound as
//! text in the one format of `crate::time`, never through sqlx's own encoding.
//! Every statement text is built once per process, so each connection
//! prepares it once. The batch statements are `crate::apply::statements`.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use bnpl_core::{BalanceSnapshot, PointsSnapshot, Profile, Stream};

use crate::StoreError;
use crate::apply::statements::{BatchStatements, Dialect};
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

/// Batches are read with `jsonb_each`: the array is parsed once per
/// statement, and each row's `->>` reads the binary form.
static SQL: LazyLock<BatchStatements> = LazyLock::new(|| {
    BatchStatements::new(&Dialect {
        source: |param, _| format!("jsonb_each(${param}) AS r"),
        value: |name| format!("r.value ->> '{name}'"),
    })
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
        let done = sqlx::query(SQL.upsert_records[table as usize].as_str())
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
        sqlx::query(SQL.insert_items.as_str())
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
        sqlx::query(SQL.upsert_installments.as_str())
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
        sqlx::query(SQL.insert_history.as_str())
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
        sqlx::query(SQL.insert_events.as_str())
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
        for sql in [SQL.insert_items.as_str(), SQL.upsert_installments.as_str()] {
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
