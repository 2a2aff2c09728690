//! The installment lifecycle: plan schedules, the state machine, and what a
//! partial capture, a return, a refund or a rejected return does to a plan.
//! Pure: the clock is an argument, nothing here does I/O.
//!
//! States (`InstallmentState`):
//!
//! ```text
//!            due date reached             paid
//! scheduled ─────────────────▶ due ─────────────────▶ paid
//!     │   ╲                     │  ╲ past grace, or
//!     │    ╲ return reported    │   ╲ reported late
//!     │     ▼                   │    ▼
//!     │   paused ◀──────────────┘   late ──────▶ paid
//!     │     │  return rejected: back to scheduled/due, dates shifted
//!     │     │  refund: cancelled (whole installments, last first)
//!     ▼     ▼
//!   cancelled
//! ```
//! `paid` and `cancelled` are final: no transition leaves them.

use chrono::{Datelike, Days, Months, NaiveDate};

use crate::model::{Installment, InstallmentState, PlanKind, ReportedInstallmentState};

/// Days after the due date during which an unpaid installment is `due`, not
/// yet `late`, when the provider has not reported either.
pub const DEFAULT_GRACE_DAYS: u64 = 7;

/// The state the mirror shows, from the provider's report and the mirror's
/// clock: `due` once the due date is reached and nothing was reported;
/// `late` once the grace period passed too (or the provider said so).
pub fn derive_state_with_grace(
    reported: ReportedInstallmentState,
    due: NaiveDate,
    today: NaiveDate,
    grace_days: u64,
) -> InstallmentState {
    match reported {
        ReportedInstallmentState::Scheduled if due + Days::new(grace_days) < today => {
            InstallmentState::Late
        }
        ReportedInstallmentState::Scheduled if due <= today => InstallmentState::Due,
        ReportedInstallmentState::Scheduled => InstallmentState::Scheduled,
        ReportedInstallmentState::Paid => InstallmentState::Paid,
        ReportedInstallmentState::Late => InstallmentState::Late,
        ReportedInstallmentState::Paused => InstallmentState::Paused,
        ReportedInstallmentState::Cancelled => InstallmentState::Cancelled,
    }
}

/// [`derive_state_with_grace`] with the default grace period.
pub fn derive_state(
    reported: ReportedInstallmentState,
    due: NaiveDate,
    today: NaiveDate,
) -> InstallmentState {
    derive_state_with_grace(reported, due, today, DEFAULT_GRACE_DAYS)
}

/// Whether money is still owed on an installment in this state.
pub fn is_open(state: InstallmentState) -> bool {
    matches!(
        state,
        InstallmentState::Scheduled
            | InstallmentState::Due
            | InstallmentState::Late
            | InstallmentState::Paused
    )
}

/// What happens to one installment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    DueDateReached,
    GraceExpired,
    Paid,
    ReportedLate,
    ReturnReported,
    /// The return was rejected: the installment owes again.
    ReturnRejected,
    /// A refund covers this installment.
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an installment that is {from} cannot take {event:?}")]
pub struct InvalidTransition {
    pub from: InstallmentState,
    pub event: Event,
}

/// The state machine. `paid` and `cancelled` are final.
pub fn transition(
    from: InstallmentState,
    event: Event,
) -> Result<InstallmentState, InvalidTransition> {
    use Event as E;
    use InstallmentState as S;
    let to = match (from, event) {
        (S::Paid | S::Cancelled, _) => None,
        (S::Scheduled, E::DueDateReached) => Some(S::Due),
        (S::Due, E::GraceExpired) | (S::Scheduled | S::Due, E::ReportedLate) => Some(S::Late),
        (S::Scheduled | S::Due | S::Late, E::Paid) => Some(S::Paid),
        (S::Scheduled | S::Due | S::Late, E::ReturnReported) => Some(S::Paused),
        (S::Paused, E::ReturnRejected) => Some(S::Scheduled),
        (S::Scheduled | S::Due | S::Late | S::Paused, E::Cancelled) => Some(S::Cancelled),
        _ => None,
    };
    to.ok_or(InvalidTransition { from, event })
}

/// Splits `total` into `n` installments; the rounding remainder goes on the
/// first ("Why was the first installment of my payment plan higher?").
pub fn split_amount(total: i64, n: u32) -> Vec<i64> {
    if n == 0 {
        return Vec::new();
    }
    let n64 = i64::from(n);
    let base = total.div_euclid(n64);
    let remainder = total - base * n64;
    (0..n)
        .map(|i| if i == 0 { base + remainder } else { base })
        .collect()
}

