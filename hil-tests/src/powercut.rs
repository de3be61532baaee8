//! Power cuts of the real firmware: every flash store of every record-writing step,
//! then a cold boot, with the invariants checked after each.
//!
//! The board's flash driver numbers its stores (each programmed write-word and each
//! erased sector is one store) and `cut=N` stops the machine just before store `N` lands
//! (`torn=K` lets its first `K` bytes land first). The boot stage and the app each run
//! their own driver and number their own stores from 1: `cut=N`/`torn=K` cut the boot
//! stage, `appcut=N`/`apptorn=K` the app ([`WriteStep::cuts_app`]). For a step cut in the app,
//! the baseline is the record the boot stage left in the same power-on (read after
//! `appcut=1`, which stops before the app's first store): a cut must leave that or the
//! post-step record.
//!
//! For each [`WriteStep`], [`sweep`] prepares the state with real boots, runs the step once
//! uncut (the post-step record), checks the step's store count exactly (`cut=S` fires,
//! `cut=S+1` does not), then for every `N` in `1..=S` (and a sample of torn stores)
//! restores the pre-step record region, powers on with the cut and checks:
//!
//! * the machine stopped at the cut (exit [`Exit::Cut`](crate::qemu::Exit::Cut));
//! * the record read right after the cut is exactly the pre-step or the post-step record;
//! * a cold boot (no cut) runs an app, every slot confirmed before and after the step is
//!   still confirmed, and the slot that ran confirmed itself and is last-known-good.
//!
//! [`soak`] kills QEMU at pseudo-random times instead, over many boots, with a seed.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use safeslot_shared::journal::{Found, Head, Journal, JournalConfig};
use safeslot_shared::mailbox::Action;
use safeslot_shared::protocol::order::Order;
use safeslot_shared::reset::ResetCause;
use safeslot_shared::sim::{SimConfig, SimFlash};
use safeslot_shared::{Reason, Record, SlotId};

use crate::qemu::{self, QemuRun};
use crate::rig::{Ran, Rig, RigError, VirtualRig};
use crate::scenarios::noise;

/// What a power-cut sweep needs from a rig beyond [`Rig`].
pub trait CutRig: Rig + Sized + Send {
    /// The record journal's geometry.
    fn journal(&self) -> JournalConfig;
    /// The record region's raw bytes.
    fn region(&mut self) -> Result<Vec<u8>, RigError>;
    /// Puts back a record region saved with [`CutRig::region`].
    fn set_region(&mut self, bytes: &[u8]) -> Result<(), RigError>;
    /// Powers on with `order` (a cut plan included), without decoding logs; with
    /// `kill_after`, power is pulled after that long.
    fn run(&mut self, order: &Order, kill_after: Option<Duration>) -> Result<Ran, RigError>;
    /// A second rig over a copy of this one's flash, for a worker thread.
    fn fork(&self, name: &str) -> Result<Self, RigError>;
    /// Releases what [`CutRig::fork`] made.
    fn discard(self) {}
}

fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> RigError + '_ {
    move |e| RigError::Io(path.to_path_buf(), e)
}

impl CutRig for VirtualRig {
    fn journal(&self) -> JournalConfig {
        self.board.journal
    }

    fn region(&mut self) -> Result<Vec<u8>, RigError> {
        let j = self.board.journal;
        let f = File::open(&self.flash_img).map_err(io(&self.flash_img))?;
        let mut buf = vec![0u8; j.size as usize];
        f.read_exact_at(&mut buf, u64::from(j.offset)).map_err(io(&self.flash_img))?;
        Ok(buf)
    }

    fn set_region(&mut self, bytes: &[u8]) -> Result<(), RigError> {
        let j = self.board.journal;
        let f = OpenOptions::new().write(true).open(&self.flash_img).map_err(io(&self.flash_img))?;
        f.write_all_at(bytes, u64::from(j.offset)).map_err(io(&self.flash_img))
    }

