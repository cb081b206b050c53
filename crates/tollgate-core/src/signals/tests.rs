//! Fixtures and the tests of the assembled features: the contract shape the rules rely on and
//! each decision point's builder.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::*;
use crate::{
    CustomerId, Money, PaymentMethodId,
    customers::{Address, ProductKind, Terms, TrustTier},
    refdata::{Funding, ReferenceData},
};

pub(super) fn now() -> DateTime<Utc> {
    "2026-11-25T12:00:00Z".parse().unwrap()
}

fn data() -> &'static ReferenceData {
    ReferenceData::embedded().unwrap()
}

/// An honest German company signing up from a German IP.
pub(super) fn signup() -> SignupFacts {
    SignupFacts {
        external_id: "crm-1".into(),
        company: Company {
            name: "Acme GmbH".into(),
            domain: "https://www.acme.de".into(),
            country: "DE".parse().unwrap(),
            registration_number: None,
        },
        contact: Contact {
            name: "Jane Doe".into(),
            email: "Jane.Doe+cloud@acme.de".into(),
            phone: "+49 151 12345678".into(),
        },
        billing_address: Address {
            line1: "Hauptstr. 1".into(),
            line2: None,
            city: "Berlin".into(),
            postal_code: "10115".into(),
            region: None,
            country: "DE".parse().unwrap(),
        },
        // A Deutsche Telekom address: DE in the shipped table.
        ip: "80.128.0.1".parse().unwrap(),
        device_id: Some("dev-1".into()),
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36".into(),
        session: SessionTiming {
            form_started_at: now() - Duration::seconds(95),
            submitted_at: now(),
            key_events: Some(180),
            pointer_events: Some(40),
        },
    }
}

fn card(bin: &str) -> PaymentMethodFacts {
    PaymentMethodFacts::Card(card_facts(bin))
}

fn card_facts(bin: &str) -> CardFacts {
    CardFacts {
        bin: bin.parse().unwrap(),
        last4: "4242".into(),
        fingerprint: "fp_abc".into(),
        exp_month: 12,
        exp_year: 2030,
        funding: None,
        country: None,
        cvc_check: CheckResult::Pass,
        avs_check: CheckResult::Pass,
        three_ds: ThreeDs::Authenticated,
    }
}

fn customer() -> CustomerState {
    CustomerState {
        trust_tier: TrustTier::New,
        created_at: now() - Duration::hours(36),
        terms: Terms::default(),
        has_cleared_payment: false,
        outstanding_balance: None,
        completed_steps: vec!["sms_verification".into()],
        signup: Some(signup()),
    }
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn sorted<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let mut names = names.to_vec();
    names.sort_unstable();
    names
}

#[test]
fn features_serialize_to_the_exact_contract_shape() {
    let json = serde_json::to_value(Features::for_signup(
        &signup(),
        &Context::at(now()),
        data(),
        &SignalConfig::default(),
    ))
    .unwrap();
    let contract: [(&str, &[&str]); 11] = [
        (
            "email",
            &[
                "valid",
                "disposable",
                "free",
                "domain",
                "domain_matches_company",
                "normalized",
            ],
        ),
        ("phone", &["valid", "country", "matches_billing"]),
        (
            "geo",
            &[
                "ip_country",
                "billing_country",
                "card_country",
                "bank_country",
                "phone_country",
                "ip_matches_billing",
                "card_matches_billing",
                "bank_matches_billing",
                "countries_disagreeing",
                "high_risk",
                "high_risk_countries",
            ],
        ),
        (
            "card",
            &[
                "present",
                "bin",
                "brand",
                "funding",
                "prepaid",
                "country",
                "cvc_failed",
                "avs_failed",
                "three_ds",
                "no_three_ds",
                "expired",
            ],
        ),
        (
            "bank",
            &[
                "present",
                "scheme",
                "country",
                "verification",
                "verified",
                "verification_failed",
                "no_mandate",
                "personal_account",
                "holder_mismatch",
            ],
        ),
        (
            "links",
            &[
                "card_customers",
                "bank_account_customers",
                "device_customers",
                "ip_customers",
                "ip24_customers",
                "phone_customers",
                "email_customers",
                "max_shared",
                "linked_customer_ids",
            ],
        ),
        (
            "velocity",
            &[
                "signups_ip_1h",
                "signups_ip_24h",
                "signups_ip_7d",
                "signups_device_1h",
                "signups_device_24h",
                "signups_device_7d",
                "signups_email_domain_1h",
                "signups_email_domain_24h",
                "signups_email_domain_7d",
                "payment_methods_customer_24h",
                "payment_methods_customer_7d",
                "orders_customer_1h",
                "orders_customer_24h",
                "orders_customer_7d",
                "order_value_customer_24h",
            ],
        ),
        (
            "bot",
            &[
                "form_seconds",
                "too_fast",
                "no_input_events",
                "headless_ua",
                "network_burst",
            ],
        ),
        (
            "order",
            &[
                "total",
                "currency",
                "max_quantity",
                "gpu_quantity",
                "has_gpu",
                "above_credit_limit",
                "awaiting_first_payment",
            ],
        ),
        (
            "customer",
            &[
                "trust_tier",
                "age_days",
                "prepayment_required",
                "has_cleared_payment",
                "completed_steps",
            ],
        ),
        ("lists", &["blocked", "allowed", "matches"]),
    ];
    let mut top: Vec<&str> = contract.iter().map(|(name, _)| *name).collect();
    top.push("kind");
    assert_eq!(keys(&json), sorted(&top));
    for (section, fields) in contract {
        assert_eq!(keys(&json[section]), sorted(fields), "section {section}");
    }
    // Types CEL relies on: doubles for money and durations, strings for enums, lists.
    assert_eq!(json["kind"], "signup");
    assert!(json["velocity"]["order_value_customer_24h"].is_f64());
    assert!(json["order"]["total"].is_f64());
    assert!(json["bot"]["form_seconds"].is_f64());
    assert!(json["customer"]["age_days"].is_f64());
    assert_eq!(json["card"]["funding"], "unknown");
    assert_eq!(json["card"]["three_ds"], "");
    assert!(json["geo"]["high_risk_countries"].is_array());
    assert!(json["links"]["linked_customer_ids"].is_array());
}

