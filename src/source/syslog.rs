//! nginx's own `syslog:` output over UDP (stdin is read by `tail::read_stream`).
//!
//! nginx sends RFC 3164 datagrams: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MESSAGE`, one log line
//! per datagram. The header is stripped and the message goes through the same pipeline as a
//! file's line.

use crate::framing::{Frame, Rule};
use crate::pipeline::Sink;
use crate::pipeline::{LogId, LogKind, Outcome};
use crate::source::tail::{report_malformed, Shared};
use std::net::UdpSocket;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Prefix of a syslog source address: `syslog+udp://127.0.0.1:5514`.
pub const SYSLOG_PREFIX: &str = "syslog+udp://";

/// The message of an RFC 3164 datagram as nginx sends it (`None` if it has no `<PRI>` header).
pub fn syslog_message(d: &[u8]) -> Option<&[u8]> {
    if d.first() != Some(&b'<') {
        return None;
    }
    let close = memchr::memchr(b'>', &d[..d.len().min(6)])?;
    if close < 2 || !d[1..close].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut rest = &d[close + 1..];
    // TIMESTAMP "Mmm dd hh:mm:ss " (16 bytes) then HOSTNAME then TAG ": ".
    if rest.len() > 16 && rest[3] == b' ' && rest[6] == b' ' && rest[9] == b':' && rest[15] == b' '
    {
        rest = &rest[16..];
        let host_end = memchr::memchr(b' ', rest)?;
        rest = &rest[host_end + 1..];
    }
    let tag_end = memchr::memmem::find(&rest[..rest.len().min(64)], b": ")?;
    let mut msg = &rest[tag_end + 2..];
    while let [m @ .., b'\n' | b'\r'] = msg {
        msg = m;
    }
    Some(msg)
}

/// Bytes of kernel receive buffer asked for a syslog socket: nginx sends a datagram per line and
/// never retries, so bursts must fit in the buffer while the sidecar catches up.
pub const SYSLOG_RCVBUF: usize = 8 << 20;

/// Asks for [`SYSLOG_RCVBUF`]; the kernel caps it at `net.core.rmem_max`, so the size granted
/// is logged (raise the sysctl for bursty high-rate syslog).
pub fn enlarge_receive_buffer(sock: &UdpSocket, name: &str) {
    let s = socket2::SockRef::from(sock);
    let _ = s.set_recv_buffer_size(SYSLOG_RCVBUF);
    match s.recv_buffer_size() {
        Ok(got) if got < SYSLOG_RCVBUF => tracing::info!(
            source = name,
            receive_buffer_bytes = got,
            "syslog receive buffer capped by net.core.rmem_max; raise it if bursts drop lines"
        ),
        _ => {}
    }
}

/// Receives datagrams until `stop`; each is one line of `log`.
pub fn run_syslog<S: Sink>(
    sock: UdpSocket,
    shared: Shared<S>,
    log: LogId,
    kind: LogKind,
    max_line: usize,
    stop: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 65_536];
    let rule = Rule::new(max_line);
    let mut warned = 0;
    let name = format!(
        "{SYSLOG_PREFIX}{}",
        sock.local_addr().map(|a| a.to_string()).unwrap_or_default()
    );
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    let mut n_datagrams = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(_) => continue,
        };
        n_datagrams += 1;
        let d = &buf[..n];
        let frame = match syslog_message(d) {
            Some(m) => rule.frame(m),
            None => Frame::Line(d),
        };
        let Ok(mut p) = shared.lock() else { return };
        if let Outcome::Malformed(reason) = p.feed(log, kind, frame) {
            report_malformed(Path::new(&name), n_datagrams, reason, &mut warned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_rfc3164_header() {
        let d = b"<190>Nov 28 01:53:32 web-1 nginx: 127.0.0.1 - - [x] \"GET / HTTP/1.1\" 200 1\n";
        assert_eq!(
            syslog_message(d),
            Some(&b"127.0.0.1 - - [x] \"GET / HTTP/1.1\" 200 1"[..])
        );
        let d = b"<190>Nov  8 01:53:32 web-1 nginx_access: a: b";
        assert_eq!(syslog_message(d), Some(&b"a: b"[..]));
        assert_eq!(syslog_message(b"plain"), None);
        assert_eq!(syslog_message(b"<x>y"), None);
    }
}
