//! Compact internal rows. The wire shapes live in `wire.rs`.

use chrono::NaiveDate;

use crate::time::Ts;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OrderStatus {
    Authorized,
    Captured,
    PartCaptured,
    Cancelled,
    Expired,
    Closed,
    Refunded,
    PartRefunded,
}

impl OrderStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Authorized => "AUTHORIZED",
            Self::Captured => "CAPTURED",
            Self::PartCaptured => "PART_CAPTURED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
            Self::Closed => "CLOSED",
            Self::Refunded => "REFUNDED",
            Self::PartRefunded => "PART_REFUNDED",
        }
    }

    /// Money was captured: the purchase has a plan.
    pub(crate) fn has_plan(self) -> bool {
        !matches!(self, Self::Authorized | Self::Cancelled | Self::Expired)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    PayIn4,
    PayIn30,
    /// Monthly financing over 6, 12, 18 or 24 months.
    Financing(u8),
}

impl Plan {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::PayIn4 => "pay_in_4",
            Self::PayIn30 => "pay_in_30",
            Self::Financing(6) => "financing_6",
            Self::Financing(12) => "financing_12",
            Self::Financing(18) => "financing_18",
            Self::Financing(_) => "financing_24",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InstState {
    Scheduled,
    Paid,
    Late,
    Paused,
    Cancelled,
}

impl InstState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Paid => "paid",
            Self::Late => "late",
            Self::Paused => "paused",
            Self::Cancelled => "cancelled",
        }
    }

    pub(crate) fn is_unpaid(self) -> bool {
        matches!(self, Self::Scheduled | Self::Late | Self::Paused)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Installment {
    pub seq: u8,
    pub due: NaiveDate,
    pub amount: i64,
    pub state: InstState,
    pub paid_at: Option<Ts>,
    pub late_fee: Option<i64>,
    /// Days after `due` the provider reports it paid (internal script).
    pub pay_delay: u8,
    /// Days after `due` it is reported late; 0 = paid on time (internal script).
    pub late_delay: u8,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Item {
    pub name: &'static str,
    pub quantity: u32,
    pub unit_price: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReturnState {
    Reported,
    Registered,
    Rejected,
    Refunded,
}

impl ReturnState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "reported",
            Self::Registered => "registered",
            Self::Rejected => "rejected",
            Self::Refunded => "refunded",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Return {
    pub id: u64,
    pub reported_at: Ts,
    pub state: ReturnState,
    pub amount: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DisputeState {
    Opened,
    Won,
    Lost,
}

impl DisputeState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "DISPUTE_OPENED",
            Self::Won => "DISPUTE_WON",
            Self::Lost => "DISPUTE_LOST",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Dispute {
    pub state: DisputeState,
    pub opened_at: Ts,
}

/// What the authorisation turns into at `Script::auth_at`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AuthOutcome {
    Capture(i64),
    Cancel,
    Expire,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ReturnPlan {
    pub report_at: Ts,
    pub register_at: Ts,
    pub resolve_at: Ts,
    pub refund: bool,
    pub amount: i64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct DisputePlan {
    pub open_at: Ts,
    pub resolve_at: Ts,
    pub won: bool,
}

/// The purchase's future, decided when it is created (deterministic).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Script {
    pub auth_at: Ts,
    pub auth: AuthOutcome,
    pub ret: Option<ReturnPlan>,
    pub dispute: Option<DisputePlan>,
    /// Force the first installment to be reported late (seed coverage).
    pub force_late_first: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Purchase {
    pub id: u64,
    pub merchant: u16,
    pub amount: i64,
    pub created_at: Ts,
    pub status: OrderStatus,
    pub captured: i64,
    pub refunded: i64,
    pub plan: Plan,
    pub apr_bps: u32,
    pub interest: i64,
    pub items: Vec<Item>,
    pub installments: Vec<Installment>,
    pub ret: Option<Return>,
    pub dispute: Option<Dispute>,
    pub updated_at: Ts,
    pub seq: u64,
    pub script: Script,
    pub earned_points: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CardKind {
    Authorization,
    Settlement,
    Reversal,
    Refund,
}

impl CardKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Authorization => "authorization",
            Self::Settlement => "settlement",
            Self::Reversal => "reversal",
            Self::Refund => "refund",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CardStatus {
    Pending,
    Posted,
    Reversed,
}

impl CardStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Posted => "posted",
            Self::Reversed => "reversed",
        }
    }
}

/// A future step of a card row (internal script).
#[derive(Clone, Copy, Debug)]
pub(crate) enum CardStep {
    /// Settle for `amount`; `refund` is a later refund of the settlement.
    Settle {
        amount: i64,
        refund: Option<i64>,
    },
    Reverse,
    Refund(i64),
}

#[derive(Clone, Debug)]
pub(crate) struct CardTx {
    pub id: u64,
    pub auth_id: u64,
    pub kind: CardKind,
    pub status: CardStatus,
    pub amount: i64,
    pub merchant: u16,
    pub occurred_at: Ts,
    pub updated_at: Ts,
    pub seq: u64,
    pub pending: Option<CardStep>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BalanceKind {
    TopUp,
    Refund,
    CashbackCredit,
    InstallmentPayment,
    Withdrawal,
    Interest,
}

impl BalanceKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::TopUp => "top_up",
            Self::Refund => "refund",
            Self::CashbackCredit => "cashback_credit",
            Self::InstallmentPayment => "installment_payment",
            Self::Withdrawal => "withdrawal",
            Self::Interest => "interest",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct BalanceEntry {
    pub id: u64,
    pub kind: BalanceKind,
    pub amount: i64,
    pub purchase_id: Option<u64>,
    pub points_entry_id: Option<u64>,
    pub occurred_at: Ts,
    pub updated_at: Ts,
    pub seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PointsKind {
    Earned,
    Redeemed,
    Expired,
    Reversed,
}

impl PointsKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Earned => "earned",
            Self::Redeemed => "redeemed",
            Self::Expired => "expired",
            Self::Reversed => "reversed",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct PointsEntry {
    pub id: u64,
    pub kind: PointsKind,
    pub points: i64,
    pub purchase_id: Option<u64>,
    pub balance_entry_id: Option<u64>,
    pub occurred_at: Ts,
    pub updated_at: Ts,
    pub seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeliveryStatus {
    LabelCreated,
    InTransit,
    OutForDelivery,
    Delivered,
    Exception,
    Returned,
}

impl DeliveryStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::LabelCreated => "label_created",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::Delivered => "delivered",
            Self::Exception => "exception",
            Self::Returned => "returned",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub id: u64,
    pub purchase_id: u64,
    pub carrier: u8,
    pub status: DeliveryStatus,
    pub eta_from: NaiveDate,
    pub eta_to: NaiveDate,
    pub updated_at: Ts,
    pub seq: u64,
    /// Index into `evolve::ROUTES` and the position reached on it.
    pub route: u8,
    pub step: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tier {
    None,
    Plus,
    Max,
}

impl Tier {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Plus => "plus",
            Self::Max => "max",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Profile {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub tier: Tier,
    pub purchase_power: i64,
    pub refunds_to_balance: bool,
    pub updated_at: Ts,
}

/// Rows that live in a change feed.
pub(crate) trait FeedRow {
    fn id(&self) -> u64;
    fn updated_at(&self) -> Ts;
    fn seq(&self) -> u64;
    fn set_seq(&mut self, seq: u64);
}

macro_rules! feed_row {
    ($($t:ty),*) => {$(
        impl FeedRow for $t {
            fn id(&self) -> u64 { self.id }
            fn updated_at(&self) -> Ts { self.updated_at }
            fn seq(&self) -> u64 { self.seq }
            fn set_seq(&mut self, seq: u64) { self.seq = seq; }
        }
    )*};
}

feed_row!(Purchase, CardTx, BalanceEntry, PointsEntry, Delivery);
