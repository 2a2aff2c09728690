//! Money is an integer count of minor units plus an ISO 4217 currency.
//! There is no float anywhere on the path from the wire to the database.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown ISO 4217 currency code {0:?}")]
    UnknownCurrency(String),
    #[error("{value:?} is not a decimal amount")]
    NotDecimal { value: String },
    #[error("{value:?} has {decimals} decimals but {currency} has {exponent}")]
    TooManyDecimals {
        value: String,
        decimals: u32,
        currency: Currency,
        exponent: u32,
    },
    #[error("{value:?} does not fit in 64-bit minor units")]
    Overflow { value: String },
}

/// An ISO 4217 currency, validated on construction, with its minor-unit exponent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        iso_currency::Currency::from_code(code)
            .map(Currency)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal separator (2 for USD, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u32 {
        self.0.exponent().map(u32::from).unwrap_or(0)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// An amount in minor units of one currency. Signed: credits are positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// Parses a major-unit decimal string (`"49.99"`, `"-12.5"`) exactly.
    /// More decimals than the currency has is an error, never a rounding.
    pub fn parse_major(value: &str, currency: Currency) -> Result<Self, MoneyError> {
        let trimmed = value.trim();
        let decimal = Decimal::from_str_exact(trimmed).map_err(|_| MoneyError::NotDecimal {
            value: value.to_string(),
        })?;
        if trimmed.contains(['e', 'E']) {
            return Err(MoneyError::NotDecimal {
                value: value.to_string(),
            });
        }
        let exponent = currency.exponent();
        let normalized = decimal.normalize();
        if normalized.scale() > exponent {
            return Err(MoneyError::TooManyDecimals {
                value: value.to_string(),
                decimals: normalized.scale(),
                currency,
                exponent,
            });
        }
        let factor = Decimal::from(10_i64.pow(exponent));
        let minor = decimal
            .checked_mul(factor)
            .and_then(|m| i64::try_from(m.trunc()).ok())
            .ok_or_else(|| MoneyError::Overflow {
                value: value.to_string(),
            })?;
        Ok(Money { minor, currency })
    }

    /// Formats in major units with exactly the currency's exponent: `49.99 USD`.
    pub fn to_major_string(&self) -> String {
        let exponent = self.currency.exponent();
        if exponent == 0 {
            return self.minor.to_string();
        }
        let factor = 10_i64.pow(exponent);
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        format!(
            "{sign}{}.{:0width$}",
            abs / factor as u64,
            abs % factor as u64,
            width = exponent as usize
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_major_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn exponents_come_from_iso_4217() {
        assert_eq!(usd().exponent(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("SEK").unwrap().exponent(), 2);
    }

    #[test]
    fn unknown_currency_is_an_error() {
        assert_eq!(
            Currency::parse("XYZ").unwrap_err(),
            MoneyError::UnknownCurrency("XYZ".into())
        );
    }

    #[test]
    fn parses_major_units_exactly() {
        assert_eq!(Money::parse_major("49.99", usd()).unwrap().minor, 4999);
        assert_eq!(Money::parse_major("49.9", usd()).unwrap().minor, 4990);
        assert_eq!(Money::parse_major("-12", usd()).unwrap().minor, -1200);
        assert_eq!(Money::parse_major("0.10", usd()).unwrap().minor, 10);
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse_major("1500", jpy).unwrap().minor, 1500);
    }

    #[test]
    fn more_decimals_than_the_currency_is_rejected_not_rounded() {
        let err = Money::parse_major("49.999", usd()).unwrap_err();
        assert_eq!(err.to_string(), "\"49.999\" has 3 decimals but USD has 2");
        // Trailing zeros are not extra precision.
        assert_eq!(Money::parse_major("49.900", usd()).unwrap().minor, 4990);
        let jpy = Currency::parse("JPY").unwrap();
        assert!(Money::parse_major("10.5", jpy).is_err());
    }

    #[test]
    fn rejects_non_decimals() {
        for bad in ["", "abc", "1,5", "1e3", "NaN", "12.34.5"] {
            assert!(Money::parse_major(bad, usd()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_major_units() {
        assert_eq!(Money::new(4999, usd()).to_major_string(), "49.99");
        assert_eq!(Money::new(-5, usd()).to_major_string(), "-0.05");
        assert_eq!(
            Money::new(1500, Currency::parse("JPY").unwrap()).to_string(),
            "1500 JPY"
        );
    }
}
