//! The consent lifecycle functions against a scripted bank.

use std::time::Duration;

use bnpl_core::ErrorKind;
use bnpl_provider_klarna_eu::{
    ConsentAccess, ConsentRequest, ConsentStatus, KlarnaEuConfig, ScaInstruction, ScaPreference,
    consent_details, consent_status, create_consent, poll_until_final_every, revoke,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use wiremock::matchers::{body_json, header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn request() -> ConsentRequest {
    let mut r = ConsentRequest::new("2027-02-01".parse().unwrap());
    r.psu_ip_address = Some("192.168.8.78".parse().unwrap());
    r
}

#[tokio::test]
async fn creates_a_decoupled_consent_with_the_full_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/consents"))
        .and(header("PSU-IP-Address", "192.168.8.78"))
        .and(header("TPP-Decoupled-Preferred", "true"))
        .and(header_exists("X-Request-ID"))
        .and(body_json(json!({
            "access": {"accounts": [], "balances": [], "transactions": []},
            "recurringIndicator": true,
            "validUntil": "2027-02-01",
            "frequencyPerDay": 4,
            "combinedServiceIndicator": false
        })))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("ASPSP-SCA-Approach", "DECOUPLED")
                .set_body_json(json!({
                    "consentStatus": "received",
                    "consentId": "c-123",
                    "psuMessage": "Confirm in the Klarna app",
                    "_links": {"scaStatus": {"href": "/v1/consents/c-123/authorisations/a1"}}
                })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let created = create_consent(&KlarnaEuConfig::new(server.uri()), &request())
        .await
        .unwrap();
    assert_eq!(created.consent_id.expose_secret(), "c-123");
    assert_eq!(created.status, ConsentStatus::Received);
    assert_eq!(
        created.sca,
        ScaInstruction::Decoupled {
            message: Some("Confirm in the Klarna app".into())
        }
    );
    assert_eq!(created.sca_approach.as_deref(), Some("DECOUPLED"));
}

#[tokio::test]
async fn redirect_and_dedicated_accounts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/consents"))
        .and(header("TPP-Redirect-Preferred", "true"))
        .and(header("TPP-Redirect-URI", "https://tpp.test/ok"))
        .and(body_json(json!({
            "access": {
                "accounts": [{"iban": "DE89370400440532013000"}],
                "balances": [{"iban": "DE89370400440532013000"}],
                "transactions": [{"iban": "DE89370400440532013000"}]
            },
            "recurringIndicator": true,
            "validUntil": "2027-02-01",
            "frequencyPerDay": 2,
            "combinedServiceIndicator": false
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "consentStatus": "received",
            "consentId": "c-9",
            "_links": {"scaRedirect": {"href": "https://bank.test/sca/c-9"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut r = request();
    r.access = ConsentAccess::Dedicated(vec!["DE89370400440532013000".into()]);
    r.frequency_per_day = Some(2);
    r.sca = ScaPreference::Redirect {
        redirect_uri: "https://tpp.test/ok".into(),
        nok_redirect_uri: None,
    };
    let created = create_consent(&KlarnaEuConfig::new(server.uri()), &r)
        .await
        .unwrap();
    assert_eq!(
        created.sca,
        ScaInstruction::Redirect {
            url: "https://bank.test/sca/c-9".into()
        }
    );
}

#[tokio::test]
async fn an_explicit_authorisation_start_is_made_for_the_holder() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/consents"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "consentStatus": "received",
            "consentId": "c-5",
            "_links": {"startAuthorisationWithPsuIdentification": {"href": "/v1/consents/c-5/authorisations"}}
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/consents/c-5/authorisations"))
        .and(header("PSU-ID", "holder-login"))
        .and(body_json(json!({})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "scaStatus": "started",
            "authorisationId": "a1",
            "psuMessage": "Open the Klarna app",
            "_links": {"scaStatus": {"href": "/v1/consents/c-5/authorisations/a1"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut r = request();
    r.psu_id = Some(SecretString::from("holder-login".to_string()));
    let created = create_consent(&KlarnaEuConfig::new(server.uri()), &r)
        .await
        .unwrap();
    assert_eq!(
        created.sca,
        ScaInstruction::Decoupled {
            message: Some("Open the Klarna app".into())
        }
    );
}

#[tokio::test]
async fn creation_needs_a_psu_ip_address() {
    let mut r = request();
    r.psu_ip_address = None;
    let err = create_consent(&KlarnaEuConfig::new("http://127.0.0.1:9"), &r)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("PSU-IP-Address is mandatory"),
        "{err}"
    );
}

#[tokio::test]
async fn status_polling_details_and_revocation() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/consents/c-1/status"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"consentStatus": "received"})),
        )
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/consents/c-1/status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"consentStatus": "valid"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/consents/c-2/status"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"consentStatus": "rejected"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/consents/c-3/status"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"consentStatus": "received"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/consents/c-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access": {"balances": [], "transactions": []},
            "recurringIndicator": true,
            "validUntil": "2027-02-01",
            "frequencyPerDay": 4,
            "lastActionDate": "2026-11-20",
            "consentStatus": "valid"
        })))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/consents/c-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let cfg = KlarnaEuConfig::new(server.uri());
    let id = |s: &str| SecretString::from(s.to_string());
    let fast = Duration::from_millis(10);
    assert_eq!(
        consent_status(&cfg, &id("c-3")).await.unwrap(),
        ConsentStatus::Received
    );
    assert_eq!(
        poll_until_final_every(&cfg, &id("c-1"), Duration::from_secs(5), fast)
            .await
            .unwrap(),
        ConsentStatus::Valid
    );
    let err = poll_until_final_every(&cfg, &id("c-2"), Duration::from_secs(5), fast)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReauthRequired);
    let timed_out = poll_until_final_every(&cfg, &id("c-3"), Duration::from_millis(50), fast)
        .await
        .unwrap();
    assert_eq!(timed_out, ConsentStatus::Received);
    let details = consent_details(&cfg, &id("c-1")).await.unwrap();
    assert_eq!(details.status, ConsentStatus::Valid);
    assert_eq!(details.frequency_per_day, 4);
    assert_eq!(
        details.last_action_date,
        Some("2026-11-20".parse().unwrap())
    );
    revoke(&cfg, &id("c-1")).await.unwrap();
    let err = consent_status(&cfg, &id("c-unknown")).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Permanent,
        "404 without a code: {err}"
    );
}
