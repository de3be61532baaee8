//! The record side of a boot: read (or create) the record, decide, persist — in that
//! order, before any hand-off.
//!
//! This is the part of the boot sequence that touches the journal; the boot stage
//! (`safeslot-boot`) wraps it with signature checks, fault-injection hardening and the
//! jump, and the power-cut sweep in this crate runs exactly this function.
//!
//! * A valid record is read and handed to [`policy::decide`](crate::policy::decide).
//! * A **blank** region (factory state) or a region holding **no valid record** (corrupt,
//!   foreign) gets a fresh record: slot A active on trial, nothing assumed good. The
//!   decision is made on that fresh record in memory and written as the region's first
//!   entry, so the first boot costs one erase and one program. A corrupt region is
//!   remembered as [`Reason::NoValidRecord`] in `last_fallback` and in the history.
//! * The decision's record is persisted when it changed (a confirmed boot of the same
//!   slot writes nothing) or when the journal's head is not solid (a write was cut during
//!   its acknowledgement: the state read is made durable before anything relies on it).
//!   A trial boot is never handed off unless its tries decrement is durable: if
//!   persisting fails, the error is returned and the caller must not boot the trial slot.
//!   A confirmed slot may still boot; [`Selection::recorded`] then says that the record
//!   does not show this boot, and the boot stage passes that on in the hand-off block.
//! * The record's anti-rollback floor is raised to the hardware counter's
//!   ([`Inputs::hardware_floor`]) before the decision: a blank, corrupt or reset record
//!   never lowers the floor below the hardware's.

use embedded_storage::nor_flash::NorFlash;

use crate::counter::effective_floor;
use crate::error::Error;
use crate::journal::{Found, Journal};
use crate::policy::{decide, BootKind, Decision, Inputs, Verdict};
use crate::reason::Reason;
use crate::record::{Event, HistoryEntry, Record};
use crate::reset::ResetCause;
use crate::slot::{SlotId, Tries};

/// What [`select`] decided and whether it was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Selection {
    /// The decision (its record is now the journal's head when it changed).
    pub decision: Decision,
    /// The journal's sequence number after this boot.
    pub seq: u32,
    /// The record in flash shows this boot (`last_booted` is the booted slot). `false`
    /// when the write failed and a confirmed slot boots anyway.
    pub recorded: bool,
}

/// What a blank or corrupt record region is replaced with: the board's slot count and
/// the tries given to the factory image in slot A (never 0: a factory image with no
/// tries would boot as a last resort forever and could never be confirmed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FreshRecord {
    slots: u8,
    tries: Tries,
}

impl FreshRecord {
    /// `slots` (2..=4) and `tries` (1..=15); `None` otherwise.
    pub const fn new(slots: u8, tries: Tries) -> Option<FreshRecord> {
        if slots < 2 || slots as usize > crate::slot::MAX_SLOTS || tries.get() == 0 {
            return None;
        }
        Some(FreshRecord { slots, tries })
    }

    /// Number of slots.
    pub const fn slots(&self) -> u8 {
        self.slots
    }

    /// Tries of the factory image.
    pub const fn tries(&self) -> Tries {
        self.tries
    }

    /// The record that replaces a blank region, or (`corrupt`) a region holding no valid
    /// record: then the reset is remembered in `last_fallback` and the history.
    pub fn record(&self, corrupt: bool) -> Record {
        let mut r = Record::fresh(self.slots, self.tries);
        if corrupt {
            r.last_fallback = Reason::NoValidRecord;
            r.push_history(HistoryEntry {
                slot: None,
                event: Event::Created,
                reason: Reason::NoValidRecord,
                tries: self.tries,
                cause: ResetCause::Unknown,
            });
        }
        r
    }
}

impl FreshRecord {
    /// Two slots, [`Tries::DEFAULT`] tries.
    pub const DEFAULT: FreshRecord = FreshRecord { slots: 2, tries: Tries::DEFAULT };

    /// `slots` slots with [`Tries::DEFAULT`] tries (for a layout's validated slot count;
    /// [`FreshRecord::DEFAULT`] if `slots` is out of range).
    pub const fn for_slots(slots: u8) -> FreshRecord {
        match FreshRecord::new(slots, Tries::DEFAULT) {
            Some(p) => p,
            None => FreshRecord::DEFAULT,
        }
    }
}

impl Default for FreshRecord {
    fn default() -> Self {
        FreshRecord::DEFAULT
    }
}

