//! `cargo xtask size`: the boot stage's flash and RAM, from its ELF's sections.

use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

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

/// The groups [`shares`] reports; the first [`CRYPTO_SHARES`] are the crates issue #18's
/// size goal leaves out of its 6 KiB ("everything but ed25519-compact, sha2 and crc").
const SHARES: usize = 7;
/// See [`SHARES`].
const CRYPTO_SHARES: usize = 3;

/// Flash bytes of `elf`'s code and data symbols, grouped by the crate they come from
/// (inlining moves code into its caller, so this is where bytes landed, not who wrote them).
pub fn shares(elf: &std::path::Path) -> Result<Vec<(&'static str, u64)>> {
    let data = std::fs::read(elf)?;
    let file = object::File::parse(&*data)?;
    let groups: [(&str, &[&str]); SHARES] = [
        // `verify::signature_word` is ed25519-compact's `verify`, inlined, and a mask.
        (
            "ed25519 (ed25519-compact, incl. verify::signature_word it is inlined into)",
            &["ed25519_compact", "signature_word"],
        ),
        ("SHA-256 (sha2)", &["sha2"]),
        ("CRC-32 (crc, codec::crc32)", &["crc"]),
        ("journal (safeslot-shared)", &["safeslot_shared7journal"]),
        ("record, policy, verify (safeslot-shared)", &["safeslot_shared"]),
        ("boot sequence (safeslot-boot, incl. inlined callees)", &["safeslot_boot"]),
        ("board, runtime, core, compiler-builtins", &[""]),
    ];
    let mut out: Vec<(&'static str, u64)> = groups.iter().map(|(n, _)| (*n, 0)).collect();
    for sym in file.symbols() {
        if !matches!(sym.kind(), SymbolKind::Text | SymbolKind::Data) || sym.size() == 0 {
            continue;
        }
        let in_flash = sym
            .section_index()
            .and_then(|i| file.section_by_index(i).ok())
            .is_some_and(|s| matches!(s.name().unwrap_or(""), ".text" | ".rodata" | ".vector_table"));
        if !in_flash {
            continue;
        }
        let name = sym.name().unwrap_or("");
        if let Some(i) = groups.iter().position(|(_, keys)| keys.iter().any(|k| name.contains(k))) {
            out[i].1 += sym.size();
        }
    }
    Ok(out)
}

/// Builds the log-free size probe for both Cortex-M targets; returns (target, ELF).
fn probe(fw: &build::Firmware) -> Result<Vec<(&'static str, std::path::PathBuf)>> {
    probe_in(&crate::env::root(), fw)
}

/// [`probe`] in the checkout at `root` (this one, or a baseline's worktree).
fn probe_in(root: &std::path::Path, fw: &build::Firmware) -> Result<Vec<(&'static str, std::path::PathBuf)>> {
    let mut out = Vec::new();
    for target in ["thumbv7em-none-eabihf", "thumbv6m-none-eabi"] {
        crate::env::run(
            crate::env::cargo()
                .current_dir(root.join("boards"))
                .args(["build", "--release", "-q", "-p", "safeslot-size-probe", "--target", target])
                .env(safeslot_layout::PUBLIC_KEYS_ENV, &fw.public_key),
        )?;
        out.push((target, root.join("boards/target").join(target).join("release/safeslot-boot-min")));
    }
    Ok(out)
}

/// The reference crate: embassy-boot's nRF bootloader built here without logs (never
/// shipped; a row of the table, not a baseline).
const REFERENCE: &str = "safeslot-reference-embassy-boot-nrf";

/// Builds [`REFERENCE`] as [`probe_in`] builds the size probe (release, boards/ profile);
/// returns its ELF.
fn reference() -> Result<std::path::PathBuf> {
    let root = crate::env::root();
    let target = "thumbv7em-none-eabihf";
    crate::env::run(crate::env::cargo().current_dir(root.join("boards")).args([
        "build",
        "--release",
        "-q",
        "-p",
        REFERENCE,
        "--target",
        target,
    ]))?;
    Ok(root.join("boards/target").join(target).join("release/reference-embassy-boot-nrf"))
}

/// Runs the virtual board's boot stage once in QEMU (blank record: A is created and
/// booted on trial, its signature and hash verified) and reads the stack peak it logs.
fn stack_peak(fw: &build::Firmware) -> Result<u32> {
    use safeslot_hil::rig::{BoardLayout, Rig, VirtualRig};
    crate::env::ensure_qemu()?;
    crate::env::ensure_defmt_print()?;
    let layout = safeslot_layout::Layout::load(&fw.layout)?;
    let a = build::sign(fw, &fw.app_elfs[0], "a", "1.0.0", 0)?;
    let mut rig = VirtualRig::new(
        BoardLayout::from_layout(&layout),
        fw.boot_elf.clone(),
        fw.app_elfs.clone(),
        fw.work.join("size-flash.img"),
    )?;
    rig.install(safeslot_shared::SlotId::A, &a)?;
    let boot = rig.power_on(&safeslot_shared::protocol::order::Order::noconfirm())?;
    boot.boot_log
        .iter()
        .find_map(|l| l.split("stack peak=").nth(1).and_then(|v| v.trim().parse().ok()))
        .with_context(|| format!("no `stack peak=` in the boot log: {:?}", boot.boot_log))
}

/// `cargo xtask size [--baseline REV]`.
pub fn command(baseline_rev: Option<&str>) -> Result<()> {
    match baseline_rev {
        None => run(),
        Some(rev) => baseline(rev),
    }
}

/// The size probe built from revision `rev` (a detached worktree under target/, kept for
/// the next run) and from this checkout, side by side: what a change cost in flash, e.g.
/// the fault-injection hardening (docs/DESIGN.md).
fn baseline(rev: &str) -> Result<()> {
    let root = crate::env::root();
    let out = crate::env::output(std::process::Command::new("git").current_dir(&root).args([
        "rev-parse",
        "--verify",
        &format!("{rev}^{{commit}}"),
    ]))
    .with_context(|| format!("`{rev}` is not a commit of this repository"))?;
    let commit = out.trim().to_owned();
    let short = commit.get(..10).unwrap_or(&commit).to_owned();
    let tree = root.join("target/safeslot/baseline").join(&short);
    if !tree.join("Cargo.toml").exists() {
        crate::env::run(
            std::process::Command::new("git")
                .current_dir(&root)
                .args(["worktree", "add", "--detach"])
                .arg(&tree)
                .arg(&commit),
        )?;
    }
    let fw = build::firmware()?;
    eprintln!("xtask: size: building the size probe of {short} in {}", tree.display());
    let before = probe_in(&tree, &fw)?;
    let after = probe(&fw)?;
    println!("| boot stage, no logs (boards/size-probe) | target | {short} | this checkout | difference |");
    println!("|---|---|---:|---:|---:|");
    for ((target, old), (_, new)) in before.iter().zip(&after) {
        let (o, n) = (measure(old)?.flash, measure(new)?.flash);
        let d = n as i64 - o as i64;
        println!("| flash | {target} | {o} B | {n} B | {d:+} B ({:+.1} %) |", d as f64 * 100.0 / o as f64);
    }
    Ok(())
}

/// Prints the table and checks the partition limit.
pub fn run() -> Result<()> {
    let fw = build::firmware()?;
    let layout = safeslot_layout::Layout::load(&fw.layout)?;
    let limit = u64::from(layout.bootloader_flash().size);
    let s = measure(&fw.boot_elf)?;
    println!("| build | target | flash (.vector_table+.text+.rodata+.data) | RAM (.data+.bss) | partition | share |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} boot stage (defmt logs, semihosting, cut hooks) | {} | {} B ({:.1} KiB) | {} B | {} KiB | {:.0}% |",
        build::BOARD,
        build::TARGET,
        s.flash,
        s.flash as f64 / 1024.0,
        s.ram,
        limit / 1024,
        s.flash as f64 * 100.0 / limit as f64
    );
    let probes = probe(&fw)?;
    for (target, elf) in &probes {
        let p = measure(elf)?;
        // Issue #18's goal: 20 KiB on thumbv7em, 22 KiB on thumbv6m, without logs.
        let goal: u64 = if target.starts_with("thumbv6m") { 22 } else { 20 };
        println!(
            "| boot stage, no logs (boards/size-probe) | {target} | {} B ({:.1} KiB) | {} B | - | target {goal} KiB: {} |",
            p.flash,
            p.flash as f64 / 1024.0,
            p.ram,
            if p.flash <= goal * 1024 { "met" } else { "not met" }
        );
    }
    // A different job (no signature or hash checked at boot; a swap instead of an A/B
    // record), sized side by side for scale (#18).
    let e = measure(&reference()?)?;
    println!(
        "| embassy-boot-nrf 0.12 bootloader, reference (boards/reference-embassy-boot-nrf: swaps DFU into \
         ACTIVE, verifies no signature, no logs) | thumbv7em-none-eabihf | {} B ({:.1} KiB) | {} B | - | reference |",
        e.flash,
        e.flash as f64 / 1024.0,
        e.ram
    );
    for r in crate::boards::check_all_quiet()? {
        let what = if r.linux { "serial log, gzip inflate, FDT patch, Linux hand-off" } else { "defmt logs" };
        println!(
            "| {} boot stage ({what}{}) | {} | {} B ({:.1} KiB) | {} B | {} KiB | {:.1}% |",
            r.board,
            r.boot2.map_or_else(String::new, |b| format!(", incl. {b} B boot2")),
            r.target,
            r.boot.flash,
            r.boot.flash as f64 / 1024.0,
            r.boot.ram,
            r.partition / 1024,
            r.boot.flash as f64 * 100.0 / r.partition as f64
        );
    }
    let peak = stack_peak(&fw)?;
    println!(
        "\nPeak stack of the {} boot stage, measured (painted stack, a trial boot of A with its \
         signature verified, in QEMU): {peak} B; RAM in the table above is static data only.",
        build::BOARD
    );
    println!("\nwhere the boot stage's flash goes (symbol sizes; unnamed padding and literal pools not counted):\n");
    let (probe_target, probe_elf) = probes.first().context("no size probe built")?;
    println!("| part | {} (logs) | size probe, {probe_target} (no logs) |", build::BOARD);
    println!("|---|---:|---:|");
    let (with_logs, no_logs) = (shares(&fw.boot_elf)?, shares(probe_elf)?);
    for ((name, a), (_, b)) in with_logs.iter().zip(&no_logs) {
        println!("| {name} | {a} | {b} |");
    }
    let rest = |v: &[(&str, u64)]| v.iter().skip(CRYPTO_SHARES).map(|(_, b)| b).sum::<u64>();
    println!(
        "| everything but ed25519, sha2 and crc (goal without logs: 6 KiB, stretch 4 KiB) | {} | {} |",
        rest(&with_logs),
        rest(&no_logs)
    );
    if s.flash > limit {
        bail!("the boot stage ({} B) does not fit its {} B partition", s.flash, limit);
    }
    Ok(())
}
