//! Links across customers: the same card, bank account, device, IP, network, phone or mailbox
//! seen on other customers. The store counts them using the keys made here, so both sides agree on what
//! "the same" means.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{email, facts::SignupFacts, geo, phone};
use crate::CustomerId;

/// How many OTHER customers share each value, as the store counted them, and which customers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkCounts {
    pub card_customers: u32,
    /// Customers with the same bank-account fingerprint.
    pub bank_account_customers: u32,
    pub device_customers: u32,
    pub ip_customers: u32,
    /// Customers in the same IPv4 /24 (IPv6 /48), keyed by [`geo::network_key`].
    pub ip24_customers: u32,
    pub phone_customers: u32,
    /// Customers with the same [`email::normalize`]d address.
    pub email_customers: u32,
    pub linked_customer_ids: Vec<CustomerId>,
}

/// The `links` section of the features.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkFeatures {
    #[serde(flatten)]
    pub counts: LinkCounts,
    /// The largest of the counts: how big the biggest ring this customer is part of.
    pub max_shared: u32,
}

impl LinkFeatures {
    /// Ids are sorted and de-duplicated so the features (and a replay of them) are stable.
    pub fn compute(counts: &LinkCounts) -> Self {
        let mut counts = counts.clone();
        counts.linked_customer_ids.sort_unstable();
        counts.linked_customer_ids.dedup();
        let max_shared = [
            counts.card_customers,
            counts.bank_account_customers,
            counts.device_customers,
            counts.ip_customers,
            counts.ip24_customers,
            counts.phone_customers,
            counts.email_customers,
        ]
        .into_iter()
        .max()
        .unwrap_or_default();
        Self { counts, max_shared }
    }
}

/// The values a sign-up is linked by. Card and bank-account fingerprints come with the payment
/// method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkKeys {
    pub email: String,
    /// Canonical E.164 when the number parses, else as entered without spaces and dashes.
    pub phone: String,
    pub ip: IpAddr,
    pub network: String,
    pub device: Option<String>,
}

impl LinkKeys {
    pub fn for_signup(signup: &SignupFacts) -> Self {
        Self {
            email: email::normalize(&signup.contact.email),
            phone: phone::e164(&signup.contact.phone).unwrap_or_else(|| {
                signup
                    .contact
                    .phone
                    .chars()
                    .filter(|c| !c.is_whitespace() && *c != '-')
                    .collect()
            }),
            ip: signup.ip,
            network: geo::network_key(signup.ip),
            device: signup
                .device_id
                .as_deref()
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_shared_is_the_largest_count_and_ids_are_stable() {
        let a = CustomerId::generate();
        let b = CustomerId::generate();
        let counts = LinkCounts {
            card_customers: 4,
            device_customers: 2,
            ip24_customers: 7,
            linked_customer_ids: vec![b, a, b],
            ..LinkCounts::default()
        };
        let features = LinkFeatures::compute(&counts);
        assert_eq!(features.max_shared, 7);
        assert_eq!(features.counts.linked_customer_ids, [a, b]);
        assert_eq!(LinkFeatures::compute(&LinkCounts::default()).max_shared, 0);
    }

    #[test]
    fn features_serialize_flat() {
        let json = serde_json::to_value(LinkFeatures::compute(&LinkCounts {
            phone_customers: 1,
            ..LinkCounts::default()
        }))
        .unwrap();
        assert_eq!(json["phone_customers"], 1);
        assert_eq!(json["max_shared"], 1);
        assert!(json["linked_customer_ids"].as_array().unwrap().is_empty());
    }
}
