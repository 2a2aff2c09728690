//! The contract's JSON shapes (section 2), built from the internal rows.
//! The routes and `Sandbox::state` both serialise through here, so they
//! always agree.

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::account::Account;
use crate::catalog::{CARRIERS, merchant, tracking_number};
use crate::ids;
use crate::model::{BalanceEntry, CardTx, Delivery, Installment, PointsEntry, Purchase};
use crate::time::{Ts, fmt_date, fmt_ts};

pub(crate) const CURRENCY: &str = "USD";

#[derive(Serialize)]
pub(crate) struct ItemW {
    name: &'static str,
    quantity: u32,
    unit_price_minor: i64,
}

#[derive(Serialize)]
pub(crate) struct InstallmentW {
    seq: u8,
    due: String,
    amount_minor: i64,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    paid_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    late_fee_minor: Option<i64>,
}

#[derive(Serialize)]
pub(crate) struct ReturnW {
    id: String,
    reported_at: String,
    state: &'static str,
    amount_minor: i64,
}

#[derive(Serialize)]
pub(crate) struct DisputeW {
    state: &'static str,
    opened_at: String,
}

#[derive(Serialize)]
pub(crate) struct PurchaseW {
    id: String,
    merchant: &'static str,
    merchant_category: &'static str,
    amount_minor: i64,
    currency: &'static str,
    created_at: String,
    status: &'static str,
    captured_amount_minor: i64,
    refunded_amount_minor: i64,
    plan: &'static str,
    apr_bps: u32,
    interest_minor: i64,
    items: Vec<ItemW>,
    installments: Vec<InstallmentW>,
    #[serde(rename = "return")]
    ret: Option<ReturnW>,
    dispute: Option<DisputeW>,
    updated_at: String,
}

fn installment(i: &Installment) -> InstallmentW {
    InstallmentW {
        seq: i.seq,
        due: fmt_date(i.due),
        amount_minor: i.amount,
        state: i.state.as_str(),
        paid_at: i.paid_at.map(fmt_ts),
        late_fee_minor: i.late_fee,
    }
}

pub(crate) fn purchase(p: &Purchase) -> PurchaseW {
    let m = merchant(p.merchant);
    PurchaseW {
        id: ids::purchase_id(p.id),
        merchant: m.name,
        merchant_category: m.category,
        amount_minor: p.amount,
        currency: CURRENCY,
        created_at: fmt_ts(p.created_at),
        status: p.status.as_str(),
        captured_amount_minor: p.captured,
        refunded_amount_minor: p.refunded,
        plan: p.plan.as_str(),
        apr_bps: p.apr_bps,
        interest_minor: p.interest,
        items: p
            .items
            .iter()
            .map(|i| ItemW {
                name: i.name,
                quantity: i.quantity,
                unit_price_minor: i.unit_price,
            })
            .collect(),
        installments: p.installments.iter().map(installment).collect(),
        ret: p.ret.map(|r| ReturnW {
            id: ids::ret_id(r.id),
            reported_at: fmt_ts(r.reported_at),
            state: r.state.as_str(),
            amount_minor: r.amount,
        }),
        dispute: p.dispute.map(|d| DisputeW {
            state: d.state.as_str(),
            opened_at: fmt_ts(d.opened_at),
        }),
        updated_at: fmt_ts(p.updated_at),
    }
}

#[derive(Serialize)]
pub(crate) struct CardTxW {
    id: String,
    auth_id: String,
    kind: &'static str,
    status: &'static str,
    amount_minor: i64,
    currency: &'static str,
    merchant: &'static str,
    mcc: &'static str,
    occurred_at: String,
    updated_at: String,
}

pub(crate) fn card(c: &CardTx) -> CardTxW {
    let m = merchant(c.merchant);
    CardTxW {
        id: ids::card_id(c.id),
        auth_id: ids::auth_id(c.auth_id),
        kind: c.kind.as_str(),
        status: c.status.as_str(),
        amount_minor: c.amount,
        currency: CURRENCY,
        merchant: m.name,
        mcc: m.mcc,
        occurred_at: fmt_ts(c.occurred_at),
        updated_at: fmt_ts(c.updated_at),
    }
}

