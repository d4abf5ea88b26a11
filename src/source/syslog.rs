//! nginx's own `syslog:` output over UDP (stdin is read by `tail::read_stream`).
//!
//! nginx sends RFC 3164 datagrams: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MESSAGE`, one log line
//! per datagram. The header is stripped and the message goes through the same pipeline as a
//! file's line.

use crate::framing::{Frame, Rule};
use crate::pipeline::Shared;
use crate::pipeline::{LogId, LogKind, Outcome};
use crate::pipeline::{Notice, Sink};
use crate::source::tail::report_malformed;
use std::convert::Infallible;
use std::net::UdpSocket;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Prefix of a syslog source address: `syslog+udp://127.0.0.1:5514`.
pub(crate) const SYSLOG_PREFIX: &str = "syslog+udp://";

/// The message of an RFC 3164 datagram as nginx sends it (`None` if it has no `<PRI>` header).
pub(crate) fn syslog_message(d: &[u8]) -> Option<&[u8]> {
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

/// One datagram as one frame: its syslog message, or (no `<PRI>` header: a plain line sent
/// to the port) the datagram less one trailing `\n`; either way through the framing rule every
/// mode uses (the length cap, one `\r` dropped).
pub(crate) fn frame_datagram(rule: Rule, d: &[u8]) -> Frame<'_> {
    match syslog_message(d) {
        Some(m) => rule.frame(m),
        None => rule.frame(d.strip_suffix(b"\n").unwrap_or(d)),
    }
}

/// Default bytes of kernel receive buffer asked for a syslog socket (`--syslog-receive-buffer`):
/// nginx sends a datagram per line and never retries, so bursts must fit in the buffer while
/// the sidecar catches up.
pub(crate) const SYSLOG_RCVBUF: usize = 8 << 20;

/// Asks for `bytes` of receive buffer; the kernel caps it at `net.core.rmem_max`, so a smaller
/// grant is a warning naming the sysctl (raise it for bursty high-rate syslog).
pub(crate) fn set_receive_buffer(sock: &UdpSocket, name: &str, bytes: usize) {
    let s = socket2::SockRef::from(sock);
    let _ = s.set_recv_buffer_size(bytes);
    if let Some(granted) = s.recv_buffer_size().ok().and_then(|r| capped(bytes, r)) {
        tracing::warn!(
            source = name,
            asked_bytes = bytes,
            granted_bytes = granted,
            "syslog receive buffer capped by net.core.rmem_max; bursts beyond it are dropped \
             by the kernel: raise it (sysctl -w net.core.rmem_max={bytes})"
        );
    }
}

/// The size the kernel granted when it is less than `asked`, from what `SO_RCVBUF` reports:
/// Linux stores (and reports) twice the granted size, its bookkeeping overhead included, so a
/// report above `asked` can still be a cap (`rmem_max` of 5 MiB reports 10 MiB for 8 MiB asked).
pub(crate) fn capped(asked: usize, reported: usize) -> Option<usize> {
    let granted = reported / 2;
    (granted < asked).then_some(granted)
}

/// How often the kernel's drop counter of a syslog socket is read.
const DROPS_EVERY: Duration = Duration::from_millis(500);

