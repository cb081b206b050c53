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

/// Where the store stops counting: the customers sharing one link key, and the events of one
/// velocity key (its newest ones), so a key a whole network or free-mail domain shares costs a
/// bounded index scan. A count feature at this value means "this many or more".
pub const COUNT_CAP: u32 = 1_000;

/// Whether the feature `section.field` is a count that stops at [`COUNT_CAP`]: the link
/// counts and the velocity counts, not the velocity amount.
pub fn is_capped_count(section: &str, field: &str) -> bool {
    match section {
        "links" => field.ends_with("_customers"),
        "velocity" => field != "order_value_customer_24h",
        _ => false,
    }
}
