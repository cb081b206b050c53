//! The dunning policy: a versioned document holding the ladder of steps a customer goes through
//! when an invoice is past due, the grace amount under which nothing happens, and per-tier
//! overrides. Tollgate ships a default ([`DunningPolicy::default_policy`]); resellers publish
//! their own through the API. See `docs/collections-policy.md`.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::amounts::{self, Zero};
use crate::{Currency, customers::TrustTier, validate::FieldError};

const TEMPLATE_MAX: usize = 64;

str_enum!(
    /// What a dunning step does.
    DunningAction {
        /// A payment reminder to the customer.
        Remind = "remind",
        /// The last notice before enforcement, saying what will happen and when.
        FinalNotice = "final_notice",
        /// Suspends subscriptions (see the step's `scope`).
        Suspend = "suspend",
        /// Cancels the customer's subscriptions; cannot be undone by payment.
        Terminate = "terminate",
        /// Passes the debt to an external collector.
        HandOff = "hand_off",
    }
);

impl DunningAction {
    /// Reminders and final notices: the steps the customer is told by.
    pub fn is_notice(self) -> bool {
        matches!(self, DunningAction::Remind | DunningAction::FinalNotice)
    }
}

str_enum!(
    /// Which subscriptions a suspension covers.
    SuspendScope {
        /// Every subscription of the customer.
        All = "all",
        /// Only subscriptions billed on a past-due invoice.
        OverdueOnly = "overdue_only",
    }
);

/// When a step becomes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// The oldest past-due invoice is at least this many days past due.
    DaysPastDue(u32),
    /// At least this many payment attempts failed since the last successful payment.
    FailedAttempts(u32),
}

/// One rung of the ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub after: Trigger,
    pub action: DunningAction,
    /// Required for `suspend`, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<SuspendScope>,
    /// The e-mail template sent to the customer at this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// Balances at or under the grace amount are left alone, and paying down to it ends dunning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grace {
    /// For every currency not listed in `per_currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "5.00")]
    pub default: Option<Decimal>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, String>)]
    pub per_currency: BTreeMap<Currency, Decimal>,
}

/// A different treatment for one trust tier: either the same ladder shifted by some days, or a
/// ladder of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierOverride {
    pub tier: TrustTier,
    /// Days added to every days-past-due trigger of the main ladder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Step>>,
}

/// A version of the dunning policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DunningPolicy {
    /// Increases with every published change; a dunning episode stays on the version it began
    /// under.
    pub version: u32,
    pub created_at: DateTime<Utc>,
    /// An enforcement step (suspend, terminate, hand off) runs no sooner than this many days
    /// after the customer-facing notice before it, and no sooner than this many days after the
    /// previous enforcement step.
    pub notice_lead_days: u32,
    #[serde(default)]
    pub grace: Grace,
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tier_overrides: Vec<TierOverride>,
}

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy is not valid JSON for a dunning policy: {0}")]
    Syntax(String),
    #[error("{}: {}", .0.field, .0.message)]
    Invalid(FieldError),
}

/// The ladder that applies to one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ladder<'a> {
    pub steps: &'a [Step],
    /// Added to days-past-due triggers.
    pub shift_days: u32,
    /// Whether a tier override chose this ladder or shift.
    pub overridden: bool,
}

impl Ladder<'_> {
    /// Whether step `step` is due given the oldest invoice's days past due and the failed
    /// attempts since the last successful payment.
    pub fn is_due(&self, step: &Step, days_past_due: i64, failed_attempts: u32) -> bool {
        match step.after {
            Trigger::DaysPastDue(days) => {
                days_past_due >= i64::from(days) + i64::from(self.shift_days)
            }
            Trigger::FailedAttempts(count) => failed_attempts >= count,
        }
    }
}

static DEFAULT: LazyLock<DunningPolicy> = LazyLock::new(|| {
    DunningPolicy::from_json(include_str!("../../policies/dunning-default.json"))
        .expect("the shipped default policy is valid (checked by a unit test)")
});

impl DunningPolicy {
    /// The policy Tollgate ships, `policies/dunning-default.json`.
    pub fn default_policy() -> DunningPolicy {
        DEFAULT.clone()
    }

