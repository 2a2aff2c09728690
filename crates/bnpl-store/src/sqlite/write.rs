//! The SQLite statements of a write transaction, run on the store's own
//! writer connection (rusqlite), not through sqlx: sqlx runs every statement
//! on a worker thread and pays two thread wake-ups per statement, which was
//! most of a page's cost (issue 6). Here a whole group of pages is one
//! synchronous call: the statements are prepared once per connection
//! (`prepare_cached`) and run back to back.
//!
//! Timestamps are bound as text in the one format of `crate::time`. The
//! batch statements are `crate::apply::statements`, shared with PostgreSQL.

use std::collections::HashMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::Null;
use rusqlite::{CachedStatement, Connection, ToSql};
use serde::Serialize;

use bnpl_core::{BalanceSnapshot, PointsSnapshot, Profile, Stream};

use super::bind::{Fields, bind_row};
use crate::apply::statements::{self, BatchStatements, Dialect};
use crate::apply::{
    EventRow, HistoryRow, InstallmentRow, ItemRow, RecordRow, StoredInstallment, Table, WriteTx,
};
use crate::rows::{self, RowExt};
use crate::time::{format_timestamp as ts, parse_date, parse_timestamp};
use crate::{AccountKey, StoreError, StreamAttempt};

/// The statements of one transaction on the writer connection. Every method
/// completes without awaiting anything: the store polls these futures once
/// (`FutureExt::now_or_never`) on the thread that holds the connection.
pub(super) struct Writer<'c> {
    pub conn: &'c mut Connection,
    /// The row id of each purchase the last purchase upsert inserted, by its
    /// external id: its items and installments bind it instead of seeking
    /// the purchase by (account, external id, version) once per child row.
    written_purchases: HashMap<String, i64>,
}

impl<'c> Writer<'c> {
    pub(super) fn new(conn: &'c mut Connection) -> Writer<'c> {
        Writer {
            conn,
            written_purchases: HashMap::new(),
        }
    }
}

/// Binds a list of ids as one JSON array, read back with `json_each`: one
/// statement text whatever the page size.
fn json_list(ids: &[&str]) -> String {
    serde_json::to_string(ids).expect("a list of strings serializes")
}

/// The statements number their parameters `$1`, `$2`... (the text is shared
/// with PostgreSQL), and a parameter may appear before a lower-numbered one:
/// bind by name, never by position.
const PARAMETERS: [&str; 12] = [
    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12",
];

fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
    binds: &[&dyn ToSql],
) -> Result<CachedStatement<'c>, StoreError> {
    assert!(
        binds.len() <= PARAMETERS.len(),
        "a statement with {} binds: name them in PARAMETERS",
        binds.len()
    );
    let mut statement = conn.prepare_cached(sql)?;
    for (name, value) in PARAMETERS.iter().zip(binds) {
        statement.raw_bind_parameter(*name, value)?;
    }
    Ok(statement)
}

/// Runs a statement that returns no rows; how many rows it changed.
pub(super) fn execute(
    conn: &Connection,
    sql: &str,
    binds: &[&dyn ToSql],
) -> Result<usize, StoreError> {
    Ok(prepare(conn, sql, binds)?.raw_execute()?)
}

/// Runs a batch statement once per row of `rows`, the batch's own binds
/// (`$1`...) bound once; how many rows it changed in all.
pub(super) fn execute_rows<T: Serialize>(
    conn: &Connection,
    sql: &str,
    binds: &[&dyn ToSql],
    rows: &[T],
) -> Result<usize, StoreError> {
    execute_each(conn, sql, binds, rows, |statement, _| {
        Ok(statement.raw_execute()?)
    })
}

