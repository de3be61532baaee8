//! Issue #17, finding 6: the running slot is what the boot stage handed over (hand-off
//! block, kernel command line with `safeslot.seq=`), and a write that acts on it is refused
//! with exit 76, writing nothing, when the stage's word and the record disagree.

mod common;

use common::Sandbox;
use safeslot_shared::handoff::{Handoff, HANDOFF_FORMAT};
use safeslot_shared::policy::BootKind;
use safeslot_shared::reset::ResetCause;
use safeslot_shared::{Reason, SlotId, Tries, Version};

/// The block the stage leaves for a boot of `slot` at record seq `seq`.
fn block(slot: SlotId, kind: BootKind, seq: u32, recorded: bool) -> Handoff {
    Handoff {
        slot,
        kind,
        tries_left: Tries::ZERO,
        last_fallback: Reason::None,
        version: Version::default(),
        record_seq: seq,
        recorded,
        reset_cause: ResetCause::PowerOn,
        watchdog_ms: 0,
        format: HANDOFF_FORMAT,
    }
}

fn seq(rig: &Sandbox) -> u32 {
    rig.journal().seq()
}

/// A confirmed, then B on trial and booted: the record names B as booted at the returned
/// sequence number.
fn b_on_trial(rig: &Sandbox) -> u32 {
    rig.ok(&["init"]);
    assert_eq!(rig.reboot(), SlotId::A);
    rig.set_cmdline(&format!("safeslot.slot=a safeslot.kind=trial safeslot.seq={} rauc.slot=a", seq(rig)));
    rig.ok(&["mark-good"]);
    rig.ok(&["set-active", "b"]);
    assert_eq!(rig.reboot(), SlotId::B);
    seq(rig)
}

/// B ran on trial and crashed; the stage fell back to A but could not write the record, so
/// the record still names B. The hand-off block (no command line, as on a board whose
/// Linux gets a fixed command line) says A: `mark-good` must not confirm B.
#[test]
fn the_hand_off_block_names_the_running_slot() {
    let rig = Sandbox::new(8);
    let s = b_on_trial(&rig);
    rig.set_cmdline("console=ttyS0 root=/dev/x");
    rig.set_handoff(&block(SlotId::A, BootKind::Confirmed, s, false));
    let before = rig.flash_bytes();
    assert_eq!(rig.ok(&["get-current"]).stdout, "a\n", "the stage's word, not the record's last_booted");
    assert_eq!(rig.ok(&["get-current-slot"]).stdout, "0\n");
    let g = rig.ok(&["--json", "mark-good"]).json();
    assert_eq!((g["slot"].as_str(), g["changed"].as_bool()), (Some("a"), Some(false)), "{g}");
    assert_eq!(rig.flash_bytes(), before, "A is already the confirmed last-known-good: nothing to write");
    let st = rig.ok(&["status", "--json"]).json();
    assert_eq!(st["slots"][1]["confirmed"], false, "B must not be confirmed: {st}");
    assert_eq!((st["running"].as_str(), st["running_from"].as_str()), (Some("a"), Some("handoff")));
    assert_eq!((st["booted"].as_str(), st["mismatch"].as_bool()), (Some("b"), Some(true)));
    assert!(st["conflict"].is_null(), "an unrecorded boot is expected to disagree: {st}");
}

/// The same fallback told on the command line by a stage that writes `safeslot.seq=` and
/// `safeslot.unrecorded`.
#[test]
fn the_command_line_says_an_unrecorded_boot() {
    let rig = Sandbox::new(8);
    let s = b_on_trial(&rig);
    rig.set_cmdline(&format!(
        "console=ttyS0 safeslot.slot=a safeslot.kind=confirmed safeslot.seq={s} safeslot.unrecorded rauc.slot=a"
    ));
    let g = rig.ok(&["--json", "mark-good"]).json();
    assert_eq!((g["slot"].as_str(), g["changed"].as_bool()), (Some("a"), Some(false)), "{g}");
    let st = rig.ok(&["status", "--json"]).json();
    assert_eq!((st["running_from"].as_str(), st["slots"][1]["confirmed"].as_bool()), (Some("cmdline"), Some(false)));
}

