//! The mirror the sandbox's truth implies, computed from its JSON with a
//! mapping written here independently of the connector's wire module: a
//! misreading of the contract in either one makes the comparison fail.

use bnpl_core::*;
use bnpl_store::AccountMirror;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_string()
}

fn opt_s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(|x| x.as_str()).map(str::to_string)
}

fn i(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}"))
}

fn t(v: &Value, k: &str) -> DateTime<Utc> {
    s(v, k).parse().unwrap_or_else(|e| panic!("{k}: {e}"))
}

fn opt_t(v: &Value, k: &str) -> Option<DateTime<Utc>> {
    opt_s(v, k).map(|x| x.parse().unwrap())
}

fn d(v: &Value, k: &str) -> Option<NaiveDate> {
    opt_s(v, k).map(|x| x.parse().unwrap())
}

fn money(v: &Value, minor_key: &str, currency: Currency) -> Money {
    Money::new(i(v, minor_key), currency)
}

fn cur(v: &Value) -> Currency {
    Currency::parse(&s(v, "currency")).unwrap()
}

fn snake<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.to_ascii_lowercase().parse().unwrap()
}

fn purchase(p: &Value) -> Purchase {
    let currency = cur(p);
    Purchase {
        id: s(p, "id"),
        merchant: s(p, "merchant"),
        merchant_category: opt_s(p, "merchant_category"),
        amount: money(p, "amount_minor", currency),
        created_at: t(p, "created_at"),
        status: snake(&s(p, "status")),
        captured_minor: i(p, "captured_amount_minor"),
        refunded_minor: i(p, "refunded_amount_minor"),
        plan: InstallmentPlan {
            kind: PlanKind::parse(&s(p, "plan")).unwrap(),
            apr_bps: i(p, "apr_bps") as u32,
            interest_minor: i(p, "interest_minor"),
            installments: p["installments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| Installment {
                    seq: i(x, "seq") as u32,
                    due: d(x, "due").unwrap(),
                    amount_minor: i(x, "amount_minor"),
                    reported_state: snake(&s(x, "state")),
                    paid_at: opt_t(x, "paid_at"),
                    late_fee_minor: x.get("late_fee_minor").and_then(Value::as_i64).unwrap_or(0),
                })
                .collect(),
        },
        items: p["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|x| PurchaseItem {
                        name: s(x, "name"),
                        quantity: i(x, "quantity") as u32,
                        unit_price_minor: i(x, "unit_price_minor"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        return_: p
            .get("return")
            .filter(|r| !r.is_null())
            .map(|r| PurchaseReturn {
                id: s(r, "id"),
                reported_at: t(r, "reported_at"),
                state: snake(&s(r, "state")),
                amount_minor: i(r, "amount_minor"),
            }),
        dispute: p.get("dispute").filter(|x| !x.is_null()).map(|x| Dispute {
            state: snake(s(x, "state").trim_start_matches("DISPUTE_")),
            opened_at: t(x, "opened_at"),
        }),
        updated_at: t(p, "updated_at"),
    }
}

fn card(c: &Value) -> CardTransaction {
    CardTransaction {
        id: s(c, "id"),
        auth_id: opt_s(c, "auth_id"),
        kind: snake(&s(c, "kind")),
        status: snake(&s(c, "status")),
        amount: money(c, "amount_minor", cur(c)),
        merchant: s(c, "merchant"),
        mcc: opt_s(c, "mcc"),
        occurred_at: t(c, "occurred_at"),
        updated_at: t(c, "updated_at"),
    }
}

fn balance_entry(e: &Value) -> BalanceEntry {
    BalanceEntry {
        id: s(e, "id"),
        ledger: MAIN_LEDGER.to_string(),
        kind: snake(&s(e, "kind")),
        booking: BookingStatus::Booked,
        amount: money(e, "amount_minor", cur(e)),
        description: None,
        purchase_id: opt_s(e, "purchase_id"),
        points_entry_id: opt_s(e, "points_entry_id"),
        occurred_at: t(e, "occurred_at"),
        updated_at: t(e, "updated_at"),
    }
}

fn points_entry(e: &Value) -> PointsEntry {
    PointsEntry {
        id: s(e, "id"),
        kind: snake(&s(e, "kind")),
        points: i(e, "points"),
        purchase_id: opt_s(e, "purchase_id"),
        balance_entry_id: opt_s(e, "balance_entry_id"),
        occurred_at: t(e, "occurred_at"),
        updated_at: t(e, "updated_at"),
    }
}

fn delivery(x: &Value) -> Delivery {
    Delivery {
        id: s(x, "id"),
        purchase_id: opt_s(x, "purchase_id"),
        carrier: s(x, "carrier"),
        tracking_number: opt_s(x, "tracking_number"),
        status: snake(&s(x, "status")),
        eta_from: d(x, "eta_from"),
        eta_to: d(x, "eta_to"),
        updated_at: t(x, "updated_at"),
    }
}

fn sorted<T>(mut v: Vec<T>, id: impl Fn(&T) -> String) -> Vec<T> {
    v.sort_by_key(|x| id(x));
    v
}

fn list<T>(state: &Value, key: &str, f: impl Fn(&Value) -> T) -> Vec<T> {
    state[key]
        .as_array()
        .unwrap_or_else(|| panic!("sandbox state has no {key}"))
        .iter()
        .map(f)
        .collect()
}

/// The mirror of one account that `Sandbox::state` implies.
pub fn mirror_from_sandbox(state: &Value) -> AccountMirror {
    let balance = &state["balance"];
    let rewards = &state["rewards"];
    let profile = &state["profile"];
    AccountMirror {
        purchases: sorted(list(state, "purchases", purchase), |p| p.id.clone()),
        card_transactions: sorted(list(state, "card_transactions", card), |c| c.id.clone()),
        balance_entries: sorted(list(state, "balance_entries", balance_entry), |e| {
            e.id.clone()
        }),
        points_entries: sorted(list(state, "points_entries", points_entry), |e| {
            e.id.clone()
        }),
        deliveries: sorted(list(state, "deliveries", delivery), |x| x.id.clone()),
        balances: vec![BalanceSnapshot {
            ledger: MAIN_LEDGER.to_string(),
            balance_type: "available".to_string(),
            amount: money(balance, "available_minor", cur(balance)),
            as_of: t(balance, "as_of"),
        }],
        points: Some(PointsSnapshot {
            points: i(rewards, "points"),
            as_of: t(rewards, "as_of"),
        }),
        profile: Some(Profile {
            name: opt_s(profile, "name"),
            email: opt_s(profile, "email"),
            phone: opt_s(profile, "phone"),
            country: opt_s(profile, "country"),
            membership_tier: opt_s(profile, "membership_tier").map(|m| snake(&m)),
            purchase_power: profile
                .get("purchase_power_minor")
                .and_then(Value::as_i64)
                .map(|m| Money::new(m, cur(profile))),
            refunds_to_balance: profile.get("refunds_to_balance").and_then(Value::as_bool),
            updated_at: t(profile, "updated_at"),
        }),
    }
}
