//! A scripted provider registered only in this crate's tests, so the engine
//! is tested against the real registry, config path and SQLite store.

use std::sync::Arc;

use async_trait::async_trait;
use bnpl_core::{
    AccountCredentials, AccountSession, ConfigError, Connector, ConnectorError, CredentialStore,
    InstallmentPlan, Money, OrderStatus, Page, PlanKind, ProviderContext, ProviderRegistration,
    ProviderStatus, Purchase, Records, SnapshotData, Stream,
};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub const FAKE_ID: &str = "fake";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeConfig {}

/// Behaviour is chosen by the account id:
/// - `ok-N`: N purchases in pages of 2, then caught up; profile snapshot;
/// - `reauth`: sign-in answers re-auth required;
/// - `expired-cursor`: a stored cursor is answered `CursorExpired` once;
/// - `flaky`: the first pull of each page fails with a retryable error;
/// - `rotate`: sign-in rotates the secret through the credential store.
pub struct Fake;

#[async_trait]
impl Connector for Fake {
    type Config = FakeConfig;

    fn from_config(_: FakeConfig, _: &ProviderContext) -> Result<Self, ConfigError> {
        Ok(Fake)
    }

    fn validate_credentials(&self, secret: &SecretString) -> Result<(), ConfigError> {
        if secret.expose_secret().is_empty() {
            return Err(ConfigError::invalid("secret", "empty"));
        }
        Ok(())
    }

    async fn open(
        &self,
        credentials: AccountCredentials,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Box<dyn AccountSession>, ConnectorError> {
        let id = credentials.account_id.clone();
        if id == "reauth" {
            return Err(ConnectorError::ReauthRequired {
                message: "INVALID_GRANT".into(),
            });
        }
        if id == "rotate" {
            store
                .save(
                    &id,
                    &SecretString::from(format!("{}+1", credentials.secret.expose_secret())),
                )
                .await?;
        }
        let total = id
            .strip_prefix("ok-")
            .and_then(|n| n.parse().ok())
            .unwrap_or(3);
        Ok(Box::new(FakeSession {
            id,
            total,
            flaked: false,
            expired_once: false,
            served: false,
        }))
    }
}

struct FakeSession {
    id: String,
    total: usize,
    flaked: bool,
    expired_once: bool,
    served: bool,
}

pub fn purchase(n: usize, updated_at: DateTime<Utc>) -> Purchase {
    let usd = bnpl_core::Currency::parse("USD").unwrap();
    Purchase {
        id: format!("p_{n:04}"),
        merchant: "Fake Store".into(),
        merchant_category: None,
        amount: Money::new(1000, usd),
        created_at: updated_at,
        status: OrderStatus::Captured,
        captured_minor: 1000,
        refunded_minor: 0,
        plan: InstallmentPlan {
            kind: PlanKind::PayIn30,
            apr_bps: 0,
            interest_minor: 0,
            installments: vec![bnpl_core::Installment {
                seq: 1,
                due: updated_at.date_naive() + chrono::Days::new(30),
                amount_minor: 1000,
                reported_state: bnpl_core::ReportedInstallmentState::Scheduled,
                paid_at: None,
                late_fee_minor: 0,
            }],
        },
        items: vec![],
        return_: None,
        dispute: None,
        updated_at,
    }
}

#[async_trait]
impl AccountSession for FakeSession {
    async fn pull(&mut self, stream: Stream, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        if self.id == "expired-cursor" && cursor.is_some() && !self.expired_once {
            self.expired_once = true;
            return Err(ConnectorError::CursorExpired { stream });
        }
        // `crash`: the connection dies for good after the first page of this session.
        if self.id == "crash" && self.served {
            return Err(ConnectorError::permanent("connection reset"));
        }
        self.served = true;
        if self.id == "flaky" && !self.flaked {
            self.flaked = true;
            return Err(ConnectorError::retryable("503 TEMPORARILY_UNAVAILABLE"));
        }
        self.flaked = false;
        let start: usize = cursor.map(|c| c.parse().unwrap()).unwrap_or(0);
        let end = (start + 2).min(self.total);
        let t0: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
        let records = match stream {
            Stream::Purchases => Records::Purchases(
                (start..end)
                    .map(|n| purchase(n, t0 + chrono::Duration::minutes(n as i64)))
                    .collect(),
            ),
            other => Records::empty(other).unwrap(),
        };
        Ok(Page {
            caught_up: records.is_empty(),
            records,
            removed: vec![],
            next_cursor: end.to_string(),
        })
    }

