//! The batch statements, written once for both backends. A backend only
//! says how a statement reads its JSON array ([`Dialect`]); the columns,
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

/// How a backend reads a batch bound as one JSON array.
pub(crate) struct Dialect {
    /// The `FROM` item that turns bind `$param` into rows `r` with these columns.
    pub source: fn(param: u8, columns: &[&[Column]]) -> String,
    /// Column `name` of the batch row `r`.
    pub value: fn(name: &str) -> String,
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
    pub(crate) fn new(d: &Dialect) -> BatchStatements {
        let values = |columns: &[Column]| list(columns, d.value);
        let names = |columns: &[Column]| list(columns, str::to_string);
        let overwrite = |columns: &[Column]| list(columns, |c| format!("{c} = excluded.{c}"));
        // The purchase a child row names, holding the version it was written
        // with. `CROSS JOIN` makes the batch the outer loop (one index seek per
        // row): with a plain join SQLite may walk the account's purchases
        // instead and scan the batch for each, which grows with the account.
        let parent = format!(
            "CROSS JOIN purchases p WHERE p.account_id = $1 AND p.external_id = {} \
             AND p.updated_at = {}",
            (d.value)("purchase"),
            (d.value)("version")
        );
        // Inserts a batch of the table's rows, or updates a stored row when the
        // batch's is newer (`WHERE true` keeps SQLite from reading `ON CONFLICT`
        // as a join constraint).
        let upsert_records = Table::ALL.map(|table| {
            let name = table.name();
            let columns = record_columns(table);
            format!(
                "INSERT INTO {name} (account_id, {cols}, synced_at) \
                 SELECT $1, {values}, $2 FROM {from} WHERE true \
                 ON CONFLICT (account_id, external_id) DO UPDATE SET {sets}, \
                 synced_at = excluded.synced_at WHERE excluded.updated_at > {name}.updated_at",
                cols = names(columns),
                values = values(columns),
                from = (d.source)(3, &[columns]),
                sets = overwrite(&columns[1..]),
            )
        });
        BatchStatements {
            upsert_records,
            insert_items: format!(
                "INSERT INTO purchase_items (purchase_id, {cols}) SELECT p.id, {values} \
                 FROM {from} {parent}",
                cols = names(ITEM_COLUMNS),
                values = values(ITEM_COLUMNS),
                from = (d.source)(2, &[PARENT_COLUMNS, ITEM_COLUMNS]),
            ),
            // A new row gets the state derived on the day of the write. On update
            // a provider's state other than `scheduled` is the mirror's state as
            // it is; a scheduled one keeps its state for `refresh_states`, which
            // records what the clock changes.
            upsert_installments: format!(
                "INSERT INTO installments (purchase_id, account_id, {cols}, state) \
                 SELECT p.id, $1, {values}, {state} FROM {from} {parent} \
                 ON CONFLICT (purchase_id, seq) DO UPDATE SET {sets}, \
                 state = CASE WHEN excluded.reported_state <> 'scheduled' \
                 THEN excluded.reported_state ELSE installments.state END",
                cols = names(INSTALLMENT_COLUMNS),
                values = values(INSTALLMENT_COLUMNS),
                state = values(INSTALLMENT_STATE),
                from = (d.source)(2, &[PARENT_COLUMNS, INSTALLMENT_COLUMNS, INSTALLMENT_STATE]),
                sets = overwrite(&INSTALLMENT_COLUMNS[1..]),
            ),
            insert_history: format!(
                "INSERT INTO installment_history ({cols}) SELECT {values} FROM {from}",
                cols = names(HISTORY_COLUMNS),
                values = values(HISTORY_COLUMNS),
                from = (d.source)(1, &[HISTORY_COLUMNS]),
            ),
            insert_events: format!(
                "INSERT INTO events (account_id, {cols}) SELECT $1, {values} FROM {from}",
                cols = names(EVENT_COLUMNS),
                values = values(EVENT_COLUMNS),
                from = (d.source)(2, &[EVENT_COLUMNS]),
            ),
        }
    }
}
