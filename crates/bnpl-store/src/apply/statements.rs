//! The batch statements, written once for both backends. A backend only
//! says where a statement reads its rows from ([`Dialect`]: a JSON array on
//! PostgreSQL, one row's named parameters on SQLite); the columns,
//! conflict targets, guards and the purchase join are the same text.

use super::Table;
use super::batch::{
    Column, EVENT_COLUMNS, HISTORY_COLUMNS, INSTALLMENT_COLUMNS, INSTALLMENT_STATE, ITEM_COLUMNS,
    PARENT_COLUMNS, list, record_columns,
};

/// Binds: account, stream. A row when a sync of the stream has caught up.
pub(crate) const FIRST_SYNC_DONE: &str = "SELECT 1 FROM stream_state \
     WHERE account_id = $1 AND stream = $2 AND last_success_at IS NOT NULL";

/// Binds: account, stream, attempted at, succeeded at (null on an error),
/// error, next allowed at. A failure keeps the last success.
pub(crate) const SAVE_ATTEMPT: &str = "INSERT INTO stream_state (account_id, stream, \
     last_attempt_at, last_success_at, last_error, next_allowed_at) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (account_id, stream) DO UPDATE SET \
     last_attempt_at = excluded.last_attempt_at, \
     last_success_at = COALESCE(excluded.last_success_at, stream_state.last_success_at), \
     last_error = excluded.last_error, next_allowed_at = excluded.next_allowed_at";

/// Binds: account. Per [`Table`], indexed by `table as usize`.
pub(crate) const COUNT_ROWS: [&str; 5] = [
    "SELECT COUNT(*) FROM purchases WHERE account_id = $1",
    "SELECT COUNT(*) FROM card_transactions WHERE account_id = $1",
    "SELECT COUNT(*) FROM balance_entries WHERE account_id = $1",
    "SELECT COUNT(*) FROM points_entries WHERE account_id = $1",
    "SELECT COUNT(*) FROM deliveries WHERE account_id = $1",
];

/// Where a batch statement reads its rows from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// PostgreSQL: the whole batch is one JSON array bound as `$n`, read with
    /// `json_to_recordset` into typed rows `r`: one round trip per batch.
    Recordset,
    /// SQLite: the statement writes one row, its values bound to parameters
    /// named after the columns (`:seq`), and runs once per row. A single-row
    /// `INSERT ... VALUES` also needs no statement journal, which an
    /// `INSERT ... SELECT` keeps in case it fails halfway (issue 6, round 7).
    OneRow,
}

impl Dialect {
    /// Column `name` of the row being written.
    fn value(self, name: &str) -> String {
        match self {
            Dialect::Recordset => format!("r.{name}"),
            Dialect::OneRow => format!(":{name}"),
        }
    }

    fn values(self, columns: &[Column]) -> String {
        list(columns, |name| self.value(name))
    }

    /// What follows `INSERT INTO t (columns)`: rows of `values` (built with
    /// [`Dialect::values`]), the batch bound as `$param` with these columns.
    fn rows(self, values: &str, param: u8, typed: &[&[Column]]) -> String {
        match self {
            Dialect::Recordset => format!(
                "SELECT {values} FROM {source}",
                source = recordset(param, typed)
            ),
            Dialect::OneRow => format!("VALUES ({values})"),
        }
    }

    /// The rows of a child table: `purchase_id, values` for each row whose
    /// purchase holds the row's `version`.
    ///
    /// PostgreSQL joins the batch to the purchase: a child of a purchase
    /// version that the `updated_at` guard refused is not written (only
    /// another writer between the pre-read and the upsert gets there).
    /// SQLite looks the purchase up per row: its writer holds the database's
    /// write lock from the pre-read to the commit, so the guard never
    /// refuses a row the pre-read let through, and a missing purchase fails
    /// the write on `purchase_id NOT NULL` instead of passing unnoticed.
    fn child_rows(self, values: &str, typed: &[&[Column]]) -> String {
        let purchase = format!(
            "p.account_id = $1 AND p.external_id = {} AND p.updated_at = {}",
            self.value("purchase"),
            self.value("version")
        );
        match self {
            // `CROSS JOIN` keeps the batch the outer loop: one index seek per row.
            Dialect::Recordset => format!(
                "SELECT p.id, {values} FROM {source} CROSS JOIN purchases p WHERE {purchase}",
                source = recordset(2, typed)
            ),
            // `$2`: the purchase's row id when the writer knows it; the
            // seek runs only when it is NULL (COALESCE stops at the first
            // value that is not).
            Dialect::OneRow => format!(
                "VALUES (COALESCE($2, (SELECT p.id FROM purchases p WHERE {purchase})), {values})"
            ),
        }
    }
}

