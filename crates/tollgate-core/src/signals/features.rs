//! [`Features`]: every signal of one decision in the shape the rules see (the CEL context), and
//! the builders that compute them for each decision point.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    SignalConfig, bots,
    bots::BotFeatures,
    cards::{self, CardFeatures},
    email::EmailFeatures,
    facts::{CardFacts, Context, CustomerState, ListMatches, OrderFacts, SignupFacts},
    geo::{self, GeoFeatures, KnownCountries},
    links::LinkFeatures,
    orders::{OrderError, OrderFeatures},
    phone::{self, PhoneFeatures},
    velocity::VelocityCounts,
};
use crate::refdata::ReferenceData;

str_enum!(
    /// Which decision point the features were computed for.
    FeatureKind {
        Signup = "signup",
        PaymentMethod = "payment_method",
        Order = "order",
    }
);

/// The `customer` section: the customer as it stood before this decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerFeatures {
    /// "" for a sign-up (no customer yet).
    pub trust_tier: String,
    pub age_days: f64,
    pub prepayment_required: bool,
    pub has_cleared_payment: bool,
    pub completed_steps: Vec<String>,
}

impl CustomerFeatures {
    pub fn compute(customer: Option<&CustomerState>, now: DateTime<Utc>) -> Self {
        let Some(customer) = customer else {
            return Self::default();
        };
        let age_ms = (now - customer.created_at).num_milliseconds().max(0);
        #[expect(clippy::cast_precision_loss, reason = "exact below 2^53 ms")]
        let age_days = age_ms as f64 / 86_400_000.0;
        Self {
            trust_tier: customer.trust_tier.to_string(),
            age_days,
            prepayment_required: customer.terms.prepayment_required,
            has_cleared_payment: customer.has_cleared_payment,
            completed_steps: customer.completed_steps.clone(),
        }
    }
}

/// Every signal of one decision. Its JSON form is the rules' evaluation context; every section
/// and field is present on every decision, with neutral values (false, 0, "", []) for facts the
/// decision point does not have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    pub kind: FeatureKind,
    pub email: EmailFeatures,
    pub phone: PhoneFeatures,
    pub geo: GeoFeatures,
    pub card: CardFeatures,
    pub links: LinkFeatures,
    pub velocity: VelocityCounts,
    pub bot: BotFeatures,
    pub order: OrderFeatures,
    pub customer: CustomerFeatures,
    pub lists: ListMatches,
}

impl Features {
    /// A sign-up: identity, geography, bot and velocity signals of the application.
    pub fn for_signup(
        signup: &SignupFacts,
        ctx: &Context,
        data: &ReferenceData,
        config: &SignalConfig,
    ) -> Self {
        Self::compute(FeatureKind::Signup, Some(signup), None, ctx, data, config)
    }

    /// A card attached to an existing customer, compared with the customer's sign-up
    /// (`ctx.customer.signup`) for billing, phone and IP country.
    pub fn for_payment_method(
        card: &CardFacts,
        ctx: &Context,
        data: &ReferenceData,
        config: &SignalConfig,
    ) -> Self {
        let signup = ctx.customer.as_ref().and_then(|c| c.signup.as_ref());
        Self::compute(
            FeatureKind::PaymentMethod,
            signup,
            Some(card),
            ctx,
            data,
            config,
        )
    }

    /// An order, paid with `card` (the order's payment method, as the store holds it).
    pub fn for_order(
        order: &OrderFacts,
        card: Option<&CardFacts>,
        ctx: &Context,
        data: &ReferenceData,
        config: &SignalConfig,
    ) -> Result<Self, OrderError> {
        let signup = ctx.customer.as_ref().and_then(|c| c.signup.as_ref());
        let mut features = Self::compute(FeatureKind::Order, signup, card, ctx, data, config);
        features.order = OrderFeatures::compute(&order.items, ctx.customer.as_ref())?;
        Ok(features)
    }

    fn compute(
        kind: FeatureKind,
        signup: Option<&SignupFacts>,
        card: Option<&CardFacts>,
        ctx: &Context,
        data: &ReferenceData,
        config: &SignalConfig,
    ) -> Self {
        let bin = card.and_then(|card| data.bins.lookup(&card.bin));
        let phone_check = signup.map(|s| phone::check(&s.contact.phone));
        let billing = signup.map(|s| s.billing_address.country);
        let countries = KnownCountries {
            ip: signup.and_then(|s| geo::ip_country(s.ip, &data.ip_countries)),
            billing,
            card: card.and_then(|card| cards::card_country(card.country, bin.as_ref())),
            phone: phone_check.and_then(|check| check.country),
        };
        let high_risk = config
            .high_risk_countries
            .as_ref()
            .unwrap_or(&data.high_risk_countries);
        Self {
            kind,
            email: signup.map_or_else(EmailFeatures::default, |s| {
                EmailFeatures::compute(&s.contact.email, &s.company.domain, data)
            }),
            phone: phone_check.map_or_else(PhoneFeatures::default, |check| {
                PhoneFeatures::compute(check, billing)
            }),
            geo: GeoFeatures::compute(countries, high_risk),
            card: card.map_or_else(CardFeatures::default, |card| {
                CardFeatures::compute(card, bin.as_ref(), ctx.now)
            }),
            links: LinkFeatures::compute(&ctx.links),
            velocity: ctx.velocity.clone(),
            bot: signup.map_or_else(BotFeatures::default, |s| bot_features(s, ctx, config)),
            order: OrderFeatures::default(),
            customer: CustomerFeatures::compute(ctx.customer.as_ref(), ctx.now),
            lists: ctx.lists.clone(),
        }
    }
}

/// Bot signals describe how the customer's sign-up was made, so they follow the customer to its
/// later decisions too.
fn bot_features(signup: &SignupFacts, ctx: &Context, config: &SignalConfig) -> BotFeatures {
    let form_seconds = bots::form_seconds(&signup.session);
    BotFeatures {
        form_seconds,
        too_fast: bots::too_fast(form_seconds, config.min_form_seconds),
        no_input_events: bots::no_input_events(&signup.session),
        headless_ua: bots::headless_user_agent(&signup.user_agent),
        network_burst: bots::network_burst(ctx.network_signups_1h, config.burst_threshold),
    }
}
