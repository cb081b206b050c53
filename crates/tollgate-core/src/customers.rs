//! Customers of a reseller and their cloud subscriptions: the objects every pillar hangs on.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CustomerId, Money, SubscriptionId, validate::CountryCode};

str_enum!(
    /// Where a customer stands with the reseller.
    CustomerStatus {
        Active = "active",
        /// Waiting for an analyst or a verification step.
        Review = "review",
        Suspended = "suspended",
        Closed = "closed",
    }
);

str_enum!(
    /// How far the reseller trusts a customer; gates admin access and limits.
    TrustTier {
        New = "new",
        Verified = "verified",
        Established = "established",
        Restricted = "restricted",
    }
);

str_enum!(
    /// What a subscription sells.
    ProductKind {
        AzurePlan = "azure_plan",
        M365 = "m365",
        GpuCapacity = "gpu_capacity",
        Dynamics365 = "dynamics365",
        Software = "software",
        Other = "other",
    }
);

str_enum!(
    SubscriptionStatus {
        Active = "active",
        Suspended = "suspended",
        Terminated = "terminated",
    }
);

/// The commercial terms a customer is held to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// Service only after money has arrived.
    pub prepayment_required: bool,
    /// How much may be owed at once; none means no credit.
    pub credit_limit: Option<Money>,
    /// Spend above this in a calendar month raises alerts (an implicit budget).
    pub monthly_spend_limit: Option<Money>,
    /// Whether the customer may hold full administrative access to its tenant.
    pub admin_access_allowed: bool,
}

impl Default for Terms {
    /// A customer nobody has vetted yet: pays first, no credit, no admin access.
    fn default() -> Self {
        Self {
            prepayment_required: true,
            credit_limit: None,
            monthly_spend_limit: None,
            admin_access_allowed: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub country: CountryCode,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: CustomerId,
    /// The reseller's own id for this customer, unique per tenant.
    pub external_id: String,
    pub legal_name: String,
    pub company_domain: Option<String>,
    pub country: CountryCode,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_address: Option<Address>,
    pub status: CustomerStatus,
    pub trust_tier: TrustTier,
    pub terms: Terms,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub customer_id: CustomerId,
    /// The cloud vendor's subscription id.
    pub vendor_subscription_id: String,
    pub offer_id: Option<String>,
    pub product_kind: ProductKind,
    pub quantity: u32,
    pub status: SubscriptionStatus,
    /// Why the current status was set.
    pub status_reason: Option<String>,
    pub status_changed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// One entry of a subscription's status history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatusChange {
    pub status: SubscriptionStatus,
    pub reason: Option<String>,
    /// Who made the change (`key_…`, `job:dunning`, `rule:…`).
    pub actor: String,
    pub at: DateTime<Utc>,
}

impl SubscriptionStatus {
    /// Terminated is final: a vendor cannot bring a cancelled subscription back by a status flip.
    pub fn can_become(self, next: SubscriptionStatus) -> bool {
        self != SubscriptionStatus::Terminated && self != next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_and_print_their_wire_names() {
        for kind in ProductKind::ALL {
            assert_eq!(kind.as_str().parse::<ProductKind>().unwrap(), *kind);
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert!(
            "gpu"
                .parse::<ProductKind>()
                .unwrap_err()
                .contains("gpu_capacity")
        );
    }

    #[test]
    fn terminated_subscriptions_stay_terminated() {
        use SubscriptionStatus::*;
        assert!(Active.can_become(Suspended));
        assert!(Suspended.can_become(Active));
        assert!(!Terminated.can_become(Active));
        assert!(!Active.can_become(Active));
    }
}
