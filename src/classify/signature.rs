//! Error-log signatures: nginx's own message texts, re-expressed as a catalogue.
//!
//! One Aho-Corasick pass over the message finds which known fragments occur; the rules below are
//! then checked in order (most specific first) against that bit set, so classifying a line costs
//! one scan regardless of the catalogue's size. The ids in the first part of [`SIGNATURES`] are
//! the contract of docs/architecture.md (alerts and dashboards use them); the rest are finer ids.

use aho_corasick::{AhoCorasick, MatchKind};

/// Fragments of nginx messages (from nginx's source) and of the `while ...` actions it appends.
const FRAGMENTS: &[&str] = &[
    "connect() failed",                                       // 0
    "connect() to ",                                          // 1
    "(111: Connection refused)",                              // 2
    "upstream timed out",                                     // 3
    "while proxying upgraded connection",                     // 4
    "client timed out",                                       // 5
    "upstream prematurely closed connection",                 // 6
    "recv() failed",                                          // 7
    "(104: Connection reset by peer)",                        // 8
    "from upstream",                                          // 9
    "no live upstreams",                                      // 10
    "upstream sent too big header",                           // 11
    "access forbidden by rule",                               // 12
    "limiting requests",                                      // 13
    "delaying request",                                       // 14
    "limiting connections",                                   // 15
    "client prematurely closed connection",                   // 16
    "client sent invalid method",                             // 17
    "client sent invalid request",                            // 18
    "client sent invalid header line",                        // 19
    "client sent too long URI",                               // 20
    "client sent too long header line",                       // 21
    "client sent too large request",                          // 22
    "client intended to send too large body",                 // 23
    "SSL_do_handshake() failed",                              // 24
    "peer closed connection in SSL handshake",                // 25
    "open() \"",                                              // 26
    "(2: No such file or directory)",                         // 27
    "(13: Permission denied)",                                // 28
    "worker_connections are not enough",                      // 29
    "while reading upstream",                                 // 30
    "could not be resolved",                                  // 31
    "no resolver defined",                                    // 32
    "an upstream response is buffered to a temporary file",   // 33
    "upstream sent invalid header",                           // 34
    "upstream sent no valid HTTP/1.0 header",                 // 35
    "upstream sent invalid chunked response",                 // 36
    "while SSL handshaking to upstream",                      // 37
    "upstream SSL certificate verify error",                  // 38
    "FastCGI sent in stderr",                                 // 39
    "closed keepalive connection",                            // 40
    "client sent HTTP/1.1 request without \"Host\" header",   // 41
    "client sent plain HTTP request to HTTPS port",           // 42
    "directory index of",                                     // 43
    "is not found",                                           // 44
    "no user/password was provided for basic authentication", // 45
    "was not found in",                                       // 46
    "password mismatch",                                      // 47
    "upstream server temporarily disabled",                   // 48
    "SSL_read() failed",                                      // 49
    "SSL_shutdown() failed",                                  // 50
    "accept4() failed",                                       // 51
    "reopening logs",                                         // 52
    "signal process started",                                 // 53
    "exited on signal",                                       // 54
    "writev() failed",                                        // 55
    "while sending request to upstream",                      // 56
    "client closed connection",                               // 57
    "while connecting to upstream",                           // 58
    "while reading response header from upstream",            // 59
    "readv() failed",                                         // 60
    "dry run",                                                // 61
];

/// Fragments that name what a message is about; they count only at the start of the message.
/// The others (errno texts, `while ...` actions, trailing verbs) may stand anywhere.
const HEAD_FRAGMENTS: u64 = {
    let heads: &[usize] = &[
        0, 1, 3, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 29,
        32, 33, 34, 35, 36, 38, 39, 41, 42, 43, 45, 48, 49, 50, 51, 52, 53, 55, 57, 60,
    ];
    let mut mask = 0u64;
    let mut i = 0;
    while i < heads.len() {
        mask |= 1 << heads[i];
        i += 1;
    }
    mask
};

