//! SQLite reads. Rows map to the model through `crate::rows`; here are only
//! the statements and how SQLite columns decode.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use crate::rows::{self, RowExt};
use crate::time::{format_date, parse_date, parse_timestamp};
use crate::{
    AccountKey, AccountMirror, AccountRecord, InstallmentFilter, InstallmentTotals,
    InstallmentView, OutstandingTotal, PurchaseSummary, StoreError,
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

/// The accounts of `provider` (all when `None`) after `after`, in key
/// order, at most `limit`.
pub(super) async fn accounts(
    pool: &SqlitePool,
    provider: Option<&str>,
    after: Option<&AccountKey>,
    limit: u32,
) -> Result<Vec<AccountRecord>, StoreError> {
    // One literal for both statements (sqlx takes only literal SQL).
    macro_rules! selected {
        () => {
            "FROM accounts WHERE ($1 IS NULL OR provider = $1) \
         AND ($2 IS NULL OR (provider, external_id) > ($2, $3)) \
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

/// Appends the filter's own conditions on the installments aliased `t`:
/// account, provider and openness, but neither the due-date bound nor the
/// paging. `joined`: the statement joins `accounts a` (the listing), so the
/// account is named there. Only fixed fragments are pushed; every value is
/// a bind.
fn push_conditions(
    q: &mut QueryBuilder<Sqlite>,
    t: &str,
    filter: &InstallmentFilter,
    joined: bool,
) {
    if joined {
        if let Some(provider) = &filter.provider {
            q.push(" AND a.provider = ").push_bind(provider.clone());
        }
        if let Some(account) = &filter.account_id {
            q.push(" AND a.external_id = ").push_bind(account.clone());
        }
    } else if filter.provider.is_some() || filter.account_id.is_some() {
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
    if filter.open_only {
        // The literals of migration 0007, not binds: the planner uses the
        // partial index installments_by_state_due only when the query
        // repeats its condition, and seeks it once per state. For one
        // account, the unary `+` keeps it on installments_by_account_due
        // instead (an account has a few hundred rows; the states, the whole
        // window).
        let plus = if !joined && filter.account_id.is_some() {
            "+"
        } else {
            ""
        };
        q.push(format_args!(
            " AND {}",
            open_states_condition(&format!("{plus}{t}.reported_state"))
        ));
    }
}

/// The open reported states as the condition of migration 0007's partial
/// index, on `column`: `(column = 'scheduled' OR column = 'late' OR column =
/// 'paused')`. Equalities, not an IN list, which SQLite would build into a
/// temporary b-tree at every write (see the migration). The values are the
/// state machine's own snake_case names, never input.
pub(crate) fn open_states_condition(column: &str) -> String {
    let terms: Vec<String> = rows::open_reported_states()
        .iter()
        .map(|s| format!("{column} = '{s}'"))
        .collect();
    format!("({})", terms.join(" OR "))
}

/// Far enough ahead to bound a window that has no end.
const NO_END: &str = "9999-12-31";

pub(super) async fn installments(
    pool: &SqlitePool,
    filter: &InstallmentFilter,
    today: NaiveDate,
) -> Result<Vec<InstallmentView>, StoreError> {
    if filter.limit == Some(0) {
        return Ok(Vec::new());
    }
    let rows = installments_query("", filter)
        .build()
        .fetch_all(pool)
        .await?;
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

/// The listing statement (also used by the plan tests).
/// `head` is empty, or `EXPLAIN ...` for the plan tests.
pub(crate) fn installments_query(head: &str, filter: &InstallmentFilter) -> QueryBuilder<Sqlite> {
    let mut q = QueryBuilder::<Sqlite>::new(head);
    q.push(
        "SELECT a.provider, a.external_id AS account_external_id, \
         p.external_id AS purchase_external_id, p.merchant, p.plan, i.seq, i.due_date, \
         i.amount_minor, i.late_fee_minor, i.currency, i.reported_state \
         FROM installments i JOIN purchases p ON p.id = i.purchase_id \
         JOIN accounts a ON a.id = i.account_id WHERE 1 = 1",
    );
    push_conditions(&mut q, "i", filter, true);
    if let Some(after) = &filter.after {
        q.push(" AND i.due_date >= ")
            .push_bind(format_date(after.due));
    }
    match filter.limit {
        None => {
            if let Some(day) = filter.due_on_or_before {
                q.push(" AND i.due_date <= ").push_bind(format_date(day));
            }
        }
        Some(limit) => {
            // A page needs the first `limit` rows in (due date, purchase,
            // provider, account, seq) order, but the tie-breakers live in
            // other tables: sorting every row of the window would join them
            // all. So the window is first cut, from the index alone, at the
            // due date of the `limit`-th row strictly after the keyset's
            // date (a subset of the rows after the keyset, so its
            // `limit`-th date is no earlier than the page's last); only
            // rows up to that date are joined and sorted. The cut reads the
            // covering index only, and SQLite leaves each state's ordered
            // range once its bounded sorter is full: measured ~0.1 ms over a
            // 47k-row window of 1.2M installments.
            let end = filter
                .due_on_or_before
                .map(format_date)
                .unwrap_or_else(|| NO_END.to_string());
            q.push(
                " AND i.due_date <= COALESCE((SELECT c.due_date FROM installments c WHERE 1 = 1",
            );
            push_conditions(&mut q, "c", filter, false);
            q.push(" AND c.due_date <= ").push_bind(end.clone());
            if let Some(after) = &filter.after {
                q.push(" AND c.due_date > ")
                    .push_bind(format_date(after.due));
            }
            q.push(" ORDER BY c.due_date LIMIT 1 OFFSET ")
                .push_bind(i64::from(limit.max(1)) - 1)
                .push("), ")
                .push_bind(end)
                .push(")");
        }
    }
    if let Some(after) = &filter.after {
        q.push(" AND (i.due_date, p.external_id, a.provider, a.external_id, i.seq) > (")
            .push_bind(format_date(after.due))
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
    q.push(" ORDER BY i.due_date, p.external_id, a.provider, a.external_id, i.seq");
    if let Some(limit) = filter.limit {
        q.push(" LIMIT ").push_bind(i64::from(limit));
    }
    q
}

/// The window's totals per currency. A window of several days (what `bnpl
/// due` asks) is summed in two halves at once, on two of the pool's
/// connections: the query reads every open row of the window from the index
/// (~50,000 at 10k accounts, ~20 ms on one core), and a query runs on one
/// core. Integer sums split exactly.
pub(super) async fn installment_totals(
    pool: &SqlitePool,
    filter: &InstallmentFilter,
    today: NaiveDate,
) -> Result<Vec<InstallmentTotals>, StoreError> {
    let Some(split) = split_day(filter, today) else {
        return totals_part(pool, filter, today, DueRange::default()).await;
    };
    let [early, late] = DueRange::halves(split);
    let (early, late) = futures::try_join!(
        totals_part(pool, filter, today, early),
        totals_part(pool, filter, today, late)
    )?;
    merge_totals(early, late)
}

async fn totals_part(
    pool: &SqlitePool,
    filter: &InstallmentFilter,
    today: NaiveDate,
    range: DueRange,
) -> Result<Vec<InstallmentTotals>, StoreError> {
    let rows = totals_query("", filter, today, range)
        .build()
        .fetch_all(pool)
        .await?;
    rows.iter().map(rows::installment_totals).collect()
}

/// Where [`installment_totals`] splits the window: the middle day between
/// today and its end, so that the overdue rows and the first half of the
/// coming days are one part and the rest the other. None, one query: for
/// one account (a few rows, read through that account's index), for an
/// open-ended window, and for a window of less than two days.
fn split_day(filter: &InstallmentFilter, today: NaiveDate) -> Option<NaiveDate> {
    if filter.account_id.is_some() {
        return None;
    }
    let days = (filter.due_on_or_before? - today).num_days();
    let half = u64::try_from(days / 2).ok().filter(|&d| d >= 1)?;
    today.checked_add_days(chrono::Days::new(half))
}

/// Part of a window by due date: `from` on or after, `before` strictly before.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DueRange {
    pub from: Option<NaiveDate>,
    pub before: Option<NaiveDate>,
}

impl DueRange {
    /// The part before `split` and the part from it on.
    fn halves(split: NaiveDate) -> [DueRange; 2] {
        [
            DueRange {
                from: None,
                before: Some(split),
            },
            DueRange {
                from: Some(split),
                before: None,
            },
        ]
    }
}

/// Two parts' totals as one list per currency, in currency order (as the
/// statement's `ORDER BY currency`). An overflow is an error, as SQLite's
/// integer SUM's is.
fn merge_totals(
    early: Vec<InstallmentTotals>,
    late: Vec<InstallmentTotals>,
) -> Result<Vec<InstallmentTotals>, StoreError> {
    let mut by_currency: BTreeMap<String, InstallmentTotals> = BTreeMap::new();
    for part in early.into_iter().chain(late) {
        let Some(sum) = by_currency.get_mut(&part.currency) else {
            by_currency.insert(part.currency.clone(), part);
            continue;
        };
        add_totals(sum, &part)
            .ok_or_else(|| StoreError::Invalid(format!("the {} totals overflow", part.currency)))?;
    }
    Ok(by_currency.into_values().collect())
}

/// `part` added into `sum`; None on an overflow.
fn add_totals(sum: &mut InstallmentTotals, part: &InstallmentTotals) -> Option<()> {
    sum.installments = sum.installments.checked_add(part.installments)?;
    sum.amount_minor = sum.amount_minor.checked_add(part.amount_minor)?;
    sum.late_fee_minor = sum.late_fee_minor.checked_add(part.late_fee_minor)?;
    sum.overdue_installments = sum
        .overdue_installments
        .checked_add(part.overdue_installments)?;
    sum.overdue_amount_minor = sum
        .overdue_amount_minor
        .checked_add(part.overdue_amount_minor)?;
    Some(())
}

/// The totals statement over `range` of the window (also used by the plan
/// tests).
pub(crate) fn totals_query(
    head: &str,
    filter: &InstallmentFilter,
    today: NaiveDate,
    range: DueRange,
) -> QueryBuilder<Sqlite> {
    // The inner GROUP BY follows installments_by_state_due's order (state,
    // due date, currency), so it needs no sort and, with the amounts in the
    // index, no table read; the outer one folds a few hundred rows into one
    // per currency. SUM over integers stays an integer (an overflow is an
    // error, never a float).
    let mut q = QueryBuilder::<Sqlite>::new(head);
    q.push(
        "SELECT currency, SUM(n) AS installments, SUM(amount) AS amount_minor, \
         SUM(fees) AS late_fee_minor, \
         SUM(CASE WHEN due_date < ",
    );
    let today = format_date(today);
    q.push_bind(today.clone())
        .push(" THEN n ELSE 0 END) AS overdue_installments, SUM(CASE WHEN due_date < ")
        .push_bind(today)
        .push(
            " THEN amount ELSE 0 END) AS overdue_amount_minor \
             FROM (SELECT i.reported_state, i.due_date, i.currency, COUNT(*) AS n, \
             SUM(i.amount_minor) AS amount, SUM(i.late_fee_minor) AS fees \
             FROM installments i WHERE 1 = 1",
        );
    push_conditions(&mut q, "i", filter, false);
    if let Some(day) = filter.due_on_or_before {
        q.push(" AND i.due_date <= ").push_bind(format_date(day));
    }
    if let Some(day) = range.from {
        q.push(" AND i.due_date >= ").push_bind(format_date(day));
    }
    if let Some(day) = range.before {
        q.push(" AND i.due_date < ").push_bind(format_date(day));
    }
    q.push(
        " GROUP BY i.reported_state, i.due_date, i.currency) \
         GROUP BY currency ORDER BY currency",
    );
    q
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

pub(super) async fn events_after(
    pool: &SqlitePool,
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

#[cfg(test)]
mod tests {
    use chrono::Days;
    use sqlx::Row;

    use super::*;
    use crate::rows::paging_contract::{self, today};
    use crate::{Database, SecretCipher, SqliteStore};

    /// A store holding the shared test rows, and `bnpl due --within 14d`'s
    /// window over every account.
    async fn filled_with_due_window() -> (tempfile::TempDir, SqliteStore, InstallmentFilter) {
        let (dir, store) = store().await;
        paging_contract::fill(&store).await;
        let window = InstallmentFilter {
            open_only: true,
            due_on_or_before: Some(today() + Days::new(14)),
            ..Default::default()
        };
        (dir, store, window)
    }

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("mirror.db").display());
        let store = SqliteStore::open(&url, SecretCipher::from_key_bytes([0; 32]))
            .await
            .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn paging_returns_every_row_once_in_order() {
        let (_dir, store) = store().await;
        paging_contract::paging_returns_every_row_once_in_order(&store).await;
    }

    #[tokio::test]
    async fn totals_equal_the_listed_rows_per_currency() {
        let (_dir, store) = store().await;
        paging_contract::totals_equal_the_listed_rows_per_currency(&store).await;
    }

    async fn plan(pool: &SqlitePool, mut q: QueryBuilder<Sqlite>) -> String {
        q.build()
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `bnpl due --within 14d` over every account reads only the open rows of
    /// the window through installments_by_state_due: no statement of it
    /// scans the installments table (first page, next page, totals, all).
    #[tokio::test]
    async fn due_queries_seek_the_open_installments_index() {
        let (_dir, store, window) = filled_with_due_window().await;
        let first = store.installments(&window, today()).await.unwrap();
        let next = InstallmentFilter {
            limit: Some(50),
            after: Some(first[3].position()),
            ..window.clone()
        };
        let pages = [
            InstallmentFilter {
                limit: Some(50),
                ..window.clone()
            },
            next,
            window.clone(),
        ];
        let mut plans = Vec::new();
        for f in &pages {
            plans.push(plan(store.pool(), installments_query("EXPLAIN QUERY PLAN ", f)).await);
        }
        // The totals, whole and in the two halves `installment_totals` runs.
        let split = split_day(&window, today()).expect("a 14-day window splits");
        let [early, late] = DueRange::halves(split);
        for range in [DueRange::default(), early, late] {
            let q = totals_query("EXPLAIN QUERY PLAN ", &window, today(), range);
            plans.push(plan(store.pool(), q).await);
        }
        for p in &plans {
            eprintln!("{p}\n");
            assert!(p.contains("installments_by_state_due"), "{p}");
            for line in p.lines() {
                assert!(
                    !line.contains("SCAN i")
                        && !line.contains("SCAN c")
                        && !line.contains("SCAN installments"),
                    "{p}"
                );
            }
        }
        // The totals read the index alone.
        for p in &plans[3..] {
            assert!(
                p.contains("COVERING INDEX installments_by_state_due"),
                "{p}"
            );
        }
        // One account's window is read through that account's rows only.
        let one = InstallmentFilter {
            provider: Some("klarna-us".into()),
            account_id: Some("b".into()),
            ..window.clone()
        };
        let one_page = InstallmentFilter {
            limit: Some(50),
            ..one.clone()
        };
        for q in [
            installments_query("EXPLAIN QUERY PLAN ", &one),
            installments_query("EXPLAIN QUERY PLAN ", &one_page),
            totals_query("EXPLAIN QUERY PLAN ", &one, today(), DueRange::default()),
        ] {
            let p = plan(store.pool(), q).await;
            eprintln!("{p}\n");
            assert!(!p.contains("installments_by_state_due"), "{p}");
            assert!(p.contains("installments_by_account_due"), "{p}");
            assert!(!p.contains("SCAN i") && !p.contains("SCAN c"), "{p}");
        }
        // The states are the partial index's own condition.
        let sql = installments_query("", &window).into_sql();
        let sql = sql.as_str();
        assert!(
            sql.contains(
                "(i.reported_state = 'scheduled' OR i.reported_state = 'late' \
                 OR i.reported_state = 'paused')"
            ),
            "{sql}"
        );
    }

    /// The halves of a split window hold rows each (so the shared totals
    /// test, run on this backend, checks the merge) and sum to the whole.
    #[tokio::test]
    async fn split_totals_add_up_to_the_whole_window() {
        let (_dir, store, window) = filled_with_due_window().await;
        let split = split_day(&window, today()).unwrap();
        assert_eq!(split, today() + Days::new(7));
        let part = |range| totals_part(store.pool(), &window, today(), range);
        let whole = part(DueRange::default()).await.unwrap();
        let [early, late] = DueRange::halves(split);
        let early = part(early).await.unwrap();
        let late = part(late).await.unwrap();
        assert!(!early.is_empty() && !late.is_empty());
        assert_ne!(early, whole);
        assert_eq!(merge_totals(early, late).unwrap(), whole);
        assert_eq!(
            installment_totals(store.pool(), &window, today())
                .await
                .unwrap(),
            whole
        );
    }

    #[test]
    fn only_a_window_of_days_across_accounts_splits() {
        let day = |d| Some(today() + Days::new(d));
        let window = |end| InstallmentFilter {
            due_on_or_before: end,
            ..Default::default()
        };
        assert_eq!(split_day(&window(day(14)), today()), day(7));
        assert_eq!(split_day(&window(day(3)), today()), day(1));
        assert_eq!(split_day(&window(day(1)), today()), None);
        assert_eq!(split_day(&window(Some(today())), today()), None);
        assert_eq!(split_day(&window(None), today()), None);
        // A window already past splits nowhere: its end is before today.
        assert_eq!(
            split_day(&window(Some(today() - Days::new(9))), today()),
            None
        );
        let one_account = InstallmentFilter {
            account_id: Some("a".into()),
            ..window(day(14))
        };
        assert_eq!(split_day(&one_account, today()), None);
    }

    #[test]
    fn merged_totals_keep_currency_order_and_refuse_an_overflow() {
        let t = |currency: &str, amount| InstallmentTotals {
            currency: currency.into(),
            installments: 1,
            amount_minor: amount,
            late_fee_minor: 0,
            overdue_installments: 0,
            overdue_amount_minor: 0,
        };
        let merged = merge_totals(vec![t("USD", 5)], vec![t("EUR", 2), t("USD", 7)]).unwrap();
        assert_eq!(
            merged,
            vec![
                t("EUR", 2),
                InstallmentTotals {
                    installments: 2,
                    ..t("USD", 12)
                }
            ]
        );
        let err = merge_totals(vec![t("USD", i64::MAX)], vec![t("USD", 1)]).unwrap_err();
        assert!(err.to_string().contains("USD"), "{err}");
    }

    /// The partial index's condition (migration 0007) is the list the
    /// queries build from the state machine: a state added to one and not
    /// the other would silently fall back to a table scan.
    #[test]
    fn the_open_states_index_lists_the_open_states() {
        let migration = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../schema/sqlite/0007_open_index_without_an_in_list.sql"
        ));
        let condition = format!("WHERE {};", open_states_condition("reported_state"));
        assert!(migration.contains(&condition), "{condition}");
    }
}
