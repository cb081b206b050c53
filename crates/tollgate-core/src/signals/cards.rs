//! Card signals: prepaid and gift cards by BIN, where the card was issued, the PSP's CVC, AVS
//! and 3-D Secure results, and expiry.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use super::facts::{CardFacts, CheckResult, ThreeDs};
use crate::{
    refdata::{BinRecord, Funding},
    validate::CountryCode,
};

/// The `card` section of the features; `present` is false when the decision has no card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFeatures {
    pub present: bool,
    pub bin: String,
    pub brand: String,
    pub funding: Funding,
    /// Prepaid, stored-value or gift.
    pub prepaid: bool,
    pub country: String,
    pub cvc_failed: bool,
    pub avs_failed: bool,
    /// `authenticated`, `attempted`, `none`, or "" without a card.
    pub three_ds: String,
    /// Neither authenticated nor attempted.
    pub no_three_ds: bool,
    pub expired: bool,
}

impl Default for CardFeatures {
    fn default() -> Self {
        Self {
            present: false,
            bin: String::new(),
            brand: String::new(),
            funding: Funding::Unknown,
            prepaid: false,
            country: String::new(),
            cvc_failed: false,
            avs_failed: false,
            three_ds: String::new(),
            no_three_ds: false,
            expired: false,
        }
    }
}

/// How the card is funded: the PSP's report wins (it sees the issuer's live data); otherwise
/// the BIN table, where a prepaid or gift product category makes it prepaid whatever the
/// funding column says.
pub fn effective_funding(reported: Option<Funding>, bin: Option<&BinRecord<'_>>) -> Funding {
    match (reported, bin) {
        (Some(funding), _) if funding != Funding::Unknown => funding,
        (_, Some(record)) if record.is_prepaid() => Funding::Prepaid,
        (_, Some(record)) => record.funding,
        _ => Funding::Unknown,
    }
}

/// The issuing country: the PSP's report wins over the BIN table.
pub fn card_country(
    reported: Option<CountryCode>,
    bin: Option<&BinRecord<'_>>,
) -> Option<CountryCode> {
    reported.or_else(|| bin.and_then(|record| record.country))
}

/// A card is valid through the last day of its expiry month. A month outside 1–12 cannot be
/// a real expiry and counts as expired.
pub fn is_expired(exp_month: u8, exp_year: u16, now: DateTime<Utc>) -> bool {
    if !(1..=12).contains(&exp_month) {
        return true;
    }
    (i32::from(exp_year), u32::from(exp_month)) < (now.year(), now.month())
}

impl CardFeatures {
    /// `bin` is the BIN table's entry for `card.bin`, if it lists one.
    pub fn compute(card: &CardFacts, bin: Option<&BinRecord<'_>>, now: DateTime<Utc>) -> Self {
        let funding = effective_funding(card.funding, bin);
        Self {
            present: true,
            bin: card.bin.to_string(),
            brand: bin
                .map(|record| record.brand.to_owned())
                .unwrap_or_default(),
            funding,
            prepaid: funding == Funding::Prepaid,
            country: card_country(card.country, bin)
                .map(|c| c.to_string())
                .unwrap_or_default(),
            cvc_failed: card.cvc_check == CheckResult::Fail,
            avs_failed: card.avs_check == CheckResult::Fail,
            three_ds: card.three_ds.to_string(),
            no_three_ds: card.three_ds == ThreeDs::NotPerformed,
            expired: is_expired(card.exp_month, card.exp_year, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refdata::BinTable;

    fn table() -> BinTable {
        BinTable::from_reader(
            &b"bin,brand,funding,category,country\n424200,VISA,debit,PREPAID CLASSIC,DE\n\
               424201,VISA,credit,GOLD,DE\n"[..],
        )
        .unwrap()
    }

    fn card(bin: &str) -> CardFacts {
        CardFacts {
            bin: bin.parse().unwrap(),
            last4: "4242".into(),
            fingerprint: "fp_1".into(),
            exp_month: 12,
            exp_year: 2030,
            funding: None,
            country: None,
            cvc_check: CheckResult::Pass,
            avs_check: CheckResult::Pass,
            three_ds: ThreeDs::Authenticated,
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    fn features(card: &CardFacts, table: &BinTable) -> CardFeatures {
        CardFeatures::compute(card, table.lookup(&card.bin).as_ref(), now())
    }

    #[test]
    fn prepaid_by_bin_category() {
        let table = table();
        let prepaid = features(&card("424200"), &table);
        assert!(prepaid.present && prepaid.prepaid);
        assert_eq!(
            (
                prepaid.funding,
                prepaid.brand.as_str(),
                prepaid.country.as_str()
            ),
            (Funding::Prepaid, "VISA", "DE")
        );
        let gold = features(&card("42420155"), &table);
        assert_eq!((gold.funding, gold.prepaid), (Funding::Credit, false));
    }

    #[test]
    fn psp_reported_funding_and_country_win() {
        let table = table();
        let reported = CardFacts {
            funding: Some(Funding::Credit),
            country: "FR".parse().ok(),
            ..card("424200")
        };
        let features = features(&reported, &table);
        assert_eq!(
            (features.funding, features.prepaid),
            (Funding::Credit, false)
        );
        assert_eq!(features.country, "FR");
        let reported_prepaid = CardFacts {
            funding: Some(Funding::Prepaid),
            ..card("424201")
        };
        assert!(self::features(&reported_prepaid, &table).prepaid);
        let unknown = CardFacts {
            funding: Some(Funding::Unknown),
            ..card("424200")
        };
        assert!(
            self::features(&unknown, &table).prepaid,
            "an `unknown` report defers to the BIN"
        );
    }

    #[test]
    fn unlisted_bins_are_unknown() {
        let features = features(&card("999999"), &table());
        assert_eq!(
            (
                features.funding,
                features.brand.as_str(),
                features.country.as_str()
            ),
            (Funding::Unknown, "", "")
        );
    }

    #[test]
    fn psp_checks_and_three_ds() {
        let table = table();
        let failed = CardFacts {
            cvc_check: CheckResult::Fail,
            avs_check: CheckResult::Unavailable,
            three_ds: ThreeDs::NotPerformed,
            ..card("424201")
        };
        let features = features(&failed, &table);
        assert!(features.cvc_failed && !features.avs_failed && features.no_three_ds);
        assert_eq!(features.three_ds, "none");
        let attempted = CardFacts {
            avs_check: CheckResult::Fail,
            three_ds: ThreeDs::Attempted,
            ..card("424201")
        };
        let features = self::features(&attempted, &table);
        assert!(features.avs_failed && !features.cvc_failed && !features.no_three_ds);
    }

    #[test]
    fn cards_expire_after_their_expiry_month() {
        let now = now(); // November 2026
        assert!(!is_expired(11, 2026, now));
        assert!(!is_expired(1, 2027, now));
        assert!(is_expired(10, 2026, now));
        assert!(is_expired(12, 2025, now));
        assert!(is_expired(0, 2030, now));
        assert!(is_expired(13, 2030, now));
        let features = features(
            &CardFacts {
                exp_month: 10,
                exp_year: 2026,
                ..card("424201")
            },
            &table(),
        );
        assert!(features.expired);
    }
}
