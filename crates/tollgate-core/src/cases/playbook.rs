//! Playbooks as data: for a notice or alert of some kind, severity and confidence about a
//! customer of some trust tier, which automatic actions follow. Versioned per tenant like rule
//! policies; every automatic action records the version and rule that called for it.

use serde::{Deserialize, Serialize};

use super::{Confidence, NoticeKind, ResponseHours, Severity};
use crate::customers::TrustTier;

/// Alert kinds a playbook rule may answer to, besides the notice kinds.
pub const ALERT_KINDS: &[&str] = &["budget_threshold", "usage_anomaly", "activity"];

str_enum!(
    /// What a playbook does on its own.
    PlaybookAction {
        /// Suspend the affected subscription in Tollgate and at the vendor.
        SuspendSubscription = "suspend_subscription",
        /// Cancel the affected Azure subscription (entitlement) of the Azure plan at the vendor.
        CancelAzureEntitlement = "cancel_azure_entitlement",
        /// Open a case for the customer (or attach to its open one).
        OpenCase = "open_case",
        /// Tell the partner's endpoints (`case.updated`) at once rather than at the next change.
        Notify = "notify",
    }
);

/// One rule: the first rule that matches decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaybookRule {
    /// Unique within the playbook; recorded with every action it takes.
    pub name: String,
    /// Notice kinds (`crypto_mining`, …) or alert kinds (`usage_anomaly`, `activity`, …).
    pub kinds: Vec<String>,
    /// Matches notices at least this severe; any when absent.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Matches reports at least this sure; any (even without a confidence) when absent.
    #[serde(default)]
    pub min_confidence: Option<Confidence>,
    /// Matches customers of these trust tiers; any (even an unknown customer) when empty.
    #[serde(default)]
    pub trust_tiers: Vec<TrustTier>,
    pub actions: Vec<PlaybookAction>,
    /// Why, in words an analyst reads on the case.
    pub reason: String,
}

/// A playbook document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// The document's own version label, recorded on every automatic action.
    pub version: String,
    /// The tenant's response policy: how long after a notice arrives the case must be dealt
    /// with, by severity.
    pub response_hours: ResponseHours,
    pub rules: Vec<PlaybookRule>,
}

/// What is being matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanInput<'a> {
    /// A notice kind or an alert kind.
    pub kind: &'a str,
    pub severity: Severity,
    pub confidence: Option<Confidence>,
    /// `None` when the customer is unknown (the vendor named a subscription Tollgate does not
    /// have): only rules without a trust tier condition match.
    pub trust_tier: Option<TrustTier>,
}

/// What the matching rule calls for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Plan {
    pub rule: String,
    pub actions: Vec<PlaybookAction>,
    pub reason: String,
}

impl Plan {
    pub fn calls_for(&self, action: PlaybookAction) -> bool {
        self.actions.contains(&action)
    }
}

/// A playbook that cannot be used, naming the field at fault (`rules[2].kinds[0]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PlaybookError {
    pub field: String,
    pub message: String,
}

impl Playbook {
    /// The playbook Tollgate ships (`policies/playbook-default.json`), used by a tenant that
    /// has not published one.
    pub fn shipped() -> Self {
        let playbook: Playbook =
            serde_json::from_str(include_str!("../../policies/playbook-default.json"))
                .unwrap_or_else(|e| panic!("the shipped playbook does not parse: {e}"));
        if let Err(e) = playbook.validate() {
            panic!("the shipped playbook is invalid: {e}");
        }
        playbook
    }

