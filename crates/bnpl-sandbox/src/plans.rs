//! Plan math, integer only.
//!
//! Rules (contract section 2, Purchase):
//! - installments (cancelled included, late fees excluded) sum to
//!   `captured + interest`; the rounding remainder goes on the first one;
//! - `pay_in_4`: 4 installments due capture date +0/+14/+28/+42 days;
//! - `pay_in_30`: one installment due capture date +30 days;
//! - `financing_N`: N monthly installments, the first one calendar month
//!   after capture (month ends clamp: Jan 31 + 1 month = Feb 28);
//! - a refund cancels whole unpaid installments, last first, while their
//!   sum fits the refund; the rest is credited;
//! - a resumed installment's due date shifts by the pause, rounded up to
//!   whole days.

use chrono::NaiveDate;

use crate::model::{InstState, Installment, Plan};
use crate::time::{add_days, add_months};

/// Simple (add-on) interest over the plan's term, rounded half up:
/// `captured * apr_bps * months / (12 * 10_000)`.
pub(crate) fn interest(plan: Plan, captured: i64, apr_bps: u32) -> i64 {
    match plan {
        Plan::Financing(months) => {
            let num = i128::from(captured) * i128::from(apr_bps) * i128::from(months);
            ((num + 60_000) / 120_000) as i64
        }
        _ => 0,
    }
}

/// Splits `total` into `n` parts, the remainder on the first part.
pub(crate) fn split(total: i64, n: usize) -> Vec<i64> {
    if n == 0 {
        return Vec::new();
    }
    let base = total / n as i64;
    let rem = total - base * n as i64;
    let mut parts = vec![base; n];
    parts[0] += rem;
    parts
}

/// Due dates of a plan captured on `captured_on`.
pub(crate) fn due_dates(plan: Plan, captured_on: NaiveDate) -> Vec<NaiveDate> {
    match plan {
        Plan::PayIn4 => (0..4).map(|k| add_days(captured_on, 14 * k)).collect(),
        Plan::PayIn30 => vec![add_days(captured_on, 30)],
        Plan::Financing(n) => (1..=u32::from(n))
            .map(|k| add_months(captured_on, k))
            .collect(),
    }
}

/// `(seq, due, amount)` of a plan on `total = captured + interest`.
pub(crate) fn schedule(
    plan: Plan,
    total: i64,
    captured_on: NaiveDate,
) -> Vec<(u8, NaiveDate, i64)> {
    let dues = due_dates(plan, captured_on);
    let amounts = split(total, dues.len());
    dues.into_iter()
        .zip(amounts)
        .enumerate()
        .map(|(i, (due, amount))| (i as u8 + 1, due, amount))
        .collect()
}

/// Pauses the scheduled installments (a return was reported).
pub(crate) fn pause(insts: &mut [Installment]) -> usize {
    let mut n = 0;
    for i in insts.iter_mut().filter(|i| i.state == InstState::Scheduled) {
        i.state = InstState::Paused;
        n += 1;
    }
    n
}

/// Resumes paused installments, shifting their due dates by `shift_days`.
pub(crate) fn resume(insts: &mut [Installment], shift_days: i64) -> usize {
    let mut n = 0;
    for i in insts.iter_mut().filter(|i| i.state == InstState::Paused) {
        i.state = InstState::Scheduled;
        i.due = add_days(i.due, shift_days);
        n += 1;
    }
    n
}

/// Cancels whole unpaid installments, last first, while their sum fits
/// `refund`. Returns the cancelled sum; `refund - cancelled` is credited.
pub(crate) fn cancel_for_refund(insts: &mut [Installment], refund: i64) -> i64 {
    let mut cancelled = 0;
    for i in insts.iter_mut().rev() {
        if !i.state.is_unpaid() {
            continue;
        }
        if cancelled + i.amount > refund {
            break;
        }
        cancelled += i.amount;
        i.state = InstState::Cancelled;
    }
    cancelled
}

