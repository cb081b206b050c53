//! The shipped default policy: it compiles, every rule runs cleanly over contract-shaped
//! features, and the scenarios of the sign-up / payment / order journey come out as intended.

use serde_json::{Value, json};

use super::{
    CompiledPolicy, Evaluation, Policy,
    test_support::{neutral_features, with},
};
use crate::{
    Money,
    customers::TrustTier,
    decisions::{DecisionKind, RequiredStep, Verdict},
};

fn default_policy() -> CompiledPolicy {
    CompiledPolicy::compile(Policy::shipped_default()).unwrap()
}

fn evaluate(kind: DecisionKind, patch: Value) -> Evaluation {
    let features = with(neutral_features(kind.as_str()), patch);
    let evaluation = default_policy().evaluate(kind, &features);
    assert!(evaluation.errors.is_empty(), "{:?}", evaluation.errors);
    evaluation
}

fn codes(evaluation: &Evaluation) -> Vec<&str> {
    evaluation.reasons.iter().map(|r| r.code.as_str()).collect()
}

fn eur(amount: &str) -> Option<Money> {
    Some(Money::new(amount.parse().unwrap(), "EUR".parse().unwrap()).unwrap())
}

#[test]
fn compiles_and_covers_every_signal_family() {
    let policy = default_policy();
    let rules = &policy.policy().rules;
    assert!(rules.len() >= 22, "{} rules", rules.len());
    let text = serde_json::to_string(rules).unwrap();
    for family in [
        "email.",
        "phone.",
        "geo.",
        "card.",
        "bank.",
        "links.",
        "velocity.",
        "bot.",
        "order.",
        "customer.",
        "lists.",
    ] {
        assert!(text.contains(family), "no rule reads {family}");
    }
}

#[test]
fn every_rule_runs_without_errors_on_contract_shaped_features() {
    let policy = default_policy();
    for kind in DecisionKind::ALL {
        let evaluation = policy.evaluate(*kind, &neutral_features(kind.as_str()));
        assert!(
            evaluation.errors.is_empty(),
            "{kind}: {:?}",
            evaluation.errors
        );
    }
}

#[test]
fn clean_signup_is_approved_on_new_customer_terms() {
    let evaluation = evaluate(DecisionKind::Signup, json!({}));
    assert_eq!(
        (evaluation.verdict, evaluation.score),
        (Verdict::Approve, 0)
    );
    assert_eq!(codes(&evaluation), ["new_customer_terms"]);
    let terms = &evaluation.terms;
    assert_eq!(terms.trust_tier, Some(TrustTier::New));
    assert_eq!(terms.prepayment_required, Some(true));
    assert_eq!(terms.monthly_spend_limit, eur("1000"));
    assert_eq!(terms.admin_access_allowed, Some(false));
    assert!(evaluation.required_steps().is_empty());
}

#[test]
fn prepaid_card_is_declined() {
    let evaluation = evaluate(
        DecisionKind::PaymentMethod,
        json!({"card": {"present": true, "bin": "537410", "funding": "prepaid", "prepaid": true,
                        "country": "DE", "three_ds": "authenticated"},
               "geo": {"card_country": "DE", "card_matches_billing": true}}),
    );
    assert_eq!(evaluation.verdict, Verdict::Decline);
    assert_eq!(codes(&evaluation), ["prepaid_card"]);
    assert_eq!(
        evaluation.reasons[0].message,
        "Card BIN 537410 is a prepaid or stored-value card"
    );
}

#[test]
fn high_risk_country_with_disposable_email_is_challenged() {
    let risky = json!({"email": {"disposable": true, "domain": "mailinator.com", "domain_matches_company": false},
                       "geo": {"high_risk": true, "high_risk_countries": ["KP"]}});
    let evaluation = evaluate(DecisionKind::Signup, risky.clone());
    assert_eq!(evaluation.verdict, Verdict::Challenge);
    assert_eq!(
        evaluation.required_steps(),
        [RequiredStep::SmsVerification, RequiredStep::BureauCheck]
    );
    assert!(codes(&evaluation).contains(&"disposable_email"));
    let high_risk = evaluation
        .reasons
        .iter()
        .find(|r| r.code == "high_risk_country")
        .unwrap();
    assert_eq!(high_risk.message, "High-risk jurisdiction involved: KP");

    // Once both steps are done the same customer is re-evaluated onto verified terms.
    let done = with(
        risky,
        json!({"customer": {"completed_steps": ["sms_verification", "bureau_check"]}}),
    );
    let evaluation = evaluate(DecisionKind::Signup, done);
    assert_eq!(evaluation.verdict, Verdict::Approve);
    assert!(evaluation.required_steps().is_empty());
    let terms = &evaluation.terms;
    assert_eq!(terms.trust_tier, Some(TrustTier::Verified));
    assert_eq!(
        (terms.prepayment_required, terms.admin_access_allowed),
        (Some(false), Some(true))
    );
    assert_eq!(terms.credit_limit, eur("5000"));
}

#[test]
fn gpu_order_from_a_new_customer_is_held() {
    let evaluation = evaluate(
        DecisionKind::Order,
        json!({"order": {"total": 4200.0, "currency": "EUR", "max_quantity": 2, "gpu_quantity": 2, "has_gpu": true},
               "customer": {"has_cleared_payment": true}}),
    );
    assert_eq!(evaluation.verdict, Verdict::Hold);
    assert_eq!(evaluation.hold_codes, ["gpu_new_customer"]);
    assert_eq!(
        evaluation.reasons[0].message,
        "New customer orders 2 GPU units"
    );
}

