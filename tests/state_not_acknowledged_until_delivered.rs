//! A scrape acknowledges the state file only once the client's TCP stack has accepted the whole
//! response. A client that asks for `/metrics`, never reads and resets the connection leaves the
//! previous acknowledgement in place: after `kill -9` a restart reads its lines again.

mod support;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;
use support::*;

/// The acknowledged offset of `log` in the state file, and whether a scrape acknowledged it.
fn saved(state: &std::path::Path, log: &str) -> (u64, bool) {
    let text = std::fs::read_to_string(state).expect("state file");
    let v: serde_json::Value = serde_json::from_str(&text).expect("state JSON");
    let offset = v["files"][log]["offset"].as_u64().expect("offset");
    let acked = v["acknowledged_by_scrape"].as_bool().expect("acknowledged");
    (offset, acked)
}

/// `GET /metrics` with a 1 KiB receive buffer, nothing read, then a reset (SO_LINGER 0): the
/// response cannot have reached the client.
fn scrape_and_reset(port: u16) {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(1024).expect("SO_RCVBUF");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    sock.connect(&addr.into()).expect("connect");
    let mut s: TcpStream = sock.into();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    // Long enough for the sidecar to render and write what the socket takes.
    std::thread::sleep(Duration::from_millis(800));
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(s);
}

#[test]
fn a_scrape_reset_unread_acknowledges_nothing_and_its_lines_are_read_again() {
    let dir = StateDir::new();
    let log = &dir.log;
    let state = &dir.state;
    let l = dir.log_name();
    append(log, &chat(3000));
    let args = dir.args(&["--from-start"]);
    let sidecar = Sidecar::start(&args);
    sidecar.wait_value(CHAT, 3000.0); // a full scrape: acknowledged
    let first = std::fs::metadata(log).expect("log").len();
    wait_for("the full scrape saved", Duration::from_secs(5), || {
        state.exists() && saved(state, l) == (first, true)
    });

    append(log, &chat(1000));
    sidecar.wait_lines_read_unscraped(l, 4000);
    scrape_and_reset(sidecar.port);
    // The saver runs at once after an acknowledgement; give a wrong one time to land.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        saved(state, l),
        (first, true),
        "a response the client never accepted acknowledged its snapshot"
    );
    sidecar.kill9();

    let sidecar = Sidecar::start(&args);
    sidecar.wait_value(CHAT, 1000.0);
    std::thread::sleep(Duration::from_millis(500));
    let m = sidecar.metrics();
    assert_eq!(sample(&m, CHAT), 1000.0, "{m}");
    let lost: f64 = m
        .lines()
        .filter(|x| x.starts_with("nginxlog_lines_lost_total{"))
        .filter_map(|x| x.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(lost, 0.0, "nothing is lost: the lines were read again\n{m}");
}
