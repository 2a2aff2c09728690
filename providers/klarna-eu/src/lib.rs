//! Klarna EU/UK over PSD2: a Berlin Group NextGenPSD2 1.3.12 account
//! information (AIS) connector. It serves any Berlin Group bank; Klarna Bank
//! AB's XS2A interface is one of them (detailed or global consents, decoupled
//! SCA in the Klarna app, mTLS with an eIDAS certificate).
//!
//! PSD2 carries the deposit layer only: balances and booked/pending
//! transactions. It carries no installment plans, no card ledger and no
//! points, so this provider has the `balance_entries` and `balance` streams.
//! See `docs/protocols/klarna-eu-psd2.md`.
//!
//! Modules: [`config`] (the `[providers.klarna_eu]` section), [`consent`]
//! (the consent lifecycle for the CLI), `credentials` (the stored document),
//! `quota` (unattended reads), `dedup` (cursor, ids, pending rules), `wire`
//! (JSON shapes and mapping), `http` (headers and error mapping), `session`.

use std::sync::Arc;

use async_trait::async_trait;
use bnpl_core::{
    AccountCredentials, AccountSession, ConfigError, Connector, ConnectorError, CredentialField,
    CredentialStore, ProviderContext, ProviderRegistration, ProviderStatus, Stream,
};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

pub mod config;
pub mod consent;
pub mod credentials;
mod dedup;
mod http;
pub mod quota;
mod session;
mod wire;

pub use config::KlarnaEuConfig;
pub use consent::{
    ConsentAccess, ConsentCreated, ConsentDetails, ConsentRequest, ConsentStatus, ScaInstruction,
    ScaPreference, consent_details, consent_status, create_consent, poll_until_final,
    poll_until_final_every, revoke,
};
pub use credentials::ConsentCredentials;

pub const PROVIDER_ID: &str = "klarna-eu";

/// Where the connector reads the time (the quota and the read windows).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct KlarnaEuConnector {
    api: Arc<http::Api>,
    settings: Arc<config::Settings>,
    clock: Clock,
}

impl KlarnaEuConnector {
    pub fn new(config: KlarnaEuConfig, context: &ProviderContext) -> Result<Self, ConfigError> {
        let settings = config.validate(context)?;
        let api = http::Api::new(&settings)?;
        Ok(KlarnaEuConnector {
            api: Arc::new(api),
            settings: Arc::new(settings),
            clock: Arc::new(Utc::now),
        })
    }

    /// Replaces the wall clock (tests, sandboxes with a clock of their own).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

#[async_trait]
impl Connector for KlarnaEuConnector {
    type Config = KlarnaEuConfig;

    fn from_config(config: KlarnaEuConfig, context: &ProviderContext) -> Result<Self, ConfigError> {
        KlarnaEuConnector::new(config, context)
    }

    fn validate_credentials(&self, secret: &SecretString) -> Result<(), ConfigError> {
        ConsentCredentials::parse(secret).map(|_| ())
    }

    /// No I/O: the consent is checked by the first read (an expired or
    /// revoked one answers `CONSENT_EXPIRED`/`CONSENT_INVALID`).
    async fn open(
        &self,
        credentials: AccountCredentials,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Box<dyn AccountSession>, ConnectorError> {
        let parsed = ConsentCredentials::parse(&credentials.secret).map_err(|e| {
            ConnectorError::ReauthRequired {
                message: format!("stored credentials unusable: {e}"),
            }
        })?;
        Ok(Box::new(session::KlarnaEuSession {
            api: self.api.clone(),
            settings: self.settings.clone(),
            clock: self.clock.clone(),
            store,
            account_id: credentials.account_id,
            credentials: parsed,
            read_recorded: false,
            accounts: None,
        }))
    }
}

/// The registration's factory (`connector::build` also wants the provider id).
fn factory(
    section: serde_json::Value,
    context: &ProviderContext,
) -> Result<Arc<dyn bnpl_core::ErasedConnector>, ConfigError> {
    bnpl_core::connector::build::<KlarnaEuConnector>(PROVIDER_ID, section, context)
}

bnpl_core::inventory::submit! {
    ProviderRegistration {
        id: PROVIDER_ID,
        display_name: "Klarna (EU/UK, PSD2)",
        markets: &["EU", "GB"],
        streams: &[Stream::BalanceEntries, Stream::Balance],
        status: ProviderStatus::Beta,
        description: "Berlin Group NextGenPSD2 account information: balances and booked/pending \
                      transactions of the balance account (PSD2 carries no installment plans, \
                      card ledger or points)",
        credential_fields: &[CredentialField {
            name: "consent_id",
            secret: true,
            help: "Berlin Group consent id in status valid (from `bnpl consent create`)",
        }],
        factory,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_as_a_beta_psd2_provider() {
        let r = bnpl_core::registry::find(PROVIDER_ID).unwrap();
        assert_eq!(r.status, ProviderStatus::Beta);
        assert_eq!(r.streams, &[Stream::BalanceEntries, Stream::Balance]);
        assert_eq!(r.markets, &["EU", "GB"]);
        assert_eq!(r.credential_fields.len(), 1);
        assert_eq!(r.credential_fields[0].name, "consent_id");
        assert!(r.credential_fields[0].secret);
        assert!(r.description.contains("no installment plans"));
    }

    #[test]
    fn the_factory_builds_from_the_config_section() {
        let ctx = ProviderContext::default();
        let built = factory(
            serde_json::json!({"base_url": "https://xs2a.test", "overlap_days": 5}),
            &ctx,
        );
        let connector = built.map_err(|e| e.to_string()).unwrap();
        let ok = SecretString::from(r#"{"consent_id":"c-1"}"#.to_string());
        assert!(connector.validate_credentials(&ok).is_ok());
        let bad = SecretString::from(r#"{"consent":"c-1"}"#.to_string());
        assert_eq!(
            connector
                .validate_credentials(&bad)
                .unwrap_err()
                .to_string(),
            "credentials.consent_id: missing"
        );
        let err = match factory(
            serde_json::json!({"base_url": "https://xs2a.test", "typo": 1}),
            &ctx,
        ) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("unknown keys must be rejected"),
        };
        assert!(
            err.starts_with("providers.klarna_eu:") && err.contains("typo"),
            "{err}"
        );
    }
}
