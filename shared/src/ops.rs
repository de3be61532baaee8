//! Operations that change the record on behalf of firmware and the Linux agent.
//!
//! Each is a pure function on a [`Record`]; callers persist the result with one journal
//! append (`Journal::update`). Doing nothing is a valid outcome: marking an already
//! confirmed slot good leaves the record unchanged, so nothing is written.

use crate::error::OpError;
use crate::reason::Reason;
use crate::record::{Event, HistoryEntry, Record, SlotState};
use crate::reset::ResetCause;
use crate::slot::{Priority, SlotId, Tries};

/// Marks `running`, the slot that is running now (as the boot stage handed it over: the
/// hand-off block, or the kernel command line on Linux), as good (confirmed): it becomes
/// the last-known-good slot and the anti-rollback floor rises to its security counter.
/// The floor is raised only here, from a confirmed slot, never from a trial.
///
/// The record must agree that `running` was booted: when the boot stage could not record
/// the boot (a failed flash write, then a read-only fallback), `last_booted` names another
/// slot and confirming would confirm what the record *thinks* runs. A running slot that
/// is already confirmed and last-known-good needs nothing and is accepted; anything else
/// is refused with [`OpError::NotRecordedAsBooted`].
pub fn mark_good(r: &mut Record, running: SlotId) -> Result<(), OpError> {
    let already_lkg = r.last_known_good == Some(running);
    let recorded = r.last_booted;
    // The stage boots an unbootable slot only as a last resort (nothing else could boot),
    // and only after verifying it: that slot, recorded as booted, may confirm itself, which
    // lifts the mark and makes it the primary again. Otherwise a device whose only slot was
    // marked bad could never be confirmed again (issue #17, finding 5).
    let last_resort = r.last_fallback == Reason::LastResort && recorded == Some(running);
    let s = r.slot(running).ok_or(OpError::NoSuchSlot)?;
    match s.unbootable {
        Some(_) if last_resort => {
            let s = make_primary(r, running)?;
            s.unbootable = None;
        }
        Some(reason) => return Err(OpError::Unbootable(reason)),
        None if s.confirmed && already_lkg => return Ok(()),
        None => {}
    }
    if recorded != Some(running) {
        return Err(OpError::NotRecordedAsBooted { running, recorded });
    }
    let s = r.slot_mut(running).ok_or(OpError::NoSuchSlot)?;
    s.confirmed = true;
    let (tries, sc) = (s.tries, s.security_counter);
    r.last_known_good = Some(running);
    r.rollback_floor = r.rollback_floor.max(sc);
    // The trial is over: the next one starts with no free retries used.
    r.free_retries = 0;
    note(r, running, Event::Confirmed, Reason::None, tries);
    Ok(())
}

/// Marks `slot` bad: unbootable with [`Reason::MarkedBad`], unconfirmed, disabled.
/// Used by firmware that failed its own health check and by an installer before it
/// overwrites the slot (RAUC `set-state <slot> bad`).
pub fn mark_bad(r: &mut Record, slot: SlotId) -> Result<(), OpError> {
    let s = r.slot_mut(slot).ok_or(OpError::NoSuchSlot)?;
    if s.unbootable == Some(Reason::MarkedBad) && !s.confirmed && s.priority == Priority::DISABLED {
        return Ok(());
    }
    s.unbootable = Some(Reason::MarkedBad);
    s.confirmed = false;
    s.priority = Priority::DISABLED;
    s.tries = Tries::ZERO;
    if r.last_known_good == Some(slot) {
        r.last_known_good = None;
    }
    note(r, slot, Event::Unbootable, Reason::MarkedBad, Tries::ZERO);
    Ok(())
}

/// Activates `slot` for a trial boot with `tries` attempts (1..=15): it gets the top
/// priority, other enabled slots are lowered below it, and it becomes unconfirmed and
/// bootable again (this re-arms a slot that was marked bad, as RAUC's `set-primary`
/// after `set-state bad` requires). The next boot tries it; if it never confirms, the
/// boot stage falls back when its tries run out.
pub fn set_active(r: &mut Record, slot: SlotId, tries: Tries) -> Result<(), OpError> {
    if tries == Tries::ZERO {
        return Err(OpError::BadTries);
    }
    if !r.has_slot(slot) {
        return Err(OpError::NoSuchSlot);
    }
    let s = make_primary(r, slot)?;
    s.tries = tries;
    s.confirmed = false;
    s.unbootable = None;
    activated(r, slot, tries);
    Ok(())
}

/// Gives `slot` the top priority and lowers every other slot at the top below it; returns
/// `slot`'s state for the caller to finish.
fn make_primary(r: &mut Record, slot: SlotId) -> Result<&mut SlotState, OpError> {
    for id in r.slot_ids() {
        if id == slot {
            continue;
        }
        if let Some(s) = r.slot_mut(id) {
            if s.priority >= Priority::MAX {
                s.priority = s.priority.lowered();
            }
        }
    }
    let s = r.slot_mut(slot).ok_or(OpError::NoSuchSlot)?;
    s.priority = Priority::MAX;
    Ok(s)
}

