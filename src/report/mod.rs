//! The `compare` report: one [`Report`] value, four renderings.
//!
//! - `table`: aligned plain text for a terminal;
//! - `markdown`: pastes into an incident review;
//! - `json`: the [`Report`] itself, a stable schema documented in `docs/compare-json-schema.md`
//!   (`schema_version` changes only when a field changes meaning or goes away);
//! - `html`: one self-contained page (inline CSS and SVG, no scripts, nothing fetched) with the
//!   upgrade outcomes over time, the split marked, and handshake quantiles before/after.
//!
//! Every field of the report types is described in `docs/compare-json-schema.md`, the contract
//! for scripts reading the JSON.
//!
//! Paths and signatures come from logs, i.e. from clients: everything is escaped for the format
//! it goes into, and query strings never get here (path labels are cut at `?`).

mod aggregate;
mod html;
mod markup;
mod model;
mod svg;
mod text;

pub(crate) use aggregate::{build, cause, cause_words};
pub(crate) use model::Report;
pub(crate) use text::human_window;

use html::html;
use text::{markdown, table};

/// Renders `table`, `markdown`, `json` or `html`.
pub(crate) fn render(r: &Report, format: &str) -> anyhow::Result<String> {
    Ok(match format {
        "table" => table(r),
        "markdown" => markdown(r),
        "json" => {
            let mut s = serde_json::to_string_pretty(r)?;
            s.push('\n');
            s
        }
        "html" => html(r),
        other => anyhow::bail!("unknown report format {other:?} (table, markdown, json, html)"),
    })
}

#[cfg(test)]
mod tests {
    use super::aggregate::{share, verdict};
    use super::markup::html_escape;
    use super::model::{AnsweredBy, PathPhase, Quantiles, SessionQuantiles, StatusCount};
    use super::text::{human_secs, md};
    use super::*;

    fn phase(attempts: u64, ok: u64, forbidden: u64) -> PathPhase {
        PathPhase {
            requests: attempts,
            upgrade_attempts: attempts,
            switched_101: ok,
            share_101: share(ok, attempts),
            forbidden_403: forbidden,
            share_403: share(forbidden, attempts),
            other_failures: Vec::new(),
            failures_answered_by: AnsweredBy::default(),
            cause: "none",
            handshake_seconds: Quantiles {
                count: 0,
                p50: None,
                p95: None,
                p99: None,
            },
            session_seconds: SessionQuantiles {
                count: 0,
                p50: None,
            },
        }
    }

    #[test]
    fn verdict_reads_like_the_issue() {
        assert_eq!(
            verdict("/ws/chat", &phase(1000, 19, 978), &phase(1000, 995, 3)),
            "/ws/chat: 403 share 97.8% -> 0.3%, 101 share 1.9% -> 99.5% (1000 -> 1000 attempts: better)"
        );
        assert!(
            verdict("/ws/x", &phase(5, 0, 5), &phase(5, 5, 0)).ends_with("upgrades succeed now)")
        );
        assert!(verdict("/ws/x", &phase(0, 0, 0), &phase(5, 5, 0))
            .contains("no upgrade attempts before"));
    }

    #[test]
    fn a_rising_failure_share_is_worse_whatever_the_101_share_does() {
        // 403 share 6% -> 50%, 101 share unchanged at 50% (the rest were 502s).
        let mut b = phase(100, 50, 6);
        b.other_failures.push(StatusCount {
            status: 502,
            count: 44,
            share: 0.44,
        });
        let a = phase(100, 50, 50);
        assert!(verdict("/ws/x", &b, &a).ends_with("attempts: worse)"));
        // 6% -> 11%: exactly 5 points.
        assert!(verdict("/ws/x", &phase(100, 94, 6), &phase(100, 89, 11)).ends_with("worse)"));
        // 6% -> 10%: below the threshold.
        assert!(verdict("/ws/x", &phase(100, 94, 6), &phase(100, 90, 10)).ends_with("no change)"));
        // A new failure status rising is worse too, and "fail now" stays "fail now".
        let mut a = phase(100, 90, 0);
        a.other_failures.push(StatusCount {
            status: 426,
            count: 10,
            share: 0.1,
        });
        assert!(verdict("/ws/x", &phase(100, 100, 0), &a).ends_with("worse)"));
        assert!(
            verdict("/ws/x", &phase(10, 10, 0), &phase(10, 0, 10)).ends_with("upgrades fail now)")
        );
    }

    #[test]
    fn causes_follow_who_answered() {
        use std::collections::BTreeMap;
        let m = |v: &[(u16, [u64; 3])]| v.iter().copied().collect::<BTreeMap<_, _>>();
        assert_eq!(cause(&m(&[])), "none");
        assert_eq!(cause(&m(&[(101, [5, 0, 0])])), "none");
        assert_eq!(cause(&m(&[(403, [27, 0, 0])])), "upgrade_not_forwarded");
        assert_eq!(
            cause(&m(&[(101, [18, 0, 0]), (403, [9, 0, 0])])),
            "app_refused"
        );
        assert_eq!(cause(&m(&[(403, [0, 3, 0])])), "nginx_refused");
        assert_eq!(
            cause(&m(&[(502, [0, 4, 0]), (403, [0, 1, 0])])),
            "upstream_unavailable"
        );
        assert_eq!(cause(&m(&[(403, [0, 0, 7])])), "unknown");
        // The most failures win.
        assert_eq!(cause(&m(&[(403, [2, 5, 0])])), "nginx_refused");
        // A backend answering 503 to everything is failing, not missing the upgrade headers.
        assert_eq!(cause(&m(&[(503, [6, 0, 0])])), "upstream_unavailable");
    }

    #[test]
    fn a_fix_that_lets_upgrades_through_is_not_worse_for_the_apps_own_refusals() {
        // Before: 10 refusals (upgrade not forwarded); after: 9 switched, 1 bad token.
        let v = verdict("/ws/chat", &phase(10, 0, 0), &phase(10, 9, 1));
        assert!(v.ends_with("upgrades succeed now)"), "{v}");
        let v = verdict("/ws/chat", &phase(100, 50, 0), &phase(100, 90, 10));
        assert!(v.ends_with("better)"), "{v}");
        // A 5xx rise stays a regression even when more upgrades switch.
        let mut a = phase(100, 56, 0);
        a.other_failures.push(StatusCount {
            status: 503,
            count: 44,
            share: 0.44,
        });
        let v = verdict("/ws/chat", &phase(100, 50, 0), &a);
        assert!(v.ends_with("worse)"), "{v}");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
        assert_eq!(md("/a|b`c"), "/a\\|b\\`c");
        assert_eq!(human_secs(Some(0.003)), "3 ms");
        assert_eq!(human_secs(Some(42.118)), "42.12 s");
        assert_eq!(human_secs(Some(0.0)), "0 ms");
        assert_eq!(human_secs(None), "-");
    }
}
