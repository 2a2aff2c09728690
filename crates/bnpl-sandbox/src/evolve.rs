//! The event engine: how an account changes as the sandbox clock moves.
//!
//! Every account keeps an agenda of future events (purchase steps, card
//! settlements, delivery scans, balance and rewards timers). Moving the
//! clock pops the events up to the new time in `(time, insertion)` order,
//! so the outcome only depends on the seed and the times reached. Every
//! change stamps the row's `updated_at` with the simulated time of the
//! change and re-positions it in its change feed.

use rand::Rng;

use crate::AdvanceSummary;
use crate::account::{Account, Ev, Timer};
use crate::catalog::{CARRIERS, Settle, merchant};
use crate::data::{PurchaseSpec, card_merchants, price, random_spec};
use crate::feed::Stream;
use crate::ids::IdKind;
use crate::lifecycle::{Effects, evolve_purchase, next_event};
use crate::model::{
    AuthOutcome, BalanceKind, CardKind, CardStatus, CardStep, CardTx, Delivery, DeliveryStatus,
    OrderStatus, PointsKind, Purchase,
};
use crate::time::{DAY, HOUR, Ts, add_days, date_of, next_month_start};

#[derive(Default, Debug)]
pub(crate) struct Tally {
    pub installments_paid: usize,
    pub installments_late: usize,
}

use DeliveryStatus::{Delivered, Exception, InTransit, LabelCreated, OutForDelivery, Returned};

/// The status sequences a shipment can go through.
pub(crate) const ROUTES: [&[DeliveryStatus]; 3] = [
    &[LabelCreated, InTransit, OutForDelivery, Delivered],
    &[
        LabelCreated,
        InTransit,
        Exception,
        InTransit,
        OutForDelivery,
        Delivered,
    ],
    &[LabelCreated, InTransit, Exception, Returned],
];

/// Points needed before they are redeemed into the balance.
const REDEEM_MIN: i64 = 200;
/// Yearly interest on the balance, in basis points.
const BALANCE_APY_BPS: i64 = 350;

impl Account {
    /// Applies every event up to `until`, then re-positions changed rows.
    pub(crate) fn run_until(&mut self, until: Ts, tally: &mut Tally) {
        self.run_events(until, tally);
        self.flush();
    }

    /// `run_until` plus a summary of what changed.
    pub(crate) fn advance_to(&mut self, until: Ts) -> AdvanceSummary {
        let before = (
            self.purchases.len(),
            self.balance_entries.len(),
            self.points_entries.len(),
        );
        let mut tally = Tally::default();
        self.run_events(until, &mut tally);
        for d in self.dirty.iter_mut() {
            d.sort_unstable();
            d.dedup();
        }
        let summary = AdvanceSummary {
            purchases_changed: self.dirty[Stream::Purchases as usize]
                .iter()
                .filter(|&&i| (i as usize) < before.0)
                .count(),
            new_purchases: self.purchases.len() - before.0,
            installments_paid: tally.installments_paid,
            installments_late: tally.installments_late,
            card_transactions: self.dirty[Stream::Card as usize].len(),
            balance_entries: self.balance_entries.len() - before.1,
            points_entries: self.points_entries.len() - before.2,
            deliveries_changed: self.dirty[Stream::Deliveries as usize].len(),
        };
        self.flush();
        summary
    }

    fn run_events(&mut self, until: Ts, tally: &mut Tally) {
        while self.agenda.peek().is_some_and(|top| top.0.at <= until) {
            let Some(std::cmp::Reverse(a)) = self.agenda.pop() else {
                break;
            };
            match a.ev {
                Ev::Create(j) => {
                    if let Some(spec) = self.pending.get_mut(j as usize).and_then(Option::take) {
                        self.add_purchase(spec, a.at);
                    }
                }
                Ev::Purchase(i) => self.step_purchase(i as usize, a.at, tally),
                Ev::Delivery(i) => self.step_delivery(i as usize, a.at),
                Ev::Card(i) => self.step_card(i as usize, a.at),
                Ev::Timer(t) => self.on_timer(t, a.at),
            }
        }
    }

