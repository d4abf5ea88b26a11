//! nginx `log_format` compiler.
//!
//! A format string is compiled once into a sequence of literal and field steps; a line is then
//! matched by walking the steps over its bytes: a literal must be present at the cursor, a field
//! runs until the next literal. No regex and no allocation per line: the result is a list of byte
//! spans into the line, written into a caller-owned buffer.
//!
//! `escape=json` logs are handled by [`LineFormat::Json`], which reads any flat JSON object whose
//! keys are nginx variable names, in any order. A user regex with named groups is the escape hatch
//! for formats nginx itself could not have written.

use std::fmt;

/// The nginx variables the pipeline interprets. Everything else is kept by name as `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Var {
    RemoteAddr,
    RemoteUser,
    TimeLocal,
    TimeIso8601,
    Msec,
    Request,
    RequestMethod,
    RequestUri,
    Uri,
    ServerProtocol,
    Status,
    BodyBytesSent,
    BytesSent,
    RequestTime,
    UpstreamConnectTime,
    UpstreamHeaderTime,
    UpstreamResponseTime,
    UpstreamStatus,
    UpstreamAddr,
    HttpUpgrade,
    Host,
    HttpReferer,
    HttpUserAgent,
    Other,
}

/// Number of interpreted variables (the size of per-format lookup tables).
pub(crate) const VAR_COUNT: usize = Var::Other as usize;

impl Var {
    /// Maps an nginx variable name (without `$`) to the interpreted variable.
    pub(crate) fn from_name(name: &str) -> Var {
        match name {
            "remote_addr" => Var::RemoteAddr,
            "remote_user" => Var::RemoteUser,
            "time_local" => Var::TimeLocal,
            "time_iso8601" => Var::TimeIso8601,
            "msec" => Var::Msec,
            "request" => Var::Request,
            "request_method" => Var::RequestMethod,
            "request_uri" => Var::RequestUri,
            "uri" | "document_uri" => Var::Uri,
            "server_protocol" => Var::ServerProtocol,
            "status" => Var::Status,
            "body_bytes_sent" => Var::BodyBytesSent,
            "bytes_sent" => Var::BytesSent,
            "request_time" => Var::RequestTime,
            "upstream_connect_time" => Var::UpstreamConnectTime,
            "upstream_header_time" => Var::UpstreamHeaderTime,
            "upstream_response_time" => Var::UpstreamResponseTime,
            "upstream_status" => Var::UpstreamStatus,
            "upstream_addr" => Var::UpstreamAddr,
            "http_upgrade" => Var::HttpUpgrade,
            "host" | "http_host" => Var::Host,
            "http_referer" => Var::HttpReferer,
            "http_user_agent" => Var::HttpUserAgent,
            _ => Var::Other,
        }
    }
}

/// How values are escaped in the log, which decides how a quoted field ends and how it decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Escape {
    /// nginx's default: `"`, `\` and non-printable bytes as `\xHH`.
    Default,
    /// `escape=json`: `\"`, `\\`, `\uXXXX`.
    Json,
}

/// A byte range of a value inside the line, `start..end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    /// The span's bytes in `line`.
    #[inline]
    pub fn of<'a>(&self, line: &'a [u8]) -> &'a [u8] {
        line.get(self.start as usize..self.end as usize)
            .unwrap_or(&[])
    }
}

/// A named field of a compiled format.
#[derive(Clone, Debug)]
pub struct Slot {
    pub name: String,
}

#[derive(Clone, Debug)]
enum Step {
    Literal(Literal),
    Field { slot: u16 },
}

/// Why a format string could not be compiled, with the byte offset where it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub(crate) format: String,
    pub(crate) offset: usize,
    pub(crate) reason: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid log_format at byte {}: {}",
            self.offset, self.reason
        )?;
        writeln!(f, "  {}", self.format)?;
        write!(f, "  {}^", " ".repeat(self.offset.min(self.format.len())))
    }
}

impl std::error::Error for FormatError {}

/// Why a line did not match its format. Static text so reporting never allocates; the step
/// index lets `LineFormat::explain` name the field and the expected text later, off the hot
/// path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    pub offset: usize,
    pub reason: &'static str,
    /// Index of the format step that failed (`NO_STEP` when not a step format).
    pub(crate) step: u16,
}

/// [`Mismatch::step`] when the failure is not tied to a step of a compiled format.
pub(crate) const NO_STEP: u16 = u16::MAX;

impl Mismatch {
    /// A mismatch not tied to a format step.
    pub(crate) const fn new(offset: usize, reason: &'static str) -> Mismatch {
        Mismatch {
            offset,
            reason,
            step: NO_STEP,
        }
    }
}

/// Built-in format names accepted by `--format`.
pub(crate) const PRESETS: &[&str] = &["combined", "main", "ws_timing", "json"];

const COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";
const MAIN: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" \"$http_x_forwarded_for\"";
/// The recommended format (README).
pub(crate) const WS_TIMING: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" rt=$request_time uct=\"$upstream_connect_time\" uht=\"$upstream_header_time\" urt=\"$upstream_response_time\" upgrade=\"$http_upgrade\"";

/// A compiled access-log format: literal/field steps, a JSON object reader, or a user regex.
#[derive(Clone, Debug)]
pub enum LineFormat {
    Steps(StepFormat),
    Json(JsonFormat),
    Regex(RegexFormat),
}

