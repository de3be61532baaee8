//! What the tasks need from the machine: paths, rustup targets, QEMU.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// `$CARGO`, as cargo-xtask recommends.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs a command, failing with its command line when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Installs the rustup targets the firmware needs.
pub fn ensure_targets(targets: &[&str]) -> Result<()> {
    let out = Command::new("rustup").args(["target", "list", "--installed"]).output();
    let installed = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => bail!("rustup not found: install the Rust toolchain with rustup, then add targets {targets:?}"),
    };
    let missing: Vec<&str> = targets.iter().copied().filter(|t| !installed.lines().any(|l| l.trim() == *t)).collect();
    if !missing.is_empty() {
        eprintln!("xtask: installing rustup targets {missing:?}");
        run(Command::new("rustup").arg("target").arg("add").args(&missing))
            .context("rustup target add failed; run it by hand")?;
    }
    Ok(())
}

/// Makes sure `qemu-system-arm` is there: installs Debian's package when root, else names it.
pub fn ensure_qemu() -> Result<()> {
    if safeslot_hil::qemu::qemu_available().is_ok() {
        return Ok(());
    }
    let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    if is_root && Path::new("/usr/bin/apt-get").exists() {
        eprintln!("xtask: installing Debian package qemu-system-arm");
        let _ = run(Command::new("apt-get").args(["update", "-qq"]));
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "qemu-system-arm"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    safeslot_hil::qemu::qemu_available().map(|_| ()).map_err(|e| anyhow::anyhow!(e))
}

/// Makes sure the command `tool` is on PATH: installs Debian's `package` when root, else
/// names it.
pub fn ensure_debian_tool(tool: &str, package: &str) -> Result<()> {
    let found = || Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if found() {
        return Ok(());
    }
    let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    if is_root && Path::new("/usr/bin/apt-get").exists() {
        eprintln!("xtask: installing Debian package {package}");
        let _ = run(Command::new("apt-get").args(["update", "-qq"]));
        run(Command::new("apt-get").args(["install", "-y", "-qq", package]).env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    if !found() {
        bail!("`{tool}` not found: install the Debian package `{package}` (apt-get install -y {package})");
    }
    Ok(())
}

/// Makes sure `defmt-print` (which decodes the firmware's defmt logs) is there: installs it
/// with `cargo install defmt-print --locked` (into ~/.cargo/bin, where later runs find it).
pub fn ensure_defmt_print() -> Result<()> {
    if safeslot_hil::qemu::defmt_print_available().is_ok() {
        return Ok(());
    }
    eprintln!("xtask: installing defmt-print (cargo install defmt-print --locked; once)");
    run(cargo().args(["install", "defmt-print", "--locked", "--quiet"]))
        .context("could not install defmt-print; install it by hand: cargo install defmt-print --locked")?;
    safeslot_hil::qemu::defmt_print_available().map(|_| ()).map_err(|e| anyhow::anyhow!(e))
}
