//! Multi-fault campaign: sequences of faults across consecutive boots, through the real
//! boot sequence (`safeslot_boot::boot`, real signed images) and the application's
//! confirmation, on the simulated NOR flash with its full fault model: power cuts at any
//! operation (before, after, torn prefixes, torn bit subsets, interrupted erases, weak
//! cells that read differently on each read), and boots during which every program and
//! erase fails or is silently dropped.
//!
//! A *cycle* is one reset: the boot stage runs; if it hands off, the application runs
//! and confirms itself (a good image) or never does (a bad one). Between cycles an
//! operator installs updates and activates them. Faults are injected into cycles and
//! activations, one after another, on plain and program-once flash, at every write size,
//! every board's geometry and a one-position-per-sector geometry. After every cycle the
//! invariants are checked:
//!
//! 1. **no invented record**: every record read is one some writer tried to program;
//! 2. **a committed confirmation is never lost**: once the application's confirmation of
//!    slot *s* returned, every later read shows *s* confirmed until *s* is activated
//!    again or the floor rises past its counter;
//! 3. **a trial slot is never handed off more times than its tries**;
//! 4. **the floor never decreases** below any floor a completed write stored;
//! 5. **the device always boots** a verified slot when one exists: every cycle without a
//!    power cut launches an image (a cycle whose writes fail boots the confirmed slot
//!    read-only);
//! 6. **the journal never wedges**: after every cycle without a fault, the head is solid
//!    and one more append succeeds.
//!
//! Two parts: a random campaign (`random_fault_sequences`, counts printed) and every
//! pair of cuts over two consecutive cycles from states chosen to stress the journal
//! (`every_pair_of_cuts_over_two_consecutive_boots`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use safeslot_shared::verify::SoftSha256;
use std::collections::HashSet;

use ed25519_compact::{KeyPair, Seed};
use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use safeslot_boot::{boot, BootConfig, Outcome};
use safeslot_shared::image::{build_slot_image, SignParams};
use safeslot_shared::journal::{decode_entry, Journal, JournalConfig};
use safeslot_shared::nor::WriteCount;
use safeslot_shared::policy::{BootKind, Inputs};
use safeslot_shared::select::FreshRecord;
use safeslot_shared::sim::{CutKind, SimConfig, SimError, SimFlash, WriteFault, VARIANT_SEEDS, WEAK_SEED};
use safeslot_shared::verify::SlotRegion;
use safeslot_shared::{ops, Record, SlotId, Tries, Version};

const HDR: u32 = 0x100;
const SLOT: u32 = 0x1000;

/// A flash geometry under test.
#[derive(Clone, Copy, Debug)]
struct Geo {
    write: u32,
    erase: u32,
    sectors: u32,
    words: WriteCount,
}

/// Records every entry body any writer programs, so a read can be checked against them.
struct Recording<'a> {
    flash: &'a mut SimFlash,
    seen: &'a mut HashSet<[u8; 128]>,
}

impl ErrorType for Recording<'_> {
    type Error = SimError;
}
impl ReadNorFlash for Recording<'_> {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        self.flash.read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        ReadNorFlash::capacity(self.flash)
    }
}
impl NorFlash for Recording<'_> {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 1;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        self.flash.erase(from, to)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        if let Some((_, _, _, r)) = decode_entry(bytes) {
            self.seen.insert(r.encode());
        }
        self.flash.write(offset, bytes)
    }
}

#[derive(Clone)]
struct Device {
    geo: Geo,
    journal: JournalConfig,
    slots: [SlotRegion; 2],
    keys: Vec<[u8; 32]>,
    flash: SimFlash,
    /// Every record some writer tried to program.
    attempted: HashSet<[u8; 128]>,
    /// Whether the image in each slot confirms itself when it runs, and its counter.
    good: [bool; 2],
    counter: [u32; 2],
    // What the invariants track.
    /// The slot whose confirmation completed, while that still binds.
    confirmed: Option<SlotId>,
    /// The highest floor a completed write stored.
    floor: u32,
    /// Trial hand-offs of each slot since its activation, and the tries it was given.
    trials: [u32; 2],
    budget: [u32; 2],
}

fn key() -> KeyPair {
    KeyPair::from_seed(Seed::new([3; 32]))
}

