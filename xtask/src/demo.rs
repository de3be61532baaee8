//! `cargo xtask demo`: the A/B story on the virtual board.

use anyhow::Result;
use safeslot_hil::rig::{BoardLayout, VirtualRig};
use safeslot_hil::story::{self, Images};

use crate::build;

/// `cargo xtask demo [--board B]`: the virtual board's story, or the virtual SoC's.
pub fn command(board: Option<&str>) -> Result<()> {
    match board {
        None => run(),
        Some(b) if b == build::BOARD => run(),
        Some(b) if b == crate::soc::BOARD => crate::soc::demo(),
        Some(b) => anyhow::bail!("no demo for board {b}: use {} or {}", build::BOARD, crate::soc::BOARD),
    }
}

/// Builds, signs and runs the demo story (see `safeslot_hil::story::demo`).
pub fn run() -> Result<()> {
    let (flash, config) = story()?;
    println!("\nThe Linux agent reads the same record (config generated from the board's layout.toml):\n");
    println!("$ safeslotctl --config {} --device {} status", config.display(), flash.display());
    crate::env::run(agent(&config, &flash).arg("status"))
}

/// `safeslotctl` built from this workspace, pointed at `flash` with `config`.
pub fn agent(config: &std::path::Path, flash: &std::path::Path) -> std::process::Command {
    let root = crate::env::root();
    let _ = crate::env::run(crate::env::cargo().current_dir(&root).args(["build", "-q", "-p", "safeslotctl"]));
    let mut c = std::process::Command::new(root.join("target/debug/safeslotctl"));
    c.arg("--config").arg(config).arg("--device").arg(flash);
    c
}

/// Runs the story; returns the flash file and the agent config generated for it.
pub fn story() -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    crate::env::ensure_qemu()?;
    crate::env::ensure_defmt_print()?;
    let fw = build::firmware()?;
    println!("safeslot demo: boot stage {}", fw.boot_elf.display());
    let images = Images {
        a_v1: build::sign(&fw, &fw.app_elfs[0], "a", "1.0.0", 0)?,
        b_v2: build::sign(&fw, &fw.app_elfs[1], "b", "2.0.0", 0)?,
    };
    let layout = safeslot_layout::Layout::load(&fw.layout)?;
    let mut rig = VirtualRig::new(
        BoardLayout::from_layout(&layout),
        fw.boot_elf.clone(),
        fw.app_elfs.clone(),
        fw.work.join("demo-flash.img"),
    )?;
    println!("\nEach line is one cold boot of a fresh QEMU process on the same flash file:\n");
    let timeline = story::demo(&mut rig, &images, true)?;
    println!("\nAll {} boots behaved as told. Flash file kept at {}.", timeline.len(), rig.flash_img.display());
    if let Some(last) = timeline.last() {
        println!("\nLast boot's firmware log:");
        for l in last.boot.boot_log.iter().chain(&last.boot.app_log) {
            println!("    {l}");
        }
    }
    let config = fw.work.join("agent.toml");
    // The agent verifies with the key the demo images were signed with (the layout names a
    // release key's place, which is not in the repository).
    let mut agent = safeslot_layout::AgentConfig::from_layout(&layout, Some(&rig.flash_img.display().to_string()));
    agent.public_keys = fw.trusted.iter().map(|k| k.display().to_string()).collect();
    std::fs::write(&config, agent.to_toml())?;
    Ok((rig.flash_img.clone(), config))
}
