//! Basic auth under a flood of wrong passwords: a scraper whose credentials verified once keeps
//! getting `/metrics` promptly while many clients try new wrong passwords in parallel, and every
//! flood request is answered (401, or 429 when the bcrypt queue is full) instead of waiting in an
//! unbounded queue for the one bcrypt slot.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{free_port, sidecar_bin, wait_for};

const USER: &str = "prometheus";
const PASSWORD: &str = "right-password";

/// Flood clients; each sends a new wrong password per request, so none is answered from cache.
const FLOODERS: usize = 24;
/// A functional bound for the good scraper, far above a cached check and far below the time
/// `FLOODERS` queued bcrypt rounds take.
const GOOD_BOUND: Duration = Duration::from_secs(2);

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET with basic auth; returns the status (0 when the exchange failed).
fn get(port: u16, path: &str, user: &str, password: &str) -> u16 {
    use base64::Engine;
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    if write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {b}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return 0;
    }
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    String::from_utf8_lossy(&resp)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn wrong_password_flood_does_not_stall_a_verified_scraper() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Cost 10, what `htpasswd -nBC 10` writes.
    let hash = bcrypt::hash(PASSWORD, 10).expect("hash");
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  {USER}: {hash}\n")).expect("web.yml");
    let log = dir.path().join("access.log");
    std::fs::write(&log, "").expect("log");
    let port = free_port();
    let _sidecar = Running(
        Command::new(sidecar_bin())
            .args(["run", "--web.listen-address", &format!("127.0.0.1:{port}")])
            .arg("--web.config.file")
            .arg(&web)
            .arg("--access-log")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sidecar"),
    );
    wait_for("sidecar with basic auth", Duration::from_secs(15), || {
        get(port, "/metrics", USER, PASSWORD) == 200
    });

    let stop = Arc::new(AtomicBool::new(false));
    let (denied, busy, other) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let slowest_flood = Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let flood: Vec<_> = (0..FLOODERS)
        .map(|t| {
            let (stop, denied, busy, other, slowest) = (
                stop.clone(),
                denied.clone(),
                busy.clone(),
                other.clone(),
                slowest_flood.clone(),
            );
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let start = Instant::now();
                    let status = get(port, "/metrics", USER, &format!("wrong-{t}-{n}"));
                    let took = start.elapsed();
                    let mut s = slowest.lock().expect("lock");
                    *s = (*s).max(took);
                    drop(s);
                    match status {
                        401 => denied.fetch_add(1, Ordering::Relaxed),
                        429 => busy.fetch_add(1, Ordering::Relaxed),
                        _ => other.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    // Let the flood fill the queue, then scrape as Prometheus would, a bounded number of times.
    std::thread::sleep(Duration::from_millis(300));
    let mut good = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let status = get(port, "/metrics", USER, PASSWORD);
        good.push((status, start.elapsed()));
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        f.join().expect("flood thread");
    }

    for (status, took) in &good {
        assert_eq!(
            *status, 200,
            "verified scraper got {status} during the flood"
        );
        assert!(
            *took < GOOD_BOUND,
            "verified scraper waited {took:?} during the flood (bound {GOOD_BOUND:?}): {good:?}"
        );
    }
    let (denied, busy, other) = (
        denied.load(Ordering::Relaxed),
        busy.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed),
    );
    assert_eq!(other, 0, "flood requests answered neither 401 nor 429");
    assert!(denied > 0, "no wrong password was verified and refused");
    assert!(
        busy > 0,
        "{FLOODERS} parallel new passwords never found the bcrypt queue full ({denied} x 401)"
    );
    // The queue is bounded and the auth step has a time limit: no flood request waits long.
    let slowest = *slowest_flood.lock().expect("lock");
    assert!(
        slowest < Duration::from_secs(10),
        "a flood request waited {slowest:?}"
    );
    // The right password still works for a new connection after the flood.
    assert_eq!(get(port, "/metrics", USER, PASSWORD), 200);
}