#[derive(Serialize)]
pub(crate) struct BalanceEntryW {
    id: String,
    kind: &'static str,
    amount_minor: i64,
    currency: &'static str,
    purchase_id: Option<String>,
    points_entry_id: Option<String>,
    occurred_at: String,
    updated_at: String,
}

pub(crate) fn balance_entry(e: &BalanceEntry) -> BalanceEntryW {
    BalanceEntryW {
        id: ids::balance_id(e.id),
        kind: e.kind.as_str(),
        amount_minor: e.amount,
        currency: CURRENCY,
        purchase_id: e.purchase_id.map(ids::purchase_id),
        points_entry_id: e.points_entry_id.map(ids::points_id),
        occurred_at: fmt_ts(e.occurred_at),
        updated_at: fmt_ts(e.updated_at),
    }
}

#[derive(Serialize)]
pub(crate) struct PointsEntryW {
    id: String,
    kind: &'static str,
    points: i64,
    purchase_id: Option<String>,
    balance_entry_id: Option<String>,
    occurred_at: String,
    updated_at: String,
}

pub(crate) fn points_entry(e: &PointsEntry) -> PointsEntryW {
    PointsEntryW {
        id: ids::points_id(e.id),
        kind: e.kind.as_str(),
        points: e.points,
        purchase_id: e.purchase_id.map(ids::purchase_id),
        balance_entry_id: e.balance_entry_id.map(ids::balance_id),
        occurred_at: fmt_ts(e.occurred_at),
        updated_at: fmt_ts(e.updated_at),
    }
}

#[derive(Serialize)]
pub(crate) struct DeliveryW {
    id: String,
    purchase_id: String,
    carrier: &'static str,
    tracking_number: String,
    status: &'static str,
    eta_from: String,
    eta_to: String,
    updated_at: String,
}

pub(crate) fn delivery(d: &Delivery) -> DeliveryW {
    DeliveryW {
        id: ids::delivery_id(d.id),
        purchase_id: ids::purchase_id(d.purchase_id),
        carrier: CARRIERS[usize::from(d.carrier) % CARRIERS.len()],
        tracking_number: tracking_number(d.carrier, d.id),
        status: d.status.as_str(),
        eta_from: fmt_date(d.eta_from),
        eta_to: fmt_date(d.eta_to),
        updated_at: fmt_ts(d.updated_at),
    }
}

#[derive(Serialize)]
pub(crate) struct BalanceW {
    available_minor: i64,
    currency: &'static str,
    as_of: String,
}

pub(crate) fn balance(a: &Account, now: Ts) -> BalanceW {
    BalanceW {
        available_minor: a.balance,
        currency: CURRENCY,
        as_of: fmt_ts(now),
    }
}

#[derive(Serialize)]
pub(crate) struct RewardsW {
    points: i64,
    as_of: String,
}

pub(crate) fn rewards(a: &Account, now: Ts) -> RewardsW {
    RewardsW {
        points: a.points,
        as_of: fmt_ts(now),
    }
}

#[derive(Serialize)]
pub(crate) struct ProfileW<'a> {
    account_id: &'a str,
    name: &'a str,
    email: &'a str,
    phone: &'a str,
    country: &'static str,
    membership_tier: &'static str,
    purchase_power_minor: i64,
    currency: &'static str,
    refunds_to_balance: bool,
    updated_at: String,
}

pub(crate) fn profile(a: &Account) -> ProfileW<'_> {
    let p = &a.profile;
    ProfileW {
        account_id: &a.id,
        name: &p.name,
        email: &p.email,
        phone: &p.phone,
        country: "US",
        membership_tier: p.tier.as_str(),
        purchase_power_minor: p.purchase_power,
        currency: CURRENCY,
        refunds_to_balance: p.refunds_to_balance,
        updated_at: fmt_ts(p.updated_at),
    }
}

/// `{ "<key>": [rows], "next_cursor": "..." }`.
pub(crate) struct Page<'a, T> {
    pub key: &'static str,
    pub rows: Vec<T>,
    pub next_cursor: &'a str,
}

impl<T: Serialize> Serialize for Page<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(self.key, &self.rows)?;
        m.serialize_entry("next_cursor", self.next_cursor)?;
        m.end()
    }
}
