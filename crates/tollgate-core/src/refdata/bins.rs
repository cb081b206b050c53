//! The BIN table: the first 6–8 digits of a card number say who issued it, in which country, and
//! whether it is a prepaid or gift card.

use std::{collections::HashMap, fmt, io::Read, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::text::{self, LineProblem, ParseError};
use crate::validate::CountryCode;

str_enum!(
    /// How a card is funded, as a PSP or the BIN table reports it.
    Funding {
        Credit = "credit",
        Debit = "debit",
        /// Prepaid, stored-value or gift.
        Prepaid = "prepaid",
        Charge = "charge",
        Unknown = "unknown",
    }
);

/// A bank identification number: the first 6 to 8 digits of a card number, never more, so a
/// full card number cannot pass for one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bin(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a BIN is 6 to 8 digits")]
pub struct BinError;

impl Bin {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Bin {
    type Err = BinError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if (6..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(BinError)
        }
    }
}

impl fmt::Display for Bin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Bin {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bin {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Bin {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9]{6,8}$"))
            .description(Some(
                "Bank identification number: the first 6 to 8 card digits",
            ))
            .examples(["424242"])
            .into()
    }
}

impl utoipa::ToSchema for Bin {}

/// BINs of different lengths are different keys: `41111111` is more specific than `411111`.
type BinKey = (u8, u32);

fn key_of(digits: &str) -> Option<BinKey> {
    Some((u8::try_from(digits.len()).ok()?, digits.parse().ok()?))
}

#[derive(Debug, Clone)]
struct BinInfo {
    brand: u32,
    category: u32,
    funding: Funding,
    country: Option<CountryCode>,
}

/// What the table says about one BIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinRecord<'a> {
    /// How many leading digits of the BIN looked up matched a table entry (the longest listed).
    pub prefix_len: usize,
    pub brand: &'a str,
    /// The issuer's product category (`CLASSIC`, `PREPAID RELOADABLE`, `GIFT`…), upper case.
    pub category: &'a str,
    pub funding: Funding,
    pub country: Option<CountryCode>,
}

/// Category words that mark stored-value products even when the funding column says debit.
const PREPAID_MARKERS: [&str; 3] = ["PREPAID", "GIFT", "STORED VALUE"];

impl BinRecord<'_> {
    /// Prepaid, stored-value or gift, by funding or by product category.
    pub fn is_prepaid(&self) -> bool {
        self.funding == Funding::Prepaid
            || PREPAID_MARKERS
                .iter()
                .any(|marker| self.category.contains(marker))
    }
}

/// BIN → issuer facts, answering for the longest listed prefix (8, then 7, then 6 digits).
#[derive(Debug, Clone, Default)]
pub struct BinTable {
    /// Sorted by key for binary search; 12-byte rows keep the shipped 327 k entries near 5 MB.
    entries: Vec<(BinKey, BinInfo)>,
    /// Brands and categories repeat across hundreds of thousands of rows: stored once each.
    names: Vec<Box<str>>,
}

impl BinTable {
    /// Parses a CSV with header `bin,brand,funding,category,country` (gzip or plain). `funding`
    /// is `credit`, `debit`, `prepaid`, `charge` or empty; `country` is ISO alpha-2 or empty.
    pub fn from_reader(reader: impl Read) -> Result<Self, ParseError> {
        let mut interned: HashMap<String, u32> = HashMap::new();
        let mut names: Vec<Box<str>> = Vec::new();
        let mut intern = |name: &str| -> u32 {
            let upper = name.to_ascii_uppercase();
            *interned.entry(upper).or_insert_with_key(|key| {
                names.push(key.as_str().into());
                // Fewer than 2^32 distinct names: a table that size would not fit in memory.
                u32::try_from(names.len() - 1).unwrap_or(u32::MAX)
            })
        };
        let mut rows: Vec<(BinKey, usize, BinInfo)> = Vec::new();
        for line in text::data_lines(reader)? {
            let (number, line) = line?;
            if number == 1 && line.starts_with("bin,") {
                continue;
            }
            let [bin, brand, funding, category, country] =
                text::columns::<5>(&line).map_err(|p| p.at(number))?;
            let key = bin
                .parse::<Bin>()
                .ok()
                .and_then(|bin| key_of(bin.as_str()))
                .ok_or_else(|| LineProblem::Bin(bin.to_owned()).at(number))?;
            let funding = match funding.to_ascii_lowercase().as_str() {
                "" => Funding::Unknown,
                known => known
                    .parse()
                    .map_err(|_| LineProblem::Funding(funding.to_owned()).at(number))?,
            };
            let country = text::country_column(country).map_err(|p| p.at(number))?;
            let info = BinInfo {
                brand: intern(brand),
                category: intern(category),
                funding,
                country,
            };
            rows.push((key, number, info));
        }
        if rows.is_empty() {
            return Err(ParseError::Empty);
        }
        rows.sort_by_key(|(key, number, _)| (*key, *number));
        if let Some(pair) = rows.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            let (_, number, _) = &pair[1];
            let bin = bin_text(pair[1].0);
            return Err(LineProblem::DuplicateBin(bin).at(*number));
        }
        Ok(Self {
            entries: rows.into_iter().map(|(key, _, info)| (key, info)).collect(),
            names,
        })
    }

    /// The entry for the longest prefix of `bin` the table lists.
    pub fn lookup(&self, bin: &Bin) -> Option<BinRecord<'_>> {
        let digits = bin.as_str();
        (6..=digits.len()).rev().find_map(move |len| {
            let key = key_of(&digits[..len])?;
            let index = self.entries.binary_search_by_key(&key, |(k, _)| *k).ok()?;
            let (_, info) = &self.entries[index];
            Some(BinRecord {
                prefix_len: len,
                brand: self.name(info.brand),
                category: self.name(info.category),
                funding: info.funding,
                country: info.country,
            })
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn name(&self, index: u32) -> &str {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.names.get(i))
            .map_or("", |name| name)
    }
}