/// Literal/field steps compiled from a `log_format` string.
#[derive(Clone, Debug)]
pub struct StepFormat {
    #[cfg(test)]
    source: String,
    steps: Vec<Step>,
    slots: Vec<Slot>,
    index: [Option<u16>; VAR_COUNT],
    escape: Escape,
}

/// Reads flat JSON objects (`escape=json` formats); keys are variable names, or are mapped to
/// them by the template of a pasted `log_format ... escape=json '{"time":"$time_iso8601",...}'`.
#[derive(Clone, Debug, Default)]
pub struct JsonFormat {
    slots: Vec<Slot>,
    index: [Option<u16>; VAR_COUNT],
    /// Template keys whose value is exactly one variable -> that variable's slot.
    keys: Vec<(Vec<u8>, u16)>,
}

/// The `--regex` escape hatch: named groups are variable names.
#[derive(Clone, Debug)]
pub struct RegexFormat {
    re: regex::bytes::Regex,
    slots: Vec<Slot>,
    index: [Option<u16>; VAR_COUNT],
}

/// Per-line match output, reused across lines so matching does not allocate.
#[derive(Debug, Default)]
pub struct Fields {
    /// One span per slot of the format (`None`-like empty span when a key was absent).
    pub spans: Vec<Option<Span>>,
    /// For JSON lines: keys that are not slots yet (key span, value span).
    pub(crate) extra: Vec<(Span, Span)>,
    locs: Option<regex::bytes::CaptureLocations>,
}

impl LineFormat {
    /// Compiles a preset name, an `nginx.conf` `log_format` directive, or a format string.
    pub fn compile(spec: &str) -> Result<LineFormat, FormatError> {
        match spec.trim() {
            "combined" => StepFormat::compile(COMBINED, Escape::Default).map(LineFormat::Steps),
            "main" => StepFormat::compile(MAIN, Escape::Default).map(LineFormat::Steps),
            "ws_timing" => StepFormat::compile(WS_TIMING, Escape::Default).map(LineFormat::Steps),
            "json" => Ok(LineFormat::Json(JsonFormat::default())),
            s if s.starts_with("log_format ") || s.starts_with("log_format\t") => {
                let (body, escape) = directive_body(s)?;
                LineFormat::compile_template(&body, escape)
            }
            _ => StepFormat::compile(spec, Escape::Default).map(LineFormat::Steps),
        }
    }

    /// Compiles a `log_format` template already unquoted and joined (as nginx's config
    /// parser hands it over), with its `escape=` mode.
    pub(crate) fn compile_template(body: &str, escape: Escape) -> Result<LineFormat, FormatError> {
        if escape == Escape::Json && body.trim_start().starts_with('{') {
            return Ok(LineFormat::Json(JsonFormat::from_template(body)));
        }
        StepFormat::compile(body, escape).map(LineFormat::Steps)
    }

    /// Compiles a user regex whose named groups are nginx variable names.
    pub(crate) fn compile_regex(pattern: &str) -> Result<LineFormat, FormatError> {
        let re = regex::bytes::Regex::new(pattern).map_err(|e| FormatError {
            format: pattern.to_string(),
            offset: 0,
            reason: e.to_string(),
        })?;
        let mut slots = Vec::new();
        let mut index = [None; VAR_COUNT];
        for name in re.capture_names().flatten() {
            push_slot(&mut slots, &mut index, name);
        }
        if slots.is_empty() {
            return Err(FormatError {
                format: pattern.to_string(),
                offset: 0,
                reason: "the regex has no named groups (name them after nginx variables, e.g. (?P<status>\\d+))".into(),
            });
        }
        Ok(LineFormat::Regex(RegexFormat { re, slots, index }))
    }

    /// The slots (named fields) known so far.
    pub fn slots(&self) -> &[Slot] {
        match self {
            LineFormat::Steps(f) => &f.slots,
            LineFormat::Json(f) => &f.slots,
            LineFormat::Regex(f) => &f.slots,
        }
    }

    /// Slot index of an interpreted variable, if the format logs it.
    #[inline]
    pub(crate) fn slot_of(&self, var: Var) -> Option<usize> {
        let index = match self {
            LineFormat::Steps(f) => &f.index,
            LineFormat::Json(f) => &f.index,
            LineFormat::Regex(f) => &f.index,
        };
        index.get(var as usize).copied().flatten().map(usize::from)
    }

    /// Whether the format can log this variable at all (JSON logs: always "maybe").
    pub(crate) fn logs(&self, var: Var) -> bool {
        match self {
            LineFormat::Json(_) => true,
            _ => self.slot_of(var).is_some(),
        }
    }

    /// The escaping used in values.
    pub(crate) fn escape(&self) -> Escape {
        match self {
            LineFormat::Steps(f) => f.escape,
            LineFormat::Json(_) => Escape::Json,
            LineFormat::Regex(_) => Escape::Default,
        }
    }

    /// A one-line account of a mismatch for people: the reason, and for step formats which field
    /// was being read and what text was expected (e.g. `expected " - " after $remote_addr`).
    pub(crate) fn explain(&self, m: &Mismatch) -> String {
        let detail = match self {
            LineFormat::Steps(f) => f.explain(m),
            _ => None,
        };
        match detail {
            Some(d) => format!("{}: {d} (at byte {})", m.reason, m.offset),
            None => format!("{} (at byte {})", m.reason, m.offset),
        }
    }

