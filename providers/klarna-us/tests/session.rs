//! The Klarna US session against a wiremock server speaking the contract
//! (shared/contracts/klarna-us-session.md, sections 1–3).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bnpl_core::retry::RetryPolicy;
use bnpl_core::{
    AccountCredentials, AccountSession, Connector, ConnectorError, CredentialStore, ErrorKind,
    MAIN_LEDGER, Page, ProviderContext, Records, SnapshotData, Stream,
};
use bnpl_provider_klarna_us::{KlarnaUs, KlarnaUsConfig};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use wiremock::matchers::{
    body_json, header, header_exists, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const REFRESH: &str = "/auth/v1/token/refresh";
const PURCHASES: &str = "/consumer/v2/purchases";
const USER_AGENT: &str = "bnpl-test/0.1";
const PURCHASE: &str = include_str!("fixtures/purchase.json");

// --- harness -------------------------------------------------------------------

type Log = Arc<Mutex<Vec<String>>>;

/// A credential store that records every save in a shared event log and can
/// be told to fail the next saves.
#[derive(Default)]
struct RecordingStore {
    log: Log,
    fail_next: AtomicU32,
    saved: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl CredentialStore for RecordingStore {
    async fn save(&self, account_id: &str, secret: &SecretString) -> Result<(), ConnectorError> {
        let doc: Value = serde_json::from_str(secret.expose_secret()).unwrap();
        let failing = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        self.log.lock().unwrap().push(format!(
            "save {}{}",
            doc["refresh_token"].as_str().unwrap(),
            if failing { " (failed)" } else { "" }
        ));
        if failing {
            return Err(ConnectorError::CredentialStore("disk full".into()));
        }
        self.saved
            .lock()
            .unwrap()
            .push((account_id.to_string(), secret.expose_secret().to_string()));
        Ok(())
    }
}

/// Answers with `template` and records the request in the shared event log:
/// `refresh <refresh_token>` or `GET <path> <access token>`.
struct Logged {
    log: Log,
    template: ResponseTemplate,
}

impl Respond for Logged {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let entry = if request.url.path() == REFRESH {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            format!("refresh {}", body["refresh_token"].as_str().unwrap())
        } else {
            let auth = request
                .headers
                .get("authorization")
                .map(|v| {
                    v.to_str()
                        .unwrap()
                        .trim_start_matches("Bearer ")
                        .to_string()
                })
                .unwrap_or_default();
            format!("GET {} {auth}", request.url.path())
        };
        self.log.lock().unwrap().push(entry);
        self.template.clone()
    }
}

fn connector(server: &MockServer, tweak: impl FnOnce(&mut KlarnaUsConfig)) -> KlarnaUs {
    // A trailing slash on the base URL is tolerated.
    let mut config = KlarnaUsConfig::new(format!("{}/", server.uri()));
    tweak(&mut config);
    let context = ProviderContext {
        user_agent: USER_AGENT.into(),
        request_timeout: Duration::from_secs(10),
    };
    KlarnaUs::from_config(config, &context).unwrap()
}

async fn open(connector: &KlarnaUs, store: Arc<dyn CredentialStore>) -> Box<dyn AccountSession> {
    connector
        .open(
            AccountCredentials {
                account_id: "acct-1".into(),
                secret: SecretString::from(r#"{"refresh_token":"rt_1","device_id":"dev-1"}"#),
            },
            store,
        )
        .await
        .unwrap()
}

async fn session(server: &MockServer) -> Box<dyn AccountSession> {
    open(
        &connector(server, |_| {}),
        Arc::new(RecordingStore::default()),
    )
    .await
}

fn token(access: &str, expires_in: u64, rotated: Option<&str>) -> ResponseTemplate {
    let mut body = json!({ "access_token": access, "expires_in": expires_in });
    if let Some(rt) = rotated {
        body["refresh_token"] = json!(rt);
    }
    ResponseTemplate::new(200)
        .insert_header("X-Correlation-Id", "corr-token")
        .set_body_json(body)
}

/// A refresh endpoint that accepts `rt_1` from `dev-1` and hands out `at_1`.
async fn mount_refresh(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .and(body_json(
            json!({ "refresh_token": "rt_1", "device_id": "dev-1" }),
        ))
        .respond_with(token("at_1", 1800, None))
        .mount(server)
        .await;
}

fn page(key: &str, rows: Vec<Value>, next_cursor: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("X-Correlation-Id", "corr-page")
        .set_body_json(json!({ key: rows, "next_cursor": next_cursor }))
}

fn purchase() -> Value {
    serde_json::from_str(PURCHASE).unwrap()
}

fn api_error(status: u16, code: &str, correlation_id: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("X-Correlation-Id", correlation_id)
        .set_body_json(json!({
            "error_code": code,
            "error_messages": [format!("{code} happened")],
            "correlation_id": correlation_id,
        }))
}

fn log_of(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// A minimal stand-in for the sync engine's retry loop: it retries exactly
/// what `RetryPolicy::delay` says (jitter 0), sleeping for real, and returns
/// the waits it made.
async fn pull_with_retries(
    policy: &RetryPolicy,
    session: &mut dyn AccountSession,
    stream: Stream,
    cursor: Option<&str>,
) -> (Result<Page, ConnectorError>, Vec<Duration>) {
    let mut waits = Vec::new();
    for attempt in 0.. {
        match session.pull(stream, cursor).await {
            Ok(page) => return (Ok(page), waits),
            Err(error) => match policy.delay(attempt, &error, 0.0) {
                Some(wait) => {
                    waits.push(wait);
                    tokio::time::sleep(wait).await;
                }
                None => return (Err(error), waits),
            },
        }
    }
    unreachable!()
}

// --- session and token rotation ----------------------------------------------------

#[tokio::test]
async fn a_rotated_token_is_saved_before_the_new_access_token_is_used() {
    let server = MockServer::start().await;
    let store = Arc::new(RecordingStore::default());
    let log = store.log.clone();
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .and(body_json(
            json!({ "refresh_token": "rt_1", "device_id": "dev-1" }),
        ))
        .respond_with(Logged {
            log: log.clone(),
            template: token("at_2", 1800, Some("rt_2")),
        })
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .and(header("authorization", "Bearer at_2"))
        .respond_with(Logged {
            log: log.clone(),
            template: page("purchases", vec![], "c0"),
        })
        .expect(2)
        .mount(&server)
        .await;

    let mut s = open(&connector(&server, |_| {}), store.clone()).await;
    assert!(log_of(&log).is_empty(), "open signs in lazily");
    s.pull(Stream::Purchases, None).await.unwrap();
    s.pull(Stream::Purchases, Some("c0")).await.unwrap();

    assert_eq!(
        log_of(&log),
        [
            "refresh rt_1",
            "save rt_2",
            "GET /consumer/v2/purchases at_2",
            "GET /consumer/v2/purchases at_2",
        ]
    );
    let saved = store.saved.lock().unwrap().clone();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].0, "acct-1");
    let doc: Value = serde_json::from_str(&saved[0].1).unwrap();
    assert_eq!(
        doc,
        json!({ "refresh_token": "rt_2", "device_id": "dev-1" })
    );
    server.verify().await;
}

#[tokio::test]
async fn a_failed_save_stops_use_of_the_new_token_until_it_is_saved() {
    let server = MockServer::start().await;
    let store = Arc::new(RecordingStore::default());
    store.fail_next.store(1, Ordering::SeqCst);
    let log = store.log.clone();
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .respond_with(Logged {
            log: log.clone(),
            template: token("at_2", 1800, Some("rt_2")),
        })
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .respond_with(Logged {
            log: log.clone(),
            template: page("purchases", vec![], "c0"),
        })
        .expect(1)
        .mount(&server)
        .await;

    let mut s = open(&connector(&server, |_| {}), store.clone()).await;
    let err = s.pull(Stream::Purchases, None).await.unwrap_err();
    assert_eq!(err, ConnectorError::CredentialStore("disk full".into()));
    assert_eq!(
        log_of(&log),
        ["refresh rt_1", "save rt_2 (failed)"],
        "no data call after a failed save"
    );

    // The rotation stays pending in the session: the next call saves it
    // first, then uses the access token that came with it (no new refresh:
    // rt_1 is dead).
    s.pull(Stream::Purchases, None).await.unwrap();
    assert_eq!(
        log_of(&log),
        [
            "refresh rt_1",
            "save rt_2 (failed)",
            "save rt_2",
            "GET /consumer/v2/purchases at_2",
        ]
    );
    server.verify().await;
}

/// `expires_in` 2 s; whether the token is refreshed after 1.2 s depends only
/// on `refresh_ahead_secs`.
async fn run_refresh_ahead(refresh_ahead_secs: u64) -> Vec<String> {
    let server = MockServer::start().await;
    let store = Arc::new(RecordingStore::default());
    let log = store.log.clone();
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .and(body_json(
            json!({ "refresh_token": "rt_1", "device_id": "dev-1" }),
        ))
        .respond_with(Logged {
            log: log.clone(),
            template: token("at_1", 2, Some("rt_2")),
        })
        .expect(1)
        .mount(&server)
        .await;
    // The second refresh presents the rotated token.
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .and(body_json(
            json!({ "refresh_token": "rt_2", "device_id": "dev-1" }),
        ))
        .respond_with(Logged {
            log: log.clone(),
            template: token("at_2", 1800, None),
        })
        .expect(u64::from(refresh_ahead_secs > 0))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .respond_with(Logged {
            log: log.clone(),
            template: page("purchases", vec![], "c0"),
        })
        .expect(2)
        .mount(&server)
        .await;

    let conn = connector(&server, |c| c.refresh_ahead_secs = refresh_ahead_secs);
    let mut s = open(&conn, store).await;
    s.pull(Stream::Purchases, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    s.pull(Stream::Purchases, None).await.unwrap();
    server.verify().await;
    log_of(&log)
}

#[tokio::test]
async fn the_token_is_refreshed_ahead_of_expiry() {
    assert_eq!(
        run_refresh_ahead(1).await,
        [
            "refresh rt_1",
            "save rt_2",
            "GET /consumer/v2/purchases at_1",
            "refresh rt_2",
            "GET /consumer/v2/purchases at_2",
        ]
    );
}

#[tokio::test]
async fn a_token_not_yet_due_is_reused() {
    assert_eq!(
        run_refresh_ahead(0).await,
        [
            "refresh rt_1",
            "save rt_2",
            "GET /consumer/v2/purchases at_1",
            "GET /consumer/v2/purchases at_1",
        ]
    );
}

#[tokio::test]
async fn invalid_auth_token_refreshes_once_and_replays_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .respond_with(token("at_1", 1800, None))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .respond_with(token("at_2", 1800, None))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .and(header("authorization", "Bearer at_1"))
        .respond_with(api_error(401, "INVALID_AUTH_TOKEN", "corr-401"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .and(header("authorization", "Bearer at_2"))
        .respond_with(page("purchases", vec![purchase()], "c1"))
        .expect(1)
        .mount(&server)
        .await;

    let mut s = session(&server).await;
    let page = s.pull(Stream::Purchases, None).await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.next_cursor, "c1");
    server.verify().await;
}

#[tokio::test]
async fn a_second_invalid_auth_token_is_an_error_not_a_loop() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .respond_with(token("at_1", 1800, None))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .respond_with(api_error(401, "INVALID_AUTH_TOKEN", "corr-401"))
        .expect(2)
        .mount(&server)
        .await;

    let mut s = session(&server).await;
    let err = s.pull(Stream::Purchases, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthExpired, "{err}");
    assert!(err.to_string().contains("corr-401"), "{err}");
    server.verify().await;
}

async fn reauth_case(
    refresh: ResponseTemplate,
    data: Option<ResponseTemplate>,
    refreshes: u64,
) -> ConnectorError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .respond_with(refresh)
        .expect(refreshes)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .respond_with(data.clone().unwrap_or_else(|| ResponseTemplate::new(200)))
        .expect(u64::from(data.is_some()))
        .mount(&server)
        .await;
    let mut s = session(&server).await;
    let err = s.pull(Stream::Purchases, None).await.unwrap_err();
    server.verify().await;
    err
}

