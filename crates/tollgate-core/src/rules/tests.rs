//! Engine behaviour over small hand-written policies.

use serde_json::{Value, json};

use super::{
    CompiledPolicy, Policy, PolicyError,
    test_support::{compile, compiled, document, neutral_features, points, rule, with},
};
use crate::{
    CustomerId, DecisionId,
    customers::{Terms, TrustTier},
    decisions::{DecisionKind, DecisionTerms, RequiredStep, Verdict},
};

#[test]
fn compiled_policies_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<CompiledPolicy>();
}

#[test]
fn invalid_cel_names_the_rule_and_position() {
    let err = compile(document(
        "t",
        json!([
            rule("ok", json!(["signup"]), "true", points(1, "ok")),
            rule(
                "broken",
                json!(["signup"]),
                "email.valid &&\n  (bot.too_fast ||",
                points(1, "b")
            )
        ]),
    ))
    .unwrap_err();
    let PolicyError::InvalidCel {
        index,
        rule_id,
        line,
        column,
        ..
    } = &err
    else {
        panic!("expected a CEL error, got {err:?}");
    };
    assert_eq!(
        (*index, rule_id.as_str(), *line, *column),
        (1, "broken", 2, 19)
    );
    assert_eq!(err.field(), "rules[1].when");
    assert!(err.to_string().contains("line 2, column 19"), "{err}");
}

#[test]
fn malformed_cel_is_refused_without_panicking() {
    let deep = "(".repeat(5_000);
    let bang = "!".repeat(50_000);
    for source in [
        "",
        "a &&",
        "(((",
        "\"open",
        "'\\u12'",
        "\u{0}",
        "a[",
        "x ? y",
        "....",
        "1.0e999999",
        "99999999999999999999999",
        "has(a)",
        "a.all(1, true)",
        deep.as_str(),
        bang.as_str(),
    ] {
        let result = compile(document(
            "t",
            json!([rule("r", json!(["order"]), source, points(1, "r"))]),
        ));
        assert!(
            matches!(result, Err(PolicyError::InvalidCel { .. })),
            "{source:.20?}: {result:?}"
        );
    }
}

#[test]
fn rules_are_checked_field_by_field() {
    let cases = [
        (
            rule("Bad-Id", json!(["order"]), "true", points(1, "x")),
            "rules[0].id",
        ),
        (
            rule("r", json!([]), "true", points(1, "x")),
            "rules[0].applies_to",
        ),
        (
            rule("r", json!(["order", "order"]), "true", points(1, "x")),
            "rules[0].applies_to",
        ),
        (
            rule("r", json!(["order"]), "true", points(101, "x")),
            "rules[0].outcome.score",
        ),
        (
            rule("r", json!(["order"]), "true", points(1, "Not Snake")),
            "rules[0].outcome.reason_code",
        ),
        (
            rule(
                "r",
                json!(["signup", "order"]),
                "true",
                json!({"verdict_floor": "challenge", "reason_code": "x", "reason": "x"}),
            ),
            "rules[0].outcome.verdict_floor",
        ),
        (
            rule(
                "r",
                json!(["order"]),
                "true",
                json!({"reason_code": "x", "reason": "x", "hold_code": "Hold!"}),
            ),
            "rules[0].outcome.hold_code",
        ),
        (
            rule(
                "r",
                json!(["order"]),
                "true",
                json!({"reason_code": "x", "reason": "BIN {card.bin"}),
            ),
            "rules[0].outcome.reason",
        ),
        (
            rule(
                "r",
                json!(["order"]),
                "true",
                json!({"reason_code": "x", "reason": " "}),
            ),
            "rules[0].outcome.reason",
        ),
    ];
    for (bad, field) in cases {
        let err = compile(document("t", json!([bad]))).unwrap_err();
        assert_eq!(err.field(), field, "{err}");
    }
    let twice = json!([
        rule("r", json!(["order"]), "true", points(1, "x")),
        rule("r", json!(["signup"]), "true", points(1, "y"))
    ]);
    assert!(matches!(
        compile(document("t", twice)),
        Err(PolicyError::DuplicateRuleId { index: 1, .. })
    ));
    assert_eq!(
        compile(document("has space", json!([]))).unwrap_err(),
        PolicyError::InvalidVersion
    );
}

