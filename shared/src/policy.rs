//! The slot-selection policy: a pure function of decoded values.
//!
//! [`step`] looks at the record and at what is known so far about each slot's image
//! (its [`Verdict`], `None` while unverified) and answers with the next thing to do:
//! verify a slot, boot a slot (with the record to persist *before* the hand-off), or
//! give up (recovery). [`decide`] drives `step` with a verification callback and is
//! bounded: its loop is capped at `2 * MAX_SLOTS + 1` steps, and since each slot is
//! verified at most once (a slot asked about twice ends it in recovery, `internal`), it
//! takes at most `MAX_SLOTS + 1` of them.
//!
//! Semantics follow Android A/B and barebox bootchooser (the full decision table is in
//! `docs/DESIGN.md`):
//!
//! 1. An unconfirmed, enabled slot with no tries left becomes unbootable (`tries-exhausted`).
//! 2. A slot whose image failed verification becomes unbootable with the failure's
//!    reason; a verified image the device's state does not admit ([`Admission`]: a
//!    revoked key, a security counter below the floor, a downgrade or an unmet
//!    requirement on trial), with that reason.
//! 3. Candidates are the bootable slots (enabled, not unbootable, confirmed or tries left),
//!    highest priority first, lowest index on a tie; with the recovery input held, the
//!    last-known-good slot goes first. The first candidate that verifies is booted; an
//!    unconfirmed one has its tries decremented in the record persisted before hand-off.
//! 4. If no candidate verifies, any slot that is unbootable for a reason other than an
//!    image fault (tries exhausted, marked bad, disabled) and still verifies is booted as a
//!    last resort, last-known-good first, rather than brick (RAUC issue #683).
//! 5. Otherwise nothing is bootable: the caller enters recovery.

use crate::reason::Reason;
use crate::record::{Event, HistoryEntry, Record};
use crate::reset::ResetCause;
use crate::slot::{Priority, SlotId, Tries, MAX_SLOTS};
use crate::version::Version;

/// What verification found out about a slot's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// Signature and hash are good; the header's version and security counter.
    Valid(ImageInfo),
    /// The image must not run, and why.
    Invalid(Reason),
}

/// The facts of a verified image that the policy needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ImageInfo {
    /// The image version.
    pub version: Version,
    /// The image's anti-rollback security counter.
    pub security_counter: u32,
    /// The index, in the board's trusted key list, of the key that signed it.
    pub key_index: u8,
    /// Its signed `revoke-below` (0: none): applied when it boots confirmed.
    pub revoke_below: u8,
    /// Its signed `requires-version`, if any.
    pub requires: Option<Version>,
}

/// What the device's state asks of a verified image beyond its signature: the one rule
/// the policy (rule 2) and "would it boot?" (`verify::verify_bootable`) share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Admission {
    /// Lowest security counter allowed (the record's anti-rollback floor).
    pub floor: u32,
    /// Lowest key index allowed (keys below it are revoked).
    pub key_floor: u8,
    /// The version of the confirmed image a trial would replace (the last-known-good
    /// slot's, when it is another slot and confirmed); `None`: no version rule applies.
    pub confirmed: Option<Version>,
    /// Refuse a trial image older than `confirmed` (layout `[image] downgrade = "refuse"`).
    pub refuse_downgrade: bool,
}

impl Admission {
    /// The rule for slot `id` on a device whose record is `r`.
    pub fn for_slot(r: &Record, id: SlotId, refuse_downgrade: bool) -> Admission {
        let confirmed =
            r.last_known_good.filter(|&l| l != id).and_then(|l| r.slot(l)).filter(|s| s.confirmed).map(|s| s.version);
        Admission { floor: r.rollback_floor, key_floor: r.key_floor, confirmed, refuse_downgrade }
    }