#[tokio::test]
async fn invalid_grant_and_device_mismatch_require_reauth() {
    // On the refresh itself: no data call is made.
    for (status, code) in [(401, "INVALID_GRANT"), (403, "DEVICE_MISMATCH")] {
        let err = reauth_case(api_error(status, code, "corr-r"), None, 1).await;
        assert_eq!(
            err.kind(),
            ErrorKind::ReauthRequired,
            "{status} {code}: {err}"
        );
        assert!(err.stops_account());
        assert!(
            err.to_string().contains(code) && err.to_string().contains("corr-r"),
            "{err}"
        );
    }
    // On a data call: no refresh is attempted for them.
    for (status, code) in [(401, "INVALID_GRANT"), (403, "DEVICE_MISMATCH")] {
        let err = reauth_case(
            token("at_1", 1800, None),
            Some(api_error(status, code, "corr-d")),
            1,
        )
        .await;
        assert_eq!(
            err.kind(),
            ErrorKind::ReauthRequired,
            "{status} {code}: {err}"
        );
        assert!(err.to_string().contains("corr-d"), "{err}");
    }
}

#[tokio::test]
async fn unusable_stored_credentials_fail_open_without_a_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token("at", 1, None))
        .expect(0)
        .mount(&server)
        .await;
    let conn = connector(&server, |_| {});
    let result = conn
        .open(
            AccountCredentials {
                account_id: "acct-1".into(),
                secret: SecretString::from(r#"{"refresh_token":"rt_1"}"#),
            },
            Arc::new(RecordingStore::default()),
        )
        .await;
    let Err(err) = result else {
        panic!("open accepted broken credentials")
    };
    assert_eq!(err.kind(), ErrorKind::ReauthRequired);
    assert!(
        err.to_string().contains("credentials.device_id: missing"),
        "{err}"
    );
    server.verify().await;
}

