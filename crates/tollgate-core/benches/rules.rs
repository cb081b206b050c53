//! CEL evaluation per decision: the shipped default policy over the features of a realistic
//! sign-up and order, next to baselines that run one rule over the same features, reading none
//! of them or converting them all for CEL.
//!
//! `cargo bench -p tollgate-core --bench rules` prints a Markdown table of the median time per
//! call over several timed repetitions, each sized from the warm-up's rate.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tollgate_core::{
    customers::{Terms, TrustTier},
    decisions::DecisionKind,
    refdata::ReferenceData,
    rules::{CompiledPolicy, DEFAULT_POLICY_JSON, Evaluation, Policy},
    signals::{
        Context, CustomerState, Features, LinkCounts, OrderFacts, PaymentMethodFacts, SignalConfig,
        SignupFacts, VelocityCounts,
    },
};

const WARM_UP: Duration = Duration::from_millis(500);
const REPETITION: Duration = Duration::from_millis(300);
const REPETITIONS: u32 = 9;

/// Median nanoseconds per call of `f`.
fn median_ns(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0_u32;
    while start.elapsed() < WARM_UP {
        f();
        calls += 1;
    }
    let per_repetition =
        (f64::from(calls) * REPETITION.as_secs_f64() / WARM_UP.as_secs_f64()).max(1.0);
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a few million calls at most"
    )]
    let calls = per_repetition as u32;
    let mut samples: Vec<f64> = (0..REPETITIONS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..calls {
                f();
            }
            started.elapsed().as_secs_f64() * 1e9 / f64::from(calls)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("fixed timestamp")
        .to_utc()
}

/// A company in Germany whose contact uses a free-mail address from an IP abroad: a few rules
/// fire, as on a typical day.
fn signup() -> SignupFacts {
    serde_json::from_value(json!({
        "external_id": "c-20931",
        "company": {"name": "Müller Cloud Services GmbH", "domain": "mueller-cloud.de",
                    "country": "DE", "registration_number": "HRB 123456"},
        "contact": {"name": "Jana Müller", "email": "jana.mueller@gmail.com",
                    "phone": "+4915112345678"},
        "billing_address": {"line1": "Torstraße 12", "city": "Berlin", "postal_code": "10119",
                            "country": "DE"},
        "ip": "8.8.8.8",
        "device_id": "dev_7f3a9c",
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        "session": {"form_started_at": "2026-11-02T08:58:10Z", "submitted_at": "2026-11-02T09:00:00Z",
                    "key_events": 312, "pointer_events": 41}
    }))
    .expect("sign-up facts")
}

/// A two-day-old `new` customer ordering GPU capacity before its first payment cleared.
fn order(signup: &SignupFacts) -> (OrderFacts, PaymentMethodFacts, Context) {
    let order = serde_json::from_value(json!({
        "customer_id": tollgate_core::CustomerId::generate(),
        "payment_method_id": tollgate_core::PaymentMethodId::generate(),
        "items": [
            {"sku": "NC24ads-A100-v4", "product_kind": "gpu_capacity", "quantity": 4,
             "unit_price": {"amount": "2.90", "currency": "EUR"}},
            {"sku": "azure-plan", "product_kind": "azure_plan", "quantity": 1,
             "unit_price": {"amount": "0.00", "currency": "EUR"}}
        ]
    }))
    .expect("order facts");
    let card = serde_json::from_value(json!({
        "bin": "45717360", "last4": "4242", "fingerprint": "fp_9d2c", "exp_month": 8,
        "exp_year": 2029, "country": "DE", "cvc_check": "pass", "avs_check": "pass",
        "three_ds": "authenticated"
    }))
    .expect("card facts");
    let context = Context {
        customer: Some(CustomerState {
            trust_tier: TrustTier::New,
            created_at: at("2026-10-31T09:00:00Z"),
            terms: Terms::default(),
            has_cleared_payment: false,
            outstanding_balance: None,
            completed_steps: vec!["sms_verification".into()],
            signup: Some(signup.clone()),
        }),
        velocity: VelocityCounts {
            orders_customer_24h: 1,
            orders_customer_7d: 2,
            ..VelocityCounts::default()
        },
        ..Context::at(at("2026-11-02T09:00:00Z"))
    };
    (order, card, context)
}

