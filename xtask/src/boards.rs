//! Every board, checked against its layout: what CI can prove without hardware.
//!
//! For each directory under boards/ with a `layout.toml`, `cargo xtask test` builds the
//! board's boot stage and demo apps in release and checks:
//!
//! * the `memory.x` files, `layout.rs` and `config.rs` (the typed boot configuration, with
//!   the embedded key) the build script generated are exactly what the layout gives today
//!   (no stale or hand-edited linker script or configuration was linked);
//! * every loadable segment of the boot stage lies in the bootloader partition (its load
//!   image) and its RAM (writable data), so it fits the partition, and that RAM leaves room
//!   for the measured stack;
//! * every loadable segment of each demo app lies in its slot's image area (after the
//!   header) and the app RAM, and the app's image starts at the slot's image address —
//!   for a board whose slots hold XIP apps. A board with `[linux]` in its layout has no
//!   demo apps: its slots hold a Linux payload, built and booted by `cargo xtask soc-rig`;
//! * the boot stage's and each app's initial stack pointer lies in its RAM range, so (with
//!   the hand-off area validated to be outside both ranges) no stack reaches the hand-off
//!   block or the rig mailbox.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use safeslot_layout::Layout;

use crate::build;

/// Stack the boot stage needs: the measured peak (9,284 B on the virtual board, a verified
/// trial boot) with headroom for other targets' code generation.
const STACK_NEED: u64 = 12 * 1024;

/// An address range `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u64,
    end: u64,
}

impl Span {
    fn new(start: u64, len: u64) -> Span {
        Span { start, end: start.saturating_add(len) }
    }

    fn holds(self, other: Span) -> bool {
        other.start >= self.start && other.end <= self.end
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}..{:#x}", self.start, self.end)
    }
}

/// What a loaded ELF occupies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Footprint {
    /// Bytes of load image (flash): the file size of every loadable segment.
    pub flash: u64,
    /// Bytes of RAM: the memory size of every writable loadable segment.
    pub ram: u64,
    /// The lowest load address.
    pub first_load: u64,
}

/// Checks `elf`'s loadable segments (read by the image tool's ELF reader,
/// `safeslot_image::elf`): load images inside `flash`, writable data inside `ram`,
/// read-only segments run where they are loaded.
fn check_elf(elf: &Path, flash: Span, ram: Span) -> Result<Footprint> {
    let data = std::fs::read(elf).with_context(|| elf.display().to_string())?;
    let segs = safeslot_image::elf::load_segments(elf, &data).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut fp = Footprint { first_load: u64::MAX, ..Footprint::default() };
    for seg in &segs {
        let file_size = seg.data.len() as u64;
        let load = Span::new(seg.load_addr, file_size);
        let run = Span::new(seg.run_addr, seg.mem_size);
        if file_size > 0 {
            ensure!(flash.holds(load), "{}: segment loaded at {load} is outside {flash}", elf.display());
            fp.flash += file_size;
            fp.first_load = fp.first_load.min(load.start);
        }
        if seg.writable {
            ensure!(ram.holds(run), "{}: writable segment at {run} is outside RAM {ram}", elf.display());
            fp.ram += seg.mem_size;
        } else if seg.mem_size > 0 {
            ensure!(flash.holds(run), "{}: read-only segment runs at {run}, outside {flash}", elf.display());
        }
    }
    ensure!(fp.flash > 0, "{}: no loadable segment", elf.display());
    Ok(fp)
}

/// Checks that the initial stack pointer (cortex-m-rt's `_stack_start`, or `__stack_top`
/// of the aarch64 stage's own link.x: where the stack grows down from) lies inside `ram`:
/// with the hand-off area outside that range (the layout validates it), neither stack nor
/// statics can reach the hand-off block or the rig mailbox.
fn check_stack_top(elf: &Path, ram: Span) -> Result<u64> {
    let data = std::fs::read(elf).with_context(|| elf.display().to_string())?;
    let top = safeslot_image::elf::symbol_address(elf, &data, &["_stack_start", "__stack_top"])
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_context(|| format!("{}: no _stack_start (or __stack_top) symbol", elf.display()))?;
    ensure!(
        top > ram.start && top <= ram.end,
        "{}: the stack starts at {top:#x}, outside its RAM {ram}",
        elf.display()
    );
    Ok(top)
}

/// The newest build-script output directory of `crate_name` for `target`.
fn newest_out_dir(target: &str, crate_name: &str) -> Result<PathBuf> {
    let build_dir = crate::env::root().join("boards/target").join(target).join("release/build");
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(&build_dir).with_context(|| build_dir.display().to_string())? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let out = entry.path().join("out");
        if !name.starts_with(&format!("{crate_name}-")) || !out.join("layout.rs").is_file() {
            continue;
        }
        let t = std::fs::metadata(out.join("layout.rs"))?.modified()?;
        if best.as_ref().is_none_or(|(bt, _)| t > *bt) {
            best = Some((t, out));
        }
    }
    best.map(|(_, p)| p)
        .with_context(|| format!("no build-script output of {crate_name} under {}", build_dir.display()))
}

