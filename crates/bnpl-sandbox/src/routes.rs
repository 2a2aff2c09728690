//! HTTP surface: the contract routes plus the `/__sandbox` admin routes.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;

use crate::Sandbox;
use crate::error::{ApiError, json_response};
use crate::faults::{FaultInjector, FaultKind, FaultRequests};
use crate::feed::Stream;
use crate::time::{DAY, HOUR, MINUTE};
use crate::wire;

const ADMIN: &str = "/__sandbox";

/// Correlation id of the request being served.
#[derive(Clone)]
struct Cid(String);

pub(crate) fn router(sb: Sandbox) -> Router {
    Router::new()
        .route("/auth/v1/token/refresh", post(refresh))
        .route(Stream::Purchases.path(), get(purchases))
        .route(Stream::Card.path(), get(card_transactions))
        .route(Stream::Balance.path(), get(balance_transactions))
        .route(Stream::Points.path(), get(rewards_transactions))
        .route(Stream::Deliveries.path(), get(deliveries))
        .route("/consumer/v2/balance", get(balance))
        .route("/consumer/v2/rewards", get(rewards))
        .route("/consumer/v2/profile", get(profile))
        .route("/__sandbox/advance", post(admin_advance))
        .route("/__sandbox/accounts", get(admin_accounts))
        .route("/__sandbox/state/{account_id}", get(admin_state))
        .route("/__sandbox/faults", post(admin_faults))
        .route("/__sandbox/now", get(admin_now))
        .route("/__sandbox/export/{account_id}/{file}", get(admin_export))
        .fallback(not_found)
        .layer(from_fn_with_state(sb.clone(), common))
        .with_state(sb)
}

/// Correlation id on every answer; optional latency on contract routes.
async fn common(State(sb): State<Sandbox>, mut req: Request, next: Next) -> Response {
    let cid = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(Cid(cid.clone()));
    let latency = sb.inner.latency;
    if !latency.is_zero() && !req.uri().path().starts_with(ADMIN) {
        tokio::time::sleep(latency).await;
    }
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&cid) {
        resp.headers_mut().insert("x-correlation-id", v);
    }
    resp
}

async fn not_found(Extension(cid): Extension<Cid>, uri: Uri) -> Response {
    ApiError::not_found(format!("no route for {}", uri.path())).into_response(&cid.0)
}

fn ok_json<T: serde::Serialize>(value: &T) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

/// Turns a consumed fault into its answer; `Ok(true)` = cut the body.
fn fault_answer(fault: Option<FaultKind>) -> Result<bool, ApiError> {
    match fault {
        None => Ok(false),
        Some(FaultKind::Malformed) => Ok(true),
        Some(FaultKind::Fail {
            status,
            code,
            retry_after,
        }) => {
            let mut e = ApiError::new(status, &code, format!("injected fault: {code}"));
            e.retry_after = retry_after;
            Err(e)
        }
    }
}

fn finish(result: Result<Vec<u8>, ApiError>, cut: bool, cid: &Cid) -> Response {
    match result {
        Ok(mut body) => {
            if cut {
                body.truncate(body.len() / 2);
            }
            json_response(StatusCode::OK, body)
        }
        Err(e) => e.into_response(&cid.0),
    }
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
    device_id: String,
}

async fn refresh(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut st = sb.lock();
    let cut = match fault_answer(st.faults.take(uri.path(), false)) {
        Ok(cut) => cut,
        Err(e) => return e.into_response(&cid.0),
    };
    let result = serde_json::from_slice::<RefreshBody>(&body)
        .map_err(|e| ApiError::bad_value(format!("invalid refresh body: {e}")))
        .and_then(|b| st.refresh(&b.refresh_token, &b.device_id))
        .map(|ok| serde_json::to_vec(&ok).unwrap_or_default());
    drop(st);
    finish(result, cut, &cid)
}

/// Runs a data request: fault, then auth, then `f` on the account.
fn data_request(
    sb: &Sandbox,
    uri: &Uri,
    headers: &HeaderMap,
    cid: &Cid,
    f: impl FnOnce(&crate::state::State, usize) -> Result<Vec<u8>, ApiError>,
) -> Response {
    let mut st = sb.lock();
    let cut = match fault_answer(st.faults.take(uri.path(), true)) {
        Ok(cut) => cut,
        Err(e) => return e.into_response(&cid.0),
    };
    let result = st.authorize(headers).and_then(|ai| f(&st, ai));
    drop(st);
    finish(result, cut, cid)
}

/// `updated_after` and `page_size` (1..=100, default 50, never clamped).
fn page_params(uri: &Uri) -> Result<(Option<String>, usize), ApiError> {
    let mut after = None;
    let mut size = 50;
    for (k, v) in form_pairs(uri.query().unwrap_or(""))? {
        match k.as_str() {
            "updated_after" => after = Some(v),
            "page_size" => {
                size = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_value(format!(
                            "page_size must be an integer in 1..100, got {v:?}"
                        ))
                    })?;
            }
            _ => {}
        }
    }
    Ok((after, size))
}

fn form_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad_value("malformed query string");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or_else(bad)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

