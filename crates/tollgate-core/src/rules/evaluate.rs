//! Running a compiled policy over one decision's features.

use std::sync::Arc;

use cel::{Context, Value as CelValue};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CompiledPolicy, compile::kind_slot, features::FeatureVariables};
use crate::{
    CustomerId, DecisionId,
    decisions::{
        Decision, DecisionKind, DecisionTerms, Reason, RequiredStep, TermsChange, Verdict,
    },
};

/// What a policy concluded about one decision's features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evaluation {
    pub policy_version: String,
    pub kind: DecisionKind,
    /// The harsher of the score's band and the floors of the rules that fired.
    pub verdict: Verdict,
    /// The fired rules' points summed and clamped to 0–100.
    pub score: u8,
    /// Ids of the rules that fired, in policy order.
    pub fired: Vec<String>,
    pub reasons: Vec<Reason>,
    /// The fired rules' terms changes in policy order, then the final verdict band's.
    pub terms: TermsChange,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hold_codes: Vec<String>,
    /// Rules that could not be evaluated; they did not fire.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RuleError>,
}

/// A rule whose condition failed at run time (a missing feature, a non-bool result…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleError {
    pub rule_id: String,
    pub message: String,
}

impl CompiledPolicy {
    /// Evaluates the rules that apply to `kind` over `features` (the JSON form described in
    /// the features contract). Never panics: a rule that errors is recorded and does not fire.
    pub fn evaluate(&self, kind: DecisionKind, features: &Value) -> Evaluation {
        let variables = FeatureVariables::new(features);
        let mut context = Context::with_env(Arc::clone(&self.env));
        context.set_variable_resolver(&variables);

        let mut points: i64 = 0;
        let mut floor = kind.mildest();
        let mut fired = Vec::new();
        let mut reasons = Vec::new();
        let mut terms = TermsChange::default();
        let mut hold_codes: Vec<String> = Vec::new();
        let mut errors = Vec::new();
        for &index in &self.by_kind[kind_slot(kind)] {
            let rule = &self.policy.rules[index];
            let compiled = &self.rules[index];
            match compiled.program.execute(&context) {
                Ok(CelValue::Bool(true)) => {}
                Ok(CelValue::Bool(false)) => continue,
                Ok(other) => {
                    errors.push(RuleError {
                        rule_id: rule.id.clone(),
                        message: format!("`when` gave {:?}, not a bool", other.type_of()),
                    });
                    continue;
                }
                Err(error) => {
                    errors.push(RuleError {
                        rule_id: rule.id.clone(),
                        message: error.to_string(),
                    });
                    continue;
                }
            }
            let outcome = &rule.outcome;
            points += i64::from(outcome.score);
            if let Some(verdict) = outcome.verdict_floor {
                floor = kind.harsher(floor, verdict);
            }
            fired.push(rule.id.clone());
            reasons.push(Reason {
                code: outcome.reason_code.clone(),
                message: compiled.reason.render(features),
                contribution: outcome.score,
            });
            terms.merge(&outcome.terms);
            if let Some(code) = &outcome.hold_code
                && !hold_codes.contains(code)
            {
                hold_codes.push(code.clone());
            }
        }

        // Clamped into 0..=100 first, so the cast cannot truncate.
        let score = points.clamp(0, 100) as u8;
        let bands = self.policy.thresholds.for_kind(kind);
        let by_score = bands
            .iter()
            .rev()
            .find(|band| band.min_score.is_some_and(|min| score >= min))
            .map_or(kind.mildest(), |band| band.verdict);
        let verdict = kind.harsher(by_score, floor);
        if let Some(band) = bands.iter().find(|band| band.verdict == verdict) {
            terms.merge(&band.terms);
        }
        Evaluation {
            policy_version: self.policy.version.clone(),
            kind,
            verdict,
            score,
            fired,
            reasons,
            terms,
            hold_codes,
            errors,
        }
    }
}

impl Evaluation {
    /// Verification steps the customer must complete.
    pub fn required_steps(&self) -> &[RequiredStep] {
        &self.terms.required_steps
    }

    /// Records this evaluation as a decision. `current` is the customer's standing before it;
    /// sign-up decisions carry it with this evaluation's changes, other kinds carry no terms.
    pub fn into_decision(
        self,
        id: DecisionId,
        customer_id: CustomerId,
        current: DecisionTerms,
        decided_at: DateTime<Utc>,
    ) -> Decision {
        let terms = (self.kind == DecisionKind::Signup).then(|| self.terms.apply_to(current));
        Decision {
            id,
            kind: self.kind,
            customer_id,
            verdict: self.verdict,
            score: self.score,
            reasons: self.reasons,
            hold_codes: self.hold_codes,
            terms,
            policy_version: self.policy_version,
            decided_at,
        }
    }
}
