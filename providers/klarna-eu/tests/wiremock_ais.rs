//! The connector against a scripted Berlin Group bank (wiremock): headers,
//! paging, the hard cases of transaction feeds, the quota and every error
//! code the connector maps.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use bnpl_core::{BookingStatus, ConnectorError, ErrorKind, Stream};
use bnpl_provider_klarna_eu::{ConsentCredentials, KlarnaEuConfig};
use common::{Account, MemoryStore, connector, fixed_clock};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const IBAN: &str = "DE89370400440532013000";
const NOW: &str = "2026-11-20T12:00:00Z";

fn account_list() -> Value {
    json!({"accounts": [{"resourceId": "res-1", "iban": IBAN, "currency": "EUR", "name": "Klarna"}]})
}

fn tx(
    id: Option<&str>,
    amount: &str,
    who: &str,
    booking_date: Option<&str>,
    value_date: &str,
) -> Value {
    let mut v = json!({
        "transactionAmount": {"currency": "EUR", "amount": amount},
        "creditorName": who,
        "remittanceInformationUnstructured": format!("Paid {who}"),
        "valueDate": value_date,
    });
    if let Some(id) = id {
        v["transactionId"] = json!(id);
    }
    if let Some(d) = booking_date {
        v["bookingDate"] = json!(d);
    }
    v
}

fn report(booked: Vec<Value>, pending: Vec<Value>, next: Option<&str>) -> Value {
    let mut links = json!({"account": {"href": "/v1/accounts/res-1"}});
    if let Some(n) = next {
        links["next"] = json!({ "href": n });
    }
    json!({"account": {"iban": IBAN}, "transactions": {"booked": booked, "pending": pending, "_links": links}})
}

fn balances() -> Value {
    json!({"balances": [
        {"balanceAmount": {"currency": "EUR", "amount": "120.50"}, "balanceType": "closingBooked", "referenceDate": "2026-11-19"},
        {"balanceAmount": {"currency": "EUR", "amount": "100.00"}, "balanceType": "interimAvailable", "lastChangeDateTime": "2026-11-20T11:00:00Z"},
        {"balanceAmount": {"currency": "EUR", "amount": "87.51"}, "balanceType": "expected"}
    ]})
}

async fn bank() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(account_list()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/accounts/res-1/balances"))
        .respond_with(ResponseTemplate::new(200).set_body_json(balances()))
        .mount(&server)
        .await;
    server
}