#[test]
fn prepayment_customer_without_cleared_payment_is_held_awaiting_first_payment() {
    let evaluation = evaluate(
        DecisionKind::Order,
        json!({"order": {"total": 120.0, "currency": "EUR", "max_quantity": 5}}),
    );
    assert_eq!(evaluation.verdict, Verdict::Hold);
    assert_eq!(evaluation.hold_codes, ["awaiting_first_payment"]);

    let paid = evaluate(
        DecisionKind::Order,
        json!({"order": {"total": 120.0, "currency": "EUR", "max_quantity": 5},
               "customer": {"has_cleared_payment": true}}),
    );
    assert_eq!(paid.verdict, Verdict::Allow);
}

#[test]
fn a_card_ring_is_held_with_link_reasons() {
    let evaluation = evaluate(
        DecisionKind::PaymentMethod,
        json!({"card": {"present": true, "bin": "424242", "funding": "credit", "country": "DE",
                        "three_ds": "authenticated"},
               "geo": {"card_country": "DE", "card_matches_billing": true},
               "links": {"card_customers": 4, "device_customers": 4, "max_shared": 4}}),
    );
    assert_eq!(evaluation.verdict, Verdict::Hold);
    assert_eq!(codes(&evaluation), ["card_shared", "device_shared"]);
    assert_eq!(
        evaluation.reasons[0].message,
        "The same card is used by 4 other customers"
    );
}

/// A verified SEPA account of the company itself, held where it bills, with a signed mandate.
fn good_bank_account() -> Value {
    json!({"bank": {"present": true, "scheme": "sepa_core", "country": "DE",
                    "verification": "verified", "verified": true},
           "geo": {"bank_country": "DE", "bank_matches_billing": true}})
}

#[test]
fn a_verified_bank_account_with_a_mandate_is_allowed() {
    let evaluation = evaluate(DecisionKind::PaymentMethod, good_bank_account());
    assert_eq!((evaluation.verdict, evaluation.score), (Verdict::Allow, 0));
    let order = evaluate(
        DecisionKind::Order,
        with(
            good_bank_account(),
            json!({"order": {"total": 120.0, "currency": "EUR", "max_quantity": 5},
                   "customer": {"has_cleared_payment": true}}),
        ),
    );
    assert_eq!(order.verdict, Verdict::Allow);
}

#[test]
fn a_bank_account_that_failed_verification_is_declined() {
    let evaluation = evaluate(
        DecisionKind::PaymentMethod,
        with(
            good_bank_account(),
            json!({"bank": {"verification": "failed", "verified": false, "verification_failed": true}}),
        ),
    );
    assert_eq!(evaluation.verdict, Verdict::Decline);
    assert_eq!(codes(&evaluation), ["bank_verification_failed"]);
}

#[test]
fn an_unverified_account_without_a_mandate_is_held_and_so_are_its_orders() {
    let shaky = with(
        good_bank_account(),
        json!({"bank": {"verification": "pending", "verified": false, "no_mandate": true}}),
    );
    let evaluation = evaluate(DecisionKind::PaymentMethod, shaky.clone());
    assert_eq!(evaluation.verdict, Verdict::Hold);
    assert_eq!(codes(&evaluation), ["bank_unverified", "bank_no_mandate"]);
    assert_eq!(
        evaluation.reasons[0].message,
        "Bank account is not verified yet (pending)"
    );
    let order = evaluate(
        DecisionKind::Order,
        with(
            shaky,
            json!({"order": {"total": 120.0, "currency": "EUR", "max_quantity": 5},
                   "customer": {"has_cleared_payment": true}}),
        ),
    );
    assert_eq!(order.verdict, Verdict::Hold);
    assert_eq!(order.hold_codes, ["bank_account_unverified", "no_mandate"]);
}

#[test]
fn somebody_elses_account_abroad_shared_with_other_customers() {
    let evaluation = evaluate(
        DecisionKind::PaymentMethod,
        with(
            good_bank_account(),
            json!({"bank": {"country": "LT", "personal_account": true, "holder_mismatch": true},
                   "geo": {"bank_country": "LT", "bank_matches_billing": false},
                   "links": {"bank_account_customers": 3, "max_shared": 3}}),
        ),
    );
    assert_eq!(evaluation.verdict, Verdict::Decline);
    assert_eq!(
        codes(&evaluation),
        [
            "bank_billing_mismatch",
            "bank_holder_mismatch",
            "personal_bank_account",
            "bank_account_shared"
        ]
    );
    assert_eq!(
        evaluation.reasons[3].message,
        "The same bank account is used by 3 other customers"
    );
}

#[test]
fn block_list_declines_everywhere() {
    for kind in DecisionKind::ALL {
        let evaluation = evaluate(
            *kind,
            json!({"lists": {"blocked": true, "matches": ["block:email:x@y.example"]}}),
        );
        assert_eq!(evaluation.verdict, Verdict::Decline, "{kind}");
        assert_eq!(
            evaluation.reasons[0].message,
            "Matches the block list: block:email:x@y.example"
        );
    }
}
