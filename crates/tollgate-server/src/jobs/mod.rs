//! Background jobs: work Tollgate does on a schedule rather than in answer to a request. Each
//! acts as `Actor::Job` on the audit chain and is safe to run from several processes at once.

pub mod cases;
pub mod dunning;
pub mod held_orders;
pub mod vendor_events;
