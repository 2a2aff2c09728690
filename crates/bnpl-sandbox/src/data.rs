//! Deterministic data generation: profiles, seed purchases, history.
//!
//! Each account has its own ChaCha8 stream seeded from `(seed, index)`, so
//! an account's data does not depend on how many accounts are built. The
//! seed history is produced by running the same event engine as `advance`
//! (see `evolve.rs`) from 180 days before `start` up to `start`.

use std::collections::BinaryHeap;
use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::account::{Account, Ev, Timer};
use crate::catalog::{FIRST_NAMES, LAST_NAMES, MERCHANTS, Merchant, merchant};
use crate::ids::{ID_KINDS, mix64};
use crate::model::{AuthOutcome, DisputePlan, Item, Plan, Profile, ReturnPlan, Script, Tier};
use crate::time::{DAY, HOUR, MINUTE, Ts, at_hour, date_of, next_month_start, sub_months};

/// A purchase not yet created: what it is and its scripted future.
#[derive(Clone, Debug)]
pub(crate) struct PurchaseSpec {
    pub created_at: Ts,
    pub merchant: u16,
    pub items: Vec<Item>,
    pub plan: Plan,
    pub apr_bps: u32,
    pub script: Script,
    /// Paid with the Klarna Card: a card authorisation mirrors it.
    pub card_linked: bool,
}

impl PurchaseSpec {
    pub(crate) fn amount(&self) -> i64 {
        self.items
            .iter()
            .map(|i| i64::from(i.quantity) * i.unit_price)
            .sum()
    }
}

/// How far back the seed history starts.
pub(crate) const HISTORY: Ts = 180 * DAY;

/// Number of coverage scenarios (see `scenario`).
pub(crate) const SCENARIOS: usize = 16;

const APRS: [u32; 6] = [799, 1_499, 1_999, 2_499, 2_999, 3_599];
const FINANCING: [u8; 4] = [6, 12, 18, 24];

fn pool(cell: &'static OnceLock<Vec<u16>>, pred: fn(&Merchant) -> bool) -> &'static [u16] {
    cell.get_or_init(|| {
        MERCHANTS
            .iter()
            .enumerate()
            .filter(|(_, m)| pred(m))
            .map(|(i, _)| i as u16)
            .collect()
    })
}

fn shops() -> &'static [u16] {
    static P: OnceLock<Vec<u16>> = OnceLock::new();
    pool(&P, |m| m.shop)
}

fn big_shops() -> &'static [u16] {
    static P: OnceLock<Vec<u16>> = OnceLock::new();
    pool(&P, |m| m.shop && m.big_ticket)
}

/// Shops that pay cashback (seed scenarios that must earn points).
fn cashback_shops() -> &'static [u16] {
    static P: OnceLock<Vec<u16>> = OnceLock::new();
    pool(&P, |m| m.shop && m.cashback_pct > 0 && !m.big_ticket)
}

pub(crate) fn card_merchants() -> &'static [u16] {
    static P: OnceLock<Vec<u16>> = OnceLock::new();
    pool(&P, |m| m.card)
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, xs: &[T]) -> T {
    xs[rng.random_range(0..xs.len())]
}

/// A price ending in 99 within `[min, max]`.
pub(crate) fn price(rng: &mut ChaCha8Rng, min: i64, max: i64) -> i64 {
    let p = rng.random_range(min..=max);
    ((p / 100) * 100 + 99).clamp(min, max.max(min))
}