    /// Whether an image with `info` may boot, `trial` when it is not confirmed yet.
    ///
    /// # Errors
    ///
    /// [`Reason::RevokedKey`], [`Reason::Rollback`], then, on trial only,
    /// [`Reason::Downgrade`] and [`Reason::UnmetRequirement`].
    pub fn check(&self, info: &ImageInfo, trial: bool) -> Result<(), Reason> {
        if info.key_index < self.key_floor {
            return Err(Reason::RevokedKey);
        }
        if info.security_counter < self.floor {
            return Err(Reason::Rollback);
        }
        if let (true, Some(c)) = (trial, self.confirmed) {
            if self.refuse_downgrade && info.version < c {
                return Err(Reason::Downgrade);
            }
            if info.requires.is_some_and(|v| c < v) {
                return Err(Reason::UnmetRequirement);
            }
        }
        Ok(())
    }
}

/// Verdicts by slot index; `None` = not verified yet.
pub type Verdicts = [Option<Verdict>; MAX_SLOTS];

/// Inputs sampled at reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Inputs {
    /// The recovery input is held: prefer the last-known-good slot.
    pub recovery: bool,
    /// Why the chip reset before this boot.
    pub reset_cause: ResetCause,
    /// The layout's bound on free retries: how many power-loss resets (power-on,
    /// brown-out) of a running trial may repeat it without using a try, per trial (0: every
    /// reset uses a try). A trial activated with `t` tries then boots at most `t + K`
    /// times before it runs out, whatever the resets.
    pub free_retries: u8,
    /// Refuse a trial image older than the confirmed one (layout `[image] downgrade`).
    pub refuse_downgrade: bool,
    /// The hardware anti-rollback counter read at reset (0 on a platform without one):
    /// [`select`](crate::select::select) raises the record's floor to it before deciding,
    /// so every rule below applies the effective floor (`crate::counter`).
    pub hardware_floor: u32,
    /// The hardware key-floor counter read at reset (0 without one), applied like
    /// `hardware_floor` to the record's key floor (saturated to 255).
    pub hardware_key_floor: u8,
}

/// How a slot is being booted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BootKind {
    /// A confirmed slot.
    Confirmed,
    /// An unconfirmed slot on trial; its tries were decremented.
    Trial,
    /// Every slot was exhausted; this one still verifies and is booted rather than brick.
    LastResort,
}

impl BootKind {
    /// A stable lowercase name.
    pub const fn name(self) -> &'static str {
        match self {
            BootKind::Confirmed => "confirmed",
            BootKind::Trial => "trial",
            BootKind::LastResort => "last-resort",
        }
    }
}

/// The decision to boot a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BootPlan {
    /// The slot to hand off to.
    pub slot: SlotId,
    /// Confirmed, trial or last resort.
    pub kind: BootKind,
    /// `true` when the slot is not the one the record preferred (a fallback happened now).
    pub fell_back: bool,
    /// The record to persist before the hand-off.
    pub record: Record,
    /// Whether `record` differs from the record read (a confirmed boot of the same
    /// slot changes nothing and writes nothing).
    pub changed: bool,
}

/// No slot can be booted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NoBoot {
    /// The record to persist (it records why each slot was refused).
    pub record: Record,
    /// Whether `record` differs from the record read.
    pub changed: bool,
    /// Why nothing boots.
    pub reason: Reason,
}

/// The policy's answer to one [`step`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Step {
    /// Verify this slot's image and call [`step`] again with its verdict.
    Verify(SlotId),
    /// Nothing more to verify: the decision.
    Decided(Decision),
}

/// The final decision of [`decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Decision {
    /// Boot a slot.
    Boot(BootPlan),
    /// Nothing is bootable.
    Recovery(NoBoot),
}

fn refuse(r: &mut Record, id: SlotId, reason: Reason) {
    let Some(s) = r.slot_mut(id) else { return };
    if s.unbootable == Some(reason) && !s.confirmed {
        return;
    }
    s.unbootable = Some(reason);
    s.confirmed = false;
    let tries = s.tries;
    if r.last_known_good == Some(id) {
        r.last_known_good = None;
    }
    r.push_history(HistoryEntry {
        slot: Some(id),
        event: Event::Unbootable,
        reason,
        tries,
        cause: ResetCause::Unknown,
    });
}

