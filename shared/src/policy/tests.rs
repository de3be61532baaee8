//! Policy tests: one test per row of the decision table in `docs/DESIGN.md`
//! ("Decision table"), named `row_<n>_...`, plus proptest invariants over random
//! records and verdicts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::ops;
use crate::record::tests::arb_record;
use crate::record::SlotState;

fn info(major: u8, sc: u32) -> ImageInfo {
    ImageInfo {
        version: Version { major, minor: 0, revision: 0, build: 0 },
        security_counter: sc,
        ..ImageInfo::default()
    }
}

fn valid(major: u8, sc: u32) -> Verdict {
    Verdict::Valid(info(major, sc))
}

fn bad(r: Reason) -> Verdict {
    Verdict::Invalid(r)
}

fn t(n: u8) -> Tries {
    Tries::new(n).unwrap()
}

fn p(n: u8) -> Priority {
    Priority::new(n).unwrap()
}

/// Runs `decide` with one fixed verdict per slot, counting calls per slot.
fn run(r: &Record, inputs: Inputs, verdicts: [Verdict; MAX_SLOTS]) -> (Decision, [u32; MAX_SLOTS]) {
    let mut calls = [0u32; MAX_SLOTS];
    let d = decide(r, inputs, |id| {
        calls[id.index()] += 1;
        verdicts[id.index()]
    });
    (d, calls)
}

fn boot(d: Decision) -> BootPlan {
    match d {
        Decision::Boot(p) => p,
        Decision::Recovery(n) => panic!("expected a boot, got recovery {n:?}"),
    }
}

fn no_boot(d: Decision) -> NoBoot {
    match d {
        Decision::Recovery(n) => n,
        Decision::Boot(p) => panic!("expected recovery, got boot {p:?}"),
    }
}

/// The history entries added by a decision (those beyond the first `before`).
fn new_events(r: &Record, before: usize) -> Vec<(Option<SlotId>, Event, Reason, u8)> {
    r.history().skip(before).map(|h| (h.slot, h.event, h.reason, h.tries.get())).collect()
}

/// A device where `slot` was booted, confirmed and is last-known-good, running image
/// `major` with security counter `sc` (the record as the last boot left it).
fn confirmed(slot_count: u8, slot: SlotId, major: u8, sc: u32) -> Record {
    let mut r = Record::fresh(slot_count, Tries::DEFAULT);
    for id in r.slot_ids().collect::<Vec<_>>() {
        *r.slot_mut(id).unwrap() = SlotState::default();
    }
    let s = r.slot_mut(slot).unwrap();
    s.priority = Priority::MAX;
    s.confirmed = true;
    s.version = info(major, sc).version;
    s.security_counter = sc;
    r.last_booted = Some(slot);
    r.last_known_good = Some(slot);
    r.rollback_floor = sc;
    r
}

/// `confirmed(2, A, 1, 1)` plus B activated for a trial with `tries` left, priority 15,
/// A lowered to 14.
fn update_pending(tries: u8) -> Record {
    let mut r = confirmed(2, SlotId::A, 1, 1);
    r.slot_mut(SlotId::A).unwrap().priority = p(14);
    let b = r.slot_mut(SlotId::B).unwrap();
    b.priority = Priority::MAX;
    b.tries = t(tries);
    r
}

const NONE: Verdict = Verdict::Invalid(Reason::NoImage);

#[test]
fn row_1_fresh_record_boots_a_on_trial() {
    let r = Record::fresh(2, Tries::DEFAULT);
    let (d, calls) = run(&r, Inputs::default(), [valid(1, 0), NONE, NONE, NONE]);
    let plan = boot(d);
    assert_eq!((plan.slot, plan.kind, plan.fell_back, plan.changed), (SlotId::A, BootKind::Trial, false, true));
    let a = plan.record.slot(SlotId::A).unwrap();
    assert_eq!(a.tries, t(2), "tries decremented before the hand-off");
    assert!(!a.confirmed);
    assert_eq!(a.version, info(1, 0).version);
    assert_eq!(plan.record.last_booted, Some(SlotId::A));
    assert_eq!(plan.record.last_fallback, Reason::None);
    assert_eq!(new_events(&plan.record, 1), [(Some(SlotId::A), Event::TrialBoot, Reason::None, 2)]);
    assert_eq!(calls, [1, 0, 0, 0], "B is disabled and never verified");
}

#[test]
fn row_1_step_asks_for_verification_first() {
    let r = Record::fresh(2, Tries::DEFAULT);
    assert_eq!(step(&r, &[None; MAX_SLOTS], Inputs::default()), Step::Verify(SlotId::A));
}

#[test]
fn row_2_confirmed_slot_boots_without_a_record_change() {
    let r = confirmed(2, SlotId::A, 1, 1);
    let (d, calls) = run(&r, Inputs::default(), [valid(1, 1), NONE, NONE, NONE]);
    let plan = boot(d);
    assert_eq!((plan.slot, plan.kind, plan.fell_back), (SlotId::A, BootKind::Confirmed, false));
    assert!(!plan.changed, "a confirmed boot of the same slot writes nothing");
    assert_eq!(plan.record, r);
    assert_eq!(calls, [1, 0, 0, 0]);
}

