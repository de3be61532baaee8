//! Power cuts of the aarch64 stage on the virtual SoC at every flash store of its
//! record-writing steps, as [`crate::powercut`] does for the Cortex-M stage.
//!
//! The stage's CFI driver numbers its stores (each programmed write unit and each erased
//! block is one store) and the rig order `cut=N` (`torn=K`), passed in fw_cfg, stops the
//! machine just before store `N` lands: the stage prints the shared result line
//! `safeslot: cut store=N torn=K` ([`StageLine::Cut`]) and powers off. Only the stage runs: a power-on ends at the stage's decision
//! (its `safeslot: boot` line, printed after every record write and before the Linux
//! placement; QEMU is then killed), at its cut line or at its recovery power-off.
//!
//! For each [`SocStep`], [`sweep`] runs the step uncut (the post-step record), checks its
//! store count exactly (`cut=S` fires, `cut=S+1` does not and writes what the uncut run
//! wrote), then for every `N` in `1..=S` (and `torn=1,4,7` on its first and last program
//! stores) restores the pre-step record region, powers on with the cut and checks:
//!
//! * the stage stopped at store `N`; a torn cut landed exactly the first `K` bytes of the
//!   store's write unit (the region between those after the untorn cuts at `N` and `N+1`);
//! * the record read right after the cut is exactly the pre-step or the post-step record;
//! * a cold boot hands off (a slot verified by the stage: no recovery) to the slot a cold
//!   boot from that record boots, and every slot confirmed before and after the step is
//!   still confirmed.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use safeslot_shared::journal::JournalConfig;
use safeslot_shared::protocol::log::StageLine;
use safeslot_shared::protocol::order::Order;
use safeslot_shared::{Record, SlotId};

use crate::powercut::{decode_region, entry_stores, CutPoint};
use crate::qemu::QemuError;
use crate::rig::RigError;
use crate::soc::{qemu_aarch64, SocRig};

/// How one stage-only power-on ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRun {
    /// The stage handed off this slot (its boot line; QEMU was then killed).
    Boot(SlotId),
    /// The planned cut stopped the stage at this store.
    Cut(u32),
    /// The stage reported recovery (the reason) and powered off.
    Recovery(String),
    /// Anything else: the serial log.
    Other(String),
}

/// Reads a stage-only power-on's serial log: the first decisive line.
pub fn classify(log: &str) -> StageRun {
    for l in log.lines() {
        match StageLine::parse(l) {
            Ok(Some(StageLine::Cut { store, .. })) => return StageRun::Cut(store),
            Ok(Some(StageLine::Boot(b))) => return StageRun::Boot(b.slot),
            Ok(Some(StageLine::Recovery { reason, .. })) => return StageRun::Recovery(reason.to_owned()),
            _ => {}
        }
    }
    StageRun::Other(log.to_owned())
}

/// One power-on of the stage alone with `order` (a cut plan) or none: QEMU is killed at
/// the stage's decision (its boot line), or ends by itself (cut, recovery).
///
/// # Errors
/// QEMU is missing or cannot be run.
pub fn run_stage(rig: &SocRig, order: Option<&Order>) -> Result<StageRun, RigError> {
    let qemu = qemu_aarch64().map_err(QemuError::Missing)?;
    let mut cmd = rig.command_with_order(&qemu, &[], order);
    let io = |e| RigError::Io(qemu.clone(), e);
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().map_err(io)?;
    let (tx, rx) = mpsc::channel::<String>();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = Instant::now() + rig.timeout;
    let mut log = String::new();
    let run = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                match classify(&log) {
                    StageRun::Other(_) => {}
                    decided => break decided,
                }
            }
            // EOF (QEMU ended) or the timeout.
            Err(_) => break classify(&log),
        }
    };
    // The boot line comes after every record write, so the flash file is complete here.
    let _ = child.kill();
    child.wait().map_err(io)?;
    Ok(run)
}

