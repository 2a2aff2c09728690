//! PSD2 sandbox bank -> klarna-eu connector -> sync engine -> store, on
//! SQLite (and PostgreSQL when `BNPL_TEST_POSTGRES_URL` is set): the mirror
//! is compared with the sandbox's own `state(iban)` after clock advances
//! (a back-dated booking, a pending row booking under a new id), and an
//! expired consent marks the account `reauth_required`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use bnpl_core::{AccountStatus, BookingStatus, ProviderContext};
use bnpl_provider_klarna_eu::{
    ConsentCredentials, ConsentRequest, ConsentStatus, KlarnaEuConfig, KlarnaEuConnector,
    PROVIDER_ID, consent_details, create_consent, poll_until_final_every,
};
use bnpl_sandbox_psd2::{Psd2Config, Psd2Sandbox, RunningPsd2};
use bnpl_store::{AccountKey, ConsentRecord, Database};
use bnpl_sync::{Engine, ProviderRuntime, RunReport, SyncSettings};
use bnpl_tests::databases;
use chrono::{Duration, Utc};
use secrecy::SecretString;

const START: &str = "2026-11-20T12:00:00Z";
const ACCOUNT: &str = "eu-1";

struct Setup {
    sandbox: Psd2Sandbox,
    running: RunningPsd2,
    engine: Engine,
    key: AccountKey,
}

/// The sandbox, a consent obtained through the real flow (decoupled SCA,
/// polled until valid), the account and its consent record in `db`, and an
/// engine whose connector and clock follow the sandbox's clock.
async fn setup(db: Arc<dyn Database>) -> Setup {
    bnpl_providers::registry().expect("registry complete");
    let sandbox = Psd2Sandbox::new(Psd2Config::new(42, START.parse().unwrap()));
    let running = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = KlarnaEuConfig::new(running.base_url.clone());

    let mut request = ConsentRequest::new("2027-02-01".parse().unwrap());
    request.psu_ip_address = Some("192.0.2.10".parse().unwrap());
    let created = create_consent(&config, &request).await.unwrap();
    let status = poll_until_final_every(
        &config,
        &created.consent_id,
        StdDuration::from_secs(10),
        StdDuration::from_millis(5),
    )
    .await
    .unwrap();
    assert_eq!(status, ConsentStatus::Valid);
    let details = consent_details(&config, &created.consent_id).await.unwrap();

    let key = AccountKey::new(PROVIDER_ID, ACCOUNT);
    let mut credentials =
        ConsentCredentials::new(secrecy::ExposeSecret::expose_secret(&created.consent_id));
    credentials.frequency_per_day = Some(details.frequency_per_day);
    db.put_account(&key, &credentials.to_secret())
        .await
        .unwrap();
    let now = sandbox.now();
    db.put_consent(&ConsentRecord {
        account: key.clone(),
        route: "psd2-ais".into(),
        scope: details.access.clone(),
        recurring: details.recurring,
        valid_until: details.valid_until,
        frequency_per_day: details.frequency_per_day,
        status: details.status.as_str().into(),
        last_action_date: details.last_action_date,
        created_at: now,
        updated_at: now,
    })
    .await
    .unwrap();

    let registration = bnpl_core::registry::find(PROVIDER_ID).unwrap();
    let clock = {
        let sb = sandbox.clone();
        Arc::new(move || sb.now())
    };
    let connector = KlarnaEuConnector::new(config, &ProviderContext::default())
        .unwrap()
        .with_clock(clock.clone());
    let engine = Engine::new(
        db,
        vec![ProviderRuntime::new(registration, Arc::new(connector))],
        SyncSettings::default(),
    )
    .with_clock(clock);
    Setup {
        sandbox,
        running,
        engine,
        key,
    }
}

/// One row as both sides can state it: booking status, amount, and the
/// booking date of a booked row.
type Row = (BookingStatus, String, Option<chrono::NaiveDate>);

/// The bank's rows with an id, by mirror id, and the number without one.
fn truth(sb: &Psd2Sandbox) -> (BTreeMap<String, Row>, usize) {
    let mut rows = BTreeMap::new();
    let mut anonymous = 0;
    for iban in sb.ibans() {
        let state = sb.state(&iban);
        for (key, booking) in [
            ("booked", BookingStatus::Booked),
            ("pending", BookingStatus::Pending),
        ] {
            for row in state[key].as_array().unwrap() {
                let amount = row["amount"].as_str().unwrap().to_string();
                let date = (booking == BookingStatus::Booked)
                    .then(|| row["date"].as_str().unwrap().parse().unwrap());
                match row["transactionId"].as_str() {
                    Some(id) => {
                        rows.insert(format!("{iban}/{id}"), (booking, amount, date));
                    }
                    None => anonymous += 1,
                }
            }
        }
    }
    (rows, anonymous)
}

async fn mirrored(db: &Arc<dyn Database>, key: &AccountKey) -> (BTreeMap<String, Row>, usize) {
    let mirror = db.mirror(key).await.unwrap();
    let mut rows = BTreeMap::new();
    let mut anonymous = 0;
    for e in mirror.balance_entries {
        if e.id.contains("/h-") {
            anonymous += 1;
            continue;
        }
        let date = (e.booking == BookingStatus::Booked).then(|| e.occurred_at.date_naive());
        rows.insert(e.id, (e.booking, e.amount.to_major_string(), date));
    }
    (rows, anonymous)
}