/// Reads or creates the record, decides which slot boots (calling `verify` for each slot
/// the policy asks about) and persists the decision. See the module docs.
pub fn select<F: NorFlash>(
    journal: &mut Journal<F>,
    inputs: Inputs,
    fresh: FreshRecord,
    mut verify: impl FnMut(&mut F, SlotId) -> Verdict,
) -> Result<Selection, Error<F::Error>> {
    let (mut current, created) = match journal.found() {
        Found::Valid(_) => (journal.record()?.clone(), false),
        Found::Blank => (fresh.record(false), true),
        Found::NoValidRecord => (fresh.record(true), true),
    };
    // The boot stage reads every record format and writes its own: a record of an older
    // format moves forward the next time this boot changes it (an unchanged one is left as
    // it is). Writers other than the boot stage keep the format they read.
    current.upgrade();
    // The effective anti-rollback floor: a record whose floor is below the hardware
    // counter's (wiped, re-created, forged, or reset by `init --force --allow-rollback`) is
    // decided on, and written back if it changes, with the hardware's. Raising it alone
    // writes nothing: it rides along with the next write this boot makes.
    current.rollback_floor = effective_floor(current.rollback_floor, inputs.hardware_floor);
    // The same for revoked keys.
    current.key_floor = current.key_floor.max(inputs.hardware_key_floor);
    let decision = decide(&current, inputs, |slot| verify(journal.flash_mut(), slot));
    let (to_write, changed, kind) = match &decision {
        Decision::Boot(p) => (&p.record, p.changed, Some(p.kind)),
        Decision::Recovery(n) => (&n.record, n.changed, None),
    };
    let persisted = if created {
        journal.initialize(to_write)
    } else if changed || !journal.head_is_solid() {
        journal.append(to_write)
    } else {
        Ok(())
    };
    let recorded = match persisted {
        Ok(()) => true,
        // A confirmed slot may boot even if its bookkeeping could not be stored: it needs
        // no tries. A trial or last-resort boot must not happen without a durable record.
        Err(_) if kind == Some(BootKind::Confirmed) && !created => false,
        Err(e) => return Err(e),
    };
    Ok(Selection { decision, seq: journal.seq(), recorded })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_policy_never_has_zero_tries() {
        assert_eq!(FreshRecord::new(2, Tries::ZERO), None);
        assert_eq!(FreshRecord::new(1, Tries::DEFAULT), None);
        assert_eq!(FreshRecord::new(5, Tries::DEFAULT), None);
        let p = FreshRecord::new(4, Tries::MAX).unwrap();
        assert_eq!((p.slots(), p.tries()), (4, Tries::MAX));
        assert_eq!(FreshRecord::for_slots(9), FreshRecord::DEFAULT);
        assert_eq!(FreshRecord::for_slots(3).slots(), 3);
    }

    fn image(sc: u32) -> Verdict {
        Verdict::Valid(crate::policy::ImageInfo { security_counter: sc, ..crate::policy::ImageInfo::default() })
    }

    /// A wiped region is re-created with the hardware floor: the old image in A is refused
    /// as a rollback (the fresh record's trial slot), and the newer B boots as a last
    /// resort; the record written carries the hardware floor.
    #[test]
    fn a_recreated_record_gets_the_hardware_floor() {
        use crate::sim::{SimConfig, SimFlash};
        let cfg = SimConfig { size: 2048, write_size: 8, erase_size: 1024, write_count: crate::nor::WriteCount::Once };
        let mut flash = SimFlash::new(cfg).unwrap();
        let mut j = Journal::open(&mut flash, cfg.whole_journal()).unwrap();
        let inputs = Inputs { hardware_floor: 5, ..Inputs::default() };
        let sel =
            select(&mut j, inputs, FreshRecord::DEFAULT, |_, s| image(if s == SlotId::A { 2 } else { 5 })).unwrap();
        match sel.decision {
            Decision::Boot(p) => {
                assert_eq!((p.slot, p.kind), (SlotId::B, BootKind::LastResort));
                assert_eq!(p.record.slot(SlotId::A).unwrap().unbootable, Some(Reason::Rollback));
            }
            d => panic!("{d:?}"),
        }
        assert_eq!(j.record().unwrap().rollback_floor, 5);
        // Without the hardware floor, the same region boots the old image.
        let mut flash = SimFlash::new(cfg).unwrap();
        let mut j = Journal::open(&mut flash, cfg.whole_journal()).unwrap();
        let sel = select(&mut j, Inputs::default(), FreshRecord::DEFAULT, |_, _| image(2)).unwrap();
        assert!(matches!(sel.decision, Decision::Boot(p) if p.slot == SlotId::A && p.kind == BootKind::Trial));
    }

    /// Raising the floor alone writes nothing: a confirmed boot of the same image stays
    /// write-free; the floor reaches the record with the next write.
    #[test]
    fn raising_the_floor_alone_writes_nothing() {
        use crate::sim::{SimConfig, SimFlash};
        let cfg = SimConfig { size: 2048, write_size: 8, erase_size: 1024, write_count: crate::nor::WriteCount::Once };
        let mut flash = SimFlash::new(cfg).unwrap();
        let mut j = Journal::open(&mut flash, cfg.whole_journal()).unwrap();
        select(&mut j, Inputs::default(), FreshRecord::DEFAULT, |_, _| image(3)).unwrap();
        j.update(|r| crate::ops::mark_good(r, SlotId::A)).unwrap();
        let mut r = j.record().unwrap().clone();
        r.rollback_floor = 0; // as `init --force --allow-rollback` would leave it
        j.append(&r).unwrap();
        let _ = j;
        let ops = flash.mutating_ops();
        let mut j = Journal::open(&mut flash, cfg.whole_journal()).unwrap();
        let inputs = Inputs { hardware_floor: 3, ..Inputs::default() };
        let sel = select(&mut j, inputs, FreshRecord::DEFAULT, |_, _| image(3)).unwrap();
        assert!(matches!(sel.decision, Decision::Boot(p) if p.kind == BootKind::Confirmed && !p.changed));
        let _ = j;
        assert_eq!(flash.mutating_ops(), ops);
        // An image below the hardware floor is refused even though the record says 0.
        let mut j = Journal::open(&mut flash, cfg.whole_journal()).unwrap();
        let inputs = Inputs { hardware_floor: 4, ..Inputs::default() };
        let sel = select(&mut j, inputs, FreshRecord::DEFAULT, |_, _| image(3)).unwrap();
        assert!(matches!(sel.decision, Decision::Recovery(_)), "{:?}", sel.decision);
        assert_eq!(j.record().unwrap().rollback_floor, 4);
    }
}
