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
//!    the pre- or post-retry state.

use std::vec::Vec;
use std::{format, println, string::String};

use crate::journal::{Journal, JournalConfig};
use crate::nor::WriteCount;
use crate::ops;
use crate::policy::{BootKind, Decision, ImageInfo, Inputs, Verdict};
use crate::reason::Reason;
use crate::record::Record;
use crate::select::{select, FreshRecord};
use crate::sim::{CutKind, SimConfig, SimFlash};
use crate::slot::{SlotId, Tries, MAX_SLOTS};
use crate::version::Version;

#[derive(Clone, Copy, Debug)]
enum Action {
    Boot,
    Confirm,
    Activate(SlotId, u8),
    MarkBad(SlotId),
    Image(SlotId, Option<Verdict>),
}

#[derive(Clone, Debug)]
struct World {
    images: [Option<Verdict>; MAX_SLOTS],
    /// The slot the last boot handed off to (what the app confirms).
    running: Option<SlotId>,
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
            let sel = select(&mut j, Inputs::default(), FreshRecord::default(), |_, s| {
                images[s.index()].unwrap_or(Verdict::Invalid(Reason::NoImage))
            });
            match sel {
                Ok(s) => match s.decision {
                    Decision::Boot(p) => Ok(DeviceAction::Booted(p.slot, p.kind)),
                    Decision::Recovery(_) => Ok(DeviceAction::Recovery),
                },
                Err(_) => Ok(DeviceAction::NoBootFlashError),
            }
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
        s.push(("rotation: update", Image(to, valid(4u8.saturating_add(i), 1)), None));
        s.push(("rotation: update", Activate(to, 2), None));
        s.push(("rotation: trial boot", Boot, Some(Booted(to, Trial))));
        s.push(("rotation: confirm", Confirm, None));
        s.push(("rotation: confirmed boot", Boot, Some(Booted(to, Confirmed))));
    }
    s
}

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
    // Invariant 6: a second cut during the retry of a boot.
    if depth == 0 && matches!(action, Action::Boot) {
        let retry_pre = got.clone();
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
                check_cut(name, geo, action, world, &retry_pre, &retry_post, earlier, &mut f, cfg, 1, states);
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
    let sim_cfg = SimConfig {
        size: region,
        write_size: geo.write_size,
        erase_size: geo.erase_size,
        write_count: geo.write_count,
    };
    let cfg = sim_cfg.whole_journal();
    let mut flash = SimFlash::new(sim_cfg).expect("sim config");
    let mut world = World { images: [None; MAX_SLOTS], running: None };
    let mut states = 0u64;
    let mut erases_seen = 0u64;
    for (name, action, expect) in script() {
        if let Action::Image(s, v) = action {
            world.images[s.index()] = v;
            continue;
        }
        let before = flash.clone();
        let pre = read(&mut flash, cfg);
        let base = flash.mutating_ops();
        let out = run(&mut flash, cfg, &world, action).unwrap_or_else(|e| panic!("{name}: {action:?}: {e}"));
        assert_eq!(out, expect.unwrap_or(DeviceAction::Done), "{name}: {action:?}");
        let running_after = match out {
            DeviceAction::Booted(s, _) => Some(s),
            _ => world.running,
        };
        let post = read(&mut flash, cfg);
        let ops_log: Vec<_> = flash.op_log()[base as usize..].to_vec();
        erases_seen += ops_log.iter().filter(|o| matches!(o, crate::sim::Op::Erase { .. })).count() as u64;
        for (k, op) in ops_log.iter().enumerate() {
            // Weak cells make later reads vary; the multi-fault campaign (`faults.rs`)
            // checks them with a model that allows for it.
            for kind in SimFlash::cut_variants(op, &sim_cfg).into_iter().filter(|k| !matches!(k, CutKind::Weak(_))) {
                let mut f = before.clone();
                f.arm_cut(base + k as u64, kind);
                let _ = run(&mut f, cfg, &world, action);
                assert!(f.is_dead(), "{name}: cut at op {k} ({kind:?}) did not fire");
                f.power_cycle();
                check_cut(name, geo, action, &world, &pre, &post, None, &mut f, cfg, 0, &mut states);
            }
        }
        world.running = running_after;
    }
    assert!(erases_seen >= 2, "scenario must rotate the journal (saw {erases_seen} erases)");
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

#[test]
fn power_cut_sweep_all_write_sizes() {
    let mut total = 0;
    for g in geometries(&[1, 2, 4, 8, 16, 32], &[256, 1024]) {
        let n = sweep(&g);
        total += n;
    }
    // Three sectors: the rotation wraps around a longer ring.
    total += sweep(&Geometry { write_size: 8, erase_size: 512, sectors: 3, write_count: WriteCount::Once });
    println!("power-cut sweep: {total} cut states checked, 0 violations");
    assert!(total > 10_000, "the sweep must check tens of thousands of states, got {total}");
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
    for (name, erase, g) in boards {
        let n = sweep(&g);
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
