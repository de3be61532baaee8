//! `cargo xtask size`: the boot stage's flash and RAM, from its ELF's sections.

use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection};

use crate::build;

/// Sums of an ELF's allocated sections.
pub struct Sizes {
    /// `.vector_table` + `.text` + `.rodata` (+ `.data` load image).
    pub flash: u64,
    /// `.data` + `.bss` + `.uninit`.
    pub ram: u64,
}

/// Reads the section sizes of `elf`.
pub fn measure(elf: &std::path::Path) -> Result<Sizes> {
    let data = std::fs::read(elf).with_context(|| elf.display().to_string())?;
    let file = object::File::parse(&*data)?;
    let (mut flash, mut ram) = (0, 0);
    for s in file.sections() {
        match s.name().unwrap_or("") {
            ".vector_table" | ".text" | ".rodata" => flash += s.size(),
            ".data" => {
                flash += s.size();
                ram += s.size();
            }
            ".bss" | ".uninit" => ram += s.size(),
            _ => {}
        }
    }
    Ok(Sizes { flash, ram })
}

/// Prints the table and checks the partition limit.
pub fn run() -> Result<()> {
    let fw = build::firmware()?;
    let layout = safeslot_layout::Layout::load(&fw.layout)?;
    let limit = u64::from(layout.bootloader_flash().size);
    let s = measure(&fw.boot_elf)?;
    println!("| board | target | boot stage flash | RAM (static) | partition | share |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} B ({:.1} KiB) | {} B | {} KiB | {:.0}% |",
        build::BOARD,
        build::TARGET,
        s.flash,
        s.flash as f64 / 1024.0,
        s.ram,
        limit / 1024,
        s.flash as f64 * 100.0 / limit as f64
    );
    if s.flash > limit {
        bail!("the boot stage ({} B) does not fit its {} B partition", s.flash, limit);
    }
    Ok(())
}
