//! Sinks: what consumes classified events. The live registry and its exposition, the
//! OpenMetrics backfill writer, and the before/after aggregates of `compare`.

pub(crate) mod backfill;
pub(crate) mod compare;
pub(crate) mod exposition;
pub(crate) mod families;
pub mod metrics;
pub(crate) mod minutes;
pub(crate) mod process_metrics;
pub mod unique_series;
