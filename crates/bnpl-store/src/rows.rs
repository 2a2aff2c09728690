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
    AccountKey, AccountRecord, InstallmentTotals, InstallmentView, OutstandingTotal,
    PurchaseSummary, StoreError, StreamState,
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

/// The outbox after event `$1`, at most `$2` rows; the same text on both
/// backends (`payload` is TEXT on SQLite, JSONB on PostgreSQL: read as text).
pub(crate) const EVENTS_AFTER: &str = "SELECT e.id, a.provider, \
     a.external_id AS account_external_id, e.kind, e.object_id, e.occurred_at, \
     e.recorded_at, CAST(e.payload AS TEXT) AS payload \
     FROM events e JOIN accounts a ON a.id = e.account_id \
     WHERE e.id > $1 ORDER BY e.id LIMIT $2";

/// An outbox row, read with [`EVENTS_AFTER`].
pub(crate) fn event<R: RowExt>(r: &R) -> Result<crate::Event, StoreError> {
    let payload = r.text("payload")?;
    Ok(crate::Event {
        id: r.int("id")?,
        account: account_key(r)?,
        kind: r.text("kind")?,
        object_id: r.text("object_id")?,
        occurred_at: r.timestamp("occurred_at")?,
        recorded_at: r.timestamp("recorded_at")?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt(format!("event payload: {e}")))?,
    })
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

