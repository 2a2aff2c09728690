//! The traits a provider implements.
//!
//! A provider writes a typed [`Connector`] (its own config struct, its own
//! session type). The engine only ever sees [`ErasedConnector`], which every
//! `Connector` gets through a blanket impl, so config maps to a running
//! connector through one generic factory and no other glue.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::de::DeserializeOwned;

use crate::error::{ConfigError, ConnectorError};
use crate::model::{BalanceSnapshot, PointsSnapshot, Profile, Records};
use crate::stream::Stream;

/// One account's credentials as stored: the account id in the clear, the rest
/// a provider-defined JSON document that never appears in logs or `Debug`.
#[derive(Clone)]
pub struct AccountCredentials {
    pub account_id: String,
    pub secret: SecretString,
}

impl std::fmt::Debug for AccountCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountCredentials")
            .field("account_id", &self.account_id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Where a connector persists rotated credentials. It must return only once
/// the new credentials are durable: a connector uses a rotated token only
/// after `save` returned `Ok`.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn save(&self, account_id: &str, secret: &SecretString) -> Result<(), ConnectorError>;
}

/// One page of a delta stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub records: Records,
    /// Ids of rows of this stream the provider no longer has (a pending
    /// transaction that booked under a new id, an expired hold).
    pub removed: Vec<String>,
    /// Where the next page starts. Stored with the page's rows, atomically.
    pub next_cursor: String,
    /// True when the provider says there is nothing after this page.
    pub caught_up: bool,
}

/// The answer of a snapshot stream.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotData {
    Balance(Vec<BalanceSnapshot>),
    Points(PointsSnapshot),
    Profile(Profile),
}

impl SnapshotData {
    pub fn stream(&self) -> Stream {
        match self {
            SnapshotData::Balance(_) => Stream::Balance,
            SnapshotData::Points(_) => Stream::Points,
            SnapshotData::Profile(_) => Stream::Profile,
        }
    }
}

/// A signed-in session for one account. Owns the access token and refreshes
/// it as needed; the engine never sees tokens.
#[async_trait]
pub trait AccountSession: Send {
    /// One page of a delta stream after `cursor` (`None`: from the beginning).
    async fn pull(&mut self, stream: Stream, cursor: Option<&str>) -> Result<Page, ConnectorError>;

    /// The current value of a snapshot stream.
    async fn snapshot(&mut self, stream: Stream) -> Result<SnapshotData, ConnectorError>;
}

/// Settings every provider gets, whatever its own config says.
#[derive(Debug, Clone)]
pub struct ProviderContext {
    pub user_agent: String,
    pub request_timeout: std::time::Duration,
}

impl Default for ProviderContext {
    fn default() -> Self {
        ProviderContext {
            user_agent: concat!("bnpl/", env!("CARGO_PKG_VERSION")).to_string(),
            request_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// What a provider crate implements.
#[async_trait]
pub trait Connector: Send + Sync + Sized + 'static {
    /// The provider's own section of `bnpl.toml`, minus the keys every provider
    /// shares (`enabled`, cadences, concurrency). Use `deny_unknown_fields`.
    type Config: DeserializeOwned;

    fn from_config(config: Self::Config, context: &ProviderContext) -> Result<Self, ConfigError>;

    /// Checks a credentials document before it is stored, naming the bad field.
    fn validate_credentials(&self, secret: &SecretString) -> Result<(), ConfigError>;

    /// Signs in (refreshing tokens through `store` as the provider requires).
    async fn open(
        &self,
        credentials: AccountCredentials,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Box<dyn AccountSession>, ConnectorError>;
}

/// The object-safe face of a [`Connector`], used by the engine.
#[async_trait]
pub trait ErasedConnector: Send + Sync {
    fn validate_credentials(&self, secret: &SecretString) -> Result<(), ConfigError>;

    async fn open(
        &self,
        credentials: AccountCredentials,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Box<dyn AccountSession>, ConnectorError>;
}

#[async_trait]
impl<C: Connector> ErasedConnector for C {
    fn validate_credentials(&self, secret: &SecretString) -> Result<(), ConfigError> {
        Connector::validate_credentials(self, secret)
    }

    async fn open(
        &self,
        credentials: AccountCredentials,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Box<dyn AccountSession>, ConnectorError> {
        Connector::open(self, credentials, store).await
    }
}

/// Builds a connector from its config section. A registration's factory is a
/// one-line wrapper: `fn factory(s, c) { build::<MyConnector>(PROVIDER_ID, s, c) }`.
pub fn build<C: Connector>(
    provider_id: &str,
    section: serde_json::Value,
    context: &ProviderContext,
) -> Result<Arc<dyn ErasedConnector>, ConfigError> {
    let config: C::Config = serde_json::from_value(section).map_err(|e| {
        ConfigError::invalid(
            format!("providers.{}", provider_id.replace('-', "_")),
            e.to_string(),
        )
    })?;
    Ok(Arc::new(C::from_config(config, context)?))
}
