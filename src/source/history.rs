//! Historical logs for `backfill` and `compare`: plain and gzip files, given in any order, read
//! through the same parse + classify [`Pipeline`] as live tailing and merged into one stream of
//! events in time order.
//!
//! Why it is built this way:
//! - **Same numbers as `run`.** Every line goes through [`Pipeline::feed`] with the classifier the
//!   command line describes; only the source (files read whole) and the sink differ. There is no
//!   second parser.
//! - **Any order, any compression.** A file is gzip when it starts with the gzip magic bytes
//!   (whatever its name); concatenated gzip members (`gzip -c part >> x.gz`) are read in full.
//!   Before reading, every file is probed (its first lines parsed) for its first timestamp, and
//!   files are opened in that order. `access.log.2.gz access.log access.log.1` therefore reads
//!   like the one file they were rotated from.
//! - **Handshake time.** nginx writes a 101 line when the WebSocket closes; the sink is given
//!   its handshake time ([`Event::time`]: logged time minus `$request_time`), so refusals and
//!   101s of the same moment land on the same side of a split. The merge itself orders by the
//!   logged time, which keeps each file nearly sorted.
//! - **Time order.** Files are merged like a k-way merge sort: the next event is always taken
//!   from the open file whose next line is the oldest; a file joins the merge when the merge
//!   reaches its first timestamp. Within a file lines keep their order (nginx writes them
//!   almost, not strictly, in time order); a line without a time (malformed, or an error-log
//!   continuation) keeps the time of the line before it.
//! - **Every core, bounded memory.** A reader thread per open file reads (and decompresses)
//!   chunks of whole lines; a pool of `--threads` workers parses and classifies chunks in
//!   parallel; the merge re-assembles each file's chunks in order. Each file has a fixed number
//!   of chunk buffers in flight (recycled, never more), so memory depends on the chunk size and
//!   the number of files open at once (about 1.5 MB each), not on the input size. Rotated files
//!   do not overlap in time, so usually one or two are open at once; the next file's reader
//!   starts early so its decompression overlaps the current file's parsing. Error logs are
//!   parsed by their reader thread in order, because a multi-line error message must not be split
//!   between two workers.
//! - **Wrong format is an error, not noise.** If most probed lines of a file do not parse (a
//!   `combined` log given with `--format ws_timing`, an error log given as an access log), the
//!   file is named and nothing is produced; after the run, a file whose lines were mostly
//!   malformed fails the command the same way. Malformed lines are counted (as in `run`) and the
//!   first few are reported as `FILE:LINE: reason`, without their content (it may hold tokens).
//! - **Path labels** are interned per worker and translated to one global [`PathLabels`] with
//!   the same `--max-paths` cap. Past the cap, which paths keep their own label depends on the
//!   order workers first meet them (as in live mode it depends on arrival order).

use crate::classify::route::{LabelId, PathLabels};
use crate::classify::Classifier;
use crate::framing::{Frame, Rule, SliceFrames};
pub(crate) use crate::pipeline::Phase;
use crate::pipeline::{Counted, Event, LogId, LogKind, Notice, Origin, Outcome, Pipeline, Sink};
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Mutex;

/// One file to read.
#[derive(Clone, Debug)]
pub(crate) struct Input {
    /// The file, plain or gzip.
    pub(crate) path: PathBuf,
    /// Which parser its lines go through.
    pub(crate) kind: LogKind,
    /// Where its lines count in `compare`.
    pub(crate) phase: Phase,
}

/// Reading settings.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// Parser threads (the workers); readers and the merge run beside them.
    pub(crate) threads: usize,
    /// Longest line accepted (`--max-line-bytes`); longer lines are malformed.
    pub(crate) max_line: usize,
    /// Bytes of whole lines per chunk handed to a worker.
    pub(crate) chunk_bytes: usize,
    /// Chunks in flight per open file (the memory bound).
    pub(crate) chunks_in_flight: usize,
    /// Lines parsed from the start of each file to find its first time and check its format.
    pub(crate) probe_lines: usize,
}

impl Options {
    /// Defaults for `threads` workers.
    pub(crate) fn new(threads: usize, max_line: usize) -> Options {
        let threads = threads.max(1);
        Options {
            threads,
            max_line,
            chunk_bytes: 256 * 1024,
            chunks_in_flight: threads + 2,
            probe_lines: 1000,
        }
    }
}

/// The number of cores, the default for `--threads`.
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What the merge knows of the file a line came from (a sink receives it as an [`Origin`]).
#[derive(Clone, Debug)]
pub(crate) struct FileMeta {
    /// Index into the files given.
    pub(crate) index: usize,
    /// The log (rotation group) the file belongs to, index into [`HistoryReader::logs`].
    pub(crate) log: LogId,
    /// Access or error log.
    pub(crate) kind: LogKind,
    /// Where its lines count in `compare`.
    pub(crate) phase: Phase,
}

impl FileMeta {
    /// Where a line of this file comes from, and when it counts.
    #[inline]
    fn origin(&self, time: Option<f64>, clock: Option<f64>) -> Origin {
        Origin {
            log: self.log,
            kind: self.kind,
            file: self.index,
            phase: self.phase,
            time,
            clock,
        }
    }
}

/// A log as metrics name it: rotated files of one log (`access.log`, `access.log.1`,
/// `access.log.2.gz`) are one log, so its counters continue across the rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogGroup {
    /// The `log` label: the file name as given, without rotation suffixes.
    pub(crate) name: String,
    /// Access or error log.
    pub(crate) kind: LogKind,
}

