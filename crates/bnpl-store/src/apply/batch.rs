//! The rows of one batch statement: one statement per table and page
//! instead of one per row's SQL text.
//!
//! Each backend binds a batch its own way. PostgreSQL binds the whole batch
//! as one JSON array read with `json_to_recordset`: one round trip per batch.
//! SQLite, in process, runs the statement once per row with the row's fields
//! bound to parameters of the same names (`sqlite/bind.rs`): no JSON to write
//! and parse back. Either way the statement text is the same
//! (`statements.rs`), and timestamps and dates are in the one text format of
//! `crate::time`, which both backends parse.
//!
//! Children (items, installments) name their purchase by external id and by
//! the `updated_at` that was written (`version`): they are joined to the
//! purchase row with both, so a purchase the `updated_at` guard refused never
//! gets the children of the version it refused.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use bnpl_core::lifecycle::derive_state;
use bnpl_core::{Installment, PurchaseItem};

use super::{RecordRef, StoredInstallment};
use crate::StoreError;
use crate::time::{format_date, format_timestamp as ts};

/// A top-level row of a delta stream, named by its table's columns (account
/// and `synced_at` are bound apart: they are the same for the whole batch).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum RecordRow<'a> {
    Purchase {
        external_id: &'a str,
        merchant: &'a str,
        merchant_category: Option<&'a str>,
        currency: &'a str,
        amount_minor: i64,
        captured_minor: i64,
        refunded_minor: i64,
        status: &'a str,
        plan: String,
        apr_bps: u32,
        interest_minor: i64,
        return_external_id: Option<&'a str>,
        return_reported_at: Option<String>,
        return_state: Option<&'a str>,
        return_amount_minor: Option<i64>,
        dispute_state: Option<&'a str>,
        dispute_opened_at: Option<String>,
        created_at: String,
        updated_at: String,
    },
    CardTransaction {
        external_id: &'a str,
        auth_external_id: Option<&'a str>,
        kind: &'a str,
        status: &'a str,
        currency: &'a str,
        amount_minor: i64,
        merchant: &'a str,
        mcc: Option<&'a str>,
        occurred_at: String,
        updated_at: String,
    },
    BalanceEntry {
        external_id: &'a str,
        ledger: &'a str,
        kind: &'a str,
        booking: &'a str,
        currency: &'a str,
        amount_minor: i64,
        description: Option<&'a str>,
        purchase_external_id: Option<&'a str>,
        points_entry_external_id: Option<&'a str>,
        occurred_at: String,
        updated_at: String,
    },
    PointsEntry {
        external_id: &'a str,
        kind: &'a str,
        points: i64,
        purchase_external_id: Option<&'a str>,
        balance_entry_external_id: Option<&'a str>,
        occurred_at: String,
        updated_at: String,
    },
    Delivery {
        external_id: &'a str,
        purchase_external_id: Option<&'a str>,
        carrier: &'a str,
        tracking_number: Option<&'a str>,
        status: &'a str,
        eta_from: Option<String>,
        eta_to: Option<String>,
        updated_at: String,
    },
}

