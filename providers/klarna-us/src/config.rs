//! The `[providers.klarna_us]` section of `bnpl.toml`.
//!
//! The core strips the keys every provider shares (`enabled`, cadences,
//! `max_concurrent_accounts`) before the section reaches [`KlarnaUsConfig`],
//! so anything else here is a typo and rejected (`deny_unknown_fields`).

use std::time::Duration;

use bnpl_core::{ConfigError, ProviderContext};
use reqwest::Url;
use serde::Deserialize;

use crate::PROVIDER_ID;

/// Largest `page_size` the API accepts; a larger one is a 400, never clamped.
pub const MAX_PAGE_SIZE: u32 = 100;
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const DEFAULT_REFRESH_AHEAD_SECS: u64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KlarnaUsConfig {
    /// Where the consumer API lives (`https://host[/prefix]`); a trailing slash is tolerated.
    pub base_url: String,
    /// Rows per delta page, 1..=100.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// How long before the access token's expiry it is refreshed.
    #[serde(default = "default_refresh_ahead_secs")]
    pub refresh_ahead_secs: u64,
    /// Whole-request timeout in seconds (> 0). Unset: the engine's
    /// `ProviderContext::request_timeout`, which is 30 s unless the engine says otherwise.
    #[serde(default)]
    pub request_timeout_secs: Option<u64>,
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}

fn default_refresh_ahead_secs() -> u64 {
    DEFAULT_REFRESH_AHEAD_SECS
}

/// The config after validation, as the connector uses it.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `base_url` without a trailing slash; paths are appended to it.
    pub base_url: String,
    pub page_size: u32,
    pub refresh_ahead: Duration,
    pub request_timeout: Duration,
}

fn key(field: &str) -> String {
    format!("providers.{}.{field}", PROVIDER_ID.replace('-', "_"))
}

impl KlarnaUsConfig {
    /// A config with every default and the given base URL.
    pub fn new(base_url: impl Into<String>) -> Self {
        KlarnaUsConfig {
            base_url: base_url.into(),
            page_size: DEFAULT_PAGE_SIZE,
            refresh_ahead_secs: DEFAULT_REFRESH_AHEAD_SECS,
            request_timeout_secs: None,
        }
    }

    /// Checks every value, naming the key at fault.
    pub(crate) fn validate(&self, context: &ProviderContext) -> Result<Settings, ConfigError> {
        let base_url = validate_base_url(&self.base_url)?;
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ConfigError::invalid(
                key("page_size"),
                format!(
                    "must be between 1 and {MAX_PAGE_SIZE}, got {}",
                    self.page_size
                ),
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
        Ok(Settings {
            base_url,
            page_size: self.page_size,
            refresh_ahead: Duration::from_secs(self.refresh_ahead_secs),
            request_timeout,
        })
    }
}

fn validate_base_url(raw: &str) -> Result<String, ConfigError> {
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
    Ok(url.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ProviderContext {
        ProviderContext::default()
    }

    fn from_json(v: serde_json::Value) -> Result<KlarnaUsConfig, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn defaults_apply() {
        let c = from_json(serde_json::json!({ "base_url": "https://api.example.test" })).unwrap();
        assert_eq!(c, KlarnaUsConfig::new("https://api.example.test"));
        let s = c.validate(&ctx()).unwrap();
        assert_eq!(s.page_size, 50);
        assert_eq!(s.refresh_ahead, Duration::from_secs(60));
        assert_eq!(s.request_timeout, Duration::from_secs(30));
        assert_eq!(s.base_url, "https://api.example.test");
    }

    #[test]
    fn explicit_timeout_wins_over_the_context() {
        let mut c = KlarnaUsConfig::new("http://127.0.0.1:8080");
        c.request_timeout_secs = Some(5);
        let context = ProviderContext {
            request_timeout: Duration::from_secs(99),
            ..ProviderContext::default()
        };
        assert_eq!(
            c.validate(&context).unwrap().request_timeout,
            Duration::from_secs(5)
        );
        c.request_timeout_secs = None;
        assert_eq!(
            c.validate(&context).unwrap().request_timeout,
            Duration::from_secs(99)
        );
        c.request_timeout_secs = Some(0);
        let err = c.validate(&context).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("providers.klarna_us.request_timeout_secs:"),
            "{err}"
        );
    }

    #[test]
    fn trailing_slash_and_prefix_are_kept_sane() {
        let s = KlarnaUsConfig::new("https://h.test/klarna/")
            .validate(&ctx())
            .unwrap();
        assert_eq!(s.base_url, "https://h.test/klarna");
        let s = KlarnaUsConfig::new("http://127.0.0.1:9/")
            .validate(&ctx())
            .unwrap();
        assert_eq!(s.base_url, "http://127.0.0.1:9");
    }

    #[test]
    fn bad_base_urls_name_the_key() {
        for bad in [
            "",
            "not a url",
            "ftp://h.test",
            "file:///tmp/x",
            "https://h.test/?a=1",
            "mailto:x@y.z",
        ] {
            let err = KlarnaUsConfig::new(bad).validate(&ctx()).unwrap_err();
            assert!(
                err.to_string().starts_with("providers.klarna_us.base_url:"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn page_size_out_of_range_names_the_key() {
        for bad in [0, 101, 1000] {
            let mut c = KlarnaUsConfig::new("https://h.test");
            c.page_size = bad;
            let err = c.validate(&ctx()).unwrap_err();
            assert_eq!(
                err,
                ConfigError::invalid(
                    "providers.klarna_us.page_size",
                    format!("must be between 1 and 100, got {bad}")
                )
            );
        }
        for good in [1, 100] {
            let mut c = KlarnaUsConfig::new("https://h.test");
            c.page_size = good;
            assert_eq!(c.validate(&ctx()).unwrap().page_size, good);
        }
    }

    #[test]
    fn unknown_keys_and_a_missing_base_url_are_rejected() {
        let err = from_json(serde_json::json!({ "base_url": "https://h.test", "pagesize": 3 }))
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `pagesize`"),
            "{err}"
        );
        let err = from_json(serde_json::json!({ "page_size": 3 })).unwrap_err();
        assert!(
            err.to_string().contains("missing field `base_url`"),
            "{err}"
        );
    }
}
