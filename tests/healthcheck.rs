//! `nginxlog-sidecar healthcheck`, the container HEALTHCHECK of the Dockerfile: exit 0 while the
//! sidecar answers on /healthz, exit 1 when nothing listens.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nginxlog-sidecar");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// The sidecar under test; killed when dropped, also when an assertion fails.
struct Sidecar(Child);

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn healthcheck(url: &str) -> std::process::Output {
    Command::new(BIN)
        .args(["healthcheck", "--url", url, "--timeout", "2s"])
        .output()
        .expect("run healthcheck")
}

#[test]
fn healthcheck_exits_0_against_a_running_sidecar_and_1_against_a_closed_port() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("access.log");
    std::fs::write(&log, "").expect("create access log");
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "run",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--access-log",
        ])
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sidecar");
    let mut sidecar = Sidecar(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            sidecar.0.try_wait().expect("try_wait").is_none(),
            "the sidecar exited early"
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the sidecar did not listen within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let ok = healthcheck(&format!("http://127.0.0.1:{port}/healthz"));
    assert_eq!(
        ok.status.code(),
        Some(0),
        "healthcheck against the running sidecar: {}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // A path the sidecar does not serve is unhealthy too (404 is not 2xx).
    let missing = healthcheck(&format!("http://127.0.0.1:{port}/nope"));
    assert_eq!(missing.status.code(), Some(1));

    // Nothing listens on a port we just freed.
    let closed = free_port();
    let bad = healthcheck(&format!("http://127.0.0.1:{closed}/healthz"));
    assert_eq!(
        bad.status.code(),
        Some(1),
        "healthcheck against a closed port"
    );
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unhealthy"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    // The default URL is the image's: NGINXLOG_HEALTHCHECK_URL overrides it.
    let env = Command::new(BIN)
        .arg("healthcheck")
        .env(
            "NGINXLOG_HEALTHCHECK_URL",
            format!("http://127.0.0.1:{port}/healthz"),
        )
        .output()
        .expect("run healthcheck");
    assert_eq!(env.status.code(), Some(0));

    // Without a URL, the port comes from NGINXLOG_LISTEN (as the sidecar's own flag does), a
    // wildcard address is checked over loopback.
    let listen = Command::new(BIN)
        .arg("healthcheck")
        .env_remove("NGINXLOG_HEALTHCHECK_URL")
        .env("NGINXLOG_LISTEN", format!("0.0.0.0:{port}"))
        .output()
        .expect("run healthcheck");
    assert_eq!(
        listen.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&listen.stderr)
    );

    let _ = sidecar.0.kill();
    let _ = sidecar.0.wait();
}
