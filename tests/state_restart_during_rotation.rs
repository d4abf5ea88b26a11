//! Restarts in the middle of a rotation, with `--state-file`: the state lists the current file
//! and the rotated one still draining, rotated files are found next to a symlink's target, and
//! rotations while stopped are counted. Every line is read once.

mod support;
use std::fs::OpenOptions;
use std::io::Write;
use std::time::Duration;
use support::*;

/// nginx keeps writing to the renamed file until it reopens; the sidecar is stopped (SIGTERM)
/// after the rename and started again before the reopen. The restarted one drains the renamed
/// file from its checkpoint and then follows the new one.
#[test]
fn sigterm_between_rename_and_reopen_then_restart_reads_every_line_once() {
    let dir = StateDir::new();
    let (tmp, log, l) = (&dir.tmp, &dir.log, dir.log_name());
    let write = |f: &mut std::fs::File, n: usize| {
        for line in chat(n) {
            f.write_all(format!("{line}\n").as_bytes()).expect("write");
        }
    };
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open")
    };
    let mut nginx = open();
    let sidecar = Sidecar::start(&dir.args(&[]));
    write(&mut nginx, 40);
    sidecar.wait_value(CHAT, 40.0);

    // Rotation: rename; nginx still writes to the renamed file.
    std::fs::rename(log, tmp.path().join("access.log.1")).expect("rename");
    write(&mut nginx, 30);
    std::thread::sleep(Duration::from_millis(300));
    let seen = sidecar.value(CHAT); // the last scrape before the stop
    write(&mut nginx, 20);
    assert!(sidecar.terminate().success());

    // Stopped: nginx goes on writing to the renamed file.
    write(&mut nginx, 10);
    let sidecar = Sidecar::start(&dir.args(&[]));
    write(&mut nginx, 15); // after the restart, before the reopen
    std::thread::sleep(Duration::from_millis(300));
    // nginx reopens its logs (USR1): new file at the name.
    let mut nginx = open();
    write(&mut nginx, 25);

    let total = 40.0 + 30.0 + 20.0 + 10.0 + 15.0 + 25.0;
    sidecar.wait_value(CHAT, total - seen);
    std::thread::sleep(Duration::from_millis(700));
    let m = sidecar.metrics();
    assert_eq!(sample(&m, CHAT), total - seen, "{m}");
    assert_eq!(
        log_metric(&m, "nginxlog_lines_read_total", l),
        total - seen,
        "{m}"
    );
}

/// The log name is a symlink into another directory; logrotate renames the target there while
/// the sidecar is stopped. The rotated file is found next to the target, not next to the link.
#[test]
fn symlinked_log_rotated_while_stopped_is_read_once() {
    let dir = StateDir::new();
    let (tmp, link, l) = (&dir.tmp, &dir.log, dir.log_name());
    let real_dir = tmp.path().join("real");
    std::fs::create_dir(&real_dir).expect("mkdir");
    let target = real_dir.join("site.log");
    append(&target, &[]);
    std::os::unix::fs::symlink(&target, link).expect("symlink");

    let sidecar = Sidecar::start(&dir.args(&[]));
    append(&target, &chat(5));
    sidecar.wait_value(CHAT, 5.0);
    assert!(sidecar.terminate().success());

    append(&target, &chat(3));
    std::fs::rename(&target, real_dir.join("site.log.1")).expect("rotate");
    append(&target, &chat(2));

    let sidecar = Sidecar::start(&dir.args(&[]));
    sidecar.wait_value(CHAT, 5.0);
    std::thread::sleep(Duration::from_millis(500));
    let m = sidecar.metrics();
    assert_eq!(sample(&m, CHAT), 5.0, "{m}");
    assert_eq!(
        log_metric(&m, "nginxlog_log_rotations_total", l),
        1.0,
        "{m}"
    );
}

/// Two rotations while stopped: the checkpointed file is now `.2`, the file created in
/// between `.1`. Both are read, and both rotations are counted on resume.
#[test]
fn two_rotations_while_stopped_are_read_and_counted() {
    let dir = StateDir::new();
    let (tmp, log, l) = (&dir.tmp, &dir.log, dir.log_name());
    append(log, &[]);
    let sidecar = Sidecar::start(&dir.args(&[]));
    append(log, &chat(4));
    sidecar.wait_value(CHAT, 4.0);
    assert!(sidecar.terminate().success());

    append(log, &chat(3));
    std::fs::rename(log, tmp.path().join("access.log.1")).expect("rotate");
    append(log, &chat(7));
    std::fs::rename(
        tmp.path().join("access.log.1"),
        tmp.path().join("access.log.2"),
    )
    .expect("rotate .1");
    std::fs::rename(log, tmp.path().join("access.log.1")).expect("rotate");
    append(log, &chat(11));

    let sidecar = Sidecar::start(&dir.args(&[]));
    sidecar.wait_value(CHAT, 21.0);
    std::thread::sleep(Duration::from_millis(500));
    let m = sidecar.metrics();
    assert_eq!(sample(&m, CHAT), 21.0, "{m}");
    assert_eq!(
        log_metric(&m, "nginxlog_log_rotations_total", l),
        2.0,
        "{m}"
    );
}

/// The log did not exist yet when the sidecar stopped; it was created meanwhile. The state says
/// the log was being waited for, so the restart reads it from its start, as a file appearing
/// while running is.
#[test]
fn a_log_created_while_stopped_is_read_whole() {
    let dir = StateDir::new();
    let (_tmp, log, _l) = (&dir.tmp, &dir.log, dir.log_name());
    let sidecar = Sidecar::start(&dir.args(&[]));
    assert!(sidecar.terminate().success());
    append(log, &chat(3));
    let sidecar = Sidecar::start(&dir.args(&[]));
    sidecar.wait_value(CHAT, 3.0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sidecar.value(CHAT), 3.0);
}