    /// Matches a line, filling `out` with one span per slot.
    #[inline]
    pub fn match_line(&mut self, line: &[u8], out: &mut Fields) -> Result<(), Mismatch> {
        match self {
            LineFormat::Steps(f) => f.match_line(line, out),
            LineFormat::Json(f) => f.match_line(line, out),
            LineFormat::Regex(f) => f.match_line(line, out),
        }
    }
}

fn push_slot(slots: &mut Vec<Slot>, index: &mut [Option<u16>; VAR_COUNT], name: &str) -> u16 {
    let var = Var::from_name(name);
    let id = slots.len() as u16;
    if var != Var::Other && index[var as usize].is_none() {
        index[var as usize] = Some(id);
    }
    slots.push(Slot {
        name: name.to_string(),
    });
    id
}

/// Extracts the format text from `log_format NAME [escape=...] 'part' 'part' ...;`.
fn directive_body(s: &str) -> Result<(String, Escape), FormatError> {
    let err = |offset: usize, reason: &str| FormatError {
        format: s.to_string(),
        offset,
        reason: reason.to_string(),
    };
    let bytes = s.as_bytes();
    let mut i = "log_format".len();
    let mut words = 0;
    let mut escape = Escape::Default;
    let mut body = String::new();
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b';' => break,
            q @ (b'\'' | b'"') => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != q {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                if j >= bytes.len() {
                    return Err(err(i, "unterminated quoted string in log_format directive"));
                }
                let part = &s[start..j];
                body.push_str(&part.replace(&format!("\\{}", q as char), &(q as char).to_string()));
                i = j + 1;
            }
            _ => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b';') {
                    i += 1;
                }
                let word = &s[start..i];
                if words == 0 {
                    words += 1; // the format's name
                } else if let Some(e) = word.strip_prefix("escape=") {
                    escape = if e == "json" {
                        Escape::Json
                    } else {
                        Escape::Default
                    };
                } else {
                    body.push_str(word);
                }
            }
        }
    }
    if body.is_empty() {
        return Err(err(0, "log_format directive has no format text"));
    }
    Ok((body, escape))
}

impl StepFormat {
    /// Compiles a format string into literal/field steps.
    pub(crate) fn compile(format: &str, escape: Escape) -> Result<StepFormat, FormatError> {
        let err = |offset: usize, reason: String| FormatError {
            format: format.to_string(),
            offset,
            reason,
        };
        let bytes = format.as_bytes();
        let mut steps = Vec::new();
        let mut slots: Vec<Slot> = Vec::new();
        let mut index = [None; VAR_COUNT];
        let mut literal = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'$' {
                literal.push(bytes[i]);
                i += 1;
                continue;
            }
            let (name, next) = if bytes.get(i + 1) == Some(&b'{') {
                let close = bytes[i + 2..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or_else(|| err(i, "`${` without a closing `}`".into()))?;
                (&format[i + 2..i + 2 + close], i + 3 + close)
            } else {
                let len = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                (&format[i + 1..i + 1 + len], i + 1 + len)
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(err(i, "`$` must be followed by a variable name".into()));
            }
            if !literal.is_empty() {
                steps.push(literal_step(std::mem::take(&mut literal)));
            } else if let Some(Step::Field { slot }) = steps.last() {
                // `$host$request_uri`: a path variable always starts with `/`, which ends the
                // field before it (a host or scheme has none).
                if starts_with_slash(name) && never_has_slash(&slots[*slot as usize].name) {
                    let slot = push_slot(&mut slots, &mut index, name);
                    steps.push(Step::Field { slot });
                    i = next;
                    continue;
                }
                return Err(err(
                    i,
                    format!(
                        "variables ${} and ${} have no text between them, so their values cannot be told apart",
                        slots[*slot as usize].name, name
                    ),
                ));
            }
            let slot = push_slot(&mut slots, &mut index, name);
            steps.push(Step::Field { slot });
            i = next;
        }
        if !literal.is_empty() {
            steps.push(literal_step(literal));
        }
        if slots.is_empty() {
            let word = !format.is_empty()
                && format
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            return Err(err(
                0,
                if word {
                    format!("unknown preset {format:?}: the presets are auto, {}; a log_format string needs $variables", PRESETS.join(", "))
                } else {
                    "the format has no $variables".into()
                },
            ));
        }
        if slots.len() > u16::MAX as usize {
            return Err(err(0, "too many variables".into()));
        }
        Ok(StepFormat {
            #[cfg(test)]
            source: format.to_string(),
            steps,
            slots,
            index,
            escape,
        })
    }

