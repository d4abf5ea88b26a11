//! A datagram without a syslog header (a plain line sent to the port) is framed by the same rule
//! as every other line: over `--max-line-bytes` it is counted malformed and never parsed, a
//! trailing `\r` is dropped, and the lines around it are read normally.

mod support;
use support::*;

#[test]
fn headerless_datagrams_go_through_the_framing_rule() {
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr").port()
    };
    let src = format!("syslog+udp://127.0.0.1:{port}");
    let good = r#"127.0.0.1 - - [28/Nov/2026:01:53:32 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua""#;
    let max = good.len().to_string();
    let sidecar = Sidecar::start(&[
        "--format",
        "combined",
        "--max-line-bytes",
        &max,
        "--access-log",
        &src,
    ]);
    let long = good.replacen("/a", "/ab", 1);
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    // At the limit; one byte over (never parsed, so no /ab series); at the limit with `\r\n`
    // (the `\r` is not counted against the limit and not parsed as part of the size field).
    for d in [good.to_string(), long, format!("{good}\r\n")] {
        tx.send_to(d.as_bytes(), ("127.0.0.1", port)).expect("send");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    sidecar.wait_value(&format!(r#"nginxlog_lines_read_total{{log="{src}"}}"#), 3.0);
    let m = sidecar.metrics();
    assert_eq!(
        sample(
            &m,
            &format!(r#"nginxlog_lines_malformed_total{{log="{src}"}}"#)
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            r#"nginxlog_http_requests_total{path="/a",method="GET",status="200"}"#
        ),
        2.0,
        "{m}"
    );
    assert!(
        !m.contains(r#"path="/ab""#),
        "the oversized line was parsed:\n{m}"
    );
}
