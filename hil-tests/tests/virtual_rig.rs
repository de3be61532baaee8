//! The virtual rig's scenarios on the real firmware in QEMU.
//!
//! Every test here needs the firmware and QEMU, so each is `#[ignore]`d: a plain `cargo
//! test` reports it as ignored. `cargo xtask rig` (and `cargo xtask test`) builds the
//! firmware, signs the images and runs them with `SAFESLOT_RIG_*` set and `--ignored`; run
//! with `--ignored` without that environment, a test fails.
//!
//! * `scenario_catalogue`: every scenario of `safeslot_hil::catalogue`, once (each on its
//!   own flash file), driven as the probe-rs rig drives a real board (mailbox command in
//!   RAM, report read back over QMP; the virtual board's recovery input and write faults on
//!   its command line);
//! * `firmware_power_cut_sweep`: every store of every record-writing step cut
//!   (`SAFESLOT_CUT_TORN=all` adds every torn program store);
//! * `soak`: QEMU killed at pseudo-random times over `SAFESLOT_SOAK` power-ons, seeded by
//!   `SAFESLOT_SOAK_SEED` (`cargo xtask test` runs a short one; `cargo xtask hil soak
//!   --boots N [--seed S]` a long one).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use safeslot_hil::catalogue;
use safeslot_hil::mailbox_rig::MailboxRig;
use safeslot_hil::powercut::{self, SweepImages, Torn};
use safeslot_hil::rig::{BoardLayout, Rig, VirtualRig};
use safeslot_hil::scenarios::Kit;
use safeslot_hil::story::{self, Images};
use safeslot_shared::protocol::order::Order;
use safeslot_shared::SlotId;

struct Setup {
    boot: PathBuf,
    apps: Vec<PathBuf>,
    images: PathBuf,
    layout: safeslot_layout::Layout,
}

/// The rig's environment, which `cargo xtask rig` sets; a test run without it fails.
fn setup() -> Setup {
    let var = |name: &str| {
        std::env::var_os(name).unwrap_or_else(|| {
            panic!("{name} is not set: this test needs the firmware and QEMU; run `cargo xtask rig`")
        })
    };
    let boot = var("SAFESLOT_RIG_BOOT_ELF");
    let apps = std::env::split_paths(&var("SAFESLOT_RIG_APP_ELFS")).collect();
    let images = PathBuf::from(var("SAFESLOT_RIG_IMAGES"));
    let layout = safeslot_layout::Layout::load(&PathBuf::from(var("SAFESLOT_RIG_LAYOUT"))).unwrap();
    Setup { boot: boot.into(), apps, images, layout }
}

fn rig(s: &Setup, name: &str) -> VirtualRig {
    let img = std::env::temp_dir().join(format!("safeslot-rig-{}-{name}.img", std::process::id()));
    VirtualRig::new(BoardLayout::from_layout(&s.layout), s.boot.clone(), s.apps.clone(), img).unwrap()
}

fn images(s: &Setup) -> Images {
    Images {
        a_v1: std::fs::read(s.images.join("a-v1.img")).unwrap(),
        b_v2: std::fs::read(s.images.join("b-v2.img")).unwrap(),
    }
}

fn kit(s: &Setup) -> Kit {
    let key =
        std::env::var_os("SAFESLOT_RIG_KEY").expect("SAFESLOT_RIG_KEY (the signing key; `cargo xtask test` sets it)");
    let pem = std::fs::read_to_string(&key).unwrap();
    let i = images(s);
    let board = BoardLayout::from_layout(&s.layout);
    let kit = Kit::new(&pem, &i.a_v1, &i.b_v2, board.slot_sizes[SlotId::B.index()]).unwrap();
    // The firmware's second trusted key (index 1), for the key-rotation scenario.
    match std::env::var_os("SAFESLOT_RIG_NEXT_KEY") {
        Some(next) => kit.with_next_key(&std::fs::read_to_string(next).unwrap()).unwrap(),
        None => kit,
    }
}

#[test]
#[ignore = "needs the firmware and QEMU: cargo xtask rig (cargo xtask test runs it)"]
fn demo_story() {
    let s = setup();
    let mut r = rig(&s, "demo");
    let t = story::demo(&mut r, &images(&s), true).unwrap();
    assert_eq!(t.len(), 11);
    let _ = std::fs::remove_file(&r.flash_img);
}

