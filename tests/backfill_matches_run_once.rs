//! `backfill` and `run` are one pipeline: the last sample of every backfilled series equals what
//! `run --once` reports for the same files (the ws_timing fixtures from a real nginx: upgrades,
//! handshake and session histograms, HTTP durations, bytes, error signatures, self-metrics).

mod support;

use std::collections::BTreeMap;
use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(support::sidecar_bin())
        .current_dir(support::repo().join("fixtures/ws_timing"))
        .args(args)
        .output()
        .expect("run sidecar");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// `run --once` prints Prometheus text (`le="1"`), backfill OpenMetrics (`le="1.0"`, canonical):
/// the same series once the bound is written the OpenMetrics way.
fn openmetrics_le(series: &str) -> String {
    let Some(i) = series.find(",le=\"").or_else(|| series.find("{le=\"")) else {
        return series.to_string();
    };
    let start = i + 5;
    let end = start + series[start..].find('"').expect("closing quote");
    let v = &series[start..end];
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}{v}.0{}", &series[..start], &series[end..])
    } else {
        series.to_string()
    }
}

#[test]
fn last_backfill_samples_equal_run_once() {
    let common = [
        "--format",
        "ws_timing",
        "--access-log",
        "access.log",
        "--error-log",
        "error.log",
    ];
    let mut once_args = vec!["run", "--once"];
    once_args.extend(common);
    let once: BTreeMap<String, f64> = run(&once_args)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        // Backfill has no series budget (offline, bounded by --max-paths), so no such counter.
        .filter(|l| !l.starts_with("nginxlog_series_dropped_total"))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            Some((openmetrics_le(series), v.parse().ok()?))
        })
        .collect();
    let mut bf_args = vec!["backfill", "--output", "-"];
    bf_args.extend(common);
    let mut last: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for l in run(&bf_args).lines().filter(|l| !l.starts_with('#')) {
        let mut it = l.rsplitn(3, ' ');
        let (Some(ts), Some(v), Some(series)) = (it.next(), it.next(), it.next()) else {
            panic!("bad sample line {l:?}");
        };
        let (ts, v): (f64, f64) = (ts.parse().expect("ts"), v.parse().expect("value"));
        if let Some((prev, _)) = last.get(series) {
            assert!(ts > *prev, "{series}: timestamps not increasing");
        }
        last.insert(series.to_string(), (ts, v));
    }
    assert!(once.len() > 50, "run --once printed {} series", once.len());
    for (series, want) in &once {
        let got = last
            .get(series)
            .unwrap_or_else(|| panic!("{series} missing from the backfill"));
        assert!(
            (got.1 - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{series}: backfill {} vs run --once {want}",
            got.1
        );
    }
    assert_eq!(
        once.len(),
        last.len(),
        "the same series in both: {:?}",
        last.keys()
            .filter(|k| !once.contains_key(*k))
            .collect::<Vec<_>>()
    );
    // The fixture's traffic: 8 x 101, 3 x 403 from the app, 1 x 403 from nginx's deny.
    let up = |p: &str, s: &str, by: &str| {
        last.get(&format!(
            "nginxlog_ws_upgrade_requests_total{{path=\"{p}\",status=\"{s}\",answered_by=\"{by}\"}}"
        ))
        .map(|x| x.1)
    };
    assert_eq!(up("/ws/chat", "101", "upstream"), Some(6.0));
    assert_eq!(up("/ws/chat", "403", "upstream"), Some(3.0));
    assert_eq!(up("/ws/notifications", "101", "upstream"), Some(2.0));
    assert_eq!(up("/denied/socket", "403", "nginx"), Some(1.0));
}
