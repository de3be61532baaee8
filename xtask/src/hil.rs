//! `cargo xtask hil [--probe] [--board B] [--chip C] [FILTER]`: the scenario catalogue on
//! the virtual board (QEMU), or with `--probe` on a real board through a debug probe.
//!
//! The probe rig lives in safeslot-hil behind its `probe` feature (probe-rs is a large
//! build), as the `safeslot-probe-rig` binary: it enumerates probes with a timeout first,
//! so without a probe nothing is built for the board, and the step prints NOT RUN (with the
//! command that would run it) and succeeds: the suite passes, but says it did not test this.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use safeslot_hil::probe::{Choice, BOARD_ENV};

use crate::build;
use crate::env::{self, cargo, run as sh};

/// Exit codes of `safeslot-probe-rig probes` (mirrored from the binary).
const EXIT_NONE: i32 = 10;
const EXIT_TIMEOUT: i32 = 11;

/// `cargo xtask hil` / `rig`: the arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A real board through a debug probe (probe-rs) instead of the virtual board. Without
    /// a probe it prints NOT RUN and exits 0. SAFESLOT_PROBE=VID:PID[:SERIAL] picks a
    /// probe, SAFESLOT_RELAY_CMD a power relay (run as `$SAFESLOT_RELAY_CMD off|on`) for
    /// true cold boots.
    #[arg(long)]
    probe: bool,
    /// The real board (default: SAFESLOT_BOARD).
    #[arg(long, requires = "probe")]
    board: Option<String>,
    /// The probe-rs chip name (default: SAFESLOT_CHIP, else the board's layout.toml).
    #[arg(long, requires = "probe")]
    chip: Option<String>,
    /// Only tests and scenarios whose name contains this; `soak` runs the virtual board's soak
    /// alone (QEMU killed at random times; without a filter the soak runs its short
    /// `cargo xtask test` length).
    filter: Option<String>,
    /// With `soak`: how many random-kill power-ons (default: the long run).
    #[arg(long, value_name = "N", conflicts_with = "probe")]
    boots: Option<usize>,
    /// With `soak`: the seed of the boot orders and kill times.
    #[arg(long, value_name = "S", conflicts_with = "probe")]
    seed: Option<u64>,
}

/// `cargo xtask hil ...`.
pub fn command(args: &Args) -> Result<()> {
    if !args.probe {
        let soak = crate::test::Soak {
            boots: args.boots.unwrap_or(crate::test::Soak::LONG.boots),
            seed: args.seed.unwrap_or(crate::test::Soak::LONG.seed),
        };
        return match args.filter.as_deref() {
            Some("soak") => crate::test::virtual_rig(Some("soak"), soak),
            _ if args.boots.is_some() || args.seed.is_some() => {
                bail!("--boots and --seed are the soak's: cargo xtask hil soak --boots N [--seed S]")
            }
            filter => crate::test::virtual_rig(filter, crate::test::Soak::SHORT),
        };
    }
    probe_rig(&Choice::from_env(args.board.as_deref(), args.chip.as_deref()), args.filter.as_deref())
}

/// The `cargo xtask test` step: the probe rig compiles with probe-rs and its runner's
/// tests pass, then the rig runs on the board the environment names — which, without a
/// probe, prints NOT RUN. The library's unit tests are the same with and without the
/// feature (the `probe` module's pure parts are tested either way): the host tests run
/// them, so they are not run twice.
pub fn test_step() -> Result<()> {
    sh(cargo().current_dir(env::root()).args(["test", "-q", "-p", "safeslot-hil", "--features", "probe", "--bins"]))
        .context("probe rig unit tests failed")?;
    probe_rig(&Choice::from_env(None, None), None)
}

/// Builds the runner and returns its path.
fn runner() -> Result<PathBuf> {
    sh(cargo().current_dir(env::root()).args([
        "build",
        "-q",
        "-p",
        "safeslot-hil",
        "--features",
        "probe",
        "--bin",
        "safeslot-probe-rig",
    ]))?;
    Ok(env::root().join("target/debug/safeslot-probe-rig"))
}

/// The real boards (every board but the virtual one) and their layout's chip.
fn real_boards() -> Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    for b in build::boards()? {
        if b != build::BOARD {
            let (_, l) = build::board_layout(&b)?;
            out.push((b, l.board().chip.clone()));
        }
    }
    Ok(out)
}

/// Runs the catalogue on the chosen board through a probe; no probe: prints NOT RUN, `Ok`.
pub fn probe_rig(choice: &Choice, filter: Option<&str>) -> Result<()> {
    // What would run, said before anything can fail or skip.
    let target = match &choice.board {
        Some(b) if b == build::BOARD => {
            bail!("{b} is the virtual board: run `cargo xtask hil` without --probe")
        }
        Some(b) => {
            let (_, l) = build::board_layout(b)?;
            let chip = choice.chip.clone().or_else(|| l.board().chip.clone());
            Some((b.clone(), chip))
        }
        None => None,
    };
    let would = match &target {
        Some((b, Some(c))) => format!("board {b} as chip {c}"),
        Some((b, None)) => format!("board {b} (no chip: set board.chip in its layout.toml, --chip or SAFESLOT_CHIP)"),
        None => {
            let boards = real_boards()?;
            let list = if boards.is_empty() {
                "none yet under boards/".to_string()
            } else {
                boards
                    .iter()
                    .map(|(b, c)| format!("{b} ({})", c.as_deref().unwrap_or("no chip")))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("the board named by --board or {BOARD_ENV} (none was; real boards: {list})")
        }
    };
    let exe = runner()?;
    let status = Command::new(&exe).arg("probes").status().with_context(|| format!("running {}", exe.display()))?;
    match status.code() {
        Some(EXIT_NONE) | Some(EXIT_TIMEOUT) => {
            crate::test::not_run(
                &format!("probe rig (no debug probe answered): the catalogue on {would}"),
                "cargo xtask hil --probe --board B, with a probe attached",
            );
            return Ok(());
        }
        Some(0) => {}
        _ => bail!("{} probes failed ({status})", exe.display()),
    }
    let Some((board, chip)) = target else { bail!("a debug probe is attached but {would}") };
    let Some(chip) = chip else { bail!("{would}") };
    let fw = build::board_firmware(&board)?;
    let dir = fw.work.join(format!("probe-{board}"));
    std::fs::create_dir_all(&dir)?;
    let (a, b) = match fw.app_elfs.as_slice() {
        [a, b, ..] => (a, b),
        _ => bail!("board {board} has fewer than two slots"),
    };
    std::fs::write(dir.join("a-v1.img"), build::sign(&fw, a, "a", "1.0.0", 0)?)?;
    std::fs::write(dir.join("b-v2.img"), build::sign(&fw, b, "b", "2.0.0", 0)?)?;
    env::ensure_defmt_print()?;
    let mut cmd = Command::new(&exe);
    cmd.arg("run")
        .arg("--layout")
        .arg(&fw.layout)
        .arg("--boot-elf")
        .arg(&fw.boot_elf)
        .arg("--images")
        .arg(&dir)
        .arg("--key")
        .arg(&fw.key)
        .args(["--chip", &chip]);
    for app in &fw.app_elfs {
        cmd.arg("--app-elf").arg(app);
    }
    if let Some(f) = filter {
        cmd.args(["--filter", f]);
    }
    sh(&mut cmd).with_context(|| format!("probe rig scenarios on {board} failed"))
}
