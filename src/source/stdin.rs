//! Reading a stream that is not a file (stdin, a pipe) to its end, through the same framing.

use crate::framing::LineBuffer;
use crate::pipeline::{LogId, LogKind, Outcome, Pipeline, Sink};
use crate::source::tail::report_malformed;
use std::convert::Infallible;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

/// Reads a non-file source (stdin, a pipe) to its end.
pub(crate) fn read_stream<R: Read, S: Sink<Error = Infallible>>(
    mut r: R,
    shared: &Mutex<Pipeline<S>>,
    log: LogId,
    kind: LogKind,
    max_line: usize,
    name: &Path,
) {
    let mut lb = LineBuffer::new(max_line);
    let mut warned = 0;
    loop {
        let n = match lb.fill_from(&mut r) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(source = %name.display(), error = %e, "read failed");
                0
            }
        };
        let Ok(mut p) = shared.lock() else { return };
        loop {
            let offset = lb.consumed();
            let Some(frame) = lb.next_frame() else { break };
            if let Outcome::Malformed(reason) = p.feed(log, kind, frame) {
                report_malformed(name, offset, reason, &mut warned);
            }
        }
        if n == 0 {
            if let Some(frame) = lb.take_partial() {
                p.feed(log, kind, frame);
            }
            return;
        }
    }
}
