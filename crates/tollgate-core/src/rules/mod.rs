//! Rules as data: a [`Policy`] is a versioned document of CEL rules over a decision's features
//! (see `docs/rules.md` and the features contract). [`CompiledPolicy::compile`] checks it and
//! compiles each rule once; [`CompiledPolicy::evaluate`] runs it for one decision. Shadow
//! policies run beside the active one without deciding ([`evaluate_with_shadows`]), and
//! [`backtest`] replays stored decisions through a candidate.

mod backtest;
mod compile;
mod error;
mod evaluate;
mod features;
mod policy;
mod reach;
mod shadow;
mod template;

pub use backtest::{
    Backtest, BacktestExample, BacktestReport, StoredDecision, Transition, backtest,
};
pub use compile::CompiledPolicy;
pub use error::PolicyError;
pub use evaluate::{Evaluation, RuleError};
pub use policy::{Band, DEFAULT_POLICY_JSON, Outcome, Policy, Rule, Thresholds};
pub use shadow::{ShadowRun, evaluate_with_shadows};

#[cfg(test)]
mod default_policy_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