/// A record-writing step of the aarch64 stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocStep {
    /// Blank record region, A installed: erase block 0 and write the first record; A boots
    /// on its factory trial.
    Create,
    /// A confirmed, B activated (from Linux): B's tries are decremented and B boots on trial.
    TrialDecrement,
    /// A confirmed, a tampered B activated: B fails verification (bad-hash), is marked and
    /// A boots (fallback).
    BadHashFallback,
    /// B's last try was used: it is marked (tries-exhausted) and A boots (fallback).
    TriesExhausted,
}

impl SocStep {
    /// Every step, in the order [`sweep_all`] runs them.
    pub const ALL: [SocStep; 4] =
        [SocStep::Create, SocStep::TrialDecrement, SocStep::BadHashFallback, SocStep::TriesExhausted];

    /// A readable name.
    pub fn name(self) -> &'static str {
        match self {
            SocStep::Create => "create record (blank region)",
            SocStep::TrialDecrement => "trial decrement",
            SocStep::BadHashFallback => "bad-hash fallback",
            SocStep::TriesExhausted => "tries-exhausted fallback",
        }
    }
}

/// The images a sweep installs.
#[derive(Debug, Clone)]
pub struct SocSweepImages {
    /// Good A.
    pub a: Vec<u8>,
    /// Good B.
    pub b: Vec<u8>,
    /// B with a tampered kernel (refused with bad-hash).
    pub b_bad: Vec<u8>,
}

/// What the sweep of one step found.
#[derive(Debug, Clone)]
pub struct SocStepReport {
    /// The step.
    pub step: SocStep,
    /// Stores it makes (checked exactly).
    pub stores: u32,
    /// Cut points run.
    pub points: usize,
    /// Cut points after which the record was already the post-step record.
    pub at_post: usize,
    /// Invariant violations, one line each.
    pub failures: Vec<String>,
}

fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> RigError + '_ {
    move |e| RigError::Io(path.to_path_buf(), e)
}

/// The record region's raw bytes in pflash1.
///
/// # Errors
/// pflash1 cannot be read.
pub fn region(rig: &SocRig) -> Result<Vec<u8>, RigError> {
    let j = rig.board.journal;
    let f = File::open(&rig.pflash1).map_err(io(&rig.pflash1))?;
    let mut buf = vec![0u8; j.size as usize];
    f.read_exact_at(&mut buf, u64::from(j.offset)).map_err(io(&rig.pflash1))?;
    Ok(buf)
}

/// Puts back a record region saved with [`region`].
///
/// # Errors
/// pflash1 cannot be written.
pub fn set_region(rig: &SocRig, bytes: &[u8]) -> Result<(), RigError> {
    let j = rig.board.journal;
    let f = OpenOptions::new().write(true).open(&rig.pflash1).map_err(io(&rig.pflash1))?;
    f.write_all_at(bytes, u64::from(j.offset)).map_err(io(&rig.pflash1))
}

fn record(cfg: JournalConfig, bytes: &[u8]) -> Result<Option<Record>, String> {
    decode_region(cfg, bytes).map(|(_, r)| r).map_err(|e| e.to_string())
}

fn confirmed(r: &Option<Record>) -> Vec<SlotId> {
    r.as_ref().map(|r| r.slot_ids().filter(|&s| r.slot(s).is_some_and(|st| st.confirmed)).collect()).unwrap_or_default()
}

/// The cut points of a step: every store untorn, and `torn=1,4,7` (a byte, one bank word,
/// all but a byte of an 8-byte unit) on its first and last program stores.
pub fn soc_cut_points(stores: u32, erases: u32) -> Vec<CutPoint> {
    let mut v: Vec<CutPoint> = (1..=stores).map(|store| CutPoint { store, torn: 0 }).collect();
    let mut torn_at = vec![erases + 1, stores];
    torn_at.dedup();
    for store in torn_at.into_iter().filter(|&s| s > erases && s <= stores) {
        v.extend([1, 4, 7].map(|torn| CutPoint { store, torn }));
    }
    v
}

