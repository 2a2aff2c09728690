use super::*;
use bnpl_core::ErrorKind;
use serde_json::json;

/// The contract's example Purchase, verbatim.
const PURCHASE: &str = include_str!("../../tests/fixtures/purchase.json");
const CARD_PAGE: &str = include_str!("../../tests/fixtures/card_transactions_page.json");
const BALANCE_ENTRIES_PAGE: &str = include_str!("../../tests/fixtures/balance_entries_page.json");
const POINTS_ENTRIES_PAGE: &str = include_str!("../../tests/fixtures/points_entries_page.json");
const DELIVERIES_PAGE: &str = include_str!("../../tests/fixtures/deliveries_page.json");
const BALANCE: &str = include_str!("../../tests/fixtures/balance.json");
const REWARDS: &str = include_str!("../../tests/fixtures/rewards.json");
const PROFILE: &str = include_str!("../../tests/fixtures/profile.json");

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn ts(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn purchases_page(rows: &str) -> String {
    format!(r#"{{ "purchases": [{rows}], "next_cursor": "c_next" }}"#)
}

fn purchase_value() -> Value {
    serde_json::from_str(PURCHASE).unwrap()
}

fn page_of(stream: Stream, rows: Vec<Value>) -> Vec<u8> {
    let key = collection(stream).unwrap().key;
    serde_json::to_vec(&json!({ key: rows, "next_cursor": "c_next" })).unwrap()
}

/// The malformed error of a page, as (object id, message).
fn malformed_of(stream: Stream, body: &[u8]) -> (Option<String>, String) {
    match parse_page(stream, body, Some("corr-1")).unwrap_err() {
        ConnectorError::Malformed {
            stream: s,
            object_id,
            message,
            correlation_id,
        } => {
            assert_eq!(s, stream);
            assert_eq!(correlation_id.as_deref(), Some("corr-1"));
            (object_id, message)
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn the_contract_purchase_maps_verbatim() {
    let page = parse_page(Stream::Purchases, purchases_page(PURCHASE).as_bytes(), None).unwrap();
    assert_eq!(page.next_cursor, "c_next");
    let Records::Purchases(rows) = page.records else {
        panic!("wrong records")
    };
    let installment = |seq, due: &str, amount, state, paid_at: Option<&str>| Installment {
        seq,
        due: date(due),
        amount_minor: amount,
        reported_state: state,
        paid_at: paid_at.map(ts),
        late_fee_minor: 0,
    };
    use ReportedInstallmentState::{Paid, Scheduled};
    let want = Purchase {
        id: "p_8fa3c1".into(),
        merchant: "Northwind Outdoor".into(),
        merchant_category: Some("sporting_goods".into()),
        amount: Money::new(4999, usd()),
        created_at: ts("2026-06-06T09:12:00Z"),
        status: OrderStatus::Captured,
        captured_minor: 4999,
        refunded_minor: 0,
        plan: InstallmentPlan {
            kind: PlanKind::PayIn4,
            apr_bps: 0,
            interest_minor: 0,
            installments: vec![
                installment(1, "2026-06-06", 1252, Paid, Some("2026-06-06T09:12:05Z")),
                installment(2, "2026-06-20", 1249, Scheduled, None),
                installment(3, "2026-07-04", 1249, Scheduled, None),
                installment(4, "2026-07-18", 1249, Scheduled, None),
            ],
        },
        items: vec![PurchaseItem {
            name: "Trail jacket".into(),
            quantity: 1,
            unit_price_minor: 4999,
        }],
        return_: None,
        dispute: None,
        updated_at: ts("2026-06-08T12:04:11Z"),
    };
    assert_eq!(rows, vec![want]);
}

#[test]
fn every_order_status_plan_return_and_dispute_maps() {
    let statuses = [
        ("AUTHORIZED", OrderStatus::Authorized),
        ("CAPTURED", OrderStatus::Captured),
        ("PART_CAPTURED", OrderStatus::PartCaptured),
        ("CANCELLED", OrderStatus::Cancelled),
        ("EXPIRED", OrderStatus::Expired),
        ("CLOSED", OrderStatus::Closed),
        ("REFUNDED", OrderStatus::Refunded),
        ("PART_REFUNDED", OrderStatus::PartRefunded),
    ];
    let plans = [
        "pay_in_4",
        "pay_in_30",
        "financing_6",
        "financing_12",
        "financing_18",
        "financing_24",
    ];
    let returns = [
        ("reported", ReturnState::Reported),
        ("registered", ReturnState::Registered),
        ("rejected", ReturnState::Rejected),
        ("refunded", ReturnState::Refunded),
    ];
    let disputes = [
        ("DISPUTE_OPENED", DisputeState::Opened),
        ("DISPUTE_WON", DisputeState::Won),
        ("DISPUTE_LOST", DisputeState::Lost),
    ];
    let installment_states = [
        ("scheduled", ReportedInstallmentState::Scheduled),
        ("paid", ReportedInstallmentState::Paid),
        ("late", ReportedInstallmentState::Late),
        ("paused", ReportedInstallmentState::Paused),
        ("cancelled", ReportedInstallmentState::Cancelled),
    ];
    for (i, (wire, want)) in statuses.iter().enumerate() {
        let mut p = purchase_value();
        p["status"] = json!(wire);
        p["plan"] = json!(plans[i % plans.len()]);
        let (rwire, rstate) = returns[i % returns.len()];
        p["return"] = json!({ "id": "r_1", "reported_at": "2026-06-09T10:00:00Z", "state": rwire, "amount_minor": 4999 });
        let (dwire, dstate) = disputes[i % disputes.len()];
        p["dispute"] = json!({ "state": dwire, "opened_at": "2026-06-10T10:00:00Z" });
        let (swire, sstate) = installment_states[i % installment_states.len()];
        p["installments"][1]["state"] = json!(swire);
        p["installments"][1]["late_fee_minor"] = json!(700);
        let page = parse_page(
            Stream::Purchases,
            &page_of(Stream::Purchases, vec![p]),
            None,
        )
        .unwrap();
        let Records::Purchases(rows) = page.records else {
            panic!()
        };
        let got = &rows[0];
        assert_eq!(got.status, *want);
        assert_eq!(got.plan.kind.as_string(), plans[i % plans.len()]);
        let r = got.return_.as_ref().unwrap();
        assert_eq!(
            (r.id.as_str(), r.state, r.amount_minor),
            ("r_1", rstate, 4999)
        );
        assert_eq!(r.reported_at, ts("2026-06-09T10:00:00Z"));
        let d = got.dispute.as_ref().unwrap();
        assert_eq!((d.state, d.opened_at), (dstate, ts("2026-06-10T10:00:00Z")));
        assert_eq!(got.plan.installments[1].reported_state, sstate);
        assert_eq!(got.plan.installments[1].late_fee_minor, 700);
    }
}

#[test]
fn card_transactions_fixture_maps() {
    let page = parse_page(Stream::CardTransactions, CARD_PAGE.as_bytes(), None).unwrap();
    assert_eq!(page.next_cursor, "Y3Vyc29yOmNhcmQ6Mg==");
    let Records::CardTransactions(rows) = page.records else {
        panic!()
    };
    assert_eq!(
        rows[1],
        CardTransaction {
            id: "ct_1002".into(),
            auth_id: Some("au_77".into()),
            kind: CardTransactionKind::Settlement,
            status: CardTransactionStatus::Posted,
            amount: Money::new(2400, usd()),
            merchant: "Blue Bottle Coffee".into(),
            mcc: Some("5814".into()),
            occurred_at: ts("2026-06-08T02:00:00Z"),
            updated_at: ts("2026-06-08T02:00:01Z"),
        }
    );
    assert_eq!(rows[0].kind, CardTransactionKind::Authorization);
    assert_eq!(rows[0].status, CardTransactionStatus::Pending);
    for (kind, want) in [
        ("reversal", CardTransactionKind::Reversal),
        ("refund", CardTransactionKind::Refund),
    ] {
        let mut v: Value = serde_json::from_str(CARD_PAGE).unwrap();
        v["transactions"][0]["kind"] = json!(kind);
        v["transactions"][0]["status"] = json!("reversed");
        let page = parse_page(
            Stream::CardTransactions,
            &serde_json::to_vec(&v).unwrap(),
            None,
        )
        .unwrap();
        let Records::CardTransactions(rows) = page.records else {
            panic!()
        };
        assert_eq!(rows[0].kind, want);
        assert_eq!(rows[0].status, CardTransactionStatus::Reversed);
    }
}

#[test]
fn balance_entries_fixture_maps_to_the_main_ledger_booked() {
    let page = parse_page(
        Stream::BalanceEntries,
        BALANCE_ENTRIES_PAGE.as_bytes(),
        None,
    )
    .unwrap();
    let Records::BalanceEntries(rows) = page.records else {
        panic!()
    };
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[1],
        BalanceEntry {
            id: "be_2".into(),
            ledger: MAIN_LEDGER.into(),
            kind: BalanceEntryKind::CashbackCredit,
            booking: BookingStatus::Booked,
            amount: Money::new(500, usd()),
            description: None,
            purchase_id: None,
            points_entry_id: Some("pe_2".into()),
            occurred_at: ts("2026-06-05T10:00:00Z"),
            updated_at: ts("2026-06-05T10:00:00Z"),
        }
    );
    assert_eq!(rows[2].amount.minor, -1252, "signed: debits negative");
    assert_eq!(rows[2].purchase_id.as_deref(), Some("p_8fa3c1"));
    for (kind, want) in [
        ("top_up", BalanceEntryKind::TopUp),
        ("refund", BalanceEntryKind::Refund),
        ("cashback_credit", BalanceEntryKind::CashbackCredit),
        ("installment_payment", BalanceEntryKind::InstallmentPayment),
        ("withdrawal", BalanceEntryKind::Withdrawal),
        ("interest", BalanceEntryKind::Interest),
    ] {
        let mut v: Value = serde_json::from_str(BALANCE_ENTRIES_PAGE).unwrap();
        v["entries"][0]["kind"] = json!(kind);
        let page = parse_page(
            Stream::BalanceEntries,
            &serde_json::to_vec(&v).unwrap(),
            None,
        )
        .unwrap();
        let Records::BalanceEntries(rows) = page.records else {
            panic!()
        };
        assert_eq!(rows[0].kind, want);
    }
    // The model's open-banking kinds are not Klarna US wire values.
    let mut v: Value = serde_json::from_str(BALANCE_ENTRIES_PAGE).unwrap();
    v["entries"][0]["kind"] = json!("transfer");
    let (id, message) = malformed_of(Stream::BalanceEntries, &serde_json::to_vec(&v).unwrap());
    assert_eq!(id.as_deref(), Some("be_1"));
    assert!(
        message.starts_with("field `entries[0].kind`: unknown variant `transfer`"),
        "{message}"
    );
}

#[test]
fn points_entries_fixture_maps() {
    let page = parse_page(Stream::PointsEntries, POINTS_ENTRIES_PAGE.as_bytes(), None).unwrap();
    let Records::PointsEntries(rows) = page.records else {
        panic!()
    };
    assert_eq!(
        rows[1],
        PointsEntry {
            id: "pe_2".into(),
            kind: PointsEntryKind::Redeemed,
            points: -1000,
            purchase_id: None,
            balance_entry_id: Some("be_2".into()),
            occurred_at: ts("2026-06-05T10:00:00Z"),
            updated_at: ts("2026-06-05T10:00:00Z"),
        }
    );
    assert_eq!(rows[0].kind, PointsEntryKind::Earned);
    for (kind, want) in [
        ("expired", PointsEntryKind::Expired),
        ("reversed", PointsEntryKind::Reversed),
    ] {
        let mut v: Value = serde_json::from_str(POINTS_ENTRIES_PAGE).unwrap();
        v["entries"][0]["kind"] = json!(kind);
        let page = parse_page(
            Stream::PointsEntries,
            &serde_json::to_vec(&v).unwrap(),
            None,
        )
        .unwrap();
        let Records::PointsEntries(rows) = page.records else {
            panic!()
        };
        assert_eq!(rows[0].kind, want);
    }
}

#[test]
fn deliveries_fixture_maps() {
    let page = parse_page(Stream::Deliveries, DELIVERIES_PAGE.as_bytes(), None).unwrap();
    let Records::Deliveries(rows) = page.records else {
        panic!()
    };
    assert_eq!(
        rows,
        vec![Delivery {
            id: "d_1".into(),
            purchase_id: Some("p_8fa3c1".into()),
            carrier: "UPS".into(),
            tracking_number: Some("1Z999AA10123456784".into()),
            status: DeliveryStatus::InTransit,
            eta_from: Some(date("2026-06-10")),
            eta_to: Some(date("2026-06-12")),
            updated_at: ts("2026-06-08T12:05:00Z"),
        }]
    );
    for (status, want) in [
        ("label_created", DeliveryStatus::LabelCreated),
        ("out_for_delivery", DeliveryStatus::OutForDelivery),
        ("delivered", DeliveryStatus::Delivered),
        ("exception", DeliveryStatus::Exception),
        ("returned", DeliveryStatus::Returned),
    ] {
        let mut v: Value = serde_json::from_str(DELIVERIES_PAGE).unwrap();
        v["deliveries"][0]["status"] = json!(status);
        v["deliveries"][0]["eta_from"] = Value::Null;
        let page = parse_page(Stream::Deliveries, &serde_json::to_vec(&v).unwrap(), None).unwrap();
        let Records::Deliveries(rows) = page.records else {
            panic!()
        };
        assert_eq!(rows[0].status, want);
        assert_eq!(rows[0].eta_from, None);
    }
}

#[test]
fn snapshot_fixtures_map() {
    assert_eq!(
        parse_snapshot(Stream::Balance, BALANCE.as_bytes(), None).unwrap(),
        SnapshotData::Balance(vec![BalanceSnapshot {
            ledger: MAIN_LEDGER.into(),
            balance_type: "available".into(),
            amount: Money::new(9248, usd()),
            as_of: ts("2026-06-08T12:10:00Z"),
        }])
    );
    assert_eq!(
        parse_snapshot(Stream::Points, REWARDS.as_bytes(), None).unwrap(),
        SnapshotData::Points(PointsSnapshot {
            points: 200,
            as_of: ts("2026-06-08T12:10:00Z"),
        })
    );
    assert_eq!(
        parse_snapshot(Stream::Profile, PROFILE.as_bytes(), None).unwrap(),
        SnapshotData::Profile(Profile {
            name: Some("Ada Lovelace".into()),
            email: Some("ada@example.test".into()),
            phone: Some("+15555550100".into()),
            country: Some("US".into()),
            membership_tier: Some(MembershipTier::Plus),
            purchase_power: Some(Money::new(150_000, usd())),
            refunds_to_balance: Some(true),
            updated_at: ts("2026-06-01T00:00:00Z"),
        })
    );
    for (tier, want) in [("none", MembershipTier::None), ("max", MembershipTier::Max)] {
        let mut v: Value = serde_json::from_str(PROFILE).unwrap();
        v["membership_tier"] = json!(tier);
        let SnapshotData::Profile(p) =
            parse_snapshot(Stream::Profile, &serde_json::to_vec(&v).unwrap(), None).unwrap()
        else {
            panic!()
        };
        assert_eq!(p.membership_tier, Some(want));
    }
}

#[test]
fn snapshot_errors_name_the_field() {
    let err = parse_snapshot(
        Stream::Balance,
        br#"{"available_minor": 1, "as_of": "2026-06-08T12:10:00Z"}"#,
        Some("c-2"),
    )
    .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Malformed {
            stream: Stream::Balance,
            object_id: None,
            message: "missing field `currency`".into(),
            correlation_id: Some("c-2".into()),
        }
    );
    let err = parse_snapshot(
        Stream::Points,
        br#"{"points": 1.5, "as_of": "2026-06-08T12:10:00Z"}"#,
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("field `points`: invalid type: floating point `1.5`"),
        "{err}"
    );
    let mut v: Value = serde_json::from_str(PROFILE).unwrap();
    v["membership_tier"] = json!("gold");
    let err = parse_snapshot(Stream::Profile, &serde_json::to_vec(&v).unwrap(), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("field `membership_tier`: unknown variant `gold`"),
        "{err}"
    );
    v["membership_tier"] = json!("plus");
    v.as_object_mut().unwrap().remove("currency");
    let err = parse_snapshot(Stream::Profile, &serde_json::to_vec(&v).unwrap(), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("field `currency`: required when purchase_power_minor"),
        "{err}"
    );
    let err = parse_snapshot(Stream::Balance, b"[]", None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed);
}

#[test]
fn unknown_fields_are_ignored_at_every_level() {
    let mut p = purchase_value();
    p["loyalty_badge"] = json!({ "nested": [1, 2, 3] });
    p["installments"][0]["reminder_sent"] = json!(true);
    p["items"][0]["sku"] = json!("TJ-1");
    p["return"] = json!({ "id": "r_9", "reported_at": "2026-06-09T10:00:00Z", "state": "reported", "amount_minor": 1, "label_url": "x" });
    let body = serde_json::to_vec(&json!({
        "purchases": [p], "next_cursor": "c2", "has_more": false, "server_time": 17
    }))
    .unwrap();
    let page = parse_page(Stream::Purchases, &body, None).unwrap();
    let Records::Purchases(rows) = page.records else {
        panic!()
    };
    assert_eq!(rows[0].return_.as_ref().unwrap().id, "r_9");
    assert_eq!(page.next_cursor, "c2");
}

#[test]
fn optional_fields_may_be_absent_or_null() {
    let mut p = purchase_value();
    let o = p.as_object_mut().unwrap();
    o.remove("return");
    o.remove("dispute");
    o.remove("items");
    o.remove("merchant_category");
    let page = parse_page(
        Stream::Purchases,
        &page_of(Stream::Purchases, vec![p.clone()]),
        None,
    )
    .unwrap();
    let Records::Purchases(rows) = page.records else {
        panic!()
    };
    assert!(
        rows[0].items.is_empty()
            && rows[0].return_.is_none()
            && rows[0].merchant_category.is_none()
    );
    p["items"] = Value::Null;
    assert!(
        parse_page(
            Stream::Purchases,
            &page_of(Stream::Purchases, vec![p]),
            None
        )
        .is_ok()
    );
}

#[test]
fn a_missing_required_field_names_stream_object_and_path() {
    let mut p = purchase_value();
    p.as_object_mut().unwrap().remove("currency");
    let (id, message) = malformed_of(Stream::Purchases, &page_of(Stream::Purchases, vec![p]));
    assert_eq!(id.as_deref(), Some("p_8fa3c1"));
    assert_eq!(message, "missing field `purchases[0].currency`");

    let mut p = purchase_value();
    p["installments"][2].as_object_mut().unwrap().remove("due");
    let (_, message) = malformed_of(Stream::Purchases, &page_of(Stream::Purchases, vec![p]));
    assert_eq!(message, "missing field `purchases[0].installments[2].due`");

    let mut p = purchase_value();
    p.as_object_mut().unwrap().remove("id");
    let (id, message) = malformed_of(Stream::Purchases, &page_of(Stream::Purchases, vec![p]));
    assert_eq!(id, None);
    assert_eq!(message, "missing field `purchases[0].id`");
}

#[test]
fn an_unknown_enum_value_names_the_field() {
    let mut p = purchase_value();
    p["installments"][1]["state"] = json!("overdue");
    let (id, message) = malformed_of(Stream::Purchases, &page_of(Stream::Purchases, vec![p]));
    assert_eq!(id.as_deref(), Some("p_8fa3c1"));
    assert!(
        message.starts_with("field `purchases[0].installments[1].state`: unknown variant `overdue`, expected one of `scheduled`"),
        "{message}"
    );
    for (field, bad) in [
        ("status", "captured"),
        ("plan", "financing_7"),
        ("currency", "XYZ"),
    ] {
        let mut p = purchase_value();
        p[field] = json!(bad);
        let (_, message) = malformed_of(Stream::Purchases, &page_of(Stream::Purchases, vec![p]));
        assert!(
            message.starts_with(&format!("field `purchases[0].{field}`: ")),
            "{message}"
        );
        assert!(message.contains(bad), "{message}");
    }
    let mut p = purchase_value();
    p["dispute"] = json!({ "state": "OPENED", "opened_at": "2026-06-10T10:00:00Z" });
    let (_, message) = malformed_of(Stream::Purchases, &page_of(Stream::Purchases, vec![p]));
    assert!(
        message.starts_with("field `purchases[0].dispute.state`: unknown variant `OPENED`"),
        "{message}"
    );
}

#[test]
fn a_wrong_type_names_the_field() {
    for (field, bad, want) in [
        (
            "amount_minor",
            json!(49.99),
            "invalid type: floating point `49.99`, expected i64",
        ),
        (
            "amount_minor",
            json!("4999"),
            "invalid type: string \"4999\", expected i64",
        ),
        (
            "created_at",
            json!("yesterday"),
            "input contains invalid characters",
        ),
        (
            "apr_bps",
            json!(-1),
            "invalid value: integer `-1`, expected u32",
        ),
        (
            "installments",
            json!({}),
            "invalid type: map, expected a sequence",
        ),
    ] {
        let mut p = purchase_value();
        p[field] = bad;
        let (_, message) = malformed_of(Stream::Purchases, &page_of(Stream::Purchases, vec![p]));
        assert!(
            message.starts_with(&format!("field `purchases[0].{field}`: ")),
            "{message}"
        );
        assert!(message.contains(want), "{message}");
    }
    let (id, message) = malformed_of(
        Stream::Purchases,
        &page_of(Stream::Purchases, vec![json!("p_1")]),
    );
    assert_eq!(id, None);
    assert_eq!(message, "`purchases[0]` must be an object, got a string");
}

#[test]
fn one_bad_row_fails_the_whole_page() {
    let good = purchase_value();
    let mut bad = purchase_value();
    bad["id"] = json!("p_bad");
    bad["status"] = json!("SHIPPED");
    let (id, message) = malformed_of(
        Stream::Purchases,
        &page_of(Stream::Purchases, vec![good.clone(), bad, good]),
    );
    assert_eq!(id.as_deref(), Some("p_bad"));
    assert!(
        message.starts_with("field `purchases[1].status`"),
        "{message}"
    );
}

#[test]
fn semantic_checks_name_the_field() {
    let mut v: Value = serde_json::from_str(CARD_PAGE).unwrap();
    v["transactions"][1]["mcc"] = json!("581");
    let (id, message) = malformed_of(Stream::CardTransactions, &serde_json::to_vec(&v).unwrap());
    assert_eq!(id.as_deref(), Some("ct_1002"));
    assert_eq!(
        message,
        "field `transactions[1].mcc`: must be 4 characters, got \"581\""
    );
    let mut v: Value = serde_json::from_str(CARD_PAGE).unwrap();
    v["transactions"][0]["amount_minor"] = json!(-5);
    let (_, message) = malformed_of(Stream::CardTransactions, &serde_json::to_vec(&v).unwrap());
    assert!(
        message.starts_with("field `transactions[0].amount_minor`: must be a positive magnitude"),
        "{message}"
    );
    let mut v: Value = serde_json::from_str(DELIVERIES_PAGE).unwrap();
    v["deliveries"][0]["id"] = json!("");
    let (id, message) = malformed_of(Stream::Deliveries, &serde_json::to_vec(&v).unwrap());
    assert_eq!(id, None);
    assert_eq!(message, "field `deliveries[0].id`: must not be empty");
}

#[test]
fn page_level_shape_errors() {
    let cases: [(&[u8], &str); 7] = [
        (
            b"<html>502</html>",
            "the answer is not JSON: expected value at line 1 column 1",
        ),
        (
            br#"{"purchases": [], "next_cursor": "c""#,
            "the answer is not JSON: EOF while parsing an object at line 1 column 36",
        ),
        (b"[]", "the answer must be a JSON object, got an array"),
        (br#"{"purchases": []}"#, "missing field `next_cursor`"),
        (
            br#"{"purchases": [], "next_cursor": null}"#,
            "field `next_cursor` must be a string, got null",
        ),
        (br#"{"next_cursor": "c"}"#, "missing field `purchases`"),
        (
            br#"{"purchases": null, "next_cursor": "c"}"#,
            "field `purchases` must be an array, got null",
        ),
    ];
    for (body, want) in cases {
        let (id, message) = malformed_of(Stream::Purchases, body);
        assert_eq!(id, None);
        assert_eq!(message, want);
    }
    // Each stream reads its own key.
    let (_, message) = malformed_of(
        Stream::CardTransactions,
        br#"{"entries": [], "next_cursor": "c"}"#,
    );
    assert_eq!(message, "missing field `transactions`");
}

#[test]
fn an_empty_page_is_empty_records_with_the_cursor() {
    for stream in Stream::ALL.iter().copied().filter(|s| s.is_delta()) {
        let page = parse_page(stream, &page_of(stream, vec![]), None).unwrap();
        assert!(page.records.is_empty());
        assert_eq!(page.records.stream(), stream);
        assert_eq!(page.next_cursor, "c_next");
    }
}

#[test]
fn collections_match_the_contract_table() {
    let table = [
        (Stream::Purchases, "/consumer/v2/purchases", "purchases"),
        (
            Stream::CardTransactions,
            "/consumer/v2/card/transactions",
            "transactions",
        ),
        (
            Stream::BalanceEntries,
            "/consumer/v2/balance/transactions",
            "entries",
        ),
        (
            Stream::PointsEntries,
            "/consumer/v2/rewards/transactions",
            "entries",
        ),
        (Stream::Deliveries, "/consumer/v2/deliveries", "deliveries"),
    ];
    for (stream, path, key) in table {
        assert_eq!(collection(stream), Some(Collection { path, key }));
        assert_eq!(snapshot_path(stream), None);
    }
    for stream in [Stream::Balance, Stream::Points, Stream::Profile] {
        assert_eq!(collection(stream), None);
    }
    assert_eq!(snapshot_path(Stream::Balance), Some("/consumer/v2/balance"));
    assert_eq!(snapshot_path(Stream::Points), Some("/consumer/v2/rewards"));
    assert_eq!(snapshot_path(Stream::Profile), Some("/consumer/v2/profile"));
}

#[test]
fn token_answers() {
    let g = parse_token(
        br#"{"access_token":"at_1","expires_in":1800,"refresh_token":"rt_2","scope":"x"}"#,
    )
    .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(g.access_token.expose_secret(), "at_1");
    assert_eq!(g.expires_in, Duration::from_secs(1800));
    assert_eq!(g.refresh_token.unwrap().expose_secret(), "rt_2");
    let g = parse_token(br#"{"access_token":"at_1","expires_in":1800}"#).unwrap();
    assert!(g.refresh_token.is_none());
    let g =
        parse_token(br#"{"access_token":"at_1","expires_in":1800,"refresh_token":null}"#).unwrap();
    assert!(g.refresh_token.is_none());

    for (body, want) in [
        (
            &br#"{"expires_in":1800}"#[..],
            "token answer: missing field `access_token`",
        ),
        (
            br#"{"access_token":"at_1"}"#,
            "token answer: missing field `expires_in`",
        ),
        (
            br#"{"access_token":"","expires_in":1}"#,
            "token answer: field `access_token` must not be empty",
        ),
        (
            br#"{"access_token":"at_1","expires_in":1,"refresh_token":""}"#,
            "token answer: field `refresh_token` must not be empty",
        ),
        (
            br#"{"access_token":"at_1","expires_in":"soon"}"#,
            "token answer: field `expires_in` has the wrong type or value",
        ),
        (b"<html>", "token answer is not JSON (line 1, column 1)"),
    ] {
        assert_eq!(parse_token(body).err().as_deref(), Some(want));
    }
    // A wrong-typed token is named, never quoted.
    let err = parse_token(br#"{"access_token":["at_secret"],"expires_in":1}"#)
        .err()
        .unwrap();
    assert!(!err.contains("at_secret"), "{err}");
}

#[test]
fn error_bodies_are_read_leniently() {
    let e = parse_error(
        br#"{"error_code":"INVALID_GRANT","error_messages":["revoked"],"correlation_id":"c-1"}"#,
    );
    assert_eq!(e.code, Some(ErrorCode::InvalidGrant));
    assert_eq!(e.messages, vec!["revoked".to_string()]);
    assert_eq!(e.correlation_id.as_deref(), Some("c-1"));
    assert_eq!(
        parse_error(b"<html>bad gateway</html>"),
        ApiError::default()
    );
    assert_eq!(
        parse_error(br#"{"error_code":"NEW_THING"}"#).code,
        Some(ErrorCode::Other("NEW_THING".into()))
    );
    for code in [
        "BAD_VALUE",
        "INVALID_AUTH_TOKEN",
        "INVALID_GRANT",
        "DEVICE_MISMATCH",
        "NOT_ALLOWED",
        "NOT_FOUND",
        "CONFLICT",
        "CURSOR_EXPIRED",
        "TOO_MANY_REQUESTS",
        "INTERNAL_SERVER_ERROR",
        "UNEXPECTED_ERROR",
        "TEMPORARILY_UNAVAILABLE",
    ] {
        let c = ErrorCode::from_wire(code);
        assert!(!matches!(c, ErrorCode::Other(_)), "{code}");
        assert_eq!(c.as_wire(), code);
    }
}

#[test]
fn snapshot_level_shape_errors() {
    let cases: [(&[u8], &str); 3] = [
        (
            b"<html>502</html>",
            "the answer is not JSON: expected value at line 1 column 1",
        ),
        (b"[]", "the answer must be a JSON object, got an array"),
        (b" null ", "the answer must be a JSON object, got null"),
    ];
    for (body, want) in cases {
        match parse_snapshot(Stream::Points, body, Some("corr-1")).unwrap_err() {
            ConnectorError::Malformed {
                object_id, message, ..
            } => {
                assert_eq!(object_id, None);
                assert_eq!(message, want);
            }
            other => panic!("not malformed: {other:?}"),
        }
    }
}
