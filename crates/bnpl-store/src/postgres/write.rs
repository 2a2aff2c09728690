//! The PostgreSQL statements of a write transaction: the same statements as
//! the SQLite ones, with native types and id lists bound as `TEXT[]`.
//! Every statement is a `&'static str`, so each connection prepares it once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use bnpl_core::{BalanceSnapshot, Installment, PointsSnapshot, Profile, PurchaseItem, Stream};

use crate::StoreError;
use crate::apply::{HistoryRow, NewEvent, RecordRef, StoredInstallment, Table, WriteTx};
use crate::rows::{self, RowExt};
use crate::time::stored as ts;

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

fn index(table: Table) -> usize {
    match table {
        Table::Purchases => 0,
        Table::CardTransactions => 1,
        Table::BalanceEntries => 2,
        Table::PointsEntries => 3,
        Table::Deliveries => 4,
    }
}

const UPSERT_PURCHASE: &str = "INSERT INTO purchases (account_id, external_id, merchant, \
    merchant_category, currency, amount_minor, captured_minor, refunded_minor, status, plan, \
    apr_bps, interest_minor, return_external_id, return_reported_at, return_state, \
    return_amount_minor, dispute_state, dispute_opened_at, created_at, updated_at, synced_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
    ON CONFLICT (account_id, external_id) DO UPDATE SET merchant = excluded.merchant, \
    merchant_category = excluded.merchant_category, currency = excluded.currency, \
    amount_minor = excluded.amount_minor, captured_minor = excluded.captured_minor, \
    refunded_minor = excluded.refunded_minor, status = excluded.status, plan = excluded.plan, \
    apr_bps = excluded.apr_bps, interest_minor = excluded.interest_minor, \
    return_external_id = excluded.return_external_id, \
    return_reported_at = excluded.return_reported_at, return_state = excluded.return_state, \
    return_amount_minor = excluded.return_amount_minor, dispute_state = excluded.dispute_state, \
    dispute_opened_at = excluded.dispute_opened_at, created_at = excluded.created_at, \
    updated_at = excluded.updated_at, synced_at = excluded.synced_at \
    WHERE excluded.updated_at > purchases.updated_at \
    RETURNING id";

const UPSERT_CARD_TRANSACTION: &str = "INSERT INTO card_transactions (account_id, external_id, \
    auth_external_id, kind, status, currency, amount_minor, merchant, mcc, occurred_at, \
    updated_at, synced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
    ON CONFLICT (account_id, external_id) DO UPDATE SET \
    auth_external_id = excluded.auth_external_id, kind = excluded.kind, status = excluded.status, \
    currency = excluded.currency, amount_minor = excluded.amount_minor, \
    merchant = excluded.merchant, mcc = excluded.mcc, occurred_at = excluded.occurred_at, \
    updated_at = excluded.updated_at, synced_at = excluded.synced_at \
    WHERE excluded.updated_at > card_transactions.updated_at \
    RETURNING id";

const UPSERT_BALANCE_ENTRY: &str = "INSERT INTO balance_entries (account_id, external_id, \
    ledger, kind, booking, currency, amount_minor, description, purchase_external_id, \
    points_entry_external_id, occurred_at, updated_at, synced_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
    ON CONFLICT (account_id, external_id) DO UPDATE SET ledger = excluded.ledger, \
    kind = excluded.kind, booking = excluded.booking, currency = excluded.currency, \
    amount_minor = excluded.amount_minor, description = excluded.description, \
    purchase_external_id = excluded.purchase_external_id, \
    points_entry_external_id = excluded.points_entry_external_id, \
    occurred_at = excluded.occurred_at, updated_at = excluded.updated_at, \
    synced_at = excluded.synced_at \
    WHERE excluded.updated_at > balance_entries.updated_at \
    RETURNING id";

const UPSERT_POINTS_ENTRY: &str = "INSERT INTO points_entries (account_id, external_id, kind, \
    points, purchase_external_id, balance_entry_external_id, occurred_at, updated_at, synced_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
    ON CONFLICT (account_id, external_id) DO UPDATE SET kind = excluded.kind, \
    points = excluded.points, purchase_external_id = excluded.purchase_external_id, \
    balance_entry_external_id = excluded.balance_entry_external_id, \
    occurred_at = excluded.occurred_at, updated_at = excluded.updated_at, \
    synced_at = excluded.synced_at \
    WHERE excluded.updated_at > points_entries.updated_at \
    RETURNING id";

const UPSERT_DELIVERY: &str = "INSERT INTO deliveries (account_id, external_id, \
    purchase_external_id, carrier, tracking_number, status, eta_from, eta_to, updated_at, \
    synced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
    ON CONFLICT (account_id, external_id) DO UPDATE SET \
    purchase_external_id = excluded.purchase_external_id, carrier = excluded.carrier, \
    tracking_number = excluded.tracking_number, status = excluded.status, \
    eta_from = excluded.eta_from, eta_to = excluded.eta_to, updated_at = excluded.updated_at, \
    synced_at = excluded.synced_at \
    WHERE excluded.updated_at > deliveries.updated_at \
    RETURNING id";

const UPSERT_INSTALLMENT: &str = "INSERT INTO installments (purchase_id, account_id, seq, \
    due_date, amount_minor, currency, reported_state, paid_at, late_fee_minor) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
    ON CONFLICT (purchase_id, seq) DO UPDATE SET due_date = excluded.due_date, \
    amount_minor = excluded.amount_minor, currency = excluded.currency, \
    reported_state = excluded.reported_state, paid_at = excluded.paid_at, \
    late_fee_minor = excluded.late_fee_minor \
    RETURNING id";

