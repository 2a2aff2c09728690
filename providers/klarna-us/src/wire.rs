//! Every JSON shape of the Klarna US consumer API (shared/contracts/klarna-us-session.md,
//! sections 1–3) and its mapping into bnpl-core's model.
//!
//! This is the only module that knows a JSON name, an endpoint path or a
//! query parameter. Unknown fields are ignored everywhere (forward
//! compatibility); a missing required field, a wrong type or an unknown enum
//! value makes the whole page an error naming the stream, the row's id when
//! it can be read, and the JSON path of the field. A page is mapped whole or
//! not at all.

use std::collections::HashMap;
use std::time::Duration;

use bnpl_core::{
    BalanceEntry, BalanceEntryKind, BalanceSnapshot, BookingStatus, CardTransaction,
    CardTransactionKind, CardTransactionStatus, ConnectorError, Currency, Delivery, DeliveryStatus,
    Dispute, DisputeState, Installment, InstallmentPlan, MAIN_LEDGER, MembershipTier, Money,
    OrderStatus, PlanKind, PointsEntry, PointsEntryKind, PointsSnapshot, Profile, Purchase,
    PurchaseItem, PurchaseReturn, Records, ReportedInstallmentState, ReturnState, SnapshotData,
    Stream,
};
use chrono::{DateTime, NaiveDate, Utc};
use secrecy::SecretString;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

// ---------------------------------------------------------------------------
// Endpoints, headers, query parameters
// ---------------------------------------------------------------------------

pub(crate) const TOKEN_REFRESH_PATH: &str = "/auth/v1/token/refresh";
pub(crate) const DEVICE_ID_HEADER: &str = "X-Device-Id";
pub(crate) const CORRELATION_ID_HEADER: &str = "X-Correlation-Id";
pub(crate) const QUERY_UPDATED_AFTER: &str = "updated_after";
pub(crate) const QUERY_PAGE_SIZE: &str = "page_size";

/// A delta collection: where it is served and under which key its rows come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Collection {
    pub path: &'static str,
    pub key: &'static str,
}

/// The collection of a delta stream (`None` for snapshot streams).
pub(crate) fn collection(stream: Stream) -> Option<Collection> {
    let (path, key) = match stream {
        Stream::Purchases => ("/consumer/v2/purchases", "purchases"),
        Stream::CardTransactions => ("/consumer/v2/card/transactions", "transactions"),
        Stream::BalanceEntries => ("/consumer/v2/balance/transactions", "entries"),
        Stream::PointsEntries => ("/consumer/v2/rewards/transactions", "entries"),
        Stream::Deliveries => ("/consumer/v2/deliveries", "deliveries"),
        Stream::Balance | Stream::Points | Stream::Profile => return None,
    };
    Some(Collection { path, key })
}

/// The endpoint of a snapshot stream (`None` for delta streams).
pub(crate) fn snapshot_path(stream: Stream) -> Option<&'static str> {
    match stream {
        Stream::Balance => Some("/consumer/v2/balance"),
        Stream::Points => Some("/consumer/v2/rewards"),
        Stream::Profile => Some("/consumer/v2/profile"),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Section 1: token refresh
// ---------------------------------------------------------------------------

/// Body of `POST /auth/v1/token/refresh`.
#[derive(Serialize)]
pub(crate) struct TokenRequest<'a> {
    pub refresh_token: &'a str,
    pub device_id: &'a str,
}