fn items_for(rng: &mut ChaCha8Rng, m: &Merchant, plan: Plan, min_items: usize) -> Vec<Item> {
    let financing = matches!(plan, Plan::Financing(_));
    let max_items = if financing { 2 } else { 3 };
    let n = rng
        .random_range(min_items..=max_items.max(min_items))
        .min(m.items.len());
    // Financing starts from the priciest item so the amount is worth it.
    let first = if financing {
        (0..m.items.len())
            .max_by_key(|&i| m.items[i].max)
            .unwrap_or(0)
    } else {
        rng.random_range(0..m.items.len())
    };
    (0..n)
        .map(|k| {
            let spec = &m.items[(first + k) % m.items.len()];
            let unit_price = price(rng, spec.min, spec.max);
            let quantity = if unit_price < 5_000 && !financing {
                rng.random_range(1..=2)
            } else {
                1
            };
            Item {
                name: spec.name,
                quantity,
                unit_price,
            }
        })
        .collect()
}

/// A captured-at-once purchase at a merchant fitting the plan.
fn base(
    rng: &mut ChaCha8Rng,
    created_at: Ts,
    plan: Plan,
    min_items: usize,
    pool: &[u16],
) -> PurchaseSpec {
    let merchant_idx = pick(rng, pool);
    let items = items_for(rng, merchant(merchant_idx), plan, min_items);
    let apr_bps = match plan {
        Plan::Financing(_) => pick(rng, &APRS),
        _ => 0,
    };
    let mut spec = PurchaseSpec {
        created_at,
        merchant: merchant_idx,
        items,
        plan,
        apr_bps,
        script: Script {
            auth_at: created_at + rng.random_range(10 * MINUTE..6 * HOUR),
            auth: AuthOutcome::Capture(0),
            ret: None,
            dispute: None,
            force_late_first: false,
        },
        card_linked: false,
    };
    spec.script.auth = AuthOutcome::Capture(spec.amount());
    spec
}

fn pool_for(plan: Plan) -> &'static [u16] {
    match plan {
        Plan::Financing(_) => big_shops(),
        _ => shops(),
    }
}

/// A few hours of noise so scripted times do not all fall on midnight.
fn jitter(rng: &mut ChaCha8Rng) -> Ts {
    rng.random_range(0..10 * HOUR)
}

fn ago(rng: &mut ChaCha8Rng, start: Ts, min_days: i64, max_days: i64) -> Ts {
    start - rng.random_range(min_days * DAY..max_days * DAY)
}

/// A partial amount of a captured purchase: its last item when there are
/// several, else about a third (whole dollars).
fn partial_amount(spec: &PurchaseSpec, captured: i64) -> i64 {
    let last = spec
        .items
        .last()
        .map(|i| i64::from(i.quantity) * i.unit_price)
        .unwrap_or(0);
    if spec.items.len() > 1 && last < captured {
        last
    } else {
        ((captured / 3) / 100 * 100).max(1)
    }
}

fn captured_of(spec: &PurchaseSpec) -> i64 {
    match spec.script.auth {
        AuthOutcome::Capture(a) => a,
        _ => 0,
    }
}

