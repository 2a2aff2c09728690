//! `bnpl.toml` plus `BNPL_*` environment overrides, validated into settings
//! the engine can run. Every error names the key at fault.
//!
//! ```toml
//! database_url = "sqlite://bnpl.db"
//! [sync]
//! max_concurrent_accounts = 16
//! [providers.klarna_us]
//! enabled = true
//! base_url = "https://..."
//! page_size = 50
//! max_concurrent_accounts = 4
//! [providers.klarna_us.cadence]
//! purchases = "15m"
//! profile = "1d"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bnpl_core::retry::RetryPolicy;
use bnpl_core::{ConfigError, ErasedConnector, ProviderContext, ProviderRegistration, Stream};
use serde::Deserialize;

/// Keys every provider section may carry; the rest belongs to the provider.
const SHARED_PROVIDER_KEYS: [&str; 3] = ["enabled", "max_concurrent_accounts", "cadence"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default = "default_database_url")]
    database_url: String,
    /// Where the key that encrypts stored credentials lives.
    #[serde(default)]
    secret_key_file: Option<PathBuf>,
    #[serde(default)]
    sync: SyncSettings,
    #[serde(default)]
    providers: BTreeMap<String, serde_json::Value>,
}

fn default_database_url() -> String {
    "sqlite://bnpl.db".to_string()
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSettings {
    /// Accounts synced at once, across all providers.
    pub max_concurrent_accounts: usize,
    /// Retries of temporary failures, backoff bounds.
    pub retry: RetryPolicy,
    /// Pages of one stream read in one run before moving on (a guard against a
    /// provider that never says it is caught up).
    pub max_pages_per_stream: u32,
    /// Accounts read from the store at a time: the scheduler's memory follows
    /// this, not the number of accounts.
    pub accounts_per_read: u32,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            max_concurrent_accounts: 16,
            retry: RetryPolicy::default(),
            max_pages_per_stream: 10_000,
            accounts_per_read: 500,
        }
    }
}

/// The settings every provider shares.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct SharedProviderSection {
    #[serde(default)]
    enabled: bool,
    #[serde(default = "default_provider_concurrency")]
    max_concurrent_accounts: usize,
    #[serde(default)]
    cadence: BTreeMap<String, String>,
}

fn default_provider_concurrency() -> usize {
    8
}

/// How often each stream is read when `bnpl sync` runs continuously.
/// Installments are what a person feels, so purchases are read most often.
pub fn default_cadence(stream: Stream) -> Duration {
    let minutes = match stream {
        Stream::Purchases => 15,
        Stream::CardTransactions | Stream::BalanceEntries | Stream::Balance => 30,
        Stream::PointsEntries | Stream::Points | Stream::Deliveries => 60,
        Stream::Profile => 24 * 60,
    };
    Duration::from_secs(minutes * 60)
}

/// One enabled provider, ready to run.
#[derive(Clone)]
pub struct ProviderRuntime {
    pub registration: &'static ProviderRegistration,
    pub connector: Arc<dyn ErasedConnector>,
    pub max_concurrent_accounts: usize,
    pub cadence: BTreeMap<Stream, Duration>,
}

impl ProviderRuntime {
    pub fn id(&self) -> &'static str {
        self.registration.id
    }

    /// Builds a provider with default shared settings (tests, the demo).
    pub fn new(
        registration: &'static ProviderRegistration,
        connector: Arc<dyn ErasedConnector>,
    ) -> Self {
        ProviderRuntime {
            registration,
            connector,
            max_concurrent_accounts: default_provider_concurrency(),
            cadence: registration
                .streams
                .iter()
                .map(|s| (*s, default_cadence(*s)))
                .collect(),
        }
    }
}

impl std::fmt::Debug for ProviderRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRuntime")
            .field("id", &self.registration.id)
            .field("max_concurrent_accounts", &self.max_concurrent_accounts)
            .field("cadence", &self.cadence)
            .finish()
    }
}

/// A provider enabled in config that cannot run (a planned slot): reported
/// at start-up, never a crash.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderProblem {
    pub provider: String,
    pub error: ConfigError,
}

#[derive(Debug)]
pub struct Settings {
    pub database_url: String,
    pub secret_key_file: Option<PathBuf>,
    pub sync: SyncSettings,
    /// Provider sections by provider id (`klarna-us`), as written.
    provider_sections: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("config: {0}")]
    Invalid(String),
    #[error(transparent)]
    Provider(#[from] ConfigError),
}

