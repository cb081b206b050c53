//! Backtests: replay stored decisions through a candidate policy — the same engine that decides
//! live — and count the verdicts that would change.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::CompiledPolicy;
use crate::{
    DecisionId,
    decisions::{DecisionKind, Verdict},
};

/// A decision as stored: what it saw and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredDecision {
    pub decision_id: DecisionId,
    pub kind: DecisionKind,
    /// The features the decision saw, in the features-contract JSON form.
    pub features: Value,
    /// The verdict it recorded.
    pub verdict: Verdict,
}

/// How many replayed decisions moved from one verdict to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transition {
    pub from: Verdict,
    pub to: Verdict,
    pub count: u64,
}

/// One decision the candidate would have answered differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BacktestExample {
    pub decision_id: DecisionId,
    pub kind: DecisionKind,
    pub from: Verdict,
    pub to: Verdict,
    pub score: u8,
    /// Reason codes of the candidate's evaluation.
    pub reason_codes: Vec<String>,
}

/// What a candidate policy would have changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BacktestReport {
    pub policy_version: String,
    pub replayed: u64,
    /// Decisions whose verdict would change.
    pub changed: u64,
    /// Changed decisions by (from → to), most frequent first.
    pub transitions: Vec<Transition>,
    /// The first changed decisions, up to the requested number.
    pub examples: Vec<BacktestExample>,
    /// Decisions where at least one candidate rule could not be evaluated.
    pub with_rule_errors: u64,
}

/// A backtest fed one stored decision at a time, so a store can stream its rows through it.
#[derive(Debug)]
pub struct Backtest<'p> {
    policy: &'p CompiledPolicy,
    max_examples: usize,
    report: BacktestReport,
}

impl<'p> Backtest<'p> {
    pub fn new(policy: &'p CompiledPolicy, max_examples: usize) -> Self {
        Self {
            policy,
            max_examples,
            report: BacktestReport {
                policy_version: policy.version().to_owned(),
                replayed: 0,
                changed: 0,
                transitions: Vec::new(),
                examples: Vec::new(),
                with_rule_errors: 0,
            },
        }
    }

    /// Replays one decision through the candidate policy.
    pub fn replay(&mut self, stored: &StoredDecision) {
        let evaluation = self.policy.evaluate(stored.kind, &stored.features);
        let report = &mut self.report;
        report.replayed += 1;
        if !evaluation.errors.is_empty() {
            report.with_rule_errors += 1;
        }
        let (from, to) = (stored.verdict, evaluation.verdict);
        if from == to {
            return;
        }
        report.changed += 1;
        match report
            .transitions
            .iter_mut()
            .find(|t| t.from == from && t.to == to)
        {
            Some(transition) => transition.count += 1,
            None => report.transitions.push(Transition { from, to, count: 1 }),
        }
        if report.examples.len() < self.max_examples {
            report.examples.push(BacktestExample {
                decision_id: stored.decision_id,
                kind: stored.kind,
                from,
                to,
                score: evaluation.score,
                reason_codes: evaluation.reasons.into_iter().map(|r| r.code).collect(),
            });
        }
    }

    pub fn finish(mut self) -> BacktestReport {
        self.report.transitions.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.from.as_str().cmp(b.from.as_str()))
                .then_with(|| a.to.as_str().cmp(b.to.as_str()))
        });
        self.report
    }
}

/// Replays `decisions` through `candidate`, keeping up to `max_examples` changed ones.
pub fn backtest<'a>(
    candidate: &CompiledPolicy,
    decisions: impl IntoIterator<Item = &'a StoredDecision>,
    max_examples: usize,
) -> BacktestReport {
    let mut run = Backtest::new(candidate, max_examples);
    for stored in decisions {
        run.replay(stored);
    }
    run.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rules::test_support::{compiled, neutral_features, points, rule, with};

    #[test]
    fn backtest_counts_changed_verdicts_like_a_hand_count() {
        let candidate = compiled(json!([
            rule(
                "prepaid",
                json!(["payment_method"]),
                "card.prepaid",
                json!({"verdict_floor": "decline", "reason_code": "prepaid_card", "reason": "prepaid"})
            ),
            rule(
                "disposable",
                json!(["signup"]),
                "email.disposable",
                points(35, "disposable_email")
            ),
        ]));
        let stored = |kind: DecisionKind, features: Value, verdict| StoredDecision {
            decision_id: DecisionId::generate(),
            kind,
            features,
            verdict,
        };
        let prepaid = with(
            neutral_features("payment_method"),
            json!({"card": {"prepaid": true}}),
        );
        let disposable = with(
            neutral_features("signup"),
            json!({"email": {"disposable": true}}),
        );
        let decisions = [
            stored(DecisionKind::PaymentMethod, prepaid.clone(), Verdict::Allow), // allow → decline
            stored(DecisionKind::PaymentMethod, prepaid, Verdict::Allow),         // allow → decline
            stored(
                DecisionKind::PaymentMethod,
                neutral_features("payment_method"),
                Verdict::Allow,
            ), // same
            stored(DecisionKind::Signup, disposable, Verdict::Approve), // approve → review
            stored(
                DecisionKind::Signup,
                neutral_features("signup"),
                Verdict::Review,
            ), // review → approve
            stored(DecisionKind::Signup, json!({}), Verdict::Approve),  // same, with an error
        ];
        let report = backtest(&candidate, &decisions, 2);
        assert_eq!(
            (report.replayed, report.changed, report.with_rule_errors),
            (6, 4, 1)
        );
        let transitions: Vec<_> = report
            .transitions
            .iter()
            .map(|t| (t.from, t.to, t.count))
            .collect();
        assert_eq!(
            transitions,
            [
                (Verdict::Allow, Verdict::Decline, 2),
                (Verdict::Approve, Verdict::Review, 1),
                (Verdict::Review, Verdict::Approve, 1),
            ]
        );
        assert_eq!(report.examples.len(), 2);
        assert_eq!(report.examples[0].decision_id, decisions[0].decision_id);
        assert_eq!(report.examples[0].reason_codes, ["prepaid_card"]);
        assert_eq!(report.policy_version, "test-1");
    }
}