    fn run(&mut self, order: &Order, kill_after: Option<Duration>) -> Result<Ran, RigError> {
        let qemu = qemu_path()?;
        let mut run = QemuRun::new(&self.boot_elf, &self.flash_img);
        run.append = order.to_string();
        if order.command.action == Action::Hang {
            // Only the watchdog ends a hang: QMP shows the VM it stopped.
            let qmp = self.flash_img.with_extension("qmp");
            let _ = fs::remove_file(&qmp);
            run.qmp = Some(qmp.clone());
            run.timeout = kill_after.unwrap_or(self.timeout);
            let (out, _) = run.run_watched(|_| Ok(false))?;
            let _ = fs::remove_file(&qmp);
            return Ok(Ran::from_outcome(&out));
        }
        let code = run_quiet(run.command(&qemu), kill_after.unwrap_or(self.timeout)).map_err(io(&qemu))?;
        Ok(Ran::from_exit(code))
    }

    fn fork(&self, name: &str) -> Result<Self, RigError> {
        let mut path: PathBuf = self.flash_img.clone();
        path.set_extension(format!("{name}.img"));
        fs::copy(&self.flash_img, &path).map_err(io(&path))?;
        Ok(VirtualRig { flash_img: path, ..self.clone() })
    }

    fn discard(self) {
        let _ = fs::remove_file(&self.flash_img);
    }
}

/// QEMU, looked up once per test process (the check runs QEMU, which costs a boot).
fn qemu_path() -> Result<PathBuf, RigError> {
    static QEMU: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    QEMU.get_or_init(qemu::qemu_available).clone().map_err(|e| RigError::Qemu(qemu::QemuError::Missing(e)))
}

/// Runs `cmd` with its output discarded, killed after `timeout`; its exit code, or
/// `None` when killed. Polls every millisecond: the sweeps run thousands of boots.
fn run_quiet(mut cmd: Command, timeout: Duration) -> std::io::Result<Option<i32>> {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.code());
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The journal head and record of a saved record region.
pub fn decode_region(cfg: JournalConfig, region: &[u8]) -> Result<(Option<Head>, Option<Record>), RigError> {
    let local = JournalConfig { offset: 0, ..cfg };
    let sim = SimFlash::from_bytes(
        SimConfig {
            size: region.len(),
            write_size: cfg.write_size as usize,
            erase_size: cfg.erase_size as usize,
            write_count: safeslot_shared::nor::WriteCount::Once,
        },
        region.to_vec(),
    )
    .map_err(|e| RigError::Record(format!("{e:?}")))?;
    let j = Journal::open(sim, local).map_err(|e| RigError::Record(format!("{e:?}")))?;
    let head = match j.found() {
        Found::Valid(h) => Some(h),
        _ => None,
    };
    Ok((head, j.record().ok().cloned()))
}

/// A record-writing step of the firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStep {
    /// Boot stage, blank region: erase sector 0 and write the first record.
    Create,
    /// Boot stage: an activated B boots on trial (its tries decremented first).
    TrialDecrement,
    /// A trial boot with `app=confirm`: every cut lands in the boot stage's decrement;
    /// the app's confirm numbers its stores from 1 again (see [`WriteStep::AppConfirm`]).
    TrialThenConfirm,
    /// The app confirms (mark-good) on a boot where the boot stage writes nothing:
    /// A is confirmed but not last-known-good (after B, the previous one, was refused).
    AppConfirm,
    /// The app confirms on a trial boot: the boot stage decremented B's tries in the same
    /// power-on; every cut lands in the app's mark-good.
    TrialAppConfirm,
    /// Boot stage: B ran out of tries; it is marked and A boots (fallback).
    Fallback,
    /// The app (on confirmed A; the boot stage writes nothing) activates B.
    AppActivate,
    /// Boot stage: the head sector is full, so the write erases the other sector first.
    Rotation,
    /// Boot stage, issue #15: B's trial hung and the watchdog reset the board; the next
    /// boot (`reset=watchdog`) decrements B's tries (recording the cause), arms the
    /// watchdog and hands off to B, which hangs again (the uncut run ends in a watchdog
    /// reset).
    HangTrial,
    /// Boot stage, issue #15: B hung on its last try; the boot after the watchdog reset
    /// marks B and falls back to A.
    HangFallback,
}

