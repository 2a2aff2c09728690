//! One HTTP client per connector: the Berlin Group headers on every request,
//! link resolution, and the mapping of error answers (`tppMessages`) to the
//! core's typed errors.
//!
//! Secrets: the consent id travels in the `Consent-ID` header and in consent
//! paths. No URL is ever logged or put in an error (reqwest errors are
//! stripped of theirs), and no header value is logged.

use std::net::Ipv4Addr;
use std::time::Duration;

use bnpl_core::{ConfigError, ConnectorError};
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{Settings, key};
use crate::wire::{self, TppMessage};

pub(crate) struct Api {
    client: reqwest::Client,
    /// No trailing slash.
    base: Url,
    psu_ip: Option<Ipv4Addr>,
}

/// An answer of any status, with what the error mapping needs.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
    /// The `X-Request-ID` we sent (the bank echoes it): the correlation id.
    pub request_id: String,
    pub retry_after: Option<Duration>,
    pub sca_approach: Option<String>,
}

/// What an error answer means, before the caller adds what it knows
/// (whether the call was unattended, which stream it served).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// The consent is gone: expired, revoked, unknown, invalid.
    Reauth,
    /// `ACCESS_EXCEEDED`: the bank's frequency limit.
    AccessExceeded,
    /// The addressed resource (an account, a page link) is unknown or expired.
    ResourceGone,
    /// The consent does not cover the addressed service.
    OutOfScope,
    Retryable,
    Permanent,
}

#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub class: ErrorClass,
    pub status: u16,
    pub codes: Vec<String>,
    pub text: String,
    pub retry_after: Option<Duration>,
    pub request_id: String,
}

impl ApiError {
    fn message(&self) -> String {
        let codes = if self.codes.is_empty() {
            String::new()
        } else {
            format!(" {}", self.codes.join(","))
        };
        let text = if self.text.is_empty() {
            String::new()
        } else {
            format!(": {}", self.text)
        };
        format!("HTTP {}{codes}{text}", self.status)
    }

    /// The core error. `quota_next` is when the next unattended read is
    /// allowed, given for unattended calls only: with it `ACCESS_EXCEEDED`
    /// stops the account until then; without it (the holder is present) it
    /// is a rate limit worth a retry.
    pub fn into_connector(self, quota_next: Option<DateTime<Utc>>) -> ConnectorError {
        let message = self.message();
        let correlation_id = Some(self.request_id.clone());
        match self.class {
            ErrorClass::Reauth => ConnectorError::ReauthRequired { message },
            ErrorClass::AccessExceeded => match quota_next {
                Some(next_allowed) => ConnectorError::QuotaExhausted { next_allowed },
                None => ConnectorError::Retryable {
                    message,
                    retry_after: self.retry_after,
                    correlation_id,
                },
            },
            ErrorClass::OutOfScope => ConnectorError::OutOfScope { message },
            ErrorClass::Retryable => ConnectorError::Retryable {
                message,
                retry_after: self.retry_after,
                correlation_id,
            },
            ErrorClass::ResourceGone | ErrorClass::Permanent => ConnectorError::Permanent {
                message,
                correlation_id,
            },
        }
    }
}

/// Codes after which only a new consent helps.
const REAUTH_CODES: &[&str] = &[
    "CONSENT_EXPIRED",
    "CONSENT_INVALID",
    "CONSENT_UNKNOWN",
    "SERVICE_BLOCKED",
];
const RESOURCE_GONE_CODES: &[&str] = &["RESOURCE_UNKNOWN", "RESOURCE_EXPIRED", "RESOURCE_BLOCKED"];
const OUT_OF_SCOPE_CODES: &[&str] = &["SERVICE_INVALID", "PRODUCT_INVALID"];

