//! `cargo xtask fuzz`: the libFuzzer targets of `fuzz/` (docs/FUZZING.md), run with
//! cargo-fuzz on the nightly toolchain. Each target starts from its committed seeds
//! (`fuzz/corpus/<target>`, read only) and grows a working corpus under
//! `target/safeslot/fuzz/<target>`; a crash fails the run and leaves its input in
//! `fuzz/artifacts/<target>`. `cargo xtask test` runs [`smoke`].

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

use crate::env::{self, run as sh};

/// Every fuzz target (the `[[bin]]`s of fuzz/Cargo.toml), in the order they run.
pub const TARGETS: [&str; 9] =
    ["record", "journal", "header", "protocol", "verify_slot", "linux", "layout", "keys_elf", "model"];

/// Seconds per target in `cargo xtask test`.
pub const SMOKE_SECONDS: u64 = 6;

/// Arguments of `cargo xtask fuzz`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    pub time: u64,
    /// Only this target.
    #[arg(value_parser = TARGETS)]
    pub target: Option<String>,
}

/// What one target's run did.
#[derive(Debug)]
pub struct Run {
    /// The target.
    pub target: &'static str,
    /// Inputs executed (libFuzzer's `stat::number_of_executed_units`).
    pub execs: u64,
    /// Inputs in the working corpus afterwards.
    pub corpus: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Why the fuzzers cannot run here, when they cannot: the nightly toolchain is missing, or
/// cargo-fuzz is and `cargo install` could not install it.
fn unavailable() -> Result<Option<String>> {
    let nightly = Command::new("rustup").args(["run", "nightly", "rustc", "--version"]).output();
    if !nightly.is_ok_and(|o| o.status.success()) {
        return Ok(Some("the nightly toolchain is missing (rustup toolchain install nightly)".into()));
    }
    let has_fuzz = Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !has_fuzz {
        eprintln!("xtask: installing cargo-fuzz");
        let started = Instant::now();
        if let Err(e) = sh(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"])) {
            return Ok(Some(format!("cargo-fuzz is missing and `cargo install --locked cargo-fuzz` failed ({e:#})")));
        }
        env::count_setup("cargo-fuzz".into(), started.elapsed());
    }
    Ok(None)
}

fn fuzz_dir() -> PathBuf {
    env::root().join("fuzz")
}

/// cargo-fuzz with the flags every run uses: no sanitizer (the targets are safe Rust;
/// libFuzzer's coverage and the panics are what finds bugs, at several times the speed
/// under ASan) and debug assertions on, so an integer overflow is a crash.
fn cargo_fuzz(sub: &str) -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(fuzz_dir()).args(["+nightly", "fuzz", sub, "--sanitizer", "none", "--debug-assertions"]);
    // Not the outer (stable) cargo's choices: `cargo xtask` runs under them.
    for var in ["RUSTUP_TOOLCHAIN", "RUSTC", "RUSTC_WRAPPER", "CARGO_TARGET_DIR"] {
        c.env_remove(var);
    }
    c
}

/// Builds every target, then runs each for `seconds`; fails on the first crash.
pub fn run(targets: &[&'static str], seconds: u64) -> Result<Vec<Run>> {
    sh(&mut cargo_fuzz("build")).context("building the fuzz targets")?;
    let mut runs = Vec::new();
    for &target in targets {
        let work = env::root().join("target/safeslot/fuzz").join(target);
        std::fs::create_dir_all(&work)?;
        let seeds = fuzz_dir().join("corpus").join(target);
        let started = Instant::now();
        let out = cargo_fuzz("run")
            .arg(target)
            .arg(&work)
            .arg(&seeds)
            .args(["--", &format!("-max_total_time={seconds}"), "-print_final_stats=1", "-close_fd_mask=1"])
            .output()
            .with_context(|| format!("running fuzz target {target}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("fuzz target {target} crashed (input saved in fuzz/artifacts/{target}):\n{}", tail.join("\n"));
        }
        let execs = stat(&log, "stat::number_of_executed_units")
            .with_context(|| format!("fuzz target {target}: no execution count in libFuzzer's output"))?;
        ensure!(execs > 0, "fuzz target {target} executed nothing");
        let corpus = std::fs::read_dir(&work)?.count();
        runs.push(Run { target, execs, corpus, seconds: started.elapsed().as_secs_f64() });
    }
    Ok(runs)
}

/// A `-print_final_stats` value.
fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines().find_map(|l| l.strip_prefix(key)?.trim_start_matches(':').trim().parse().ok())
}

/// The table `cargo xtask fuzz` prints.
pub fn table(runs: &[Run]) -> String {
    let mut t = String::from("| target | executions | exec/s | corpus | crashes |\n|---|--:|--:|--:|--:|\n");
    for r in runs {
        let rate = r.execs as f64 / r.seconds.max(0.001);
        t.push_str(&format!("| {} | {} | {:.0} | {} | 0 |\n", r.target, r.execs, rate, r.corpus));
    }
    t
}

/// `cargo xtask fuzz [--time S] [TARGET]`.
pub fn command(args: &Args) -> Result<()> {
    if let Some(why) = unavailable()? {
        bail!("cannot fuzz here: {why}");
    }
    let targets: Vec<&'static str> = match &args.target {
        Some(t) => TARGETS.iter().copied().filter(|x| x == t).collect(),
        None => TARGETS.to_vec(),
    };
    let runs = run(&targets, args.time)?;
    print!("{}", table(&runs));
    Ok(())
}

/// The short run of every target in `cargo xtask test` (NOT RUN without nightly).
pub fn smoke() -> Result<()> {
    if let Some(why) = unavailable()? {
        crate::test::not_run(&format!("fuzz smoke: {why}"), "cargo xtask fuzz");
        return Ok(());
    }
    let runs = run(&TARGETS, SMOKE_SECONDS)?;
    print!("{}", table(&runs));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzers_final_stats() {
        let log = "#2 INITED\nstat::number_of_executed_units: 22164756\nstat::average_exec_per_sec:     1477650\n";
        assert_eq!(stat(log, "stat::number_of_executed_units"), Some(22_164_756));
        assert_eq!(stat(log, "stat::average_exec_per_sec"), Some(1_477_650));
        assert_eq!(stat(log, "stat::peak_rss_mb"), None);
    }

    #[test]
    fn every_target_is_a_bin_of_the_fuzz_crate_and_has_seeds() {
        let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
        for t in TARGETS {
            assert!(manifest.contains(&format!("name = \"{t}\"")), "{t} is not in fuzz/Cargo.toml");
            assert!(fuzz_dir().join(format!("fuzz_targets/{t}.rs")).is_file());
            let seeds = std::fs::read_dir(fuzz_dir().join("corpus").join(t)).unwrap().count();
            assert!(seeds > 0, "{t} has no committed seeds");
        }
        assert_eq!(manifest.matches("[[bin]]").count(), TARGETS.len());
    }
}