/// The firmware's embedded public key as its 32 raw bytes (through the workspace's one
/// key-file loader, as the board build script reads it).
/// The raw public keys built into `fw`, in key-index order.
fn trusted_keys_raw(fw: &build::Firmware) -> Result<Vec<[u8; 32]>> {
    fw.trusted.iter().map(|k| Ok(safeslot_layout::keys::load_public_key(k)?)).collect()
}

/// One board's checked figures.
#[derive(Debug, Clone)]
pub struct BoardReport {
    /// Board name.
    pub board: String,
    /// Its target.
    pub target: String,
    /// The boot stage's footprint.
    pub boot: Footprint,
    /// Its partition size.
    pub partition: u64,
    /// Bytes of second-stage loader (RP2040's boot2) included in the boot stage's flash.
    pub boot2: Option<u32>,
    /// Each demo app: (slot, footprint, room in the slot's image area); empty for a board
    /// whose slots hold Linux.
    pub apps: Vec<(String, Footprint, u64)>,
    /// Whether the slots hold a Linux payload (`[linux]` in the layout).
    pub linux: bool,
}

/// Builds `board` and checks it against its layout.
pub fn check(board: &str) -> Result<BoardReport> {
    let fw = build::board_firmware(board)?;
    let layout = Layout::load(&fw.layout)?;
    let target = layout.board().target.clone();
    let crate_name = format!("safeslot-board-{board}");

    // 1. The generated linker scripts are today's.
    let out = newest_out_dir(&target, &crate_name)?;
    let mut expected = vec![(out.join("boot/memory.x"), layout.bootloader_memory_x())];
    for name in layout.slot_names() {
        expected.push((out.join(format!("app-{name}/memory.x")), layout.app_memory_x(name)?));
    }
    expected.push((out.join("layout.rs"), layout.rust_consts()));
    expected.push((out.join("config.rs"), layout.boot_config_rs(&trusted_keys_raw(&fw)?)));
    for (path, want) in expected {
        let got = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        ensure!(got == want, "{board}: {} differs from what layout.toml generates", path.display());
    }

    // 2. The boot stage sits in its partition and RAM.
    let bf = layout.bootloader_flash();
    let br = layout.bootloader_ram();
    let partition = Span::new(u64::from(bf.base), u64::from(bf.size));
    let boot_ram = Span::new(u64::from(br.base), u64::from(br.size));
    let boot = check_elf(&fw.boot_elf, partition, boot_ram)
        .with_context(|| format!("{board}: the boot stage does not fit its partition"))?;
    check_stack_top(&fw.boot_elf, boot_ram)?;

    // The boot stage's RAM must hold its static data plus its stack: 9,284 B measured on
    // the virtual board (`cargo xtask size`), rounded up to 12 KiB for other targets.
    ensure!(
        u64::from(br.size) >= boot.ram + STACK_NEED,
        "{board}: bootloader RAM is {} B; the boot stage needs {} B of static data + {STACK_NEED} B of stack",
        br.size,
        boot.ram
    );

    // 3. Each app sits in its slot's image area and the app RAM.
    let ar = layout.app_ram();
    let mut apps = Vec::new();
    let linux = layout.linux().is_some();
    let app_elfs = if linux { &[][..] } else { &fw.app_elfs[..] };
    for (slot, elf) in layout.slots().iter().zip(app_elfs) {
        let image = Span::new(layout.slot_address(slot) + u64::from(slot.header_size), slot.image_size());
        let app_ram = Span::new(u64::from(ar.base), u64::from(ar.size));
        let fp = check_elf(elf, image, app_ram).with_context(|| format!("{board}: demo app for slot {}", slot.name))?;
        check_stack_top(elf, app_ram)?;
        ensure!(
            fp.first_load == image.start,
            "{board}: demo app for slot {} starts at {:#x}, not at the image address {:#x}",
            slot.name,
            fp.first_load,
            image.start
        );
        apps.push((slot.name.clone(), fp, slot.image_size()));
    }
    Ok(BoardReport {
        board: board.to_owned(),
        target,
        boot,
        partition: u64::from(bf.size),
        boot2: layout.boot2_size(),
        apps,
        linux,
    })
}

/// Every board but the virtual one (which `cargo xtask size` reports in more detail),
/// built and checked.
pub fn check_all_quiet() -> Result<Vec<BoardReport>> {
    build::boards()?.iter().filter(|b| *b != build::BOARD).map(|b| check(b)).collect()
}

/// `cargo xtask test`'s board step: every board builds and passes [`check`].
pub fn check_all() -> Result<Vec<BoardReport>> {
    let mut out = Vec::new();
    for b in build::boards()? {
        let r = check(&b)?;
        let apps = if r.linux {
            "none (the slots hold Linux)".to_owned()
        } else {
            r.apps.iter().map(|(s, fp, _)| format!("{s}: {} B", fp.flash)).collect::<Vec<_>>().join(", ")
        };
        println!(
            "{}: boot stage {} B{} of a {} B partition, {} B RAM; apps {apps}; memory.x, layout.rs and config.rs match layout.toml",
            r.board,
            r.boot.flash,
            r.boot2.map_or_else(String::new, |b| format!(" (incl. {b} B boot2)")),
            r.partition,
            r.boot.ram,
        );
        out.push(r);
    }
    Ok(out)
}
