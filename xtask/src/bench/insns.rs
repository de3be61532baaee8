//! `cargo xtask bench`, second part: instructions executed by the real boot stage of the
//! virtual board, from reset to the hand-off, counted exactly by a QEMU plugin
//! ([`super::plugin`]), split into phases ([`super::profile`]) and set against the floor:
//! the bare crates doing the same work (boards/bench-floor).
//!
//! For each image size (64 KiB, 256 KiB, 1 MiB: the demo app padded with 0xFF and signed
//! by the image tool like any release), two flash states are prepared by running the real
//! firmware (no plugin): *confirmed* (A installed, booted once on its factory trial and
//! confirmed by the app) and *trial* (from there, B installed and activated by A, as an
//! updater does). The measured run boots that state under the plugin; the count stops at
//! the first instruction of the image's reset handler. Each measured run is made twice
//! and must give identical counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use safeslot_hil::qemu::{self, QemuRun, FLASH_SIZE};
use safeslot_hil::rig::BoardLayout;
use safeslot_shared::header::{SlotHeader, SIGNED_LEN};
use safeslot_shared::protocol::exit::Exit;
use safeslot_shared::protocol::order::Order;
use safeslot_shared::SlotId;

use super::plugin::{self, Counts};
use crate::build::{self, Firmware};
use crate::env;
use safeslot_profile::{Code, Phase, Profiler};

/// Image sizes measured, in KiB.
pub const SIZES_KIB: [u32; 3] = [64, 256, 1024];

/// The kind of boot measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A confirmed slot: no record write.
    Confirmed,
    /// A trial: the tries decrement is programmed before the hand-off.
    Trial,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Confirmed => "confirmed (A)",
            Kind::Trial => "trial (B, tries 3 -> 2)",
        }
    }
}

/// One measured boot.
#[derive(Debug, Clone)]
pub struct BootCount {
    /// Instructions from reset to the image's first instruction.
    pub to_handoff: u64,
    /// Those instructions by phase, callees included (counted by the plugin).
    pub phases: BTreeMap<Phase, u64>,
    /// Those instructions by the code that executed them (from the per-address counts).
    pub code: BTreeMap<Code, u64>,
    /// Signature checks run (entries into `verify::signature_word`, counted by the plugin):
    /// 2 per verified slot with the fault-injection hardening's second check.
    pub signature_checks: u64,
}

/// The floor: the bare crates under the same plugin.
#[derive(Debug, Clone)]
pub struct Floor {
    /// One ed25519-compact verify of the 64 KiB image's header signature.
    pub verify: u64,
    /// Of that, instructions in ed25519-compact's own code (attributed as the boot stage's).
    pub verify_code: u64,
    /// SHA-256 per KiB with sha2's default soft backend (the boards use `compact`).
    pub hash_default_backend_per_kib: Option<f64>,
    /// SHA-256 (sha2) of n KiB, by size.
    pub hash: BTreeMap<u32, u64>,
    /// The same floor built for thumbv6m and counted on a Cortex-M0 (QEMU `microbit`):
    /// the Pico's core (Cortex-M0+, the same instruction set), for its estimate.
    pub m0: M0Floor,
}

/// The floor on a Cortex-M0 (thumbv6m: no 32x32->64 multiply, no bit-field or
/// multi-register tricks of thumbv7em; ed25519's field arithmetic pays for it).
#[derive(Debug, Clone, Copy)]
pub struct M0Floor {
    /// One ed25519-compact verify of the same signature.
    pub verify: u64,
    /// SHA-256 per KiB.
    pub hash_per_kib: f64,
}

/// QEMU's Cortex-M0 machine (nRF51822) the thumbv6m floor runs on.
const M0_MACHINE: &str = "microbit";
/// The thumbv6m target.
const M0_TARGET: &str = "thumbv6m-none-eabi";
/// KiB hashed by the thumbv6m floor's second run (the first hashes none).
const M0_HASH_KIB: u32 = 64;

/// Everything measured.
pub struct Measured {
    /// The image sizes, in KiB, ascending.
    pub sizes: Vec<u32>,
    /// Boots by kind and size.
    pub boots: BTreeMap<(Kind, u32), BootCount>,
    /// The floor.
    pub floor: Floor,
}

