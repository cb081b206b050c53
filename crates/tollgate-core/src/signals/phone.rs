//! Phone signals: whether the number is a real E.164 number and which country it belongs to,
//! by Google's libphonenumber metadata (the `phonenumber` crate).

use serde::{Deserialize, Serialize};

use crate::validate::CountryCode;

/// The `phone` section of the features.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneFeatures {
    pub valid: bool,
    /// The number's region, "" when invalid or not tied to one country.
    pub country: String,
    /// The number's country is the billing country (false when either is unknown).
    pub matches_billing: bool,
}

/// What the phone number says on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneCheck {
    pub valid: bool,
    pub country: Option<CountryCode>,
}

/// Checks an E.164 number (`+` then the country calling code). Numbers without the `+` are
/// invalid: guessing their country from the billing address would hide the mismatch this
/// signal exists to find.
pub fn check(e164: &str) -> PhoneCheck {
    let text = e164.trim();
    let parsed = text
        .starts_with('+')
        .then(|| phonenumber::parse(None, text).ok())
        .flatten();
    match parsed {
        Some(number) if number.is_valid() => PhoneCheck {
            valid: true,
            // The region is resolved from the full number, so +1 809… is DO, not US.
            country: number
                .country()
                .id()
                .and_then(|id| id.as_ref().parse().ok()),
        },
        _ => PhoneCheck {
            valid: false,
            country: None,
        },
    }
}

/// The number in canonical E.164 (`+4915112345678`) when it parses, so `+49 151 1234-5678`
/// and `+49 (0)151 12345678` link as one phone.
pub fn e164(raw: &str) -> Option<String> {
    let text = raw.trim();
    if !text.starts_with('+') {
        return None;
    }
    let number = phonenumber::parse(None, text).ok()?;
    Some(number.format().mode(phonenumber::Mode::E164).to_string())
}

impl PhoneFeatures {
    pub fn compute(check: PhoneCheck, billing_country: Option<CountryCode>) -> Self {
        Self {
            valid: check.valid,
            country: check.country.map(|c| c.to_string()).unwrap_or_default(),
            matches_billing: check.country.is_some() && check.country == billing_country,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(e164: &str) -> Option<String> {
        check(e164).country.map(|c| c.to_string())
    }

    #[test]
    fn valid_numbers_report_their_region() {
        assert!(check("+4915112345678").valid);
        assert_eq!(country("+4915112345678").as_deref(), Some("DE"));
        assert_eq!(country("+442079460000").as_deref(), Some("GB"));
        assert_eq!(country("+12015550123").as_deref(), Some("US"));
        // Shares +1 with the US; the region comes from the area code.
        assert_eq!(country("+18092345678").as_deref(), Some("DO"));
    }

    #[test]
    fn invalid_or_non_e164_numbers_have_no_country() {
        for bad in [
            "+49123",
            "015112345678",
            "+999123456789",
            "",
            "+",
            "++49",
            "+49 abc",
            "+4915112345678901234567890",
        ] {
            assert_eq!(
                check(bad),
                PhoneCheck {
                    valid: false,
                    country: None
                },
                "{bad}"
            );
        }
    }

    #[test]
    fn e164_form_is_canonical() {
        assert_eq!(e164("+49 151 1234-5678").as_deref(), Some("+4915112345678"));
        assert_eq!(
            e164("+49 (0)151 12345678").as_deref(),
            Some("+4915112345678")
        );
        assert_eq!(e164("015112345678"), None);
        assert_eq!(e164("+"), None);
    }

    #[test]
    fn billing_match_needs_both_countries() {
        let de: CountryCode = "DE".parse().unwrap();
        let german = check("+4915112345678");
        assert!(PhoneFeatures::compute(german, Some(de)).matches_billing);
        assert!(!PhoneFeatures::compute(german, Some("AT".parse().unwrap())).matches_billing);
        assert!(!PhoneFeatures::compute(german, None).matches_billing);
        let invalid = PhoneFeatures::compute(check("+49123"), Some(de));
        assert_eq!(invalid, PhoneFeatures::default());
    }
}
