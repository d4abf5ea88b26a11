//! Line framing: the one rule every mode cuts lines by, and two front ends for it.
//!
//! `Rule::frame` is the rule: a line is the bytes before a `\n`; one trailing `\r` is dropped;
//! a line whose content (terminator excluded) is longer than `--max-line-bytes` is reported as
//! [`Frame::Oversized`] with its length and never parsed, so one huge line costs bounded memory and
//! never hides the next one. Bytes are never assumed to be UTF-8; NUL is an ordinary byte; an
//! unterminated last line of a finished input is a line like the others.
//!
//! [`LineBuffer`] is the streaming front end (`run`, `parse`, stdin, `doctor`): input is read in
//! chunks into one buffer reused for the life of the source, and lines are slices of it.
//! `SliceFrames` is the slice front end (`backfill`, `compare`): whole-line chunks already in
//! memory. Both give the same frames for the same bytes (a test checks it on the edge cases).

use std::io::{self, Read};

/// Default cap on one line (`--max-line-bytes`).
pub(crate) const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// Smallest cap honoured; smaller values are raised to it.
const MIN_LINE: usize = 16;

/// One framed unit.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line without its terminator.
    Line(&'a [u8]),
    /// A line longer than the cap was skipped; its length in bytes (without the `\n`).
    Oversized(u64),
}

/// The framing rule shared by both front ends: the line cap and what a terminator is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    max_line: usize,
}

impl Rule {
    /// The rule for lines of up to `max_line` bytes of content.
    pub(crate) fn new(max_line: usize) -> Rule {
        Rule {
            max_line: max_line.max(MIN_LINE),
        }
    }

    /// The longest run of bytes without a `\n` that can still frame as a line (content + `\r`).
    #[inline]
    pub(crate) fn max_raw(self) -> usize {
        self.max_line + 1
    }

    /// The smallest buffer a front end needs to hold any line that fits, with its `\r\n`.
    pub(crate) fn buffer_len(self) -> usize {
        self.max_line + 2
    }

    /// Frames `raw`, the bytes of one line before its `\n` (or before the end of the input).
    #[inline]
    pub(crate) fn frame(self, raw: &[u8]) -> Frame<'_> {
        let line = match raw {
            [rest @ .., b'\r'] => rest,
            l => l,
        };
        if line.len() > self.max_line {
            Frame::Oversized(raw.len() as u64)
        } else {
            Frame::Line(line)
        }
    }
}

/// The slice front end: frames the lines of a buffer in memory; a last line without `\n` is
/// framed too.
#[derive(Debug)]
pub(crate) struct SliceFrames<'a> {
    rest: &'a [u8],
    rule: Rule,
}

impl<'a> SliceFrames<'a> {
    /// Frames `data` by `rule`.
    pub(crate) fn new(data: &'a [u8], rule: Rule) -> SliceFrames<'a> {
        SliceFrames { rest: data, rule }
    }
}

impl<'a> Iterator for SliceFrames<'a> {
    type Item = Frame<'a>;

    #[inline]
    fn next(&mut self) -> Option<Frame<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'\n', self.rest).unwrap_or(self.rest.len());
        let raw = &self.rest[..end];
        self.rest = self.rest.get(end + 1..).unwrap_or(&[]);
        Some(self.rule.frame(raw))
    }
}

/// Frames newline-terminated lines from chunks of input.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    rule: Rule,
    /// Bytes of an oversized line skipped so far (`Some` while skipping to its newline).
    skipping: Option<u64>,
    /// Bytes consumed as complete lines (or skipped lines) since the buffer was reset.
    consumed: u64,
}

