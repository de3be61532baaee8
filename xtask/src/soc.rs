//! The virtual SoC (`boards/qemu-virt-aarch64`): builds the stage's raw flash image,
//! `safeslotctl` for `aarch64-unknown-linux-musl`, the initramfs and the signed Linux slot
//! images, then runs the SoC scenarios (`hil-tests/tests/soc_rig.rs`) in
//! `qemu-system-aarch64`.
//!
//! A slot image's payload (docs/FORMAT.md, "Linux payload") is the payload table, then the
//! gzip'd kernel `Image`, then the gzip'd initramfs (newc cpio), all written by
//! `safeslot-linux` (the crate whose reader the stage runs); `safeslot-image sign` signs
//! it like any raw image, so the header's SHA-256 covers the table and both parts.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use safeslot_linux::cpio::CpioBuilder;
use safeslot_linux::{gzip, payload, Payload};

use crate::build;
use crate::env::{self, cargo, run};
use crate::soc_assets::{self, SocAssets};

/// The virtual SoC board.
pub const BOARD: &str = "qemu-virt-aarch64";
/// Target of `safeslotctl` in the initramfs.
pub const LINUX_TARGET: &str = "aarch64-unknown-linux-musl";

/// What the SoC scenarios need, built.
#[derive(Debug)]
pub struct SocBuild {
    /// The stage as a raw image for offset 0 of pflash0.
    pub stage_bin: PathBuf,
    /// Where the slot images are.
    pub dir: PathBuf,
    /// The layout file.
    pub layout: PathBuf,
}

/// The stage's ELF as the flat image the CPU runs from offset 0 of pflash0: every loadable
/// segment at its load (physical) address, which for `.data` is its copy in flash (the
/// image tool's ELF reader, `safeslot_image::elf`).
fn flat_binary(elf: &Path, flash_size: u32) -> Result<Vec<u8>> {
    let data = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let segs = safeslot_image::elf::load_segments(elf, &data).map_err(|e| anyhow::anyhow!("{e}"))?;
    safeslot_image::elf::place(elf, &segs, 0, u64::from(flash_size))
        .map_err(|e| anyhow::anyhow!("{e} (the bootloader partition)"))
}

/// Builds `safeslotctl` for the initramfs: static musl, linked by rust-lld, stripped.
fn agent_binary() -> Result<PathBuf> {
    env::ensure_targets(&[LINUX_TARGET])?;
    let root = env::root();
    let target_dir = root.join("target/soc");
    run(cargo()
        .current_dir(&root)
        .args([
            "build",
            "-q",
            "--release",
            "-p",
            "safeslotctl",
            "--bin",
            "safeslotctl",
            "--target",
            LINUX_TARGET,
            "--config",
            "profile.release.strip=\"symbols\"",
            "--config",
            "profile.release.debug=false",
            "--target-dir",
        ])
        .arg(&target_dir))
    .context("building safeslotctl for aarch64-unknown-linux-musl")?;
    Ok(target_dir.join(LINUX_TARGET).join("release/safeslotctl"))
}

/// What the image in a slot does when its init runs the health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The check passes: the slot confirms itself with `mark-good`.
    Ok,
    /// The check fails: the slot never confirms.
    Fail,
}

/// The initramfs: a newc cpio archive (`safeslot_linux::cpio`), gzip'd.
fn initramfs(assets: &SocAssets, agent: &[u8], config: &str, health: Health, version: &str) -> Result<Vec<u8>> {
    let init = std::fs::read(env::root().join("boards").join(BOARD).join("initramfs/init"))?;
    let busybox = std::fs::read(&assets.busybox)?;
    let health_text = match health {
        Health::Ok => "ok\n",
        Health::Fail => "fail\n",
    };
    let version_text = format!("{version}\n");
    let mut b = CpioBuilder::new();
    for d in ["bin", "dev", "etc", "etc/safeslot", "lib", "lib/modules", "proc", "sys", "run", "tmp", "usr", "usr/bin"]
    {
        b.dir(d, 0o755)?;
    }
    b.char_dev("dev/console", 0o600, 5, 1)?;
    b.file("init", 0o755, &init)?;
    b.file("bin/busybox", 0o755, &busybox)?;
    b.file("usr/bin/safeslotctl", 0o755, agent)?;
    b.file("etc/safeslot.toml", 0o644, config.as_bytes())?;
    b.file("etc/safeslot/health", 0o644, health_text.as_bytes())?;
    b.file("etc/safeslot/version", 0o644, version_text.as_bytes())?;
    for p in &assets.modules {
        let name = format!("lib/modules/{}", p.file_name().unwrap_or_default().to_string_lossy());
        b.file(&name, 0o644, &std::fs::read(p)?)?;
    }
    Ok(gzip::compress(&b.finish())?)
}

