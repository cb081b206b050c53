//! Terms as a decision grants them, and the changes rules make to them.

use serde::{Deserialize, Serialize};

use super::RequiredStep;
use crate::{
    Money,
    customers::{Terms, TrustTier},
};

/// The terms a sign-up decision grants: the customer's trust tier, its commercial terms, and the
/// verification steps it must still complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionTerms {
    pub trust_tier: TrustTier,
    /// Service only after money has arrived.
    pub prepayment_required: bool,
    /// How much may be owed at once; none means no credit.
    pub credit_limit: Option<Money>,
    /// Spend above this in a calendar month raises alerts.
    pub monthly_spend_limit: Option<Money>,
    /// Whether the customer may hold full administrative access to its tenant.
    pub admin_access_allowed: bool,
    /// Verification steps to complete before the terms can improve.
    pub required_steps: Vec<RequiredStep>,
}

impl DecisionTerms {
    /// The customer's current standing, with no steps outstanding.
    pub fn new(trust_tier: TrustTier, terms: &Terms) -> Self {
        Self {
            trust_tier,
            prepayment_required: terms.prepayment_required,
            credit_limit: terms.credit_limit,
            monthly_spend_limit: terms.monthly_spend_limit,
            admin_access_allowed: terms.admin_access_allowed,
            required_steps: Vec::new(),
        }
    }

    /// The commercial part, as stored on the customer.
    pub fn commercial(&self) -> Terms {
        Terms {
            prepayment_required: self.prepayment_required,
            credit_limit: self.credit_limit,
            monthly_spend_limit: self.monthly_spend_limit,
            admin_access_allowed: self.admin_access_allowed,
        }
    }
}

/// A change to terms made by a rule or a verdict band. Unset fields leave the terms alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_tier: Option<TrustTier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepayment_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_limit: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_spend_limit: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_access_allowed: Option<bool>,
    /// Steps added to those already required; each appears once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_steps: Vec<RequiredStep>,
}

impl TermsChange {
    /// Whether the change changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Lays `later` over this change: a field `later` sets wins, required steps accumulate.
    pub fn merge(&mut self, later: &TermsChange) {
        overwrite(&mut self.trust_tier, later.trust_tier);
        overwrite(&mut self.prepayment_required, later.prepayment_required);
        overwrite(&mut self.credit_limit, later.credit_limit);
        overwrite(&mut self.monthly_spend_limit, later.monthly_spend_limit);
        overwrite(&mut self.admin_access_allowed, later.admin_access_allowed);
        add_steps(&mut self.required_steps, &later.required_steps);
    }

    /// `terms` with this change applied.
    pub fn apply_to(&self, mut terms: DecisionTerms) -> DecisionTerms {
        if let Some(tier) = self.trust_tier {
            terms.trust_tier = tier;
        }
        if let Some(prepay) = self.prepayment_required {
            terms.prepayment_required = prepay;
        }
        if self.credit_limit.is_some() {
            terms.credit_limit = self.credit_limit;
        }
        if self.monthly_spend_limit.is_some() {
            terms.monthly_spend_limit = self.monthly_spend_limit;
        }
        if let Some(admin) = self.admin_access_allowed {
            terms.admin_access_allowed = admin;
        }
        add_steps(&mut terms.required_steps, &self.required_steps);
        terms
    }
}

fn overwrite<T: Copy>(slot: &mut Option<T>, later: Option<T>) {
    if later.is_some() {
        *slot = later;
    }
}

fn add_steps(steps: &mut Vec<RequiredStep>, more: &[RequiredStep]) {
    for step in more {
        if !steps.contains(step) {
            steps.push(*step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(amount: &str) -> Money {
        Money::new(amount.parse().unwrap(), "EUR".parse().unwrap()).unwrap()
    }

    #[test]
    fn later_changes_win_and_steps_accumulate_once() {
        let mut change = TermsChange {
            trust_tier: Some(TrustTier::New),
            monthly_spend_limit: Some(eur("1000")),
            required_steps: vec![RequiredStep::SmsVerification],
            ..TermsChange::default()
        };
        change.merge(&TermsChange {
            trust_tier: Some(TrustTier::Verified),
            required_steps: vec![RequiredStep::BureauCheck, RequiredStep::SmsVerification],
            ..TermsChange::default()
        });
        assert_eq!(change.trust_tier, Some(TrustTier::Verified));
        assert_eq!(change.monthly_spend_limit, Some(eur("1000")));
        assert_eq!(
            change.required_steps,
            [RequiredStep::SmsVerification, RequiredStep::BureauCheck]
        );
    }

    #[test]
    fn applying_changes_only_the_fields_set() {
        let start = DecisionTerms::new(TrustTier::New, &Terms::default());
        let changed = TermsChange {
            prepayment_required: Some(false),
            credit_limit: Some(eur("5000")),
            ..TermsChange::default()
        }
        .apply_to(start.clone());
        assert!(!changed.prepayment_required);
        assert_eq!(changed.credit_limit, Some(eur("5000")));
        assert_eq!(changed.trust_tier, start.trust_tier);
        assert_eq!(changed.admin_access_allowed, start.admin_access_allowed);
        assert_eq!(changed.commercial().credit_limit, Some(eur("5000")));
        assert!(TermsChange::default().is_empty());
    }

    #[test]
    fn limits_are_decimal_strings_with_currency() {
        let change: TermsChange = serde_json::from_value(serde_json::json!({
            "credit_limit": {"amount": "2500.00", "currency": "EUR"},
            "required_steps": ["bureau_check"]
        }))
        .unwrap();
        assert_eq!(change.credit_limit, Some(eur("2500")));
        assert!(serde_json::from_value::<TermsChange>(serde_json::json!({"credit": 1})).is_err());
    }
}
