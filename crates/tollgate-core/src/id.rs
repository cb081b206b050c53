//! Prefixed, sortable identifiers: `cus_0192f0c4…` — a UUIDv7 in simple hex behind a short
//! prefix that says what it names. Sorting the text sorts by creation time, which is what cursor
//! pagination relies on.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected an id starting with `{expected}_`")]
    WrongPrefix { expected: &'static str },
    #[error("the part after `{prefix}_` must be 32 hexadecimal characters")]
    Malformed { prefix: &'static str },
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id ordered after every id made earlier by this process.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0.simple())
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_prefixed(s, $prefix).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "_[0-9a-f]{32}$")))
                    .examples([concat!($prefix, "_01936a4e0b2c7d8e9f00112233445566")])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

fn parse_prefixed(s: &str, prefix: &'static str) -> Result<Uuid, IdError> {
    let rest = s
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or(IdError::WrongPrefix { expected: prefix })?;
    if rest.len() != 32 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IdError::Malformed { prefix });
    }
    Uuid::try_parse(rest).map_err(|_| IdError::Malformed { prefix })
}

prefixed_id!(
    /// A tenant: one reseller running Tollgate.
    TenantId, "ten");
prefixed_id!(
    /// An API key.
    KeyId, "key");
prefixed_id!(
    /// A reseller's customer.
    CustomerId, "cus");
prefixed_id!(
    /// A customer's cloud subscription.
    SubscriptionId, "sub");
prefixed_id!(
    /// An entry on the audit chain.
    AuditId, "aud");
prefixed_id!(
    /// An invoice the reseller issued to a customer.
    InvoiceId, "inv");
prefixed_id!(
    /// A payment (or payment attempt) by a customer.
    PaymentId, "pay");
prefixed_id!(
    /// A chargeback or payment dispute raised against a payment.
    DisputeId, "dsp");
prefixed_id!(
    /// A credit note reducing what an invoice asks for.
    CreditNoteId, "crn");
prefixed_id!(
    /// A card or bank account attached to a customer.
    PaymentMethodId, "pm");
prefixed_id!(
    /// A decision taken at a sign-up, payment method or order.
    DecisionId, "dec");
prefixed_id!(
    /// A customer's order, screened before anything is provisioned.
    OrderId, "ord");
prefixed_id!(
    /// An item on a block or allow list.
    ListItemId, "lst");
prefixed_id!(
    /// A verification step: an SMS code, a bureau check or a phone call.
    VerificationId, "ver");
prefixed_id!(
    /// A spend budget for a customer or a subscription.
    BudgetId, "bud");
prefixed_id!(
    /// A spend-watch alert: a budget threshold crossed or a usage anomaly.
    AlertId, "alr");
prefixed_id!(
    /// An action in the outbox: an e-mail, a webhook, a call to the vendor. Its id is the
    /// idempotency key the receiver sees on every attempt.
    ActionId, "act");
prefixed_id!(
    /// One dunning episode: a customer's stretch of overdue debt in one currency.
    EpisodeId, "dun");
prefixed_id!(
    /// A notice from the vendor or an abuse desk about a customer's subscription.
    NoticeId, "ntc");
prefixed_id!(
    /// A case gathering what is known about one customer's problem.
    CaseId, "case");
prefixed_id!(
    /// A partner's endpoint subscribed to Tollgate's outbound webhook events.
    WebhookId, "whk");
prefixed_id!(
    /// An activity-log record taken in from the vendor.
    ActivityId, "log");
prefixed_id!(
    /// Money the reseller sent back to a customer out of a payment.
    RefundId, "rfd");
prefixed_id!(
    /// A top-up or draw on a customer's prepaid balance.
    PrepaidEntryId, "ppe");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let id = CustomerId::generate();
        let text = id.to_string();
        assert!(text.starts_with("cus_"));
        assert_eq!(text.len(), 4 + 32);
        assert_eq!(text.parse::<CustomerId>().unwrap(), id);
    }

    #[test]
    fn refuses_other_kinds_and_garbage() {
        let sub = SubscriptionId::generate().to_string();
        assert_eq!(
            sub.parse::<CustomerId>(),
            Err(IdError::WrongPrefix { expected: "cus" })
        );
        assert_eq!(
            "cus_xyz".parse::<CustomerId>(),
            Err(IdError::Malformed { prefix: "cus" })
        );
        assert!("cus_".parse::<CustomerId>().is_err());
        assert!(
            "cus0192f0c4000000000000000000000000"
                .parse::<CustomerId>()
                .is_err()
        );
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let a = TenantId::generate().to_string();
        let b = TenantId::generate().to_string();
        assert!(a < b);
    }
}