/// The inode of a socket (`/proc/self/fd/N` links to `socket:[INODE]`), which keys its row
/// in `/proc/net/udp`.
fn socket_inode(sock: &UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", sock.as_raw_fd())).ok()?;
    link.to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Datagrams the kernel dropped on the UDP socket with `inode` (receive buffer full), from
/// the `drops` column of `/proc/net/udp` or `/proc/net/udp6`.
pub(crate) fn kernel_drops(inode: u64) -> Option<u64> {
    ["/proc/net/udp", "/proc/net/udp6"].iter().find_map(|t| {
        std::fs::read_to_string(t)
            .ok()
            .and_then(|text| drops_in(&text, inode))
    })
}

/// The `drops` of `inode`'s row in a `/proc/net/udp` table.
pub(crate) fn drops_in(table: &str, inode: u64) -> Option<u64> {
    // sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ref pointer drops
    table.lines().skip(1).find_map(|line| {
        let mut cols = line.split_whitespace();
        let ino: u64 = cols.nth(9)?.parse().ok()?;
        (ino == inode).then(|| cols.nth(2)?.parse().ok()).flatten()
    })
}

/// Where a socket's kernel drop counter is read from.
#[derive(Clone, Copy, Debug)]
enum DropCounter {
    /// `SO_MEMINFO` on the socket itself: one syscall, whatever the host's UDP sockets.
    MemInfo,
    /// The `drops` column of the socket's row (by inode) in `/proc/net/udp{,6}`, on kernels
    /// without `SO_MEMINFO`: a read of every UDP socket's row.
    Proc(u64),
}

impl DropCounter {
    fn of(sock: &UdpSocket) -> Option<DropCounter> {
        if meminfo_drops(sock).is_some() {
            return Some(DropCounter::MemInfo);
        }
        socket_inode(sock).map(DropCounter::Proc)
    }

    fn read(self, sock: &UdpSocket) -> Option<u64> {
        match self {
            DropCounter::MemInfo => meminfo_drops(sock),
            DropCounter::Proc(inode) => kernel_drops(inode),
        }
    }
}

/// The socket's `sk_drops` (the counter `/proc/net/udp` shows as `drops`) through
/// `getsockopt(SO_MEMINFO)`; `None` on kernels without the option (before Linux 4.12).
pub(crate) fn meminfo_drops(sock: &UdpSocket) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let mut info = [0u32; libc::SK_MEMINFO_DROPS as usize + 1];
        let size = std::mem::size_of_val(&info);
        let mut len = size as libc::socklen_t;
        // SAFETY: `info` is a live buffer of `len` bytes; the kernel writes at most `len` bytes
        // and stores how many it wrote in `len`.
        let r = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_MEMINFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if r == 0 && len as usize >= size {
            return Some(u64::from(info[libc::SK_MEMINFO_DROPS as usize]));
        }
    }
    let _ = sock;
    None
}

/// Receives datagrams until `stop`; each is one line of `log`. The socket's kernel drop
/// counter is exported as `nginxlog_syslog_dropped_total`, read by a thread of its own, so a
/// burst never delays the counter and the receive loop never waits for it (where the counter
/// comes from `/proc/net/udp`, reading it costs time proportional to the host's UDP sockets).
pub(crate) fn run_syslog<S: Sink<Error = Infallible> + Send>(
    sock: UdpSocket,
    shared: Shared<S>,
    log: LogId,
    kind: LogKind,
    max_line: usize,
    stop: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 65_536];
    let rule = Rule::new(max_line);
    let name = format!(
        "{SYSLOG_PREFIX}{}",
        sock.local_addr().map(|a| a.to_string()).unwrap_or_default()
    );
    let counter = DropCounter::of(&sock);
    if counter.is_none() {
        tracing::warn!(source = %name, "cannot read the socket's drop counter (no SO_MEMINFO, no /proc); syslog drops are not counted");
    }
    std::thread::scope(|scope| {
        if let Some(counter) = counter {
            let (sock, shared, stop) = (&sock, &shared, &stop);
            scope.spawn(move || poll_drops(counter, sock, shared, log, stop));
        }
        receive(&sock, &shared, log, kind, &rule, &name, &stop, &mut buf);
    });
}

