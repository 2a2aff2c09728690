//! The HTTP face of the sandbox bank.

// Validation helpers return the finished error response as their `Err`, so a
// handler can `?` it; the size of `Response` does not matter here.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

use crate::bank::format_minor;
use crate::{Bank, Consent, Psd2Sandbox, Sca};

pub(crate) fn router(sandbox: Psd2Sandbox) -> Router {
    Router::new()
        .route("/v1/consents", post(create_consent))
        .route("/v1/consents/{id}", get(get_consent).delete(delete_consent))
        .route("/v1/consents/{id}/status", get(consent_status))
        .route(
            "/v1/consents/{id}/authorisations",
            post(start_authorisation),
        )
        .route("/v1/accounts", get(accounts))
        .route("/v1/accounts/{rid}/balances", get(balances))
        .route("/v1/accounts/{rid}/transactions", get(transactions))
        .route("/sandbox/consents/{id}/{action}", post(admin_consent))
        .route("/sandbox/sca/{id}", get(sca_redirect))
        .route("/sandbox/clock/advance", post(advance))
        .route("/sandbox/state/{iban}", get(state))
        .with_state(sandbox)
}

type Reply = Result<Response, Response>;

fn tpp_error(status: StatusCode, code: &str, text: &str, request_id: &str) -> Response {
    let body = json!({"tppMessages": [{"category": "ERROR", "code": code, "text": text}]});
    with_request_id((status, axum::Json(body)).into_response(), request_id)
}

fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("X-Request-ID", v);
    }
    response
}

