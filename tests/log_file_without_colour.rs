//! The sidecar's own log written to a file (or the journal) carries no ANSI colour codes: colour
//! only goes to a terminal, and never with `NO_COLOR`.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

fn log_of(env: &[(&str, &str)]) -> String {
    let tmp = tempfile::tempdir().expect("tmp");
    let out_path = tmp.path().join("sidecar.log");
    let port = free_port();
    // A log that does not exist yet: the sidecar logs (with fields) that it waits for it.
    let missing = tmp.path().join("later.log");
    let mut child = Command::new(sidecar_bin())
        .args([
            "run",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-level",
            "debug",
        ])
        .arg("--access-log")
        .arg(&missing)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&out_path).expect("log file"))
        .spawn()
        .expect("start");
    wait_for("the waiting message", Duration::from_secs(10), || {
        std::fs::read_to_string(&out_path).is_ok_and(|t| t.contains("does not exist yet"))
    });
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&out_path).expect("read log")
}

#[test]
fn logs_to_a_file_have_no_escape_codes() {
    for env in [
        &[][..],
        &[("NO_COLOR", "1")][..],
        &[("TERM", "xterm-256color")][..],
    ] {
        let text = log_of(env);
        assert!(text.contains("started"), "{text}");
        assert!(text.contains("file="), "fields are logged: {text}");
        assert!(
            !text.contains('\u{1b}'),
            "escape codes with {env:?}:\n{text:?}"
        );
    }
}
