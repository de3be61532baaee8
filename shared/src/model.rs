//! Model-based test of the journal, the policy and the record operations together.
//!
//! Random sequences of device actions (boots with random per-slot verdicts, the recovery
//! input, reset cause and free-retry bound, mark good, mark bad, set active) run through the real code
//! ([`select`], [`Journal::update`] with [`ops`]) on a [`SimFlash`] of random geometry,
//! some of them with a power cut at a random operation of the action and a random
//! [`CutKind`] from [`SimFlash::cut_variants`]. The reference model is the pure in-memory
//! [`Record`] (`None` while the region is blank), changed by the same policy and
//! operations with no flash at all:
//!
//! * without a cut, the journal's record equals the model's exactly, and the boot
//!   decision is the model's;
//! * with a cut, the journal's record is the model's pre- or post-state, exactly (the
//!   action either happened or did not). A cut can leave weak cells, so until the next
//!   write completes, later reads may return either: the model keeps the *set* of states
//!   a read may return, and every read must be one of them; a completed write makes the
//!   state certain again. The one widening: a region with no record (blank) may be left
//!   without one in the other form (a torn first write reads as garbage); the model then
//!   follows `select`'s documented handling of a corrupt region (a fresh record
//!   remembering `record-reset`).
//!
//! A third kind of step flips one bit of the region anywhere (bit rot, a disturbed
//! cell): from then on, a read may return any state the region ever held, or no record
//! at all (which `select` turns into an explicit fresh record); never an invented one.
//! Two ways back exist: the journal falls back to an older entry when the newest one is
//! damaged, and a later write that recreates the damaged entry byte for byte (same
//! sequence number, same record, so same CRC) makes an unacknowledged entry that extended
//! it current again (found by this model; `docs/DESIGN.md`, "Open points found while testing"). A run flips at
//! most [`MAX_FLIPS`] bits: CRC-32 detects every error of up to three bits in an entry, so
//! a fourth could, in principle, forge one.
//!
//! In the spirit of sequential-storage `fuzz/fuzz_targets/queue.rs` (ops + reference
//! model): run as a proptest so it is part of `cargo test` (64 cases, ≤ 40 actions), and
//! from arbitrary bytes ([`run_bytes`]) by the `model` fuzz target (`fuzz/`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::format;
use std::string::String;
use std::vec::Vec;

#[cfg(test)]
use proptest::prelude::*;

use crate::error::Error;
use crate::journal::{Found, Journal, JournalConfig};
use crate::nor::WriteCount;
use crate::ops;
use crate::policy::{decide, Decision, ImageInfo, Inputs, Verdict};
use crate::reason::Reason;
use crate::record::Record;
use crate::reset::ResetCause;
use crate::select::{select, FreshRecord};
use crate::sim::{SimConfig, SimFlash};
use crate::slot::{SlotId, Tries, MAX_SLOTS};
use crate::version::Version;

#[derive(Clone, Copy, Debug)]
enum Action {
    Boot {
        verdicts: [Verdict; MAX_SLOTS],
        /// Recovery input, reset cause and the free-retry bound.
        inputs: Inputs,
    },
    /// Confirm the slot that runs (the last boot's hand-off), if one runs.
    MarkGood,
    MarkBad(SlotId),
    SetActive(SlotId, Tries),
    /// Flip bit `bit % 8` of the byte at `offset % region size` (not cut).
    Flip {
        offset: u32,
        bit: u8,
    },
}

/// Bit flips a run applies at most (later ones are skipped).
pub const MAX_FLIPS: u32 = 3;

/// Most power cuts [`run_bytes`] decodes (later ones are dropped). Until a write
/// completes, every cut can double the set of states a read may return; this bounds the
/// set and a run's time (the `model` fuzz target hung on an input with dozens of cuts in a
/// row).
pub const MAX_CUTS: usize = 8;

/// A power cut during an action: which of its mutating operations (modulo their
/// count) and which of that operation's cut variants (modulo their count).
#[derive(Clone, Copy, Debug)]
struct Cut {
    op: u8,
    variant: u8,
}

#[derive(Clone, Copy, Debug)]
struct Geometry {
    write_size: usize,
    erase_size: usize,
    sectors: usize,
    write_count: WriteCount,
    slots: u8,
}

