//! The virtual SoC's scenarios: the real aarch64 stage boots Debian's real arm64 kernel from
//! CFI flash, and `safeslotctl` in Linux reads and writes the record through MTD.
//!
//! Every test here needs the SoC build and QEMU, so each is `#[ignore]`d: a plain `cargo
//! test` reports it as ignored. `cargo xtask soc-rig` (and `cargo xtask test`) builds the
//! stage, the agent, the initramfs and the signed slot images and runs them with
//! `SAFESLOT_SOC_*` set and `--ignored`; run with `--ignored` without that environment, a
//! test fails. Each scenario has its own flash files; each
//! power-on is a fresh QEMU. The assertions read the serial log (the stage's `safeslot:`
//! lines, the init script's `safeslot-init:` lines with `safeslotctl status --json`) and
//! the record decoded from pflash1.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use safeslot_hil::soc::{SocBoot, SocRig};
use safeslot_shared::{Reason, SlotId};

struct Setup {
    stage: Vec<u8>,
    images: PathBuf,
    layout: safeslot_layout::Layout,
}

/// The rig's environment, which `cargo xtask soc-rig` sets; a test run without it fails.
fn setup() -> Setup {
    let var = |name: &str| {
        std::env::var_os(name).unwrap_or_else(|| {
            panic!("{name} is not set: this test needs the SoC build and QEMU; run `cargo xtask soc-rig`")
        })
    };
    let stage = std::fs::read(var("SAFESLOT_SOC_STAGE")).unwrap();
    let images = PathBuf::from(var("SAFESLOT_SOC_IMAGES"));
    let layout = safeslot_layout::Layout::load(&PathBuf::from(var("SAFESLOT_SOC_LAYOUT"))).unwrap();
    Setup { stage, images, layout }
}

fn image(s: &Setup, name: &str) -> Vec<u8> {
    std::fs::read(s.images.join(name)).unwrap()
}

/// Runs a scenario on fresh flash files.
fn scenario(name: &str, run: impl FnOnce(&Setup, &SocRig)) {
    let s = setup();
    let dir = std::env::temp_dir().join(format!("safeslot-soc-{}-{name}", std::process::id()));
    let rig = SocRig::new(&s.layout, &s.stage, &dir).unwrap();
    run(&s, &rig);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Boots once; prints the evidence; asserts Linux ran to its power-off.
fn boot(rig: &SocRig, actions: &[&str]) -> SocBoot {
    let b = rig.power_on(actions).unwrap();
    let stage: Vec<&str> = b.log.lines().filter(|l| l.starts_with("safeslot: ")).collect();
    eprintln!("  boot ({:.1} s, actions {actions:?}): {}", b.wall.as_secs_f64(), stage.join(" | "));
    for l in b.init_lines() {
        if !l.starts_with("status ") {
            eprintln!("    init: {l}");
        }
    }
    assert!(b.linux_ran(), "Linux did not run to its power-off:\n{}", b.log);
    b
}

fn status_slot<'a>(st: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    st["slots"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()
}

/// The first boot of a fresh device: A in slot a, blank record. Afterwards A is confirmed.
fn fresh_boot(s: &Setup, rig: &SocRig) -> SocBoot {
    rig.install("a", &image(s, "a-v1.img")).unwrap();
    let b = boot(rig, &[]);
    assert_eq!(b.stage("slot").as_deref(), Some("a"));
    assert_eq!(b.stage("version").as_deref(), Some("1.0.0"));
    b
}

#[test]
#[ignore = "needs the SoC build and QEMU: cargo xtask soc-rig (cargo xtask test runs it)"]
fn soc_fresh_device() {
    // A factory-fresh device boots A's kernel on its factory trial; Linux sees A booted
    // (from the record and from `safeslot.slot=a` on its command line), the health check
    // passes and `mark-good` confirms A through MTD; a confirmed boot writes nothing.
    scenario("fresh", |s, rig| {
        let b = fresh_boot(s, rig);
        assert_eq!(b.stage("kind").as_deref(), Some("trial"));
        assert!(b.log.contains("Kernel command line: console=ttyAMA0 safeslot.slot=a safeslot.kind=trial"));
        assert!(b.init_said("mtd1 erasesize=262144 writesize=1 size=67108864"), "{}", b.log);
        let before = b.status(0).unwrap();
        assert_eq!(before["booted"], "a");
        assert_eq!(before["cmdline_slot"], "a");
        assert_eq!(status_slot(&before, "a")["confirmed"], false);
        assert!(b.init_said("health ok, marked good"));
        let after = b.status(1).unwrap();
        assert_eq!(after["last_known_good"], "a");
        assert_eq!(status_slot(&after, "a")["confirmed"], true);
        let r = rig.record().unwrap().unwrap();
        assert!(r.slot(SlotId::A).unwrap().confirmed);
        let flash = rig.flash().unwrap();
        let b2 = boot(rig, &[]);
        assert_eq!(b2.stage("kind").as_deref(), Some("confirmed"));
        assert_eq!(b2.status(0).unwrap()["last_known_good"], "a");
        assert_eq!(rig.flash().unwrap()[..0x8_0000], flash[..0x8_0000], "a confirmed boot wrote the record");
    });
}