/// A file and, after [`HistoryReader::run`], what was read from it.
#[derive(Clone, Debug)]
pub(crate) struct FileInfo {
    /// What sinks see of the file.
    pub(crate) meta: FileMeta,
    /// The file as given.
    pub(crate) path: PathBuf,
    /// Whether it was read through gzip (detected by content).
    pub(crate) gzip: bool,
    /// Time of the first line that has one (from the probe).
    pub(crate) first_time: Option<f64>,
    /// The preset `--format auto` found in the file's first lines (from the probe).
    pub(crate) detected_format: Option<&'static str>,
    /// Its access format logs `$request_time`; without it a 101 stays at its close time.
    pub(crate) logs_request_time: bool,
    /// Lines read.
    pub(crate) lines: u64,
    /// Lines that did not parse.
    pub(crate) malformed: u64,
    /// The first malformed lines: (1-based line number, reason).
    pub(crate) malformed_examples: Vec<(u64, &'static str)>,
}

/// The name of the log a (possibly rotated) file belongs to: `.gz`, then a numeric rotation
/// suffix (`.1`) or a logrotate date suffix (`-20261129`) are removed.
pub(crate) fn log_group_name(path: &str) -> &str {
    let mut p = path.strip_suffix(".gz").unwrap_or(path);
    if let Some((head, tail)) = p.rsplit_once('.') {
        if !tail.is_empty()
            && tail.bytes().all(|b| b.is_ascii_digit())
            && !head.ends_with('/')
            && !head.is_empty()
        {
            p = head;
        }
    }
    if let Some((head, tail)) = p.rsplit_once('-') {
        if matches!(tail.len(), 8 | 10)
            && tail.bytes().all(|b| b.is_ascii_digit())
            && !head.is_empty()
        {
            p = head;
        }
    }
    p
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens a file, decompressing when it starts with the gzip magic bytes.
pub(crate) fn open(path: &Path) -> io::Result<(Box<dyn Read + Send>, bool)> {
    let mut f = File::open(path)?;
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match f.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = io::Cursor::new(magic[..got].to_vec());
    let r = head.chain(f);
    if got == 2 && magic == GZIP_MAGIC {
        let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, r));
        Ok((Box::new(gz), true))
    } else {
        Ok((Box::new(r), false))
    }
}

/// A chunk of whole lines and, once parsed, their events. Buffers circulate between the reader,
/// a worker and the merge, and are reused.
#[derive(Debug, Default)]
struct Chunk {
    data: Vec<u8>,
    /// A line longer than the chunk buffer was skipped before `data`; its length.
    oversized_lead: Option<u64>,
    events: Vec<Event>,
    lines: u64,
    malformed: u64,
    /// (0-based line index in the chunk, reason), the first few.
    malformed_examples: Vec<(u64, &'static str)>,
}

const EXAMPLES: usize = 5;

enum Msg {
    Chunk(u64, Chunk),
    /// The reader is done after this many chunks.
    End(u64),
    Failed(String),
}

struct Job {
    seq: u64,
    /// Index of the file the chunk comes from: the pipeline's log id, so `--format auto`
    /// detects each file's format on its own.
    file: usize,
    kind: LogKind,
    chunk: Chunk,
    reply: Sender<Msg>,
}

/// The sink of the shared pipeline inside a worker: collects events with path labels translated
/// to the global label table.
struct ChunkSink<'g> {
    events: Vec<Event>,
    /// Labels below this id (the reserved ones and `--route` patterns) are the same everywhere.
    fixed: LabelId,
    /// Local label id -> global id (`LabelId::MAX` when not looked up yet).
    map: Vec<LabelId>,
    global: &'g Mutex<PathLabels>,
}

impl ChunkSink<'_> {
    /// The global id of a worker-local path label.
    #[inline]
    fn global_id(&mut self, local: LabelId, labels: &PathLabels) -> LabelId {
        if local < self.fixed {
            return local;
        }
        let i = local as usize;
        if let Some(&g) = self.map.get(i) {
            if g != LabelId::MAX {
                return g;
            }
        }
        let g = match self.global.lock() {
            Ok(mut global) => global.label(labels.name(local).as_bytes()),
            Err(_) => crate::classify::route::OTHER,
        };
        if i >= self.map.len() {
            self.map.resize(i + 1, LabelId::MAX);
        }
        self.map[i] = g;
        g
    }

    /// Rewrites the path ids of the collected events from the worker's labels to the global
    /// table (a worker's ids only grow, so this can wait until the chunk is parsed).
    fn globalise(&mut self, labels: &PathLabels) {
        let mut events = std::mem::take(&mut self.events);
        for ev in &mut events {
            match ev {
                Event::Access(a) => a.path = self.global_id(a.path, labels),
                Event::Error(e) => e.path = e.path.map(|p| self.global_id(p, labels)),
                Event::Malformed | Event::Continuation => {}
            }
        }
        self.events = events;
    }
}

impl Sink for ChunkSink<'_> {
    type Error = Infallible;

    #[inline]
    fn line(&mut self, _at: &Origin, event: &Event) -> Result<Counted, Infallible> {
        self.events.push(*event);
        Ok(Counted::Yes)
    }
}

fn chunk_pipeline(classifier: Classifier, global: &Mutex<PathLabels>) -> Pipeline<ChunkSink<'_>> {
    let fixed = fixed_labels(&classifier);
    Pipeline::new(
        classifier,
        ChunkSink {
            events: Vec::new(),
            fixed,
            map: Vec::new(),
            global,
        },
    )
}