#[test]
fn thresholds_must_follow_the_ladder_with_rising_scores() {
    let with_signup = |bands: Value| {
        let mut doc = document("t", json!([]));
        doc["thresholds"]["signup"] = bands;
        compile(doc).unwrap_err()
    };
    let wrong_order = with_signup(json!([{"verdict": "review"}, {"verdict": "approve"},
                                         {"verdict": "challenge"}, {"verdict": "decline"}]));
    assert_eq!(wrong_order.field(), "thresholds.signup");
    let falling = with_signup(
        json!([{"verdict": "approve"}, {"verdict": "review", "min_score": 50},
                                     {"verdict": "challenge", "min_score": 40}, {"verdict": "decline"}]),
    );
    assert!(falling.to_string().contains("challenge"), "{falling}");
    let mildest_with_score = with_signup(json!([{"verdict": "approve", "min_score": 10},
        {"verdict": "review"}, {"verdict": "challenge"}, {"verdict": "decline"}]));
    assert!(matches!(
        mildest_with_score,
        PolicyError::InvalidThresholds { .. }
    ));
    let order_verdict = with_signup(json!([{"verdict": "allow"}, {"verdict": "review"},
                                           {"verdict": "challenge"}, {"verdict": "decline"}]));
    assert!(matches!(
        order_verdict,
        PolicyError::InvalidThresholds {
            kind: DecisionKind::Signup,
            ..
        }
    ));
}