#[derive(Deserialize)]
struct TokenResponseWire {
    access_token: String,
    expires_in: u64,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// A successful refresh. `refresh_token` is `Some` when the provider rotated it.
pub(crate) struct TokenGrant {
    pub access_token: SecretString,
    pub expires_in: Duration,
    pub refresh_token: Option<SecretString>,
}

/// Parses a 200 answer of the refresh endpoint. The error names the field but
/// never quotes a value (the values are tokens).
pub(crate) fn parse_token(body: &[u8]) -> Result<TokenGrant, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let wire: TokenResponseWire = match serde_path_to_error::deserialize(&mut de) {
        Ok(wire) => wire,
        Err(e) if e.inner().is_syntax() || e.inner().is_eof() => {
            return Err(format!(
                "token answer is not JSON (line {}, column {})",
                e.inner().line(),
                e.inner().column()
            ));
        }
        Err(e) => {
            let inner = e.inner().to_string();
            let message = if let Some(name) = missing_field_name(&inner) {
                format!("missing field `{}`", join_path(&e.path().to_string(), name))
            } else {
                format!(
                    "field `{}` has the wrong type or value",
                    e.path().to_string().trim_start_matches('.')
                )
            };
            return Err(format!("token answer: {message}"));
        }
    };
    de.end()
        .map_err(|_| "token answer has trailing characters after the JSON document".to_string())?;
    if wire.access_token.is_empty() {
        return Err("token answer: field `access_token` must not be empty".into());
    }
    if wire.refresh_token.as_deref() == Some("") {
        return Err("token answer: field `refresh_token` must not be empty".into());
    }
    Ok(TokenGrant {
        access_token: SecretString::from(wire.access_token),
        expires_in: Duration::from_secs(wire.expires_in),
        refresh_token: wire.refresh_token.map(SecretString::from),
    })
}

// ---------------------------------------------------------------------------
// Section 3: error bodies
// ---------------------------------------------------------------------------

/// The `error_code` values of the contract's error table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    BadValue,
    InvalidAuthToken,
    InvalidGrant,
    DeviceMismatch,
    NotAllowed,
    NotFound,
    Conflict,
    CursorExpired,
    TooManyRequests,
    InternalServerError,
    UnexpectedError,
    TemporarilyUnavailable,
    /// A code the contract does not list; the HTTP status decides.
    Other(String),
}

impl ErrorCode {
    fn from_wire(code: &str) -> ErrorCode {
        match code {
            "BAD_VALUE" => ErrorCode::BadValue,
            "INVALID_AUTH_TOKEN" => ErrorCode::InvalidAuthToken,
            "INVALID_GRANT" => ErrorCode::InvalidGrant,
            "DEVICE_MISMATCH" => ErrorCode::DeviceMismatch,
            "NOT_ALLOWED" => ErrorCode::NotAllowed,
            "NOT_FOUND" => ErrorCode::NotFound,
            "CONFLICT" => ErrorCode::Conflict,
            "CURSOR_EXPIRED" => ErrorCode::CursorExpired,
            "TOO_MANY_REQUESTS" => ErrorCode::TooManyRequests,
            "INTERNAL_SERVER_ERROR" => ErrorCode::InternalServerError,
            "UNEXPECTED_ERROR" => ErrorCode::UnexpectedError,
            "TEMPORARILY_UNAVAILABLE" => ErrorCode::TemporarilyUnavailable,
            other => ErrorCode::Other(other.to_string()),
        }
    }

    pub fn as_wire(&self) -> &str {
        match self {
            ErrorCode::BadValue => "BAD_VALUE",
            ErrorCode::InvalidAuthToken => "INVALID_AUTH_TOKEN",
            ErrorCode::InvalidGrant => "INVALID_GRANT",
            ErrorCode::DeviceMismatch => "DEVICE_MISMATCH",
            ErrorCode::NotAllowed => "NOT_ALLOWED",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::CursorExpired => "CURSOR_EXPIRED",
            ErrorCode::TooManyRequests => "TOO_MANY_REQUESTS",
            ErrorCode::InternalServerError => "INTERNAL_SERVER_ERROR",
            ErrorCode::UnexpectedError => "UNEXPECTED_ERROR",
            ErrorCode::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            ErrorCode::Other(code) => code,
        }
    }
}

/// An error answer's body, read leniently: an error body that is not JSON
/// (a proxy's HTML page) still leaves the HTTP status to decide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub code: Option<ErrorCode>,
    pub messages: Vec<String>,
    pub correlation_id: Option<String>,
}

pub(crate) fn parse_error(body: &[u8]) -> ApiError {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return ApiError::default();
    };
    let string = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    ApiError {
        code: string(map.get("error_code")).map(|c| ErrorCode::from_wire(&c)),
        messages: match map.get("error_messages") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        },
        correlation_id: string(map.get("correlation_id")).filter(|s| !s.is_empty()),
    }
}