/// The coverage scenarios: seed purchase `k` of the first `2 * SCENARIOS`
/// purchases of a data set, chosen so that at `start` the default data set
/// shows every status, plan, return state and dispute state.
pub(crate) fn scenario(k: usize, rng: &mut ChaCha8Rng, start: Ts) -> PurchaseSpec {
    match k {
        // CAPTURED pay_in_4 of yesterday: its delivery is under way.
        0 => {
            let c = start - rng.random_range(10 * HOUR..30 * HOUR);
            base(rng, c, Plan::PayIn4, 1, cashback_shops())
        }
        // CAPTURED pay_in_30.
        1 => {
            let c = ago(rng, start, 3, 25);
            base(rng, c, Plan::PayIn30, 1, shops())
        }
        // CAPTURED financing_6 with an open dispute.
        2 => {
            let c = ago(rng, start, 40, 80);
            let mut s = base(rng, c, Plan::Financing(6), 1, big_shops());
            s.script.dispute = Some(DisputePlan {
                open_at: ago(rng, start, 8, 12),
                resolve_at: start + rng.random_range(15 * DAY..25 * DAY),
                won: false,
            });
            s
        }
        // PART_CAPTURED pay_in_4: the last item was not shipped.
        3 => {
            let c = start - rng.random_range(40 * HOUR..70 * HOUR);
            let mut s = base(rng, c, Plan::PayIn4, 2, cashback_shops());
            let last = s
                .items
                .last()
                .map(|i| i64::from(i.quantity) * i.unit_price)
                .unwrap_or(0);
            s.script.auth = AuthOutcome::Capture(s.amount() - last);
            s
        }
        // AUTHORIZED at start, captured a few days later.
        4 => {
            let c = ago(rng, start, 1, 2);
            let mut s = base(rng, c, Plan::PayIn4, 1, shops());
            s.script.auth_at = start + rng.random_range(DAY..3 * DAY);
            s
        }
        // CANCELLED.
        5 => {
            let c = ago(rng, start, 20, 40);
            let mut s = base(rng, c, Plan::PayIn30, 1, shops());
            s.script.auth_at = c + rng.random_range(DAY..3 * DAY);
            s.script.auth = AuthOutcome::Cancel;
            s
        }
        // EXPIRED after 28 days.
        6 => {
            let c = ago(rng, start, 40, 90);
            let mut s = base(rng, c, Plan::PayIn4, 1, shops());
            s.script.auth_at = c + 28 * DAY;
            s.script.auth = AuthOutcome::Expire;
            s
        }
        // CLOSED: all paid long ago.
        7 => {
            let c = ago(rng, start, 90, 150);
            base(rng, c, Plan::PayIn4, 1, cashback_shops())
        }
        // REFUNDED: a full return, refunded before start.
        8 => {
            let c = ago(rng, start, 30, 60);
            let mut s = base(rng, c, Plan::PayIn4, 1, cashback_shops());
            let cap = s.script.auth_at;
            let report_at = cap + 5 * DAY + rng.random_range(0..12 * HOUR);
            s.script.ret = Some(ReturnPlan {
                report_at,
                register_at: report_at + 3 * DAY,
                resolve_at: report_at + 7 * DAY + rng.random_range(0..6 * HOUR),
                refund: true,
                amount: captured_of(&s),
            });
            s
        }
        // PART_REFUNDED financing_12: part of a return refunded.
        9 => {
            let c = ago(rng, start, 100, 130);
            let mut s = base(rng, c, Plan::Financing(12), 1, big_shops());
            let amount = partial_amount(&s, captured_of(&s));
            let j = jitter(rng);
            s.script.ret = Some(ReturnPlan {
                report_at: start - 30 * DAY + j,
                register_at: start - 27 * DAY + j,
                resolve_at: start - 20 * DAY + j,
                refund: true,
                amount,
            });
            s
        }
        // Return reported at start (installments paused), refunded later.
        10 => {
            let c = ago(rng, start, 12, 18);
            let mut s = base(rng, c, Plan::PayIn4, 1, cashback_shops());
            let j = jitter(rng);
            s.script.ret = Some(ReturnPlan {
                report_at: start - 2 * DAY + j,
                register_at: start + 2 * DAY + j,
                resolve_at: start + 6 * DAY + j,
                refund: true,
                amount: captured_of(&s),
            });
            s
        }
        // Return registered at start, rejected later.
        11 => {
            let c = ago(rng, start, 30, 60);
            let mut s = base(rng, c, Plan::Financing(18), 1, big_shops());
            let amount = partial_amount(&s, captured_of(&s));
            let j = jitter(rng);
            s.script.ret = Some(ReturnPlan {
                report_at: start - 8 * DAY + j,
                register_at: start - 3 * DAY + j,
                resolve_at: start + 5 * DAY + j,
                refund: false,
                amount,
            });
            s
        }
        // financing_24, dispute won.
        12 => {
            let c = ago(rng, start, 60, 150);
            let mut s = base(rng, c, Plan::Financing(24), 1, big_shops());
            let j = jitter(rng);
            s.script.dispute = Some(DisputePlan {
                open_at: start - 40 * DAY + j,
                resolve_at: start - 10 * DAY + j,
                won: true,
            });
            s
        }
        // Return rejected before start: installments resumed and shifted.
        13 => {
            let c = ago(rng, start, 24, 26);
            let mut s = base(rng, c, Plan::PayIn4, 1, shops());
            let cap = s.script.auth_at;
            s.script.ret = Some(ReturnPlan {
                report_at: cap + 4 * DAY,
                register_at: cap + 7 * DAY,
                resolve_at: cap + 13 * DAY + rng.random_range(HOUR..20 * HOUR),
                refund: false,
                amount: captured_of(&s),
            });
            s
        }
        // pay_in_30 paid, dispute lost, then closed.
        14 => {
            let c = ago(rng, start, 70, 100);
            let mut s = base(rng, c, Plan::PayIn30, 1, shops());
            let cap = s.script.auth_at;
            s.script.dispute = Some(DisputePlan {
                open_at: cap + 35 * DAY,
                resolve_at: cap + 55 * DAY,
                won: false,
            });
            s
        }
        // financing_12 whose first installment is late at start.
        _ => {
            let due1 = date_of(start) - chrono::Duration::days(rng.random_range(4..10));
            let captured_on = sub_months(due1, 1);
            let c = at_hour(captured_on, 9) + rng.random_range(0..2 * HOUR);
            let mut s = base(rng, c, Plan::Financing(12), 1, big_shops());
            s.script.auth_at = c + rng.random_range(10 * MINUTE..HOUR);
            s.script.force_late_first = true;
            s
        }
    }
}

