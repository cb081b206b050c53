//! Hand-built features in the contract's JSON form, and small policies, for tests.

use serde_json::{Value, json};

use super::{CompiledPolicy, Policy, PolicyError};

/// A clean, unremarkable customer: every fact present with its neutral value.
pub fn neutral_features(kind: &str) -> Value {
    json!({
        "kind": kind,
        "email": {"valid": true, "disposable": false, "free": false, "domain": "acme.example",
                  "domain_matches_company": true, "normalized": "jane@acme.example"},
        "phone": {"valid": true, "country": "DE", "matches_billing": true},
        "geo": {"ip_country": "DE", "billing_country": "DE", "card_country": "", "bank_country": "",
                "phone_country": "DE", "ip_matches_billing": true, "card_matches_billing": false,
                "bank_matches_billing": false, "countries_disagreeing": 0,
                "high_risk": false, "high_risk_countries": []},
        "card": {"present": false, "bin": "", "brand": "", "funding": "unknown", "prepaid": false,
                 "country": "", "cvc_failed": false, "avs_failed": false, "three_ds": "",
                 "no_three_ds": false, "expired": false},
        "bank": {"present": false, "scheme": "", "country": "", "verification": "", "verified": false,
                 "verification_failed": false, "no_mandate": false, "personal_account": false,
                 "holder_mismatch": false},
        "links": {"card_customers": 0, "bank_account_customers": 0, "device_customers": 0, "ip_customers": 0, "ip24_customers": 0,
                  "phone_customers": 0, "email_customers": 0, "max_shared": 0, "linked_customer_ids": []},
        "velocity": {"signups_ip_1h": 0, "signups_ip_24h": 0, "signups_ip_7d": 0,
                     "signups_device_1h": 0, "signups_device_24h": 0, "signups_device_7d": 0,
                     "signups_email_domain_1h": 0, "signups_email_domain_24h": 0,
                     "signups_email_domain_7d": 0, "payment_methods_customer_24h": 0,
                     "payment_methods_customer_7d": 0, "orders_customer_1h": 0,
                     "orders_customer_24h": 0, "orders_customer_7d": 0,
                     "order_value_customer_24h": 0.0},
        "bot": {"form_seconds": 48.0, "too_fast": false, "no_input_events": false,
                "headless_ua": false, "network_burst": false},
        "order": {"total": 0.0, "currency": "", "max_quantity": 0, "gpu_quantity": 0, "has_gpu": false,
                  "above_credit_limit": false, "awaiting_first_payment": false},
        "customer": {"trust_tier": "new", "age_days": 0.0, "prepayment_required": true,
                     "has_cleared_payment": false, "completed_steps": []},
        "lists": {"blocked": false, "allowed": false, "matches": []}
    })
}

/// `base` with the fields of `patch` laid over it, section by section
/// (`{"card": {"prepaid": true}}` changes only `card.prepaid`).
pub fn with(mut base: Value, patch: Value) -> Value {
    if let (Some(base), Value::Object(patch)) = (base.as_object_mut(), patch) {
        for (section, fields) in patch {
            match (base.get_mut(&section), fields) {
                (Some(Value::Object(target)), Value::Object(fields)) => target.extend(fields),
                (_, fields) => {
                    base.insert(section, fields);
                }
            }
        }
    }
    base
}

/// A policy document with standard bands and the given rules.
pub fn document(version: &str, rules: Value) -> Value {
    json!({
        "version": version,
        "thresholds": {
            "signup": [{"verdict": "approve"}, {"verdict": "review", "min_score": 30},
                       {"verdict": "challenge", "min_score": 50,
                        "terms": {"required_steps": ["sms_verification"]}},
                       {"verdict": "decline", "min_score": 80}],
            "payment_method": [{"verdict": "allow"}, {"verdict": "hold", "min_score": 40},
                               {"verdict": "decline", "min_score": 75}],
            "order": [{"verdict": "allow"}, {"verdict": "hold"}, {"verdict": "decline", "min_score": 80}]
        },
        "rules": rules
    })
}

pub fn rule(id: &str, applies_to: Value, when: &str, outcome: Value) -> Value {
    json!({"id": id, "applies_to": applies_to, "when": when, "outcome": outcome})
}

pub fn points(score: i32, code: &str) -> Value {
    json!({"score": score, "reason_code": code, "reason": format!("{code} fired")})
}

pub fn compile(document: Value) -> Result<CompiledPolicy, PolicyError> {
    CompiledPolicy::compile(Policy::from_json(&document.to_string())?)
}

pub fn compiled(rules: Value) -> CompiledPolicy {
    compile(document("test-1", rules)).unwrap()
}
