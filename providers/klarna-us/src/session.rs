//! One signed-in account: token refresh with rotation, device binding, the
//! delta and snapshot reads, and the contract's error table (section 3)
//! mapped onto [`ConnectorError`].
//!
//! The session never sleeps and never retries a [`ConnectorError::Retryable`]
//! error: the sync engine owns retries (`bnpl_core::retry::RetryPolicy`). The
//! one replay it does itself is the contract's "401 `INVALID_AUTH_TOKEN`:
//! refresh once, replay once".

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bnpl_core::{
    AccountSession, ConfigError, ConnectorError, CredentialStore, Page, ProviderContext,
    SnapshotData, Stream,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::PROVIDER_ID;
use crate::config::Settings;
use crate::credentials::KlarnaUsCredentials;
use crate::wire::{self, ErrorCode};

/// The HTTP side shared by a connector and all of its sessions: one client
/// (one connection pool, keep-alive, HTTP/2 where the server offers it).
pub(crate) struct Http {
    client: reqwest::Client,
    settings: Settings,
}

impl Http {
    pub(crate) fn new(settings: Settings, context: &ProviderContext) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .user_agent(context.user_agent.as_str())
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
            // A redirect is not part of the contract; following one would
            // carry the bearer token somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                ConfigError::invalid(
                    format!("providers.{}", PROVIDER_ID.replace('-', "_")),
                    format!("cannot build the HTTP client: {e}"),
                )
            })?;
        Ok(Http { client, settings })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.base_url)
    }

    /// Sends a request and reads the whole answer. A dropped connection, a
    /// timeout or a cut body is [`ConnectorError::Retryable`].
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Answer, ConnectorError> {
        let response = request
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| transport_error(what, &e, None))?;
        let status = response.status();
        let headers = response.headers();
        let correlation_id = headers
            .get(wire::CORRELATION_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(what, &e, correlation_id.clone()))?
            .to_vec();
        Ok(Answer {
            what: what.to_string(),
            status,
            correlation_id,
            retry_after,
            body,
        })
    }
}

/// A complete HTTP answer.
struct Answer {
    /// `GET /consumer/v2/purchases`, for messages.
    what: String,
    status: StatusCode,
    /// From the `X-Correlation-Id` header.
    correlation_id: Option<String>,
    /// From the `Retry-After` header (seconds or an HTTP-date).
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

fn transport_error(
    what: &str,
    e: &reqwest::Error,
    correlation_id: Option<String>,
) -> ConnectorError {
    let mut message = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_builder() {
        // A request we could not even build (a header value that is not
        // valid HTTP): retrying would build the same request.
        return ConnectorError::Permanent {
            message,
            correlation_id,
        };
    }
    ConnectorError::Retryable {
        message,
        retry_after: None,
        correlation_id,
    }
}

/// `Retry-After` as delay-seconds or as an HTTP-date (IMF-fixdate, RFC 850
/// or asctime, RFC 9110 §10.2.3), relative to `now`. A date in the past is
/// a zero wait; anything unreadable is `None` (the engine's backoff applies).
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = DateTime::parse_from_rfc2822(value)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
                .map(|d| d.and_utc())
        })?;
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

/// Which endpoint an answer came from: the error table reads differently for each.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Refresh,
    Delta { stream: Stream, had_cursor: bool },
    Snapshot { stream: Stream },
}

