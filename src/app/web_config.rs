//! `--web.config.file`: TLS and basic auth for the HTTP endpoints, in the format of the
//! Prometheus exporter-toolkit (the file node_exporter and blackbox_exporter read), so one file
//! and one `scrape_config` serve every exporter on a host.
//!
//! The file is read at startup (any error stops the sidecar, naming the key) and watched: when it,
//! a certificate, key or CA file changes, it is read again and new connections use the new
//! settings (certificate rotation without a restart). A reload that fails is logged and the last
//! good settings stay in force.

use anyhow::{anyhow, bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DistinguishedName, RootCertStore, ServerConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// The file as written (exporter-toolkit's key names).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpFile>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    /// Accepted so node_exporter's files load; rustls chooses its own (secure) suites and order.
    #[serde(default)]
    cipher_suites: Vec<String>,
    #[serde(default)]
    curve_preferences: Vec<String>,
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    /// Accepted for compatibility; the sidecar speaks HTTP/1.1.
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// Response headers exporter-toolkit lets the file set (others are refused, as there).
const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// `client_auth_type` values, as in Go's crypto/tls.
const CLIENT_AUTH_TYPES: [&str; 5] = [
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
];

/// The settings in force: what every connection and request checks.
#[derive(Clone)]
pub struct WebConfig {
    /// TLS for the port, or plain HTTP.
    pub tls: Option<Arc<ServerConfig>>,
    /// user -> bcrypt hash; empty: no authentication.
    pub users: BTreeMap<String, String>,
    /// Extra response headers (`http_server_config.headers`).
    pub(crate) headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>,
    /// Files whose change triggers a reload (the config and the files it names).
    files: Vec<PathBuf>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .finish()
    }
}

impl WebConfig {
    /// No file: plain HTTP, no authentication.
    pub(crate) fn plain() -> WebConfig {
        WebConfig {
            tls: None,
            users: BTreeMap::new(),
            headers: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Reads and checks `path`; errors name the file and the key.
    pub fn load(path: &Path) -> anyhow::Result<WebConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--web.config.file {}: cannot read", path.display()))?;
        let ctx = |what: String| format!("--web.config.file {}: {what}", path.display());
        let file: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            serde_yaml::from_str(&text).map_err(|e| {
                anyhow!(ctx(format!(
                    "{e} (keys: tls_server_config, http_server_config, basic_auth_users)"
                )))
            })?
        };
        // `tls_server_config:` with nothing under it reads as absent: plain HTTP, likely not meant.
        if file.tls_server_config.is_none()
            && serde_yaml::from_str::<serde_yaml::Value>(&text)
                .is_ok_and(|v| v.get("tls_server_config").is_some_and(|t| t.is_null()))
        {
            tracing::warn!(
                file = %path.display(),
                "tls_server_config is empty: serving plain HTTP (give cert_file and key_file for TLS)"
            );
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut files = vec![path.to_path_buf()];
        let tls = match &file.tls_server_config {
            None => None,
            Some(t) => Some(Arc::new(
                tls_config(t, dir, &mut files).map_err(|e| anyhow!(ctx(format!("{e:#}"))))?,
            )),
        };
        let mut users = BTreeMap::new();
        for (user, hash) in file.basic_auth_users.unwrap_or_default() {
            check_hash(&hash).map_err(|e| anyhow!(ctx(format!("basic_auth_users.{user}: {e}"))))?;
            users.insert(user, hash);
        }
        let mut headers = Vec::new();
        if let Some(h) = &file.http_server_config {
            let _ = h.http2;
            for (name, value) in &h.headers {
                let Some(canon) = ALLOWED_HEADERS
                    .iter()
                    .find(|a| a.eq_ignore_ascii_case(name))
                else {
                    bail!(ctx(format!(
                        "http_server_config.headers.{name}: this header cannot be set; allowed: {}",
                        ALLOWED_HEADERS.join(", ")
                    )));
                };
                let value = axum::http::HeaderValue::from_str(value).map_err(|_| {
                    anyhow!(ctx(format!(
                        "http_server_config.headers.{name}: not a valid header value"
                    )))
                })?;
                let name = axum::http::HeaderName::from_bytes(canon.as_bytes())
                    .map_err(|_| anyhow!(ctx(format!("http_server_config.headers.{name}"))))?;
                headers.push((name, value));
            }
        }
        Ok(WebConfig {
            tls,
            users,
            headers,
            files,
        })
    }

    /// The hash to verify `user` against: unknown users cost a bcrypt round too, so timing does
    /// not tell which users exist.
    fn stored_hash(&self, user: &str) -> &str {
        self.users.get(user).map_or(dummy_hash(), |h| h.as_str())
    }

    /// One bcrypt round, remembered in `cache` whichever way it goes.
    fn verify(&self, user: &str, password: &str, cache: &AuthCache) -> bool {
        let stored = self.stored_hash(user);
        let ok = bcrypt::verify(password, stored).unwrap_or(false) && self.users.contains_key(user);
        cache.store(user, stored, password, ok);
        ok
    }
}

/// A bcrypt hash (cost 10) verified against when the user is unknown.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash("unknown user", 10).unwrap_or_default())
}

