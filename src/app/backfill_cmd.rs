//! `nginxlog-sidecar backfill`: flags in, historical files through the pipeline into the
//! backfill sink, the OpenMetrics file out.

use crate::app::cli::BackfillArgs;
use crate::sink::backfill;
use crate::sink::metrics::{fmt_f64, Buckets};
use crate::source::history::{self, HistoryReader, Options, Phase};
use anyhow::{bail, Context};
use std::io::{self, BufWriter, Write};

/// `nginxlog-sidecar backfill`: reads the files, writes the OpenMetrics file, and tells on
/// stderr what was written and how to load it.
pub fn run(args: &BackfillArgs) -> anyhow::Result<()> {
    let buckets = Buckets {
        http: args.http_buckets.clone(),
        handshake: args.handshake_buckets.clone(),
        session: args.session_buckets.clone(),
    };
    for (name, b) in [
        ("--http-buckets", &buckets.http),
        ("--handshake-buckets", &buckets.handshake),
        ("--session-buckets", &buckets.session),
    ] {
        if b.is_empty()
            || b.windows(2).any(|w| w[0] >= w[1])
            || b.iter().any(|v| !v.is_finite() || *v <= 0.0)
        {
            bail!("{name}: bounds must be positive and strictly increasing, got {b:?}");
        }
    }
    let labels = backfill::parse_labels(&args.label)?;
    let from_config = args.nginx.history_format(
        &args.log_format.format,
        args.classify.regex.is_some(),
        &args.access_log,
    )?;
    let make = || {
        args.classify
            .classifier_or(from_config.as_ref(), &args.log_format.format)
    };
    make()?;
    let inputs = backfill::inputs(&args.access_log, &args.error_log, Phase::ByTime);
    let threads = args.threads.unwrap_or_else(history::default_threads);
    let reader = HistoryReader::open(
        &inputs,
        &make,
        Options::new(threads, args.classify.max_line_bytes),
    )?;
    let mut sink = backfill::Backfill::new(
        reader.logs(),
        args.step.as_secs_f64(),
        &args.namespace,
        buckets,
        crate::VERSION,
    )?
    .with_labels(&labels);
    let hist = reader.run(&mut sink)?;
    let stderr = io::stderr();
    hist.report_malformed(&mut stderr.lock())?;
    let to_stdout = args.output.as_os_str() == "-";
    let summary = if to_stdout {
        sink.finish(&hist.labels, io::stdout().lock())?
    } else {
        crate::replace_file::write_replacing(&args.output, |f| {
            sink.finish(&hist.labels, BufWriter::new(f))
                .map_err(io::Error::other)
        })
        .with_context(|| format!("writing {}", args.output.display()))?
    };
    let mut e = stderr.lock();
    writeln!(
        e,
        "backfill: {} lines from {} files -> {} series, {} samples every {}s from {} to {}{}",
        hist.lines(),
        hist.files.len(),
        summary.series,
        summary.samples,
        fmt_f64(args.step.as_secs_f64()),
        crate::parse::values::rfc3339(summary.first_timestamp),
        crate::parse::values::rfc3339(summary.last_timestamp),
        if to_stdout {
            String::new()
        } else {
            format!(
                "\nload it with: promtool tsdb create-blocks-from openmetrics {} DATA_DIR",
                args.output.display()
            )
        }
    )?;
    Ok(())
}
