//! Parsing: nginx's `log_format` compiled to matching steps, access and error log records, and
//! the value parsers (numbers, times) they share.

pub mod access;
pub mod error_log;
pub mod format;
pub(crate) mod redact;
pub mod values;
