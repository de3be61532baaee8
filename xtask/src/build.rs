//! Building the firmware for the virtual board and signing the demo images.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::env::{self, cargo, run};

/// The virtual board.
pub const BOARD: &str = "qemu-mps2-an386";
/// Its target.
pub const TARGET: &str = "thumbv7em-none-eabihf";

/// What a firmware build produced.
#[derive(Debug, Clone)]
pub struct Firmware {
    /// The boot stage ELF.
    pub boot_elf: PathBuf,
    /// The demo app ELFs for slots a and b.
    pub app_elfs: Vec<PathBuf>,
    /// The throw-away signing key.
    pub key: PathBuf,
    /// The layout file.
    pub layout: PathBuf,
    /// Where generated files go.
    pub work: PathBuf,
}

/// The throw-away key pair in target/safeslot (made once; never a release key).
fn dev_key(work: &std::path::Path) -> Result<(PathBuf, PathBuf)> {
    let key = work.join("dev-key.pem");
    let public = work.join("dev-key.pub.pem");
    if !key.exists() || !public.exists() {
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(&public);
        image_tool()?.args(["keygen", "--out"]).arg(&key).arg("--pub").arg(&public).status()?;
    }
    Ok((key, public))
}

/// The image tool, built from this workspace.
pub fn image_tool() -> Result<std::process::Command> {
    run(cargo().current_dir(env::root()).args(["build", "-q", "-p", "safeslot-image"]))?;
    Ok(std::process::Command::new(env::root().join("target/debug/safeslot-image")))
}

/// Builds the boot stage and the demo apps (release) with a throw-away key.
pub fn firmware() -> Result<Firmware> {
    env::ensure_targets(&[TARGET, "thumbv6m-none-eabi"])?;
    let root = env::root();
    let work = root.join("target/safeslot");
    std::fs::create_dir_all(&work)?;
    let (key, public) = dev_key(&work)?;
    // cargo runs in boards/ so boards/.cargo/config.toml (sha2 backend choice) applies.
    run(cargo()
        .current_dir(root.join("boards"))
        .args(["build", "--release", "-q", "-p", "safeslot-board-qemu-mps2-an386", "--target", TARGET])
        .env(safeslot_layout::PUBLIC_KEYS_ENV, &public))
    .context("firmware build failed")?;
    let out = root.join("boards/target").join(TARGET).join("release");
    Ok(Firmware {
        boot_elf: out.join("safeslot-boot"),
        app_elfs: vec![out.join("demo-app-a"), out.join("demo-app-b")],
        key,
        layout: root.join("boards").join(BOARD).join("layout.toml"),
        work,
    })
}

/// Signs `elf` for `slot` with the demo key; returns the slot image bytes.
pub fn sign(fw: &Firmware, elf: &std::path::Path, slot: &str, version: &str, sc: u32) -> Result<Vec<u8>> {
    let out = fw.work.join(format!("slot-{slot}-{version}.img"));
    run(image_tool()?
        .arg("sign")
        .arg("--key")
        .arg(&fw.key)
        .arg("--layout")
        .arg(&fw.layout)
        .args(["--slot", slot, "--version", version, "--security-counter", &sc.to_string(), "-o"])
        .arg(&out)
        .arg(elf))?;
    std::fs::read(&out).with_context(|| format!("reading {}", out.display()))
}
