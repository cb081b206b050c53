//! Geography signals: where the IP, billing address, card, bank account and phone each say the
//! customer is,
//! whether they disagree, and whether any is on the tenant's high-risk list.

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use serde::{Deserialize, Serialize};

use crate::{
    refdata::{CountrySet, IpCountryTable},
    validate::CountryCode,
};

/// The `geo` section of the features. Unknown countries are "".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeoFeatures {
    pub ip_country: String,
    pub billing_country: String,
    pub card_country: String,
    /// Where the bank account is held.
    pub bank_country: String,
    pub phone_country: String,
    /// Both known and equal.
    pub ip_matches_billing: bool,
    /// Both known and equal.
    pub card_matches_billing: bool,
    /// Both known and equal.
    pub bank_matches_billing: bool,
    /// Distinct known countries among IP, billing, card, bank and phone, minus one (0 when they
    /// agree).
    pub countries_disagreeing: u32,
    pub high_risk: bool,
    /// Which of the known countries are on the high-risk list, sorted.
    pub high_risk_countries: Vec<String>,
}

/// The countries a decision may know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KnownCountries {
    pub ip: Option<CountryCode>,
    pub billing: Option<CountryCode>,
    pub card: Option<CountryCode>,
    pub bank: Option<CountryCode>,
    pub phone: Option<CountryCode>,
}

/// The country an IP address is registered to. The shipped table is IPv4 only; an IPv4-mapped
/// IPv6 address (`::ffff:192.0.2.1`) is looked up as IPv4, other IPv6 addresses are unknown.
pub fn ip_country(ip: IpAddr, table: &IpCountryTable) -> Option<CountryCode> {
    match ip {
        IpAddr::V4(v4) => table.lookup(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().and_then(|v4| table.lookup(v4)),
    }
}

/// The network an address belongs to, as links and burst counts key it: the IPv4 /24
/// (`203.0.113.0/24`) or the IPv6 /48 (`2001:db8:1::/48`), the usual smallest allocation to
/// one site.
pub fn network_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let network = Ipv4Addr::from(u32::from(v4) & 0xffff_ff00);
            format!("{network}/24")
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_key(IpAddr::V4(v4)),
            None => {
                let network = Ipv6Addr::from(u128::from(v6) & !((1u128 << 80) - 1));
                format!("{network}/48")
            }
        },
    }
}

fn text(country: Option<CountryCode>) -> String {
    country.map(|c| c.to_string()).unwrap_or_default()
}

fn same(a: Option<CountryCode>, b: Option<CountryCode>) -> bool {
    a.is_some() && a == b
}

impl GeoFeatures {
    pub fn compute(countries: KnownCountries, high_risk_list: &CountrySet) -> Self {
        let KnownCountries {
            ip,
            billing,
            card,
            bank,
            phone,
        } = countries;
        let known: BTreeSet<CountryCode> = [ip, billing, card, bank, phone]
            .into_iter()
            .flatten()
            .collect();
        let high_risk_countries: Vec<String> = known
            .iter()
            .filter(|country| high_risk_list.contains(country))
            .map(ToString::to_string)
            .collect();
        Self {
            ip_country: text(ip),
            billing_country: text(billing),
            card_country: text(card),
            bank_country: text(bank),
            phone_country: text(phone),
            ip_matches_billing: same(ip, billing),
            card_matches_billing: same(card, billing),
            bank_matches_billing: same(bank, billing),
            countries_disagreeing: u32::try_from(known.len().saturating_sub(1)).unwrap_or(u32::MAX),
            high_risk: !high_risk_countries.is_empty(),
            high_risk_countries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(code: &str) -> Option<CountryCode> {
        Some(code.parse().unwrap())
    }

    fn table() -> IpCountryTable {
        // 8.8.8.0/24 → US
        IpCountryTable::from_reader(&b"134744064,134744319,US\n"[..]).unwrap()
    }

    #[test]
    fn ip_country_handles_v4_mapped_v6_and_unknowns() {
        let table = table();
        let us = cc("US");
        assert_eq!(ip_country("8.8.8.8".parse().unwrap(), &table), us);
        assert_eq!(ip_country("::ffff:8.8.8.8".parse().unwrap(), &table), us);
        assert_eq!(ip_country("2001:db8::1".parse().unwrap(), &table), None);
        assert_eq!(ip_country("10.0.0.1".parse().unwrap(), &table), None);
    }

    #[test]
    fn network_keys_group_neighbours() {
        let key = |ip: &str| network_key(ip.parse().unwrap());
        assert_eq!(key("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(key("203.0.113.77"), key("203.0.113.1"));
        assert_ne!(key("203.0.113.77"), key("203.0.114.77"));
        assert_eq!(key("::ffff:203.0.113.77"), "203.0.113.0/24");
        assert_eq!(key("2001:db8:1:2::5"), "2001:db8:1::/48");
    }

    #[test]
    fn agreeing_countries_count_zero() {
        let geo = GeoFeatures::compute(
            KnownCountries {
                ip: cc("DE"),
                billing: cc("DE"),
                card: cc("DE"),
                phone: None,
                ..Default::default()
            },
            &CountrySet::default(),
        );
        assert_eq!(geo.countries_disagreeing, 0);
        assert!(geo.ip_matches_billing && geo.card_matches_billing);
        assert_eq!(geo.phone_country, "");
    }

    #[test]
    fn disagreement_counts_distinct_known_countries() {
        let geo = GeoFeatures::compute(
            KnownCountries {
                ip: cc("NG"),
                billing: cc("DE"),
                card: cc("US"),
                phone: cc("DE"),
                ..Default::default()
            },
            &CountrySet::default(),
        );
        assert_eq!(geo.countries_disagreeing, 2);
        assert!(!geo.ip_matches_billing && !geo.card_matches_billing);
        assert_eq!(
            GeoFeatures::compute(KnownCountries::default(), &CountrySet::default()),
            GeoFeatures::default()
        );
    }

    #[test]
    fn a_bank_account_abroad_counts_like_a_card_abroad() {
        let geo = GeoFeatures::compute(
            KnownCountries {
                ip: cc("DE"),
                billing: cc("DE"),
                bank: cc("LT"),
                ..Default::default()
            },
            &CountrySet::default(),
        );
        assert_eq!(geo.bank_country, "LT");
        assert!(!geo.bank_matches_billing && !geo.card_matches_billing);
        assert_eq!(geo.countries_disagreeing, 1);
    }

    #[test]
    fn high_risk_lists_which_known_countries_are_listed() {
        let list: CountrySet = ["IR", "KP"].iter().map(|c| c.parse().unwrap()).collect();
        let geo = GeoFeatures::compute(
            KnownCountries {
                ip: cc("KP"),
                billing: cc("DE"),
                card: cc("IR"),
                phone: cc("IR"),
                ..Default::default()
            },
            &list,
        );
        assert!(geo.high_risk);
        assert_eq!(geo.high_risk_countries, ["IR", "KP"]);
        let safe = GeoFeatures::compute(
            KnownCountries {
                billing: cc("DE"),
                ..Default::default()
            },
            &list,
        );
        assert!(!safe.high_risk && safe.high_risk_countries.is_empty());
    }
}
