//! Each rule is tested under the question an account holder asks about it
//! (Klarna's FAQ, shared/seeds/001).

use proptest::prelude::*;

use super::*;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn states(plan: &[Installment]) -> Vec<ReportedInstallmentState> {
    plan.iter().map(|i| i.reported_state).collect()
}

fn sum(plan: &[Installment]) -> i64 {
    plan.iter().map(|i| i.amount_minor).sum()
}

use ReportedInstallmentState::{Cancelled, Paid, Paused, Scheduled};

#[test]
fn why_was_the_first_installment_of_my_payment_plan_higher() {
    let plan = schedule(PlanKind::PayIn4, 4999, 0, d("2026-06-06"));
    let amounts: Vec<i64> = plan.iter().map(|i| i.amount_minor).collect();
    assert_eq!(amounts, vec![1252, 1249, 1249, 1249]);
}

#[test]
fn where_can_i_find_my_payment_plan() {
    let plan = schedule(PlanKind::PayIn4, 4999, 0, d("2026-06-06"));
    let dates: Vec<String> = plan.iter().map(|i| i.due.to_string()).collect();
    assert_eq!(
        dates,
        ["2026-06-06", "2026-06-20", "2026-07-04", "2026-07-18"]
    );
    assert_eq!(states(&plan), vec![Paid, Scheduled, Scheduled, Scheduled]);
    let thirty = schedule(PlanKind::PayIn30, 2500, 0, d("2026-06-06"));
    assert_eq!((thirty.len(), thirty[0].due), (1, d("2026-07-06")));
    let financing = schedule(
        PlanKind::Financing { months: 6 },
        60_000,
        1_803,
        d("2026-01-31"),
    );
    assert_eq!(financing[0].due, d("2026-02-28"), "month end clamps");
    assert_eq!(financing[5].due, d("2026-07-31"));
    assert_eq!(sum(&financing), 61_803, "financing carries its interest");
}

#[test]
fn if_the_store_only_confirms_part_of_my_order_will_my_payment_plan_be_adjusted() {
    let plan = schedule(PlanKind::PayIn4, 10_000, 0, d("2026-06-06"));
    // The store captures 80.00 of 100.00; the first 25.00 was already paid.
    let replanned = replan_on_capture(&plan, 8_000, 0);
    assert_eq!(sum(&replanned), 8_000);
    assert_eq!(replanned[0].amount_minor, 2_500, "what was paid stays paid");
    assert_eq!(
        replanned[1..]
            .iter()
            .map(|i| i.amount_minor)
            .collect::<Vec<_>>(),
        vec![1_834, 1_833, 1_833]
    );
}

#[test]
fn what_happens_when_i_report_a_return() {
    let plan = schedule(PlanKind::PayIn4, 4999, 0, d("2026-06-06"));
    let paused = pause_for_return(&plan);
    assert_eq!(states(&paused), vec![Paid, Paused, Paused, Paused]);
    assert_eq!(sum(&paused), 4999, "pausing changes no amount");
}

#[test]
fn why_did_i_receive_a_reminder_after_returning_my_order() {
    // A paused installment is neither due nor late, whatever the date.
    let plan = pause_for_return(&schedule(PlanKind::PayIn4, 4999, 0, d("2026-06-06")));
    let long_after = d("2026-09-01");
    for i in &plan[1..] {
        assert_eq!(
            derive_state(i.reported_state, i.due, long_after),
            InstallmentState::Paused
        );
    }
}

#[test]
fn can_i_change_my_return_after_its_been_reported() {
    // Rejected after 10 days and 2 hours: due dates move 11 days (rounded up).
    let plan = pause_for_return(&schedule(PlanKind::PayIn4, 4999, 0, d("2026-06-06")));
    let resumed = resume_after_rejection(&plan, chrono::Duration::hours(10 * 24 + 2));
    assert_eq!(
        states(&resumed),
        vec![Paid, Scheduled, Scheduled, Scheduled]
    );
    assert_eq!(
        resumed[0].due,
        d("2026-06-06"),
        "a paid installment does not move"
    );
    assert_eq!(resumed[1].due, d("2026-07-01"));
    assert_eq!(sum(&resumed), 4999);
}

#[test]
fn when_will_i_receive_my_refunds_in_my_klarna_balance() {
    // Refund 30.00 on a 49.99 plan with 12.52 paid: the last two installments
    // (24.98) are cancelled, the remaining 5.02 is credited; no money twice.
    let plan = schedule(PlanKind::PayIn4, 4999, 0, d("2026-06-06"));
    let (after, credited) = apply_refund(&plan, 3_000);
    assert_eq!(states(&after), vec![Paid, Scheduled, Cancelled, Cancelled]);
    assert_eq!(credited, 502);
    assert_eq!(outstanding(&after), 1249);
    assert_eq!(
        sum(&after),
        4999,
        "cancelled installments still count in the plan total"
    );
}

#[test]
fn why_was_i_charged_a_late_fee() {
    let mut plan = schedule(PlanKind::PayIn4, 4999, 0, d("2026-06-06"));
    plan[1].reported_state = ReportedInstallmentState::Late;
    plan[1].late_fee_minor = 700;
    assert_eq!(outstanding(&plan), 1249 * 3 + 700, "fees are owed on top");
    assert_eq!(sum(&plan), 4999, "fees never count towards the plan total");
}