#[test]
fn row_3_confirmed_slot_with_new_facts_is_a_change() {
    // Same slot, but the image's version differs from the one recorded: the record is
    // updated (one write) and the boot is still a confirmed boot.
    let r = confirmed(2, SlotId::A, 1, 1);
    let plan = boot(run(&r, Inputs::default(), [valid(2, 1), NONE, NONE, NONE]).0);
    assert_eq!(plan.kind, BootKind::Confirmed);
    assert!(plan.changed);
    assert_eq!(plan.record.slot(SlotId::A).unwrap().version.major, 2);
    // And a confirmed slot that was not the last booted one records the new last_booted.
    let mut r = confirmed(2, SlotId::A, 1, 1);
    r.last_booted = None;
    let plan = boot(run(&r, Inputs::default(), [valid(1, 1), NONE, NONE, NONE]).0);
    assert!(plan.changed);
    assert_eq!(plan.record.last_booted, Some(SlotId::A));
    assert_eq!(plan.record.history().count(), r.history().count(), "no event for a confirmed boot");
}

#[test]
fn row_4_highest_priority_wins() {
    let r = update_pending(3);
    let (d, calls) = run(&r, Inputs::default(), [valid(1, 1), valid(2, 1), NONE, NONE]);
    let plan = boot(d);
    assert_eq!((plan.slot, plan.kind, plan.fell_back), (SlotId::B, BootKind::Trial, false));
    assert_eq!(plan.record.slot(SlotId::B).unwrap().tries, t(2));
    assert_eq!(plan.record.slot(SlotId::A).unwrap(), r.slot(SlotId::A).unwrap(), "A untouched");
    assert_eq!(calls, [0, 1, 0, 0], "only the winner is verified");
}

#[test]
fn row_5_priority_tie_goes_to_the_lowest_index() {
    let mut r = confirmed(2, SlotId::B, 1, 0);
    let a = r.slot_mut(SlotId::A).unwrap();
    a.priority = Priority::MAX;
    a.confirmed = true;
    let (d, calls) = run(&r, Inputs::default(), [valid(1, 0), valid(1, 0), NONE, NONE]);
    assert_eq!(boot(d).slot, SlotId::A);
    assert_eq!(calls, [1, 0, 0, 0]);
    assert_eq!(r.primary(), Some(SlotId::A));
}

#[test]
fn row_6_tries_exhausted_falls_back() {
    let r = update_pending(0);
    let (d, calls) = run(&r, Inputs::default(), [valid(1, 1), valid(2, 1), NONE, NONE]);
    let plan = boot(d);
    assert_eq!((plan.slot, plan.kind, plan.fell_back), (SlotId::A, BootKind::Confirmed, true));
    let b = plan.record.slot(SlotId::B).unwrap();
    assert_eq!(b.unbootable, Some(Reason::TriesExhausted));
    assert_eq!(plan.record.last_fallback, Reason::TriesExhausted);
    let before = r.history().count();
    assert_eq!(
        new_events(&plan.record, before),
        [
            (Some(SlotId::B), Event::Unbootable, Reason::TriesExhausted, 0),
            (Some(SlotId::A), Event::Fallback, Reason::TriesExhausted, 0),
        ]
    );
    assert_eq!(calls, [1, 0, 0, 0], "an exhausted slot is not even verified");
    // The next boot reads the persisted record: same slot, nothing more to write.
    let again = boot(run(&plan.record, Inputs::default(), [valid(1, 1), valid(2, 1), NONE, NONE]).0);
    assert_eq!((again.slot, again.fell_back, again.changed), (SlotId::A, false, false));
}

#[test]
fn row_6_last_try_is_still_a_trial() {
    let r = update_pending(1);
    let plan = boot(run(&r, Inputs::default(), [valid(1, 1), valid(2, 1), NONE, NONE]).0);
    assert_eq!((plan.slot, plan.kind), (SlotId::B, BootKind::Trial));
    assert_eq!(plan.record.slot(SlotId::B).unwrap().tries, Tries::ZERO);
    assert_eq!(plan.record.slot(SlotId::B).unwrap().unbootable, None, "refused only at the next boot");
}