/// Runs a child-row statement (`SQL.insert_items`, `SQL.upsert_installments`)
/// once per row. `$2` is the parent purchase's row id when this transaction
/// just wrote that purchase version, NULL otherwise: the statement then seeks
/// the purchase by external id and version, as PostgreSQL's does.
fn execute_children<T: Serialize>(
    conn: &Connection,
    sql: &str,
    account: i64,
    rows: &[T],
    parent: impl Fn(&T) -> Option<i64>,
) -> Result<usize, StoreError> {
    // `$2` is bound once here so that it counts as a batch parameter, not
    // a row field, then again for each row.
    execute_each(conn, sql, &[&account, &Null], rows, |statement, row| {
        statement.raw_bind_parameter("$2", parent(row))?;
        Ok(statement.raw_execute()?)
    })
}

/// The loop of the batch statements: `binds` bound once, then for each row
/// its fields bound to the parameters of their names and `run` called to
/// execute the statement (binding what else the row needs first, reading
/// what the execution left after); `run` answers how many rows changed.
fn execute_each<T: Serialize>(
    conn: &Connection,
    sql: &str,
    binds: &[&dyn ToSql],
    rows: &[T],
    mut run: impl FnMut(&mut CachedStatement<'_>, &T) -> Result<usize, StoreError>,
) -> Result<usize, StoreError> {
    let mut statement = prepare(conn, sql, binds)?;
    let mut fields = Fields::new(&statement, binds.len());
    let mut changed = 0;
    for row in rows {
        bind_row(&mut statement, &mut fields, row)?;
        changed += run(&mut statement, row)?;
    }
    Ok(changed)
}

/// Runs a query and maps each row.
pub(super) fn query<T>(
    conn: &Connection,
    sql: &str,
    binds: &[&dyn ToSql],
    mut map: impl FnMut(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = prepare(conn, sql, binds)?;
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

impl RowExt for rusqlite::Row<'_> {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        Ok(self.get(col)?)
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(col)?)
    }

    fn int(&self, col: &str) -> Result<i64, StoreError> {
        Ok(self.get(col)?)
    }

    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.get(col)?)
    }

    fn opt_timestamp(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let text: Option<String> = self.get(col)?;
        text.as_deref().map(parse_timestamp).transpose()
    }

    fn opt_date(&self, col: &str) -> Result<Option<NaiveDate>, StoreError> {
        let text: Option<String> = self.get(col)?;
        text.as_deref().map(parse_date).transpose()
    }

    fn opt_bool(&self, col: &str) -> Result<Option<bool>, StoreError> {
        Ok(self.get(col)?)
    }
}