/// The errno texts of `open() "..." failed (2: ...)` and `(13: ...)`: they count only after the
/// last quote, where nginx writes them, not inside a requested file name.
const FILE_ERRNO_FRAGMENTS: u64 = (1 << 27) | (1 << 28);

/// Whether a head fragment found at `start` opens the message: at 0, after the
/// `epoll_wait() reported that ` / `kevent() reported that ` nginx puts before some, or (for
/// `worker_connections are not enough`) after the number of connections.
#[inline]
fn at_head(message: &[u8], start: usize, fragment: usize) -> bool {
    let before = &message[..start];
    before.is_empty()
        || before == b"epoll_wait() reported that "
        || before == b"kevent() reported that "
        || (fragment == 29
            && before.len() > 1
            && before.ends_with(b" ")
            && before[..before.len() - 1].iter().all(u8::is_ascii_digit))
}

/// A rule: every fragment in `all` must occur, and none in `none`.
struct Rule {
    id: &'static str,
    all: &'static [u8],
    none: &'static [u8],
}

const fn r(id: &'static str, all: &'static [u8], none: &'static [u8]) -> Rule {
    Rule { id, all, none }
}

/// Checked in order; the first rule that holds names the line.
const RULES: &[Rule] = &[
    r("ws_upstream_idle_timeout", &[3, 4], &[]),
    r("ws_client_idle_timeout", &[5, 4], &[]),
    r("ws_connection_reset", &[7, 4], &[]),
    r("upstream_connect_refused", &[0, 2], &[]),
    r("upstream_connect_refused", &[1, 2], &[]),
    r("upstream_connect_failed", &[0], &[]),
    r("upstream_connect_failed", &[1, 58], &[]),
    r("upstream_timed_out", &[3], &[]),
    r("upstream_prematurely_closed", &[6], &[]),
    r("upstream_reset", &[7, 8, 9], &[]),
    r("upstream_reset", &[7, 8, 30], &[]),
    r("upstream_reset", &[60, 8, 9], &[]),
    r("upstream_reset", &[60, 8, 30], &[]),
    r("upstream_send_failed", &[55, 56], &[]),
    r("no_live_upstreams", &[10], &[]),
    r("upstream_too_big_header", &[11], &[]),
    r("upstream_invalid_header", &[34], &[]),
    r("upstream_invalid_header", &[35], &[]),
    r("upstream_invalid_header", &[36], &[]),
    r("upstream_ssl_handshake_failed", &[24, 37], &[]),
    r("upstream_ssl_handshake_failed", &[38], &[]),
    r("upstream_resolve_failed", &[31], &[]),
    r("upstream_resolve_failed", &[32], &[]),
    r("upstream_buffered_to_temp_file", &[33], &[]),
    r("upstream_server_disabled", &[48], &[]),
    r("fastcgi_stderr", &[39], &[]),
    r("access_forbidden_by_rule", &[12], &[]),
    r("limit_req_dry_run", &[13, 61], &[]),
    r("limit_req_dry_run", &[14, 61], &[]),
    r("limit_conn_dry_run", &[15, 61], &[]),
    r("limit_req_rejected", &[13], &[]),
    r("limit_req_delayed", &[14], &[]),
    r("limit_conn_rejected", &[15], &[]),
    r("client_prematurely_closed", &[16], &[]),
    r("client_request_invalid", &[17], &[]),
    r("client_request_invalid", &[18], &[]),
    r("client_request_invalid", &[19], &[]),
    r("client_request_invalid", &[20], &[]),
    r("client_request_invalid", &[21], &[]),
    r("client_request_invalid", &[22], &[]),
    r("client_request_invalid", &[41], &[]),
    r("client_plain_http_to_https", &[42], &[]),
    r("client_body_too_large", &[23], &[]),
    r("ssl_handshake_failed", &[24], &[]),
    r("ssl_handshake_failed", &[25], &[]),
    r("ssl_read_failed", &[49], &[]),
    r("ssl_shutdown_failed", &[50], &[]),
    r("client_timed_out", &[5], &[]),
    r("client_closed_keepalive", &[40], &[]),
    r("client_closed_connection", &[57], &[]),
    r("permission_denied", &[28], &[]),
    r("file_not_found", &[26, 27], &[]),
    r("file_open_failed", &[26], &[]),
    r("directory_index_forbidden", &[43], &[]),
    r("index_not_found", &[44], &[]),
    r("auth_basic_no_credentials", &[45], &[]),
    r("auth_basic_user_not_found", &[46], &[]),
    r("auth_basic_password_mismatch", &[47], &[]),
    r("worker_connections_not_enough", &[29], &[]),
    r("accept_failed", &[51], &[]),
    r("reopening_logs", &[52], &[]),
    r("signal_process_started", &[53], &[]),
    r("worker_exited_on_signal", &[54], &[]),
    r("client_recv_failed", &[7], &[9, 30]),
    r("client_write_failed", &[55], &[]),
];