    fn add_purchase(&mut self, spec: PurchaseSpec, t: Ts) {
        let id = self.next_id(IdKind::Purchase);
        let amount = spec.amount();
        self.purchases.push(Purchase {
            id,
            merchant: spec.merchant,
            amount,
            created_at: t,
            status: OrderStatus::Authorized,
            captured: 0,
            refunded: 0,
            plan: spec.plan,
            apr_bps: spec.apr_bps,
            interest: 0,
            items: spec.items,
            installments: Vec::new(),
            ret: None,
            dispute: None,
            updated_at: t,
            seq: 0,
            script: spec.script,
            earned_points: 0,
        });
        let pi = self.purchases.len() - 1;
        self.mark(Stream::Purchases, pi);
        let auth_at = spec.script.auth_at.max(t);
        if spec.card_linked {
            let step = match spec.script.auth {
                AuthOutcome::Capture(amount) => CardStep::Settle {
                    amount,
                    refund: None,
                },
                _ => CardStep::Reverse,
            };
            let auth_id = self.next_id(IdKind::Auth);
            let id = self.next_id(IdKind::Card);
            let ci = self.push_card(CardTx {
                id,
                auth_id,
                kind: CardKind::Authorization,
                status: CardStatus::Pending,
                amount,
                merchant: spec.merchant,
                occurred_at: t,
                updated_at: t,
                seq: 0,
                pending: Some(step),
            });
            self.schedule(auth_at, Ev::Card(ci as u32));
        }
        self.schedule(auth_at, Ev::Purchase(pi as u32));
    }

    fn step_purchase(&mut self, pi: usize, t: Ts, tally: &mut Tally) {
        let mut fx = Effects {
            paid: std::mem::take(&mut self.scratch),
            ..Effects::default()
        };
        let changed = evolve_purchase(&mut self.purchases[pi], t, &mut self.rng, &mut fx);
        tally.installments_paid += fx.paid.len();
        tally.installments_late += fx.late;
        let (pid, midx) = (self.purchases[pi].id, self.purchases[pi].merchant);
        if let Some(captured) = fx.captured {
            let m = merchant(midx);
            let pts = captured * m.cashback_pct / 100;
            if pts > 0 {
                self.add_points(PointsKind::Earned, pts, Some(pid), t);
                self.purchases[pi].earned_points = pts;
            }
            if m.physical {
                self.create_delivery(pid, t);
            }
        }
        for &amount in &fx.paid {
            if self.balance >= amount && self.rng.random_ratio(1, 3) {
                self.add_balance(BalanceKind::InstallmentPayment, -amount, Some(pid), t);
            }
        }
        fx.paid.clear();
        self.scratch = fx.paid;
        if let Some((amount, credited)) = fx.refund {
            if credited > 0 && self.profile.refunds_to_balance {
                self.add_balance(BalanceKind::Refund, credited, Some(pid), t);
            }
            let p = &self.purchases[pi];
            if p.earned_points > 0 && p.captured > 0 {
                let rev = i128::from(p.earned_points) * i128::from(amount) / i128::from(p.captured);
                let rev = (rev as i64).min(self.points);
                if rev > 0 {
                    self.add_points(PointsKind::Reversed, -rev, Some(pid), t);
                }
            }
        }
        if changed {
            self.purchases[pi].updated_at = t;
            self.mark(Stream::Purchases, pi);
        }
        if let Some(next) = next_event(&self.purchases[pi]) {
            // Everything due at or before `t` was applied above.
            self.schedule(next.max(t + 1), Ev::Purchase(pi as u32));
        }
    }

