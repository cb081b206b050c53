//! Parsing and printing of the amounts every collections fact carries. Amounts are bounded so
//! that sums over any realistic ledger stay far inside `Decimal`'s range: the fold and the aging
//! report can then add without overflow checks at every step.

use rust_decimal::Decimal;

use crate::{Currency, Money, validate::FieldError};

/// The largest amount accepted on any fact: 10^15 units of a currency.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// Whether zero is an acceptable amount for a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zero {
    Allowed,
    Refused,
}

/// Parses an ISO 4217 code for `field`.
pub(crate) fn currency(field: &str, code: &str) -> Result<Currency, FieldError> {
    code.parse().map_err(|e| FieldError::new(field, e))
}

/// Checks an amount for `field`: not negative, not above [`MAX_AMOUNT`], no finer than the
/// currency's minor unit, and positive unless `zero` allows it.
pub(crate) fn money(
    field: &str,
    amount: Decimal,
    currency: Currency,
    zero: Zero,
) -> Result<Money, FieldError> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(FieldError::new(field, "must not be negative"));
    }
    if amount.is_zero() && zero == Zero::Refused {
        return Err(FieldError::new(field, "must be greater than zero"));
    }
    if amount > MAX_AMOUNT {
        return Err(FieldError::new(
            field,
            format_args!("must be at most {MAX_AMOUNT}"),
        ));
    }
    Money::new(amount, currency).map_err(|e| FieldError::new(field, e))
}

/// `EUR 120.00`: the currency first and every minor digit shown, as a customer reads it.
pub fn display(amount: Decimal, currency: Currency) -> String {
    let mut shown = amount;
    shown.rescale(currency.minor_digits());
    format!("{} {shown}", currency.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        "EUR".parse().unwrap()
    }

    #[test]
    fn max_amount_is_ten_to_the_fifteen() {
        assert_eq!(MAX_AMOUNT, Decimal::from(1_000_000_000_000_000i64));
    }

    #[test]
    fn refuses_negative_zero_huge_and_too_precise_amounts() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            money("total", d("-1"), eur(), Zero::Allowed)
                .unwrap_err()
                .field,
            "total"
        );
        assert!(money("x", d("0"), eur(), Zero::Refused).is_err());
        assert!(money("x", d("0"), eur(), Zero::Allowed).is_ok());
        assert!(money("x", MAX_AMOUNT + Decimal::ONE, eur(), Zero::Allowed).is_err());
        assert!(money("x", d("1.005"), eur(), Zero::Allowed).is_err());
        assert!(currency("currency", "eur").is_err());
    }

    #[test]
    fn displays_every_minor_digit() {
        assert_eq!(display(Decimal::from(120), eur()), "EUR 120.00");
        assert_eq!(display(Decimal::from(5), "JPY".parse().unwrap()), "JPY 5");
    }
}