/// Index into [`SIGNATURES`].
pub(crate) type SignatureId = u16;

/// Every signature id, `other` last. Stable order: metrics index by it.
pub(crate) static SIGNATURES: &[&str] = &[
    "upstream_connect_refused",
    "upstream_connect_failed",
    "upstream_timed_out",
    "ws_upstream_idle_timeout",
    "ws_client_idle_timeout",
    "upstream_prematurely_closed",
    "upstream_reset",
    "no_live_upstreams",
    "upstream_too_big_header",
    "access_forbidden_by_rule",
    "limit_req_rejected",
    "limit_req_delayed",
    "limit_conn_rejected",
    "client_prematurely_closed",
    "client_request_invalid",
    "client_body_too_large",
    "ssl_handshake_failed",
    "file_not_found",
    "permission_denied",
    "worker_connections_not_enough",
    "ws_connection_reset",
    "upstream_send_failed",
    "upstream_invalid_header",
    "upstream_ssl_handshake_failed",
    "upstream_resolve_failed",
    "upstream_buffered_to_temp_file",
    "upstream_server_disabled",
    "fastcgi_stderr",
    "client_plain_http_to_https",
    "ssl_read_failed",
    "ssl_shutdown_failed",
    "client_timed_out",
    "client_closed_keepalive",
    "client_closed_connection",
    "file_open_failed",
    "directory_index_forbidden",
    "index_not_found",
    "auth_basic_no_credentials",
    "auth_basic_user_not_found",
    "auth_basic_password_mismatch",
    "accept_failed",
    "reopening_logs",
    "signal_process_started",
    "worker_exited_on_signal",
    "client_recv_failed",
    "client_write_failed",
    "limit_req_dry_run",
    "limit_conn_dry_run",
    "other",
];

/// The id of `other`.
pub(crate) const OTHER: SignatureId = (SIGNATURES.len() - 1) as SignatureId;

/// The compiled catalogue.
#[derive(Clone, Debug)]
pub(crate) struct Catalogue {
    ac: AhoCorasick,
    /// Rule index -> signature id, resolved once.
    rule_ids: Vec<SignatureId>,
}

impl Catalogue {
    /// Builds the automaton; the fragment list is static, so failure is a programming error
    /// caught by the unit tests.
    pub(crate) fn new() -> Catalogue {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(FRAGMENTS)
            .unwrap_or_else(|e| panic!("static signature fragments must compile: {e}"));
        let rule_ids = RULES
            .iter()
            .map(|r| {
                SIGNATURES
                    .iter()
                    .position(|s| *s == r.id)
                    .unwrap_or(OTHER as usize) as SignatureId
            })
            .collect();
        Catalogue { ac, rule_ids }
    }