impl<'a> RecordRow<'a> {
    pub(crate) fn of(record: RecordRef<'a>) -> RecordRow<'a> {
        match record {
            RecordRef::Purchase(p) => RecordRow::Purchase {
                external_id: &p.id,
                merchant: &p.merchant,
                merchant_category: p.merchant_category.as_deref(),
                currency: p.amount.currency.code(),
                amount_minor: p.amount.minor,
                captured_minor: p.captured_minor,
                refunded_minor: p.refunded_minor,
                status: p.status.as_str(),
                plan: p.plan.kind.as_string(),
                apr_bps: p.plan.apr_bps,
                interest_minor: p.plan.interest_minor,
                return_external_id: p.return_.as_ref().map(|r| r.id.as_str()),
                return_reported_at: p.return_.as_ref().map(|r| ts(r.reported_at)),
                return_state: p.return_.as_ref().map(|r| r.state.as_str()),
                return_amount_minor: p.return_.as_ref().map(|r| r.amount_minor),
                dispute_state: p.dispute.as_ref().map(|d| d.state.as_str()),
                dispute_opened_at: p.dispute.as_ref().map(|d| ts(d.opened_at)),
                created_at: ts(p.created_at),
                updated_at: purchase_version(p),
            },
            RecordRef::CardTransaction(t) => RecordRow::CardTransaction {
                external_id: &t.id,
                auth_external_id: t.auth_id.as_deref(),
                kind: t.kind.as_str(),
                status: t.status.as_str(),
                currency: t.amount.currency.code(),
                amount_minor: t.amount.minor,
                merchant: &t.merchant,
                mcc: t.mcc.as_deref(),
                occurred_at: ts(t.occurred_at),
                updated_at: ts(t.updated_at),
            },
            RecordRef::BalanceEntry(e) => RecordRow::BalanceEntry {
                external_id: &e.id,
                ledger: &e.ledger,
                kind: e.kind.as_str(),
                booking: e.booking.as_str(),
                currency: e.amount.currency.code(),
                amount_minor: e.amount.minor,
                description: e.description.as_deref(),
                purchase_external_id: e.purchase_id.as_deref(),
                points_entry_external_id: e.points_entry_id.as_deref(),
                occurred_at: ts(e.occurred_at),
                updated_at: ts(e.updated_at),
            },
            RecordRef::PointsEntry(e) => RecordRow::PointsEntry {
                external_id: &e.id,
                kind: e.kind.as_str(),
                points: e.points,
                purchase_external_id: e.purchase_id.as_deref(),
                balance_entry_external_id: e.balance_entry_id.as_deref(),
                occurred_at: ts(e.occurred_at),
                updated_at: ts(e.updated_at),
            },
            RecordRef::Delivery(d) => RecordRow::Delivery {
                external_id: &d.id,
                purchase_external_id: d.purchase_id.as_deref(),
                carrier: &d.carrier,
                tracking_number: d.tracking_number.as_deref(),
                status: d.status.as_str(),
                eta_from: d.eta_from.map(format_date),
                eta_to: d.eta_to.map(format_date),
                updated_at: ts(d.updated_at),
            },
        }
    }
}

/// A purchase's `updated_at` as written: its row's column, and the
/// `version` its children join on. One function, so the two cannot differ.
pub(crate) fn purchase_version(p: &bnpl_core::Purchase) -> String {
    ts(crate::time::stored(p.updated_at))
}

/// One `purchase_items` row.
#[derive(Debug, Serialize)]
pub(crate) struct ItemRow<'a> {
    pub purchase: &'a str,
    pub version: &'a str,
    pub seq: u32,
    pub name: &'a str,
    pub quantity: u32,
    pub unit_price_minor: i64,
    pub currency: &'a str,
}

impl<'a> ItemRow<'a> {
    pub(crate) fn new(
        purchase: &'a str,
        version: &'a str,
        seq: u32,
        item: &'a PurchaseItem,
        currency: &'a str,
    ) -> ItemRow<'a> {
        ItemRow {
            purchase,
            version,
            seq,
            name: &item.name,
            quantity: item.quantity,
            unit_price_minor: item.unit_price_minor,
            currency,
        }
    }
}

/// One `installments` row to insert or overwrite on `(purchase, seq)`.
#[derive(Debug, Serialize)]
pub(crate) struct InstallmentRow<'a> {
    pub purchase: &'a str,
    pub version: &'a str,
    pub seq: u32,
    pub due_date: String,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub reported_state: &'a str,
    pub paid_at: Option<String>,
    pub late_fee_minor: i64,
    /// The state the mirror shows on the day of the write: a new row needs
    /// no later pass of `refresh_states` to get it.
    pub state: &'static str,
}

impl<'a> InstallmentRow<'a> {
    pub(crate) fn new(
        purchase: &'a str,
        version: &'a str,
        currency: &'a str,
        i: &'a Installment,
        today: NaiveDate,
    ) -> InstallmentRow<'a> {
        InstallmentRow {
            purchase,
            version,
            seq: i.seq,
            due_date: format_date(i.due),
            amount_minor: i.amount_minor,
            currency,
            reported_state: i.reported_state.as_str(),
            paid_at: i.paid_at.map(ts),
            late_fee_minor: i.late_fee_minor,
            state: derive_state(i.reported_state, i.due, today).as_str(),
        }
    }
}

/// One `installment_history` row.
#[derive(Debug, Serialize)]
pub(crate) struct HistoryRow {
    pub installment_id: i64,
    pub from_state: &'static str,
    pub to_state: &'static str,
    pub from_due_date: String,
    pub to_due_date: String,
    pub from_amount_minor: i64,
    pub to_amount_minor: i64,
    pub changed_at: String,
    pub synced_at: String,
    pub cause: &'static str,
}