struct Bench {
    fw: Firmware,
    board: BoardLayout,
    layout: safeslot_layout::Layout,
    plugin: PathBuf,
    dir: PathBuf,
    profiler: Profiler,
    phase_map: PathBuf,
    /// The address of `verify::signature_word` (one ed25519 check) in the boot stage.
    signature_word: u64,
}

impl Bench {
    fn new() -> Result<Bench> {
        env::ensure_qemu()?;
        let plugin = plugin::ensure()?;
        let fw = build::firmware()?;
        let layout = safeslot_layout::Layout::load(&fw.layout)?;
        let board = BoardLayout::from_layout(&layout);
        let dir = fw.work.join("bench");
        std::fs::create_dir_all(&dir)?;
        let profiler = Profiler::new(&fw.boot_elf)?;
        let phase_map = dir.join("phases.txt");
        profiler.phase_map(&phase_map)?;
        let signature_word = symbol_address(&fw.boot_elf, "verify14signature_word")?;
        Ok(Bench { fw, board, layout, plugin, dir, profiler, phase_map, signature_word })
    }

    /// The demo app of `slot` as a flat binary padded with 0xFF to `kib` KiB, signed.
    fn image(&self, slot: SlotId, kib: u32) -> Result<Vec<u8>> {
        let name = if slot == SlotId::A { "a" } else { "b" };
        let version = if slot == SlotId::A { "1.0.0" } else { "2.0.0" };
        let header = self.layout.slot(name)?.header_size as usize;
        let elf = self.fw.app_elfs.get(slot.index()).context("no app ELF for the slot")?;
        let signed = build::sign(&self.fw, elf, name, version, 0)?;
        let mut flat = signed.get(header..).context("signed image shorter than its header")?.to_vec();
        let len = kib as usize * 1024;
        ensure!(flat.len() <= len, "the demo app ({} B) is larger than {kib} KiB", flat.len());
        flat.resize(len, 0xFF);
        let raw = self.dir.join(format!("app-{name}-{kib}k.bin"));
        std::fs::write(&raw, &flat)?;
        let image = build::sign(&self.fw, &raw, name, version, 0)?;
        let h = SlotHeader::decode(&image).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        ensure!(h.image_len as usize == len, "signed image_len {} != {len}", h.image_len);
        Ok(image)
    }

    /// The address of the first instruction of the image in `slot` (its reset vector).
    fn entry(&self, slot: SlotId, image: &[u8]) -> Result<u64> {
        let name = if slot == SlotId::A { "a" } else { "b" };
        let s = self.layout.slot(name)?;
        let at = s.header_size as usize + 4;
        let v = image.get(at..at + 4).context("image without a vector table")?;
        let reset = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
        Ok(u64::from(reset & !1))
    }

    fn run(&self, flash: &Path, order: &Order) -> QemuRun {
        let mut run = QemuRun::new(&self.fw.boot_elf, flash);
        run.append = order.to_string();
        run
    }

    /// Boots `flash` without the plugin and checks the exit code.
    fn setup_boot(&self, flash: &Path, order: &Order, want: Exit) -> Result<()> {
        let out = self.run(flash, order).run()?;
        ensure!(out.exit() == Some(want), "setup boot `{order}`: exit {:?}, expected {want:?}", out.exit_code);
        Ok(())
    }