#[cfg(test)]
fn arb_verdict() -> impl Strategy<Value = Verdict> {
    let image_fault = prop_oneof![
        Just(Reason::NoImage),
        Just(Reason::BadHeader),
        Just(Reason::BadSignature),
        Just(Reason::BadHash),
        Just(Reason::UnknownKey),
        Just(Reason::FlashError),
    ];
    prop_oneof![
        4 => (0u8..3, 0u32..3).prop_map(|(major, sc)| Verdict::Valid(ImageInfo {
            version: Version { major, minor: 0, revision: 0, build: 0 },
            security_counter: sc,
            ..ImageInfo::default()
        })),
        1 => image_fault.prop_map(Verdict::Invalid),
    ]
}

#[cfg(test)]
fn arb_slot() -> impl Strategy<Value = SlotId> {
    (0u8..4).prop_map(|i| SlotId::from_index(i).unwrap())
}

#[cfg(test)]
fn arb_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        5 => (proptest::array::uniform4(arb_verdict()), proptest::bool::weighted(0.1), 0u8..=6, 0u8..=2)
            .prop_map(|(verdicts, recovery, cause, free_retries)| Action::Boot {
                verdicts,
                inputs: Inputs {
                    recovery,
                    reset_cause: ResetCause::from_u8(cause).unwrap(),
                    free_retries,
                    refuse_downgrade: false,
                    hardware_floor: 0,
                    hardware_key_floor: 0,
                },
            }),
        3 => Just(Action::MarkGood),
        1 => arb_slot().prop_map(Action::MarkBad),
        2 => (arb_slot(), 0u8..=15).prop_map(|(s, t)| Action::SetActive(s, Tries::new(t).unwrap())),
        1 => (any::<u32>(), any::<u8>()).prop_map(|(offset, bit)| Action::Flip { offset, bit }),
    ]
}

#[cfg(test)]
fn arb_geometry() -> impl Strategy<Value = Geometry> {
    (
        proptest::sample::select(std::vec![1usize, 2, 4, 8, 16, 32]),
        proptest::sample::select(std::vec![256usize, 512]),
        2usize..=3,
        proptest::sample::select(std::vec![WriteCount::Once, WriteCount::Twice, WriteCount::Unlimited]),
        2u8..=4,
    )
        .prop_map(|(write_size, erase_size, sectors, write_count, slots)| Geometry {
            write_size,
            erase_size,
            sectors,
            write_count,
            slots,
        })
}

#[cfg(test)]
fn arb_step() -> impl Strategy<Value = (Action, Option<Cut>)> {
    (
        arb_action(),
        proptest::option::weighted(0.25, (any::<u8>(), any::<u8>()).prop_map(|(op, variant)| Cut { op, variant })),
    )
}

/// What the record region holds, as far as the model is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Never written.
    Blank,
    /// Written but without a valid entry: only a power cut during the very first write
    /// of a blank (or garbage) region can leave this.
    NoValidRecord,
    /// The newest valid record.
    Valid(Record),
}

impl State {
    fn has_record(&self) -> bool {
        matches!(self, State::Valid(_))
    }
}

/// The reference model: what the region must hold after `action`, from `pre` alone.
/// A refused operation leaves the state as it is (and the journal writes nothing).
fn model_step(pre: &State, fresh: FreshRecord, action: Action, running: Option<SlotId>) -> (State, Option<Decision>) {
    match action {
        Action::Boot { verdicts, inputs } => {
            let current = match pre {
                State::Valid(r) => r.clone(),
                State::Blank => fresh.record(false),
                // As `select` documents: a corrupt region is remembered as record-reset.
                State::NoValidRecord => fresh.record(true),
            };
            let d = decide(&current, inputs, |s| verdicts[s.index()]);
            let rec = match &d {
                Decision::Boot(p) => p.record.clone(),
                Decision::Recovery(n) => n.record.clone(),
            };
            (State::Valid(rec), Some(d))
        }
        // Handled by `run`: it checks the read against every state the region held.
        Action::Flip { .. } => (pre.clone(), None),
        Action::MarkGood | Action::MarkBad(_) | Action::SetActive(..) => {
            let State::Valid(r) = pre else { return (pre.clone(), None) };
            let mut next = r.clone();
            let res = match action {
                Action::MarkGood => match running {
                    Some(s) => ops::mark_good(&mut next, s),
                    None => return (pre.clone(), None),
                },
                Action::MarkBad(s) => ops::mark_bad(&mut next, s),
                Action::SetActive(s, t) => ops::set_active(&mut next, s, t),
                Action::Boot { .. } | Action::Flip { .. } => return (pre.clone(), None),
            };
            match res {
                Ok(()) => (State::Valid(next), None),
                Err(_) => (pre.clone(), None),
            }
        }
    }
}

