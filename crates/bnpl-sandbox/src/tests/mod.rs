//! Crate-level tests: data set invariants and coverage (through the wire
//! JSON, not the internals), determinism, and the HTTP contract served on
//! a loopback port.

mod data;
mod http;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::feed::Stream;
use crate::{AdvanceSummary, Sandbox, SandboxConfig};

// ---------------------------------------------------------------- helpers

fn small() -> Sandbox {
    Sandbox::new(SandboxConfig::default())
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn date(v: &Value) -> NaiveDate {
    NaiveDate::parse_from_str(s(v), "%Y-%m-%d").unwrap()
}

const STATUSES: [&str; 8] = [
    "AUTHORIZED",
    "CAPTURED",
    "PART_CAPTURED",
    "CANCELLED",
    "EXPIRED",
    "CLOSED",
    "REFUNDED",
    "PART_REFUNDED",
];
const PLANS: [&str; 6] = [
    "pay_in_4",
    "pay_in_30",
    "financing_6",
    "financing_12",
    "financing_18",
    "financing_24",
];

/// Checks every contract invariant on one account's `state()` JSON.
fn check_account(v: &Value) {
    let as_of = s(&v["balance"]["as_of"]).to_owned();
    assert_eq!(v["balance"]["currency"], "USD");

    for key in [
        "purchases",
        "card_transactions",
        "balance_entries",
        "points_entries",
        "deliveries",
    ] {
        let ids = ids(v, key);
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "{key} sorted by id and unique");
        for r in v[key].as_array().unwrap() {
            assert!(
                s(&r["updated_at"]) <= as_of.as_str(),
                "{key} row from the future: {r}"
            );
            assert!(s(&r["updated_at"]).ends_with('Z'));
        }
    }

    // Balance snapshot == sum of entries with occurred_at <= as_of.
    let entries = v["balance_entries"].as_array().unwrap();
    let sum: i64 = entries
        .iter()
        .filter(|e| s(&e["occurred_at"]) <= as_of.as_str())
        .map(|e| i(&e["amount_minor"]))
        .sum();
    assert_eq!(
        i(&v["balance"]["available_minor"]),
        sum,
        "balance invariant"
    );
    assert!(sum >= 0);

    // Rewards snapshot == sum of points entries.
    let points = v["points_entries"].as_array().unwrap();
    let psum: i64 = points.iter().map(|e| i(&e["points"])).sum();
    assert_eq!(i(&v["rewards"]["points"]), psum, "points invariant");
    assert!(psum >= 0);

    let purchase_ids: BTreeSet<&str> = v["purchases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| s(&p["id"]))
        .collect();

    // Redemptions <-> cashback credits.
    let by_id: HashMap<&str, &Value> = entries.iter().map(|e| (s(&e["id"]), e)).collect();
    let pts_by_id: HashMap<&str, &Value> = points.iter().map(|e| (s(&e["id"]), e)).collect();
    for e in points {
        let kind = s(&e["kind"]);
        let pts = i(&e["points"]);
        match kind {
            "earned" => assert!(pts > 0 && e["purchase_id"].is_string()),
            "redeemed" => {
                assert!(pts < 0);
                let be = by_id[s(&e["balance_entry_id"])];
                assert_eq!(be["kind"], "cashback_credit");
                assert_eq!(be["points_entry_id"], e["id"]);
                assert_eq!(i(&be["amount_minor"]), -pts);
            }
            "expired" | "reversed" => assert!(pts < 0),
            other => panic!("points kind {other}"),
        }
        if kind != "redeemed" {
            assert!(e["balance_entry_id"].is_null());
        }
        if let Some(p) = e["purchase_id"].as_str() {
            assert!(purchase_ids.contains(p));
        }
    }
    for e in entries {
        let a = i(&e["amount_minor"]);
        match s(&e["kind"]) {
            "top_up" | "interest" => assert!(a > 0),
            "refund" => assert!(a > 0 && e["purchase_id"].is_string()),
            "cashback_credit" => {
                let pe = pts_by_id[s(&e["points_entry_id"])];
                assert_eq!(pe["kind"], "redeemed");
                assert_eq!(pe["balance_entry_id"], e["id"]);
            }
            "installment_payment" => assert!(a < 0 && e["purchase_id"].is_string()),
            "withdrawal" => assert!(a < 0),
            other => panic!("balance kind {other}"),
        }
        if s(&e["kind"]) != "cashback_credit" {
            assert!(e["points_entry_id"].is_null());
        }
        if let Some(p) = e["purchase_id"].as_str() {
            assert!(purchase_ids.contains(p));
        }
    }

    // Card: settlements/reversals/refunds carry an existing auth_id.
    let cards = v["card_transactions"].as_array().unwrap();
    let auths: BTreeSet<&str> = cards
        .iter()
        .filter(|c| c["kind"] == "authorization")
        .map(|c| s(&c["auth_id"]))
        .collect();
    for c in cards {
        assert!(i(&c["amount_minor"]) > 0);
        assert_eq!(s(&c["mcc"]).len(), 4);
        assert!(auths.contains(s(&c["auth_id"])), "orphan card row {c}");
        let status = s(&c["status"]);
        match s(&c["kind"]) {
            "authorization" => assert!(["pending", "posted", "reversed"].contains(&status)),
            _ => assert_eq!(status, "posted"),
        }
    }

    for d in v["deliveries"].as_array().unwrap() {
        assert!(purchase_ids.contains(s(&d["purchase_id"])));
        assert!(date(&d["eta_from"]) <= date(&d["eta_to"]));
    }

    for p in v["purchases"].as_array().unwrap() {
        check_purchase(p);
    }

    let prof = &v["profile"];
    assert!(prof["refunds_to_balance"].is_boolean());
    assert_eq!(prof["country"], "US");
    assert!(["none", "plus", "max"].contains(&s(&prof["membership_tier"])));
}

fn check_purchase(p: &Value) {
    let status = s(&p["status"]);
    let plan = s(&p["plan"]);
    assert!(STATUSES.contains(&status), "{status}");
    assert!(PLANS.contains(&plan), "{plan}");
    let amount = i(&p["amount_minor"]);
    let captured = i(&p["captured_amount_minor"]);
    let refunded = i(&p["refunded_amount_minor"]);
    let interest = i(&p["interest_minor"]);
    let apr = i(&p["apr_bps"]);
    let items: i64 = p["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| i(&it["quantity"]) * i(&it["unit_price_minor"]))
        .sum();
    assert_eq!(items, amount, "items sum to amount");
    if plan.starts_with("financing") {
        assert!(apr > 0);
    } else {
        assert_eq!(apr, 0);
        assert_eq!(interest, 0);
    }
    let insts = p["installments"].as_array().unwrap();
    if ["AUTHORIZED", "CANCELLED", "EXPIRED"].contains(&status) {
        assert_eq!(captured, 0);
        assert!(insts.is_empty());
        assert!(p["return"].is_null() && p["dispute"].is_null());
        return;
    }
    assert!(captured > 0 && captured <= amount);
    if status == "PART_CAPTURED" {
        assert!(captured < amount);
    }
    if plan.starts_with("financing") {
        assert!(interest > 0);
    }
    // Sum rule and remainder on the first installment.
    let amounts: Vec<i64> = insts.iter().map(|x| i(&x["amount_minor"])).collect();
    assert_eq!(
        amounts.iter().sum::<i64>(),
        captured + interest,
        "sum rule {p}"
    );
    let n = amounts.len() as i64;
    assert!(amounts[1..].iter().all(|&a| a == amounts[n as usize - 1]));
    assert!(amounts[0] >= amounts[n as usize - 1] && amounts[0] - amounts[n as usize - 1] < n);
    let expected_n = match plan {
        "pay_in_4" => 4,
        "pay_in_30" => 1,
        f => f.trim_start_matches("financing_").parse().unwrap(),
    };
    assert_eq!(n, expected_n);
    for (k, x) in insts.iter().enumerate() {
        assert_eq!(i(&x["seq"]), k as i64 + 1);
        match s(&x["state"]) {
            "paid" => assert!(x["paid_at"].is_string()),
            "late" => assert!(i(&x["late_fee_minor"]) > 0 && x.get("paid_at").is_none()),
            "scheduled" | "paused" | "cancelled" => assert!(x.get("paid_at").is_none()),
            other => panic!("installment state {other}"),
        }
    }
    // Due dates follow the plan unless a resume shifted them.
    let ret_state = p["return"]["state"].as_str();
    let dues: Vec<NaiveDate> = insts.iter().map(|x| date(&x["due"])).collect();
    if p["return"].is_null() {
        match plan {
            "pay_in_4" => {
                assert_eq!(insts[0]["state"], "paid");
                assert_eq!(&s(&insts[0]["paid_at"])[..10], s(&insts[0]["due"]));
                for k in 1..4 {
                    assert_eq!((dues[k] - dues[0]).num_days(), 14 * k as i64);
                }
            }
            "pay_in_30" => {}
            _ => {
                for w in dues.windows(2) {
                    use chrono::Datelike;
                    let m0 = w[0].year() * 12 + w[0].month() as i32;
                    let m1 = w[1].year() * 12 + w[1].month() as i32;
                    assert_eq!(m1 - m0, 1, "monthly {p}");
                }
            }
        }
    }
    // A reported/registered return pauses; nothing stays scheduled.
    if matches!(ret_state, Some("reported" | "registered")) {
        assert!(
            insts.iter().all(|x| x["state"] != "scheduled"),
            "paused {p}"
        );
    } else {
        assert!(
            insts.iter().all(|x| x["state"] != "paused"),
            "no pause without return {p}"
        );
    }
    match ret_state {
        Some("refunded") => {
            assert_eq!(refunded, i(&p["return"]["amount_minor"]));
            assert!(refunded > 0);
        }
        _ => assert_eq!(refunded, 0),
    }
    match status {
        "REFUNDED" => assert_eq!(refunded, captured),
        "PART_REFUNDED" => assert!(refunded > 0 && refunded < captured),
        "CLOSED" => assert!(
            insts
                .iter()
                .all(|x| x["state"] == "paid" || x["state"] == "cancelled")
        ),
        _ => assert_eq!(refunded, 0),
    }
    if !insts.iter().any(|x| x["state"] == "cancelled") {
        assert!(status != "REFUNDED" || ret_state == Some("refunded"));
    }
    if let Some(d) = p["dispute"].as_object() {
        assert!(["DISPUTE_OPENED", "DISPUTE_WON", "DISPUTE_LOST"].contains(&s(&d["state"])));
        assert!(d["opened_at"].is_string());
    }
}

fn check_all(sb: &Sandbox) {
    for c in sb.credentials() {
        check_account(&sb.state(&c.account_id).unwrap());
    }
}

fn all_states(sb: &Sandbox) -> Vec<Value> {
    sb.credentials()
        .iter()
        .map(|c| sb.state(&c.account_id).unwrap())
        .collect()
}
