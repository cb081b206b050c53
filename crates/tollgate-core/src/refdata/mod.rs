//! Reference data the signals look things up in: card BIN ranges, disposable and free-mail
//! domains, IPv4 ranges by country and the default high-risk country list.
//!
//! Tollgate ships one copy of each under `data/` (see each folder's `SOURCE.md` for origin and
//! license) and embeds it in the binary. Every table can also be built from a user's own file:
//! the parsers take any [`std::io::Read`] (plain or gzip-compressed, detected by its magic
//! bytes), so the caller decides where the bytes come from and this crate performs no I/O.
//! Parse errors name the line (or JSON position) at fault.

mod bins;
mod countries;
mod domains;
mod ip_country;
mod text;

use std::sync::OnceLock;

pub use bins::{Bin, BinError, BinRecord, BinTable, Funding};
pub use countries::CountrySet;
pub use domains::DomainSet;
pub use ip_country::IpCountryTable;
pub use text::{LineProblem, ParseError};

/// Which shipped table a [`RefDataError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    Bins,
    DisposableDomains,
    FreeMailDomains,
    IpCountries,
    HighRiskCountries,
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dataset::Bins => "BIN table",
            Dataset::DisposableDomains => "disposable e-mail domain list",
            Dataset::FreeMailDomains => "free-mail domain list",
            Dataset::IpCountries => "IPv4 country table",
            Dataset::HighRiskCountries => "high-risk country list",
        })
    }
}

/// A reference table could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{dataset}: {error}")]
pub struct RefDataError {
    pub dataset: Dataset,
    pub error: ParseError,
}

impl RefDataError {
    fn in_dataset(dataset: Dataset) -> impl FnOnce(ParseError) -> Self {
        move |error| Self { dataset, error }
    }
}

/// Every lookup table the signals need. Fields are public so a deployment can swap any one
/// table for its own file while keeping the shipped others:
///
/// ```no_run
/// # use tollgate_core::refdata::*;
/// # fn demo(my_bins: std::fs::File) -> Result<(), RefDataError> {
/// let data = ReferenceData {
///     bins: BinTable::from_reader(my_bins)
///         .map_err(|error| RefDataError { dataset: Dataset::Bins, error })?,
///     ..ReferenceData::load_embedded()?
/// };
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ReferenceData {
    pub bins: BinTable,
    pub disposable_domains: DomainSet,
    pub free_mail_domains: DomainSet,
    pub ip_countries: IpCountryTable,
    /// The shipped default; a tenant's own list in `SignalConfig` takes precedence.
    pub high_risk_countries: CountrySet,
}

const BINS: &[u8] = include_bytes!("../../../../data/bin-ranges/bins.csv.gz");
const DISPOSABLE: &[u8] =
    include_bytes!("../../../../data/disposable-email-domains/disposable_email_blocklist.conf");
const FREE_MAIL: &[u8] = include_bytes!("../../../../data/free-email-domains/domains.json");
const IP_COUNTRIES: &[u8] =
    include_bytes!("../../../../data/ip-country-ipv4/asn-country-ipv4-num.csv");
const HIGH_RISK: &[u8] =
    include_bytes!("../../../../data/high-risk-countries/high-risk-countries.csv");

static EMBEDDED: OnceLock<Result<ReferenceData, RefDataError>> = OnceLock::new();

impl ReferenceData {
    /// The shipped tables, parsed on first use and shared for the life of the process.
    ///
    /// The first call decompresses and parses ~11 MB of BIN CSV (327 k rows) and ~3.5 MB of IP
    /// ranges (140 k rows): about 2 s in an unoptimized test build on a 2-core machine (an
    /// optimized build is several times faster) and roughly 10 MB of tables kept in memory.
    /// Call it once at start-up so no request pays for it.
    pub fn embedded() -> Result<&'static ReferenceData, RefDataError> {
        EMBEDDED
            .get_or_init(Self::load_embedded)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Parses the shipped tables into a fresh, owned value (the cost of [`Self::embedded`]
    /// every time); use it as the base when replacing some tables with the user's own.
    pub fn load_embedded() -> Result<Self, RefDataError> {
        Ok(Self {
            bins: BinTable::from_reader(BINS).map_err(RefDataError::in_dataset(Dataset::Bins))?,
            disposable_domains: DomainSet::from_lines(DISPOSABLE)
                .map_err(RefDataError::in_dataset(Dataset::DisposableDomains))?,
            free_mail_domains: DomainSet::from_json_array(FREE_MAIL)
                .map_err(RefDataError::in_dataset(Dataset::FreeMailDomains))?,
            ip_countries: IpCountryTable::from_reader(IP_COUNTRIES)
                .map_err(RefDataError::in_dataset(Dataset::IpCountries))?,
            high_risk_countries: CountrySet::from_reader(HIGH_RISK)
                .map_err(RefDataError::in_dataset(Dataset::HighRiskCountries))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn shipped_tables_parse_and_answer_spot_checks() {
        let data = ReferenceData::embedded().unwrap();
        assert!(data.bins.len() > 300_000);
        let prepaid = data.bins.lookup(&"42420012".parse().unwrap()).unwrap();
        assert_eq!((prepaid.prefix_len, prepaid.brand), (6, "VISA"));
        assert!(prepaid.is_prepaid());
        let gold = data.bins.lookup(&"424201".parse().unwrap()).unwrap();
        assert!(!gold.is_prepaid());
        assert!(
            data.disposable_domains
                .contains_domain_or_parent("mailinator.com")
        );
        assert!(
            data.free_mail_domains
                .contains_domain_or_parent("gmail.com")
        );
        let us = data.ip_countries.lookup(Ipv4Addr::new(8, 8, 8, 8));
        assert_eq!(us.map(|c| c.to_string()).as_deref(), Some("US"));
        assert!(data.high_risk_countries.contains(&"KP".parse().unwrap()));
        assert_eq!(data.high_risk_countries.len(), 25);
    }

    #[test]
    fn errors_name_the_dataset_and_line() {
        let error = BinTable::from_reader(
            &b"bin,brand,funding,category,country\n12x456,V,credit,,US\n"[..],
        )
        .map_err(RefDataError::in_dataset(Dataset::Bins))
        .unwrap_err();
        assert_eq!(error.dataset, Dataset::Bins);
        assert!(
            error.to_string().starts_with("BIN table: line 2:"),
            "{error}"
        );
    }
}