fn collection(stream: Stream, sb: Sandbox, cid: Cid, headers: HeaderMap, uri: Uri) -> Response {
    data_request(&sb, &uri, &headers, &cid, |st, ai| {
        let (after, size) = page_params(&uri)?;
        st.page(ai, stream, after.as_deref(), size)
    })
}

async fn purchases(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    collection(Stream::Purchases, sb, cid, h, uri)
}

async fn card_transactions(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    collection(Stream::Card, sb, cid, h, uri)
}

async fn balance_transactions(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    collection(Stream::Balance, sb, cid, h, uri)
}

async fn rewards_transactions(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    collection(Stream::Points, sb, cid, h, uri)
}

async fn deliveries(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    collection(Stream::Deliveries, sb, cid, h, uri)
}

async fn balance(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    data_request(&sb, &uri, &h, &cid, |st, ai| {
        Ok(serde_json::to_vec(&wire::balance(&st.accounts[ai], st.now)).unwrap_or_default())
    })
}

async fn rewards(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    data_request(&sb, &uri, &h, &cid, |st, ai| {
        Ok(serde_json::to_vec(&wire::rewards(&st.accounts[ai], st.now)).unwrap_or_default())
    })
}

async fn profile(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    h: HeaderMap,
    uri: Uri,
) -> Response {
    data_request(&sb, &uri, &h, &cid, |st, ai| {
        Ok(serde_json::to_vec(&wire::profile(&st.accounts[ai])).unwrap_or_default())
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    #[serde(default)]
    days: i64,
    #[serde(default)]
    hours: i64,
    #[serde(default)]
    minutes: i64,
    #[serde(default)]
    seconds: i64,
}

async fn admin_advance(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    body: Bytes,
) -> Response {
    let b: AdvanceBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad_value(format!("expected {{\"days\":N}} or {{\"hours\":N}}: {e}"))
                .into_response(&cid.0);
        }
    };
    let secs = b
        .days
        .checked_mul(DAY)
        .and_then(|d| d.checked_add(b.hours.checked_mul(HOUR)?))
        .and_then(|d| d.checked_add(b.minutes.checked_mul(MINUTE)?))
        .and_then(|d| d.checked_add(b.seconds))
        .filter(|&s| (0..=3_650 * DAY).contains(&s));
    let Some(secs) = secs else {
        return ApiError::bad_value("advance must be between 0 and 3650 days")
            .into_response(&cid.0);
    };
    let sb2 = sb.clone();
    match tokio::task::spawn_blocking(move || sb2.advance(chrono::Duration::seconds(secs))).await {
        Ok(summary) => ok_json(&summary),
        Err(e) => ApiError::new(500, "INTERNAL_SERVER_ERROR", e.to_string()).into_response(&cid.0),
    }
}

async fn admin_accounts(State(sb): State<Sandbox>) -> Response {
    ok_json(&sb.credentials())
}

async fn admin_now(State(sb): State<Sandbox>) -> Response {
    ok_json(&serde_json::json!({ "now": crate::time::fmt_ts(sb.lock().now) }))
}

async fn admin_state(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    Path(account_id): Path<String>,
) -> Response {
    match sb.state(&account_id) {
        Some(v) => ok_json(&v),
        None => ApiError::not_found(format!("unknown account {account_id}")).into_response(&cid.0),
    }
}

async fn admin_faults(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    body: Bytes,
) -> Response {
    let reqs = match serde_json::from_slice::<FaultRequests>(&body) {
        Ok(FaultRequests::One(r)) => vec![r],
        Ok(FaultRequests::Many(v)) => v,
        Err(e) => {
            return ApiError::bad_value(format!("invalid fault request: {e}"))
                .into_response(&cid.0);
        }
    };
    let inj = FaultInjector { sandbox: sb };
    for r in reqs {
        if let Err(msg) = inj.apply(r) {
            return ApiError::bad_value(msg).into_response(&cid.0);
        }
    }
    ok_json(&serde_json::json!({ "queued": inj.pending() }))
}

async fn admin_export(
    State(sb): State<Sandbox>,
    Extension(cid): Extension<Cid>,
    Path((account_id, file)): Path<(String, String)>,
) -> Response {
    let Some(export) = sb.export(&account_id) else {
        return ApiError::not_found(format!("unknown account {account_id}")).into_response(&cid.0);
    };
    let body = match file.as_str() {
        "purchases.csv" => export.purchases_csv,
        "balance.csv" => export.balance_csv,
        _ => return ApiError::not_found(format!("no export file {file}")).into_response(&cid.0),
    };
    let mut resp = Response::new(axum::body::Body::from(body));
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_params_validate_strictly() {
        let p = |q: &str| page_params(&format!("/x?{q}").parse::<Uri>().unwrap());
        assert_eq!(p("").unwrap(), (None, 50));
        assert_eq!(p("page_size=1").unwrap().1, 1);
        assert_eq!(p("page_size=100").unwrap().1, 100);
        for bad in [
            "page_size=0",
            "page_size=101",
            "page_size=abc",
            "page_size=",
            "page_size=-1",
        ] {
            assert_eq!(p(bad).unwrap_err().code, "BAD_VALUE", "{bad}");
        }
        assert_eq!(
            p("updated_after=a%2Db&x=1").unwrap().0.as_deref(),
            Some("a-b")
        );
    }
}
