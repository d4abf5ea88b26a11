//! The sidecar's own log written to a file (or the journal) carries no ANSI colour codes: colour
//! only goes to a terminal, and never with `NO_COLOR` (checked on a real pseudo-terminal made by
//! util-linux `script`, where colour is on without it).

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
    // Both messages: the tailer's wait is logged from its own thread, possibly before "started".
    wait_for(
        "the waiting and started messages",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(&out_path)
                .is_ok_and(|t| t.contains("does not exist yet") && t.contains("started"))
        },
    );
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&out_path).expect("read log")
}

#[test]
fn logs_to_a_file_have_no_escape_codes() {
    // NO_COLOR is checked on a terminal below: off a terminal there is no colour anyway.
    for env in [&[][..], &[("TERM", "xterm-256color")][..]] {
        let text = log_of(env);
        assert!(text.contains("started"), "{text}");
        assert!(text.contains("file="), "fields are logged: {text}");
        assert!(
            !text.contains('\u{1b}'),
            "escape codes with {env:?}:\n{text:?}"
        );
    }
}

/// What the sidecar writes to a pseudo-terminal (util-linux `script`, Essential in Debian) in
/// about three seconds.
fn log_on_a_terminal(no_color: bool) -> String {
    let tmp = tempfile::tempdir().expect("tmp");
    let typescript = tmp.path().join("typescript");
    let missing = tmp.path().join("later.log");
    let cmd = format!(
        "{}timeout -s INT 3 '{}' run --listen 127.0.0.1:{} --access-log '{}'",
        if no_color { "NO_COLOR=1 " } else { "" },
        sidecar_bin().display(),
        free_port(),
        missing.display()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmd])
        .arg(&typescript)
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .expect("util-linux script (bsdutils) is needed for this test");
    let text = std::fs::read_to_string(&typescript).unwrap_or_default();
    assert!(
        text.contains("does not exist yet"),
        "no log on the terminal ({:?}): {text:?}",
        out.status
    );
    text
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    let coloured = log_on_a_terminal(false);
    assert!(
        coloured.contains('\u{1b}'),
        "a terminal gets colour: {coloured:?}"
    );
    let plain = log_on_a_terminal(true);
    assert!(
        !plain.contains('\u{1b}'),
        "escape codes with NO_COLOR on a terminal: {plain:?}"
    );
}