#[test]
fn an_honest_signup_raises_nothing() {
    let features = Features::for_signup(
        &signup(),
        &Context::at(now()),
        data(),
        &SignalConfig::default(),
    );
    assert!(features.email.valid && !features.email.free && !features.email.disposable);
    assert!(features.email.domain_matches_company);
    assert_eq!(features.email.normalized, "jane.doe@acme.de");
    assert!(features.phone.valid && features.phone.matches_billing);
    assert_eq!(features.geo.ip_country, "DE");
    assert_eq!(features.geo.countries_disagreeing, 0);
    assert!(!features.geo.high_risk);
    assert!(!features.bot.too_fast && !features.bot.headless_ua && !features.bot.no_input_events);
    assert_eq!(features.bot.form_seconds, 95.0);
    assert!(!features.card.present);
    assert_eq!(features.customer, CustomerFeatures::default());
}

#[test]
fn a_scripted_signup_from_a_high_risk_country_with_a_throwaway_address() {
    let mut facts = signup();
    facts.contact.email = "x@mailinator.com".into();
    facts.billing_address.country = "IR".parse().unwrap();
    facts.user_agent = "python-requests/2.31".into();
    facts.session.form_started_at = now() - Duration::milliseconds(800);
    let ctx = Context {
        network_signups_1h: 12,
        ..Context::at(now())
    };
    let features = Features::for_signup(&facts, &ctx, data(), &SignalConfig::default());
    assert!(features.email.disposable && !features.email.domain_matches_company);
    assert!(features.geo.high_risk);
    assert_eq!(features.geo.high_risk_countries, ["IR"]);
    assert!(!features.phone.matches_billing && !features.geo.ip_matches_billing);
    assert!(features.bot.too_fast && features.bot.headless_ua && features.bot.network_burst);
}

#[test]
fn a_tenant_list_replaces_the_default_high_risk_countries() {
    let config = SignalConfig {
        high_risk_countries: Some(["DE".parse().unwrap()].into_iter().collect()),
        ..SignalConfig::default()
    };
    let features = Features::for_signup(&signup(), &Context::at(now()), data(), &config);
    assert_eq!(features.geo.high_risk_countries, ["DE"]);
}

#[test]
fn a_prepaid_card_from_abroad_on_an_existing_customer() {
    let ctx = Context {
        customer: Some(customer()),
        links: LinkCounts {
            card_customers: 4,
            linked_customer_ids: vec![CustomerId::generate()],
            ..LinkCounts::default()
        },
        ..Context::at(now())
    };
    // 424200: VISA PREPAID CLASSIC issued in DE; the PSP says it was issued in FR.
    let card = PaymentMethodFacts::Card(CardFacts {
        country: "FR".parse().ok(),
        three_ds: ThreeDs::NotPerformed,
        ..card_facts("424200")
    });
    let features = Features::for_payment_method(&card, &ctx, data(), &SignalConfig::default());
    assert_eq!(features.kind, FeatureKind::PaymentMethod);
    assert!(features.card.present && features.card.prepaid && features.card.no_three_ds);
    assert_eq!(features.card.funding, Funding::Prepaid);
    assert_eq!(features.geo.card_country, "FR");
    assert!(!features.geo.card_matches_billing);
    assert!(!features.bank.present);
    assert_eq!(features.geo.countries_disagreeing, 1);
    assert_eq!(
        (
            features.links.max_shared,
            features.links.counts.linked_customer_ids.len()
        ),
        (4, 1)
    );
    assert_eq!(features.customer.trust_tier, "new");
    assert_eq!(features.customer.age_days, 1.5);
    assert_eq!(features.customer.completed_steps, ["sms_verification"]);
    assert_eq!(
        features.email.normalized, "jane.doe@acme.de",
        "identity comes from the sign-up"
    );
}