    /// Checks what serde cannot: names, kinds, non-empty action lists, sane deadlines.
    pub fn validate(&self) -> Result<(), PlaybookError> {
        let fail = |field: String, message: &str| {
            Err(PlaybookError {
                field,
                message: message.to_owned(),
            })
        };
        if self.version.trim().is_empty() {
            return fail("version".into(), "must not be empty");
        }
        for (name, hours) in [
            ("critical", self.response_hours.critical),
            ("high", self.response_hours.high),
            ("medium", self.response_hours.medium),
            ("low", self.response_hours.low),
        ] {
            if hours == 0 || hours > 24 * 90 {
                return fail(
                    format!("response_hours.{name}"),
                    "must be between 1 and 2160 hours",
                );
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let at = |field: &str| format!("rules[{i}].{field}");
            if rule.name.trim().is_empty() {
                return fail(at("name"), "must not be empty");
            }
            if self.rules[..i].iter().any(|r| r.name == rule.name) {
                return fail(at("name"), "is used by an earlier rule");
            }
            if rule.kinds.is_empty() {
                return fail(at("kinds"), "must name at least one kind");
            }
            for (k, kind) in rule.kinds.iter().enumerate() {
                if kind.parse::<NoticeKind>().is_err() && !ALERT_KINDS.contains(&kind.as_str()) {
                    return fail(
                        at(&format!("kinds[{k}]")),
                        "is neither a notice kind nor an alert kind",
                    );
                }
            }
            if rule.actions.is_empty() {
                return fail(at("actions"), "must name at least one action");
            }
            // A suspension nobody can find is worse than none: it must come with a case.
            let touches_service = rule.actions.iter().any(|a| {
                matches!(
                    a,
                    PlaybookAction::SuspendSubscription | PlaybookAction::CancelAzureEntitlement
                )
            });
            if touches_service && !rule.actions.contains(&PlaybookAction::OpenCase) {
                return fail(
                    at("actions"),
                    "an action on the customer's service needs `open_case` beside it",
                );
            }
            if rule.reason.trim().is_empty() {
                return fail(at("reason"), "must not be empty");
            }
        }
        Ok(())
    }

    /// The first rule matching `input`, if any.
    pub fn plan(&self, input: PlanInput<'_>) -> Option<Plan> {
        self.rules
            .iter()
            .find(|rule| rule.matches(input))
            .map(|rule| Plan {
                rule: rule.name.clone(),
                actions: rule.actions.clone(),
                reason: rule.reason.clone(),
            })
    }
}

impl PlaybookRule {
    fn matches(&self, input: PlanInput<'_>) -> bool {
        let kind = self.kinds.iter().any(|k| k == input.kind);
        let severity = self
            .min_severity
            .is_none_or(|floor| input.severity.at_least(floor));
        let confidence = self
            .min_confidence
            .is_none_or(|floor| input.confidence.is_some_and(|c| c.at_least(floor)));
        let tier = self.trust_tiers.is_empty()
            || input
                .trust_tier
                .is_some_and(|tier| self.trust_tiers.contains(&tier));
        kind && severity && confidence && tier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: &str, confidence: Option<Confidence>, tier: Option<TrustTier>) -> PlanInput<'_> {
        PlanInput {
            kind,
            severity: Severity::High,
            confidence,
            trust_tier: tier,
        }
    }

    #[test]
    fn high_confidence_crypto_mining_on_a_new_customer_suspends_at_once() {
        let playbook = Playbook::shipped();
        let plan = playbook
            .plan(input(
                "crypto_mining",
                Some(Confidence::High),
                Some(TrustTier::New),
            ))
            .unwrap();
        assert!(plan.calls_for(PlaybookAction::SuspendSubscription));
        assert!(plan.calls_for(PlaybookAction::OpenCase));
    }

    #[test]
    fn medium_confidence_or_an_established_customer_only_opens_a_case() {
        let playbook = Playbook::shipped();
        for probe in [
            input(
                "crypto_mining",
                Some(Confidence::Medium),
                Some(TrustTier::New),
            ),
            input(
                "crypto_mining",
                Some(Confidence::High),
                Some(TrustTier::Established),
            ),
            input("crypto_mining", None, None),
        ] {
            let plan = playbook.plan(probe).unwrap();
            assert_eq!(plan.actions, vec![PlaybookAction::OpenCase], "{probe:?}");
        }
    }

    #[test]
    fn the_first_matching_rule_decides_and_unmatched_input_plans_nothing() {
        let rule = |name: &str, min: Option<Severity>, actions: Vec<PlaybookAction>| PlaybookRule {
            name: name.into(),
            kinds: vec!["abuse".into()],
            min_severity: min,
            min_confidence: None,
            trust_tiers: vec![],
            actions,
            reason: "r".into(),
        };
        let playbook = Playbook {
            version: "t".into(),
            response_hours: Playbook::shipped().response_hours,
            rules: vec![
                rule(
                    "severe",
                    Some(Severity::Critical),
                    vec![
                        PlaybookAction::CancelAzureEntitlement,
                        PlaybookAction::OpenCase,
                    ],
                ),
                rule("any", None, vec![PlaybookAction::Notify]),
            ],
        };
        playbook.validate().unwrap();
        let mut probe = input("abuse", None, None);
        assert_eq!(playbook.plan(probe).unwrap().rule, "any");
        probe.severity = Severity::Critical;
        assert_eq!(playbook.plan(probe).unwrap().rule, "severe");
        assert_eq!(playbook.plan(input("budget_threshold", None, None)), None);
    }

    #[test]
    fn invalid_playbooks_name_the_field_at_fault() {
        let shipped = Playbook::shipped();
        let broken = |change: fn(&mut Playbook)| {
            let mut p = shipped.clone();
            change(&mut p);
            p.validate().unwrap_err().field
        };
        assert_eq!(broken(|p| p.version = " ".into()), "version");
        assert_eq!(broken(|p| p.response_hours.high = 0), "response_hours.high");
        assert_eq!(
            broken(|p| p.rules[1].kinds[0] = "bogus".into()),
            "rules[1].kinds[0]"
        );
        assert_eq!(
            broken(|p| p.rules[1].name = p.rules[0].name.clone()),
            "rules[1].name"
        );
        assert_eq!(
            broken(|p| p.rules[0].actions = vec![PlaybookAction::SuspendSubscription]),
            "rules[0].actions"
        );
        assert_eq!(broken(|p| p.rules[0].actions.clear()), "rules[0].actions");
        assert_eq!(broken(|p| p.rules[0].reason.clear()), "rules[0].reason");
    }
}