impl WriteStep {
    /// Every step.
    pub const ALL: [WriteStep; 10] = [
        WriteStep::Create,
        WriteStep::TrialDecrement,
        WriteStep::TrialThenConfirm,
        WriteStep::AppConfirm,
        WriteStep::TrialAppConfirm,
        WriteStep::Fallback,
        WriteStep::AppActivate,
        WriteStep::Rotation,
        WriteStep::HangTrial,
        WriteStep::HangFallback,
    ];

    /// A readable name.
    pub fn name(self) -> &'static str {
        match self {
            WriteStep::Create => "create record (boot stage, blank region)",
            WriteStep::TrialDecrement => "trial decrement (boot stage)",
            WriteStep::TrialThenConfirm => "trial boot, app=confirm",
            WriteStep::AppConfirm => "confirm (app)",
            WriteStep::TrialAppConfirm => "confirm on a trial boot (app)",
            WriteStep::Fallback => "fallback marking (boot stage)",
            WriteStep::AppActivate => "activate B (app)",
            WriteStep::Rotation => "journal rotation (boot stage)",
            WriteStep::HangTrial => "trial after a watchdog reset, app hangs",
            WriteStep::HangFallback => "fallback after the last hang (boot stage)",
        }
    }

    /// The step's power-on. ([`WriteStep::Rotation`] uses the cycle's next order.)
    fn order(self) -> Order {
        match self {
            WriteStep::Create | WriteStep::TrialDecrement | WriteStep::Fallback | WriteStep::Rotation => {
                Order::noconfirm()
            }
            WriteStep::TrialThenConfirm | WriteStep::AppConfirm | WriteStep::TrialAppConfirm => Order::confirm(),
            WriteStep::AppActivate => Order::noconfirm().activate(SlotId::B),
            WriteStep::HangTrial => Order::hang().reset(ResetCause::Watchdog),
            WriteStep::HangFallback => Order::confirm().reset(ResetCause::Watchdog),
        }
    }

    /// Whether this step's stores are the app's (`appcut=`/`apptorn=`) rather than the
    /// boot stage's (`cut=`/`torn=`).
    pub fn cuts_app(self) -> bool {
        matches!(self, WriteStep::AppConfirm | WriteStep::TrialAppConfirm | WriteStep::AppActivate)
    }

    /// Stores the step's power-on makes with journal geometry `cfg`, and how many of them
    /// (the first) are erases: an append programs the previous position's claim mark,
    /// the body and its ack mark, each in write-words (144 + 8 + 8 bytes = 20 stores with
    /// 8-byte words); a first write or a rotation erases a sector first and needs no claim.
    pub fn stores(self, cfg: &JournalConfig) -> (u32, u32) {
        entry_stores(cfg, matches!(self, WriteStep::Create | WriteStep::Rotation))
    }
}

/// Stores one journal write makes with geometry `cfg`, and how many of them (the first)
/// are erases: with `erases_sector` (a first write or a rotation) one erase, the body and
/// its ack mark; otherwise the previous position's claim mark, the body and its ack mark,
/// each in write-words. Shared by every board's sweep ([`crate::soc_sweep`] too).
pub fn entry_stores(cfg: &JournalConfig, erases_sector: bool) -> (u32, u32) {
    let w = cfg.write_size.max(1);
    let (body, mark) = (cfg.body_size() / w, cfg.mark_size() / w);
    if erases_sector {
        (1 + body + mark, 1)
    } else {
        (mark + body + mark, 0)
    }
}

/// The images a sweep installs.
#[derive(Debug, Clone)]
pub struct SweepImages {
    /// Good A.
    pub a: Vec<u8>,
    /// Good B.
    pub b: Vec<u8>,
    /// B with a tampered image (refused with bad-hash).
    pub b_bad: Vec<u8>,
}

