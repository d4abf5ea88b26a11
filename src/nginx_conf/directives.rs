//! A static table of nginx directives: for each name, the contexts nginx allows it in, how
//! many arguments it takes and whether it opens a `{ }` block. This is the information nginx
//! keeps in `ngx_command_t.type` (`NGX_MAIN_CONF`, `NGX_HTTP_LOC_CONF`, `NGX_CONF_TAKE12`,
//! `NGX_CONF_BLOCK`, ...) and documents as the "Syntax:" and "Context:" lines of each
//! directive at nginx.org/en/docs/.
//!
//! Where it comes from: the `ngx_command_t` arrays of Debian 12's nginx 1.22.1 build (the
//! binary `nginx-light` installs, package `nginx` 1.22.1-9+deb12u11, and the dynamic module
//! packages of the same build), which is what nginx's documentation describes in its
//! "Syntax:" and "Context:" lines (spot-checked against nginx.org/en/docs/), checked
//! against the real nginx with `scripts/verify_directive_table.sh`: it puts each directive
//! into every context of a scratch configuration and runs `nginx -t`, and with `--args`
//! also tries 0..8 arguments and the block form. Every entry but the five marked "nginx
//! 1.25+" agrees with nginx 1.22 on contexts, argument counts and block form (stream and
//! mail with `NGINX_MODULES` naming Debian's `ngx_stream_module.so`/`ngx_mail_module.so`).
//! Where the current documentation and nginx 1.22 disagree, nginx wins (see [`DIRECTIVES`]).
//!
//! Coverage: every directive compiled into that binary (core, events/epoll, and all its http
//! modules: core, proxy, fastcgi, uwsgi, scgi, grpc, memcached, upstream and its balancers,
//! ssl, http2, rewrite, map, geo, limit_req, limit_conn, log, headers, gzip, realip, access,
//! auth_basic, auth_request, index, autoindex, stub_status, dav, sub, addition, ssi, charset,
//! userid, ...), Debian's dynamic modules (stream with its ssl, realip, ssl_preread, map,
//! geo, limit_conn, ... modules; mail; http and stream geoip; image_filter; xslt; perl), and
//! the HTTP/2 and HTTP/3 switches of later versions. Not covered: nginx Plus directives
//! (`sticky`, `queue`, `ntlm`, `health_check`, ...), njs (`js_*`), third-party modules.
//!
//! Why a table of our own: nginx's contexts are compiled into each module's command array;
//! nginx prints none of it (`nginx -T` only echoes the files), and no crate carries it.
//!
//! How nginx uses it, which is what [`lookup`] plus the context bits model: for a directive
//! in a given context nginx tries every module's command of that name; the first whose
//! type has the context bit is used (its argument count is checked next); if some module
//! knows the name but none accepts the context it says `"NAME" directive is not allowed
//! here`, and if no module knows the name, `unknown directive "NAME"`. So a name that exists
//! in several modules (http and stream `proxy_pass`, core and upstream `keepalive_timeout`,
//! the five `server` commands, ...) is one entry here whose contexts and arguments are the
//! union over those modules.
//!
//! Not directives: the bodies of `types`, `map`, `geo`, `split_clients` and `charset_map`
//! blocks are parsed by the module itself (`text/html html;`, `default 0;`, `~^/a 1;`), so
//! their lines must not be looked up here (`types`, `map` and `geo` bodies do honor
//! `include`). The bodies of `http`, `events`, `server`,
//! `location`, `if`, `limit_except`, `upstream`, `stream` and `mail` hold directives.

/// Contexts a directive may appear in (bit set), as nginx's NGX_*_CONF flags.
pub(crate) mod ctx {
    /// The top level of the configuration (`NGX_MAIN_CONF`).
    pub(crate) const MAIN: u32 = 1 << 0;
    /// `events { }` (`NGX_EVENT_CONF`).
    pub(crate) const EVENTS: u32 = 1 << 1;
    /// `http { }` (`NGX_HTTP_MAIN_CONF`).
    pub(crate) const HTTP: u32 = 1 << 2;
    /// `server { }` inside `http` (`NGX_HTTP_SRV_CONF`).
    pub(crate) const SERVER: u32 = 1 << 3;
    /// `location { }` (`NGX_HTTP_LOC_CONF`).
    pub(crate) const LOCATION: u32 = 1 << 4;
    /// `upstream { }` inside `http` (`NGX_HTTP_UPS_CONF`).
    pub(crate) const UPSTREAM: u32 = 1 << 5;
    /// `if { }` inside an http `server` (`NGX_HTTP_SIF_CONF`).
    pub(crate) const SIF: u32 = 1 << 6;
    /// `if { }` inside a `location` (`NGX_HTTP_LIF_CONF`).
    pub(crate) const LIF: u32 = 1 << 7;
    /// `limit_except { }` (`NGX_HTTP_LMT_CONF`).
    pub(crate) const LMT: u32 = 1 << 8;
    /// `stream { }` (`NGX_STREAM_MAIN_CONF`).
    pub(crate) const STREAM: u32 = 1 << 9;
    /// `server { }` inside `stream` (`NGX_STREAM_SRV_CONF`).
    pub(crate) const STREAM_SERVER: u32 = 1 << 10;
    /// `upstream { }` inside `stream` (`NGX_STREAM_UPS_CONF`).
    pub(crate) const STREAM_UPSTREAM: u32 = 1 << 11;
    /// `mail { }` (`NGX_MAIL_MAIN_CONF`).
    pub(crate) const MAIL: u32 = 1 << 12;
    /// `server { }` inside `mail` (`NGX_MAIL_SRV_CONF`).
    pub(crate) const MAIL_SERVER: u32 = 1 << 13;
}

/// Argument counts (bit set), as nginx's NGX_CONF_NOARGS/TAKEn/FLAG/1MORE/2MORE/ANY.
// Mirrors nginx's whole flag set: not every flag is used by the table.
#[allow(dead_code)]
pub(crate) mod args {
    pub(crate) const NOARGS: u32 = 1 << 0;
    pub(crate) const TAKE1: u32 = 1 << 1;
    pub(crate) const TAKE2: u32 = 1 << 2;
    pub(crate) const TAKE3: u32 = 1 << 3;
    pub(crate) const TAKE4: u32 = 1 << 4;
    pub(crate) const TAKE5: u32 = 1 << 5;
    pub(crate) const TAKE6: u32 = 1 << 6;
    pub(crate) const TAKE7: u32 = 1 << 7;
    /// Exactly one argument, `on` or `off`.
    pub(crate) const FLAG: u32 = 1 << 8;
    pub(crate) const ONE_MORE: u32 = 1 << 9;
    pub(crate) const TWO_MORE: u32 = 1 << 10;
    pub(crate) const ANY: u32 = 1 << 11;
    // Convenience unions nginx also has.
    pub(crate) const TAKE12: u32 = TAKE1 | TAKE2;
    pub(crate) const TAKE13: u32 = TAKE1 | TAKE3;
    pub(crate) const TAKE23: u32 = TAKE2 | TAKE3;
    pub(crate) const TAKE123: u32 = TAKE1 | TAKE2 | TAKE3;
    pub(crate) const TAKE1234: u32 = TAKE1 | TAKE2 | TAKE3 | TAKE4;
}