/// Late fee for an installment reported late.
pub(crate) fn late_fee(amount: i64) -> i64 {
    (amount / 10).clamp(100, 700)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn inst(seq: u8, amount: i64, state: InstState) -> Installment {
        Installment {
            seq,
            due: d(2026, 6, 1),
            amount,
            state,
            paid_at: None,
            late_fee: None,
            pay_delay: 0,
            late_delay: 0,
        }
    }

    #[test]
    fn pay_in_4_matches_contract_example() {
        let s = schedule(Plan::PayIn4, 4999, d(2026, 6, 6));
        let amounts: Vec<i64> = s.iter().map(|x| x.2).collect();
        assert_eq!(amounts, vec![1252, 1249, 1249, 1249]);
        let dues: Vec<NaiveDate> = s.iter().map(|x| x.1).collect();
        assert_eq!(
            dues,
            vec![d(2026, 6, 6), d(2026, 6, 20), d(2026, 7, 4), d(2026, 7, 18)]
        );
        assert_eq!(s.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn pay_in_30_is_one_installment() {
        let s = schedule(Plan::PayIn30, 12345, d(2026, 6, 6));
        assert_eq!(s, vec![(1, d(2026, 7, 6), 12345)]);
    }

    #[test]
    fn financing_is_monthly_from_one_month_after_capture() {
        for n in [6u8, 12, 18, 24] {
            let captured = 150_000;
            let int = interest(Plan::Financing(n), captured, 1999);
            assert!(int > 0);
            let s = schedule(Plan::Financing(n), captured + int, d(2026, 1, 31));
            assert_eq!(s.len(), usize::from(n));
            assert_eq!(s[0].1, d(2026, 2, 28));
            assert_eq!(s[1].1, d(2026, 3, 31));
            assert_eq!(s.iter().map(|x| x.2).sum::<i64>(), captured + int);
            assert!(s[0].2 >= s[1].2);
        }
    }

    #[test]
    fn interest_is_integer_and_rounded_half_up() {
        // 100000 * 1000 bps * 12 months / 120000 = 10000 exactly
        assert_eq!(interest(Plan::Financing(12), 100_000, 1000), 10_000);
        // 10 * 1000 * 6 = 60000 -> exactly 0.5 rounds up; 59994 rounds down.
        assert_eq!(interest(Plan::Financing(6), 10, 1000), 1);
        assert_eq!(interest(Plan::Financing(6), 10, 999), 0);
        assert_eq!(interest(Plan::Financing(6), 10_000, 1000), 500);
        assert_eq!(interest(Plan::PayIn4, 10_000, 1000), 0);
    }

    #[test]
    fn refund_cancels_last_first_while_it_fits() {
        let mut v = vec![
            inst(1, 1252, InstState::Paid),
            inst(2, 1249, InstState::Paused),
            inst(3, 1249, InstState::Paused),
            inst(4, 1249, InstState::Paused),
        ];
        let cancelled = cancel_for_refund(&mut v, 2000);
        assert_eq!(cancelled, 1249);
        assert_eq!(v[3].state, InstState::Cancelled);
        assert_eq!(v[2].state, InstState::Paused);
        let resumed = resume(&mut v, 3);
        assert_eq!(resumed, 2);
        assert_eq!(v[1].due, d(2026, 6, 4));

        let mut v = vec![
            inst(1, 1252, InstState::Paid),
            inst(2, 1249, InstState::Paused),
            inst(3, 1249, InstState::Paused),
            inst(4, 1249, InstState::Paused),
        ];
        let cancelled = cancel_for_refund(&mut v, 4999);
        assert_eq!(cancelled, 3 * 1249);
        assert!(v[1..].iter().all(|i| i.state == InstState::Cancelled));
        assert_eq!(v[0].state, InstState::Paid);
    }

    #[test]
    fn pause_only_touches_scheduled() {
        let mut v = vec![
            inst(1, 10, InstState::Paid),
            inst(2, 10, InstState::Late),
            inst(3, 10, InstState::Scheduled),
        ];
        assert_eq!(pause(&mut v), 1);
        assert_eq!(v[2].state, InstState::Paused);
        assert_eq!(v[1].state, InstState::Late);
    }

    #[test]
    fn split_puts_remainder_first() {
        assert_eq!(split(10, 3), vec![4, 3, 3]);
        assert_eq!(split(9, 3), vec![3, 3, 3]);
        assert!(split(5, 0).is_empty());
    }
}
