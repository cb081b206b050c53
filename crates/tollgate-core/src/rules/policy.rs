//! The policy document: what an analyst writes, stores as an immutable version, and posts to
//! `/v1/rules`. [`Policy::compile`](super::CompiledPolicy::compile) checks it and makes it
//! runnable.

use serde::{Deserialize, Serialize};

use super::PolicyError;
use crate::decisions::{DecisionKind, TermsChange, Verdict};

/// The policy Tollgate ships with, loaded by `tollgate init`.
pub const DEFAULT_POLICY_JSON: &str = include_str!("../../policies/default.json");

/// A versioned set of rules and the score bands that turn points into verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// A label unique per tenant, e.g. `2026-11-default`; recorded on every decision.
    pub version: String,
    #[serde(default)]
    pub description: String,
    pub thresholds: Thresholds,
    /// Evaluated in order; later terms changes win over earlier ones.
    pub rules: Vec<Rule>,
}

/// Score bands per decision kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub signup: Vec<Band>,
    pub payment_method: Vec<Band>,
    pub order: Vec<Band>,
}

impl Thresholds {
    pub fn for_kind(&self, kind: DecisionKind) -> &[Band] {
        match kind {
            DecisionKind::Signup => &self.signup,
            DecisionKind::PaymentMethod => &self.payment_method,
            DecisionKind::Order => &self.order,
        }
    }
}

/// One verdict of a kind's ladder: the score from which it applies, and the terms that come
/// with it whatever made it the verdict (score or a rule's floor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub verdict: Verdict,
    /// Lowest score (0–100) giving this verdict; none when only a rule's floor can give it.
    /// The mildest verdict applies from 0 and takes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<u8>,
    /// Applied after the rules' changes when this is the final verdict.
    #[serde(default, skip_serializing_if = "TermsChange::is_empty")]
    pub terms: TermsChange,
}

/// A rule: when its CEL condition holds over the features, its outcome applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable snake_case id, e.g. `prepaid_card`.
    pub id: String,
    #[serde(default)]
    pub description: String,
    /// The decision points the rule runs at.
    pub applies_to: Vec<DecisionKind>,
    /// A CEL expression over the features that must evaluate to a bool.
    pub when: String,
    pub outcome: Outcome,
}

/// What a firing rule does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Points added to the score; negative points speak for the customer.
    #[serde(default)]
    pub score: i32,
    /// The verdict is at least this harsh, whatever the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict_floor: Option<Verdict>,
    /// Stable snake_case code reported as the reason.
    pub reason_code: String,
    /// A sentence for people; `{card.bin}` inserts a feature value, `{{` a brace.
    pub reason: String,
    #[serde(default, skip_serializing_if = "TermsChange::is_empty")]
    pub terms: TermsChange,
    /// Why the order or payment method is held, e.g. `awaiting_first_payment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_code: Option<String>,
}

impl Policy {
    /// Reads a policy document; errors carry the line and column of the JSON at fault.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        serde_json::from_str(text).map_err(|e| PolicyError::Document {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }

    /// The policy Tollgate ships with.
    pub fn shipped_default() -> Self {
        // The embedded document is checked by this module's tests; it is not input.
        Self::from_json(DEFAULT_POLICY_JSON)
            .expect("the shipped default policy is a valid document")
    }
}