#[tokio::test]
async fn a_malformed_token_answer_is_malformed_on_the_stream() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Correlation-Id", "corr-tok")
                .set_body_json(json!({ "expires_in": 1800 })),
        )
        .mount(&server)
        .await;
    let mut s = session(&server).await;
    let err = s.snapshot(Stream::Profile).await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Malformed {
            stream: Stream::Profile,
            object_id: None,
            message: "token answer: missing field `access_token`".into(),
            correlation_id: Some("corr-tok".into()),
        }
    );
}

// --- requests ----------------------------------------------------------------------

#[tokio::test]
async fn paging_passes_updated_after_and_page_size_exactly() {
    let server = MockServer::start().await;
    mount_refresh(&server).await;
    let cursor = "Y3Vy+c29y/OjE2==&x=1";
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .and(query_param_is_missing("updated_after"))
        .and(query_param("page_size", "25"))
        .respond_with(page("purchases", vec![purchase()], cursor))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .and(query_param("updated_after", cursor))
        .and(query_param("page_size", "25"))
        .respond_with(page("purchases", vec![], cursor))
        .expect(1)
        .mount(&server)
        .await;

    let mut s = open(
        &connector(&server, |c| c.page_size = 25),
        Arc::new(RecordingStore::default()),
    )
    .await;
    let first = s.pull(Stream::Purchases, None).await.unwrap();
    assert!(!first.caught_up);
    assert_eq!(first.next_cursor, cursor);
    assert!(first.removed.is_empty());
    let second = s
        .pull(Stream::Purchases, Some(&first.next_cursor))
        .await
        .unwrap();
    assert!(second.caught_up, "an empty array means caught up");
    assert!(second.records.is_empty());
    assert_eq!(second.next_cursor, cursor);

    // Nothing but the two parameters, the cursor passed through untouched.
    let requests = server.received_requests().await.unwrap();
    let queries: Vec<Vec<(String, String)>> = requests
        .iter()
        .filter(|r| r.url.path() == PURCHASES)
        .map(|r| {
            r.url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .collect();
    assert_eq!(
        queries,
        vec![
            vec![("page_size".to_string(), "25".to_string())],
            vec![
                ("updated_after".to_string(), cursor.to_string()),
                ("page_size".to_string(), "25".to_string())
            ],
        ]
    );
    server.verify().await;
}

#[tokio::test]
async fn the_default_page_size_is_50() {
    let server = MockServer::start().await;
    mount_refresh(&server).await;
    Mock::given(method("GET"))
        .and(path("/consumer/v2/deliveries"))
        .and(query_param("page_size", "50"))
        .respond_with(page("deliveries", vec![], ""))
        .expect(1)
        .mount(&server)
        .await;
    let mut s = session(&server).await;
    assert!(s.pull(Stream::Deliveries, None).await.unwrap().caught_up);
    server.verify().await;
}

/// Every stream end to end with its fixture: the data call carries the bearer
/// token, the bound device id and the user agent; the refresh call carries
/// neither token header.
#[tokio::test]
async fn every_stream_maps_its_fixture_with_the_required_headers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .and(header("user-agent", USER_AGENT))
        .and(header("content-type", "application/json"))
        .and(body_json(
            json!({ "refresh_token": "rt_1", "device_id": "dev-1" }),
        ))
        .respond_with(token("at_1", 1800, None))
        .expect(1)
        .mount(&server)
        .await;
    let purchases_page = json!({ "purchases": [purchase()], "next_cursor": "c_p" }).to_string();
    let fixtures: [(&str, String); 8] = [
        (PURCHASES, purchases_page),
        (
            "/consumer/v2/card/transactions",
            include_str!("fixtures/card_transactions_page.json").into(),
        ),
        (
            "/consumer/v2/balance/transactions",
            include_str!("fixtures/balance_entries_page.json").into(),
        ),
        (
            "/consumer/v2/rewards/transactions",
            include_str!("fixtures/points_entries_page.json").into(),
        ),
        (
            "/consumer/v2/deliveries",
            include_str!("fixtures/deliveries_page.json").into(),
        ),
        (
            "/consumer/v2/balance",
            include_str!("fixtures/balance.json").into(),
        ),
        (
            "/consumer/v2/rewards",
            include_str!("fixtures/rewards.json").into(),
        ),
        (
            "/consumer/v2/profile",
            include_str!("fixtures/profile.json").into(),
        ),
    ];
    for (p, body) in &fixtures {
        Mock::given(method("GET"))
            .and(path(*p))
            .and(header("authorization", "Bearer at_1"))
            .and(header("x-device-id", "dev-1"))
            .and(header("user-agent", USER_AGENT))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json"))
            .expect(1)
            .mount(&server)
            .await;
    }

    let mut s = session(&server).await;
    let Records::Purchases(p) = s.pull(Stream::Purchases, None).await.unwrap().records else {
        panic!()
    };
    assert_eq!(p[0].id, "p_8fa3c1");
    assert_eq!(
        p[0].plan
            .installments
            .iter()
            .map(|i| i.amount_minor)
            .sum::<i64>(),
        4999
    );
    let Records::CardTransactions(c) = s
        .pull(Stream::CardTransactions, None)
        .await
        .unwrap()
        .records
    else {
        panic!()
    };
    assert_eq!((c.len(), c[1].auth_id.as_deref()), (2, Some("au_77")));
    let Records::BalanceEntries(b) = s.pull(Stream::BalanceEntries, None).await.unwrap().records
    else {
        panic!()
    };
    assert!(b.iter().all(|e| e.ledger == MAIN_LEDGER));
    let Records::PointsEntries(pe) = s.pull(Stream::PointsEntries, None).await.unwrap().records
    else {
        panic!()
    };
    assert_eq!(pe[1].balance_entry_id.as_deref(), Some("be_2"));
    let Records::Deliveries(d) = s.pull(Stream::Deliveries, None).await.unwrap().records else {
        panic!()
    };
    assert_eq!(d[0].carrier, "UPS");
    let SnapshotData::Balance(bal) = s.snapshot(Stream::Balance).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        bal[0].amount.minor,
        b.iter().map(|e| e.amount.minor).sum::<i64>()
    );
    assert_eq!(bal[0].balance_type, "available");
    let SnapshotData::Points(pts) = s.snapshot(Stream::Points).await.unwrap() else {
        panic!()
    };
    assert_eq!(pts.points, pe.iter().map(|e| e.points).sum::<i64>());
    let SnapshotData::Profile(profile) = s.snapshot(Stream::Profile).await.unwrap() else {
        panic!()
    };
    assert_eq!(profile.refunds_to_balance, Some(true));

    let requests = server.received_requests().await.unwrap();
    let refresh = requests.iter().find(|r| r.url.path() == REFRESH).unwrap();
    assert!(refresh.headers.get("authorization").is_none());
    assert!(refresh.headers.get("x-device-id").is_none());
    server.verify().await;
}

