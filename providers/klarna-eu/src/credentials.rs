//! The stored secret of one Klarna EU account:
//! `{"consent_id": "...", "reads": ["2026-11-20T06:00:00Z", ...]}`.
//!
//! `consent_id` is the Berlin Group consent the holder authorised. `reads`
//! are the times of the unattended reads of the last 24 hours (see
//! [`crate::quota`]); the session appends to it and saves the document
//! through the engine's `CredentialStore` before it calls the bank. An
//! optional `frequency_per_day` (the frequency the bank granted, from
//! `consent_details`) lowers the configured one. Other fields (the consent
//! record the CLI keeps) are preserved untouched.
//!
//! The consent id stays inside a [`SecretString`]; `Debug` never prints it and
//! no error message quotes it.

use std::fmt;

use bnpl_core::ConfigError;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

pub const CONSENT_ID: &str = "consent_id";
pub const READS: &str = "reads";
pub const FREQUENCY_PER_DAY: &str = "frequency_per_day";

#[derive(Clone)]
pub struct ConsentCredentials {
    consent_id: SecretString,
    /// Unattended reads, oldest first.
    pub reads: Vec<DateTime<Utc>>,
    /// The frequency the bank granted, when known.
    pub frequency_per_day: Option<u32>,
    /// Every other field of the document, kept as stored.
    rest: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for ConsentCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsentCredentials")
            .field("consent_id", &"[redacted]")
            .field("reads", &self.reads)
            .field("frequency_per_day", &self.frequency_per_day)
            .finish_non_exhaustive()
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::invalid(format!("credentials.{field}"), message)
}

impl ConsentCredentials {
    pub fn new(consent_id: impl Into<String>) -> Self {
        ConsentCredentials {
            consent_id: SecretString::from(consent_id.into()),
            reads: Vec::new(),
            frequency_per_day: None,
            rest: serde_json::Map::new(),
        }
    }

    pub fn consent_id(&self) -> &SecretString {
        &self.consent_id
    }

    /// Reads a stored document, naming the missing or bad field (never its value).
    pub fn parse(secret: &SecretString) -> Result<Self, ConfigError> {
        let value: serde_json::Value =
            serde_json::from_str(secret.expose_secret()).map_err(|e| {
                ConfigError::invalid(
                    "credentials",
                    format!(
                        "not a JSON document (line {}, column {})",
                        e.line(),
                        e.column()
                    ),
                )
            })?;
        let serde_json::Value::Object(mut map) = value else {
            return Err(ConfigError::invalid(
                "credentials",
                "must be a JSON object with consent_id",
            ));
        };
        let consent_id = match map.remove(CONSENT_ID) {
            None | Some(serde_json::Value::Null) => return Err(invalid(CONSENT_ID, "missing")),
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => {
                return Err(invalid(CONSENT_ID, "must not be empty"));
            }
            Some(serde_json::Value::String(s)) => SecretString::from(s),
            Some(_) => return Err(invalid(CONSENT_ID, "must be a string")),
        };
        let reads = match map.remove(READS) {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => {
                let mut reads = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let parsed = item
                        .as_str()
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        .ok_or_else(|| {
                            invalid(&format!("{READS}[{i}]"), "must be an RFC 3339 time")
                        })?;
                    reads.push(parsed.with_timezone(&Utc));
                }
                reads.sort();
                reads
            }
            Some(_) => return Err(invalid(READS, "must be an array of RFC 3339 times")),
        };
        let frequency_per_day = match map.remove(FREQUENCY_PER_DAY) {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        invalid(FREQUENCY_PER_DAY, "must be an integer of at least 1")
                    })?,
            ),
        };
        Ok(ConsentCredentials {
            consent_id,
            reads,
            frequency_per_day,
            rest: map,
        })
    }

    /// The document to store, as [`ConsentCredentials::parse`] reads it.
    pub fn to_secret(&self) -> SecretString {
        let mut map = self.rest.clone();
        map.insert(
            CONSENT_ID.into(),
            serde_json::Value::String(self.consent_id.expose_secret().to_string()),
        );
        map.insert(
            READS.into(),
            serde_json::Value::Array(
                self.reads
                    .iter()
                    .map(|t| {
                        serde_json::Value::String(
                            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        )
                    })
                    .collect(),
            ),
        );
        if let Some(f) = self.frequency_per_day {
            map.insert(FREQUENCY_PER_DAY.into(), serde_json::Value::from(f));
        }
        SecretString::from(serde_json::Value::Object(map).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn round_trips_and_keeps_other_fields() {
        let doc = r#"{"consent_id":"c-secret","reads":["2026-11-20T06:00:00Z","2026-11-20T01:00:00+01:00"],"route":"psd2","frequency_per_day":2}"#;
        let c = ConsentCredentials::parse(&secret(doc)).unwrap();
        assert_eq!(c.consent_id().expose_secret(), "c-secret");
        assert_eq!(c.reads.len(), 2);
        assert!(c.reads[0] < c.reads[1], "sorted");
        assert_eq!(c.frequency_per_day, Some(2));
        let again: serde_json::Value = serde_json::from_str(c.to_secret().expose_secret()).unwrap();
        assert_eq!(again["route"], "psd2");
        assert_eq!(again["reads"][0], "2026-11-20T00:00:00Z");
        assert_eq!(again["consent_id"], "c-secret");
    }

    #[test]
    fn names_the_bad_field_without_quoting_values() {
        let cases = [
            (r#"{}"#, "credentials.consent_id: missing"),
            (
                r#"{"consent_id":" "}"#,
                "credentials.consent_id: must not be empty",
            ),
            (
                r#"{"consent_id":7}"#,
                "credentials.consent_id: must be a string",
            ),
            (
                r#"{"consent_id":"c-secret","reads":["yesterday"]}"#,
                "credentials.reads[0]: must be an RFC 3339 time",
            ),
            (
                r#"{"consent_id":"c-secret","reads":"x"}"#,
                "credentials.reads: must be an array of RFC 3339 times",
            ),
            (
                r#"{"consent_id":"c-secret","frequency_per_day":0}"#,
                "credentials.frequency_per_day: must be an integer of at least 1",
            ),
            (
                r#"["c-secret"]"#,
                "credentials: must be a JSON object with consent_id",
            ),
        ];
        for (doc, want) in cases {
            let err = ConsentCredentials::parse(&secret(doc)).unwrap_err();
            assert_eq!(err.to_string(), want, "{doc}");
        }
        let err = ConsentCredentials::parse(&secret(r#"{"consent_id":"c-secret"#)).unwrap_err();
        assert!(!err.to_string().contains("c-secret"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_consent_id() {
        let c = ConsentCredentials::new("c-very-secret");
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("c-very-secret"), "{shown}");
    }
}
