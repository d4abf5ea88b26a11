//! The scrape is the acknowledgement: the state file holds the positions of the last `/metrics`
//! response, so a restarted sidecar (after SIGTERM or kill -9) exports exactly the lines no
//! scrape saw. Lines are watched through the landing page, which is no scrape.

mod support;
use std::time::Duration;
use support::*;

/// Starts the sidecar and checks it exports `want` chat upgrades, and no more a moment later.
fn restarted_exports_exactly(args: &[&str], want: f64) {
    let sidecar = Sidecar::start(args);
    sidecar.wait_value(CHAT, want);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sidecar.value(CHAT), want);
}

fn restart_exports_exactly_the_unscraped_lines(stop: fn(Sidecar)) {
    let dir = StateDir::new();
    let log = &dir.log;
    let l = dir.log_name();
    append(log, &[]);
    let args = dir.args(&[]);
    let sidecar = Sidecar::start(&args);
    append(log, &chat(10));
    sidecar.wait_value(CHAT, 10.0); // scraped: acknowledged
    append(log, &chat(7));
    sidecar.wait_lines_read_unscraped(l, 17); // read, never scraped
    stop(sidecar);

    restarted_exports_exactly(&args, 7.0);
}

#[test]
fn kill9_after_a_scrape_restart_exports_exactly_the_lines_no_scrape_saw() {
    restart_exports_exactly_the_unscraped_lines(|s| s.kill9());
}

#[test]
fn sigterm_after_a_scrape_restart_exports_exactly_the_lines_no_scrape_saw() {
    restart_exports_exactly_the_unscraped_lines(|s| assert!(s.terminate().success()));
}

/// Nothing scrapes: after twice `--state-interval` the read positions are saved, so a restart
/// does not read again what the stopped process had read.
#[test]
fn without_scrapes_the_read_position_is_saved() {
    let dir = StateDir::new();
    let log = &dir.log;
    let state = &dir.state;
    let l = dir.log_name();
    append(log, &[]);
    let args = dir.args(&["--state-interval", "100ms"]);
    let sidecar = Sidecar::start(&args);
    append(log, &chat(6));
    sidecar.wait_lines_read_unscraped(l, 6);
    std::thread::sleep(Duration::from_millis(600));
    sidecar.kill9();
    let saved = std::fs::read_to_string(state).expect("state file");
    assert!(
        saved.contains("\"acknowledged_by_scrape\": false"),
        "{saved}"
    );

    let sidecar = Sidecar::start(&args);
    append(log, &chat(2));
    sidecar.wait_value(CHAT, 2.0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sidecar.value(CHAT), 2.0);
}