#[tokio::test]
async fn wrong_stream_kinds_fail_without_a_request() {
    let server = MockServer::start().await;
    Mock::given(header_exists("user-agent"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let mut s = session(&server).await;
    assert_eq!(
        s.pull(Stream::Profile, None).await.unwrap_err().kind(),
        ErrorKind::Permanent
    );
    assert_eq!(
        s.snapshot(Stream::Purchases).await.unwrap_err().kind(),
        ErrorKind::Permanent
    );
    server.verify().await;
}

// --- error table -----------------------------------------------------------------------

/// One data answer for `pull(purchases, cursor)` after a good refresh.
async fn pull_error(answer: ResponseTemplate, cursor: Option<&str>) -> ConnectorError {
    let server = MockServer::start().await;
    mount_refresh(&server).await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .respond_with(answer)
        .expect(1)
        .mount(&server)
        .await;
    let mut s = session(&server).await;
    let err = s.pull(Stream::Purchases, cursor).await.unwrap_err();
    server.verify().await;
    err
}

#[tokio::test]
async fn client_errors_are_permanent_or_out_of_scope() {
    let err = pull_error(api_error(400, "BAD_VALUE", "corr-400"), Some("c")).await;
    assert_eq!(
        err,
        ConnectorError::Permanent {
            message: "GET /consumer/v2/purchases: HTTP 400 BAD_VALUE: BAD_VALUE happened".into(),
            correlation_id: Some("corr-400".into()),
        }
    );
    let err = pull_error(api_error(403, "NOT_ALLOWED", "corr-403"), None).await;
    assert_eq!(err.kind(), ErrorKind::OutOfScope);
    assert!(!err.stops_account(), "only this stream stops");
    assert!(err.to_string().contains("corr-403"), "{err}");
    let err = pull_error(api_error(404, "NOT_FOUND", "corr-404"), None).await;
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(err.to_string().contains("corr-404"), "{err}");
}

#[tokio::test]
async fn conflict_is_retryable() {
    let err = pull_error(api_error(409, "CONFLICT", "corr-409"), None).await;
    assert_eq!(
        err,
        ConnectorError::Retryable {
            message: "GET /consumer/v2/purchases: HTTP 409 CONFLICT: CONFLICT happened".into(),
            retry_after: None,
            correlation_id: Some("corr-409".into()),
        }
    );
}

#[tokio::test]
async fn an_expired_cursor_restarts_the_stream() {
    let err = pull_error(api_error(410, "CURSOR_EXPIRED", "corr-410"), Some("old")).await;
    assert_eq!(
        err,
        ConnectorError::CursorExpired {
            stream: Stream::Purchases
        }
    );
    // Without a cursor there is nothing to restart from: not a loop.
    let err = pull_error(api_error(410, "CURSOR_EXPIRED", "corr-410"), None).await;
    assert_eq!(err.kind(), ErrorKind::Permanent);
}

#[tokio::test]
async fn server_errors_are_retryable_without_a_wait_of_their_own() {
    for (status, code) in [
        (500, "INTERNAL_SERVER_ERROR"),
        (500, "UNEXPECTED_ERROR"),
        (502, "TEMPORARILY_UNAVAILABLE"),
        (503, "TEMPORARILY_UNAVAILABLE"),
        (504, "TEMPORARILY_UNAVAILABLE"),
    ] {
        let err = pull_error(api_error(status, code, "corr-5xx"), None).await;
        let ConnectorError::Retryable {
            retry_after,
            correlation_id,
            message,
        } = err
        else {
            panic!("{status}: {err:?}")
        };
        assert_eq!(retry_after, None, "{status}");
        assert_eq!(correlation_id.as_deref(), Some("corr-5xx"));
        assert!(
            message.contains(&format!("HTTP {status} {code}")),
            "{message}"
        );
    }
    // A proxy's HTML page is still a 502.
    let err = pull_error(
        ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"),
        None,
    )
    .await;
    assert_eq!(err.kind(), ErrorKind::Retryable);
}

#[tokio::test]
async fn the_correlation_id_comes_from_the_body_when_the_header_is_missing() {
    let answer = ResponseTemplate::new(503).set_body_json(json!({
        "error_code": "TEMPORARILY_UNAVAILABLE", "error_messages": [], "correlation_id": "corr-body"
    }));
    let ConnectorError::Retryable { correlation_id, .. } = pull_error(answer, None).await else {
        panic!()
    };
    assert_eq!(correlation_id.as_deref(), Some("corr-body"));
}

#[tokio::test]
async fn too_many_requests_carries_retry_after_and_the_engine_waits_at_least_that() {
    let server = MockServer::start().await;
    mount_refresh(&server).await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .respond_with(
            api_error(429, "TOO_MANY_REQUESTS", "corr-429").insert_header("Retry-After", "1"),
        )
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .respond_with(page("purchases", vec![purchase()], "c1"))
        .expect(1)
        .mount(&server)
        .await;
    let mut s = session(&server).await;

    // What the engine gets: the provider's wait, exactly.
    let err = s.pull(Stream::Purchases, None).await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Retryable {
            message:
                "GET /consumer/v2/purchases: HTTP 429 TOO_MANY_REQUESTS: TOO_MANY_REQUESTS happened"
                    .into(),
            retry_after: Some(Duration::from_secs(1)),
            correlation_id: Some("corr-429".into()),
        }
    );

    // What an engine loop driven by RetryPolicy does with it.
    let policy = RetryPolicy {
        base_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    let started = Instant::now();
    let (result, waits) = pull_with_retries(&policy, s.as_mut(), Stream::Purchases, None).await;
    assert_eq!(result.unwrap().next_cursor, "c1");
    assert_eq!(waits.len(), 1);
    assert!(waits[0] >= Duration::from_secs(1), "{waits:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    server.verify().await;
}

#[tokio::test]
async fn retry_after_may_be_an_http_date() {
    let at = chrono::Utc::now() + chrono::Duration::seconds(5);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let err = pull_error(
        api_error(429, "TOO_MANY_REQUESTS", "c").insert_header("Retry-After", date.as_str()),
        None,
    )
    .await;
    let ConnectorError::Retryable {
        retry_after: Some(wait),
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert!(
        wait > Duration::from_secs(2) && wait <= Duration::from_secs(5),
        "{wait:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_until_they_pass() {
    let server = MockServer::start().await;
    mount_refresh(&server).await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .respond_with(api_error(503, "TEMPORARILY_UNAVAILABLE", "corr-503"))
        .up_to_n_times(3)
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .respond_with(page("purchases", vec![], "c0"))
        .expect(1)
        .mount(&server)
        .await;
    let mut s = session(&server).await;
    let policy = RetryPolicy {
        base_delay: Duration::from_millis(40),
        ..RetryPolicy::default()
    };
    let started = Instant::now();
    let (result, waits) = pull_with_retries(&policy, s.as_mut(), Stream::Purchases, None).await;
    assert!(result.unwrap().caught_up);
    // Equal jitter at 0: half of 40, 80, 160 ms.
    assert_eq!(
        waits,
        [
            Duration::from_millis(20),
            Duration::from_millis(40),
            Duration::from_millis(80)
        ]
    );
    assert!(started.elapsed() >= Duration::from_millis(140));
    server.verify().await;
}

#[tokio::test]
async fn a_timeout_is_retryable() {
    let server = MockServer::start().await;
    mount_refresh(&server).await;
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .respond_with(page("purchases", vec![], "c0").set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let mut s = open(
        &connector(&server, |c| c.request_timeout_secs = Some(1)),
        Arc::new(RecordingStore::default()),
    )
    .await;
    let started = Instant::now();
    let err = s.pull(Stream::Purchases, None).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(4));
    let ConnectorError::Retryable {
        retry_after,
        message,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*retry_after, None);
    assert!(message.contains("GET /consumer/v2/purchases"), "{message}");
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let conn = KlarnaUs::from_config(
        KlarnaUsConfig::new(format!("http://127.0.0.1:{port}")),
        &ProviderContext::default(),
    )
    .unwrap();
    let mut s = open(&conn, Arc::new(RecordingStore::default())).await;
    let err = s.pull(Stream::Purchases, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");
    assert!(
        err.to_string().contains("POST /auth/v1/token/refresh"),
        "{err}"
    );
}

// --- malformed answers -----------------------------------------------------------------------

#[tokio::test]
async fn a_body_that_is_not_json_is_malformed_with_the_correlation_id() {
    let err = pull_error(
        ResponseTemplate::new(200)
            .insert_header("X-Correlation-Id", "corr-html")
            .set_body_string("<html>maintenance</html>"),
        None,
    )
    .await;
    assert_eq!(
        err,
        ConnectorError::Malformed {
            stream: Stream::Purchases,
            object_id: None,
            message: "the answer is not JSON: expected value at line 1 column 1".into(),
            correlation_id: Some("corr-html".into()),
        }
    );
}

#[tokio::test]
async fn a_bad_row_is_malformed_naming_stream_object_and_field() {
    let mut bad = purchase();
    bad["id"] = json!("p_bad");
    bad["installments"][3]["state"] = json!("overdue");
    let err = pull_error(page("purchases", vec![purchase(), bad], "c1"), None).await;
    let ConnectorError::Malformed {
        stream,
        object_id,
        message,
        correlation_id,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(stream, Stream::Purchases);
    assert_eq!(object_id.as_deref(), Some("p_bad"));
    assert!(
        message
            .starts_with("field `purchases[1].installments[3].state`: unknown variant `overdue`"),
        "{message}"
    );
    assert_eq!(correlation_id.as_deref(), Some("corr-page"));

    let mut missing = purchase();
    missing.as_object_mut().unwrap().remove("updated_at");
    let err = pull_error(page("purchases", vec![missing], "c1"), None).await;
    let ConnectorError::Malformed {
        object_id, message, ..
    } = err
    else {
        panic!()
    };
    assert_eq!(object_id.as_deref(), Some("p_8fa3c1"));
    assert_eq!(message, "missing field `purchases[0].updated_at`");
}

#[tokio::test]
async fn a_missing_or_null_next_cursor_is_malformed() {
    for body in [
        json!({ "purchases": [] }),
        json!({ "purchases": [], "next_cursor": null }),
    ] {
        let err = pull_error(ResponseTemplate::new(200).set_body_json(body), Some("c")).await;
        let ConnectorError::Malformed { message, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(message.contains("next_cursor"), "{message}");
    }
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let server = MockServer::start().await;
    mount_refresh(&server).await;
    let mut p = purchase();
    p["new_field"] = json!({ "anything": [1, 2] });
    p["installments"][0]["autopay"] = json!(true);
    Mock::given(method("GET"))
        .and(path(PURCHASES))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "purchases": [p], "next_cursor": "c1", "page_info": { "has_more": false }
        })))
        .mount(&server)
        .await;
    let mut s = session(&server).await;
    let page = s.pull(Stream::Purchases, None).await.unwrap();
    assert_eq!(page.records.len(), 1);
}