/// Runs `action` through the real code on `flash`.
fn device_step(
    flash: &mut SimFlash,
    cfg: JournalConfig,
    fresh: FreshRecord,
    action: Action,
    running: Option<SlotId>,
) -> Result<Option<Decision>, String> {
    let mut j = Journal::open(flash, cfg).map_err(|e| format!("open: {e:?}"))?;
    let res = match action {
        Action::Boot { verdicts, inputs } => {
            return select(&mut j, inputs, fresh, |_, s| verdicts[s.index()])
                .map(|s| Some(s.decision))
                .map_err(|e| format!("select: {e:?}"))
        }
        Action::MarkGood => match running {
            Some(slot) => j.update(|r| ops::mark_good(r, slot)),
            None => return Ok(None),
        },
        Action::MarkBad(s) => j.update(|r| ops::mark_bad(r, s)),
        Action::SetActive(s, t) => j.update(|r| ops::set_active(r, s, t)),
        Action::Flip { .. } => return Ok(None),
    };
    match res {
        Ok(_) | Err(Error::Op(_) | Error::Blank | Error::NoValidRecord) => Ok(None),
        Err(e) => Err(format!("update: {e:?}")),
    }
}

fn read(flash: &mut SimFlash, cfg: JournalConfig) -> Result<State, String> {
    let j = Journal::open(flash, cfg).map_err(|e| format!("open after power cycle: {e:?}"))?;
    Ok(match j.found() {
        Found::Blank => State::Blank,
        Found::NoValidRecord => State::NoValidRecord,
        Found::Valid(_) => State::Valid(j.record().map_err(|e| format!("{e:?}"))?.clone()),
    })
}

/// What a run went through (for the fixed runs to check that cuts really happened).
#[derive(Debug, Default)]
struct Tally {
    cuts: u32,
    flips: u32,
    kept_pre: u32,
    took_post: u32,
    erases: u64,
}

/// Adds `s` to the set `set` (a `Vec`: states are few and not `Hash`).
fn add(set: &mut Vec<State>, s: State) {
    if !set.contains(&s) {
        set.push(s);
    }
}

