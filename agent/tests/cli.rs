//! Runs the `safeslotctl` binary against flash files with write sizes 1 and 8.

mod common;

use common::Sandbox;
use safeslot_shared::SlotId;

const WRITE_SIZES: [u32; 2] = [1, 8];

#[test]
fn every_command_after_init() {
    for ws in WRITE_SIZES {
        let rig = Sandbox::new(ws);
        let init = rig.ok(&["--json", "init"]).json();
        assert_eq!(init["schema"], 1);
        assert_eq!(init["changed"], true);
        assert_eq!(init["seq"], 1);

        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!(st["schema"], 1);
        assert_eq!(st["seq"], 1);
        assert_eq!(st["booted"], serde_json::Value::Null);
        assert_eq!(st["primary"], "a");
        assert_eq!(st["slots"][0]["name"], "a");
        assert_eq!(st["slots"][0]["priority"], 15);
        assert_eq!(st["slots"][0]["tries"], 3);
        assert_eq!(st["slots"][0]["confirmed"], false);
        assert_eq!(st["slots"][1]["bootable"], false);
        assert_eq!(st["history"][0]["event"], "created");
        let human = rig.ok(&["status"]).stdout;
        assert!(human.contains("next boot:       a"), "{human}");

        let h = rig.ok(&["history", "--json"]).json();
        assert_eq!(h["schema"], 1);
        assert_eq!(h["history"].as_array().unwrap().len(), 1);
        assert!(rig.ok(&["history"]).stdout.contains("created"));

        // Nothing booted yet.
        let e = rig.expect(69, &["mark-good"]);
        assert!(e.stderr.contains("no slot has been booted"), "{}", e.stderr);
        assert_eq!(e.stdout, "");
        rig.expect(69, &["get-current"]);

        assert_eq!(rig.reboot(), SlotId::A);
        rig.set_cmdline("root=/dev/x safeslot.slot=a\n");
        assert_eq!(rig.ok(&["get-current"]).stdout, "a\n");
        assert_eq!(rig.ok(&["get-current-slot"]).stdout, "0\n");
        assert_eq!(rig.ok(&["get-number-slots"]).stdout, "2\n");
        assert_eq!(rig.ok(&["get-suffix", "1"]).stdout, "_b\n");
        rig.expect(70, &["is-slot-marked-successful", "0"]);

        let g = rig.ok(&["--json", "mark-good"]).json();
        assert_eq!(
            (g["changed"].clone(), g["slot"].clone(), g["command"].clone()),
            (true.into(), "a".into(), "mark-good".into())
        );
        let seq = g["seq"].as_u64().unwrap();
        let again = rig.ok(&["mark-good", "--json"]).json();
        assert_eq!(again["changed"], false, "a second mark-good writes nothing");
        assert_eq!(again["seq"].as_u64(), Some(seq));
        assert!(rig.ok(&["mark-good"]).stdout.contains("nothing written"));
        rig.ok(&["is-slot-marked-successful", "0"]);
        rig.ok(&["is-slot-bootable", "0"]);
        rig.expect(70, &["is-slot-bootable", "1"]);
        rig.expect(70, &["is-slot-marked-successful", "1"]);

        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!(st["booted"], "a");
        assert_eq!(st["cmdline_slot"], "a");
        assert_eq!(st["mismatch"], false);
        assert_eq!(st["last_known_good"], "a");

        let a = rig.ok(&["set-active", "b", "--tries", "2", "--json"]).json();
        assert_eq!((a["slot"].clone(), a["changed"].clone()), ("b".into(), true.into()));
        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!(st["primary"], "b");
        assert_eq!(st["slots"][1]["tries"], 2);
        assert_eq!(st["slots"][1]["priority"], 15);
        assert_eq!(st["slots"][0]["priority"], 14);
        assert_eq!(rig.ok(&["get-primary"]).stdout, "b\n");

        rig.ok(&["mark-bad", "b"]);
        assert_eq!(rig.ok(&["get-state", "b"]).stdout, "bad\n");
        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!(st["slots"][1]["unbootable"], "marked-bad");
        assert_eq!(st["primary"], "a");

        rig.ok(&["set-active-boot-slot", "1"]);
        assert_eq!(rig.ok(&["get-primary"]).stdout, "b\n");
        rig.ok(&["set-slot-as-unbootable", "1"]);
        rig.expect(70, &["is-slot-bootable", "1"]);
        rig.ok(&["mark-boot-successful"]);

        // Usage errors exit 64, with nothing on stdout.
        for args in [
            &["set-active", "z"][..],
            &["set-active", "b", "--tries", "0"],
            &["set-active", "b", "--tries", "16"],
            &["is-slot-bootable", "2"],
            &["get-suffix", "7"],
            &["set-state", "b", "maybe"],
            &["no-such-command"],
            &["status", "--offset", "zz"],
        ] {
            let r = rig.expect(64, args);
            assert_eq!(r.stdout, "", "{args:?}");
        }

        // init refuses a valid record unless forced.
        let before = rig.flash_bytes();
        let e = rig.expect(69, &["init"]);
        assert!(e.stderr.contains("--force"), "{}", e.stderr);
        assert_eq!(rig.flash_bytes(), before);
        let f = rig.ok(&["init", "--force", "--json"]).json();
        assert!(f["seq"].as_u64().unwrap() > seq);
        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!(st["booted"], serde_json::Value::Null);
        assert_eq!(st["history"][0]["event"], "created");
    }
}