/// A purchase with a random plan and a random (mostly uneventful) future.
pub(crate) fn random_spec(rng: &mut ChaCha8Rng, created_at: Ts) -> PurchaseSpec {
    let roll = rng.random_range(0..100);
    let plan = if roll < 55 {
        Plan::PayIn4
    } else if roll < 75 {
        Plan::PayIn30
    } else {
        Plan::Financing(pick(rng, &FINANCING))
    };
    let mut s = base(rng, created_at, plan, 1, pool_for(plan));
    let roll = rng.random_range(0..100);
    if roll < 4 {
        s.script.auth_at = created_at + rng.random_range(HOUR..72 * HOUR);
        s.script.auth = AuthOutcome::Cancel;
    } else if roll < 8 {
        s.script.auth_at = created_at + 28 * DAY;
        s.script.auth = AuthOutcome::Expire;
    } else if roll < 14 && s.items.len() > 1 {
        let last = s
            .items
            .last()
            .map(|i| i64::from(i.quantity) * i.unit_price)
            .unwrap_or(0);
        s.script.auth = AuthOutcome::Capture(s.amount() - last);
    } else {
        s.script.auth_at = created_at + rng.random_range(10 * MINUTE..48 * HOUR);
    }
    s.card_linked = plan == Plan::PayIn4 && rng.random_ratio(1, 4);
    let captured = captured_of(&s);
    if captured > 0 {
        let cap = s.script.auth_at;
        let roll = rng.random_range(0..100);
        if roll < 10 {
            let report_at = cap + rng.random_range(3 * DAY..20 * DAY);
            let register_at = report_at + rng.random_range(2 * DAY..5 * DAY);
            let resolve_at = register_at + rng.random_range(2 * DAY..7 * DAY);
            let refund = rng.random_range(0..100) < 80;
            let full = !matches!(plan, Plan::Financing(_)) && rng.random_range(0..100) < 60;
            let amount = if full {
                captured
            } else {
                partial_amount(&s, captured)
            };
            s.script.ret = Some(ReturnPlan {
                report_at,
                register_at,
                resolve_at,
                refund,
                amount,
            });
        } else if roll < 14 {
            let open_at = cap + rng.random_range(5 * DAY..40 * DAY);
            s.script.dispute = Some(DisputePlan {
                open_at,
                resolve_at: open_at + rng.random_range(15 * DAY..45 * DAY),
                won: rng.random_range(0..100) < 60,
            });
        }
    }
    s
}

