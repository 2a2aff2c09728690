//! A purchase's own lifecycle: capture and plan, installments collected or
//! reported late, returns (pause, refund or reject), disputes, closing.
//! Pure functions of the purchase and the time; side effects on the other
//! streams are reported back as `Effects` for the account to apply.

use rand::Rng;

use crate::ids::return_id;
use crate::model::{
    AuthOutcome, Dispute, DisputePlan, DisputeState, InstState, Installment, OrderStatus, Plan,
    Purchase, Return, ReturnPlan, ReturnState,
};
use crate::plans;
use crate::time::{DAY, Ts, at_hour, ceil_days, date_of};

/// Hour of day (UTC) at which due installments are collected.
const COLLECT_HOUR: u32 = 10;

/// Side effects of a purchase step on the account's other streams.
#[derive(Default)]
pub(crate) struct Effects {
    pub captured: Option<i64>,
    /// Amounts collected (installment plus late fee).
    pub paid: Vec<i64>,
    pub late: usize,
    /// `(refund amount, part credited rather than cancelled)`.
    pub refund: Option<(i64, i64)>,
}

fn collect_at(i: &Installment) -> Ts {
    at_hour(i.due, COLLECT_HOUR)
}

/// When the provider next reports on this installment, if it will.
fn installment_event(i: &Installment) -> Option<Ts> {
    let due = collect_at(i);
    match i.state {
        InstState::Scheduled if i.late_delay > 0 => Some(due + i64::from(i.late_delay) * DAY),
        InstState::Scheduled | InstState::Late => Some(due + i64::from(i.pay_delay) * DAY),
        _ => None,
    }
}

/// The time of the purchase's next scripted step.
pub(crate) fn next_event(p: &Purchase) -> Option<Ts> {
    match p.status {
        OrderStatus::Authorized => return Some(p.script.auth_at),
        OrderStatus::Cancelled | OrderStatus::Expired => return None,
        _ => {}
    }
    let mut next = p.installments.iter().filter_map(installment_event).min();
    let mut consider = |t: Ts| next = Some(next.map_or(t, |n| n.min(t)));
    if let Some(plan) = p.script.ret {
        match p.ret.map(|r| r.state) {
            None => consider(plan.report_at),
            Some(ReturnState::Reported) => consider(plan.register_at),
            Some(ReturnState::Registered) => consider(plan.resolve_at),
            _ => {}
        }
    }
    if let Some(plan) = p.script.dispute {
        match p.dispute.map(|d| d.state) {
            None => consider(plan.open_at),
            Some(DisputeState::Opened) => consider(plan.resolve_at),
            _ => {}
        }
    }
    next
}

/// Applies every step of the purchase due at or before `t`.
pub(crate) fn evolve_purchase(
    p: &mut Purchase,
    t: Ts,
    rng: &mut impl Rng,
    fx: &mut Effects,
) -> bool {
    let mut changed = false;
    if p.status == OrderStatus::Authorized {
        if p.script.auth_at > t {
            return false;
        }
        changed = true;
        match p.script.auth {
            AuthOutcome::Capture(amount) => {
                capture(p, amount, t, rng);
                fx.captured = Some(amount);
                if p.plan == Plan::PayIn4 {
                    fx.paid.extend(p.installments.first().map(|i| i.amount));
                }
            }
            AuthOutcome::Cancel => p.status = OrderStatus::Cancelled,
            AuthOutcome::Expire => p.status = OrderStatus::Expired,
        }
    }
    if !p.status.has_plan() {
        return changed;
    }
    if let Some(plan) = p.script.ret {
        changed |= step_return(p, &plan, t, fx);
    }
    if let Some(plan) = p.script.dispute {
        changed |= step_dispute(p, &plan, t);
    }
    changed |= step_installments(p, t, fx);
    if can_close(p) {
        p.status = OrderStatus::Closed;
        changed = true;
    }
    changed
}