// ---------------------------------------------------------------------------
// Section 2: delta pages and snapshots
// ---------------------------------------------------------------------------

/// A mapped delta page.
#[derive(Debug)]
pub(crate) struct WirePage {
    pub records: Records,
    pub next_cursor: String,
}

/// Maps a 200 answer of a delta collection, whole or not at all.
pub(crate) fn parse_page(
    stream: Stream,
    body: &[u8],
    correlation_id: Option<&str>,
) -> Result<WirePage, ConnectorError> {
    let Some(collection) = collection(stream) else {
        return Err(ConnectorError::permanent(format!(
            "{stream} is not a delta stream"
        )));
    };
    let page_error = |message: String| malformed(stream, None, message, correlation_id);
    let mut top = parse_object(body).map_err(page_error)?;
    let next_cursor: String = field(&mut top, "next_cursor", "a string").map_err(page_error)?;
    let key = collection.key;
    let rows: Vec<&RawValue> = field(&mut top, key, "an array").map_err(page_error)?;
    let ctx = RowContext {
        stream,
        key,
        correlation_id,
    };
    let records = match stream {
        Stream::Purchases => Records::Purchases(ctx.rows::<PurchaseWire>(&rows)?),
        Stream::CardTransactions => {
            Records::CardTransactions(ctx.rows::<CardTransactionWire>(&rows)?)
        }
        Stream::BalanceEntries => Records::BalanceEntries(ctx.rows::<BalanceEntryWire>(&rows)?),
        Stream::PointsEntries => Records::PointsEntries(ctx.rows::<PointsEntryWire>(&rows)?),
        Stream::Deliveries => Records::Deliveries(ctx.rows::<DeliveryWire>(&rows)?),
        Stream::Balance | Stream::Points | Stream::Profile => unreachable!("not a delta stream"),
    };
    Ok(WirePage {
        records,
        next_cursor,
    })
}

/// Maps a 200 answer of a snapshot endpoint.
pub(crate) fn parse_snapshot(
    stream: Stream,
    body: &[u8],
    correlation_id: Option<&str>,
) -> Result<SnapshotData, ConnectorError> {
    let value = parse_whole_object(body).map_err(|m| malformed(stream, None, m, correlation_id))?;
    let ctx = RowContext {
        stream,
        key: "",
        correlation_id,
    };
    Ok(match stream {
        Stream::Balance => {
            SnapshotData::Balance(vec![ctx.row::<BalanceSnapshotWire>(None, value)?])
        }
        Stream::Points => SnapshotData::Points(ctx.row::<PointsSnapshotWire>(None, value)?),
        Stream::Profile => SnapshotData::Profile(ctx.row::<ProfileWire>(None, value)?),
        other => {
            return Err(ConnectorError::permanent(format!(
                "{other} is not a snapshot stream"
            )));
        }
    })
}

/// A JSON object's fields, each value left as its text in the body: rows are
/// decoded from there straight into their wire types. A `Value` tree in
/// between (a map allocated per row) was about a third of the CPU of the
/// thread that polls the accounts (issue 6, round 7).
type Fields<'a> = HashMap<String, &'a RawValue>;

fn parse_object(body: &[u8]) -> Result<Fields<'_>, String> {
    match serde_json::from_slice::<Fields<'_>>(body) {
        Ok(fields) => Ok(fields),
        Err(e) if e.is_syntax() || e.is_eof() => Err(format!("the answer is not JSON: {e}")),
        // Valid JSON, not an object: say what it is.
        Err(e) => Err(match serde_json::from_slice::<Value>(body) {
            Ok(other) => not_an_object(&other),
            Err(_) => format!("the answer is not JSON: {e}"),
        }),
    }
}

/// The answer as one object, left as its text (a snapshot is one row).
fn parse_whole_object(body: &[u8]) -> Result<&RawValue, String> {
    let raw: &RawValue =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    if raw.get().trim_start().starts_with('{') {
        return Ok(raw);
    }
    let other: Value =
        serde_json::from_str(raw.get()).map_err(|e| format!("the answer is not JSON: {e}"))?;
    Err(not_an_object(&other))
}