/// Slots ordered by priority (highest first), then index, filtered by `keep`,
/// with `first` (if kept) moved to the front.
fn ordered(r: &Record, first: Option<SlotId>, keep: impl Fn(SlotId) -> bool) -> [Option<SlotId>; MAX_SLOTS] {
    let mut out = [None; MAX_SLOTS];
    let mut n = 0usize;
    let mut push = |id: SlotId, out: &mut [Option<SlotId>; MAX_SLOTS]| {
        if out.contains(&Some(id)) {
            return;
        }
        if let Some(o) = out.get_mut(n) {
            *o = Some(id);
            n = n.saturating_add(1);
        }
    };
    if let Some(f) = first.filter(|&f| r.has_slot(f) && keep(f)) {
        push(f, &mut out);
    }
    for p in (0..=Priority::MAX.get()).rev() {
        for id in r.slot_ids() {
            if r.slot(id).is_some_and(|s| s.priority.get() == p) && keep(id) {
                push(id, &mut out);
            }
        }
    }
    out
}

/// One step of the policy. Pure: reads its arguments, returns a value.
pub fn step(current: &Record, verdicts: &Verdicts, inputs: Inputs) -> Step {
    let mut r = current.clone();
    // The slot the record intends to boot: the highest-priority enabled slot not yet
    // known to be unbootable (even if it is about to run out of tries). Booting any
    // other slot is a fallback.
    let preferred = ordered(current, None, |id| {
        current.slot(id).is_some_and(|s| s.priority != Priority::DISABLED && s.unbootable.is_none())
    })[0];

    // Rule 1: trials that ran out of tries.
    for id in current.slot_ids() {
        if let Some(s) = r.slot(id) {
            if s.priority != Priority::DISABLED && s.unbootable.is_none() && !s.confirmed && s.tries == Tries::ZERO {
                refuse(&mut r, id, Reason::TriesExhausted);
            }
        }
    }
    // Rule 2: what verification found.
    for id in current.slot_ids() {
        match verdicts.get(id.index()).copied().flatten() {
            Some(Verdict::Invalid(reason)) => refuse(&mut r, id, reason),
            Some(Verdict::Valid(info)) => {
                let trial = current.slot(id).is_some_and(|s| !s.confirmed);
                if let Err(reason) = Admission::for_slot(current, id, inputs.refuse_downgrade).check(&info, trial) {
                    refuse(&mut r, id, reason);
                }
            }
            None => {}
        }
    }
    let verdict = |id: SlotId| verdicts.get(id.index()).copied().flatten();
    let lkg = if inputs.recovery { current.last_known_good } else { None };

    // Rule 3: candidates in order.
    let candidates = ordered(&r, lkg, |id| r.slot(id).is_some_and(|s| s.is_bootable()));
    for id in candidates.into_iter().flatten() {
        match verdict(id) {
            None => return Step::Verify(id),
            Some(Verdict::Valid(info)) => {
                return Step::Decided(Decision::Boot(plan(current, r, id, info, preferred, inputs, false)))
            }
            Some(Verdict::Invalid(_)) => {}
        }
    }
    // Rule 4: last resort.
    let fallback = ordered(&r, current.last_known_good, |id| {
        r.slot(id).is_some_and(|s| !s.unbootable.is_some_and(Reason::is_image_fault))
    });
    for id in fallback.into_iter().flatten() {
        match verdict(id) {
            None => return Step::Verify(id),
            // A last resort is never below the floors (a downgrade is allowed: rule 4).
            Some(Verdict::Valid(info)) if Admission::for_slot(current, id, false).check(&info, false).is_ok() => {
                return Step::Decided(Decision::Boot(plan(current, r, id, info, preferred, inputs, true)))
            }
            Some(_) => {}
        }
    }
    // Rule 5: nothing.
    // Compared as stored bytes: a change nothing persists is no change (and the derived
    // `PartialEq` on `Record` costs 0.3 KiB of boot stage flash).
    let changed = r.encode() != current.encode();
    Step::Decided(Decision::Recovery(NoBoot { record: r, changed, reason: Reason::NothingBootable }))
}