fn bank_account() -> BankAccountFacts {
    BankAccountFacts {
        scheme: DebitScheme::SepaCore,
        country: "NL".parse().unwrap(),
        bank_code: Some("ABNANL2A".into()),
        last4: "4300".into(),
        fingerprint: "ba_fp_1".into(),
        holder_name: Some("J. Smith".into()),
        holder_type: Some(HolderType::Individual),
        verification: BankVerification::Pending,
        mandate: None,
    }
}

#[test]
fn an_unverified_personal_bank_account_abroad_without_a_mandate() {
    let ctx = Context {
        customer: Some(customer()),
        links: LinkCounts {
            bank_account_customers: 3,
            ..LinkCounts::default()
        },
        ..Context::at(now())
    };
    let method = PaymentMethodFacts::BankAccount(bank_account());
    let features = Features::for_payment_method(&method, &ctx, data(), &SignalConfig::default());
    let bank = &features.bank;
    assert!(bank.present && !bank.verified && !bank.verification_failed);
    assert!(bank.no_mandate && bank.personal_account && bank.holder_mismatch);
    assert_eq!(
        (bank.scheme.as_str(), bank.verification.as_str()),
        ("sepa_core", "pending")
    );
    assert_eq!(features.geo.bank_country, "NL");
    assert!(!features.geo.bank_matches_billing);
    assert_eq!(features.geo.countries_disagreeing, 1);
    assert!(!features.card.present, "a bank account is not a card");
    assert_eq!(features.links.max_shared, 3);
}

#[test]
fn features_stored_before_bank_accounts_replay_with_neutral_values() {
    let mut stored = serde_json::to_value(Features::for_signup(
        &signup(),
        &Context::at(now()),
        data(),
        &SignalConfig::default(),
    ))
    .unwrap();
    let today = stored.clone();
    let object = stored.as_object_mut().unwrap();
    object.remove("bank");
    object["geo"]
        .as_object_mut()
        .unwrap()
        .remove("bank_country");
    object["links"]
        .as_object_mut()
        .unwrap()
        .remove("bank_account_customers");
    Features::upgrade_stored(&mut stored);
    assert_eq!(
        stored, today,
        "missing parts come back neutral, the rest untouched"
    );
}

#[test]
fn stored_payment_methods_read_back_with_or_without_a_type() {
    let method = PaymentMethodFacts::BankAccount(bank_account());
    let json = serde_json::to_value(&method).unwrap();
    assert_eq!(json["type"], "bank_account");
    assert_eq!(
        serde_json::from_value::<PaymentMethodFacts>(json).unwrap(),
        method
    );
    // Cards stored before bank accounts existed have no `type`.
    let legacy = serde_json::to_value(card_facts("424201")).unwrap();
    assert_eq!(
        serde_json::from_value::<PaymentMethodFacts>(legacy).unwrap(),
        card("424201")
    );
    let unknown = serde_json::json!({"type": "crypto_wallet"});
    assert!(serde_json::from_value::<PaymentMethodFacts>(unknown).is_err());
}

#[test]
fn a_gpu_order_before_the_first_cleared_payment() {
    let eur = |amount: &str| Money::new(amount.parse().unwrap(), "EUR".parse().unwrap()).unwrap();
    let order = OrderFacts {
        customer_id: CustomerId::generate(),
        payment_method_id: PaymentMethodId::generate(),
        items: vec![OrderItem {
            sku: "nc-h100".into(),
            product_kind: ProductKind::GpuCapacity,
            quantity: 8,
            unit_price: eur("2500"),
        }],
    };
    let ctx = Context {
        customer: Some(customer()),
        ..Context::at(now())
    };
    let features = Features::for_order(
        &order,
        Some(&card("424201")),
        &ctx,
        data(),
        &SignalConfig::default(),
    )
    .unwrap();
    assert_eq!(features.kind, FeatureKind::Order);
    assert!(features.order.has_gpu && features.order.awaiting_first_payment);
    assert_eq!(
        (features.order.total, features.order.gpu_quantity),
        (20_000.0, 8)
    );
    assert!(features.card.present && !features.card.prepaid);
    let empty = OrderFacts {
        items: vec![],
        ..order
    };
    assert_eq!(
        Features::for_order(&empty, None, &ctx, data(), &SignalConfig::default()),
        Err(OrderError::NoItems)
    );
}

#[test]
fn link_keys_use_the_normalized_values() {
    let keys = LinkKeys::for_signup(&signup());
    assert_eq!(keys.email, "jane.doe@acme.de");
    assert_eq!(keys.phone, "+4915112345678");
    assert_eq!(keys.network, "80.128.0.0/24");
    assert_eq!(keys.device.as_deref(), Some("dev-1"));
    let mut anonymous = signup();
    anonymous.device_id = Some("  ".into());
    anonymous.contact.phone = "0151 1234-5678".into();
    let keys = LinkKeys::for_signup(&anonymous);
    assert_eq!(keys.device, None);
    assert_eq!(
        keys.phone, "015112345678",
        "unparseable numbers are kept, compacted"
    );
}