#[test]
#[ignore = "needs the SoC build and QEMU: cargo xtask soc-rig (cargo xtask test runs it)"]
fn soc_update_confirmed() {
    // B is installed into slot b and activated from Linux with RAUC's `set-primary B`;
    // after a power cycle the stage boots B on trial, B's health check passes and it
    // confirms itself; B stays.
    scenario("update", |s, rig| {
        fresh_boot(s, rig);
        rig.install("b", &image(s, "b-v2.img")).unwrap();
        let b = boot(rig, &["set-primary=B"]);
        assert_eq!(b.stage("slot").as_deref(), Some("a"));
        assert!(b.init_said("set-primary B done"), "{}", b.log);
        assert_eq!(b.status(1).unwrap()["primary"], "b");
        let b = boot(rig, &[]);
        assert_eq!((b.stage("slot").as_deref(), b.stage("kind").as_deref()), (Some("b"), Some("trial")));
        assert_eq!(b.stage("version").as_deref(), Some("2.0.0"));
        assert!(b.log.contains("safeslot.slot=b"));
        assert_eq!(b.status(0).unwrap()["booted"], "b");
        assert!(b.init_said("health ok, marked good"));
        assert_eq!(b.status(1).unwrap()["last_known_good"], "b");
        for _ in 0..2 {
            let b = boot(rig, &[]);
            assert_eq!((b.stage("slot").as_deref(), b.stage("kind").as_deref()), (Some("b"), Some("confirmed")));
        }
        let r = rig.record().unwrap().unwrap();
        assert!(r.slot(SlotId::B).unwrap().confirmed);
    });
}

#[test]
#[ignore = "needs the SoC build and QEMU: cargo xtask soc-rig (cargo xtask test runs it)"]
fn soc_update_never_confirms() {
    // B (whose health check fails) is activated with `set-active b`: it boots on trial once
    // per try and never confirms; then the stage falls back to A, and `safeslotctl status`
    // in A shows why (tries-exhausted).
    scenario("noconfirm", |s, rig| {
        fresh_boot(s, rig);
        rig.install("b", &image(s, "b-v2-unconfirmed.img")).unwrap();
        let b = boot(rig, &["set-active=b"]);
        assert!(b.init_said("set-active b done"), "{}", b.log);
        let tries = status_slot(&b.status(1).unwrap(), "b")["tries"].as_u64().unwrap();
        assert!((1..=7).contains(&tries), "tries {tries}");
        for i in 0..tries {
            let b = boot(rig, &[]);
            assert_eq!(b.stage("slot").as_deref(), Some("b"), "trial {i}");
            assert_eq!(b.stage("kind").as_deref(), Some("trial"));
            assert_eq!(b.stage("tries").unwrap(), (tries - 1 - i).to_string());
            assert!(b.init_said("health check failed (fail): not confirming"));
        }
        let b = boot(rig, &[]);
        assert_eq!(b.stage("slot").as_deref(), Some("a"));
        assert_eq!(b.stage("fallback").as_deref(), Some(Reason::TriesExhausted.name()));
        let st = b.status(0).unwrap();
        assert_eq!(st["booted"], "a");
        assert_eq!(st["last_fallback"], Reason::TriesExhausted.name());
        assert_eq!(status_slot(&st, "b")["bootable"], false);
        let b = boot(rig, &[]);
        assert_eq!(b.stage("slot").as_deref(), Some("a"), "B must not run again");
    });
}

#[test]
#[ignore = "needs the SoC build and QEMU: cargo xtask soc-rig (cargo xtask test runs it)"]
fn soc_tampered_kernel_rejected() {
    // A B image with one byte of its gzip'd kernel flipped after signing is activated: the
    // stage's hash over the RAM copy fails, B never runs, A boots, and Linux in A sees B
    // unbootable with bad-hash.
    scenario("tampered", |s, rig| {
        fresh_boot(s, rig);
        rig.install("b", &image(s, "b-v2-tampered.img")).unwrap();
        let b = boot(rig, &["set-active=b"]);
        assert!(b.init_said("set-active b done"), "{}", b.log);
        let b = boot(rig, &[]);
        assert_eq!(b.stage("slot").as_deref(), Some("a"));
        assert_eq!(b.stage("fallback").as_deref(), Some(Reason::BadHash.name()));
        let st = b.status(0).unwrap();
        assert_eq!(st["booted"], "a");
        assert_eq!(status_slot(&st, "b")["unbootable"], Reason::BadHash.name());
        assert_eq!(st["last_fallback"], Reason::BadHash.name());
    });
}

