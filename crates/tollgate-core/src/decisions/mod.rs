//! Decisions: what Tollgate answers at a decision point (sign-up, payment method, order), with
//! the score, the reasons behind it, the policy version that decided and — for sign-ups — the
//! terms the customer is held to. A decision is recorded with the features it saw, so it can be
//! explained and replayed.

mod terms;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use terms::{DecisionTerms, TermsChange};

use crate::{CustomerId, DecisionId};

str_enum!(
    /// Where in the customer's journey a decision is taken.
    DecisionKind {
        Signup = "signup",
        PaymentMethod = "payment_method",
        Order = "order",
    }
);

str_enum!(
    /// The answer of a decision. Sign-ups use approve / review / challenge / decline; payment
    /// methods and orders use allow / hold / decline (see [`DecisionKind::ladder`]).
    Verdict {
        Approve = "approve",
        /// An analyst looks before the customer goes further.
        Review = "review",
        /// The customer must complete verification steps first.
        Challenge = "challenge",
        Allow = "allow",
        /// Not provisioned until the hold is lifted (a payment clears, an analyst agrees).
        Hold = "hold",
        Decline = "decline",
    }
);

str_enum!(
    /// A verification step a customer must complete before its terms improve.
    RequiredStep {
        SmsVerification = "sms_verification",
        BureauCheck = "bureau_check",
        PhoneCall = "phone_call",
    }
);

const SIGNUP_LADDER: &[Verdict] = &[
    Verdict::Approve,
    Verdict::Review,
    Verdict::Challenge,
    Verdict::Decline,
];
const SCREENING_LADDER: &[Verdict] = &[Verdict::Allow, Verdict::Hold, Verdict::Decline];

impl DecisionKind {
    /// The verdicts this decision point can return, mildest first.
    pub fn ladder(self) -> &'static [Verdict] {
        match self {
            DecisionKind::Signup => SIGNUP_LADDER,
            DecisionKind::PaymentMethod | DecisionKind::Order => SCREENING_LADDER,
        }
    }

    /// The verdict given when nothing speaks against the customer.
    pub fn mildest(self) -> Verdict {
        self.ladder()[0]
    }

    /// Position of `verdict` on this point's ladder (0 = mildest); none when the point cannot
    /// return it.
    pub fn severity(self, verdict: Verdict) -> Option<usize> {
        self.ladder().iter().position(|v| *v == verdict)
    }

    /// The harsher of two verdicts of this point; a verdict the point cannot return loses.
    pub fn harsher(self, a: Verdict, b: Verdict) -> Verdict {
        if self.severity(b) > self.severity(a) {
            b
        } else {
            a
        }
    }
}

/// Why a decision came out as it did: one per rule that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reason {
    /// Stable snake_case code, e.g. `prepaid_card`; safe to branch on.
    pub code: String,
    /// A sentence for people, with the feature values that mattered.
    pub message: String,
    /// Score points the rule added (negative when it spoke for the customer).
    pub contribution: i32,
}

/// A recorded decision (`dec_…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    pub id: DecisionId,
    pub kind: DecisionKind,
    pub customer_id: CustomerId,
    pub verdict: Verdict,
    /// Risk score 0–100; higher is riskier.
    pub score: u8,
    pub reasons: Vec<Reason>,
    /// Why an order or payment method is held, e.g. `awaiting_first_payment`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hold_codes: Vec<String>,
    /// The terms granted; sign-ups (and their re-evaluations after a verification step) only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms: Option<DecisionTerms>,
    /// The policy version that decided.
    pub policy_version: String,
    pub decided_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_ladder() {
        assert_eq!(DecisionKind::Signup.mildest(), Verdict::Approve);
        assert_eq!(DecisionKind::Order.mildest(), Verdict::Allow);
        assert_eq!(DecisionKind::Signup.severity(Verdict::Challenge), Some(2));
        assert_eq!(DecisionKind::Signup.severity(Verdict::Hold), None);
        assert_eq!(
            DecisionKind::PaymentMethod.severity(Verdict::Decline),
            Some(2)
        );
    }

    #[test]
    fn harsher_picks_the_more_severe_verdict_of_the_kind() {
        let order = DecisionKind::Order;
        assert_eq!(order.harsher(Verdict::Allow, Verdict::Hold), Verdict::Hold);
        assert_eq!(
            order.harsher(Verdict::Decline, Verdict::Hold),
            Verdict::Decline
        );
        // A sign-up verdict means nothing to an order and never wins.
        assert_eq!(
            order.harsher(Verdict::Hold, Verdict::Challenge),
            Verdict::Hold
        );
        let signup = DecisionKind::Signup;
        assert_eq!(
            signup.harsher(Verdict::Review, Verdict::Challenge),
            Verdict::Challenge
        );
    }
}