impl Settings {
    /// Reads `path` (required when `explicit`, else optional) and `BNPL_*`
    /// variables (`BNPL_DATABASE_URL`, `BNPL_PROVIDERS__KLARNA_US__ENABLED`).
    pub fn load(path: &Path, explicit: bool) -> Result<Settings, SettingsError> {
        if explicit && !path.exists() {
            return Err(SettingsError::File {
                path: path.display().to_string(),
                message: "no such file".into(),
            });
        }
        let builder = config::Config::builder()
            .add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(false),
            )
            .add_source(
                config::Environment::with_prefix("BNPL")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(settings_variables(std::env::vars()))),
            );
        let raw = builder
            .build()
            .and_then(|c| c.try_deserialize::<RawSettings>())
            .map_err(|e| SettingsError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        Settings::from_raw(raw)
    }

    /// Parses settings from TOML text (tests, embedded defaults).
    pub fn from_toml(text: &str) -> Result<Settings, SettingsError> {
        let raw = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize::<RawSettings>())
            .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        Settings::from_raw(raw)
    }

    fn from_raw(raw: RawSettings) -> Result<Settings, SettingsError> {
        if raw.sync.max_concurrent_accounts == 0 {
            return Err(
                ConfigError::invalid("sync.max_concurrent_accounts", "must be at least 1").into(),
            );
        }
        let mut provider_sections = BTreeMap::new();
        for (key, section) in raw.providers {
            let registration = bnpl_core::registry::find(&key)?;
            provider_sections.insert(registration.id.to_string(), section);
        }
        Ok(Settings {
            database_url: raw.database_url,
            secret_key_file: raw.secret_key_file,
            sync: raw.sync,
            provider_sections,
        })
    }

    /// Builds every enabled provider. A provider that cannot run (a planned
    /// slot) is returned as a problem to report; a malformed section is an error.
    pub fn providers(
        &self,
        context: &ProviderContext,
    ) -> Result<(Vec<ProviderRuntime>, Vec<ProviderProblem>), ConfigError> {
        let mut runtimes = Vec::new();
        let mut problems = Vec::new();
        for (id, section) in &self.provider_sections {
            let registration = bnpl_core::registry::find(id)?;
            let key = registration.config_key();
            let (shared, own) = split_section(&key, section)?;
            if !shared.enabled {
                continue;
            }
            let connector = match (registration.factory)(own, context) {
                Ok(c) => c,
                Err(e @ ConfigError::NotAvailable { .. }) => {
                    problems.push(ProviderProblem {
                        provider: id.clone(),
                        error: e,
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            if shared.max_concurrent_accounts == 0 {
                return Err(ConfigError::invalid(
                    format!("providers.{key}.max_concurrent_accounts"),
                    "must be at least 1",
                ));
            }
            let mut runtime = ProviderRuntime::new(registration, connector);
            runtime.max_concurrent_accounts = shared.max_concurrent_accounts;
            for (stream_name, text) in &shared.cadence {
                let at = format!("providers.{key}.cadence.{stream_name}");
                let stream =
                    Stream::parse(stream_name).map_err(|e| ConfigError::invalid(&at, e))?;
                if !registration.streams.contains(&stream) {
                    return Err(ConfigError::invalid(
                        &at,
                        format!("{} does not serve the {stream} stream", registration.id),
                    ));
                }
                let every = humantime::parse_duration(text).map_err(|e| {
                    ConfigError::invalid(
                        &at,
                        format!("{text:?} is not a duration like \"15m\": {e}"),
                    )
                })?;
                runtime.cadence.insert(stream, every);
            }
            runtimes.push(runtime);
        }
        Ok((runtimes, problems))
    }

    /// The raw section of one provider, as written (for tools that build one connector).
    pub fn provider_section(&self, id: &str) -> Option<&serde_json::Value> {
        self.provider_sections.get(id)
    }
}

/// The `BNPL_*` variables that are settings. Others share the prefix without
/// being settings (`BNPL_CONFIG`, `BNPL_REFRESH_TOKEN`, test variables) and
/// must not turn into unknown keys.
fn settings_variables(
    vars: impl Iterator<Item = (String, String)>,
) -> std::collections::HashMap<String, String> {
    const KEYS: [&str; 4] = ["DATABASE_URL", "SECRET_KEY_FILE", "SYNC__", "PROVIDERS__"];
    vars.filter(|(name, _)| {
        name.strip_prefix("BNPL_").is_some_and(|rest| {
            KEYS.iter()
                .any(|k| rest.to_ascii_uppercase().starts_with(k))
        })
    })
    .collect()
}

fn split_section(
    key: &str,
    section: &serde_json::Value,
) -> Result<(SharedProviderSection, serde_json::Value), ConfigError> {
    let table = section
        .as_object()
        .ok_or_else(|| ConfigError::invalid(format!("providers.{key}"), "must be a table"))?;
    let mut shared = serde_json::Map::new();
    let mut own = serde_json::Map::new();
    for (k, v) in table {
        if SHARED_PROVIDER_KEYS.contains(&k.as_str()) {
            shared.insert(k.clone(), v.clone());
        } else {
            own.insert(k.clone(), v.clone());
        }
    }
    let shared: SharedProviderSection =
        serde_json::from_value(serde_json::Value::Object(shared))
            .map_err(|e| ConfigError::invalid(format!("providers.{key}"), e.to_string()))?;
    Ok((shared, serde_json::Value::Object(own)))
}

/// The provider registry must be linked for these tests; the sync crate's
/// own tests register a fake provider (see `testing`).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_settings_variables_are_read_from_the_environment() {
        let vars = [
            ("BNPL_DATABASE_URL", "postgres://x"),
            ("BNPL_PROVIDERS__KLARNA_US__ENABLED", "true"),
            ("BNPL_TEST_POSTGRES_URL", "postgres://y"),
            ("BNPL_CONFIG", "other.toml"),
            ("BNPL_REFRESH_TOKEN", "rt"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let mut kept: Vec<String> = settings_variables(vars.into_iter()).into_keys().collect();
        kept.sort();
        assert_eq!(
            kept,
            ["BNPL_DATABASE_URL", "BNPL_PROVIDERS__KLARNA_US__ENABLED"]
        );
    }

    #[test]
    fn defaults_apply_without_a_file() {
        let s = Settings::from_toml("").unwrap();
        assert_eq!(s.database_url, "sqlite://bnpl.db");
        assert_eq!(s.sync.max_concurrent_accounts, 16);
    }

    #[test]
    fn unknown_top_level_key_is_named() {
        let err = Settings::from_toml("databse_url = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("databse_url"), "{err}");
    }

    #[test]
    fn unknown_provider_lists_the_known_ones() {
        let err = Settings::from_toml("[providers.klarna_uk]\nenabled = true")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown provider \"klarna_uk\""), "{err}");
        assert!(err.contains("known providers: "), "{err}");
        assert!(err.contains("fake"), "{err}");
    }

    #[test]
    fn bad_cadence_is_named() {
        let s = Settings::from_toml(
            "[providers.fake]\nenabled = true\n[providers.fake.cadence]\npurchases = \"soon\"",
        )
        .unwrap();
        let err = s.providers(&Default::default()).unwrap_err().to_string();
        assert!(
            err.starts_with("providers.fake.cadence.purchases: \"soon\""),
            "{err}"
        );
    }

    #[test]
    fn cadence_and_concurrency_are_read() {
        let s = Settings::from_toml(
            "[providers.fake]\nenabled = true\nmax_concurrent_accounts = 3\n[providers.fake.cadence]\npurchases = \"90s\"",
        )
        .unwrap();
        let (runtimes, problems) = s.providers(&Default::default()).unwrap();
        assert!(problems.is_empty());
        assert_eq!(runtimes[0].max_concurrent_accounts, 3);
        assert_eq!(
            runtimes[0].cadence[&Stream::Purchases],
            Duration::from_secs(90)
        );
        assert_eq!(
            runtimes[0].cadence[&Stream::Profile],
            default_cadence(Stream::Profile)
        );
    }

    #[test]
    fn disabled_providers_are_not_built() {
        let s = Settings::from_toml("[providers.fake]\nenabled = false\nnot_a_key = 1").unwrap();
        let (runtimes, _) = s.providers(&Default::default()).unwrap();
        assert!(runtimes.is_empty());
    }

    #[test]
    fn a_bad_provider_key_is_named_by_the_provider() {
        let s = Settings::from_toml("[providers.fake]\nenabled = true\nnot_a_key = 1").unwrap();
        let err = s.providers(&Default::default()).unwrap_err().to_string();
        assert!(err.contains("providers.fake"), "{err}");
        assert!(err.contains("not_a_key"), "{err}");
    }
}