#[test]
fn row_7_invalid_image_falls_back_with_its_reason() {
    for reason in [
        Reason::NoImage,
        Reason::BadHeader,
        Reason::ImageBounds,
        Reason::WrongAddress,
        Reason::UnknownKey,
        Reason::BadSignature,
        Reason::BadHash,
        Reason::FlashError,
    ] {
        let r = update_pending(3);
        let (d, calls) = run(&r, Inputs::default(), [valid(1, 1), bad(reason), NONE, NONE]);
        let plan = boot(d);
        assert_eq!((plan.slot, plan.kind, plan.fell_back), (SlotId::A, BootKind::Confirmed, true), "{reason}");
        let b = plan.record.slot(SlotId::B).unwrap();
        assert_eq!(b.unbootable, Some(reason));
        assert_eq!(b.tries, t(3), "a refused image does not spend a try");
        assert_eq!(plan.record.last_fallback, reason);
        assert_eq!(
            new_events(&plan.record, r.history().count()),
            [(Some(SlotId::B), Event::Unbootable, reason, 3), (Some(SlotId::A), Event::Fallback, reason, 0)]
        );
        assert_eq!(calls, [1, 1, 0, 0]);
    }
}

#[test]
fn row_8_security_counter_below_floor_is_rollback() {
    let mut r = update_pending(3);
    r.rollback_floor = 5;
    r.slot_mut(SlotId::A).unwrap().security_counter = 5;
    let plan = boot(run(&r, Inputs::default(), [valid(1, 5), valid(2, 4), NONE, NONE]).0);
    assert_eq!((plan.slot, plan.fell_back), (SlotId::A, true));
    assert_eq!(plan.record.slot(SlotId::B).unwrap().unbootable, Some(Reason::Rollback));
    assert_eq!(plan.record.last_fallback, Reason::Rollback);
    // Equal to the floor is fine.
    let plan = boot(run(&r, Inputs::default(), [valid(1, 5), valid(2, 5), NONE, NONE]).0);
    assert_eq!((plan.slot, plan.kind), (SlotId::B, BootKind::Trial));
}

/// An image signed by key `key` declaring `revoke_below`.
fn keyed(major: u8, sc: u32, key: u8, revoke_below: u8) -> Verdict {
    Verdict::Valid(ImageInfo { key_index: key, revoke_below, ..info(major, sc) })
}

#[test]
fn row_8b_a_revoked_key_is_refused_and_never_a_last_resort() {
    // Key 0 revoked: B's update signed with it is refused, A (key 1) boots.
    let mut r = update_pending(3);
    r.key_floor = 1;
    let plan = boot(run(&r, Inputs::default(), [keyed(1, 1, 1, 0), keyed(2, 1, 0, 0), NONE, NONE]).0);
    assert_eq!((plan.slot, plan.kind, plan.fell_back), (SlotId::A, BootKind::Confirmed, true));
    assert_eq!(plan.record.slot(SlotId::B).unwrap().unbootable, Some(Reason::RevokedKey));
    // Nothing else left: a revoked image is not booted as a last resort.
    let n = no_boot(run(&r, Inputs::default(), [NONE, keyed(2, 1, 0, 0), NONE, NONE]).0);
    assert_eq!(n.reason, Reason::NothingBootable);
    let mut exhausted = r.clone();
    exhausted.slot_mut(SlotId::A).unwrap().unbootable = Some(Reason::MarkedBad);
    let n = no_boot(run(&exhausted, Inputs::default(), [keyed(1, 1, 0, 0), NONE, NONE, NONE]).0);
    assert_eq!(n.record.slot(SlotId::A).unwrap().unbootable, Some(Reason::RevokedKey));
}

#[test]
fn row_8c_revocation_takes_effect_only_from_a_confirmed_boot() {
    // B (key 1) declares keys below 1 revoked. On trial nothing is revoked.
    let r = update_pending(3);
    let images = [keyed(1, 1, 0, 0), keyed(2, 1, 1, 1), NONE, NONE];
    let plan = boot(run(&r, Inputs::default(), images).0);
    assert_eq!((plan.slot, plan.kind, plan.record.key_floor), (SlotId::B, BootKind::Trial, 0));
    // B confirms; its next boot is confirmed and raises the key floor.
    let mut r = plan.record;
    ops::mark_good(&mut r, SlotId::B).unwrap();
    let plan = boot(run(&r, Inputs::default(), images).0);
    assert_eq!((plan.slot, plan.kind, plan.record.key_floor, plan.changed), (SlotId::B, BootKind::Confirmed, 1, true));
    // From then on A's key-0 image is refused: activated again, it falls back to B.
    let mut r = plan.record;
    ops::set_active(&mut r, SlotId::A, t(3)).unwrap();
    let plan = boot(run(&r, Inputs::default(), images).0);
    assert_eq!((plan.slot, plan.fell_back), (SlotId::B, true));
    assert_eq!(plan.record.slot(SlotId::A).unwrap().unbootable, Some(Reason::RevokedKey));
    // The next confirmed boot changes nothing more.
    let again = boot(run(&plan.record, Inputs::default(), images).0);
    assert!(!again.changed);
}

#[test]
fn row_8d_an_image_never_revokes_its_own_key() {
    let r = confirmed(2, SlotId::A, 1, 1);
    let plan = boot(run(&r, Inputs::default(), [keyed(1, 1, 2, 9), NONE, NONE, NONE]).0);
    assert_eq!((plan.slot, plan.record.key_floor), (SlotId::A, 2));
    let plan = boot(run(&plan.record, Inputs::default(), [keyed(1, 1, 2, 9), NONE, NONE, NONE]).0);
    assert_eq!((plan.slot, plan.kind), (SlotId::A, BootKind::Confirmed));
}

