//! Sources: where lines come from. Followed files (`tail`, with `fingerprint` for identity,
//! `watch` for finding rotated files, `state` and `checkpoint` for the state file and when it is
//! saved), nginx's `syslog:` output, stdin, and historical files for `backfill` and `compare`.

pub mod checkpoint;
pub mod fingerprint;
pub mod history;
pub mod state;
pub mod stdin;
pub mod syslog;
pub mod tail;
pub mod watch;