impl HistoryRow {
    pub(crate) fn new(
        from: &StoredInstallment,
        to: &Installment,
        changed_at: DateTime<Utc>,
        synced_at: DateTime<Utc>,
        cause: &'static str,
    ) -> HistoryRow {
        HistoryRow {
            installment_id: from.id,
            from_state: from.reported_state.as_str(),
            to_state: to.reported_state.as_str(),
            from_due_date: format_date(from.due),
            to_due_date: format_date(to.due),
            from_amount_minor: from.amount_minor,
            to_amount_minor: to.amount_minor,
            changed_at: ts(changed_at),
            synced_at: ts(synced_at),
            cause,
        }
    }
}

/// One `events` row (the account is bound apart). The payload is JSON text
/// written once, never parsed back into a tree.
#[derive(Debug, Serialize)]
pub(crate) struct EventRow<'a> {
    pub kind: String,
    pub object_id: &'a str,
    pub occurred_at: String,
    pub recorded_at: String,
    pub payload: Box<RawValue>,
}

impl<'a> EventRow<'a> {
    pub(crate) fn new<P: Serialize + ?Sized>(
        kind: String,
        object_id: &'a str,
        occurred_at: DateTime<Utc>,
        recorded_at: DateTime<Utc>,
        payload: &P,
    ) -> Result<EventRow<'a>, StoreError> {
        Ok(EventRow {
            kind,
            object_id,
            occurred_at: ts(occurred_at),
            recorded_at: ts(recorded_at),
            payload: serde_json::value::to_raw_value(payload)
                .map_err(|e| StoreError::Invalid(format!("event payload: {e}")))?,
        })
    }
}

/// A column of a batch: its name, which is also its JSON key, and the
/// PostgreSQL type `json_to_recordset` reads it as (SQLite needs none).
pub(crate) type Column = (&'static str, &'static str);

/// The columns of each delta table's rows, as [`RecordRow`] names them.
pub(crate) fn record_columns(table: super::Table) -> &'static [Column] {
    use super::Table;
    match table {
        Table::Purchases => &[
            ("external_id", "text"),
            ("merchant", "text"),
            ("merchant_category", "text"),
            ("currency", "text"),
            ("amount_minor", "bigint"),
            ("captured_minor", "bigint"),
            ("refunded_minor", "bigint"),
            ("status", "text"),
            ("plan", "text"),
            ("apr_bps", "bigint"),
            ("interest_minor", "bigint"),
            ("return_external_id", "text"),
            ("return_reported_at", "timestamptz"),
            ("return_state", "text"),
            ("return_amount_minor", "bigint"),
            ("dispute_state", "text"),
            ("dispute_opened_at", "timestamptz"),
            ("created_at", "timestamptz"),
            ("updated_at", "timestamptz"),
        ],
        Table::CardTransactions => &[
            ("external_id", "text"),
            ("auth_external_id", "text"),
            ("kind", "text"),
            ("status", "text"),
            ("currency", "text"),
            ("amount_minor", "bigint"),
            ("merchant", "text"),
            ("mcc", "text"),
            ("occurred_at", "timestamptz"),
            ("updated_at", "timestamptz"),
        ],
        Table::BalanceEntries => &[
            ("external_id", "text"),
            ("ledger", "text"),
            ("kind", "text"),
            ("booking", "text"),
            ("currency", "text"),
            ("amount_minor", "bigint"),
            ("description", "text"),
            ("purchase_external_id", "text"),
            ("points_entry_external_id", "text"),
            ("occurred_at", "timestamptz"),
            ("updated_at", "timestamptz"),
        ],
        Table::PointsEntries => &[
            ("external_id", "text"),
            ("kind", "text"),
            ("points", "bigint"),
            ("purchase_external_id", "text"),
            ("balance_entry_external_id", "text"),
            ("occurred_at", "timestamptz"),
            ("updated_at", "timestamptz"),
        ],
        Table::Deliveries => &[
            ("external_id", "text"),
            ("purchase_external_id", "text"),
            ("carrier", "text"),
            ("tracking_number", "text"),
            ("status", "text"),
            ("eta_from", "date"),
            ("eta_to", "date"),
            ("updated_at", "timestamptz"),
        ],
    }
}

/// [`ItemRow`]'s columns after its purchase's `(purchase, version)`.
pub(crate) const ITEM_COLUMNS: &[Column] = &[
    ("seq", "bigint"),
    ("name", "text"),
    ("quantity", "bigint"),
    ("unit_price_minor", "bigint"),
    ("currency", "text"),
];

/// [`InstallmentRow`]'s columns after its purchase's `(purchase, version)`.
pub(crate) const INSTALLMENT_COLUMNS: &[Column] = &[
    ("seq", "bigint"),
    ("due_date", "date"),
    ("amount_minor", "bigint"),
    ("currency", "text"),
    ("reported_state", "text"),
    ("paid_at", "timestamptz"),
    ("late_fee_minor", "bigint"),
];