#[test]
fn rauc_install_sequence() {
    for ws in WRITE_SIZES {
        let rig = Sandbox::new(ws);
        rig.ok(&["init"]);
        assert_eq!(rig.reboot(), SlotId::A);
        rig.set_cmdline("root=/dev/mmcblk0p2 rauc.slot=A\n");
        assert_eq!(rig.ok(&["get-current"]).stdout, "a\n");
        rig.ok(&["set-state", "a", "good"]);
        assert_eq!(rig.ok(&["get-state", "a"]).stdout, "good\n");
        assert_eq!(rig.ok(&["get-primary"]).stdout, "a\n");

        // RAUC installs into the other slot: mark it bad, write it, make it primary.
        let r = rig.ok(&["set-state", "b", "bad"]);
        assert_eq!(r.stdout, "", "RAUC verbs print only values");
        assert_eq!(rig.ok(&["get-state", "b"]).stdout, "bad\n");
        rig.ok(&["set-primary", "b"]);
        assert_eq!(rig.ok(&["get-primary"]).stdout, "b\n");
        assert_eq!(rig.ok(&["get-state", "b"]).stdout, "good\n");
        // `set-state b good` before b has run confirms nothing: b is bootable, so it
        // is accepted without a change; only the booted slot can be confirmed.
        let seq = rig.ok(&["status", "--json"]).json()["seq"].clone();
        rig.ok(&["set-state", "b", "good"]);
        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!((st["seq"].clone(), st["slots"][1]["confirmed"].clone()), (seq, false.into()));

        // Reboot into the new slot.
        assert_eq!(rig.reboot(), SlotId::B);
        rig.set_cmdline("root=/dev/mmcblk0p3 rauc.slot=B\n");
        assert_eq!(rig.ok(&["get-current"]).stdout, "b\n");
        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!(st["mismatch"], false);
        assert_eq!(st["slots"][1]["tries"], 2, "the trial boot used one try");
        rig.ok(&["set-state", "B", "good"]);
        assert_eq!(rig.ok(&["get-state", "b"]).stdout, "good\n");
        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!(st["last_known_good"], "b");
        assert_eq!(st["slots"][1]["confirmed"], true);
        assert_eq!(rig.ok(&["get-primary"]).stdout, "b\n");
        // set-primary on the confirmed primary changes nothing.
        let seq = st["seq"].clone();
        rig.ok(&["set-primary", "b"]);
        assert_eq!(rig.ok(&["status", "--json"]).json()["seq"], seq);
        // A command line that disagrees with the record is reported.
        rig.set_cmdline("rauc.slot=A\n");
        let r = rig.ok(&["status", "--json"]);
        assert_eq!(r.json()["mismatch"], true);
        assert_eq!(r.json()["cmdline_slot"], "a");
        assert!(r.stderr.contains("warning"), "{}", r.stderr);
        // What the stage passed to the kernel is the authority on what runs: the record's
        // last-booted slot is stale when the stage could not write it (issue #12).
        assert_eq!(rig.ok(&["get-current"]).stdout, "a\n", "the stage's word wins");
        rig.expect(64, &["get-state", "x"]);
    }
}