/// The boot cycle that writes exactly one journal entry per power-on (from "A confirmed,
/// B activated"): three trial boots of B, the fallback to A, A re-activating B.
const CYCLE: [(Order, Ran); 5] = [
    (Order::noconfirm(), Ran::App(SlotId::B)),
    (Order::noconfirm(), Ran::App(SlotId::B)),
    (Order::noconfirm(), Ran::App(SlotId::B)),
    (Order::noconfirm(), Ran::App(SlotId::A)),
    (Order::noconfirm().activate(SlotId::B), Ran::App(SlotId::A)),
];

fn boot<R: CutRig>(rig: &mut R, order: Order, expect: Ran) -> Result<(), String> {
    match rig.run(&order, None) {
        Ok(ran) if ran == expect => Ok(()),
        Ok(ran) => Err(format!("preparing: `{order}` ran {ran:?}, expected {expect:?}")),
        Err(e) => Err(format!("preparing: `{order}`: {e}")),
    }
}

/// `order` with a cut at store `cut` (`torn` bytes landing) in the app or the boot stage.
fn with_cut(order: Order, app: bool, cut: u32, torn: u32) -> Order {
    if app {
        order.app_cut(cut, torn)
    } else {
        order.cut(cut, torn)
    }
}

/// Brings the rig to the state before `step`; returns the step's order.
fn prepare<R: CutRig>(rig: &mut R, step: WriteStep, img: &SweepImages) -> Result<Order, String> {
    use SlotId::{A, B};
    let e = |e: RigError| e.to_string();
    rig.erase_record().map_err(e)?;
    rig.install(A, &img.a).map_err(e)?;
    rig.install(B, &img.b).map_err(e)?;
    let start = |rig: &mut R| boot(rig, Order::confirm().activate(B), Ran::App(A));
    match step {
        WriteStep::Create => {}
        WriteStep::TrialDecrement | WriteStep::TrialThenConfirm | WriteStep::TrialAppConfirm => start(rig)?,
        WriteStep::AppConfirm => {
            start(rig)?;
            boot(rig, Order::confirm(), Ran::App(B))?;
            rig.install(B, &img.b_bad).map_err(e)?;
            boot(rig, Order::noconfirm(), Ran::App(A))?;
        }
        WriteStep::Fallback => {
            start(rig)?;
            for _ in 0..3 {
                boot(rig, Order::noconfirm(), Ran::App(B))?;
            }
        }
        WriteStep::AppActivate => boot(rig, Order::confirm(), Ran::App(A))?,
        WriteStep::HangTrial | WriteStep::HangFallback => {
            start(rig)?;
            let hangs = if step == WriteStep::HangTrial { 1 } else { 3 };
            for i in 0..hangs {
                let order = if i == 0 { Order::hang() } else { Order::hang().reset(ResetCause::Watchdog) };
                boot(rig, order, Ran::Watchdog)?;
            }
        }
        WriteStep::Rotation => {
            start(rig)?;
            let cfg = rig.journal();
            let last = cfg.sectors().saturating_sub(1);
            for i in 0..(cfg.entries_per_sector() as usize * cfg.sectors() as usize + CYCLE.len()) {
                let (head, _) = decode_region(cfg, &rig.region().map_err(e)?).map_err(e)?;
                let head = head.ok_or("preparing rotation: no record")?;
                if head.pos.sector == last && head.pos.index + 1 >= cfg.entries_per_sector() {
                    return Ok(CYCLE[i % CYCLE.len()].0);
                }
                let (order, ran) = &CYCLE[i % CYCLE.len()];
                boot(rig, *order, ran.clone())?;
                let (next, _) = decode_region(cfg, &rig.region().map_err(e)?).map_err(e)?;
                if next.map(|h| h.seq) != Some(head.seq + 1) {
                    return Err(format!("preparing rotation: `{order}` did not write exactly one entry"));
                }
            }
            return Err("preparing rotation: the head never reached the end of the last sector".into());
        }
    }
    Ok(step.order())
}

/// One cut point: the store and how many of its bytes land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutPoint {
    /// Store number, from 1.
    pub store: u32,
    /// Leading bytes of it that land.
    pub torn: u32,
}