/// [`InstallmentRow`]'s state on insert; an update keeps the stored one
/// unless the provider reports something other than `scheduled`.
pub(crate) const INSTALLMENT_STATE: &[Column] = &[("state", "text")];

/// The purchase a child row belongs to, as [`ItemRow`] and [`InstallmentRow`] name it.
pub(crate) const PARENT_COLUMNS: &[Column] = &[("purchase", "text"), ("version", "timestamptz")];

pub(crate) const HISTORY_COLUMNS: &[Column] = &[
    ("installment_id", "bigint"),
    ("from_state", "text"),
    ("to_state", "text"),
    ("from_due_date", "date"),
    ("to_due_date", "date"),
    ("from_amount_minor", "bigint"),
    ("to_amount_minor", "bigint"),
    ("changed_at", "timestamptz"),
    ("synced_at", "timestamptz"),
    ("cause", "text"),
];

pub(crate) const EVENT_COLUMNS: &[Column] = &[
    ("kind", "text"),
    ("object_id", "text"),
    ("occurred_at", "timestamptz"),
    ("recorded_at", "timestamptz"),
    ("payload", "jsonb"),
];

/// `a, b, c`: the names of `columns`, each through `f`.
pub(crate) fn list(columns: &[Column], f: impl Fn(&str) -> String) -> String {
    columns
        .iter()
        .map(|(name, _)| f(name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::Table;

    /// The statements are built from the column lists, the JSON from the row
    /// types: a key one side misses would silently store NULL.
    #[test]
    fn every_record_column_is_a_json_key_and_back() {
        use crate::apply::checks::{balance_entry, card, delivery, points_entry, purchase};
        let at = "2026-01-01T00:00:00Z";
        let (p, c, b, r, d) = (
            purchase(at, "m"),
            card(at, "m"),
            balance_entry(at, "m"),
            points_entry(at, "m"),
            delivery(at, "m"),
        );
        for (row, table) in [
            (RecordRef::Purchase(&p), Table::Purchases),
            (RecordRef::CardTransaction(&c), Table::CardTransactions),
            (RecordRef::BalanceEntry(&b), Table::BalanceEntries),
            (RecordRef::PointsEntry(&r), Table::PointsEntries),
            (RecordRef::Delivery(&d), Table::Deliveries),
        ] {
            assert_eq!(
                sorted_keys(&RecordRow::of(row)),
                sorted_names(&[record_columns(table)]),
                "{table:?}"
            );
        }
    }

    fn sorted_keys<T: Serialize>(row: &T) -> Vec<String> {
        let mut keys: Vec<String> = serde_json::to_value(row)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    fn sorted_names(columns: &[&[Column]]) -> Vec<String> {
        let mut names: Vec<String> = columns
            .iter()
            .flat_map(|c| c.iter())
            .map(|(n, _)| n.to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_child_column_is_a_json_key_and_back() {
        use bnpl_core::*;
        let at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let item = PurchaseItem {
            name: "n".into(),
            quantity: 1,
            unit_price_minor: 1,
        };
        let installment = Installment {
            seq: 1,
            due: at.date_naive(),
            amount_minor: 1,
            reported_state: ReportedInstallmentState::Scheduled,
            paid_at: None,
            late_fee_minor: 0,
        };
        let stored = StoredInstallment::from_new(7, &installment, "USD");
        assert_eq!(
            sorted_keys(&ItemRow::new("p", "v", 1, &item, "USD")),
            sorted_names(&[PARENT_COLUMNS, ITEM_COLUMNS])
        );
        assert_eq!(
            sorted_keys(&InstallmentRow::new(
                "p",
                "v",
                "USD",
                &installment,
                at.date_naive()
            )),
            sorted_names(&[PARENT_COLUMNS, INSTALLMENT_COLUMNS, INSTALLMENT_STATE])
        );
        assert_eq!(
            sorted_keys(&HistoryRow::new(&stored, &installment, at, at, "c")),
            sorted_names(&[HISTORY_COLUMNS])
        );
        let event = EventRow::new("k".into(), "o", at, at, &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(sorted_keys(&event), sorted_names(&[EVENT_COLUMNS]));
        // The payload goes out as the JSON it is, not as a string of JSON.
        assert!(
            serde_json::to_string(&event)
                .unwrap()
                .contains(r#""payload":{"a":1}"#)
        );
    }
}
