//! Sources: where lines come from. Followed files (with rotation, truncation and the state
//! file), nginx's `syslog:` output, stdin, and historical files for `backfill` and `compare`.

pub mod checkpoint;
pub mod history;
pub mod syslog;
pub mod tail;
