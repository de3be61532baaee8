//! `cargo xtask bench`, first part: how long `safeslotctl status` takes on a 128 KiB record region.
//!
//! Builds safeslotctl in release, creates a 128 KiB flash file (32 sectors of 4 KiB,
//! 8-byte ECC write words), `init`s it and fills the journal with 200 `set-active` /
//! `mark-bad` appends, then times
//!
//! * `safeslotctl status --json`, 200 runs, wall time per invocation including process
//!   start, config, lock, scan and JSON output;
//! * `Journal::open` + `record()` in-process, 1000 runs each, over the file
//!   (`FileFlash`: one `pread` per entry position) and over a `SimFlash` holding the same
//!   bytes (the scan and decode alone). This half runs in `agent/examples/journal_scan.rs`,
//!   built in release like the binary.
//!
//! and prints a markdown table. The target (issue: status under 5 ms on a 128 KiB
//! region) is reported, never asserted: timing depends on the machine. It also prints the
//! size of the release binary it timed, and whether it still carries symbols or debug
//! info (the workspace's release profile strips both: issue #17).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::env::{self, cargo};

const REGION: u32 = 0x2_0000;
const ERASE: u32 = 4096;
const WRITE: u32 = 8;
const APPENDS: usize = 200;
const STATUS_RUNS: usize = 200;
const OPEN_RUNS: usize = 1000;
const TARGET_MS: f64 = 5.0;