#[test]
fn row_8e_downgrade_and_requirement_rules_apply_to_trials_only() {
    // A runs 5.0 confirmed; B holds 4.0 (older) on trial.
    let mut r = confirmed(2, SlotId::A, 5, 1);
    r.slot_mut(SlotId::A).unwrap().priority = p(14);
    let b = r.slot_mut(SlotId::B).unwrap();
    b.priority = Priority::MAX;
    b.tries = t(3);
    let older = [valid(5, 1), valid(4, 1), NONE, NONE];
    // Allowed by default.
    let plan = boot(run(&r, Inputs::default(), older).0);
    assert_eq!((plan.slot, plan.kind), (SlotId::B, BootKind::Trial));
    // Refused with the layout option; the same version is not a downgrade.
    let strict = Inputs { refuse_downgrade: true, ..Inputs::default() };
    let plan = boot(run(&r, strict, older).0);
    assert_eq!((plan.slot, plan.fell_back), (SlotId::A, true));
    assert_eq!(plan.record.slot(SlotId::B).unwrap().unbootable, Some(Reason::Downgrade));
    assert_eq!(plan.record.last_fallback, Reason::Downgrade);
    let plan = boot(run(&r, strict, [valid(5, 1), valid(5, 1), NONE, NONE]).0);
    assert_eq!(plan.slot, SlotId::B);
    // A requirement above the confirmed version is refused, at or below it is met.
    let needs = |major| {
        Verdict::Valid(ImageInfo { requires: Some(Version { major, minor: 0, revision: 0, build: 0 }), ..info(6, 1) })
    };
    let plan = boot(run(&r, Inputs::default(), [valid(5, 1), needs(6), NONE, NONE]).0);
    assert_eq!(
        (plan.slot, plan.record.slot(SlotId::B).unwrap().unbootable),
        (SlotId::A, Some(Reason::UnmetRequirement))
    );
    let plan = boot(run(&r, Inputs::default(), [valid(5, 1), needs(5), NONE, NONE]).0);
    assert_eq!((plan.slot, plan.kind), (SlotId::B, BootKind::Trial));
    // A downgrade is not an image fault: with A gone, B boots as a last resort rather than
    // nothing.
    let plan = boot(run(&r, strict, [NONE, valid(4, 1), NONE, NONE]).0);
    assert_eq!((plan.slot, plan.kind), (SlotId::B, BootKind::LastResort));
    // A confirmed image is never refused by these rules (no version to compare against).
    let plan = boot(
        run(
            &confirmed(2, SlotId::A, 1, 1),
            strict,
            [Verdict::Valid(ImageInfo { requires: Some(info(9, 0).version), ..info(1, 1) }), NONE, NONE, NONE],
        )
        .0,
    );
    assert_eq!((plan.slot, plan.kind), (SlotId::A, BootKind::Confirmed));
}

#[test]
fn row_9_recovery_input_boots_last_known_good_first() {
    let r = update_pending(3);
    let rec = Inputs { recovery: true, ..Inputs::default() };
    let (d, calls) = run(&r, rec, [valid(1, 1), valid(2, 1), NONE, NONE]);
    let plan = boot(d);
    assert_eq!((plan.slot, plan.kind, plan.fell_back), (SlotId::A, BootKind::Confirmed, true));
    assert_eq!(plan.record.last_fallback, Reason::RecoveryInput);
    assert_eq!(
        new_events(&plan.record, r.history().count()),
        [(Some(SlotId::A), Event::Fallback, Reason::RecoveryInput, 0)]
    );
    assert_eq!(plan.record.slot(SlotId::B).unwrap(), r.slot(SlotId::B).unwrap(), "the trial keeps its tries");
    assert_eq!(calls, [1, 0, 0, 0]);
}

#[test]
fn row_10_recovery_input_without_last_known_good_is_ignored() {
    let r = Record::fresh(2, Tries::DEFAULT);
    let plan = boot(run(&r, Inputs { recovery: true, ..Inputs::default() }, [valid(1, 0), NONE, NONE, NONE]).0);
    assert_eq!((plan.slot, plan.kind, plan.fell_back), (SlotId::A, BootKind::Trial, false));
    // A last-known-good slot that no longer verifies: the normal order applies.
    let r = update_pending(3);
    let plan = boot(
        run(&r, Inputs { recovery: true, ..Inputs::default() }, [bad(Reason::BadHash), valid(2, 1), NONE, NONE]).0,
    );
    assert_eq!((plan.slot, plan.kind), (SlotId::B, BootKind::Trial));
    assert_eq!(plan.record.slot(SlotId::A).unwrap().unbootable, Some(Reason::BadHash));
    assert_eq!(plan.record.last_known_good, None, "a refused slot stops being last-known-good");
}

