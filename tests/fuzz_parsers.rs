//! Property tests over arbitrary bytes: no parser panics, the framing never loses a line, and
//! a good line after any garbage still parses. Bounded case counts keep CI time fixed.

use nginxlog_sidecar::classify::{Classifier, ClassifyConfig};
use nginxlog_sidecar::framing::{Frame, LineBuffer};
use nginxlog_sidecar::parse::format::LineFormat;
use proptest::prelude::*;
use std::cell::RefCell;

const GOOD: &[u8] = br#"127.0.0.1 - - [28/Nov/2026:01:53:32 +0000] "GET /ws/chat?token=x HTTP/1.1" 101 2 "-" "ua" rt=1.000 uct="0.001" uht="0.002" urt="1.000" upgrade="websocket""#;

fn classifier(format: &str) -> Classifier {
    Classifier::new(
        LineFormat::compile(format).expect("preset"),
        &ClassifyConfig::default(),
    )
    .expect("classifier")
}

thread_local! {
    /// Built once per thread: building the signature automaton per case would dominate the run.
    static CLASSIFIERS: RefCell<Vec<Classifier>> = RefCell::new({
        let mut v: Vec<Classifier> = [
            "ws_timing",
            "combined",
            "main",
            "json",
            // Adjacent variables split at the path's `/`, and a pasted JSON template.
            "$time_iso8601 $request_method $scheme://$host$request_uri $status",
            r#"log_format j escape=json '{"t":"$msec","req":"$request","code":$status}';"#,
        ]
        .map(classifier)
        .into();
        // --format auto: detection runs on the first lines, garbage included.
        v.push(Classifier::auto(&ClassifyConfig::default()).expect("auto"));
        v
    });
}

fn with_classifiers<R>(f: impl FnOnce(&mut [Classifier]) -> R) -> R {
    CLASSIFIERS.with(|c| f(&mut c.borrow_mut()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn access_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let ok = with_classifiers(|cs| {
            for c in cs.iter_mut() {
                let _ = c.access(&bytes);
                let _ = c.error(&bytes);
            }
            cs[0].access(GOOD).is_ok()
        });
        prop_assert!(ok);
    }

    #[test]
    fn mutated_good_lines_never_panic(pos in 0usize..GOOD.len(), b in any::<u8>(), cut in 0usize..GOOD.len()) {
        let mut line = GOOD.to_vec();
        line[pos] = b;
        let ok = with_classifiers(|cs| {
            let _ = cs[0].access(&line);
            let _ = cs[0].access(&GOOD[..cut]);
            cs[0].access(GOOD).is_ok()
        });
        prop_assert!(ok);
    }

    #[test]
    fn error_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut prefixed = b"2026/11/28 01:53:32 [error] 1#1: *1 ".to_vec();
        prefixed.extend_from_slice(&bytes);
        with_classifiers(|cs| {
            let _ = cs[1].error(&bytes);
            let _ = cs[1].error(&prefixed);
        });
    }

    #[test]
    fn framing_keeps_every_line(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..300), 1..20), chunk in 1usize..500) {
        let mut input = Vec::new();
        for l in &lines {
            input.extend_from_slice(l);
            input.push(b'\n');
        }
        let mut lb = LineBuffer::new(200);
        let mut got = 0;
        for part in input.chunks(chunk) {
            lb.push(part);
            while let Some(f) = lb.next_frame() {
                if let Frame::Line(l) = f {
                    prop_assert!(l.len() <= 200);
                }
                got += 1;
            }
        }
        prop_assert_eq!(got, lines.len());
        prop_assert_eq!(lb.consumed(), input.len() as u64);
    }

    #[test]
    fn format_compiler_never_panics(s in "[ -~]{0,80}") {
        let _ = LineFormat::compile(&s);
    }
}
