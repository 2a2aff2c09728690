//! The streams of one account. Each is synced, stored and reported on its own;
//! they are joined on the account id but never collapsed into one ledger.

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Stream {
    /// Purchases with their installment plans (delta).
    Purchases,
    /// Card authorizations, settlements, reversals and refunds (delta).
    CardTransactions,
    /// Movements of the deposit balance (delta).
    BalanceEntries,
    /// Cashback points earned, redeemed, expired (delta).
    PointsEntries,
    /// Shipments of purchases (delta).
    Deliveries,
    /// The deposit balance as the provider reports it now (snapshot).
    Balance,
    /// The points balance as the provider reports it now (snapshot).
    Points,
    /// Identity and membership (snapshot).
    Profile,
}

impl Stream {
    pub const ALL: &'static [Stream] = <Stream as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Delta streams are paged after a cursor; the others are read whole.
    pub fn is_delta(self) -> bool {
        matches!(
            self,
            Stream::Purchases
                | Stream::CardTransactions
                | Stream::BalanceEntries
                | Stream::PointsEntries
                | Stream::Deliveries
        )
    }

    pub fn parse(s: &str) -> Result<Stream, String> {
        s.parse().map_err(|_| {
            let known: Vec<&str> = Stream::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown stream {s:?}; known streams: {}", known.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Stream::ALL {
            assert_eq!(Stream::parse(s.as_str()).unwrap(), *s);
        }
        assert_eq!(Stream::CardTransactions.as_str(), "card_transactions");
        assert!(Stream::parse("nope").unwrap_err().contains("purchases"));
    }
}