/// Runs `steps` through the real code and the model side by side on a fresh region of
/// geometry `geo`; the first disagreement is the error.
fn run(geo: Geometry, steps: &[(Action, Option<Cut>)]) -> Result<Tally, String> {
    let mut tally = Tally::default();
    let region = geo.erase_size * geo.sectors;
    let sim_cfg = SimConfig {
        size: region,
        write_size: geo.write_size,
        erase_size: geo.erase_size,
        write_count: geo.write_count,
    };
    let cfg = sim_cfg.whole_journal();
    let fresh = FreshRecord::for_slots(geo.slots);
    let mut flash = SimFlash::new(sim_cfg).map_err(|e| format!("{geo:?}: {e:?}"))?;
    // The states a read may return, and the slot that runs (from the last hand-off).
    let mut model: Vec<State> = std::vec![State::Blank];
    // Every state the region may ever have held: what a read may return after a bit flip.
    let mut history: Vec<State> = std::vec![State::Blank, State::NoValidRecord];
    let mut running: Option<SlotId> = None;
    for (i, &(action, cut)) in steps.iter().enumerate() {
        if let Action::Flip { offset, bit } = action {
            if tally.flips >= MAX_FLIPS {
                continue;
            }
            tally.flips += 1;
            let at = offset as usize % region;
            flash.bytes_mut()[at] ^= 1 << (bit % 8);
            let rec = read(&mut flash, cfg).map_err(|e| format!("step {i} {action:?}: {e}"))?;
            if !history.contains(&rec) {
                return Err(format!(
                    "step {i} {action:?}: the flip invented a record\n got {rec:?}\n held {history:?}"
                ));
            }
            // Go on from what the device now holds (tracking every state of `history` as
            // possible would grow the model exponentially); `history` keeps the oracle.
            model = std::vec![rec];
            continue;
        }
        // A region without a record may read in either form (the widening in the module's
        // doc): an action may start from either (found by the `model` fuzz target: a boot
        // from a half-erased region that read blank while the model held only garbage).
        if model.iter().any(|m| !m.has_record()) {
            for form in [State::Blank, State::NoValidRecord] {
                add(&mut model, form);
            }
        }
        let outs: Vec<(State, Option<Decision>)> =
            model.iter().map(|m| model_step(m, fresh, action, running)).collect();
        for o in &outs {
            add(&mut history, o.0.clone());
        }
        let base = flash.mutating_ops();
        // Where to cut: learn the action's operations from a dry run on a copy.
        let armed = cut.and_then(|c| {
            let mut dry = flash.clone();
            let _ = device_step(&mut dry, cfg, fresh, action, running);
            let n = dry.mutating_ops() - base;
            if n == 0 {
                return None;
            }
            let k = u64::from(c.op) % n;
            let variants = dry.cut_variants_at(base + k);
            let kind = variants[usize::from(c.variant) % variants.len()];
            Some((base + k, kind))
        });
        match armed {
            None => {
                let got = device_step(&mut flash, cfg, fresh, action, running)
                    .map_err(|e| format!("step {i} {action:?}: {e}"))?;
                let wrote = flash.mutating_ops() > base;
                let rec = read(&mut flash, cfg).map_err(|e| format!("step {i}: {e}"))?;
                if tally.flips > 0 {
                    // After a flip, any state the region held may come back (see the
                    // module's doc): the read must be one of them, never an invented one.
                    if !history.contains(&rec) {
                        return Err(format!("step {i} {action:?} after a flip: invented record\n got {rec:?}"));
                    }
                    if let Some(Decision::Boot(p)) = got {
                        running = Some(p.slot);
                    }
                    model = std::vec![rec];
                    continue;
                }
                let Some((post, decision)) = outs.iter().find(|(p, d)| *p == rec && *d == got) else {
                    return Err(format!(
                        "step {i} {action:?}: journal and model disagree\n got {rec:?} / {got:?}\n model {outs:?}"
                    ));
                };
                if let Some(Decision::Boot(p)) = decision {
                    running = Some(p.slot);
                }
                // Nothing written: the flash is unchanged, so a later read may still return any
                // state it could before (a weak entry may read either way), including one on
                // which the action would have written (found by the `model` fuzz target).
                if wrote {
                    model = std::vec![post.clone()];
                }
            }
            Some((at, kind)) => {
                flash.arm_cut(at, kind);
                let _ = device_step(&mut flash, cfg, fresh, action, running);
                if !flash.is_dead() {
                    return Err(format!("step {i}: the cut at op {at} did not fire"));
                }
                flash.power_cycle();
                if matches!(action, Action::Boot { .. }) {
                    running = None; // the stage was cut: nothing was handed off
                }
                let rec = read(&mut flash, cfg).map_err(|e| format!("step {i} cut {kind:?}: {e}"))?;
                // (A region without a record may stay without one in either form: `model`
                // already holds both, see above.)
                let is_pre = model.contains(&rec);
                let is_post = outs.iter().any(|o| o.0 == rec);
                // After a flip, any state the region held may come back (see the module's doc).
                let held = tally.flips > 0 && history.contains(&rec);
                if !(is_pre || is_post || held) {
                    return Err(format!(
                        "step {i} {action:?}, cut at op {} ({kind:?}): record is neither pre nor post\n got  {rec:?}\n pre  {model:?}\n post {outs:?}",
                        at - base
                    ));
                }
                tally.cuts += 1;
                if is_post && !is_pre {
                    tally.took_post += 1;
                } else {
                    tally.kept_pre += 1;
                }
                for o in outs.into_iter().map(|o| o.0).chain([rec]) {
                    add(&mut model, o.clone());
                    add(&mut history, o);
                }
            }
        }
    }
    tally.erases = flash.stats().erases;
    Ok(tally)
}

/// A cursor over fuzz input: each read takes the next byte (0 once they run out).
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn slot(&mut self) -> SlotId {
        SlotId::from_index(self.u8() % 4).unwrap()
    }
    fn verdict(&mut self) -> Verdict {
        let b = self.u8();
        let fault = [
            Reason::NoImage,
            Reason::BadHeader,
            Reason::BadSignature,
            Reason::BadHash,
            Reason::UnknownKey,
            Reason::FlashError,
        ];
        match b % 5 {
            0 => Verdict::Invalid(fault[usize::from(b / 5) % fault.len()]),
            _ => Verdict::Valid(ImageInfo {
                version: Version { major: (b >> 3) % 3, minor: 0, revision: 0, build: 0 },
                security_counter: u32::from(b >> 5) % 3,
                ..ImageInfo::default()
            }),
        }
    }
}