impl Device {
    fn new(geo: Geo) -> Device {
        let journal =
            JournalConfig { offset: 0, size: geo.erase * geo.sectors, write_size: geo.write, erase_size: geo.erase };
        let slot_base = journal.size.div_ceil(SLOT) * SLOT;
        let slots = [
            SlotRegion { offset: slot_base, size: SLOT, header_size: HDR, load_addr: Some(u64::from(slot_base + HDR)) },
            SlotRegion {
                offset: slot_base + SLOT,
                size: SLOT,
                header_size: HDR,
                load_addr: Some(u64::from(slot_base + SLOT + HDR)),
            },
        ];
        let size = (slot_base + 2 * SLOT) as usize;
        let size = size.div_ceil(geo.erase as usize) * geo.erase as usize;
        let flash = SimFlash::new(SimConfig {
            size,
            write_size: geo.write as usize,
            erase_size: geo.erase as usize,
            write_count: geo.words,
        })
        .unwrap();
        let mut d = Device {
            geo,
            journal,
            slots,
            keys: vec![*key().pk],
            flash,
            attempted: HashSet::new(),
            good: [true, false],
            counter: [0; 2],
            confirmed: None,
            floor: 0,
            trials: [0; 2],
            budget: [3, 0],
        };
        d.install(SlotId::A, 0, true);
        d
    }

    /// Writes a signed image into `slot` (outside the record region: never faulted).
    fn install(&mut self, slot: SlotId, counter: u32, good: bool) {
        let r = self.slots[slot.index()];
        let body: Vec<u8> = (0..200u32).map(|i| (i * 13 + counter) as u8).collect();
        let p = SignParams {
            header_size: HDR as u16,
            load_addr: r.load_addr.unwrap(),
            entry: 0,
            version: Version { major: counter as u8, minor: 0, revision: 0, build: 0 },
            security_counter: counter,
            tlvs: safeslot_shared::tlv::Tlvs::EMPTY,
        };
        let mut img = build_slot_image(&p, &body, &key(), r.size).unwrap();
        img.resize(img.len().div_ceil(self.geo.write as usize) * self.geo.write as usize, 0xFF);
        let erase_to = r.offset + r.size.div_ceil(self.geo.erase) * self.geo.erase;
        self.flash.erase(r.offset, erase_to).unwrap();
        self.flash.write(r.offset, &img).unwrap();
        self.good[slot.index()] = good;
        self.counter[slot.index()] = counter;
        // A new image in the slot: its earlier confirmation no longer binds.
        if self.confirmed == Some(slot) {
            self.confirmed = None;
        }
    }

    fn open(&mut self) -> Journal<Recording<'_>> {
        Journal::open(Recording { flash: &mut self.flash, seen: &mut self.attempted }, self.journal).unwrap()
    }

    /// Reads the record after power came back and checks invariants 1, 2 and 4.
    fn check(&mut self, ctx: &str) -> Option<Record> {
        let j = Journal::open(&mut self.flash, self.journal).unwrap_or_else(|e| panic!("{ctx}: open: {e:?}"));
        let r = j.record().ok().cloned();
        if let Some(r) = &r {
            assert!(self.attempted.contains(&r.encode()), "{ctx}: invented record {r:?}");
            assert!(r.rollback_floor >= self.floor, "{ctx}: floor {} below {}", r.rollback_floor, self.floor);
            if let Some(s) = self.confirmed {
                let st = r.slot(s).unwrap();
                assert!(st.confirmed, "{ctx}: committed confirmation of {s} lost: {r:?}");
            }
        }
        r
    }

    /// One reset: boot stage, then the application. Returns the launched slot and kind.
    fn cycle(&mut self, ctx: &str) -> Option<(SlotId, BootKind, bool)> {
        let cfg = BootConfig {
            journal: self.journal,
            slots: &self.slots,
            keys: &self.keys,
            fresh: FreshRecord::default(),
            power_loss_retries: 0,
            watchdog: None,
            compatible: None,
            refuse_downgrade: false,
        };
        let mut rec = Recording { flash: &mut self.flash, seen: &mut self.attempted };
        let out = boot(&mut rec, &mut SoftSha256::default(), &cfg, Inputs::default());
        if self.flash.is_dead() {
            return None; // power was cut during the boot stage: nothing ran
        }
        let Outcome::Launch(l) = out else { return None };
        assert!(l.holds());
        let slot = l.slot;
        if l.handoff.kind == BootKind::Trial {
            self.trials[slot.index()] += 1;
            assert!(
                self.trials[slot.index()] <= self.budget[slot.index()],
                "{ctx}: trial slot {slot} handed off {} times with {} tries",
                self.trials[slot.index()],
                self.budget[slot.index()]
            );
        }
        if self.good[slot.index()] {
            let mut j = self.open();
            if j.update(|r| ops::mark_good(r, slot)).is_ok() {
                let r = j.record().unwrap().clone();
                self.floor = self.floor.max(r.rollback_floor);
                self.confirmed = Some(slot);
            }
        }
        Some((slot, l.handoff.kind, l.handoff.recorded))
    }

    /// The operator activates `slot` (a new image written there) with `tries`.
    fn activate(&mut self, slot: SlotId, tries: u8) -> bool {
        let mut j = self.open();
        let ok = j.update(|r| ops::set_active(r, slot, Tries::new(tries).unwrap())).is_ok();
        if ok {
            if self.confirmed == Some(slot) {
                self.confirmed = None;
            }
            self.trials[slot.index()] = 0;
            self.budget[slot.index()] = u32::from(tries);
        }
        ok
    }

    /// Invariant 6 after a fault-free cycle: the head is solid and an append works.
    fn not_wedged(&mut self, ctx: &str) {
        let mut probe = self.flash.clone();
        let mut j = Journal::open(&mut probe, self.journal).unwrap();
        assert!(j.head_is_solid(), "{ctx}: head not solid after a fault-free boot");
        let r = j.record().unwrap().clone();
        j.append(&r).unwrap_or_else(|e| panic!("{ctx}: journal wedged: {e:?}"));
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn kind(&mut self) -> CutKind {
        match self.below(7) {
            0 => CutKind::Before,
            1 => CutKind::After,
            2 => CutKind::TornPrefix(self.below(6) as usize),
            3 => CutKind::TornBits(VARIANT_SEEDS[self.below(3) as usize]),
            4 => CutKind::EraseMix(self.next() | 1),
            _ => CutKind::Weak(self.next()),
        }
    }
}

