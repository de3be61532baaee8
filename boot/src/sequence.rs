//! The boot sequence: journal → record → policy (with verification) → persist → [`Launch`].

use core::cell::Cell;

use embedded_storage::nor_flash::NorFlash;
use safeslot_shared::counter::effective_floor;
use safeslot_shared::handoff::Handoff;
use safeslot_shared::journal::{Journal, JournalConfig};
use safeslot_shared::policy::{BootKind, Decision, Inputs, Verdict};
use safeslot_shared::reason::Reason;
use safeslot_shared::select::{select, FreshRecord};
use safeslot_shared::slot::{SlotId, Tries, MAX_SLOTS};
use safeslot_shared::verify::{verify_slot_hardened, Sha256Engine, SlotRegion, Trust};

use crate::fih::{bind, Checkpoint, Flow, Proof};

/// Everything the sequence needs to know about the board, from its generated layout.
#[derive(Clone, Copy, Debug)]
pub struct BootConfig<'a> {
    /// Where the record journal lives.
    pub journal: JournalConfig,
    /// The slots, by index (A first).
    pub slots: &'a [SlotRegion],
    /// Trusted ed25519 public keys, embedded at build time; a key's index is its position.
    pub keys: &'a [[u8; 32]],
    /// `[image] compatible`: the product identifier an image's signed `compatible` must
    /// equal (`None`: images must name none).
    pub compatible: Option<&'a [u8]>,
    /// `[image] downgrade = "refuse"`: a trial image older than the confirmed one is refused.
    pub refuse_downgrade: bool,
    /// What a blank or corrupt record region is replaced with.
    pub fresh: FreshRecord,
    /// `[trial] power_loss_retries`: power-loss resets of a running trial that repeat it
    /// without using a try, per trial (the policy's [`Inputs::free_retries`]).
    pub power_loss_retries: u8,
    /// `[watchdog]`: the hardware watchdog armed right before the jump, or `None`.
    pub watchdog: Option<crate::config::Watchdog>,
}

/// A verified image, ready to be handed off to. Only [`boot`] builds one, and only from
/// a verification that succeeded; the board checks [`Launch::holds`] once more right
/// before it jumps.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Launch {
    /// The slot being booted.
    pub slot: SlotId,
    /// The image's load address (for Cortex-M: its vector table).
    pub load_addr: u64,
    /// The entry offset from the load address.
    pub entry: u64,
    /// The image length in bytes.
    pub image_len: u32,
    /// The hand-off block to leave in RAM for the application.
    pub handoff: Handoff,
    /// The image's security counter (authenticated header).
    pub security_counter: u32,
    /// The anti-rollback floor the decision applied: the effective one, the larger of the
    /// record's and the hardware counter's ([`Inputs::hardware_floor`]).
    pub floor: u32,
    /// The index of the key that signed the image.
    pub key_index: u8,
    /// The key floor the decision applied (keys below it are revoked).
    pub key_floor: u8,
    /// What a confirmed boot of this image revokes: its signed `revoke-below`, never above
    /// its own key's index (the value the key-floor counter may advance to).
    pub revokes: u8,
    proof: Proof,
    tag: u32,
    pub(crate) flow: Flow,
}

impl Launch {
    /// Re-checks the redundant verification proof (fault-injection hardening), bound to
    /// this launch's own copies of the header fields it will use.
    pub fn holds(&self) -> bool {
        self.proof
            .holds(self.tag ^ bind(self.load_addr, self.entry, self.image_len, self.security_counter, self.key_index))
    }
}

/// The outcome of the boot sequence.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// Hand off to this image.
    Launch(Launch),
    /// Nothing may be booted; the board enters recovery (and reports the reason).
    Recovery(Reason),
}

/// Runs the boot sequence over `flash`, hashing images with `sha` (the platform's engine,
/// [`SoftSha256`](safeslot_shared::verify::SoftSha256) in software). A board whose watchdog
/// must be fed during long verifications feeds it from the flash driver ([`crate::run()`]
/// wraps the platform's flash so that every operation feeds it).
pub fn boot<F: NorFlash, H: Sha256Engine>(flash: &mut F, sha: &mut H, cfg: &BootConfig<'_>, inputs: Inputs) -> Outcome {
    let mut journal = match Journal::open(flash, cfg.journal) {
        Ok(j) => j,
        // A flash read error or a geometry that does not validate (impossible with a
        // validated layout): without a record nothing can be booted safely.
        Err(_) => return Outcome::Recovery(Reason::FlashError),
    };
    // Filled by `verify` as the policy asks; read when building the launch.
    let checked: Cell<VerifiedSlots> = Cell::new([None; MAX_SLOTS]);
    let mut verify = |flash: &mut &mut F, slot: SlotId| -> Verdict {
        let Some(region) = cfg.slots.get(slot.index()).copied() else {
            return Verdict::Invalid(Reason::NoImage);
        };
        match verify_slot_hardened(flash, sha, region, &Trust { keys: cfg.keys, compatible: cfg.compatible }) {
            Ok(e) => {
                let mut flow = Flow::START;
                flow.step(Checkpoint::Verified);
                let (proof, tag) = Proof::from_evidence(slot.index(), &e);
                flow.step(Checkpoint::Proved);
                let v = e.verified;
                let info = v.info();
                let mut all = checked.get();
                if let Some(c) = all.get_mut(slot.index()) {
                    *c = Some(VerifiedSlot {
                        load_addr: v.header.load_addr,
                        entry: v.header.entry,
                        image_len: v.header.image_len,
                        version: v.header.version,
                        security_counter: v.header.security_counter,
                        key_index: info.key_index,
                        revokes: info.revoke_below.min(info.key_index),
                        proof,
                        tag,
                        flow,
                    });
                }
                checked.set(all);
                Verdict::Valid(info)
            }
            Err(r) => Verdict::Invalid(r),
        }
    };
    let outcome = match select(&mut journal, inputs, cfg.fresh, &mut verify) {
        Ok(sel) => match sel.decision {
            Decision::Boot(plan) => {
                let tries = plan.record.slot(plan.slot).map_or(Tries::ZERO, |s| s.tries);
                let handoff = |v: &VerifiedSlot| Handoff {
                    slot: plan.slot,
                    kind: plan.kind,
                    tries_left: tries,
                    last_fallback: plan.record.last_fallback,
                    version: v.version,
                    record_seq: sel.seq,
                    recorded: sel.recorded,
                    reset_cause: inputs.reset_cause,
                    watchdog_ms: cfg.watchdog.and_then(|w| w.timeout_for(plan.kind)).unwrap_or(0),
                    format: safeslot_shared::handoff::HANDOFF_FORMAT,
                };
                launch(&checked.get(), plan.slot, (plan.record.rollback_floor, plan.record.key_floor), handoff)
            }
            Decision::Recovery(n) => Outcome::Recovery(n.reason),
        },
        // The record update could not be made durable: never boot a trial without it.
        // Boot the last-known-good slot read-only if it is confirmed and verifies.
        Err(_) => fallback_read_only(&mut journal, &checked, &mut verify, cfg, inputs),
    };
    outcome
}

