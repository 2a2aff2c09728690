//! The normalized account model. Every provider maps its wire shapes into
//! these types; nothing outside a provider's wire module knows its JSON names.
//!
//! Ids (`id`, `purchase_id`, ...) are the provider's external ids: the store
//! keys every row on (provider, account, external id).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Money;

/// Declares a closed set of states stored and shown as snake_case text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            strum::EnumString, strum::IntoStaticStr, strum::Display, strum::VariantArray,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
            pub fn variants() -> &'static [$name] {
                <$name as strum::VariantArray>::VARIANTS
            }
        }
    };
}

text_enum!(
    /// Whether the sync may use an account's credentials.
    AccountStatus {
        Active,
        /// The holder must consent again (revoked grant, device mismatch, expired consent).
        ReauthRequired,
        /// Switched off by the operator.
        Disabled,
    }
);

text_enum!(
    /// Order states as Klarna names them (shared/seeds/004).
    OrderStatus {
        Authorized,
        Captured,
        PartCaptured,
        Cancelled,
        Expired,
        Closed,
        Refunded,
        PartRefunded,
    }
);

text_enum!(
    /// An installment's state as the provider reports it. The provider never
    /// reports `due`; the mirror derives it (see `InstallmentState`).
    ReportedInstallmentState {
        Scheduled,
        Paid,
        Late,
        Paused,
        Cancelled,
    }
);

text_enum!(
    /// An installment's state in the mirror: the provider's report plus `due`,
    /// derived from the mirror's clock.
    InstallmentState {
        Scheduled,
        Due,
        Paid,
        Late,
        Paused,
        Cancelled,
    }
);

text_enum!(ReturnState {
    Reported,
    Registered,
    Rejected,
    Refunded
});
text_enum!(DisputeState { Opened, Won, Lost });
text_enum!(CardTransactionKind {
    Authorization,
    Settlement,
    Reversal,
    Refund
});
text_enum!(CardTransactionStatus {
    Pending,
    Posted,
    Reversed
});
text_enum!(BalanceEntryKind {
    TopUp,
    Refund,
    CashbackCredit,
    InstallmentPayment,
    Withdrawal,
    Interest,
    /// A generic bank transfer, as open-banking feeds report them.
    Transfer,
    Fee,
});
text_enum!(
    /// Booked entries are final; pending ones may still change or vanish.
    BookingStatus { Booked, Pending }
);
text_enum!(PointsEntryKind {
    Earned,
    Redeemed,
    Expired,
    Reversed
});
text_enum!(DeliveryStatus {
    LabelCreated,
    InTransit,
    OutForDelivery,
    Delivered,
    Exception,
    Returned,
});
text_enum!(MembershipTier { None, Plus, Max });

/// How a purchase is paid back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum PlanKind {
    /// Four installments, 14 days apart, the first at capture.
    PayIn4,
    /// One installment 30 days after capture.
    PayIn30,
    /// Monthly installments, the first one month after capture; may carry an APR.
    Financing { months: u8 },
}

impl PlanKind {
    pub const FINANCING_TERMS: [u8; 4] = [6, 12, 18, 24];

    pub fn as_string(self) -> String {
        match self {
            PlanKind::PayIn4 => "pay_in_4".into(),
            PlanKind::PayIn30 => "pay_in_30".into(),
            PlanKind::Financing { months } => format!("financing_{months}"),
        }
    }

    pub fn parse(s: &str) -> Result<PlanKind, String> {
        match s {
            "pay_in_4" => Ok(PlanKind::PayIn4),
            "pay_in_30" => Ok(PlanKind::PayIn30),
            _ => s
                .strip_prefix("financing_")
                .and_then(|m| m.parse::<u8>().ok())
                .filter(|m| PlanKind::FINANCING_TERMS.contains(m))
                .map(|months| PlanKind::Financing { months })
                .ok_or_else(|| {
                    format!(
                        "unknown plan {s:?}; expected pay_in_4, pay_in_30 or financing_6|12|18|24"
                    )
                }),
        }
    }

    /// Number of installments the plan has when nothing was cancelled.
    pub fn installment_count(self) -> u32 {
        match self {
            PlanKind::PayIn4 => 4,
            PlanKind::PayIn30 => 1,
            PlanKind::Financing { months } => u32::from(months),
        }
    }
}

impl From<PlanKind> for String {
    fn from(p: PlanKind) -> String {
        p.as_string()
    }
}