#[test]
fn document_errors_carry_the_json_position() {
    let err = Policy::from_json("{\n  \"version\": \"x\",\n  \"rulez\": []\n}").unwrap_err();
    let PolicyError::Document { line, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(line, 3);
}

#[test]
fn score_sums_fired_points_and_clamps() {
    let policy = compiled(json!([
        rule("a", json!(["signup"]), "email.disposable", points(35, "a")),
        rule("b", json!(["signup"]), "geo.high_risk", points(30, "b")),
        rule("c", json!(["signup"]), "lists.allowed", points(-90, "c")),
        rule("d", json!(["signup"]), "bot.headless_ua", points(100, "d")),
    ]));
    let features = with(
        neutral_features("signup"),
        json!({"email": {"disposable": true}, "geo": {"high_risk": true}}),
    );
    let evaluation = policy.evaluate(DecisionKind::Signup, &features);
    assert_eq!(
        (evaluation.score, evaluation.verdict),
        (65, Verdict::Challenge)
    );
    assert_eq!(evaluation.fired, ["a", "b"]);
    assert_eq!(evaluation.reasons[1].contribution, 30);
    assert_eq!(evaluation.required_steps(), [RequiredStep::SmsVerification]);

    let allowed = with(features.clone(), json!({"lists": {"allowed": true}}));
    assert_eq!(policy.evaluate(DecisionKind::Signup, &allowed).score, 0);
    let headless = with(features, json!({"bot": {"headless_ua": true}}));
    let evaluation = policy.evaluate(DecisionKind::Signup, &headless);
    assert_eq!(
        (evaluation.score, evaluation.verdict),
        (100, Verdict::Decline)
    );
}

#[test]
fn a_floor_raises_the_verdict_above_the_score_band() {
    let policy = compiled(json!([
        rule(
            "prepaid",
            json!(["payment_method", "order"]),
            "card.prepaid",
            json!({"score": 5, "verdict_floor": "decline", "reason_code": "prepaid_card",
                    "reason": "Card BIN {card.bin} is prepaid", "hold_code": "ignored_here"})
        ),
        rule(
            "gpu",
            json!(["order"]),
            "order.has_gpu",
            json!({"verdict_floor": "hold", "reason_code": "gpu", "reason": "GPU",
                    "hold_code": "gpu_new_customer"})
        ),
    ]));
    let prepaid = with(
        neutral_features("payment_method"),
        json!({"card": {"prepaid": true, "bin": "400000"}}),
    );
    let evaluation = policy.evaluate(DecisionKind::PaymentMethod, &prepaid);
    assert_eq!(
        (evaluation.score, evaluation.verdict),
        (5, Verdict::Decline)
    );
    assert_eq!(evaluation.reasons[0].message, "Card BIN 400000 is prepaid");

    // `hold` has no min_score for orders: only a floor reaches it.
    let gpu = with(
        neutral_features("order"),
        json!({"order": {"has_gpu": true}}),
    );
    let evaluation = policy.evaluate(DecisionKind::Order, &gpu);
    assert_eq!((evaluation.score, evaluation.verdict), (0, Verdict::Hold));
    assert_eq!(evaluation.hold_codes, ["gpu_new_customer"]);
}

#[test]
fn only_rules_for_the_decision_kind_run() {
    let policy = compiled(json!([rule(
        "signup_only",
        json!(["signup"]),
        "true",
        points(90, "s")
    )]));
    let evaluation = policy.evaluate(DecisionKind::Order, &neutral_features("order"));
    assert!(evaluation.fired.is_empty());
    assert_eq!(evaluation.verdict, Verdict::Allow);
}

#[test]
fn runtime_failures_are_recorded_and_do_not_fire() {
    let policy = compiled(json!([
        rule("not_bool", json!(["order"]), "order.total", points(50, "n")),
        rule("typo", json!(["order"]), "ordr.has_gpu", points(50, "t")),
        rule(
            "bad_regex",
            json!(["order"]),
            "order.currency.matches('[')",
            points(50, "r")
        ),
        rule(
            "overflow",
            json!(["order"]),
            "order.max_quantity + 9223372036854775807 > 0",
            points(50, "o")
        ),
        rule(
            "fine",
            json!(["order"]),
            "order.total > 10.0",
            points(10, "fine")
        ),
    ]));
    let features = with(
        neutral_features("order"),
        json!({"order": {"total": 12.5, "max_quantity": 3}}),
    );
    let evaluation = policy.evaluate(DecisionKind::Order, &features);
    assert_eq!(evaluation.fired, ["fine"]);
    assert_eq!(evaluation.score, 10);
    let failed: Vec<_> = evaluation
        .errors
        .iter()
        .map(|e| e.rule_id.as_str())
        .collect();
    assert_eq!(failed, ["not_bool", "typo", "bad_regex", "overflow"]);
    assert!(
        evaluation.errors[1].message.contains("ordr"),
        "{:?}",
        evaluation.errors[1]
    );

    // Features that are not an object leave every rule unable to run.
    let evaluation = policy.evaluate(DecisionKind::Order, &json!([1, 2]));
    assert_eq!((evaluation.fired.len(), evaluation.errors.len()), (0, 5));
}

#[test]
fn terms_merge_in_rule_order_then_the_verdict_band() {
    let eur = |amount: &str| json!({"amount": amount, "currency": "EUR"});
    let policy = compiled(json!([
        rule(
            "base",
            json!(["signup"]),
            "true",
            json!({"reason_code": "base", "reason": "base",
             "terms": {"trust_tier": "new", "monthly_spend_limit": eur("1000.00"),
                       "required_steps": ["phone_call"]}})
        ),
        rule(
            "verified",
            json!(["signup"]),
            "'sms_verification' in customer.completed_steps",
            json!({"reason_code": "verified", "reason": "verified",
                    "terms": {"trust_tier": "verified", "admin_access_allowed": true}})
        ),
        rule(
            "risky",
            json!(["signup"]),
            "geo.high_risk",
            points(55, "risky")
        ),
    ]));
    let features = with(
        neutral_features("signup"),
        json!({"customer": {"completed_steps": ["sms_verification"]}, "geo": {"high_risk": true}}),
    );
    let evaluation = policy.evaluate(DecisionKind::Signup, &features);
    assert_eq!(evaluation.verdict, Verdict::Challenge);
    let terms = &evaluation.terms;
    assert_eq!(terms.trust_tier, Some(TrustTier::Verified));
    assert_eq!(terms.admin_access_allowed, Some(true));
    assert_eq!(
        terms.monthly_spend_limit.map(|m| m.to_string()).as_deref(),
        Some("1000.00 EUR")
    );
    assert_eq!(
        terms.required_steps,
        [RequiredStep::PhoneCall, RequiredStep::SmsVerification]
    );
}

#[test]
fn decisions_carry_terms_for_signups_only() {
    let policy = compiled(json!([rule(
        "base",
        json!(["signup", "order"]),
        "true",
        json!({"reason_code": "base", "reason": "base", "terms": {"trust_tier": "verified"}})
    ),]));
    let current = DecisionTerms::new(TrustTier::New, &Terms::default());
    let at = chrono::DateTime::UNIX_EPOCH;
    let signup = policy
        .evaluate(DecisionKind::Signup, &neutral_features("signup"))
        .into_decision(
            DecisionId::generate(),
            CustomerId::generate(),
            current.clone(),
            at,
        );
    assert_eq!(
        signup.terms.map(|t| t.trust_tier),
        Some(TrustTier::Verified)
    );
    assert_eq!(signup.policy_version, "test-1");
    assert_eq!(signup.reasons[0].code, "base");
    let order = policy
        .evaluate(DecisionKind::Order, &neutral_features("order"))
        .into_decision(DecisionId::generate(), CustomerId::generate(), current, at);
    assert_eq!(order.terms, None);
    let json = serde_json::to_value(&order).unwrap();
    assert!(json["id"].as_str().unwrap().starts_with("dec_"));
    assert_eq!(json["verdict"], "allow");
}
