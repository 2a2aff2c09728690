//! The PSD2 consent record of each account (issue 4, `schema/sqlite/0003_consents.sql`).

use sqlx::SqlitePool;

use super::write;

use crate::time::{format_date, format_timestamp, parse_date, parse_timestamp};
use crate::{AccountKey, ConsentRecord, StoreError};

/// Stores the record on the writer connection, inside its transaction.
pub(super) fn put(conn: &rusqlite::Connection, record: &ConsentRecord) -> Result<(), StoreError> {
    let done = write::execute(
        conn,
        "INSERT INTO consents (account_id, provider, route, scope, recurring, valid_until, \
         frequency_per_day, status, last_action_date, created_at, updated_at) \
         SELECT a.id, a.provider, $3, $4, $5, $6, $7, $8, $9, $10, $10 FROM accounts a \
         WHERE a.provider = $1 AND a.external_id = $2 \
         ON CONFLICT (account_id) DO UPDATE SET route = excluded.route, scope = excluded.scope, \
         recurring = excluded.recurring, valid_until = excluded.valid_until, \
         frequency_per_day = excluded.frequency_per_day, status = excluded.status, \
         last_action_date = excluded.last_action_date, updated_at = excluded.updated_at",
        &[
            &record.account.provider,
            &record.account.account_id,
            &record.route,
            &record.scope.to_string(),
            &record.recurring,
            &format_date(record.valid_until),
            &i64::from(record.frequency_per_day),
            &record.status,
            &record.last_action_date.map(format_date),
            &format_timestamp(record.updated_at),
        ],
    )?;
    if done == 0 {
        return Err(StoreError::UnknownAccount(record.account.to_string()));
    }
    Ok(())
}

type Row = (
    String,
    String,
    String,
    String,
    bool,
    String,
    i64,
    String,
    Option<String>,
    String,
    String,
);

pub(super) async fn list(
    pool: &SqlitePool,
    provider: Option<&str>,
) -> Result<Vec<ConsentRecord>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT a.provider, a.external_id, c.route, c.scope, c.recurring, c.valid_until, \
         c.frequency_per_day, c.status, c.last_action_date, c.created_at, c.updated_at \
         FROM consents c JOIN accounts a ON a.id = c.account_id \
         WHERE $1 IS NULL OR a.provider = $1 ORDER BY a.provider, a.external_id",
    )
    .bind(provider)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ConsentRecord {
                account: AccountKey::new(r.0, r.1),
                route: r.2,
                scope: serde_json::from_str(&r.3)
                    .map_err(|e| StoreError::Corrupt(format!("consents.scope: {e}")))?,
                recurring: r.4,
                valid_until: parse_date(&r.5)?,
                frequency_per_day: u32::try_from(r.6).map_err(|_| {
                    StoreError::Corrupt(format!("consents.frequency_per_day {}", r.6))
                })?,
                status: r.7,
                last_action_date: r.8.as_deref().map(parse_date).transpose()?,
                created_at: parse_timestamp(&r.9)?,
                updated_at: parse_timestamp(&r.10)?,
            })
        })
        .collect()
}