/// The contract's error table (section 3). `None` for a 2xx answer.
fn failure(endpoint: Endpoint, answer: &Answer) -> Option<ConnectorError> {
    let status = answer.status;
    if status.is_success() {
        return None;
    }
    let api = wire::parse_error(&answer.body);
    let correlation_id = answer.correlation_id.clone().or(api.correlation_id.clone());
    let code = api
        .code
        .as_ref()
        .map(ErrorCode::as_wire)
        .unwrap_or("no error code");
    let mut message = format!("{}: HTTP {} {code}", answer.what, status.as_u16());
    if !api.messages.is_empty() {
        message.push_str(": ");
        message.push_str(&api.messages.join("; "));
    }
    // For the variants that carry no correlation id field.
    let with_correlation = |m: String| match &correlation_id {
        Some(id) => format!("{m} (correlation id {id})"),
        None => m,
    };
    let retryable = || ConnectorError::Retryable {
        message: message.clone(),
        retry_after: answer.retry_after,
        correlation_id: correlation_id.clone(),
    };
    let permanent = || ConnectorError::Permanent {
        message: message.clone(),
        correlation_id: correlation_id.clone(),
    };
    let code = api.code.as_ref();
    Some(match status.as_u16() {
        // On the refresh endpoint the refresh token is the only credential
        // presented: any 401 there means it is no longer good.
        401 if matches!(endpoint, Endpoint::Refresh) => ConnectorError::ReauthRequired {
            message: with_correlation(message.clone()),
        },
        401 if code == Some(&ErrorCode::InvalidGrant) => ConnectorError::ReauthRequired {
            message: with_correlation(message.clone()),
        },
        // INVALID_AUTH_TOKEN (or a 401 without a known code) on a data call.
        401 => ConnectorError::AuthExpired {
            message: with_correlation(message.clone()),
        },
        403 if code == Some(&ErrorCode::DeviceMismatch) => ConnectorError::ReauthRequired {
            message: with_correlation(message.clone()),
        },
        403 if code == Some(&ErrorCode::NotAllowed) && !matches!(endpoint, Endpoint::Refresh) => {
            ConnectorError::OutOfScope {
                message: with_correlation(message.clone()),
            }
        }
        // A restart from no cursor only helps when there was a cursor; a 410
        // on a first page would otherwise restart the stream forever.
        410 => match endpoint {
            Endpoint::Delta {
                stream,
                had_cursor: true,
            } => ConnectorError::CursorExpired { stream },
            _ => permanent(),
        },
        408 | 409 | 429 => retryable(),
        500..=599 => retryable(),
        // 400 BAD_VALUE, 404 NOT_FOUND, other 403s, redirects and anything
        // the contract does not name.
        _ => permanent(),
    })
}

/// An access token and when to refresh it.
struct AccessToken {
    token: SecretString,
    refresh_at: Instant,
}

/// Rotated credentials not yet confirmed durable by the store, with the
/// access token that came with them (not to be used before they are).
struct PendingRotation {
    credentials: KlarnaUsCredentials,
    access: AccessToken,
}

/// When a token obtained at `obtained` and valid for `expires_in` is
/// refreshed: `refresh_ahead` before expiry, but never earlier than halfway
/// through its life (a short-lived token would otherwise be refreshed, and
/// with rotation rotated, before every call).
fn refresh_deadline(obtained: Instant, expires_in: Duration, refresh_ahead: Duration) -> Instant {
    obtained + expires_in - refresh_ahead.min(expires_in / 2)
}

/// The signed-in session of one Klarna US account.
pub struct KlarnaUsSession {
    http: Arc<Http>,
    account_id: String,
    credentials: KlarnaUsCredentials,
    store: Arc<dyn CredentialStore>,
    access: Option<AccessToken>,
    pending: Option<PendingRotation>,
}

impl fmt::Debug for KlarnaUsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KlarnaUsSession")
            .field("account_id", &self.account_id)
            .field("base_url", &self.http.settings.base_url)
            .field("credentials", &self.credentials)
            .field("has_access_token", &self.access.is_some())
            .field("rotation_pending", &self.pending.is_some())
            .finish()
    }
}

impl KlarnaUsSession {
    pub(crate) fn new(
        http: Arc<Http>,
        account_id: String,
        credentials: KlarnaUsCredentials,
        store: Arc<dyn CredentialStore>,
    ) -> Self {
        KlarnaUsSession {
            http,
            account_id,
            credentials,
            store,
            access: None,
            pending: None,
        }
    }

    /// Makes sure a usable access token is at hand: persists a pending
    /// rotation first, then refreshes when there is no token or it is due.
    async fn ensure_access(&mut self, stream: Stream) -> Result<(), ConnectorError> {
        self.persist_pending().await?;
        match &self.access {
            Some(access) if Instant::now() < access.refresh_at => Ok(()),
            _ => self.refresh(stream).await,
        }
    }