/// Classifies an error answer by its codes first, then by its status.
pub(crate) fn classify(status: u16, codes: &[String]) -> ErrorClass {
    let has = |set: &[&str]| codes.iter().any(|c| set.contains(&c.as_str()));
    if has(&["ACCESS_EXCEEDED"]) {
        return ErrorClass::AccessExceeded;
    }
    if has(REAUTH_CODES) {
        return ErrorClass::Reauth;
    }
    if has(RESOURCE_GONE_CODES) {
        return ErrorClass::ResourceGone;
    }
    if has(OUT_OF_SCOPE_CODES) {
        return ErrorClass::OutOfScope;
    }
    match status {
        408 | 409 | 429 | 500..=599 => ErrorClass::Retryable,
        404 => ErrorClass::ResourceGone,
        _ => ErrorClass::Permanent,
    }
}

impl Api {
    pub fn new(settings: &Settings) -> Result<Api, ConfigError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .timeout(settings.request_timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &settings.identity_pem {
            let identity = reqwest::Identity::from_pem(pem).map_err(|e| {
                ConfigError::invalid(key("client_cert_pem"), format!("not a TLS identity: {e}"))
            })?;
            builder = builder.identity(identity);
        }
        let client = builder.build().map_err(|e| {
            ConfigError::invalid(key("base_url"), format!("cannot build an HTTP client: {e}"))
        })?;
        Ok(Api {
            client,
            base: settings.base_url.clone(),
            psu_ip: settings.psu_ip_address,
        })
    }

    /// Whether calls are made with the holder present (`PSU-IP-Address`).
    pub fn attended(&self) -> bool {
        self.psu_ip.is_some()
    }

    /// `base_url` + `path` (`/v1/...`).
    pub fn url(&self, path: &str) -> Url {
        let joined = format!("{}{path}", self.base.as_str().trim_end_matches('/'));
        Url::parse(&joined).expect("a valid base URL plus a path is a valid URL")
    }

    /// Resolves an `href` of a `_links` object. Absolute links must stay on
    /// the bank's origin (the consent id is never sent elsewhere); a path
    /// that repeats the base URL's prefix (`/psd2/v1/...` under
    /// `https://bank/psd2`) is taken from the origin, any other path is
    /// appended to the base URL.
    pub fn resolve_link(&self, href: &str) -> Result<Url, ConnectorError> {
        let href = href.trim();
        if href.starts_with("http://") || href.starts_with("https://") {
            let url = Url::parse(href)
                .map_err(|e| ConnectorError::permanent(format!("bad link in answer: {e}")))?;
            if url.origin() != self.base.origin() {
                return Err(ConnectorError::permanent(
                    "the bank linked to another host; not following it with the consent",
                ));
            }
            return Ok(url);
        }
        let base_path = self.base.path().trim_end_matches('/');
        let path = if href.starts_with('/') {
            href.to_string()
        } else {
            format!("/{href}")
        };
        let joined = if !base_path.is_empty()
            && (path == base_path || path.starts_with(&format!("{base_path}/")))
        {
            let mut origin = self.base.clone();
            origin.set_path("");
            format!("{}{path}", origin.as_str().trim_end_matches('/'))
        } else {
            format!("{}{path}", self.base.as_str().trim_end_matches('/'))
        };
        Url::parse(&joined)
            .map_err(|e| ConnectorError::permanent(format!("bad link in answer: {e}")))
    }

    /// Sends one request with a fresh `X-Request-ID`, `Consent-ID` when given,
    /// `PSU-IP-Address` when the holder is present (or `psu_ip` forces one),
    /// and `extra` headers. Transport failures are retryable; any status is
    /// returned as an [`Answer`].
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        consent_id: Option<&SecretString>,
        psu_ip: Option<Ipv4Addr>,
        extra: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ConnectorError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut request = self
            .client
            .request(method, url)
            .header("X-Request-ID", &request_id)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(consent) = consent_id {
            let mut value = reqwest::header::HeaderValue::from_str(consent.expose_secret())
                .map_err(|_| {
                    ConnectorError::permanent("the consent id is not a valid header value")
                })?;
            value.set_sensitive(true);
            request = request.header("Consent-ID", value);
        }
        if let Some(ip) = psu_ip.or(self.psu_ip) {
            request = request.header("PSU-IP-Address", ip.to_string());
        }
        for (name, value) in extra {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(e, &request_id))?;
        let status = response.status();
        let headers = response.headers();
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let sca_approach = headers
            .get("ASPSP-SCA-Approach")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(e, &request_id))?
            .to_vec();
        Ok(Answer {
            status,
            body,
            request_id,
            retry_after,
            sca_approach,
        })
    }
}