fn ok(status: StatusCode, body: Value, request_id: &str) -> Response {
    with_request_id((status, axum::Json(body)).into_response(), request_id)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// `X-Request-ID` is mandatory and a UUID.
fn request_id(headers: &HeaderMap) -> Result<String, Response> {
    let fresh = uuid::Uuid::new_v4().to_string();
    match header(headers, "X-Request-ID") {
        None => Err(tpp_error(
            StatusCode::BAD_REQUEST,
            "FORMAT_ERROR",
            "X-Request-ID is missing",
            &fresh,
        )),
        Some(v) if uuid::Uuid::parse_str(v).is_err() => Err(tpp_error(
            StatusCode::BAD_REQUEST,
            "FORMAT_ERROR",
            "X-Request-ID must be a UUID",
            &fresh,
        )),
        Some(v) => Ok(v.to_string()),
    }
}

/// `PSU-IP-Address`, when present, is an IPv4 address.
fn psu_ip(headers: &HeaderMap, rid: &str) -> Result<Option<Ipv4Addr>, Response> {
    match header(headers, "PSU-IP-Address") {
        None => Ok(None),
        Some(v) => v.parse::<Ipv4Addr>().map(Some).map_err(|_| {
            tpp_error(
                StatusCode::BAD_REQUEST,
                "FORMAT_ERROR",
                "PSU-IP-Address must be an IPv4 address",
                rid,
            )
        }),
    }
}

fn unknown_consent(rid: &str) -> Response {
    tpp_error(
        StatusCode::FORBIDDEN,
        "CONSENT_UNKNOWN",
        "consent unknown",
        rid,
    )
}

/// The consent of an AIS call, checked usable.
fn usable_consent(bank: &mut Bank, headers: &HeaderMap, rid: &str) -> Result<String, Response> {
    bank.tick();
    let Some(id) = header(headers, "Consent-ID") else {
        return Err(tpp_error(
            StatusCode::BAD_REQUEST,
            "FORMAT_ERROR",
            "Consent-ID is missing",
            rid,
        ));
    };
    let Some(consent) = bank.consents.get(id) else {
        return Err(unknown_consent(rid));
    };
    match consent.status {
        "valid" => Ok(id.to_string()),
        "expired" => Err(tpp_error(
            StatusCode::UNAUTHORIZED,
            "CONSENT_EXPIRED",
            "consent expired",
            rid,
        )),
        other => Err(tpp_error(
            StatusCode::UNAUTHORIZED,
            "CONSENT_INVALID",
            &format!("consent is {other}"),
            rid,
        )),
    }
}

/// Index of the account a resource id names under a consent.
fn account_index(bank: &Bank, consent_id: &str, resource: &str) -> Option<usize> {
    let consent = bank.consents.get(consent_id)?;
    bank.accounts.iter().position(|a| {
        Bank::resource_id(consent_id, &a.iban) == resource
            && consent.ibans.as_ref().is_none_or(|l| l.contains(&a.iban))
    })
}

/// Counts an unattended read; `Err` when the consent's frequency is used up.
fn count_read(
    bank: &mut Bank,
    consent_id: &str,
    resource: &str,
    endpoint: &'static str,
    rid: &str,
) -> Result<(), Response> {
    let now = bank.now;
    let consent = bank.consents.get_mut(consent_id).expect("checked usable");
    let limit = consent.frequency_per_day as usize;
    let log = consent
        .reads
        .entry((resource.to_string(), endpoint))
        .or_default();
    log.retain(|t| *t > now - Duration::hours(24));
    if log.len() >= limit {
        return Err(tpp_error(
            StatusCode::TOO_MANY_REQUESTS,
            "ACCESS_EXCEEDED",
            &format!("more than {limit} unattended {endpoint} reads in 24 hours"),
            rid,
        ));
    }
    log.push(now);
    Ok(())
}

fn parse_access(access: &Value) -> Option<Option<Vec<String>>> {
    let obj = access.as_object()?;
    if obj.contains_key("allPsd2") || obj.contains_key("availableAccounts") {
        return Some(None);
    }
    let mut ibans: Vec<String> = Vec::new();
    for key in ["accounts", "balances", "transactions"] {
        if let Some(list) = obj.get(key) {
            for item in list.as_array()? {
                ibans.push(item.get("iban")?.as_str()?.to_string());
            }
        }
    }
    ibans.sort();
    ibans.dedup();
    Some(if ibans.is_empty() { None } else { Some(ibans) })
}

async fn create_consent(State(sb): State<Psd2Sandbox>, headers: HeaderMap, body: Bytes) -> Reply {
    let rid = request_id(&headers)?;
    if psu_ip(&headers, &rid)?.is_none() {
        return Err(tpp_error(
            StatusCode::BAD_REQUEST,
            "FORMAT_ERROR",
            "PSU-IP-Address is mandatory",
            &rid,
        ));
    }
    let bad = |text: &str| tpp_error(StatusCode::BAD_REQUEST, "FORMAT_ERROR", text, &rid);
    let body: Value = serde_json::from_slice(&body).map_err(|_| bad("body is not JSON"))?;
    let access = body
        .get("access")
        .cloned()
        .ok_or_else(|| bad("access is missing"))?;
    let ibans = parse_access(&access).ok_or_else(|| bad("access is malformed"))?;
    let recurring = body
        .get("recurringIndicator")
        .and_then(Value::as_bool)
        .ok_or_else(|| bad("recurringIndicator must be a boolean"))?;
    let valid_until: NaiveDate = body
        .get("validUntil")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("validUntil must be a date"))?;
    let frequency = body
        .get("frequencyPerDay")
        .and_then(Value::as_u64)
        .filter(|f| *f >= 1)
        .ok_or_else(|| bad("frequencyPerDay must be an integer of at least 1"))?;
    body.get("combinedServiceIndicator")
        .and_then(Value::as_bool)
        .ok_or_else(|| bad("combinedServiceIndicator must be a boolean"))?;
    let redirect = header(&headers, "TPP-Redirect-Preferred") == Some("true");
    if redirect && header(&headers, "TPP-Redirect-URI").is_none() {
        return Err(bad(
            "TPP-Redirect-URI is mandatory for the redirect approach",
        ));
    }
    let host = header(&headers, "host").unwrap_or("127.0.0.1").to_string();
    let mut bank = sb.lock();
    let today = bank.now.date_naive();
    if valid_until < today {
        return Err(bad("validUntil is in the past"));
    }
    let id = bank.new_consent_id();
    let sca = if redirect {
        Sca::Redirect
    } else {
        Sca::Decoupled
    };
    bank.consents.insert(
        id.clone(),
        Consent {
            status: "received",
            access,
            ibans,
            recurring,
            valid_until: valid_until.min(today + Duration::days(180)),
            frequency_per_day: if recurring {
                frequency.min(4) as u32
            } else {
                1
            },
            last_action: today,
            sca,
            polls: 0,
            reads: BTreeMap::new(),
        },
    );
    let mut links = json!({
        "self": {"href": format!("/v1/consents/{id}")},
        "status": {"href": format!("/v1/consents/{id}/status")},
    });
    let mut out = json!({"consentStatus": "received", "consentId": id});
    let approach = match sca {
        Sca::Redirect => {
            links["scaRedirect"] = json!({"href": format!("http://{host}/sandbox/sca/{id}")});
            "REDIRECT"
        }
        Sca::Decoupled => {
            links["scaStatus"] = json!({"href": format!("/v1/consents/{id}/authorisations/1")});
            out["psuMessage"] = json!("Please confirm the access in your Klarna app.");
            "DECOUPLED"
        }
    };
    out["_links"] = links;
    let mut response = ok(StatusCode::CREATED, out, &rid);
    let h = response.headers_mut();
    h.insert("ASPSP-SCA-Approach", HeaderValue::from_static(approach));
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/consents/{id}")) {
        h.insert("Location", v);
    }
    Ok(response)
}

