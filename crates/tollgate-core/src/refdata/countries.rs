//! Country lists such as the default high-risk jurisdictions.

use std::{collections::BTreeSet, io::Read};

use serde::{Deserialize, Serialize};

use super::text::{self, LineProblem, ParseError};
use crate::validate::CountryCode;

/// A set of ISO 3166-1 alpha-2 countries, kept sorted so features that list them are stable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct CountrySet(BTreeSet<CountryCode>);

impl CountrySet {
    /// Reads the first comma-separated column of each line (plain or gzip): a bare list of codes
    /// or a CSV whose header starts with `country`. Blank lines and `#` comments are skipped;
    /// every code must be an assigned ISO code.
    pub fn from_reader(reader: impl Read) -> Result<Self, ParseError> {
        let mut set = BTreeSet::new();
        for line in text::data_lines(reader)? {
            let (number, line) = line?;
            let first = line.split(',').next().unwrap_or_default().trim();
            if number == 1 && first.eq_ignore_ascii_case("country") {
                continue;
            }
            let code = first
                .parse::<CountryCode>()
                .map_err(|_| LineProblem::Country(first.to_owned()).at(number))?;
            set.insert(code);
        }
        Ok(Self(set))
    }

    pub fn contains(&self, country: &CountryCode) -> bool {
        self.0.contains(country)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<CountryCode> for CountrySet {
    fn from_iter<I: IntoIterator<Item = CountryCode>>(countries: I) -> Self {
        Self(countries.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_column_after_an_optional_header() {
        let set = CountrySet::from_reader(&b"country,list\nIR,call\n# note\nKP\n"[..]).unwrap();
        assert_eq!(set.len(), 2);
        assert!(set.contains(&"KP".parse().unwrap()));
        assert!(!set.contains(&"DE".parse().unwrap()));
    }

    #[test]
    fn unknown_codes_name_their_line() {
        let error = CountrySet::from_reader(&b"IR\nXX\n"[..]).unwrap_err();
        assert_eq!(error, LineProblem::Country("XX".into()).at(2));
    }

    #[test]
    fn an_empty_list_is_allowed() {
        // A tenant may deliberately treat no country as high-risk.
        assert!(
            CountrySet::from_reader(&b"country\n"[..])
                .unwrap()
                .is_empty()
        );
    }
}
