//! The `[providers.klarna_eu]` section of `bnpl.toml`.
//!
//! The core strips the keys every provider shares (`enabled`, cadences,
//! `max_concurrent_accounts`) before the section reaches [`KlarnaEuConfig`],
//! so anything else here is a typo and rejected (`deny_unknown_fields`).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use bnpl_core::{ConfigError, ProviderContext};
use reqwest::Url;
use serde::Deserialize;

use crate::PROVIDER_ID;

pub const DEFAULT_FREQUENCY_PER_DAY: u32 = 4;
pub const DEFAULT_PENDING_EXPIRY_DAYS: u32 = 14;
pub const DEFAULT_OVERLAP_DAYS: u32 = 3;
/// How far back the first read of an account goes (the usual PSD2 limit
/// for reads without a fresh SCA).
pub const INITIAL_HISTORY_DAYS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KlarnaEuConfig {
    /// The ASPSP's XS2A root (`https://host[/prefix]`); `/v1/...` is appended.
    pub base_url: String,
    /// PEM file of the eIDAS QWAC client certificate (chain) for mTLS.
    #[serde(default)]
    pub client_cert_pem: Option<PathBuf>,
    /// PEM file of the certificate's private key (PKCS#8, RSA or EC).
    #[serde(default)]
    pub client_key_pem: Option<PathBuf>,
    /// Unattended reads allowed per account in a rolling 24 h (1..=4 unless
    /// agreed otherwise with the bank); also what new consents ask for.
    #[serde(default = "default_frequency")]
    pub frequency_per_day: u32,
    /// The holder's IP address. Set: every call is made on the holder's
    /// behalf while present (sent as `PSU-IP-Address`, not counted against
    /// the quota). Unset: calls are unattended and counted.
    #[serde(default)]
    pub psu_ip_address: Option<Ipv4Addr>,
    /// Days after which a pending transaction that never booked leaves the mirror.
    #[serde(default = "default_pending_expiry")]
    pub pending_expiry_days: u32,
    /// Days an incremental read reaches back before the last read, to catch
    /// rows booked late with an earlier booking date.
    #[serde(default = "default_overlap")]
    pub overlap_days: u32,
    /// Whole-request timeout in seconds (> 0). Unset: the engine's default.
    #[serde(default)]
    pub request_timeout_secs: Option<u64>,
}

fn default_frequency() -> u32 {
    DEFAULT_FREQUENCY_PER_DAY
}
fn default_pending_expiry() -> u32 {
    DEFAULT_PENDING_EXPIRY_DAYS
}
fn default_overlap() -> u32 {
    DEFAULT_OVERLAP_DAYS
}

/// The config after validation, as the connector uses it.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `base_url` without a trailing slash.
    pub base_url: Url,
    pub frequency_per_day: u32,
    pub psu_ip_address: Option<Ipv4Addr>,
    pub pending_expiry_days: u32,
    pub overlap_days: u32,
    pub request_timeout: Duration,
    pub user_agent: String,
    /// Certificate chain followed by the key, PEM (what `reqwest::Identity` reads).
    pub identity_pem: Option<Vec<u8>>,
}

pub(crate) fn key(field: &str) -> String {
    format!("providers.{}.{field}", PROVIDER_ID.replace('-', "_"))
}

impl KlarnaEuConfig {
    /// A config with every default and the given base URL.
    pub fn new(base_url: impl Into<String>) -> Self {
        KlarnaEuConfig {
            base_url: base_url.into(),
            client_cert_pem: None,
            client_key_pem: None,
            frequency_per_day: DEFAULT_FREQUENCY_PER_DAY,
            psu_ip_address: None,
            pending_expiry_days: DEFAULT_PENDING_EXPIRY_DAYS,
            overlap_days: DEFAULT_OVERLAP_DAYS,
            request_timeout_secs: None,
        }
    }

    /// Checks every value (and reads the mTLS files), naming the key at fault.
    pub(crate) fn validate(&self, context: &ProviderContext) -> Result<Settings, ConfigError> {
        let base_url = validate_base_url(&self.base_url)?;
        if self.frequency_per_day == 0 {
            return Err(ConfigError::invalid(
                key("frequency_per_day"),
                "must be at least 1",
            ));
        }
        if self.pending_expiry_days == 0 {
            return Err(ConfigError::invalid(
                key("pending_expiry_days"),
                "must be at least 1",
            ));
        }
        if self.overlap_days > 60 {
            return Err(ConfigError::invalid(
                key("overlap_days"),
                format!("must be at most 60, got {}", self.overlap_days),
            ));
        }
        let request_timeout = match self.request_timeout_secs {
            Some(0) => {
                return Err(ConfigError::invalid(
                    key("request_timeout_secs"),
                    "must be at least 1 second",
                ));
            }
            Some(secs) => Duration::from_secs(secs),
            None => context.request_timeout,
        };
        let identity_pem = match (&self.client_cert_pem, &self.client_key_pem) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    key("client_key_pem"),
                    "missing: client_cert_pem needs its private key",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    key("client_cert_pem"),
                    "missing: client_key_pem needs its certificate",
                ));
            }
            (Some(cert), Some(private_key)) => {
                let mut pem = read_pem(cert, "client_cert_pem", "CERTIFICATE")?;
                pem.push(b'\n');
                pem.extend(read_pem(private_key, "client_key_pem", "PRIVATE KEY")?);
                reqwest::Identity::from_pem(&pem).map_err(|e| {
                    ConfigError::invalid(
                        key("client_cert_pem"),
                        format!("certificate and key do not form a TLS identity: {e}"),
                    )
                })?;
                Some(pem)
            }
        };
        Ok(Settings {
            base_url,
            frequency_per_day: self.frequency_per_day,
            psu_ip_address: self.psu_ip_address,
            pending_expiry_days: self.pending_expiry_days,
            overlap_days: self.overlap_days,
            request_timeout,
            user_agent: context.user_agent.clone(),
            identity_pem,
        })
    }
}

