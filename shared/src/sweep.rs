//! The power-cut proof: every scenario, every flash geometry, every operation, every
//! way the power can fail during it.
//!
//! A scenario is a script of device actions (boot, confirm, activate, mark bad) run
//! through the same code the boot stage and the agent run ([`select`], [`ops`] through
//! [`Journal::update`]). A first pass records the flash state before each action and
//! the record before and after it. Then, for every program and erase that action
//! performs and every cut variant the simulator offers for it (before, after, torn
//! prefixes, torn bit subsets, interrupted erases), the action is replayed on a copy of
//! the flash with power cut there; power comes back, and the invariants are checked:
//!
//! 1. the record read is exactly the pre-action or the post-action record;
//! 2. a confirmed slot is never lost (unless the action itself unconfirms it);
//! 3. tries never increase without an explicit activation;
//! 4. the anti-rollback floor never decreases;
//! 5. the device still boots something, and the journal keeps accepting writes: the
//!    action completes when retried, and a boot after it succeeds;
//! 6. for boots, a second cut during the retry (every op, three cut kinds) again leaves
//!    the pre- or post-retry state;
//! 7. the hardware anti-rollback counter (an OTP area in the sector after the journal,
//!    [`Thermometer`], advanced by a boot exactly as the boot stage does it:
//!    [`advance_target`], after the record is persisted) never reads lower than before
//!    the action and never above the highest security counter of a confirmed image, and
//!    the effective floor (record's and counter's) never decreases: for a cut at every
//!    program of the counter, including weak cells there, and for advances whose writes
//!    fail or are dropped. The script wipes the record region at its end: the old image
//!    it then finds is refused by the counter alone.

use std::vec::Vec;

use embedded_storage::nor_flash::NorFlash as _;
use std::{format, println, string::String};

use crate::counter::{advance_target, effective_floor, Thermometer};
use crate::journal::{Journal, JournalConfig};
use crate::nor::WriteCount;
use crate::ops;
use crate::policy::{BootKind, Decision, ImageInfo, Inputs, Verdict};
use crate::reason::Reason;
use crate::record::Record;
use crate::select::{select, FreshRecord};
use crate::sim::{CutKind, SimConfig, SimFlash, WriteFault};
use crate::slot::{SlotId, Tries, MAX_SLOTS};
use crate::version::Version;

#[derive(Clone, Copy, Debug)]
enum Action {
    Boot,
    Confirm,
    Activate(SlotId, u8),
    MarkBad(SlotId),
    Image(SlotId, Option<Verdict>),
    /// An attacker (or `init --force --allow-rollback`) erases the record region; not cut.
    Wipe,
}

#[derive(Clone, Debug)]
struct World {
    images: [Option<Verdict>; MAX_SLOTS],
    /// The slot the last boot handed off to (what the app confirms).
    running: Option<SlotId>,
    /// The hardware counter's OTP area (after the journal's sectors).
    otp: Thermometer,
    /// A fault of the counter's writes only (the journal's writes succeed).
    otp_fault: Option<WriteFault>,
}

impl World {
    /// The counter as a boot reads it (0 when unreadable, as the stage does).
    fn counter(&self, flash: &mut SimFlash) -> u32 {
        self.otp.read(flash).unwrap_or(0)
    }