/// Runs the catalogue (or the scenarios named by `SAFESLOT_SCENARIO`) on `workers()`
/// threads, each scenario on a fresh rig from `make`; returns the summary and how many
/// scenarios were selected.
fn run_catalogue<R: Rig + 'static>(
    s: &Setup,
    make: impl Fn(&Setup, &str) -> R + Sync,
    flash_img: impl Fn(&R) -> PathBuf + Sync,
) -> (catalogue::Summary, usize, bool) {
    let k = kit(s);
    let journal = BoardLayout::from_layout(&s.layout).journal.size as usize;
    let filter = std::env::var("SAFESLOT_SCENARIO").ok().filter(|f| !f.is_empty());
    let list = catalogue::select(catalogue::catalogue::<R>(journal, s.layout.power_loss_retries()), filter.as_deref());
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers() {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(sc) = list.get(i) else { break };
                let mut r = make(s, &sc.name);
                let outcome = catalogue::run(&mut r, &k, sc);
                let _ = std::fs::remove_file(flash_img(&r));
                results.lock().unwrap().push((i, outcome));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    assert_eq!(results.len(), list.len());
    let mut sum = catalogue::Summary::default();
    for (i, outcome) in &results {
        sum.add(&list[*i].name, outcome);
    }
    (sum, list.len(), filter.is_none())
}

/// Every scenario of the catalogue (the same list the probe-rs rig runs), once, each on its
/// own flash file, on `workers()` threads; `SAFESLOT_SCENARIO=<substring>` runs only those
/// whose name contains it (`cargo xtask rig FILTER` sets it).
///
/// Through the rig mailbox (`MailboxRig`), as the probe-rs rig drives a real board: the
/// app's command loaded into RAM, hand-off block and report read back over QMP, classified
/// as the probe rig does. The virtual board's own hooks (recovery input, write faults) go
/// on its command line, so no scenario is skipped. The command-line transport of the app's
/// orders is still exercised by the demo story and the power-cut sweep below.
#[test]
#[ignore = "needs the firmware and QEMU: cargo xtask rig (cargo xtask test runs it)"]
fn scenario_catalogue() {
    let s = setup();
    let handoff = u64::from(s.layout.handoff().base);
    let (sum, n, all) =
        run_catalogue(&s, |s, name| MailboxRig::new(rig(s, name), handoff), |r| r.inner.flash_img.clone());
    println!("virtual rig: {n} scenarios, {} passed, {} skipped, {} failed", sum.passed, sum.skipped, sum.failed.len());
    assert!(sum.failed.is_empty(), "failed scenarios: {:?}", sum.failed);
    // The virtual board provides every need: nothing may be skipped here.
    assert_eq!(sum.skipped, 0, "the virtual rig skipped scenarios");
    if all {
        // Every scenario of the catalogue (its size is pinned by the catalogue's unit test).
        assert_eq!(sum.passed, n, "the whole catalogue");
        assert!(n >= 36, "the catalogue lost scenarios: {n}");
    }
}

fn sweep_images(k: &Kit) -> SweepImages {
    SweepImages { a: k.original(SlotId::A), b: k.original(SlotId::B), b_bad: k.tampered_image(SlotId::B, 0.5) }
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4)
}

