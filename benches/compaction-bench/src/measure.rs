//! Wall time and peak resident set size of one child process.
//!
//! Peak RSS comes from GNU time (`/usr/bin/time -v`, the kernel's `ru_maxrss` of the child)
//! when it is installed; otherwise this process polls the child's `VmHWM` in
//! `/proc/<pid>/status` every 10 ms (a high-water mark, so only growth in the last 10 ms
//! before exit can be missed).

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

const GNU_TIME: &str = "/usr/bin/time";

/// One measured run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The command run.
    pub command: Vec<String>,
    /// Wall-clock seconds from spawn to exit.
    pub wall_secs: f64,
    /// Peak resident set size, in bytes (0 when unknown).
    pub peak_rss_bytes: u64,
    /// How the peak RSS was measured: `gnu-time` or `proc-vmhwm`.
    pub rss_method: String,
    /// The child's exit status (-1 when killed by a signal).
    pub exit_code: i32,
    /// With `--repeat N`: the wall time of each of the N runs (`wall_secs` is their median,
    /// `peak_rss_bytes` their maximum).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs_wall_secs: Vec<f64>,
}

/// Runs `command` `times` times, one after the other, stopping at the first failure; the
/// result has the median wall time, the largest peak RSS and the stdout of the last run.
pub fn run_repeated(
    command: &[String],
    stdout: &Path,
    times: usize,
) -> anyhow::Result<Measurement> {
    let mut runs: Vec<Measurement> = Vec::with_capacity(times);
    for _ in 0..times.max(1) {
        let m = run(command, stdout)?;
        let failed = m.exit_code != 0;
        runs.push(m);
        if failed {
            break;
        }
    }
    let walls: Vec<f64> = runs.iter().map(|m| m.wall_secs).collect();
    let mut last = runs.pop().context("no run")?;
    last.peak_rss_bytes = runs.iter().map(|m| m.peak_rss_bytes).fold(last.peak_rss_bytes, u64::max);
    if times > 1 {
        let mut sorted = walls.clone();
        sorted.sort_by(f64::total_cmp);
        last.wall_secs = median(&sorted);
        last.runs_wall_secs = walls;
    }
    Ok(last)
}

/// The median of sorted `values` (0 for none).
fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Runs `command` with its stdout to `stdout` (stderr inherited) and measures it.
pub fn run(command: &[String], stdout: &Path) -> anyhow::Result<Measurement> {
    let (program, args) = command.split_first().context("no command to measure")?;
    let out = File::create(stdout).with_context(|| format!("creating {}", stdout.display()))?;
    let gnu_time = Path::new(GNU_TIME).is_file();
    let time_file = stdout.with_extension("time.txt");
    let mut cmd = if gnu_time {
        let mut c = Command::new(GNU_TIME);
        c.arg("-v").arg("-o").arg(&time_file).arg(program).args(args);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    };
    cmd.stdout(Stdio::from(out)).stderr(Stdio::inherit());
    let started = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {program}"))?;
    let mut polled = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if !gnu_time {
            polled = polled.max(vm_hwm_bytes(child.id()).unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall_secs = started.elapsed().as_secs_f64();
    let (peak_rss_bytes, rss_method) = if gnu_time {
        let text = std::fs::read_to_string(&time_file)
            .with_context(|| format!("reading {}", time_file.display()))?;
        (gnu_time_max_rss_bytes(&text).unwrap_or(0), "gnu-time")
    } else {
        (polled, "proc-vmhwm")
    };
    Ok(Measurement {
        command: command.to_vec(),
        wall_secs,
        peak_rss_bytes,
        rss_method: rss_method.into(),
        exit_code: status.code().unwrap_or(-1),
        runs_wall_secs: Vec::new(),
    })
}

/// `Maximum resident set size (kbytes): N` of GNU time's verbose output, in bytes.
pub fn gnu_time_max_rss_bytes(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// `VmHWM` of process `pid`, in bytes.
fn vm_hwm_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gnu_time_verbose_output() {
        let text = "\tCommand being timed: \"true\"\n\tMaximum resident set size (kbytes): 2048\n";
        assert_eq!(gnu_time_max_rss_bytes(text), Some(2048 * 1024));
        assert_eq!(gnu_time_max_rss_bytes("nothing"), None);
    }

    #[test]
    fn measures_a_child_and_keeps_its_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.txt");
        let cmd = ["sh", "-c", "echo hello; exit 3"].map(String::from);
        let m = run(&cmd, &out).unwrap();
        assert_eq!(m.exit_code, 3);
        assert!(m.wall_secs > 0.0);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello\n");
        if Path::new(GNU_TIME).is_file() {
            assert!(m.peak_rss_bytes > 0, "{m:?}");
        }
    }

    #[test]
    fn repeated_runs_report_every_wall_time_and_their_median() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.txt");
        let cmd = ["sh", "-c", "echo again"].map(String::from);
        let m = run_repeated(&cmd, &out, 3).unwrap();
        assert_eq!(m.runs_wall_secs.len(), 3);
        let mut sorted = m.runs_wall_secs.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(m.wall_secs, sorted[1]);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "again\n");
    }

    #[test]
    fn repeated_runs_stop_at_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = ["sh", "-c", "exit 4"].map(String::from);
        let m = run_repeated(&cmd, &dir.path().join("out.txt"), 5).unwrap();
        assert_eq!((m.exit_code, m.runs_wall_secs.len()), (4, 1));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
        assert_eq!(median(&[]), 0.0);
    }
}
