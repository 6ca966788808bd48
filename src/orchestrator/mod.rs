//! Running a plan: per-endpoint limits, cancellation, events, job records.

pub mod scheduler;
