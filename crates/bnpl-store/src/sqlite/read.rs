//! SQLite reads. Rows map to the model through `crate::rows`; here are only
//! the statements and how SQLite columns decode.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use crate::rows::{self, RowExt};
use crate::time::{format_date, parse_date, parse_timestamp};
use crate::{
    AccountKey, AccountMirror, AccountRecord, InstallmentFilter, InstallmentView, OutstandingTotal,
    PurchaseSummary, StoreError,
};

impl RowExt for SqliteRow {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        Ok(self.try_get(col)?)
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(col)?)
    }

    fn int(&self, col: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(col)?)
    }

    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(col)?)
    }

    fn opt_timestamp(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let text: Option<String> = self.try_get(col)?;
        text.as_deref().map(parse_timestamp).transpose()
    }

    fn opt_date(&self, col: &str) -> Result<Option<NaiveDate>, StoreError> {
        let text: Option<String> = self.try_get(col)?;
        text.as_deref().map(parse_date).transpose()
    }

    fn opt_bool(&self, col: &str) -> Result<Option<bool>, StoreError> {
        Ok(self.try_get(col)?)
    }
}

fn json_list(values: &[&str]) -> String {
    serde_json::to_string(values).expect("a list of strings serializes")
}

pub(super) async fn account_id(
    conn: &mut SqliteConnection,
    key: &AccountKey,
) -> Result<i64, StoreError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM accounts WHERE provider = $1 AND external_id = $2")
            .bind(&key.provider)
            .bind(&key.account_id)
            .fetch_optional(conn)
            .await?;
    row.map(|(id,)| id)
        .ok_or_else(|| StoreError::UnknownAccount(key.to_string()))
}

pub(super) async fn accounts(
    pool: &SqlitePool,
    provider: Option<&str>,
) -> Result<Vec<AccountRecord>, StoreError> {
    let mut tx = pool.begin().await?;
    let accounts = sqlx::query(
        "SELECT id, provider, external_id AS account_external_id, status, status_reason, \
         created_at FROM accounts WHERE $1 IS NULL OR provider = $1",
    )
    .bind(provider)
    .fetch_all(&mut *tx)
    .await?;
    let streams = sqlx::query(
        "SELECT s.* FROM stream_state s JOIN accounts a ON a.id = s.account_id \
         WHERE $1 IS NULL OR a.provider = $1",
    )
    .bind(provider)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows::assemble_accounts(
        accounts
            .iter()
            .map(rows::account)
            .collect::<Result<_, _>>()?,
        streams
            .iter()
            .map(rows::stream_state)
            .collect::<Result<_, _>>()?,
    ))
}

/// Reads one account in one transaction, so the parts agree with each other.
pub(super) async fn mirror(
    pool: &SqlitePool,
    key: &AccountKey,
) -> Result<AccountMirror, StoreError> {
    let mut tx = pool.begin().await?;
    let conn: &mut SqliteConnection = &mut tx;
    let account = account_id(conn, key).await?;
    macro_rules! all {
        ($sql:literal, $map:path) => {
            sqlx::query($sql)
                .bind(account)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map($map)
                .collect::<Result<Vec<_>, StoreError>>()?
        };
    }
    let purchases = all!(
        "SELECT * FROM purchases WHERE account_id = $1",
        rows::purchase
    );
    let items = all!(
        "SELECT it.* FROM purchase_items it JOIN purchases p ON p.id = it.purchase_id \
         WHERE p.account_id = $1 ORDER BY it.purchase_id, it.seq",
        rows::item
    );
    let installments = all!(
        "SELECT * FROM installments WHERE account_id = $1 ORDER BY purchase_id, seq",
        rows::installment
    );
    let mut m = AccountMirror {
        purchases: rows::assemble_purchases(purchases, items, installments),
        card_transactions: all!(
            "SELECT * FROM card_transactions WHERE account_id = $1",
            rows::card_transaction
        ),
        balance_entries: all!(
            "SELECT * FROM balance_entries WHERE account_id = $1",
            rows::balance_entry
        ),
        points_entries: all!(
            "SELECT * FROM points_entries WHERE account_id = $1",
            rows::points_entry
        ),
        deliveries: all!(
            "SELECT * FROM deliveries WHERE account_id = $1",
            rows::delivery
        ),
        balances: all!(
            "SELECT b.* FROM balance_snapshots b WHERE b.account_id = $1 AND b.as_of = \
             (SELECT MAX(l.as_of) FROM balance_snapshots l WHERE l.account_id = b.account_id \
             AND l.ledger = b.ledger AND l.balance_type = b.balance_type \
             AND l.currency = b.currency)",
            rows::balance_snapshot
        ),
        points: all!(
            "SELECT * FROM points_snapshots WHERE account_id = $1 ORDER BY as_of DESC LIMIT 1",
            rows::points_snapshot
        )
        .pop(),
        profile: all!(
            "SELECT * FROM profiles WHERE account_id = $1",
            rows::profile
        )
        .pop(),
    };
    tx.commit().await?;
    m.sort();
    Ok(m)
}

