//! Writes a synthetic `ws_timing` log for benchmarks: `cargo run --release --example gen_log -- LINES FILE`.
fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let path = args.next().unwrap_or_else(|| "ws_timing.log".into());
    let f = std::fs::File::create(&path).expect("create output file");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    nginxlog_sidecar::synth::write_ws_timing(&mut w, n, 7, 1_795_830_000).expect("write");
    std::io::Write::flush(&mut w).expect("flush");
}