/// What one random run went through.
#[derive(Default, Debug)]
struct Tally {
    cycles: u64,
    cuts: u64,
    weak_cuts: u64,
    failed_boots: u64,
    dropped_boots: u64,
    launches: u64,
    read_only: u64,
    activations: u64,
}

fn random_run(geo: Geo, seed: u64, cycles: u32) -> Tally {
    let mut d = Device::new(geo);
    let mut rng = Rng(seed);
    let mut t = Tally::default();
    let mut running: Option<SlotId> = None;
    let mut next_counter = 1;
    for c in 0..cycles {
        let ctx = format!("{geo:?} seed {seed:#x} cycle {c}");
        // Now and then the operator installs and activates an update in the other slot.
        if rng.below(6) == 0 {
            let to = match running {
                Some(SlotId::A) => SlotId::B,
                _ => SlotId::A,
            };
            if running.is_some() && running != Some(to) {
                let good = rng.below(3) != 0;
                let counter = if rng.below(4) == 0 { next_counter - 1 } else { next_counter };
                next_counter += 1;
                d.install(to, counter, good);
                let tries = 1 + rng.below(3) as u8;
                let base = d.flash.mutating_ops();
                let cut = rng.below(5) == 0;
                if cut {
                    d.flash.arm_cut(base + rng.below(4), rng.kind());
                }
                if d.activate(to, tries) {
                    t.activations += 1;
                }
                if d.flash.is_dead() {
                    t.cuts += 1;
                    d.flash.power_cycle();
                    // A cut activation may have landed (pre or post): then it counts.
                    let r = d.check(&format!("{ctx} activation cut"));
                    let landed = r.is_some_and(|r| {
                        r.history().last().is_some_and(|h| {
                            h.slot == Some(to) && h.event == safeslot_shared::Event::Activated && h.tries.get() == tries
                        })
                    });
                    if landed {
                        d.trials[to.index()] = 0;
                        d.budget[to.index()] = u32::from(tries);
                        if d.confirmed == Some(to) {
                            d.confirmed = None;
                        }
                    }
                }
                d.flash.disarm();
            }
        }
        // The fault of this cycle.
        let base = d.flash.mutating_ops();
        let fault = rng.below(10);
        match fault {
            0..=2 => d.flash.arm_cut(base + rng.below(8), rng.kind()),
            3 => d.flash.set_write_fault(Some(WriteFault::Error)),
            4 => d.flash.set_write_fault(Some(WriteFault::Drop)),
            _ => {}
        }
        let pre = Journal::open(&mut d.flash.clone(), d.journal).ok().and_then(|j| j.record().ok().cloned());
        let armed = d.flash.armed();
        let out = d.cycle(&ctx);
        let cut = d.flash.is_dead();
        t.weak_cuts += u64::from(cut && matches!(armed, Some((_, CutKind::Weak(_)))));
        if std::env::var_os("SAFESLOT_FAULT_TRACE").is_some() {
            let tries =
                |r: &Option<Record>| r.as_ref().map(|r| (r.slot(SlotId::B).unwrap().tries.get(), r.last_booted));
            eprintln!(
                "{c}: fault {fault} armed {:?} cut {cut} out {out:?} B tries/last {:?} trials {:?}/{:?}",
                d.flash.armed(),
                tries(&pre),
                d.trials,
                d.budget
            );
        }
        d.flash.power_cycle();
        d.flash.set_write_fault(None);
        t.cycles += 1;
        match (fault, cut) {
            (_, true) => t.cuts += 1,
            (3, _) => t.failed_boots += 1,
            (4, _) => t.dropped_boots += 1,
            _ => {}
        }
        // Invariant 5: without a power cut something always boots; with failing writes,
        // the confirmed last-known-good slot (read-only).
        let lkg = pre.as_ref().and_then(|r| {
            let s = r.last_known_good?;
            let st = r.slot(s)?;
            (st.confirmed && d.counter[s.index()] >= r.rollback_floor).then_some(s)
        });
        if !cut && (fault > 4 || lkg.is_some()) {
            let (slot, _, recorded) = out.unwrap_or_else(|| panic!("{ctx}: nothing booted (fault {fault})"));
            t.launches += 1;
            t.read_only += u64::from(!recorded);
            running = Some(slot);
        } else if !cut {
            running = out.map(|o| o.0);
        } else {
            running = out.map(|o| o.0);
        }
        d.check(&ctx);
        if fault > 4 && !cut {
            d.not_wedged(&ctx);
        }
    }
    t
}

