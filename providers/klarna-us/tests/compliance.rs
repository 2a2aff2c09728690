//! The connector compliance harness, against the built-in Klarna US sandbox.

use std::net::SocketAddr;

use bnpl_sandbox::{Sandbox, SandboxConfig};
use bnpl_test_support::{LiveFixture, check_live, check_registration};
use secrecy::SecretString;

#[test]
fn registration() {
    check_registration(bnpl_provider_klarna_us::PROVIDER_ID);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_against_the_sandbox() {
    let sandbox = Sandbox::new(SandboxConfig::default());
    let running = sandbox
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let c = sandbox.credentials().remove(0);
    let secret = serde_json::json!({ "refresh_token": c.refresh_token, "device_id": c.device_id });
    check_live(
        bnpl_provider_klarna_us::PROVIDER_ID,
        LiveFixture {
            section: serde_json::json!({ "base_url": running.base_url, "page_size": 7 }),
            account_id: c.account_id.clone(),
            secret: SecretString::from(secret.to_string()),
            secret_values: vec![c.refresh_token.clone()],
        },
    )
    .await;
    running.shutdown().await;
}
