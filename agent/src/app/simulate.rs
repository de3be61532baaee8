//! `simulate-boot`: a boot rehearsed on a record file. It runs the journal side of the
//! boot stage itself, `safeslot_shared::select::select` (read the record, or create one on
//! a blank or corrupt region; decide with the shared policy; persist the decision), under
//! the agent's exclusive lock. Only verification is made up: every slot's image is valid
//! unless named with `--bad` (then it fails as `bad-hash`).
//!
//! A valid image here is the one the record last saw in that slot (its version), with a
//! security counter at the record's anti-rollback floor at least and a key that is not
//! revoked; the downgrade rule is off and there are no hardware counters. The reset cause
//! is `unknown`, so every reset of a trial uses a try (the layout's free retries apply to
//! power-loss resets only). So the rehearsal shows the slot logic, tries, fallbacks and
//! confirmations, never image checks: `verify` does those.

use std::path::Path;

use safeslot_shared::handoff::{Handoff, HANDOFF_FORMAT};
use safeslot_shared::journal::Found;
use safeslot_shared::policy::{BootKind, Decision, ImageInfo, Inputs, Verdict};
use safeslot_shared::reset::ResetCause;
use safeslot_shared::select::{select, FreshRecord};
use safeslot_shared::{Reason, Record, SlotId, Tries};
use serde::Serialize;

use super::{json_line, Agent, Reply};
use crate::error::Error;
use crate::view::SCHEMA;

/// The result of `simulate-boot`, for `--json`.
#[derive(Debug, Serialize)]
struct SimulateView {
    schema: u32,
    command: &'static str,
    /// The slot that boots.
    slot: String,
    /// Its RAUC bootname.
    bootname: String,
    /// Its index (bootctl numbering).
    index: usize,
    /// `confirmed`, `trial` or `last-resort`.
    kind: &'static str,
    /// Not the slot the record preferred.
    fell_back: bool,
    /// Its tries left after this boot.
    tries_left: u8,
    /// The record's last fallback reason after this boot.
    last_fallback: &'static str,
    /// The journal's sequence number after this boot.
    seq: u32,
    /// Whether the boot wrote the record (a confirmed boot of the same slot writes nothing).
    written: bool,
}

/// The image "in" slot `id`, as the rehearsal sees it: valid and admitted (see the module
/// docs), with the version the record last saw there.
fn image(known: Option<&Record>, id: SlotId) -> ImageInfo {
    let slot = known.and_then(|r| r.slot(id));
    let floor = known.map_or(0, |r| r.rollback_floor);
    ImageInfo {
        version: slot.map(|s| s.version).unwrap_or_default(),
        security_counter: slot.map_or(0, |s| s.security_counter).max(floor),
        key_index: known.map_or(0, |r| r.key_floor),
        revoke_below: 0,
        requires: None,
    }
}

/// `simulate-boot [--bad SLOT]... [--handoff-out FILE] [--force]`.
pub(super) fn run(agent: &Agent, bad: &[String], handoff_out: Option<&Path>, force: bool) -> Result<Reply, Error> {
    let s = &agent.s;
    let dev = &s.device;
    let meta = std::fs::metadata(dev).map_err(|e| Error::from_io(dev, e))?;
    if !meta.is_file() && !force {
        return Err(Error::Unavailable(format!(
            "simulate-boot rehearses a boot on a record file; {} is not a regular file (a device holds a real \
             record, and the boot stage writes it on every boot): pass --force to simulate a boot on it anyway",
            dev.display()
        )));
    }
    let slots = match s.slots.len() {
        n @ 2..=4 => n as u8,
        _ => 2,
    };
    let fresh = FreshRecord::for_slots(slots);
    let (_guard, mut j) = agent.journal(true)?;
    let found = j.found();
    let known = j.record().ok().cloned();
    let before = j.seq();
    // `--bad` names are resolved in the record the stage will decide on.
    let decided_on = known.clone().unwrap_or_else(|| fresh.record(false));
    let bad: Vec<SlotId> = bad.iter().map(|name| s.slot_by_name(name, &decided_on)).collect::<Result<_, _>>()?;
    match found {
        Found::Valid(_) => {}
        Found::Blank => eprintln!("safeslotctl: simulate-boot: the region is blank: the stage writes a fresh record"),
        Found::NoValidRecord => eprintln!(
            "safeslotctl: simulate-boot: the region holds no valid record: the stage replaces it with a fresh one \
             (its anti-rollback floor is lost)"
        ),
    }
    // The rehearsal admits every image (module docs): no downgrade rule, no hardware floor.
    let inputs = Inputs { reset_cause: ResetCause::Unknown, refuse_downgrade: false, ..Inputs::default() };
    let sel = select(&mut j, inputs, fresh, |_, id| {
        if bad.contains(&id) {
            Verdict::Invalid(Reason::BadHash)
        } else {
            Verdict::Valid(image(known.as_ref(), id))
        }
    })?;
    let written = sel.seq != before || !matches!(found, Found::Valid(_));
    let plan = match sel.decision {
        Decision::Boot(plan) => plan,
        Decision::Recovery(n) => {
            return Err(Error::Unavailable(format!(
                "simulate-boot: nothing is bootable ({}): the boot stage would stop in recovery; {}",
                n.reason.name(),
                if written {
                    format!("it wrote why (journal seq {})", sel.seq)
                } else {
                    "the record is unchanged".to_owned()
                }
            )))
        }
    };
    let tries_left = plan.record.slot(plan.slot).map_or(Tries::ZERO, |st| st.tries);
    if let Some(path) = handoff_out {
        let h = Handoff {
            slot: plan.slot,
            kind: plan.kind,
            tries_left,
            last_fallback: plan.record.last_fallback,
            version: image(known.as_ref(), plan.slot).version,
            record_seq: sel.seq,
            recorded: sel.recorded,
            reset_cause: inputs.reset_cause,
            watchdog_ms: 0,
            format: HANDOFF_FORMAT,
        };
        std::fs::write(path, h.encode()).map_err(|e| Error::from_io(path, e))?;
    }
    let v = SimulateView {
        schema: SCHEMA,
        command: "simulate-boot",
        slot: s.slot_name(plan.slot),
        bootname: s.bootname(plan.slot),
        index: plan.slot.index(),
        kind: plan.kind.name(),
        fell_back: plan.fell_back,
        tries_left: tries_left.get(),
        last_fallback: plan.record.last_fallback.name(),
        seq: sel.seq,
        written,
    };
    if agent.json {
        return json_line(&v).map(Reply::yes);
    }
    let tries = if plan.kind == BootKind::Trial { format!(", {} tries left", v.tries_left) } else { String::new() };
    let fell_back = if v.fell_back { format!("; fell back ({})", v.last_fallback) } else { String::new() };
    let record = if written { "record written" } else { "record unchanged" };
    Ok(Reply::yes(format!(
        "simulate-boot: slot {} boots ({}{tries}){fell_back}; {record} (journal seq {})\n",
        v.slot, v.kind, v.seq
    )))
}
