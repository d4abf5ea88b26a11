//! One rendered exposition shared by concurrent and slow scrapes.
//!
//! A large registry renders to megabytes; a reader that takes its time (or many at once) would
//! each hold a copy. Renders are kept by weak reference with the registry generation they show:
//! a scrape of an unchanged registry shares the live copy, and while [`MAX_LIVE`] copies are
//! still being sent, a new scrape gets the newest of them instead of another render. Memory is
//! bounded by `MAX_LIVE` expositions whatever the readers do; at worst a scrape during such a
//! pile-up sees counters a little older (they only ever grow, so rates stay right).

use crate::app::Shared;
use crate::sink::exposition::{self, Format};
use crate::sink::metrics::Metrics;
use crate::source::checkpoint::{Checkpointer, Snapshot};
use axum::body::Bytes;
use std::sync::{Arc, Mutex, Weak};

/// Distinct renders of one format alive at once (held by responses still being sent). A reader
/// that stalls is cut by the server's request timeout, so a pile-up shows older counters for at
/// most that long.
pub(crate) const MAX_LIVE: usize = 2;

/// The shared renders.
#[derive(Default)]
pub(crate) struct ScrapeCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Renders still referenced by a response, oldest first, with their generation.
    live: Vec<(u64, Format, Weak<Render>)>,
    /// Size of the last render, to allocate the next one once.
    last_len: usize,
}

/// One render of the registry and the checkpoints whose lines it counts (taken under the same
/// pipeline lock), so a shared render acknowledges the positions it really shows.
struct Render {
    text: Vec<u8>,
    ack: Option<Snapshot>,
}

/// Owner handed to `Bytes`: the response body keeps the render alive, nothing copies it.
struct Owner(Arc<Render>);

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        &self.0.text
    }
}

/// The registry part of one scrape: its text in the asked format (without OpenMetrics'
/// `# EOF`, which the caller writes after what it appends) and the checkpoint it shows.
pub(crate) struct Scrape {
    pub(crate) registry: Bytes,
    pub(crate) ack: Option<Snapshot>,
}

impl ScrapeCache {
    /// The registry part for one scrape; `None` if the pipeline lock is poisoned.
    pub(crate) fn exposition(
        &self,
        shared: &Shared,
        version: &str,
        checkpoints: Option<&Checkpointer<Metrics>>,
        format: Format,
    ) -> Option<Scrape> {
        let mut st = self.state.lock().ok()?;
        st.live.retain(|(_, _, w)| w.strong_count() > 0);
        let p = shared.lock().ok()?;
        let generation = p.sink.generation();
        let same: Vec<&(u64, Format, Weak<Render>)> =
            st.live.iter().filter(|(_, f, _)| *f == format).collect();
        let newest = same.last().and_then(|(g, _, w)| Some((*g, w.upgrade()?)));
        if let Some((g, r)) = newest {
            if g == generation || same.len() >= MAX_LIVE {
                let ack = r.ack.clone();
                return Some(Scrape {
                    registry: Bytes::from_owner(Owner(r)),
                    ack,
                });
            }
        }
        let mut out = String::with_capacity(st.last_len + st.last_len / 8 + 4096);
        p.sink.render(&p.classifier.labels, version, &mut out);
        let ack = checkpoints.map(|c| c.snapshot());
        drop(p);
        let text = match format {
            Format::Prometheus => out,
            Format::OpenMetrics => exposition::to_openmetrics_part(&out),
        };
        st.last_len = text.len();
        let r = Arc::new(Render {
            text: text.into_bytes(),
            ack: ack.clone(),
        });
        st.live.push((generation, format, Arc::downgrade(&r)));
        Some(Scrape {
            registry: Bytes::from_owner(Owner(r)),
            ack,
        })
    }

    /// Renders alive right now (for tests).
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.state.lock().map_or(0, |st| {
            st.live
                .iter()
                .filter(|(_, _, w)| w.strong_count() > 0)
                .count()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Classifier, ClassifyConfig};
    use crate::framing::Frame;
    use crate::parse::format::LineFormat;
    use crate::pipeline::{LogKind, Pipeline};
    use crate::sink::metrics::{Buckets, Metrics};

    #[test]
    fn slow_readers_hold_at_most_max_live_renders() {
        let c = Classifier::new(
            LineFormat::compile("combined").expect("format"),
            &ClassifyConfig::default(),
        )
        .expect("classifier");
        let shared: Shared = Arc::new(Mutex::new(Pipeline::new(
            c,
            Metrics::new("nginxlog", Buckets::default()),
        )));
        let log = shared
            .lock()
            .expect("lock")
            .sink
            .add_log("a", LogKind::Access);
        let cache = ScrapeCache::default();
        let line = br#"1.2.3.4 - - [28/Nov/2026:01:53:32 +0000] "GET /a HTTP/1.1" 200 5 "-" "x""#;
        let mut held = Vec::new();
        for i in 0..10 {
            shared
                .lock()
                .expect("lock")
                .feed(log, LogKind::Access, Frame::Line(line));
            let b = cache
                .exposition(&shared, "t", None, Format::Prometheus)
                .expect("render")
                .registry;
            assert!(cache.live() <= MAX_LIVE, "round {i}: {} live", cache.live());
            held.push(b);
        }
        // Unchanged registry: the same render is shared, not copied.
        let a = cache
            .exposition(&shared, "t", None, Format::Prometheus)
            .expect("render")
            .registry;
        let b = cache
            .exposition(&shared, "t", None, Format::Prometheus)
            .expect("render")
            .registry;
        assert_eq!(a.as_ptr(), b.as_ptr());
        held.clear();
        drop((a, b));
        assert_eq!(cache.live(), 0);
        // Once readers are done, a scrape sees the newest counts.
        shared
            .lock()
            .expect("lock")
            .feed(log, LogKind::Access, Frame::Line(line));
        let b = cache
            .exposition(&shared, "t", None, Format::Prometheus)
            .expect("render")
            .registry;
        let text = std::str::from_utf8(&b).expect("utf8");
        assert!(
            text.contains(r#"nginxlog_lines_read_total{log="a"} 11"#),
            "{text}"
        );
    }
}
