//! `healthcheck`: a dependency-free HTTP(S) GET for container HEALTHCHECKs on images without
//! curl. Speaks TLS (verified against `--ca-file`, or not at all with `--insecure`), basic auth
//! and client certificates, so it still works once `--web.config.file` secures the port.

use crate::app::cli::HealthcheckArgs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;

/// GETs the URL of `args` and succeeds on a 2xx status.
pub fn check_args(args: &HealthcheckArgs) -> Result<(), String> {
    let url = args.url();
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("{url}: give an http:// or https:// URL"));
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("{hostport}: {e}"))?
        .next()
        .ok_or_else(|| format!("{hostport}: no address"))?;
    let timeout = args.timeout;
    let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
    tcp.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut auth = String::new();
    if let Some(user) = &args.username {
        use base64::Engine;
        let pair = format!("{user}:{}", args.password.as_deref().unwrap_or(""));
        auth = format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(pair)
        );
    }
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {hostport}\r\n{auth}Connection: close\r\n\r\n");
    let head = if tls {
        let host = hostport
            .rsplit_once(':')
            .map_or(hostport, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host}: not a TLS server name ({e})"))?;
        let conn = rustls::ClientConnection::new(Arc::new(client_config(args)?), name)
            .map_err(|e| e.to_string())?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        exchange(&mut s, &request).map_err(|e| {
            if e.contains("certificate") && !args.insecure {
                format!("{e} (give the CA with --ca-file, or --insecure to skip the check)")
            } else {
                e
            }
        })?
    } else {
        let mut s = tcp;
        exchange(&mut s, &request)?
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| {
            if !tls && head.starts_with('\u{15}') {
                format!("{url}: the port speaks TLS; use https://")
            } else {
                "not an HTTP response".to_string()
            }
        })?;
    match status {
        200..=299 => Ok(()),
        401 if args.username.is_none() => Err(format!(
            "{url} answered 401: give the user in NGINXLOG_HEALTHCHECK_USERNAME and the password in NGINXLOG_HEALTHCHECK_PASSWORD"
        )),
        400 if !tls && head.contains("HTTPS") => Err(format!("{url}: the port speaks TLS; use https://")),
        _ => Err(format!("{url} answered {status}")),
    }
}

/// Sends the request and reads the start of the answer (the status line is all we need).
fn exchange(s: &mut impl ReadWrite, request: &str) -> Result<String, String> {
    s.write_all(request.as_bytes())
        .and_then(|()| s.flush())
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if head.is_empty() => return Err(e.to_string()),
            Err(_) => break,
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn client_config(args: &HealthcheckArgs) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if args.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &args.ca_file {
            let certs = CertificateDer::pem_file_iter(ca)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("--ca-file {}: {e}", ca.display()))?;
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("--ca-file {}: {e}", ca.display()))?;
            }
        }
        if roots.is_empty() {
            return Err(
                "https needs the CA that signed the sidecar's certificate (--ca-file / NGINXLOG_HEALTHCHECK_CA_FILE), or --insecure"
                    .into(),
            );
        }
        builder.with_root_certificates(roots)
    };
    match (&args.cert_file, &args.key_file) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("--cert-file {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("--key-file {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("--cert-file/--key-file: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// `--insecure`: any server certificate is accepted (signatures are still checked).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
