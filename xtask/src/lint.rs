//! `cargo xtask lint`: rustfmt and clippy (`-D warnings`) over both workspaces, the check
//! that the lint lists the code relies on (`shared/src/lib.rs`, `boot/src/lib.rs`, the
//! boards' `[lints]`: no panic, no unchecked arithmetic, documented unsafe) hold.
//!
//! * `cargo fmt --all --check` in the host workspace, in fuzz/ and in boards/;
//! * `cargo clippy --workspace --all-targets -- -D warnings` on the host (tests, benches
//!   and examples included), and again for the probe-rs rig behind safeslot-hil's `probe`
//!   feature;
//! * in boards/, `cargo clippy` of every board crate for the target its layout names, with
//!   the keys its build embeds ([`build::BoardEnv::cargo`], the command the build uses), of
//!   the size probe for both Cortex-M targets, of the bench floor and of the embassy-boot
//!   reference (boards/reference-embassy-boot-nrf). Cargo runs clippy on every member of
//!   the workspace it compiles, so the shared Cortex-M crate and the board build script
//!   are linted with the boards that use them.
//!
//! Each step prints how long it took.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::build;
use crate::env::{self, cargo, run};

/// Runs `cmd` (a cargo clippy or fmt command), saying what it is and how long it took.
fn step(what: &str, cmd: &mut Command) -> Result<f64> {
    let t0 = Instant::now();
    run(cmd).with_context(|| format!("{what}: fix what it reports (`cargo fmt` formats)"))?;
    let secs = t0.elapsed().as_secs_f64();
    println!("{what}: clean ({secs:.1} s)");
    Ok(secs)
}

/// `cmd` (a `cargo clippy` command) with every warning an error.
fn deny(cmd: &mut Command) -> &mut Command {
    cmd.args(["--", "-D", "warnings"])
}

/// The host workspace: rustfmt, then clippy on every target of every member, then the
/// probe-rs rig (safeslot-hil's `probe` feature, which `--workspace` leaves out).
pub fn host() -> Result<f64> {
    let root = env::root();
    let mut secs = step("rustfmt (host workspace)", cargo().current_dir(&root).args(["fmt", "--all", "--check"]))?;
    secs += step("rustfmt (fuzz/)", cargo().current_dir(root.join("fuzz")).args(["fmt", "--all", "--check"]))?;
    secs += step(
        "clippy (host workspace, all targets)",
        deny(cargo().current_dir(&root).args(["clippy", "-q", "--workspace", "--all-targets"])),
    )?;
    secs += step(
        "clippy (safeslot-hil --features probe, all targets)",
        deny(cargo().current_dir(&root).args([
            "clippy",
            "-q",
            "-p",
            "safeslot-hil",
            "--features",
            "probe",
            "--all-targets",
        ])),
    )?;
    Ok(secs)
}

/// The firmware workspace (boards/): rustfmt, then clippy of every board for its target,
/// the size probe for both Cortex-M targets, the bench floor and the embassy-boot reference.
pub fn boards() -> Result<f64> {
    let dir = env::root().join("boards");
    let mut secs = step("rustfmt (boards/)", cargo().current_dir(&dir).args(["fmt", "--all", "--check"]))?;
    for board in build::boards()? {
        let b = build::board_env(&board)?;
        secs += step(&format!("clippy ({board}, {})", b.target), deny(b.cargo("clippy")?.arg("-q")))?;
    }
    // The size probe embeds the virtual board's layout and its first key (as `cargo xtask
    // size` builds it); the bench floor embeds RFC 8032's vector without SAFESLOT_FLOOR_SIG.
    let virt = build::board_env(build::BOARD)?;
    for target in [build::TARGET, "thumbv6m-none-eabi"] {
        env::ensure_targets(&[target])?;
        secs += step(
            &format!("clippy (size probe, {target})"),
            deny(
                cargo()
                    .current_dir(&dir)
                    .args(["clippy", "-q", "-p", "safeslot-size-probe", "--target", target])
                    .env(safeslot_layout::PUBLIC_KEYS_ENV, &virt.key.1),
            ),
        )?;
    }
    for (what, package) in
        [("bench floor", "safeslot-bench-floor"), ("embassy-boot reference", "safeslot-reference-embassy-boot-nrf")]
    {
        secs += step(
            &format!("clippy ({what}, {})", build::TARGET),
            deny(cargo().current_dir(&dir).args(["clippy", "-q", "-p", package, "--target", build::TARGET])),
        )?;
    }
    Ok(secs)
}

/// `cargo xtask lint`: both workspaces; prints the total time.
pub fn run_all() -> Result<()> {
    let secs = host()? + boards()?;
    println!("lints: clean ({secs:.1} s)");
    Ok(())
}