/// Reads the socket's kernel drop counter every [`DROPS_EVERY`] until `stop`.
fn poll_drops<S: Sink<Error = Infallible>>(
    counter: DropCounter,
    sock: &UdpSocket,
    shared: &Shared<S>,
    log: LogId,
    stop: &AtomicBool,
) {
    let mut last: Option<Instant> = None;
    let mut warned = false;
    while !stop.load(Ordering::Relaxed) {
        if last.is_none_or(|t| t.elapsed() >= DROPS_EVERY) {
            last = Some(Instant::now());
            if let Some(d) = counter.read(sock) {
                let Ok(mut p) = shared.lock() else { return };
                p.notice(log, Notice::SyslogDropped(d));
            } else if !warned {
                // No series then, and the drop alert cannot fire: say so once.
                warned = true;
                let why = match counter {
                    DropCounter::MemInfo => "getsockopt(SO_MEMINFO) failed",
                    DropCounter::Proc(_) => {
                        "not in /proc/net/udp: no /proc, or another network namespace"
                    }
                };
                tracing::warn!(?counter, "cannot read this syslog socket's drop counter ({why}): nginxlog_syslog_dropped_total is not exported for it");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "the receive loop's own state, passed by reference from run_syslog's scope"
)]
fn receive<S: Sink<Error = Infallible>>(
    sock: &UdpSocket,
    shared: &Shared<S>,
    log: LogId,
    kind: LogKind,
    rule: &Rule,
    name: &str,
    stop: &AtomicBool,
    buf: &mut [u8],
) {
    let mut warned = 0;
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    let mut n_datagrams = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let n = match sock.recv(buf) {
            Ok(n) => n,
            Err(_) => continue,
        };
        n_datagrams += 1;
        let frame = frame_datagram(*rule, &buf[..n]);
        let Ok(mut p) = shared.lock() else { return };
        if let Outcome::Malformed(reason) = p.feed(log, kind, frame) {
            report_malformed(Path::new(name), n_datagrams, reason, &mut warned);
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

    #[test]
    fn datagrams_without_a_header_go_through_the_framing_rule() {
        let rule = Rule::new(16);
        assert_eq!(
            frame_datagram(rule, b"plain line\r\n"),
            Frame::Line(b"plain line")
        );
        assert_eq!(
            frame_datagram(rule, b"plain line\r"),
            Frame::Line(b"plain line")
        );
        assert_eq!(
            frame_datagram(rule, b"0123456789abcdef"),
            Frame::Line(b"0123456789abcdef")
        );
        assert_eq!(
            frame_datagram(rule, b"0123456789abcdefX"),
            Frame::Oversized(17)
        );
        assert_eq!(
            frame_datagram(rule, b"<190>Nov 28 01:53:32 web-1 nginx: 0123456789abcdefX"),
            Frame::Oversized(17)
        );
    }

    #[test]
    fn a_cap_is_seen_through_the_kernels_doubling() {
        let mib = 1 << 20;
        // rmem_max 5 MiB, 8 MiB asked: reported 10 MiB, above what was asked, still a cap.
        assert_eq!(capped(8 * mib, 10 * mib), Some(5 * mib));
        // The usual default rmem_max (208 KiB).
        assert_eq!(capped(8 * mib, 2 * 212_992), Some(212_992));
        // Granted in full: reported twice the size.
        assert_eq!(capped(8 * mib, 16 * mib), None);
    }

    #[test]
    fn drops_column_of_proc_net_udp() {
        let t = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                 1: 0100007F:1538 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
                 2: 0100007F:1539 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 0\n";
        assert_eq!(drops_in(t, 4242), Some(17));
        assert_eq!(drops_in(t, 4243), Some(0));
        assert_eq!(drops_in(t, 1), None);
        assert_eq!(drops_in("garbage\nx y", 1), None);
    }

    /// `SO_MEMINFO` reads the counter `/proc/net/udp` shows: the same number after the kernel
    /// dropped datagrams on a socket nobody reads (read before and after `/proc`, as loopback
    /// delivery may still be dropping).
    #[cfg(target_os = "linux")]
    #[test]
    fn meminfo_drops_equal_the_proc_net_udp_column() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket2::SockRef::from(&rx)
            .set_recv_buffer_size(4096)
            .expect("small buffer");
        assert_eq!(meminfo_drops(&rx), Some(0));
        let to = rx.local_addr().expect("addr");
        for _ in 0..200 {
            let _ = tx.send_to(&[b'x'; 1000], to);
        }
        let inode = socket_inode(&rx).expect("inode");
        let before = meminfo_drops(&rx).expect("SO_MEMINFO");
        let via_proc = kernel_drops(inode).expect("row in /proc/net/udp");
        let after = meminfo_drops(&rx).expect("SO_MEMINFO");
        assert!(before > 0, "the kernel dropped nothing");
        assert!(
            (before..=after).contains(&via_proc),
            "SO_MEMINFO {before}..{after}, /proc/net/udp {via_proc}"
        );
    }
}
