//! Checks shared by both backends' unit tests.

use bnpl_core::*;
use chrono::{DateTime, Utc};

use super::{RecordRef, RecordRow, Table, WriteTx};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::parse("USD").unwrap())
}

pub(crate) fn purchase(updated: &str, merchant: &str) -> Purchase {
    Purchase {
        id: "p".into(),
        merchant: merchant.into(),
        merchant_category: None,
        amount: usd(100),
        created_at: t("2026-01-01T00:00:00Z"),
        status: OrderStatus::Captured,
        captured_minor: 100,
        refunded_minor: 0,
        plan: InstallmentPlan {
            kind: PlanKind::PayIn30,
            apr_bps: 0,
            interest_minor: 0,
            installments: vec![],
        },
        items: vec![],
        return_: None,
        dispute: None,
        updated_at: t(updated),
    }
}

pub(crate) fn card(updated: &str, merchant: &str) -> CardTransaction {
    CardTransaction {
        id: "c".into(),
        auth_id: None,
        kind: CardTransactionKind::Authorization,
        status: CardTransactionStatus::Pending,
        amount: usd(5),
        merchant: merchant.into(),
        mcc: None,
        occurred_at: t("2026-01-01T00:00:00Z"),
        updated_at: t(updated),
    }
}

pub(crate) fn balance_entry(updated: &str, merchant: &str) -> BalanceEntry {
    BalanceEntry {
        id: "b".into(),
        ledger: MAIN_LEDGER.into(),
        kind: BalanceEntryKind::TopUp,
        booking: BookingStatus::Booked,
        amount: usd(5),
        description: Some(merchant.into()),
        purchase_id: None,
        points_entry_id: None,
        occurred_at: t("2026-01-01T00:00:00Z"),
        updated_at: t(updated),
    }
}

pub(crate) fn points_entry(updated: &str, merchant: &str) -> PointsEntry {
    PointsEntry {
        id: "e".into(),
        kind: PointsEntryKind::Earned,
        points: merchant.len() as i64,
        purchase_id: None,
        balance_entry_id: None,
        occurred_at: t("2026-01-01T00:00:00Z"),
        updated_at: t(updated),
    }
}

pub(crate) fn delivery(updated: &str, merchant: &str) -> Delivery {
    Delivery {
        id: "d".into(),
        purchase_id: None,
        carrier: merchant.into(),
        tracking_number: None,
        status: DeliveryStatus::LabelCreated,
        eta_from: None,
        eta_to: None,
        updated_at: t(updated),
    }
}

fn profile(updated: &str, name: &str) -> Profile {
    Profile {
        name: Some(name.into()),
        email: None,
        phone: None,
        country: None,
        membership_tier: None,
        purchase_power: None,
        refunds_to_balance: None,
        updated_at: t(updated),
    }
}

/// Each upsert statement itself refuses an older or equal `updated_at`
/// (`apply_page`'s pre-read normally skips such rows before the statement).
pub(crate) async fn upsert_statements_refuse_older_rows<W: WriteTx + ?Sized>(
    w: &mut W,
    account: i64,
) {
    let synced = t("2026-03-01T00:00:00Z");
    let (old, new, newer) = (
        "2026-02-01T00:00:00Z",
        "2026-02-02T00:00:00Z",
        "2026-02-03T00:00:00Z",
    );
    macro_rules! check {
        ($make:ident, $variant:ident, $table:ident) => {{
            let mut upsert = async |updated: &str, marker: &str| {
                let record = $make(updated, marker);
                let rows = [RecordRow::of(RecordRef::$variant(&record))];
                let written = w
                    .upsert_records(Table::$table, account, synced, &rows)
                    .await
                    .unwrap();
                written == 1
            };
            assert!(upsert(new, "first").await, stringify!($variant));
            assert!(!upsert(old, "older").await, stringify!($variant));
            assert!(!upsert(new, "equal").await, stringify!($variant));
            assert!(upsert(newer, "newer").await, stringify!($variant));
        }};
    }
    check!(purchase, Purchase, Purchases);
    check!(card, CardTransaction, CardTransactions);
    check!(balance_entry, BalanceEntry, BalanceEntries);
    check!(points_entry, PointsEntry, PointsEntries);
    check!(delivery, Delivery, Deliveries);

    assert!(
        w.upsert_profile(account, &profile(new, "a"), synced)
            .await
            .unwrap()
    );
    assert!(
        !w.upsert_profile(account, &profile(old, "b"), synced)
            .await
            .unwrap()
    );
    assert!(
        !w.upsert_profile(account, &profile(new, "c"), synced)
            .await
            .unwrap()
    );
    assert!(
        w.upsert_profile(account, &profile(newer, "d"), synced)
            .await
            .unwrap()
    );
}