#[test]
fn row_11_everything_exhausted_but_one_verifies_is_a_last_resort() {
    let mut r = update_pending(0);
    ops::mark_bad(&mut r, SlotId::A).unwrap();
    let before = r.history().count();
    let (d, calls) = run(&r, Inputs::default(), [valid(1, 1), valid(2, 1), NONE, NONE]);
    let plan = boot(d);
    // B (tries exhausted, priority 15) before A (marked bad, disabled).
    assert_eq!((plan.slot, plan.kind), (SlotId::B, BootKind::LastResort));
    let b = plan.record.slot(SlotId::B).unwrap();
    assert_eq!((b.tries, b.unbootable), (Tries::ZERO, Some(Reason::TriesExhausted)), "stays refused");
    assert_eq!(plan.record.last_fallback, Reason::LastResort);
    assert_eq!(
        new_events(&plan.record, before),
        [
            (Some(SlotId::B), Event::Unbootable, Reason::TriesExhausted, 0),
            (Some(SlotId::B), Event::LastResort, Reason::LastResort, 0),
        ]
    );
    assert_eq!(calls, [0, 1, 0, 0]);
    // The image in B is bad too: A, marked bad, still verifies and is used.
    let plan = boot(run(&r, Inputs::default(), [valid(1, 1), bad(Reason::BadHash), NONE, NONE]).0);
    assert_eq!((plan.slot, plan.kind), (SlotId::A, BootKind::LastResort));
}

#[test]
fn row_11_last_resort_prefers_last_known_good() {
    // Both exhausted; A is last-known-good but lower priority.
    let mut r = update_pending(0);
    let a = r.slot_mut(SlotId::A).unwrap();
    a.confirmed = false;
    a.unbootable = Some(Reason::MarkedBad);
    // (A marked bad keeps last_known_good only in a hand-made record; it shows the order.)
    let plan = boot(run(&r, Inputs::default(), [valid(1, 1), valid(2, 1), NONE, NONE]).0);
    assert_eq!((plan.slot, plan.kind), (SlotId::A, BootKind::LastResort));
}

#[test]
fn row_12_image_faults_are_never_a_last_resort() {
    for fault in [Reason::BadHash, Reason::BadSignature, Reason::UnknownKey, Reason::Rollback, Reason::NoImage] {
        let mut r = update_pending(0);
        r.slot_mut(SlotId::A).unwrap().unbootable = Some(fault);
        r.slot_mut(SlotId::A).unwrap().confirmed = false;
        r.last_known_good = None;
        // A's image would verify now, B's does not: still nothing boots.
        let (d, calls) = run(&r, Inputs::default(), [valid(1, 1), bad(Reason::BadSignature), NONE, NONE]);
        let n = no_boot(d);
        assert_eq!(n.reason, Reason::NothingBootable, "{fault}");
        assert_eq!(calls[0], 0, "an image-fault slot is not even verified ({fault})");
    }
}

#[test]
fn row_13_nothing_verifies_is_recovery_with_reasons_recorded() {
    let r = update_pending(3);
    let (d, calls) = run(&r, Inputs::default(), [bad(Reason::BadHash), bad(Reason::NoImage), NONE, NONE]);
    let n = no_boot(d);
    assert_eq!(n.reason, Reason::NothingBootable);
    assert!(n.changed);
    assert_eq!(n.record.slot(SlotId::A).unwrap().unbootable, Some(Reason::BadHash));
    assert_eq!(n.record.slot(SlotId::B).unwrap().unbootable, Some(Reason::NoImage));
    assert!(!n.record.slot(SlotId::A).unwrap().confirmed);
    assert_eq!(n.record.last_known_good, None);
    assert_eq!(n.record.last_booted, r.last_booted, "nothing was booted");
    assert_eq!(calls, [1, 1, 0, 0]);
    // Recovery again on the recorded state: nothing new to write.
    let again = no_boot(run(&n.record, Inputs::default(), [bad(Reason::BadHash), bad(Reason::NoImage), NONE, NONE]).0);
    assert!(!again.changed);
    assert_eq!(again.record, n.record);
}

#[test]
fn row_13_blank_device_is_recovery() {
    let r = Record::fresh(2, Tries::DEFAULT);
    let (d, calls) = run(&r, Inputs::default(), [NONE; MAX_SLOTS]);
    let n = no_boot(d);
    assert_eq!(n.record.slot(SlotId::A).unwrap().unbootable, Some(Reason::NoImage));
    assert_eq!(calls, [1, 1, 0, 0], "B is disabled but is tried as a last resort");
}

