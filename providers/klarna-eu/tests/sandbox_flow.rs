//! The connector against the independent PSD2 sandbox bank: consent, then
//! two weeks of daily syncs while pending rows book (some under new ids), a
//! hold never books, a row is booked late, and the consent is renewed.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use bnpl_core::{BookingStatus, ConnectorError, ErrorKind};
use bnpl_provider_klarna_eu::{
    Clock, ConsentCredentials, ConsentRequest, ConsentStatus, KlarnaEuConfig, ScaInstruction,
    consent_details, create_consent, poll_until_final_every, revoke,
};
use bnpl_sandbox_psd2::{Psd2Config, Psd2Sandbox};
use chrono::Duration;
use common::{Account, MemoryStore, connector};
use secrecy::ExposeSecret;

const START: &str = "2026-11-20T12:00:00Z";

fn sandbox() -> Psd2Sandbox {
    Psd2Sandbox::new(Psd2Config::new(42, START.parse().unwrap()))
}

fn clock_of(sb: &Psd2Sandbox) -> Clock {
    let sb = sb.clone();
    Arc::new(move || sb.now())
}

/// What the bank lists now, as mirror ids; rows without an id are counted.
fn truth(sb: &Psd2Sandbox) -> (BTreeSet<String>, usize) {
    let mut ids = BTreeSet::new();
    let mut anonymous = 0;
    for iban in sb.ibans() {
        let state = sb.state(&iban);
        for key in ["booked", "pending"] {
            for row in state[key].as_array().unwrap() {
                match row["transactionId"].as_str() {
                    Some(id) => {
                        ids.insert(format!("{iban}/{id}"));
                    }
                    None => anonymous += 1,
                }
            }
        }
    }
    (ids, anonymous)
}

fn mirror(account: &Account) -> (BTreeSet<String>, usize) {
    let ids: BTreeSet<String> = account
        .rows
        .keys()
        .filter(|id| !id.contains("/h-"))
        .cloned()
        .collect();
    let anonymous = account.rows.keys().filter(|id| id.contains("/h-")).count();
    (ids, anonymous)
}