impl LineBuffer {
    /// A buffer for lines up to `max_line` bytes.
    pub fn new(max_line: usize) -> LineBuffer {
        let rule = Rule::new(max_line);
        LineBuffer {
            buf: vec![0; rule.buffer_len().max(64 * 1024)],
            start: 0,
            end: 0,
            rule,
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

    /// Appends as much of `data` as fits and returns how many bytes it took. As after
    /// [`LineBuffer::fill_from`], drain the frames with [`LineBuffer::next_frame`] before
    /// pushing the rest: a full buffer is taken as one oversized line.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let mut slice = data;
        self.fill_from(&mut slice).unwrap_or(0)
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
                    return Some(self.rule.frame(&self.buf[line_start..line_start + nl]));
                }
                None => {
                    if pending.len() > self.rule.max_raw() {
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
        Some(self.rule.frame(&self.buf[s..self.end]))
    }

    /// Bytes of complete lines handed out since creation or `LineBuffer::reset`.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Bytes held that are not yet a complete line.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.end - self.start
    }

    /// Forgets buffered bytes (after a truncation or a switch to another file).
    pub(crate) fn reset(&mut self, consumed: u64) {
        self.start = 0;
        self.end = 0;
        self.skipping = None;
        self.consumed = consumed;
    }
}

/// Iterates the raw newline-terminated lines of an in-memory buffer, without the framing rule
/// (for benchmarks and tests over generated data).
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
        for mut part in input.chunks(chunk) {
            while !part.is_empty() {
                let n = lb.push(part);
                part = &part[n..];
                while let Some(f) = lb.next_frame() {
                    out.push(match f {
                        Frame::Line(l) => String::from_utf8_lossy(l).into_owned(),
                        Frame::Oversized(n) => format!("<oversized {n}>"),
                    });
                }
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

    /// Owned frames, so front ends can be compared.
    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Line(Vec<u8>),
        Oversized(u64),
    }

    fn own(f: Frame<'_>) -> Owned {
        match f {
            Frame::Line(l) => Owned::Line(l.to_vec()),
            Frame::Oversized(n) => Owned::Oversized(n),
        }
    }

    fn streaming(input: &[u8], max: usize, chunk: usize) -> Vec<Owned> {
        let mut lb = LineBuffer::new(max);
        let mut out = Vec::new();
        for mut part in input.chunks(chunk.max(1)) {
            while !part.is_empty() {
                let n = lb.push(part);
                part = &part[n..];
                while let Some(f) = lb.next_frame() {
                    out.push(own(f));
                }
            }
        }
        if let Some(f) = lb.take_partial() {
            out.push(own(f));
        }
        out
    }

    fn slice(input: &[u8], max: usize) -> Vec<Owned> {
        SliceFrames::new(input, Rule::new(max)).map(own).collect()
    }

    /// Both front ends over `input`, several chunkings of the stream; returns the frames.
    fn same_frames(input: &[u8], max: usize) -> Vec<Owned> {
        let want = slice(input, max);
        // Byte-sized chunks only on small inputs: each fill compacts the buffer.
        let small: &[usize] = if input.len() < 4096 {
            &[1, 2, 3, 7, 64]
        } else {
            &[]
        };
        for &chunk in small.iter().chain(&[4096, 65_537, input.len()]) {
            assert_eq!(
                streaming(input, max, chunk),
                want,
                "chunk {chunk}, max {max}, input {:?}",
                String::from_utf8_lossy(&input[..input.len().min(80)])
            );
        }
        want
    }

    #[test]
    fn both_front_ends_agree_on_the_edges() {
        for max in [16, 100, DEFAULT_MAX_LINE] {
            let x = |n: usize| vec![b'x'; n];
            let cat = |parts: &[&[u8]]| parts.concat();
            let at = x(max);
            let over = x(max + 1);
            // CRLF at exactly the limit is a line; one byte more is oversized, with or without \r.
            let got = same_frames(
                &cat(&[&at, b"\r\n", &over, b"\r\n", &at, b"\n", &over, b"\n"]),
                max,
            );
            assert_eq!(
                got,
                vec![
                    Owned::Line(at.clone()),
                    Owned::Oversized(max as u64 + 2),
                    Owned::Line(at.clone()),
                    Owned::Oversized(max as u64 + 1),
                ]
            );
            // NUL and invalid UTF-8 are ordinary bytes; a missing last newline still frames.
            let got = same_frames(b"a\0b\n\xff\xfe\xc3\n\r\n\r\r\nlast\r", max);
            assert_eq!(
                got,
                vec![
                    Owned::Line(b"a\0b".to_vec()),
                    Owned::Line(b"\xff\xfe\xc3".to_vec()),
                    Owned::Line(vec![]),
                    Owned::Line(b"\r".to_vec()),
                    Owned::Line(b"last".to_vec()),
                ]
            );
            // An unterminated last line at the limit (with its \r), and one over it.
            assert_eq!(same_frames(&cat(&[b"a\n", &at, b"\r"]), max).len(), 2);
            assert_eq!(
                same_frames(&cat(&[b"a\n", &over, b"\r"]), max).last(),
                Some(&Owned::Oversized(max as u64 + 2))
            );
            // A huge line between good ones costs one Oversized frame, and the next line survives.
            let got = same_frames(&cat(&[b"ok\n", &x(3 * max + 70_000), b"\r\nnext\n"]), max);
            assert_eq!(
                got,
                vec![
                    Owned::Line(b"ok".to_vec()),
                    Owned::Oversized(3 * max as u64 + 70_001),
                    Owned::Line(b"next".to_vec()),
                ]
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn both_front_ends_agree_on_random_bytes(
            input in proptest::collection::vec(
                proptest::sample::select(vec![b'x', b'\r', b'\n', 0u8, 0xff]), 0..400),
            chunk in 1usize..50,
        ) {
            let want = slice(&input, 16);
            proptest::prop_assert_eq!(streaming(&input, 16, chunk), want);
        }
    }
}
