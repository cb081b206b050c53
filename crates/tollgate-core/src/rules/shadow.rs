//! Shadow mode: candidate policies see the same features as the active one and their results
//! are recorded next to it, but only the active policy decides.

use serde::Serialize;
use serde_json::Value;

use super::{CompiledPolicy, Evaluation};
use crate::decisions::DecisionKind;

/// The deciding evaluation and what each shadow policy would have said.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ShadowRun {
    /// The only evaluation that decides.
    pub active: Evaluation,
    /// Recorded for comparison; never decides.
    pub shadows: Vec<Evaluation>,
}

impl ShadowRun {
    /// The shadow evaluations whose verdict differs from the active one.
    pub fn disagreements(&self) -> impl Iterator<Item = &Evaluation> {
        self.shadows
            .iter()
            .filter(|shadow| shadow.verdict != self.active.verdict)
    }
}

/// Evaluates `active` and every shadow policy over the same features.
pub fn evaluate_with_shadows<'p>(
    active: &CompiledPolicy,
    shadows: impl IntoIterator<Item = &'p CompiledPolicy>,
    kind: DecisionKind,
    features: &Value,
) -> ShadowRun {
    ShadowRun {
        active: active.evaluate(kind, features),
        shadows: shadows
            .into_iter()
            .map(|shadow| shadow.evaluate(kind, features))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        decisions::Verdict,
        rules::test_support::{compile, document, neutral_features, points, rule, with},
    };

    #[test]
    fn shadow_policies_are_recorded_but_never_decide() {
        let active = compile(document(
            "active",
            json!([rule(
                "a",
                json!(["order"]),
                "order.has_gpu",
                points(10, "a")
            )]),
        ))
        .unwrap();
        let strict = compile(document(
            "strict",
            json!([rule(
                "s",
                json!(["order"]),
                "order.has_gpu",
                json!({"score": 90, "reason_code": "s", "reason": "s"})
            )]),
        ))
        .unwrap();
        let features = with(
            neutral_features("order"),
            json!({"order": {"has_gpu": true}}),
        );
        let run = evaluate_with_shadows(&active, [&strict], DecisionKind::Order, &features);
        assert_eq!(run.active.verdict, Verdict::Allow);
        assert_eq!(run.active.policy_version, "active");
        assert_eq!(run.shadows.len(), 1);
        assert_eq!(
            (
                run.shadows[0].policy_version.as_str(),
                run.shadows[0].verdict
            ),
            ("strict", Verdict::Decline)
        );
        assert_eq!(run.disagreements().count(), 1);
    }
}
