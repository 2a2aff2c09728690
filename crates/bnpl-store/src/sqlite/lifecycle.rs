//! Issue 3 on SQLite: clock-derived installment states, reconciliation, history.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Row, SqlitePool};

use crate::time::{format_date, format_timestamp, parse_date, parse_timestamp};
use crate::{AccountKey, HistoryEntry, ReconciliationCheck, StoreError};

use super::write;
use crate::rows::RowExt;

/// The mirror's state of an installment at `$1` with a grace of `$3` days.
/// Kept in step with `bnpl_core::lifecycle::derive_state_with_grace`.
macro_rules! derived {
    ($today:literal, $grace:literal) => {
        concat!(
            "CASE WHEN reported_state = 'scheduled' AND due_date < date(",
            $today,
            ", printf('-%d days', ",
            $grace,
            ")) THEN 'late' ",
            "WHEN reported_state = 'scheduled' AND due_date <= ",
            $today,
            " THEN 'due' ",
            "ELSE reported_state END"
        )
    };
}

/// The ids of every installment whose stored state may differ from
/// [`derived!`] at `$1` with a grace of `$3` days, given that a write sets
/// `state` to any reported state but `scheduled` (migration 0004): rows
/// reported `scheduled` whose state is NULL or no clock state (four ranges
/// around 'due', 'late' and 'scheduled'), `scheduled` on or past the due
/// date, `due` past the grace period or before the due date, `late` within
/// the grace period. Each branch is one range of `installments_refresh`
/// (state, due_date), a partial index of the rows reported `scheduled`
/// (migration 0006), so the cost follows the rows that change, not the
/// table. EXPLAIN QUERY PLAN of the UPDATE (checked on 1M rows, before 0006
/// made the index partial: the key then led with reported_state):
///
/// ```text
/// SEARCH installments USING INTEGER PRIMARY KEY (rowid=?)
/// LIST SUBQUERY
///   COMPOUND QUERY, 9 times:
///   SEARCH installments USING COVERING INDEX installments_refresh (reported_state=? AND state=?|state<?|state>? AND state<?|... AND due_date<?|due_date>?)
/// ```
///
/// Each branch names the index (`INDEXED BY`): since migration 0007 the
/// condition of installments_by_state_due is implied by `reported_state =
/// 'scheduled'` too, and a planner without statistics picked it for some
/// branches, which would walk every scheduled row. A statement that cannot
/// use the index it names fails to prepare instead of scanning.
/// `tests::candidates_are_index_seeks` keeps it so.
macro_rules! candidates {
    ($today:literal, $grace:literal) => {
        concat!(
            "SELECT id FROM installments INDEXED BY installments_refresh WHERE reported_state = 'scheduled' AND state IS NULL \
             UNION ALL SELECT id FROM installments INDEXED BY installments_refresh WHERE reported_state = 'scheduled' AND state < 'due' \
             UNION ALL SELECT id FROM installments INDEXED BY installments_refresh WHERE reported_state = 'scheduled' AND state > 'due' AND state < 'late' \
             UNION ALL SELECT id FROM installments INDEXED BY installments_refresh WHERE reported_state = 'scheduled' AND state > 'late' AND state < 'scheduled' \
             UNION ALL SELECT id FROM installments INDEXED BY installments_refresh WHERE reported_state = 'scheduled' AND state > 'scheduled' \
             UNION ALL SELECT id FROM installments INDEXED BY installments_refresh WHERE reported_state = 'scheduled' AND state = 'scheduled' AND due_date <= ",
            $today,
            " UNION ALL SELECT id FROM installments INDEXED BY installments_refresh WHERE reported_state = 'scheduled' AND state = 'due' AND due_date < date(",
            $today,
            ", printf('-%d days', ",
            $grace,
            ")) UNION ALL SELECT id FROM installments INDEXED BY installments_refresh WHERE reported_state = 'scheduled' AND state = 'due' AND due_date > ",
            $today,
            " UNION ALL SELECT id FROM installments INDEXED BY installments_refresh WHERE reported_state = 'scheduled' AND state = 'late' AND due_date >= date(",
            $today,
            ", printf('-%d days', ",
            $grace,
            "))"
        )
    };
}

