//! One simulated account: its rows, change feeds and agenda of future events.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand_chacha::ChaCha8Rng;

use crate::data::PurchaseSpec;
use crate::feed::{Feed, STREAMS, Stream};
use crate::ids::{ID_KINDS, IdKind, make_id};
use crate::model::{
    BalanceEntry, BalanceKind, CardTx, Delivery, PointsEntry, PointsKind, Profile, Purchase,
};
use crate::time::Ts;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    TopUp,
    Withdrawal,
    CardSwipe,
    NewPurchase,
    Redeem,
    Expire,
    Interest,
    /// One card authorisation still pending at `start` (seed coverage).
    PendingSwipe,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Ev {
    /// Materialise seed purchase `j` (history build only).
    Create(u32),
    Purchase(u32),
    Delivery(u32),
    Card(u32),
    Timer(Timer),
}

/// Agenda entries pop in `(at, ctr)` order: deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Agenda {
    pub at: Ts,
    pub ctr: u64,
    pub ev: Ev,
}

pub(crate) struct Account {
    pub idx: u32,
    pub id: String,
    pub device_id: String,
    pub refresh_token: String,
    pub grant_revoked: bool,
    pub profile: Profile,
    pub seed: u64,
    pub rng: ChaCha8Rng,
    pub counters: [u32; ID_KINDS],
    pub purchases: Vec<Purchase>,
    pub card: Vec<CardTx>,
    pub balance_entries: Vec<BalanceEntry>,
    pub points_entries: Vec<PointsEntry>,
    pub deliveries: Vec<Delivery>,
    pub feeds: [Feed; STREAMS],
    pub dirty: [Vec<u32>; STREAMS],
    pub agenda: BinaryHeap<Reverse<Agenda>>,
    pub agenda_ctr: u64,
    pub pending: Vec<Option<PurchaseSpec>>,
    /// Running sums: equal to the sums of the entries at all times.
    pub balance: i64,
    pub points: i64,
    /// Reused buffer (amounts collected in one purchase step).
    pub scratch: Vec<i64>,
    /// Card swipes so far (the first few are scripted for coverage).
    pub swipes: u32,
}

impl Account {
    pub(crate) fn next_id(&mut self, kind: IdKind) -> u64 {
        let c = &mut self.counters[kind as usize];
        *c += 1;
        make_id(self.seed, kind, self.idx, *c)
    }

    pub(crate) fn mark(&mut self, stream: Stream, idx: usize) {
        self.dirty[stream as usize].push(idx as u32);
    }

    pub(crate) fn schedule(&mut self, at: Ts, ev: Ev) {
        self.agenda_ctr += 1;
        self.agenda.push(Reverse(Agenda {
            at,
            ctr: self.agenda_ctr,
            ev,
        }));
    }

    /// Appends a balance entry with a pre-allocated id.
    pub(crate) fn push_balance(
        &mut self,
        id: u64,
        kind: BalanceKind,
        amount: i64,
        purchase_id: Option<u64>,
        points_entry_id: Option<u64>,
        t: Ts,
    ) {
        self.balance += amount;
        self.balance_entries.push(BalanceEntry {
            id,
            kind,
            amount,
            purchase_id,
            points_entry_id,
            occurred_at: t,
            updated_at: t,
            seq: 0,
        });
        self.mark(Stream::Balance, self.balance_entries.len() - 1);
    }

    pub(crate) fn add_balance(
        &mut self,
        kind: BalanceKind,
        amount: i64,
        purchase_id: Option<u64>,
        t: Ts,
    ) {
        let id = self.next_id(IdKind::Balance);
        self.push_balance(id, kind, amount, purchase_id, None, t);
    }

    /// Appends a points entry with a pre-allocated id.
    pub(crate) fn push_points(
        &mut self,
        id: u64,
        kind: PointsKind,
        points: i64,
        purchase_id: Option<u64>,
        balance_entry_id: Option<u64>,
        t: Ts,
    ) {
        self.points += points;
        self.points_entries.push(PointsEntry {
            id,
            kind,
            points,
            purchase_id,
            balance_entry_id,
            occurred_at: t,
            updated_at: t,
            seq: 0,
        });
        self.mark(Stream::Points, self.points_entries.len() - 1);
    }

    pub(crate) fn add_points(
        &mut self,
        kind: PointsKind,
        points: i64,
        purchase_id: Option<u64>,
        t: Ts,
    ) {
        let id = self.next_id(IdKind::Points);
        self.push_points(id, kind, points, purchase_id, None, t);
    }

    pub(crate) fn push_card(&mut self, row: CardTx) -> usize {
        self.card.push(row);
        let i = self.card.len() - 1;
        self.mark(Stream::Card, i);
        i
    }

    /// Assigns feed positions to everything changed since the last flush.
    pub(crate) fn flush(&mut self) {
        let [d0, d1, d2, d3, d4] = &mut self.dirty;
        let [f0, f1, f2, f3, f4] = &mut self.feeds;
        f0.assign(&mut self.purchases, d0);
        f1.assign(&mut self.card, d1);
        f2.assign(&mut self.balance_entries, d2);
        f3.assign(&mut self.points_entries, d3);
        f4.assign(&mut self.deliveries, d4);
    }
}

impl Account {
    /// Releases spare capacity after the history build.
    pub(crate) fn shrink(&mut self) {
        self.purchases.shrink_to_fit();
        self.card.shrink_to_fit();
        self.balance_entries.shrink_to_fit();
        self.points_entries.shrink_to_fit();
        self.deliveries.shrink_to_fit();
        self.agenda.shrink_to_fit();
        for f in self.feeds.iter_mut() {
            f.shrink();
        }
        self.pending = Vec::new();
    }
}
