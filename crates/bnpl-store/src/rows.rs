//! Reading rows back into the normalized model, once for both backends.
//! Both schemas use the same column names; [`RowExt`] hides how each backend
//! stores a timestamp, a date or a boolean.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use bnpl_core::lifecycle::{derive_state, is_open};
use bnpl_core::{
    BalanceEntry, BalanceSnapshot, CardTransaction, Currency, Delivery, Dispute, Installment,
    InstallmentPlan, Money, PlanKind, PointsEntry, PointsSnapshot, Profile, Purchase, PurchaseItem,
    PurchaseReturn, ReportedInstallmentState, Stream,
};

use crate::apply::StoredInstallment;
use crate::{
    AccountKey, AccountRecord, InstallmentView, OutstandingTotal, PurchaseSummary, StoreError,
    StreamState,
};

pub(crate) trait RowExt {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn opt_timestamp(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn opt_date(&self, col: &str) -> Result<Option<NaiveDate>, StoreError>;
    fn opt_bool(&self, col: &str) -> Result<Option<bool>, StoreError>;

    fn timestamp(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        self.opt_timestamp(col)?.ok_or_else(|| null(col))
    }

    fn date(&self, col: &str) -> Result<NaiveDate, StoreError> {
        self.opt_date(col)?.ok_or_else(|| null(col))
    }

    fn u32(&self, col: &str) -> Result<u32, StoreError> {
        let v = self.int(col)?;
        u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{col} = {v} is out of range")))
    }

    /// A snake_case state column.
    fn parsed<T: FromStr>(&self, col: &str) -> Result<T, StoreError> {
        let s = self.text(col)?;
        parse_value(col, &s)
    }

    fn opt_parsed<T: FromStr>(&self, col: &str) -> Result<Option<T>, StoreError> {
        self.opt_text(col)?
            .map(|s| parse_value(col, &s))
            .transpose()
    }

    fn currency(&self, col: &str) -> Result<Currency, StoreError> {
        let code = self.text(col)?;
        Currency::parse(&code).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
    }

    fn money(&self, minor: &str, currency: &str) -> Result<Money, StoreError> {
        Ok(Money::new(self.int(minor)?, self.currency(currency)?))
    }
}

fn null(col: &str) -> StoreError {
    StoreError::Corrupt(format!("{col} is NULL"))
}

fn parse_value<T: FromStr>(col: &str, s: &str) -> Result<T, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{col} = {s:?} is not a known value")))
}

/// A purchase without items and installments, and its row id.
pub(crate) fn purchase<R: RowExt>(r: &R) -> Result<(i64, Purchase), StoreError> {
    let plan = r.text("plan")?;
    let kind = PlanKind::parse(&plan).map_err(|e| StoreError::Corrupt(format!("plan: {e}")))?;
    let return_ = match r.opt_text("return_external_id")? {
        None => None,
        Some(id) => Some(PurchaseReturn {
            id,
            reported_at: r.timestamp("return_reported_at")?,
            state: r.parsed("return_state")?,
            amount_minor: r
                .opt_int("return_amount_minor")?
                .ok_or_else(|| null("return_amount_minor"))?,
        }),
    };
    let dispute = match r.opt_parsed("dispute_state")? {
        None => None,
        Some(state) => Some(Dispute {
            state,
            opened_at: r.timestamp("dispute_opened_at")?,
        }),
    };
    let p = Purchase {
        id: r.text("external_id")?,
        merchant: r.text("merchant")?,
        merchant_category: r.opt_text("merchant_category")?,
        amount: r.money("amount_minor", "currency")?,
        created_at: r.timestamp("created_at")?,
        status: r.parsed("status")?,
        captured_minor: r.int("captured_minor")?,
        refunded_minor: r.int("refunded_minor")?,
        plan: InstallmentPlan {
            kind,
            apr_bps: r.u32("apr_bps")?,
            interest_minor: r.int("interest_minor")?,
            installments: Vec::new(),
        },
        items: Vec::new(),
        return_,
        dispute,
        updated_at: r.timestamp("updated_at")?,
    };
    Ok((r.int("id")?, p))
}

/// An item and the row id of its purchase.
pub(crate) fn item<R: RowExt>(r: &R) -> Result<(i64, PurchaseItem), StoreError> {
    Ok((
        r.int("purchase_id")?,
        PurchaseItem {
            name: r.text("name")?,
            quantity: r.u32("quantity")?,
            unit_price_minor: r.int("unit_price_minor")?,
        },
    ))
}

/// An installment and the row id of its purchase.
pub(crate) fn installment<R: RowExt>(r: &R) -> Result<(i64, Installment), StoreError> {
    Ok((
        r.int("purchase_id")?,
        Installment {
            seq: r.u32("seq")?,
            due: r.date("due_date")?,
            amount_minor: r.int("amount_minor")?,
            reported_state: r.parsed("reported_state")?,
            paid_at: r.opt_timestamp("paid_at")?,
            late_fee_minor: r.int("late_fee_minor")?,
        },
    ))
}