/// The history rows of [`refresh_states`]: `$1` today, `$2` the time, `$3` the grace.
const REFRESH_HISTORY: &str = concat!(
    "INSERT INTO installment_history (installment_id, from_state, to_state, from_due_date, to_due_date, \
     from_amount_minor, to_amount_minor, changed_at, synced_at, cause) \
     SELECT id, COALESCE(state, 'scheduled'), ",
    derived!("$1", "$3"),
    ", due_date, due_date, amount_minor, amount_minor, $2, $2, 'clock' FROM installments \
     WHERE id IN (",
    candidates!("$1", "$3"),
    // Every candidate is reported 'scheduled'; saying so again here would
    // let the planner walk all scheduled rows of installments_by_state_due.
    ") AND COALESCE(state, 'scheduled') <> ",
    derived!("$1", "$3")
);

/// The state update of [`refresh_states`]: `$1` today, `$2` the grace.
const REFRESH_STATES: &str = concat!(
    "UPDATE installments SET state = ",
    derived!("$1", "$2"),
    " WHERE id IN (",
    candidates!("$1", "$2"),
    ") AND state IS NOT ",
    derived!("$1", "$2")
);

pub(super) fn refresh_states(
    conn: &rusqlite::Connection,
    today: NaiveDate,
    at: DateTime<Utc>,
    grace_days: u64,
) -> Result<u64, StoreError> {
    let today = format_date(today);
    let at = format_timestamp(at);
    let grace_days = grace_days as i64;
    // Only the clock's own changes are recorded here; a provider's report was
    // recorded when its page was applied.
    write::execute(conn, REFRESH_HISTORY, &[&today, &at, &grace_days])?;
    let updated = write::execute(conn, REFRESH_STATES, &[&today, &grace_days])?;
    Ok(updated as u64)
}

/// Checks the account's snapshots against their entries and stores the
/// checks, on the writer connection inside its transaction.
pub(super) fn reconcile(
    conn: &rusqlite::Connection,
    key: &AccountKey,
    checked_at: DateTime<Utc>,
) -> Result<Vec<ReconciliationCheck>, StoreError> {
    let id = write::account_id(conn, key)?;
    let at = format_timestamp(checked_at);
    write::execute(
        conn,
        "INSERT INTO reconciliation_checks (account_id, kind, ledger, currency, snapshot_minor, entries_minor, gap_minor, as_of, checked_at) \
         SELECT account_id, 'balance', ledger, currency, snapshot_minor, entries_minor, snapshot_minor - entries_minor, as_of, $2 \
         FROM balance_reconciliation WHERE account_id = $1",
        &[&id, &at],
    )?;
    write::execute(
        conn,
        "INSERT INTO reconciliation_checks (account_id, kind, ledger, currency, snapshot_minor, entries_minor, gap_minor, as_of, checked_at) \
         SELECT account_id, 'points', 'points', NULL, snapshot_points, entries_points, snapshot_points - entries_points, as_of, $2 \
         FROM points_reconciliation WHERE account_id = $1",
        &[&id, &at],
    )?;
    write::query(
        conn,
        "SELECT a.provider, a.external_id, c.kind, c.ledger, c.currency, c.snapshot_minor, c.entries_minor, \
                c.gap_minor, c.as_of, c.checked_at \
         FROM reconciliation_checks c JOIN accounts a ON a.id = c.account_id \
         WHERE c.account_id = $1 AND c.checked_at = $2 ORDER BY c.kind, c.ledger",
        &[&id, &at],
        |r| check(r),
    )
}