fn plan(
    current: &Record,
    mut r: Record,
    id: SlotId,
    info: ImageInfo,
    preferred: Option<SlotId>,
    inputs: Inputs,
    last_resort: bool,
) -> BootPlan {
    let mut kind = BootKind::Confirmed;
    let mut tries = Tries::ZERO;
    let mut free_retries = r.free_retries;
    let mut key_floor = r.key_floor;
    if let Some(s) = r.slot_mut(id) {
        s.version = info.version;
        s.security_counter = info.security_counter;
        if last_resort {
            kind = BootKind::LastResort;
        } else if s.confirmed {
            // Key revocation follows the confirm-only rule of the floor: a confirmed image's
            // `revoke-below` takes effect on its next boot, never on a trial. It never
            // revokes the key that signed this image.
            key_floor = key_floor.max(info.revoke_below.min(info.key_index));
        } else {
            kind = BootKind::Trial;
            // A power loss while this trial ran (it was the last slot handed off to) is not
            // the image's fault: repeat the trial without using a try, at most
            // `inputs.free_retries` times per trial (the count is reset only when a trial is
            // activated or confirmed, so the bound holds whatever the resets).
            if inputs.reset_cause.is_power_loss()
                && current.last_booted == Some(id)
                && free_retries < inputs.free_retries
            {
                free_retries = free_retries.saturating_add(1);
            } else {
                s.tries = s.tries.decremented();
            }
        }
        tries = s.tries;
    }
    r.free_retries = free_retries;
    r.key_floor = key_floor;
    let fell_back = preferred != Some(id);
    if fell_back || last_resort {
        let reason = if last_resort {
            Reason::LastResort
        } else if inputs.recovery && current.last_known_good == Some(id) {
            Reason::RecoveryInput
        } else {
            preferred.and_then(|p| r.slot(p)).and_then(|s| s.unbootable).unwrap_or(Reason::None)
        };
        r.last_fallback = reason;
        let event = if last_resort { Event::LastResort } else { Event::Fallback };
        // A repeat of the newest event (a reset loop while the recovery input is held, or
        // in last resort) is not recorded again: otherwise every such boot would cost a
        // flash write and wear the record region out.
        let e = HistoryEntry { slot: Some(id), event, reason, tries, cause: inputs.reset_cause };
        if r.history().last() != Some(&e) {
            r.push_history(e);
        }
    }
    if kind == BootKind::Trial {
        r.push_history(HistoryEntry {
            slot: Some(id),
            event: Event::TrialBoot,
            reason: Reason::None,
            tries,
            cause: inputs.reset_cause,
        });
    }
    r.last_booted = Some(id);
    // Compared as stored bytes: a change nothing persists is no change (and the derived
    // `PartialEq` on `Record` costs 0.3 KiB of boot stage flash).
    let changed = r.encode() != current.encode();
    BootPlan { slot: id, kind, fell_back, record: r, changed }
}

/// Runs the policy to a decision, calling `verify` for each slot it needs to know
/// about (at most once per slot). Bounded: the loop is capped at `2 * MAX_SLOTS + 1`
/// steps; a slot asked about twice (a policy bug) ends it in recovery (`internal`), so at
/// most `MAX_SLOTS + 1` steps are taken.
pub fn decide(current: &Record, inputs: Inputs, mut verify: impl FnMut(SlotId) -> Verdict) -> Decision {
    let mut verdicts: Verdicts = [None; MAX_SLOTS];
    for _ in 0..=2 * MAX_SLOTS {
        match step(current, &verdicts, inputs) {
            Step::Decided(d) => return d,
            Step::Verify(id) => match verdicts.get_mut(id.index()) {
                Some(v @ None) => *v = Some(verify(id)),
                // Asked twice for the same slot: a policy bug. Never loop, never boot.
                _ => break,
            },
        }
    }
    Decision::Recovery(NoBoot { record: current.clone(), changed: false, reason: Reason::Internal })
}

#[cfg(test)]
mod tests;
