//! The connector compliance harness, run by the example provider like any other.

use bnpl_test_support::{LiveFixture, check_live, check_registration};
use secrecy::SecretString;

#[test]
fn registration() {
    check_registration(bnpl_provider_example::PROVIDER_ID);
}

#[tokio::test]
async fn every_stream_in_memory() {
    check_live(
        bnpl_provider_example::PROVIDER_ID,
        LiveFixture {
            section: serde_json::json!({ "entries": 2 }),
            account_id: "acct-1".into(),
            secret: SecretString::from(r#"{"token":"t0ps3cret"}"#.to_string()),
            secret_values: vec!["t0ps3cret".into()],
        },
    )
    .await;
}