    /// The format string this was compiled from.
    #[cfg(test)]
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    #[inline]
    fn match_line(&self, line: &[u8], out: &mut Fields) -> Result<(), Mismatch> {
        out.spans.clear();
        out.spans.resize(self.slots.len(), None);
        out.extra.clear();
        let mut pos = 0usize;
        let mut k = 0;
        while let Some(step) = self.steps.get(k) {
            match step {
                Step::Literal(lit) => {
                    if !lit.at(line, pos) {
                        return Err(Mismatch {
                            offset: pos,
                            reason: "expected literal text of the format here",
                            step: k as u16,
                        });
                    }
                    pos += lit.text.len();
                    k += 1;
                }
                Step::Field { slot } => {
                    let (end, next, steps) = match self.steps.get(k + 1) {
                        Some(Step::Literal(lit)) => {
                            let at = lit.find(line, pos).ok_or(Mismatch {
                                offset: pos,
                                reason: "the text that should follow this field is missing",
                                step: (k + 1) as u16,
                            })?;
                            // The literal was verified where it was found: step over it too.
                            (at, at + lit.text.len(), 2)
                        }
                        // A path variable follows directly: this field ends at its `/`.
                        Some(Step::Field { .. }) => {
                            let at = memchr::memchr(b'/', &line[pos.min(line.len())..])
                                .map(|i| pos + i)
                                .ok_or(Mismatch::new(
                                    pos,
                                    "no `/` where the path variable that follows should start",
                                ))?;
                            (at, at, 1)
                        }
                        None => (line.len(), line.len(), 1),
                    };
                    if let Some(s) = out.spans.get_mut(*slot as usize) {
                        *s = Some(Span {
                            start: pos as u32,
                            end: end as u32,
                        });
                    }
                    k += steps;
                    pos = next;
                }
            }
        }
        // Text after the last literal is accepted, as Vector, Beats and Datadog do for
        // `combined` (many setups append fields to a preset); --format auto tries the longer
        // presets first, so a ws_timing line is still read as ws_timing.
        Ok(())
    }

    /// Says which field and which expected text a mismatch refers to.
    fn explain(&self, m: &Mismatch) -> Option<String> {
        let k = usize::from(m.step);
        if m.step == NO_STEP || k >= self.steps.len() {
            return None;
        }
        let field_before = |k: usize| match k.checked_sub(1).and_then(|j| self.steps.get(j)) {
            Some(Step::Field { slot }) => self
                .slots
                .get(usize::from(*slot))
                .map(|s| format!("${}", s.name)),
            _ => None,
        };
        let Step::Literal(lit) = &self.steps[k] else {
            return None;
        };
        let text = String::from_utf8_lossy(&lit.text);
        Some(match field_before(k) {
            Some(field) => format!("expected `{text}` after {field}"),
            None if k == 0 => format!("expected the line to start with `{text}`"),
            None => format!("expected `{text}`"),
        })
    }
}

/// Variables whose value never contains `/` (host names, schemes, ports): a path variable may
/// follow them directly, since its first `/` ends them.
fn never_has_slash(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "http_host"
            | "server_name"
            | "hostname"
            | "scheme"
            | "server_addr"
            | "server_port"
            | "proxy_host"
    )
}

/// Variables whose value always starts with `/`, so they can follow another variable directly.
fn starts_with_slash(name: &str) -> bool {
    matches!(name, "request_uri" | "uri" | "document_uri")
}

/// Literal text between fields, with its first eight bytes preloaded for a one-word compare.
#[derive(Clone, Debug)]
struct Literal {
    text: Vec<u8>,
    head: u64,
    mask: u64,
}

fn literal_step(text: Vec<u8>) -> Step {
    let n = text.len().min(8);
    let mut word = [0u8; 8];
    word[..n].copy_from_slice(&text[..n]);
    let mask = if n == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * n)) - 1
    };
    Step::Literal(Literal {
        head: u64::from_le_bytes(word),
        mask,
        text,
    })
}

impl Literal {
    /// Whether the literal occurs at `at`.
    #[inline(always)]
    fn at(&self, line: &[u8], at: usize) -> bool {
        let Some(rest) = line.get(at..) else {
            return false;
        };
        match rest.get(..8) {
            Some(w8) => {
                let mut word = [0u8; 8];
                word.copy_from_slice(w8);
                u64::from_le_bytes(word) & self.mask == self.head
                    && (self.text.len() <= 8 || rest.get(8..self.text.len()) == self.text.get(8..))
            }
            None => rest.get(..self.text.len()) == Some(&self.text[..]),
        }
    }

    /// The next occurrence at or after `pos`; a literal starting with `"` is skipped where the
    /// quote is backslash-escaped inside the field.
    #[inline(always)]
    fn find(&self, line: &[u8], pos: usize) -> Option<usize> {
        let first = *self.text.first()?;
        let mut from = pos;
        loop {
            let at = find_byte(line, from, first)?;
            if self.at(line, at)
                && !(first == b'"' && escaped_at(line, pos, at))
                && !(first == b' ' && inside_list(line, pos, at))
            {
                return Some(at);
            }
            from = at + 1;
        }
    }
}

/// Whether the space at `at` separates entries of an nginx value list rather than ending the
/// field: upstream variables log retries as `a, b` and upstream groups as `a : b`, unquoted.
#[inline(always)]
fn inside_list(line: &[u8], start: usize, at: usize) -> bool {
    at > start
        && (line[at - 1] == b','
            || (line.get(at + 1) == Some(&b':') && line.get(at + 2) == Some(&b' '))
            || (line[at - 1] == b':' && at >= start + 2 && line[at - 2] == b' '))
}

