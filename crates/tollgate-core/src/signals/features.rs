//! [`Features`]: every signal of one decision in the shape the rules see (the CEL context), and
//! the builders that compute them for each decision point.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    SignalConfig,
    bank::BankFeatures,
    bots,
    bots::BotFeatures,
    cards::{self, CardFeatures},
    email::EmailFeatures,
    facts::{Context, CustomerState, ListMatches, OrderFacts, PaymentMethodFacts, SignupFacts},
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
    pub bank: BankFeatures,
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

    /// A card or bank account attached to an existing customer, compared with the customer's
    /// sign-up (`ctx.customer.signup`) for billing, phone and IP country and the holder's name.
    pub fn for_payment_method(
        method: &PaymentMethodFacts,
        ctx: &Context,
        data: &ReferenceData,
        config: &SignalConfig,
    ) -> Self {
        let signup = ctx.customer.as_ref().and_then(|c| c.signup.as_ref());
        Self::compute(
            FeatureKind::PaymentMethod,
            signup,
            Some(method),
            ctx,
            data,
            config,
        )
    }

    /// An order, paid with `method` (the order's payment method, as the store holds it).
    pub fn for_order(
        order: &OrderFacts,
        method: Option<&PaymentMethodFacts>,
        ctx: &Context,
        data: &ReferenceData,
        config: &SignalConfig,
    ) -> Result<Self, OrderError> {
        let signup = ctx.customer.as_ref().and_then(|c| c.signup.as_ref());
        let mut features = Self::compute(FeatureKind::Order, signup, method, ctx, data, config);
        features.order = OrderFeatures::compute(&order.items, ctx.customer.as_ref())?;
        Ok(features)
    }

    /// Lays stored features over today's neutral ones: a decision recorded before a section or
    /// field existed (the `bank` section, say) replays in a backtest with the neutral value —
    /// no bank account, no links — instead of failing every rule that reads it.
    pub fn upgrade_stored(stored: &mut serde_json::Value) {
        static NEUTRAL: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
        let neutral = NEUTRAL.get_or_init(|| {
            serde_json::to_value(Self {
                kind: FeatureKind::Signup,
                email: EmailFeatures::default(),
                phone: PhoneFeatures::default(),
                geo: GeoFeatures::default(),
                card: CardFeatures::default(),
                bank: BankFeatures::default(),
                links: LinkFeatures::default(),
                velocity: VelocityCounts::default(),
                bot: BotFeatures::default(),
                order: OrderFeatures::default(),
                customer: CustomerFeatures::default(),
                lists: ListMatches::default(),
            })
            .unwrap_or_default()
        });
        let (Some(stored), Some(neutral)) = (stored.as_object_mut(), neutral.as_object()) else {
            return;
        };
        for (section, fields) in neutral {
            let Some(fields) = fields.as_object() else {
                continue;
            };
            let target = stored
                .entry(section.clone())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let Some(target) = target.as_object_mut() {
                for (field, value) in fields {
                    target.entry(field.clone()).or_insert_with(|| value.clone());
                }
            }
        }
    }

    fn compute(
        kind: FeatureKind,
        signup: Option<&SignupFacts>,
        method: Option<&PaymentMethodFacts>,
        ctx: &Context,
        data: &ReferenceData,
        config: &SignalConfig,
    ) -> Self {
        let card = method.and_then(PaymentMethodFacts::card);
        let bank = method.and_then(PaymentMethodFacts::bank_account);
        let bin = card.and_then(|card| data.bins.lookup(&card.bin));
        let phone_check = signup.map(|s| phone::check(&s.contact.phone));
        let billing = signup.map(|s| s.billing_address.country);
        let countries = KnownCountries {
            ip: signup.and_then(|s| geo::ip_country(s.ip, &data.ip_countries)),
            billing,
            card: card.and_then(|card| cards::card_country(card.country, bin.as_ref())),
            bank: bank.map(|account| account.country),
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
            bank: bank.map_or_else(BankFeatures::default, |account| {
                BankFeatures::compute(account, signup)
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