/// How many torn variants a sweep adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Torn {
    /// `torn=1..=7` on the first two, the middle and the last two program stores, and
    /// `torn=1,2048,4095` on each erase.
    Sample,
    /// `torn=1..=7` on every program store.
    All,
}

/// The cut points of a step with `stores` stores of which the first `erases` are erases.
pub fn cut_points(stores: u32, erases: u32, torn: Torn) -> Vec<CutPoint> {
    let mut v: Vec<CutPoint> = (1..=stores).map(|store| CutPoint { store, torn: 0 }).collect();
    for store in 1..=erases.min(stores) {
        v.extend([1, 2048, 4095].map(|torn| CutPoint { store, torn }));
    }
    let first = erases + 1;
    let sampled: Vec<u32> = match torn {
        Torn::All => (first..=stores).collect(),
        Torn::Sample => {
            let mut s = vec![first, first + 1, (first + stores) / 2, stores - 1, stores];
            s.retain(|&n| (first..=stores).contains(&n));
            s.dedup();
            s
        }
    };
    for store in sampled {
        v.extend((1..=7).map(|torn| CutPoint { store, torn }));
    }
    v
}

/// What a sweep of one step found.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The step.
    pub step: WriteStep,
    /// Its order, as the command line.
    pub args: String,
    /// Stores it makes (checked exactly).
    pub stores: u32,
    /// Cut points run.
    pub points: usize,
    /// Cut points after which the record was already the post-step record (the others
    /// left the pre-step record).
    pub at_post: usize,
    /// Invariant violations, one line each.
    pub failures: Vec<String>,
}

/// What one step looks like without a cut.
struct Reference {
    order: Order,
    pre_region: Vec<u8>,
    pre: Option<Record>,
    post: Option<Record>,
    /// For a cut in the boot stage of a step whose app writes too: the record the stage
    /// wrote (its entry can be valid but unacknowledged when its ack is cut; the stage
    /// then never handed off, and the next boot rewrites it).
    stage: Option<Record>,
    /// Slots confirmed both before and after the step: a cut must not lose them.
    keep: Vec<SlotId>,
    /// The sector an erase store of this step erases.
    erased_sector: u32,
    /// The cuts are the app's (see [`WriteStep::cuts_app`]).
    app: bool,
}