/// Joins purchases with their items and installments (each already in seq order).
pub(crate) fn assemble_purchases(
    purchases: Vec<(i64, Purchase)>,
    items: Vec<(i64, PurchaseItem)>,
    installments: Vec<(i64, Installment)>,
) -> Vec<Purchase> {
    let mut items_of: HashMap<i64, Vec<PurchaseItem>> = HashMap::new();
    for (p, item) in items {
        items_of.entry(p).or_default().push(item);
    }
    let mut plan_of: HashMap<i64, Vec<Installment>> = HashMap::new();
    for (p, i) in installments {
        plan_of.entry(p).or_default().push(i);
    }
    let mut out: Vec<Purchase> = purchases
        .into_iter()
        .map(|(id, mut p)| {
            p.items = items_of.remove(&id).unwrap_or_default();
            p.plan.installments = plan_of.remove(&id).unwrap_or_default();
            p
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// An installment as stored, keyed by its purchase's external id.
pub(crate) fn stored_installment<R: RowExt>(
    r: &R,
) -> Result<(String, StoredInstallment), StoreError> {
    Ok((
        r.text("purchase_external_id")?,
        StoredInstallment {
            id: r.int("id")?,
            seq: r.u32("seq")?,
            due: r.date("due_date")?,
            amount_minor: r.int("amount_minor")?,
            currency: r.text("currency")?,
            reported_state: r.parsed("reported_state")?,
            paid_at: r.opt_timestamp("paid_at")?,
            late_fee_minor: r.int("late_fee_minor")?,
        },
    ))
}

pub(crate) fn card_transaction<R: RowExt>(r: &R) -> Result<CardTransaction, StoreError> {
    Ok(CardTransaction {
        id: r.text("external_id")?,
        auth_id: r.opt_text("auth_external_id")?,
        kind: r.parsed("kind")?,
        status: r.parsed("status")?,
        amount: r.money("amount_minor", "currency")?,
        merchant: r.text("merchant")?,
        mcc: r.opt_text("mcc")?,
        occurred_at: r.timestamp("occurred_at")?,
        updated_at: r.timestamp("updated_at")?,
    })
}

pub(crate) fn balance_entry<R: RowExt>(r: &R) -> Result<BalanceEntry, StoreError> {
    Ok(BalanceEntry {
        id: r.text("external_id")?,
        ledger: r.text("ledger")?,
        kind: r.parsed("kind")?,
        booking: r.parsed("booking")?,
        amount: r.money("amount_minor", "currency")?,
        description: r.opt_text("description")?,
        purchase_id: r.opt_text("purchase_external_id")?,
        points_entry_id: r.opt_text("points_entry_external_id")?,
        occurred_at: r.timestamp("occurred_at")?,
        updated_at: r.timestamp("updated_at")?,
    })
}

pub(crate) fn points_entry<R: RowExt>(r: &R) -> Result<PointsEntry, StoreError> {
    Ok(PointsEntry {
        id: r.text("external_id")?,
        kind: r.parsed("kind")?,
        points: r.int("points")?,
        purchase_id: r.opt_text("purchase_external_id")?,
        balance_entry_id: r.opt_text("balance_entry_external_id")?,
        occurred_at: r.timestamp("occurred_at")?,
        updated_at: r.timestamp("updated_at")?,
    })
}

pub(crate) fn delivery<R: RowExt>(r: &R) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: r.text("external_id")?,
        purchase_id: r.opt_text("purchase_external_id")?,
        carrier: r.text("carrier")?,
        tracking_number: r.opt_text("tracking_number")?,
        status: r.parsed("status")?,
        eta_from: r.opt_date("eta_from")?,
        eta_to: r.opt_date("eta_to")?,
        updated_at: r.timestamp("updated_at")?,
    })
}

pub(crate) fn balance_snapshot<R: RowExt>(r: &R) -> Result<BalanceSnapshot, StoreError> {
    Ok(BalanceSnapshot {
        ledger: r.text("ledger")?,
        balance_type: r.text("balance_type")?,
        amount: r.money("amount_minor", "currency")?,
        as_of: r.timestamp("as_of")?,
    })
}

pub(crate) fn points_snapshot<R: RowExt>(r: &R) -> Result<PointsSnapshot, StoreError> {
    Ok(PointsSnapshot {
        points: r.int("points")?,
        as_of: r.timestamp("as_of")?,
    })
}

pub(crate) fn profile<R: RowExt>(r: &R) -> Result<Profile, StoreError> {
    let purchase_power = match r.opt_int("purchase_power_minor")? {
        None => None,
        Some(_) => Some(r.money("purchase_power_minor", "purchase_power_currency")?),
    };
    Ok(Profile {
        name: r.opt_text("name")?,
        email: r.opt_text("email")?,
        phone: r.opt_text("phone")?,
        country: r.opt_text("country")?,
        membership_tier: r.opt_parsed("membership_tier")?,
        purchase_power,
        refunds_to_balance: r.opt_bool("refunds_to_balance")?,
        updated_at: r.timestamp("updated_at")?,
    })
}

fn account_key<R: RowExt>(r: &R) -> Result<AccountKey, StoreError> {
    Ok(AccountKey::new(
        r.text("provider")?,
        r.text("account_external_id")?,
    ))
}