async fn consent_status(
    State(sb): State<Psd2Sandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let rid = request_id(&headers)?;
    psu_ip(&headers, &rid)?;
    let mut bank = sb.lock();
    bank.tick();
    let polls_needed = bank.config.decoupled_approval_polls;
    let today = bank.now.date_naive();
    let consent = bank
        .consents
        .get_mut(&id)
        .ok_or_else(|| unknown_consent(&rid))?;
    consent.polls += 1;
    if consent.status == "received"
        && consent.sca == Sca::Decoupled
        && polls_needed > 0
        && consent.polls >= polls_needed
    {
        consent.status = "valid";
        consent.last_action = today;
    }
    Ok(ok(
        StatusCode::OK,
        json!({"consentStatus": consent.status}),
        &rid,
    ))
}

async fn get_consent(
    State(sb): State<Psd2Sandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let rid = request_id(&headers)?;
    psu_ip(&headers, &rid)?;
    let mut bank = sb.lock();
    bank.tick();
    let c = bank
        .consents
        .get(&id)
        .ok_or_else(|| unknown_consent(&rid))?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "access": c.access,
            "recurringIndicator": c.recurring,
            "validUntil": c.valid_until.to_string(),
            "frequencyPerDay": c.frequency_per_day,
            "lastActionDate": c.last_action.to_string(),
            "consentStatus": c.status,
            "_links": {"account": {"href": "/v1/accounts"}},
        }),
        &rid,
    ))
}

async fn delete_consent(
    State(sb): State<Psd2Sandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let rid = request_id(&headers)?;
    psu_ip(&headers, &rid)?;
    let mut bank = sb.lock();
    if !bank.set_status(&id, "terminatedByTpp") {
        return Err(unknown_consent(&rid));
    }
    Ok(with_request_id(
        StatusCode::NO_CONTENT.into_response(),
        &rid,
    ))
}

async fn start_authorisation(
    State(sb): State<Psd2Sandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let rid = request_id(&headers)?;
    psu_ip(&headers, &rid)?;
    let bank = sb.lock();
    if !bank.consents.contains_key(&id) {
        return Err(unknown_consent(&rid));
    }
    Ok(ok(
        StatusCode::CREATED,
        json!({
            "scaStatus": "started",
            "authorisationId": "1",
            "psuMessage": "Please confirm the access in your Klarna app.",
            "_links": {"scaStatus": {"href": format!("/v1/consents/{id}/authorisations/1")}},
        }),
        &rid,
    ))
}

