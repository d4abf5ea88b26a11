//! Bad flag values are a clear error, never a panic or a hang: exit 2 and a message naming the
//! accepted forms, for every duration flag and for `--split`.

mod support;

use std::process::Command;

fn sidecar(args: &[&str]) -> (i32, String) {
    let out = Command::new(support::sidecar_bin())
        .current_dir(support::repo().join("fixtures/ws_timing"))
        .args(args)
        .output()
        .expect("run sidecar");
    let code = out.status.code().expect("exited, not killed by a signal");
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn rejected(args: &[&str], names: &[&str]) {
    let (code, err) = sidecar(args);
    assert_eq!(code, 2, "{args:?} exit status; stderr: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    for n in names {
        assert!(err.contains(n), "{args:?}: stderr should name {n:?}: {err}");
    }
}

const RUN: &[&str] = &[
    "run",
    "--once",
    "--format",
    "ws_timing",
    "--access-log",
    "access.log",
];

#[test]
fn huge_or_malformed_durations_exit_2_with_the_accepted_forms() {
    for value in [
        "99999999999999999999999d",
        "1e400s",
        "3651d",
        "5 parsecs",
        "1.5.5s",
    ] {
        for flag in ["--state-interval", "--poll-interval"] {
            let args = [RUN, &[flag, value]].concat();
            rejected(&args, &[flag]);
        }
        rejected(&["healthcheck", "--timeout", value], &["--timeout"]);
        rejected(
            &[
                "backfill",
                "--access-log",
                "access.log",
                "-o",
                "-",
                "--step",
                value,
            ],
            &["--step"],
        );
        rejected(
            &[
                "compare",
                "--access-log",
                "access.log",
                "--split",
                "1795830000",
                "--window",
                value,
            ],
            &["--window"],
        );
    }
    // Durations whose forms are fine but whose size would stall shutdown.
    for value in ["1h", "0s"] {
        let args = [RUN, &["--poll-interval", value]].concat();
        rejected(&args, &["--poll-interval", "from 1ms to 60s"]);
    }
    let (code, err) = sidecar(
        &[
            RUN,
            &["--state-interval", "3650d", "--poll-interval", "60s"],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "the largest accepted values work: {err}");
}

#[test]
fn huge_or_malformed_splits_exit_2_with_the_accepted_forms() {
    for value in [
        "99999999999999999999999999",
        "1e400",
        "253402300800",
        "2026-13-45T99:00:00Z",
        "yesterday",
        "",
    ] {
        rejected(
            &["compare", "--access-log", "access.log", "--split", value],
            &["--split", "RFC 3339", "$time_local", "Unix seconds"],
        );
    }
}