/// Makes `slot`, a confirmed slot, the primary again and keeps it confirmed: the way to
/// cancel an update that was activated but has not run (RAUC `mark-active booted`,
/// Android's `setActiveBootSlot` of the current slot). `slot` gets the top priority and
/// every other slot at the top is lowered below it; their tries are left as they are, so
/// an activated update no longer boots next and is tried only as a fallback, if `slot`
/// itself cannot boot (as Android leaves it). Unlike [`set_active`], `slot` is not put on
/// trial: it has proved itself. A slot that already is the primary needs nothing.
///
/// Refused with [`OpError::Unbootable`] for an unbootable slot and
/// [`OpError::NotConfirmed`] for one that is not confirmed (that needs a trial:
/// [`set_active`]).
pub fn reinstate(r: &mut Record, slot: SlotId) -> Result<(), OpError> {
    let s = r.slot(slot).ok_or(OpError::NoSuchSlot)?;
    if let Some(reason) = s.unbootable {
        return Err(OpError::Unbootable(reason));
    }
    if !s.confirmed {
        return Err(OpError::NotConfirmed);
    }
    if r.primary() == Some(slot) {
        return Ok(());
    }
    let tries = make_primary(r, slot)?.tries;
    activated(r, slot, tries);
    Ok(())
}

/// Ends an activation: a new primary starts with no power-loss resets used, and the
/// history says so.
fn activated(r: &mut Record, slot: SlotId, tries: Tries) {
    r.free_retries = 0;
    note(r, slot, Event::Activated, Reason::None, tries);
}