    /// Prepares the confirmed and the trial flash state for `kib`.
    fn states(&self, kib: u32) -> Result<[(Kind, PathBuf, u64); 2]> {
        let a = self.image(SlotId::A, kib)?;
        let b = self.image(SlotId::B, kib)?;
        let (off_a, off_b) = (self.board.slot_offsets[0] as usize, self.board.slot_offsets[1] as usize);
        let confirmed = self.dir.join(format!("confirmed-{kib}k.img"));
        qemu::compose_flash(&confirmed, FLASH_SIZE, &[(off_a, &a)])?;
        self.setup_boot(&confirmed, &Order::confirm(), Exit::App(SlotId::A))?;
        let rec = self.board.read_record(&std::fs::read(&confirmed)?)?.context("no record after the first boot")?;
        ensure!(rec.slot(SlotId::A).is_some_and(|s| s.confirmed), "A not confirmed after setup: {rec:?}");
        let trial = self.dir.join(format!("trial-{kib}k.img"));
        let mut bytes = std::fs::read(&confirmed)?;
        bytes.get_mut(off_b..off_b + b.len()).context("slot b outside the flash")?.copy_from_slice(&b);
        std::fs::write(&trial, bytes)?;
        self.setup_boot(&trial, &Order::confirm().activate(SlotId::B), Exit::App(SlotId::A))?;
        let rec = self.board.read_record(&std::fs::read(&trial)?)?.context("no record after activation")?;
        ensure!(
            rec.slot(SlotId::B).is_some_and(|s| !s.confirmed && s.tries.get() > 0),
            "B not on trial after setup: {rec:?}"
        );
        Ok([(Kind::Confirmed, confirmed, self.entry(SlotId::A, &a)?), (Kind::Trial, trial, self.entry(SlotId::B, &b)?)])
    }

    /// Boots a copy of `state` under the plugin, twice; the counts must be identical.
    fn measure(&self, kind: Kind, state: &Path, entry: u64) -> Result<BootCount> {
        let want = Exit::App(if kind == Kind::Confirmed { SlotId::A } else { SlotId::B }).status();
        let mut runs = Vec::new();
        for i in 0..2 {
            let flash = self.dir.join("run.img");
            std::fs::copy(state, &flash)?;
            let run = self.run(&flash, &Order::noconfirm());
            let marks = [entry, self.signature_word];
            let c = plugin::count(&self.plugin, &run, &marks, Some(&self.phase_map), &self.dir.join("out.txt"))
                .with_context(|| format!("{kind:?} boot, run {i}"))?;
            ensure!(c.exit_code == Some(want), "{kind:?} boot: exit {:?}, expected {want:#x}", c.exit_code);
            runs.push(c);
        }
        let (first, second) = (&runs[0], &runs[1]);
        ensure!(
            first == second,
            "{kind:?} boot: two runs counted differently ({} vs {} instructions)",
            first.total,
            second.total
        );
        let to_handoff = first.before(entry).context("the image's reset handler never ran")?;
        let (code, outside) = self.profiler.attribute(boot_pcs(first, entry))?;
        let attributed: u64 = code.values().sum();
        ensure!(outside == 0, "{outside} boot-stage instructions outside its .text");
        ensure!(
            attributed == to_handoff,
            "per-address counts of the boot stage ({attributed}) differ from the count at the hand-off ({to_handoff})"
        );
        let phases: BTreeMap<Phase, u64> =
            Phase::ALL.iter().map(|p| (*p, first.phases.get(&p.id()).copied().unwrap_or(0))).collect();
        let phased: u64 = phases.values().sum();
        ensure!(
            phased == to_handoff,
            "the phases of the boot stage ({phased}: {:?}) do not add up to the count at the hand-off ({to_handoff})",
            first.phases
        );
        let signature_checks = first.marks.get(&self.signature_word).map_or(0, |(hits, _)| *hits);
        Ok(BootCount { to_handoff, phases, code, signature_checks })
    }

