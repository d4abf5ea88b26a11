//! The one pipeline: framed lines in, classified events out to a sink.
//!
//! `run` feeds it from tailers with the live metrics registry as sink; `backfill` and `compare`
//! feed it from historical files with their own sinks. Only sources and sinks differ.

use crate::classify::route::PathLabels;
use crate::classify::{AccessEvent, Classifier, ErrorEvent, ErrorLine};
use crate::framing::Frame;
use std::sync::{Arc, Mutex};

/// Which parser a log goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    Access,
    Error,
}

impl LogKind {
    /// `access` / `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Access => "access",
            LogKind::Error => "error",
        }
    }
}

/// Index of a registered log (the `log` label), assigned by the sink.
pub type LogId = usize;

/// A pipeline shared by the sources that feed it; any [`Sink`] (the live registry in `run`, a
/// test's recorder), so a source never depends on what consumes its lines.
pub type Shared<S> = Arc<Mutex<Pipeline<S>>>;

/// Consumes events. Every line is `read`; then exactly one of the others.
pub trait Sink {
    /// A line (or oversized fragment) was read from `log`.
    fn read(&mut self, log: LogId);
    /// The line did not parse.
    fn malformed(&mut self, log: LogId);
    /// A classified access line.
    fn access(&mut self, log: LogId, ev: &AccessEvent, labels: &PathLabels);
    /// A classified error line.
    fn error(&mut self, log: LogId, ev: &ErrorEvent, labels: &PathLabels);
    /// Lines fell into `__other__`: called with the new overflow total.
    fn overflow(&mut self, _total: u64) {}
    /// The kernel dropped `total` datagrams so far on `log`'s syslog socket.
    fn syslog_dropped(&mut self, _log: LogId, _total: u64) {}
    /// The source of `log` was rotated: renamed, truncated, or deleted and recreated.
    fn rotated(&mut self, _log: LogId) {}
    /// The source of `log` holds `open` files, `deleted` of them unlinked (link count 0).
    fn open_files(&mut self, _log: LogId, _open: u64, _deleted: u64) {}
    /// `lines` of `log` are known lost, for `reason`.
    fn lost(&mut self, _log: LogId, _reason: &'static str, _lines: u64) {}
    /// The last `access` or `error` event counted nothing (a series budget refused it), so a
    /// path label it alone created can be given back.
    fn refused_last(&self) -> bool {
        false
    }
}

/// What became of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Parsed,
    Continuation,
    Malformed(&'static str),
}

/// Classifier plus sink.
#[derive(Debug)]
pub struct Pipeline<S> {
    pub classifier: Classifier,
    pub sink: S,
}

impl<S: Sink> Pipeline<S> {
    /// Joins a classifier and a sink.
    pub fn new(classifier: Classifier, sink: S) -> Self {
        Pipeline { classifier, sink }
    }

    /// Feeds one frame of `log`.
    #[inline]
    pub fn feed(&mut self, log: LogId, kind: LogKind, frame: Frame<'_>) -> Outcome {
        self.sink.read(log);
        let line = match frame {
            Frame::Line(l) => l,
            Frame::Oversized(_) => {
                self.sink.malformed(log);
                return Outcome::Malformed("line longer than --max-line-bytes");
            }
        };
        let before = self.classifier.labels.overflow;
        let labels_before = self.classifier.labels.len();
        let outcome = match kind {
            LogKind::Access => {
                self.classifier.select_log(log);
                match self.classifier.access(line) {
                    Ok(ev) => {
                        self.sink.access(log, &ev, &self.classifier.labels);
                        Outcome::Parsed
                    }
                    Err(e) => Outcome::Malformed(e.reason),
                }
            }
            LogKind::Error => match self.classifier.error(line) {
                Ok(ErrorLine::Event(ev)) => {
                    self.sink.error(log, &ev, &self.classifier.labels);
                    Outcome::Parsed
                }
                Ok(ErrorLine::Continuation) => Outcome::Continuation,
                Err(e) => Outcome::Malformed(e.reason),
            },
        };
        if let Outcome::Malformed(_) = outcome {
            self.sink.malformed(log);
        }
        // A refused line keeps no series, so the path slots it took are free for a line that
        // will be counted.
        if outcome == Outcome::Parsed
            && self.classifier.labels.len() > labels_before
            && self.sink.refused_last()
        {
            self.classifier.labels.forget_since(labels_before);
        }
        if self.classifier.labels.overflow != before {
            self.sink.overflow(self.classifier.labels.overflow);
        }
        outcome
    }
}
