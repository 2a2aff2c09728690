//! Every JSON shape of the Berlin Group NextGenPSD2 1.3.12 AIS subset this
//! connector speaks, and their mapping into the normalized model. Nothing
//! outside this module knows a Berlin Group JSON name.
//!
//! Parsing is tolerant where the specification's own examples are sloppy
//! (unknown fields are ignored, `recurringIndicator` may come as the string
//! `"true"`, `lastActionDate` may be missing) and strict where the data
//! matters: an amount with more decimals than its currency, an unknown
//! currency or a bad date is an error naming the field.

use std::collections::BTreeMap;

use bnpl_core::{BalanceEntryKind, BalanceSnapshot, BookingStatus, Currency, Money};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

// ---------------------------------------------------------------- errors --

/// A field that could not be used, by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Parses a body, naming the path of the first bad field.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, FieldError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        FieldError {
            path: if path == "." { "body".into() } else { path },
            message: e.into_inner().to_string(),
        }
    })
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TppMessage {
    pub code: String,
    #[serde(default)]
    pub text: Option<String>,
}

/// The messages of an error body, whichever of the specification's forms it
/// takes: `{"tppMessages": [...]}` (NextGenPSD2), RFC 7807
/// `{"code", "detail", "additionalErrors"}`, or a bare array (as the
/// specification's own `Error429_NG_AIS` example has it).
pub(crate) fn error_messages(body: &[u8]) -> Vec<TppMessage> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Ng {
        tpp_messages: Vec<TppMessage>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Problem {
        code: String,
        #[serde(default)]
        detail: Option<String>,
        #[serde(default)]
        additional_errors: Vec<ProblemItem>,
    }
    #[derive(Deserialize)]
    struct ProblemItem {
        code: String,
        #[serde(default)]
        detail: Option<String>,
    }
    if let Ok(ng) = serde_json::from_slice::<Ng>(body) {
        return ng.tpp_messages;
    }
    if let Ok(p) = serde_json::from_slice::<Problem>(body) {
        let mut all = vec![TppMessage {
            code: p.code,
            text: p.detail,
        }];
        all.extend(p.additional_errors.into_iter().map(|a| TppMessage {
            code: a.code,
            text: a.detail,
        }));
        return all;
    }
    serde_json::from_slice::<Vec<TppMessage>>(body).unwrap_or_default()
}

// --------------------------------------------------------------- consents --

#[derive(Debug, Clone, Serialize)]
pub(crate) struct AccountRefOut {
    pub iban: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccessOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<AccountRefOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balances: Option<Vec<AccountRefOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<Vec<AccountRefOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_psd2: Option<&'static str>,
}

/// `POST /v1/consents` body (schema `consents`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsentsOut {
    pub access: AccessOut,
    pub recurring_indicator: bool,
    pub valid_until: NaiveDate,
    pub frequency_per_day: u32,
    pub combined_service_indicator: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Href {
    #[serde(default)]
    pub href: Option<String>,
}

pub(crate) type Links = BTreeMap<String, Href>;

pub(crate) fn link(links: &Links, name: &str) -> Option<String> {
    links
        .get(name)
        .and_then(|h| h.href.clone())
        .filter(|h| !h.trim().is_empty())
}

/// `consentsResponse-201`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsentCreatedIn {
    pub consent_status: String,
    pub consent_id: String,
    #[serde(default, rename = "_links")]
    pub links: Links,
    #[serde(default)]
    pub psu_message: Option<String>,
}

/// `startScaprocessResponse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartAuthorisationIn {
    #[serde(default, rename = "_links")]
    pub links: Links,
    #[serde(default)]
    pub psu_message: Option<String>,
}

/// `consentStatusResponse-200`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsentStatusIn {
    pub consent_status: String,
}

/// `consentInformationResponse-200_json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsentInformationIn {
    #[serde(default)]
    pub access: serde_json::Value,
    #[serde(deserialize_with = "lenient_bool")]
    pub recurring_indicator: bool,
    pub valid_until: NaiveDate,
    pub frequency_per_day: u32,
    /// Required by the schema, missing from the specification's own example.
    #[serde(default)]
    pub last_action_date: Option<NaiveDate>,
    pub consent_status: String,
}

/// A boolean, or the strings `"true"`/`"false"` (the specification's examples
/// write `"recurringIndicator": "true"`).
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
    }
    match B::deserialize(d)? {
        B::Bool(b) => Ok(b),
        B::Text(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        B::Text(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        B::Text(s) => Err(serde::de::Error::custom(format!(
            "expected a boolean, got {s:?}"
        ))),
    }
}

// --------------------------------------------------------------- accounts --

/// `accountList`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AccountListIn {
    pub accounts: Vec<AccountIn>,
}