fn capture(p: &mut Purchase, amount: i64, t: Ts, rng: &mut impl Rng) {
    p.captured = amount;
    p.status = if amount < p.amount {
        OrderStatus::PartCaptured
    } else {
        OrderStatus::Captured
    };
    p.interest = plans::interest(p.plan, amount, p.apr_bps);
    p.installments = plans::schedule(p.plan, amount + p.interest, date_of(t))
        .into_iter()
        .map(|(seq, due, amount)| {
            let (late_delay, pay_delay) = if rng.random_range(0..100) < 7 {
                let l: u8 = rng.random_range(3..=5);
                (l, l + rng.random_range(4..=15))
            } else if rng.random_range(0..100) < 80 {
                (0, 0)
            } else {
                (0, rng.random_range(1..=2))
            };
            Installment {
                seq,
                due,
                amount,
                state: InstState::Scheduled,
                paid_at: None,
                late_fee: None,
                pay_delay,
                late_delay,
            }
        })
        .collect();
    if let Some(i) = p.installments.first_mut() {
        if p.script.force_late_first {
            i.late_delay = 3;
            i.pay_delay = 30;
        }
        if p.plan == Plan::PayIn4 {
            // The first pay-in-4 installment is collected at capture.
            i.state = InstState::Paid;
            i.paid_at = Some(t);
        }
    }
}

fn step_return(p: &mut Purchase, plan: &ReturnPlan, t: Ts, fx: &mut Effects) -> bool {
    let mut changed = false;
    if p.ret.is_none() && plan.report_at <= t {
        p.ret = Some(Return {
            id: return_id(p.id),
            reported_at: t,
            state: ReturnState::Reported,
            amount: plan.amount.min(p.captured - p.refunded).max(0),
        });
        plans::pause(&mut p.installments);
        changed = true;
    }
    let Some(mut r) = p.ret else {
        return changed;
    };
    if r.state == ReturnState::Reported && plan.register_at <= t {
        r.state = ReturnState::Registered;
        changed = true;
    }
    if r.state == ReturnState::Registered && plan.resolve_at <= t {
        let shift = ceil_days(r.reported_at, t);
        if plan.refund {
            let cancelled = plans::cancel_for_refund(&mut p.installments, r.amount);
            plans::resume(&mut p.installments, shift);
            p.refunded += r.amount;
            p.status = if p.refunded >= p.captured {
                OrderStatus::Refunded
            } else {
                OrderStatus::PartRefunded
            };
            r.state = ReturnState::Refunded;
            fx.refund = Some((r.amount, r.amount - cancelled));
        } else {
            plans::resume(&mut p.installments, shift);
            r.state = ReturnState::Rejected;
        }
        changed = true;
    }
    p.ret = Some(r);
    changed
}

fn step_dispute(p: &mut Purchase, plan: &DisputePlan, t: Ts) -> bool {
    let mut changed = false;
    if p.dispute.is_none() && plan.open_at <= t {
        p.dispute = Some(Dispute {
            state: DisputeState::Opened,
            opened_at: t,
        });
        changed = true;
    }
    if let Some(d) = p.dispute.as_mut()
        && d.state == DisputeState::Opened
        && plan.resolve_at <= t
    {
        d.state = if plan.won {
            DisputeState::Won
        } else {
            DisputeState::Lost
        };
        changed = true;
    }
    changed
}

fn step_installments(p: &mut Purchase, t: Ts, fx: &mut Effects) -> bool {
    let mut changed = false;
    for i in p.installments.iter_mut() {
        let due = collect_at(i);
        if i.state == InstState::Scheduled {
            if i.late_delay > 0 {
                if due + i64::from(i.late_delay) * DAY <= t {
                    i.state = InstState::Late;
                    i.late_fee = Some(plans::late_fee(i.amount));
                    fx.late += 1;
                    changed = true;
                }
            } else if due + i64::from(i.pay_delay) * DAY <= t {
                i.state = InstState::Paid;
                i.paid_at = Some(t);
                fx.paid.push(i.amount);
                changed = true;
            }
        }
        if i.state == InstState::Late && due + i64::from(i.pay_delay) * DAY <= t {
            i.state = InstState::Paid;
            i.paid_at = Some(t);
            fx.paid.push(i.amount + i.late_fee.unwrap_or(0));
            changed = true;
        }
    }
    changed
}

/// Fully captured or part captured, every installment settled, nothing
/// scripted still pending: the order is closed.
fn can_close(p: &Purchase) -> bool {
    matches!(p.status, OrderStatus::Captured | OrderStatus::PartCaptured)
        && !p.installments.is_empty()
        && p.installments
            .iter()
            .all(|i| matches!(i.state, InstState::Paid | InstState::Cancelled))
        && p.script.ret.is_none_or(|_| {
            p.ret
                .is_some_and(|r| matches!(r.state, ReturnState::Rejected | ReturnState::Refunded))
        })
        && p.script
            .dispute
            .is_none_or(|_| p.dispute.is_some_and(|d| d.state != DisputeState::Opened))
}