async fn accounts(State(sb): State<Psd2Sandbox>, headers: HeaderMap) -> Reply {
    let rid = request_id(&headers)?;
    let attended = psu_ip(&headers, &rid)?.is_some();
    let mut bank = sb.lock();
    let consent_id = usable_consent(&mut bank, &headers, &rid)?;
    if !attended {
        count_read(&mut bank, &consent_id, "*", "accounts", &rid)?;
    }
    let consent = bank.consents.get(&consent_id).expect("checked usable");
    let list: Vec<Value> = bank
        .accounts
        .iter()
        .filter(|a| consent.ibans.as_ref().is_none_or(|l| l.contains(&a.iban)))
        .map(|a| {
            let r = Bank::resource_id(&consent_id, &a.iban);
            json!({
                "resourceId": r,
                "iban": a.iban,
                "currency": a.currency,
                "name": a.name,
                "product": "Klarna",
                "cashAccountType": "CACC",
                "status": "enabled",
                "_links": {
                    "balances": {"href": format!("/v1/accounts/{r}/balances")},
                    "transactions": {"href": format!("/v1/accounts/{r}/transactions")},
                },
            })
        })
        .collect();
    Ok(ok(StatusCode::OK, json!({ "accounts": list }), &rid))
}

async fn balances(
    State(sb): State<Psd2Sandbox>,
    Path(resource): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let rid = request_id(&headers)?;
    let attended = psu_ip(&headers, &rid)?.is_some();
    let mut bank = sb.lock();
    let consent_id = usable_consent(&mut bank, &headers, &rid)?;
    let idx = account_index(&bank, &consent_id, &resource).ok_or_else(|| {
        tpp_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_UNKNOWN",
            "account unknown",
            &rid,
        )
    })?;
    if !attended {
        count_read(&mut bank, &consent_id, &resource, "balances", &rid)?;
    }
    let now = bank.now;
    let a = &bank.accounts[idx];
    let (closing, interim, expected) = a.balances(now);
    let amount = |m: i64| json!({"currency": a.currency, "amount": format_minor(m)});
    Ok(ok(
        StatusCode::OK,
        json!({
            "account": {"iban": a.iban},
            "balances": [
                {"balanceAmount": amount(closing), "balanceType": "closingBooked",
                 "referenceDate": (now.date_naive() - Duration::days(1)).to_string()},
                {"balanceAmount": amount(interim), "balanceType": "interimAvailable",
                 "lastChangeDateTime": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)},
                {"balanceAmount": amount(expected), "balanceType": "expected",
                 "lastChangeDateTime": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)},
            ],
        }),
        &rid,
    ))
}

