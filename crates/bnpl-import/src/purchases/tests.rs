//! Every bad-input case with its exact message.

use super::*;

const HEAD: &str = "purchase_id,created_at,merchant,amount,currency,plan,status,installment_seq,installment_due,installment_amount,installment_state,updated_at\n";

fn file(rows: &[&str]) -> String {
    let mut s = HEAD.to_string();
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

const P1: [&str; 4] = [
    "p_1,2026-06-06T09:12:00Z,Northwind Outdoor,49.99,USD,pay_in_4,CAPTURED,1,2026-06-06,12.52,paid,2026-06-08T12:04:11Z",
    "p_1,2026-06-06T09:12:00Z,Northwind Outdoor,49.99,USD,pay_in_4,CAPTURED,2,2026-06-20,12.49,scheduled,2026-06-08T12:04:11Z",
    "p_1,2026-06-06T09:12:00Z,Northwind Outdoor,49.99,USD,pay_in_4,CAPTURED,3,2026-07-04,12.49,scheduled,2026-06-08T12:04:11Z",
    "p_1,2026-06-06T09:12:00Z,Northwind Outdoor,49.99,USD,pay_in_4,CAPTURED,4,2026-07-18,12.49,scheduled,2026-06-08T12:04:11Z",
];
const P2: &str = "p_2,2026-06-07T10:00:00Z,\"Acme, Inc.\",20.00,USD,pay_in_30,AUTHORIZED,,,,,2026-06-07T10:00:00Z";

fn read(text: &str) -> Vec<Result<Purchase, ImportError>> {
    PurchasesReader::new("purchases.csv", text.as_bytes())
        .unwrap()
        .collect()
}

fn first_error(text: &str) -> String {
    read(text)
        .into_iter()
        .find_map(Result::err)
        .expect("an error")
        .to_string()
}

#[test]
fn groups_installment_rows_into_purchases() {
    let mut rows = P1.to_vec();
    rows.push(P2);
    let purchases: Vec<Purchase> = read(&file(&rows))
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(purchases.len(), 2);
    let p1 = &purchases[0];
    assert_eq!(p1.amount.minor, 4999);
    assert_eq!(p1.captured_minor, 4999);
    assert_eq!(p1.plan.installments.len(), 4);
    assert_eq!(p1.plan.installments[0].amount_minor, 1252);
    assert_eq!(
        p1.plan.installments[0].reported_state,
        ReportedInstallmentState::Paid
    );
    let p2 = &purchases[1];
    assert_eq!((p2.merchant.as_str(), p2.captured_minor), ("Acme, Inc.", 0));
    assert!(p2.plan.installments.is_empty());
    assert_eq!(p2.status, OrderStatus::Authorized);
}

#[test]
fn a_missing_column_is_a_file_error() {
    let text = HEAD.replace(",installment_state", "") + "x\n";
    let err = PurchasesReader::new("purchases.csv", text.as_bytes())
        .err()
        .unwrap();
    assert!(!err.is_row());
    assert_eq!(
        err.to_string(),
        format!(
            "purchases.csv: line 1: expected the header {} (missing: installment_state)",
            HEAD.trim_end()
        )
    );
}

#[test]
fn a_bad_date_names_line_and_column() {
    let bad = P1[1].replace("2026-06-20", "2026-06-31");
    assert_eq!(
        first_error(&file(&[P1[0], &bad])),
        "purchases.csv:3: column installment_due: \"2026-06-31\" is not a date like 2026-06-20"
    );
}

#[test]
fn a_bad_timestamp_names_line_and_column() {
    let bad = P2.replace("2026-06-07T10:00:00Z,\"Acme", "yesterday,\"Acme");
    assert_eq!(
        first_error(&file(&[&bad])),
        "purchases.csv:2: column created_at: \"yesterday\" is not an RFC 3339 timestamp like 2026-06-06T09:12:00Z"
    );
}

#[test]
fn an_unknown_plan_is_rejected() {
    let bad = P2.replace("pay_in_30", "pay_in_5");
    assert_eq!(
        first_error(&file(&[&bad])),
        "purchases.csv:2: column plan: unknown plan \"pay_in_5\"; expected pay_in_4, pay_in_30 or financing_6|12|18|24"
    );
}

#[test]
fn an_unknown_state_is_rejected() {
    let bad = P1[0].replace(",paid,", ",settled,");
    assert_eq!(
        first_error(&file(&[&bad])),
        "purchases.csv:2: column installment_state: \"settled\" is not one of scheduled, paid, late, paused, cancelled"
    );
    let bad = P2.replace("AUTHORIZED", "SHIPPED");
    assert_eq!(
        first_error(&file(&[&bad])),
        "purchases.csv:2: column status: \"SHIPPED\" is not an order status (AUTHORIZED, CAPTURED, PART_CAPTURED, CANCELLED, EXPIRED, CLOSED, REFUNDED, PART_REFUNDED)"
    );
}

#[test]
fn more_decimals_than_the_currency_is_an_error_not_a_rounding() {
    let bad = P1[0].replace("12.52", "12.525");
    assert_eq!(
        first_error(&file(&[&bad])),
        "purchases.csv:2: column installment_amount: \"12.525\" has 3 decimals but USD has 2"
    );
    let bad = P2.replace("20.00", "twenty");
    assert_eq!(
        first_error(&file(&[&bad])),
        "purchases.csv:2: column amount: \"twenty\" is not a decimal amount"
    );
}

#[test]
fn wrong_encoding_is_reported_with_its_line() {
    let mut bytes = file(&[P2]).into_bytes();
    let at = bytes.windows(4).position(|w| w == b"Acme").unwrap();
    bytes[at] = 0xC1; // never valid in UTF-8 (a Latin-1 export, say)
    let err = PurchasesReader::new("purchases.csv", bytes.as_slice())
        .unwrap()
        .find_map(Result::err)
        .unwrap();
    assert_eq!(
        err.to_string(),
        "purchases.csv:2: field 3 is not valid UTF-8; the export must be UTF-8"
    );
}

#[test]
fn a_truncated_file_is_reported() {
    let text = file(&P1[..2]);
    let cut = &text[..text.len() - 40];
    let err = first_error(cut);
    assert_eq!(
        err,
        "purchases.csv:3: has 9 fields, expected 12 (a truncated or malformed row)"
    );
}

#[test]
fn installments_must_be_numbered_from_one() {
    assert_eq!(
        first_error(&file(&[P1[0], P1[2]])),
        "purchases.csv:3: column installment_seq: purchase p_1: installment 3 where 2 was expected (rows of one purchase must be consecutive and numbered from 1)"
    );
}

#[test]
fn one_bad_row_rejects_its_purchase_and_reading_goes_on() {
    let bad = P1[1].replace("12.49", "x");
    let results = read(&file(&[P1[0], &bad, P1[2], P1[3], P2]));
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results[0].is_err());
    assert_eq!(results[1].as_ref().unwrap().id, "p_2");
}