fn profile(rng: &mut ChaCha8Rng, idx: u32, since: Ts) -> Profile {
    let first = pick(rng, FIRST_NAMES);
    let last = pick(rng, LAST_NAMES);
    let tier = match rng.random_range(0..10) {
        0..=5 => Tier::None,
        6..=8 => Tier::Plus,
        _ => Tier::Max,
    };
    Profile {
        name: format!("{first} {last}"),
        email: format!(
            "{}.{}{}@example.com",
            first.to_lowercase(),
            last.to_lowercase(),
            idx + 1
        ),
        phone: format!("+1555{:07}", rng.random_range(0..10_000_000)),
        tier,
        purchase_power: rng.random_range(5..=60) * 10_000,
        // Some accounts get refunds on their balance, some do not.
        refunds_to_balance: idx % 3 != 1,
        updated_at: since,
    }
}

pub(crate) fn account_rng(seed: u64, idx: u32) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix64(seed ^ mix64(u64::from(idx) ^ 0x6b75_735f_6163_6374)))
}

/// Builds account `idx` as it stands at `start`.
pub(crate) fn build_account(seed: u64, idx: u32, purchases: usize, start: Ts) -> Account {
    let mut rng = account_rng(seed, idx);
    let id = format!("kus_{:04}", idx + 1);
    let device_id = format!("dev_{:016x}", rng.random::<u64>());
    let refresh_token = format!("rt_{:032x}", rng.random::<u128>());
    let hist = start - HISTORY;
    let profile = profile(&mut rng, idx, hist);

    let mut specs = Vec::with_capacity(purchases);
    for j in 0..purchases {
        let g = idx as usize * purchases + j;
        let spec = if g < 2 * SCENARIOS {
            scenario(g % SCENARIOS, &mut rng, start)
        } else {
            let created = start - rng.random_range(HOUR..170 * DAY);
            random_spec(&mut rng, created)
        };
        specs.push(spec);
    }

    let mut acct = Account {
        idx,
        id,
        device_id,
        refresh_token,
        grant_revoked: false,
        profile,
        seed,
        rng,
        counters: [0; ID_KINDS],
        purchases: Vec::with_capacity(purchases),
        card: Vec::with_capacity(48),
        balance_entries: Vec::with_capacity(32),
        points_entries: Vec::with_capacity(24),
        deliveries: Vec::with_capacity(purchases),
        feeds: Default::default(),
        dirty: Default::default(),
        agenda: BinaryHeap::with_capacity(purchases + 16),
        agenda_ctr: 0,
        pending: Vec::new(),
        balance: 0,
        points: 0,
        scratch: Vec::new(),
        swipes: 0,
    };
    for (j, spec) in specs.into_iter().enumerate() {
        acct.schedule(spec.created_at, Ev::Create(j as u32));
        acct.pending.push(Some(spec));
    }
    let r = &mut acct.rng;
    let timers = [
        (hist + r.random_range(HOUR..DAY), Timer::TopUp),
        (hist + r.random_range(20 * DAY..50 * DAY), Timer::Withdrawal),
        (hist + r.random_range(DAY..5 * DAY), Timer::CardSwipe),
        (hist + r.random_range(30 * DAY..50 * DAY), Timer::Redeem),
        (hist + r.random_range(60 * DAY..90 * DAY), Timer::Expire),
        (next_month_start(hist), Timer::Interest),
        (start + r.random_range(DAY..5 * DAY), Timer::NewPurchase),
        (
            start - r.random_range(2 * HOUR..18 * HOUR),
            Timer::PendingSwipe,
        ),
    ];
    for (at, t) in timers {
        acct.schedule(at, Ev::Timer(t));
    }
    acct.run_until(start, &mut Default::default());
    acct.shrink();
    acct
}