    /// Classifies a message (the text after `*cid `, with `while ...`, without the context
    /// fields). A message's subject ([`HEAD_FRAGMENTS`]) counts only at its start: nginx puts
    /// what clients sent (paths, header lines, user names, FastCGI stderr) after it, so a
    /// request for `/connect() failed (111: Connection refused)` cannot page anyone.
    #[inline]
    pub(crate) fn classify(&self, message: &[u8]) -> SignatureId {
        let mut seen: u64 = 0;
        let last_quote = memchr::memrchr(b'"', message);
        for m in self.ac.find_overlapping_iter(message) {
            let f = m.pattern().as_usize();
            let counts = if HEAD_FRAGMENTS & (1 << f) != 0 {
                at_head(message, m.start(), f)
            } else if FILE_ERRNO_FRAGMENTS & (1 << f) != 0 {
                // nginx writes the errno after the quoted file name, never inside it.
                last_quote.is_none_or(|q| m.start() > q)
            } else {
                true
            };
            if counts {
                seen |= 1 << f;
            }
        }
        if seen == 0 {
            return OTHER;
        }
        for (rule, &id) in RULES.iter().zip(&self.rule_ids) {
            if rule.all.iter().all(|&f| seen & (1 << f) != 0)
                && rule.none.iter().all(|&f| seen & (1 << f) == 0)
            {
                return id;
            }
        }
        OTHER
    }
}

impl Default for Catalogue {
    fn default() -> Self {
        Catalogue::new()
    }
}