/// Sweeps one step; `workers` rigs (forked from `rig`) run the cut points in parallel.
pub fn sweep<R: CutRig>(
    rig: &mut R,
    step: WriteStep,
    img: &SweepImages,
    torn: Torn,
    workers: usize,
) -> Result<StepReport, String> {
    let e = |e: RigError| e.to_string();
    let cfg = rig.journal();
    let order = prepare(rig, step, img)?;
    let app = step.cuts_app();
    let pre_region = rig.region().map_err(e)?;
    let (mut pre_head, mut pre) = decode_region(cfg, &pre_region).map_err(e)?;
    if app {
        // Cut in the app: the baseline is what the boot stage wrote before the app ran.
        let ran = rig.run(&order.app_cut(1, 0), None).map_err(e)?;
        if ran != Ran::PowerCut {
            return Err(format!("{}: appcut=1 ran {ran:?}: the app made no store", step.name()));
        }
        (pre_head, pre) = decode_region(cfg, &rig.region().map_err(e)?).map_err(e)?;
        rig.set_region(&pre_region).map_err(e)?;
    }
    let uncut = rig.run(&order, None).map_err(e)?;
    let hangs = order.command.action == Action::Hang;
    if !(matches!(uncut, Ran::App(_)) || hangs && uncut == Ran::Watchdog) {
        return Err(format!("{}: the uncut step ran {uncut:?}", step.name()));
    }
    let post_region = rig.region().map_err(e)?;
    let (_, post) = decode_region(cfg, &post_region).map_err(e)?;
    if post == pre || post.is_none() {
        return Err(format!("{}: the uncut step wrote no record", step.name()));
    }
    rig.set_region(&pre_region).map_err(e)?;
    let stage = if !app {
        let ran = rig.run(&order.app_cut(1, 0), None).map_err(e)?;
        let (_, mid) = decode_region(cfg, &rig.region().map_err(e)?).map_err(e)?;
        rig.set_region(&pre_region).map_err(e)?;
        (ran == Ran::PowerCut).then_some(mid).flatten()
    } else {
        None
    };

    // The exact store count: cut=S fires, cut=S+1 does not (and then equals the uncut run).
    let (stores, erases) = step.stores(&cfg);
    let fires = |rig: &mut R, n: u32| -> Result<(bool, Ran, Vec<u8>), String> {
        let ran = rig.run(&with_cut(order, app, n, 0), None).map_err(e)?;
        let region = rig.region().map_err(e)?;
        rig.set_region(&pre_region).map_err(e)?;
        Ok((ran == Ran::PowerCut, ran, region))
    };
    let (at_s, _, _) = fires(rig, stores)?;
    let (past_s, ran_past, region_past) = fires(rig, stores + 1)?;
    if !at_s || past_s {
        let mut n = 1;
        while n < 200 && fires(rig, n)?.0 {
            n += 1;
        }
        return Err(format!("{}: expected {stores} stores, the firmware made {}", step.name(), n - 1));
    }
    if ran_past != uncut || region_past != post_region {
        return Err(format!(
            "{}: cut={} ran {ran_past:?} or wrote differently from the uncut run",
            step.name(),
            stores + 1
        ));
    }

    let slot_ids = |r: &Option<Record>| -> Vec<SlotId> {
        r.as_ref()
            .map(|r| r.slot_ids().filter(|&s| r.slot(s).is_some_and(|st| st.confirmed)).collect())
            .unwrap_or_default()
    };
    let post_confirmed = slot_ids(&post);
    let keep = slot_ids(&pre).into_iter().filter(|s| post_confirmed.contains(s)).collect();
    let erased_sector = match pre_head {
        Some(h) => (h.pos.sector + 1) % cfg.sectors(),
        None => 0,
    };
    let reference = Reference { order, pre_region, pre, post, stage, keep, erased_sector, app };

    let points = cut_points(stores, erases, torn);
    let workers = workers.clamp(1, points.len());
    let mut rigs = Vec::new();
    for w in 0..workers {
        rigs.push(rig.fork(&format!("cut{w}")).map_err(e)?);
    }
    let failures = std::thread::scope(|s| {
        let handles: Vec<_> = rigs
            .into_iter()
            .enumerate()
            .map(|(w, mut wrig)| {
                let mine: Vec<CutPoint> = points.iter().copied().skip(w).step_by(workers).collect();
                let reference = &reference;
                s.spawn(move || {
                    let (mut failures, mut at_post) = (Vec::new(), 0);
                    for p in mine {
                        match check_point(&mut wrig, cfg, reference, p, erases) {
                            Ok(post) => at_post += usize::from(post),
                            Err(why) => failures.push(format!(
                                "{} `{}`: {why}",
                                step.name(),
                                with_cut(reference.order, reference.app, p.store, p.torn)
                            )),
                        }
                    }
                    wrig.discard();
                    (failures, at_post)
                })
            })
            .collect();
        let mut all = (Vec::new(), 0);
        for h in handles {
            let (f, n) = h.join().unwrap_or_else(|_| (vec!["a sweep worker panicked".to_string()], 0));
            all.0.extend(f);
            all.1 += n;
        }
        all
    });
    let (failures, at_post) = failures;
    Ok(StepReport { step, args: reference.order.to_string(), stores, points: points.len(), at_post, failures })
}

fn confirmed(r: &Record, s: SlotId) -> bool {
    r.slot(s).is_some_and(|st| st.confirmed)
}