#[test]
fn blank_region_is_reported_and_left_alone() {
    let rig = Sandbox::new(8);
    let before = rig.flash_bytes();
    for args in [&["status"][..], &["mark-good"], &["set-primary", "b"], &["get-primary"], &["history", "--json"]] {
        let r = rig.expect(65, args);
        assert!(r.stderr.contains("record region is blank: run `safeslotctl init`"), "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "");
    }
    assert_eq!(rig.flash_bytes(), before);
}

#[test]
fn corrupt_region_is_reported_and_left_alone() {
    for ws in WRITE_SIZES {
        let rig = Sandbox::new(ws);
        rig.ok(&["init"]);
        let mut bytes = rig.flash_bytes();
        bytes[20] ^= 0x01; // inside the record of the only entry
        std::fs::write(rig.flash_path(), &bytes).unwrap();
        for args in
            [&["status"][..], &["mark-good"], &["set-active", "b"], &["set-state", "b", "bad"], &["get-current"]]
        {
            let r = rig.expect(65, args);
            assert!(r.stderr.contains("holds no valid record"), "{args:?}: {}", r.stderr);
            assert!(!r.stderr.contains("blank"), "{}", r.stderr);
        }
        let r = rig.expect(69, &["init"]);
        assert!(r.stderr.contains("--force"), "{}", r.stderr);
        assert_eq!(rig.flash_bytes(), bytes, "nothing was repaired silently");
        // Issue #16: the corrupt region's floor cannot be read, so replacing it needs
        // --allow-rollback as well, and the new record says the floor was lost.
        let r = rig.expect(69, &["init", "--force"]);
        assert!(r.stderr.contains("--allow-rollback"), "{}", r.stderr);
        assert_eq!(rig.flash_bytes(), bytes, "nothing was replaced");
        rig.ok(&["init", "--force", "--allow-rollback"]);
        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!(st["floor_lost"], true, "{st}");
        assert!(rig.ok(&["status"]).stdout.contains("LOST"));
    }
}

#[test]
fn a_held_lock_gives_busy_after_a_bounded_wait() {
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    assert!(!common::exists(&rig.path("flash.bin.lock")), "the device itself is locked: no lock file");
    let held = safeslotctl::lock::acquire(&rig.flash_path(), true, std::time::Duration::ZERO).unwrap();
    let before = rig.flash_bytes();
    let r = rig.expect(75, &["--lock-timeout", "0.2", "set-active", "b"]);
    assert!(r.stderr.contains("held by another"), "{}", r.stderr);
    rig.expect(75, &["--lock-timeout", "0", "status"]);
    assert_eq!(rig.flash_bytes(), before);
    drop(held);
    rig.ok(&["--lock-timeout", "0", "set-active", "b"]);
}

#[test]
fn concurrent_writers_are_serialised() {
    let rig = Sandbox::new(1);
    rig.ok(&["init"]);
    let n = 12;
    let children: Vec<_> =
        (0..n).map(|i| rig.command(&["set-active", if i % 2 == 0 { "a" } else { "b" }]).spawn().unwrap()).collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    // Every set-active changed the record: one append each, none lost.
    let st = rig.ok(&["status", "--json"]).json();
    assert_eq!(st["seq"], 1 + n);
}

#[test]
fn a_custom_lock_path_and_missing_device() {
    let rig = Sandbox::new(8);
    rig.ok(&["init", "--lock", rig.path("other.lock").to_str().unwrap()]);
    assert!(rig.path("other.lock").exists());
    let r = rig.expect(66, &["status", "--device", rig.path("nope.bin").to_str().unwrap()]);
    assert!(r.stderr.contains("nope.bin"), "{}", r.stderr);
    // A missing device in a missing directory is reported as the device.
    let r = rig.expect(66, &["set-active", "b", "--device", rig.path("no/dir.bin").to_str().unwrap()]);
    assert!(r.stderr.contains("no/dir.bin") && !r.stderr.contains(".lock"), "{}", r.stderr);
    // With --lock, writers lock both the file and the device.
    let held = safeslotctl::lock::acquire(&rig.path("other.lock"), true, std::time::Duration::ZERO).unwrap();
    rig.expect(75, &["--lock-timeout", "0", "set-active", "b", "--lock", rig.path("other.lock").to_str().unwrap()]);
    rig.ok(&["--lock-timeout", "0", "set-active", "b"]);
    drop(held);
    rig.ok(&["--lock-timeout", "0", "set-active", "a", "--lock", rig.path("other.lock").to_str().unwrap()]);
    // A directory is not a device: no input (66), as a missing one (issue #17, finding 7).
    rig.expect(66, &["status", "--device", rig.dir.path().to_str().unwrap()]);
}

#[test]
fn config_errors_exit_78_and_help_exits_0() {
    let rig = Sandbox::new(8);
    rig.expect(78, &["status", "--config", rig.path("missing.toml").to_str().unwrap()]);
    std::fs::write(rig.path("bad.toml"), "[record]\noffset = 1\n").unwrap();
    rig.expect(78, &["status", "--config", rig.path("bad.toml").to_str().unwrap()]);
    // Geometry the journal refuses (region of one sector).
    rig.expect(78, &["status", "--size", "0x1000"]);
    let h = rig.ok(&["--help"]);
    assert!(h.stdout.contains("Exit codes:") && h.stdout.contains("75  busy"), "{}", h.stdout);
    rig.ok(&["--version"]);
    rig.ok(&["set-primary", "--help"]);
}

#[test]
fn an_explicit_missing_config_is_an_error_even_with_overrides() {
    let rig = Sandbox::new(8);
    let dev = rig.flash_path();
    let none = rig.path("none.toml");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_safeslotctl"))
        .arg("--config")
        .arg(&none)
        .args(["status", "--device", dev.to_str().unwrap(), "--offset", "0", "--size", "0x2000"])
        .args(["--erase-size", "0x1000", "--write-size", "8"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(78));
}

/// Issue #12, failure 1 (agent side): B's trial crashed and the next boot could not write
/// the record, so A runs (the stage says so on the command line) while the record still
/// names B as last booted. `mark-good` confirms what runs, A, never B; a slot that runs
/// but that the record neither shows as booted nor has confirmed is refused.
#[test]
fn mark_good_confirms_the_running_slot_from_the_stage() {
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    assert_eq!(rig.reboot(), SlotId::A);
    rig.set_cmdline("root=/dev/x safeslot.slot=a\n");
    rig.ok(&["mark-good"]);
    rig.ok(&["set-active", "b"]);
    assert_eq!(rig.reboot(), SlotId::B); // B on trial, then it crashes
                                         // The stage booted A read-only: the record still says B.
    rig.set_cmdline("root=/dev/x safeslot.slot=a\n");
    let g = rig.ok(&["--json", "mark-good"]).json();
    assert_eq!((g["slot"].clone(), g["changed"].clone()), ("a".into(), false.into()));
    let st = rig.ok(&["status", "--json"]).json();
    assert_eq!(st["slots"][1]["confirmed"], false, "B must not be confirmed: {st}");
    assert_eq!(st["last_known_good"], "a");
    // RAUC's form of the same call.
    rig.ok(&["set-state", "a", "good"]);
    assert_eq!(rig.ok(&["status", "--json"]).json()["slots"][1]["confirmed"], false);

    // Crafted: the record names B as booted, A runs and A is not confirmed.
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    rig.ok(&["set-active", "b"]);
    assert_eq!(rig.reboot(), SlotId::B);
    rig.set_cmdline("safeslot.slot=a\n");
    let e = rig.expect(69, &["mark-good"]);
    assert!(e.stderr.contains("could not record this boot"), "{}", e.stderr);
    assert_eq!(rig.ok(&["status", "--json"]).json()["slots"][1]["confirmed"], false);
}

#[test]
fn status_shows_reset_causes_and_free_retries() {
    use safeslot_shared::policy::Inputs;
    use safeslot_shared::reset::ResetCause;
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    rig.reboot();
    rig.ok(&["mark-good"]);
    rig.ok(&["set-active", "b"]);
    let on = |cause| Inputs { reset_cause: cause, free_retries: 1, ..Inputs::default() };
    // A's run ended by a power loss: B's first trial boot uses a try; B's run ended by one
    // too: free (the bound is 1); the next uses a try again.
    assert_eq!(rig.reboot_with(on(ResetCause::PowerOn)), safeslot_shared::SlotId::B);
    assert_eq!(rig.reboot_with(on(ResetCause::BrownOut)), safeslot_shared::SlotId::B);
    let st = rig.ok(&["status", "--json"]).json();
    assert_eq!(
        (st["free_retries"].as_u64(), st["record_format"].as_u64()),
        (Some(1), Some(u64::from(safeslot_shared::record::RECORD_FORMAT))),
        "{st}"
    );
    let last = st["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["event"].as_str(), last["reset_cause"].as_str()), (Some("trial-boot"), Some("brown-out")), "{st}");
    let b = st["slots"].as_array().unwrap().iter().find(|s| s["name"] == "b").unwrap().clone();
    assert_eq!(b["tries"], 2, "the free retry used no try: {st}");
    let human = rig.ok(&["status"]).stdout;
    assert!(human.contains("after a brown-out reset") && human.contains("free retries:    1"), "{human}");
    // Confirming ends the trial: no free retries counted any more.
    rig.ok(&["mark-good"]);
    assert_eq!(rig.ok(&["status", "--json"]).json()["free_retries"], 0);
}

/// Issue #15, item 5: `status` shows what the boot stage handed over for this boot: the
/// reset cause it read and the watchdog timeout it armed (the device tree's hand-off block).
#[test]
fn status_shows_the_reset_cause_and_watchdog_the_stage_handed_over() {
    use safeslot_shared::handoff::Handoff;
    use safeslot_shared::policy::BootKind;
    use safeslot_shared::reset::ResetCause;
    use safeslot_shared::{Reason, SlotId, Tries, Version};
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    rig.reboot();
    let block = Handoff {
        slot: SlotId::B,
        kind: BootKind::Trial,
        tries_left: Tries::new(2).unwrap(),
        last_fallback: Reason::None,
        version: Version { major: 2, minor: 0, revision: 0, build: 0 },
        record_seq: 3,
        recorded: true,
        reset_cause: ResetCause::Watchdog,
        watchdog_ms: 4000,
        format: 3,
    };
    let path = rig.path("handoff");
    std::fs::write(&path, block.encode()).unwrap();
    let with = |args: &[&str]| {
        let mut c = rig.command(args);
        c.arg("--handoff").arg(&path);
        common::output(c.output().unwrap())
    };
    let st = with(&["status", "--json"]).json();
    let b = &st["this_boot"];
    assert_eq!((b["slot"].as_str(), b["kind"].as_str()), (Some("b"), Some("trial")), "{st}");
    assert_eq!(
        (b["reset_cause"].as_str(), b["watchdog_ms"].as_u64(), b["format"].as_u64()),
        (Some("watchdog"), Some(4000), Some(3))
    );
    let human = with(&["status"]).stdout;
    assert!(
        human.contains("this boot:       slot b (trial), after a watchdog reset; watchdog armed: 4000 ms"),
        "{human}"
    );
    // No block (no stage in front of the agent): null; garbage: null and a warning.
    std::fs::remove_file(&path).unwrap();
    assert!(rig.ok(&["status", "--json"]).json()["this_boot"].is_null());
    std::fs::write(&path, [0u8; 44]).unwrap();
    let r = with(&["status", "--json"]);
    assert_eq!(r.code, 0);
    assert!(r.json()["this_boot"].is_null() && r.stderr.contains("not a hand-off block"), "{}", r.stderr);
    assert_eq!(r.stderr.matches("not a hand-off block").count(), 1, "read once: {}", r.stderr);
}

/// Issue #16: `init --force` over a valid record no longer resets the anti-rollback floor
/// to 0 (a following `set-active` of an old, validly signed image would boot it); it keeps
/// the floor unless `--allow-rollback`, and says which it did.
#[test]
fn init_force_keeps_the_floor_unless_rollback_is_allowed() {
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    {
        let mut j = rig.journal();
        j.update(|r| {
            r.rollback_floor = 5;
            Ok(())
        })
        .unwrap();
    }
    let r = rig.ok(&["init", "--force"]);
    assert!(r.stderr.contains("floor 5 kept"), "{}", r.stderr);
    let st = rig.ok(&["status", "--json"]).json();
    assert_eq!((st["rollback_floor"].as_u64(), st["floor_lost"].as_bool()), (Some(5), Some(false)), "{st}");
    assert_eq!(st["history"][0]["event"], "created");
    let r = rig.ok(&["init", "--force", "--allow-rollback"]);
    assert!(r.stderr.contains("floor 5 dropped"), "{}", r.stderr);
    assert_eq!(rig.ok(&["status", "--json"]).json()["rollback_floor"], 0);
    // --allow-rollback means nothing without --force.
    rig.expect(64, &["init", "--allow-rollback"]);
}

/// Issue #17, finding 4: cancelling an update by making the running, confirmed slot primary
/// again (RAUC `mark-active booted` → `set-primary a`; AOSP `bootctl
/// set-active-boot-slot` of the current slot; `set-active a`) keeps it confirmed and
/// disarms the other slot's trial. Before, A lost its confirmation and B stayed armed, so
/// four resets without `mark-good` booted the cancelled update.
#[test]
fn cancelling_an_update_keeps_the_running_slot_confirmed() {
    let forms: [(&[&str], &[&str]); 3] = [
        (&["set-primary", "b"], &["set-primary", "a"]),
        (&["set-active-boot-slot", "1"], &["set-active-boot-slot", "0"]),
        (&["set-active", "b"], &["set-active", "a"]),
    ];
    for (arm, cancel) in forms {
        let rig = Sandbox::new(8);
        rig.ok(&["init"]);
        assert_eq!(rig.reboot(), SlotId::A);
        rig.set_cmdline("root=/dev/x safeslot.slot=a\n");
        rig.ok(&["mark-good"]);
        rig.ok(arm);
        assert_eq!(rig.ok(&["get-primary"]).stdout, "b\n", "{arm:?}");
        rig.ok(cancel);

        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!(st["primary"], "a", "{cancel:?}: {st}");
        assert_eq!(st["slots"][0]["confirmed"], true, "{cancel:?}: A stays confirmed: {st}");
        assert_eq!(st["last_known_good"], "a", "{cancel:?}: {st}");
        assert!(
            st["slots"][1]["priority"].as_u64() < st["slots"][0]["priority"].as_u64(),
            "{cancel:?}: B is below A: {st}"
        );
        rig.ok(&["is-slot-marked-successful", "0"]);
        // Cancelling again changes nothing.
        let seq = st["seq"].clone();
        rig.ok(cancel);
        assert_eq!(rig.ok(&["status", "--json"]).json()["seq"], seq, "{cancel:?}");

        // Four resets without mark-good: A boots every time, confirmed, and B never runs.
        for n in 1..=4 {
            assert_eq!(rig.reboot(), SlotId::A, "{cancel:?}: reset {n} booted the cancelled update");
        }
        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!(st["slots"][0]["confirmed"], true, "{cancel:?}: {st}");
        assert_eq!(st["booted"], "a");
        let b_ran = st["history"].as_array().unwrap().iter().any(|h| h["slot"] == "b" && h["event"] == "trial-boot");
        assert!(!b_ran, "{cancel:?}: {st}");
    }
}

/// Issue #17, finding 5: `mark-bad` of the only good slot left nothing bootable (exit 0),
/// and after the stage's last-resort boot `mark-good` and `set-state a good` failed with 69
/// on every boot. Now `mark-bad` refuses unless `--force`, and a slot the stage booted as a
/// last resort can confirm itself again.
#[test]
fn mark_bad_keeps_a_bootable_slot_and_a_last_resort_boot_can_confirm() {
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    rig.reboot();
    rig.ok(&["mark-good"]);
    let before = rig.flash_bytes();
    for args in [&["mark-bad"][..], &["mark-bad", "a"], &["set-state", "a", "bad"], &["set-slot-as-unbootable", "0"]] {
        let e = rig.expect(69, args);
        assert!(e.stderr.contains("only bootable slot") && e.stderr.contains("--force"), "{args:?}: {}", e.stderr);
        assert_eq!(rig.flash_bytes(), before, "{args:?} wrote");
    }
    rig.ok(&["mark-bad", "--force"]);
    assert_eq!(rig.reboot(), safeslot_shared::SlotId::A, "the last resort");
    let st = rig.ok(&["status", "--json"]).json();
    assert_eq!(st["last_fallback"], "last-resort", "{st}");
    rig.ok(&["mark-good"]);
    let st = rig.ok(&["status", "--json"]).json();
    let a = &st["slots"][0];
    assert_eq!(
        (a["confirmed"].as_bool(), a["bootable"].as_bool(), a["unbootable"].is_null()),
        (Some(true), Some(true), true),
        "{st}"
    );
    // The next boot is an ordinary confirmed boot; RAUC's form works too.
    rig.reboot();
    rig.ok(&["set-state", "a", "good"]);
    // With another bootable slot, mark-bad needs no --force.
    rig.ok(&["set-active", "b"]);
    rig.ok(&["mark-bad", "b"]);
}

/// Issue #17, finding 3: a record written with one geometry, read with another (a wrong
/// `--write-size` or `--erase-size`), is a configuration error that says both geometries;
/// before, reads answered from a stale entry and writes reported success the stage never
/// saw. Nothing is written, not even by `init --force`.
#[test]
fn a_geometry_mismatch_is_a_config_error_and_writes_nothing() {
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    rig.reboot();
    rig.ok(&["mark-good"]);
    let before = rig.flash_bytes();
    for args in [
        &["status", "--write-size", "16"][..],
        &["get-primary", "--write-size", "16"],
        &["set-active", "b", "--write-size", "16"],
        &["init", "--force", "--write-size", "16"],
        &["status", "--erase-size", "0x2000", "--size", "0x4000"],
    ] {
        let e = rig.expect(78, args);
        assert!(e.stderr.contains("written with write size 8 B"), "{args:?}: {}", e.stderr);
        assert_eq!(rig.flash_bytes(), before, "{args:?} wrote");
    }
    // With the right geometry everything still reads.
    assert_eq!(rig.ok(&["status", "--json"]).json()["slots"][0]["confirmed"], true);
}
