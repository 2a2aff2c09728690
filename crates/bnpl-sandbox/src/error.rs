//! Contract error answers (section 3).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error_code: &'a str,
    error_messages: [&'a str; 1],
    correlation_id: &'a str,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.to_owned(),
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_value(message: impl Into<String>) -> Self {
        Self::new(400, "BAD_VALUE", message)
    }

    pub(crate) fn invalid_auth(message: impl Into<String>) -> Self {
        Self::new(401, "INVALID_AUTH_TOKEN", message)
    }

    pub(crate) fn invalid_grant(message: impl Into<String>) -> Self {
        Self::new(401, "INVALID_GRANT", message)
    }

    pub(crate) fn device_mismatch() -> Self {
        Self::new(
            403,
            "DEVICE_MISMATCH",
            "the device is not the one bound to this session",
        )
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NOT_FOUND", message)
    }

    pub(crate) fn cursor_expired() -> Self {
        Self::new(
            410,
            "CURSOR_EXPIRED",
            "the cursor has expired; restart the stream without a cursor",
        )
    }

    pub(crate) fn into_response(self, correlation_id: &str) -> Response {
        let body = ErrorBody {
            error_code: &self.code,
            error_messages: [&self.message],
            correlation_id,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = json_response(self.status, bytes);
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
