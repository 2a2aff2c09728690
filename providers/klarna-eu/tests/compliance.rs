//! The connector compliance harness, against the independent PSD2 sandbox
//! bank (started at the real clock, since the harness uses the default
//! provider context).

use bnpl_sandbox_psd2::{Psd2Config, Psd2Sandbox};
use bnpl_test_support::{LiveFixture, check_live, check_registration};
use secrecy::SecretString;

#[test]
fn registration() {
    check_registration(bnpl_provider_klarna_eu::PROVIDER_ID);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_against_the_psd2_sandbox() {
    let sandbox = Psd2Sandbox::new(Psd2Config::new(42, chrono::Utc::now()));
    let running = sandbox.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let consent = sandbox.create_valid_consent();
    let secret = serde_json::json!({ "consent_id": consent });
    check_live(
        bnpl_provider_klarna_eu::PROVIDER_ID,
        LiveFixture {
            section: serde_json::json!({ "base_url": running.base_url }),
            account_id: "eu-1".into(),
            secret: SecretString::from(secret.to_string()),
            secret_values: vec![consent.clone()],
        },
    )
    .await;
}
