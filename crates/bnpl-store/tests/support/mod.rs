//! A store on each backend plus raw SQL access, and model fixtures.
//!
//! PostgreSQL runs when `BNPL_TEST_POSTGRES_URL` is set; each test gets a
//! schema of its own (tables land there through `search_path`), so tests run
//! in parallel and again and again. Set but unreachable is a failure, not a skip.

#![allow(dead_code)]

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use secrecy::SecretString;
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};

use bnpl_core::*;
use bnpl_store::{AccountKey, Database, PostgresStore, SecretCipher, SqliteStore, StreamAttempt};

pub const PG_ENV: &str = "BNPL_TEST_POSTGRES_URL";

pub enum Raw {
    Sqlite(SqlitePool),
    Postgres {
        pool: PgPool,
        admin: PgPool,
        schema: String,
    },
}

pub struct Harness {
    pub db: Box<dyn Database>,
    pub raw: Raw,
    /// The SQLite file (None on PostgreSQL).
    pub path: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

pub fn cipher() -> SecretCipher {
    SecretCipher::from_key_bytes([42; 32])
}

impl Harness {
    pub async fn sqlite() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mirror.db");
        let store = SqliteStore::open(&format!("sqlite://{}", path.display()), cipher())
            .await
            .unwrap();
        Harness {
            raw: Raw::Sqlite(store.pool().clone()),
            db: Box::new(store),
            path: Some(path),
            _dir: Some(dir),
        }
    }

    /// `None` when the variable is unset; panics when the server does not answer.
    pub async fn postgres() -> Option<Harness> {
        let Ok(base) = std::env::var(PG_ENV) else {
            eprintln!("{PG_ENV} is not set: PostgreSQL half of this test not run");
            return None;
        };
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(&base)
            .await
            .unwrap_or_else(|e| panic!("{PG_ENV}={base} does not answer: {e}"));
        let schema = format!("bnpl_test_{:016x}", rand::random::<u64>());
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={schema}");
        let store = PostgresStore::open(&url, cipher()).await.unwrap();
        Some(Harness {
            raw: Raw::Postgres {
                pool: store.pool().clone(),
                admin,
                schema,
            },
            db: Box::new(store),
            path: None,
            _dir: None,
        })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.raw, Raw::Postgres { .. })
    }

    /// Drops the test's schema (PostgreSQL); a failed test leaves it for inspection.
    pub async fn cleanup(self) {
        if let Raw::Postgres {
            pool,
            admin,
            schema,
        } = self.raw
        {
            pool.close().await;
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .unwrap();
        }
    }

    /// `SELECT COUNT(*) FROM <from_where>`.
    pub async fn count(&self, from_where: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {from_where}");
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(pool).await,
            Raw::Postgres { pool, .. } => {
                sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(pool).await
            }
        }
        .unwrap()
    }

    /// One text value (timestamps and JSON cast to text on PostgreSQL by the caller).
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        match &self.raw {
            Raw::Sqlite(pool) => {
                sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
                    .fetch_all(pool)
                    .await
            }
            Raw::Postgres { pool, .. } => {
                sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
                    .fetch_all(pool)
                    .await
            }
        }
        .unwrap()
    }

    pub async fn exec(&self, sqlite: &str, postgres: &str) {
        match &self.raw {
            Raw::Sqlite(pool) => {
                sqlx::raw_sql(AssertSqlSafe(sqlite.to_string()))
                    .execute(pool)
                    .await
                    .unwrap();
            }
            Raw::Postgres { pool, .. } => {
                sqlx::raw_sql(AssertSqlSafe(postgres.to_string()))
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }

    pub async fn account(&self, provider: &str, id: &str) -> AccountKey {
        let key = AccountKey::new(provider, id);
        self.db
            .put_account(&key, &SecretString::from(format!("secret of {id}")))
            .await
            .unwrap();
        key
    }

    /// An account whose delta streams have each caught up once: past their
    /// backfill, so its pages write per-row events.
    pub async fn synced_account(&self, provider: &str, id: &str) -> AccountKey {
        let key = self.account(provider, id).await;
        let attempts: Vec<StreamAttempt> = DELTA_STREAMS
            .iter()
            .map(|&stream| StreamAttempt {
                stream,
                at: synced(),
                error: None,
                next_allowed_at: None,
            })
            .collect();
        self.db
            .record_stream_attempts(&key, &attempts)
            .await
            .unwrap();
        // The tests that use it count row events: the five markers go.
        let markers = "events WHERE kind = 'stream.backfilled'";
        assert_eq!(self.count(markers).await, 5);
        let delete = format!("DELETE FROM {markers}");
        self.exec(&delete, &delete).await;
        key
    }

    pub async fn cursor(&self, key: &AccountKey, stream: Stream) -> Option<String> {
        self.db
            .accounts(Some(&key.provider))
            .await
            .unwrap()
            .into_iter()
            .find(|a| &a.key == key)
            .unwrap()
            .streams
            .into_iter()
            .find(|s| s.stream == stream)
            .and_then(|s| s.cursor)
    }
}

/// Runs one scenario on SQLite and, when configured, on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let h = $crate::support::Harness::sqlite().await;
                super::$name(&h).await;
                h.cleanup().await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(h) = $crate::support::Harness::postgres().await {
                    super::$name(&h).await;
                    h.cleanup().await;
                }
            }
        }
    )+};
}

