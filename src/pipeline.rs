//! The one pipeline: framed lines in, classified events out to a sink.
//!
//! `run` feeds it from tailers with the live metrics registry as sink. `backfill` and `compare`
//! feed it from historical files in parallel chunks, each worker's sink collecting the events;
//! the history merge then hands them, in time order, to the backfill or compare sink through the
//! same [`Sink`] trait. Only sources and sinks differ.

use crate::classify::{AccessEvent, Classifier, ErrorEvent, ErrorLine};
use crate::framing::Frame;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

/// Which parser a log goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    Access,
    Error,
}

impl LogKind {
    /// `access` / `error`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LogKind::Access => "access",
            LogKind::Error => "error",
        }
    }
}

/// Index of a registered log (the `log` label), assigned by the sink.
pub(crate) type LogId = usize;

/// A pipeline shared by the sources that feed it; any [`Sink`] (the live registry in `run`, a
/// test's recorder), so a source never depends on what consumes its lines.
pub(crate) type Shared<S> = Arc<Mutex<Pipeline<S>>>;

/// Which argument list a historical file came from (`compare --before/--after`); `ByTime`
/// otherwise and for every live source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The file's lines are placed by their time (backfill; `compare --split`; live sources).
    ByTime,
    /// Every line of the file is "before" (`compare --before`).
    Before,
    /// Every line of the file is "after" (`compare --after`).
    After,
}

/// Where a line comes from and when it counts: what a sink may need besides the event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Origin {
    /// The log (the `log` label): a live source, or the rotation group of a historical file
    /// (inside the history workers, which parse one file at a time, the file's index).
    pub(crate) log: LogId,
    /// Access or error log.
    pub(crate) kind: LogKind,
    /// The historical file (index into the files given); the log itself for live sources.
    pub(crate) file: usize,
    /// Where the file's lines count in `compare`.
    pub(crate) phase: Phase,
    /// History only: when the event counts, its [`Event::time`] (a 101 at its handshake) or,
    /// without one, `clock`. Live sinks read the event's own time.
    pub(crate) time: Option<f64>,
    /// History only: the time written in this line, or in the file's last line that had one;
    /// the merge delivers lines in the order of this clock.
    pub(crate) clock: Option<f64>,
}

impl Origin {
    /// A live source: a log, no history times.
    #[inline]
    pub(crate) fn live(log: LogId, kind: LogKind) -> Origin {
        Origin {
            log,
            kind,
            file: log,
            phase: Phase::ByTime,
            time: None,
            clock: None,
        }
    }
}

/// A classified line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// A parsed, classified access line. Its path id refers to the classifier's labels (live,
    /// and a history worker's own) or, once the history merge delivers it, to
    /// `History::labels`.
    Access(AccessEvent),
    /// A parsed, classified error-log event.
    Error(ErrorEvent),
    /// The line did not parse, or was longer than `--max-line-bytes`.
    Malformed,
    /// An error-log continuation line (read, not an event).
    Continuation,
}

impl Event {
    /// The time the event belongs to in history: for an access line its
    /// [`AccessEvent::handshake_time`] (a 101 counts when its handshake happened, not when the
    /// session closed), for an error line the time written in it.
    #[inline]
    pub(crate) fn time(&self) -> Option<f64> {
        match self {
            Event::Access(e) => e.handshake_time(),
            Event::Error(e) => e.time,
            Event::Malformed | Event::Continuation => None,
        }
    }

    /// The time written in the line. The history merge orders files by it: it is what keeps a
    /// log nearly sorted (a 101 line's handshake time may lie hours before its neighbours').
    #[inline]
    pub(crate) fn logged_time(&self) -> Option<f64> {
        match self {
            Event::Access(e) => e.time,
            Event::Error(e) => e.time,
            Event::Malformed | Event::Continuation => None,
        }
    }
}