    fn floor(&self, a64: &[u8], sizes: &[u32]) -> Result<Floor> {
        // The floor verifies exactly the signature of the 64 KiB image of A.
        let pair = safeslot_image::keys::load_signing_key(&self.fw.key).map_err(|e| anyhow::anyhow!("{e}"))?;
        let h = SlotHeader::decode(a64).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut sig = pair.pk.as_ref().to_vec();
        ensure!(sig.len() == 32, "raw public key is {} bytes", sig.len());
        sig.extend_from_slice(&h.signature);
        sig.extend_from_slice(a64.get(..SIGNED_LEN).context("short header")?);
        let sig_file = self.dir.join("floor-sig.bin");
        if std::fs::read(&sig_file).ok().as_deref() != Some(&sig[..]) {
            std::fs::write(&sig_file, &sig)?;
        }
        let root = env::root();
        let release = build_floor(build::TARGET, &sig_file)?;
        let bin = |name: &str| release.join(name);
        let blank = self.dir.join("floor-flash.img");
        qemu::compose_flash(&blank, FLASH_SIZE, &[])?;
        let count = |elf: &Path, n: u32| -> Result<Counts> {
            let mut run = QemuRun::new(elf, &blank);
            run.append = n.to_string();
            let mut runs = Vec::new();
            for _ in 0..2 {
                let c = plugin::count(&self.plugin, &run, &[], None, &self.dir.join("floor-out.txt"))?;
                ensure!(c.exit_code == Some(Exit::FloorDone.status()), "{} {n}: exit {:?}", elf.display(), c.exit_code);
                runs.push(c);
            }
            ensure!(runs[0] == runs[1], "{} {n}: two runs counted differently", elf.display());
            Ok(runs.swap_remove(0))
        };
        let ed = bin("floor-ed25519");
        let (one, none) = (count(&ed, 1)?, count(&ed, 0)?);
        let verify = one.total.checked_sub(none.total).context("one verify costs less than none")?;
        let code = |c: &Counts| -> Result<u64> {
            let (phases, _) = Profiler::new(&ed)?.attribute(c.pcs.iter().map(|(a, n)| (*a, *n)))?;
            Ok(phases.get(&Code::Signature).copied().unwrap_or(0))
        };
        let verify_code = code(&one)?.saturating_sub(code(&none)?);
        let sha = bin("floor-sha2");
        let base = count(&sha, 0)?.total;
        let mut hash = BTreeMap::new();
        for &kib in sizes {
            hash.insert(kib, count(&sha, kib)?.total.checked_sub(base).context("hashing costs less than nothing")?);
        }
        // The same floor with sha2's default soft backend (RUSTFLAGS replaces the config's
        // `sha2_backend_soft="compact"`), in its own target dir so nothing else rebuilds.
        let default_dir = root.join("boards/target/bench-sha2-default");
        env::run(
            env::cargo()
                .current_dir(root.join("boards"))
                .args(["build", "--release", "-q", "-p", "safeslot-bench-floor", "--bin", "floor-sha2"])
                .args(["--target", build::TARGET])
                .env("CARGO_TARGET_DIR", &default_dir)
                .env("RUSTFLAGS", "--cfg safeslot_bench_sha2_default_backend")
                .env("SAFESLOT_FLOOR_SIG", &sig_file),
        )
        .context("building floor-sha2 with the default sha2 backend failed")?;
        let fast = default_dir.join(build::TARGET).join("release/floor-sha2");
        let (lo, hi) = (sizes[0], sizes[sizes.len() - 1]);
        let hash_default_backend_per_kib = if hi > lo {
            let (a, b) = (count(&fast, lo)?.total, count(&fast, hi)?.total);
            Some((b as f64 - a as f64) / f64::from(hi - lo))
        } else {
            None
        };
        let m0 = self.m0_floor(&sig_file)?;
        Ok(Floor { verify, verify_code, hash, hash_default_backend_per_kib, m0 })
    }

    /// The floor built for thumbv6m and counted in QEMU's Cortex-M0 machine.
    fn m0_floor(&self, sig_file: &Path) -> Result<M0Floor> {
        let release = build_floor(M0_TARGET, sig_file)?;
        let qemu = qemu::qemu_available().map_err(|e| anyhow::anyhow!(e))?;
        let count = |name: &str, n: u32| -> Result<u64> {
            let elf = release.join(name);
            let mut cmd = std::process::Command::new(&qemu);
            cmd.current_dir(&self.dir)
                .args(["-M", M0_MACHINE, "-kernel"])
                .arg(&elf)
                .args(["-semihosting-config", "enable=on,target=native"])
                .args(["-display", "none", "-serial", "none", "-monitor", "none", "-no-reboot"])
                .args(["-append", &n.to_string()]);
            let c = plugin::count_command(
                &self.plugin,
                cmd,
                std::time::Duration::from_secs(120),
                &[],
                None,
                &self.dir.join("floor-m0-out.txt"),
            )?;
            ensure!(
                c.exit_code == Some(Exit::FloorDone.status()),
                "{name} {n} on {M0_MACHINE}: exit {:?}",
                c.exit_code
            );
            Ok(c.total)
        };
        let verify = count("floor-ed25519", 1)?
            .checked_sub(count("floor-ed25519", 0)?)
            .context("one verify costs less than none on the Cortex-M0")?;
        let (h0, h1) = (count("floor-sha2", 0)?, count("floor-sha2", M0_HASH_KIB)?);
        let hash_per_kib = (h1 as f64 - h0 as f64) / f64::from(M0_HASH_KIB);
        Ok(M0Floor { verify, hash_per_kib })
    }
}