// ---- fixtures ----

pub fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub fn cur(code: &str) -> Currency {
    Currency::parse(code).unwrap()
}

pub fn money(minor: i64, code: &str) -> Money {
    Money::new(minor, cur(code))
}

pub fn installment(seq: u32, due: &str, amount: i64) -> Installment {
    Installment {
        seq,
        due: d(due),
        amount_minor: amount,
        reported_state: ReportedInstallmentState::Scheduled,
        paid_at: None,
        late_fee_minor: 0,
    }
}

/// A pay-in-4 purchase of 100.00 in `currency` with every optional part set.
pub fn purchase_in(id: &str, updated: &str, currency: &str) -> Purchase {
    Purchase {
        id: id.into(),
        merchant: format!("Merchant of {id}"),
        merchant_category: Some("5732".into()),
        amount: money(10_000, currency),
        created_at: t("2026-01-10T09:00:00.123456Z"),
        status: OrderStatus::PartRefunded,
        captured_minor: 10_000,
        refunded_minor: 1_500,
        plan: InstallmentPlan {
            kind: PlanKind::PayIn4,
            apr_bps: 0,
            interest_minor: 0,
            installments: vec![
                Installment {
                    reported_state: ReportedInstallmentState::Paid,
                    paid_at: Some(t("2026-01-10T09:00:01.5Z")),
                    ..installment(1, "2026-01-10", 2_500)
                },
                Installment {
                    reported_state: ReportedInstallmentState::Late,
                    late_fee_minor: 700,
                    ..installment(2, "2026-01-24", 2_500)
                },
                installment(3, "2026-02-07", 2_500),
                installment(4, "2026-02-21", 2_500),
            ],
        },
        items: vec![
            PurchaseItem {
                name: "Headphones".into(),
                quantity: 1,
                unit_price_minor: 8_000,
            },
            PurchaseItem {
                name: "Cable".into(),
                quantity: 2,
                unit_price_minor: 1_000,
            },
        ],
        return_: Some(PurchaseReturn {
            id: format!("ret-{id}"),
            reported_at: t("2026-01-12T10:00:00Z"),
            state: ReturnState::Refunded,
            amount_minor: 1_500,
        }),
        dispute: Some(Dispute {
            state: DisputeState::Opened,
            opened_at: t("2026-01-13T11:00:00.000001Z"),
        }),
        updated_at: t(updated),
    }
}

pub fn purchase(id: &str, updated: &str) -> Purchase {
    purchase_in(id, updated, "USD")
}

/// A financing purchase with no optional part.
pub fn plain_purchase(id: &str, updated: &str) -> Purchase {
    Purchase {
        id: id.into(),
        merchant: "Plain".into(),
        merchant_category: None,
        amount: money(120_000, "SEK"),
        created_at: t("2026-02-01T00:00:00Z"),
        status: OrderStatus::Captured,
        captured_minor: 120_000,
        refunded_minor: 0,
        plan: InstallmentPlan {
            kind: PlanKind::Financing { months: 6 },
            apr_bps: 1_999,
            interest_minor: 4_321,
            installments: (1..=6)
                .map(|s| installment(s, &format!("2026-{:02}-01", s + 2), 20_720))
                .collect(),
        },
        items: vec![],
        return_: None,
        dispute: None,
        updated_at: t(updated),
    }
}

pub fn card_transaction(id: &str, updated: &str) -> CardTransaction {
    CardTransaction {
        id: id.into(),
        auth_id: Some(format!("auth-{id}")),
        kind: CardTransactionKind::Settlement,
        status: CardTransactionStatus::Posted,
        amount: money(4_599, "EUR"),
        merchant: "Cafe".into(),
        mcc: Some("5814".into()),
        occurred_at: t("2026-01-05T08:30:00Z"),
        updated_at: t(updated),
    }
}

pub fn balance_entry(id: &str, updated: &str) -> BalanceEntry {
    BalanceEntry {
        id: id.into(),
        ledger: MAIN_LEDGER.into(),
        kind: BalanceEntryKind::CashbackCredit,
        booking: BookingStatus::Pending,
        amount: money(-250, "USD"),
        description: Some("cashback".into()),
        purchase_id: Some("p1".into()),
        points_entry_id: Some("pe1".into()),
        occurred_at: t("2026-01-06T00:00:00Z"),
        updated_at: t(updated),
    }
}

