//! The connector compliance harness. Every provider crate runs it from its
//! own `tests/compliance.rs`:
//!
//! ```ignore
//! #[test]
//! fn registration() {
//!     bnpl_test_support::check_registration(my_provider::PROVIDER_ID);
//! }
//!
//! #[tokio::test]
//! async fn live() {
//!     let fixture = /* base_url and credentials against the provider's sandbox */;
//!     bnpl_test_support::check_live(my_provider::PROVIDER_ID, fixture).await;
//! }
//! ```
//!
//! [`check_registration`] holds for every provider: planned slots must fail
//! cleanly, others must declare streams and credential fields and refuse an
//! empty credentials document. [`check_live`] pulls every stream of a
//! non-planned provider against a live fixture (its sandbox).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bnpl_core::{
    AccountCredentials, ConfigError, ConnectorError, CredentialStore, ErasedConnector,
    ProviderContext, ProviderRegistration, ProviderStatus, Records,
};
use secrecy::{ExposeSecret, SecretString};

/// Pages pulled from one delta stream before the harness calls it endless.
const MAX_PAGES: usize = 10_000;

/// Finds the provider through the facade's registry (which also checks that
/// every provider crate linked in registered itself).
pub fn registration(provider_id: &str) -> &'static ProviderRegistration {
    let all = bnpl_providers::registry().expect("the provider registry is complete");
    all.into_iter()
        .find(|r| r.id == provider_id)
        .unwrap_or_else(|| panic!("{provider_id} is not registered via bnpl_providers::registry()"))
}

/// Registration sanity, for every provider.
pub fn check_registration(provider_id: &str) {
    let reg = registration(provider_id);
    assert_eq!(
        reg.id, provider_id,
        "registered id differs from PROVIDER_ID"
    );
    assert!(
        !reg.display_name.is_empty(),
        "{provider_id}: empty display name"
    );
    assert!(
        !reg.description.is_empty(),
        "{provider_id}: empty description"
    );
    assert_eq!(
        bnpl_core::registry::find(&reg.config_key())
            .map(|r| r.id)
            .ok(),
        Some(provider_id),
        "{provider_id}: not found by its config key {}",
        reg.config_key()
    );
    let ctx = ProviderContext::default();
    if reg.status == ProviderStatus::Planned {
        assert!(
            reg.streams.is_empty(),
            "{provider_id}: planned but declares streams"
        );
        assert!(
            reg.credential_fields.is_empty(),
            "{provider_id}: planned but declares credential fields"
        );
        let err = match (reg.factory)(serde_json::json!({}), &ctx) {
            Err(e) => e,
            Ok(_) => panic!("{provider_id}: a planned slot must not build a connector"),
        };
        assert!(
            matches!(err, ConfigError::NotAvailable { .. }),
            "{provider_id}: expected ConfigError::NotAvailable, got {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(provider_id),
            "{provider_id}: {msg:?} does not name the provider"
        );
        assert!(
            msg.contains("enabled = false"),
            "{provider_id}: {msg:?} does not say enabled = false"
        );
        return;
    }
    assert!(
        !reg.streams.is_empty(),
        "{provider_id}: no streams declared"
    );
    assert!(
        !reg.credential_fields.is_empty(),
        "{provider_id}: no credential fields declared"
    );
    let mut streams = reg.streams.to_vec();
    streams.sort();
    streams.dedup();
    assert_eq!(
        streams.len(),
        reg.streams.len(),
        "{provider_id}: a stream is declared twice"
    );
    for f in reg.credential_fields {
        assert!(
            !f.name.is_empty() && !f.help.is_empty(),
            "{provider_id}: field {f:?} undocumented"
        );
    }
}

/// What a live check needs: the provider's config section pointing at its
/// sandbox, and one account's credentials there.
pub struct LiveFixture {
    pub section: serde_json::Value,
    pub account_id: String,
    /// The credentials document, as `bnpl accounts add` would store it.
    pub secret: SecretString,
    /// The secret values inside it, which must never appear in `Debug` output.
    pub secret_values: Vec<String>,
}

/// Keeps rotated credentials in memory.
#[derive(Default)]
struct MemoryStore {
    saved: Mutex<Vec<SecretString>>,
}

#[async_trait]
impl CredentialStore for MemoryStore {
    async fn save(&self, _account_id: &str, secret: &SecretString) -> Result<(), ConnectorError> {
        self.saved.lock().unwrap().push(secret.clone());
        Ok(())
    }
}

