//! Live tailing benchmark: a writer appends `ws_timing` lines to a file at a fixed rate while the
//! release sidecar tails it. Reports, per rate, whether the sidecar kept up (lag under 1 s), its
//! CPU share of one core, peak RSS, and `/metrics` latency.
//!
//! `cargo build --release && cargo run --release --example bench_live -- [SECONDS] [RATE...]`

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fetch(port: u16, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn sample(m: &str, prefix: &str) -> f64 {
    m.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// utime + stime in seconds, and VmHWM in KiB.
fn proc_stats(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let cpu = (f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
        / ticks;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, hwm)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let mut rates: Vec<u64> = args.filter_map(|a| a.parse().ok()).collect();
    if rates.is_empty() {
        rates = vec![20_000, 200_000, 500_000, 800_000];
    }
    let bin =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/nginxlog-sidecar");
    // One minute of traffic in memory; the writer cycles through it.
    let data = nginxlog_sidecar::synth::ws_timing(200_000, 11);
    let lines: Vec<&[u8]> = nginxlog_sidecar::framing::split_lines(&data).collect();
    println!("rate_lines_per_s,seconds,lines,caught_up,lag_s,cpu_share_of_one_core,peak_rss_mib,metrics_ms");
    for rate in rates {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("access.log");
        std::fs::write(&log, b"").expect("create");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let mut child = Command::new(&bin)
            .args(["--format", "ws_timing", "--access-log"])
            .arg(&log)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--log-level",
                "error",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("start the release sidecar (cargo build --release first)");
        while !fetch(port, "/readyz").contains("200 OK") {
            std::thread::sleep(Duration::from_millis(20));
        }
        let (cpu0, _) = proc_stats(child.id());
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open");
        let start = Instant::now();
        let mut written = 0u64;
        let total = rate * secs;
        let mut buf = Vec::with_capacity(1 << 20);
        let mut i = 0;
        // Write in 10 ms batches at the target rate.
        while written < total {
            let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
            buf.clear();
            while written < due {
                buf.extend_from_slice(lines[i % lines.len()]);
                buf.push(b'\n');
                i += 1;
                written += 1;
            }
            f.write_all(&buf).expect("append");
            std::thread::sleep(Duration::from_millis(10));
        }
        let write_end = Instant::now();
        let wall = start.elapsed().as_secs_f64();
        let series = format!("nginxlog_lines_read_total{{log=\"{}\"}} ", log.display());
        let mut caught = false;
        while write_end.elapsed() < Duration::from_secs(30) {
            if sample(&fetch(port, "/metrics"), &series) as u64 >= total {
                caught = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let lag = write_end.elapsed().as_secs_f64();
        let (cpu1, hwm) = proc_stats(child.id());
        let t = Instant::now();
        let m = fetch(port, "/metrics");
        let metrics_ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(m.contains("nginxlog_build_info"));
        println!(
            "{rate},{wall:.1},{total},{caught},{lag:.3},{:.3},{:.1},{metrics_ms:.2}",
            (cpu1 - cpu0) / (wall + lag),
            hwm as f64 / 1024.0
        );
        let _ = child.kill();
        let _ = child.wait();
    }
    metrics_latency_200_paths(&bin);
}

/// `/metrics` latency with 200 path labels (every metric family populated for each).
fn metrics_latency_200_paths(bin: &std::path::Path) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let mut body = String::new();
    for p in 0..200 {
        for status in [101, 403, 200] {
            body.push_str(&format!(
                "10.0.0.1 - - [28/Nov/2026:01:53:32 +0000] \"GET /ws/room{p}x/{status}s HTTP/1.1\" {status} 5 \"-\" \"b\" rt=1.5 uct=\"0.001\" uht=\"0.002\" urt=\"1.5\" upgrade=\"websocket\"\n"
            ));
        }
        body.push_str(&format!("10.0.0.1 - - [28/Nov/2026:01:53:32 +0000] \"GET /ws/room{p}x HTTP/1.1\" 101 5 \"-\" \"b\" rt=1.5 uct=\"0.001\" uht=\"0.002\" urt=\"1.5\" upgrade=\"websocket\"\n"));
    }
    std::fs::write(&log, body).expect("write");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let mut child = Command::new(bin)
        .args([
            "--format",
            "ws_timing",
            "--from-start",
            "--max-paths",
            "200",
            "--access-log",
        ])
        .arg(&log)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-level",
            "error",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("start sidecar");
    while !fetch(port, "/readyz").contains("200 OK") {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..50 {
        let t = Instant::now();
        size = fetch(port, "/metrics").len();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "metrics with 200 paths: {size} bytes, median {:.2} ms, p95 {:.2} ms",
        times[25], times[47]
    );
    let _ = child.kill();
    let _ = child.wait();
}