/// Reads a PEM file, checking it holds a block of the expected kind. Never
/// quotes the file's content.
fn read_pem(path: &PathBuf, field: &str, kind: &str) -> Result<Vec<u8>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigError::invalid(key(field), format!("cannot read {}: {e}", path.display()))
    })?;
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("-----BEGIN ") || !text.contains(kind) {
        return Err(ConfigError::invalid(
            key(field),
            format!("{} holds no PEM {kind} block", path.display()),
        ));
    }
    Ok(bytes)
}

fn validate_base_url(raw: &str) -> Result<Url, ConfigError> {
    let invalid = |message: String| ConfigError::invalid(key("base_url"), message);
    let url = Url::parse(raw.trim()).map_err(|e| invalid(format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "{raw:?} must be an http or https URL, not {}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("{raw:?} has no host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!(
            "{raw:?} must not carry a query or a fragment"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials".to_string()));
    }
    let trimmed = url.as_str().trim_end_matches('/').to_string();
    Url::parse(&trimmed).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ProviderContext {
        ProviderContext::default()
    }

    #[test]
    fn defaults_apply() {
        let c: KlarnaEuConfig =
            serde_json::from_value(serde_json::json!({ "base_url": "https://xs2a.test/psd2/" }))
                .unwrap();
        assert_eq!(c, KlarnaEuConfig::new("https://xs2a.test/psd2/"));
        let s = c.validate(&ctx()).unwrap();
        assert_eq!(s.base_url.as_str(), "https://xs2a.test/psd2");
        assert_eq!(s.frequency_per_day, 4);
        assert_eq!(s.pending_expiry_days, 14);
        assert_eq!(s.overlap_days, 3);
        assert_eq!(s.psu_ip_address, None);
        assert_eq!(s.request_timeout, Duration::from_secs(30));
        assert!(s.identity_pem.is_none());
    }

    #[test]
    fn unknown_keys_are_rejected_and_bad_values_name_the_key() {
        let err = serde_json::from_value::<KlarnaEuConfig>(
            serde_json::json!({ "base_url": "https://h.test", "frequency": 3 }),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `frequency`"),
            "{err}"
        );
        let err = serde_json::from_value::<KlarnaEuConfig>(
            serde_json::json!({ "base_url": "https://h.test", "psu_ip_address": "::1" }),
        )
        .unwrap_err();
        assert!(err.to_string().contains("invalid"), "{err}");

        let mut c = KlarnaEuConfig::new("https://h.test");
        c.frequency_per_day = 0;
        assert!(
            c.validate(&ctx())
                .unwrap_err()
                .to_string()
                .starts_with("providers.klarna_eu.frequency_per_day:")
        );
        let mut c = KlarnaEuConfig::new("ftp://h.test");
        assert!(
            c.validate(&ctx())
                .unwrap_err()
                .to_string()
                .starts_with("providers.klarna_eu.base_url:")
        );
        c = KlarnaEuConfig::new("https://h.test");
        c.request_timeout_secs = Some(0);
        assert!(
            c.validate(&ctx())
                .unwrap_err()
                .to_string()
                .starts_with("providers.klarna_eu.request_timeout_secs:")
        );
        c.request_timeout_secs = Some(7);
        assert_eq!(
            c.validate(&ctx()).unwrap().request_timeout,
            Duration::from_secs(7)
        );
    }

    #[test]
    fn mtls_files_must_come_in_pairs_and_be_pem() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, "not a pem").unwrap();
        let mut c = KlarnaEuConfig::new("https://h.test");
        c.client_cert_pem = Some(cert.clone());
        let err = c.validate(&ctx()).unwrap_err().to_string();
        assert!(
            err.starts_with("providers.klarna_eu.client_key_pem: missing"),
            "{err}"
        );
        c.client_key_pem = Some(dir.path().join("absent.pem"));
        let err = c.validate(&ctx()).unwrap_err().to_string();
        assert!(
            err.starts_with("providers.klarna_eu.client_cert_pem:"),
            "{err}"
        );
        assert!(err.contains("no PEM CERTIFICATE block"), "{err}");
    }
}