fn bin_text((len, value): BinKey) -> String {
    format!("{value:0width$}", width = usize::from(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "bin,brand,funding,category,country\n";

    fn table(rows: &str) -> Result<BinTable, ParseError> {
        BinTable::from_reader(format!("{HEADER}{rows}").as_bytes())
    }

    fn bin(text: &str) -> Bin {
        text.parse().unwrap()
    }

    #[test]
    fn bins_are_six_to_eight_digits() {
        assert!("424242".parse::<Bin>().is_ok());
        assert!("42424242".parse::<Bin>().is_ok());
        assert!("42424".parse::<Bin>().is_err());
        assert!("4242424242424242".parse::<Bin>().is_err());
        assert!("4242a2".parse::<Bin>().is_err());
    }

    #[test]
    fn the_longest_listed_prefix_wins() {
        let table = table("411111,VISA,debit,CLASSIC,PL\n41111122,VISA,credit,GOLD,DE\n").unwrap();
        let exact = table.lookup(&bin("41111122")).unwrap();
        assert_eq!((exact.prefix_len, exact.category), (8, "GOLD"));
        let shorter = table.lookup(&bin("41111133")).unwrap();
        assert_eq!((shorter.prefix_len, shorter.funding), (6, Funding::Debit));
        assert_eq!(shorter.country.unwrap().as_str(), "PL");
        assert!(table.lookup(&bin("511111")).is_none());
    }

    #[test]
    fn leading_zeros_and_lengths_do_not_collide() {
        let table = table("004078,PRIVATE LABEL,debit,GIFT,US\n").unwrap();
        assert!(table.lookup(&bin("004078")).is_some());
        assert!(table.lookup(&bin("407800")).is_none());
    }

    #[test]
    fn prepaid_comes_from_funding_or_category() {
        let table = table(
            "100000,V,debit,PREPAID RELOADABLE,US\n100001,V,debit,GIFT,US\n\
             100002,V,prepaid,,US\n100003,V,credit,PLATINUM,US\n",
        )
        .unwrap();
        let prepaid = |b| table.lookup(&bin(b)).unwrap().is_prepaid();
        assert!(prepaid("100000"));
        assert!(prepaid("100001"));
        assert!(prepaid("100002"));
        assert!(!prepaid("100003"));
    }

    #[test]
    fn bad_rows_name_their_line() {
        let at = |rows: &str| match table(rows) {
            Err(ParseError::Line { line, problem }) => (line, problem),
            other => panic!("expected a line error, got {other:?}"),
        };
        assert!(matches!(at("123,V,credit,,US\n"), (2, LineProblem::Bin(_))));
        assert!(matches!(
            at("123456,V,credit,,US\n123457,V,loan,,US\n"),
            (3, LineProblem::Funding(_))
        ));
        assert!(matches!(
            at("123456,V,credit,,USA\n"),
            (2, LineProblem::Country(_))
        ));
        assert!(matches!(
            at("123456,V,credit\n"),
            (2, LineProblem::Columns { .. })
        ));
        assert_eq!(
            at("123456,V,credit,,US\n123456,V,debit,,US\n"),
            (3, LineProblem::DuplicateBin("123456".into()))
        );
        assert!(matches!(table(""), Err(ParseError::Empty)));
    }
}