/// What a source tells about a log besides its lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The log was rotated: renamed, truncated, or deleted and recreated (in history: a later
    /// file of the same log began).
    Rotated,
    /// The source holds `open` files, `deleted` of them unlinked (link count 0).
    OpenFiles { open: u64, deleted: u64 },
    /// `lines` are known lost, for `reason`.
    Lost { reason: &'static str, lines: u64 },
    /// The kernel dropped this many datagrams so far on the log's syslog socket.
    SyslogDropped(u64),
    /// Lines fell into `__other__` (`--max-paths`): the new total, over every log.
    PathsOverflow(u64),
}

/// Whether a sink counted a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    /// Counted (or nothing to count).
    Yes,
    /// Refused whole: a series budget could not hold it, so a path label it alone created can
    /// be given back. Only parsed access and error lines can be refused.
    Refused,
}

/// Consumes what sources and the pipeline produce: the live registry, backfill, compare, the
/// history workers' collectors and tests' recorders. One trait for every mode; a sink that can
/// fail (a write, a limit) says so with its `Error`, and its error stops the read. In-memory
/// sinks use [`Infallible`], which is what live sources require: they have nowhere to stop to.
pub trait Sink {
    /// Why the sink can fail; [`Infallible`] when it cannot.
    type Error;
    /// One line, in the order read (history: merged by `Origin::clock`). Every line comes
    /// here, continuation lines included.
    fn line(&mut self, at: &Origin, event: &Event) -> Result<Counted, Self::Error>;
    /// Something happened to the source of `log` (or, for [`Notice::PathsOverflow`], to the
    /// path labels of every log; `log` is the one whose line overflowed).
    fn notice(&mut self, _log: LogId, _notice: Notice) -> Result<(), Self::Error> {
        Ok(())
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

    /// Feeds one frame of `log` to a sink that may fail. A sink error returns at once (the line
    /// is not counted, nor its path overflow noticed): the caller stops feeding.
    #[inline]
    pub(crate) fn try_feed(
        &mut self,
        log: LogId,
        kind: LogKind,
        frame: Frame<'_>,
    ) -> Result<Outcome, S::Error> {
        let at = Origin::live(log, kind);
        let line = match frame {
            Frame::Line(l) => l,
            Frame::Oversized(_) => {
                self.sink.line(&at, &Event::Malformed)?;
                return Ok(Outcome::Malformed("line longer than --max-line-bytes"));
            }
        };
        let before = self.classifier.labels.overflow;
        let labels_before = self.classifier.labels.len();
        let (event, outcome) = match kind {
            LogKind::Access => {
                self.classifier.select_log(log);
                match self.classifier.access(line) {
                    Ok(ev) => (Event::Access(ev), Outcome::Parsed),
                    Err(e) => (Event::Malformed, Outcome::Malformed(e.reason)),
                }
            }
            LogKind::Error => match self.classifier.error(line) {
                Ok(ErrorLine::Event(ev)) => (Event::Error(ev), Outcome::Parsed),
                Ok(ErrorLine::Continuation) => (Event::Continuation, Outcome::Continuation),
                Err(e) => (Event::Malformed, Outcome::Malformed(e.reason)),
            },
        };
        let counted = self.sink.line(&at, &event)?;
        // A refused line keeps no series, so the path slots it took are free for a line that
        // will be counted.
        if counted == Counted::Refused
            && outcome == Outcome::Parsed
            && self.classifier.labels.len() > labels_before
        {
            self.classifier.labels.forget_since(labels_before);
        }
        if self.classifier.labels.overflow != before {
            self.sink
                .notice(log, Notice::PathsOverflow(self.classifier.labels.overflow))?;
        }
        Ok(outcome)
    }
}

impl<S: Sink<Error = Infallible>> Pipeline<S> {
    /// Feeds one frame of `log` to a sink that cannot fail (every live source's).
    #[inline]
    pub fn feed(&mut self, log: LogId, kind: LogKind, frame: Frame<'_>) -> Outcome {
        let Ok(outcome) = self.try_feed(log, kind, frame);
        outcome
    }

    /// Tells a sink that cannot fail about the source of `log`.
    #[inline]
    pub(crate) fn notice(&mut self, log: LogId, notice: Notice) {
        let Ok(()) = self.sink.notice(log, notice);
    }
}