    async fn snapshot(&mut self, stream: Stream) -> Result<SnapshotData, ConnectorError> {
        assert_eq!(stream, Stream::Profile);
        Ok(SnapshotData::Profile(bnpl_core::Profile {
            name: Some(self.id.clone()),
            email: None,
            phone: None,
            country: Some("US".into()),
            membership_tier: None,
            purchase_power: None,
            refunds_to_balance: Some(true),
            updated_at: "2026-06-01T00:00:00Z".parse().unwrap(),
        }))
    }
}

fn factory(
    section: serde_json::Value,
    context: &ProviderContext,
) -> Result<Arc<dyn bnpl_core::ErasedConnector>, ConfigError> {
    bnpl_core::connector::build::<Fake>(FAKE_ID, section, context)
}

bnpl_core::inventory::submit! {
    ProviderRegistration {
        id: FAKE_ID,
        display_name: "Fake (tests only)",
        markets: &["US"],
        streams: &[Stream::Purchases, Stream::Profile],
        status: ProviderStatus::Beta,
        description: "scripted provider for the engine's own tests",
        credential_fields: &[bnpl_core::CredentialField { name: "token", secret: true, help: "any text" }],
        factory,
    }
}

#[cfg(test)]
mod engine_tests {
    use std::sync::Arc;

    use bnpl_core::{AccountStatus, Stream};
    use bnpl_store::{AccountKey, Database, SecretCipher};
    use secrecy::SecretString;

    use crate::{Engine, Settings};

    async fn setup(accounts: &[&str]) -> (Engine, Arc<dyn Database>, tempfile::TempDir) {
        setup_with(accounts, "").await
    }

    async fn setup_with(
        accounts: &[&str],
        sync_section: &str,
    ) -> (Engine, Arc<dyn Database>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let db: Arc<dyn Database> = Arc::from(
            bnpl_store::open(&url, SecretCipher::from_key_bytes([1; 32]))
                .await
                .unwrap(),
        );
        for a in accounts {
            db.put_account(
                &AccountKey::new("fake", *a),
                &SecretString::from("s".to_string()),
            )
            .await
            .unwrap();
        }
        let settings =
            Settings::from_toml(&format!(
                "[providers.fake]\nenabled = true\n[sync]\n{sync_section}\n[sync.retry]\nbase_delay = 1\n"
            ))
            .unwrap();
        let (providers, _) = settings.providers(&Default::default()).unwrap();
        (
            Engine::new(db.clone(), providers, settings.sync.clone()),
            db,
            dir,
        )
    }

    #[tokio::test]
    async fn a_crash_between_pages_loses_nothing_and_the_next_run_resumes() {
        let (engine, db, _dir) = setup(&["crash"]).await;
        let key = AccountKey::new("fake", "crash");
        let first = engine.run_once().await.unwrap();
        assert_eq!(first.stream(Stream::Purchases).failures, 1, "{first}");
        let failed = first
            .account("crash")
            .expect("a failed account is kept in full");
        assert!(
            failed.stream(Stream::Purchases).unwrap().error.is_some(),
            "{first}"
        );
        // The first page and its cursor were committed together.
        assert_eq!(db.mirror(&key).await.unwrap().purchases.len(), 2);
        let state = db.accounts(None).await.unwrap().remove(0);
        let purchases = state
            .streams
            .iter()
            .find(|s| s.stream == Stream::Purchases)
            .unwrap();
        assert_eq!(purchases.cursor.as_deref(), Some("2"));
        // The next run starts after that cursor: it reads only the rest.
        let second = engine.run_once().await.unwrap();
        let report = second.stream(Stream::Purchases);
        assert_eq!((report.inserted, report.unchanged), (1, 0), "{second}");
        assert_eq!(db.mirror(&key).await.unwrap().purchases.len(), 3);
    }