/// What one step looks like without a cut.
struct Reference {
    pre_region: Vec<u8>,
    pre: Option<Record>,
    post: Option<Record>,
    /// The slot the step boots (a cold boot from the pre-step record).
    pre_boots: SlotId,
    /// The slot a cold boot from the post-step record boots.
    post_boots: SlotId,
    keep: Vec<SlotId>,
    /// Torn stores: the regions after the untorn cuts at that store and the next.
    torn: HashMap<u32, (Vec<u8>, Vec<u8>)>,
    /// The write unit (one program store).
    unit: usize,
}

/// The region a cut at a store leaves with `torn` leading bytes of it landed: `at` (the
/// region after the untorn cut there) with the first `torn` bytes of the store's unit (where
/// `at` and `next`, the region after the next store, first differ) taken from `next`.
pub fn torn_region(at: &[u8], next: &[u8], unit: usize, torn: usize) -> Option<Vec<u8>> {
    let first = at.iter().zip(next).position(|(a, b)| a != b)?;
    let start = first / unit.max(1) * unit.max(1);
    let end = (start + torn.min(unit)).min(at.len());
    let mut v = at.to_vec();
    v.get_mut(start..end)?.copy_from_slice(next.get(start..end)?);
    Some(v)
}

/// Sweeps one step from the current state of `rig` (its pflash1 is the pre-step state);
/// `workers` rigs forked from it run the cut points in parallel. Leaves the pre-step
/// region in `rig`.
///
/// # Errors
/// The uncut step or the store count was not as expected, or the rig failed.
pub fn sweep(rig: &SocRig, step: SocStep, workers: usize) -> Result<SocStepReport, String> {
    let e = |e: RigError| e.to_string();
    let cfg = rig.board.journal;
    let pre_region = region(rig).map_err(e)?;
    let pre = record(cfg, &pre_region)?;
    let StageRun::Boot(pre_boots) = run_stage(rig, None).map_err(e)? else {
        return Err(format!("{}: the uncut step did not hand off", step.name()));
    };
    let post_region = region(rig).map_err(e)?;
    let post = record(cfg, &post_region)?;
    if post == pre || post.is_none() {
        return Err(format!("{}: the uncut step wrote no record", step.name()));
    }
    let StageRun::Boot(post_boots) = run_stage(rig, None).map_err(e)? else {
        return Err(format!("{}: the boot after the uncut step did not hand off", step.name()));
    };
    set_region(rig, &pre_region).map_err(e)?;

    // The exact store count: cut=S fires, cut=S+1 does not (and writes what the uncut run did).
    let (stores, erases) = entry_stores(&cfg, pre.is_none());
    let fires = |n: u32| -> Result<(StageRun, Vec<u8>), String> {
        let ran = run_stage(rig, Some(&Order::confirm().cut(n, 0))).map_err(e)?;
        let bytes = region(rig).map_err(e)?;
        set_region(rig, &pre_region).map_err(e)?;
        Ok((ran, bytes))
    };
    let (at_s, _) = fires(stores)?;
    let (past_s, past_region) = fires(stores + 1)?;
    if at_s != StageRun::Cut(stores) || past_s != StageRun::Boot(pre_boots) || past_region != post_region {
        return Err(format!(
            "{}: expected exactly {stores} stores: cut={stores} ran {at_s:?}, cut={} ran {past_s:?}{}",
            step.name(),
            stores + 1,
            if past_region == post_region { "" } else { " and wrote differently from the uncut run" }
        ));
    }

    let post_confirmed = confirmed(&post);
    let keep = confirmed(&pre).into_iter().filter(|s| post_confirmed.contains(s)).collect();
    let points = soc_cut_points(stores, erases);
    // For each torn store N: the regions after cut=N and cut=N+1 (untorn), between which
    // a torn cut must land exactly its leading bytes.
    let mut torn = HashMap::new();
    for n in points.iter().filter(|p| p.torn > 0).map(|p| p.store) {
        if let Entry::Vacant(v) = torn.entry(n) {
            let next = if n == stores { post_region.clone() } else { fires(n + 1)?.1 };
            v.insert((fires(n)?.1, next));
        }
    }
    let refr = Reference { pre_region, pre, post, pre_boots, post_boots, keep, torn, unit: cfg.write_size as usize };
    let workers = workers.clamp(1, points.len());
    let mut forks = Vec::new();
    for w in 0..workers {
        let mut f = rig.clone();
        f.pflash1 = rig.pflash1.with_extension(format!("cut{w}.img"));
        fs::copy(&rig.pflash1, &f.pflash1).map_err(|x| format!("{}: {x}", f.pflash1.display()))?;
        forks.push(f);
    }
    let (failures, at_post) = std::thread::scope(|s| {
        let handles: Vec<_> = forks
            .into_iter()
            .enumerate()
            .map(|(w, wrig)| {
                let mine: Vec<CutPoint> = points.iter().copied().skip(w).step_by(workers).collect();
                let refr = &refr;
                s.spawn(move || {
                    let (mut failures, mut at_post) = (Vec::new(), 0);
                    for p in mine {
                        match check_point(&wrig, cfg, refr, p) {
                            Ok(post) => at_post += usize::from(post),
                            Err(why) => {
                                failures.push(format!("{} cut={} torn={}: {why}", step.name(), p.store, p.torn));
                            }
                        }
                    }
                    let _ = fs::remove_file(&wrig.pflash1);
                    (failures, at_post)
                })
            })
            .collect();
        let mut all = (Vec::new(), 0);
        for h in handles {
            let (f, n) = h.join().unwrap_or_else(|_| (vec!["a sweep worker panicked".to_owned()], 0));
            all.0.extend(f);
            all.1 += n;
        }
        all
    });
    Ok(SocStepReport { step, stores, points: points.len(), at_post, failures })
}