fn geometries() -> Vec<Geo> {
    let mut v = Vec::new();
    for write in [1, 2, 4, 8, 16, 32] {
        for words in [WriteCount::Unlimited, WriteCount::Twice, WriteCount::Once] {
            // One position per sector, a few per sector, many per sector.
            v.push(Geo { write, erase: 256, sectors: 2, words });
            v.push(Geo { write, erase: 1024, sectors: 2, words });
            v.push(Geo { write, erase: 1024, sectors: 3, words });
        }
    }
    // Every board's geometry, read from its layout.toml (a new board is covered without
    // editing this test); sectors over 4 KiB are swept as 4 KiB (the journal depends on
    // the erase size only through positions per sector).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards");
    let mut boards = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path().join("layout.toml");
        if !path.exists() {
            continue;
        }
        let l = safeslot_layout::Layout::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (f, r) = (l.flash(), l.record());
        boards.push(Geo {
            write: f.write_size,
            erase: f.erase_size.min(4096),
            sectors: r.size / f.erase_size,
            words: f.word_writes,
        });
    }
    assert!(boards.len() >= 5, "expected the boards' layouts under {}", dir.display());
    v.extend(boards);
    v
}

/// Boot cycles per geometry and seed: `SAFESLOT_FAULT_CYCLES`, or enough for
/// `SAFESLOT_FAULT_TOTAL` cycles over all of them (`cargo xtask soak`), or 400.
fn cycles_per_run(runs: usize) -> u32 {
    let var =
        |name: &str| std::env::var(name).ok().map(|s| s.parse::<u64>().unwrap_or_else(|_| panic!("{name}={s:?}")));
    if let Some(c) = var("SAFESLOT_FAULT_CYCLES") {
        return u32::try_from(c).unwrap();
    }
    var("SAFESLOT_FAULT_TOTAL").map_or(400, |total| u32::try_from(total.div_ceil(runs as u64)).unwrap())
}

/// Seeds (independent runs) per geometry.
const SEEDS: u64 = 3;