/// Labels that exist before any line is read (`__other__`, `__invalid__`, the routes).
fn fixed_labels(c: &Classifier) -> LabelId {
    c.labels.len() as LabelId
}

/// Parses and classifies the lines of a chunk through the shared pipeline.
fn parse_chunk(
    p: &mut Pipeline<ChunkSink<'_>>,
    file: usize,
    kind: LogKind,
    max_line: usize,
    chunk: &mut Chunk,
) {
    std::mem::swap(&mut p.sink.events, &mut chunk.events);
    p.sink.events.clear();
    chunk.lines = 0;
    chunk.malformed = 0;
    chunk.malformed_examples.clear();
    let note = |chunk_lines: u64, outcome: Outcome, c: &mut (u64, Vec<(u64, &'static str)>)| {
        if let Outcome::Malformed(reason) = outcome {
            c.0 += 1;
            if c.1.len() < EXAMPLES {
                c.1.push((chunk_lines, reason));
            }
        }
    };
    let mut bad = (0u64, std::mem::take(&mut chunk.malformed_examples));
    let mut n = 0u64;
    if let Some(len) = chunk.oversized_lead {
        let o = p.feed(file, kind, Frame::Oversized(len));
        note(n, o, &mut bad);
        n += 1;
    }
    for frame in SliceFrames::new(&chunk.data, Rule::new(max_line)) {
        let o = p.feed(file, kind, frame);
        note(n, o, &mut bad);
        n += 1;
    }
    p.sink.globalise(&p.classifier.labels);
    chunk.lines = n;
    chunk.malformed = bad.0;
    chunk.malformed_examples = bad.1;
    std::mem::swap(&mut p.sink.events, &mut chunk.events);
}

/// Where a reader's chunks go: to the worker pool (access logs) or parsed in the reader itself
/// (error logs, whose multi-line messages need their lines in order).
enum Parse<'g> {
    Pool(SyncSender<Job>),
    Inline(Box<Pipeline<ChunkSink<'g>>>),
}

/// Reads one file into chunks of whole lines until it ends or the merge goes away.
fn read_file(
    path: &Path,
    file: usize,
    kind: LogKind,
    opts: &Options,
    tokens: Receiver<Chunk>,
    reply: Sender<Msg>,
    mut parse: Parse<'_>,
) {
    let fail = |e: String| {
        let _ = reply.send(Msg::Failed(e));
    };
    let (mut r, _) = match open(path) {
        Ok(x) => x,
        Err(e) => return fail(format!("cannot open: {e}")),
    };
    let cap = opts.chunk_bytes.max(Rule::new(opts.max_line).buffer_len());
    let mut carry: Vec<u8> = Vec::new();
    let mut scratch: Vec<u8> = Vec::new();
    let mut seq = 0u64;
    let mut eof = false;
    while !eof {
        let Ok(mut chunk) = tokens.recv() else { return };
        chunk.data.clear();
        chunk.oversized_lead = None;
        chunk.data.extend_from_slice(&carry);
        carry.clear();
        while chunk.data.len() < cap {
            let start = chunk.data.len();
            chunk.data.resize(cap, 0);
            match r.read(&mut chunk.data[start..]) {
                Ok(0) => {
                    chunk.data.truncate(start);
                    eof = true;
                    break;
                }
                Ok(n) => chunk.data.truncate(start + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => chunk.data.truncate(start),
                Err(e) => return fail(read_error(&e)),
            }
        }
        if !eof {
            match memchr::memrchr(b'\n', &chunk.data) {
                Some(nl) => {
                    carry.extend_from_slice(&chunk.data[nl + 1..]);
                    chunk.data.truncate(nl + 1);
                }
                None => {
                    // One line fills the whole buffer: skip it to its newline.
                    let mut skipped = chunk.data.len() as u64;
                    chunk.data.clear();
                    scratch.resize(64 * 1024, 0);
                    loop {
                        match r.read(&mut scratch) {
                            Ok(0) => {
                                eof = true;
                                break;
                            }
                            Ok(n) => match memchr::memchr(b'\n', &scratch[..n]) {
                                Some(nl) => {
                                    skipped += nl as u64;
                                    carry.extend_from_slice(&scratch[nl + 1..n]);
                                    break;
                                }
                                None => skipped += n as u64,
                            },
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return fail(read_error(&e)),
                        }
                    }
                    chunk.oversized_lead = Some(skipped);
                }
            }
        }
        match &mut parse {
            Parse::Pool(jobs) => {
                let job = Job {
                    seq,
                    file,
                    kind,
                    chunk,
                    reply: reply.clone(),
                };
                if jobs.send(job).is_err() {
                    return;
                }
            }
            Parse::Inline(p) => {
                parse_chunk(p, file, kind, opts.max_line, &mut chunk);
                if reply.send(Msg::Chunk(seq, chunk)).is_err() {
                    return;
                }
            }
        }
        seq += 1;
    }
    let _ = reply.send(Msg::End(seq));
}

fn read_error(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::InvalidInput || e.kind() == io::ErrorKind::InvalidData {
        format!("the gzip data is corrupt: {e}")
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        format!("the gzip data ends early (truncated file?): {e}")
    } else {
        format!("read failed: {e}")
    }
}

/// The merge's view of one open file.
struct Cursor {
    file: usize,
    /// Position in the merge order; breaks ties between lines of the same time.
    rank: usize,
    rx: Receiver<Msg>,
    tokens: SyncSender<Chunk>,
    reorder: BTreeMap<u64, Chunk>,
    next_seq: u64,
    end: Option<u64>,
    cur: Option<Chunk>,
    pos: usize,
    last_time: Option<f64>,
    lines_before: u64,
}

impl Cursor {
    /// Makes `cur` hold an unread event; false when the file is exhausted.
    fn fill(&mut self, files: &mut [FileInfo]) -> anyhow::Result<bool> {
        loop {
            if let Some(c) = &self.cur {
                if self.pos < c.events.len() {
                    return Ok(true);
                }
            }
            if let Some(done) = self.cur.take() {
                self.retire(done, files);
            }
            if self.end == Some(self.next_seq) {
                return Ok(false);
            }
            if let Some(c) = self.reorder.remove(&self.next_seq) {
                self.next_seq += 1;
                self.cur = Some(c);
                self.pos = 0;
                continue;
            }
            let path = &files[self.file].path;
            match self.rx.recv() {
                Ok(Msg::Chunk(seq, c)) => {
                    self.reorder.insert(seq, c);
                }
                Ok(Msg::End(n)) => self.end = Some(n),
                Ok(Msg::Failed(e)) => {
                    bail!("{}: {e} (after line {})", path.display(), self.lines_before)
                }
                Err(_) => bail!(
                    "{}: the reader stopped unexpectedly after line {}",
                    path.display(),
                    self.lines_before
                ),
            }
        }
    }

    /// Accounts a consumed chunk to its file and hands the buffers back to the reader.
    fn retire(&mut self, mut c: Chunk, files: &mut [FileInfo]) {
        let f = &mut files[self.file];
        f.lines += c.lines;
        f.malformed += c.malformed;
        for &(i, reason) in &c.malformed_examples {
            if f.malformed_examples.len() < EXAMPLES {
                f.malformed_examples
                    .push((self.lines_before + i + 1, reason));
            }
        }
        self.lines_before += c.lines;
        c.events.clear();
        let _ = self.tokens.try_send(c);
    }

    /// The merge key of the next event (call after `fill` returned true).
    #[inline]
    fn head(&self) -> f64 {
        match &self.cur {
            Some(c) => c.events[self.pos]
                .logged_time()
                .or(self.last_time)
                .unwrap_or(f64::NEG_INFINITY),
            None => f64::INFINITY,
        }
    }
}

/// Opens and probes historical files, then merges them into a sink.
pub(crate) struct HistoryReader<'a> {
    files: Vec<FileInfo>,
    logs: Vec<LogGroup>,
    opts: Options,
    make: &'a (dyn Fn() -> anyhow::Result<Classifier> + Sync),
}

impl<'a> HistoryReader<'a> {
    /// Checks every file: it exists, it decompresses, and its first lines are in the expected
    /// format (else the error names the file and the first bad line). `make` builds the shared
    /// classifier from the command line; it is called once per worker.
    pub(crate) fn open(
        inputs: &[Input],
        make: &'a (dyn Fn() -> anyhow::Result<Classifier> + Sync),
        opts: Options,
    ) -> anyhow::Result<HistoryReader<'a>> {
        if inputs.is_empty() {
            bail!("no input files: give --access-log and/or --error-log");
        }
        let mut files = Vec::new();
        let mut logs: Vec<LogGroup> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (index, input) in inputs.iter().enumerate() {
            let shown = input.path.display().to_string();
            if shown == "-" {
                bail!("reading history from stdin is not supported: give files (they are merged by time)");
            }
            let canon = std::fs::canonicalize(&input.path)
                .with_context(|| format!("cannot open {shown}"))?;
            if !seen.insert(canon) {
                bail!("{shown} is given twice");
            }
            let group = LogGroup {
                name: log_group_name(&shown).to_string(),
                kind: input.kind,
            };
            let log = match logs.iter().position(|g| *g == group) {
                Some(i) => i,
                None => {
                    logs.push(group);
                    logs.len() - 1
                }
            };
            let probe = probe(&input.path, input.kind, make()?, &opts)?;
            files.push(FileInfo {
                meta: FileMeta {
                    index,
                    log,
                    kind: input.kind,
                    phase: input.phase,
                },
                path: input.path.clone(),
                gzip: probe.gzip,
                first_time: probe.first_time,
                detected_format: probe.detected,
                logs_request_time: probe.logs_request_time,
                lines: 0,
                malformed: 0,
                malformed_examples: Vec::new(),
            });
        }
        Ok(HistoryReader {
            files,
            logs,
            opts,
            make,
        })
    }

    /// The logs (rotation groups), in order of first appearance.
    pub(crate) fn logs(&self) -> &[LogGroup] {
        &self.logs
    }

    /// Reads every file through the pipeline and feeds the merged events to `sink`. Returns the
    /// per-file counts and the path labels the event ids refer to.
    pub(crate) fn run<S: Sink>(self, sink: &mut S) -> anyhow::Result<History>
    where
        anyhow::Error: From<S::Error>,
    {
        let HistoryReader {
            mut files,
            logs,
            opts,
            make,
        } = self;
        let global = Mutex::new(make()?.labels);
        let mut workers = Vec::with_capacity(opts.threads);
        for _ in 0..opts.threads {
            let mut w = make()?;
            // Each file's format as its first lines showed it, the same in every worker.
            for f in &files {
                if let Some(name) = f.detected_format {
                    w.fix_log_format(f.meta.index, name);
                }
            }
            workers.push(w);
        }
        let mut order: Vec<usize> = (0..files.len()).collect();
        order.sort_by(|&a, &b| {
            let ta = files[a].first_time.unwrap_or(f64::NEG_INFINITY);
            let tb = files[b].first_time.unwrap_or(f64::NEG_INFINITY);
            // Same first second: the older rotation first (`.2.gz` before `.1` before the log).
            ta.total_cmp(&tb)
                .then(rotation_age(&files[b].path).cmp(&rotation_age(&files[a].path)))
                .then(a.cmp(&b))
        });
        let mut rank_of = vec![0usize; files.len()];
        for (r, &f) in order.iter().enumerate() {
            rank_of[f] = r;
        }
        // Error logs are parsed by their reader (in order); access logs by the worker pool.
        let mut parsers: Vec<Option<Classifier>> = Vec::with_capacity(files.len());
        for f in &files {
            parsers.push(match f.meta.kind {
                LogKind::Error => Some(make()?),
                LogKind::Access => None,
            });
        }

        let mut started = vec![false; files.len()];
        let mut log_started = vec![false; logs.len()];
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(opts.threads * 2);
        let job_rx = Mutex::new(job_rx);
        std::thread::scope(|s| -> anyhow::Result<()> {
            let job_tx = job_tx;
            let (job_rx, global, opts) = (&job_rx, &global, &opts);
            for classifier in workers.drain(..) {
                s.spawn(move || {
                    let mut p = chunk_pipeline(classifier, global);
                    loop {
                        let job = match job_rx.lock() {
                            Ok(rx) => match rx.recv() {
                                Ok(j) => j,
                                Err(_) => return,
                            },
                            Err(_) => return,
                        };
                        let Job {
                            seq,
                            file,
                            kind,
                            mut chunk,
                            reply,
                        } = job;
                        parse_chunk(&mut p, file, kind, opts.max_line, &mut chunk);
                        let _ = reply.send(Msg::Chunk(seq, chunk));
                    }
                });
            }

            // Starts the reader of a file; its cursor is the merge's end of the channels.
            let job_tx_ref = &job_tx;
            let spawn = |f: usize, path: PathBuf, kind: LogKind, parser: Option<Classifier>| {
                let (tok_tx, tok_rx) = mpsc::sync_channel::<Chunk>(opts.chunks_in_flight);
                for _ in 0..opts.chunks_in_flight {
                    let _ = tok_tx.try_send(Chunk::default());
                }
                let (reply_tx, reply_rx) = mpsc::channel::<Msg>();
                let parse = match parser {
                    Some(c) => Parse::Inline(Box::new(chunk_pipeline(c, global))),
                    None => Parse::Pool(job_tx_ref.clone()),
                };
                s.spawn(move || read_file(&path, f, kind, opts, tok_rx, reply_tx, parse));
                Cursor {
                    file: f,
                    rank: rank_of[f],
                    rx: reply_rx,
                    tokens: tok_tx,
                    reorder: BTreeMap::new(),
                    next_seq: 0,
                    end: None,
                    cur: None,
                    pos: 0,
                    last_time: None,
                    lines_before: 0,
                }
            };
            let mut prefetched: Option<Cursor> = None;
            let mut take_cursor =
                |f: usize, files: &[FileInfo], prefetched: &mut Option<Cursor>| match prefetched
                    .take()
                {
                    Some(c) if c.file == f => c,
                    other => {
                        *prefetched = other;
                        spawn(
                            f,
                            files[f].path.clone(),
                            files[f].meta.kind,
                            parsers[f].take(),
                        )
                    }
                };

            let mut active: Vec<Cursor> = Vec::new();
            let mut next = 0usize;
            loop {
                // Files join the merge once it reaches their first line's time.
                let mut min_head = f64::INFINITY;
                for c in &active {
                    min_head = min_head.min(c.head());
                }
                while next < order.len() {
                    let f = order[next];
                    let first = files[f].first_time.unwrap_or(f64::NEG_INFINITY);
                    if !(active.is_empty() || first <= min_head) {
                        break;
                    }
                    let mut c = take_cursor(f, &files, &mut prefetched);
                    if c.fill(&mut files)? {
                        min_head = min_head.min(c.head());
                        active.push(c);
                    } else {
                        drop(c);
                    }
                    next += 1;
                }
                // Read ahead: the next file's reader starts decompressing now.
                if let Some(&f) = order.get(next) {
                    if prefetched.is_none() {
                        prefetched = Some(take_cursor(f, &files, &mut None));
                    }
                }
                if active.is_empty() {
                    if next >= order.len() {
                        break;
                    }
                    continue;
                }
                // The oldest next line wins; equal times go by merge rank.
                let key = |c: &Cursor| (c.head(), c.rank);
                let less =
                    |a: (f64, usize), b: (f64, usize)| a.0 < b.0 || (a.0 == b.0 && a.1 < b.1);
                let mut best = 0;
                for i in 1..active.len() {
                    if less(key(&active[i]), key(&active[best])) {
                        best = i;
                    }
                }
                let mut limit = (f64::INFINITY, usize::MAX);
                for (i, c) in active.iter().enumerate() {
                    if i != best && less(key(c), limit) {
                        limit = key(c);
                    }
                }
                if let Some(&f) = order.get(next) {
                    let k = (files[f].first_time.unwrap_or(f64::NEG_INFINITY), next);
                    if less(k, limit) {
                        limit = k;
                    }
                }
                let c = &mut active[best];
                let meta = files[c.file].meta.clone();
                // Emit from the oldest file until another file's next line is older.
                let mut emitted = false;
                'run: while let Some(chunk) = &c.cur {
                    let events = &chunk.events;
                    while c.pos < events.len() {
                        let ev = &events[c.pos];
                        let t = ev.logged_time().or(c.last_time);
                        let tk = t.unwrap_or(f64::NEG_INFINITY);
                        if emitted && (tk > limit.0 || (tk == limit.0 && c.rank > limit.1)) {
                            break 'run;
                        }
                        emitted = true;
                        c.last_time = t;
                        sink.line(&meta.origin(ev.time().or(t), t), ev)?;
                        c.pos += 1;
                        // A later file of a log that has begun is its rotation, counted with
                        // (after) the file's first line so it lands in that line's step.
                        let first_of_file = !std::mem::replace(&mut started[c.file], true);
                        if first_of_file && std::mem::replace(&mut log_started[meta.log], true) {
                            sink.notice(meta.log, Notice::Rotated)?;
                        }
                    }
                    if !c.fill(&mut files)? {
                        break;
                    }
                }
                if c.cur.is_none() {
                    active.swap_remove(best);
                }
            }
            drop(job_tx);
            Ok(())
        })?;

        for f in &files {
            if f.lines >= 10 && f.malformed * 2 > f.lines {
                bail!(
                    "{}: {} of {} lines did not parse (first: {}); the file looks like another log format. Read it separately with its own --format.",
                    f.path.display(),
                    f.malformed,
                    f.lines,
                    describe_examples(&f.malformed_examples)
                );
            }
        }
        let labels = global
            .into_inner()
            .map_err(|_| anyhow::anyhow!("internal: label table poisoned"))?;
        Ok(History { files, labels })
    }
}