fn transport_error(e: reqwest::Error, request_id: &str) -> ConnectorError {
    ConnectorError::Retryable {
        message: e.without_url().to_string(),
        retry_after: None,
        correlation_id: Some(request_id.to_string()),
    }
}

impl Answer {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The error this non-2xx answer stands for.
    pub fn error(&self) -> ApiError {
        let messages: Vec<TppMessage> = wire::error_messages(&self.body);
        let codes: Vec<String> = messages.iter().map(|m| m.code.clone()).collect();
        let mut text: String = messages
            .iter()
            .filter_map(|m| m.text.as_deref())
            .collect::<Vec<_>>()
            .join("; ");
        if text.chars().count() > 300 {
            text = text.chars().take(300).collect::<String>() + "…";
        }
        ApiError {
            class: classify(self.status.as_u16(), &codes),
            status: self.status.as_u16(),
            codes,
            text,
            retry_after: self.retry_after,
            request_id: self.request_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bnpl_core::ProviderContext;

    fn api(base: &str) -> Api {
        let settings = crate::KlarnaEuConfig::new(base)
            .validate(&ProviderContext::default())
            .unwrap();
        Api::new(&settings).unwrap()
    }

    #[test]
    fn classifies_codes_before_statuses() {
        let c = |s: u16, code: &str| classify(s, &[code.to_string()]);
        assert_eq!(c(401, "CONSENT_EXPIRED"), ErrorClass::Reauth);
        assert_eq!(c(401, "CONSENT_INVALID"), ErrorClass::Reauth);
        assert_eq!(c(403, "CONSENT_UNKNOWN"), ErrorClass::Reauth);
        assert_eq!(c(400, "CONSENT_UNKNOWN"), ErrorClass::Reauth);
        assert_eq!(c(429, "ACCESS_EXCEEDED"), ErrorClass::AccessExceeded);
        assert_eq!(c(403, "RESOURCE_UNKNOWN"), ErrorClass::ResourceGone);
        assert_eq!(c(405, "SERVICE_INVALID"), ErrorClass::OutOfScope);
        assert_eq!(c(400, "FORMAT_ERROR"), ErrorClass::Permanent);
        assert_eq!(c(401, "CERTIFICATE_INVALID"), ErrorClass::Permanent);
        assert_eq!(c(429, "OTHER"), ErrorClass::Retryable);
        assert_eq!(classify(503, &[]), ErrorClass::Retryable);
        assert_eq!(classify(404, &[]), ErrorClass::ResourceGone);
    }

    #[test]
    fn links_resolve_against_the_base_and_stay_on_its_origin() {
        let a = api("https://bank.test/psd2");
        assert_eq!(
            a.resolve_link("/psd2/v1/accounts/a1/transactions?pageIndex=2")
                .unwrap()
                .as_str(),
            "https://bank.test/psd2/v1/accounts/a1/transactions?pageIndex=2"
        );
        assert_eq!(
            a.resolve_link("/v1/accounts/a1/transactions?pageIndex=2")
                .unwrap()
                .as_str(),
            "https://bank.test/psd2/v1/accounts/a1/transactions?pageIndex=2"
        );
        assert_eq!(
            a.resolve_link("https://bank.test/psd2/v1/x")
                .unwrap()
                .as_str(),
            "https://bank.test/psd2/v1/x"
        );
        assert!(a.resolve_link("https://evil.test/psd2/v1/x").is_err());
        let b = api("http://127.0.0.1:9");
        assert_eq!(
            b.resolve_link("/v1/accounts?x=1").unwrap().as_str(),
            "http://127.0.0.1:9/v1/accounts?x=1"
        );
        assert_eq!(
            b.url("/v1/consents").as_str(),
            "http://127.0.0.1:9/v1/consents"
        );
    }
}
