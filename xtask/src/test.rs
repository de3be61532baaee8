//! `cargo xtask test`: the whole suite, in the order that fails fastest.

use std::sync::Mutex;

use anyhow::{Context, Result};

use crate::build;
use crate::env::{self, cargo, run as sh};

/// Runs everything; fails on the first failure.
pub fn run_all() -> Result<()> {
    let root = env::root();
    env::ensure_targets(&[build::TARGET, "thumbv6m-none-eabi"])?;
    println!("== lints: rustfmt and clippy -D warnings, host workspace and every firmware crate for its target");
    crate::lint::run_all()?;
    println!("== host tests (workspace: shared incl. power-cut sweep, boot, linux, layout, agent, tools, hil)");
    sh(cargo()
        .current_dir(&root)
        .args(["test", "--workspace", "--no-fail-fast", "--", "--nocapture"])
        .env("RUST_TEST_THREADS", "2"))
    .context("host tests failed")?;
    println!("== host tests a plain cargo test reports as ignored: OpenSSL interoperability, read-only mount (root)");
    gated_host_tests()?;
    println!(
        "== fuzz smoke (cargo-fuzz, nightly): every target of fuzz/ for {} s from its seeds",
        crate::fuzz::SMOKE_SECONDS
    );
    crate::fuzz::smoke()?;
    println!("== no_std builds of the core crates");
    for target in [build::TARGET, "thumbv6m-none-eabi"] {
        sh(cargo().current_dir(&root).args([
            "build",
            "-q",
            "-p",
            "safeslot-shared",
            "-p",
            "safeslot-boot",
            "-p",
            "safeslot-linux",
            "--target",
            target,
        ]))?;
    }
    println!("== every board: release build, generated memory.x, placement in its layout");
    crate::boards::check_all()?;
    println!("== firmware and size limit");
    crate::size::run()?;
    println!(
        "== virtual rig (QEMU): demo story, catalogue, firmware power-cut sweep, soak of {} random-kill power-ons",
        Soak::SHORT.boots
    );
    virtual_rig(None, Soak::SHORT)?;
    println!("== probe-rs rig: compiles with probe-rs, runner tests, then real boards (NOT RUN without a probe)");
    crate::hil::test_step()?;
    println!("== instruction counts (QEMU plugin): 64/256 KiB confirmed and trial boots, each counted twice");
    let m = crate::bench::insns::measure(&[64, 256])?;
    crate::bench::insns::check(&m)?;
    for ((kind, kib), c) in &m.boots {
        println!("{kind:?} boot, {kib} KiB image: {} instructions to hand-off (identical in 2 runs)", c.to_handoff);
    }
    println!("== fault injection (QEMU plugin): single-instruction skips in the shipped stage's verifier");
    crate::fi::smoke()?;
    println!(
        "== virtual SoC (qemu-system-aarch64 -M virt): the aarch64 stage boots Debian's arm64 Linux, \
              safeslotctl confirms over MTD"
    );
    crate::soc::rig(None)?;
    println!("== demo story, then the Linux agent reads the record the real firmware wrote");
    let (flash, config) = crate::demo::story()?;
    let out = crate::demo::agent(&config, &flash).args(["status", "--json"]).output()?;
    anyhow::ensure!(out.status.success(), "safeslotctl status failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let expect = [
        ("schema", serde_json::json!(1)),
        ("booted", "a".into()),
        ("last_known_good", "a".into()),
        ("last_fallback", "bad-hash".into()),
    ];
    for (k, want) in expect {
        anyhow::ensure!(v[k] == want, "safeslotctl status --json: {k} = {}, expected {want}", v[k]);
    }
    anyhow::ensure!(v["slots"][1]["unbootable"] == "bad-hash", "slot b should be unbootable (bad-hash): {v}");
    println!("safeslotctl status --json agrees with the firmware: booted a, slot b bad-hash");
    let skipped = NOT_RUN.lock().map(|v| v.clone()).unwrap_or_default();
    if skipped.is_empty() {
        println!("== all tests passed");
    } else {
        println!("== all tests that ran passed; NOT RUN here ({}):", skipped.len());
        for line in &skipped {
            println!("NOT RUN: {line}");
        }
    }
    Ok(())
}

/// What this run could not test, for the summary at the end.
static NOT_RUN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Says that `what` was not tested here, and the command that tests it; `run_all` repeats
/// it at the end, so a suite that passes still names what it did not run.
pub fn not_run(what: &str, command: &str) {
    let line = format!("{what} (run: {command})");
    println!("NOT RUN: {line}");
    if let Ok(mut v) = NOT_RUN.lock() {
        v.push(line);
    }
}