pub(crate) fn installment_totals<R: RowExt>(r: &R) -> Result<InstallmentTotals, StoreError> {
    Ok(InstallmentTotals {
        currency: r.text("currency")?,
        installments: count(r, "installments")?,
        amount_minor: r.int("amount_minor")?,
        late_fee_minor: r.int("late_fee_minor")?,
        overdue_installments: count(r, "overdue_installments")?,
        overdue_amount_minor: r.int("overdue_amount_minor")?,
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

    #[test]
    fn a_position_reads_back_what_it_prints() {
        let p = crate::InstallmentPosition {
            due: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            purchase_id: "p_8fa3c1".into(),
            provider: "klarna-us".into(),
            account_id: "kus_0001".into(),
            seq: 2,
        };
        let text = p.to_string();
        assert_eq!(text, "2026-03-01/klarna-us/kus_0001/p_8fa3c1/2");
        assert_eq!(text.parse::<crate::InstallmentPosition>().unwrap(), p);
        for bad in [
            "",
            "2026-03-01/klarna-us/kus_0001/p/x",
            "x/a/b/c/1",
            "2026-03-01/a/b/1",
        ] {
            assert!(bad.parse::<crate::InstallmentPosition>().is_err(), "{bad}");
        }
    }
}

/// The paging and totals contract of [`crate::Database::installments`] and
/// [`crate::Database::installment_totals`], run by each backend's tests.
#[cfg(test)]
pub(crate) mod paging_contract {
    use std::collections::BTreeMap;

    use bnpl_core::{
        Currency, Installment, InstallmentPlan, Money, OrderStatus, Page, PlanKind, Purchase,
        Records, ReportedInstallmentState, Stream,
    };
    use chrono::{DateTime, Days, NaiveDate, Utc};
    use secrecy::SecretString;

    use crate::{AccountKey, Database, InstallmentFilter, InstallmentTotals, InstallmentView};

    pub(crate) fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 10).unwrap()
    }

    fn at() -> DateTime<Utc> {
        "2026-03-01T00:00:00Z".parse().unwrap()
    }

    /// Three accounts (two share an external id under different providers),
    /// the same purchase ids in each, due dates crowded on a few days so
    /// that every tie-breaker of the order is exercised; mixed states and
    /// three currencies.
    pub(crate) async fn fill(db: &dyn Database) -> Vec<AccountKey> {
        let keys = vec![
            AccountKey::new("klarna-us", "a"),
            AccountKey::new("klarna-us", "b"),
            AccountKey::new("affirm", "a"),
        ];
        let states = [
            ReportedInstallmentState::Scheduled,
            ReportedInstallmentState::Paid,
            ReportedInstallmentState::Scheduled,
            ReportedInstallmentState::Late,
            ReportedInstallmentState::Paused,
            ReportedInstallmentState::Cancelled,
            ReportedInstallmentState::Scheduled,
        ];
        for (k, key) in keys.iter().enumerate() {
            db.put_account(key, &SecretString::from("{}".to_string()))
                .await
                .unwrap();
            let purchases: Vec<Purchase> = (0..40u32)
                .map(|n| {
                    let currency = ["USD", "EUR", "SEK"][(n as usize + k) % 3];
                    let installments: Vec<Installment> = (1..=4u32)
                        .map(|seq| {
                            let state = states[((n * 4 + seq) as usize + k) % states.len()];
                            // 2026-02-20 .. 2026-04-05: overdue, due today, ahead.
                            let offset = u64::from((n % 5) * 3 + seq * 7 + (k as u32 % 2));
                            Installment {
                                seq,
                                due: NaiveDate::from_ymd_opt(2026, 2, 12).unwrap()
                                    + Days::new(offset),
                                amount_minor: 1_000 + i64::from(n * 10 + seq),
                                reported_state: state,
                                paid_at: (state == ReportedInstallmentState::Paid).then(at),
                                late_fee_minor: if state == ReportedInstallmentState::Late {
                                    150
                                } else {
                                    0
                                },
                            }
                        })
                        .collect();
                    let total: i64 = installments.iter().map(|i| i.amount_minor).sum();
                    Purchase {
                        // Ids that sort differently from their numbers.
                        id: format!("p-{:x}", (n * 37) % 41),
                        merchant: format!("Merchant {n}"),
                        merchant_category: None,
                        amount: Money::new(total, Currency::parse(currency).unwrap()),
                        created_at: at(),
                        status: OrderStatus::Captured,
                        captured_minor: total,
                        refunded_minor: 0,
                        plan: InstallmentPlan {
                            kind: PlanKind::PayIn4,
                            apr_bps: 0,
                            interest_minor: 0,
                            installments,
                        },
                        items: Vec::new(),
                        return_: None,
                        dispute: None,
                        updated_at: at(),
                    }
                })
                .collect();
            let page = Page {
                records: Records::Purchases(purchases),
                removed: Vec::new(),
                next_cursor: "c1".into(),
                caught_up: true,
            };
            db.apply_page(key, Stream::Purchases, &page, at())
                .await
                .unwrap();
        }
        keys
    }

    fn sort_key(v: &InstallmentView) -> (NaiveDate, &[u8], &[u8], &[u8], u32) {
        (
            v.due,
            v.purchase_id.as_bytes(),
            v.account.provider.as_bytes(),
            v.account.account_id.as_bytes(),
            v.seq,
        )
    }

    /// The filters an API and `bnpl due` ask for.
    pub(crate) fn filters() -> Vec<InstallmentFilter> {
        let window = Some(today() + Days::new(14));
        vec![
            InstallmentFilter::default(),
            InstallmentFilter {
                open_only: true,
                ..Default::default()
            },
            InstallmentFilter {
                open_only: true,
                due_on_or_before: window,
                ..Default::default()
            },
            InstallmentFilter {
                due_on_or_before: window,
                ..Default::default()
            },
            InstallmentFilter {
                provider: Some("klarna-us".into()),
                open_only: true,
                due_on_or_before: window,
                ..Default::default()
            },
            InstallmentFilter {
                provider: Some("affirm".into()),
                account_id: Some("a".into()),
                open_only: true,
                due_on_or_before: window,
                ..Default::default()
            },
            InstallmentFilter {
                account_id: Some("a".into()),
                ..Default::default()
            },
        ]
    }

    pub(crate) async fn paging_returns_every_row_once_in_order(db: &dyn Database) {
        fill(db).await;
        for filter in filters() {
            let full = db.installments(&filter, today()).await.unwrap();
            assert!(full.len() > 10, "{filter:?}: only {} rows", full.len());
            assert!(
                full.windows(2).all(|w| sort_key(&w[0]) < sort_key(&w[1])),
                "{filter:?}: not strictly ordered"
            );
            for limit in [1, 2, 7, 50, 10_000] {
                let mut paged: Vec<InstallmentView> = Vec::new();
                let mut after = None;
                for _ in 0..=full.len() + 1 {
                    let page = db
                        .installments(
                            &InstallmentFilter {
                                limit: Some(limit),
                                after: after.clone(),
                                ..filter.clone()
                            },
                            today(),
                        )
                        .await
                        .unwrap();
                    assert!(page.len() <= limit as usize);
                    let last = page.last().map(InstallmentView::position);
                    let short = page.len() < limit as usize;
                    paged.extend(page);
                    if short {
                        break;
                    }
                    after = last;
                }
                assert_eq!(paged, full, "{filter:?}, pages of {limit}");
            }
            let none = InstallmentFilter {
                limit: Some(0),
                ..filter.clone()
            };
            assert!(db.installments(&none, today()).await.unwrap().is_empty());
            // After the last row: nothing; unpaged after a row: the rest.
            let last = full.last().unwrap().position();
            let tail = |after, limit| InstallmentFilter {
                after: Some(after),
                limit,
                ..filter.clone()
            };
            assert!(
                db.installments(&tail(last, Some(5)), today())
                    .await
                    .unwrap()
                    .is_empty()
            );
            let mid = full[full.len() / 2].position();
            assert_eq!(
                db.installments(&tail(mid, None), today()).await.unwrap(),
                full[full.len() / 2 + 1..]
            );
        }
    }

    pub(crate) async fn totals_equal_the_listed_rows_per_currency(db: &dyn Database) {
        fill(db).await;
        for filter in filters() {
            let full = db.installments(&filter, today()).await.unwrap();
            let mut expected: BTreeMap<String, InstallmentTotals> = BTreeMap::new();
            for v in &full {
                let t = expected
                    .entry(v.currency.clone())
                    .or_insert_with(|| InstallmentTotals {
                        currency: v.currency.clone(),
                        installments: 0,
                        amount_minor: 0,
                        late_fee_minor: 0,
                        overdue_installments: 0,
                        overdue_amount_minor: 0,
                    });
                t.installments += 1;
                t.amount_minor += v.amount_minor;
                t.late_fee_minor += v.late_fee_minor;
                if v.due < today() {
                    t.overdue_installments += 1;
                    t.overdue_amount_minor += v.amount_minor;
                }
            }
            let expected: Vec<InstallmentTotals> = expected.into_values().collect();
            assert!(expected.iter().any(|t| t.overdue_installments > 0));
            // Paging never changes the totals.
            let paged = InstallmentFilter {
                limit: Some(3),
                after: full.first().map(InstallmentView::position),
                ..filter.clone()
            };
            for f in [&filter, &paged] {
                assert_eq!(
                    db.installment_totals(f, today()).await.unwrap(),
                    expected,
                    "{f:?}"
                );
            }
        }
        let nothing = InstallmentFilter {
            account_id: Some("nobody".into()),
            ..Default::default()
        };
        assert!(
            db.installment_totals(&nothing, today())
                .await
                .unwrap()
                .is_empty()
        );
    }
}