impl TryFrom<String> for PlanKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        PlanKind::parse(&s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseItem {
    pub name: String,
    pub quantity: u32,
    pub unit_price_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installment {
    /// 1-based position in the plan.
    pub seq: u32,
    pub due: NaiveDate,
    pub amount_minor: i64,
    pub reported_state: ReportedInstallmentState,
    pub paid_at: Option<DateTime<Utc>>,
    /// Late fees are owed on top of the plan; they never count towards its total.
    pub late_fee_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallmentPlan {
    pub kind: PlanKind,
    /// Annual percentage rate in basis points (0 outside financing).
    pub apr_bps: u32,
    pub interest_minor: i64,
    pub installments: Vec<Installment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseReturn {
    pub id: String,
    pub reported_at: DateTime<Utc>,
    pub state: ReturnState,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub state: DisputeState,
    pub opened_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub id: String,
    pub merchant: String,
    pub merchant_category: Option<String>,
    /// The order amount; `captured_minor` and `refunded_minor` are in its currency.
    pub amount: Money,
    pub created_at: DateTime<Utc>,
    pub status: OrderStatus,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub plan: InstallmentPlan,
    pub items: Vec<PurchaseItem>,
    pub return_: Option<PurchaseReturn>,
    pub dispute: Option<Dispute>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardTransaction {
    pub id: String,
    /// The authorization this row belongs to (a settlement names its authorization).
    pub auth_id: Option<String>,
    pub kind: CardTransactionKind,
    pub status: CardTransactionStatus,
    /// A positive magnitude; the direction comes from `kind`.
    pub amount: Money,
    pub merchant: String,
    pub mcc: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The ledger a provider keeps when it has only one deposit account.
pub const MAIN_LEDGER: &str = "main";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceEntry {
    pub id: String,
    /// Which deposit account of the holder this moves ([`MAIN_LEDGER`], or an IBAN).
    pub ledger: String,
    pub kind: BalanceEntryKind,
    pub booking: BookingStatus,
    /// Signed: credits are positive.
    pub amount: Money,
    pub description: Option<String>,
    pub purchase_id: Option<String>,
    /// A cashback credit names the points redemption it comes from: one movement.
    pub points_entry_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsEntry {
    pub id: String,
    pub kind: PointsEntryKind,
    /// Signed: earned points are positive.
    pub points: i64,
    pub purchase_id: Option<String>,
    pub balance_entry_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub purchase_id: Option<String>,
    pub carrier: String,
    pub tracking_number: Option<String>,
    pub status: DeliveryStatus,
    pub eta_from: Option<NaiveDate>,
    pub eta_to: Option<NaiveDate>,
    pub updated_at: DateTime<Utc>,
}

/// One balance figure of one ledger at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceSnapshot {
    pub ledger: String,
    /// `available` for Klarna US; Berlin Group names (`closingBooked`, ...) for PSD2.
    pub balance_type: String,
    pub amount: Money,
    pub as_of: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsSnapshot {
    pub points: i64,
    pub as_of: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
    pub membership_tier: Option<MembershipTier>,
    pub purchase_power: Option<Money>,
    pub refunds_to_balance: Option<bool>,
    pub updated_at: DateTime<Utc>,
}

/// The rows of one page of one delta stream, typed by stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Records {
    Purchases(Vec<Purchase>),
    CardTransactions(Vec<CardTransaction>),
    BalanceEntries(Vec<BalanceEntry>),
    PointsEntries(Vec<PointsEntry>),
    Deliveries(Vec<Delivery>),
}

impl Records {
    pub fn empty(stream: crate::Stream) -> Option<Records> {
        use crate::Stream as S;
        Some(match stream {
            S::Purchases => Records::Purchases(Vec::new()),
            S::CardTransactions => Records::CardTransactions(Vec::new()),
            S::BalanceEntries => Records::BalanceEntries(Vec::new()),
            S::PointsEntries => Records::PointsEntries(Vec::new()),
            S::Deliveries => Records::Deliveries(Vec::new()),
            S::Balance | S::Points | S::Profile => return None,
        })
    }

    pub fn stream(&self) -> crate::Stream {
        use crate::Stream as S;
        match self {
            Records::Purchases(_) => S::Purchases,
            Records::CardTransactions(_) => S::CardTransactions,
            Records::BalanceEntries(_) => S::BalanceEntries,
            Records::PointsEntries(_) => S::PointsEntries,
            Records::Deliveries(_) => S::Deliveries,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Records::Purchases(v) => v.len(),
            Records::CardTransactions(v) => v.len(),
            Records::BalanceEntries(v) => v.len(),
            Records::PointsEntries(v) => v.len(),
            Records::Deliveries(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_kinds_round_trip() {
        for s in ["pay_in_4", "pay_in_30", "financing_6", "financing_24"] {
            assert_eq!(PlanKind::parse(s).unwrap().as_string(), s);
        }
        assert!(
            PlanKind::parse("financing_7")
                .unwrap_err()
                .contains("financing_6|12|18|24")
        );
        assert_eq!(PlanKind::Financing { months: 12 }.installment_count(), 12);
    }

    #[test]
    fn text_enums_are_snake_case() {
        assert_eq!(OrderStatus::PartCaptured.as_str(), "part_captured");
        assert_eq!(
            "reauth_required".parse::<AccountStatus>().unwrap(),
            AccountStatus::ReauthRequired
        );
        assert_eq!(InstallmentState::variants().len(), 6);
    }
}
