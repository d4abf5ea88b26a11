//! `--listen` / `--web.listen-address` values: `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` for every
//! interface (as Go exporters accept). The form is checked while the flags are parsed; lookup
//! and bind errors at startup say which of the two went wrong.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// What is accepted, for error messages.
const FORMS: &str =
    "give HOST:PORT (127.0.0.1:9680, [::1]:9680, localhost:9680) or :PORT for every interface";

/// A checked listen address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListenAddr {
    /// As given.
    pub(crate) text: String,
    /// `None`: every interface.
    pub(crate) host: Option<String>,
    pub(crate) port: u16,
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The clap value parser.
pub(crate) fn parse(s: &str) -> Result<ListenAddr, String> {
    let text = s.trim();
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(ListenAddr {
            text: text.to_string(),
            host: Some(a.ip().to_string()),
            port: a.port(),
        });
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{text:?} has no port: {FORMS}"));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{text:?}: port {port:?} is not a number from 0 to 65535; {FORMS}"))?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) if v6.parse::<Ipv6Addr>().is_ok() => v6,
        Some(v6) => return Err(format!("{text:?}: {v6:?} is not an IPv6 address; {FORMS}")),
        None if host.contains([':', '[', ']']) => {
            return Err(format!(
                "{text:?}: write an IPv6 address in brackets ([::1]:PORT); {FORMS}"
            ))
        }
        None => host,
    };
    if host.contains(['/', ' ', '?', '#', '@']) {
        return Err(format!("{text:?}: {host:?} is not a host name; {FORMS}"));
    }
    Ok(ListenAddr {
        text: text.to_string(),
        host: (!host.is_empty()).then(|| host.to_string()),
        port,
    })
}

/// Refuses an address whose port an earlier `--listen` already takes (the same address, or
/// `:PORT`, which covers every interface): binding it would fail with a misleading "another
/// process is using the port".
pub(crate) fn check_distinct(addrs: &[ListenAddr]) -> anyhow::Result<()> {
    for (i, a) in addrs.iter().enumerate() {
        for b in &addrs[..i] {
            let overlap = a.host.is_none() || b.host.is_none() || a.host == b.host;
            if a.port == b.port && overlap {
                anyhow::bail!(
                    "--listen {a}: port {} is already taken by --listen {b} given earlier (:PORT \
                     listens on every interface); give each port once",
                    a.port
                );
            }
        }
    }
    Ok(())
}

/// Binds a listener for `addr`; `:PORT` binds IPv6 and IPv4 (dual stack), or IPv4 alone where
/// IPv6 is off.
pub(crate) fn bind(addr: &ListenAddr) -> anyhow::Result<std::net::TcpListener> {
    let targets: Vec<SocketAddr> = match &addr.host {
        None => {
            let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), addr.port);
            match bind_one(v6, true) {
                Ok(l) => return Ok(l),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    return Err(bind_error(addr, v6, e))
                }
                Err(_) => vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port)],
            }
        }
        Some(host) => (host.as_str(), addr.port)
            .to_socket_addrs()
            .map_err(|e| {
                anyhow::anyhow!(
                    "--listen {addr}: cannot resolve host {host:?} ({e}); give an IP address or a name this machine resolves"
                )
            })?
            .collect(),
    };
    let mut last = None;
    for t in &targets {
        match bind_one(*t, false) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(bind_error(addr, *t, e)),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("--listen {addr}: the host has no address")))
}

fn bind_one(a: SocketAddr, dual_stack: bool) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(a), Type::STREAM, Some(Protocol::TCP))?;
    if dual_stack {
        s.set_only_v6(false)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&a.into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn bind_error(addr: &ListenAddr, a: SocketAddr, e: std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind::*;
    let hint = match e.kind() {
        AddrInUse => "another process is using the port; choose another with --listen",
        PermissionDenied => {
            "ports below 1024 need root or CAP_NET_BIND_SERVICE; choose a higher port"
        }
        AddrNotAvailable => {
            "that address is not on this machine; use one of its addresses or :PORT"
        }
        _ => "check the address",
    };
    anyhow::anyhow!("--listen {addr}: cannot listen on {a}: {e} ({hint})")
}

/// The address a local client (the `healthcheck` subcommand) reaches `addr` at.
pub(crate) fn loopback_for(addr: &ListenAddr) -> String {
    match addr.host.as_deref().map(|h| h.parse::<IpAddr>()) {
        None => format!("127.0.0.1:{}", addr.port),
        Some(Ok(ip)) if ip.is_unspecified() && ip.is_ipv6() => format!("[::1]:{}", addr.port),
        Some(Ok(ip)) if ip.is_unspecified() => format!("127.0.0.1:{}", addr.port),
        Some(Ok(ip)) => SocketAddr::new(ip, addr.port).to_string(),
        Some(Err(_)) => addr.text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let a = parse(":9680").expect(":PORT");
        assert_eq!((a.host, a.port), (None, 9680));
        assert_eq!(parse("[::1]:9").expect("v6").host.as_deref(), Some("::1"));
        assert_eq!(parse("localhost:80").expect("name").port, 80);
        assert!(parse("0.0.0.0").expect_err("no port").contains("no port"));
        assert!(parse("a:99999").expect_err("port").contains("65535"));
        assert!(parse("a:http").is_err());
        assert!(parse("::1:9").is_err());
        assert_eq!(loopback_for(&parse(":9").expect("ok")), "127.0.0.1:9");
        assert_eq!(loopback_for(&parse("[::]:9").expect("ok")), "[::1]:9");
    }

    #[test]
    fn repeated_port_is_named() {
        let p = |s: &str| parse(s).expect("form");
        let e = check_distinct(&[p(":9680"), p("127.0.0.1:9680")]).expect_err("overlap");
        assert!(
            format!("{e}").contains("already taken by --listen :9680"),
            "{e}"
        );
        assert!(check_distinct(&[p("127.0.0.1:9680"), p("127.0.0.1:9680")]).is_err());
        assert!(check_distinct(&[p("127.0.0.1:9680"), p("[::1]:9680"), p(":9681")]).is_ok());
    }

    #[test]
    fn lookup_error_is_not_port_in_use() {
        let a = parse("no-such-host.invalid:19690").expect("form ok");
        let e = format!("{:#}", bind(&a).expect_err("cannot resolve"));
        assert!(e.contains("cannot resolve host"), "{e}");
        assert!(!e.contains("another process"), "{e}");
    }
}