#[test]
fn row_14_disabled_slot_only_as_last_resort() {
    // B is disabled (priority 0) but not refused and holds a good image.
    let mut r = confirmed(2, SlotId::A, 1, 1);
    r.slot_mut(SlotId::B).unwrap().confirmed = true;
    let (d, calls) = run(&r, Inputs::default(), [valid(1, 1), valid(1, 1), NONE, NONE]);
    assert_eq!(boot(d).slot, SlotId::A);
    assert_eq!(calls, [1, 0, 0, 0]);
    let (d, calls) = run(&r, Inputs::default(), [bad(Reason::BadHash), valid(1, 1), NONE, NONE]);
    let plan = boot(d);
    assert_eq!((plan.slot, plan.kind), (SlotId::B, BootKind::LastResort));
    assert_eq!(calls, [1, 1, 0, 0]);
}

#[test]
fn row_15_four_slots() {
    // C on trial (15), A and D confirmed at 12 (tie), B disabled.
    let mut r = confirmed(4, SlotId::D, 3, 2);
    r.slot_mut(SlotId::D).unwrap().priority = p(12);
    let a = r.slot_mut(SlotId::A).unwrap();
    a.priority = p(12);
    a.confirmed = true;
    a.security_counter = 2;
    let c = r.slot_mut(SlotId::C).unwrap();
    c.priority = Priority::MAX;
    c.tries = t(2);
    let v = [valid(3, 2), valid(3, 2), valid(4, 2), valid(3, 2)];
    let (d, calls) = run(&r, Inputs::default(), v);
    let plan = boot(d);
    assert_eq!((plan.slot, plan.kind), (SlotId::C, BootKind::Trial));
    assert_eq!(calls, [0, 0, 1, 0]);
    // C fails: the tie between A and D goes to A.
    let v = [valid(3, 2), valid(3, 2), bad(Reason::BadSignature), valid(3, 2)];
    let (d, calls) = run(&r, Inputs::default(), v);
    let plan = boot(d);
    assert_eq!((plan.slot, plan.kind, plan.fell_back), (SlotId::A, BootKind::Confirmed, true));
    assert_eq!(plan.record.last_fallback, Reason::BadSignature);
    assert_eq!(calls, [1, 0, 1, 0]);
    // Recovery input: D (last-known-good) first.
    let plan = boot(run(&r, Inputs { recovery: true, ..Inputs::default() }, v).0);
    assert_eq!((plan.slot, plan.record.last_fallback), (SlotId::D, Reason::RecoveryInput));
    // A and C bad too: D.
    let v = [bad(Reason::BadHash), valid(3, 2), bad(Reason::BadSignature), valid(3, 2)];
    let (d, calls) = run(&r, Inputs::default(), v);
    assert_eq!(boot(d).slot, SlotId::D);
    assert_eq!(calls, [1, 0, 1, 1]);
    // Nothing enabled verifies: B (disabled) as the last resort.
    let v = [bad(Reason::BadHash), valid(3, 2), bad(Reason::BadSignature), bad(Reason::NoImage)];
    let (d, calls) = run(&r, Inputs::default(), v);
    let plan = boot(d);
    assert_eq!((plan.slot, plan.kind), (SlotId::B, BootKind::LastResort));
    assert_eq!(calls, [1, 1, 1, 1]);
}

#[test]
fn row_16_slots_beyond_slot_count_are_never_asked_about() {
    let r = Record::fresh(2, Tries::DEFAULT);
    let (_, calls) = run(&r, Inputs::default(), [NONE; MAX_SLOTS]);
    assert_eq!(&calls[2..], &[0, 0]);
}

#[test]
fn step_asks_for_the_next_unverified_candidate() {
    let r = update_pending(3);
    assert_eq!(step(&r, &[None; MAX_SLOTS], Inputs::default()), Step::Verify(SlotId::B));
    let v = [None, Some(bad(Reason::BadHash)), None, None];
    assert_eq!(step(&r, &v, Inputs::default()), Step::Verify(SlotId::A));
    let v = [None, None, None, None];
    assert_eq!(step(&r, &v, Inputs { recovery: true, ..Inputs::default() }), Step::Verify(SlotId::A));
}