/// Position of `b` at or after `from`. Most fields are a few bytes long, where a call into a
/// general search costs more than it saves: the first 64 bytes are compared 16 at a time (SSE2,
/// always present on x86_64; eight at a time with a SWAR zero-byte test elsewhere), the rest of
/// long fields with `memchr`.
#[inline(always)]
fn find_byte(line: &[u8], from: usize, b: u8) -> Option<usize> {
    let rest = line.get(from..)?;
    let head = rest.len().min(64);
    let (found, scanned) = find_in_head(&rest[..head], b);
    if let Some(i) = found {
        return Some(from + i);
    }
    if let Some(p) = rest[scanned..head].iter().position(|&c| c == b) {
        return Some(from + scanned + p);
    }
    memchr::memchr(b, &rest[head..]).map(|p| from + head + p)
}

/// Searches whole 16-byte blocks of `h`; returns the hit and how many bytes were scanned.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn find_in_head(h: &[u8], b: u8) -> (Option<usize>, usize) {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let mut i = 0;
    while i + 16 <= h.len() {
        // SAFETY: SSE2 is part of the x86_64 baseline, and `i + 16 <= h.len()` keeps the
        // unaligned 16-byte load inside the slice.
        let mask = unsafe {
            let block = _mm_loadu_si128(h.as_ptr().add(i).cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(block, _mm_set1_epi8(b as i8)))
        };
        if mask != 0 {
            return (Some(i + mask.trailing_zeros() as usize), i);
        }
        i += 16;
    }
    (None, i)
}

/// Searches whole 8-byte words of `h` with a SWAR zero-byte test.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn find_in_head(h: &[u8], b: u8) -> (Option<usize>, usize) {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pat = LO.wrapping_mul(u64::from(b));
    let mut i = 0;
    for c in h.chunks_exact(8) {
        let w = u64::from_le_bytes(<[u8; 8]>::try_from(c).unwrap_or([0; 8])) ^ pat;
        let t = w.wrapping_sub(LO) & !w & HI;
        if t != 0 {
            return (Some(i + (t.trailing_zeros() / 8) as usize), i);
        }
        i += 8;
    }
    (None, i)
}

/// `$name` or `${name}` and nothing else: the variable's name.
fn single_variable(v: &[u8]) -> Option<&str> {
    let name = v.strip_prefix(b"$")?;
    let name = match name.strip_prefix(b"{") {
        Some(inner) => inner.strip_suffix(b"}")?,
        None => name,
    };
    if name.is_empty() || !name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') {
        return None;
    }
    std::str::from_utf8(name).ok()
}

/// Whether the byte at `at` is preceded by an odd run of backslashes (within the field).
#[inline]
fn escaped_at(line: &[u8], start: usize, at: usize) -> bool {
    let mut n = 0;
    let mut i = at;
    while i > start && line[i - 1] == b'\\' {
        n += 1;
        i -= 1;
    }
    n % 2 == 1
}

impl JsonFormat {
    /// Maps each `"key": "$var"` / `"key": $var` of an nginx JSON template to the variable, so
    /// lines keyed `"code"` or `"req"` still fill `$status` and `$request`.
    pub(crate) fn from_template(template: &str) -> JsonFormat {
        let mut f = JsonFormat::default();
        let b = template.as_bytes();
        let mut i = 0;
        // Each round reads `"key": value` and steps past the whole value, so constants and
        // values of several parts never put the scan out of step.
        while let Some(q) = memchr::memchr(b'"', &b[i..]).map(|q| i + q) {
            let Some(kend) = memchr::memchr(b'"', &b[q + 1..]).map(|k| q + 1 + k) else {
                break;
            };
            let key = &b[q + 1..kend];
            let j = skip_ws(b, kend + 1);
            if b.get(j) != Some(&b':') {
                i = kend + 1;
                continue;
            }
            let v = skip_ws(b, j + 1);
            let (value, next) = if b.get(v) == Some(&b'"') {
                let end = json_string_end(b, v + 1).unwrap_or(b.len());
                (&b[v + 1..end], end + 1)
            } else {
                let end = b[v..]
                    .iter()
                    .position(|c| matches!(c, b',' | b'}'))
                    .map_or(b.len(), |p| v + p);
                (crate::parse::values::trim(&b[v..end]), end)
            };
            if let Some(var) = single_variable(value) {
                let slot = push_slot(&mut f.slots, &mut f.index, var);
                f.keys.push((key.to_vec(), slot));
            }
            i = next.min(b.len());
        }
        f
    }

    fn slot_for_key(&mut self, key: &[u8]) -> Option<u16> {
        if let Some((_, slot)) = self.keys.iter().find(|(k, _)| k == key) {
            return Some(*slot);
        }
        let key = key.strip_prefix(b"$").unwrap_or(key);
        if let Some(i) = self.slots.iter().position(|s| s.name.as_bytes() == key) {
            return Some(i as u16);
        }
        // New keys become slots (bounded) so later lines find them without allocating.
        if self.slots.len() >= 256 {
            return None;
        }
        let name = std::str::from_utf8(key).ok()?;
        Some(push_slot(&mut self.slots, &mut self.index, name))
    }