#[test]
fn random_fault_sequences() {
    let geos = geometries();
    let cycles = cycles_per_run(geos.len() * SEEDS as usize);
    // `SAFESLOT_FAULT_SEED` moves the whole campaign to other sequences (`cargo xtask soak --seed`).
    let base = std::env::var("SAFESLOT_FAULT_SEED").map_or(0x5AFE_0000, |s| s.parse::<u64>().unwrap());
    let started = std::time::Instant::now();
    let totals = std::sync::Mutex::new(Tally::default());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (g, seed) = (i / SEEDS as usize, i as u64 % SEEDS);
                let Some(&g) = geos.get(g) else { break };
                let t = random_run(g, base + seed * 7919 + (i as u64 / SEEDS), cycles);
                let mut all = totals.lock().unwrap();
                all.cycles += t.cycles;
                all.cuts += t.cuts;
                all.weak_cuts += t.weak_cuts;
                all.failed_boots += t.failed_boots;
                all.dropped_boots += t.dropped_boots;
                all.launches += t.launches;
                all.read_only += t.read_only;
                all.activations += t.activations;
            });
        }
    });
    let t = totals.into_inner().unwrap();
    println!(
        "multi-fault campaign: {} geometries, {} boot cycles, {} power cuts ({} weak), {} boots with failing writes, \
         {} with dropped writes, {} activations, {} launches ({} read-only), 0 violations",
        geos.len(),
        t.cycles,
        t.cuts,
        t.weak_cuts,
        t.failed_boots,
        t.dropped_boots,
        t.activations,
        t.launches,
        t.read_only
    );
    println!("multi-fault campaign: seed {base:#x}, {} threads, {:.1} s", threads, started.elapsed().as_secs_f64());
    assert_eq!(t.cycles, u64::from(cycles) * geos.len() as u64 * SEEDS, "every run completed its cycles");
    assert!(t.cuts > 1000 && t.weak_cuts > 100 && t.read_only > 0, "the campaign must exercise its faults: {t:?}");
}

/// Every cut variant at every operation of one cycle, then every variant at every
/// operation of the next cycle, then a fault-free cycle: from states that stress the
/// journal (a trial boot due, a rotation due, an update confirming).
#[test]
fn every_pair_of_cuts_over_two_consecutive_boots() {
    let mut states = 0u64;
    let mut pairs = 0u64;
    for geo in [
        Geo { write: 8, erase: 256, sectors: 2, words: WriteCount::Once },
        Geo { write: 1, erase: 1024, sectors: 2, words: WriteCount::Unlimited },
        Geo { write: 32, erase: 1024, sectors: 2, words: WriteCount::Once },
    ] {
        // Reach a few starting points: after each cycle of a short story.
        let mut d = Device::new(geo);
        let mut starts = Vec::new();
        for step in 0..9 {
            if step == 2 {
                d.install(SlotId::B, 1, step % 2 == 0);
                d.activate(SlotId::B, 2);
            }
            if step == 5 {
                d.install(SlotId::A, 2, true);
                d.activate(SlotId::A, 2);
            }
            starts.push(d.clone());
            d.cycle("story").unwrap();
        }
        for start in &starts {
            let ops = ops_of_cycle(start);
            for k1 in 0..ops {
                for v1 in variants() {
                    let mut d1 = start.clone();
                    let base = d1.flash.mutating_ops();
                    d1.flash.arm_cut(base + k1, v1);
                    d1.cycle("first cut");
                    if !d1.flash.is_dead() {
                        continue;
                    }
                    d1.flash.power_cycle();
                    states += 1;
                    d1.check(&format!("{geo:?} cut 1 at {k1} {v1:?}"));
                    let ops2 = ops_of_cycle(&d1).max(1);
                    for k2 in 0..ops2 {
                        for v2 in variants() {
                            let mut d2 = d1.clone();
                            let base = d2.flash.mutating_ops();
                            d2.flash.arm_cut(base + k2, v2);
                            let ctx = format!("{geo:?} cuts {k1} {v1:?} then {k2} {v2:?}");
                            d2.cycle(&ctx);
                            d2.flash.disarm();
                            d2.flash.power_cycle();
                            d2.check(&ctx);
                            pairs += 1;
                            // Then no fault: it boots, and the journal is not wedged.
                            d2.cycle(&ctx).unwrap_or_else(|| panic!("{ctx}: nothing boots afterwards"));
                            d2.check(&ctx);
                            d2.not_wedged(&ctx);
                        }
                    }
                }
            }
        }
    }
    println!("pairs of cuts over two consecutive boots: {states} first-cut states, {pairs} pairs, 0 violations");
    assert!(pairs > 10_000, "too few pairs: {pairs}");
}

fn variants() -> Vec<CutKind> {
    let mut v = vec![CutKind::Before, CutKind::After, CutKind::TornPrefix(0), CutKind::TornPrefix(3)];
    v.push(CutKind::TornBits(VARIANT_SEEDS[1]));
    v.push(CutKind::EraseMix(VARIANT_SEEDS[2]));
    v.push(CutKind::Weak(WEAK_SEED));
    v.push(CutKind::Weak(WEAK_SEED ^ 0x77));
    v
}

/// How many programs and erases a fault-free cycle from this state performs.
fn ops_of_cycle(d: &Device) -> u64 {
    let mut d = d.clone();
    let base = d.flash.mutating_ops();
    d.cycle("dry run");
    d.flash.mutating_ops() - base
}
