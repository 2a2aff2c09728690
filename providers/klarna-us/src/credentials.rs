//! The stored secret of one Klarna US account:
//! `{"refresh_token": "...", "device_id": "..."}`.
//!
//! Both values stay inside [`SecretString`]s; `Debug` prints neither, and no
//! error message quotes them (a parse error names the field, never its value).

use std::fmt;

use bnpl_core::ConfigError;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

const REFRESH_TOKEN: &str = "refresh_token";
const DEVICE_ID: &str = "device_id";

/// A problem with a stored credentials document, naming the field (never its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CredentialsError {
    /// `credentials`, `credentials.refresh_token` or `credentials.device_id`.
    pub field: String,
    pub message: String,
}

impl CredentialsError {
    fn new(field: &str, message: impl Into<String>) -> Self {
        CredentialsError {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl From<CredentialsError> for ConfigError {
    fn from(e: CredentialsError) -> Self {
        ConfigError::invalid(e.field, e.message)
    }
}

/// The refresh token and the device it is bound to.
#[derive(Clone)]
pub struct KlarnaUsCredentials {
    refresh_token: SecretString,
    device_id: SecretString,
}

impl fmt::Debug for KlarnaUsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KlarnaUsCredentials")
            .field("refresh_token", &"[redacted]")
            .field("device_id", &"[redacted]")
            .finish()
    }
}

impl KlarnaUsCredentials {
    pub fn new(refresh_token: impl Into<String>, device_id: impl Into<String>) -> Self {
        KlarnaUsCredentials {
            refresh_token: SecretString::from(refresh_token.into()),
            device_id: SecretString::from(device_id.into()),
        }
    }

    /// Reads a stored credentials document, naming the missing or bad field.
    pub fn parse(secret: &SecretString) -> Result<Self, CredentialsError> {
        // Parsed as a generic value so that no serde message can quote a value.
        let value: serde_json::Value =
            serde_json::from_str(secret.expose_secret()).map_err(|e| {
                CredentialsError::new(
                    "credentials",
                    format!(
                        "not a JSON document (line {}, column {})",
                        e.line(),
                        e.column()
                    ),
                )
            })?;
        let serde_json::Value::Object(mut map) = value else {
            return Err(CredentialsError::new(
                "credentials",
                "must be a JSON object with refresh_token and device_id",
            ));
        };
        let mut take = |name: &str| -> Result<SecretString, CredentialsError> {
            let field = format!("credentials.{name}");
            match map.remove(name) {
                None | Some(serde_json::Value::Null) => {
                    Err(CredentialsError::new(&field, "missing"))
                }
                Some(serde_json::Value::String(s)) if s.trim().is_empty() => {
                    Err(CredentialsError::new(&field, "must not be empty"))
                }
                Some(serde_json::Value::String(s)) => Ok(SecretString::from(s)),
                Some(_) => Err(CredentialsError::new(&field, "must be a string")),
            }
        };
        let refresh_token = take(REFRESH_TOKEN)?;
        let device_id = take(DEVICE_ID)?;
        if !device_id
            .expose_secret()
            .chars()
            .all(|c| c.is_ascii_graphic())
        {
            return Err(CredentialsError::new(
                "credentials.device_id",
                "must be visible ASCII without spaces (it is sent as the X-Device-Id header)",
            ));
        }
        Ok(KlarnaUsCredentials {
            refresh_token,
            device_id,
        })
    }

    /// The document to store, as [`KlarnaUsCredentials::parse`] reads it.
    pub fn to_secret(&self) -> SecretString {
        #[derive(Serialize)]
        struct Doc<'a> {
            refresh_token: &'a str,
            device_id: &'a str,
        }
        let doc = Doc {
            refresh_token: self.refresh_token.expose_secret(),
            device_id: self.device_id.expose_secret(),
        };
        SecretString::from(serde_json::to_string(&doc).expect("two strings always serialize"))
    }

    /// The same device with a rotated refresh token.
    pub(crate) fn rotated(&self, refresh_token: SecretString) -> Self {
        KlarnaUsCredentials {
            refresh_token,
            device_id: self.device_id.clone(),
        }
    }

    pub(crate) fn refresh_token(&self) -> &SecretString {
        &self.refresh_token
    }

    pub(crate) fn device_id(&self) -> &SecretString {
        &self.device_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn round_trips() {
        let c = KlarnaUsCredentials::parse(&secret(
            r#"{"refresh_token":"rt_abc","device_id":"dev-1","extra":1}"#,
        ))
        .unwrap();
        assert_eq!(c.refresh_token().expose_secret(), "rt_abc");
        assert_eq!(c.device_id().expose_secret(), "dev-1");
        let again = KlarnaUsCredentials::parse(&c.to_secret()).unwrap();
        assert_eq!(again.refresh_token().expose_secret(), "rt_abc");
        let doc: serde_json::Value = serde_json::from_str(c.to_secret().expose_secret()).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({"refresh_token":"rt_abc","device_id":"dev-1"})
        );
    }

    #[test]
    fn names_the_missing_or_bad_field_without_quoting_values() {
        let cases = [
            (r#"{"device_id":"d"}"#, "credentials.refresh_token: missing"),
            (
                r#"{"refresh_token":null,"device_id":"d"}"#,
                "credentials.refresh_token: missing",
            ),
            (
                r#"{"refresh_token":"rt_secret"}"#,
                "credentials.device_id: missing",
            ),
            (
                r#"{"refresh_token":"rt_secret","device_id":""}"#,
                "credentials.device_id: must not be empty",
            ),
            (
                r#"{"refresh_token":"  ","device_id":"d"}"#,
                "credentials.refresh_token: must not be empty",
            ),
            (
                r#"{"refresh_token":1234567,"device_id":"d"}"#,
                "credentials.refresh_token: must be a string",
            ),
            (
                r#"{"refresh_token":"rt","device_id":"dev\nice"}"#,
                "credentials.device_id: must be visible ASCII without spaces (it is sent as the X-Device-Id header)",
            ),
            (
                r#"["rt_secret"]"#,
                "credentials: must be a JSON object with refresh_token and device_id",
            ),
        ];
        for (doc, want) in cases {
            let err = KlarnaUsCredentials::parse(&secret(doc)).unwrap_err();
            assert_eq!(err.to_string(), want, "{doc}");
        }
        let err =
            KlarnaUsCredentials::parse(&secret(r#"{"refresh_token":"rt_secret"#)).unwrap_err();
        assert_eq!(err.field, "credentials");
        assert!(!err.to_string().contains("rt_secret"), "{err}");
    }

    #[test]
    fn debug_never_shows_a_token() {
        let c = KlarnaUsCredentials::new("rt_very_secret", "dev-secret-1");
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("rt_very_secret"), "{shown}");
        assert!(!shown.contains("dev-secret-1"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