/// The shipped thresholds with the single rule `when`: the baselines for what a decision costs
/// before any real rule runs.
fn one_rule(when: &str) -> CompiledPolicy {
    let mut document: Value = serde_json::from_str(DEFAULT_POLICY_JSON).expect("shipped policy");
    document["rules"] = json!([{
        "id": "baseline",
        "applies_to": ["signup", "payment_method", "order"],
        "when": when,
        "outcome": {"score": 0, "reason_code": "baseline", "reason": "baseline"}
    }]);
    compile(Policy::from_json(&document.to_string()).expect("baseline policy"))
}

fn compile(policy: Policy) -> CompiledPolicy {
    CompiledPolicy::compile(policy).expect("policy compiles")
}

fn row(case: &str, evaluation: &Evaluation, rules_run: usize, ns: f64) {
    assert!(
        evaluation.errors.is_empty(),
        "{case}: rules failed on the features: {:?}",
        evaluation.errors
    );
    println!(
        "| {case} | {rules_run} | {} | {ns:.0} | {:.0} |",
        evaluation.fired.len(),
        1e9 / ns
    );
}

fn main() {
    let data = ReferenceData::embedded().expect("shipped reference data");
    let config = SignalConfig::default();
    let signup = signup();
    let signup_context = Context {
        links: LinkCounts {
            ip_customers: 1,
            ip24_customers: 2,
            ..LinkCounts::default()
        },
        velocity: VelocityCounts {
            signups_ip_24h: 1,
            signups_email_domain_24h: 3,
            signups_email_domain_7d: 9,
            ..VelocityCounts::default()
        },
        ..Context::at(at("2026-11-02T09:00:00Z"))
    };
    let signup_features = serde_json::to_value(Features::for_signup(
        &signup,
        &signup_context,
        data,
        &config,
    ))
    .expect("features serialize");
    let (order, card, order_context) = order(&signup);
    let order_features = serde_json::to_value(
        Features::for_order(&order, Some(&card), &order_context, data, &config)
            .expect("order features"),
    )
    .expect("features serialize");

    let default = compile(Policy::shipped_default());
    let nothing_read = one_rule("true");
    // Reading one field of a section converts the section whole: this costs the conversion of
    // every feature (a list literal would also deep-copy them, so each is only probed).
    let everything_read = one_rule(
        "kind != '' && has(email.valid) && has(phone.valid) && has(geo.high_risk) \
         && has(card.present) && has(links.card_customers) && has(velocity.signups_ip_1h) \
         && has(bot.too_fast) && has(order.total) && has(customer.trust_tier) && has(lists.blocked)",
    );

    let rules_for = |kind: DecisionKind| {
        default
            .policy()
            .rules
            .iter()
            .filter(|rule| rule.applies_to.contains(&kind))
            .count()
    };

    println!(
        "\n| case | rules run | rules fired | median ns per decision | decisions/s (one core) |"
    );
    println!("|---|---:|---:|---:|---:|");
    let cases = [
        (
            "baseline: one rule reading no feature",
            &nothing_read,
            DecisionKind::Signup,
            &signup_features,
            1,
        ),
        (
            "baseline: one rule reading every feature section (converts them all)",
            &everything_read,
            DecisionKind::Signup,
            &signup_features,
            1,
        ),
        (
            "default policy: sign-up",
            &default,
            DecisionKind::Signup,
            &signup_features,
            rules_for(DecisionKind::Signup),
        ),
        (
            "default policy: order",
            &default,
            DecisionKind::Order,
            &order_features,
            rules_for(DecisionKind::Order),
        ),
    ];
    for (case, policy, kind, features, rules_run) in cases {
        let ns = median_ns(|| {
            black_box(policy.evaluate(kind, black_box(features)));
        });
        row(case, &policy.evaluate(kind, features), rules_run, ns);
    }
    let ns = median_ns(|| {
        black_box(Features::for_signup(
            black_box(&signup),
            &signup_context,
            data,
            &config,
        ));
    });
    println!(
        "| for scale: sign-up signals (facts → features, no CEL) | – | – | {ns:.0} | {:.0} |",
        1e9 / ns
    );
}