pub fn points_entry(id: &str, updated: &str) -> PointsEntry {
    PointsEntry {
        id: id.into(),
        kind: PointsEntryKind::Redeemed,
        points: -500,
        purchase_id: None,
        balance_entry_id: Some("be1".into()),
        occurred_at: t("2026-01-06T00:00:00Z"),
        updated_at: t(updated),
    }
}

pub fn delivery(id: &str, updated: &str) -> Delivery {
    Delivery {
        id: id.into(),
        purchase_id: Some("p1".into()),
        carrier: "UPS".into(),
        tracking_number: Some("1Z999".into()),
        status: DeliveryStatus::InTransit,
        eta_from: Some(d("2026-01-08")),
        eta_to: Some(d("2026-01-09")),
        updated_at: t(updated),
    }
}

/// One record of `stream` with every optional field empty.
pub fn sparse(stream: Stream, id: &str, updated: &str) -> Records {
    match stream {
        Stream::Purchases => Records::Purchases(vec![plain_purchase(id, updated)]),
        Stream::CardTransactions => Records::CardTransactions(vec![CardTransaction {
            auth_id: None,
            mcc: None,
            ..card_transaction(id, updated)
        }]),
        Stream::BalanceEntries => Records::BalanceEntries(vec![BalanceEntry {
            description: None,
            purchase_id: None,
            points_entry_id: None,
            ..balance_entry(id, updated)
        }]),
        Stream::PointsEntries => Records::PointsEntries(vec![PointsEntry {
            balance_entry_id: None,
            ..points_entry(id, updated)
        }]),
        Stream::Deliveries => Records::Deliveries(vec![Delivery {
            purchase_id: None,
            tracking_number: None,
            eta_from: None,
            eta_to: None,
            ..delivery(id, updated)
        }]),
        other => panic!("{other} is not a delta stream"),
    }
}

/// One record of `stream`, fully populated, with a marker that changes with `version`.
pub fn record(stream: Stream, id: &str, updated: &str, version: i64) -> Records {
    match stream {
        Stream::Purchases => {
            let mut p = purchase(id, updated);
            p.captured_minor = version;
            Records::Purchases(vec![p])
        }
        Stream::CardTransactions => {
            let mut r = card_transaction(id, updated);
            r.amount.minor = version;
            Records::CardTransactions(vec![r])
        }
        Stream::BalanceEntries => {
            let mut r = balance_entry(id, updated);
            r.amount.minor = version;
            Records::BalanceEntries(vec![r])
        }
        Stream::PointsEntries => {
            let mut r = points_entry(id, updated);
            r.points = version;
            Records::PointsEntries(vec![r])
        }
        Stream::Deliveries => {
            let mut r = delivery(id, updated);
            r.carrier = format!("carrier v{version}");
            Records::Deliveries(vec![r])
        }
        other => panic!("{other} is not a delta stream"),
    }
}

pub fn page(records: Records, cursor: &str) -> Page {
    Page {
        records,
        removed: vec![],
        next_cursor: cursor.into(),
        caught_up: false,
    }
}

pub const DELTA_STREAMS: [Stream; 5] = [
    Stream::Purchases,
    Stream::CardTransactions,
    Stream::BalanceEntries,
    Stream::PointsEntries,
    Stream::Deliveries,
];

pub const SYNCED: &str = "2026-03-01T12:00:00Z";

pub fn synced() -> DateTime<Utc> {
    t(SYNCED)
}

/// The mirror's rows of one delta stream, as a page would carry them.
pub fn mirrored(m: &bnpl_store::AccountMirror, stream: Stream) -> Records {
    match stream {
        Stream::Purchases => Records::Purchases(m.purchases.clone()),
        Stream::CardTransactions => Records::CardTransactions(m.card_transactions.clone()),
        Stream::BalanceEntries => Records::BalanceEntries(m.balance_entries.clone()),
        Stream::PointsEntries => Records::PointsEntries(m.points_entries.clone()),
        Stream::Deliveries => Records::Deliveries(m.deliveries.clone()),
        other => panic!("{other} is not a delta stream"),
    }
}

/// Joins pages' records of one stream (same variant) into one.
pub fn concat(parts: Vec<Records>) -> Records {
    let mut it = parts.into_iter();
    let mut all = it.next().unwrap();
    for part in it {
        match (&mut all, part) {
            (Records::Purchases(a), Records::Purchases(b)) => a.extend(b),
            (Records::CardTransactions(a), Records::CardTransactions(b)) => a.extend(b),
            (Records::BalanceEntries(a), Records::BalanceEntries(b)) => a.extend(b),
            (Records::PointsEntries(a), Records::PointsEntries(b)) => a.extend(b),
            (Records::Deliveries(a), Records::Deliveries(b)) => a.extend(b),
            _ => panic!("records of different streams"),
        }
    }
    all
}