/// `json_to_recordset($n::json) AS r(a text, b bigint)`: the batch as typed rows `r`.
fn recordset(param: u8, columns: &[&[Column]]) -> String {
    let typed = columns
        .iter()
        .flat_map(|c| c.iter())
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("json_to_recordset(${param}::json) AS r({typed})")
}

/// Every batch statement of a write, built once per process.
pub(crate) struct BatchStatements {
    /// Per [`Table`], indexed by `table as usize`. Binds: account, synced_at, rows.
    pub upsert_records: [String; 5],
    /// Binds: account, rows.
    pub insert_items: String,
    /// Binds: account, rows.
    pub upsert_installments: String,
    /// Binds: rows.
    pub insert_history: String,
    /// Binds: account, rows.
    pub insert_events: String,
}

impl BatchStatements {
    pub(crate) fn new(d: Dialect) -> BatchStatements {
        let names = |columns: &[Column]| list(columns, str::to_string);
        let overwrite = |columns: &[Column]| list(columns, |c| format!("{c} = excluded.{c}"));
        // Inserts a batch of the table's rows, or updates a stored row when the
        // batch's is newer.
        let upsert_records = Table::ALL.map(|table| {
            let name = table.name();
            let columns = record_columns(table);
            let rows = d.rows(&format!("$1, {}, $2", d.values(columns)), 3, &[columns]);
            format!(
                "INSERT INTO {name} (account_id, {cols}, synced_at) {rows} \
                 ON CONFLICT (account_id, external_id) DO UPDATE SET {sets}, \
                 synced_at = excluded.synced_at WHERE excluded.updated_at > {name}.updated_at",
                cols = names(columns),
                sets = overwrite(&columns[1..]),
            )
        });
        BatchStatements {
            upsert_records,
            insert_items: format!(
                "INSERT INTO purchase_items (purchase_id, {cols}) {rows}",
                cols = names(ITEM_COLUMNS),
                rows = d.child_rows(&d.values(ITEM_COLUMNS), &[PARENT_COLUMNS, ITEM_COLUMNS]),
            ),
            // A new row gets the state derived on the day of the write. On update
            // a provider's state other than `scheduled` is the mirror's state as
            // it is; a scheduled one keeps its state for `refresh_states`, which
            // records what the clock changes.
            upsert_installments: format!(
                "INSERT INTO installments (purchase_id, account_id, {cols}, state) {rows} \
                 ON CONFLICT (purchase_id, seq) DO UPDATE SET {sets}, \
                 state = CASE WHEN excluded.reported_state <> 'scheduled' \
                 THEN excluded.reported_state ELSE installments.state END",
                cols = names(INSTALLMENT_COLUMNS),
                rows = d.child_rows(
                    &format!(
                        "$1, {}, {}",
                        d.values(INSTALLMENT_COLUMNS),
                        d.values(INSTALLMENT_STATE)
                    ),
                    &[PARENT_COLUMNS, INSTALLMENT_COLUMNS, INSTALLMENT_STATE],
                ),
                sets = overwrite(&INSTALLMENT_COLUMNS[1..]),
            ),
            insert_history: format!(
                "INSERT INTO installment_history ({cols}) {rows}",
                cols = names(HISTORY_COLUMNS),
                rows = d.rows(&d.values(HISTORY_COLUMNS), 1, &[HISTORY_COLUMNS]),
            ),
            insert_events: format!(
                "INSERT INTO events (account_id, {cols}) {rows}",
                cols = names(EVENT_COLUMNS),
                rows = d.rows(
                    &format!("$1, {}", d.values(EVENT_COLUMNS)),
                    2,
                    &[EVENT_COLUMNS]
                ),
            ),
        }
    }
}
