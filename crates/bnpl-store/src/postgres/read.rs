//! PostgreSQL reads. Rows map to the model through `crate::rows`; here are
//! only the statements and how PostgreSQL columns decode. Text sorts use
//! `COLLATE "C"` so the order is byte order, as in SQLite.

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};

use crate::rows::{self, RowExt};
use crate::{
    AccountKey, AccountMirror, AccountRecord, InstallmentFilter, InstallmentTotals,
    InstallmentView, OutstandingTotal, PurchaseSummary, StoreError,
};

impl RowExt for PgRow {
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
        Ok(self.try_get(col)?)
    }

    fn opt_date(&self, col: &str) -> Result<Option<NaiveDate>, StoreError> {
        Ok(self.try_get(col)?)
    }

    fn opt_bool(&self, col: &str) -> Result<Option<bool>, StoreError> {
        Ok(self.try_get(col)?)
    }
}

pub(super) async fn account_id(
    conn: &mut PgConnection,
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

/// The accounts of `provider` (all when `None`) after `after`, in key
/// order, at most `limit`.
pub(super) async fn accounts(
    pool: &PgPool,
    provider: Option<&str>,
    after: Option<&AccountKey>,
    limit: u32,
) -> Result<Vec<AccountRecord>, StoreError> {
    // One literal for both statements (sqlx takes only literal SQL).
    macro_rules! selected {
        () => {
            "FROM accounts WHERE ($1::TEXT IS NULL OR provider = $1) \
         AND ($2::TEXT IS NULL OR (provider, external_id) > ($2, $3::TEXT)) \
         ORDER BY provider, external_id LIMIT $4"
        };
    }
    let (after_provider, after_id) = match after {
        Some(k) => (Some(k.provider.as_str()), Some(k.account_id.as_str())),
        None => (None, None),
    };
    // Rows are mapped as they arrive, not collected first: the raw rows of
    // 10k accounts' stream states took ~100 MB at their peak (issue 6).
    let mut tx = pool.begin().await?;
    let mut accounts = Vec::new();
    let mut fetched = sqlx::query(concat!(
        "SELECT id, provider, external_id AS account_external_id, status, status_reason, \
         created_at ",
        selected!()
    ))
    .bind(provider)
    .bind(after_provider)
    .bind(after_id)
    .bind(i64::from(limit))
    .fetch(&mut *tx);
    while let Some(row) = fetched.try_next().await? {
        accounts.push(rows::account(&row)?);
    }
    drop(fetched);
    let mut streams = Vec::new();
    let mut fetched = sqlx::query(concat!(
        "SELECT s.* FROM stream_state s JOIN (SELECT id ",
        selected!(),
        ") a ON a.id = s.account_id"
    ))
    .bind(provider)
    .bind(after_provider)
    .bind(after_id)
    .bind(i64::from(limit))
    .fetch(&mut *tx);
    while let Some(row) = fetched.try_next().await? {
        streams.push(rows::stream_state(&row)?);
    }
    drop(fetched);
    tx.commit().await?;
    Ok(rows::assemble_accounts(accounts, streams))
}

/// Reads one account in one transaction, so the parts agree with each other.
pub(super) async fn mirror(pool: &PgPool, key: &AccountKey) -> Result<AccountMirror, StoreError> {
    // One snapshot for every part of the answer.
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let conn: &mut PgConnection = &mut tx;
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

/// Appends the filter's account and provider conditions on the
/// installments aliased `t`. Every value is a bind.
fn push_account(q: &mut QueryBuilder<Postgres>, t: &str, filter: &InstallmentFilter) {
    if filter.provider.is_some() || filter.account_id.is_some() {
        q.push(format_args!(
            " AND {t}.account_id IN (SELECT id FROM accounts WHERE 1 = 1"
        ));
        if let Some(provider) = &filter.provider {
            q.push(" AND provider = ").push_bind(provider.clone());
        }
        if let Some(account) = &filter.account_id {
            q.push(" AND external_id = ").push_bind(account.clone());
        }
        q.push(")");
    }
}

/// Appends the filter's own conditions on the installments aliased `t`:
/// account, provider and openness, but neither the due-date bound nor the
/// paging. Only fixed fragments are pushed; every value is a bind.
fn push_conditions(q: &mut QueryBuilder<Postgres>, t: &str, filter: &InstallmentFilter) {
    push_account(q, t, filter);
    if filter.open_only {
        // One array bind: an index condition on installments_by_state_due.
        q.push(format_args!(" AND {t}.reported_state = ANY("))
            .push_bind(rows::open_reported_states())
            .push(")");
    }
}

pub(super) async fn installments(
    pool: &PgPool,
    filter: &InstallmentFilter,
    today: NaiveDate,
) -> Result<Vec<InstallmentView>, StoreError> {
    let rows = match filter.limit {
        Some(0) => return Ok(Vec::new()),
        None => {
            installments_query("", filter, filter.due_on_or_before)
                .build()
                .fetch_all(pool)
                .await?
        }
        Some(limit) => {
            // A page needs the first `limit` rows in (due date, purchase,
            // provider, account, seq) order, but the tie-breakers live in
            // other tables: sorting every row of the window would join them
            // all. So the window is first cut, from the index alone, at the
            // due date of the `limit`-th row strictly after the keyset's date
            // (a subset of the rows after the keyset, so its `limit`-th date
            // is no earlier than the page's last); then only rows up to that
            // date are joined and sorted. Two statements, so that the planner
            // sees the real bound (a few hundred rows, not a third of the
            // table it would guess for a subquery's result: a parallel plan
            // whose workers cost more than the page), in one snapshot.
            let mut tx = pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
            // Even so the planner may split a page of a few hundred rows
            // over parallel workers, whose start-up costs more than the page
            // (measured: 10-20 ms against ~2 ms); for this transaction only.
            sqlx::query("SET LOCAL max_parallel_workers_per_gather = 0")
                .execute(&mut *tx)
                .await?;
            let cut: Option<NaiveDate> = cutoff_query(filter, limit)
                .build_query_scalar()
                .fetch_optional(&mut *tx)
                .await?;
            let bound = cut.or(filter.due_on_or_before);
            let rows = installments_query("", filter, bound)
                .build()
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            rows
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let view = rows::installment_view(r, today)?;
        // The state list is exactly the open states, whatever the date
        // (rows::tests), so nothing is filtered after the LIMIT.
        debug_assert!(!filter.open_only || rows::open_at(&view));
        out.push(view);
    }
    Ok(out)
}

/// The due date of the `limit`-th row of the filter strictly after the
/// keyset's due date (no row: fewer than `limit`). One ordered index range
/// per open state, each stopped after `limit` entries and merged, so the
/// cost follows the page, not the window.
fn cutoff_query(filter: &InstallmentFilter, limit: u32) -> QueryBuilder<Postgres> {
    let limit = i64::from(limit);
    let arm = |q: &mut QueryBuilder<Postgres>, state: Option<&'static str>| {
        q.push("(SELECT c.due_date FROM installments c WHERE 1 = 1");
        if let Some(state) = state {
            q.push(" AND c.reported_state = ").push_bind(state);
        }
        push_account(q, "c", filter);
        if let Some(day) = filter.due_on_or_before {
            q.push(" AND c.due_date <= ").push_bind(day);
        }
        if let Some(after) = &filter.after {
            q.push(" AND c.due_date > ").push_bind(after.due);
        }
        q.push(" ORDER BY c.due_date LIMIT ")
            .push_bind(limit)
            .push(")");
    };
    let mut q = QueryBuilder::<Postgres>::new("SELECT due_date FROM (");
    if filter.open_only {
        for (n, state) in rows::open_reported_states().into_iter().enumerate() {
            if n > 0 {
                q.push(" UNION ALL ");
            }
            arm(&mut q, Some(state));
        }
    } else {
        arm(&mut q, None);
    }
    q.push(") cut ORDER BY due_date LIMIT 1 OFFSET ")
        .push_bind(limit - 1);
    q
}

/// The listing statement (also used by the plan tests), due on or before
/// `until`. `head` is empty, or `EXPLAIN ...` for the plan tests.
pub(crate) fn installments_query(
    head: &str,
    filter: &InstallmentFilter,
    until: Option<NaiveDate>,
) -> QueryBuilder<Postgres> {
    let mut q = QueryBuilder::<Postgres>::new(head);
    q.push(
        "SELECT a.provider, a.external_id AS account_external_id, \
         p.external_id AS purchase_external_id, p.merchant, p.plan, i.seq, i.due_date, \
         i.amount_minor, i.late_fee_minor, i.currency, i.reported_state \
         FROM installments i JOIN purchases p ON p.id = i.purchase_id \
         JOIN accounts a ON a.id = i.account_id WHERE 1 = 1",
    );
    push_conditions(&mut q, "i", filter);
    if let Some(day) = until {
        q.push(" AND i.due_date <= ").push_bind(day);
    }
    if let Some(after) = &filter.after {
        q.push(" AND i.due_date >= ").push_bind(after.due);
        q.push(
            " AND (i.due_date, p.external_id COLLATE \"C\", a.provider COLLATE \"C\", \
             a.external_id COLLATE \"C\", i.seq) > (",
        )
        .push_bind(after.due)
        .push(", ")
        .push_bind(after.purchase_id.clone())
        .push(", ")
        .push_bind(after.provider.clone())
        .push(", ")
        .push_bind(after.account_id.clone())
        .push(", ")
        .push_bind(i64::from(after.seq))
        .push(")");
    }
    q.push(
        " ORDER BY i.due_date, p.external_id COLLATE \"C\", a.provider COLLATE \"C\", \
         a.external_id COLLATE \"C\", i.seq",
    );
    if let Some(limit) = filter.limit {
        q.push(" LIMIT ").push_bind(i64::from(limit));
    }
    q
}

pub(super) async fn installment_totals(
    pool: &PgPool,
    filter: &InstallmentFilter,
    today: NaiveDate,
) -> Result<Vec<InstallmentTotals>, StoreError> {
    let rows = totals_query("", filter, today)
        .build()
        .fetch_all(pool)
        .await?;
    rows.iter().map(rows::installment_totals).collect()
}

/// The totals statement (also used by the plan tests): one pass over the
/// window's index entries, aggregated per currency.
pub(crate) fn totals_query(
    head: &str,
    filter: &InstallmentFilter,
    today: NaiveDate,
) -> QueryBuilder<Postgres> {
    let mut q = QueryBuilder::<Postgres>::new(head);
    q.push(
        "SELECT i.currency, COUNT(*) AS installments, \
         SUM(i.amount_minor)::BIGINT AS amount_minor, \
         SUM(i.late_fee_minor)::BIGINT AS late_fee_minor, \
         COUNT(*) FILTER (WHERE i.due_date < ",
    );
    q.push_bind(today)
        .push(
            ") AS overdue_installments, \
             COALESCE(SUM(i.amount_minor) FILTER (WHERE i.due_date < ",
        )
        .push_bind(today)
        .push("), 0)::BIGINT AS overdue_amount_minor FROM installments i WHERE 1 = 1");
    push_conditions(&mut q, "i", filter);
    if let Some(day) = filter.due_on_or_before {
        q.push(" AND i.due_date <= ").push_bind(day);
    }
    q.push(" GROUP BY i.currency ORDER BY i.currency COLLATE \"C\"");
    q
}

pub(super) async fn outstanding(pool: &PgPool) -> Result<Vec<OutstandingTotal>, StoreError> {
    let rows = sqlx::query(
        "SELECT a.provider, i.currency, SUM(i.amount_minor + i.late_fee_minor)::BIGINT AS outstanding_minor, \
         COUNT(*) AS open_installments, COUNT(DISTINCT i.purchase_id) AS active_plans \
         FROM installments i JOIN accounts a ON a.id = i.account_id \
         WHERE i.reported_state = ANY($1) \
         GROUP BY a.provider, i.currency ORDER BY a.provider COLLATE \"C\", i.currency COLLATE \"C\"",
    )
    .bind(rows::open_reported_states())
    .fetch_all(pool)
    .await?;
    rows.iter().map(rows::outstanding_total).collect()
}

pub(super) async fn events_after(
    pool: &PgPool,
    after: i64,
    limit: u32,
) -> Result<Vec<crate::Event>, StoreError> {
    let rows = sqlx::query(rows::EVENTS_AFTER)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(rows::event).collect()
}

pub(super) async fn purchases(pool: &PgPool) -> Result<Vec<PurchaseSummary>, StoreError> {
    let rows = sqlx::query(
        "SELECT a.provider, a.external_id AS account_external_id, p.external_id, p.merchant, \
         p.plan, p.status, p.amount_minor, p.currency, p.created_at, \
         COALESCE(o.open_installments, 0) AS open_installments, \
         COALESCE(o.outstanding_minor, 0) AS outstanding_minor \
         FROM purchases p JOIN accounts a ON a.id = p.account_id \
         LEFT JOIN (SELECT purchase_id, COUNT(*) AS open_installments, \
             SUM(amount_minor + late_fee_minor)::BIGINT AS outstanding_minor FROM installments \
             WHERE reported_state = ANY($1) GROUP BY purchase_id) o \
         ON o.purchase_id = p.id \
         ORDER BY p.created_at, a.provider COLLATE \"C\", a.external_id COLLATE \"C\", \
         p.external_id COLLATE \"C\"",
    )
    .bind(rows::open_reported_states())
    .fetch_all(pool)
    .await?;
    rows.iter().map(rows::purchase_summary).collect()
}

#[cfg(test)]
mod tests {
    use chrono::Days;

    use super::*;
    use crate::rows::paging_contract::{self, today};
    use crate::{PostgresStore, SecretCipher};

    /// With BNPL_TEST_POSTGRES_URL, a store in a schema of its own; without,
    /// `None` (the test is not run). Set but not answering is a failure.
    async fn store() -> Option<PostgresStore> {
        let Ok(url) = std::env::var("BNPL_TEST_POSTGRES_URL") else {
            eprintln!("BNPL_TEST_POSTGRES_URL is not set: PostgreSQL test not run");
            return None;
        };
        Some(
            PostgresStore::open_isolated(&url, SecretCipher::from_key_bytes([0; 32]))
                .await
                .unwrap_or_else(|e| panic!("BNPL_TEST_POSTGRES_URL={url} does not answer: {e}")),
        )
    }

    #[tokio::test]
    async fn paging_returns_every_row_once_in_order() {
        let Some(store) = store().await else { return };
        paging_contract::paging_returns_every_row_once_in_order(&store).await;
        store.drop_isolated().await.unwrap();
    }

    #[tokio::test]
    async fn totals_equal_the_listed_rows_per_currency() {
        let Some(store) = store().await else { return };
        paging_contract::totals_equal_the_listed_rows_per_currency(&store).await;
        store.drop_isolated().await.unwrap();
    }

    /// The due window is read by an index seek on the open states (the test
    /// tables are too small for the planner to prefer an index on its own,
    /// so sequential scans are discouraged for this connection).
    #[tokio::test]
    async fn due_queries_can_seek_the_open_installments_index() {
        let Some(store) = store().await else { return };
        paging_contract::fill(&store).await;
        let window = InstallmentFilter {
            open_only: true,
            due_on_or_before: Some(today() + Days::new(14)),
            limit: Some(50),
            ..Default::default()
        };
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await
            .unwrap();
        for mut q in [
            installments_query("EXPLAIN ", &window, window.due_on_or_before),
            totals_query("EXPLAIN ", &window, today()),
        ] {
            let plan: Vec<String> = q
                .build()
                .fetch_all(&mut *conn)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect();
            let plan = plan.join("\n");
            eprintln!("{plan}\n");
            // On a few hundred rows the planner may as well pick the
            // lifecycle's (reported_state, state, due_date) index; what
            // matters is a seek on the open states, never a scan.
            assert!(!plan.contains("Seq Scan on installments"), "{plan}");
            assert!(
                plan.contains("Index Cond: ((reported_state = ANY"),
                "{plan}"
            );
        }
        drop(conn);
        store.drop_isolated().await.unwrap();
    }
}
