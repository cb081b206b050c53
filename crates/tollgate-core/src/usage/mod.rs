//! Spend watch: usage records, budgets with actual and forecast thresholds, and the streaming
//! usage-anomaly detector with its explicit signals. Everything here is pure: the server feeds
//! aggregates and state in, stores what comes out.
//!
//! - [`record`]: usage records parsed and validated at the edge, batches of up to 10,000.
//! - [`budget`] and [`forecast`]: which thresholds a spend total newly crosses, once per period.
//! - [`anomaly`]: per subscription × meter series scoring, hourly and daily, with episodes.
//! - [`signals`] and [`alert`]: GPU / new region / growth / before-payment signals and the
//!   alert sentence.
//! - [`offline`]: `timestamp,value` CSV scoring with the same detector.

pub mod alert;
pub mod anomaly;
pub mod budget;
#[cfg(any(test, feature = "eval"))]
pub mod eval;
pub mod forecast;
pub mod offline;
pub mod record;
pub mod signals;
#[cfg(test)]
mod takeover_tests;

pub use alert::{Observation, UsageAlert, assess};
pub use anomaly::{
    ColdStartPrior, Detector, DetectorConfig, DetectorError, EpisodeEvent, Granularity, PointScore,
    SeriesState,
};
pub use budget::{
    AlertedThreshold, Budget, BudgetError, BudgetPeriod, BudgetScope, BudgetSpec, MeterFilter,
    PeriodWindow, SpendSnapshot, Threshold, ThresholdAction, ThresholdBasis, ThresholdCrossing,
};
pub use forecast::{DailySpend, Forecast, ForecastMethod};
pub use offline::{ScoreCsvError, ScoreSummary, score_csv};
pub use record::{Meter, SubscriptionRef, UsageRecord, UsageRecordInput, parse_batch};
pub use signals::{MeterClass, Signal, SubscriptionHistory, classify};