    /// `POST /auth/v1/token/refresh`. A rotated refresh token is saved
    /// through the [`CredentialStore`] before the new access token is used;
    /// if the save fails, the rotation stays pending (in memory only) and is
    /// saved again before the next call of this session.
    async fn refresh(&mut self, stream: Stream) -> Result<(), ConnectorError> {
        self.access = None;
        let what = format!("POST {}", wire::TOKEN_REFRESH_PATH);
        let request = self
            .http
            .client
            .post(self.http.url(wire::TOKEN_REFRESH_PATH))
            .json(&wire::TokenRequest {
                refresh_token: self.credentials.refresh_token().expose_secret(),
                device_id: self.credentials.device_id().expose_secret(),
            });
        let obtained = Instant::now();
        let answer = self.http.send(request, &what).await?;
        if let Some(error) = failure(Endpoint::Refresh, &answer) {
            return Err(error);
        }
        let grant =
            wire::parse_token(&answer.body).map_err(|message| ConnectorError::Malformed {
                stream,
                object_id: None,
                message,
                correlation_id: answer.correlation_id.clone(),
            })?;
        let access = AccessToken {
            token: grant.access_token,
            refresh_at: refresh_deadline(
                obtained,
                grant.expires_in,
                self.http.settings.refresh_ahead,
            ),
        };
        match grant.refresh_token {
            None => {
                tracing::debug!(provider = PROVIDER_ID, account = %self.account_id, "access token refreshed");
                self.access = Some(access);
                Ok(())
            }
            Some(refresh_token) => {
                // The old refresh token is dead from here on.
                tracing::debug!(provider = PROVIDER_ID, account = %self.account_id, "refresh token rotated; persisting it");
                self.pending = Some(PendingRotation {
                    credentials: self.credentials.rotated(refresh_token),
                    access,
                });
                self.persist_pending().await
            }
        }
    }