/// `cargo xtask bench`.
pub fn run() -> Result<()> {
    let (bin, scan_bin) = build_release()?;
    let dir = std::env::temp_dir().join(format!("safeslot-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let result = bench(&bin, &scan_bin, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The release binary: its size in bytes, and whether it has a symbol table and debug info.
struct Binary {
    bytes: u64,
    symbols: bool,
    debug_info: bool,
}

impl Binary {
    fn of(bin: &Path) -> Result<Binary> {
        use object::{Object, ObjectSection};
        let data = std::fs::read(bin).with_context(|| bin.display().to_string())?;
        let file = object::File::parse(&*data).with_context(|| format!("{}: not an object file", bin.display()))?;
        let has = |name: &str| file.sections().any(|s| s.name().is_ok_and(|n| n == name));
        Ok(Binary { bytes: data.len() as u64, symbols: has(".symtab"), debug_info: has(".debug_info") })
    }
}

impl std::fmt::Display for Binary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match (self.symbols, self.debug_info) {
            (false, false) => "stripped",
            (true, false) => "NOT stripped: symbol table",
            (_, true) => "NOT stripped: debug info",
        };
        write!(f, "{} bytes ({:.2} MiB), {what}", self.bytes, self.bytes as f64 / (1024.0 * 1024.0))
    }
}

fn bench(bin: &Path, scan_bin: &Path, dir: &Path) -> Result<()> {
    println!("## safeslotctl release binary\n");
    println!("`{}`: {}\n", bin.display(), Binary::of(bin)?);
    let flash = dir.join("flash.bin");
    std::fs::write(&flash, vec![0xFF; REGION as usize])?;
    let cmdline = dir.join("cmdline");
    std::fs::write(&cmdline, "console=ttyS0\n")?;
    let ctl = |args: &[&str]| -> Command {
        let mut c = Command::new(bin);
        c.arg("--device").arg(&flash).arg("--cmdline").arg(&cmdline);
        c.args(["--backend", "file", "--offset", "0", "--size", "0x20000", "--erase-size", "4096"]);
        c.args(["--write-size", "8", "--program-once", "true"]);
        c.args(args);
        c
    };
    let ok = |mut c: Command| -> Result<Vec<u8>> {
        let out = c.output().with_context(|| format!("{c:?}"))?;
        if !out.status.success() {
            bail!("{c:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(out.stdout)
    };

    ok(ctl(&["init"]))?;
    // Alternate the slots so every append changes the record: arm one, mark the other bad.
    for i in 0..APPENDS {
        let (on, off) = if (i / 2) % 2 == 0 { ("a", "b") } else { ("b", "a") };
        let args: &[&str] = if i % 2 == 0 { &["set-active", on, "--tries", "3"] } else { &["mark-bad", off] };
        ok(ctl(args))?;
    }
    let status = ok(ctl(&["status", "--json"]))?;
    let parsed: serde_json::Value = serde_json::from_slice(&status).context("status --json is not JSON")?;
    if parsed.get("schema").and_then(serde_json::Value::as_u64) != Some(1) {
        bail!("status --json has no schema 1: {parsed}");
    }

    // Warm the page cache and the binary once, then measure.
    ok(ctl(&["status", "--json"]))?;
    let mut proc_times = Vec::with_capacity(STATUS_RUNS);
    for _ in 0..STATUS_RUNS {
        let c = ctl(&["status", "--json"]);
        let t = Instant::now();
        ok(c)?;
        proc_times.push(t.elapsed());
    }

    // The in-process side runs in the release-built example: xtask itself is a debug
    // build, and timing optimised code from it would time the wrong thing.
    let mut scan = Command::new(scan_bin);
    scan.arg(&flash).arg(OPEN_RUNS.to_string());
    let scan: serde_json::Value = serde_json::from_slice(&ok(scan)?).context("journal_scan output is not JSON")?;
    let ns = |key: &str| -> Result<Vec<Duration>> {
        let list = scan[key].as_array().with_context(|| format!("journal_scan: no {key}"))?;
        Ok(list.iter().filter_map(serde_json::Value::as_u64).map(Duration::from_nanos).collect())
    };
    let (file_times, sim_times) = (ns("file_ns")?, ns("sim_ns")?);
    let num = |key: &str| scan[key].as_u64().unwrap_or(0);

    let p = Stats::of(&proc_times);
    let f = Stats::of(&file_times);
    let o = Stats::of(&sim_times);
    println!("## safeslotctl status on a 128 KiB record region\n");
    println!(
        "Region: {} KiB = {} sectors x {} B, write size {} B (program-once), entry size {} B \
         ({} positions); {} appends after `init`, head seq {}, {} positions written.",
        REGION / 1024,
        REGION / ERASE,
        ERASE,
        WRITE,
        num("entry_size"),
        num("positions"),
        APPENDS,
        num("seq"),
        num("written")
    );
    println!("Machine: {}, {} CPUs.\n", cpu_model(), std::thread::available_parallelism().map_or(0, usize::from));
    println!("| measurement | runs | min (ms) | median (ms) | mean (ms) | max (ms) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    println!("| `safeslotctl status --json`, wall time per process (file backend) | {STATUS_RUNS} | {p} |");
    println!("| `Journal::open` + `record()` in-process, file backend (`FileFlash`, release) | {OPEN_RUNS} | {f} |");
    println!("| `Journal::open` + `record()` in-process, in memory (`SimFlash`, release) | {OPEN_RUNS} | {o} |");
    println!();
    let met = p.median_ms < TARGET_MS;
    println!(
        "Target: `status` under {TARGET_MS} ms on a 128 KiB region: {} (median {:.3} ms, max {:.3} ms). \
         Reported, not asserted.",
        if met { "met" } else { "NOT met" },
        p.median_ms,
        p.max_ms
    );
    Ok(())
}

/// Builds `safeslotctl` and its `journal_scan` example in release and returns their paths
/// (from cargo's JSON messages, so `CARGO_TARGET_DIR` is honoured).
fn build_release() -> Result<(PathBuf, PathBuf)> {
    eprintln!("xtask: cargo build --release -p safeslotctl --bin safeslotctl --example journal_scan");
    let out = cargo()
        .current_dir(env::root())
        .args(["build", "--release", "-p", "safeslotctl", "--bin", "safeslotctl", "--example", "journal_scan"])
        .arg("--message-format=json-render-diagnostics")
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("could not run cargo")?;
    if !out.status.success() {
        bail!("cargo build --release -p safeslotctl failed ({})", out.status);
    }
    let (mut bin, mut scan) = (None, None);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let Some(exe) = msg["executable"].as_str().filter(|_| msg["reason"] == "compiler-artifact") else { continue };
        match msg["target"]["name"].as_str() {
            Some("safeslotctl") => bin = Some(PathBuf::from(exe)),
            Some("journal_scan") => scan = Some(PathBuf::from(exe)),
            _ => {}
        }
    }
    Ok((bin.context("cargo built no safeslotctl binary")?, scan.context("cargo built no journal_scan example")?))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

struct Stats {
    min_ms: f64,
    median_ms: f64,
    mean_ms: f64,
    max_ms: f64,
}

impl Stats {
    fn of(times: &[Duration]) -> Stats {
        let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len().max(1);
        let median = if ms.is_empty() {
            0.0
        } else if n % 2 == 1 {
            ms[n / 2]
        } else {
            (ms[n / 2 - 1] + ms[n / 2]) / 2.0
        };
        Stats {
            min_ms: ms.first().copied().unwrap_or(0.0),
            median_ms: median,
            mean_ms: ms.iter().sum::<f64>() / n as f64,
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prec = if self.max_ms < 0.1 { 4 } else { 3 };
        write!(f, "{:.p$} | {:.p$} | {:.p$} | {:.p$}", self.min_ms, self.median_ms, self.mean_ms, self.max_ms, p = prec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_median_and_mean() {
        let ms = |v: &[u64]| v.iter().map(|&x| Duration::from_millis(x)).collect::<Vec<_>>();
        let s = Stats::of(&ms(&[4, 1, 3, 2]));
        assert_eq!((s.min_ms, s.median_ms, s.mean_ms, s.max_ms), (1.0, 2.5, 2.5, 4.0));
        assert_eq!(Stats::of(&ms(&[5, 1, 3])).median_ms, 3.0);
    }
}