/// The text of a signature id.
#[inline]
pub(crate) fn name(id: SignatureId) -> &'static str {
    SIGNATURES.get(id as usize).copied().unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(msg: &str) -> &'static str {
        name(Catalogue::new().classify(msg.as_bytes()))
    }

    #[test]
    fn every_rule_can_match() {
        // A rule is dead when an earlier one needs a subset of its fragments and excludes none.
        for (j, later) in RULES.iter().enumerate() {
            for earlier in &RULES[..j] {
                let covers = earlier.all.iter().all(|f| later.all.contains(f));
                assert!(
                    !(covers && earlier.none.is_empty()),
                    "rule {j} ({} {:?}) can never match: {} {:?} comes first",
                    later.id,
                    later.all,
                    earlier.id,
                    earlier.all
                );
            }
        }
    }

    #[test]
    fn catalogue_is_consistent() {
        assert!(FRAGMENTS.len() <= 64);
        assert!(SIGNATURES.len() >= 26);
        for r in RULES {
            assert!(SIGNATURES.contains(&r.id), "{} not in SIGNATURES", r.id);
            assert!(r
                .all
                .iter()
                .chain(r.none)
                .all(|&f| (f as usize) < FRAGMENTS.len()));
        }
        for s in SIGNATURES {
            assert!(
                *s == "other" || RULES.iter().any(|r| r.id == *s),
                "{s} has no rule"
            );
        }
    }

    #[test]
    fn contract_signatures() {
        let cases = [
            ("connect() failed (111: Connection refused) while connecting to upstream", "upstream_connect_refused"),
            ("connect() to unix:/run/app.sock failed (111: Connection refused) while connecting to upstream", "upstream_connect_refused"),
            ("connect() failed (113: No route to host) while connecting to upstream", "upstream_connect_failed"),
            ("connect() to 10.0.0.1:80 failed (99: Cannot assign requested address) while connecting to upstream", "upstream_connect_failed"),
            ("upstream timed out (110: Connection timed out) while reading response header from upstream", "upstream_timed_out"),
            ("upstream timed out (110: Connection timed out) while connecting to upstream", "upstream_timed_out"),
            ("upstream timed out (110: Connection timed out) while proxying upgraded connection", "ws_upstream_idle_timeout"),
            ("client timed out (110: Connection timed out) while proxying upgraded connection", "ws_client_idle_timeout"),
            ("upstream prematurely closed connection while reading response header from upstream", "upstream_prematurely_closed"),
            ("recv() failed (104: Connection reset by peer) while reading response header from upstream", "upstream_reset"),
            ("no live upstreams while connecting to upstream", "no_live_upstreams"),
            ("upstream sent too big header while reading response header from upstream", "upstream_too_big_header"),
            ("access forbidden by rule", "access_forbidden_by_rule"),
            ("limiting requests, excess: 50.416 by zone \"mylimit\"", "limit_req_rejected"),
            ("delaying request, excess: 0.860, by zone \"ws\"", "limit_req_delayed"),
            ("limiting connections by zone \"addr\"", "limit_conn_rejected"),
            ("epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while reading upstream", "client_prematurely_closed"),
            ("client prematurely closed connection while sending to client", "client_prematurely_closed"),
            ("client sent invalid method while reading client request line", "client_request_invalid"),
            ("client sent too long URI while reading client request line", "client_request_invalid"),
            ("client sent too large request while reading client request headers", "client_request_invalid"),
            ("client intended to send too large body: 1048577 bytes", "client_body_too_large"),
            ("SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad key share) while SSL handshaking", "ssl_handshake_failed"),
            ("peer closed connection in SSL handshake while SSL handshaking", "ssl_handshake_failed"),
            ("open() \"/usr/share/nginx/html/favicon.ico\" failed (2: No such file or directory)", "file_not_found"),
            ("open() \"/srv/secret\" failed (13: Permission denied)", "permission_denied"),
            ("1024 worker_connections are not enough", "worker_connections_not_enough"),
            ("something nginx never says", "other"),
        ];
        for (msg, want) in cases {
            assert_eq!(sig(msg), want, "{msg}");
        }
    }

    #[test]
    fn finer_signatures() {
        assert_eq!(
            sig("recv() failed (104: Connection reset by peer) while proxying upgraded connection"),
            "ws_connection_reset"
        );
        assert_eq!(sig("an upstream response is buffered to a temporary file /var/cache/nginx/1 while reading upstream"), "upstream_buffered_to_temp_file");
        assert_eq!(
            sig("client 10.0.0.1 closed keepalive connection"),
            "client_closed_keepalive"
        );
        assert_eq!(
            sig("\"/var/www/html/index.html\" is not found (2: No such file or directory)"),
            "index_not_found"
        );
        assert_eq!(
            sig("user \"bob\": password mismatch"),
            "auth_basic_password_mismatch"
        );
        assert_eq!(
            sig("example.internal could not be resolved (3: Host not found)"),
            "upstream_resolve_failed"
        );
        assert_eq!(sig("signal process started"), "signal_process_started");
        assert_eq!(
            sig("readv() failed (104: Connection reset by peer) while reading upstream"),
            "upstream_reset"
        );
        assert_eq!(
            sig("limiting requests, dry run, excess: 1.000 by zone \"ws\""),
            "limit_req_dry_run"
        );
        assert_eq!(
            sig("limiting connections, dry run, by zone \"addr\""),
            "limit_conn_dry_run"
        );
        assert_eq!(
            sig("kevent() reported that connect() failed (61: Connection refused) while connecting to upstream"),
            "upstream_connect_failed"
        );
    }

    /// Text clients choose (paths, header lines, user names) or applications print (FastCGI
    /// stderr) cannot pass for nginx's own messages.
    #[test]
    fn quoted_client_text_cannot_fake_a_signature() {
        let cases = [
            (
                r#"open() "/usr/share/nginx/html/connect() failed (111: Connection refused)" failed (2: No such file or directory)"#,
                "file_not_found",
            ),
            (
                r#"open() "/x" connect() failed (111: Connection refused) "" failed (2: No such file or directory)"#,
                "file_not_found",
            ),
            (
                r#"open() "/usr/share/nginx/html/no live upstreams" failed (2: No such file or directory)"#,
                "file_not_found",
            ),
            (
                r#"user "upstream timed out" was not found in "/etc/nginx/htpasswd""#,
                "auth_basic_user_not_found",
            ),
            (
                r#"client sent invalid header line: "access forbidden by rule: 1" while reading client request headers"#,
                "client_request_invalid",
            ),
            (
                r#"FastCGI sent in stderr: "PHP message: upstream timed out talking to redis" while reading response header from upstream"#,
                "fastcgi_stderr",
            ),
            (
                r#""/var/www/limiting requests/index.html" is not found (2: No such file or directory)"#,
                "index_not_found",
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(sig(msg), want, "{msg}");
        }
    }
}
