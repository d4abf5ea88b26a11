//! On a full disk, a deleted log must not stay allocated because the sidecar holds it: after
//! nginx reopens (a new file at the name), the deleted file is let go within about a second, so
//! the new file can grow, even though it has no data yet for the "nginx wrote to the new one"
//! rule. Needs root to mount a small tmpfs; skipped with a printed reason otherwise.

mod support;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path) -> Result<Tmpfs, String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not running as root (mounting a tmpfs needs root)".into());
    }
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(dir)
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err(format!("mount -t tmpfs failed ({st})"));
    }
    Ok(Tmpfs(dir.to_path_buf()))
}

/// A line of exactly 256 bytes with its newline: 16 fit a page, so a write never ends half
/// done when the tmpfs is full.
fn line256() -> String {
    let base = ws_line("/ws/full", 101, "0.001");
    let pad = 255 - base.len();
    base.replace("\"test\"", &format!("\"test{}\"", "x".repeat(pad)))
}

/// Writes lines like nginx (one `write` per line, `O_APPEND`) until the disk is full; returns
/// how many were written.
fn fill(f: &mut std::fs::File, line: &str) -> u64 {
    let mut n = 0;
    while f.write_all(format!("{line}\n").as_bytes()).is_ok() {
        n += 1;
    }
    n
}

#[test]
fn deleted_log_on_full_disk_is_released_and_new_file_grows() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    let _fs = match mount_tmpfs(&mnt) {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED deleted_log_on_full_disk_is_released_and_new_file_grows: {why}");
            return;
        }
    };
    let line = line256();
    assert_eq!(line.len(), 255);
    let log = mnt.join("access.log");
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open log")
    };
    let mut nginx = open();
    let l = log.display().to_string();
    let sidecar = Sidecar::start(&["--format", "ws_timing", "--access-log", &l]);
    let read = format!(r#"nginxlog_lines_read_total{{log="{l}"}}"#);
    let first = fill(&mut nginx, &line);
    assert!(first > 1000, "only {first} lines fit the 2 MiB tmpfs");
    eprintln!("{first} lines filled the tmpfs");
    sidecar.wait_value(&read, first as f64);
    assert_eq!(
        sidecar.value(r#"nginxlog_open_files{deleted="false"}"#),
        1.0
    );

    // logrotate removes the log; nginx reopens (USR1) and tries to write to the new file.
    std::fs::remove_file(&log).expect("delete");
    drop(nginx);
    let mut nginx = open();
    let reopened = Instant::now();
    let mut second = 0u64;
    let mut grew_after = None;
    while reopened.elapsed() < Duration::from_secs(10) {
        if nginx.write_all(format!("{line}\n").as_bytes()).is_ok() {
            second += 1;
            grew_after.get_or_insert(reopened.elapsed());
            if second == 50 {
                break;
            }
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let grew_after = grew_after.expect("the new log never grew: the deleted one is still held");
    eprintln!(
        "new file grew {} ms after the reopen",
        grew_after.as_millis()
    );
    assert!(
        grew_after < Duration::from_secs(5),
        "the new log grew only after {grew_after:?}"
    );
    sidecar.wait_value(&read, (first + second) as f64);
    let m = sidecar.metrics();
    assert_eq!(
        sample(&m, r#"nginxlog_open_files{deleted="true"}"#),
        0.0,
        "{m}"
    );
    assert_eq!(
        sample(&m, r#"nginxlog_open_files{deleted="false"}"#),
        1.0,
        "{m}"
    );
    assert_eq!(
        log_metric(&m, "nginxlog_lines_malformed_total", &l),
        0.0,
        "{m}"
    );
}