/// A bcrypt hash of the `$2a$`, `$2b$` or `$2y$` kind (what `htpasswd -B` and Go's bcrypt write).
fn check_hash(hash: &str) -> Result<(), String> {
    if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
        return Err(
            "not a bcrypt hash: give the output of `htpasswd -nBC 10 \"\" | tr -d ':\\n'` ($2a$, $2b$ or $2y$), not the password"
                .into(),
        );
    }
    hash.parse::<bcrypt::HashParts>()
        .map(|_| ())
        .map_err(|e| format!("malformed bcrypt hash ({e})"))
}

/// `Basic base64(user:password)` -> (user, password).
fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    use base64::Engine;
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, b64) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (u, p) = raw.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Remembers the outcome of bcrypt rounds, so a scrape does not pay one each time and a client
/// repeating a wrong password does not either. Keyed by a randomly seeded hash of user, stored
/// hash and password (no password is kept); a new hash in the file makes old entries unreachable.
#[derive(Default)]
pub(crate) struct AuthCache {
    good: Mutex<std::collections::HashSet<u64>>,
    bad: Mutex<std::collections::HashSet<u64>>,
    state: ahash::RandomState,
}

/// Entries kept per outcome; when full the set starts again (attackers can only churn `bad`).
const GOOD_ENTRIES: usize = 64;
const BAD_ENTRIES: usize = 1024;

impl AuthCache {
    fn key(&self, user: &str, hash: &str, password: &str) -> u64 {
        self.state.hash_one((user, hash, password))
    }

    /// `Some(outcome)` when these credentials were verified before.
    fn lookup(&self, user: &str, hash: &str, password: &str) -> Option<bool> {
        let k = self.key(user, hash, password);
        if self.good.lock().is_ok_and(|s| s.contains(&k)) {
            return Some(true);
        }
        if self.bad.lock().is_ok_and(|s| s.contains(&k)) {
            return Some(false);
        }
        None
    }

    fn store(&self, user: &str, hash: &str, password: &str, ok: bool) {
        let k = self.key(user, hash, password);
        let (set, cap) = if ok {
            (&self.good, GOOD_ENTRIES)
        } else {
            (&self.bad, BAD_ENTRIES)
        };
        if let Ok(mut s) = set.lock() {
            if s.len() >= cap {
                s.clear();
            }
            s.insert(k);
        }
    }
}

/// What [`Live::check`] decided about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthVerdict {
    Allowed,
    /// 401: no, malformed or wrong credentials.
    Denied,
    /// 429: credentials not seen before and the bcrypt queue is full or too slow.
    Busy,
}

/// Requests that may wait for the bcrypt slot besides the one holding it; more get 429 at once.
const AUTH_QUEUE: usize = 4;
/// Longest time a request spends on authentication (queue and bcrypt round).
const AUTH_TIMEOUT: Duration = Duration::from_secs(3);