/// Runs one cut point and the cold boot after it; `Ok(true)` when the cut left the
/// post-step record, `Ok(false)` the pre-step one.
fn check_point<R: CutRig>(
    rig: &mut R,
    cfg: JournalConfig,
    refr: &Reference,
    p: CutPoint,
    erases: u32,
) -> Result<bool, String> {
    let e = |e: RigError| e.to_string();
    rig.set_region(&refr.pre_region).map_err(e)?;
    let ran = rig.run(&with_cut(refr.order, refr.app, p.store, p.torn), None).map_err(e)?;
    if ran != Ran::PowerCut {
        return Err(format!("did not stop at the cut: {ran:?}"));
    }
    let region = rig.region().map_err(e)?;
    let (_, after) = decode_region(cfg, &region).map_err(e)?;
    if after != refr.pre && after != refr.post && (after.is_none() || after != refr.stage) {
        return Err(format!(
            "record after the cut is neither the pre- nor the post-step record (nor the boot stage's): {after:?}"
        ));
    }
    if p.store <= erases && p.torn > 0 {
        // The cut fell inside the erase: exactly the first `torn` bytes of the sector are erased.
        let es = cfg.erase_size as usize;
        let at = refr.erased_sector as usize * es;
        let torn = (p.torn as usize).min(es);
        let erased = region.get(at..at + torn).is_some_and(|b| b.iter().all(|&x| x == 0xFF));
        let rest_same = region.get(at + torn..at + es) == refr.pre_region.get(at + torn..at + es);
        if !erased || !rest_same {
            return Err(format!("store {} is not the erase of sector {}", p.store, refr.erased_sector));
        }
    }
    let cold = rig.run(&Order::confirm(), None).map_err(e)?;
    let Ran::App(slot) = cold else {
        return Err(format!("cold boot after the cut ran {cold:?}"));
    };
    let (_, rec) = decode_region(cfg, &rig.region().map_err(e)?).map_err(e)?;
    let rec = rec.ok_or("no record after the cold boot")?;
    for &s in &refr.keep {
        if !confirmed(&rec, s) {
            return Err(format!("confirmed slot {s} lost (cold boot ran {slot})"));
        }
    }
    if !confirmed(&rec, slot) || rec.last_known_good != Some(slot) {
        return Err(format!("cold boot ran {slot} but it is not confirmed and last-known-good: {rec:?}"));
    }
    Ok(after == refr.post)
}

/// Sweeps every [`WriteStep`]; returns the reports.
pub fn sweep_all<R: CutRig>(
    rig: &mut R,
    img: &SweepImages,
    torn: Torn,
    workers: usize,
) -> Result<Vec<StepReport>, String> {
    WriteStep::ALL.into_iter().map(|s| sweep(rig, s, img, torn, workers)).collect()
}

/// What a soak run did.
#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    /// Power-ons.
    pub boots: usize,
    /// Of which QEMU was killed before it ended.
    pub killed: usize,
    /// Of the killed ones, those killed after the record had changed in that power-on (the
    /// kill fell after at least one record write, not in QEMU's start-up).
    pub killed_after_write: usize,
    /// How long the last cold boot took (QEMU's start-up included): the kill times were
    /// drawn from half to 1.25 times the latest one.
    pub calibration: Duration,
    /// Cold boots (no kill) checked.
    pub cold: usize,
    /// Cold boots that were last-resort boots (every slot exhausted).
    pub last_resort: usize,
    /// Journal entries written over the run.
    pub entries: u32,
    /// Wall time.
    pub elapsed: Duration,
}

/// The command lines a soak picks from.
const SOAK_ARGS: [Order; 8] = [
    Order::confirm(),
    Order::noconfirm(),
    Order::crash(),
    Order::confirm().activate(SlotId::B),
    Order::noconfirm().activate(SlotId::B),
    Order::confirm().activate(SlotId::A),
    Order::noconfirm().activate(SlotId::A),
    Order::confirm().recovery(),
];

