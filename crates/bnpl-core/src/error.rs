//! Typed errors. The sync engine decides what to do from the variant alone:
//! retry, refresh, stop the account, stop the stream, or restart the stream.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::Stream;

/// What the sync engine does about an error, derived from [`ConnectorError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorKind {
    Retryable,
    AuthExpired,
    ReauthRequired,
    OutOfScope,
    CursorExpired,
    QuotaExhausted,
    Malformed,
    Permanent,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectorError {
    /// Try again later: 409, 429, 5xx, a dropped connection or a timeout.
    #[error("temporary failure{}: {message}", fmt_correlation(.correlation_id))]
    Retryable {
        message: String,
        /// The provider's own wait (Retry-After); the engine waits at least this long.
        retry_after: Option<Duration>,
        correlation_id: Option<String>,
    },
    /// The access token is no longer accepted; one refresh and one replay may fix it.
    #[error("access token expired: {message}")]
    AuthExpired { message: String },
    /// The holder must consent again; nothing more can be read for this account.
    #[error("re-authentication required: {message}")]
    ReauthRequired { message: String },
    /// The consent does not cover this stream.
    #[error("outside the consent's scope: {message}")]
    OutOfScope { message: String },
    /// The stream's cursor is no longer served; restart it from the beginning.
    #[error("cursor expired for {stream}")]
    CursorExpired { stream: Stream },
    /// The consent's read quota is used up; reads are allowed again at `next_allowed`.
    #[error("read quota used up; next read allowed at {next_allowed}")]
    QuotaExhausted { next_allowed: DateTime<Utc> },
    /// The answer did not match the expected shape. Nothing of it was used.
    #[error("malformed answer on {stream}{}{}: {message}", fmt_object(.object_id), fmt_correlation(.correlation_id))]
    Malformed {
        stream: Stream,
        object_id: Option<String>,
        message: String,
        correlation_id: Option<String>,
    },
    /// A bug on our side or a resource that does not exist: retrying will not help.
    #[error("permanent failure{}: {message}", fmt_correlation(.correlation_id))]
    Permanent {
        message: String,
        correlation_id: Option<String>,
    },
    /// The rotated credentials could not be persisted; the new token was not used.
    #[error("could not persist rotated credentials: {0}")]
    CredentialStore(String),
}

fn fmt_correlation(id: &Option<String>) -> String {
    id.as_ref()
        .map(|id| format!(" (correlation id {id})"))
        .unwrap_or_default()
}

fn fmt_object(id: &Option<String>) -> String {
    id.as_ref()
        .map(|id| format!(", object {id}"))
        .unwrap_or_default()
}

impl ConnectorError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConnectorError::Retryable { .. } => ErrorKind::Retryable,
            ConnectorError::AuthExpired { .. } => ErrorKind::AuthExpired,
            ConnectorError::ReauthRequired { .. } => ErrorKind::ReauthRequired,
            ConnectorError::OutOfScope { .. } => ErrorKind::OutOfScope,
            ConnectorError::CursorExpired { .. } => ErrorKind::CursorExpired,
            ConnectorError::QuotaExhausted { .. } => ErrorKind::QuotaExhausted,
            ConnectorError::Malformed { .. } => ErrorKind::Malformed,
            ConnectorError::Permanent { .. } | ConnectorError::CredentialStore(_) => {
                ErrorKind::Permanent
            }
        }
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        ConnectorError::Retryable {
            message: message.into(),
            retry_after: None,
            correlation_id: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        ConnectorError::Permanent {
            message: message.into(),
            correlation_id: None,
        }
    }

    /// Errors after which the account's other streams must stop too.
    pub fn stops_account(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::ReauthRequired | ErrorKind::QuotaExhausted
        )
    }
}

/// A configuration problem, always naming the key or the provider at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown provider {id:?}; known providers: {known}")]
    UnknownProvider { id: String, known: String },
    #[error("provider {id} is {status} and cannot sync yet: {message}")]
    NotAvailable {
        id: String,
        status: String,
        message: String,
    },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_stream_object_and_correlation() {
        let e = ConnectorError::Malformed {
            stream: Stream::Purchases,
            object_id: Some("p_1".into()),
            message: "missing field `currency`".into(),
            correlation_id: Some("c-9".into()),
        };
        assert_eq!(
            e.to_string(),
            "malformed answer on purchases, object p_1 (correlation id c-9): missing field `currency`"
        );
        assert_eq!(e.kind(), ErrorKind::Malformed);
    }

    #[test]
    fn reauth_stops_the_account_but_a_retryable_error_does_not() {
        assert!(
            ConnectorError::ReauthRequired {
                message: "x".into()
            }
            .stops_account()
        );
        assert!(!ConnectorError::retryable("x").stops_account());
    }
}