/// Leaves the bcrypt queue when dropped (also when the client goes away mid-wait).
struct InQueue<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Relative paths in the file are relative to the file's directory (as in exporter-toolkit).
fn resolve(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

fn tls_config(t: &TlsFile, dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<ServerConfig> {
    let _ = t.prefer_server_cipher_suites;
    if !t.cipher_suites.is_empty() || !t.curve_preferences.is_empty() {
        tracing::warn!(
            "tls_server_config.cipher_suites / curve_preferences are ignored: rustls uses its own \
             secure suites and key exchange groups"
        );
    }
    let cert_file = t
        .cert_file
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("tls_server_config.cert_file is missing"))?;
    let key_file = t
        .key_file
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("tls_server_config.key_file is missing"))?;
    let cert_path = resolve(dir, cert_file);
    let key_path = resolve(dir, key_file);
    files.push(cert_path.clone());
    files.push(key_path.clone());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("tls_server_config.cert_file {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        bail!(
            "tls_server_config.cert_file {}: no PEM certificate in the file",
            cert_path.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
        anyhow!(
            "tls_server_config.key_file {}: {e} (a PEM private key: PKCS#8, RSA or EC)",
            key_path.display()
        )
    })?;
    let versions = versions(t.min_version.as_deref(), t.max_version.as_deref())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| anyhow!("tls_server_config.min_version: {e}"))?;

    // As exporter-toolkit: no policy means NoClientCert even with a CA, which is an error there
    // rather than a silent default; `RequireClientCert` is its legacy name for
    // RequireAnyClientCert.
    let auth = match t.client_auth_type.as_deref() {
        None | Some("") => "NoClientCert",
        Some("RequireClientCert") => "RequireAnyClientCert",
        Some(a) => a,
    };
    if !CLIENT_AUTH_TYPES.contains(&auth) {
        bail!(
            "tls_server_config.client_auth_type {auth:?}: use one of {}",
            CLIENT_AUTH_TYPES.join(", ")
        );
    }
    let client_ca = t.client_ca_file.as_deref().filter(|s| !s.is_empty());
    if client_ca.is_some() && auth == "NoClientCert" {
        bail!(
            "tls_server_config.client_ca_file is set but client_auth_type is {}: set client_auth_type \
             to RequireAndVerifyClientCert or VerifyClientCertIfGiven (exporter-toolkit refuses this \
             too: \"Client CA's have been configured without a Client Auth Policy\")",
            if t.client_auth_type.as_deref().unwrap_or("").is_empty() {
                "missing"
            } else {
                "NoClientCert"
            }
        );
    }
    let roots = match client_ca {
        Some(ca) => {
            let p = resolve(dir, ca);
            files.push(p.clone());
            let mut roots = RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(&p)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow!("tls_server_config.client_ca_file {}: {e}", p.display()))?;
            for c in cas {
                roots.add(c).map_err(|e| {
                    anyhow!("tls_server_config.client_ca_file {}: {e}", p.display())
                })?;
            }
            if roots.is_empty() {
                bail!(
                    "tls_server_config.client_ca_file {}: no PEM certificate in the file",
                    p.display()
                );
            }
            Some(Arc::new(roots))
        }
        None => None,
    };
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequestClientCert" | "RequireAnyClientCert" => {
            builder.with_client_cert_verifier(Arc::new(AnyClientCert {
                mandatory: auth == "RequireAnyClientCert",
                provider: provider.clone(),
            }))
        }
        _ => {
            let roots = roots.ok_or_else(|| {
                anyhow!(
                    "tls_server_config.client_auth_type {auth} needs tls_server_config.client_ca_file"
                )
            })?;
            let v = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            let v = if auth == "VerifyClientCertIfGiven" {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(
                v.build()
                    .map_err(|e| anyhow!("tls_server_config.client_ca_file: {e}"))?,
            )
        }
    };
    let mut cfg = builder.with_single_cert(certs, key).map_err(|e| {
        anyhow!(
            "tls_server_config.key_file {} does not fit cert_file {}: {e}",
            key_path.display(),
            cert_path.display()
        )
    })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// `min_version`/`max_version` (TLS10..TLS13) as rustls protocol versions (1.2 and 1.3 only).
fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> anyhow::Result<Vec<&'static rustls::SupportedProtocolVersion>> {
    let rank = |key: &str, v: Option<&str>, default: u8| -> anyhow::Result<u8> {
        match v {
            None | Some("") => Ok(default),
            Some("TLS10") | Some("TLS11") | Some("TLS12") => Ok(12),
            Some("TLS13") => Ok(13),
            Some(other) => {
                bail!("tls_server_config.{key} {other:?}: use TLS10, TLS11, TLS12 or TLS13")
            }
        }
    };
    // TLS 1.0 and 1.1 are not offered by rustls: a minimum below 1.2 means 1.2.
    let lo = rank("min_version", min, 12)?;
    let hi = rank("max_version", max, 13)?;
    if lo > hi {
        bail!("tls_server_config.min_version is above max_version");
    }
    Ok(
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(r, _)| (lo..=hi).contains(r))
            .map(|(_, v)| v)
            .collect(),
    )
}

/// `RequestClientCert` / `RequireAnyClientCert`: a certificate is asked for (and, for the
/// latter, required) but not checked against a CA; the handshake signature still proves the
/// client holds its key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The web settings in force, replaced when the files change.
#[derive(Clone)]
pub(crate) struct Live {
    current: Arc<RwLock<Arc<WebConfig>>>,
    /// Outcomes of earlier bcrypt rounds (see [`AuthCache`]).
    cache: Arc<AuthCache>,
    /// Bounds concurrent bcrypt rounds, so a flood of wrong passwords costs at most this many
    /// cores and the log readers keep running.
    bcrypt_slots: Arc<tokio::sync::Semaphore>,
    /// Requests waiting for `bcrypt_slots` (at most [`AUTH_QUEUE`]).
    waiting: Arc<std::sync::atomic::AtomicUsize>,
}

impl Live {
    /// Fixed settings (no file, or a test).
    pub(crate) fn fixed(cfg: WebConfig) -> Live {
        Live {
            current: Arc::new(RwLock::new(Arc::new(cfg))),
            cache: Arc::new(AuthCache::default()),
            bcrypt_slots: Arc::new(tokio::sync::Semaphore::new(1)),
            waiting: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        }
    }