use args::*;
use ctx::*;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    /// `ctx` bits.
    pub(crate) contexts: u32,
    /// `args` bits.
    pub(crate) args: u32,
    /// `NGX_CONF_BLOCK`: takes a `{ }` body (http, server, location, if, map, upstream, ...).
    /// `false` for `server`, which is a block in `http`, `stream` and `mail` but a plain
    /// directive in both `upstream`s; callers special-case it.
    pub(crate) block: bool,
}

/// Every context bit: `include` is `NGX_ANY_CONF`, allowed wherever directives are.
const ANY_CONTEXT: u32 = MAIN
    | EVENTS
    | HTTP
    | SERVER
    | LOCATION
    | UPSTREAM
    | SIF
    | LIF
    | LMT
    | STREAM
    | STREAM_SERVER
    | STREAM_UPSTREAM
    | MAIL
    | MAIL_SERVER;

const fn d(name: &'static str, contexts: u32, args: u32) -> Spec {
    Spec {
        name,
        contexts,
        args,
        block: false,
    }
}

const fn b(name: &'static str, contexts: u32, args: u32) -> Spec {
    Spec {
        name,
        contexts,
        args,
        block: true,
    }
}

/// Sorted by name (a unit test checks it) for binary search.
///
/// Special cases (nginx 1.22 as Debian builds it):
/// - `server`: five commands in one entry: the http, stream and mail `server { }` blocks
///   (no arguments) and the http and stream upstream `server address ...;` (one or more);
///   `block` is false, see [`Spec::block`].
/// - `include`: `NGX_ANY_CONF`, every context.
/// - `error_log`: core (main) plus http, stream and mail; `keepalive_timeout`,
///   `keepalive_requests`, `keepalive_time`: http core (http, server, location) plus the
///   upstream keepalive module (upstream; `keepalive_timeout` takes one argument there, two
///   at most in the core); `return` and `set`: the rewrite module (server, location, if)
///   plus stream (stream server); `proxy_next_upstream` is a list in http and a flag in
///   stream; `server_name` is a list in http and one name in mail; `proxy_timeout` and
///   `proxy_protocol` are stream and mail; most `ssl_*` are http, stream and mail. The arguments
///   are the union, as nginx accepts them somewhere.
/// - `resolver`, `resolver_timeout`: the current documentation also lists `upstream`
///   (added in 1.27.3); nginx 1.22 says "not allowed here" there, so not in the table.
/// - `max_headers`: a later nginx's directive that Debian backported into its 1.22.1
///   (changelog.Debian); `post_action`, `gzip_window`, `gzip_hash`, `postpone_gzipping`,
///   `gzip_no_buffer`, `ssi_ignore_recycled_buffers`, `open_file_cache_events` and
///   `epoll_events` are compiled in but not described in the documentation.
/// - `ssl`, `http2_push`, `http2_push_preload`, `http2_max_concurrent_pushes` (removed in
///   1.25.1), `http2_idle_timeout`, `http2_max_requests`, `http2_max_field_size`,
///   `http2_max_header_size`, `http2_recv_timeout` (obsolete since 1.19.7): still accepted
///   by 1.22, so kept.
/// - Marked "nginx 1.25+": later versions' directives (`http2 on;`, HTTP/3), absent from
///   1.22, which says "unknown directive"; contexts and arguments from their documentation.
#[rustfmt::skip]
pub(crate) static DIRECTIVES: &[Spec] = &[
    d("absolute_redirect", HTTP | SERVER | LOCATION, FLAG),
    d("accept_mutex", EVENTS, FLAG),
    d("accept_mutex_delay", EVENTS, TAKE1),
    d("access_log", HTTP | SERVER | LOCATION | LIF | LMT | STREAM | STREAM_SERVER, ONE_MORE),
    d("add_after_body", HTTP | SERVER | LOCATION, TAKE1),
    d("add_before_body", HTTP | SERVER | LOCATION, TAKE1),
    d("add_header", HTTP | SERVER | LOCATION | LIF, TAKE23),
    d("add_trailer", HTTP | SERVER | LOCATION | LIF, TAKE23),
    d("addition_types", HTTP | SERVER | LOCATION, ONE_MORE),
    d("aio", HTTP | SERVER | LOCATION, TAKE1),
    d("aio_write", HTTP | SERVER | LOCATION, FLAG),
    d("alias", LOCATION, TAKE1),
    d("allow", HTTP | SERVER | LOCATION | LMT | STREAM | STREAM_SERVER, TAKE1),
    d("ancient_browser", HTTP | SERVER | LOCATION, ONE_MORE),
    d("ancient_browser_value", HTTP | SERVER | LOCATION, TAKE1),
    d("auth_basic", HTTP | SERVER | LOCATION | LMT, TAKE1),
    d("auth_basic_user_file", HTTP | SERVER | LOCATION | LMT, TAKE1),
    d("auth_delay", HTTP | SERVER | LOCATION, TAKE1),
    d("auth_http", MAIL | MAIL_SERVER, TAKE1),
    d("auth_http_header", MAIL | MAIL_SERVER, TAKE2),
    d("auth_http_pass_client_cert", MAIL | MAIL_SERVER, FLAG),
    d("auth_http_timeout", MAIL | MAIL_SERVER, TAKE1),
    d("auth_request", HTTP | SERVER | LOCATION, TAKE1),
    d("auth_request_set", HTTP | SERVER | LOCATION, TAKE2),
    d("autoindex", HTTP | SERVER | LOCATION, FLAG),
    d("autoindex_exact_size", HTTP | SERVER | LOCATION, FLAG),
    d("autoindex_format", HTTP | SERVER | LOCATION, TAKE1),
    d("autoindex_localtime", HTTP | SERVER | LOCATION, FLAG),
    d("break", SERVER | LOCATION | SIF | LIF, NOARGS),
    d("charset", HTTP | SERVER | LOCATION | LIF, TAKE1),
    b("charset_map", HTTP, TAKE2),
    d("charset_types", HTTP | SERVER | LOCATION, ONE_MORE),
    d("chunked_transfer_encoding", HTTP | SERVER | LOCATION, FLAG),
    d("client_body_buffer_size", HTTP | SERVER | LOCATION, TAKE1),
    d("client_body_in_file_only", HTTP | SERVER | LOCATION, TAKE1),
    d("client_body_in_single_buffer", HTTP | SERVER | LOCATION, FLAG),
    d("client_body_temp_path", HTTP | SERVER | LOCATION, TAKE1234),
    d("client_body_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("client_header_buffer_size", HTTP | SERVER, TAKE1),
    d("client_header_timeout", HTTP | SERVER, TAKE1),
    d("client_max_body_size", HTTP | SERVER | LOCATION, TAKE1),
    d("connection_pool_size", HTTP | SERVER, TAKE1),
    d("create_full_put_path", HTTP | SERVER | LOCATION, FLAG),
    d("daemon", MAIN, FLAG),
    d("dav_access", HTTP | SERVER | LOCATION, TAKE123),
    d("dav_methods", HTTP | SERVER | LOCATION, ONE_MORE),
    d("debug_connection", EVENTS, TAKE1),
    d("debug_points", MAIN, TAKE1),
    d("default_type", HTTP | SERVER | LOCATION, TAKE1),
    d("deny", HTTP | SERVER | LOCATION | LMT | STREAM | STREAM_SERVER, TAKE1),
    d("directio", HTTP | SERVER | LOCATION, TAKE1),
    d("directio_alignment", HTTP | SERVER | LOCATION, TAKE1),
    d("disable_symlinks", HTTP | SERVER | LOCATION, TAKE12),
    d("empty_gif", LOCATION, NOARGS),
    d("env", MAIN, TAKE1),
    d("epoll_events", EVENTS, TAKE1),
    d("error_log", MAIN | HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, ONE_MORE),
    d("error_page", HTTP | SERVER | LOCATION | LIF, TWO_MORE),
    d("etag", HTTP | SERVER | LOCATION, FLAG),
    b("events", MAIN, NOARGS),
    d("expires", HTTP | SERVER | LOCATION | LIF, TAKE12),
    d("fastcgi_bind", HTTP | SERVER | LOCATION, TAKE12),
    d("fastcgi_buffer_size", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_buffering", HTTP | SERVER | LOCATION, FLAG),
    d("fastcgi_buffers", HTTP | SERVER | LOCATION, TAKE2),
    d("fastcgi_busy_buffers_size", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_cache", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_cache_background_update", HTTP | SERVER | LOCATION, FLAG),
    d("fastcgi_cache_bypass", HTTP | SERVER | LOCATION, ONE_MORE),
    d("fastcgi_cache_key", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_cache_lock", HTTP | SERVER | LOCATION, FLAG),
    d("fastcgi_cache_lock_age", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_cache_lock_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_cache_max_range_offset", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_cache_methods", HTTP | SERVER | LOCATION, ONE_MORE),
    d("fastcgi_cache_min_uses", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_cache_path", HTTP, TWO_MORE),
    d("fastcgi_cache_revalidate", HTTP | SERVER | LOCATION, FLAG),
    d("fastcgi_cache_use_stale", HTTP | SERVER | LOCATION, ONE_MORE),
    d("fastcgi_cache_valid", HTTP | SERVER | LOCATION, ONE_MORE),
    d("fastcgi_catch_stderr", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_connect_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_force_ranges", HTTP | SERVER | LOCATION, FLAG),
    d("fastcgi_hide_header", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_ignore_client_abort", HTTP | SERVER | LOCATION, FLAG),
    d("fastcgi_ignore_headers", HTTP | SERVER | LOCATION, ONE_MORE),
    d("fastcgi_index", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_intercept_errors", HTTP | SERVER | LOCATION, FLAG),
    d("fastcgi_keep_conn", HTTP | SERVER | LOCATION, FLAG),
    d("fastcgi_limit_rate", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_max_temp_file_size", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_next_upstream", HTTP | SERVER | LOCATION, ONE_MORE),
    d("fastcgi_next_upstream_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_next_upstream_tries", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_no_cache", HTTP | SERVER | LOCATION, ONE_MORE),
    d("fastcgi_param", HTTP | SERVER | LOCATION, TAKE23),
    d("fastcgi_pass", LOCATION | LIF, TAKE1),
    d("fastcgi_pass_header", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_pass_request_body", HTTP | SERVER | LOCATION, FLAG),
    d("fastcgi_pass_request_headers", HTTP | SERVER | LOCATION, FLAG),
    d("fastcgi_read_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_request_buffering", HTTP | SERVER | LOCATION, FLAG),
    d("fastcgi_send_lowat", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_send_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_socket_keepalive", HTTP | SERVER | LOCATION, FLAG),
    d("fastcgi_split_path_info", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_store", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_store_access", HTTP | SERVER | LOCATION, TAKE123),
    d("fastcgi_temp_file_write_size", HTTP | SERVER | LOCATION, TAKE1),
    d("fastcgi_temp_path", HTTP | SERVER | LOCATION, TAKE1234),
    d("flv", LOCATION, NOARGS),
    b("geo", HTTP | STREAM, TAKE12),
    d("geoip_city", HTTP | STREAM, TAKE12),
    d("geoip_country", HTTP | STREAM, TAKE12),
    d("geoip_org", HTTP | STREAM, TAKE12),
    d("geoip_proxy", HTTP, TAKE1),
    d("geoip_proxy_recursive", HTTP, FLAG),
    d("grpc_bind", HTTP | SERVER | LOCATION, TAKE12),
    d("grpc_buffer_size", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_connect_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_hide_header", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_ignore_headers", HTTP | SERVER | LOCATION, ONE_MORE),
    d("grpc_intercept_errors", HTTP | SERVER | LOCATION, FLAG),
    d("grpc_next_upstream", HTTP | SERVER | LOCATION, ONE_MORE),
    d("grpc_next_upstream_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_next_upstream_tries", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_pass", LOCATION | LIF, TAKE1),
    d("grpc_pass_header", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_read_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_send_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_set_header", HTTP | SERVER | LOCATION, TAKE2),
    d("grpc_socket_keepalive", HTTP | SERVER | LOCATION, FLAG),
    d("grpc_ssl_certificate", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_ssl_certificate_key", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_ssl_ciphers", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_ssl_conf_command", HTTP | SERVER | LOCATION, TAKE2),
    d("grpc_ssl_crl", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_ssl_name", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_ssl_password_file", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_ssl_protocols", HTTP | SERVER | LOCATION, ONE_MORE),
    d("grpc_ssl_server_name", HTTP | SERVER | LOCATION, FLAG),
    d("grpc_ssl_session_reuse", HTTP | SERVER | LOCATION, FLAG),
    d("grpc_ssl_trusted_certificate", HTTP | SERVER | LOCATION, TAKE1),
    d("grpc_ssl_verify", HTTP | SERVER | LOCATION, FLAG),
    d("grpc_ssl_verify_depth", HTTP | SERVER | LOCATION, TAKE1),
    d("gunzip", HTTP | SERVER | LOCATION, FLAG),
    d("gunzip_buffers", HTTP | SERVER | LOCATION, TAKE2),
    d("gzip", HTTP | SERVER | LOCATION | LIF, FLAG),
    d("gzip_buffers", HTTP | SERVER | LOCATION, TAKE2),
    d("gzip_comp_level", HTTP | SERVER | LOCATION, TAKE1),
    d("gzip_disable", HTTP | SERVER | LOCATION, ONE_MORE),
    d("gzip_hash", HTTP | SERVER | LOCATION, TAKE1),
    d("gzip_http_version", HTTP | SERVER | LOCATION, TAKE1),
    d("gzip_min_length", HTTP | SERVER | LOCATION, TAKE1),
    d("gzip_no_buffer", HTTP | SERVER | LOCATION, FLAG),
    d("gzip_proxied", HTTP | SERVER | LOCATION, ONE_MORE),
    d("gzip_static", HTTP | SERVER | LOCATION, TAKE1),
    d("gzip_types", HTTP | SERVER | LOCATION, ONE_MORE),
    d("gzip_vary", HTTP | SERVER | LOCATION, FLAG),
    d("gzip_window", HTTP | SERVER | LOCATION, TAKE1),
    d("hash", UPSTREAM | STREAM_UPSTREAM, TAKE12),
    b("http", MAIN, NOARGS),
    d("http2", HTTP | SERVER, FLAG), // nginx 1.25+: from the documentation
    d("http2_body_preread_size", HTTP | SERVER, TAKE1),
    d("http2_chunk_size", HTTP | SERVER | LOCATION, TAKE1),
    d("http2_idle_timeout", HTTP | SERVER, TAKE1),
    d("http2_max_concurrent_pushes", HTTP | SERVER, TAKE1),
    d("http2_max_concurrent_streams", HTTP | SERVER, TAKE1),
    d("http2_max_field_size", HTTP | SERVER, TAKE1),
    d("http2_max_header_size", HTTP | SERVER, TAKE1),
    d("http2_max_requests", HTTP | SERVER, TAKE1),
    d("http2_pool_size", HTTP | SERVER, TAKE1),
    d("http2_push", HTTP | SERVER | LOCATION, TAKE1),
    d("http2_push_preload", HTTP | SERVER | LOCATION, FLAG),
    d("http2_recv_buffer_size", HTTP, TAKE1),
    d("http2_recv_timeout", HTTP | SERVER, TAKE1),
    d("http2_streams_index_size", HTTP | SERVER, TAKE1),
    d("http3", HTTP | SERVER, FLAG), // nginx 1.25+: from the documentation
    d("http3_hq", HTTP | SERVER, FLAG), // nginx 1.25+: from the documentation
    d("http3_max_concurrent_streams", HTTP | SERVER, TAKE1), // nginx 1.25+: from the documentation
    d("http3_stream_buffer_size", HTTP | SERVER, TAKE1), // nginx 1.25+: from the documentation
    b("if", SERVER | LOCATION, ONE_MORE),
    d("if_modified_since", HTTP | SERVER | LOCATION, TAKE1),
    d("ignore_invalid_headers", HTTP | SERVER, FLAG),
    d("image_filter", LOCATION, TAKE123),
    d("image_filter_buffer", HTTP | SERVER | LOCATION, TAKE1),
    d("image_filter_interlace", HTTP | SERVER | LOCATION, FLAG),
    d("image_filter_jpeg_quality", HTTP | SERVER | LOCATION, TAKE1),
    d("image_filter_sharpen", HTTP | SERVER | LOCATION, TAKE1),
    d("image_filter_transparency", HTTP | SERVER | LOCATION, FLAG),
    d("image_filter_webp_quality", HTTP | SERVER | LOCATION, TAKE1),
    d("imap_auth", MAIL | MAIL_SERVER, ONE_MORE),
    d("imap_capabilities", MAIL | MAIL_SERVER, ONE_MORE),
    d("imap_client_buffer", MAIL | MAIL_SERVER, TAKE1),
    d("include", ANY_CONTEXT, TAKE1), // NGX_ANY_CONF
    d("index", HTTP | SERVER | LOCATION, ONE_MORE),
    d("internal", LOCATION, NOARGS),
    d("ip_hash", UPSTREAM, NOARGS),
    d("keepalive", UPSTREAM, TAKE1),
    d("keepalive_disable", HTTP | SERVER | LOCATION, TAKE12),
    d("keepalive_requests", HTTP | SERVER | LOCATION | UPSTREAM, TAKE1),
    d("keepalive_time", HTTP | SERVER | LOCATION | UPSTREAM, TAKE1),
    d("keepalive_timeout", HTTP | SERVER | LOCATION | UPSTREAM, TAKE12),
    d("large_client_header_buffers", HTTP | SERVER, TAKE2),
    d("least_conn", UPSTREAM | STREAM_UPSTREAM, NOARGS),
    d("limit_conn", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE2),
    d("limit_conn_dry_run", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, FLAG),
    d("limit_conn_log_level", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("limit_conn_status", HTTP | SERVER | LOCATION, TAKE1),
    d("limit_conn_zone", HTTP | STREAM, TAKE2),
    b("limit_except", LOCATION, ONE_MORE),
    d("limit_rate", HTTP | SERVER | LOCATION | LIF, TAKE1),
    d("limit_rate_after", HTTP | SERVER | LOCATION | LIF, TAKE1),
    d("limit_req", HTTP | SERVER | LOCATION, TAKE123),
    d("limit_req_dry_run", HTTP | SERVER | LOCATION, FLAG),
    d("limit_req_log_level", HTTP | SERVER | LOCATION, TAKE1),
    d("limit_req_status", HTTP | SERVER | LOCATION, TAKE1),
    d("limit_req_zone", HTTP, TAKE3),
    d("lingering_close", HTTP | SERVER | LOCATION, TAKE1),
    d("lingering_time", HTTP | SERVER | LOCATION, TAKE1),
    d("lingering_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("listen", SERVER | STREAM_SERVER | MAIL_SERVER, ONE_MORE),
    d("load_module", MAIN, TAKE1),
    b("location", SERVER | LOCATION, TAKE12),
    d("lock_file", MAIN, TAKE1),
    d("log_format", HTTP | STREAM, TWO_MORE),
    d("log_not_found", HTTP | SERVER | LOCATION, FLAG),
    d("log_subrequest", HTTP | SERVER | LOCATION, FLAG),
    b("mail", MAIN, NOARGS),
    b("map", HTTP | STREAM, TAKE2),
    d("map_hash_bucket_size", HTTP | STREAM, TAKE1),
    d("map_hash_max_size", HTTP | STREAM, TAKE1),
    d("master_process", MAIN, FLAG),
    d("max_errors", MAIL | MAIL_SERVER, TAKE1),
    d("max_headers", HTTP | SERVER, TAKE1), // Debian backport (changelog.Debian)
    d("max_ranges", HTTP | SERVER | LOCATION, TAKE1),
    d("memcached_bind", HTTP | SERVER | LOCATION, TAKE12),
    d("memcached_buffer_size", HTTP | SERVER | LOCATION, TAKE1),
    d("memcached_connect_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("memcached_gzip_flag", HTTP | SERVER | LOCATION, TAKE1),
    d("memcached_next_upstream", HTTP | SERVER | LOCATION, ONE_MORE),
    d("memcached_next_upstream_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("memcached_next_upstream_tries", HTTP | SERVER | LOCATION, TAKE1),
    d("memcached_pass", LOCATION | LIF, TAKE1),
    d("memcached_read_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("memcached_send_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("memcached_socket_keepalive", HTTP | SERVER | LOCATION, FLAG),
    d("merge_slashes", HTTP | SERVER, FLAG),
    d("min_delete_depth", HTTP | SERVER | LOCATION, TAKE1),
    d("mirror", HTTP | SERVER | LOCATION, TAKE1),
    d("mirror_request_body", HTTP | SERVER | LOCATION, FLAG),
    d("modern_browser", HTTP | SERVER | LOCATION, TAKE12),
    d("modern_browser_value", HTTP | SERVER | LOCATION, TAKE1),
    d("mp4", LOCATION, NOARGS),
    d("mp4_buffer_size", HTTP | SERVER | LOCATION, TAKE1),
    d("mp4_max_buffer_size", HTTP | SERVER | LOCATION, TAKE1),
    d("mp4_start_key_frame", HTTP | SERVER | LOCATION, FLAG),
    d("msie_padding", HTTP | SERVER | LOCATION, FLAG),
    d("msie_refresh", HTTP | SERVER | LOCATION, FLAG),
    d("multi_accept", EVENTS, FLAG),
    d("open_file_cache", HTTP | SERVER | LOCATION, TAKE12),
    d("open_file_cache_errors", HTTP | SERVER | LOCATION, FLAG),
    d("open_file_cache_events", HTTP | SERVER | LOCATION, FLAG),
    d("open_file_cache_min_uses", HTTP | SERVER | LOCATION, TAKE1),
    d("open_file_cache_valid", HTTP | SERVER | LOCATION, TAKE1),
    d("open_log_file_cache", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1234),
    d("output_buffers", HTTP | SERVER | LOCATION, TAKE2),
    d("override_charset", HTTP | SERVER | LOCATION | LIF, FLAG),
    d("pcre_jit", MAIN, FLAG),
    d("perl", LOCATION | LMT, TAKE1),
    d("perl_modules", HTTP, TAKE1),
    d("perl_require", HTTP, TAKE1),
    d("perl_set", HTTP, TAKE2),
    d("pid", MAIN, TAKE1),
    d("pop3_auth", MAIL | MAIL_SERVER, ONE_MORE),
    d("pop3_capabilities", MAIL | MAIL_SERVER, ONE_MORE),
    d("port_in_redirect", HTTP | SERVER | LOCATION, FLAG),
    d("post_action", HTTP | SERVER | LOCATION | LIF, TAKE1),
    d("postpone_gzipping", HTTP | SERVER | LOCATION, TAKE1),
    d("postpone_output", HTTP | SERVER | LOCATION, TAKE1),
    d("preread_buffer_size", STREAM | STREAM_SERVER, TAKE1),
    d("preread_timeout", STREAM | STREAM_SERVER, TAKE1),
    d("protocol", MAIL_SERVER, TAKE1),
    d("proxy", MAIL | MAIL_SERVER, FLAG),
    d("proxy_bind", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE12),
    d("proxy_buffer", MAIL | MAIL_SERVER, TAKE1),
    d("proxy_buffer_size", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("proxy_buffering", HTTP | SERVER | LOCATION, FLAG),
    d("proxy_buffers", HTTP | SERVER | LOCATION, TAKE2),
    d("proxy_busy_buffers_size", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_cache", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_cache_background_update", HTTP | SERVER | LOCATION, FLAG),
    d("proxy_cache_bypass", HTTP | SERVER | LOCATION, ONE_MORE),
    d("proxy_cache_convert_head", HTTP | SERVER | LOCATION, FLAG),
    d("proxy_cache_key", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_cache_lock", HTTP | SERVER | LOCATION, FLAG),
    d("proxy_cache_lock_age", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_cache_lock_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_cache_max_range_offset", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_cache_methods", HTTP | SERVER | LOCATION, ONE_MORE),
    d("proxy_cache_min_uses", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_cache_path", HTTP, TWO_MORE),
    d("proxy_cache_revalidate", HTTP | SERVER | LOCATION, FLAG),
    d("proxy_cache_use_stale", HTTP | SERVER | LOCATION, ONE_MORE),
    d("proxy_cache_valid", HTTP | SERVER | LOCATION, ONE_MORE),
    d("proxy_connect_timeout", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("proxy_cookie_domain", HTTP | SERVER | LOCATION, TAKE12),
    d("proxy_cookie_flags", HTTP | SERVER | LOCATION, TAKE1234),
    d("proxy_cookie_path", HTTP | SERVER | LOCATION, TAKE12),
    d("proxy_download_rate", STREAM | STREAM_SERVER, TAKE1),
    d("proxy_downstream_buffer", STREAM | STREAM_SERVER, TAKE1),
    d("proxy_force_ranges", HTTP | SERVER | LOCATION, FLAG),
    d("proxy_half_close", STREAM | STREAM_SERVER, FLAG),
    d("proxy_headers_hash_bucket_size", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_headers_hash_max_size", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_hide_header", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_http_version", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_ignore_client_abort", HTTP | SERVER | LOCATION, FLAG),
    d("proxy_ignore_headers", HTTP | SERVER | LOCATION, ONE_MORE),
    d("proxy_intercept_errors", HTTP | SERVER | LOCATION, FLAG),
    d("proxy_limit_rate", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_max_temp_file_size", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_method", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_next_upstream", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, FLAG | ONE_MORE),
    d("proxy_next_upstream_timeout", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("proxy_next_upstream_tries", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("proxy_no_cache", HTTP | SERVER | LOCATION, ONE_MORE),
    d("proxy_pass", LOCATION | LIF | LMT | STREAM_SERVER, TAKE1),
    d("proxy_pass_error_message", MAIL | MAIL_SERVER, FLAG),
    d("proxy_pass_header", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_pass_request_body", HTTP | SERVER | LOCATION, FLAG),
    d("proxy_pass_request_headers", HTTP | SERVER | LOCATION, FLAG),
    d("proxy_protocol", STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, FLAG),
    d("proxy_protocol_timeout", STREAM | STREAM_SERVER, TAKE1),
    d("proxy_read_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_redirect", HTTP | SERVER | LOCATION, TAKE12),
    d("proxy_request_buffering", HTTP | SERVER | LOCATION, FLAG),
    d("proxy_requests", STREAM | STREAM_SERVER, TAKE1),
    d("proxy_responses", STREAM | STREAM_SERVER, TAKE1),
    d("proxy_send_lowat", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_send_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_set_body", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_set_header", HTTP | SERVER | LOCATION, TAKE2),
    d("proxy_smtp_auth", MAIL | MAIL_SERVER, FLAG),
    d("proxy_socket_keepalive", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, FLAG),
    d("proxy_ssl", STREAM | STREAM_SERVER, FLAG),
    d("proxy_ssl_certificate", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("proxy_ssl_certificate_key", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("proxy_ssl_ciphers", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("proxy_ssl_conf_command", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE2),
    d("proxy_ssl_crl", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("proxy_ssl_name", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("proxy_ssl_password_file", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("proxy_ssl_protocols", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, ONE_MORE),
    d("proxy_ssl_server_name", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, FLAG),
    d("proxy_ssl_session_reuse", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, FLAG),
    d("proxy_ssl_trusted_certificate", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("proxy_ssl_verify", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, FLAG),
    d("proxy_ssl_verify_depth", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, TAKE1),
    d("proxy_store", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_store_access", HTTP | SERVER | LOCATION, TAKE123),
    d("proxy_temp_file_write_size", HTTP | SERVER | LOCATION, TAKE1),
    d("proxy_temp_path", HTTP | SERVER | LOCATION, TAKE1234),
    d("proxy_timeout", STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("proxy_upload_rate", STREAM | STREAM_SERVER, TAKE1),
    d("proxy_upstream_buffer", STREAM | STREAM_SERVER, TAKE1),
    d("random", UPSTREAM | STREAM_UPSTREAM, NOARGS | TAKE12),
    d("random_index", LOCATION, FLAG),
    d("read_ahead", HTTP | SERVER | LOCATION, TAKE1),
    d("real_ip_header", HTTP | SERVER | LOCATION, TAKE1),
    d("real_ip_recursive", HTTP | SERVER | LOCATION, FLAG),
    d("recursive_error_pages", HTTP | SERVER | LOCATION, FLAG),
    d("referer_hash_bucket_size", SERVER | LOCATION, TAKE1),
    d("referer_hash_max_size", SERVER | LOCATION, TAKE1),
    d("request_pool_size", HTTP | SERVER, TAKE1),
    d("reset_timedout_connection", HTTP | SERVER | LOCATION, FLAG),
    d("resolver", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, ONE_MORE),
    d("resolver_timeout", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("return", SERVER | LOCATION | SIF | LIF | STREAM_SERVER, TAKE12),
    d("rewrite", SERVER | LOCATION | SIF | LIF, TAKE23),
    d("rewrite_log", HTTP | SERVER | LOCATION | SIF | LIF, FLAG),
    d("root", HTTP | SERVER | LOCATION | LIF, TAKE1),
    d("satisfy", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_bind", HTTP | SERVER | LOCATION, TAKE12),
    d("scgi_buffer_size", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_buffering", HTTP | SERVER | LOCATION, FLAG),
    d("scgi_buffers", HTTP | SERVER | LOCATION, TAKE2),
    d("scgi_busy_buffers_size", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_cache", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_cache_background_update", HTTP | SERVER | LOCATION, FLAG),
    d("scgi_cache_bypass", HTTP | SERVER | LOCATION, ONE_MORE),
    d("scgi_cache_key", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_cache_lock", HTTP | SERVER | LOCATION, FLAG),
    d("scgi_cache_lock_age", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_cache_lock_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_cache_max_range_offset", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_cache_methods", HTTP | SERVER | LOCATION, ONE_MORE),
    d("scgi_cache_min_uses", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_cache_path", HTTP, TWO_MORE),
    d("scgi_cache_revalidate", HTTP | SERVER | LOCATION, FLAG),
    d("scgi_cache_use_stale", HTTP | SERVER | LOCATION, ONE_MORE),
    d("scgi_cache_valid", HTTP | SERVER | LOCATION, ONE_MORE),
    d("scgi_connect_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_force_ranges", HTTP | SERVER | LOCATION, FLAG),
    d("scgi_hide_header", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_ignore_client_abort", HTTP | SERVER | LOCATION, FLAG),
    d("scgi_ignore_headers", HTTP | SERVER | LOCATION, ONE_MORE),
    d("scgi_intercept_errors", HTTP | SERVER | LOCATION, FLAG),
    d("scgi_limit_rate", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_max_temp_file_size", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_next_upstream", HTTP | SERVER | LOCATION, ONE_MORE),
    d("scgi_next_upstream_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_next_upstream_tries", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_no_cache", HTTP | SERVER | LOCATION, ONE_MORE),
    d("scgi_param", HTTP | SERVER | LOCATION, TAKE23),
    d("scgi_pass", LOCATION | LIF, TAKE1),
    d("scgi_pass_header", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_pass_request_body", HTTP | SERVER | LOCATION, FLAG),
    d("scgi_pass_request_headers", HTTP | SERVER | LOCATION, FLAG),
    d("scgi_read_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_request_buffering", HTTP | SERVER | LOCATION, FLAG),
    d("scgi_send_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_socket_keepalive", HTTP | SERVER | LOCATION, FLAG),
    d("scgi_store", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_store_access", HTTP | SERVER | LOCATION, TAKE123),
    d("scgi_temp_file_write_size", HTTP | SERVER | LOCATION, TAKE1),
    d("scgi_temp_path", HTTP | SERVER | LOCATION, TAKE1234),
    d("secure_link", HTTP | SERVER | LOCATION, TAKE1),
    d("secure_link_md5", HTTP | SERVER | LOCATION, TAKE1),
    d("secure_link_secret", HTTP | SERVER | LOCATION, TAKE1),
    d("send_lowat", HTTP | SERVER | LOCATION, TAKE1),
    d("send_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("sendfile", HTTP | SERVER | LOCATION | LIF, FLAG),
    d("sendfile_max_chunk", HTTP | SERVER | LOCATION, TAKE1),
    d("server", HTTP | UPSTREAM | STREAM | STREAM_UPSTREAM | MAIL, NOARGS | ONE_MORE), // see Spec::block
    d("server_name", SERVER | MAIL | MAIL_SERVER, TAKE1 | ONE_MORE),
    d("server_name_in_redirect", HTTP | SERVER | LOCATION, FLAG),
    d("server_names_hash_bucket_size", HTTP, TAKE1),
    d("server_names_hash_max_size", HTTP, TAKE1),
    d("server_tokens", HTTP | SERVER | LOCATION, TAKE1),
    d("set", SERVER | LOCATION | SIF | LIF | STREAM_SERVER, TAKE2),
    d("set_real_ip_from", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("slice", HTTP | SERVER | LOCATION, TAKE1),
    d("smtp_auth", MAIL | MAIL_SERVER, ONE_MORE),
    d("smtp_capabilities", MAIL | MAIL_SERVER, ONE_MORE),
    d("smtp_client_buffer", MAIL | MAIL_SERVER, TAKE1),
    d("smtp_greeting_delay", MAIL | MAIL_SERVER, TAKE1),
    d("source_charset", HTTP | SERVER | LOCATION | LIF, TAKE1),
    b("split_clients", HTTP | STREAM, TAKE2),
    d("ssi", HTTP | SERVER | LOCATION | LIF, FLAG),
    d("ssi_ignore_recycled_buffers", HTTP | SERVER | LOCATION, FLAG),
    d("ssi_last_modified", HTTP | SERVER | LOCATION, FLAG),
    d("ssi_min_file_chunk", HTTP | SERVER | LOCATION, TAKE1),
    d("ssi_silent_errors", HTTP | SERVER | LOCATION, FLAG),
    d("ssi_types", HTTP | SERVER | LOCATION, ONE_MORE),
    d("ssi_value_length", HTTP | SERVER | LOCATION, TAKE1),
    d("ssl", HTTP | SERVER | MAIL | MAIL_SERVER, FLAG),
    d("ssl_alpn", STREAM | STREAM_SERVER, ONE_MORE),
    d("ssl_buffer_size", HTTP | SERVER, TAKE1),
    d("ssl_certificate", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("ssl_certificate_key", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("ssl_ciphers", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("ssl_client_certificate", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("ssl_conf_command", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE2),
    d("ssl_crl", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("ssl_dhparam", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("ssl_early_data", HTTP | SERVER, FLAG),
    d("ssl_ecdh_curve", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("ssl_engine", MAIN, TAKE1),
    d("ssl_handshake_timeout", STREAM | STREAM_SERVER, TAKE1),
    d("ssl_ocsp", HTTP | SERVER, FLAG),
    d("ssl_ocsp_cache", HTTP | SERVER, TAKE1),
    d("ssl_ocsp_responder", HTTP | SERVER, TAKE1),
    d("ssl_password_file", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("ssl_prefer_server_ciphers", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, FLAG),
    d("ssl_preread", STREAM | STREAM_SERVER, FLAG),
    d("ssl_protocols", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, ONE_MORE),
    d("ssl_reject_handshake", HTTP | SERVER, FLAG),
    d("ssl_session_cache", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE12),
    d("ssl_session_ticket_key", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("ssl_session_tickets", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, FLAG),
    d("ssl_session_timeout", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("ssl_stapling", HTTP | SERVER, FLAG),
    d("ssl_stapling_file", HTTP | SERVER, TAKE1),
    d("ssl_stapling_responder", HTTP | SERVER, TAKE1),
    d("ssl_stapling_verify", HTTP | SERVER, FLAG),
    d("ssl_trusted_certificate", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("ssl_verify_client", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("ssl_verify_depth", HTTP | SERVER | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER, TAKE1),
    d("starttls", MAIL | MAIL_SERVER, TAKE1),
    b("stream", MAIN, NOARGS),
    d("stub_status", SERVER | LOCATION, NOARGS | TAKE1),
    d("sub_filter", HTTP | SERVER | LOCATION, TAKE2),
    d("sub_filter_last_modified", HTTP | SERVER | LOCATION, FLAG),
    d("sub_filter_once", HTTP | SERVER | LOCATION, FLAG),
    d("sub_filter_types", HTTP | SERVER | LOCATION, ONE_MORE),
    d("subrequest_output_buffer_size", HTTP | SERVER | LOCATION, TAKE1),
    d("tcp_nodelay", HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER, FLAG),
    d("tcp_nopush", HTTP | SERVER | LOCATION, FLAG),
    d("thread_pool", MAIN, TAKE23),
    d("timeout", MAIL | MAIL_SERVER, TAKE1),
    d("timer_resolution", MAIN, TAKE1),
    d("try_files", SERVER | LOCATION, TWO_MORE),
    b("types", HTTP | SERVER | LOCATION, NOARGS),
    d("types_hash_bucket_size", HTTP | SERVER | LOCATION, TAKE1),
    d("types_hash_max_size", HTTP | SERVER | LOCATION, TAKE1),
    d("underscores_in_headers", HTTP | SERVER, FLAG),
    d("uninitialized_variable_warn", HTTP | SERVER | LOCATION | SIF | LIF, FLAG),
    b("upstream", HTTP | STREAM, TAKE1),
    d("use", EVENTS, TAKE1),
    d("user", MAIN, TAKE12),
    d("userid", HTTP | SERVER | LOCATION, TAKE1),
    d("userid_domain", HTTP | SERVER | LOCATION, TAKE1),
    d("userid_expires", HTTP | SERVER | LOCATION, TAKE1),
    d("userid_flags", HTTP | SERVER | LOCATION, TAKE123),
    d("userid_mark", HTTP | SERVER | LOCATION, TAKE1),
    d("userid_name", HTTP | SERVER | LOCATION, TAKE1),
    d("userid_p3p", HTTP | SERVER | LOCATION, TAKE1),
    d("userid_path", HTTP | SERVER | LOCATION, TAKE1),
    d("userid_service", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_bind", HTTP | SERVER | LOCATION, TAKE12),
    d("uwsgi_buffer_size", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_buffering", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_buffers", HTTP | SERVER | LOCATION, TAKE2),
    d("uwsgi_busy_buffers_size", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_cache", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_cache_background_update", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_cache_bypass", HTTP | SERVER | LOCATION, ONE_MORE),
    d("uwsgi_cache_key", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_cache_lock", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_cache_lock_age", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_cache_lock_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_cache_max_range_offset", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_cache_methods", HTTP | SERVER | LOCATION, ONE_MORE),
    d("uwsgi_cache_min_uses", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_cache_path", HTTP, TWO_MORE),
    d("uwsgi_cache_revalidate", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_cache_use_stale", HTTP | SERVER | LOCATION, ONE_MORE),
    d("uwsgi_cache_valid", HTTP | SERVER | LOCATION, ONE_MORE),
    d("uwsgi_connect_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_force_ranges", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_hide_header", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_ignore_client_abort", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_ignore_headers", HTTP | SERVER | LOCATION, ONE_MORE),
    d("uwsgi_intercept_errors", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_limit_rate", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_max_temp_file_size", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_modifier1", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_modifier2", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_next_upstream", HTTP | SERVER | LOCATION, ONE_MORE),
    d("uwsgi_next_upstream_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_next_upstream_tries", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_no_cache", HTTP | SERVER | LOCATION, ONE_MORE),
    d("uwsgi_param", HTTP | SERVER | LOCATION, TAKE23),
    d("uwsgi_pass", LOCATION | LIF, TAKE1),
    d("uwsgi_pass_header", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_pass_request_body", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_pass_request_headers", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_read_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_request_buffering", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_send_timeout", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_socket_keepalive", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_ssl_certificate", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_ssl_certificate_key", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_ssl_ciphers", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_ssl_conf_command", HTTP | SERVER | LOCATION, TAKE2),
    d("uwsgi_ssl_crl", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_ssl_name", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_ssl_password_file", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_ssl_protocols", HTTP | SERVER | LOCATION, ONE_MORE),
    d("uwsgi_ssl_server_name", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_ssl_session_reuse", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_ssl_trusted_certificate", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_ssl_verify", HTTP | SERVER | LOCATION, FLAG),
    d("uwsgi_ssl_verify_depth", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_store", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_store_access", HTTP | SERVER | LOCATION, TAKE123),
    d("uwsgi_string", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_temp_file_write_size", HTTP | SERVER | LOCATION, TAKE1),
    d("uwsgi_temp_path", HTTP | SERVER | LOCATION, TAKE1234),
    d("valid_referers", SERVER | LOCATION, ONE_MORE),
    d("variables_hash_bucket_size", HTTP | STREAM, TAKE1),
    d("variables_hash_max_size", HTTP | STREAM, TAKE1),
    d("worker_aio_requests", EVENTS, TAKE1),
    d("worker_connections", EVENTS, TAKE1),
    d("worker_cpu_affinity", MAIN, ONE_MORE),
    d("worker_priority", MAIN, TAKE1),
    d("worker_processes", MAIN, TAKE1),
    d("worker_rlimit_core", MAIN, TAKE1),
    d("worker_rlimit_nofile", MAIN, TAKE1),
    d("worker_shutdown_timeout", MAIN, TAKE1),
    d("working_directory", MAIN, TAKE1),
    d("xclient", MAIL | MAIL_SERVER, FLAG),
    d("xml_entities", HTTP | SERVER | LOCATION, TAKE1),
    d("xslt_last_modified", HTTP | SERVER | LOCATION, FLAG),
    d("xslt_param", HTTP | SERVER | LOCATION, TAKE2),
    d("xslt_string_param", HTTP | SERVER | LOCATION, TAKE2),
    d("xslt_stylesheet", LOCATION, ONE_MORE),
    d("xslt_types", HTTP | SERVER | LOCATION, ONE_MORE),
    d("zone", UPSTREAM | STREAM_UPSTREAM, TAKE12),
];

/// The spec of directive `name`, if the table knows it.
pub(crate) fn lookup(name: &str) -> Option<&'static Spec> {
    DIRECTIVES
        .binary_search_by(|spec| spec.name.cmp(name))
        .ok()
        .map(|i| &DIRECTIVES[i])
}

/// `NGX_CONF_NOARGS`, `TAKE1` ... `TAKE7`, indexed by argument count.
const TAKE_N: [u32; 8] = [NOARGS, TAKE1, TAKE2, TAKE3, TAKE4, TAKE5, TAKE6, TAKE7];

/// Whether `n` arguments satisfy `spec.args` (FLAG: exactly 1; ONE_MORE: >=1; TWO_MORE: >=2;
/// ANY: any; TAKEn bits: n exactly).
pub(crate) fn args_ok(spec: &Spec, n: usize) -> bool {
    let a = spec.args;
    a & ANY != 0
        || (a & FLAG != 0 && n == 1)
        || (a & ONE_MORE != 0 && n >= 1)
        || (a & TWO_MORE != 0 && n >= 2)
        || TAKE_N.get(n).is_some_and(|&bit| a & bit != 0)
}

/// nginx's names for the contexts, in bit order. The documentation calls both `if` contexts
/// "if" and every `server`/`upstream` just that; the stream and mail ones are qualified
/// here so a message can tell them apart.
const CONTEXT_NAMES: [(u32, &str); 14] = [
    (MAIN, "main"),
    (EVENTS, "events"),
    (HTTP, "http"),
    (SERVER, "server"),
    (LOCATION, "location"),
    (UPSTREAM, "upstream"),
    (SIF, "if in server"),
    (LIF, "if in location"),
    (LMT, "limit_except"),
    (STREAM, "stream"),
    (STREAM_SERVER, "stream server"),
    (STREAM_UPSTREAM, "stream upstream"),
    (MAIL, "mail"),
    (MAIL_SERVER, "mail server"),
];

/// nginx's name for a context bit in messages, e.g. "location", "if in location" (for
/// docs/messages); one name per bit set in `contexts`, in bit order.
pub(crate) fn context_names(contexts: u32) -> Vec<&'static str> {
    CONTEXT_NAMES
        .iter()
        .filter(|(bit, _)| contexts & bit != 0)
        .map(|&(_, name)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> &'static Spec {
        lookup(name).unwrap_or_else(|| panic!("{name} not in the table"))
    }

    #[test]
    fn names_are_sorted_and_unique() {
        for pair in DIRECTIVES.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{:?} before {:?}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn every_entry_is_well_formed() {
        let all_args = NOARGS | TAKE1234 | TAKE5 | TAKE6 | TAKE7 | FLAG | ONE_MORE | TWO_MORE | ANY;
        for s in DIRECTIVES {
            assert!(!s.name.is_empty());
            assert!(
                s.name
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
                "{}",
                s.name
            );
            assert!(
                s.contexts != 0 && s.contexts & !ANY_CONTEXT == 0,
                "{}",
                s.name
            );
            assert!(s.args != 0 && s.args & !all_args == 0, "{}", s.name);
        }
        assert!(DIRECTIVES.len() > 550);
    }

    #[test]
    fn lookup_finds_every_entry_and_nothing_else() {
        for s in DIRECTIVES {
            assert_eq!(lookup(s.name).map(|found| found.name), Some(s.name));
        }
        assert!(lookup("").is_none());
        assert!(lookup("proxy_set_headers").is_none());
        assert!(lookup("Proxy_pass").is_none());
        assert!(lookup("zzz").is_none());
    }

    #[test]
    fn large_client_header_buffers_is_http_and_server_only() {
        let s = spec("large_client_header_buffers");
        assert_eq!(s.contexts, HTTP | SERVER);
        assert_eq!(s.contexts & LOCATION, 0);
        assert_eq!(s.args, TAKE2);
        assert!(!s.block);
    }

    #[test]
    fn proxy_pass_is_allowed_in_if_and_limit_except_and_stream() {
        let s = spec("proxy_pass");
        assert_eq!(s.contexts, LOCATION | LIF | LMT | STREAM_SERVER);
        assert_eq!(s.contexts & (HTTP | SERVER), 0);
        assert_eq!(s.args, TAKE1);
    }

    #[test]
    fn proxy_set_header_is_not_allowed_in_if() {
        let s = spec("proxy_set_header");
        assert_eq!(s.contexts, HTTP | SERVER | LOCATION);
        assert_eq!(s.contexts & LIF, 0);
        assert_eq!(s.args, TAKE2);
    }

    #[test]
    fn unions_over_modules() {
        // http core plus the upstream keepalive module
        assert_eq!(
            spec("keepalive_timeout").contexts,
            HTTP | SERVER | LOCATION | UPSTREAM
        );
        // core, http, stream and mail
        assert_eq!(
            spec("error_log").contexts,
            MAIN | HTTP | SERVER | LOCATION | STREAM | STREAM_SERVER | MAIL | MAIL_SERVER
        );
        let server = spec("server");
        assert_eq!(
            server.contexts,
            HTTP | UPSTREAM | STREAM | STREAM_UPSTREAM | MAIL
        );
        assert!(!server.block);
        assert!(args_ok(server, 0) && args_ok(server, 1) && args_ok(server, 3));
        assert_eq!(spec("upstream").contexts, HTTP | STREAM);
        assert_eq!(spec("include").contexts, ANY_CONTEXT);
        assert_eq!(
            spec("return").contexts,
            SERVER | LOCATION | SIF | LIF | STREAM_SERVER
        );
        // nginx 1.22 rejects `resolver` in `upstream` (the docs list it from 1.27.3)
        assert_eq!(spec("resolver").contexts & UPSTREAM, 0);
    }

    #[test]
    fn blocks() {
        for name in [
            "events",
            "http",
            "stream",
            "mail",
            "location",
            "if",
            "limit_except",
            "upstream",
            "map",
            "geo",
            "split_clients",
            "types",
            "charset_map",
        ] {
            assert!(spec(name).block, "{name}");
        }
        for name in ["server", "root", "proxy_pass", "include", "listen"] {
            assert!(!spec(name).block, "{name}");
        }
        assert_eq!(DIRECTIVES.iter().filter(|s| s.block).count(), 13);
    }

    #[test]
    fn args_ok_cases() {
        let keepalive_timeout = spec("keepalive_timeout"); // TAKE12
        assert!(!args_ok(keepalive_timeout, 0));
        assert!(args_ok(keepalive_timeout, 1));
        assert!(args_ok(keepalive_timeout, 2));
        assert!(!args_ok(keepalive_timeout, 3));

        let sendfile = spec("sendfile"); // FLAG
        assert!(!args_ok(sendfile, 0));
        assert!(args_ok(sendfile, 1));
        assert!(!args_ok(sendfile, 2));

        let listen = spec("listen"); // 1MORE
        assert!(!args_ok(listen, 0));
        assert!(args_ok(listen, 1));
        assert!(args_ok(listen, 9));

        let try_files = spec("try_files"); // 2MORE
        assert!(!args_ok(try_files, 1));
        assert!(args_ok(try_files, 2));
        assert!(args_ok(try_files, 12));

        let brk = spec("break"); // NOARGS
        assert!(args_ok(brk, 0));
        assert!(!args_ok(brk, 1));

        let rewrite = spec("rewrite"); // TAKE23
        assert!(!args_ok(rewrite, 1));
        assert!(args_ok(rewrite, 2));
        assert!(args_ok(rewrite, 3));
        assert!(!args_ok(rewrite, 4));

        let stub_status = spec("stub_status"); // NOARGS | TAKE1
        assert!(args_ok(stub_status, 0));
        assert!(args_ok(stub_status, 1));
        assert!(!args_ok(stub_status, 2));

        let temp_path = spec("client_body_temp_path"); // TAKE1234
        assert!(!args_ok(temp_path, 0));
        assert!(args_ok(temp_path, 4));
        assert!(!args_ok(temp_path, 5));

        let any = Spec {
            name: "x",
            contexts: MAIN,
            args: ANY,
            block: false,
        };
        assert!(args_ok(&any, 0) && args_ok(&any, 100));
        let take7 = Spec {
            name: "x",
            contexts: MAIN,
            args: TAKE7,
            block: false,
        };
        assert!(args_ok(&take7, 7) && !args_ok(&take7, 6) && !args_ok(&take7, 8));
        let take13 = Spec {
            name: "x",
            contexts: MAIN,
            args: TAKE13,
            block: false,
        };
        assert!(args_ok(&take13, 1) && !args_ok(&take13, 2) && args_ok(&take13, 3));
    }

    #[test]
    fn context_names_in_bit_order() {
        assert_eq!(
            context_names(LOCATION | LIF),
            ["location", "if in location"]
        );
        assert_eq!(
            context_names(spec("large_client_header_buffers").contexts),
            ["http", "server"]
        );
        assert_eq!(
            context_names(spec("proxy_pass").contexts),
            [
                "location",
                "if in location",
                "limit_except",
                "stream server"
            ]
        );
        assert_eq!(context_names(ANY_CONTEXT).len(), 14);
        assert!(context_names(0).is_empty());
    }
}
