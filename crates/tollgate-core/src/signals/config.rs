//! A tenant's tunables for signal computation.

use serde::{Deserialize, Serialize};

use crate::refdata::CountrySet;

/// A tenant's signal settings. The defaults suit a reseller with no history yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalConfig {
    /// A sign-up form completed in fewer seconds than this was not filled in by a person.
    pub min_form_seconds: f64,
    /// This many sign-ups from one /24 network within an hour is a burst.
    pub burst_threshold: u32,
    /// The tenant's own high-risk countries; `None` uses the shipped default (FATF lists).
    pub high_risk_countries: Option<CountrySet>,
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self {
            // Typing a company name, a contact, an e-mail, a phone and an address takes a person
            // well over 5 s even with autofill; scripts post in well under 1 s.
            min_form_seconds: 5.0,
            burst_threshold: 10,
            high_risk_countries: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_documents_keep_defaults_and_unknown_keys_are_refused() {
        let config: SignalConfig = serde_json::from_str(r#"{"burst_threshold": 3}"#).unwrap();
        assert_eq!(config.burst_threshold, 3);
        assert_eq!(config.min_form_seconds, 5.0);
        assert!(serde_json::from_str::<SignalConfig>(r#"{"min_seconds": 3}"#).is_err());
    }
}