#[test]
fn how_can_i_avoid_late_fees() {
    // Due on its date, late only once the grace period passed unreported.
    let due = d("2026-06-20");
    let s = ReportedInstallmentState::Scheduled;
    assert_eq!(
        derive_state(s, due, d("2026-06-19")),
        InstallmentState::Scheduled
    );
    assert_eq!(derive_state(s, due, d("2026-06-20")), InstallmentState::Due);
    assert_eq!(derive_state(s, due, d("2026-06-27")), InstallmentState::Due);
    assert_eq!(
        derive_state(s, due, d("2026-06-28")),
        InstallmentState::Late
    );
    assert_eq!(
        derive_state_with_grace(s, due, d("2026-06-21"), 0),
        InstallmentState::Late
    );
}

#[test]
fn no_transition_leaves_paid_or_cancelled() {
    use Event::*;
    for event in [
        DueDateReached,
        GraceExpired,
        Paid,
        ReportedLate,
        ReturnReported,
        ReturnRejected,
        Cancelled,
    ] {
        assert!(transition(InstallmentState::Paid, event).is_err());
        assert!(transition(InstallmentState::Cancelled, event).is_err());
    }
    assert_eq!(
        transition(InstallmentState::Scheduled, DueDateReached),
        Ok(InstallmentState::Due)
    );
    assert_eq!(
        transition(InstallmentState::Paused, ReturnRejected),
        Ok(InstallmentState::Scheduled)
    );
    assert!(transition(InstallmentState::Scheduled, ReturnRejected).is_err());
}

fn plan_kind() -> impl Strategy<Value = PlanKind> {
    prop_oneof![
        Just(PlanKind::PayIn4),
        Just(PlanKind::PayIn30),
        prop::sample::select(PlanKind::FINANCING_TERMS.to_vec())
            .prop_map(|months| PlanKind::Financing { months }),
    ]
}

fn capture_date() -> impl Strategy<Value = NaiveDate> {
    (0u64..3650).prop_map(|days| d("2020-01-01") + Days::new(days))
}

proptest! {
    #[test]
    fn installments_sum_to_the_captured_amount_plus_interest(
        kind in plan_kind(), captured in 1i64..10_000_000, interest in 0i64..1_000_000, date in capture_date()
    ) {
        let interest = if matches!(kind, PlanKind::Financing { .. }) { interest } else { 0 };
        let plan = schedule(kind, captured, interest, date);
        prop_assert_eq!(plan.len() as u32, kind.installment_count());
        prop_assert_eq!(sum(&plan), captured + interest);
        // The remainder is on the first and is smaller than the installment count.
        let first = plan[0].amount_minor;
        prop_assert!(plan.iter().skip(1).all(|i| i.amount_minor <= first && first - i.amount_minor < plan.len() as i64));
        prop_assert!(plan.windows(2).all(|w| w[0].due < w[1].due));
    }

    #[test]
    fn a_pause_then_resume_keeps_the_total(
        kind in plan_kind(), captured in 1i64..10_000_000, date in capture_date(), hours in 0i64..2_000
    ) {
        let plan = schedule(kind, captured, 0, date);
        let resumed = resume_after_rejection(&pause_for_return(&plan), chrono::Duration::hours(hours));
        prop_assert_eq!(sum(&resumed), sum(&plan));
        prop_assert_eq!(outstanding(&resumed), outstanding(&plan));
        prop_assert!(resumed.iter().zip(&plan).all(|(r, p)| r.due >= p.due));
    }

    #[test]
    fn a_refund_is_counted_once(
        kind in plan_kind(), captured in 1i64..10_000_000, date in capture_date(), share in 0i64..=100
    ) {
        let plan = schedule(kind, captured, 0, date);
        let refund = captured * share / 100;
        let (after, credited) = apply_refund(&plan, refund);
        let cancelled: i64 = after.iter().filter(|i| i.reported_state == Cancelled).map(|i| i.amount_minor).sum();
        prop_assert_eq!(cancelled + credited, refund);
        prop_assert!(credited >= 0);
        prop_assert_eq!(sum(&after), sum(&plan));
    }

    #[test]
    fn paid_is_final(event_index in 0usize..7) {
        use Event::*;
        let events = [DueDateReached, GraceExpired, Paid, ReportedLate, ReturnReported, ReturnRejected, Cancelled];
        prop_assert!(transition(InstallmentState::Paid, events[event_index]).is_err());
    }

    #[test]
    fn a_partial_capture_replans_to_the_captured_total(
        kind in plan_kind(), amount in 100i64..10_000_000, share in 1i64..=100, date in capture_date()
    ) {
        let plan = schedule(kind, amount, 0, date);
        let paid: i64 = plan.iter().filter(|i| i.reported_state == Paid).map(|i| i.amount_minor).sum();
        let captured = (amount * share / 100).max(paid);
        let replanned = replan_on_capture(&plan, captured, 0);
        prop_assert_eq!(sum(&replanned), captured);
    }
}
