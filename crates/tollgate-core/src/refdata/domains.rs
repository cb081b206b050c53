//! Sets of e-mail domains (disposable providers, free-mail providers).

use std::{collections::HashSet, io::Read};

use super::text::{self, LineProblem, ParseError};

/// Lower-case ASCII domain names, matched on the name itself or any parent domain, so
/// `eu.mailinator.com` counts as `mailinator.com`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainSet(HashSet<Box<str>>);

impl DomainSet {
    /// One domain per line (blank lines and `#` comments skipped), plain or gzip.
    pub fn from_lines(reader: impl Read) -> Result<Self, ParseError> {
        let mut set = HashSet::new();
        for line in text::data_lines(reader)? {
            let (number, line) = line?;
            set.insert(domain(&line).map_err(|p| p.at(number))?);
        }
        Self::non_empty(set)
    }

    /// A JSON array of domain strings, plain or gzip.
    pub fn from_json_array(reader: impl Read) -> Result<Self, ParseError> {
        let entries: Vec<String> =
            serde_json::from_reader(text::open(reader)?).map_err(|error| ParseError::Json {
                line: error.line(),
                column: error.column(),
                message: error.to_string(),
            })?;
        let set = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                domain(entry).map_err(|problem| ParseError::Entry { index, problem })
            })
            .collect::<Result<_, _>>()?;
        Self::non_empty(set)
    }

    fn non_empty(set: HashSet<Box<str>>) -> Result<Self, ParseError> {
        if set.is_empty() {
            Err(ParseError::Empty)
        } else {
            Ok(Self(set))
        }
    }

    /// Whether `name` (already lower case) or one of its parent domains is in the set.
    pub fn contains_domain_or_parent(&self, name: &str) -> bool {
        parents(name).any(|candidate| self.0.contains(candidate))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<String> for DomainSet {
    /// Builds a set from names already known to be valid (a tenant's configuration, a test);
    /// names are lower-cased.
    fn from_iter<I: IntoIterator<Item = String>>(names: I) -> Self {
        Self(
            names
                .into_iter()
                .map(|name| name.to_ascii_lowercase().into_boxed_str())
                .collect(),
        )
    }
}

/// `a.b.example.com`, `b.example.com`, `example.com`: every suffix that is still a domain with
/// at least two labels.
pub(crate) fn parents(name: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(name), |current| {
        current
            .split_once('.')
            .map(|(_, rest)| rest)
            .filter(|rest| rest.contains('.'))
    })
}

fn domain(raw: &str) -> Result<Box<str>, LineProblem> {
    let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if name.len() > 253 || !name.contains('.') || !labels_ok {
        return Err(LineProblem::Domain(raw.to_owned()));
    }
    Ok(name.into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_stop_before_the_top_level_domain() {
        let all: Vec<_> = parents("a.b.example.com").collect();
        assert_eq!(all, ["a.b.example.com", "b.example.com", "example.com"]);
        assert_eq!(parents("example.com").count(), 1);
    }

    #[test]
    fn lines_are_normalized_and_matched_with_parents() {
        let set =
            DomainSet::from_lines(&b"# list\nMailinator.com\nguerrillamail.com.\n"[..]).unwrap();
        assert_eq!(set.len(), 2);
        assert!(set.contains_domain_or_parent("mailinator.com"));
        assert!(set.contains_domain_or_parent("eu.mailinator.com"));
        assert!(set.contains_domain_or_parent("guerrillamail.com"));
        assert!(!set.contains_domain_or_parent("mailinator.co"));
        assert!(!set.contains_domain_or_parent("com"));
    }

    #[test]
    fn bad_lines_are_named() {
        let error = DomainSet::from_lines(&b"ok.com\nnot a domain\n"[..]).unwrap_err();
        assert_eq!(error, LineProblem::Domain("not a domain".into()).at(2));
        assert!(DomainSet::from_lines(&b"localhost\n"[..]).is_err());
        assert!(DomainSet::from_lines(&b"-bad.com\n"[..]).is_err());
        assert!(DomainSet::from_lines(&b"b\xc3\xbccher.de\n"[..]).is_err());
        assert_eq!(
            DomainSet::from_lines(&b"# none\n"[..]),
            Err(ParseError::Empty)
        );
    }

    #[test]
    fn json_arrays_report_positions_and_entries() {
        let set = DomainSet::from_json_array(&br#"["gmail.com", "GMX.de"]"#[..]).unwrap();
        assert!(set.contains_domain_or_parent("gmx.de"));
        assert!(matches!(
            DomainSet::from_json_array(&b"[\"gmail.com\",\n 3]"[..]),
            Err(ParseError::Json { line: 2, .. })
        ));
        assert_eq!(
            DomainSet::from_json_array(&br#"["gmail.com", "x"]"#[..]),
            Err(ParseError::Entry {
                index: 1,
                problem: LineProblem::Domain("x".into())
            })
        );
    }
}
