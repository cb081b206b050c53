//! Signals: the pure computation of risk features from the facts of a decision (a sign-up, a
//! payment method, an order), the reference data, and the counts the store provides.
//!
//! Each family lives in its own file with its unit tests; [`Features`] gathers them into the
//! one JSON document the rules evaluate. Nothing here reads files, clocks or databases: the
//! caller passes the decision's instant in [`Context::now`] and the counts over earlier facts in
//! [`LinkCounts`] and [`VelocityCounts`], so a backtest replays the exact same computation.

pub mod account_numbers;
pub mod bank;
pub mod bots;
pub mod cards;
pub mod config;
pub mod email;
pub mod facts;
pub mod features;
pub mod geo;
pub mod links;
pub mod orders;
pub mod phone;
pub mod velocity;

#[cfg(test)]
mod tests;

pub use account_numbers::{AccountNumberFound, AccountNumberKind, find_account_number};
pub use config::SignalConfig;
pub use facts::{
    BankAccountFacts, BankVerification, CardFacts, CheckResult, Company, Contact, Context,
    CustomerState, DebitScheme, HolderType, ListMatches, Mandate, OrderFacts, OrderItem,
    PaymentMethodFacts, PaymentMethodKind, SessionTiming, SignupFacts, ThreeDs,
};
pub use features::{CustomerFeatures, FeatureKind, Features};
pub use links::{LinkCounts, LinkKeys};
pub use orders::OrderError;
pub use velocity::VelocityCounts;