    /// Authenticates a request under `cfg`. Known credentials (right or wrong) are answered from
    /// the cache without waiting; new ones queue for the single bcrypt slot, and when the queue
    /// is full or the wait too long the answer is [`AuthVerdict::Busy`], so a flood of wrong
    /// passwords can neither hold up a scraper whose credentials verified before nor pile up
    /// waiting requests.
    pub(crate) async fn check(
        &self,
        cfg: &Arc<WebConfig>,
        authorization: Option<&[u8]>,
    ) -> AuthVerdict {
        use std::sync::atomic::Ordering;
        if cfg.users.is_empty() {
            return AuthVerdict::Allowed;
        }
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return AuthVerdict::Denied;
        };
        match self.cache.lookup(&user, cfg.stored_hash(&user), &password) {
            Some(true) => return AuthVerdict::Allowed,
            Some(false) => return AuthVerdict::Denied,
            None => {}
        }
        let slots = self.bcrypt_slots.clone();
        let round = async {
            let permit = match slots.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(tokio::sync::TryAcquireError::Closed) => return AuthVerdict::Busy,
                Err(tokio::sync::TryAcquireError::NoPermits) => {
                    if self.waiting.fetch_add(1, Ordering::AcqRel) >= AUTH_QUEUE {
                        self.waiting.fetch_sub(1, Ordering::AcqRel);
                        return AuthVerdict::Busy;
                    }
                    let _queued = InQueue(&self.waiting);
                    match slots.acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => return AuthVerdict::Busy,
                    }
                }
            };
            let (cfg, cache) = (cfg.clone(), self.cache.clone());
            // bcrypt takes tens of milliseconds: off the async workers. The permit goes with
            // the round, so a timed-out request still keeps the round count at one.
            tokio::task::spawn_blocking(move || {
                let ok = cfg.verify(&user, &password, &cache);
                drop(permit);
                if ok {
                    AuthVerdict::Allowed
                } else {
                    AuthVerdict::Denied
                }
            })
            .await
            .unwrap_or(AuthVerdict::Denied)
        };
        tokio::time::timeout(AUTH_TIMEOUT, round)
            .await
            .unwrap_or(AuthVerdict::Busy)
    }

    /// The settings for the next connection or request.
    pub(crate) fn get(&self) -> Arc<WebConfig> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(e) => e.into_inner().clone(),
        }
    }

    fn set(&self, cfg: WebConfig) {
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(cfg),
            Err(e) => *e.into_inner() = Arc::new(cfg),
        }
    }

    /// Polls the config and the files it names every `every`; on a change reads the file
    /// again. Polling (not inotify) also sees Kubernetes' symlink swaps of mounted Secrets.
    /// After a failed reload it tries again on every tick until the file loads: the fix may be
    /// a file the broken config names but the last good one did not (a new key path), or a
    /// change the fingerprint cannot see.
    pub(crate) fn watch(
        &self,
        path: PathBuf,
        every: Duration,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) {
        let live = self.clone();
        // Taken before the thread starts: an edit made right after `watch` returns is a change.
        let mut watched = live.get().files.clone();
        let mut last = fingerprint(&watched);
        std::thread::spawn(move || {
            let mut failing: Option<String> = None;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(every);
                let now = fingerprint(&watched);
                if now == last && failing.is_none() {
                    continue;
                }
                last = now;
                match WebConfig::load(&path) {
                    Ok(cfg) => {
                        let tls = cfg.tls.is_some();
                        let users = cfg.users.len();
                        watched = cfg.files.clone();
                        last = fingerprint(&watched);
                        live.set(cfg);
                        failing = None;
                        tracing::info!(file = %path.display(), tls, users, "web config reloaded");
                    }
                    Err(e) => {
                        let msg = format!("{e:#}");
                        // Logged once per distinct error, not on every retry.
                        if failing.as_deref() != Some(msg.as_str()) {
                            tracing::error!(
                                "web config not reloaded, the previous settings stay in force: {msg}"
                            );
                        }
                        failing = Some(msg);
                    }
                }
            }
        });
    }
}

type FileStamp = (SystemTime, (i64, i64), u64, u64);

