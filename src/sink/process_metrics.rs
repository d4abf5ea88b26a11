//! The standard `process_*` self-metrics (the names every Prometheus client library exports),
//! read from /proc at scrape time. Where /proc is not available they are left out.

use std::fmt::Write;

/// Appends the `process_*` families to `out` in the Prometheus text format.
pub(crate) fn render(out: &mut String) {
    let Ok(me) = procfs::process::Process::myself() else {
        return;
    };
    let Ok(stat) = me.stat() else {
        return;
    };
    let tps = procfs::ticks_per_second().max(1) as f64;
    let mut family = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {}", crate::sink::metrics::fmt_f64(value));
    };
    family(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        (stat.utime + stat.stime) as f64 / tps,
    );
    if let Ok(fds) = me.fd_count() {
        family(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            fds as f64,
        );
    }
    if let Ok(limits) = me.limits() {
        if let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit {
            family(
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                max as f64,
            );
        }
    }
    family(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        stat.vsize as f64,
    );
    family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        (stat.rss * procfs::page_size()) as f64,
    );
    if let Ok(boot) = procfs::boot_time_secs() {
        family(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            boot as f64 + stat.starttime as f64 / tps,
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let mut out = String::new();
        super::render(&mut out);
        let value = |name: &str| -> f64 {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in\n{out}"))
        };
        assert!(value("process_resident_memory_bytes") > 1e5);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs_f64();
        let start = value("process_start_time_seconds");
        assert!(
            start <= now + 2.0 && start > now - 86_400.0,
            "start {start}, now {now}"
        );
        assert!(value("process_cpu_seconds_total") >= 0.0);
    }
}