async fn transactions(
    State(sb): State<Psd2Sandbox>,
    Path(resource): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Reply {
    let rid = request_id(&headers)?;
    let attended = psu_ip(&headers, &rid)?.is_some();
    let bad = |code: &str, text: &str| tpp_error(StatusCode::BAD_REQUEST, code, text, &rid);
    let status = query.get("bookingStatus").map(String::as_str);
    let (want_booked, want_pending) = match status {
        Some("booked") => (true, false),
        Some("pending") => (false, true),
        Some("both") => (true, true),
        Some("information") | Some("all") => {
            return Err(bad(
                "PARAMETER_NOT_SUPPORTED",
                "bookingStatus not supported",
            ));
        }
        _ => return Err(bad("FORMAT_ERROR", "bookingStatus is missing or invalid")),
    };
    let date = |name: &str| -> Result<Option<NaiveDate>, Response> {
        query
            .get(name)
            .map(|s| {
                s.parse::<NaiveDate>()
                    .map_err(|_| bad("FORMAT_ERROR", &format!("{name} must be a date")))
            })
            .transpose()
    };
    let date_from = date("dateFrom")?.ok_or_else(|| bad("FORMAT_ERROR", "dateFrom is mandated"))?;
    let date_to = date("dateTo")?;
    let page_index: usize = match query.get("pageIndex") {
        None => 0,
        Some(p) => p
            .parse()
            .map_err(|_| bad("FORMAT_ERROR", "pageIndex must be an integer"))?,
    };
    let mut bank = sb.lock();
    let consent_id = usable_consent(&mut bank, &headers, &rid)?;
    let idx = account_index(&bank, &consent_id, &resource).ok_or_else(|| {
        tpp_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_UNKNOWN",
            "account unknown",
            &rid,
        )
    })?;
    if !attended && page_index == 0 {
        count_read(&mut bank, &consent_id, &resource, "transactions", &rid)?;
    }
    let now = bank.now;
    let size = bank.config.page_size.max(1);
    let a = &bank.accounts[idx];
    let (booked, pending) = a.rows(now, date_from, date_to);
    let booked: Vec<_> = if want_booked { booked } else { Vec::new() };
    let pending: Vec<_> = if want_pending { pending } else { Vec::new() };
    let all: Vec<_> = booked.iter().chain(pending.iter()).collect();
    let slice: Vec<_> = all.iter().skip(page_index * size).take(size).collect();
    let page_booked: Vec<Value> = slice
        .iter()
        .filter(|r| r.booked)
        .map(|r| r.to_json(a.currency))
        .collect();
    let page_pending: Vec<Value> = slice
        .iter()
        .filter(|r| !r.booked)
        .map(|r| r.to_json(a.currency))
        .collect();
    let mut links = json!({"account": {"href": format!("/v1/accounts/{resource}")}});
    if (page_index + 1) * size < all.len() {
        let mut href = format!(
            "/v1/accounts/{resource}/transactions?bookingStatus={}&dateFrom={date_from}",
            status.unwrap_or("both")
        );
        if let Some(to) = date_to {
            href.push_str(&format!("&dateTo={to}"));
        }
        href.push_str(&format!("&pageIndex={}", page_index + 1));
        links["next"] = json!({ "href": href });
    }
    let mut report = json!({"booked": page_booked, "_links": links});
    if want_pending {
        report["pending"] = json!(page_pending);
    }
    Ok(ok(
        StatusCode::OK,
        json!({"account": {"iban": a.iban}, "transactions": report}),
        &rid,
    ))
}

async fn admin_consent(
    State(sb): State<Psd2Sandbox>,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let done = match action.as_str() {
        "approve" => sb.approve_consent(&id),
        "reject" => sb.reject_consent(&id),
        "expire" => sb.expire_consent(&id),
        _ => return (StatusCode::NOT_FOUND, "unknown action").into_response(),
    };
    if done {
        axum::Json(json!({"consentStatus": sb.consent_status(&id)})).into_response()
    } else {
        (StatusCode::NOT_FOUND, "unknown consent").into_response()
    }
}

async fn sca_redirect(State(sb): State<Psd2Sandbox>, Path(id): Path<String>) -> Response {
    if sb.approve_consent(&id) {
        "Consent approved. You can close this window.".into_response()
    } else {
        (StatusCode::NOT_FOUND, "unknown consent").into_response()
    }
}

async fn advance(
    State(sb): State<Psd2Sandbox>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match query
        .get("seconds")
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| *s >= 0)
    {
        Some(s) => {
            sb.advance(Duration::seconds(s));
            axum::Json(json!({"now": sb.now()})).into_response()
        }
        None => (StatusCode::BAD_REQUEST, "seconds=N (N >= 0) is required").into_response(),
    }
}

async fn state(State(sb): State<Psd2Sandbox>, Path(iban): Path<String>) -> Response {
    match sb.state(&iban) {
        Value::Null => (StatusCode::NOT_FOUND, "unknown IBAN").into_response(),
        v => axum::Json(v).into_response(),
    }
}
