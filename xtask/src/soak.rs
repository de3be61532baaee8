//! `cargo xtask soak`: the host's model-based random soak, a long run of the multi-fault
//! campaign (`boot/tests/faults.rs`, `random_fault_sequences`) in a release build.
//!
//! Every boot cycle runs the real boot sequence on the simulated NOR flash of one of the
//! campaign's geometries (every write size, every write-count rule, every board's layout),
//! with power cuts, torn and weak programs, interrupted erases, failing and dropped writes
//! drawn at random, and the campaign's invariants checked after each; the first violation
//! fails the run with its geometry, seed and cycle. `cargo xtask test` runs the same
//! campaign at its default length as part of the host tests.

use anyhow::{Context, Result};

use crate::env::{self, cargo, run as sh};

/// Boot cycles of a soak without `--cycles`.
pub const DEFAULT_CYCLES: u64 = 1_000_000;

/// Runs the soak: at least `cycles` boot cycles, spread over every geometry and seed of the
/// campaign; `seed` moves it to other random sequences.
pub fn run(cycles: u64, seed: Option<u64>) -> Result<()> {
    let mut cmd = cargo();
    cmd.current_dir(env::root())
        .args(["test", "--release", "-p", "safeslot-boot", "--test", "faults", "--"])
        .args(["--exact", "random_fault_sequences", "--nocapture"])
        .env("SAFESLOT_FAULT_TOTAL", cycles.to_string())
        .env_remove("SAFESLOT_FAULT_CYCLES");
    if let Some(s) = seed {
        cmd.env("SAFESLOT_FAULT_SEED", s.to_string());
    }
    println!("== host soak: at least {cycles} boot cycles of the multi-fault campaign (release build)");
    let started = std::time::Instant::now();
    sh(&mut cmd).context("the host soak found a violation (its message above names the geometry, seed and cycle)")?;
    println!("host soak: done in {:.0} s, 0 violations", started.elapsed().as_secs_f64());
    Ok(())
}