/// Runs one cut point and the cold boot after it; `Ok(true)` when the cut left the
/// post-step record.
fn check_point(rig: &SocRig, cfg: JournalConfig, refr: &Reference, p: CutPoint) -> Result<bool, String> {
    let e = |e: RigError| e.to_string();
    set_region(rig, &refr.pre_region).map_err(e)?;
    let ran = run_stage(rig, Some(&Order::confirm().cut(p.store, p.torn))).map_err(e)?;
    if ran != StageRun::Cut(p.store) {
        return Err(format!("did not stop at the cut: {ran:?}"));
    }
    let bytes = region(rig).map_err(e)?;
    if p.torn > 0 {
        let (at, next) = refr.torn.get(&p.store).ok_or("no reference for a torn store")?;
        if torn_region(at, next, refr.unit, p.torn as usize).as_deref() != Some(&bytes[..]) {
            return Err(format!("a torn store did not land exactly its first {} bytes", p.torn));
        }
    }
    let after = record(cfg, &bytes)?;
    let is_post = after == refr.post;
    if after != refr.pre && !is_post {
        return Err(format!("record after the cut is neither the pre- nor the post-step record: {after:?}"));
    }
    let want = if is_post { refr.post_boots } else { refr.pre_boots };
    match run_stage(rig, None).map_err(e)? {
        StageRun::Boot(slot) if slot == want => {}
        other => return Err(format!("cold boot after the cut: {other:?}, expected a hand-off to {want}")),
    }
    let rec = record(cfg, &region(rig).map_err(e)?)?;
    let now = confirmed(&rec);
    if let Some(lost) = refr.keep.iter().find(|s| !now.contains(s)) {
        return Err(format!("confirmed slot {lost} lost"));
    }
    Ok(is_post)
}

/// What [`sweep_all`] did.
#[derive(Debug, Clone)]
pub struct SocSweepReport {
    /// One report per step.
    pub steps: Vec<SocStepReport>,
    /// Wall time, preparation included.
    pub elapsed: Duration,
}

impl SocSweepReport {
    /// Cut points run over all steps.
    pub fn cuts(&self) -> usize {
        self.steps.iter().map(|s| s.points).sum()
    }