    fn create_delivery(&mut self, purchase_id: u64, t: Ts) {
        let id = self.next_id(IdKind::Delivery);
        let r = &mut self.rng;
        let carrier = r.random_range(0..CARRIERS.len()) as u8;
        let eta_from = add_days(date_of(t), r.random_range(3..=4));
        let eta_to = add_days(eta_from, r.random_range(1..=3));
        let route = match r.random_range(0..100) {
            0..=84 => 0,
            85..=94 => 1,
            _ => 2,
        };
        let delay = transit_delay(r, LabelCreated, InTransit);
        self.deliveries.push(Delivery {
            id,
            purchase_id,
            carrier,
            status: LabelCreated,
            eta_from,
            eta_to,
            updated_at: t,
            seq: 0,
            route,
            step: 0,
        });
        let di = self.deliveries.len() - 1;
        self.mark(Stream::Deliveries, di);
        self.schedule(t + delay, Ev::Delivery(di as u32));
    }

    fn step_delivery(&mut self, di: usize, t: Ts) {
        let d = &mut self.deliveries[di];
        let route = ROUTES[usize::from(d.route) % ROUTES.len()];
        let step = usize::from(d.step) + 1;
        let Some(&status) = route.get(step) else {
            return;
        };
        d.status = status;
        d.step = step as u8;
        d.updated_at = t;
        if status == Exception {
            d.eta_from = add_days(d.eta_from, 3);
            d.eta_to = add_days(d.eta_to, 3);
        }
        self.mark(Stream::Deliveries, di);
        if let Some(&next) = route.get(step + 1) {
            let delay = transit_delay(&mut self.rng, status, next);
            self.schedule(t + delay, Ev::Delivery(di as u32));
        }
    }

    fn step_card(&mut self, ci: usize, t: Ts) {
        let Some(step) = self.card[ci].pending.take() else {
            return;
        };
        let (auth_id, midx, auth_amount) = {
            let c = &self.card[ci];
            (c.auth_id, c.merchant, c.amount)
        };
        let row = |id, kind, amount, pending| CardTx {
            id,
            auth_id,
            kind,
            status: CardStatus::Posted,
            amount,
            merchant: midx,
            occurred_at: t,
            updated_at: t,
            seq: 0,
            pending,
        };
        match step {
            CardStep::Settle { amount, refund } => {
                self.card[ci].status = CardStatus::Posted;
                self.card[ci].updated_at = t;
                self.mark(Stream::Card, ci);
                let id = self.next_id(IdKind::Card);
                let si = self.push_card(row(
                    id,
                    CardKind::Settlement,
                    amount,
                    refund.map(CardStep::Refund),
                ));
                if refund.is_some() {
                    let at = t + self.rng.random_range(3 * DAY..15 * DAY);
                    self.schedule(at, Ev::Card(si as u32));
                }
            }
            CardStep::Reverse => {
                self.card[ci].status = CardStatus::Reversed;
                self.card[ci].updated_at = t;
                self.mark(Stream::Card, ci);
                let id = self.next_id(IdKind::Card);
                self.push_card(row(id, CardKind::Reversal, auth_amount, None));
            }
            CardStep::Refund(amount) => {
                let id = self.next_id(IdKind::Card);
                self.push_card(row(id, CardKind::Refund, amount, None));
            }
        }
    }