    async fn persist_pending(&mut self) -> Result<(), ConnectorError> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        match self
            .store
            .save(&self.account_id, &pending.credentials.to_secret())
            .await
        {
            Ok(()) => {
                self.credentials = pending.credentials;
                self.access = Some(pending.access);
                Ok(())
            }
            Err(e) => {
                self.pending = Some(pending);
                self.access = None;
                let message = match e {
                    ConnectorError::CredentialStore(message) => message,
                    other => other.to_string(),
                };
                Err(ConnectorError::CredentialStore(message))
            }
        }
    }

    async fn send_data(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Answer, ConnectorError> {
        let Some(access) = &self.access else {
            return Err(ConnectorError::permanent("no access token after sign-in"));
        };
        let request = self
            .http
            .client
            .get(self.http.url(path))
            .query(query)
            .bearer_auth(access.token.expose_secret())
            .header(
                wire::DEVICE_ID_HEADER,
                self.credentials.device_id().expose_secret(),
            );
        self.http.send(request, &format!("GET {path}")).await
    }

    /// A data call: sign in if needed, send, and on a rejected access token
    /// refresh once and replay once.
    async fn get(
        &mut self,
        endpoint: Endpoint,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Answer, ConnectorError> {
        let stream = match endpoint {
            Endpoint::Delta { stream, .. } | Endpoint::Snapshot { stream } => stream,
            Endpoint::Refresh => unreachable!("the refresh endpoint is not a data call"),
        };
        self.ensure_access(stream).await?;
        let mut answer = self.send_data(path, query).await?;
        if let Some(ConnectorError::AuthExpired { .. }) = failure(endpoint, &answer) {
            tracing::debug!(provider = PROVIDER_ID, account = %self.account_id, %stream, correlation_id = ?answer.correlation_id, "access token rejected; refreshing once and replaying");
            self.refresh(stream).await?;
            answer = self.send_data(path, query).await?;
        }
        match failure(endpoint, &answer) {
            None => Ok(answer),
            Some(error) => {
                match &error {
                    ConnectorError::AuthExpired { .. } => self.access = None,
                    // The variant has no field for the correlation id: log it here.
                    ConnectorError::CursorExpired { .. } => {
                        let correlation_id = answer
                            .correlation_id
                            .clone()
                            .or_else(|| wire::parse_error(&answer.body).correlation_id);
                        tracing::info!(provider = PROVIDER_ID, account = %self.account_id, %stream, ?correlation_id, "cursor expired; the stream restarts from no cursor");
                    }
                    _ => {}
                }
                Err(error)
            }
        }
    }

    async fn pull_page(
        &mut self,
        stream: Stream,
        cursor: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        let collection = wire::collection(stream)
            .ok_or_else(|| ConnectorError::permanent(format!("{stream} is not a delta stream")))?;
        // The cursor is opaque; an empty one is no cursor.
        let cursor = cursor.filter(|c| !c.is_empty());
        let mut query = Vec::with_capacity(2);
        if let Some(cursor) = cursor {
            query.push((wire::QUERY_UPDATED_AFTER, cursor.to_string()));
        }
        query.push((
            wire::QUERY_PAGE_SIZE,
            self.http.settings.page_size.to_string(),
        ));
        let endpoint = Endpoint::Delta {
            stream,
            had_cursor: cursor.is_some(),
        };
        let answer = self.get(endpoint, collection.path, &query).await?;
        let page = wire::parse_page(stream, &answer.body, answer.correlation_id.as_deref())?;
        Ok(Page {
            caught_up: page.records.is_empty(),
            records: page.records,
            removed: Vec::new(),
            next_cursor: page.next_cursor,
        })
    }

    async fn read_snapshot(&mut self, stream: Stream) -> Result<SnapshotData, ConnectorError> {
        let path = wire::snapshot_path(stream).ok_or_else(|| {
            ConnectorError::permanent(format!("{stream} is not a snapshot stream"))
        })?;
        let answer = self.get(Endpoint::Snapshot { stream }, path, &[]).await?;
        wire::parse_snapshot(stream, &answer.body, answer.correlation_id.as_deref())
    }

    fn log_failure<T>(&self, stream: Stream, result: &Result<T, ConnectorError>) {
        if let Err(error) = result {
            // Every message carries the correlation id when the answer had one.
            tracing::warn!(provider = PROVIDER_ID, account = %self.account_id, %stream, kind = %error.kind(), %error, "read failed");
        }
    }
}

#[async_trait]
impl AccountSession for KlarnaUsSession {
    async fn pull(&mut self, stream: Stream, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        let result = self.pull_page(stream, cursor).await;
        self.log_failure(stream, &result);
        result
    }

    async fn snapshot(&mut self, stream: Stream) -> Result<SnapshotData, ConnectorError> {
        let result = self.read_snapshot(stream).await;
        self.log_failure(stream, &result);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoStore;

    #[async_trait]
    impl CredentialStore for NoStore {
        async fn save(&self, _: &str, _: &SecretString) -> Result<(), ConnectorError> {
            Ok(())
        }
    }

    fn http() -> Arc<Http> {
        let settings = crate::KlarnaUsConfig::new("http://127.0.0.1:9")
            .validate(&ProviderContext::default())
            .unwrap();
        Arc::new(Http::new(settings, &ProviderContext::default()).unwrap())
    }

    #[tokio::test]
    async fn debug_never_shows_a_token() {
        let mut session = KlarnaUsSession::new(
            http(),
            "acct-1".into(),
            KlarnaUsCredentials::new("rt_topsecret", "dev_topsecret"),
            Arc::new(NoStore),
        );
        session.access = Some(AccessToken {
            token: SecretString::from("at_topsecret"),
            refresh_at: Instant::now(),
        });
        session.pending = Some(PendingRotation {
            credentials: KlarnaUsCredentials::new("rt_rotated_secret", "dev_topsecret"),
            access: AccessToken {
                token: SecretString::from("at_rotated_secret"),
                refresh_at: Instant::now(),
            },
        });
        let shown = format!("{session:?} {session:#?}");
        for secret in [
            "rt_topsecret",
            "dev_topsecret",
            "at_topsecret",
            "rt_rotated_secret",
            "at_rotated_secret",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(
            shown.contains("acct-1") && shown.contains("has_access_token: true"),
            "{shown}"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now: DateTime<Utc> = "1994-11-06T08:49:30Z".parse().unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(date, now),
                Some(Duration::from_secs(7)),
                "{date}"
            );
        }
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for junk in ["", "-1", "1.5", "soon", "Sun, 06 Nov 1994"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn refresh_deadline_is_ahead_of_expiry_but_not_before_half_life() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(refresh_deadline(t0, s(1800), s(60)), t0 + s(1740));
        assert_eq!(refresh_deadline(t0, s(60), s(60)), t0 + s(30));
        assert_eq!(refresh_deadline(t0, s(1800), s(0)), t0 + s(1800));
        assert_eq!(refresh_deadline(t0, s(0), s(60)), t0);
    }

    fn answer(
        status: u16,
        body: &str,
        correlation: Option<&str>,
        retry_after: Option<u64>,
    ) -> Answer {
        Answer {
            what: "GET /consumer/v2/purchases".into(),
            status: StatusCode::from_u16(status).unwrap(),
            correlation_id: correlation.map(str::to_owned),
            retry_after: retry_after.map(Duration::from_secs),
            body: body.as_bytes().to_vec(),
        }
    }

    fn body(code: &str) -> String {
        format!(r#"{{"error_code":"{code}","error_messages":["m"],"correlation_id":"body-c"}}"#)
    }

    #[test]
    fn the_error_table() {
        use bnpl_core::ErrorKind as K;
        let delta = Endpoint::Delta {
            stream: Stream::Deliveries,
            had_cursor: true,
        };
        let first_page = Endpoint::Delta {
            stream: Stream::Deliveries,
            had_cursor: false,
        };
        let snap = Endpoint::Snapshot {
            stream: Stream::Profile,
        };
        let cases = [
            (delta, 400, "BAD_VALUE", K::Permanent),
            (delta, 401, "INVALID_AUTH_TOKEN", K::AuthExpired),
            (delta, 401, "INVALID_GRANT", K::ReauthRequired),
            (delta, 403, "DEVICE_MISMATCH", K::ReauthRequired),
            (delta, 403, "NOT_ALLOWED", K::OutOfScope),
            (delta, 403, "SOMETHING_ELSE", K::Permanent),
            (delta, 404, "NOT_FOUND", K::Permanent),
            (delta, 409, "CONFLICT", K::Retryable),
            (delta, 410, "CURSOR_EXPIRED", K::CursorExpired),
            (first_page, 410, "CURSOR_EXPIRED", K::Permanent),
            (snap, 410, "CURSOR_EXPIRED", K::Permanent),
            (delta, 429, "TOO_MANY_REQUESTS", K::Retryable),
            (delta, 500, "INTERNAL_SERVER_ERROR", K::Retryable),
            (delta, 500, "UNEXPECTED_ERROR", K::Retryable),
            (delta, 502, "TEMPORARILY_UNAVAILABLE", K::Retryable),
            (delta, 503, "TEMPORARILY_UNAVAILABLE", K::Retryable),
            (delta, 504, "TEMPORARILY_UNAVAILABLE", K::Retryable),
            (delta, 418, "TEAPOT", K::Permanent),
            (Endpoint::Refresh, 401, "INVALID_GRANT", K::ReauthRequired),
            (
                Endpoint::Refresh,
                401,
                "INVALID_AUTH_TOKEN",
                K::ReauthRequired,
            ),
            (Endpoint::Refresh, 403, "DEVICE_MISMATCH", K::ReauthRequired),
            (Endpoint::Refresh, 403, "NOT_ALLOWED", K::Permanent),
            (Endpoint::Refresh, 400, "BAD_VALUE", K::Permanent),
            (
                Endpoint::Refresh,
                503,
                "TEMPORARILY_UNAVAILABLE",
                K::Retryable,
            ),
        ];
        for (endpoint, status, code, want) in cases {
            let e = failure(endpoint, &answer(status, &body(code), None, None)).unwrap();
            assert_eq!(e.kind(), want, "{endpoint:?} {status} {code}: {e}");
            // CursorExpired has no field for it (the session logs it instead).
            if want != K::CursorExpired {
                assert!(
                    e.to_string().contains("body-c"),
                    "correlation id missing: {e}"
                );
            }
        }
        assert!(failure(delta, &answer(200, "{}", None, None)).is_none());
        // The header wins over the body's correlation id.
        let e = failure(
            delta,
            &answer(
                503,
                &body("TEMPORARILY_UNAVAILABLE"),
                Some("hdr-c"),
                Some(3),
            ),
        )
        .unwrap();
        assert_eq!(
            e,
            ConnectorError::Retryable {
                message: "GET /consumer/v2/purchases: HTTP 503 TEMPORARILY_UNAVAILABLE: m".into(),
                retry_after: Some(Duration::from_secs(3)),
                correlation_id: Some("hdr-c".into()),
            }
        );
        // A non-JSON error body leaves the status to decide.
        let e = failure(delta, &answer(502, "<html>bad gateway</html>", None, None)).unwrap();
        assert_eq!(e.kind(), K::Retryable);
        assert!(e.to_string().contains("HTTP 502 no error code"), "{e}");
        assert_eq!(
            failure(delta, &answer(410, "", None, None)).unwrap(),
            ConnectorError::CursorExpired {
                stream: Stream::Deliveries
            }
        );
    }
}