/// How many rotations ago a file was written, from its name: `access.log` 0, `access.log.2.gz`
/// 2; logrotate `dateext` names (`access.log-20261129`) are older the earlier the date.
fn rotation_age(path: &Path) -> u64 {
    let name = path.to_string_lossy();
    let p = name.strip_suffix(".gz").unwrap_or(&name);
    if let Some((_, tail)) = p.rsplit_once('.') {
        if !tail.is_empty() && tail.len() <= 6 && tail.bytes().all(|b| b.is_ascii_digit()) {
            return tail.parse().unwrap_or(0);
        }
    }
    if let Some((_, tail)) = p.rsplit_once('-') {
        if matches!(tail.len(), 8 | 10) && tail.bytes().all(|b| b.is_ascii_digit()) {
            let date: u64 = tail.parse().unwrap_or(0);
            let date = if tail.len() == 8 { date * 100 } else { date };
            return 10_000_000_000u64.saturating_sub(date);
        }
    }
    0
}

fn describe_examples(ex: &[(u64, &'static str)]) -> String {
    match ex.first() {
        Some((line, reason)) => format!("line {line}: {reason}"),
        None => "no example".into(),
    }
}

/// What was read.
#[derive(Debug)]
pub(crate) struct History {
    /// Every file with its counts, in the order given.
    pub(crate) files: Vec<FileInfo>,
    /// The path labels the events' ids refer to.
    pub(crate) labels: PathLabels,
}

impl History {
    /// Lines read in all files.
    pub(crate) fn lines(&self) -> u64 {
        self.files.iter().map(|f| f.lines).sum()
    }

    /// Writes `FILE:LINE: reason` for the first malformed lines of each file, and a count; and
    /// for an access log without `$request_time`, that its 101s stay at their close time.
    pub(crate) fn report_malformed<W: io::Write>(&self, w: &mut W) -> io::Result<()> {
        for f in &self.files {
            if f.meta.kind == LogKind::Access && !f.logs_request_time && f.lines > 0 {
                writeln!(
                    w,
                    "note: {}: the format does not log $request_time, so its 101 lines (if any) are placed at their close time, not their handshake",
                    f.path.display()
                )?;
            }
            if f.malformed == 0 {
                continue;
            }
            for (line, reason) in &f.malformed_examples {
                writeln!(w, "{}:{line}: {reason}", f.path.display())?;
            }
            writeln!(
                w,
                "{}: {} of {} lines did not parse (counted in nginxlog_lines_malformed_total)",
                f.path.display(),
                f.malformed,
                f.lines
            )?;
        }
        Ok(())
    }
}

struct Probe {
    gzip: bool,
    first_time: Option<f64>,
    /// The preset `--format auto` found in the first lines (None with an explicit format).
    detected: Option<&'static str>,
    /// The access format logs `$request_time` (101s can be placed at their handshake).
    logs_request_time: bool,
}

/// Parses the first lines of a file: its first time, and whether it is in the expected format.
fn probe(
    path: &Path,
    kind: LogKind,
    classifier: Classifier,
    opts: &Options,
) -> anyhow::Result<Probe> {
    let shown = path.display();
    let (mut r, gzip) = open(path).with_context(|| format!("cannot open {shown}"))?;
    let mut buf = vec![0u8; opts.chunk_bytes.max(Rule::new(opts.max_line).buffer_len())];
    let mut len = 0;
    while len < buf.len() {
        match r.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => bail!("{shown}: {}", read_error(&e)),
        }
    }
    let data = &buf[..len];
    // Only whole lines, unless the file is shorter than the buffer.
    let data = if len == buf.len() {
        match memchr::memrchr(b'\n', data) {
            Some(nl) => &data[..=nl],
            None => data,
        }
    } else {
        data
    };
    let global = Mutex::new(PathLabels::new(&[], 0).map_err(|e| anyhow::anyhow!(e))?);
    let mut p = chunk_pipeline(classifier, &global);
    let mut checked = 0u64;
    let mut bad = 0u64;
    let mut first_bad = None;
    let mut first_time = None;
    for frame in SliceFrames::new(data, Rule::new(opts.max_line)).take(opts.probe_lines) {
        checked += 1;
        p.sink.events.clear();
        if let Outcome::Malformed(reason) = p.feed(0, kind, frame) {
            bad += 1;
            first_bad.get_or_insert((checked, reason));
        }
        if first_time.is_none() {
            first_time = p.sink.events.first().and_then(Event::logged_time);
        }
    }
    if checked > 0 && bad * 2 > checked {
        let (line, reason) = first_bad.unwrap_or((1, "?"));
        let what = match kind {
            LogKind::Access => "do not match the access-log --format",
            LogKind::Error => "are not nginx error-log lines",
        };
        bail!(
            "{shown}: {bad} of the first {checked} lines {what} (line {line}: {reason}). \
             Is it a log in another format, or an {} log given as --{}-log? \
             Read it separately with its own --format.",
            match kind {
                LogKind::Access => "error",
                LogKind::Error => "access",
            },
            kind.as_str()
        );
    }
    Ok(Probe {
        gzip,
        first_time,
        detected: p.classifier.detected(),
        logs_request_time: p
            .classifier
            .format()
            .logs(crate::parse::format::Var::RequestTime),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::ClassifyConfig;
    use crate::parse::format::LineFormat;
    use std::io::Write;

    #[test]
    fn rotation_suffixes_name_one_log() {
        for (p, want) in [
            ("/var/log/nginx/access.log", "/var/log/nginx/access.log"),
            ("/var/log/nginx/access.log.1", "/var/log/nginx/access.log"),
            (
                "/var/log/nginx/access.log.12.gz",
                "/var/log/nginx/access.log",
            ),
            ("access.log-20261129.gz", "access.log"),
            ("access.log-2026112901", "access.log"),
            ("error.log.gz", "error.log"),
            ("logs.2026/x", "logs.2026/x"),
        ] {
            assert_eq!(log_group_name(p), want, "{p}");
        }
    }

    fn line(t: u32, path: &str, status: u16) -> String {
        format!(
            "127.0.0.1 - - [29/Nov/2026:02:{:02}:{:02} +0000] \"GET {path}?token=x HTTP/1.1\" {status} 0 \"-\" \"t\" rt=0.001 uct=\"0.000\" uht=\"0.001\" urt=\"0.001\" upgrade=\"websocket\"\n",
            t / 60,
            t % 60
        )
    }

    struct Collect(Vec<(usize, Option<f64>, u16)>);
    impl Sink for Collect {
        type Error = anyhow::Error;
        fn line(&mut self, at: &Origin, event: &Event) -> anyhow::Result<Counted> {
            let status = match event {
                Event::Access(a) => a.status,
                _ => 0,
            };
            self.0.push((at.file, at.time, status));
            Ok(Counted::Yes)
        }
    }

    /// Fails at its `n`th line.
    struct FailAt(usize, usize);
    impl Sink for FailAt {
        type Error = anyhow::Error;
        fn line(&mut self, _: &Origin, _: &Event) -> anyhow::Result<Counted> {
            self.1 += 1;
            if self.1 == self.0 {
                anyhow::bail!("sink failed at line {}", self.1);
            }
            Ok(Counted::Yes)
        }
    }

    #[test]
    fn a_sink_error_stops_the_read_and_is_returned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text = String::new();
        for t in 0..3000 {
            text.push_str(&line(t, "/ws/a", 101));
        }
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        std::fs::write(&a, &text).expect("write");
        std::fs::write(&b, &text).expect("write");
        let inputs = access_inputs(&[&a, &b]);
        let mut opts = Options::new(2, 1024);
        opts.chunk_bytes = 4096;
        opts.chunks_in_flight = 2;
        let reader = HistoryReader::open(&inputs, &make, opts).expect("open");
        let mut sink = FailAt(3, 0);
        let e = reader.run(&mut sink).expect_err("the sink failed");
        assert_eq!(e.to_string(), "sink failed at line 3");
        assert_eq!(sink.1, 3, "lines after the error reached the sink");
    }

    /// Lines (file index) and rotation notices (log), in the order the sink receives them.
    #[derive(Default)]
    struct Trace(Vec<(char, usize)>);
    impl Sink for Trace {
        type Error = Infallible;
        fn line(&mut self, at: &Origin, _: &Event) -> Result<Counted, Infallible> {
            self.0.push(('l', at.file));
            Ok(Counted::Yes)
        }
        fn notice(&mut self, log: LogId, n: Notice) -> Result<(), Infallible> {
            assert_eq!(n, Notice::Rotated, "history notices only rotations");
            self.0.push(('r', log));
            Ok(())
        }
    }

    /// The merge notices a rotation right after the first line of each later file of a log,
    /// never for a log's first file, and per log.
    #[test]
    fn a_later_file_of_a_log_is_noticed_as_its_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = |from: u32| {
            (from..from + 3)
                .map(|t| line(t, "/a", 200))
                .collect::<String>()
        };
        let files = [
            ("access.log", text(20)),
            ("access.log.1", text(10)),
            ("access.log.2", text(0)),
            ("other.log", text(5)),
        ];
        let paths: Vec<PathBuf> = files
            .iter()
            .map(|(name, body)| {
                let path = dir.path().join(name);
                std::fs::write(&path, body).expect("write");
                path
            })
            .collect();
        let inputs = access_inputs(&paths.iter().collect::<Vec<_>>());
        let reader = HistoryReader::open(&inputs, &make, Options::new(2, 1024)).expect("open");
        let logs: Vec<String> = reader.logs().iter().map(|l| l.name.clone()).collect();
        let mut sink = Trace::default();
        reader.run(&mut sink).expect("run");
        let access = logs
            .iter()
            .position(|n| n.ends_with("/access.log"))
            .expect("log");
        let other = logs
            .iter()
            .position(|n| n.ends_with("/other.log"))
            .expect("log");
        assert_ne!(access, other);
        let (l, r) = ('l', 'r');
        let want = vec![
            (l, 2),
            (l, 2),
            (l, 2),
            (l, 3),
            (l, 3),
            (l, 3),
            (l, 1),
            (r, access),
            (l, 1),
            (l, 1),
            (l, 0),
            (r, access),
            (l, 0),
            (l, 0),
        ];
        assert_eq!(sink.0, want);
    }

    /// Access logs placed by time, in the order given.
    fn access_inputs(paths: &[&PathBuf]) -> Vec<Input> {
        paths
            .iter()
            .map(|p| Input {
                path: p.to_path_buf(),
                kind: LogKind::Access,
                phase: Phase::ByTime,
            })
            .collect()
    }

    fn make() -> anyhow::Result<Classifier> {
        Classifier::new(
            LineFormat::compile("ws_timing").map_err(|e| anyhow::anyhow!("{e}"))?,
            &ClassifyConfig::default(),
        )
        .map_err(|e| anyhow::anyhow!(e))
    }

    #[test]
    fn files_merge_in_time_order_across_small_chunks_and_gzip() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Two overlapping logs (even and odd seconds) and a later gzip one.
        let mut even = String::new();
        let mut odd = String::new();
        for t in 0..400 {
            if t % 2 == 0 {
                even.push_str(&line(t, "/ws/a", 101));
            } else {
                odd.push_str(&line(t, "/ws/b", 403));
            }
        }
        even.push_str("garbage line\n");
        let mut late = String::new();
        for t in 400..900 {
            late.push_str(&line(t, "/ws/c", 101));
        }
        let (a, b, c) = (
            dir.path().join("a.log"),
            dir.path().join("b.log"),
            dir.path().join("c.log.1.gz"),
        );
        std::fs::write(&a, even).expect("write");
        std::fs::write(&b, odd).expect("write");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(late.as_bytes()).expect("gz");
        std::fs::write(&c, gz.finish().expect("gz")).expect("write");
        let inputs = access_inputs(&[&c, &b, &a]);
        let mut opts = Options::new(3, 1024);
        opts.chunk_bytes = 700; // a few lines per chunk
        opts.chunks_in_flight = 2;
        let reader = HistoryReader::open(&inputs, &make, opts).expect("open");
        let mut sink = Collect(Vec::new());
        let h = reader.run(&mut sink).expect("run");
        assert_eq!(sink.0.len(), 901);
        let times: Vec<f64> = sink.0.iter().filter_map(|x| x.1).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order");
        assert_eq!(h.files[0].lines, 500);
        assert!(h.files[0].gzip);
        assert_eq!(h.files[2].malformed, 1);
        assert_eq!(h.files[2].malformed_examples.len(), 1);
        assert_eq!(h.files[2].malformed_examples[0].0, 201);
        let names: Vec<&str> = (2..h.labels.len() as u32)
            .map(|i| h.labels.name(i))
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn a_file_in_another_format_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("combined.log");
        std::fs::write(
            &p,
            "::1 - - [29/Nov/2026:02:16:57 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n".repeat(5),
        )
        .expect("write");
        let inputs = [Input {
            path: p.clone(),
            kind: LogKind::Access,
            phase: Phase::ByTime,
        }];
        let err = HistoryReader::open(&inputs, &make, Options::new(1, 1024))
            .err()
            .expect("must fail")
            .to_string();
        assert!(
            err.contains("combined.log") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn oversized_lines_are_malformed_and_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.log");
        let mut s = String::new();
        for t in 0..20 {
            s.push_str(&line(t, "/ws/a", 101));
        }
        s.push_str(&"x".repeat(5000));
        s.push('\n');
        s.push_str(&line(30, "/ws/a", 101));
        std::fs::write(&p, s).expect("write");
        let inputs = [Input {
            path: p,
            kind: LogKind::Access,
            phase: Phase::ByTime,
        }];
        let mut opts = Options::new(2, 1024);
        opts.chunk_bytes = 1500;
        let mut sink = Collect(Vec::new());
        let h = HistoryReader::open(&inputs, &make, opts)
            .expect("open")
            .run(&mut sink)
            .expect("run");
        assert_eq!(h.files[0].lines, 22);
        assert_eq!(h.files[0].malformed, 1);
        assert_eq!(h.files[0].malformed_examples[0].0, 21);
        assert_eq!(sink.0.iter().filter(|x| x.2 == 101).count(), 21);
    }
}