    fn on_timer(&mut self, timer: Timer, t: Ts) {
        let next = match timer {
            Timer::TopUp => {
                let amount = self.rng.random_range(20..=300) * 100;
                self.add_balance(BalanceKind::TopUp, amount, None, t);
                t + self.rng.random_range(12 * DAY..30 * DAY)
            }
            Timer::Withdrawal => {
                let w = (self.balance / 3) / 100 * 100;
                if self.balance >= 5_000 && w > 0 {
                    self.add_balance(BalanceKind::Withdrawal, -w, None, t);
                }
                t + self.rng.random_range(25 * DAY..60 * DAY)
            }
            Timer::CardSwipe => {
                self.card_swipe(t);
                t + self.rng.random_range(4 * DAY..12 * DAY)
            }
            Timer::NewPurchase => {
                let spec = random_spec(&mut self.rng, t);
                self.add_purchase(spec, t);
                t + self.rng.random_range(3 * DAY..10 * DAY)
            }
            Timer::Redeem => {
                if self.points >= REDEEM_MIN {
                    let amount = self.points / 100 * 100;
                    let pe = self.next_id(IdKind::Points);
                    let be = self.next_id(IdKind::Balance);
                    self.push_points(pe, PointsKind::Redeemed, -amount, None, Some(be), t);
                    self.push_balance(be, BalanceKind::CashbackCredit, amount, None, Some(pe), t);
                }
                t + self.rng.random_range(25 * DAY..50 * DAY)
            }
            Timer::Expire => {
                if self.points > 0 {
                    let e = self.points.min(self.rng.random_range(25..=250));
                    self.add_points(PointsKind::Expired, -e, None, t);
                }
                t + self.rng.random_range(60 * DAY..100 * DAY)
            }
            Timer::Interest => {
                let i = self.balance * BALANCE_APY_BPS / 120_000;
                if i > 0 {
                    self.add_balance(BalanceKind::Interest, i, None, t);
                }
                next_month_start(t)
            }
            Timer::PendingSwipe => {
                self.card_swipe(t);
                return;
            }
        };
        self.schedule(next, Ev::Timer(timer));
    }

    /// A card authorisation; the first swipes of an account are scripted so
    /// every account shows a tipped settlement, a reversal and a refund.
    fn card_swipe(&mut self, t: Ts) {
        self.swipes += 1;
        let nth = self.swipes;
        let pool = card_merchants();
        let pick = |settle: Settle| pool.iter().copied().find(|&i| merchant(i).settle == settle);
        let midx = match nth {
            1 => pick(Settle::Tip),
            2 | 3 => pick(Settle::Exact),
            _ => None,
        }
        .unwrap_or_else(|| pool[self.rng.random_range(0..pool.len())]);
        let m = merchant(midx);
        let spec = &m.items[0];
        let r = &mut self.rng;
        let (auth, settle) = match m.settle {
            Settle::Exact => {
                let a = price(r, spec.min, spec.max);
                (a, a)
            }
            Settle::Tip => {
                let a = price(r, spec.min, spec.max);
                (a, a + a * r.random_range(15..=22) / 100)
            }
            Settle::FuelHold => (10_000, price(r, spec.min, spec.max)),
        };
        let reverse =
            nth == 2 || (nth > 3 && m.settle != Settle::FuelHold && r.random_range(0..100) < 8);
        let refund = (nth == 3 || (nth > 3 && r.random_range(0..100) < 6)).then(|| {
            if r.random_ratio(1, 2) {
                settle
            } else {
                (settle / 2).max(1)
            }
        });
        let step = if reverse {
            CardStep::Reverse
        } else {
            CardStep::Settle {
                amount: settle,
                refund,
            }
        };
        let at = t + r.random_range(20 * HOUR..72 * HOUR);
        let auth_id = self.next_id(IdKind::Auth);
        let id = self.next_id(IdKind::Card);
        let ci = self.push_card(CardTx {
            id,
            auth_id,
            kind: CardKind::Authorization,
            status: CardStatus::Pending,
            amount: auth,
            merchant: midx,
            occurred_at: t,
            updated_at: t,
            seq: 0,
            pending: Some(step),
        });
        self.schedule(at, Ev::Card(ci as u32));
    }
}

fn transit_delay(r: &mut impl Rng, from: DeliveryStatus, to: DeliveryStatus) -> Ts {
    let (lo, hi) = match (from, to) {
        (LabelCreated, _) => (12, 36),
        (InTransit, OutForDelivery) => (24, 72),
        (InTransit, _) => (24, 48),
        (Exception, Returned) => (72, 144),
        (Exception, _) => (24, 72),
        (OutForDelivery, _) => (3, 9),
        _ => (24, 48),
    };
    r.random_range(lo * HOUR..hi * HOUR)
}
