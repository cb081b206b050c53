//! Values parsed once at the edge. Each parse failure names what was wrong so the API can point
//! at the field.

use std::{collections::HashSet, fmt, str::FromStr, sync::LazyLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One thing wrong with one field of an input; `field` is a JSON pointer-like path (`contact.email`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// ISO 3166-1 alpha-2 codes from the shipped `data/country-codes` table.
static COUNTRIES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../../data/country-codes/country-codes.csv")
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').next())
        .filter(|code| code.len() == 2)
        .collect()
});

/// An ISO 3166-1 alpha-2 country code such as `DE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an ISO 3166-1 alpha-2 country code")]
pub struct CountryError(String);

impl CountryCode {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("country codes are ASCII")
    }
}

impl FromStr for CountryCode {
    type Err = CountryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes: [u8; 2] = s
            .as_bytes()
            .try_into()
            .map_err(|_| CountryError(s.to_owned()))?;
        if COUNTRIES.contains(s) {
            Ok(Self(bytes))
        } else {
            Err(CountryError(s.to_owned()))
        }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for CountryCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[A-Z]{2}$"))
            .description(Some("ISO 3166-1 alpha-2 country code"))
            .examples(["DE"])
            .into()
    }
}

impl utoipa::ToSchema for CountryCode {}

/// Checks a required free-text field: trimmed, non-empty, bounded.
pub fn text(field: &str, value: &str, max_len: usize) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > max_len {
        return Err(FieldError::new(
            field,
            format_args!("must be at most {max_len} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// An e-mail address as a contact field: one `@`, a dotted domain, no spaces, at most 254
/// characters. Deliverability and disposable domains are signals, judged elsewhere.
pub fn email(field: &str, value: &str) -> Result<String, FieldError> {
    let value = text(field, value, 254)?;
    let valid = match value.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !value.contains(char::is_whitespace)
                && domain_name(field, domain).is_ok()
        }
        None => false,
    };
    if valid {
        Ok(value)
    } else {
        Err(FieldError::new(
            field,
            "must be an e-mail address such as ops@example.com",
        ))
    }
}

/// A phone number in E.164 form: `+`, then 8 to 15 digits.
pub fn phone_e164(field: &str, value: &str) -> Result<String, FieldError> {
    let digits = value.strip_prefix('+').unwrap_or_default();
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new(
            field,
            "must be in E.164 form, e.g. +4930123456",
        ))
    }
}

/// A DNS domain name, returned lower-cased.
pub fn domain_name(field: &str, value: &str) -> Result<String, FieldError> {
    let lower = value.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels_ok = lower.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if lower.len() <= 253 && lower.contains('.') && labels_ok {
        Ok(lower)
    } else {
        Err(FieldError::new(
            field,
            "must be a domain name such as example.com",
        ))
    }
}

/// The most elements one batch request carries on any route (usage records, activity records,
/// list items), and the largest chunk an import sends: one batch is one transaction, so it is
/// bounded.
pub const MAX_BATCH: usize = 10_000;

/// A batch holds 1 to `max` elements; `field` names the batch and `noun` its elements.
pub fn batch_size(n: usize, max: usize, field: &str, noun: &str) -> Result<(), FieldError> {
    match n {
        0 => Err(FieldError::new(field, "must not be empty")),
        n if n > max => Err(FieldError::new(
            field,
            format_args!("a batch holds at most {max} {noun}, got {n}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_come_from_the_shipped_table() {
        assert_eq!("DE".parse::<CountryCode>().unwrap().as_str(), "DE");
        assert!("de".parse::<CountryCode>().is_err());
        assert!("XX".parse::<CountryCode>().is_err());
        assert!("DEU".parse::<CountryCode>().is_err());
        assert!(COUNTRIES.len() > 240);
    }

    #[test]
    fn contact_fields() {
        assert!(email("email", "ops@acme.example").is_ok());
        for bad in [
            "ops",
            "@acme.example",
            "ops@acme",
            "o ps@acme.example",
            "ops@-acme.example",
        ] {
            assert_eq!(email("email", bad).unwrap_err().field, "email", "{bad}");
        }
        assert!(phone_e164("phone", "+4930123456").is_ok());
        for bad in ["4930123456", "+49 30 123456", "+12", "+1234567890123456"] {
            assert!(phone_e164("phone", bad).is_err(), "{bad}");
        }
        assert_eq!(domain_name("d", "Acme.Example.").unwrap(), "acme.example");
        assert!(domain_name("d", "localhost").is_err());
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("name", "  Acme ", 10).unwrap(), "Acme");
        assert_eq!(text("name", "   ", 10).unwrap_err().field, "name");
        assert!(text("name", "x".repeat(11).as_str(), 10).is_err());
        assert!(text("name", "a\u{0}b", 10).is_err());
    }

    #[test]
    fn a_batch_holds_one_to_max_elements() {
        assert!(batch_size(1, 3, "items", "items").is_ok());
        assert!(batch_size(3, 3, "items", "items").is_ok());
        assert_eq!(
            batch_size(0, 3, "items", "items").unwrap_err().field,
            "items"
        );
        let too_many = batch_size(4, 3, "records", "records").unwrap_err();
        assert_eq!(too_many.field, "records");
        assert_eq!(too_many.message, "a batch holds at most 3 records, got 4");
    }
}