async fn assert_mirror_matches(s: &Setup, backend: &str, round: &str) {
    let db = s.engine.database();
    assert_eq!(
        mirrored(db, &s.key).await,
        truth(&s.sandbox),
        "{backend} {round}: balance entries"
    );
    let balances = db.mirror(&s.key).await.unwrap().balances;
    for iban in s.sandbox.ibans() {
        let state = s.sandbox.state(&iban);
        for balance_type in ["closingBooked", "interimAvailable", "expected"] {
            let stored = balances
                .iter()
                .find(|b| b.ledger == iban && b.balance_type == balance_type)
                .unwrap_or_else(|| panic!("{backend} {round}: no {balance_type} of {iban}"));
            assert_eq!(
                stored.amount.to_major_string(),
                state["balances"][balance_type].as_str().unwrap(),
                "{backend} {round}: {balance_type} of {iban}"
            );
            assert_eq!(
                stored.amount.currency.code(),
                state["currency"].as_str().unwrap()
            );
        }
    }
}

fn assert_clean(report: &RunReport, backend: &str, round: &str) {
    assert_eq!(report.failed_accounts(), 0, "{backend} {round}: {report}");
}

#[tokio::test]
async fn eu_account_mirrors_the_bank_through_pending_to_booked() {
    for t in databases::all().await {
        let s = setup(t.db.clone()).await;
        let db = s.engine.database().clone();
        let eur = s.sandbox.ibans()[0].clone();
        let id = |x: &str| format!("{eur}/{x}");

        let stored = db.consents(Some(PROVIDER_ID)).await.unwrap();
        assert_eq!(stored.len(), 1, "{}", t.name);
        assert_eq!(stored[0].account, s.key);
        assert_eq!(stored[0].route, "psd2-ais");
        assert_eq!(stored[0].status, "valid");
        assert_eq!(stored[0].frequency_per_day, 4);
        assert!(stored[0].recurring);
        assert!(stored[0].scope.get("transactions").is_some());
        let mut orphan = stored[0].clone();
        orphan.account = AccountKey::new(PROVIDER_ID, "nobody");
        assert!(
            db.put_consent(&orphan).await.is_err(),
            "{}: a consent needs its account",
            t.name
        );

        let first = s.engine.run_once().await.unwrap();
        assert_clean(&first, t.name, "first sync");
        assert_mirror_matches(&s, t.name, "first sync").await;
        let (rows, anonymous) = mirrored(&db, &s.key).await;
        assert_eq!(rows[&id("PEND-e-0002")].0, BookingStatus::Pending);
        assert!(anonymous > 0, "a booked row without transactionId");
        assert!(
            s.sandbox
                .ibans()
                .iter()
                .any(|i| i.starts_with("SE") && rows.keys().any(|k| k.starts_with(i.as_str())))
        );

        // Day 1: a row booked late with an earlier date (the overlap window).
        s.sandbox.advance(Duration::days(1) + Duration::hours(2));
        let second = s.engine.run_once().await.unwrap();
        assert_clean(&second, t.name, "day 1");
        assert!(
            mirrored(&db, &s.key)
                .await
                .0
                .contains_key(&id("LATE-e-0004"))
        );
        assert_mirror_matches(&s, t.name, "day 1").await;

        // Day 2: the pending payment books under a new id: replaced, not doubled.
        s.sandbox.advance(Duration::days(1) + Duration::hours(2));
        let third = s.engine.run_once().await.unwrap();
        assert_clean(&third, t.name, "day 2");
        let (rows, _) = mirrored(&db, &s.key).await;
        assert!(!rows.contains_key(&id("PEND-e-0002")), "{}", t.name);
        assert_eq!(rows[&id("BOOK-e-0002")].0, BookingStatus::Booked);
        assert_mirror_matches(&s, t.name, "day 2").await;

        let account = &db.accounts(Some(PROVIDER_ID)).await.unwrap()[0];
        assert_eq!(account.status, AccountStatus::Active);
        s.running.shutdown().await;
    }
}

#[tokio::test]
async fn an_expired_consent_marks_the_account_reauth_required() {
    for t in databases::all().await {
        let s = setup(t.db.clone()).await;
        let db = s.engine.database().clone();
        assert_clean(&s.engine.run_once().await.unwrap(), t.name, "first sync");
        let before = db.mirror(&s.key).await.unwrap();
        assert!(!before.balance_entries.is_empty());

        // The consent runs out (validUntil passes on the bank's clock).
        s.sandbox.advance(Duration::days(120));
        let report = s.engine.run_once().await.unwrap();
        assert_eq!(report.failed_accounts(), 1, "{}: {report}", t.name);
        let account = &db.accounts(Some(PROVIDER_ID)).await.unwrap()[0];
        assert_eq!(account.status, AccountStatus::ReauthRequired, "{}", t.name);
        assert!(
            account
                .status_reason
                .as_deref()
                .is_some_and(|r| !r.is_empty()),
            "{}: {:?}",
            t.name,
            account.status_reason
        );
        let after = db.mirror(&s.key).await.unwrap();
        assert_eq!(
            after.balance_entries, before.balance_entries,
            "{}: nothing mirrored is touched",
            t.name
        );

        // The consent record follows the bank (what `bnpl consent status` stores).
        let secret: SecretString = db.account_secret(&s.key).await.unwrap();
        let credentials = ConsentCredentials::parse(&secret).unwrap();
        let config = KlarnaEuConfig::new(s.running.base_url.clone());
        let details = consent_details(&config, credentials.consent_id())
            .await
            .unwrap();
        assert_eq!(details.status, ConsentStatus::Expired);
        let mut record = db.consents(Some(PROVIDER_ID)).await.unwrap().remove(0);
        record.status = details.status.as_str().into();
        record.updated_at = Utc::now();
        db.put_consent(&record).await.unwrap();
        let stored = db.consents(None).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].status, "expired", "{}", t.name);

        // The engine leaves a reauth_required account alone.
        let again = s.engine.run_once().await.unwrap();
        assert_eq!(again.failed_accounts(), 0, "{}: {again}", t.name);
        s.running.shutdown().await;
    }
}