fn arb_verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        (0u8..4, 0u32..4).prop_map(|(m, sc)| valid(m, sc)),
        (1u8..=16).prop_map(|c| bad(Reason::from_u8(c).unwrap())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Each slot is verified at most once, only slots in use are verified, `decide`
    /// always ends, and it never reports an internal error.
    #[test]
    fn decide_verifies_each_slot_at_most_once(r in arb_record(), v in proptest::array::uniform4(arb_verdict()), rec in any::<bool>()) {
        let (d, calls) = run(&r, Inputs { recovery: rec, ..Inputs::default() }, v);
        for (i, &c) in calls.iter().enumerate() {
            prop_assert!(c <= 1, "slot {} verified {} times", i, c);
            if i >= usize::from(r.slot_count()) {
                prop_assert_eq!(c, 0);
            }
        }
        let reason = match &d { Decision::Recovery(n) => Some(n.reason), Decision::Boot(_) => None };
        prop_assert_ne!(reason, Some(Reason::Internal));
    }

    /// What is booted: a slot whose image verified with a counter at or above the
    /// floor, never an image fault; a trial spends exactly one try; `changed` is exact.
    #[test]
    fn boot_invariants(r in arb_record(), v in proptest::array::uniform4(arb_verdict()), rec in any::<bool>()) {
        let (d, calls) = run(&r, Inputs { recovery: rec, ..Inputs::default() }, v);
        match d {
            Decision::Boot(plan) => {
                let i = plan.slot.index();
                prop_assert_eq!(calls[i], 1);
                let Verdict::Valid(inf) = v[i] else { panic!("booted an invalid image") };
                prop_assert!(inf.security_counter >= r.rollback_floor);
                let before = r.slot(plan.slot).unwrap();
                let after = plan.record.slot(plan.slot).unwrap();
                prop_assert!(!after.unbootable.is_some_and(Reason::is_image_fault));
                match plan.kind {
                    BootKind::Trial => {
                        prop_assert!(!after.confirmed);
                        prop_assert!(before.tries.get() >= 1);
                        prop_assert_eq!(after.tries.get(), before.tries.get() - 1);
                        prop_assert!(before.is_bootable());
                    }
                    BootKind::Confirmed => {
                        prop_assert!(after.confirmed);
                        prop_assert_eq!(after.tries, before.tries);
                    }
                    BootKind::LastResort => prop_assert_eq!(plan.record.last_fallback, Reason::LastResort),
                }
                prop_assert_eq!(plan.record.last_booted, Some(plan.slot));
                prop_assert_eq!(plan.changed, plan.record != r);
                prop_assert!(plan.record.rollback_floor == r.rollback_floor);
                // The persisted record encodes (the journal can store it).
                prop_assert_eq!(Record::decode(&plan.record.encode()), Ok(plan.record.clone()));
            }
            Decision::Recovery(n) => {
                prop_assert_eq!(n.reason, Reason::NothingBootable);
                prop_assert_eq!(n.changed, n.record != r);
                for id in n.record.slot_ids() {
                    // Recovery never happens while a verified image was acceptable.
                    if let Verdict::Valid(inf) = v[id.index()] {
                        prop_assert!(calls[id.index()] == 0 || inf.security_counter < r.rollback_floor);
                    }
                }
            }
        }
    }

    /// Deciding again on the persisted record with the same verdicts boots the same slot
    /// (or recovers again), and a recovery's second run writes nothing.
    #[test]
    fn deciding_is_stable(r in arb_record(), v in proptest::array::uniform4(arb_verdict())) {
        let (d1, _) = run(&r, Inputs::default(), v);
        match d1 {
            Decision::Recovery(n) => {
                let n2 = no_boot(run(&n.record, Inputs::default(), v).0);
                prop_assert!(!n2.changed);
            }
            Decision::Boot(p1) if p1.kind == BootKind::Confirmed => {
                let p2 = boot(run(&p1.record, Inputs::default(), v).0);
                prop_assert_eq!(p2.slot, p1.slot);
                prop_assert!(!p2.changed, "a confirmed boot settles in one write");
            }
            Decision::Boot(_) => {}
        }
    }
}

#[test]
fn repeated_recovery_or_last_resort_boots_write_nothing() {
    use crate::record::Record;
    use crate::slot::{SlotId, Tries};
    let valid = |_| Verdict::Valid(ImageInfo::default());
    // Recovery input held at every reset: the first boot records it, the next ones change nothing.
    let mut r = Record::fresh(2, Tries::DEFAULT);
    r.last_booted = Some(SlotId::A);
    crate::ops::mark_good(&mut r, SlotId::A).unwrap();
    crate::ops::set_active(&mut r, SlotId::B, Tries::DEFAULT).unwrap();
    let first = match decide(&r, Inputs { recovery: true, ..Inputs::default() }, valid) {
        Decision::Boot(p) => p,
        d => panic!("{d:?}"),
    };
    assert!(first.changed);
    match decide(&first.record, Inputs { recovery: true, ..Inputs::default() }, valid) {
        Decision::Boot(p) => assert!(!p.changed, "a repeated recovery boot must not write"),
        d => panic!("{d:?}"),
    }
    // Last resort in a reset loop.
    let mut r = Record::fresh(2, Tries::new(1).unwrap());
    r.slot_mut(SlotId::A).unwrap().tries = Tries::ZERO;
    let first = match decide(&r, Inputs::default(), valid) {
        Decision::Boot(p) => p,
        d => panic!("{d:?}"),
    };
    assert_eq!(first.kind, BootKind::LastResort);
    match decide(&first.record, Inputs::default(), valid) {
        Decision::Boot(p) => assert!(!p.changed, "a repeated last-resort boot must not write"),
        d => panic!("{d:?}"),
    }
}

