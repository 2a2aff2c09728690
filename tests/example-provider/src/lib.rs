//! `example`: a tiny in-memory provider, outside the core and outside the
//! `bnpl-providers` facade. It is the worked example of
//! docs/adding-a-connector.md and the proof that a provider is a new crate
//! with no change to any core crate: its test configures it from TOML and
//! the scheduler syncs it.
//!
//! The "provider" serves `entries` top-ups of 1.00 USD on one delta stream
//! (`balance_entries`), all in one page.

use std::sync::Arc;

use async_trait::async_trait;
use bnpl_core::{
    AccountCredentials, AccountSession, BalanceEntry, BookingStatus, ConfigError, Connector,
    ConnectorError, CredentialField, CredentialStore, Currency, MAIN_LEDGER, Money, Page,
    ProviderContext, ProviderRegistration, ProviderStatus, Records, SnapshotData, Stream,
};
use chrono::{DateTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub const PROVIDER_ID: &str = "example";

/// `[providers.example]`, minus the keys every provider shares.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleConfig {
    /// How many entries each account has.
    #[serde(default = "default_entries")]
    pub entries: u32,
}

fn default_entries() -> u32 {
    3
}

pub struct Example {
    entries: u32,
}

fn token(secret: &SecretString) -> Result<String, ConfigError> {
    let value: serde_json::Value = serde_json::from_str(secret.expose_secret())
        .map_err(|_| ConfigError::invalid("credentials", "not a JSON document"))?;
    match value.get("token").and_then(|t| t.as_str()) {
        Some(t) if !t.is_empty() => Ok(t.to_string()),
        _ => Err(ConfigError::invalid("credentials.token", "missing")),
    }
}

#[async_trait]
impl Connector for Example {
    type Config = ExampleConfig;

    fn from_config(config: ExampleConfig, _context: &ProviderContext) -> Result<Self, ConfigError> {
        Ok(Example {
            entries: config.entries,
        })
    }

    fn validate_credentials(&self, secret: &SecretString) -> Result<(), ConfigError> {
        token(secret).map(drop)
    }

    async fn open(
        &self,
        credentials: AccountCredentials,
        _store: Arc<dyn CredentialStore>,
    ) -> Result<Box<dyn AccountSession>, ConnectorError> {
        token(&credentials.secret).map_err(|e| ConnectorError::ReauthRequired {
            message: e.to_string(),
        })?;
        Ok(Box::new(ExampleSession {
            account_id: credentials.account_id,
            entries: self.entries,
        }))
    }
}

struct ExampleSession {
    account_id: String,
    entries: u32,
}

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, day.clamp(1, 28), 10, 0, 0)
        .single()
        .unwrap_or_default()
}

#[async_trait]
impl AccountSession for ExampleSession {
    async fn pull(&mut self, stream: Stream, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        if stream != Stream::BalanceEntries {
            return Err(unsupported(stream));
        }
        let rows = if cursor.is_some() {
            Vec::new()
        } else {
            let usd = Currency::parse("USD").expect("USD is a currency");
            (1..=self.entries)
                .map(|i| BalanceEntry {
                    id: format!("{}-e{i}", self.account_id),
                    ledger: MAIN_LEDGER.to_string(),
                    kind: "top_up".parse().expect("a balance entry kind"),
                    booking: BookingStatus::Booked,
                    amount: Money::new(100, usd),
                    description: None,
                    purchase_id: None,
                    points_entry_id: None,
                    occurred_at: at(i),
                    updated_at: at(i),
                })
                .collect()
        };
        Ok(Page {
            records: Records::BalanceEntries(rows),
            removed: Vec::new(),
            next_cursor: format!("upto:{}", self.entries),
            caught_up: true,
        })
    }

    async fn snapshot(&mut self, stream: Stream) -> Result<SnapshotData, ConnectorError> {
        Err(unsupported(stream))
    }
}

fn unsupported(stream: Stream) -> ConnectorError {
    ConnectorError::Permanent {
        message: format!("{PROVIDER_ID} has no {stream} stream"),
        correlation_id: None,
    }
}

fn factory(
    section: serde_json::Value,
    context: &ProviderContext,
) -> Result<Arc<dyn bnpl_core::ErasedConnector>, ConfigError> {
    bnpl_core::connector::build::<Example>(PROVIDER_ID, section, context)
}

bnpl_core::inventory::submit! {
    ProviderRegistration {
        id: PROVIDER_ID,
        display_name: "Example (in memory)",
        markets: &["US"],
        streams: &[Stream::BalanceEntries],
        status: ProviderStatus::Beta,
        description: "worked example of a provider crate: in-memory balance entries",
        credential_fields: &[CredentialField {
            name: "token",
            secret: true,
            help: "any non-empty string",
        }],
        factory,
    }
}
