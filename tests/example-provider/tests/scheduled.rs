//! A provider crate outside the core, named only here, is configured from
//! TOML, and the scheduler syncs it into the mirror: no core crate changed.

use bnpl_provider_example as _;
use bnpl_store::{AccountKey, Database, SecretCipher};
use bnpl_sync::{Engine, Settings};
use secrecy::SecretString;

#[tokio::test]
async fn the_scheduler_syncs_a_provider_crate_outside_the_core() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mirror.db").display());
    let settings = Settings::from_toml(&format!(
        "database_url = {url:?}\n\n[providers.example]\nenabled = true\nentries = 4\n"
    ))
    .unwrap();
    let (providers, problems) = settings.providers(&Default::default()).unwrap();
    assert!(problems.is_empty());
    assert_eq!(providers.len(), 1);

    let db: std::sync::Arc<dyn Database> = std::sync::Arc::from(
        bnpl_store::open(&url, SecretCipher::from_key_bytes([1; 32]))
            .await
            .unwrap(),
    );
    let key = AccountKey::new("example", "acct-1");
    db.put_account(
        &key,
        &SecretString::from(r#"{"token":"t0ps3cret"}"#.to_string()),
    )
    .await
    .unwrap();

    let engine = Engine::new(db.clone(), providers, settings.sync.clone());
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.failed_accounts(), 0, "{report}");

    let mirror = db.mirror(&key).await.unwrap();
    let ids: Vec<&str> = mirror
        .balance_entries
        .iter()
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(ids, ["acct-1-e1", "acct-1-e2", "acct-1-e3", "acct-1-e4"]);
    assert!(mirror.balance_entries.iter().all(|e| e.amount.minor == 100));

    // A second run reads from the stored cursor: nothing new.
    let again = engine.run_once().await.unwrap();
    assert_eq!(again.total().upserted(), 0, "{again}");
}
