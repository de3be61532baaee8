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
//!   remembered as [`Reason::RecordReset`] in `last_fallback` and in the history.
//! * The decision's record is persisted only when it changed (a confirmed boot of the
//!   same slot writes nothing). A trial boot is never handed off unless its tries
//!   decrement is durable: if persisting fails, the error is returned and the caller must
//!   not boot the trial slot.

use embedded_storage::nor_flash::NorFlash;

use crate::error::Error;
use crate::journal::{Found, Journal};
use crate::policy::{decide, BootKind, Decision, Inputs, Verdict};
use crate::reason::Reason;
use crate::record::{Event, HistoryEntry, Record};
use crate::slot::{SlotId, Tries};

/// What [`select`] decided and whether the record was (re)created.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Selection {
    /// The decision (its record is now the journal's head when it changed).
    pub decision: Decision,
    /// The record region was blank or corrupt and a fresh record was written.
    pub created: Option<Reason>,
    /// The journal's sequence number after this boot.
    pub seq: u32,
}

/// Parameters for a fresh record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FreshPolicy {
    /// Number of slots the board has (2..=4).
    pub slots: u8,
    /// Tries given to the factory image in slot A.
    pub tries: Tries,
}

impl FreshPolicy {
    /// The record that replaces a blank region, or (`corrupt`) a region holding no valid
    /// record: then the reset is remembered in `last_fallback` and the history.
    pub fn record(&self, corrupt: bool) -> Record {
        let mut r = Record::fresh(self.slots, self.tries);
        if corrupt {
            r.last_fallback = Reason::RecordReset;
            r.push_history(HistoryEntry {
                slot: None,
                event: Event::Created,
                reason: Reason::RecordReset,
                tries: self.tries,
            });
        }
        r
    }
}

impl Default for FreshPolicy {
    fn default() -> Self {
        FreshPolicy { slots: 2, tries: Tries::DEFAULT }
    }
}

/// Reads or creates the record, decides which slot boots (calling `verify` for each slot
/// the policy asks about) and persists the decision. See the module docs.
pub fn select<F: NorFlash>(
    journal: &mut Journal<F>,
    inputs: Inputs,
    fresh: FreshPolicy,
    mut verify: impl FnMut(&mut F, SlotId) -> Verdict,
) -> Result<Selection, Error<F::Error>> {
    let (current, created) = match journal.found() {
        Found::Valid(_) => (journal.record()?.clone(), None),
        Found::Blank => (fresh.record(false), Some(Reason::None)),
        Found::Garbage => (fresh.record(true), Some(Reason::RecordReset)),
    };
    let decision = decide(&current, inputs, |slot| verify(journal.flash_mut(), slot));
    let (to_write, changed, kind) = match &decision {
        Decision::Boot(p) => (&p.record, p.changed, Some(p.kind)),
        Decision::Recovery(n) => (&n.record, n.changed, None),
    };
    let persisted = if created.is_some() {
        journal.initialize(to_write)
    } else if changed {
        journal.append(to_write)
    } else {
        Ok(())
    };
    match persisted {
        Ok(()) => {}
        // A confirmed slot may boot even if its bookkeeping could not be stored: it needs
        // no tries. A trial or last-resort boot must not happen without a durable record.
        Err(_) if kind == Some(BootKind::Confirmed) && created.is_none() => {}
        Err(e) => return Err(e),
    }
    Ok(Selection { decision, created, seq: journal.seq() })
}
