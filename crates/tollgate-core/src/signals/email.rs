//! E-mail signals: syntax, disposable and free-mail providers, the company's own domain, and
//! the normalized address that links accounts created with throw-away variants.

use email_address::{EmailAddress, Options};
use serde::{Deserialize, Serialize};

use crate::refdata::{DomainSet, ReferenceData};

/// The `email` section of the features.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailFeatures {
    pub valid: bool,
    pub disposable: bool,
    /// A free-mail provider (gmail.com, gmx.de…) rather than a company domain. Disposable
    /// domains are reported as disposable only.
    pub free: bool,
    pub domain: String,
    pub domain_matches_company: bool,
    pub normalized: String,
}

/// A bare address with a dotted domain: no display name, no `[192.0.2.1]` literal.
const SYNTAX: Options = Options {
    minimum_sub_domains: 2,
    allow_domain_literal: false,
    allow_display_text: false,
    allow_long_local_parts: false,
};

impl EmailFeatures {
    pub fn compute(address: &str, company_domain: &str, data: &ReferenceData) -> Self {
        let domain = domain_of(address);
        let disposable = is_listed(&domain, &data.disposable_domains);
        Self {
            valid: is_valid(address),
            disposable,
            free: !disposable && is_listed(&domain, &data.free_mail_domains),
            domain_matches_company: domain_matches_company(&domain, company_domain),
            normalized: normalize(address),
            domain,
        }
    }
}

/// Syntax per RFC 5322 as the `email_address` crate reads it, with a dotted domain required.
pub fn is_valid(address: &str) -> bool {
    EmailAddress::parse_with_options(address, SYNTAX).is_ok()
}

/// The lower-case domain after the last `@`, or "" when there is none. Computed for malformed
/// addresses too, so a disposable domain is still seen behind a typo.
pub fn domain_of(address: &str) -> String {
    address
        .trim()
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default()
}

fn is_listed(domain: &str, set: &DomainSet) -> bool {
    !domain.is_empty() && set.contains_domain_or_parent(domain)
}

/// A company domain as people type it (`https://www.Acme.com/about`) reduced to `acme.com`.
pub fn company_domain(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    let without_scheme = lower
        .split_once("://")
        .map_or(lower.as_str(), |(_, rest)| rest);
    let host = without_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let host = host.split(':').next().unwrap_or_default();
    let host = host.trim_end_matches('.');
    host.strip_prefix("www.").unwrap_or(host).to_owned()
}

/// Whether mail comes from the company's domain or one of its subdomains (`eu.acme.com` for
/// `acme.com`), never from a look-alike (`acme.com.evil.io`, `notacme.com`).
pub fn domain_matches_company(email_domain: &str, company: &str) -> bool {
    let company = company_domain(company);
    if email_domain.is_empty() || company.is_empty() {
        return false;
    }
    email_domain == company
        || email_domain
            .strip_suffix(company.as_str())
            .is_some_and(|prefix| prefix.ends_with('.'))
}

/// Providers that ignore dots in the local part and treat `googlemail.com` as `gmail.com`.
const DOTLESS_PROVIDERS: [&str; 2] = ["gmail.com", "googlemail.com"];

/// The address used to link accounts. The rule:
/// 1. trim and lower-case the whole address;
/// 2. drop a `+tag` from the local part, for every domain: sub-addressing is supported by
///    Gmail, Outlook, iCloud, Fastmail, Proton and most company mail servers, and the base
///    mailbox is what identifies a person;
/// 3. for Gmail (`gmail.com`, `googlemail.com`, written as `gmail.com`) also drop dots from the
///    local part, since Gmail ignores them.
///
/// Without an `@` the lower-cased input is returned.
pub fn normalize(address: &str) -> String {
    let lower = address.trim().to_ascii_lowercase();
    let Some((local, domain)) = lower.rsplit_once('@') else {
        return lower;
    };
    let base = local.split_once('+').map_or(local, |(base, _)| base);
    if DOTLESS_PROVIDERS.contains(&domain) {
        format!("{}@gmail.com", base.replace('.', ""))
    } else {
        format!("{base}@{domain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> ReferenceData {
        ReferenceData {
            disposable_domains: ["mailinator.com".to_owned()].into_iter().collect(),
            free_mail_domains: ["gmail.com", "gmx.de", "mailinator.com"]
                .map(String::from)
                .into_iter()
                .collect(),
            ..ReferenceData::embedded().unwrap().clone()
        }
    }

    #[test]
    fn syntax_needs_a_bare_address_with_a_dotted_domain() {
        assert!(is_valid("jane.doe@acme.com"));
        assert!(!is_valid("jane.doe@localhost"));
        assert!(!is_valid("Jane <jane@acme.com>"));
        assert!(!is_valid("jane@[192.0.2.1]"));
        assert!(!is_valid("jane@@acme.com"));
        assert!(!is_valid("no-at-sign.com"));
        assert!(!is_valid(""));
    }

    #[test]
    fn disposable_wins_over_free_and_covers_subdomains() {
        let data = data();
        let throwaway = EmailFeatures::compute("x@eu.Mailinator.com", "acme.com", &data);
        assert!(throwaway.disposable && !throwaway.free);
        assert_eq!(throwaway.domain, "eu.mailinator.com");
        let free = EmailFeatures::compute("ceo@gmx.de", "acme.com", &data);
        assert!(free.free && !free.disposable && free.valid);
        let company = EmailFeatures::compute("ceo@acme.com", "acme.com", &data);
        assert!(!company.free && !company.disposable && company.domain_matches_company);
    }

    #[test]
    fn malformed_addresses_still_expose_their_domain() {
        let features = EmailFeatures::compute("x@@mailinator.com", "acme.com", &data());
        assert!(!features.valid && features.disposable);
        let features = EmailFeatures::compute("nobody", "acme.com", &data());
        assert_eq!(
            features,
            EmailFeatures {
                normalized: "nobody".into(),
                ..EmailFeatures::default()
            }
        );
    }

    #[test]
    fn company_domains_are_reduced_to_the_host() {
        assert_eq!(company_domain("https://www.Acme.com/about?x=1"), "acme.com");
        assert_eq!(company_domain(" acme.com. "), "acme.com");
        assert_eq!(
            company_domain("http://user@shop.acme.com:8080"),
            "shop.acme.com"
        );
        assert_eq!(company_domain(""), "");
    }

    #[test]
    fn company_match_includes_subdomains_but_not_look_alikes() {
        assert!(domain_matches_company("acme.com", "www.acme.com"));
        assert!(domain_matches_company("eu.acme.com", "acme.com"));
        assert!(!domain_matches_company("notacme.com", "acme.com"));
        assert!(!domain_matches_company("acme.com.evil.io", "acme.com"));
        assert!(!domain_matches_company("gmail.com", "acme.com"));
        assert!(!domain_matches_company("", ""));
    }

    #[test]
    fn normalization_folds_gmail_variants_and_plus_tags() {
        assert_eq!(normalize(" J.Doe+shop@GoogleMail.com"), "jdoe@gmail.com");
        assert_eq!(normalize("j.d.o.e@gmail.com"), "jdoe@gmail.com");
        assert_eq!(normalize("jane.doe+eu@acme.com"), "jane.doe@acme.com");
        assert_eq!(normalize("Jane.Doe@Outlook.com"), "jane.doe@outlook.com");
        assert_eq!(normalize("no-at-sign"), "no-at-sign");
    }
}