async fn transactions(server: &MockServer, body: Value) {
    Mock::given(method("GET"))
        .and(path("/v1/accounts/res-1/transactions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

fn config(server: &MockServer) -> KlarnaEuConfig {
    KlarnaEuConfig::new(server.uri())
}

#[tokio::test]
async fn follows_next_links_and_sends_the_berlin_group_headers() {
    let server = bank().await;
    Mock::given(method("GET"))
        .and(path("/v1/accounts/res-1/transactions"))
        .and(query_param("bookingStatus", "both"))
        .and(query_param("dateFrom", "2026-08-22"))
        .and(query_param("pageIndex", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(report(
            vec![tx(
                Some("b2"),
                "-2.00",
                "Two",
                Some("2026-11-02"),
                "2026-11-02",
            )],
            vec![],
            None,
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/accounts/res-1/transactions"))
        .and(query_param("bookingStatus", "both"))
        .and(query_param("dateFrom", "2026-08-22"))
        .and(header("Consent-ID", "consent-abc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(report(
            vec![tx(Some("b1"), "-1.00", "One", Some("2026-11-01"), "2026-11-01")],
            vec![tx(Some("p1"), "-3.00", "Three", None, "2026-11-19")],
            Some("/v1/accounts/res-1/transactions?bookingStatus=both&dateFrom=2026-08-22&pageIndex=1"),
        )))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(config(&server), fixed_clock(NOW));
    let store = Arc::new(MemoryStore::default());
    let mut account = Account::new("consent-abc");
    let snaps = account.sync(&c, &store).await.unwrap();
    assert_eq!(account.pages, 2);
    assert_eq!(
        account.ids(),
        [
            format!("{IBAN}/b1"),
            format!("{IBAN}/b2"),
            format!("{IBAN}/p1")
        ]
    );
    let p1 = &account.rows[&format!("{IBAN}/p1")];
    assert_eq!(p1.booking, BookingStatus::Pending);
    assert_eq!(p1.amount.minor, -300);
    assert_eq!(p1.ledger, IBAN);
    assert_eq!(p1.description.as_deref(), Some("Paid Three"));
    assert_eq!(snaps.len(), 3);
    assert_eq!(snaps[0].balance_type, "closingBooked");
    assert_eq!(snaps[0].amount.minor, 12050);
    assert_eq!(snaps[2].amount.minor, 8751);
    assert!(snaps.iter().all(|s| s.ledger == IBAN));

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4, "accounts, 2 pages, balances");
    let mut ids = BTreeSet::new();
    for r in &requests {
        let id = r
            .headers
            .get("X-Request-ID")
            .expect("X-Request-ID")
            .to_str()
            .unwrap();
        let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
        assert_eq!(uuid.get_version_num(), 4);
        assert!(ids.insert(id.to_string()), "X-Request-ID reused");
        assert_eq!(r.headers.get("Consent-ID").unwrap(), "consent-abc");
        assert!(
            r.headers.get("PSU-IP-Address").is_none(),
            "unattended calls carry no PSU-IP-Address"
        );
    }
}

#[tokio::test]
async fn psu_ip_address_only_when_configured_and_then_no_quota() {
    let server = bank().await;
    transactions(&server, report(vec![], vec![], None)).await;
    let mut cfg = config(&server);
    cfg.psu_ip_address = Some("192.168.8.78".parse().unwrap());
    let c = connector(cfg, fixed_clock(NOW));
    let store = Arc::new(MemoryStore::default());
    let mut account = Account::new("consent-abc");
    // Even with a quota used up, an attended read goes ahead and is not logged.
    let mut creds = ConsentCredentials::new("consent-abc");
    creds.reads = (1..=4)
        .map(|h| format!("2026-11-20T0{h}:00:00Z").parse().unwrap())
        .collect();
    account.secret = creds.to_secret();
    account.sync(&c, &store).await.unwrap();
    assert!(store.saved.lock().unwrap().is_empty());
    for r in server.received_requests().await.unwrap() {
        assert_eq!(r.headers.get("PSU-IP-Address").unwrap(), "192.168.8.78");
    }
}

#[tokio::test]
async fn pending_booked_under_a_new_id_is_replaced_and_overlap_catches_late_rows() {
    let server = bank().await;
    transactions(
        &server,
        report(
            vec![tx(
                Some("b0"),
                "-1.00",
                "Old",
                Some("2026-11-18"),
                "2026-11-18",
            )],
            vec![tx(Some("p-77"), "-49.99", "Northwind", None, "2026-11-19")],
            None,
        ),
    )
    .await;
    let store = Arc::new(MemoryStore::default());
    let mut account = Account::new("consent-abc");
    account
        .sync(&connector(config(&server), fixed_clock(NOW)), &store)
        .await
        .unwrap();
    assert!(account.rows.contains_key(&format!("{IBAN}/p-77")));

    // Two days later: booked under a new id, plus a row back-dated into the overlap.
    server.reset().await;
    let server2 = &server;
    Mock::given(method("GET"))
        .and(path("/v1/accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(account_list()))
        .mount(server2)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/accounts/res-1/balances"))
        .respond_with(ResponseTemplate::new(200).set_body_json(balances()))
        .mount(server2)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/accounts/res-1/transactions"))
        .and(query_param("dateFrom", "2026-11-17"))
        .respond_with(ResponseTemplate::new(200).set_body_json(report(
            vec![
                tx(Some("b0"), "-1.00", "Old", Some("2026-11-18"), "2026-11-18"),
                tx(
                    Some("late-1"),
                    "-5.00",
                    "Utility",
                    Some("2026-11-18"),
                    "2026-11-18",
                ),
                tx(
                    Some("B-77"),
                    "-49.99",
                    "NORTHWIND",
                    Some("2026-11-21"),
                    "2026-11-21",
                ),
            ],
            vec![],
            None,
        )))
        .expect(1)
        .mount(server2)
        .await;
    account
        .sync(
            &connector(config(&server), fixed_clock("2026-11-22T12:00:00Z")),
            &store,
        )
        .await
        .unwrap();
    assert_eq!(account.removed, [format!("{IBAN}/p-77")]);
    assert_eq!(
        account.ids(),
        [
            format!("{IBAN}/B-77"),
            format!("{IBAN}/b0"),
            format!("{IBAN}/late-1")
        ]
    );
    assert_eq!(
        account.rows[&format!("{IBAN}/B-77")].booking,
        BookingStatus::Booked
    );
}

#[tokio::test]
async fn rows_without_transaction_id_keep_their_id_across_reads() {
    let body = report(
        vec![
            tx(None, "-2.00", "Bakery", Some("2026-11-19"), "2026-11-19"),
            tx(None, "-2.00", "Bakery", Some("2026-11-19"), "2026-11-19"),
        ],
        vec![],
        None,
    );
    let mut seen = Vec::new();
    for _ in 0..2 {
        let server = bank().await;
        transactions(&server, body.clone()).await;
        let store = Arc::new(MemoryStore::default());
        let mut account = Account::new("consent-abc");
        account
            .sync(&connector(config(&server), fixed_clock(NOW)), &store)
            .await
            .unwrap();
        assert_eq!(account.rows.len(), 2, "two identical rows stay two rows");
        seen.push(account.ids());
    }
    assert_eq!(seen[0], seen[1]);
    assert!(
        seen[0]
            .iter()
            .all(|id| id.starts_with(&format!("{IBAN}/h-"))),
        "{:?}",
        seen[0]
    );
}

#[tokio::test]
async fn the_quota_stops_before_calling_the_bank_and_reads_are_logged() {
    let server = bank().await;
    transactions(&server, report(vec![], vec![], None)).await;
    let store = Arc::new(MemoryStore::default());
    let c = connector(config(&server), fixed_clock(NOW));
    let mut account = Account::new("consent-abc");
    for _ in 0..4 {
        account.sync(&c, &store).await.unwrap();
    }
    let calls = server.received_requests().await.unwrap().len();
    let doc: Value =
        serde_json::from_str(&store.saved.lock().unwrap().last().unwrap().clone()).unwrap();
    assert_eq!(doc["reads"].as_array().unwrap().len(), 4);
    assert_eq!(doc["consent_id"], "consent-abc");
    let err = account.sync(&c, &store).await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::QuotaExhausted {
            next_allowed: "2026-11-21T12:00:00Z".parse().unwrap()
        }
    );
    assert!(err.stops_account());
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        calls,
        "no call once the quota is used"
    );

    // A granted frequency lower than the config's wins.
    let mut creds = ConsentCredentials::new("consent-abc");
    creds.frequency_per_day = Some(1);
    creds.reads = vec!["2026-11-20T03:00:00Z".parse().unwrap()];
    let mut other = Account::new("consent-abc");
    other.secret = creds.to_secret();
    let err = other.sync(&c, &store).await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::QuotaExhausted {
            next_allowed: "2026-11-21T03:00:00Z".parse().unwrap()
        }
    );
}

async fn error_for(status: u16, body: Value, psu_ip: bool) -> ConnectorError {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/accounts"))
        .respond_with(
            ResponseTemplate::new(status)
                .set_body_json(body)
                .insert_header("Retry-After", "7"),
        )
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    if psu_ip {
        cfg.psu_ip_address = Some("10.1.2.3".parse().unwrap());
    }
    let store = Arc::new(MemoryStore::default());
    let mut account = Account::new("consent-abc");
    account
        .sync(&connector(cfg, fixed_clock(NOW)), &store)
        .await
        .unwrap_err()
}

fn tpp(code: &str) -> Value {
    json!({"tppMessages": [{"category": "ERROR", "code": code, "text": format!("{code} text")}]})
}

#[tokio::test]
async fn every_tpp_message_code_maps_to_a_typed_error() {
    let cases: &[(u16, &str, ErrorKind)] = &[
        (401, "CONSENT_EXPIRED", ErrorKind::ReauthRequired),
        (401, "CONSENT_INVALID", ErrorKind::ReauthRequired),
        (403, "CONSENT_UNKNOWN", ErrorKind::ReauthRequired),
        (403, "SERVICE_BLOCKED", ErrorKind::ReauthRequired),
        (400, "FORMAT_ERROR", ErrorKind::Permanent),
        (400, "PERIOD_INVALID", ErrorKind::Permanent),
        (401, "CERTIFICATE_INVALID", ErrorKind::Permanent),
        (403, "RESOURCE_UNKNOWN", ErrorKind::Permanent),
        (405, "SERVICE_INVALID", ErrorKind::OutOfScope),
        (409, "STATUS_INVALID", ErrorKind::Retryable),
        (500, "INTERNAL_SERVER_ERROR", ErrorKind::Retryable),
        (503, "SERVICE_UNAVAILABLE", ErrorKind::Retryable),
    ];
    for (status, code, kind) in cases {
        let err = error_for(*status, tpp(code), false).await;
        assert_eq!(err.kind(), *kind, "{status} {code}: {err}");
        assert!(
            err.to_string().contains(code) || *kind == ErrorKind::QuotaExhausted,
            "{err}"
        );
    }
    // RFC 7807 bodies carry the code too.
    let err = error_for(
        401,
        json!({"type": "t", "title": "x", "code": "CONSENT_EXPIRED"}),
        false,
    )
    .await;
    assert_eq!(err.kind(), ErrorKind::ReauthRequired);
}

#[tokio::test]
async fn access_exceeded_stops_unattended_reads_but_is_retried_when_attended() {
    let err = error_for(429, tpp("ACCESS_EXCEEDED"), false).await;
    // The bank's Retry-After (7 s) says when.
    assert_eq!(
        err,
        ConnectorError::QuotaExhausted {
            next_allowed: "2026-11-20T12:00:07Z".parse().unwrap()
        }
    );
    let err = error_for(429, tpp("ACCESS_EXCEEDED"), true).await;
    match err {
        ConnectorError::Retryable { retry_after, .. } => {
            assert_eq!(retry_after, Some(std::time::Duration::from_secs(7)))
        }
        other => panic!("{other:?}"),
    }
    // The specification's own 429 example is a bare array.
    let err = error_for(
        429,
        json!([{"category": "ERROR", "code": "ACCESS_EXCEEDED"}]),
        false,
    )
    .await;
    assert_eq!(err.kind(), ErrorKind::QuotaExhausted);
}

#[tokio::test]
async fn consent_expiry_on_reads_requires_reauth() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(account_list()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/accounts/res-1/transactions"))
        .respond_with(ResponseTemplate::new(401).set_body_json(tpp("CONSENT_EXPIRED")))
        .mount(&server)
        .await;
    let store = Arc::new(MemoryStore::default());
    let mut account = Account::new("consent-abc");
    let err = account
        .sync(&connector(config(&server), fixed_clock(NOW)), &store)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReauthRequired);
    assert!(err.stops_account());
    assert!(
        !err.to_string().contains("consent-abc"),
        "no consent id in errors: {err}"
    );
}

#[tokio::test]
async fn more_decimals_than_the_currency_is_a_malformed_page_naming_the_field() {
    let server = bank().await;
    transactions(
        &server,
        report(
            vec![tx(
                Some("b1"),
                "-1.005",
                "X",
                Some("2026-11-19"),
                "2026-11-19",
            )],
            vec![],
            None,
        ),
    )
    .await;
    let store = Arc::new(MemoryStore::default());
    let mut account = Account::new("consent-abc");
    let err = account
        .sync(&connector(config(&server), fixed_clock(NOW)), &store)
        .await
        .unwrap_err();
    match &err {
        ConnectorError::Malformed {
            stream,
            object_id,
            message,
            correlation_id,
        } => {
            assert_eq!(*stream, Stream::BalanceEntries);
            assert_eq!(object_id.as_deref(), Some("b1"));
            assert_eq!(
                message,
                "transactions.booked[0].transactionAmount.amount: \"-1.005\" has 3 decimals but EUR has 2"
            );
            assert!(correlation_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(account.rows.is_empty(), "nothing of the page was used");
}

#[tokio::test]
async fn a_gone_page_link_restarts_the_report_once() {
    let server = bank().await;
    Mock::given(method("GET"))
        .and(path("/v1/accounts/res-1/transactions"))
        .and(query_param("pageIndex", "1"))
        .respond_with(ResponseTemplate::new(404).set_body_json(tpp("RESOURCE_UNKNOWN")))
        .mount(&server)
        .await;
    transactions(
        &server,
        report(
            vec![tx(Some("b1"), "-1.00", "One", Some("2026-11-19"), "2026-11-19")],
            vec![],
            Some("/v1/accounts/res-1/transactions?bookingStatus=both&dateFrom=2026-08-22&pageIndex=1"),
        ),
    )
    .await;
    let store = Arc::new(MemoryStore::default());
    let mut account = Account::new("consent-abc");
    let err = account
        .sync(&connector(config(&server), fixed_clock(NOW)), &store)
        .await
        .unwrap_err();
    // First page, gone link, first page again, gone link again: then it gives up.
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    let pages: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().ends_with("/transactions"))
        .collect();
    assert_eq!(pages.len(), 4);
}

#[tokio::test]
async fn other_streams_are_out_of_scope_and_a_foreign_cursor_expires() {
    let server = bank().await;
    let store = Arc::new(MemoryStore::default());
    let account = Account::new("consent-abc");
    let c = connector(config(&server), fixed_clock(NOW));
    let mut session = account.open(&c, &store).await.unwrap();
    let err = session.pull(Stream::Purchases, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutOfScope);
    let err = session
        .pull(Stream::BalanceEntries, Some("{\"updated_after\":1}"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::CursorExpired {
            stream: Stream::BalanceEntries
        }
    );
    let bad = bnpl_core::AccountCredentials {
        account_id: "x".into(),
        secret: SecretString::from("{}".to_string()),
    };
    use bnpl_core::Connector as _;
    let err = match c.open(bad, store.clone()).await {
        Err(e) => e,
        Ok(_) => panic!("credentials without consent_id must not open"),
    };
    assert_eq!(err.kind(), ErrorKind::ReauthRequired);
}