#[test]
#[ignore = "needs the firmware and QEMU: cargo xtask rig (cargo xtask test runs it)"]
fn firmware_power_cut_sweep() {
    let s = setup();
    let k = kit(&s);
    let torn = if std::env::var("SAFESLOT_CUT_TORN").is_ok_and(|v| v == "all") { Torn::All } else { Torn::Sample };
    let mut r = rig(&s, "powercut");
    let started = Instant::now();
    let reports = powercut::sweep_all(&mut r, &sweep_images(&k), torn, workers());
    let _ = std::fs::remove_file(&r.flash_img);
    let reports = reports.unwrap();
    let mut total = 0;
    let mut failures = Vec::new();
    for rep in &reports {
        println!(
            "  {:<42} `{}`: {} stores, {} cut points ({} left the post-step record), {} failures",
            rep.step.name(),
            rep.args,
            rep.stores,
            rep.points,
            rep.at_post,
            rep.failures.len()
        );
        total += rep.points;
        failures.extend(rep.failures.iter().cloned());
    }
    println!(
        "firmware power-cut sweep: {total} cut points, {} failures ({} steps, {:.1} s)",
        failures.len(),
        reports.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{} invariant violations:\n{}", failures.len(), failures.join("\n"));
    assert!(total >= 200, "only {total} cut points");
}

/// QEMU killed at random times over `SAFESLOT_SOAK` power-ons (seed `SAFESLOT_SOAK_SEED`),
/// each followed by a check of the record, and a cold boot now and then that must run a
/// confirmed, last-known-good slot. The first violation fails the test.
#[test]
#[ignore = "needs the firmware and QEMU: cargo xtask hil soak --boots N (cargo xtask test runs a short one)"]
fn soak() {
    let s = setup();
    let number = |name: &str| -> u64 {
        let v = std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (`cargo xtask hil soak` sets it)"));
        v.parse().unwrap_or_else(|_| panic!("{name}={v:?}: a number expected"))
    };
    let boots = usize::try_from(number("SAFESLOT_SOAK")).unwrap();
    let seed = number("SAFESLOT_SOAK_SEED");
    let k = kit(&s);
    let mut r = rig(&s, "soak");
    let rep = powercut::soak(&mut r, &k.original(SlotId::A), &k.original(SlotId::B), seed, boots);
    let _ = std::fs::remove_file(&r.flash_img);
    let rep = rep.unwrap_or_else(|e| panic!("soak seed {seed}, {boots} boots: 1 violation: {e}"));
    println!(
        "soak seed {seed}: {} power-ons, {} killed ({} after a record write; last cold boot {:.0} ms), \
         {} cold boots checked ({} last-resort), {} journal entries, 0 violations, {:.1} s",
        rep.boots,
        rep.killed,
        rep.killed_after_write,
        rep.calibration.as_secs_f64() * 1e3,
        rep.cold,
        rep.last_resort,
        rep.entries,
        rep.elapsed.as_secs_f64()
    );
    assert!(rep.killed_after_write > 0, "no kill fell after a record write: the soak cut no write ({rep:?})");
}

/// The real boards' demo app (`safeslot_cortex_m::app::run`) driven through the rig
/// mailbox, as the probe-rs rig drives it: the virtual boot stage writes the command into
/// RAM (`mailbox`), the app reads and consumes it, acts, and writes a report that it reads
/// back from RAM and logs.
#[test]
#[ignore = "needs the firmware and QEMU: cargo xtask rig (cargo xtask test runs it)"]
fn rig_mailbox_drives_the_demo_app() {
    use safeslot_hil::rig::{Ran, Rig};
    let s = setup();
    let k = kit(&s);
    let mut r = rig(&s, "mailbox");
    r.install(SlotId::A, &k.original(SlotId::A)).unwrap();
    r.install(SlotId::B, &k.original(SlotId::B)).unwrap();
    let has = |log: &[String], want: &str| log.iter().any(|l| l.contains(want));

    // A on trial; the command: activate B, do not confirm.
    let boot = r.power_on(&Order::noconfirm().activate(SlotId::B).mailbox()).unwrap();
    assert_eq!(boot.ran, Ran::App(SlotId::A), "{boot:?}");
    assert!(has(&boot.app_log, "app: not confirming"), "{:?}", boot.app_log);
    assert!(has(&boot.app_log, "app: report slot=0 confirmed=false"), "{:?}", boot.app_log);
    let rec = r.record().unwrap().expect("record");
    assert!(!rec.slot(SlotId::A).unwrap().confirmed, "A must stay unconfirmed");
    assert!(rec.slot(SlotId::B).unwrap().is_bootable(), "B activated");

    // B on trial; the command: confirm. The report names B.
    let boot = r.power_on(&Order::confirm().mailbox()).unwrap();
    assert_eq!(boot.ran, Ran::App(SlotId::B), "{boot:?}");
    assert!(has(&boot.app_log, "app: report slot=1 confirmed=true"), "{:?}", boot.app_log);
    let rec = r.record().unwrap().expect("record");
    assert!(rec.slot(SlotId::B).unwrap().confirmed);
    assert_eq!(rec.last_known_good, Some(SlotId::B));

    // The command: crash. No report is written.
    let boot = r.power_on(&Order::crash().mailbox()).unwrap();
    assert_eq!(boot.ran, Ran::Crash, "{boot:?}");
    assert!(has(&boot.app_log, "app: crashing"), "{:?}", boot.app_log);
    let _ = std::fs::remove_file(&r.flash_img);
}