/// What a successful verification of one slot leaves for the launch (kept small: it is
/// copied in and out of a `Cell`).
#[derive(Clone, Copy)]
struct VerifiedSlot {
    load_addr: u64,
    entry: u64,
    image_len: u32,
    version: safeslot_shared::Version,
    security_counter: u32,
    key_index: u8,
    revokes: u8,
    proof: Proof,
    tag: u32,
    flow: Flow,
}

type VerifiedSlots = [Option<VerifiedSlot>; MAX_SLOTS];

/// The launch of `slot` if its verification's proof holds, its security counter is at
/// least the anti-rollback floor and its key index at least the key floor (`floors`;
/// checked here for either path, again in [`crate::run()`]); recovery otherwise. Failure
/// is the fall-through.
fn launch(
    checked: &VerifiedSlots,
    slot: SlotId,
    floors: (u32, u8),
    handoff: impl Fn(&VerifiedSlot) -> Handoff,
) -> Outcome {
    let (floor, key_floor) = floors;
    if let Some(mut v) = checked.get(slot.index()).copied().flatten() {
        let fields = bind(v.load_addr, v.entry, v.image_len, v.security_counter, v.key_index);
        if v.proof.holds(v.tag ^ fields) && v.security_counter >= floor && v.key_index >= key_floor {
            v.flow.step(Checkpoint::Built);
            return Outcome::Launch(Launch {
                slot,
                load_addr: v.load_addr,
                entry: v.entry,
                image_len: v.image_len,
                handoff: handoff(&v),
                security_counter: v.security_counter,
                floor,
                key_index: v.key_index,
                key_floor,
                revokes: v.revokes,
                proof: v.proof,
                tag: v.tag,
                flow: v.flow,
            });
        }
    }
    // The policy chose a slot without a successful verification, or below the floor: a bug
    // or a glitch.
    Outcome::Recovery(Reason::Internal)
}

fn fallback_read_only<F: NorFlash>(
    journal: &mut Journal<F>,
    checked: &Cell<VerifiedSlots>,
    verify: &mut impl FnMut(&mut F, SlotId) -> Verdict,
    cfg: &BootConfig<'_>,
    inputs: Inputs,
) -> Outcome {
    let Ok(record) = journal.record().cloned() else {
        return Outcome::Recovery(Reason::FlashError);
    };
    let Some(lkg) = record.last_known_good.filter(|s| record.slot(*s).is_some_and(|st| st.confirmed)) else {
        return Outcome::Recovery(Reason::FlashError);
    };
    if checked.get().get(lkg.index()).copied().flatten().is_none() {
        if let Verdict::Invalid(_) = verify(journal.flash_mut(), lkg) {
            return Outcome::Recovery(Reason::FlashError);
        }
    }
    // The policy's anti-rollback and revocation rules hold here too, on the effective floor
    // (record and hardware counter): an image below it, or signed with a revoked key,
    // written into the last-known-good slot is refused, not booted "read-only".
    let floor = effective_floor(record.rollback_floor, inputs.hardware_floor);
    match checked.get().get(lkg.index()).copied().flatten() {
        Some(v) if v.security_counter >= floor && v.key_index >= record.key_floor => {}
        _ => return Outcome::Recovery(Reason::Rollback),
    }
    let seq = journal.seq();
    launch(&checked.get(), lkg, (floor, record.key_floor), |v| Handoff {
        slot: lkg,
        kind: BootKind::Confirmed,
        tries_left: Tries::ZERO,
        last_fallback: Reason::FlashError,
        version: v.version,
        record_seq: seq,
        recorded: false,
        reset_cause: inputs.reset_cause,
        watchdog_ms: cfg.watchdog.and_then(|w| w.timeout_for(BootKind::Confirmed)).unwrap_or(0),
        format: safeslot_shared::handoff::HANDOFF_FORMAT,
    })
}
