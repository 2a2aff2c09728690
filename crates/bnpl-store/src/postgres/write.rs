//! The PostgreSQL statements of a write transaction: the same statements as
//! the SQLite ones, with native types and id lists bound as arrays. Batches
//! arrive as one JSON array; the batch statements are
//! `crate::apply::statements`. Every statement text is built once per
//! process, so each connection prepares it once.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use bnpl_core::{BalanceSnapshot, PointsSnapshot, Profile, Stream};

use crate::apply::statements::{self, BatchStatements, Dialect};
use crate::apply::{
    EventRow, HistoryRow, InstallmentRow, ItemRow, RecordRow, StoredInstallment, Table, WriteTx,
};
use crate::rows::{self, RowExt};
use crate::time::stored as ts;
use crate::{StoreError, StreamAttempt};

pub(super) struct Writer<'c> {
    pub conn: &'c mut PgConnection,
}

const EXISTING: [&str; 5] = [
    "SELECT external_id, updated_at FROM purchases WHERE account_id = $1 AND external_id = ANY($2)",
    "SELECT external_id, updated_at FROM card_transactions WHERE account_id = $1 AND external_id = ANY($2)",
    "SELECT external_id, updated_at FROM balance_entries WHERE account_id = $1 AND external_id = ANY($2)",
    "SELECT external_id, updated_at FROM points_entries WHERE account_id = $1 AND external_id = ANY($2)",
    "SELECT external_id, updated_at FROM deliveries WHERE account_id = $1 AND external_id = ANY($2)",
];

const REMOVE: [&str; 5] = [
    "DELETE FROM purchases WHERE account_id = $1 AND external_id = ANY($2) RETURNING external_id",
    "DELETE FROM card_transactions WHERE account_id = $1 AND external_id = ANY($2) RETURNING external_id",
    "DELETE FROM balance_entries WHERE account_id = $1 AND external_id = ANY($2) RETURNING external_id",
    "DELETE FROM points_entries WHERE account_id = $1 AND external_id = ANY($2) RETURNING external_id",
    "DELETE FROM deliveries WHERE account_id = $1 AND external_id = ANY($2) RETURNING external_id",
];

/// A batch of rows as one JSON array, read by `json_to_recordset`.
fn json_rows<T: serde::Serialize>(rows: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| StoreError::Invalid(format!("batch of rows: {e}")))
}

/// Batches are read with `json_to_recordset` into typed columns.
static SQL: LazyLock<BatchStatements> = LazyLock::new(|| BatchStatements::new(Dialect::Recordset));

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
            .bind(ids)
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
             WHERE p.account_id = $1 AND p.external_id = ANY($2)",
        )
        .bind(account)
        .bind(purchase_ids)
        .fetch_all(&mut *self.conn)
        .await?;
        rows.iter().map(rows::stored_installment).collect()
    }

    async fn upsert_records(
        &mut self,
        table: Table,
        account: i64,
        synced_at: DateTime<Utc>,
        rows: &[RecordRow<'_>],
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(SQL.upsert_records[table as usize].as_str())
            .bind(account)
            .bind(ts(synced_at))
            .bind(json_rows(rows)?)
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
             WHERE account_id = $1 AND external_id = ANY($2))",
        )
        .bind(account)
        .bind(purchase_ids)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn insert_items(&mut self, account: i64, rows: &[ItemRow<'_>]) -> Result<(), StoreError> {
        sqlx::query(SQL.insert_items.as_str())
            .bind(account)
            .bind(json_rows(rows)?)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn upsert_installments(
        &mut self,
        account: i64,
        rows: &[InstallmentRow<'_>],
    ) -> Result<(), StoreError> {
        sqlx::query(SQL.upsert_installments.as_str())
            .bind(account)
            .bind(json_rows(rows)?)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn delete_installments(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM installments WHERE id = ANY($1)")
            .bind(ids)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn insert_history(&mut self, rows: &[HistoryRow]) -> Result<(), StoreError> {
        sqlx::query(SQL.insert_history.as_str())
            .bind(json_rows(rows)?)
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
            .bind(ids)
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter().map(|r| r.text("external_id")).collect()
    }

    async fn insert_events(
        &mut self,
        account: i64,
        rows: &[EventRow<'_>],
    ) -> Result<(), StoreError> {
        sqlx::query(SQL.insert_events.as_str())
            .bind(account)
            .bind(json_rows(rows)?)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn first_sync_done(&mut self, account: i64, stream: Stream) -> Result<bool, StoreError> {
        let found = sqlx::query(statements::FIRST_SYNC_DONE)
            .bind(account)
            .bind(stream.as_str())
            .fetch_optional(&mut *self.conn)
            .await?;
        Ok(found.is_some())
    }

    async fn save_attempt(
        &mut self,
        account: i64,
        attempt: &StreamAttempt,
    ) -> Result<(), StoreError> {
        sqlx::query(statements::SAVE_ATTEMPT)
            .bind(account)
            .bind(attempt.stream.as_str())
            .bind(ts(attempt.at))
            .bind(attempt.error.is_none().then(|| ts(attempt.at)))
            .bind(attempt.error.as_deref())
            .bind(attempt.next_allowed_at.map(ts))
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn count_rows(&mut self, table: Table, account: i64) -> Result<i64, StoreError> {
        let (count,): (i64,) = sqlx::query_as(statements::COUNT_ROWS[table as usize])
            .bind(account)
            .fetch_one(&mut *self.conn)
            .await?;
        Ok(count)
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
        let row: Option<(DateTime<Utc>,)> =
            sqlx::query_as("SELECT updated_at FROM profiles WHERE account_id = $1")
                .bind(account)
                .fetch_optional(&mut *self.conn)
                .await?;
        Ok(row.map(|(t,)| t))
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