/// Builds boards/bench-floor for `target`, verifying the signature in `sig_file`; returns
/// the directory of its release binaries.
fn build_floor(target: &str, sig_file: &Path) -> Result<PathBuf> {
    let root = env::root();
    env::run(
        env::cargo()
            .current_dir(root.join("boards"))
            .args(["build", "--release", "-q", "-p", "safeslot-bench-floor", "--target", target])
            .env("SAFESLOT_FLOOR_SIG", sig_file),
    )
    .with_context(|| format!("building boards/bench-floor for {target} failed"))?;
    Ok(root.join("boards/target").join(target).join("release"))
}

/// The address of the (out-of-line) function whose mangled name contains `fragment`.
fn symbol_address(elf: &Path, fragment: &str) -> Result<u64> {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(elf).with_context(|| elf.display().to_string())?;
    let file = object::File::parse(&*data)?;
    let found: Vec<u64> = file
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text && s.name().is_ok_and(|n| n.contains(fragment)))
        .map(|s| s.address() & !1)
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => bail!("no function `{fragment}` in {} (inlined?)", elf.display()),
        _ => bail!("{} functions `{fragment}` in {}", found.len(), elf.display()),
    }
}

/// The boot stage's per-address counts up to the hand-off: everything below the image.
fn boot_pcs(c: &Counts, entry: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
    // The boot stage runs from the code RAM at 0x0; the images run from the flash window
    // (0x2100_0000 up). After the hand-off only the image runs.
    let limit = entry & !0xFF_FFFF;
    c.pcs.iter().filter(move |(a, _)| **a < limit).map(|(a, n)| (*a, *n))
}