/// Due dates of a plan captured on `capture`: pay in 4 at capture and every
/// 14 days; pay in 30 at +30 days; financing monthly from one month after.
pub fn due_dates(kind: PlanKind, capture: NaiveDate) -> Vec<NaiveDate> {
    match kind {
        PlanKind::PayIn4 => (0..4).map(|i| capture + Days::new(14 * i)).collect(),
        PlanKind::PayIn30 => vec![capture + Days::new(30)],
        PlanKind::Financing { months } => (1..=u32::from(months))
            .map(|m| add_months(capture, m))
            .collect(),
    }
}

fn add_months(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_add_months(Months::new(months))
        // checked_add_months clamps to the month's last day; it fails only past year 262143.
        .unwrap_or_else(|| NaiveDate::from_ymd_opt(date.year(), 12, 31).unwrap_or(date))
}

/// The schedule of a plan on `captured + interest`: what the provider should
/// report right after capture (pay in 4 collects the first at capture).
pub fn schedule(
    kind: PlanKind,
    captured_minor: i64,
    interest_minor: i64,
    capture: NaiveDate,
) -> Vec<Installment> {
    let dates = due_dates(kind, capture);
    split_amount(captured_minor + interest_minor, dates.len() as u32)
        .into_iter()
        .zip(dates)
        .enumerate()
        .map(|(i, (amount_minor, due))| Installment {
            seq: i as u32 + 1,
            due,
            amount_minor,
            reported_state: if kind == PlanKind::PayIn4 && i == 0 {
                ReportedInstallmentState::Paid
            } else {
                ReportedInstallmentState::Scheduled
            },
            paid_at: None,
            late_fee_minor: 0,
        })
        .collect()
}

/// A partial capture re-plans on the captured amount, keeping what was paid
/// ("If the store only confirms part of my order will my payment plan be adjusted?").
/// Unpaid installments are re-split so the plan sums to `captured + interest`.
pub fn replan_on_capture(
    installments: &[Installment],
    captured_minor: i64,
    interest_minor: i64,
) -> Vec<Installment> {
    let paid: i64 = installments
        .iter()
        .filter(|i| i.reported_state == ReportedInstallmentState::Paid)
        .map(|i| i.amount_minor)
        .sum();
    let unpaid: Vec<&Installment> = installments
        .iter()
        .filter(|i| i.reported_state != ReportedInstallmentState::Paid)
        .collect();
    let amounts = split_amount(captured_minor + interest_minor - paid, unpaid.len() as u32);
    let mut amounts = amounts.into_iter();
    installments
        .iter()
        .map(|i| {
            let mut i = i.clone();
            if i.reported_state != ReportedInstallmentState::Paid {
                i.amount_minor = amounts.next().unwrap_or(0);
            }
            i
        })
        .collect()
}

fn unpaid(i: &Installment) -> bool {
    matches!(
        i.reported_state,
        ReportedInstallmentState::Scheduled
            | ReportedInstallmentState::Late
            | ReportedInstallmentState::Paused
    )
}

/// Reporting a return pauses every unpaid installment ("What happens when I report a return?").
pub fn pause_for_return(installments: &[Installment]) -> Vec<Installment> {
    installments
        .iter()
        .map(|i| {
            let mut i = i.clone();
            if unpaid(&i) {
                i.reported_state = ReportedInstallmentState::Paused;
            }
            i
        })
        .collect()
}

/// A rejected return resumes the paused installments with their due dates
/// shifted by the pause, rounded up to whole days
/// ("Can I change my return after it's been reported?").
pub fn resume_after_rejection(
    installments: &[Installment],
    paused_for: chrono::Duration,
) -> Vec<Installment> {
    let seconds = paused_for.num_seconds().max(0) as u64;
    let shift = Days::new(seconds.div_ceil(86_400));
    installments
        .iter()
        .map(|i| {
            let mut i = i.clone();
            if i.reported_state == ReportedInstallmentState::Paused {
                i.reported_state = ReportedInstallmentState::Scheduled;
                i.due = i.due + shift;
            }
            i
        })
        .collect()
}

/// A refund cancels whole unpaid installments, last first, while their sum
/// fits the refund; the rest of the refund is credited (to the balance when
/// the holder chose refunds to balance). One movement of money: what is
/// cancelled is not also credited. Returns the new plan and the credit.
pub fn apply_refund(installments: &[Installment], refund_minor: i64) -> (Vec<Installment>, i64) {
    let mut out = installments.to_vec();
    let mut left = refund_minor;
    for i in out.iter_mut().rev() {
        if unpaid(i) && i.amount_minor <= left {
            left -= i.amount_minor;
            i.reported_state = ReportedInstallmentState::Cancelled;
        } else if unpaid(i) {
            break;
        }
    }
    (out, left)
}

/// Owed on the plan now: unpaid installments plus their late fees.
pub fn outstanding(installments: &[Installment]) -> i64 {
    installments
        .iter()
        .filter(|i| unpaid(i))
        .map(|i| i.amount_minor + i.late_fee_minor)
        .sum()
}

#[cfg(test)]
mod tests;