/// (modified, changed, length, inode) of each file, following symlinks. ctime too: a file
/// replaced with its old mtime kept (`cp -p`, `tar x`) still changes ctime.
fn fingerprint(files: &[PathBuf]) -> Vec<Option<FileStamp>> {
    use std::os::unix::fs::MetadataExt;
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f).ok().map(|m| {
                (
                    m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    (m.ctime(), m.ctime_nsec()),
                    m.len(),
                    m.ino(),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> anyhow::Result<WebConfig> {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("web.yml");
        std::fs::write(&p, text).expect("write");
        WebConfig::load(&p)
    }

    fn err(text: &str) -> String {
        format!("{:#}", load(text).expect_err("must fail"))
    }

    #[test]
    fn bad_files_name_the_key() {
        assert!(err("tls_server_config:\n  cert_fil: a\n").contains("cert_fil"));
        assert!(err("tls_server_config:\n  key_file: k\n").contains("cert_file is missing"));
        assert!(err("basic_auth_users:\n  alice: secret\n").contains("basic_auth_users.alice"));
        assert!(err("basic_auth_users:\n  alice: $2x$10$abc\n").contains("basic_auth_users.alice"));
        assert!(err("http_server_config:\n  headers:\n    Server: x\n")
            .contains("http_server_config.headers.Server"));
        assert!(err("basic_auth: {}\n").contains("basic_auth"));
        let e = err("tls_server_config:\n  cert_file: /nonexistent/c.pem\n  key_file: k.pem\n");
        assert!(
            e.contains("tls_server_config.cert_file /nonexistent/c.pem"),
            "{e}"
        );
    }

    #[test]
    fn client_auth_type_as_exporter_toolkit() {
        let dir = tempfile::tempdir().expect("tmp");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        std::fs::write(dir.path().join("c.pem"), cert.cert.pem()).expect("write");
        std::fs::write(dir.path().join("k.pem"), cert.signing_key.serialize_pem()).expect("write");
        let load = |extra: &str| {
            let p = dir.path().join("web.yml");
            std::fs::write(
                &p,
                format!("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n{extra}"),
            )
            .expect("write");
            WebConfig::load(&p).map_err(|e| format!("{e:#}"))
        };
        // Legacy name of RequireAnyClientCert.
        let legacy = load("  client_auth_type: RequireClientCert\n");
        assert!(legacy.is_ok_and(|c| c.tls.is_some()));
        for policy in ["", "  client_auth_type: NoClientCert\n"] {
            let e = load(&format!("  client_ca_file: c.pem\n{policy}")).expect_err("refused");
            assert!(
                e.contains("client_ca_file is set but client_auth_type is")
                    && e.contains("RequireAndVerifyClientCert"),
                "{e}"
            );
        }
        let ok = load("  client_ca_file: c.pem\n  client_auth_type: RequireAndVerifyClientCert\n");
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn failed_reload_is_retried_until_a_newly_named_file_appears() {
        let dir = tempfile::tempdir().expect("tmp");
        let web = dir.path().join("web.yml");
        let hash = bcrypt::hash("pw", 4).expect("hash");
        std::fs::write(&web, format!("basic_auth_users:\n  alice: {hash}\n")).expect("write");
        let live = Live::fixed(WebConfig::load(&web).expect("loads"));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        live.watch(web.clone(), Duration::from_millis(20), stop.clone());
        // Names files that do not exist yet: the reload fails, the old settings stay.
        std::fs::write(
            &web,
            format!("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\nbasic_auth_users:\n  alice: {hash}\n"),
        )
        .expect("write");
        std::thread::sleep(Duration::from_millis(200));
        assert!(live.get().tls.is_none());
        // Neither file was watched before; only a retry sees them.
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        std::fs::write(dir.path().join("k.pem"), cert.signing_key.serialize_pem()).expect("write");
        std::fs::write(dir.path().join("c.pem"), cert.cert.pem()).expect("write");
        let start = std::time::Instant::now();
        while live.get().tls.is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the fixed config was never loaded"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    #[test]
    fn users_and_headers() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let cfg = load(&format!(
            "basic_auth_users:\n  alice: {hash}\nhttp_server_config:\n  headers:\n    x-frame-options: deny\n"
        ))
        .expect("loads");
        use base64::Engine;
        let b = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let cfg = Arc::new(cfg);
        let live = Live::fixed(WebConfig::plain());
        let check = |auth: Option<&[u8]>| rt.block_on(live.check(&cfg, auth));
        use AuthVerdict::{Allowed, Denied};
        assert_eq!(check(Some(b("alice:s3cret").as_bytes())), Allowed);
        // Answered from the cache the second time, the same way.
        assert_eq!(check(Some(b("alice:s3cret").as_bytes())), Allowed);
        assert_eq!(check(Some(b("alice:wrong").as_bytes())), Denied);
        assert_eq!(check(Some(b("bob:s3cret").as_bytes())), Denied);
        assert_eq!(check(None), Denied);
        assert_eq!(check(Some(b"Bearer x")), Denied);
        assert_eq!(cfg.headers[0].0.as_str(), "x-frame-options");
        let plain = Arc::new(WebConfig::plain());
        assert_eq!(rt.block_on(live.check(&plain, None)), Allowed);
    }

    #[test]
    fn dummy_hash_is_a_valid_hash() {
        assert!(check_hash(dummy_hash()).is_ok());
    }
}