/// Builds the connector from the fixture's config section.
pub fn connector(provider_id: &str, section: serde_json::Value) -> Arc<dyn ErasedConnector> {
    let reg = registration(provider_id);
    match (reg.factory)(section, &ProviderContext::default()) {
        Ok(c) => c,
        Err(e) => panic!("{provider_id}: the factory refused the fixture's section: {e}"),
    }
}

/// Against a live fixture: credentials are validated, an empty document is
/// refused, every delta stream is pulled to caught-up (records typed for the
/// stream, a non-empty cursor, replaying the last cursor yields nothing
/// newer), every snapshot stream is read, and no secret leaks into `Debug`.
pub async fn check_live(provider_id: &str, fixture: LiveFixture) {
    let reg = registration(provider_id);
    assert_ne!(
        reg.status,
        ProviderStatus::Planned,
        "{provider_id}: planned, no live check"
    );
    let connector = connector(provider_id, fixture.section.clone());

    let empty = SecretString::from("{}".to_string());
    let err = match connector.validate_credentials(&empty) {
        Err(e) => e.to_string(),
        Ok(()) => panic!("{provider_id}: an empty credentials document was accepted"),
    };
    assert!(
        reg.credential_fields.iter().any(|f| err.contains(f.name)),
        "{provider_id}: {err:?} names none of the credential fields"
    );
    connector
        .validate_credentials(&fixture.secret)
        .unwrap_or_else(|e| panic!("{provider_id}: the fixture's credentials are refused: {e}"));

    let credentials = AccountCredentials {
        account_id: fixture.account_id.clone(),
        secret: fixture.secret.clone(),
    };
    let shown = format!("{credentials:?}");
    for value in &fixture.secret_values {
        assert!(!value.is_empty());
        assert!(
            !shown.contains(value.as_str()),
            "{provider_id}: Debug of credentials shows a secret"
        );
    }
    let store = Arc::new(MemoryStore::default());
    let mut session = match connector.open(credentials, store.clone()).await {
        Ok(s) => s,
        Err(e) => panic!("{provider_id}: open failed: {e}"),
    };

    for &stream in reg.streams {
        if !stream.is_delta() {
            let snapshot = session
                .snapshot(stream)
                .await
                .unwrap_or_else(|e| panic!("{provider_id} {stream}: snapshot failed: {e}"));
            assert_eq!(
                snapshot.stream(),
                stream,
                "{provider_id}: snapshot of another stream"
            );
            continue;
        }
        let mut cursor: Option<String> = None;
        let mut caught_up = false;
        for _ in 0..MAX_PAGES {
            let page = session
                .pull(stream, cursor.as_deref())
                .await
                .unwrap_or_else(|e| panic!("{provider_id} {stream}: pull failed: {e}"));
            assert_eq!(
                page.records.stream(),
                stream,
                "{provider_id}: a page of another stream"
            );
            assert!(
                !page.next_cursor.is_empty(),
                "{provider_id} {stream}: empty next_cursor"
            );
            cursor = Some(page.next_cursor.clone());
            if page.caught_up {
                caught_up = true;
                break;
            }
        }
        assert!(
            caught_up,
            "{provider_id} {stream}: not caught up after {MAX_PAGES} pages"
        );
        let replay = session
            .pull(stream, cursor.as_deref())
            .await
            .unwrap_or_else(|e| {
                panic!("{provider_id} {stream}: replaying the last cursor failed: {e}")
            });
        assert_eq!(
            records_len(&replay.records),
            0,
            "{provider_id} {stream}: replaying the caught-up cursor yielded rows"
        );
    }

    // Rotated secrets are secrets too.
    for rotated in store.saved.lock().unwrap().iter() {
        let shown = format!(
            "{:?}",
            AccountCredentials {
                account_id: fixture.account_id.clone(),
                secret: rotated.clone(),
            }
        );
        assert!(
            !shown.contains(rotated.expose_secret()),
            "{provider_id}: Debug of rotated credentials shows the secret"
        );
    }
}

fn records_len(records: &Records) -> usize {
    match records {
        Records::Purchases(v) => v.len(),
        Records::CardTransactions(v) => v.len(),
        Records::BalanceEntries(v) => v.len(),
        Records::PointsEntries(v) => v.len(),
        Records::Deliveries(v) => v.len(),
    }
}