fn not_an_object(answer: &Value) -> String {
    format!(
        "the answer must be a JSON object, got {}",
        json_type(answer)
    )
}

/// Takes field `name` of a page, decoded as `T` (`what` it must be).
fn field<'a, T: Deserialize<'a>>(
    fields: &mut Fields<'a>,
    name: &str,
    what: &str,
) -> Result<T, String> {
    let raw = fields
        .remove(name)
        .ok_or_else(|| format!("missing field `{name}`"))?;
    serde_json::from_str(raw.get()).map_err(|_| {
        let got = serde_json::from_str::<Value>(raw.get())
            .map(|v| json_type(&v))
            .unwrap_or("not JSON");
        format!("field `{name}` must be {what}, got {got}")
    })
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn malformed(
    stream: Stream,
    object_id: Option<String>,
    message: String,
    correlation_id: Option<&str>,
) -> ConnectorError {
    ConnectorError::Malformed {
        stream,
        object_id,
        message,
        correlation_id: correlation_id.map(str::to_owned),
    }
}

/// A problem found while mapping a deserialized row: the field (relative to
/// the row) and what is wrong with it.
struct FieldError {
    field: &'static str,
    message: String,
}

fn field_error(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// A wire row and its mapping into the model.
trait WireRow: DeserializeOwned {
    type Model;
    fn into_model(self) -> Result<Self::Model, FieldError>;
}

struct RowContext<'a> {
    stream: Stream,
    /// The page key the rows sit under (`""` for a snapshot).
    key: &'static str,
    correlation_id: Option<&'a str>,
}

impl RowContext<'_> {
    fn rows<W: WireRow>(&self, rows: &[&RawValue]) -> Result<Vec<W::Model>, ConnectorError> {
        rows.iter()
            .enumerate()
            .map(|(i, row)| self.row::<W>(Some(i), row))
            .collect()
    }

    /// Decodes one row straight from its text. Only a row that fails is
    /// parsed again, into a `Value`, to name its id and what it is.
    fn row<W: WireRow>(
        &self,
        index: Option<usize>,
        row: &RawValue,
    ) -> Result<W::Model, ConnectorError> {
        let base = || match index {
            Some(i) => format!("{}[{i}]", self.key),
            None => String::new(),
        };
        let fail = |message: String| {
            let value = serde_json::from_str::<Value>(row.get()).unwrap_or(Value::Null);
            let object_id = value
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map(str::to_owned);
            let message = if value.is_object() {
                message
            } else {
                format!("`{}` must be an object, got {}", base(), json_type(&value))
            };
            malformed(self.stream, object_id, message, self.correlation_id)
        };
        let mut de = serde_json::Deserializer::from_str(row.get());
        let wire: W = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let inner = e.inner().to_string();
            let path = e.path().to_string();
            fail(match missing_field_name(&inner) {
                Some(name) => format!(
                    "missing field `{}`",
                    join_path(&base(), &join_path(&path, name))
                ),
                None => format!("field `{}`: {inner}", join_path(&base(), &path)),
            })
        })?;
        wire.into_model().map_err(|e| {
            fail(format!(
                "field `{}`: {}",
                join_path(&base(), e.field),
                e.message
            ))
        })
    }
}

/// `"missing field `x`"` → `Some("x")`.
fn missing_field_name(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// Joins JSON path parts, ignoring the root marker `.` and empty parts.
fn join_path(a: &str, b: &str) -> String {
    let a = a.trim_start_matches('.');
    let b = b.trim_start_matches('.');
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ if b.starts_with('[') => format!("{a}{b}"),
        _ => format!("{a}.{b}"),
    }
}

fn de_currency<'de, D: Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
    let code = String::deserialize(d)?;
    Currency::parse(&code).map_err(D::Error::custom)
}

fn de_opt_currency<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Currency>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(code) => Currency::parse(&code).map(Some).map_err(D::Error::custom),
    }
}

fn de_plan<'de, D: Deserializer<'de>>(d: D) -> Result<PlanKind, D::Error> {
    let plan = String::deserialize(d)?;
    PlanKind::parse(&plan).map_err(D::Error::custom)
}

