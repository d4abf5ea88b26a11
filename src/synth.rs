//! Synthetic `ws_timing` traffic for benchmarks: a mix of API paths and `/ws/` upgrades with
//! long `?token=` query strings, deterministic for a seed.

use std::io::{self, Write};

const API: &[&str] = &[
    "/api/v1/users/",
    "/api/v1/orders/",
    "/api/v1/search",
    "/static/app.js",
    "/healthz",
];
const WS: &[&str] = &["/ws/chat", "/ws/notifications", "/ws/presence"];
const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ";

/// Writes `n` lines starting at Unix time `start` (one second per 1,000 lines).
pub fn write_ws_timing<W: Write>(out: &mut W, n: u64, seed: u64, start: i64) -> io::Result<()> {
    let mut x = seed | 1;
    let mut line = String::with_capacity(400);
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let t = start + (i / 1000) as i64;
        let ts = time_local(t);
        line.clear();
        use std::fmt::Write as _;
        if x.is_multiple_of(4) {
            let path = WS[(x >> 8) as usize % WS.len()];
            let (status, uht, rt) = match (x >> 16) % 20 {
                0 => (403, "0.002", "0.002"),
                1 => (403, "-", "0.000"),
                _ => (101, "0.003", "42.118"),
            };
            let _ = write!(
                line,
                "10.1.{}.{} - - [{ts}] \"GET {path}?token={TOKEN}{} HTTP/1.1\" {status} 0 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" rt={rt} uct=\"0.001\" uht=\"{uht}\" urt=\"{rt}\" upgrade=\"websocket\"",
                (x >> 24) % 256,
                (x >> 32) % 256,
                x % 100_000
            );
        } else {
            let p = API[(x >> 8) as usize % API.len()];
            let id = if p.ends_with('/') {
                format!("{}", (x >> 20) % 100_000)
            } else {
                String::new()
            };
            let _ = write!(
                line,
                "10.2.{}.{} - - [{ts}] \"GET {p}{id}?token={TOKEN} HTTP/1.1\" 200 {} \"https://app.example.com/\" \"Mozilla/5.0 (X11; Linux x86_64)\" rt=0.0{:02} uct=\"0.000\" uht=\"0.0{:02}\" urt=\"0.0{:02}\" upgrade=\"-\"",
                (x >> 24) % 256,
                (x >> 32) % 256,
                (x >> 40) % 20_000,
                x % 90,
                x % 80,
                x % 90
            );
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Generates `n` lines into memory.
pub fn ws_timing(n: u64, seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(n as usize * 300);
    let _ = write_ws_timing(&mut v, n, seed, 1_795_830_000);
    v
}

fn time_local(t: i64) -> String {
    let iso = crate::parse::values::rfc3339(t as f64);
    let (y, m, d) = (&iso[0..4], &iso[5..7], &iso[8..10]);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mi: usize = m.parse().unwrap_or(1);
    format!("{d}/{}/{y}:{} +0000", MONTHS[(mi + 11) % 12], &iso[11..19])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Classifier, ClassifyConfig};
    use crate::parse::format::LineFormat;

    #[test]
    fn synthetic_lines_parse() {
        let data = ws_timing(2_000, 42);
        let mut c = Classifier::new(
            LineFormat::compile("ws_timing").expect("p"),
            &ClassifyConfig::default(),
        )
        .expect("c");
        let mut upgrades = 0;
        for l in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let ev = c
                .access(l)
                .unwrap_or_else(|e| panic!("{e:?}: {}", String::from_utf8_lossy(l)));
            upgrades += u32::from(ev.upgrade);
        }
        assert!(upgrades > 300 && upgrades < 700, "{upgrades}");
    }
}