    #[tokio::test]
    async fn one_account_failing_never_stops_the_others() {
        let (engine, db, _dir) =
            setup(&["reauth", "ok-5", "flaky", "expired-cursor", "rotate"]).await;
        let report = engine.run_once().await.unwrap();
        assert_eq!(report.failed_accounts(), 1, "{report}");
        for a in db.accounts(None).await.unwrap() {
            let expected = if a.key.account_id == "reauth" {
                AccountStatus::ReauthRequired
            } else {
                AccountStatus::Active
            };
            assert_eq!(a.status, expected, "{}", a.key);
        }
        let ok = db.mirror(&AccountKey::new("fake", "ok-5")).await.unwrap();
        assert_eq!(ok.purchases.len(), 5);
        // Retries are routine: counted, but the account is not kept in full.
        assert!(report.account("flaky").is_none(), "{report}");
        assert!(report.stream(Stream::Purchases).retries >= 1, "{report}");
        // A rotated secret was persisted before use.
        let rotated = db
            .account_secret(&AccountKey::new("fake", "rotate"))
            .await
            .unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&rotated), "s+1");
        // A stored cursor that expired restarts the stream once, and no row is duplicated.
        let again = engine.run_once().await.unwrap();
        let expired = again
            .account("expired-cursor")
            .expect("a restart needs attention");
        let purchases = expired.stream(Stream::Purchases).unwrap();
        assert!(purchases.restarted && purchases.error.is_none(), "{again}");
        assert_eq!(
            db.mirror(&AccountKey::new("fake", "expired-cursor"))
                .await
                .unwrap()
                .purchases
                .len(),
            3
        );
        // The re-auth account is skipped with its reason, not retried.
        assert!(
            again
                .skipped
                .iter()
                .any(|(k, why)| k.account_id == "reauth" && why.contains("INVALID_GRANT")),
            "{again}"
        );
    }

    #[derive(Default)]
    struct Counting {
        planned: std::sync::Mutex<Vec<usize>>,
        finished: std::sync::Mutex<Vec<String>>,
    }

    impl crate::SyncObserver for Counting {
        fn run_started(&self, accounts: usize) {
            self.planned.lock().unwrap().push(accounts);
        }
        fn account_finished(&self, report: &crate::AccountReport) {
            self.finished
                .lock()
                .unwrap()
                .push(report.account.account_id.clone());
        }
    }

    #[tokio::test]
    async fn accounts_are_read_a_page_at_a_time_and_each_is_synced_once() {
        // Seven syncable accounts read two at a time, with a skipped one between them.
        let ids = ["a1", "a2", "a3", "a4", "reauth", "a5", "a6", "a7"];
        let (engine, db, _dir) = setup_with(&ids, "accounts_per_read = 2").await;
        db.set_account_status(
            &AccountKey::new("fake", "reauth"),
            AccountStatus::ReauthRequired,
            Some("INVALID_GRANT"),
        )
        .await
        .unwrap();
        let seen = Arc::new(Counting::default());
        let engine = engine.with_observer(seen.clone());
        let report = engine.run_once().await.unwrap();
        assert_eq!((report.accounts, report.failed), (7, 0), "{report}");
        assert_eq!(report.stream(Stream::Purchases).inserted, 21, "{report}");
        assert_eq!(report.skipped.len(), 1, "{report}");
        assert!(report.attention.is_empty(), "{report}");
        assert_eq!(*seen.planned.lock().unwrap(), [7]);
        let mut finished = seen.finished.lock().unwrap().clone();
        finished.sort();
        assert_eq!(finished, ["a1", "a2", "a3", "a4", "a5", "a6", "a7"]);
        for id in ["a1", "a4", "a7"] {
            let mirror = db.mirror(&AccountKey::new("fake", id)).await.unwrap();
            assert_eq!(mirror.purchases.len(), 3, "{id}");
        }
        // Nothing is due by cadence right after: one pass, no sync, a wake time.
        let (idle, next_wake) = engine.tick(false).await.unwrap();
        assert_eq!(idle.accounts, 0, "{idle}");
        assert!(next_wake.is_some());
        assert_eq!(*seen.planned.lock().unwrap(), [7, 0]);
    }
}