/// `null` and an absent list both read as empty.
fn de_null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn require_id(id: &str) -> Result<(), FieldError> {
    if id.is_empty() {
        Err(field_error("id", "must not be empty"))
    } else {
        Ok(())
    }
}

// --- Purchase ---------------------------------------------------------------

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum OrderStatusWire {
    Authorized,
    Captured,
    PartCaptured,
    Cancelled,
    Expired,
    Closed,
    Refunded,
    PartRefunded,
}

impl From<OrderStatusWire> for OrderStatus {
    fn from(s: OrderStatusWire) -> Self {
        match s {
            OrderStatusWire::Authorized => OrderStatus::Authorized,
            OrderStatusWire::Captured => OrderStatus::Captured,
            OrderStatusWire::PartCaptured => OrderStatus::PartCaptured,
            OrderStatusWire::Cancelled => OrderStatus::Cancelled,
            OrderStatusWire::Expired => OrderStatus::Expired,
            OrderStatusWire::Closed => OrderStatus::Closed,
            OrderStatusWire::Refunded => OrderStatus::Refunded,
            OrderStatusWire::PartRefunded => OrderStatus::PartRefunded,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum InstallmentStateWire {
    Scheduled,
    Paid,
    Late,
    Paused,
    Cancelled,
}

impl From<InstallmentStateWire> for ReportedInstallmentState {
    fn from(s: InstallmentStateWire) -> Self {
        match s {
            InstallmentStateWire::Scheduled => ReportedInstallmentState::Scheduled,
            InstallmentStateWire::Paid => ReportedInstallmentState::Paid,
            InstallmentStateWire::Late => ReportedInstallmentState::Late,
            InstallmentStateWire::Paused => ReportedInstallmentState::Paused,
            InstallmentStateWire::Cancelled => ReportedInstallmentState::Cancelled,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ReturnStateWire {
    Reported,
    Registered,
    Rejected,
    Refunded,
}

impl From<ReturnStateWire> for ReturnState {
    fn from(s: ReturnStateWire) -> Self {
        match s {
            ReturnStateWire::Reported => ReturnState::Reported,
            ReturnStateWire::Registered => ReturnState::Registered,
            ReturnStateWire::Rejected => ReturnState::Rejected,
            ReturnStateWire::Refunded => ReturnState::Refunded,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum DisputeStateWire {
    #[serde(rename = "DISPUTE_OPENED")]
    Opened,
    #[serde(rename = "DISPUTE_WON")]
    Won,
    #[serde(rename = "DISPUTE_LOST")]
    Lost,
}

impl From<DisputeStateWire> for DisputeState {
    fn from(s: DisputeStateWire) -> Self {
        match s {
            DisputeStateWire::Opened => DisputeState::Opened,
            DisputeStateWire::Won => DisputeState::Won,
            DisputeStateWire::Lost => DisputeState::Lost,
        }
    }
}

#[derive(Debug, Deserialize)]
struct PurchaseItemWire {
    name: String,
    quantity: u32,
    unit_price_minor: i64,
}

#[derive(Debug, Deserialize)]
struct InstallmentWire {
    seq: u32,
    due: NaiveDate,
    amount_minor: i64,
    state: InstallmentStateWire,
    #[serde(default)]
    paid_at: Option<DateTime<Utc>>,
    #[serde(default)]
    late_fee_minor: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct ReturnWire {
    id: String,
    reported_at: DateTime<Utc>,
    state: ReturnStateWire,
    amount_minor: i64,
}

#[derive(Debug, Deserialize)]
struct DisputeWire {
    state: DisputeStateWire,
    opened_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct PurchaseWire {
    id: String,
    merchant: String,
    #[serde(default)]
    merchant_category: Option<String>,
    amount_minor: i64,
    #[serde(deserialize_with = "de_currency")]
    currency: Currency,
    created_at: DateTime<Utc>,
    status: OrderStatusWire,
    captured_amount_minor: i64,
    refunded_amount_minor: i64,
    #[serde(deserialize_with = "de_plan")]
    plan: PlanKind,
    apr_bps: u32,
    interest_minor: i64,
    /// Item lines exist only where the merchant shares them.
    #[serde(default, deserialize_with = "de_null_as_empty")]
    items: Vec<PurchaseItemWire>,
    installments: Vec<InstallmentWire>,
    #[serde(default, rename = "return")]
    return_: Option<ReturnWire>,
    #[serde(default)]
    dispute: Option<DisputeWire>,
    updated_at: DateTime<Utc>,
}

impl WireRow for PurchaseWire {
    type Model = Purchase;

    fn into_model(self) -> Result<Purchase, FieldError> {
        require_id(&self.id)?;
        if let Some(r) = &self.return_
            && r.id.is_empty()
        {
            return Err(field_error("return.id", "must not be empty"));
        }
        Ok(Purchase {
            id: self.id,
            merchant: self.merchant,
            merchant_category: self.merchant_category,
            amount: Money::new(self.amount_minor, self.currency),
            created_at: self.created_at,
            status: self.status.into(),
            captured_minor: self.captured_amount_minor,
            refunded_minor: self.refunded_amount_minor,
            plan: InstallmentPlan {
                kind: self.plan,
                apr_bps: self.apr_bps,
                interest_minor: self.interest_minor,
                installments: self
                    .installments
                    .into_iter()
                    .map(|i| Installment {
                        seq: i.seq,
                        due: i.due,
                        amount_minor: i.amount_minor,
                        reported_state: i.state.into(),
                        paid_at: i.paid_at,
                        late_fee_minor: i.late_fee_minor.unwrap_or(0),
                    })
                    .collect(),
            },
            items: self
                .items
                .into_iter()
                .map(|i| PurchaseItem {
                    name: i.name,
                    quantity: i.quantity,
                    unit_price_minor: i.unit_price_minor,
                })
                .collect(),
            return_: self.return_.map(|r| PurchaseReturn {
                id: r.id,
                reported_at: r.reported_at,
                state: r.state.into(),
                amount_minor: r.amount_minor,
            }),
            dispute: self.dispute.map(|d| Dispute {
                state: d.state.into(),
                opened_at: d.opened_at,
            }),
            updated_at: self.updated_at,
        })
    }
}

// --- CardTransaction --------------------------------------------------------

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CardKindWire {
    Authorization,
    Settlement,
    Reversal,
    Refund,
}

impl From<CardKindWire> for CardTransactionKind {
    fn from(k: CardKindWire) -> Self {
        match k {
            CardKindWire::Authorization => CardTransactionKind::Authorization,
            CardKindWire::Settlement => CardTransactionKind::Settlement,
            CardKindWire::Reversal => CardTransactionKind::Reversal,
            CardKindWire::Refund => CardTransactionKind::Refund,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CardStatusWire {
    Pending,
    Posted,
    Reversed,
}

impl From<CardStatusWire> for CardTransactionStatus {
    fn from(s: CardStatusWire) -> Self {
        match s {
            CardStatusWire::Pending => CardTransactionStatus::Pending,
            CardStatusWire::Posted => CardTransactionStatus::Posted,
            CardStatusWire::Reversed => CardTransactionStatus::Reversed,
        }
    }
}

#[derive(Debug, Deserialize)]
struct CardTransactionWire {
    id: String,
    #[serde(default)]
    auth_id: Option<String>,
    kind: CardKindWire,
    status: CardStatusWire,
    amount_minor: i64,
    #[serde(deserialize_with = "de_currency")]
    currency: Currency,
    merchant: String,
    #[serde(default)]
    mcc: Option<String>,
    occurred_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl WireRow for CardTransactionWire {
    type Model = CardTransaction;

    fn into_model(self) -> Result<CardTransaction, FieldError> {
        require_id(&self.id)?;
        if self.amount_minor < 0 {
            return Err(field_error(
                "amount_minor",
                format!(
                    "must be a positive magnitude (the direction comes from `kind`), got {}",
                    self.amount_minor
                ),
            ));
        }
        if let Some(mcc) = &self.mcc
            && mcc.chars().count() != 4
        {
            return Err(field_error(
                "mcc",
                format!("must be 4 characters, got {mcc:?}"),
            ));
        }
        Ok(CardTransaction {
            id: self.id,
            auth_id: self.auth_id.filter(|a| !a.is_empty()),
            kind: self.kind.into(),
            status: self.status.into(),
            amount: Money::new(self.amount_minor, self.currency),
            merchant: self.merchant,
            mcc: self.mcc,
            occurred_at: self.occurred_at,
            updated_at: self.updated_at,
        })
    }
}

// --- BalanceEntry -------------------------------------------------------------

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum BalanceKindWire {
    TopUp,
    Refund,
    CashbackCredit,
    InstallmentPayment,
    Withdrawal,
    Interest,
}

impl From<BalanceKindWire> for BalanceEntryKind {
    fn from(k: BalanceKindWire) -> Self {
        match k {
            BalanceKindWire::TopUp => BalanceEntryKind::TopUp,
            BalanceKindWire::Refund => BalanceEntryKind::Refund,
            BalanceKindWire::CashbackCredit => BalanceEntryKind::CashbackCredit,
            BalanceKindWire::InstallmentPayment => BalanceEntryKind::InstallmentPayment,
            BalanceKindWire::Withdrawal => BalanceEntryKind::Withdrawal,
            BalanceKindWire::Interest => BalanceEntryKind::Interest,
        }
    }
}

#[derive(Debug, Deserialize)]
struct BalanceEntryWire {
    id: String,
    kind: BalanceKindWire,
    amount_minor: i64,
    #[serde(deserialize_with = "de_currency")]
    currency: Currency,
    #[serde(default)]
    purchase_id: Option<String>,
    #[serde(default)]
    points_entry_id: Option<String>,
    occurred_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl WireRow for BalanceEntryWire {
    type Model = BalanceEntry;

    fn into_model(self) -> Result<BalanceEntry, FieldError> {
        require_id(&self.id)?;
        Ok(BalanceEntry {
            id: self.id,
            ledger: MAIN_LEDGER.to_string(),
            kind: self.kind.into(),
            booking: BookingStatus::Booked,
            amount: Money::new(self.amount_minor, self.currency),
            description: None,
            purchase_id: self.purchase_id,
            points_entry_id: self.points_entry_id,
            occurred_at: self.occurred_at,
            updated_at: self.updated_at,
        })
    }
}

// --- PointsEntry ----------------------------------------------------------------

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PointsKindWire {
    Earned,
    Redeemed,
    Expired,
    Reversed,
}

impl From<PointsKindWire> for PointsEntryKind {
    fn from(k: PointsKindWire) -> Self {
        match k {
            PointsKindWire::Earned => PointsEntryKind::Earned,
            PointsKindWire::Redeemed => PointsEntryKind::Redeemed,
            PointsKindWire::Expired => PointsEntryKind::Expired,
            PointsKindWire::Reversed => PointsEntryKind::Reversed,
        }
    }
}

#[derive(Debug, Deserialize)]
struct PointsEntryWire {
    id: String,
    kind: PointsKindWire,
    points: i64,
    #[serde(default)]
    purchase_id: Option<String>,
    #[serde(default)]
    balance_entry_id: Option<String>,
    occurred_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl WireRow for PointsEntryWire {
    type Model = PointsEntry;

    fn into_model(self) -> Result<PointsEntry, FieldError> {
        require_id(&self.id)?;
        Ok(PointsEntry {
            id: self.id,
            kind: self.kind.into(),
            points: self.points,
            purchase_id: self.purchase_id,
            balance_entry_id: self.balance_entry_id,
            occurred_at: self.occurred_at,
            updated_at: self.updated_at,
        })
    }
}

// --- Delivery -------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DeliveryStatusWire {
    LabelCreated,
    InTransit,
    OutForDelivery,
    Delivered,
    Exception,
    Returned,
}

impl From<DeliveryStatusWire> for DeliveryStatus {
    fn from(s: DeliveryStatusWire) -> Self {
        match s {
            DeliveryStatusWire::LabelCreated => DeliveryStatus::LabelCreated,
            DeliveryStatusWire::InTransit => DeliveryStatus::InTransit,
            DeliveryStatusWire::OutForDelivery => DeliveryStatus::OutForDelivery,
            DeliveryStatusWire::Delivered => DeliveryStatus::Delivered,
            DeliveryStatusWire::Exception => DeliveryStatus::Exception,
            DeliveryStatusWire::Returned => DeliveryStatus::Returned,
        }
    }
}

#[derive(Debug, Deserialize)]
struct DeliveryWire {
    id: String,
    #[serde(default)]
    purchase_id: Option<String>,
    carrier: String,
    #[serde(default)]
    tracking_number: Option<String>,
    status: DeliveryStatusWire,
    #[serde(default)]
    eta_from: Option<NaiveDate>,
    #[serde(default)]
    eta_to: Option<NaiveDate>,
    updated_at: DateTime<Utc>,
}

impl WireRow for DeliveryWire {
    type Model = Delivery;

    fn into_model(self) -> Result<Delivery, FieldError> {
        require_id(&self.id)?;
        Ok(Delivery {
            id: self.id,
            purchase_id: self.purchase_id,
            carrier: self.carrier,
            tracking_number: self.tracking_number,
            status: self.status.into(),
            eta_from: self.eta_from,
            eta_to: self.eta_to,
            updated_at: self.updated_at,
        })
    }
}

// --- Snapshots ----------------------------------------------------------------------

/// The balance type Klarna US reports: what the holder can spend now.
pub(crate) const AVAILABLE: &str = "available";

#[derive(Debug, Deserialize)]
struct BalanceSnapshotWire {
    available_minor: i64,
    #[serde(deserialize_with = "de_currency")]
    currency: Currency,
    as_of: DateTime<Utc>,
}

impl WireRow for BalanceSnapshotWire {
    type Model = BalanceSnapshot;

    fn into_model(self) -> Result<BalanceSnapshot, FieldError> {
        Ok(BalanceSnapshot {
            ledger: MAIN_LEDGER.to_string(),
            balance_type: AVAILABLE.to_string(),
            amount: Money::new(self.available_minor, self.currency),
            as_of: self.as_of,
        })
    }
}

#[derive(Debug, Deserialize)]
struct PointsSnapshotWire {
    points: i64,
    as_of: DateTime<Utc>,
}

impl WireRow for PointsSnapshotWire {
    type Model = PointsSnapshot;

    fn into_model(self) -> Result<PointsSnapshot, FieldError> {
        Ok(PointsSnapshot {
            points: self.points,
            as_of: self.as_of,
        })
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MembershipTierWire {
    None,
    Plus,
    Max,
}

impl From<MembershipTierWire> for MembershipTier {
    fn from(t: MembershipTierWire) -> Self {
        match t {
            MembershipTierWire::None => MembershipTier::None,
            MembershipTierWire::Plus => MembershipTier::Plus,
            MembershipTierWire::Max => MembershipTier::Max,
        }
    }
}

/// Identity fields may be withheld; only `updated_at` is required. The
/// provider's `account_id` is not part of the model (the account is ours).
#[derive(Debug, Deserialize)]
struct ProfileWire {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    membership_tier: Option<MembershipTierWire>,
    #[serde(default)]
    purchase_power_minor: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_currency")]
    currency: Option<Currency>,
    #[serde(default)]
    refunds_to_balance: Option<bool>,
    updated_at: DateTime<Utc>,
}

impl WireRow for ProfileWire {
    type Model = Profile;

    fn into_model(self) -> Result<Profile, FieldError> {
        let purchase_power = match (self.purchase_power_minor, self.currency) {
            (Some(minor), Some(currency)) => Some(Money::new(minor, currency)),
            (Some(_), None) => {
                return Err(field_error(
                    "currency",
                    "required when purchase_power_minor is present",
                ));
            }
            (None, _) => None,
        };
        Ok(Profile {
            name: self.name,
            email: self.email,
            phone: self.phone,
            country: self.country,
            membership_tier: self.membership_tier.map(Into::into),
            purchase_power,
            refunds_to_balance: self.refunds_to_balance,
            updated_at: self.updated_at,
        })
    }
}

#[cfg(test)]
mod tests;
