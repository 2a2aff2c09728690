//! Klarna US: the consumer app's session API (purchases with their
//! installment plans, the Klarna Card ledger, the WebBank balance, cashback
//! points, deliveries and the profile), read under the account holder's
//! consent.
//!
//! The wire contract is `shared/contracts/klarna-us-session.md`; the
//! protocol write-up is `docs/protocols/klarna-us.md`.
//!
//! - [`config`]: the `[providers.klarna_us]` section.
//! - [`credentials`]: the stored secret (refresh token and bound device id).
//! - `session`: token refresh and rotation, device binding, paging, errors.
//! - `wire`: every JSON shape and its mapping into bnpl-core's model.

use std::sync::Arc;

use async_trait::async_trait;
use bnpl_core::{
    AccountCredentials, AccountSession, ConfigError, Connector, ConnectorError, CredentialStore,
    ProviderContext, ProviderStatus, Stream,
};
use secrecy::SecretString;

pub mod config;
pub mod credentials;
mod session;
mod wire;

pub use config::KlarnaUsConfig;
pub use credentials::{CredentialsError, KlarnaUsCredentials};
pub use session::KlarnaUsSession;

/// The provider's stable id (config section `[providers.klarna_us]`).
pub const PROVIDER_ID: &str = "klarna-us";

/// The Klarna US connector: one HTTP client (one connection pool) shared by
/// every session it opens.
pub struct KlarnaUs {
    http: Arc<session::Http>,
}

impl std::fmt::Debug for KlarnaUs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KlarnaUs").finish_non_exhaustive()
    }
}

#[async_trait]
impl Connector for KlarnaUs {
    type Config = KlarnaUsConfig;

    fn from_config(config: KlarnaUsConfig, context: &ProviderContext) -> Result<Self, ConfigError> {
        let settings = config.validate(context)?;
        Ok(KlarnaUs {
            http: Arc::new(session::Http::new(settings, context)?),
        })
    }

    fn validate_credentials(&self, secret: &SecretString) -> Result<(), ConfigError> {
        KlarnaUsCredentials::parse(secret)
            .map(drop)
            .map_err(ConfigError::from)
    }

    /// Reads the stored credentials and returns the session. The sign-in
    /// (the first token refresh) happens on the session's first read, so that
    /// every sign-in error belongs to a stream and a rotation whose save
    /// failed stays recoverable within the session (see the protocol doc).
    async fn open(
        &self,
        credentials: AccountCredentials,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Box<dyn AccountSession>, ConnectorError> {
        let parsed = KlarnaUsCredentials::parse(&credentials.secret).map_err(|e| {
            ConnectorError::ReauthRequired {
                message: format!("stored credentials are unusable: {e}"),
            }
        })?;
        Ok(Box::new(KlarnaUsSession::new(
            Arc::clone(&self.http),
            credentials.account_id,
            parsed,
            store,
        )))
    }
}

/// The registration's factory. `bnpl_core::connector::build` takes the
/// provider id first, which `bnpl_core::registry::Factory` does not pass, so
/// it is bound here.
fn factory(
    section: serde_json::Value,
    context: &ProviderContext,
) -> Result<Arc<dyn bnpl_core::ErasedConnector>, ConfigError> {
    bnpl_core::connector::build::<KlarnaUs>(PROVIDER_ID, section, context)
}

bnpl_core::inventory::submit! {
    bnpl_core::ProviderRegistration {
        id: PROVIDER_ID,
        display_name: "Klarna (US)",
        markets: &["US"],
        streams: &[
            Stream::Purchases,
            Stream::CardTransactions,
            Stream::BalanceEntries,
            Stream::PointsEntries,
            Stream::Deliveries,
            Stream::Balance,
            Stream::Points,
            Stream::Profile,
        ],
        status: ProviderStatus::Beta,
        description: "Klarna US app session under the holder's consent: purchases and installment plans, Klarna Card, WebBank balance, cashback points, deliveries and profile, polled on an opaque delta cursor",
        credential_fields: &[
            bnpl_core::CredentialField {
                name: "refresh_token",
                secret: true,
                help: "the consenting session's refresh token; rotated tokens are saved back automatically",
            },
            bnpl_core::CredentialField {
                name: "device_id",
                secret: false,
                help: "the device id the session is bound to (sent as X-Device-Id)",
            },
        ],
        factory,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_itself_with_every_stream() {
        let reg = bnpl_core::registry::find("klarna_us").unwrap();
        assert_eq!(reg.id, PROVIDER_ID);
        assert_eq!(reg.display_name, "Klarna (US)");
        assert_eq!(reg.markets, ["US"].as_slice());
        assert_eq!(reg.status, ProviderStatus::Beta);
        let mut streams = reg.streams.to_vec();
        streams.sort();
        assert_eq!(streams, Stream::ALL.to_vec());
        let fields: Vec<(&str, bool)> = reg
            .credential_fields
            .iter()
            .map(|f| (f.name, f.secret))
            .collect();
        assert_eq!(fields, [("refresh_token", true), ("device_id", false)]);
    }

    #[test]
    fn the_factory_builds_from_a_config_section_and_names_bad_keys() {
        let reg = bnpl_core::registry::find(PROVIDER_ID).unwrap();
        let ctx = ProviderContext::default();
        assert!((reg.factory)(serde_json::json!({ "base_url": "https://k.test/" }), &ctx).is_ok());
        let err = (reg.factory)(
            serde_json::json!({ "base_url": "https://k.test", "page_size": 500 }),
            &ctx,
        )
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "providers.klarna_us.page_size: must be between 1 and 100, got 500"
        );
        let err = (reg.factory)(
            serde_json::json!({ "base_url": "https://k.test", "enabled": true }),
            &ctx,
        )
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .starts_with("providers.klarna_us: unknown field `enabled`"),
            "{err}"
        );
    }

    #[test]
    fn validate_credentials_names_the_missing_field() {
        let k = KlarnaUs::from_config(
            KlarnaUsConfig::new("https://k.test"),
            &ProviderContext::default(),
        )
        .unwrap();
        let ok = SecretString::from(r#"{"refresh_token":"rt","device_id":"d"}"#);
        assert!(Connector::validate_credentials(&k, &ok).is_ok());
        let err = Connector::validate_credentials(&k, &SecretString::from(r#"{"device_id":"d"}"#))
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::invalid("credentials.refresh_token", "missing")
        );
        let err = Connector::validate_credentials(
            &k,
            &SecretString::from(r#"{"refresh_token":"rt","device_id":""}"#),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::invalid("credentials.device_id", "must not be empty")
        );
    }
}