/// Measures boots of images of `sizes` KiB (the first is also the floor's signature) and
/// the floor (about 20 s for [`SIZES_KIB`] once built: 6 boot states, 12 counted boots,
/// 14 floor runs).
pub fn measure(sizes: &[u32]) -> Result<Measured> {
    let b = Bench::new()?;
    let mut boots = BTreeMap::new();
    let mut a64 = None;
    for &kib in sizes {
        eprintln!("xtask: bench: {kib} KiB images: preparing the confirmed and trial states, counting");
        for (kind, state, entry) in b.states(kib)? {
            boots.insert((kind, kib), b.measure(kind, &state, entry)?);
        }
        if a64.is_none() {
            a64 = Some(b.image(SlotId::A, kib)?);
        }
    }
    let floor = b.floor(&a64.context("no image size given")?, sizes)?;
    Ok(Measured { sizes: sizes.to_vec(), boots, floor })
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

/// (count(largest) - count(smallest)) / (largest - smallest KiB).
fn per_kib(m: &BTreeMap<u32, u64>) -> Option<f64> {
    let ((lo, a), (hi, b)) = (m.first_key_value()?, m.last_key_value()?);
    (hi > lo).then(|| (*b as f64 - *a as f64) / f64::from(hi - lo))
}

/// Prints the tables.
pub fn print(m: &Measured) -> Result<()> {
    let f = &m.floor;
    println!("## Instructions executed by the boot stage (QEMU mps2-an386, thumbv7em, opt-level \"z\", fat LTO)\n");
    println!(
        "Counted by the insn_count QEMU plugin from reset to the image's first instruction; \
         every count below was measured twice and both runs gave the same number.\n"
    );
    println!("| boot | image | instructions to hand-off | floor: 1 verify + hash | ratio to floor |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for ((kind, kib), c) in &m.boots {
        let floor = f.verify + f.hash.get(kib).copied().unwrap_or(0);
        println!("| {} | {kib} KiB | {} | {} | {} |", kind.name(), c.to_handoff, floor, ratio(c.to_handoff, floor));
    }
    let boots_of = |kind: Kind| -> BTreeMap<u32, u64> {
        m.boots.iter().filter(|((k, _), _)| *k == kind).map(|((_, kib), c)| (*kib, c.to_handoff)).collect()
    };
    let (lo, hi) = (m.sizes[0], m.sizes[m.sizes.len() - 1]);
    let floor_kib = per_kib(&f.hash).context("floor per KiB")?;
    println!();
    println!("| per unit | safeslot | floor (bare crate) | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    for kind in [Kind::Confirmed, Kind::Trial] {
        let s = per_kib(&boots_of(kind)).context("per KiB")?;
        println!(
            "| image hashing per KiB, {} boot: (boot({hi} KiB) - boot({lo} KiB)) / {} | {s:.1} | {floor_kib:.1} (sha2) | {:.3} |",
            if kind == Kind::Confirmed { "confirmed" } else { "trial" },
            hi - lo,
            s / floor_kib
        );
    }
    let c64 = m.boots.get(&(Kind::Confirmed, lo)).context("no confirmed boot")?;
    let sig = phase(c64, Phase::Signature);
    println!(
        "| signature verify, callees included (confirmed boot, {lo} KiB image of A; the floor verifies \
         the same signature) | {sig} | {} | {} |",
        f.verify,
        ratio(sig, f.verify)
    );
    let code_sig = code(c64, Code::Signature);
    println!(
        "| signature verify, instructions in ed25519-compact's own code (both attributed the same way) \
         | {code_sig} | {} | {} |",
        f.verify_code,
        ratio(code_sig, f.verify_code)
    );
    let hs = sig + phase(c64, Phase::Header);
    println!("| header checks + signature verify (same boot) | {hs} | {} | {} |", f.verify, ratio(hs, f.verify));
    if let Some(fast) = f.hash_default_backend_per_kib {
        println!(
            "| for reference: sha2 per KiB with its default soft backend instead of `compact` | - | {fast:.1} | - |"
        );
    }
    println!();
    let cols: Vec<(Kind, u32)> =
        vec![(Kind::Confirmed, lo), (Kind::Trial, lo), (Kind::Confirmed, hi), (Kind::Trial, hi)];
    let phase_rows: Vec<Row> = Phase::ALL
        .iter()
        .map(|&p| -> Row { (p.label(), Box::new(move |c| phase(c, p)), p != Phase::Signature) })
        .collect();
    println!("### Fault-injection hardening (docs/DESIGN.md), what it costs per boot\n");
    println!("| | confirmed {lo} KiB | trial {lo} KiB | confirmed {hi} KiB |");
    println!("| --- | ---: | ---: | ---: |");
    let fih_cols = [(Kind::Confirmed, lo), (Kind::Trial, lo), (Kind::Confirmed, hi)];
    let fih_row = |label: &str, value: &dyn Fn(&BootCount) -> String| {
        print!("| {label} |");
        for key in &fih_cols {
            print!(" {} |", m.boots.get(key).map_or("-".into(), value));
        }
        println!();
    };
    fih_row("signature checks run (plugin: entries into `verify::signature_word`)", &|c| {
        c.signature_checks.to_string()
    });
    fih_row("instructions of the second check (signature phase / checks: same key, message, signature)", &|c| {
        (phase(c, Phase::Signature) / c.signature_checks.max(1)).to_string()
    });
    fih_row("flow counter, proof, hash buffer pattern (own code, per-address counts; the memset it calls counts as shared code)", &|c| {
        (code(c, Code::Hardening) + code(c, Code::HashPattern)).to_string()
    });
    fih_row("all of it, share of the boot", &|c| {
        let second = if c.signature_checks > 1 { phase(c, Phase::Signature) / c.signature_checks } else { 0 };
        let extra = second + code(c, Code::Hardening) + code(c, Code::HashPattern);
        format!("{extra} ({:.1} %)", extra as f64 * 100.0 / c.to_handoff as f64)
    });
    println!();
    println!("### By phase, callees included (the plugin's phase map, see docs/PERFORMANCE.md)\n");
    table(m, &cols, &phase_rows);
    println!();
    let code_rows: Vec<Row> = Code::ALL
        .iter()
        .map(|&k| -> Row { (k.label(), Box::new(move |c| code(c, k)), k != Code::Signature) })
        .collect();
    println!("### By code, whoever called it (per-address counts)\n");
    table(m, &cols, &code_rows);
    print_estimates(m)
}

/// The estimated time to hand-off of each board whose layout has a `[clock]`, from the
/// counts above (never a timed test: instructions ÷ clock).
fn print_estimates(m: &Measured) -> Result<()> {
    let f = &m.floor;
    let m4_hash = per_kib(&f.hash).context("floor per KiB")?;
    println!("\n### Estimated time to hand-off, per board (an estimate from the counts, not a measurement)\n");
    println!(
        "Instructions ÷ the core clock of the board's layout.toml `[clock]`, at one instruction per cycle: \
         a lower bound (loads, taken branches, flash wait states and cache misses add cycles, and the \
         boards' HAL flash drivers and defmt logs differ from the virtual board's). Cortex-M4F boards: \
         the virtual board's count (the same code for thumbv7em). Cortex-M0+ (Pico): that count with \
         its signature checks and its hashing re-priced at the bare crates' counts on a Cortex-M0 \
         (QEMU `{M0_MACHINE}`, thumbv6m, the M0+'s instruction set): one verify {} instructions \
         ({:.1}x the M4's {}), SHA-256 {:.0} per KiB ({:.2}x the M4's {m4_hash:.0}).\n",
        f.m0.verify,
        f.m0.verify as f64 / f.verify.max(1) as f64,
        f.verify,
        f.m0.hash_per_kib,
        f.m0.hash_per_kib / m4_hash,
    );
    println!("| board | core | reset clock -> stage's clock | flash wait states | boot | image | instructions | est. at the stage's clock | est. if left at the reset clock |");
    println!("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |");
    let secs = |n: f64, hz: u32| {
        let s = n / f64::from(hz);
        if s >= 1.0 {
            format!("{s:.2} s")
        } else {
            format!("{:.1} ms", s * 1e3)
        }
    };
    for board in build::boards()? {
        let (_, layout) = build::board_layout(&board)?;
        let Some(clock) = layout.clock() else { continue };
        let m0 = layout.board().target.starts_with("thumbv6m");
        for (&(kind, kib), c) in m.boots.iter().filter(|((_, kib), _)| *kib <= 256) {
            let n = if m0 {
                c.to_handoff as f64
                    + c.signature_checks as f64 * (f.m0.verify as f64 - f.verify as f64)
                    + f64::from(kib) * (f.m0.hash_per_kib - m4_hash)
            } else {
                c.to_handoff as f64
            };
            println!(
                "| {board} | {} | {:.1} -> {:.1} MHz | {} | {} | {kib} KiB | {}{n:.0} | {} | {} |",
                if m0 { "Cortex-M0+" } else { "Cortex-M4F" },
                f64::from(clock.reset_hz) / 1e6,
                f64::from(clock.core_hz) / 1e6,
                clock.flash_wait_states.map_or("-".to_owned(), |w| w.to_string()),
                kind.name(),
                if m0 { "~" } else { "" },
                secs(n, clock.core_hz),
                secs(n, clock.reset_hz),
            );
        }
    }
    Ok(())
}

/// A table row: its label, its value for a boot, and whether a per-KiB figure means anything.
type Row = (&'static str, Box<dyn Fn(&BootCount) -> u64>, bool);

fn phase(c: &BootCount, p: Phase) -> u64 {
    c.phases.get(&p).copied().unwrap_or(0)
}

fn code(c: &BootCount, k: Code) -> u64 {
    c.code.get(&k).copied().unwrap_or(0)
}

/// A table of `rows` (label, value of a boot, whether a per-KiB figure means anything) over
/// the boots in `cols`, a per-KiB column (confirmed boots) and the total.
fn table(m: &Measured, cols: &[(Kind, u32)], rows: &[Row]) {
    print!("| |");
    for (k, kib) in cols {
        print!(" {} {kib} KiB |", if *k == Kind::Confirmed { "confirmed" } else { "trial" });
    }
    println!(" confirmed, per KiB of image |");
    println!("| --- |{}", " ---: |".repeat(cols.len() + 1));
    let per = |value: &dyn Fn(&BootCount) -> u64| {
        let v: BTreeMap<u32, u64> =
            m.boots.iter().filter(|((k, _), _)| *k == Kind::Confirmed).map(|((_, kib), c)| (*kib, value(c))).collect();
        per_kib(&v).map_or("-".into(), |x| format!("{x:.1}"))
    };
    for (label, value, scales) in rows {
        print!("| {label} |");
        for key in cols {
            print!(" {} |", m.boots.get(key).map_or(0, value));
        }
        // Each image carries its own signature, and ed25519 verification is variable-time:
        // the difference between two images' verifies is not a per-KiB cost.
        let cell = if *scales { per(value.as_ref()) } else { "- (per signature)".into() };
        println!(" {cell} |");
    }
    print!("| **total, reset to hand-off** |");
    for key in cols {
        print!(" **{}** |", m.boots.get(key).map_or(0, |c| c.to_handoff));
    }
    println!(" **{}** |", per(&|c: &BootCount| c.to_handoff));
}

/// Structural checks on a measurement (used by the test step; never timing): more image,
/// more instructions; a trial costs more than a confirmed boot of the same size (it
/// programs the record); every boot verifies at least one signature's worth of the floor.
pub fn check(m: &Measured) -> Result<()> {
    for kind in [Kind::Confirmed, Kind::Trial] {
        let mut last = 0;
        for &kib in &m.sizes {
            let c = m.boots.get(&(kind, kib)).context("missing boot")?;
            if c.to_handoff <= last {
                bail!("{kind:?} boot of {kib} KiB ({}) is not dearer than the smaller image ({last})", c.to_handoff);
            }
            last = c.to_handoff;
            ensure!(c.to_handoff > m.floor.verify, "{kind:?} {kib} KiB: fewer instructions than one verify");
            // The fault-injection hardening's second, independent signature check runs on
            // the stage that ships (one verified slot per measured boot: two checks).
            ensure!(
                c.signature_checks == 2,
                "{kind:?} {kib} KiB: {} signature checks, expected 2 (first and second check of one slot)",
                c.signature_checks
            );
            ensure!(code(c, Code::Hardening) > 0, "{kind:?} {kib} KiB: no fault-injection hardening code ran");
        }
    }
    // The Cortex-M0 lacks the M4's long multiply and DSP instructions: the same work takes
    // more instructions there (the Pico's estimate relies on both figures).
    ensure!(
        m.floor.m0.verify > m.floor.verify,
        "a Cortex-M0 verify ({}) is not dearer than a Cortex-M4 one ({})",
        m.floor.m0.verify,
        m.floor.verify
    );
    let m4_hash = per_kib(&m.floor.hash).context("floor per KiB")?;
    ensure!(
        m.floor.m0.hash_per_kib > m4_hash,
        "Cortex-M0 SHA-256 per KiB ({}) is not dearer than the Cortex-M4's ({m4_hash})",
        m.floor.m0.hash_per_kib
    );
    for kib in &m.sizes {
        let (c, t) = (&m.boots[&(Kind::Confirmed, *kib)], &m.boots[&(Kind::Trial, *kib)]);
        // Apart from the signature checks (ed25519 verification time depends on the
        // signature's scalars: two images' signatures differ by up to about 80 k
        // instructions, more than the record write), a trial costs more: it programs.
        let (ct, tt) = (c.to_handoff - phase(c, Phase::Signature), t.to_handoff - phase(t, Phase::Signature));
        ensure!(
            tt > ct,
            "{kib} KiB: the trial boot without its signature checks ({tt}) is not dearer than the confirmed one ({ct})"
        );
        ensure!(phase(t, Phase::RecordWrite) > 0, "{kib} KiB: trial boot wrote no record");
        ensure!(phase(c, Phase::RecordWrite) == 0, "{kib} KiB: the confirmed boot ran the journal append");
    }
    Ok(())
}