    /// Parses and validates a policy document.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let policy: DunningPolicy =
            serde_json::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        policy.validate().map_err(PolicyError::Invalid)?;
        Ok(policy)
    }

    /// The grace amount for a currency: its own, else the default, else zero.
    pub fn grace_for(&self, currency: Currency) -> Decimal {
        self.grace
            .per_currency
            .get(&currency)
            .copied()
            .or(self.grace.default)
            .unwrap_or(Decimal::ZERO)
    }

    /// The ladder for a tier: its override if there is one, else the main ladder.
    pub fn ladder(&self, tier: TrustTier) -> Ladder<'_> {
        let main = Ladder {
            steps: &self.steps,
            shift_days: 0,
            overridden: false,
        };
        match self.tier_overrides.iter().find(|o| o.tier == tier) {
            None => main,
            Some(o) => Ladder {
                steps: o.steps.as_deref().unwrap_or(&self.steps),
                shift_days: o.shift_days.unwrap_or(0),
                overridden: true,
            },
        }
    }

    /// Checks the whole document, naming the first field at fault.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.version == 0 {
            return Err(FieldError::new("version", "must be at least 1"));
        }
        if !(1..=30).contains(&self.notice_lead_days) {
            return Err(FieldError::new(
                "notice_lead_days",
                "must be between 1 and 30",
            ));
        }
        if let Some(default) = self.grace.default
            && (default.is_sign_negative() || default > amounts::MAX_AMOUNT)
        {
            return Err(FieldError::new(
                "grace.default",
                format_args!("must be between 0 and {}", amounts::MAX_AMOUNT),
            ));
        }
        for (currency, amount) in &self.grace.per_currency {
            amounts::money(
                &format!("grace.per_currency.{currency}"),
                *amount,
                *currency,
                Zero::Allowed,
            )?;
        }
        validate_steps("steps", &self.steps)?;
        let mut tiers = HashSet::new();
        for (i, o) in self.tier_overrides.iter().enumerate() {
            let path = format!("tier_overrides[{i}]");
            if !tiers.insert(o.tier) {
                return Err(FieldError::new(
                    format!("{path}.tier"),
                    "this tier already has an override",
                ));
            }
            match (&o.shift_days, &o.steps) {
                (Some(_), None) => {}
                (None, Some(steps)) => validate_steps(&format!("{path}.steps"), steps)?,
                _ => {
                    return Err(FieldError::new(
                        path,
                        "give exactly one of shift_days and steps",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn validate_steps(path: &str, steps: &[Step]) -> Result<(), FieldError> {
    if steps.is_empty() {
        return Err(FieldError::new(path, "must list at least one step"));
    }
    let mut last_days: Option<(usize, u32)> = None;
    let mut last_attempts: Option<(usize, u32)> = None;
    let mut notice_seen = false;
    let mut terminated = false;
    for (i, step) in steps.iter().enumerate() {
        let at = |field: &str| format!("{path}[{i}].{field}");
        let (last, value) = match step.after {
            Trigger::DaysPastDue(days) => (&mut last_days, days),
            Trigger::FailedAttempts(count) => (&mut last_attempts, count),
        };
        if value == 0 {
            return Err(FieldError::new(at("after"), "must be at least 1"));
        }
        if let Some((earlier, earlier_value)) = *last
            && value < earlier_value
        {
            return Err(FieldError::new(
                at("after"),
                format_args!(
                    "comes before {path}[{earlier}] ({earlier_value}); steps must be in order"
                ),
            ));
        }
        *last = Some((i, value));
        match (step.action, step.scope) {
            (DunningAction::Suspend, None) => {
                return Err(FieldError::new(
                    at("scope"),
                    "is required for suspend (all or overdue_only)",
                ));
            }
            (DunningAction::Suspend, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(FieldError::new(at("scope"), "is only given for suspend")),
        }
        if let Some(template) = &step.template {
            let valid = !template.is_empty()
                && template.len() <= TEMPLATE_MAX
                && template.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !valid {
                return Err(FieldError::new(
                    at("template"),
                    format_args!("must be 1 to {TEMPLATE_MAX} characters of a-z, 0-9, _ and -"),
                ));
            }
        }
        if step.action.is_notice() {
            notice_seen = true;
        } else if !notice_seen {
            return Err(FieldError::new(
                at("action"),
                format_args!(
                    "{} needs a customer-facing notice (remind or final_notice) earlier in the ladder",
                    step.action
                ),
            ));
        }
        if terminated && step.action == DunningAction::Suspend {
            return Err(FieldError::new(
                at("action"),
                "nothing is left to suspend after terminate",
            ));
        }
        terminated |= step.action == DunningAction::Terminate;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused_field(mutate: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value = serde_json::to_value(DunningPolicy::default_policy()).unwrap();
        mutate(&mut value);
        match DunningPolicy::from_json(&value.to_string()) {
            Err(PolicyError::Invalid(error)) => error.field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn the_default_policy_is_valid_and_round_trips() {
        let policy = DunningPolicy::default_policy();
        assert_eq!(policy.steps.len(), 7);
        assert_eq!(policy.notice_lead_days, 3);
        let text = serde_json::to_string(&policy).unwrap();
        assert_eq!(DunningPolicy::from_json(&text).unwrap(), policy);
        assert_eq!(
            policy.grace_for("EUR".parse().unwrap()),
            Decimal::new(500, 2)
        );
        assert_eq!(policy.grace_for("JPY".parse().unwrap()), Decimal::from(500));
    }

    #[test]
    fn established_customers_get_the_ladder_shifted() {
        let policy = DunningPolicy::default_policy();
        let established = policy.ladder(TrustTier::Established);
        assert_eq!((established.shift_days, established.overridden), (14, true));
        let first = &established.steps[0];
        assert!(!established.is_due(first, 14, 0));
        assert!(established.is_due(first, 15, 0));
        let new = policy.ladder(TrustTier::New);
        assert!(new.is_due(first, 1, 0) && !new.overridden);
    }

    #[test]
    fn refuses_a_suspension_without_an_earlier_notice_naming_the_step() {
        let field = refused_field(|v| {
            v["steps"] = json!([
                {"after": {"days_past_due": 10}, "action": "suspend", "scope": "all"},
                {"after": {"days_past_due": 20}, "action": "final_notice"}
            ])
        });
        assert_eq!(field, "steps[0].action");
        let field = refused_field(|v| {
            v["tier_overrides"] = json!([{"tier": "new", "steps": [
                {"after": {"days_past_due": 3}, "action": "remind"},
                {"after": {"failed_attempts": 2}, "action": "terminate"}
            ]}, {"tier": "verified", "steps": [
                {"after": {"days_past_due": 1}, "action": "hand_off"}
            ]}])
        });
        assert_eq!(field, "tier_overrides[1].steps[0].action");
    }

    #[test]
    fn refuses_each_malformed_part() {
        assert_eq!(
            refused_field(|v| v["steps"][2]["after"] = json!({"days_past_due": 5})),
            "steps[2].after"
        );
        assert_eq!(
            refused_field(|v| v["steps"][0]["after"] = json!({"days_past_due": 0})),
            "steps[0].after"
        );
        assert_eq!(
            refused_field(|v| v["steps"][3]["scope"] = json!(null)),
            "steps[3].scope"
        );
        assert_eq!(
            refused_field(|v| v["steps"][0]["scope"] = json!("all")),
            "steps[0].scope"
        );
        assert_eq!(
            refused_field(|v| v["steps"][0]["template"] = json!("Bad Name")),
            "steps[0].template"
        );
        assert_eq!(refused_field(|v| v["steps"] = json!([])), "steps");
        assert_eq!(refused_field(|v| v["version"] = json!(0)), "version");
        assert_eq!(
            refused_field(|v| v["grace"]["default"] = json!("-0.01")),
            "grace.default"
        );
        assert_eq!(
            refused_field(|v| v["notice_lead_days"] = json!(0)),
            "notice_lead_days"
        );
        assert_eq!(
            refused_field(|v| v["grace"]["per_currency"]["EUR"] = json!("-1")),
            "grace.per_currency.EUR"
        );
        assert_eq!(
            refused_field(|v| v["grace"]["per_currency"]["JPY"] = json!("0.5")),
            "grace.per_currency.JPY"
        );
        assert_eq!(
            refused_field(|v| v["tier_overrides"][0]["steps"] = v["steps"].clone()),
            "tier_overrides[0]"
        );
        assert_eq!(
            refused_field(|v| {
                let first = v["tier_overrides"][0].clone();
                v["tier_overrides"].as_array_mut().unwrap().push(first);
            }),
            "tier_overrides[1].tier"
        );
        let mut value = serde_json::to_value(DunningPolicy::default_policy()).unwrap();
        value["steps"][6] =
            json!({"after": {"days_past_due": 90}, "action": "suspend", "scope": "all"});
        let refused = DunningPolicy::from_json(&value.to_string()).unwrap_err();
        assert_eq!(
            refused,
            PolicyError::Invalid(FieldError::new(
                "steps[6].action",
                "nothing is left to suspend after terminate"
            ))
        );
    }

    #[test]
    fn unknown_fields_and_actions_are_syntax_errors() {
        assert!(matches!(
            DunningPolicy::from_json("{"),
            Err(PolicyError::Syntax(_))
        ));
        let mut value = serde_json::to_value(DunningPolicy::default_policy()).unwrap();
        value["steps"][0]["action"] = json!("shout");
        assert!(matches!(
            DunningPolicy::from_json(&value.to_string()),
            Err(PolicyError::Syntax(_))
        ));
    }

    #[test]
    fn failed_attempt_triggers_count_attempts_not_days() {
        let policy = DunningPolicy::default_policy();
        let ladder = policy.ladder(TrustTier::New);
        let step = Step {
            after: Trigger::FailedAttempts(3),
            action: DunningAction::Remind,
            scope: None,
            template: None,
        };
        assert!(!ladder.is_due(&step, 100, 2));
        assert!(ladder.is_due(&step, 0, 3));
    }
}
