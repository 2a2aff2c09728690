//! Bulk writes into a small mirror: drop the secondary indexes that only
//! reads use, write, then build them again, all in the one transaction.
//!
//! Rows arrive in an order unrelated to these indexes' keys (due dates,
//! creation times), so each row is a random insert into each index; once an
//! index outgrows the page cache, every insert may read and spill a page.
//! Building an index afterwards is one sort. The rebuild costs time in
//! proportion to the whole table, so it is only done while the mirror is
//! small: then it is cheap even for a tiny import.

use rusqlite::Connection;

use super::write;
use crate::StoreError;
use crate::rows::RowExt;

/// The indexes of a purchase import that no statement of a write reads
/// (neither an upsert's conflict target nor a foreign key's child lookup):
/// only `bnpl due`, the refresh of derived states and the reports use them.
/// They are the installment indexes keyed by due date and the purchases'
/// by creation time, which rows of an export reach in no useful order.
const READ_ONLY_INDEXES: [&str; 4] = [
    "installments_by_account_due",
    "installments_by_state_due",
    "installments_refresh",
    "purchases_by_account_created",
];

/// Below this many installments the mirror counts as small: rebuilding its
/// indexes takes well under a second.
pub(super) const SMALL_MIRROR_INSTALLMENTS: i64 = 200_000;

/// An index dropped for a bulk write, with the statement that made it.
pub(super) struct Deferred {
    name: String,
    sql: String,
}

/// Drops the read-only indexes when the mirror holds fewer than `small`
/// installments; what was dropped, to hand to [`rebuild`]. Inside the
/// caller's transaction: a failure undoes the drop with everything else.
pub(super) fn defer_indexes(conn: &Connection, small: i64) -> Result<Vec<Deferred>, StoreError> {
    // Counts at most `small` rows, so a large mirror costs no full scan.
    let held = write::optional(
        conn,
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM installments LIMIT $1)",
        &[&small],
        |r| r.int("n"),
    )?;
    if held.unwrap_or(0) >= small {
        return Ok(Vec::new());
    }
    let mut deferred = Vec::new();
    for name in READ_ONLY_INDEXES {
        // An index a later migration renamed or dropped is simply not there.
        let Some(sql) = write::optional(
            conn,
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = $1",
            &[&name],
            |r| r.text("sql"),
        )?
        else {
            continue;
        };
        conn.execute_batch(&format!("DROP INDEX \"{name}\""))?;
        deferred.push(Deferred {
            name: name.to_string(),
            sql,
        });
    }
    Ok(deferred)
}

/// Builds the dropped indexes again from their own statements. Each
/// `CREATE INDEX` is a sort of the whole table; SQLite's sorter may hand
/// parts of it to helper threads (`PRAGMA threads`, 0 by default): one per
/// core beyond the writer's own. On 2 cores one helper took a tenth off a
/// one-million-row import; more helpers than cores made it slower.
pub(super) fn rebuild(conn: &Connection, deferred: &[Deferred]) -> Result<(), StoreError> {
    if deferred.is_empty() {
        return Ok(());
    }
    conn.execute_batch(&format!("PRAGMA threads = {}", sort_helpers()))?;
    let built = deferred.iter().try_for_each(|index| {
        let started = std::time::Instant::now();
        conn.execute_batch(&index.sql)?;
        tracing::debug!(
            index = %index.name,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "rebuilt an index after a bulk write"
        );
        Ok::<_, StoreError>(())
    });
    // Other statements on the writer keep sorting on their own thread.
    conn.execute_batch("PRAGMA threads = 0")?;
    built
}

/// Helper threads for SQLite's sorter: the cores beyond the writer's, 1 to 4.
pub(super) fn sort_helpers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .clamp(1, 4)
}