    fn match_line(&mut self, line: &[u8], out: &mut Fields) -> Result<(), Mismatch> {
        out.spans.clear();
        out.spans.resize(self.slots.len(), None);
        out.extra.clear();
        let bad = Mismatch::new;
        let mut i = skip_ws(line, 0);
        if line.get(i) != Some(&b'{') {
            return Err(bad(i, "expected a JSON object"));
        }
        i = skip_ws(line, i + 1);
        if line.get(i) == Some(&b'}') {
            return Ok(());
        }
        loop {
            if line.get(i) != Some(&b'"') {
                return Err(bad(i, "expected a JSON key"));
            }
            let key_end = json_string_end(line, i + 1).ok_or(bad(i, "unterminated JSON key"))?;
            let key = Span {
                start: (i + 1) as u32,
                end: key_end as u32,
            };
            i = skip_ws(line, key_end + 1);
            if line.get(i) != Some(&b':') {
                return Err(bad(i, "expected `:` after a JSON key"));
            }
            i = skip_ws(line, i + 1);
            let (value, next) = match line.get(i) {
                Some(b'"') => {
                    let end =
                        json_string_end(line, i + 1).ok_or(bad(i, "unterminated JSON string"))?;
                    (
                        Span {
                            start: (i + 1) as u32,
                            end: end as u32,
                        },
                        end + 1,
                    )
                }
                Some(b'{') | Some(b'[') => {
                    return Err(bad(i, "nested JSON values are not nginx log fields"))
                }
                Some(_) => {
                    let end = line[i..]
                        .iter()
                        .position(|&b| matches!(b, b',' | b'}' | b' ' | b'\t'))
                        .map_or(line.len(), |p| i + p);
                    if end == i {
                        return Err(bad(i, "expected a JSON value"));
                    }
                    (
                        Span {
                            start: i as u32,
                            end: end as u32,
                        },
                        end,
                    )
                }
                None => return Err(bad(i, "line ends inside a JSON object")),
            };
            match self.slot_for_key(key.of(line)) {
                Some(slot) => {
                    let slot = slot as usize;
                    if slot >= out.spans.len() {
                        out.spans.resize(slot + 1, None);
                    }
                    out.spans[slot] = Some(value);
                }
                None => out.extra.push((key, value)),
            }
            i = skip_ws(line, next);
            match line.get(i) {
                Some(b',') => i = skip_ws(line, i + 1),
                Some(b'}') => return Ok(()),
                _ => return Err(bad(i, "expected `,` or `}` in JSON object")),
            }
        }
    }
}

#[inline]
fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && matches!(line[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// Index of the closing quote of a JSON string whose content starts at `i`.
#[inline]
fn json_string_end(line: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let at = i + memchr::memchr2(b'"', b'\\', &line[i..])?;
        if line[at] == b'"' {
            return Some(at);
        }
        i = at + 2;
        if i > line.len() {
            return None;
        }
    }
}

impl RegexFormat {
    fn match_line(&self, line: &[u8], out: &mut Fields) -> Result<(), Mismatch> {
        out.spans.clear();
        out.spans.resize(self.slots.len(), None);
        out.extra.clear();
        let locs = out.locs.get_or_insert_with(|| self.re.capture_locations());
        if self.re.captures_read(locs, line).is_none() {
            return Err(Mismatch::new(
                0,
                "the line does not match the --regex pattern",
            ));
        }
        let mut slot = 0;
        for (group, name) in self.re.capture_names().enumerate() {
            if name.is_some() {
                if let Some((s, e)) = locs.get(group) {
                    out.spans[slot] = Some(Span {
                        start: s as u32,
                        end: e as u32,
                    });
                }
                slot += 1;
            }
        }
        Ok(())
    }
}

/// Decodes nginx's escapes of a value (`\xHH` and, with `escape=json`, `\uXXXX` including
/// surrogate pairs, `\"`, `\\`, `\/`, `\n`, `\t`, `\r`, `\b`, `\f`); anything else is kept
/// as written.
pub(crate) fn decode(raw: &[u8], escape: Escape) -> std::borrow::Cow<'_, [u8]> {
    if memchr::memchr(b'\\', raw).is_none() {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    decode_into(raw, escape, &mut out);
    std::borrow::Cow::Owned(out)
}

/// [`decode`] into a reused buffer: the one decoder for both escape styles, so the label path
/// (no allocation per line) and the printed value cannot disagree. A lone or reversed UTF-16
/// surrogate becomes U+FFFD, as invalid UTF-8 does.
pub(crate) fn decode_into(raw: &[u8], escape: Escape, out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\\', &raw[i..]) {
        out.extend_from_slice(&raw[i..i + off]);
        i += off;
        let rest = &raw[i..];
        let json = escape == Escape::Json;
        let (bytes, used): (&[u8], usize) = match rest.get(1) {
            Some(b'x') => match hex2(&rest[2..]) {
                Some(b) => {
                    out.push(b);
                    i += 4;
                    continue;
                }
                None => (b"\\", 1),
            },
            Some(b'u') if json => match (hex4(&rest[2..]), rest.get(6..8)) {
                (Some(hi @ 0xD800..=0xDBFF), Some(br"\u")) => match hex4(&rest[8..]) {
                    Some(lo @ 0xDC00..=0xDFFF) => {
                        let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        push_char(out, char::from_u32(c).unwrap_or('\u{FFFD}'));
                        i += 12;
                        continue;
                    }
                    _ => ("\u{FFFD}".as_bytes(), 6),
                },
                (Some(u), _) => {
                    push_char(out, char::from_u32(u).unwrap_or('\u{FFFD}'));
                    i += 6;
                    continue;
                }
                (None, _) => (b"\\", 1),
            },
            Some(b'"') => (b"\"", 2),
            Some(b'\\') => (b"\\", 2),
            Some(b'/') if json => (b"/", 2),
            Some(b'n') if json => (b"\n", 2),
            Some(b't') if json => (b"\t", 2),
            Some(b'r') if json => (b"\r", 2),
            Some(b'b') if json => (b"\x08", 2),
            Some(b'f') if json => (b"\x0c", 2),
            _ => (b"\\", 1),
        };
        out.extend_from_slice(bytes);
        i += used;
    }
    out.extend_from_slice(&raw[i..]);
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut b = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
}

