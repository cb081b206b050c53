//! The facts a decision is made on, as the engine receives them: parsed at the API edge into
//! typed values, stored once, and replayed unchanged by backtests.
//!
//! Contact e-mail and phone stay raw strings on purpose: a malformed address is a risk signal
//! (`email.valid`, `phone.valid`) to weigh, not only an input error.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    CustomerId, Money, PaymentMethodId,
    customers::{Address, ProductKind, Terms, TrustTier},
    refdata::{Bin, Funding},
    signals::{links::LinkCounts, velocity::VelocityCounts},
    validate::CountryCode,
};

/// `POST /v1/signups`: a new customer applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupFacts {
    pub external_id: String,
    pub company: Company,
    pub contact: Contact,
    pub billing_address: Address,
    /// The address the sign-up form was submitted from.
    #[schema(value_type = String, example = "203.0.113.7")]
    pub ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    pub user_agent: String,
    pub session: SessionTiming,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Company {
    pub name: String,
    /// The company's web or mail domain as entered (`acme.com`, `https://www.acme.com/`).
    pub domain: String,
    pub country: CountryCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    pub email: String,
    /// E.164, e.g. `+4915112345678`.
    pub phone: String,
}

/// How the sign-up form was filled in, as the storefront measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionTiming {
    pub form_started_at: DateTime<Utc>,
    pub submitted_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_events: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer_events: Option<u32>,
}

str_enum!(
    /// A PSP's verdict on the CVC or the address (AVS).
    CheckResult {
        Pass = "pass",
        Fail = "fail",
        Unavailable = "unavailable",
    }
);

str_enum!(
    /// The 3-D Secure outcome of the card's verification.
    ThreeDs {
        Authenticated = "authenticated",
        /// The issuer did not take part; liability usually still shifts.
        Attempted = "attempted",
        /// No 3-D Secure took place.
        NotPerformed = "none",
    }
);

/// `POST /v1/customers/{id}/payment_methods` for a card. Never the full card number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardFacts {
    pub bin: Bin,
    pub last4: String,
    /// The PSP's stable fingerprint of the card number: the same card on two customers links them.
    pub fingerprint: String,
    pub exp_month: u8,
    pub exp_year: u16,
    /// Funding as the PSP reports it; it wins over the BIN table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funding: Option<Funding>,
    /// Issuing country as the PSP reports it; it wins over the BIN table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<CountryCode>,
    pub cvc_check: CheckResult,
    pub avs_check: CheckResult,
    pub three_ds: ThreeDs,
}

/// `POST /v1/orders`: what the customer buys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderFacts {
    pub customer_id: CustomerId,
    pub payment_method_id: PaymentMethodId,
    pub items: Vec<OrderItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItem {
    pub sku: String,
    pub product_kind: ProductKind,
    pub quantity: u32,
    pub unit_price: Money,
}

/// What the store knows about an existing customer when one of its facts is decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerState {
    pub trust_tier: TrustTier,
    pub created_at: DateTime<Utc>,
    pub terms: Terms,
    /// Whether any payment from this customer has cleared (not merely been authorized).
    pub has_cleared_payment: bool,
    /// Money owed and not yet paid, counted against the credit limit; in the limit's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outstanding_balance: Option<Money>,
    /// Verification steps completed so far (`sms_verification`, `bureau_check`, `phone_call`).
    #[serde(default)]
    pub completed_steps: Vec<String>,
    /// The customer's sign-up, so payment-method and order decisions can compare the card with
    /// the billing country, phone and IP it was opened with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signup: Option<SignupFacts>,
}

/// Block/allow list hits, matched by the caller against the tenant's lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListMatches {
    pub blocked: bool,
    pub allowed: bool,
    /// Each hit as `action:kind:value`, e.g. `block:email:x@y.com`.
    pub matches: Vec<String>,
}

/// Everything a decision needs besides the fact itself. The store computes the counts (over
/// earlier facts, excluding the one being decided) so the engine stays pure and replayable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The decision's instant: card expiry and customer age are measured against it.
    pub now: DateTime<Utc>,
    /// None for a sign-up: the customer does not exist yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerState>,
    #[serde(default)]
    pub links: LinkCounts,
    #[serde(default)]
    pub velocity: VelocityCounts,
    /// Sign-ups from the same IPv4 /24 (IPv6 /48) in the last hour, for `bot.network_burst`.
    #[serde(default)]
    pub network_signups_1h: u32,
    #[serde(default)]
    pub lists: ListMatches,
}

impl Context {
    /// A context with no history: no customer, no links, no velocity, no list hits.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            now,
            customer: None,
            links: LinkCounts::default(),
            velocity: VelocityCounts::default(),
            network_signups_1h: 0,
            lists: ListMatches::default(),
        }
    }
}