#[tokio::test]
async fn consent_then_two_weeks_of_daily_syncs_mirror_the_bank() {
    let sb = sandbox();
    let running = sb.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = KlarnaEuConfig::new(running.base_url.clone());

    // Consent: decoupled SCA, approved in the (simulated) app while we poll.
    let mut request = ConsentRequest::new("2027-02-01".parse().unwrap());
    request.psu_ip_address = Some("192.168.8.78".parse().unwrap());
    let created = create_consent(&config, &request).await.unwrap();
    assert!(
        matches!(created.sca, ScaInstruction::Decoupled { message: Some(_) }),
        "{created:?}"
    );
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
    assert_eq!(details.frequency_per_day, 4);
    assert!(details.recurring);

    let c = connector(config.clone(), clock_of(&sb));
    let store = Arc::new(MemoryStore::default());
    let mut account = Account::new(created.consent_id.expose_secret());
    let eur = sb.ibans()[0].clone();
    let id = |s: &str| format!("{eur}/{s}");

    // First sync: everything the bank lists, paged.
    let balances = account.sync(&c, &store).await.unwrap();
    assert!(
        account.pages > 4,
        "the sandbox pages its reports ({} pages)",
        account.pages
    );
    assert_eq!(mirror(&account), truth(&sb));
    assert_eq!(
        account.rows[&id("PEND-e-0002")].booking,
        BookingStatus::Pending
    );
    assert!(account.rows.contains_key(&id("HOLD-e-0001")));
    let truth_balances = sb.state(&eur)["balances"].clone();
    let closing = balances
        .iter()
        .find(|b| b.ledger == eur && b.balance_type == "closingBooked")
        .unwrap();
    assert_eq!(
        closing.amount.to_major_string(),
        truth_balances["closingBooked"].as_str().unwrap()
    );
    let expected = balances
        .iter()
        .find(|b| b.ledger == eur && b.balance_type == "expected")
        .unwrap();
    assert_eq!(
        expected.amount.to_major_string(),
        truth_balances["expected"].as_str().unwrap()
    );
    assert_eq!(
        balances
            .iter()
            .filter(|b| b.amount.currency.code() == "SEK")
            .count(),
        3
    );
    let anonymous_ids: Vec<String> = account
        .rows
        .keys()
        .filter(|k| k.contains("/h-"))
        .cloned()
        .collect();
    assert!(!anonymous_ids.is_empty());

    // Day 1 (+2 h): a row appears, booked back-dated into the overlap window.
    sb.advance(Duration::days(1) + Duration::hours(2));
    account.sync(&c, &store).await.unwrap();
    assert!(
        account.rows.contains_key(&id("LATE-e-0004")),
        "the overlap catches a late booking"
    );
    assert_eq!(mirror(&account), truth(&sb));

    // Day 2 (+4 h): the pending payment books under a new id.
    sb.advance(Duration::days(1) + Duration::hours(2));
    account.sync(&c, &store).await.unwrap();
    assert!(!account.rows.contains_key(&id("PEND-e-0002")));
    assert!(account.removed.contains(&id("PEND-e-0002")));
    assert_eq!(
        account.rows[&id("BOOK-e-0002")].booking,
        BookingStatus::Booked
    );
    assert_eq!(mirror(&account), truth(&sb));

    // Daily until two weeks after the hold was first seen: it expires out.
    for _ in 0..12 {
        sb.advance(Duration::days(1));
        account.sync(&c, &store).await.unwrap();
    }
    assert!(!account.rows.contains_key(&id("HOLD-e-0001")));
    assert!(account.removed.contains(&id("HOLD-e-0001")));
    assert_eq!(
        mirror(&account),
        truth(&sb),
        "after two weeks the mirror is the bank's list"
    );
    for a in &anonymous_ids {
        assert!(account.rows.contains_key(a), "content ids are stable: {a}");
    }
    assert_eq!(
        account
            .removed
            .iter()
            .filter(|r| account.rows.contains_key(*r))
            .count(),
        0
    );

    // Re-consent: new consent id and resource ids, same ledgers, no duplicates.
    let before = account.rows.clone();
    let renewed = sb.create_valid_consent();
    let mut creds = ConsentCredentials::parse(&account.secret).unwrap();
    creds = {
        let mut fresh = ConsentCredentials::new(renewed.clone());
        fresh.reads = creds.reads.clone();
        fresh
    };
    account.secret = creds.to_secret();
    account.sync(&c, &store).await.unwrap();
    assert_eq!(
        account.rows.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );

    // Revoked consent: re-auth required.
    revoke(&config, &created.consent_id).await.unwrap();
    assert_eq!(
        sb.consent_status(created.consent_id.expose_secret())
            .as_deref(),
        Some("terminatedByTpp")
    );
    sb.expire_consent(&renewed);
    sb.advance(Duration::days(1));
    let err = account.sync(&c, &store).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReauthRequired, "{err}");
    running.shutdown().await;
}

#[tokio::test]
async fn the_quota_holds_back_and_the_banks_own_limit_is_mapped() {
    let sb = sandbox();
    let running = sb.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let c = connector(KlarnaEuConfig::new(running.base_url.clone()), clock_of(&sb));
    let store = Arc::new(MemoryStore::default());
    let consent = sb.create_valid_consent();

    // Our own log: four reads, then the fifth is refused before any call.
    let mut account = Account::new(&consent);
    for _ in 0..4 {
        account.sync(&c, &store).await.unwrap();
        sb.advance(Duration::hours(1));
    }
    let err = account.sync(&c, &store).await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::QuotaExhausted {
            next_allowed: sb.now() - Duration::hours(4) + Duration::hours(24)
        }
    );

    // Lost log (fresh credentials each time): the bank's ACCESS_EXCEEDED
    // still stops the account instead of failing blindly.
    let other = sb.create_valid_consent();
    let mut last = None;
    for _ in 0..5 {
        let mut fresh = Account::new(&other);
        last = Some(fresh.sync(&c, &store).await);
    }
    match last.unwrap() {
        Err(ConnectorError::QuotaExhausted { next_allowed }) => assert!(next_allowed > sb.now()),
        other => panic!("{other:?}"),
    }
    running.shutdown().await;
}