#[async_trait]
impl WriteTx for Writer<'_> {
    async fn existing(
        &mut self,
        table: Table,
        account: i64,
        ids: &[&str],
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query(EXISTING[index(table)])
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

    async fn upsert(
        &mut self,
        account: i64,
        record: RecordRef<'_>,
        synced_at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let synced_at = ts(synced_at);
        let query = match record {
            RecordRef::Purchase(p) => sqlx::query(UPSERT_PURCHASE)
                .bind(account)
                .bind(&p.id)
                .bind(&p.merchant)
                .bind(&p.merchant_category)
                .bind(p.amount.currency.code())
                .bind(p.amount.minor)
                .bind(p.captured_minor)
                .bind(p.refunded_minor)
                .bind(p.status.as_str())
                .bind(p.plan.kind.as_string())
                .bind(i64::from(p.plan.apr_bps))
                .bind(p.plan.interest_minor)
                .bind(p.return_.as_ref().map(|r| &r.id))
                .bind(p.return_.as_ref().map(|r| ts(r.reported_at)))
                .bind(p.return_.as_ref().map(|r| r.state.as_str()))
                .bind(p.return_.as_ref().map(|r| r.amount_minor))
                .bind(p.dispute.as_ref().map(|d| d.state.as_str()))
                .bind(p.dispute.as_ref().map(|d| ts(d.opened_at)))
                .bind(ts(p.created_at))
                .bind(ts(p.updated_at))
                .bind(synced_at),
            RecordRef::CardTransaction(t) => sqlx::query(UPSERT_CARD_TRANSACTION)
                .bind(account)
                .bind(&t.id)
                .bind(&t.auth_id)
                .bind(t.kind.as_str())
                .bind(t.status.as_str())
                .bind(t.amount.currency.code())
                .bind(t.amount.minor)
                .bind(&t.merchant)
                .bind(&t.mcc)
                .bind(ts(t.occurred_at))
                .bind(ts(t.updated_at))
                .bind(synced_at),
            RecordRef::BalanceEntry(e) => sqlx::query(UPSERT_BALANCE_ENTRY)
                .bind(account)
                .bind(&e.id)
                .bind(&e.ledger)
                .bind(e.kind.as_str())
                .bind(e.booking.as_str())
                .bind(e.amount.currency.code())
                .bind(e.amount.minor)
                .bind(&e.description)
                .bind(&e.purchase_id)
                .bind(&e.points_entry_id)
                .bind(ts(e.occurred_at))
                .bind(ts(e.updated_at))
                .bind(synced_at),
            RecordRef::PointsEntry(e) => sqlx::query(UPSERT_POINTS_ENTRY)
                .bind(account)
                .bind(&e.id)
                .bind(e.kind.as_str())
                .bind(e.points)
                .bind(&e.purchase_id)
                .bind(&e.balance_entry_id)
                .bind(ts(e.occurred_at))
                .bind(ts(e.updated_at))
                .bind(synced_at),
            RecordRef::Delivery(d) => sqlx::query(UPSERT_DELIVERY)
                .bind(account)
                .bind(&d.id)
                .bind(&d.purchase_id)
                .bind(&d.carrier)
                .bind(&d.tracking_number)
                .bind(d.status.as_str())
                .bind(d.eta_from)
                .bind(d.eta_to)
                .bind(ts(d.updated_at))
                .bind(synced_at),
        };
        let row = query.fetch_optional(&mut *self.conn).await?;
        row.map(|r| r.int("id")).transpose()
    }

    async fn delete_items(&mut self, purchase: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM purchase_items WHERE purchase_id = $1")
            .bind(purchase)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn insert_item(
        &mut self,
        purchase: i64,
        seq: u32,
        item: &PurchaseItem,
        currency: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO purchase_items (purchase_id, seq, name, quantity, unit_price_minor, currency) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(purchase)
        .bind(i64::from(seq))
        .bind(&item.name)
        .bind(i64::from(item.quantity))
        .bind(item.unit_price_minor)
        .bind(currency)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn upsert_installment(
        &mut self,
        account: i64,
        purchase: i64,
        currency: &str,
        i: &Installment,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(UPSERT_INSTALLMENT)
            .bind(purchase)
            .bind(account)
            .bind(i64::from(i.seq))
            .bind(i.due)
            .bind(i.amount_minor)
            .bind(currency)
            .bind(i.reported_state.as_str())
            .bind(i.paid_at.map(ts))
            .bind(i.late_fee_minor)
            .fetch_one(&mut *self.conn)
            .await?;
        row.int("id")
    }

    async fn delete_installment(&mut self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM installments WHERE id = $1")
            .bind(id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn insert_history(&mut self, h: &HistoryRow<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO installment_history (installment_id, from_state, to_state, \
             from_due_date, to_due_date, from_amount_minor, to_amount_minor, changed_at, \
             synced_at, cause) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(h.installment_id)
        .bind(h.from.reported_state.as_str())
        .bind(h.to.reported_state.as_str())
        .bind(h.from.due)
        .bind(h.to.due)
        .bind(h.from.amount_minor)
        .bind(h.to.amount_minor)
        .bind(ts(h.changed_at))
        .bind(ts(h.synced_at))
        .bind(h.cause)
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
        let rows = sqlx::query(REMOVE[index(table)])
            .bind(account)
            .bind(ids)
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter().map(|r| r.text("external_id")).collect()
    }

    async fn insert_event(&mut self, account: i64, e: &NewEvent<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO events (account_id, kind, object_id, occurred_at, recorded_at, payload) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(account)
        .bind(&e.kind)
        .bind(e.object_id)
        .bind(ts(e.occurred_at))
        .bind(ts(e.recorded_at))
        .bind(&e.payload)
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