/// Boots `r` again and again with `cause` before every boot (the cause of the reset that
/// ended the previous run) and the layout's bound `k`, as the boot stage would, until the
/// policy stops booting B on trial; returns how many trial boots of B there were. Bounded by
/// `limit` boots (a policy without the bound would loop: the test then fails).
fn trial_boots_of_b(mut r: Record, causes: impl Fn(usize) -> ResetCause, k: u8, limit: usize) -> usize {
    let v = [valid(1, 1), valid(2, 1), NONE, NONE];
    for trial_boots in 0..limit {
        let inputs = Inputs { reset_cause: causes(trial_boots), free_retries: k, ..Inputs::default() };
        let plan = boot(run(&r, inputs, v).0);
        if (plan.slot, plan.kind) != (SlotId::B, BootKind::Trial) {
            return trial_boots;
        }
        r = plan.record;
    }
    panic!("B was still booted on trial after {limit} boots: the free retries are not bounded");
}

#[test]
fn row_17_power_loss_during_a_trial_is_free_at_most_k_times_per_trial() {
    // Every reset a power-on: B, activated with 2 tries and a bound of 3, boots 2 + 3 times.
    for k in 0..=4u8 {
        assert_eq!(trial_boots_of_b(update_pending(2), |_| ResetCause::PowerOn, k, 100), 2 + usize::from(k), "k={k}");
        assert_eq!(trial_boots_of_b(update_pending(2), |_| ResetCause::BrownOut, k, 100), 2 + usize::from(k), "k={k}");
    }
    // Watchdog, software, pin, lockup or unknown resets always use a try.
    for cause in [ResetCause::Watchdog, ResetCause::Software, ResetCause::Pin, ResetCause::Lockup, ResetCause::Unknown]
    {
        assert_eq!(trial_boots_of_b(update_pending(2), |_| cause, 3, 100), 2, "{cause:?}");
    }
}

#[test]
fn row_17_free_retries_are_counted_in_the_record_and_only_for_the_running_trial() {
    let k = 2;
    let on = |r: &Record, cause| {
        boot(
            run(
                r,
                Inputs { reset_cause: cause, free_retries: k, ..Inputs::default() },
                [valid(1, 1), valid(2, 1), NONE, NONE],
            )
            .0,
        )
    };
    // The first trial boot follows A's run: a power-on then was not B's fault, but B was not
    // running, so it uses a try.
    let first = on(&update_pending(3), ResetCause::PowerOn);
    assert_eq!(
        (first.slot, first.record.slot(SlotId::B).unwrap().tries, first.record.free_retries),
        (SlotId::B, t(2), 0)
    );
    // A power-on while B ran: free, counted.
    let second = on(&first.record, ResetCause::PowerOn);
    assert_eq!((second.record.slot(SlotId::B).unwrap().tries, second.record.free_retries), (t(2), 1));
    assert!(second.changed, "the count must be written before the hand-off");
    let last = second.record.history().last().copied().unwrap();
    assert_eq!((last.event, last.cause, last.tries), (Event::TrialBoot, ResetCause::PowerOn, t(2)));
    // A watchdog reset: a try, and the count stays (it is per trial, not per try).
    let third = on(&second.record, ResetCause::Watchdog);
    assert_eq!((third.record.slot(SlotId::B).unwrap().tries, third.record.free_retries), (t(1), 1));
    // Confirming ends the trial: the count is back to 0 for the next one.
    let mut confirmed = third.record.clone();
    ops::mark_good(&mut confirmed, SlotId::B).unwrap();
    assert_eq!(confirmed.free_retries, 0);
    // Activating a slot starts a trial with no free retries used.
    let mut again = third.record;
    ops::set_active(&mut again, SlotId::B, t(3)).unwrap();
    assert_eq!(again.free_retries, 0);
}

proptest! {
    /// Row 17's bound, whatever the resets, the recovery input and A's verdicts between
    /// them: a trial activated with `t` tries is booted at most `t + K` times (each boot
    /// either uses a try or one of the K free retries, and the free-retry count is reset only
    /// by activating or confirming).
    #[test]
    fn free_retries_never_extend_a_trial_beyond_tries_plus_k(
        tries in 1u8..=15,
        k in 0u8..=4,
        boots in proptest::collection::vec((0u8..=6, proptest::bool::weighted(0.1), any::<bool>()), 0..80),
    ) {
        let mut r = update_pending(tries);
        let mut trial_boots = 0u32;
        for (cause, recovery, a_valid) in boots {
            let inputs = Inputs {
                recovery,
                reset_cause: ResetCause::from_u8(cause).unwrap(),
                free_retries: k,
                refuse_downgrade: false,
                hardware_floor: 0,
                hardware_key_floor: 0,
            };
            let a = if a_valid { valid(1, 1) } else { bad(Reason::BadHash) };
            r = match run(&r, inputs, [a, valid(2, 1), NONE, NONE]).0 {
                Decision::Boot(plan) => {
                    if (plan.slot, plan.kind) == (SlotId::B, BootKind::Trial) {
                        trial_boots += 1;
                    }
                    plan.record
                }
                Decision::Recovery(n) => n.record,
            };
            prop_assert!(trial_boots <= u32::from(tries) + u32::from(k), "{trial_boots} trial boots of B");
            prop_assert!(r.free_retries <= k);
        }
    }
}