/// `accountDetails`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccountIn {
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub iban: Option<String>,
    #[serde(default)]
    pub bban: Option<String>,
    pub currency: String,
    #[serde(default)]
    pub status: Option<String>,
}

/// One account as the sync sees it: the ledger name that survives
/// re-consent, and the per-consent `resourceId` used in paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LedgerAccount {
    pub ledger: String,
    pub resource_id: String,
}

/// Ledger names: the IBAN (BBAN when there is none); sub-accounts of a
/// multi-currency account share an IBAN and become `IBAN/CUR`. Aggregation
/// accounts (`XXX`), deleted or blocked accounts and accounts without a
/// resource id or a stable identifier are left out.
pub(crate) fn ledgers(accounts: &[AccountIn]) -> Vec<LedgerAccount> {
    let usable: Vec<(&AccountIn, String, &String)> = accounts
        .iter()
        .filter(|a| a.currency != "XXX")
        .filter(|a| !matches!(a.status.as_deref(), Some("deleted") | Some("blocked")))
        .filter_map(|a| {
            let id = a
                .iban
                .clone()
                .or_else(|| a.bban.clone())
                .map(|s| s.replace(' ', "").to_uppercase())
                .filter(|s| !s.is_empty())?;
            let resource = a.resource_id.as_ref().filter(|r| !r.is_empty())?;
            Some((a, id, resource))
        })
        .collect();
    let mut out: Vec<LedgerAccount> = usable
        .iter()
        .map(|(a, id, resource)| {
            let shared = usable.iter().filter(|(_, other, _)| other == id).count() > 1;
            LedgerAccount {
                ledger: if shared {
                    format!("{id}/{}", a.currency)
                } else {
                    id.clone()
                },
                resource_id: (*resource).clone(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.ledger.cmp(&b.ledger));
    out.dedup_by(|a, b| a.ledger == b.ledger);
    out
}

// --------------------------------------------------------------- balances --

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AmountIn {
    pub currency: String,
    pub amount: String,
}

/// `readAccountBalanceResponse-200`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BalancesIn {
    pub balances: Vec<BalanceIn>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BalanceIn {
    pub balance_amount: AmountIn,
    pub balance_type: String,
    #[serde(default)]
    pub credit_limit_included: Option<bool>,
    #[serde(default)]
    pub last_change_date_time: Option<DateTime<FixedOffset>>,
    #[serde(default)]
    pub reference_date: Option<NaiveDate>,
}

/// Parses an amount, naming `path` (`...transactionAmount`) on failure.
pub(crate) fn money(amount: &AmountIn, path: &str) -> Result<Money, FieldError> {
    let currency = Currency::parse(&amount.currency).map_err(|e| FieldError {
        path: format!("{path}.currency"),
        message: e.to_string(),
    })?;
    Money::parse_major(&amount.amount, currency).map_err(|e| FieldError {
        path: format!("{path}.amount"),
        message: e.to_string(),
    })
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// Balance snapshots of one ledger. `balance_type` is the Berlin Group name;
/// a balance that includes the credit limit is `<type>.creditLimitIncluded`,
/// and a second one of the same name in another currency `<type>.<CUR>`.
/// `as_of`: `lastChangeDateTime`, else the start of `referenceDate` (UTC),
/// else `read_at`.
pub(crate) fn balances(
    ledger: &str,
    answer: &BalancesIn,
    read_at: DateTime<Utc>,
) -> Result<Vec<BalanceSnapshot>, FieldError> {
    let mut out: Vec<BalanceSnapshot> = Vec::new();
    for (i, b) in answer.balances.iter().enumerate() {
        let amount = money(&b.balance_amount, &format!("balances[{i}].balanceAmount"))?;
        let mut name = b.balance_type.clone();
        if b.credit_limit_included == Some(true) {
            name.push_str(".creditLimitIncluded");
        }
        if out.iter().any(|s| s.balance_type == name) {
            name = format!("{name}.{}", amount.currency);
        }
        if out.iter().any(|s| s.balance_type == name) {
            tracing::warn!(ledger, balance_type = %b.balance_type, "duplicate balance left out");
            continue;
        }
        let as_of = b
            .last_change_date_time
            .map(|t| t.with_timezone(&Utc))
            .or(b.reference_date.map(midnight))
            .unwrap_or(read_at);
        out.push(BalanceSnapshot {
            ledger: ledger.to_string(),
            balance_type: name,
            amount,
            as_of,
        });
    }
    Ok(out)
}

// ----------------------------------------------------------- transactions --

/// `transactionsResponse-200_json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TransactionsIn {
    #[serde(default)]
    pub transactions: Option<AccountReportIn>,
    #[serde(default, rename = "_links")]
    pub links: Links,
}

/// `accountReport`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AccountReportIn {
    #[serde(default)]
    pub booked: Vec<TransactionIn>,
    #[serde(default)]
    pub pending: Vec<TransactionIn>,
    #[serde(default, rename = "_links")]
    pub links: Links,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct AccountRefIn {
    #[serde(default)]
    pub iban: Option<String>,
    #[serde(default)]
    pub bban: Option<String>,
}

/// `transactions` (one entry of a transaction list).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TransactionIn {
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub entry_reference: Option<String>,
    #[serde(default)]
    pub end_to_end_id: Option<String>,
    #[serde(default)]
    pub mandate_id: Option<String>,
    #[serde(default)]
    pub booking_date: Option<NaiveDate>,
    #[serde(default)]
    pub value_date: Option<NaiveDate>,
    pub transaction_amount: AmountIn,
    #[serde(default)]
    pub creditor_name: Option<String>,
    #[serde(default)]
    pub creditor_account: Option<AccountRefIn>,
    #[serde(default)]
    pub debtor_name: Option<String>,
    #[serde(default)]
    pub debtor_account: Option<AccountRefIn>,
    #[serde(default)]
    pub remittance_information_unstructured: Option<String>,
    #[serde(default)]
    pub remittance_information_unstructured_array: Option<Vec<String>>,
    #[serde(default)]
    pub remittance_information_structured: Option<serde_json::Value>,
    #[serde(default)]
    pub bank_transaction_code: Option<String>,
}

/// What the connector keeps of one transaction row, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub booking: BookingStatus,
    pub transaction_id: Option<String>,
    pub entry_reference: Option<String>,
    pub amount: Money,
    pub booking_date: Option<NaiveDate>,
    pub value_date: Option<NaiveDate>,
    /// The other party's name (creditor of a debit, debtor of a credit).
    pub counterparty: Option<String>,
    pub counterparty_account: Option<String>,
    pub remittance: Option<String>,
    pub kind: BalanceEntryKind,
    /// Fields that identify a row without an id (see `dedup::content_id`).
    pub identity: Vec<String>,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The kind from an ISO 20022 bank transaction code (`PMNT-RCDT-ESCT`):
/// interest, fees, cash withdrawals; everything else is a transfer.
pub(crate) fn kind(code: Option<&str>) -> BalanceEntryKind {
    let Some(code) = code else {
        return BalanceEntryKind::Transfer;
    };
    let parts: Vec<String> = code.split('-').map(|p| p.trim().to_uppercase()).collect();
    let has = |x: &str| parts.iter().skip(1).any(|p| p == x);
    if has("INTR") {
        BalanceEntryKind::Interest
    } else if has("CHRG") || has("FEES") || has("COMM") {
        BalanceEntryKind::Fee
    } else if has("CWDL") {
        BalanceEntryKind::Withdrawal
    } else {
        BalanceEntryKind::Transfer
    }
}

/// Checks and parses one row; `path` is `transactions.booked[3]`.
pub(crate) fn row(
    tx: &TransactionIn,
    booking: BookingStatus,
    path: &str,
) -> Result<Row, FieldError> {
    let amount = money(&tx.transaction_amount, &format!("{path}.transactionAmount"))?;
    let credit = amount.minor > 0;
    let (name, account) = if credit {
        (&tx.debtor_name, &tx.debtor_account)
    } else {
        (&tx.creditor_name, &tx.creditor_account)
    };
    let name = non_empty(name)
        .or_else(|| non_empty(&tx.creditor_name))
        .or_else(|| non_empty(&tx.debtor_name));
    let account = account
        .as_ref()
        .and_then(|a| non_empty(&a.iban).or_else(|| non_empty(&a.bban)));
    let remittance = non_empty(&tx.remittance_information_unstructured)
        .or_else(|| {
            tx.remittance_information_unstructured_array
                .as_ref()
                .map(|lines| lines.join(" ").trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .or_else(|| {
            tx.remittance_information_structured
                .as_ref()
                .and_then(|v| match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Object(m) => m
                        .get("reference")
                        .and_then(|r| r.as_str())
                        .map(str::to_string),
                    _ => None,
                })
        });
    let identity = vec![
        booking.as_str().to_string(),
        tx.booking_date.map(|d| d.to_string()).unwrap_or_default(),
        tx.value_date.map(|d| d.to_string()).unwrap_or_default(),
        amount.minor.to_string(),
        amount.currency.to_string(),
        non_empty(&tx.creditor_name).unwrap_or_default(),
        tx.creditor_account
            .as_ref()
            .and_then(|a| non_empty(&a.iban))
            .unwrap_or_default(),
        non_empty(&tx.debtor_name).unwrap_or_default(),
        tx.debtor_account
            .as_ref()
            .and_then(|a| non_empty(&a.iban))
            .unwrap_or_default(),
        remittance.clone().unwrap_or_default(),
        non_empty(&tx.end_to_end_id).unwrap_or_default(),
        non_empty(&tx.mandate_id).unwrap_or_default(),
        non_empty(&tx.bank_transaction_code).unwrap_or_default(),
    ];
    Ok(Row {
        booking,
        transaction_id: non_empty(&tx.transaction_id),
        entry_reference: non_empty(&tx.entry_reference),
        amount,
        booking_date: tx.booking_date,
        value_date: tx.value_date,
        counterparty: name,
        counterparty_account: account,
        remittance,
        kind: kind(tx.bank_transaction_code.as_deref()),
        identity,
    })
}

impl Row {
    /// The day the row happened: booking date, else value date.
    pub fn date(&self) -> Option<NaiveDate> {
        match self.booking {
            BookingStatus::Booked => self.booking_date.or(self.value_date),
            BookingStatus::Pending => self.value_date.or(self.booking_date),
        }
    }

    pub fn entry(
        &self,
        id: String,
        ledger: &str,
        read_at: DateTime<Utc>,
    ) -> bnpl_core::BalanceEntry {
        let description = self
            .remittance
            .clone()
            .or_else(|| self.counterparty.clone());
        bnpl_core::BalanceEntry {
            id,
            ledger: ledger.to_string(),
            kind: self.kind,
            booking: self.booking,
            amount: self.amount,
            description,
            purchase_id: None,
            points_entry_id: None,
            occurred_at: self.date().map(midnight).unwrap_or(read_at),
            updated_at: read_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(v: serde_json::Value) -> TransactionIn {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn amounts_are_exact_and_too_many_decimals_name_the_field() {
        let t =
            tx(serde_json::json!({"transactionAmount": {"currency": "EUR", "amount": "-100.03"}}));
        let r = row(&t, BookingStatus::Pending, "transactions.pending[0]").unwrap();
        assert_eq!(r.amount.minor, -10003);
        let t =
            tx(serde_json::json!({"transactionAmount": {"currency": "SEK", "amount": "12.345"}}));
        let err = row(&t, BookingStatus::Booked, "transactions.booked[2]").unwrap_err();
        assert_eq!(err.path, "transactions.booked[2].transactionAmount.amount");
        assert_eq!(err.message, "\"12.345\" has 3 decimals but SEK has 2");
        let t = tx(serde_json::json!({"transactionAmount": {"currency": "ZZZ", "amount": "1"}}));
        let err = row(&t, BookingStatus::Booked, "x").unwrap_err();
        assert_eq!(err.path, "x.transactionAmount.currency");
    }

    #[test]
    fn counterparty_and_description_follow_the_direction() {
        let t = tx(serde_json::json!({
            "transactionAmount": {"currency": "EUR", "amount": "-5"},
            "creditorName": "Shop", "debtorName": "Me",
            "creditorAccount": {"iban": "DE02100100109307118603"}
        }));
        let r = row(&t, BookingStatus::Booked, "x").unwrap();
        assert_eq!(r.counterparty.as_deref(), Some("Shop"));
        assert_eq!(
            r.counterparty_account.as_deref(),
            Some("DE02100100109307118603")
        );
        let e = r.entry("id".into(), "L", "2026-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(e.description.as_deref(), Some("Shop"));
        let t = tx(serde_json::json!({
            "transactionAmount": {"currency": "EUR", "amount": "5"},
            "remittanceInformationUnstructuredArray": ["a", "b"], "debtorName": "Payer"
        }));
        let r = row(&t, BookingStatus::Booked, "x").unwrap();
        assert_eq!(r.counterparty.as_deref(), Some("Payer"));
        assert_eq!(r.remittance.as_deref(), Some("a b"));
    }

    #[test]
    fn kinds_from_bank_transaction_codes() {
        assert_eq!(kind(Some("PMNT-RCDT-ESCT")), BalanceEntryKind::Transfer);
        assert_eq!(kind(Some("ACMT-MDOP-INTR")), BalanceEntryKind::Interest);
        assert_eq!(kind(Some("PMNT-CCRD-CHRG")), BalanceEntryKind::Fee);
        assert_eq!(kind(Some("PMNT-CCRD-CWDL")), BalanceEntryKind::Withdrawal);
        assert_eq!(kind(None), BalanceEntryKind::Transfer);
    }

    #[test]
    fn ledgers_use_the_iban_and_split_multicurrency_accounts() {
        let list: AccountListIn = serde_json::from_value(serde_json::json!({"accounts": [
            {"resourceId": "r1", "iban": "DE2310010010123456788", "currency": "XXX"},
            {"resourceId": "r2", "iban": "DE2310010010123456788", "currency": "EUR"},
            {"resourceId": "r3", "iban": "DE2310010010123456788", "currency": "USD"},
            {"resourceId": "r4", "iban": "se45 5000 0000 0583 9825 7466", "currency": "SEK"},
            {"resourceId": "r5", "currency": "EUR"},
            {"resourceId": "r6", "iban": "FR7612345987650123456789014", "currency": "EUR", "status": "deleted"}
        ]}))
        .unwrap();
        let l = ledgers(&list.accounts);
        let names: Vec<&str> = l.iter().map(|a| a.ledger.as_str()).collect();
        assert_eq!(
            names,
            [
                "DE2310010010123456788/EUR",
                "DE2310010010123456788/USD",
                "SE4550000000058398257466"
            ]
        );
        assert_eq!(l[2].resource_id, "r4");
    }

    #[test]
    fn balances_map_with_berlin_group_names() {
        let b: BalancesIn = serde_json::from_value(serde_json::json!({"balances": [
            {"balanceAmount": {"currency": "EUR", "amount": "500.00"}, "balanceType": "closingBooked", "referenceDate": "2017-10-25"},
            {"balanceAmount": {"currency": "EUR", "amount": "900.00"}, "balanceType": "expected", "lastChangeDateTime": "2017-10-25T15:30:35.035Z"},
            {"balanceAmount": {"currency": "EUR", "amount": "300.00"}, "balanceType": "interimAvailable"},
            {"balanceAmount": {"currency": "EUR", "amount": "5300.00"}, "balanceType": "interimAvailable", "creditLimitIncluded": true}
        ]}))
        .unwrap();
        let now: DateTime<Utc> = "2026-01-01T10:00:00Z".parse().unwrap();
        let s = balances("DE1", &b, now).unwrap();
        let names: Vec<&str> = s.iter().map(|x| x.balance_type.as_str()).collect();
        assert_eq!(
            names,
            [
                "closingBooked",
                "expected",
                "interimAvailable",
                "interimAvailable.creditLimitIncluded"
            ]
        );
        assert_eq!(s[0].amount.minor, 50000);
        assert_eq!(
            s[0].as_of,
            "2017-10-25T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            s[1].as_of,
            "2017-10-25T15:30:35.035Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(s[2].as_of, now);
    }

    #[test]
    fn error_bodies_in_every_form() {
        let codes = |b: &str| -> Vec<String> {
            error_messages(b.as_bytes())
                .into_iter()
                .map(|m| m.code)
                .collect()
        };
        assert_eq!(
            codes(r#"{"tppMessages":[{"category":"ERROR","code":"CONSENT_EXPIRED"}]}"#),
            ["CONSENT_EXPIRED"]
        );
        assert_eq!(
            codes(r#"[{"category":"ERROR","code":"ACCESS_EXCEEDED","text":"t"}]"#),
            ["ACCESS_EXCEEDED"]
        );
        assert_eq!(
            codes(
                r#"{"type":"x","code":"FORMAT_ERROR","additionalErrors":[{"code":"PERIOD_INVALID"}]}"#
            ),
            ["FORMAT_ERROR", "PERIOD_INVALID"]
        );
        assert!(codes("<html>").is_empty());
    }

    #[test]
    fn consent_information_tolerates_the_spec_example() {
        let c: ConsentInformationIn = parse(br#"{"access":{},"recurringIndicator":"true","validUntil":"2017-11-01","frequencyPerDay":4,"consentStatus":"valid"}"#).unwrap();
        assert!(c.recurring_indicator);
        assert_eq!(c.last_action_date, None);
        let err = parse::<ConsentInformationIn>(br#"{"recurringIndicator":true,"validUntil":"soon","frequencyPerDay":4,"consentStatus":"valid"}"#).unwrap_err();
        assert_eq!(err.path, "validUntil");
    }
}