/// A rotated file still draining holds lines no scrape saw; it is deleted while the sidecar is
/// stopped. Those lines cannot be read again: the restart counts them in `lines_lost_total`
/// (and logs it) instead of losing them silently.
#[test]
fn unscraped_lines_in_a_rotated_file_deleted_while_stopped_are_counted_lost() {
    let dir = StateDir::new();
    let tmp = &dir.tmp;
    let log = &dir.log;
    let l = dir.log_name();
    let rotated = tmp.path().join("access.log.1");
    append(log, &[]);
    let args = dir.args(&[]);
    let sidecar = Sidecar::start(&args);
    append(log, &chat(10));
    sidecar.wait_value(CHAT, 10.0);
    // Renamed; nginx has not reopened yet and writes 5 more lines to the renamed file.
    std::fs::rename(log, &rotated).expect("rename");
    append(&rotated, &chat(5));
    sidecar.wait_lines_read_unscraped(l, 15);
    assert!(sidecar.terminate().success());

    std::fs::remove_file(&rotated).expect("rm");
    append(log, &chat(2));
    let sidecar = Sidecar::start(&args);
    sidecar.wait_value(CHAT, 2.0);
    let m = sidecar.metrics();
    assert_eq!(
        sample(
            &m,
            &format!(r#"nginxlog_lines_lost_total{{log="{l}",reason="rotated_file_gone"}}"#)
        ),
        5.0,
        "{m}"
    );
}

/// Waits until the state file says `needle` (it is saved every `--state-interval`).
fn wait_state(state: &std::path::Path, needle: &str, timeout: Duration) -> String {
    let mut last = String::new();
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        last = std::fs::read_to_string(state).unwrap_or_default();
        if last.contains(needle) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("state file never said {needle}:\n{last}");
}

/// Restarted from an acknowledged state, the new process has not been scraped yet when it is
/// killed: the positions it resumed from stay the checkpoint (its periodic save does not put
/// the read positions in), so the next start exports again every line no scrape saw.
#[test]
fn kill9_before_the_first_scrape_after_a_restart_re_reads_what_no_scrape_saw() {
    let dir = StateDir::new();
    let log = &dir.log;
    let state = &dir.state;
    let l = dir.log_name();
    append(log, &[]);
    let args = dir.args(&["--state-interval", "3s"]);
    let sidecar = Sidecar::start(&args);
    append(log, &chat(10));
    sidecar.wait_value(CHAT, 10.0); // scraped: acknowledged
    wait_state(
        state,
        "\"acknowledged_by_scrape\": true",
        Duration::from_secs(5),
    );
    append(log, &chat(7));
    sidecar.wait_lines_read_unscraped(l, 17);
    sidecar.kill9();

    // Not scraped at all: 7 lines re-read, 3 new ones, and at least one periodic save.
    let sidecar = Sidecar::start(&args);
    sidecar.wait_lines_read_unscraped(l, 7);
    append(log, &chat(3));
    sidecar.wait_lines_read_unscraped(l, 10);
    let saved = wait_state(state, "\"unscraped_lines\": 10", Duration::from_secs(5));
    assert!(
        saved.contains("\"acknowledged_by_scrape\": true"),
        "{saved}"
    );
    sidecar.kill9();

    restarted_exports_exactly(&args, 10.0);
}

/// The interval between the last two scrapes is kept in the state file: after a restart the
/// acknowledged positions are kept for twice that long waiting for the first scrape, not only
/// twice `--state-interval`.
#[test]
fn the_scrape_interval_survives_a_restart() {
    let dir = StateDir::new();
    let log = &dir.log;
    let state = &dir.state;
    let l = dir.log_name();
    append(log, &[]);
    let args = dir.args(&["--state-interval", "200ms"]);
    let sidecar = Sidecar::start(&args);
    append(log, &chat(10));
    sidecar.wait_value(CHAT, 10.0);
    std::thread::sleep(Duration::from_millis(2500));
    sidecar.wait_value(CHAT, 10.0); // a scrape gap of about 2.5 s
                                    // (The save after a scrape is quick, but not instant on a loaded machine.)
    wait_state(state, "\"scrape_gap_seconds\": 2.", Duration::from_secs(5));
    append(log, &chat(7));
    sidecar.wait_lines_read_unscraped(l, 17);
    sidecar.kill9();

    // 1 s without a scrape: longer than twice --state-interval, shorter than twice the gap.
    let sidecar = Sidecar::start(&args);
    sidecar.wait_lines_read_unscraped(l, 7);
    std::thread::sleep(Duration::from_millis(1000));
    let saved = wait_state(state, "\"unscraped_lines\": 7", Duration::from_secs(1));
    assert!(
        saved.contains("\"acknowledged_by_scrape\": true"),
        "{saved}"
    );
    sidecar.kill9();

    restarted_exports_exactly(&args, 7.0);
}

/// Two scrapers (an HA pair, or Prometheus and an operator's `curl`): the checkpoint follows
/// whichever scraped last. After a `kill -9` the one that scraped last sees every line once;
/// the other misses the lines between its own last scrape and that one, and sees nothing twice.
#[test]
fn with_two_scrapers_the_restart_is_exact_for_the_latest_and_short_for_the_other() {
    let dir = StateDir::new();
    let log = &dir.log;
    let state = &dir.state;
    let l = dir.log_name();
    append(log, &[]);
    let args = dir.args(&[]);
    let sidecar = Sidecar::start(&args);
    let scrape = |sidecar: &Sidecar| {
        let (status, body) = fetch(sidecar.port, "/metrics");
        assert_eq!(status, 200);
        sample(&body, CHAT)
    };
    append(log, &chat(10));
    sidecar.wait_lines_read_unscraped(l, 10);
    let a_before = scrape(&sidecar); // server A
    append(log, &chat(5));
    sidecar.wait_lines_read_unscraped(l, 15);
    let b_before = scrape(&sidecar); // server B (or a curl), the latest
    append(log, &chat(3));
    sidecar.wait_lines_read_unscraped(l, 18);
    wait_state(state, "\"unscraped_lines\": 3", Duration::from_secs(10));
    sidecar.kill9();

    let sidecar = Sidecar::start(&args);
    sidecar.wait_lines_read_unscraped(l, 3);
    let after = scrape(&sidecar); // both see the reset counter
    assert_eq!((a_before, b_before, after), (10.0, 15.0, 3.0));
    // increase() across a counter reset: the value before plus the value after.
    assert_eq!(
        b_before + after,
        18.0,
        "B, which scraped last, sees every line once"
    );
    assert_eq!(
        a_before + after,
        13.0,
        "A misses the 5 lines between its scrape and B's"
    );
}

/// An idle sidecar scraped often does not rewrite (and fsync) its state file at every scrape:
/// the name is checked again at each wake-up, but nothing moved. The file is replaced by a
/// rename at each save, so its inode tells whether it was written.
#[test]
fn an_idle_scraped_sidecar_does_not_rewrite_its_state_file() {
    use std::os::unix::fs::MetadataExt;
    let dir = StateDir::new();
    let log = &dir.log;
    let state = &dir.state;
    append(log, &chat(3));
    let args = dir.args(&["--state-interval", "100ms", "--from-start"]);
    let sidecar = Sidecar::start(&args);
    sidecar.wait_value(CHAT, 3.0);
    // Scrapes every 200 ms from here on: the acknowledged state, saved once.
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(200));
        sidecar.metrics();
    }
    wait_state(
        state,
        "\"acknowledged_by_scrape\": true",
        Duration::from_secs(5),
    );
    let mut writes = 0;
    let mut last = std::fs::metadata(state).expect("state").ino();
    for _ in 0..15 {
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(sidecar.value(CHAT), 3.0);
        let now = std::fs::metadata(state).expect("state").ino();
        if now != last {
            writes += 1;
            last = now;
        }
    }
    assert_eq!(
        writes, 0,
        "state file rewritten {writes} times in 15 idle scrapes"
    );
}
