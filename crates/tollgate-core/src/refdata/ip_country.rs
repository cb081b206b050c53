//! IPv4 address → country, from a table of inclusive, sorted, disjoint ranges.

use std::{io::Read, net::Ipv4Addr};

use super::text::{self, LineProblem, ParseError};
use crate::validate::CountryCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpRange {
    start: u32,
    end: u32,
    country: CountryCode,
}

/// IPv4 ranges by country, searched by binary search (~17 steps over the shipped 140 k ranges).
#[derive(Debug, Clone, Default)]
pub struct IpCountryTable(Vec<IpRange>);

impl IpCountryTable {
    /// Parses `start,end,country` lines (plain or gzip, no header) where start and end are
    /// IPv4 addresses as unsigned 32-bit numbers, inclusive, sorted and disjoint: the format of
    /// ip-location-db's `*-ipv4-num.csv` files. Ranges whose country is empty or not an assigned
    /// ISO code are skipped: they answer "unknown" either way.
    pub fn from_reader(reader: impl Read) -> Result<Self, ParseError> {
        let mut ranges: Vec<IpRange> = Vec::new();
        let mut previous_end: Option<u32> = None;
        for line in text::data_lines(reader)? {
            let (number, line) = line?;
            let [start, end, country] = text::columns::<3>(&line).map_err(|p| p.at(number))?;
            let parse = |field: &str| {
                field
                    .parse::<u32>()
                    .map_err(|_| LineProblem::IpNumber(field.to_owned()).at(number))
            };
            let (start, end) = (parse(start)?, parse(end)?);
            if end < start {
                return Err(LineProblem::ReversedRange.at(number));
            }
            if previous_end.is_some_and(|previous| start <= previous) {
                return Err(LineProblem::UnsortedRange.at(number));
            }
            previous_end = Some(end);
            if let Some(country) = text::country_column(country).map_err(|p| p.at(number))? {
                ranges.push(IpRange {
                    start,
                    end,
                    country,
                });
            }
        }
        if ranges.is_empty() {
            return Err(ParseError::Empty);
        }
        Ok(Self(ranges))
    }

    /// The country of the range holding `ip`, if any.
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<CountryCode> {
        let ip = u32::from(ip);
        let after = self.0.partition_point(|range| range.start <= ip);
        let range = self.0.get(after.checked_sub(1)?)?;
        (ip <= range.end).then_some(range.country)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> IpCountryTable {
        // 1.0.0.0–1.0.0.255 AU, 1.0.1.0–1.0.3.255 CN, gap, 1.0.8.0–1.0.15.255 JP
        IpCountryTable::from_reader(
            &b"16777216,16777471,AU\n16777472,16778239,CN\n16779264,16781311,JP\n"[..],
        )
        .unwrap()
    }

    fn country(table: &IpCountryTable, ip: [u8; 4]) -> Option<String> {
        table.lookup(Ipv4Addr::from(ip)).map(|c| c.to_string())
    }

    #[test]
    fn finds_the_range_holding_an_address() {
        let table = table();
        assert_eq!(country(&table, [1, 0, 0, 0]).as_deref(), Some("AU"));
        assert_eq!(country(&table, [1, 0, 0, 255]).as_deref(), Some("AU"));
        assert_eq!(country(&table, [1, 0, 1, 0]).as_deref(), Some("CN"));
        assert_eq!(country(&table, [1, 0, 15, 255]).as_deref(), Some("JP"));
    }

    #[test]
    fn gaps_and_edges_are_unknown() {
        let table = table();
        assert_eq!(country(&table, [0, 255, 255, 255]), None);
        assert_eq!(country(&table, [1, 0, 4, 0]), None);
        assert_eq!(country(&table, [255, 255, 255, 255]), None);
    }

    #[test]
    fn malformed_tables_name_the_line() {
        let error = |bytes: &[u8]| IpCountryTable::from_reader(bytes).unwrap_err();
        assert_eq!(
            error(b"10,20,AU\n15,30,CN\n"),
            LineProblem::UnsortedRange.at(2)
        );
        assert_eq!(error(b"20,10,AU\n"), LineProblem::ReversedRange.at(1));
        assert_eq!(
            error(b"1.0.0.0,1.0.0.255,AU\n"),
            LineProblem::IpNumber("1.0.0.0".into()).at(1)
        );
        assert_eq!(
            error(b"1,2,AUS\n"),
            LineProblem::Country("AUS".into()).at(1)
        );
        assert_eq!(error(b"1,2,\n"), ParseError::Empty);
    }
}