/// Builds the stage, the agent, and signs slot images: `a-v1.img` (health ok),
/// `b-v2.img` (health ok), `b-v2-unconfirmed.img` (health fails) and `b-v2-tampered.img`
/// (one kernel byte flipped after signing).
pub fn build_all() -> Result<SocBuild> {
    let t0 = Instant::now();
    let assets = soc_assets::ensure()?;
    let fw = build::board_firmware(BOARD)?;
    let (layout_path, layout) = build::board_layout(BOARD)?;
    let dir = fw.work.join("soc");
    std::fs::create_dir_all(&dir)?;
    let stage = flat_binary(&fw.boot_elf, layout.bootloader_flash().size)?;
    let stage_bin = dir.join("safeslot-boot.bin");
    std::fs::write(&stage_bin, &stage)?;
    let agent = std::fs::read(agent_binary()?)?;
    let config = layout.agent_config(None);
    let kernel_gz = std::fs::read(&assets.image_gz)?;
    let images = [
        ("a", "1.0.0", Health::Ok, "a-v1.img"),
        ("b", "2.0.0", Health::Ok, "b-v2.img"),
        ("b", "2.0.0", Health::Fail, "b-v2-unconfirmed.img"),
    ];
    for (slot, version, health, name) in images {
        let initrd = initramfs(&assets, &agent, &config, health, version)?;
        let blob = dir.join(format!("{name}.payload"));
        std::fs::write(&blob, Payload { kernel_gz: &kernel_gz, initrd: &initrd }.encode()?)?;
        let img = build::sign(&fw, &blob, slot, version, 0)?;
        std::fs::write(dir.join(name), &img)?;
    }
    // Tampered: flip one byte inside the gzip'd kernel of a correctly signed image.
    let mut bad = std::fs::read(dir.join("b-v2.img"))?;
    let hs = layout.slot("b")?.header_size as usize;
    let at = hs + payload::table_len(2) + kernel_gz.len() / 2;
    bad[at] ^= 0x01;
    std::fs::write(dir.join("b-v2-tampered.img"), bad)?;
    println!(
        "soc: stage {} bytes, kernel {} ({} gz bytes), images in {} ({:.1} s)",
        stage.len(),
        assets.kernel_release,
        kernel_gz.len(),
        dir.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(SocBuild { stage_bin, dir, layout: layout_path })
}

/// Runs the SoC scenarios (`hil-tests/tests/soc_rig.rs`), all or those matching `filter`.
pub fn rig(filter: Option<&str>) -> Result<()> {
    crate::env::ensure_qemu()?;
    let b = build_all()?;
    let mut cmd = cargo();
    // Every test of soc_rig.rs is #[ignore]d (it needs this environment): run them.
    cmd.current_dir(env::root()).args(["test", "-p", "safeslot-hil", "--test", "soc_rig", "--", "--ignored"]);
    if let Some(f) = filter {
        cmd.arg(f);
    }
    run(cmd
        .args(["--nocapture", "--test-threads", "1"])
        .env("SAFESLOT_SOC_STAGE", &b.stage_bin)
        .env("SAFESLOT_SOC_IMAGES", &b.dir)
        .env("SAFESLOT_SOC_LAYOUT", &b.layout))
    .context("virtual SoC scenarios failed")
}

/// `cargo xtask demo --board qemu-virt-aarch64`: builds everything and tells the story of
/// `safeslot_hil::soc::story` on fresh flash files, then shows the last boot's serial log.
pub fn demo() -> Result<()> {
    use safeslot_hil::soc::{self, SocImages, SocRig};
    crate::env::ensure_qemu()?;
    let b = build_all()?;
    let (_, layout) = build::board_layout(BOARD)?;
    let read = |n: &str| std::fs::read(b.dir.join(n)).with_context(|| n.to_owned());
    let images = SocImages {
        a_v1: read("a-v1.img")?,
        b_v2: read("b-v2.img")?,
        b_v2_unconfirmed: read("b-v2-unconfirmed.img")?,
        b_v2_tampered: read("b-v2-tampered.img")?,
    };
    let rig = SocRig::new(&layout, &std::fs::read(&b.stage_bin)?, &b.dir.join("demo"))?;
    println!(
        "\nThe virtual SoC: qemu-system-aarch64 -M virt -cpu cortex-a53, the safeslot stage at offset 0 of \
         pflash0, the record and two Linux slots in pflash1; each line is one cold boot of a fresh QEMU \
         process (Debian's arm64 kernel, busybox init, safeslotctl over /dev/mtd1):\n"
    );
    let n = soc::story(&rig, &images)?;
    println!("\nAll {n} boots behaved as told. Flash files kept in {}.", b.dir.join("demo").display());
    let last = rig.power_on(&[])?;
    println!("\nOne more boot, its serial log without the kernel's own lines:\n");
    for l in last.log.lines().filter(|l| !l.starts_with('[')) {
        println!("    {l}");
    }
    Ok(())
}