pub(super) async fn gaps(pool: &SqlitePool) -> Result<Vec<ReconciliationCheck>, StoreError> {
    let rows = sqlx::query(
        "SELECT provider, account AS external_id, kind, ledger, currency, snapshot_minor, entries_minor, \
                gap_minor, as_of, checked_at \
         FROM reconciliation_gaps ORDER BY provider, external_id, kind, ledger",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(check).collect()
}

fn check<R: RowExt>(row: &R) -> Result<ReconciliationCheck, StoreError> {
    Ok(ReconciliationCheck {
        account: AccountKey::new(row.text("provider")?, row.text("external_id")?),
        kind: row.text("kind")?,
        ledger: row.text("ledger")?,
        currency: row.opt_text("currency")?,
        snapshot_minor: row.int("snapshot_minor")?,
        entries_minor: row.int("entries_minor")?,
        gap_minor: row.int("gap_minor")?,
        as_of: row.timestamp("as_of")?,
        checked_at: row.timestamp("checked_at")?,
    })
}

pub(super) async fn history(
    pool: &SqlitePool,
    key: &AccountKey,
    purchase: &str,
    seq: u32,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT h.changed_at, h.cause, h.from_state, h.to_state, h.from_due_date, h.to_due_date, \
                h.from_amount_minor, h.to_amount_minor \
         FROM installment_history h \
         JOIN installments i ON i.id = h.installment_id \
         JOIN purchases p ON p.id = i.purchase_id \
         JOIN accounts a ON a.id = i.account_id \
         WHERE a.provider = $1 AND a.external_id = $2 AND p.external_id = $3 AND i.seq = $4 \
         ORDER BY h.changed_at, h.id",
    )
    .bind(&key.provider)
    .bind(&key.account_id)
    .bind(purchase)
    .bind(i64::from(seq))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(HistoryEntry {
                changed_at: parse_timestamp(&r.try_get::<String, _>("changed_at")?)?,
                cause: r.try_get("cause")?,
                from_state: r.try_get("from_state")?,
                to_state: r.try_get("to_state")?,
                from_due: parse_date(&r.try_get::<String, _>("from_due_date")?)?,
                to_due: parse_date(&r.try_get::<String, _>("to_due_date")?)?,
                from_amount_minor: r.try_get("from_amount_minor")?,
                to_amount_minor: r.try_get("to_amount_minor")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use bnpl_core::lifecycle::{DEFAULT_GRACE_DAYS, derive_state_with_grace};
    use bnpl_core::model::ReportedInstallmentState;
    use chrono::{Days, TimeZone};
    use secrecy::SecretString;

    use super::*;
    use crate::Database;
    use crate::sqlite::SqliteStore;

    const STATES: [Option<&str>; 8] = [
        None,
        Some("scheduled"),
        Some("due"),
        Some("late"),
        Some("paid"),
        Some("paused"),
        Some("cancelled"),
        Some("unknown"),
    ];

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn noon(d: NaiveDate) -> DateTime<Utc> {
        Utc.from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
    }

    /// A store with account p/a and its purchase "p1", no installments.
    async fn store() -> (SqliteStore, tempfile::TempDir) {
        let (store, dir) = crate::sqlite::tests::scratch().await;
        store
            .put_account(
                &AccountKey::new("p", "a"),
                &SecretString::from("s".to_string()),
            )
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO purchases (id, account_id, external_id, merchant, currency, amount_minor, \
             captured_minor, refunded_minor, status, plan, apr_bps, interest_minor, created_at, \
             updated_at, synced_at) SELECT 1, id, 'p1', 'm', 'USD', 400, 400, 0, 'captured', \
             'pay_in_4', 0, 0, 't', 't', 't' FROM accounts",
        )
        .execute(store.pool())
        .await
        .unwrap();
        (store, dir)
    }

    /// An installment of "p1" as a write leaves it (or, with `state`, any state at all).
    async fn installment(
        store: &SqliteStore,
        seq: i64,
        due: NaiveDate,
        reported: &str,
        state: Option<&str>,
    ) {
        sqlx::query(
            "INSERT INTO installments (purchase_id, account_id, seq, due_date, amount_minor, \
             currency, reported_state, state) SELECT 1, id, $1, $2, 100, 'USD', $3, $4 FROM accounts",
        )
        .bind(seq)
        .bind(format_date(due))
        .bind(reported)
        .bind(state)
        .execute(store.pool())
        .await
        .unwrap();
    }

    async fn states(store: &SqliteStore) -> Vec<(i64, String, String, Option<String>)> {
        sqlx::query_as("SELECT seq, due_date, reported_state, state FROM installments ORDER BY seq")
            .fetch_all(store.pool())
            .await
            .unwrap()
    }

    async fn clock_rows(store: &SqliteStore) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM installment_history WHERE cause = 'clock'")
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_scheduled_installment_becomes_due_then_late_by_the_clock() {
        let (store, _dir) = store().await;
        let key = AccountKey::new("p", "a");
        installment(&store, 1, day("2026-03-10"), "scheduled", None).await;
        // NULL becomes 'scheduled': a change of the column, not of the state.
        assert_eq!(
            store
                .refresh_states(day("2026-03-09"), noon(day("2026-03-09")))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .refresh_states(day("2026-03-09"), noon(day("2026-03-09")))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .refresh_states(day("2026-03-10"), noon(day("2026-03-10")))
                .await
                .unwrap(),
            1
        );
        // The last day of the grace period, then the first after it.
        assert_eq!(
            store
                .refresh_states(day("2026-03-17"), noon(day("2026-03-17")))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .refresh_states(day("2026-03-18"), noon(day("2026-03-18")))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .refresh_states(day("2026-03-18"), noon(day("2026-03-18")))
                .await
                .unwrap(),
            0
        );
        let history = store.installment_history(&key, "p1", 1).await.unwrap();
        let seen: Vec<_> = history
            .iter()
            .map(|h| {
                (
                    h.cause.as_str(),
                    h.from_state.as_str(),
                    h.to_state.as_str(),
                    h.changed_at,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("clock", "scheduled", "due", noon(day("2026-03-10"))),
                ("clock", "due", "late", noon(day("2026-03-18"))),
            ]
        );
        assert!(
            history
                .iter()
                .all(|h| h.from_due == day("2026-03-10") && h.to_due == h.from_due)
        );
        assert_eq!(states(&store).await[0].3.as_deref(), Some("late"));
    }

    /// Every stored state against every due date around today and the end of
    /// the grace period: one refresh leaves each row as
    /// `derive_state_with_grace` says, records a clock row for each change of
    /// a scheduled one, and the next refresh changes nothing.
    #[tokio::test]
    async fn every_stale_state_is_put_right_and_a_second_refresh_changes_nothing() {
        let (store, _dir) = store().await;
        let today = day("2026-03-20");
        let mut seq = 0;
        let (mut expected_history, mut expected_updates) = (0, 0);
        for state in STATES {
            for offset in -9i64..=2 {
                let due = today
                    .checked_add_signed(chrono::Duration::days(offset))
                    .unwrap();
                seq += 1;
                installment(&store, seq, due, "scheduled", state).await;
                let derived = derive_state_with_grace(
                    ReportedInstallmentState::Scheduled,
                    due,
                    today,
                    DEFAULT_GRACE_DAYS,
                );
                if state.unwrap_or("scheduled") != derived.as_str() {
                    expected_history += 1;
                }
                if state != Some(derived.as_str()) {
                    expected_updates += 1;
                }
            }
        }
        // Rows the provider reported otherwise hold that state since they were written.
        for reported in ReportedInstallmentState::variants() {
            if *reported != ReportedInstallmentState::Scheduled {
                seq += 1;
                let due = today - Days::new(30);
                installment(&store, seq, due, reported.as_str(), Some(reported.as_str())).await;
            }
        }
        let changed = store.refresh_states(today, noon(today)).await.unwrap();
        let rows = states(&store).await;
        assert_eq!(rows.len(), seq as usize);
        for (_, due, reported, state) in rows {
            let reported: ReportedInstallmentState = reported.parse().unwrap();
            let derived = derive_state_with_grace(reported, day(&due), today, DEFAULT_GRACE_DAYS);
            assert_eq!(
                state.as_deref(),
                Some(derived.as_str()),
                "{reported} due {due}"
            );
        }
        assert_eq!(changed, expected_updates);
        assert_eq!(clock_rows(&store).await, expected_history);
        assert_eq!(store.refresh_states(today, noon(today)).await.unwrap(), 0);
        assert_eq!(clock_rows(&store).await, expected_history);
    }

    #[tokio::test]
    async fn a_paid_state_reported_scheduled_again_is_put_right() {
        let (store, _dir) = store().await;
        let key = AccountKey::new("p", "a");
        installment(&store, 1, day("2026-03-10"), "scheduled", Some("paid")).await;
        assert_eq!(
            store
                .refresh_states(day("2026-03-12"), noon(day("2026-03-12")))
                .await
                .unwrap(),
            1
        );
        assert_eq!(states(&store).await[0].3.as_deref(), Some("due"));
        let history = store.installment_history(&key, "p1", 1).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(
            (history[0].from_state.as_str(), history[0].to_state.as_str()),
            ("paid", "due")
        );
        assert_eq!(
            store
                .refresh_states(day("2026-03-12"), noon(day("2026-03-12")))
                .await
                .unwrap(),
            0
        );
    }

    /// Both statements reach installments only by its primary key and by
    /// seeks on installments_refresh: no branch scans the table.
    #[tokio::test]
    async fn candidates_are_index_seeks() {
        let (store, _dir) = store().await;
        for (sql, binds) in [(REFRESH_HISTORY, 3), (REFRESH_STATES, 2)] {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(explain)).bind("2026-03-20");
            if binds == 3 {
                q = q.bind("2026-03-20T12:00:00Z");
            }
            let plan: Vec<String> = q
                .bind(7i64)
                .fetch_all(store.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("detail"))
                .collect();
            let plan = plan.join("\n");
            assert!(!plan.contains("SCAN"), "{plan}");
            assert_eq!(
                plan.matches("USING COVERING INDEX installments_refresh")
                    .count(),
                9,
                "{plan}"
            );
            assert!(
                plan.contains("SEARCH installments USING INTEGER PRIMARY KEY (rowid=?)"),
                "{plan}"
            );
        }
    }
}
