//! Money is a decimal amount in one ISO 4217 currency. Amounts never pass through floats, and
//! arithmetic across currencies is refused rather than guessed.

use std::{fmt, str::FromStr};

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO 4217 currency code such as `EUR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(iso_currency::Currency);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    #[error("{currency} amounts have at most {max} decimal places")]
    TooPrecise { currency: Currency, max: u32 },
    #[error("the amount is too large")]
    Overflow,
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
}

impl Currency {
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Decimal places of the currency's minor unit (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn minor_digits(&self) -> u32 {
        self.0.exponent().map_or(0, u32::from)
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the canonical upper-case form: `eur` is more likely a typo than a currency.
        if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(MoneyError::UnknownCurrency(s.to_owned()));
        }
        iso_currency::Currency::from_code(s)
            .map(Self)
            .ok_or_else(|| MoneyError::UnknownCurrency(s.to_owned()))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[A-Z]{3}$"))
            .description(Some("ISO 4217 currency code"))
            .examples(["EUR"])
            .into()
    }
}

impl utoipa::ToSchema for Currency {}

/// An amount in a currency. Serialized as `{"amount": "12.50", "currency": "EUR"}` — the amount
/// is a string so no JSON parser turns it into a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Money {
    #[schema(value_type = String, example = "12.50")]
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    /// Builds money, refusing more decimal places than the currency has.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let max = currency.minor_digits();
        let normalized = amount.normalize();
        if normalized.scale() > max {
            return Err(MoneyError::TooPrecise { currency, max });
        }
        Ok(Self { amount, currency })
    }

    pub fn zero(currency: Currency) -> Self {
        Self {
            amount: Decimal::ZERO,
            currency,
        }
    }

    /// The amount in minor units (cents), the form both stores keep.
    pub fn to_minor(&self) -> Result<i64, MoneyError> {
        let scaled = self
            .amount
            .checked_mul(Decimal::from(10i64.pow(self.currency.minor_digits())))
            .ok_or(MoneyError::Overflow)?;
        if !scaled.fract().is_zero() {
            return Err(MoneyError::TooPrecise {
                currency: self.currency,
                max: self.currency.minor_digits(),
            });
        }
        i64::try_from(scaled).map_err(|_| MoneyError::Overflow)
    }

    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Self {
            amount: Decimal::new(minor, currency.minor_digits()),
            currency,
        }
    }

    pub fn is_negative(&self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { amount, ..self })
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { amount, ..self })
    }

    fn same_currency(&self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        "EUR".parse().unwrap()
    }

    #[test]
    fn parses_only_iso_codes() {
        assert_eq!(eur().code(), "EUR");
        assert!("eur".parse::<Currency>().is_err());
        assert!("EURO".parse::<Currency>().is_err());
        assert!("XXY".parse::<Currency>().is_err());
        assert_eq!("JPY".parse::<Currency>().unwrap().minor_digits(), 0);
        assert_eq!("KWD".parse::<Currency>().unwrap().minor_digits(), 3);
    }

    #[test]
    fn minor_units_round_trip() {
        let m = Money::new("12.5".parse().unwrap(), eur()).unwrap();
        assert_eq!(m.to_minor().unwrap(), 1250);
        assert_eq!(
            Money::from_minor(1250, eur()).amount,
            "12.50".parse().unwrap()
        );
    }

    #[test]
    fn refuses_sub_cent_amounts_and_mixed_currencies() {
        assert!(Money::new("0.001".parse().unwrap(), eur()).is_err());
        assert!(Money::new("1.000".parse().unwrap(), eur()).is_ok());
        let usd = Money::zero("USD".parse().unwrap());
        assert!(matches!(
            Money::zero(eur()).checked_add(usd),
            Err(MoneyError::CurrencyMismatch(..))
        ));
    }

    #[test]
    fn serializes_amount_as_string() {
        let m = Money::from_minor(199, eur());
        assert_eq!(
            serde_json::to_value(m).unwrap(),
            serde_json::json!({"amount": "1.99", "currency": "EUR"})
        );
    }
}