/// Appends the history entry of an operation (operations are not boots: no reset cause).
fn note(r: &mut Record, slot: SlotId, event: Event, reason: Reason, tries: Tries) {
    r.push_history(HistoryEntry { slot: Some(slot), event, reason, tries, cause: ResetCause::Unknown });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booted(slot: SlotId) -> Record {
        let mut r = Record::fresh(2, Tries::DEFAULT);
        r.last_booted = Some(slot);
        r
    }

    #[test]
    fn mark_good_confirms_and_raises_floor_once() {
        let mut r = booted(SlotId::A);
        r.slot_mut(SlotId::A).unwrap().security_counter = 7;
        mark_good(&mut r, SlotId::A).unwrap();
        let s = r.slot(SlotId::A).unwrap();
        assert!(s.confirmed);
        assert_eq!(r.last_known_good, Some(SlotId::A));
        assert_eq!(r.rollback_floor, 7);
        let before = r.clone();
        mark_good(&mut r, SlotId::A).unwrap();
        assert_eq!(r, before, "a second mark-good changes nothing (so writes nothing)");
    }

    #[test]
    fn mark_good_never_lowers_floor() {
        let mut r = booted(SlotId::A);
        r.rollback_floor = 9;
        r.slot_mut(SlotId::A).unwrap().security_counter = 3;
        mark_good(&mut r, SlotId::A).unwrap();
        assert_eq!(r.rollback_floor, 9);
    }

    #[test]
    fn mark_good_needs_a_booted_bootable_slot() {
        let mut r = Record::fresh(2, Tries::DEFAULT);
        assert_eq!(
            mark_good(&mut r, SlotId::A),
            Err(OpError::NotRecordedAsBooted { running: SlotId::A, recorded: None })
        );
        let mut r = booted(SlotId::B);
        mark_bad(&mut r, SlotId::B).unwrap();
        assert_eq!(mark_good(&mut r, SlotId::B), Err(OpError::Unbootable(Reason::MarkedBad)));
        assert_eq!(mark_good(&mut r, SlotId::C), Err(OpError::NoSuchSlot));
    }

    #[test]
    fn set_active_after_mark_bad_rearms() {
        let mut r = booted(SlotId::A);
        mark_good(&mut r, SlotId::A).unwrap();
        mark_bad(&mut r, SlotId::B).unwrap();
        assert_eq!(r.primary(), Some(SlotId::A));
        set_active(&mut r, SlotId::B, Tries::new(3).unwrap()).unwrap();
        let b = r.slot(SlotId::B).unwrap();
        assert_eq!(
            (b.priority, b.tries, b.confirmed, b.unbootable),
            (Priority::MAX, Tries::new(3).unwrap(), false, None)
        );
        assert_eq!(r.slot(SlotId::A).unwrap().priority, Priority::new(14).unwrap());
        assert_eq!(r.primary(), Some(SlotId::B));
        assert_eq!(set_active(&mut r, SlotId::B, Tries::ZERO), Err(OpError::BadTries));
        assert_eq!(set_active(&mut r, SlotId::C, Tries::DEFAULT), Err(OpError::NoSuchSlot));
    }

    #[test]
    fn mark_bad_clears_last_known_good() {
        let mut r = booted(SlotId::A);
        mark_good(&mut r, SlotId::A).unwrap();
        mark_bad(&mut r, SlotId::A).unwrap();
        assert_eq!(r.last_known_good, None);
        assert_eq!(r.primary(), None);
    }

    /// Issue #12, failure 1: A runs (booted read-only as last-known-good after B's trial
    /// write failed), but the record still says B was last booted. Confirming "the last
    /// booted slot" confirmed B, raised the floor to B's counter and made the crashing B
    /// the last-known-good slot; confirming the running slot changes nothing.
    #[test]
    fn mark_good_confirms_the_running_slot_not_the_recorded_one() {
        let mut r = booted(SlotId::A);
        r.slot_mut(SlotId::A).unwrap().security_counter = 1;
        mark_good(&mut r, SlotId::A).unwrap();
        r.slot_mut(SlotId::B).unwrap().security_counter = 2;
        set_active(&mut r, SlotId::B, Tries::new(3).unwrap()).unwrap();
        r.last_booted = Some(SlotId::B); // B's trial boot, then B crashed
        let before = r.clone();
        mark_good(&mut r, SlotId::A).unwrap();
        assert_eq!(r, before, "A is already confirmed and last-known-good: nothing to write");
        assert!(!r.slot(SlotId::B).unwrap().confirmed);
        assert_eq!((r.last_known_good, r.rollback_floor), (Some(SlotId::A), 1));
        // A slot the record does not show as booted, and not confirmed: refused.
        let mut r = booted(SlotId::B);
        assert_eq!(
            mark_good(&mut r, SlotId::A),
            Err(OpError::NotRecordedAsBooted { running: SlotId::A, recorded: Some(SlotId::B) })
        );
    }

    /// Issue #17, finding 5: the only good slot marked bad is booted as a last resort; it
    /// can confirm itself, which lifts the mark, and the next boot is a normal confirmed one.
    #[test]
    fn a_last_resort_boot_of_a_slot_marked_bad_can_confirm_itself() {
        use crate::policy::{decide, BootKind, Decision, ImageInfo, Inputs, Verdict};
        let mut r = booted(SlotId::A);
        mark_good(&mut r, SlotId::A).unwrap();
        mark_bad(&mut r, SlotId::A).unwrap();
        let boot = |r: &Record| match decide(r, Inputs::default(), |_| Verdict::Valid(ImageInfo::default())) {
            Decision::Boot(plan) => plan,
            Decision::Recovery(n) => panic!("{n:?}"),
        };
        let plan = boot(&r);
        assert_eq!((plan.slot, plan.kind), (SlotId::A, BootKind::LastResort));
        let mut r = plan.record;
        mark_good(&mut r, SlotId::A).unwrap();
        let a = *r.slot(SlotId::A).unwrap();
        assert!(a.confirmed && a.unbootable.is_none() && a.is_bootable(), "{a:?}");
        assert_eq!(r.last_known_good, Some(SlotId::A));
        let plan = boot(&r);
        assert_eq!((plan.slot, plan.kind), (SlotId::A, BootKind::Confirmed));
        // A slot marked bad that the stage did not boot stays refused.
        let mut r = booted(SlotId::A);
        mark_good(&mut r, SlotId::A).unwrap();
        mark_bad(&mut r, SlotId::B).unwrap();
        assert_eq!(mark_good(&mut r, SlotId::B), Err(OpError::Unbootable(Reason::MarkedBad)));
    }

    /// Issue #17, finding 4: activating B, then making the running, confirmed A the primary
    /// again (cancelling the update) keeps A confirmed and B below it; the boot stage then
    /// boots A, confirmed, on every reset and never tries B.
    #[test]
    fn reinstate_cancels_an_update_and_keeps_the_slot_confirmed() {
        use crate::policy::{decide, Decision, ImageInfo, Inputs, Verdict};
        let mut r = booted(SlotId::A);
        mark_good(&mut r, SlotId::A).unwrap();
        set_active(&mut r, SlotId::B, Tries::DEFAULT).unwrap();
        assert_eq!(r.primary(), Some(SlotId::B));
        reinstate(&mut r, SlotId::A).unwrap();
        let (a, b) = (*r.slot(SlotId::A).unwrap(), *r.slot(SlotId::B).unwrap());
        assert_eq!((a.priority, a.confirmed), (Priority::MAX, true));
        assert!(b.priority < a.priority && !b.confirmed);
        assert_eq!((r.primary(), r.last_known_good), (Some(SlotId::A), Some(SlotId::A)));
        let again = r.clone();
        reinstate(&mut r, SlotId::A).unwrap();
        assert_eq!(r, again, "the primary needs nothing");
        for _ in 0..5 {
            match decide(&r, Inputs::default(), |_| Verdict::Valid(ImageInfo::default())) {
                Decision::Boot(plan) => {
                    assert_eq!(plan.slot, SlotId::A);
                    r = plan.record;
                }
                Decision::Recovery(n) => panic!("{n:?}"),
            }
        }
        assert!(r.slot(SlotId::A).unwrap().confirmed);
        // Only a confirmed, bootable slot can be reinstated.
        assert_eq!(reinstate(&mut r, SlotId::B), Err(OpError::NotConfirmed));
        mark_bad(&mut r, SlotId::B).unwrap();
        assert_eq!(reinstate(&mut r, SlotId::B), Err(OpError::Unbootable(Reason::MarkedBad)));
        assert_eq!(reinstate(&mut r, SlotId::C), Err(OpError::NoSuchSlot));
    }
}
