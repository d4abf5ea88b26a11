//! `nginxlog-sidecar compare`: flags in, historical files through the pipeline into the
//! before/after aggregates, the report out, and the `--fail-under` gate.

use crate::app::cli::CompareArgs;
use crate::report::{self, Report};
use crate::sink::compare::{parse_split, Compare, PhaseStats, Split};
use crate::source::history::{self, HistoryReader, Options, Phase};
use anyhow::{bail, Context};
use std::io::Write;

/// Exit status of `compare` when the `--fail-under` gate fails.
pub(crate) const GATE_FAILED: u8 = 3;

/// The `--fail-under` gate: the gated paths (`--gate-path`, default every path with upgrade
/// attempts after the split) whose 101 share after is below `min`, or that have no attempts
/// after, each with the reason. Fails closed: no gated path at all is a failure too, so a gate
/// over the wrong files (or an empty window) cannot pass.
pub(crate) fn gate(rep: &Report, min: f64, paths: &[String]) -> Vec<String> {
    let mut failed = Vec::new();
    let gated: Vec<&str> = if paths.is_empty() {
        rep.paths
            .iter()
            .filter(|p| p.after.upgrade_attempts > 0)
            .map(|p| p.path.as_str())
            .collect()
    } else {
        paths.iter().map(String::as_str).collect()
    };
    if gated.is_empty() {
        failed.push("no path has upgrade attempts after the change".to_string());
    }
    for g in gated {
        match rep.paths.iter().find(|p| p.path == g) {
            Some(p) if p.after.upgrade_attempts > 0 => {
                let share = p.after.share_101.unwrap_or(0.0);
                if share < min {
                    failed.push(format!(
                        "{g}: 101 share after {:.1}% is below {:.1}% ({} of {} attempts, cause {})",
                        share * 100.0,
                        min * 100.0,
                        p.after.switched_101,
                        p.after.upgrade_attempts,
                        p.after.cause
                    ));
                }
            }
            _ => failed.push(format!("{g}: no upgrade attempts after the change")),
        }
    }
    failed
}

/// `nginxlog-sidecar compare`: prints (or writes) the report; exit 0, or `GATE_FAILED` when
/// `--fail-under` is given and the gate fails.
pub fn run(args: &CompareArgs) -> anyhow::Result<std::process::ExitCode> {
    let (inputs, split) = if !args.before.is_empty() {
        if args.after.is_empty() {
            bail!("--before needs --after (the access logs from after the change)");
        }
        if !args.access_log.is_empty() || !args.error_log.is_empty() || args.split.is_some() {
            eprintln!(
                "note: with --before/--after, --access-log, --error-log and --split are not used"
            );
        }
        let mut v =
            crate::sink::backfill::inputs(&args.before, &args.before_error_log, Phase::Before);
        v.extend(crate::sink::backfill::inputs(
            &args.after,
            &args.after_error_log,
            Phase::After,
        ));
        (v, Split::Files)
    } else {
        let Some(split) = &args.split else {
            bail!("give --split TIME (with --access-log), or --before FILES --after FILES");
        };
        if args.access_log.is_empty() {
            bail!("nothing to compare: give --access-log FILES (and optionally --error-log)");
        }
        let window = args.window.as_secs_f64();
        if window <= 0.0 {
            bail!("--window must be positive");
        }
        (
            crate::sink::backfill::inputs(&args.access_log, &args.error_log, Phase::ByTime),
            Split::Time {
                at: parse_split(split)?,
                window,
            },
        )
    };
    let (report_format, log_format) = args.formats()?;
    let access: Vec<std::path::PathBuf> = args
        .access_log
        .iter()
        .chain(&args.before)
        .chain(&args.after)
        .cloned()
        .collect();
    let from_config =
        args.nginx
            .history_format(log_format, args.classify.regex.is_some(), &access)?;
    let make = || {
        args.classify
            .classifier_or(from_config.as_ref(), log_format)
    };
    make()?;
    let threads = args.threads.unwrap_or_else(history::default_threads);
    let reader = HistoryReader::open(
        &inputs,
        &make,
        Options::new(threads, args.classify.max_line_bytes),
    )?;
    let mut cmp = Compare::new(split);
    let hist = reader.run(&mut cmp)?;
    hist.report_malformed(&mut std::io::stderr().lock())?;
    if let Split::Time { at, window } = cmp.split {
        let span = match cmp.span {
            Some((a, b)) => format!(
                "the logs run from {} to {}",
                crate::parse::values::rfc3339(a),
                crate::parse::values::rfc3339(b)
            ),
            None => "no line has a time ($time_local, $time_iso8601 or $msec)".into(),
        };
        let empty = |p: &PhaseStats| p.access_lines + p.error_lines == 0;
        let [before, after] = &cmp.phases;
        if empty(before) && empty(after) {
            bail!(
                "no line falls within --window {} of --split {}: {span}",
                crate::report::human_window(window),
                crate::parse::values::rfc3339(at)
            );
        }
        for (p, name) in [(before, "before"), (after, "after")] {
            if empty(p) {
                eprintln!("note: no lines {name} the split ({span})");
            }
        }
    }
    let rep = report::build(&cmp, &hist);
    let text = report::render(&rep, report_format)?;
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    if let Some(min) = args.fail_under {
        let failed = gate(&rep, min, &args.gate_path);
        if !failed.is_empty() {
            let mut e = std::io::stderr().lock();
            for f in &failed {
                writeln!(e, "gate failed: {f}")?;
            }
            return Ok(std::process::ExitCode::from(GATE_FAILED));
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