/// The longest run [`run_bytes`] decodes (longer inputs are cut off there).
pub const MAX_STEPS: usize = 64;

/// Decodes arbitrary bytes into a geometry and up to [`MAX_STEPS`] steps (device actions,
/// some with a power cut, bit flips) and runs them through the real code and the model
/// side by side ([`run`]): the `model` fuzz target. `Err` is a violation, described.
///
/// # Errors
///
/// The first disagreement between the journal and the model.
pub fn run_bytes(data: &[u8]) -> Result<(), String> {
    let mut b = Bytes(data);
    let g = b.u8();
    let geo = Geometry {
        write_size: [1, 2, 4, 8, 16, 32][usize::from(g % 6)],
        erase_size: [256, 512][usize::from(g / 6 % 2)],
        sectors: 2 + usize::from(g / 12 % 2),
        write_count: [WriteCount::Once, WriteCount::Twice, WriteCount::Unlimited][usize::from(g / 24 % 3)],
        slots: 2 + b.u8() % 3,
    };
    let mut steps = Vec::new();
    while !b.0.is_empty() && steps.len() < MAX_STEPS {
        let k = b.u8();
        let action = match k % 12 {
            0..=4 => {
                let verdicts = [b.verdict(), b.verdict(), b.verdict(), b.verdict()];
                let flags = b.u8();
                Action::Boot {
                    verdicts,
                    inputs: Inputs {
                        recovery: flags & 0x80 != 0,
                        reset_cause: ResetCause::from_u8(flags % 7).unwrap_or_default(),
                        free_retries: (flags >> 3) % 3,
                        refuse_downgrade: false,
                        hardware_floor: 0,
                        hardware_key_floor: 0,
                    },
                }
            }
            5..=7 => Action::MarkGood,
            8 => Action::MarkBad(b.slot()),
            9 | 10 => Action::SetActive(b.slot(), Tries::new(b.u8() % 16).unwrap()),
            _ => Action::Flip { offset: b.u32(), bit: b.u8() },
        };
        // The high bit of the kind byte asks for a power cut during the action.
        let cut = (k & 0x80 != 0).then(|| Cut { op: b.u8(), variant: b.u8() });
        let cuts = steps.iter().filter(|(_, c): &&(Action, Option<Cut>)| c.is_some()).count();
        steps.push((action, cut.filter(|_| cuts < MAX_CUTS)));
    }
    run(geo, &steps).map(|_| ())
}

#[cfg(test)]
proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn journal_matches_the_in_memory_model(geo in arb_geometry(), steps in proptest::collection::vec(arb_step(), 1..=40)) {
        run(geo, &steps).map_err(TestCaseError::fail)?;
    }
}

/// A fixed long run per write size, so every geometry sees many rotations.
#[test]
fn long_runs_every_write_size() {
    let valid = Verdict::Valid(ImageInfo::default());
    let mut steps = Vec::new();
    for i in 0..60u8 {
        let to = SlotId::from_index(i % 2).unwrap();
        steps.push((Action::SetActive(to, Tries::new(2).unwrap()), None));
        steps.push((
            Action::Boot { verdicts: [valid; MAX_SLOTS], inputs: Inputs::default() },
            (i % 3 == 0).then_some(Cut { op: i / 3, variant: i / 3 }),
        ));
        steps.push((Action::MarkGood, (i % 5 == 0).then_some(Cut { op: 0, variant: i / 5 })));
    }
    for w in [1, 2, 4, 8, 16, 32] {
        for write_count in [WriteCount::Unlimited, WriteCount::Once, WriteCount::Twice] {
            let geo = Geometry { write_size: w, erase_size: 256, sectors: 2, write_count, slots: 2 };
            let t = run(geo, &steps).unwrap();
            assert!(t.cuts >= 25 && t.kept_pre > 0 && t.took_post > 0, "w={w}: {t:?}");
            assert!(t.erases >= 20, "w={w}: the journal must rotate many times: {t:?}");
        }
    }
}
