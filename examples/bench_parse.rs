//! Single-shot parse + classify timing over a generated log, for profilers (`perf record`).
//! `cargo run --release --example bench_parse -- 1000000`.
use nginxlog_sidecar::classify::{Classifier, ClassifyConfig};
use nginxlog_sidecar::parse::format::LineFormat;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    // BENCH_FILE: read a pre-generated log instead (keeps the generator out of profiles).
    let data = match std::env::var_os("BENCH_FILE") {
        Some(f) => std::fs::read(f).expect("read BENCH_FILE"),
        None => nginxlog_sidecar::synth::ws_timing(n, 7),
    };
    let mut cl = Classifier::new(
        LineFormat::compile("ws_timing").expect("preset"),
        &ClassifyConfig::default(),
    )
    .expect("classifier");
    if std::env::var_os("STAGES").is_some() {
        stage_breakdown(&data);
    }
    let rounds: u32 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    for round in 0..rounds {
        let cpu0 = cpu_ns();
        let t = std::time::Instant::now();
        let mut upgrades = 0u64;
        for line in nginxlog_sidecar::framing::split_lines(&data) {
            if let Ok(ev) = cl.access(line) {
                upgrades += u64::from(ev.upgrade);
            }
        }
        let s = t.elapsed().as_secs_f64();
        let cpu = (cpu_ns() - cpu0) as f64 / 1e9;
        println!(
            "round {round}: {n} lines, wall {s:.3} s, cpu {cpu:.3} s = {:.0} lines per CPU-second ({upgrades} upgrades)",
            n as f64 / cpu
        );
    }
}

/// Nanoseconds this thread has run on a CPU (first field of schedstat): robust to a busy machine.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

#[allow(dead_code)]
fn stage_breakdown(data: &[u8]) {
    use nginxlog_sidecar::parse::format::Fields;
    let mut f = LineFormat::compile("ws_timing").expect("preset");
    let mut fields = Fields::default();
    let cpu0 = cpu_ns();
    let mut ok = 0;
    for line in nginxlog_sidecar::framing::split_lines(data) {
        ok += u32::from(f.match_line(line, &mut fields).is_ok());
    }
    let cpu = (cpu_ns() - cpu0) as f64 / 1e9;
    println!("match_line only: {ok} lines, cpu {cpu:.3} s");
    let cpu0 = cpu_ns();
    let mut n = 0;
    for line in nginxlog_sidecar::framing::split_lines(data) {
        n += line.len();
    }
    let cpu = (cpu_ns() - cpu0) as f64 / 1e9;
    println!("split only: {n} bytes, cpu {cpu:.3} s");
}
