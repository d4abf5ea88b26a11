//! Entry point: parse the command line, set up logging, dispatch.

use clap::Parser;
use nginxlog_sidecar::app::cli::{Cli, Command, HealthcheckArgs, ParseArgs};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run(cli.run),
        Some(Command::Run(args)) => run(*args),
        Some(Command::Parse(args)) => parse(args),
        Some(Command::Healthcheck(args)) => healthcheck(args),
        Some(Command::Backfill(args)) => {
            nginxlog_sidecar::app::backfill_cmd::run(&args).map(|()| ExitCode::SUCCESS)
        }
        Some(Command::Compare(args)) => nginxlog_sidecar::app::compare_cmd::run(&args),
        Some(Command::Doctor(args)) => nginxlog_sidecar::app::doctor_cmd::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: nginxlog_sidecar::app::cli::RunArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .map_err(|e| anyhow::anyhow!("--log-level {:?}: {e}", args.log_level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(nginxlog_sidecar::app::flags::stderr_colour())
        .with_writer(std::io::stderr);
    if args.log_style == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    let once = args.once;
    match nginxlog_sidecar::app::run::run(args) {
        // `run --once | head`: the reader has what it wanted; that is not an error.
        Err(e) if once && broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        r => r.map(|()| ExitCode::SUCCESS),
    }
}

fn parse(args: ParseArgs) -> anyhow::Result<ExitCode> {
    let from_config = if args.error_log {
        None
    } else {
        args.nginx.history_format(
            &args.log_format.format,
            args.classify.regex.is_some(),
            &[std::path::PathBuf::from(&args.file)],
        )?
    };
    let mut classifier = args
        .classify
        .classifier_or(from_config.as_ref(), &args.log_format.format)?;
    let mut input: Box<dyn std::io::Read> = if args.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(&args.file)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", args.file))?,
        )
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr().lock();
    let summary = nginxlog_sidecar::app::parse_cmd::run(
        &mut classifier,
        args.error_log,
        args.classify.max_line_bytes,
        &mut input,
        &mut out,
        &mut err,
    )?;
    // `parse ... | head`: the reader has what it wanted; only `--strict` findings change the exit.
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    Ok(if args.strict && summary.malformed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn healthcheck(args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    match nginxlog_sidecar::app::healthcheck::check_args(&args) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "unhealthy: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Whether `e` comes from writing to a closed pipe.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
