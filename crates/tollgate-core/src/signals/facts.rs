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

str_enum!(
    /// The direct-debit scheme the account is charged through. It sets how long the payer can
    /// take money back: SEPA Core 8 weeks without a reason, Bacs at any time under the Direct
    /// Debit Guarantee, SEPA B2B not at all once authorised.
    DebitScheme {
        SepaCore = "sepa_core",
        SepaB2b = "sepa_b2b",
        /// US ACH debit.
        Ach = "ach",
        /// UK Bacs Direct Debit.
        Bacs = "bacs",
        /// Australian BECS Direct Debit.
        Becs = "becs",
        /// Canadian pre-authorized debit.
        Pad = "pad",
    }
);

str_enum!(
    /// Whether the PSP has confirmed that the account exists and belongs to the payer
    /// (micro-deposits, instant account verification, a confirmed first debit).
    BankVerification {
        Verified = "verified",
        /// Verification started (micro-deposits sent) and not finished.
        Pending = "pending",
        Unverified = "unverified",
        /// The PSP tried and the account did not check out.
        Failed = "failed",
    }
);

str_enum!(
    /// Who holds the account, as the PSP reports it.
    HolderType {
        Company = "company",
        Individual = "individual",
    }
);

/// The debit authorisation the payer signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mandate {
    /// The mandate reference, as the PSP issued it.
    pub reference: String,
    pub accepted_at: DateTime<Utc>,
}

/// `POST /v1/customers/{id}/payment_methods` for a bank account charged by direct debit. Never
/// the account number or IBAN: the PSP's fingerprint stands for it, as it does for a card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankAccountFacts {
    pub scheme: DebitScheme,
    /// Where the account is held (an IBAN's first two letters).
    pub country: CountryCode,
    /// Identifies the bank, not the account: a BIC, ABA routing number, sort code or BSB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_code: Option<String>,
    pub last4: String,
    /// The PSP's stable fingerprint of the account: the same account on two customers links
    /// them.
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_type: Option<HolderType>,
    pub verification: BankVerification,
    /// None when the payer has not signed a mandate yet: a debit then has no authorisation
    /// behind it and can be returned as unauthorised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandate: Option<Mandate>,
}

str_enum!(
    /// The `type` of a payment method.
    PaymentMethodKind {
        Card = "card",
        BankAccount = "bank_account",
    }
);

impl PaymentMethodKind {
    /// Takes the `type` field out of a payment method's JSON object. A body without one is a
    /// card, as every payment method was before bank accounts.
    pub fn take_from(
        body: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, String> {
        match body.remove("type") {
            None => Ok(Self::Card),
            Some(serde_json::Value::String(kind)) => kind.parse(),
            Some(_) => Err("must be a string".to_owned()),
        }
    }
}

/// What a payment method is, as attached and stored, tagged by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PaymentMethodFacts {
    Card(CardFacts),
    BankAccount(BankAccountFacts),
}

impl PaymentMethodFacts {
    pub fn kind(&self) -> PaymentMethodKind {
        match self {
            Self::Card(_) => PaymentMethodKind::Card,
            Self::BankAccount(_) => PaymentMethodKind::BankAccount,
        }
    }

    /// The PSP's fingerprint: what links customers sharing the instrument.
    pub fn fingerprint(&self) -> &str {
        match self {
            Self::Card(card) => &card.fingerprint,
            Self::BankAccount(account) => &account.fingerprint,
        }
    }

    pub fn last4(&self) -> &str {
        match self {
            Self::Card(card) => &card.last4,
            Self::BankAccount(account) => &account.last4,
        }
    }

    pub fn card(&self) -> Option<&CardFacts> {
        match self {
            Self::Card(card) => Some(card),
            Self::BankAccount(_) => None,
        }
    }

    pub fn bank_account(&self) -> Option<&BankAccountFacts> {
        match self {
            Self::BankAccount(account) => Some(account),
            Self::Card(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for PaymentMethodFacts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut body = serde_json::Map::deserialize(deserializer)?;
        let kind = PaymentMethodKind::take_from(&mut body).map_err(D::Error::custom)?;
        let body = serde_json::Value::Object(body);
        match kind {
            PaymentMethodKind::Card => CardFacts::deserialize(body).map(Self::Card),
            PaymentMethodKind::BankAccount => {
                BankAccountFacts::deserialize(body).map(Self::BankAccount)
            }
        }
        .map_err(D::Error::custom)
    }
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