/// Four hex digits (a `\uXXXX` code unit).
fn hex4(s: &[u8]) -> Option<u32> {
    Some(((hex2(s)? as u32) << 8) | hex2(s.get(2..)?)? as u32)
}

fn hex2(s: &[u8]) -> Option<u8> {
    let h = |c: u8| (c as char).to_digit(16);
    Some((h(*s.first()?)? * 16 + h(*s.get(1)?)?) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(fmt: &str, line: &str) -> Result<Vec<(String, String)>, Mismatch> {
        let mut f = LineFormat::compile(fmt).expect("format compiles");
        let mut out = Fields::default();
        f.match_line(line.as_bytes(), &mut out)?;
        Ok(f.slots()
            .iter()
            .zip(&out.spans)
            .map(|(s, sp)| {
                let v = sp.map(|sp| sp.of(line.as_bytes())).unwrap_or(b"");
                (s.name.clone(), String::from_utf8_lossy(v).into_owned())
            })
            .collect())
    }

    fn get(v: &[(String, String)], k: &str) -> String {
        v.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    #[test]
    fn combined_with_ipv6_and_spaces_in_agent() {
        let v = fields(
            "combined",
            r#"2001:db8::1 - - [28/Nov/2026:01:53:32 +0000] "GET /a?b=1 HTTP/2.0" 200 12 "-" "Mozilla/5.0 (X11; Linux x86_64) \"q\"""#,
        )
        .expect("matches");
        assert_eq!(get(&v, "remote_addr"), "2001:db8::1");
        assert_eq!(get(&v, "request"), "GET /a?b=1 HTTP/2.0");
        assert_eq!(
            get(&v, "http_user_agent"),
            r#"Mozilla/5.0 (X11; Linux x86_64) \"q\""#
        );
    }

    #[test]
    fn xff_list_in_remote_addr() {
        let v = fields(
            "combined",
            r#"10.0.0.2, 10.0.0.1, 127.0.0.1 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot HTTP/1.1" 200 571 "-" "Mozilla/5.0""#,
        )
        .expect("matches");
        assert_eq!(get(&v, "remote_addr"), "10.0.0.2, 10.0.0.1, 127.0.0.1");
    }

    #[test]
    fn braces_and_unknown_vars_kept_by_name() {
        let v =
            fields("${remote_addr}|$foo_bar|${status}x", "1.2.3.4|hello|404x").expect("matches");
        assert_eq!(get(&v, "foo_bar"), "hello");
        assert_eq!(get(&v, "status"), "404");
    }

    #[test]
    fn unquoted_upstream_lists_stay_whole() {
        let v = fields(
            "$upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id",
            "172.17.0.6:8080, 172.17.0.7:8080 61, 100 0.100, 0.004 : 0.002 200, 203 : 200 abc",
        )
        .expect("matches");
        assert_eq!(get(&v, "upstream_addr"), "172.17.0.6:8080, 172.17.0.7:8080");
        assert_eq!(get(&v, "upstream_response_length"), "61, 100");
        assert_eq!(get(&v, "upstream_response_time"), "0.100, 0.004 : 0.002");
        assert_eq!(get(&v, "upstream_status"), "200, 203 : 200");
        assert_eq!(get(&v, "req_id"), "abc");
    }

    #[test]
    fn adjacent_variables_are_rejected_with_position() {
        let e = LineFormat::compile("$remote_addr$status").expect_err("must fail");
        assert_eq!(e.offset, 12);
        assert!(e.reason.contains("no text between"), "{}", e.reason);
    }

    #[test]
    fn a_path_variable_may_follow_another_variable_directly() {
        let v = fields(
            "$time_iso8601 $request_method $scheme://$host$request_uri $status",
            "2026-11-28T01:53:32+00:00 GET https://api.example.com/ws/chat?token=x 403",
        )
        .expect("matches");
        assert_eq!(get(&v, "scheme"), "https");
        assert_eq!(get(&v, "host"), "api.example.com");
        assert_eq!(get(&v, "request_uri"), "/ws/chat?token=x");
        assert_eq!(get(&v, "status"), "403");
        // The path variable last in the format, and a missing `/`.
        let v = fields("$host$uri", "example.com/a/b").expect("matches");
        assert_eq!(get(&v, "host"), "example.com");
        assert_eq!(get(&v, "uri"), "/a/b");
        assert!(fields("$host$uri", "example.com").is_err());
        // Two path variables, or a variable that may hold a `/`, cannot be told apart.
        assert!(LineFormat::compile("$uri$request_uri").is_err());
        assert!(LineFormat::compile("$http_x_forwarded_prefix$uri").is_err());
    }

    #[test]
    fn a_pasted_json_template_maps_its_keys_to_variables() {
        let mut f = LineFormat::compile(
            r#"log_format j escape=json '{"type":"access","time":"$time_iso8601","req":"$request",'
                 '"url":"$scheme://$host$request_uri","v":1,'
                 '"code":$status, "uht":"${upstream_header_time}", "mixed":"$host:$server_port"}';"#,
        )
        .expect("compiles");
        let line = br#"{"type":"access","time":"2026-11-28T01:53:32+00:00","req":"GET /ws/chat?t=1 HTTP/1.1","url":"http://a/ws/chat?t=1","v":1,"code":403,"uht":"0.002","mixed":"a:80"}"#;
        let mut out = Fields::default();
        f.match_line(line, &mut out).expect("matches");
        let rec = crate::parse::access::AccessRecord::new(line, &f, &out);
        assert_eq!(rec.status(), Some(403));
        assert_eq!(rec.request().target, Some(&b"/ws/chat?t=1"[..]));
        assert_eq!(rec.raw(Var::UpstreamHeaderTime), Some(&b"0.002"[..]));
        assert!(rec.time().is_some());
    }

    #[test]
    fn nginx_conf_directive_is_accepted() {
        let f = LineFormat::compile(
            "log_format ws '$remote_addr [$time_local] '\n   '\"$request\" $status';",
        )
        .expect("compiles");
        match f {
            LineFormat::Steps(s) => assert_eq!(
                s.source(),
                "$remote_addr [$time_local] \"$request\" $status"
            ),
            _ => panic!("expected steps"),
        }
        assert!(matches!(
            LineFormat::compile("log_format j escape=json '{\"status\":\"$status\"}';"),
            Ok(LineFormat::Json(_))
        ));
    }

    #[test]
    fn mismatch_reports_offset() {
        let e = fields("combined", "not a log line").expect_err("mismatch");
        assert!(e.offset <= 14);
    }

    #[test]
    fn json_lines_any_key_order_and_escapes() {
        let v = fields(
            "json",
            r#"{"status": 101, "request":"GET /ws/chat?token=a HTTP/1.1","http_user_agent":"a \"b\" \\ c"}"#,
        )
        .expect("matches");
        assert_eq!(get(&v, "status"), "101");
        assert_eq!(get(&v, "http_user_agent"), r#"a \"b\" \\ c"#);
        assert!(fields("json", r#"{"status": "#).is_err());
        assert!(fields("json", "plain text").is_err());
    }

    #[test]
    fn find_byte_agrees_with_a_plain_scan() {
        let hay: Vec<u8> = (0..200u32).map(|i| (i * 7 % 13) as u8 + b'a').collect();
        for from in 0..hay.len() {
            for b in b'a'..b'o' {
                let want = hay[from..].iter().position(|&c| c == b).map(|p| p + from);
                assert_eq!(find_byte(&hay, from, b), want, "from {from} byte {b}");
            }
        }
        assert_eq!(find_byte(b"ab", 5, b'a'), None);
        assert_eq!(find_byte(&[0x80, 0x81, 0x22], 0, 0x22), Some(2));
    }

    #[test]
    fn decode_handles_both_escapes() {
        assert_eq!(&*decode(br"a\x22b\x5C", Escape::Default), b"a\"b\\");
        assert_eq!(
            &*decode(br#"a\"b\u00e9\\"#, Escape::Json),
            "a\"b\u{e9}\\".as_bytes()
        );
        assert_eq!(&*decode(br"trailing\", Escape::Default), br"trailing\");
        assert_eq!(&*decode(br"\x4", Escape::Default), br"\x4");
    }

    #[test]
    fn json_escapes_and_surrogate_pairs_decode() {
        let j = |s: &[u8]| String::from_utf8_lossy(&decode(s, Escape::Json)).into_owned();
        assert_eq!(j(br"a\ud83d\ude00b"), "a\u{1F600}b");
        assert_eq!(j(br"\uD83D\uDE00"), "\u{1F600}");
        assert_eq!(j(br#"\n\t\r\b\f\/\"\\"#), "\n\t\r\u{8}\u{c}/\"\\");
        // Lone, reversed or cut surrogates are U+FFFD, the rest of the value is kept.
        assert_eq!(j(br"a\ud83dx"), "a\u{FFFD}x");
        assert_eq!(j(br"\ude00\ud83d"), "\u{FFFD}\u{FFFD}");
        assert_eq!(j(br"\ud83d\u0041"), "\u{FFFD}A");
        assert_eq!(j(br"\ud83d\ude"), "\u{FFFD}\\ude");
        assert_eq!(j(br"\u12"), "\\u12");
        assert_eq!(j(br"\q"), "\\q");
        // The default style knows only `\xHH`, `\"` and `\\`.
        assert_eq!(&*decode(br"\n\u0041\x41", Escape::Default), br"\n\u0041A");
    }

    #[test]
    fn regex_escape_hatch() {
        let mut f = LineFormat::compile_regex(r"^(?P<status>\d+) (?P<request>.*)$").expect("ok");
        let mut out = Fields::default();
        f.match_line(b"200 GET / HTTP/1.1", &mut out)
            .expect("matches");
        assert_eq!(f.slot_of(Var::Status), Some(0));
        assert!(LineFormat::compile_regex("(a)").is_err());
    }
}