pub(super) async fn installments(
    pool: &SqlitePool,
    filter: &InstallmentFilter,
    today: NaiveDate,
) -> Result<Vec<InstallmentView>, StoreError> {
    // Only fixed fragments are pushed; every value is a bind. At most 16
    // distinct texts, each prepared once per connection.
    let mut q = QueryBuilder::<Sqlite>::new(
        "SELECT a.provider, a.external_id AS account_external_id, \
         p.external_id AS purchase_external_id, p.merchant, p.plan, i.seq, i.due_date, \
         i.amount_minor, i.late_fee_minor, i.currency, i.reported_state \
         FROM installments i JOIN purchases p ON p.id = i.purchase_id \
         JOIN accounts a ON a.id = i.account_id WHERE 1 = 1",
    );
    if let Some(provider) = &filter.provider {
        q.push(" AND a.provider = ").push_bind(provider.clone());
    }
    if let Some(account) = &filter.account_id {
        q.push(" AND a.external_id = ").push_bind(account.clone());
    }
    if filter.open_only {
        q.push(" AND i.reported_state IN (SELECT value FROM json_each(")
            .push_bind(json_list(&rows::open_reported_states()))
            .push("))");
    }
    if let Some(day) = filter.due_on_or_before {
        q.push(" AND i.due_date <= ").push_bind(format_date(day));
    }
    q.push(" ORDER BY i.due_date, p.external_id, a.provider, a.external_id, i.seq");
    let rows = q.build().fetch_all(pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let view = rows::installment_view(r, today)?;
        if !filter.open_only || rows::open_at(&view) {
            out.push(view);
        }
    }
    Ok(out)
}

pub(super) async fn outstanding(pool: &SqlitePool) -> Result<Vec<OutstandingTotal>, StoreError> {
    let rows = sqlx::query(
        "SELECT a.provider, i.currency, SUM(i.amount_minor + i.late_fee_minor) AS outstanding_minor, \
         COUNT(*) AS open_installments, COUNT(DISTINCT i.purchase_id) AS active_plans \
         FROM installments i JOIN accounts a ON a.id = i.account_id \
         WHERE i.reported_state IN (SELECT value FROM json_each($1)) \
         GROUP BY a.provider, i.currency ORDER BY a.provider, i.currency",
    )
    .bind(json_list(&rows::open_reported_states()))
    .fetch_all(pool)
    .await?;
    rows.iter().map(rows::outstanding_total).collect()
}

pub(super) async fn purchases(pool: &SqlitePool) -> Result<Vec<PurchaseSummary>, StoreError> {
    let rows = sqlx::query(
        "SELECT a.provider, a.external_id AS account_external_id, p.external_id, p.merchant, \
         p.plan, p.status, p.amount_minor, p.currency, p.created_at, \
         COALESCE(o.open_installments, 0) AS open_installments, \
         COALESCE(o.outstanding_minor, 0) AS outstanding_minor \
         FROM purchases p JOIN accounts a ON a.id = p.account_id \
         LEFT JOIN (SELECT purchase_id, COUNT(*) AS open_installments, \
             SUM(amount_minor + late_fee_minor) AS outstanding_minor FROM installments \
             WHERE reported_state IN (SELECT value FROM json_each($1)) GROUP BY purchase_id) o \
         ON o.purchase_id = p.id \
         ORDER BY p.created_at, a.provider, a.external_id, p.external_id",
    )
    .bind(json_list(&rows::open_reported_states()))
    .fetch_all(pool)
    .await?;
    rows.iter().map(rows::purchase_summary).collect()
}