/// The stage booted and recorded B; then the record was re-created (`init --force`).
/// Confirming "the running slot" now would act on a record that does not describe this
/// boot: refused with 76, nothing written.
#[test]
fn a_record_recreated_since_the_boot_is_not_confirmed_into() {
    let rig = Sandbox::new(8);
    let s = b_on_trial(&rig);
    rig.set_cmdline(&format!("safeslot.slot=b safeslot.kind=trial safeslot.seq={s} rauc.slot=b"));
    rig.set_handoff(&block(SlotId::B, BootKind::Trial, s, true));
    rig.ok(&["init", "--force"]);
    let before = rig.flash_bytes();
    for args in [&["mark-good"][..], &["mark-boot-successful"], &["set-state", "b", "good"], &["mark-bad"]] {
        let e = rig.expect(76, args);
        assert!(e.stderr.contains("re-created") && e.stderr.contains("nothing was written"), "{}", e.stderr);
        assert_eq!(rig.flash_bytes(), before, "{args:?} wrote");
    }
    // Reads answer the stage's word and warn.
    let r = rig.ok(&["get-current"]);
    assert_eq!(r.stdout, "b\n");
    assert!(r.stderr.contains("warning"), "{}", r.stderr);
    let st = rig.ok(&["status", "--json"]).json();
    assert!(st["conflict"].as_str().is_some_and(|c| c.contains("re-created")), "{st}");
}

/// The record went back in time: an older copy of the region was written back after the
/// stage booted B at seq S (a restored backup, a replayed update image).
#[test]
fn a_record_older_than_the_boot_is_refused() {
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    assert_eq!(rig.reboot(), SlotId::A);
    rig.ok(&["set-active", "b"]);
    let old = rig.flash_bytes();
    assert_eq!(rig.reboot(), SlotId::B);
    let s = seq(&rig);
    std::fs::write(rig.flash_path(), &old).unwrap();
    assert!(seq(&rig) < s);
    rig.set_cmdline(&format!("safeslot.slot=b safeslot.kind=trial safeslot.seq={s} rauc.slot=b"));
    let e = rig.expect(76, &["mark-good"]);
    assert!(e.stderr.contains("restored"), "{}", e.stderr);
    assert_eq!(rig.flash_bytes(), old);
}

/// The stage's two words disagree (a stale hand-off file, an edited command line): the
/// running slot is uncertain, so nothing acts on it.
#[test]
fn the_hand_off_block_and_the_command_line_must_agree() {
    let rig = Sandbox::new(8);
    let s = b_on_trial(&rig);
    rig.set_handoff(&block(SlotId::B, BootKind::Trial, s, true));
    for cmdline in [
        format!("safeslot.slot=a safeslot.seq={s}"),
        format!("safeslot.slot=b safeslot.seq={}", s + 1),
        format!("safeslot.slot=b safeslot.seq={s} safeslot.unrecorded"),
        "safeslot.slot=z".to_owned(),
        "safeslot.slot=b safeslot.seq=seven".to_owned(),
    ] {
        rig.set_cmdline(&cmdline);
        let e = rig.expect(76, &["mark-good"]);
        assert!(e.stderr.contains("nothing was written"), "{cmdline}: {}", e.stderr);
    }
    // Agreement: B is confirmed.
    rig.set_cmdline(&format!("safeslot.slot=b safeslot.kind=trial safeslot.seq={s} rauc.slot=b"));
    let g = rig.ok(&["--json", "mark-good"]).json();
    assert_eq!((g["slot"].as_str(), g["changed"].as_bool()), (Some("b"), Some(true)));
    // Later writes move the record on: the stage's seq is a lower bound, not an equality.
    rig.ok(&["set-active", "a"]);
    rig.ok(&["mark-good"]);
}