#[test]
#[ignore = "needs the SoC build and QEMU: cargo xtask soc-rig (cargo xtask test runs it)"]
fn soc_no_valid_image_is_recovery() {
    // Nothing bootable (slot a holds B's tampered image, slot b is empty): the stage says
    // why and powers off; no kernel starts.
    scenario("recovery", |s, rig| {
        rig.install("a", &image(s, "b-v2-tampered.img")).unwrap();
        let b = rig.power_on(&[]).unwrap();
        assert!(!b.timed_out, "{}", b.log);
        assert!(b.recovery().is_some(), "{}", b.log);
        assert!(!b.log.contains("Booting Linux"), "{}", b.log);
        assert!(b.init_lines().is_empty());
    });
}

#[test]
#[ignore = "needs the SoC build and QEMU: cargo xtask soc-rig (cargo xtask test runs it)"]
fn soc_record_recreated_over_mtd() {
    // `safeslotctl init --force` in Linux erases the record blocks through MTD (MEMERASE on
    // the kernel's CFI driver) and writes a fresh record: the host decodes it from pflash1,
    // the old journal is gone, and the next boot is A on its factory trial again.
    scenario("init", |s, rig| {
        fresh_boot(s, rig);
        let before = rig.record().unwrap().unwrap();
        assert!(before.slot(SlotId::A).unwrap().confirmed);
        let b = boot(rig, &["init-force"]);
        assert!(b.init_said("init done"), "{}", b.log);
        let r = rig.record().unwrap().unwrap();
        assert!(!r.slot(SlotId::A).unwrap().confirmed, "the fresh record has A unconfirmed");
        let flash = rig.flash().unwrap();
        // Everything after the fresh record's first entry in the record area is erased:
        // the old entries (A confirmed, seq 2) were wiped, not superseded.
        let used = flash[..0x8_0000].iter().rposition(|&b| b != 0xFF).unwrap();
        assert!(used < 4096, "record area still holds {used} bytes of old entries");
        let b = boot(rig, &[]);
        assert_eq!((b.stage("slot").as_deref(), b.stage("kind").as_deref()), (Some("a"), Some("trial")));
    });
}

#[test]
#[ignore = "needs the SoC build and QEMU: cargo xtask soc-rig (cargo xtask test runs it)"]
fn soc_power_cut_during_activation_never_bricks() {
    // Power is cut (QEMU killed) at several instants of a boot in which Linux activates B:
    // during the stage, the kernel, the module loads, or the agent's record writes. After
    // each cut the device boots Linux again from A or from B on trial — never recovery,
    // never a hang — and the record decodes.
    scenario("cut", |s, rig| {
        fresh_boot(s, rig);
        rig.install("b", &image(s, "b-v2.img")).unwrap();
        let good = rig.flash().unwrap();
        for ms in [300u64, 3700, 4300, 4500, 4700, 4900] {
            std::fs::write(&rig.pflash1, &good).unwrap();
            let cut = rig.power_on_cut(&["set-active=b"], Duration::from_millis(ms)).unwrap();
            let got_to: Option<String> = cut.init_lines().last().map(|l| l.chars().take(40).collect());
            let b = boot(rig, &[]);
            eprintln!("  cut at {ms} ms (init got to {got_to:?}): next boot slot {:?}", b.stage("slot"));
            match (b.stage("slot").as_deref(), b.stage("kind").as_deref()) {
                (Some("a"), Some("confirmed")) | (Some("b"), Some("trial")) => {}
                other => panic!("cut at {ms} ms: next boot {other:?}\n{}", b.log),
            }
            assert!(rig.record().unwrap().is_some(), "cut at {ms} ms: the record does not decode");
        }
    });
}

#[test]
#[ignore = "needs the SoC build and QEMU: cargo xtask soc-rig (cargo xtask test runs it)"]
fn soc_power_cut_sweep() {
    // The aarch64 stage cut at every flash store of its record-writing steps (create, trial
    // decrement, bad-hash fallback, tries-exhausted fallback; `safeslot_hil::soc_sweep`):
    // exact store counts, the record after each cut is the pre- or post-step record, and a
    // cold boot hands off to a verified slot with no confirmed slot lost.
    use safeslot_hil::soc_sweep::{self, SocSweepImages};
    scenario("sweep", |s, rig| {
        let img =
            SocSweepImages { a: image(s, "a-v1.img"), b: image(s, "b-v2.img"), b_bad: image(s, "b-v2-tampered.img") };
        let report = soc_sweep::sweep_all(rig, &img, 2).unwrap();
        for st in &report.steps {
            eprintln!(
                "  {:<28} {:>2} stores, {:>2} cuts ({} left the post-step record)",
                st.step.name(),
                st.stores,
                st.points,
                st.at_post
            );
            for f in &st.failures {
                eprintln!("    VIOLATION {f}");
            }
        }
        println!(
            "aarch64 power-cut sweep: {} cuts over {} steps, {} violations ({:.0} s)",
            report.cuts(),
            report.steps.len(),
            report.violations(),
            report.elapsed.as_secs_f64()
        );
        assert_eq!(report.violations(), 0);
    });
}
