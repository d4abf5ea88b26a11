//! Line framing over a reusable byte buffer.
//!
//! Input is read in large chunks into one buffer that is reused for the life of the source; lines
//! are handed out as slices of it. A line longer than the cap is skipped up to its newline and
//! reported once as oversized, so one huge line costs bounded memory and never hides the next
//! one. A trailing `\r` is dropped. Bytes are never assumed to be UTF-8.

use std::io::{self, Read};

/// Default cap on one line (`--max-line-bytes`).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// One framed unit.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line without its terminator.
    Line(&'a [u8]),
    /// A line longer than the cap was skipped; its length in bytes.
    Oversized(u64),
}

/// Frames newline-terminated lines from chunks of input.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max_line: usize,
    /// Bytes of an oversized line skipped so far (`Some` while skipping to its newline).
    skipping: Option<u64>,
    /// Bytes consumed as complete lines (or skipped lines) since the buffer was reset.
    consumed: u64,
}

impl LineBuffer {
    /// A buffer for lines up to `max_line` bytes.
    pub fn new(max_line: usize) -> LineBuffer {
        let max_line = max_line.max(16);
        LineBuffer {
            buf: vec![0; (max_line + 1).max(64 * 1024)],
            start: 0,
            end: 0,
            max_line,
            skipping: None,
            consumed: 0,
        }
    }

    /// Reads one chunk from `r`; returns the number of bytes read (0 at EOF).
    pub fn fill_from<R: Read + ?Sized>(&mut self, r: &mut R) -> io::Result<usize> {
        if self.start > 0 && (self.start == self.end || self.end == self.buf.len()) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Full buffer without a newline: the pending line is oversized.
            let n = (self.end - self.start) as u64;
            self.skipping = Some(self.skipping.unwrap_or(0) + n);
            self.consumed += n;
            self.start = 0;
            self.end = 0;
        }
        loop {
            match r.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends bytes (for datagram sources).
    pub fn push(&mut self, data: &[u8]) {
        let mut data = data;
        while !data.is_empty() {
            let mut slice = data;
            let n = self.fill_from(&mut slice).unwrap_or(0);
            data = &data[n..];
            if n == 0 {
                break;
            }
        }
    }

    /// The next complete line or oversized report, if any is buffered.
    #[inline]
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        loop {
            let pending = &self.buf[self.start..self.end];
            match memchr::memchr(b'\n', pending) {
                Some(nl) => {
                    let line_start = self.start;
                    self.start += nl + 1;
                    self.consumed += nl as u64 + 1;
                    if let Some(skipped) = self.skipping.take() {
                        return Some(Frame::Oversized(skipped + nl as u64));
                    }
                    if nl > self.max_line {
                        return Some(Frame::Oversized(nl as u64));
                    }
                    let mut line = &self.buf[line_start..line_start + nl];
                    if let [rest @ .., b'\r'] = line {
                        line = rest;
                    }
                    return Some(Frame::Line(line));
                }
                None => {
                    if pending.len() > self.max_line {
                        // Drop what we have of the oversized line, keep skipping to its newline.
                        self.consumed += pending.len() as u64;
                        self.skipping = Some(self.skipping.unwrap_or(0) + pending.len() as u64);
                        self.start = 0;
                        self.end = 0;
                        continue;
                    }
                    return None;
                }
            }
        }
    }

    /// Takes the unterminated rest (at the end of a finished input), as a last frame.
    pub fn take_partial(&mut self) -> Option<Frame<'_>> {
        let pending = self.end - self.start;
        if let Some(skipped) = self.skipping.take() {
            self.consumed += pending as u64;
            self.start = self.end;
            return Some(Frame::Oversized(skipped + pending as u64));
        }
        if pending == 0 {
            return None;
        }
        let s = self.start;
        self.start = self.end;
        self.consumed += pending as u64;
        let mut line = &self.buf[s..self.end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        Some(Frame::Line(line))
    }

    /// Bytes of complete lines handed out since creation or [`LineBuffer::reset`].
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Bytes held that are not yet a complete line.
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    /// Forgets buffered bytes (after a truncation or a switch to another file).
    pub fn reset(&mut self, consumed: u64) {
        self.start = 0;
        self.end = 0;
        self.skipping = None;
        self.consumed = consumed;
    }
}

/// Iterates the newline-terminated lines of an in-memory buffer (memchr-based; for benchmarks
/// and tests over generated data).
pub fn split_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let line = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or(&[]);
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], max: usize, chunk: usize) -> Vec<String> {
        let mut lb = LineBuffer::new(max);
        let mut out = Vec::new();
        for part in input.chunks(chunk) {
            lb.push(part);
            while let Some(f) = lb.next_frame() {
                out.push(match f {
                    Frame::Line(l) => String::from_utf8_lossy(l).into_owned(),
                    Frame::Oversized(n) => format!("<oversized {n}>"),
                });
            }
        }
        if let Some(f) = lb.take_partial() {
            out.push(match f {
                Frame::Line(l) => format!("<partial {}>", String::from_utf8_lossy(l)),
                Frame::Oversized(n) => format!("<oversized-partial {n}>"),
            });
        }
        out
    }

    #[test]
    fn splits_lines_across_chunks() {
        for chunk in [1, 2, 3, 7, 100] {
            assert_eq!(
                frames(b"a\r\nbb\n\nccc", 100, chunk),
                vec!["a", "bb", "", "<partial ccc>"]
            );
        }
    }

    #[test]
    fn oversized_lines_are_skipped_whole() {
        let mut input = vec![b'x'; 200_000];
        input.extend_from_slice(b"\nnext\n");
        let got = frames(&input, 1000, 8192);
        assert_eq!(got, vec!["<oversized 200000>", "next"]);
        let got = frames(&input, 1000, 300_000);
        assert_eq!(got, vec!["<oversized 200000>", "next"]);
    }

    #[test]
    fn consumed_counts_complete_lines_only() {
        let mut lb = LineBuffer::new(100);
        lb.push(b"abc\nde");
        while lb.next_frame().is_some() {}
        assert_eq!(lb.consumed(), 4);
        assert_eq!(lb.pending(), 2);
    }
}
