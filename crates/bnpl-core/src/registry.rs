//! Providers register themselves with `inventory`; the binary links them all
//! through the `bnpl-providers` facade crate, which checks the registry is full.

use std::sync::Arc;

use serde::Serialize;

use crate::connector::{ErasedConnector, ProviderContext};
use crate::error::ConfigError;
use crate::stream::Stream;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ProviderStatus {
    Stable,
    Beta,
    /// Registered so that it is listed and configurable, but not built yet.
    Planned,
}

pub type Factory =
    fn(serde_json::Value, &ProviderContext) -> Result<Arc<dyn ErasedConnector>, ConfigError>;

/// What a provider crate submits: `bnpl_core::inventory::submit!(ProviderRegistration { .. })`.
#[derive(Serialize)]
pub struct ProviderRegistration {
    /// Stable id used in config (`[providers.klarna_us]`), the CLI and the database.
    pub id: &'static str,
    pub display_name: &'static str,
    /// ISO 3166 country codes, or "EU"/"EEA".
    pub markets: &'static [&'static str],
    pub streams: &'static [Stream],
    pub status: ProviderStatus,
    /// One line on what the provider reaches and how.
    pub description: &'static str,
    /// What `bnpl accounts add|import` must be given for one account.
    pub credential_fields: &'static [CredentialField],
    #[serde(skip)]
    pub factory: Factory,
}

inventory::collect!(ProviderRegistration);

/// One field of an account's credentials document.
#[derive(Debug, Serialize)]
pub struct CredentialField {
    pub name: &'static str,
    /// Secret fields are never taken from the command line (argv is visible
    /// to every user of the machine): they come from stdin or the environment.
    pub secret: bool,
    pub help: &'static str,
}

/// Every registered provider, sorted by id.
pub fn all() -> Vec<&'static ProviderRegistration> {
    let mut all: Vec<_> = inventory::iter::<ProviderRegistration>
        .into_iter()
        .collect();
    all.sort_by_key(|r| r.id);
    all
}

pub fn find(id: &str) -> Result<&'static ProviderRegistration, ConfigError> {
    let normalized = id.replace('_', "-");
    all()
        .into_iter()
        .find(|r| r.id == normalized)
        .ok_or_else(|| ConfigError::UnknownProvider {
            id: id.to_string(),
            known: all().iter().map(|r| r.id).collect::<Vec<_>>().join(", "),
        })
}

impl ProviderRegistration {
    /// Config key of this provider's section (`klarna-us` → `klarna_us`).
    pub fn config_key(&self) -> String {
        self.id.replace('-', "_")
    }
}

/// The error a planned provider's factory returns.
pub fn not_built(id: &str) -> ConfigError {
    ConfigError::NotAvailable {
        id: id.to_string(),
        status: ProviderStatus::Planned.to_string(),
        message: format!(
            "no stream is implemented yet; set enabled = false under [providers.{}] in bnpl.toml",
            id.replace('-', "_")
        ),
    }
}
