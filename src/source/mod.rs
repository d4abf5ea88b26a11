//! Sources: where lines come from. Followed files (`tail`, with `fingerprint` for identity,
//! `watch` for finding rotated files, `state` and `checkpoint` for the state file and when it is
//! saved), nginx's `syslog:` output, stdin, and historical files for `backfill` and `compare`.

pub(crate) mod checkpoint;
pub(crate) mod fingerprint;
pub(crate) mod history;
pub(crate) mod state;
pub(crate) mod stdin;
pub(crate) mod syslog;
pub(crate) mod tail;
pub(crate) mod watch;
