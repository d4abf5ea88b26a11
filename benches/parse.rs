//! Parse + classify throughput over a generated 1,000,000-line `ws_timing` log (issue: at least
//! 3,000,000 lines/s on one core, no per-line allocation). `cargo bench --bench parse`; the
//! `_minutes` variant adds the status page's minute rings, as `run` records.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nginxlog_sidecar::classify::{Classifier, ClassifyConfig};
use nginxlog_sidecar::framing::{Frame, LineBuffer};
use nginxlog_sidecar::parse::format::LineFormat;
use nginxlog_sidecar::pipeline::{LogKind, Pipeline};
use nginxlog_sidecar::sink::metrics::{Buckets, Metrics};

const LINES: u64 = 1_000_000;

fn bench(c: &mut Criterion) {
    let data = nginxlog_sidecar::synth::ws_timing(LINES, 7);
    let mut g = c.benchmark_group("ws_timing_1M");
    g.sample_size(10);
    g.throughput(Throughput::Elements(LINES));
    g.bench_function("parse_classify", |b| {
        let mut cl = Classifier::new(
            LineFormat::compile("ws_timing").expect("preset"),
            &ClassifyConfig::default(),
        )
        .expect("classifier");
        b.iter(|| {
            let mut upgrades = 0u64;
            for line in nginxlog_sidecar::framing::split_lines(&data) {
                if let Ok(ev) = cl.access(line) {
                    upgrades += u64::from(ev.upgrade);
                }
            }
            upgrades
        })
    });
    for (name, minutes) in [
        ("frame_parse_classify_record", false),
        // As `run` records: plus the status page's per-minute rings of upgrade attempts.
        ("frame_parse_classify_record_minutes", true),
    ] {
        g.bench_function(name, |b| {
            let cl = Classifier::new(
                LineFormat::compile("ws_timing").expect("preset"),
                &ClassifyConfig::default(),
            )
            .expect("classifier");
            let mut p = Pipeline::new(cl, Metrics::new("nginxlog", Buckets::default()));
            p.sink.minutes = minutes;
            let log = p.sink.add_log("bench", LogKind::Access);
            let mut lb = LineBuffer::new(64 * 1024);
            b.iter(|| {
                let mut input = &data[..];
                loop {
                    let n = lb.fill_from(&mut input).unwrap_or(0);
                    while let Some(f) = lb.next_frame() {
                        p.feed(log, LogKind::Access, f);
                    }
                    if n == 0 {
                        if let Some(f) = lb.take_partial() {
                            p.feed(log, LogKind::Access, f);
                        }
                        break;
                    }
                }
                let _ = Frame::Oversized(0);
                p.sink.upgrades_total()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