    /// The highest security counter of any image: the counter never goes above it.
    fn max_counter(&self) -> u32 {
        self.images
            .iter()
            .filter_map(|v| match v {
                Some(Verdict::Valid(i)) => Some(i.security_counter),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}

fn valid(major: u8, sc: u32) -> Option<Verdict> {
    Some(Verdict::Valid(ImageInfo {
        version: Version { major, minor: 0, revision: 0, build: 0 },
        security_counter: sc,
        ..ImageInfo::default()
    }))
}

/// What the device ends up doing on a boot.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DeviceAction {
    Booted(SlotId, BootKind),
    Recovery,
    NoBootFlashError,
    Done,
}

fn run(flash: &mut SimFlash, cfg: JournalConfig, world: &World, action: Action) -> Result<DeviceAction, String> {
    let mut j = Journal::open(flash, cfg).map_err(|e| format!("open: {e:?}"))?;
    match action {
        Action::Boot => {
            let images = world.images;
            // As `safeslot_boot::run`: read the counter, decide on the effective floor,
            // persist, then advance the counter for an already confirmed slot.
            let hardware_floor = world.counter(j.flash_mut());
            let inputs = Inputs { hardware_floor, ..Inputs::default() };
            let sel = select(&mut j, inputs, FreshRecord::default(), |_, s| {
                images[s.index()].unwrap_or(Verdict::Invalid(Reason::NoImage))
            });
            match sel {
                Ok(s) => match s.decision {
                    Decision::Boot(p) => {
                        let sc = match images[p.slot.index()] {
                            Some(Verdict::Valid(i)) => i.security_counter,
                            _ => 0,
                        };
                        if let Some(to) = advance_target(p.kind, sc, hardware_floor) {
                            let flash = j.flash_mut();
                            flash.set_write_fault(world.otp_fault);
                            // A failure is the stage's log line; the boot goes on.
                            let _ = world.otp.advance(flash, to);
                            flash.set_write_fault(None);
                        }
                        Ok(DeviceAction::Booted(p.slot, p.kind))
                    }
                    Decision::Recovery(_) => Ok(DeviceAction::Recovery),
                },
                Err(_) => Ok(DeviceAction::NoBootFlashError),
            }
        }
        Action::Wipe => {
            let (from, to) = (cfg.offset, cfg.offset + cfg.size);
            j.flash_mut().erase(from, to).map(|_| DeviceAction::Done).map_err(|e| format!("{e:?}"))
        }
        Action::Confirm => match world.running {
            Some(slot) => {
                j.update(|r| ops::mark_good(r, slot)).map(|_| DeviceAction::Done).map_err(|e| format!("{e:?}"))
            }
            None => Err(String::from("confirm with nothing running")),
        },
        Action::Activate(s, t) => j
            .update(|r| ops::set_active(r, s, Tries::new(t).unwrap_or(Tries::DEFAULT)))
            .map(|_| DeviceAction::Done)
            .map_err(|e| format!("{e:?}")),
        Action::MarkBad(s) => {
            j.update(|r| ops::mark_bad(r, s)).map(|_| DeviceAction::Done).map_err(|e| format!("{e:?}"))
        }
        Action::Image(..) => Ok(DeviceAction::Done),
    }
}

/// The record and the hardware counter after power returns.
fn read_all(flash: &mut SimFlash, cfg: JournalConfig, world: &World) -> (Option<Record>, u32) {
    let r = read(flash, cfg);
    (r, world.counter(flash))
}

/// The floor the stage would apply: the record's and the counter's.
fn floor(r: &Option<Record>, counter: u32) -> u32 {
    effective_floor(r.as_ref().map_or(0, |r| r.rollback_floor), counter)
}

fn read(flash: &mut SimFlash, cfg: JournalConfig) -> Option<Record> {
    let j = Journal::open(flash, cfg).expect("open after power cycle");
    j.record().ok().cloned()
}

/// The scenario script: a fresh device, an update confirmed, an update that never
/// confirms, an update that does not verify, marks, and enough writes to rotate sectors.
fn script() -> Vec<(&'static str, Action, Option<DeviceAction>)> {
    use Action::*;
    use BootKind::{Confirmed, Trial};
    use DeviceAction::Booted;
    use SlotId::*;
    let mut s = std::vec![
        ("first boot on a blank record", Image(A, valid(1, 0)), None),
        ("first boot on a blank record", Boot, Some(Booted(A, Trial))),
        ("confirm", Confirm, None),
        ("confirmed boot", Boot, Some(Booted(A, Confirmed))),
        ("set_active of an update", Image(B, valid(2, 1)), None),
        ("set_active of an update", Activate(B, 3), None),
        ("first boot of the new slot", Boot, Some(Booted(B, Trial))),
        ("trial boot", Boot, Some(Booted(B, Trial))),
        ("confirm", Confirm, None),
        ("confirmed boot", Boot, Some(Booted(B, Confirmed))),
        ("set_active of an update", Image(A, valid(3, 1)), None),
        ("set_active of an update", Activate(A, 2), None),
        ("trial boot", Boot, Some(Booted(A, Trial))),
        ("trial boot", Boot, Some(Booted(A, Trial))),
        ("tries exhausted -> fallback", Boot, Some(Booted(B, Confirmed))),
        ("confirmed boot", Boot, Some(Booted(B, Confirmed))),
        ("bad image -> fallback", Image(A, Some(Verdict::Invalid(Reason::BadSignature))), None),
        ("set_active of an update", Activate(A, 3), None),
        ("bad image -> fallback", Boot, Some(Booted(B, Confirmed))),
        ("mark bad", MarkBad(A), None),
    ];
    // Enough update cycles to rotate the journal through every sector several times.
    for i in 0..6u8 {
        let to = if i % 2 == 0 { A } else { B };
        s.push(("rotation: update", Image(to, valid(4u8.saturating_add(i), 2 + u32::from(i))), None));
        s.push(("rotation: update", Activate(to, 2), None));
        s.push(("rotation: trial boot", Boot, Some(Booted(to, Trial))));
        s.push(("rotation: confirm", Confirm, None));
        s.push(("rotation: confirmed boot", Boot, Some(Booted(to, Confirmed))));
    }
    // The attack of issue #16: the record region wiped (the floor in the record is gone)
    // and an old, validly signed image in A. The fresh record's trial of A is refused by
    // the hardware counter (7, from B's confirmed boot) and B boots as a last resort.
    s.push(("record wiped", Wipe, None));
    s.push(("record wiped", Image(A, valid(1, 0)), None));
    s.push(("wiped record: old image refused", Boot, Some(Booted(B, BootKind::LastResort))));
    s.push(("after the wipe", Boot, Some(Booted(B, BootKind::LastResort))));
    s
}

#[derive(Clone, Debug)]
struct Geometry {
    write_size: usize,
    erase_size: usize,
    sectors: usize,
    write_count: WriteCount,
}

#[allow(clippy::too_many_arguments)] // one call site, each argument a distinct piece of the check's context
fn check_cut(
    name: &str,
    geo: &Geometry,
    action: Action,
    world: &World,
    pre: &Option<Record>,
    post: &Option<Record>,
    earlier: Option<&Option<Record>>,
    pre_counter: u32,
    recovered: &mut SimFlash,
    cfg: JournalConfig,
    depth: u32,
    states: &mut u64,
) {
    *states += 1;
    let ctx = || {
        format!(
            "{name}: {action:?} w={} e={} n={} writes={:?}",
            geo.write_size, geo.erase_size, geo.sectors, geo.write_count
        )
    };
    let got = read(recovered, cfg);
    // Invariant 1: pre or post, exactly; or, for a retry that started from a state the
    // first cut left unacknowledged (never relied on: nothing was handed off), the state
    // before that.
    let is_earlier = earlier.is_some_and(|e| got == *e);
    assert!(
        got == *pre || got == *post || is_earlier,
        "{}: state is neither pre nor post\n got {got:?}\n pre {pre:?}\n post {post:?}",
        ctx()
    );
    if let (Some(p), Some(g), false) = (pre, &got, is_earlier) {
        for id in p.slot_ids() {
            let (ps, gs) = (p.slot(id).unwrap(), g.slot(id).unwrap());
            // Invariant 2: a confirmed slot is never lost (unless the action unconfirms it).
            let unconfirms = matches!(action, Action::MarkBad(s) | Action::Activate(s, _) if s == id)
                || (matches!(action, Action::Boot)
                    && world.images[id.index()].is_none_or(|v| matches!(v, Verdict::Invalid(_))));
            if ps.confirmed && !unconfirms {
                assert!(gs.confirmed, "{}: confirmed slot {id} lost", ctx());
            }
            // Invariant 3: tries never increase without an activation.
            if !matches!(action, Action::Activate(s, _) if s == id) {
                assert!(gs.tries <= ps.tries, "{}: tries of {id} increased", ctx());
            }
        }
        // Invariant 4: the floor never decreases.
        assert!(g.rollback_floor >= p.rollback_floor, "{}: floor decreased", ctx());
    }
    // Invariant 7: the hardware counter never goes down nor beyond a confirmed image's
    // counter (weak cells may read differently each time: every read is checked), and the
    // effective floor never decreases.
    for _ in 0..3 {
        let hw = world.counter(recovered);
        assert!(hw >= pre_counter, "{}: hardware counter {hw} below {pre_counter}", ctx());
        assert!(hw <= world.max_counter(), "{}: hardware counter {hw} overshoots", ctx());
        if !is_earlier {
            assert!(floor(&got, hw) >= floor(pre, pre_counter), "{}: effective floor decreased", ctx());
        }
    }
    // Invariant 6: a second cut during the retry of a boot.
    if depth == 0 && matches!(action, Action::Boot) {
        let retry_pre = got.clone();
        let retry_counter = world.counter(recovered);
        let solid = Journal::open(&mut recovered.clone(), cfg).is_ok_and(|j| j.head_is_solid());
        let earlier = (!solid).then_some(pre);
        let mut probe = recovered.clone();
        let base = probe.mutating_ops();
        run(&mut probe, cfg, world, action).expect("retry runs");
        let retry_post = read(&mut probe, cfg);
        let n = probe.mutating_ops() - base;
        for k in 0..n {
            for kind in [CutKind::Before, CutKind::TornPrefix(0), CutKind::After] {
                let mut f = recovered.clone();
                f.arm_cut(base + k, kind);
                let _ = run(&mut f, cfg, world, action);
                f.power_cycle();
                check_cut(
                    name,
                    geo,
                    action,
                    world,
                    &retry_pre,
                    &retry_post,
                    earlier,
                    retry_counter,
                    &mut f,
                    cfg,
                    1,
                    states,
                );
            }
        }
    }
    // Invariant 5: the journal keeps working and the device boots.
    if depth == 0 {
        let mut f = recovered.clone();
        run(&mut f, cfg, world, action).unwrap_or_else(|e| panic!("{}: retry failed: {e}", ctx()));
        let out = run(&mut f, cfg, world, Action::Boot).unwrap_or_else(|e| panic!("{}: boot failed: {e}", ctx()));
        assert!(matches!(out, DeviceAction::Booted(..)), "{}: nothing boots after recovery: {out:?}", ctx());
        assert!(read(&mut f, cfg).is_some(), "{}: no record after recovery", ctx());
    }
}

/// Runs the scenario over one geometry; returns the number of cut states checked.
fn sweep(geo: &Geometry) -> u64 {
    let region = geo.erase_size * geo.sectors;
    // The journal's sectors, then one sector of "OTP" for the hardware counter: the journal
    // never erases it, and the counter only programs it.
    let sim_cfg = SimConfig {
        size: region + geo.erase_size,
        write_size: geo.write_size,
        erase_size: geo.erase_size,
        write_count: geo.write_count,
    };
    let cfg = JournalConfig { size: region as u32, ..sim_cfg.whole_journal() };
    let units = (geo.erase_size / geo.write_size).min(16);
    let otp = Thermometer::new(region as u32, (units * geo.write_size) as u32, geo.write_size as u32).expect("otp");
    let mut flash = SimFlash::new(sim_cfg).expect("sim config");
    let mut world = World { images: [None; MAX_SLOTS], running: None, otp, otp_fault: None };
    let mut states = 0u64;
    let mut erases_seen = 0u64;
    let in_otp = |op: &crate::sim::Op| matches!(op, crate::sim::Op::Program { offset, .. } if *offset >= region as u32);
    for (name, action, expect) in script() {
        if let Action::Image(s, v) = action {
            world.images[s.index()] = v;
            continue;
        }
        let before = flash.clone();
        let (pre, pre_counter) = read_all(&mut flash, cfg, &world);
        let base = flash.mutating_ops();
        let out = run(&mut flash, cfg, &world, action).unwrap_or_else(|e| panic!("{name}: {action:?}: {e}"));
        assert_eq!(out, expect.clone().unwrap_or(DeviceAction::Done), "{name}: {action:?}");
        let running_after = match out {
            DeviceAction::Booted(s, _) => Some(s),
            _ => world.running,
        };
        let (post, post_counter) = read_all(&mut flash, cfg, &world);
        if matches!(action, Action::Wipe) {
            // The attack itself is not cut; what follows it is.
            world.running = running_after;
            continue;
        }
        let ops_log: Vec<_> = flash.op_log()[base as usize..].to_vec();
        erases_seen += ops_log.iter().filter(|o| matches!(o, crate::sim::Op::Erase { .. })).count() as u64;
        for (k, op) in ops_log.iter().enumerate() {
            // Weak cells make later reads vary; the multi-fault campaign (`faults.rs`)
            // checks them in the journal with a model that allows for it. In the counter's
            // area they are checked here: the journal reads the same whatever they read.
            let variants = SimFlash::cut_variants(op, &sim_cfg).into_iter();
            for kind in variants.filter(|k| in_otp(op) || !matches!(k, CutKind::Weak(_))) {
                let mut f = before.clone();
                f.arm_cut(base + k as u64, kind);
                let _ = run(&mut f, cfg, &world, action);
                assert!(f.is_dead(), "{name}: cut at op {k} ({kind:?}) did not fire");
                f.power_cycle();
                check_cut(name, geo, action, &world, &pre, &post, None, pre_counter, &mut f, cfg, 0, &mut states);
            }
        }
        // A boot that advanced the counter, with the counter's writes failing or silently
        // dropped: the boot still happens, the record is the same, the counter is where it
        // was, and the next confirmed boot advances it.
        if post_counter > pre_counter {
            for fault in [WriteFault::Error, WriteFault::Drop] {
                let mut f = before.clone();
                let faulty = World { otp_fault: Some(fault), ..world.clone() };
                let out = run(&mut f, cfg, &faulty, action).expect("boot with a failing counter");
                assert_eq!(out, expect.clone().unwrap_or(DeviceAction::Done), "{name}: {fault:?}");
                check_cut(name, geo, action, &world, &pre, &post, None, pre_counter, &mut f, cfg, 1, &mut states);
                assert_eq!(read_all(&mut f, cfg, &world), (post.clone(), pre_counter), "{name}: {fault:?}");
                run(&mut f, cfg, &world, Action::Boot).expect("next boot");
                assert_eq!(world.counter(&mut f), post_counter, "{name}: {fault:?}: not advanced later");
            }
        }
        world.running = running_after;
    }
    assert!(erases_seen >= 2, "scenario must rotate the journal (saw {erases_seen} erases)");
    assert_eq!(world.counter(&mut flash), 7, "the counter followed the confirmed images");
    states
}

fn geometries(write_sizes: &[usize], erase_sizes: &[usize]) -> Vec<Geometry> {
    let mut v = Vec::new();
    for &w in write_sizes {
        for &e in erase_sizes {
            for write_count in [WriteCount::Unlimited, WriteCount::Once, WriteCount::Twice] {
                v.push(Geometry { write_size: w, erase_size: e, sectors: 2, write_count });
            }
        }
    }
    v
}

/// Runs [`sweep`] over `geos` on every core ([`std::thread::scope`]); the counts in order.
fn sweep_parallel(geos: &[Geometry]) -> Vec<u64> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(geos.len()).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let counts: Vec<std::sync::atomic::AtomicU64> = geos.iter().map(|_| std::sync::atomic::AtomicU64::new(0)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(g) = geos.get(i) else { break };
                counts[i].store(sweep(g), std::sync::atomic::Ordering::Relaxed);
            });
        }
    });
    counts.into_iter().map(std::sync::atomic::AtomicU64::into_inner).collect()
}