    /// Invariant violations over all steps.
    pub fn violations(&self) -> usize {
        self.steps.iter().map(|s| s.failures.len()).sum()
    }
}

/// Sweeps every [`SocStep`] on `rig` (fresh flash files): prepares each step's state with
/// stage-only boots and, once, one Linux boot (A confirms itself and `set-active=b`
/// activates B through MTD), then runs [`sweep`].
///
/// # Errors
/// A preparing boot did not behave as expected, or a step's sweep could not run.
pub fn sweep_all(rig: &SocRig, img: &SocSweepImages, workers: usize) -> Result<SocSweepReport, String> {
    let t0 = Instant::now();
    let e = |e: RigError| e.to_string();
    let cfg = rig.board.journal;
    let mut steps = Vec::new();
    rig.install("a", &img.a).map_err(e)?;
    rig.install("b", &img.b).map_err(e)?;
    set_region(rig, &vec![0xFF; cfg.size as usize]).map_err(e)?;
    steps.push(sweep(rig, SocStep::Create, workers)?);

    // A confirmed and B activated, by Linux itself (the agent over MTD).
    set_region(rig, &vec![0xFF; cfg.size as usize]).map_err(e)?;
    let b = rig.power_on(&["set-active=b"]).map_err(e)?;
    if !b.linux_ran() || !b.init_said("set-active b done") {
        return Err(format!("preparing: Linux did not confirm A and activate B:\n{}", b.log));
    }
    let activated = region(rig).map_err(e)?;
    steps.push(sweep(rig, SocStep::TrialDecrement, workers)?);

    rig.install("b", &img.b_bad).map_err(e)?;
    steps.push(sweep(rig, SocStep::BadHashFallback, workers)?);

    // B's trials, stage only (B never confirms), until the next boot falls back.
    rig.install("b", &img.b).map_err(e)?;
    set_region(rig, &activated).map_err(e)?;
    let mut last = None;
    for _ in 0..8 {
        let before = region(rig).map_err(e)?;
        match run_stage(rig, None).map_err(e)? {
            StageRun::Boot(SlotId::B) => {}
            StageRun::Boot(SlotId::A) => {
                last = Some(before);
                break;
            }
            other => return Err(format!("preparing tries-exhausted: {other:?}")),
        }
    }
    let last = last.ok_or("preparing tries-exhausted: B never ran out of tries")?;
    set_region(rig, &last).map_err(e)?;
    steps.push(sweep(rig, SocStep::TriesExhausted, workers)?);
    Ok(SocSweepReport { steps, elapsed: t0.elapsed() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decisive_line_is_found() {
        assert_eq!(classify("safeslot: stage 0.1.0\nsafeslot: cut store=7 torn=4\n"), StageRun::Cut(7));
        assert_eq!(
            classify("safeslot: boot slot=b kind=trial tries=2 fallback=none version=2.0.0 seq=7\n"),
            StageRun::Boot(SlotId::B)
        );
        assert_eq!(classify("safeslot: recovery reason=no-slot\n"), StageRun::Recovery("no-slot".into()));
        assert!(matches!(classify("safeslot: stage 0.1.0\n"), StageRun::Other(_)));
    }

    #[test]
    fn cut_points_cover_every_store_once_untorn() {
        let v = soc_cut_points(20, 1);
        assert_eq!(v.iter().filter(|p| p.torn == 0).count(), 20);
        assert_eq!(v.len(), 20 + 6);
        assert!(v.iter().all(|p| p.torn == 0 || (p.store == 2 || p.store == 20)));
        assert_eq!(soc_cut_points(20, 0).len(), 26);
    }

    #[test]
    fn a_torn_store_lands_its_leading_bytes() {
        let at = [0xFF; 24];
        let mut next = at;
        next[8..16].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let t = torn_region(&at, &next, 8, 3).unwrap();
        assert_eq!(&t[8..16], &[1, 2, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(t[..8], at[..8]);
        assert_eq!(torn_region(&at, &at, 8, 3), None);
    }
}
