//! The sandbox bank over HTTP, as any Berlin Group client sees it.

use bnpl_sandbox_psd2::{Psd2Config, Psd2Sandbox, RunningPsd2};
use chrono::Duration;
use serde_json::{Value, json};

const START: &str = "2026-11-20T12:00:00Z";

async fn serve() -> (Psd2Sandbox, RunningPsd2, Client) {
    let sb = Psd2Sandbox::new(Psd2Config::new(7, START.parse().unwrap()));
    let running = sb.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = Client {
        base: running.base_url.clone(),
        http: reqwest::Client::new(),
    };
    (sb, running, client)
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut r = self
            .http
            .request(method, url)
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string());
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, consent: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, &[("Consent-ID", consent)], None)
            .await
    }
}

fn code(v: &Value) -> &str {
    v["tppMessages"][0]["code"].as_str().unwrap_or("")
}

fn consent_body() -> Value {
    json!({
        "access": {"accounts": [], "balances": [], "transactions": []},
        "recurringIndicator": true, "validUntil": "2027-01-31", "frequencyPerDay": 4,
        "combinedServiceIndicator": false
    })
}

#[tokio::test]
async fn headers_are_checked() {
    let (_sb, running, c) = serve().await;
    let r = c
        .http
        .get(format!("{}/v1/accounts", c.base))
        .header("Consent-ID", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(code(&v), "FORMAT_ERROR");
    let r = c
        .http
        .get(format!("{}/v1/accounts", c.base))
        .header("X-Request-ID", "not-a-uuid")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (s, v) = c
        .call(
            reqwest::Method::POST,
            "/v1/consents",
            &[],
            Some(consent_body()),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (400, "FORMAT_ERROR"),
        "PSU-IP-Address is mandatory on consent creation"
    );
    let (s, v) = c.get("/v1/accounts", "nope").await;
    assert_eq!((s, code(&v)), (403, "CONSENT_UNKNOWN"));
    running.shutdown().await;
}

#[tokio::test]
async fn decoupled_and_redirect_consents_become_valid() {
    let (sb, running, c) = serve().await;
    let ip = [("PSU-IP-Address", "192.168.8.78")];
    let (s, v) = c
        .call(
            reqwest::Method::POST,
            "/v1/consents",
            &ip,
            Some(consent_body()),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["consentStatus"], "received");
    let id = v["consentId"].as_str().unwrap().to_string();
    let (s, v) = c.get("/v1/accounts", &id).await;
    assert_eq!(
        (s, code(&v)),
        (401, "CONSENT_INVALID"),
        "not authorised yet"
    );
    let (_, v) = c
        .call(
            reqwest::Method::GET,
            &format!("/v1/consents/{id}/status"),
            &[],
            None,
        )
        .await;
    assert_eq!(v["consentStatus"], "received");
    let (_, v) = c
        .call(
            reqwest::Method::GET,
            &format!("/v1/consents/{id}/status"),
            &[],
            None,
        )
        .await;
    assert_eq!(
        v["consentStatus"], "valid",
        "approved in the app after two polls"
    );
    let (_, v) = c
        .call(
            reqwest::Method::GET,
            &format!("/v1/consents/{id}"),
            &[],
            None,
        )
        .await;
    assert_eq!(v["frequencyPerDay"], 4);
    assert_eq!(v["lastActionDate"], "2026-11-20");
    assert_eq!(v["recurringIndicator"], true);

    let redirect = [
        ("PSU-IP-Address", "192.168.8.78"),
        ("TPP-Redirect-Preferred", "true"),
        ("TPP-Redirect-URI", "https://tpp.test/cb"),
    ];
    let (s, v) = c
        .call(
            reqwest::Method::POST,
            "/v1/consents",
            &redirect,
            Some(consent_body()),
        )
        .await;
    assert_eq!(s, 201);
    let rid = v["consentId"].as_str().unwrap().to_string();
    let link = v["_links"]["scaRedirect"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let page = c.http.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(sb.consent_status(&rid).as_deref(), Some("valid"));

    let (s, _) = c
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/consents/{rid}"),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, v) = c.get("/v1/accounts", &rid).await;
    assert_eq!((s, code(&v)), (401, "CONSENT_INVALID"));
    running.shutdown().await;
}

/// Reads a whole report by following `_links.next`.
async fn report(
    c: &Client,
    consent: &str,
    resource: &str,
    date_from: &str,
) -> (Vec<Value>, Vec<Value>, usize) {
    let mut next = Some(format!(
        "/v1/accounts/{resource}/transactions?bookingStatus=both&dateFrom={date_from}"
    ));
    let (mut booked, mut pending, mut pages) = (Vec::new(), Vec::new(), 0);
    while let Some(path) = next {
        let (s, v) = c
            .call(
                reqwest::Method::GET,
                &path,
                &[("Consent-ID", consent), ("PSU-IP-Address", "10.0.0.1")],
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        pages += 1;
        booked.extend(
            v["transactions"]["booked"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
        pending.extend(
            v["transactions"]["pending"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
        next = v["transactions"]["_links"]["next"]["href"]
            .as_str()
            .map(str::to_string);
    }
    (booked, pending, pages)
}

#[tokio::test]
async fn accounts_balances_and_paged_transactions_follow_the_clock() {
    let (sb, running, c) = serve().await;
    let consent = sb.create_valid_consent();
    let (s, v) = c.get("/v1/accounts", &consent).await;
    assert_eq!(s, 200);
    let accounts = v["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0]["currency"], "EUR");
    assert_eq!(accounts[1]["currency"], "SEK");
    let eur = accounts[0]["iban"].as_str().unwrap().to_string();
    let res = accounts[0]["resourceId"].as_str().unwrap().to_string();
    assert!(eur.starts_with("DE") && accounts[1]["iban"].as_str().unwrap().starts_with("SE"));

    let (s, v) = c
        .get(&format!("/v1/accounts/{res}/balances"), &consent)
        .await;
    assert_eq!(s, 200);
    let types: Vec<&str> = v["balances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["balanceType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["closingBooked", "interimAvailable", "expected"]);
    assert_eq!(
        v["balances"][2]["balanceAmount"]["amount"],
        sb.state(&eur)["balances"]["expected"]
    );

    let (booked, pending, pages) = report(&c, &consent, &res, "2026-01-01").await;
    assert!(pages > 2, "paged: {pages}");
    let truth = sb.state(&eur);
    assert_eq!(booked.len(), truth["booked"].as_array().unwrap().len());
    assert_eq!(pending.len(), truth["pending"].as_array().unwrap().len());
    let ids = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .filter_map(|r| r["transactionId"].as_str().map(str::to_string))
            .collect()
    };
    assert!(ids(&pending).contains(&"PEND-e-0002".to_string()));
    assert!(ids(&pending).contains(&"HOLD-e-0001".to_string()));
    assert!(
        booked.iter().any(|r| r["transactionId"].is_null()),
        "a booked row without transactionId"
    );

    // Pending → booked under a new id; the back-dated row appears.
    sb.advance(Duration::days(2) + Duration::hours(2));
    let (booked, pending, _) = report(&c, &consent, &res, "2026-01-01").await;
    assert!(!ids(&pending).contains(&"PEND-e-0002".to_string()));
    assert!(ids(&booked).contains(&"BOOK-e-0002".to_string()));
    let late = booked
        .iter()
        .find(|r| r["transactionId"] == "LATE-e-0004")
        .unwrap();
    assert_eq!(late["bookingDate"], "2026-11-19");
    // The hold lapses, never booked.
    sb.advance(Duration::days(9));
    let (booked, pending, _) = report(&c, &consent, &res, "2026-01-01").await;
    assert!(!ids(&pending).contains(&"HOLD-e-0001".to_string()));
    assert!(
        !booked
            .iter()
            .any(|r| r["creditorName"] == "Hotel Alpenblick")
    );
    // A dateFrom filters booked rows by booking date, pending by entry date.
    let (booked, _, _) = report(&c, &consent, &res, "2026-11-25").await;
    assert!(
        booked
            .iter()
            .all(|r| r["bookingDate"].as_str().unwrap() >= "2026-11-25")
    );
    running.shutdown().await;
}

#[tokio::test]
async fn unattended_reads_are_limited_and_consents_expire() {
    let (sb, running, c) = serve().await;
    let consent = sb.create_valid_consent_with_frequency(2);
    let (_, v) = c.get("/v1/accounts", &consent).await;
    let res = v["accounts"][0]["resourceId"].as_str().unwrap().to_string();
    let path = format!("/v1/accounts/{res}/balances");
    assert_eq!(c.get(&path, &consent).await.0, 200);
    assert_eq!(c.get(&path, &consent).await.0, 200);
    let (s, v) = c.get(&path, &consent).await;
    assert_eq!((s, code(&v)), (429, "ACCESS_EXCEEDED"));
    // The holder present: not counted.
    let (s, _) = c
        .call(
            reqwest::Method::GET,
            &path,
            &[("Consent-ID", &consent), ("PSU-IP-Address", "10.0.0.1")],
            None,
        )
        .await;
    assert_eq!(s, 200);
    // A rolling day later it is allowed again.
    sb.advance(Duration::hours(24));
    assert_eq!(c.get(&path, &consent).await.0, 200);

    sb.expire_consent(&consent);
    let (s, v) = c.get(&path, &consent).await;
    assert_eq!((s, code(&v)), (401, "CONSENT_EXPIRED"));
    // validUntil passing expires a consent too.
    let other = sb.create_valid_consent();
    sb.advance(Duration::days(91));
    let (s, v) = c.get("/v1/accounts", &other).await;
    assert_eq!((s, code(&v)), (401, "CONSENT_EXPIRED"));
    // Admin over HTTP.
    let r = c
        .http
        .post(format!("{}/sandbox/clock/advance?seconds=60", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .http
        .get(format!("{}/sandbox/state/{}", c.base, sb.ibans()[1]))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["currency"], "SEK");
    running.shutdown().await;
}