/// Every write size the NOR rules allow (1-32 B), two erase sizes, each write-count rule,
/// and a three-sector ring: at least 100,000 cut states, checked on every core.
#[test]
fn power_cut_sweep_all_write_sizes() {
    let mut geos = geometries(&[1, 2, 4, 8, 16, 32], &[256, 1024]);
    // Three sectors: the rotation wraps around a longer ring.
    geos.push(Geometry { write_size: 8, erase_size: 512, sectors: 3, write_count: WriteCount::Once });
    let total: u64 = sweep_parallel(&geos).iter().sum();
    println!("power-cut sweep: {total} cut states checked over {} geometries, 0 violations", geos.len());
    assert!(total >= 100_000, "the sweep must check at least 100,000 cut states, got {total}");
}

/// Scaled-down erase size for boards whose sectors are too large to rotate through in a
/// sweep (the 256 KiB CFI blocks of the SoC board hold 1,927 entries each): the journal's
/// logic depends on the erase size only through entries per sector, and 256 KiB sectors
/// are filled, rotated and reopened by the journal's own unit test.
const SWEEP_MAX_ERASE: usize = 4096;

/// The chips we ship for, read from every board's `layout.toml` (write size, erase size,
/// program-once rule, record sectors), so a new board is covered without editing this
/// test: nRF52840 (4-byte words, 4 KiB pages), STM32L4 (8-byte ECC double-words
/// programmed once, 2 KiB pages), RP2040's QSPI NOR as the journal uses it, the virtual
/// boards.
#[test]
fn power_cut_sweep_board_geometries() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards");
    let mut boards = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("boards/") {
        let path = entry.expect("dir entry").path().join("layout.toml");
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let t: toml::Table = text.parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let int = |table: &str, key: &str| {
            t[table][key].as_integer().unwrap_or_else(|| panic!("{}: {table}.{key}", path.display())) as usize
        };
        let erase = int("flash", "erase_size");
        let g = Geometry {
            write_size: int("flash", "write_size"),
            erase_size: erase.min(SWEEP_MAX_ERASE),
            sectors: int("record", "size") / erase,
            // `[flash] word_writes`, or the older `program_once` (the layout crate
            // validates which; shared cannot depend on it).
            write_count: match (t["flash"].get("word_writes").and_then(|v| v.as_str()), t["flash"].get("program_once"))
            {
                (Some("once"), _) => WriteCount::Once,
                (Some("twice"), _) => WriteCount::Twice,
                (Some(_), _) => WriteCount::Unlimited,
                (None, once) => WriteCount::from_program_once(
                    once.and_then(toml::Value::as_bool)
                        .unwrap_or_else(|| panic!("{}: flash.program_once", path.display())),
                ),
            },
        };
        let name = std::string::String::from(t["board"]["name"].as_str().expect("board.name"));
        boards.push((name, erase, g));
    }
    boards.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!boards.is_empty(), "expected the board layouts under {}", dir.display());
    let geos: Vec<Geometry> = boards.iter().map(|b| b.2.clone()).collect();
    for ((name, erase, g), n) in boards.into_iter().zip(sweep_parallel(&geos)) {
        let scaled = if erase > g.erase_size {
            format!(" (erase {erase} B swept as {} B)", g.erase_size)
        } else {
            String::new()
        };
        println!(
            "power-cut sweep [{name}: write {} B, {:?} per word, {} sectors{scaled}]: {n} cut states checked, 0 violations",
            g.write_size, g.write_count, g.sectors
        );
        assert!(n > 500, "{name}: too few states ({n})");
    }
}