/// The host tests that are `#[ignore]`d because they need a tool or root, run here where
/// that is provided: the image tool's OpenSSL interoperability (openssl installed when
/// missing) and the agent's read-only bind mount (as root; otherwise it says it did not
/// run). The rig tests, ignored for the same reason, run in their own steps.
fn gated_host_tests() -> Result<()> {
    let root = env::root();
    env::ensure_debian_tool("openssl", "openssl")?;
    sh(cargo().current_dir(&root).args([
        "test",
        "-p",
        "safeslot-image",
        "--test",
        "cli",
        "--test",
        "detached",
        "--",
        "--ignored",
        "openssl_",
    ]))
    .context("OpenSSL interoperability tests failed")?;
    if env::is_root() {
        sh(cargo().current_dir(&root).args(["test", "-p", "safeslotctl", "--test", "readonly", "--", "--ignored"]))
            .context("read-only mount test failed")?;
    } else {
        not_run(
            "read_only_commands_work_on_a_read_only_mount (agent/tests/readonly.rs) needs root",
            "sudo -E cargo test -p safeslotctl --test readonly -- --ignored",
        );
    }
    Ok(())
}

/// The virtual rig's soak: QEMU killed at pseudo-random times over `boots` power-ons
/// (plus the cold boots that check each stretch), the same ones for the same `seed`.
#[derive(Debug, Clone, Copy)]
pub struct Soak {
    /// Random-kill power-ons.
    pub boots: usize,
    /// Seed of the boot orders and kill times.
    pub seed: u64,
}

impl Soak {
    /// The bounded soak `cargo xtask test` (and `cargo xtask hil` without a filter) runs.
    pub const SHORT: Soak = Soak { boots: 200, seed: 0x50AC };
    /// `cargo xtask hil soak` without `--boots`.
    pub const LONG: Soak = Soak { boots: 2000, seed: 0x50AC };
}

/// Builds the virtual board's firmware, signs the demo images and runs the virtual-rig
/// tests in QEMU: all, with `soak` for the soak's length; or the tests and catalogue
/// scenarios whose name contains `filter` (no soak); or with `soak` the soak alone.
pub fn virtual_rig(filter: Option<&str>, soak: Soak) -> Result<()> {
    let root = env::root();
    env::ensure_qemu()?;
    env::ensure_defmt_print()?;
    let fw = build::firmware()?;
    let dir = fw.work.join("rig");
    std::fs::create_dir_all(&dir)?;
    let a = build::sign(&fw, &fw.app_elfs[0], "a", "1.0.0", 0)?;
    let b = build::sign(&fw, &fw.app_elfs[1], "b", "2.0.0", 0)?;
    std::fs::write(dir.join("a-v1.img"), a)?;
    std::fs::write(dir.join("b-v2.img"), b)?;
    let mut cmd = cargo();
    // Every test of virtual_rig.rs is #[ignore]d (it needs this environment): run them.
    cmd.current_dir(&root).args(["test", "-p", "safeslot-hil", "--test", "virtual_rig", "--", "--ignored"]);
    match filter {
        Some("soak") => cmd.args(["--exact", "soak"]),
        None => &mut cmd,
        // The catalogue is one test; SAFESLOT_SCENARIO selects its scenarios.
        Some(f) => cmd.args(["--skip", "soak", "scenario_catalogue", f]).env("SAFESLOT_SCENARIO", f),
    };
    sh(cmd
        .args(["--nocapture", "--test-threads", "2"])
        .env("SAFESLOT_SOAK", soak.boots.to_string())
        .env("SAFESLOT_SOAK_SEED", soak.seed.to_string())
        .env("SAFESLOT_RIG_BOOT_ELF", &fw.boot_elf)
        .env("SAFESLOT_RIG_APP_ELFS", std::env::join_paths(&fw.app_elfs)?)
        .env("SAFESLOT_RIG_IMAGES", &dir)
        .env("SAFESLOT_RIG_LAYOUT", &fw.layout)
        .env("SAFESLOT_RIG_KEY", &fw.key)
        .env("SAFESLOT_RIG_NEXT_KEY", &fw.next_key))
    .context("virtual rig scenarios failed")
}

/// Entry point.
pub fn run() -> Result<()> {
    run_all()
}
