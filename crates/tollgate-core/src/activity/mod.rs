//! Activity detections: Azure Activity Log records in, alerts out. Two kinds of detector run on
//! each customer's records: Sigma rules ([`sigma::RuleSet`], the shipped SigmaHQ set plus any a
//! tenant adds) on single records, and built-in detectors ([`builtin`]) over a window of a
//! customer's recent records that the caller supplies.

pub mod builtin;
mod fields;
mod record;
mod shipped;
pub mod sigma;

pub use self::{
    record::{ActivityRecord, ActivityStatus, RecordError},
    shipped::SHIPPED_RULES,
};