/// Runs a query that returns at most one row, and maps it.
pub(super) fn optional<T>(
    conn: &Connection,
    sql: &str,
    binds: &[&dyn ToSql],
    map: impl FnOnce(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut statement = prepare(conn, sql, binds)?;
    let mut rows = statement.raw_query();
    rows.next()?.map(map).transpose()
}

/// The row id of an account.
pub(super) fn account_id(conn: &Connection, key: &AccountKey) -> Result<i64, StoreError> {
    optional(
        conn,
        "SELECT id FROM accounts WHERE provider = $1 AND external_id = $2",
        &[&key.provider, &key.account_id],
        |r| r.int("id"),
    )?
    .ok_or_else(|| StoreError::UnknownAccount(key.to_string()))
}

/// Runs `f` in a write transaction taken at once (`BEGIN IMMEDIATE`: a
/// deferred one that reads first could fail to upgrade when another process
/// wrote in between): committed when `f` succeeds, rolled back otherwise.
pub(super) fn in_transaction<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match f(conn).and_then(|value| {
        conn.execute_batch("COMMIT")?;
        Ok(value)
    }) {
        Ok(value) => Ok(value),
        Err(e) => {
            if !conn.is_autocommit() {
                // The error being reported is `e`; a failed rollback leaves
                // nothing committed either (SQLite rolls back on close).
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    }
}

/// Runs `f` with a page cache of `kib` KiB instead of the default 2 MiB, then
/// gives the memory back. A bulk write into indexes larger than the cache
/// spills dirty pages to the WAL mid-transaction and reads them back
/// (`pagerStress`, `readDbPage`: a third of an import's time in `perf`);
/// a bounded, larger cache for the duration keeps them in memory.
pub(super) fn with_cache<T>(
    conn: &mut Connection,
    kib: u32,
    f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch(&format!("PRAGMA cache_size = -{kib}"))?;
    let result = f(conn);
    conn.execute_batch(&format!(
        "PRAGMA cache_size = -{DEFAULT_CACHE_KIB}; PRAGMA shrink_memory"
    ))?;
    result
}

/// SQLite's default page cache, per connection.
pub(super) const DEFAULT_CACHE_KIB: u32 = 2000;

/// Runs `f` inside a savepoint of the open transaction: undone alone when it
/// fails, so the rest of the transaction can still commit. The outer error
/// is the transaction's (the savepoint itself failed); the inner one is `f`'s.
pub(super) fn in_savepoint<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, StoreError> {
    conn.execute_batch("SAVEPOINT page")?;
    let outcome = f(conn);
    if outcome.is_ok() {
        conn.execute_batch("RELEASE page")?;
    } else {
        conn.execute_batch("ROLLBACK TO page; RELEASE page")?;
    }
    Ok(outcome)
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

/// A batch statement writes one row, its values bound to parameters named
/// after its columns (`:seq`); [`execute_rows`] runs it once per row.
pub(super) static SQL: LazyLock<BatchStatements> =
    LazyLock::new(|| BatchStatements::new(Dialect::OneRow));

#[async_trait]
impl WriteTx for Writer<'_> {
    async fn existing(
        &mut self,
        table: Table,
        account: i64,
        ids: &[&str],
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        query(
            self.conn,
            EXISTING[table as usize],
            &[&account, &json_list(ids)],
            |r| Ok((r.text("external_id")?, r.timestamp("updated_at")?)),
        )
    }

    async fn stored_installments(
        &mut self,
        account: i64,
        purchase_ids: &[&str],
    ) -> Result<Vec<(String, StoredInstallment)>, StoreError> {
        query(
            self.conn,
            "SELECT i.id, p.external_id AS purchase_external_id, i.seq, i.due_date, \
             i.amount_minor, i.currency, i.reported_state, i.paid_at, i.late_fee_minor \
             FROM installments i JOIN purchases p ON p.id = i.purchase_id \
             WHERE p.account_id = $1 AND p.external_id IN (SELECT value FROM json_each($2))",
            &[&account, &json_list(purchase_ids)],
            |r| rows::stored_installment(r),
        )
    }

    async fn upsert_records(
        &mut self,
        table: Table,
        account: i64,
        synced_at: DateTime<Utc>,
        rows: &[RecordRow<'_>],
    ) -> Result<u64, StoreError> {
        if table != Table::Purchases {
            let written = execute_rows(
                self.conn,
                &SQL.upsert_records[table as usize],
                &[&account, &ts(synced_at)],
                rows,
            )?;
            return Ok(written as u64);
        }
        self.written_purchases.clear();
        let parents = &mut self.written_purchases;
        let conn = &*self.conn;
        let written = execute_each(
            conn,
            &SQL.upsert_records[table as usize],
            &[&account, &ts(synced_at)],
            rows,
            |statement, row| {
                let before = conn.last_insert_rowid();
                let changed = statement.raw_execute()?;
                // A new row moves the connection's last rowid to its own (not
                // RETURNING, which buffers its answer in a temporary b-tree per
                // execution). Children of an update, or of a new row whose id
                // happens to equal the last rowid of another table, seek their
                // purchase instead.
                let after = conn.last_insert_rowid();
                if changed == 1
                    && after != before
                    && let RecordRow::Purchase { external_id, .. } = row
                {
                    parents.insert((*external_id).to_string(), after);
                }
                Ok(changed)
            },
        )?;
        Ok(written as u64)
    }

    async fn delete_items(
        &mut self,
        account: i64,
        purchase_ids: &[&str],
    ) -> Result<(), StoreError> {
        execute(
            self.conn,
            "DELETE FROM purchase_items WHERE purchase_id IN (SELECT id FROM purchases \
             WHERE account_id = $1 AND external_id IN (SELECT value FROM json_each($2)))",
            &[&account, &json_list(purchase_ids)],
        )?;
        Ok(())
    }

    async fn insert_items(&mut self, account: i64, rows: &[ItemRow<'_>]) -> Result<(), StoreError> {
        let parents = &self.written_purchases;
        execute_children(self.conn, &SQL.insert_items, account, rows, |r| {
            parents.get(r.purchase).copied()
        })?;
        Ok(())
    }

    async fn upsert_installments(
        &mut self,
        account: i64,
        rows: &[InstallmentRow<'_>],
    ) -> Result<(), StoreError> {
        let parents = &self.written_purchases;
        execute_children(self.conn, &SQL.upsert_installments, account, rows, |r| {
            parents.get(r.purchase).copied()
        })?;
        Ok(())
    }

    async fn delete_installments(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        let ids = serde_json::to_string(ids).expect("a list of integers serializes");
        execute(
            self.conn,
            "DELETE FROM installments WHERE id IN (SELECT value FROM json_each($1))",
            &[&ids],
        )?;
        Ok(())
    }

    async fn insert_history(&mut self, rows: &[HistoryRow]) -> Result<(), StoreError> {
        execute_rows(self.conn, &SQL.insert_history, &[], rows)?;
        Ok(())
    }

    async fn remove(
        &mut self,
        table: Table,
        account: i64,
        ids: &[&str],
    ) -> Result<Vec<String>, StoreError> {
        query(
            self.conn,
            REMOVE[table as usize],
            &[&account, &json_list(ids)],
            |r| r.text("external_id"),
        )
    }

    async fn insert_events(
        &mut self,
        account: i64,
        rows: &[EventRow<'_>],
    ) -> Result<(), StoreError> {
        execute_rows(self.conn, &SQL.insert_events, &[&account], rows)?;
        Ok(())
    }

    async fn first_sync_done(&mut self, account: i64, stream: Stream) -> Result<bool, StoreError> {
        let found = optional(
            self.conn,
            statements::FIRST_SYNC_DONE,
            &[&account, &stream.as_str()],
            |_| Ok(()),
        )?;
        Ok(found.is_some())
    }

    async fn save_attempt(
        &mut self,
        account: i64,
        attempt: &StreamAttempt,
    ) -> Result<(), StoreError> {
        execute(
            self.conn,
            statements::SAVE_ATTEMPT,
            &[
                &account,
                &attempt.stream.as_str(),
                &ts(attempt.at),
                &attempt.error.is_none().then(|| ts(attempt.at)),
                &attempt.error.as_deref(),
                &attempt.next_allowed_at.map(ts),
            ],
        )?;
        Ok(())
    }

    async fn count_rows(&mut self, table: Table, account: i64) -> Result<i64, StoreError> {
        let count = optional(
            self.conn,
            statements::COUNT_ROWS[table as usize],
            &[&account],
            |r| Ok(r.get::<_, i64>(0)?),
        )?;
        Ok(count.unwrap_or(0))
    }

    async fn save_stream_sync(
        &mut self,
        account: i64,
        stream: Stream,
        cursor: Option<&str>,
        synced_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        execute(
            self.conn,
            "INSERT INTO stream_state (account_id, stream, cursor, synced_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, stream) DO UPDATE SET cursor = excluded.cursor, \
             synced_at = excluded.synced_at",
            &[&account, &stream.as_str(), &cursor, &ts(synced_at)],
        )?;
        Ok(())
    }

    async fn insert_balance_snapshot(
        &mut self,
        account: i64,
        b: &BalanceSnapshot,
        synced_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = execute(
            self.conn,
            "INSERT INTO balance_snapshots (account_id, ledger, balance_type, currency, \
             amount_minor, as_of, synced_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (account_id, ledger, balance_type, currency, as_of) DO NOTHING",
            &[
                &account,
                &b.ledger,
                &b.balance_type,
                &b.amount.currency.code(),
                &b.amount.minor,
                &ts(b.as_of),
                &ts(synced_at),
            ],
        )?;
        Ok(done == 1)
    }

    async fn previous_balance(
        &mut self,
        account: i64,
        b: &BalanceSnapshot,
    ) -> Result<Option<i64>, StoreError> {
        optional(
            self.conn,
            "SELECT amount_minor FROM balance_snapshots WHERE account_id = $1 AND ledger = $2 \
             AND balance_type = $3 AND currency = $4 AND as_of < $5 ORDER BY as_of DESC LIMIT 1",
            &[
                &account,
                &b.ledger,
                &b.balance_type,
                &b.amount.currency.code(),
                &ts(b.as_of),
            ],
            |r| r.int("amount_minor"),
        )
    }

    async fn insert_points_snapshot(
        &mut self,
        account: i64,
        p: &PointsSnapshot,
        synced_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = execute(
            self.conn,
            "INSERT INTO points_snapshots (account_id, points, as_of, synced_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, as_of) DO NOTHING",
            &[&account, &p.points, &ts(p.as_of), &ts(synced_at)],
        )?;
        Ok(done == 1)
    }

    async fn previous_points(
        &mut self,
        account: i64,
        p: &PointsSnapshot,
    ) -> Result<Option<i64>, StoreError> {
        optional(
            self.conn,
            "SELECT points FROM points_snapshots WHERE account_id = $1 AND as_of < $2 \
             ORDER BY as_of DESC LIMIT 1",
            &[&account, &ts(p.as_of)],
            |r| r.int("points"),
        )
    }

    async fn profile_updated_at(
        &mut self,
        account: i64,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        optional(
            self.conn,
            "SELECT updated_at FROM profiles WHERE account_id = $1",
            &[&account],
            |r| r.timestamp("updated_at"),
        )
    }

    async fn upsert_profile(
        &mut self,
        account: i64,
        p: &Profile,
        synced_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = execute(
            self.conn,
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
            &[
                &account,
                &p.name,
                &p.email,
                &p.phone,
                &p.country,
                &p.membership_tier.map(|t| t.as_str()),
                &p.purchase_power.map(|m| m.minor),
                &p.purchase_power.map(|m| m.currency.code()),
                &p.refunds_to_balance,
                &ts(p.updated_at),
                &ts(synced_at),
            ],
        )?;
        Ok(done == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    /// Each child row costs one index seek of its purchase, whatever the
    /// account's size.
    #[tokio::test]
    async fn child_rows_seek_their_purchase() {
        let (store, _dir) = crate::sqlite::tests::scratch().await;
        let conn = store.write_lock.lock().await;
        for sql in [SQL.insert_items.as_str(), SQL.upsert_installments.as_str()] {
            let details = query(&conn, &format!("EXPLAIN QUERY PLAN {sql}"), &[], |r| {
                r.text("detail")
            })
            .unwrap();
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

    /// A batch statement run row by row writes each row and counts only the
    /// rows it changed: the `updated_at` guard still refuses an older copy.
    #[tokio::test]
    async fn a_batch_runs_once_per_row_and_counts_what_changed() {
        let (store, key, _dir) = crate::sqlite::tests::scratch_with_account().await;
        let conn = store.write_lock.lock().await;
        let account = account_id(&conn, &key).unwrap();
        #[derive(Serialize)]
        struct Entry {
            external_id: &'static str,
            points: i64,
            kind: &'static str,
            purchase_external_id: Option<&'static str>,
            balance_entry_external_id: Option<&'static str>,
            occurred_at: &'static str,
            updated_at: &'static str,
        }
        let row = |external_id, points, updated_at| Entry {
            external_id,
            points,
            kind: "earned",
            purchase_external_id: None,
            balance_entry_external_id: None,
            occurred_at: "2026-01-01T00:00:00.000000Z",
            updated_at,
        };
        let sql = &SQL.upsert_records[Table::PointsEntries as usize];
        let (old, new) = ("2026-01-01T00:00:00.000000Z", "2026-01-02T00:00:00.000000Z");
        let written = execute_rows(
            &conn,
            sql,
            &[&account, &old],
            &[row("e1", 5, new), row("e2", 6, new)],
        )
        .unwrap();
        assert_eq!(written, 2);
        let written = execute_rows(
            &conn,
            sql,
            &[&account, &old],
            &[
                row("e1", 50, old),
                row("e2", 60, "2026-01-03T00:00:00.000000Z"),
            ],
        )
        .unwrap();
        assert_eq!(written, 1, "the older copy of e1 is refused");
        let points = query(
            &conn,
            "SELECT points FROM points_entries ORDER BY external_id",
            &[],
            |r| r.int("points"),
        )
        .unwrap();
        assert_eq!(points, [5, 60]);
    }

    /// On SQLite a child row looks its purchase up: a purchase that is not
    /// there at the row's version fails the write instead of being skipped.
    #[tokio::test]
    async fn a_child_of_a_missing_purchase_version_fails_the_write() {
        let (store, key, _dir) = crate::sqlite::tests::scratch_with_account().await;
        let conn = store.write_lock.lock().await;
        let account = account_id(&conn, &key).unwrap();
        let item = bnpl_core::PurchaseItem {
            name: "lamp".into(),
            quantity: 1,
            unit_price_minor: 100,
        };
        let row = ItemRow::new("nope", "2026-01-01T00:00:00.000000Z", 1, &item, "USD");
        let e = execute_children(&conn, &SQL.insert_items, account, &[row], |_| None).unwrap_err();
        assert!(e.to_string().contains("purchase_id"), "{e}");
    }

    /// The purchase upsert hands its children the row ids it inserted; a
    /// version the `updated_at` guard refused gives its children no id, so
    /// they seek that version (and fail as above, as it is not there).
    #[tokio::test]
    async fn children_bind_the_row_id_of_the_purchase_version_just_written() {
        let (store, key, _dir) = crate::sqlite::tests::scratch_with_account().await;
        let mut conn = store.write_lock.lock().await;
        let account = account_id(&conn, &key).unwrap();
        let newer = crate::apply::checks::purchase("2026-01-02T00:00:00Z", "shop");
        let older = crate::apply::checks::purchase("2026-01-01T00:00:00Z", "shop");
        let mut writer = Writer::new(&mut conn);
        let upsert = |writer: &mut Writer<'_>, p: &bnpl_core::Purchase| {
            let row = RecordRow::of(crate::apply::RecordRef::Purchase(p));
            writer
                .upsert_records(Table::Purchases, account, Utc::now(), &[row])
                .now_or_never()
                .expect("the writer never awaits")
                .unwrap()
        };

        // The first purchase's rowid is the account's, so it cannot be told
        // from an update: its children will seek it.
        let mut first = newer.clone();
        first.id = "a".into();
        assert_eq!(upsert(&mut writer, &first), 1);
        assert_eq!(upsert(&mut writer, &newer), 1);
        let id = query(
            writer.conn,
            "SELECT id FROM purchases WHERE external_id = 'p'",
            &[],
            |r| r.int("id"),
        )
        .unwrap();
        assert_eq!(writer.written_purchases.get("p"), id.first());

        assert_eq!(
            upsert(&mut writer, &older),
            0,
            "the guard keeps the newer row"
        );
        assert!(writer.written_purchases.is_empty());
    }

    /// Every batch statement runs once per row, so none may build a temporary
    /// b-tree per execution (an IN over three constants, RETURNING...): that
    /// was a tenth of a sync's instructions (migration 0007).
    #[tokio::test]
    async fn no_row_statement_builds_a_temporary_btree() {
        let (store, _dir) = crate::sqlite::tests::scratch().await;
        let conn = store.write_lock.lock().await;
        let mut statements = vec![
            SQL.insert_items.as_str(),
            SQL.upsert_installments.as_str(),
            SQL.insert_history.as_str(),
            SQL.insert_events.as_str(),
        ];
        statements.extend(SQL.upsert_records.iter().map(String::as_str));
        for sql in statements {
            let opcodes =
                query(&conn, &format!("EXPLAIN {sql}"), &[], |r| r.text("opcode")).unwrap();
            assert!(
                !opcodes.iter().any(|o| o == "OpenEphemeral"),
                "{sql}: {opcodes:?}"
            );
        }
    }
}
