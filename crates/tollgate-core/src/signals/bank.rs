//! Bank-account signals: whether the PSP verified the account, whether a mandate stands behind
//! the debits, and whose account it is.
//!
//! A direct debit is pulled, not pushed: the money arrives days later and the payer's bank can
//! send it back for weeks (SEPA Core: 8 weeks without a reason, 13 months if unauthorised). An
//! account nobody verified, or one without a signed mandate, is how service is bought with
//! somebody else's account.

use serde::{Deserialize, Serialize};

use super::facts::{BankAccountFacts, BankVerification, HolderType, SignupFacts};

/// The `bank` section of the features; `present` is false when the decision has no bank account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankFeatures {
    pub present: bool,
    /// `sepa_core`, `sepa_b2b`, `ach`, `bacs`, `becs`, `pad`, or "".
    pub scheme: String,
    pub country: String,
    /// `verified`, `pending`, `unverified`, `failed`, or "".
    pub verification: String,
    pub verified: bool,
    pub verification_failed: bool,
    /// No signed mandate: a debit can be returned as unauthorised.
    pub no_mandate: bool,
    /// The PSP reports an individual's account.
    pub personal_account: bool,
    /// The holder's name is known and is neither the company's nor the contact's.
    pub holder_mismatch: bool,
}

impl BankFeatures {
    /// `signup` is the customer's sign-up, for the company and contact names.
    pub fn compute(account: &BankAccountFacts, signup: Option<&SignupFacts>) -> Self {
        let holder_mismatch = match (account.holder_name.as_deref(), signup) {
            (Some(holder), Some(signup)) => {
                !names_match(holder, &signup.company.name)
                    && !names_match(holder, &signup.contact.name)
            }
            _ => false,
        };
        Self {
            present: true,
            scheme: account.scheme.to_string(),
            country: account.country.to_string(),
            verification: account.verification.to_string(),
            verified: account.verification == BankVerification::Verified,
            verification_failed: account.verification == BankVerification::Failed,
            no_mandate: account.mandate.is_none(),
            personal_account: account.holder_type == Some(HolderType::Individual),
            holder_mismatch,
        }
    }
}

/// Legal forms and filler words that banks and sign-up forms add or drop at will.
const NOISE: &[&str] = &[
    "ab",
    "ag",
    "and",
    "aps",
    "as",
    "bv",
    "co",
    "company",
    "corp",
    "corporation",
    "gbr",
    "gmbh",
    "inc",
    "kg",
    "limited",
    "llc",
    "llp",
    "ltd",
    "nv",
    "ohg",
    "oy",
    "plc",
    "pty",
    "sa",
    "sarl",
    "sas",
    "se",
    "spa",
    "srl",
    "the",
    "ug",
    "und",
];

fn name_tokens(name: &str) -> Vec<String> {
    let mut tokens: Vec<String> = name
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty() && !NOISE.contains(token))
        .map(str::to_owned)
        .collect();
    tokens.sort_unstable();
    tokens.dedup();
    tokens
}

/// Whether two names are the same party as banks print them: every significant word of the
/// shorter name appears in the longer (`ACME CLOUD SERVICES` and `Acme Cloud Services GmbH`).
/// A name with no significant word matches nothing.
pub fn names_match(a: &str, b: &str) -> bool {
    let (a, b) = (name_tokens(a), name_tokens(b));
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    !short.is_empty() && short.iter().all(|token| long.contains(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::facts::{DebitScheme, Mandate};

    pub(crate) fn account() -> BankAccountFacts {
        BankAccountFacts {
            scheme: DebitScheme::SepaCore,
            country: "DE".parse().unwrap(),
            bank_code: Some("COBADEFFXXX".into()),
            last4: "3000".into(),
            fingerprint: "ba_fp_1".into(),
            holder_name: Some("ACME GMBH".into()),
            holder_type: Some(HolderType::Company),
            verification: BankVerification::Verified,
            mandate: Some(Mandate {
                reference: "MNDT-1".into(),
                accepted_at: "2026-11-25T11:00:00Z".parse().unwrap(),
            }),
        }
    }

    #[test]
    fn a_verified_company_account_with_a_mandate_raises_nothing() {
        let signup = crate::signals::tests::signup();
        let features = BankFeatures::compute(&account(), Some(&signup));
        assert_eq!(
            features,
            BankFeatures {
                present: true,
                scheme: "sepa_core".into(),
                country: "DE".into(),
                verification: "verified".into(),
                verified: true,
                ..BankFeatures::default()
            }
        );
    }

    #[test]
    fn verification_states() {
        for (state, verified, failed) in [
            (BankVerification::Verified, true, false),
            (BankVerification::Pending, false, false),
            (BankVerification::Unverified, false, false),
            (BankVerification::Failed, false, true),
        ] {
            let features = BankFeatures::compute(
                &BankAccountFacts {
                    verification: state,
                    ..account()
                },
                None,
            );
            assert_eq!(
                (features.verified, features.verification_failed),
                (verified, failed),
                "{state}"
            );
            assert_eq!(features.verification, state.as_str());
        }
    }

    #[test]
    fn a_missing_mandate_and_a_personal_account() {
        let features = BankFeatures::compute(
            &BankAccountFacts {
                mandate: None,
                holder_type: Some(HolderType::Individual),
                ..account()
            },
            None,
        );
        assert!(features.no_mandate && features.personal_account);
        let unknown_holder = BankFeatures::compute(
            &BankAccountFacts {
                holder_type: None,
                ..account()
            },
            None,
        );
        assert!(!unknown_holder.personal_account);
    }

    #[test]
    fn the_holder_must_be_the_company_or_its_contact() {
        let signup = crate::signals::tests::signup(); // Acme GmbH, contact Jane Doe
        let holder = |name: &str| {
            BankFeatures::compute(
                &BankAccountFacts {
                    holder_name: Some(name.into()),
                    ..account()
                },
                Some(&signup),
            )
            .holder_mismatch
        };
        assert!(!holder("Acme"));
        assert!(!holder("ACME GmbH & Co. KG"));
        assert!(!holder("Doe, Jane"), "the contact's own account");
        assert!(holder("John Smith"));
        assert!(holder("GmbH"), "a legal form alone names nobody");
        let no_signup = BankFeatures::compute(
            &BankAccountFacts {
                holder_name: Some("John Smith".into()),
                ..account()
            },
            None,
        );
        assert!(
            !no_signup.holder_mismatch,
            "nothing to compare with is no mismatch"
        );
    }

    #[test]
    fn names_match_word_by_word() {
        assert!(names_match(
            "ACME CLOUD SERVICES",
            "Acme Cloud Services GmbH"
        ));
        assert!(names_match("Müller Bau GmbH", "MÜLLER BAU"));
        assert!(!names_match("Acme Cloud", "Acme Mining"));
        assert!(!names_match("", "Acme"));
        assert!(!names_match("Ltd", "Ltd"));
    }
}
