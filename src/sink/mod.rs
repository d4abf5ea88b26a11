//! Sinks: what consumes classified events. The live registry and its exposition, the
//! OpenMetrics backfill writer, and the before/after aggregates of `compare`.

pub mod backfill;
pub mod compare;
pub mod exposition;
pub mod families;
pub mod metrics;
pub mod minutes;
pub mod process_metrics;
pub mod unique_series;
