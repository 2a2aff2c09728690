//! The obligations view computed from open installments: pure, so it is the
//! same for every provider and backend, and never sums two currencies.

use std::collections::BTreeMap;

use bnpl_core::InstallmentState;
use bnpl_store::InstallmentView;
use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Obligation {
    pub provider: String,
    pub currency: String,
    pub outstanding_minor: i64,
    pub due_7d_minor: i64,
    pub due_14d_minor: i64,
    pub due_30d_minor: i64,
    pub late_minor: i64,
    pub active_plans: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Week {
    pub week_start: NaiveDate,
    pub currency: String,
    pub amount_minor: i64,
    pub installments: usize,
}

fn owed(i: &InstallmentView) -> i64 {
    i.amount_minor + i.late_fee_minor
}

/// `open` are open installments (as `InstallmentFilter::open_only` returns).
/// Paused installments are owed but not due: a return is being handled.
pub fn obligations(open: &[InstallmentView], today: NaiveDate) -> Vec<Obligation> {
    let mut by: BTreeMap<(String, String), (Obligation, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    for i in open {
        let (o, plans) = by
            .entry((i.account.provider.clone(), i.currency.clone()))
            .or_insert_with(|| {
                (
                    Obligation {
                        provider: i.account.provider.clone(),
                        currency: i.currency.clone(),
                        ..Default::default()
                    },
                    Default::default(),
                )
            });
        o.outstanding_minor += owed(i);
        plans.insert(format!("{}/{}", i.account, i.purchase_id));
        if i.state == InstallmentState::Late {
            o.late_minor += owed(i);
        }
        if i.state != InstallmentState::Paused {
            for (days, field) in [
                (7, &mut o.due_7d_minor),
                (14, &mut o.due_14d_minor),
                (30, &mut o.due_30d_minor),
            ] {
                if i.due <= today + Days::new(days) {
                    *field += owed(i);
                }
            }
        }
    }
    by.into_values()
        .map(|(mut o, plans)| {
            o.active_plans = plans.len();
            o
        })
        .collect()
}

fn monday_of(d: NaiveDate) -> NaiveDate {
    d - Days::new(u64::from(d.weekday().num_days_from_monday()))
}

/// What leaves each week for the next `weeks` weeks; overdue amounts fall in
/// the current week, paused ones are not forecast.
pub fn weekly_forecast(open: &[InstallmentView], today: NaiveDate, weeks: u64) -> Vec<Week> {
    let first = monday_of(today);
    let end = first + Days::new(7 * weeks);
    let mut by: BTreeMap<(NaiveDate, String), Week> = BTreeMap::new();
    for i in open
        .iter()
        .filter(|i| i.state != InstallmentState::Paused && i.due < end)
    {
        let week_start = monday_of(i.due.max(today));
        let w = by
            .entry((week_start, i.currency.clone()))
            .or_insert_with(|| Week {
                week_start,
                currency: i.currency.clone(),
                amount_minor: 0,
                installments: 0,
            });
        w.amount_minor += owed(i);
        w.installments += 1;
    }
    by.into_values().collect()
}

#[cfg(test)]
mod tests {
    use bnpl_store::AccountKey;

    use super::*;

    fn inst(
        provider: &str,
        currency: &str,
        purchase: &str,
        due: &str,
        amount: i64,
        state: InstallmentState,
    ) -> InstallmentView {
        InstallmentView {
            account: AccountKey::new(provider, "a1"),
            purchase_id: purchase.into(),
            merchant: "m".into(),
            plan: "pay_in_4".into(),
            seq: 1,
            due: due.parse().unwrap(),
            amount_minor: amount,
            late_fee_minor: if state == InstallmentState::Late {
                700
            } else {
                0
            },
            currency: currency.into(),
            state,
        }
    }

    #[test]
    fn never_sums_two_currencies_and_counts_stacked_plans() {
        use InstallmentState::*;
        let today: NaiveDate = "2026-06-10".parse().unwrap();
        let open = vec![
            inst("klarna-us", "USD", "p1", "2026-06-01", 1000, Late),
            inst("klarna-us", "USD", "p1", "2026-06-15", 1000, Scheduled),
            inst("klarna-us", "USD", "p2", "2026-06-30", 500, Scheduled),
            inst("klarna-us", "USD", "p3", "2026-06-12", 300, Paused),
            inst("klarna-eu", "EUR", "e1", "2026-06-11", 900, Due),
            inst("klarna-eu", "SEK", "s1", "2026-07-09", 9000, Scheduled),
        ];
        let o = obligations(&open, today);
        let usd = o.iter().find(|o| o.currency == "USD").unwrap();
        assert_eq!(usd.outstanding_minor, 1000 + 700 + 1000 + 500 + 300);
        assert_eq!(usd.late_minor, 1700);
        assert_eq!(
            usd.due_7d_minor, 2700,
            "late plus the one due on the 15th; paused is not due"
        );
        assert_eq!(usd.due_14d_minor, 2700);
        assert_eq!(usd.due_30d_minor, 3200);
        assert_eq!(usd.active_plans, 3);
        assert_eq!(o.len(), 3, "USD, EUR and SEK stay apart: {o:?}");
        let sek = o.iter().find(|o| o.currency == "SEK").unwrap();
        assert_eq!((sek.due_30d_minor, sek.outstanding_minor), (9000, 9000));

        let weeks = weekly_forecast(&open, today, 8);
        let first = &weeks[0];
        assert_eq!(first.week_start, "2026-06-08".parse().unwrap());
        assert_eq!((first.currency.as_str(), first.amount_minor), ("EUR", 900));
        let usd_first = weeks
            .iter()
            .find(|w| w.currency == "USD" && w.week_start == first.week_start)
            .unwrap();
        assert_eq!(
            usd_first.amount_minor, 1700,
            "the overdue one falls in this week; the paused one is not forecast"
        );
    }
}