/// Kills the firmware at pseudo-random times (from `seed`) over `boots` power-ons with
/// random command lines; after each, the record region must hold a valid record whose
/// sequence number never went back, and now and then a cold boot must run an app that
/// confirms itself.
///
/// A kill time is drawn uniformly from half to 1.25 times the latest cold boot's duration
/// (QEMU's start-up included), where the record writes are, and follows that duration on
/// a slow or loaded machine as on a fast one; [`SoakReport::killed_after_write`] counts the
/// kills that came after the record changed.
pub fn soak<R: CutRig>(rig: &mut R, a: &[u8], b: &[u8], seed: u64, boots: usize) -> Result<SoakReport, String> {
    let e = |e: RigError| e.to_string();
    let cfg = rig.journal();
    let started = Instant::now();
    rig.erase_record().map_err(e)?;
    rig.install(SlotId::A, a).map_err(e)?;
    rig.install(SlotId::B, b).map_err(e)?;
    let mut rnd = noise(seed, boots * 5).into_iter();
    let mut next = move || rnd.next().unwrap_or(0);
    let mut report = SoakReport::default();
    let mut seq = 0u32;
    let check = |rig: &mut R, seq: &mut u32, what: &str| -> Result<Option<Record>, String> {
        let (head, rec) = decode_region(cfg, &rig.region().map_err(e)?).map_err(e)?;
        let now = head.map_or(0, |h| h.seq);
        if now < *seq {
            return Err(format!("{what}: journal went back from seq {} to {now}", *seq));
        }
        if *seq > 0 && rec.is_none() {
            return Err(format!("{what}: no valid record any more"));
        }
        *seq = now;
        Ok(rec)
    };
    // A cold boot must run an app that ends confirmed and last-known-good (or a last-resort
    // boot: every slot was exhausted and this one was booted rather than brick; it stays
    // unbootable, mark-good refuses, until something activates a slot).
    let cold_boot = |rig: &mut R, seq: &mut u32, report: &mut SoakReport, what: &str| -> Result<(), String> {
        let t = Instant::now();
        let cold = rig.run(&Order::confirm(), None).map_err(e)?;
        report.calibration = t.elapsed();
        report.boots += 1;
        report.cold += 1;
        let Ran::App(slot) = cold else {
            return Err(format!("{what}: cold boot ran {cold:?}"));
        };
        let rec = check(rig, seq, &format!("{what}: cold boot"))?.ok_or("no record after a cold boot")?;
        if rec.last_fallback == Reason::LastResort {
            report.last_resort += 1;
        } else if !confirmed(&rec, slot) || rec.last_known_good != Some(slot) {
            return Err(format!("{what}: cold boot ran {slot} but it is not confirmed and last-known-good"));
        }
        Ok(())
    };
    // The first cold boot, from the erased record (it writes the first records), sets the
    // first kill window.
    cold_boot(rig, &mut seq, &mut report, "start")?;
    let first_seq = seq;
    for i in 0..boots {
        let args = SOAK_ARGS[usize::from(next()) % SOAK_ARGS.len()];
        let r = u32::from(u16::from_be_bytes([next(), next()]));
        // From 1/2 to 5/4 of the latest cold boot: 1/2 + r * 3/4 / 0xFFFF.
        let kill = report.calibration / 2 + report.calibration * 3 / 4 * r / 0xFFFF;
        let region = rig.region().map_err(e)?;
        let ran = rig.run(&args, Some(kill)).map_err(e)?;
        report.boots += 1;
        if ran == Ran::Other(None) {
            report.killed += 1;
            if rig.region().map_err(e)? != region {
                report.killed_after_write += 1;
            }
        }
        check(rig, &mut seq, &format!("boot {i} `{args}` killed after {kill:?}"))?;
        if next() < 64 || i + 1 == boots {
            cold_boot(rig, &mut seq, &mut report, &format!("boot {i}"))?;
        }
    }
    report.entries = seq.saturating_sub(first_seq);
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_points_cover_every_store_once_untorn() {
        let v = cut_points(18, 1, Torn::Sample);
        assert_eq!(v.iter().filter(|p| p.torn == 0).count(), 18);
        assert_eq!(v.iter().filter(|p| p.store == 1 && p.torn > 0).count(), 3);
        assert_eq!(v.len(), 18 + 3 + 5 * 7);
        assert_eq!(cut_points(17, 0, Torn::All).len(), 17 * 8);
        assert!(cut_points(17, 0, Torn::Sample).iter().all(|p| (1..=17).contains(&p.store) && p.torn <= 7));
    }
}