/// An account without its streams, and its row id.
pub(crate) fn account<R: RowExt>(r: &R) -> Result<(i64, AccountRecord), StoreError> {
    Ok((
        r.int("id")?,
        AccountRecord {
            key: account_key(r)?,
            status: r.parsed("status")?,
            status_reason: r.opt_text("status_reason")?,
            created_at: r.timestamp("created_at")?,
            streams: Vec::new(),
        },
    ))
}

/// A stream state and the row id of its account.
pub(crate) fn stream_state<R: RowExt>(r: &R) -> Result<(i64, StreamState), StoreError> {
    let stream = r.text("stream")?;
    Ok((
        r.int("account_id")?,
        StreamState {
            stream: Stream::parse(&stream).map_err(StoreError::Corrupt)?,
            cursor: r.opt_text("cursor")?,
            last_attempt_at: r.opt_timestamp("last_attempt_at")?,
            last_success_at: r.opt_timestamp("last_success_at")?,
            last_error: r.opt_text("last_error")?,
            next_allowed_at: r.opt_timestamp("next_allowed_at")?,
        },
    ))
}

pub(crate) fn assemble_accounts(
    accounts: Vec<(i64, AccountRecord)>,
    streams: Vec<(i64, StreamState)>,
) -> Vec<AccountRecord> {
    let mut of: HashMap<i64, Vec<StreamState>> = HashMap::new();
    for (a, s) in streams {
        of.entry(a).or_default().push(s);
    }
    let mut out: Vec<AccountRecord> = accounts
        .into_iter()
        .map(|(id, mut a)| {
            a.streams = of.remove(&id).unwrap_or_default();
            a.streams.sort_by_key(|s| s.stream);
            a
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

pub(crate) fn installment_view<R: RowExt>(
    r: &R,
    today: NaiveDate,
) -> Result<InstallmentView, StoreError> {
    let due = r.date("due_date")?;
    let reported: ReportedInstallmentState = r.parsed("reported_state")?;
    Ok(InstallmentView {
        account: account_key(r)?,
        purchase_id: r.text("purchase_external_id")?,
        merchant: r.text("merchant")?,
        plan: r.text("plan")?,
        seq: r.u32("seq")?,
        due,
        amount_minor: r.int("amount_minor")?,
        late_fee_minor: r.int("late_fee_minor")?,
        currency: r.text("currency")?,
        state: derive_state(reported, due, today),
    })
}

pub(crate) fn outstanding_total<R: RowExt>(r: &R) -> Result<OutstandingTotal, StoreError> {
    Ok(OutstandingTotal {
        provider: r.text("provider")?,
        currency: r.text("currency")?,
        outstanding_minor: r.int("outstanding_minor")?,
        open_installments: count(r, "open_installments")?,
        active_plans: count(r, "active_plans")?,
    })
}

pub(crate) fn purchase_summary<R: RowExt>(r: &R) -> Result<PurchaseSummary, StoreError> {
    Ok(PurchaseSummary {
        account: account_key(r)?,
        purchase_id: r.text("external_id")?,
        merchant: r.text("merchant")?,
        plan: r.text("plan")?,
        status: r.text("status")?,
        amount_minor: r.int("amount_minor")?,
        currency: r.text("currency")?,
        created_at: r.timestamp("created_at")?,
        open_installments: count(r, "open_installments")?,
        outstanding_minor: r.int("outstanding_minor")?,
    })
}

fn count<R: RowExt>(r: &R, col: &str) -> Result<u64, StoreError> {
    let v = r.int(col)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{col} = {v}")))
}

/// The reported states whose installments are open, whatever the date: the
/// SQL filters of `outstanding()` and `open_only` bind this list, so it comes
/// from `bnpl_core::lifecycle` instead of a second copy of the rule.
pub(crate) fn open_reported_states() -> Vec<&'static str> {
    let due = NaiveDate::from_ymd_opt(2000, 1, 2).expect("valid date");
    let before = due.pred_opt().expect("valid date");
    ReportedInstallmentState::variants()
        .iter()
        .filter(|r| {
            // Open before or on its due date: `derive_state` only turns scheduled into due.
            is_open(derive_state(**r, due, before)) || is_open(derive_state(**r, due, due))
        })
        .map(|r| r.as_str())
        .collect()
}

/// Whether a stored installment counts as open at `today`.
pub(crate) fn open_at(view: &InstallmentView) -> bool {
    is_open(view.state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openness_never_depends_on_the_date() {
        // outstanding() has no `today`: it relies on this.
        let due = NaiveDate::from_ymd_opt(2026, 6, 20).unwrap();
        for r in ReportedInstallmentState::variants() {
            let early = is_open(derive_state(*r, due, due.pred_opt().unwrap()));
            let late = is_open(derive_state(*r, due, due.succ_opt().unwrap()));
            assert_eq!(early, late, "{r:?}");
            assert_eq!(open_reported_states().contains(&r.as_str()), early, "{r:?}");
        }
        assert_eq!(open_reported_states(), ["scheduled", "late", "paused"]);
    }
}
