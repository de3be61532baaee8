//! The scenarios, written once against [`Rig`]: each step powers the board on and
//! asserts what ran and what the record says afterwards.
//!
//! [`demo`] is the story `cargo xtask demo` tells a newcomer and `cargo xtask test` runs
//! as an assertion: v1 boots; the update to v2 is activated with 3 tries; v2 never
//! confirms and after 3 boots the device is back on v1 with the reason recorded; a good
//! v2 confirms and stays; a tampered v2 is rejected and v1 boots.

use std::fmt::Write as _;

use safeslot_shared::protocol::order::Order;
use safeslot_shared::{Reason, Record, SlotId};

use crate::rig::{Boot, Ran, Rig, RigError};

/// The signed images a story installs.
#[derive(Debug, Clone)]
pub struct Images {
    /// v1 for slot A.
    pub a_v1: Vec<u8>,
    /// v2 for slot B.
    pub b_v2: Vec<u8>,
}

/// A failed expectation or a rig error.
#[derive(Debug, thiserror::Error)]
pub enum StoryError {
    /// The rig failed.
    #[error(transparent)]
    Rig(#[from] RigError),
    /// The board did not do what the story says.
    #[error("step {step} ({what}): {why}")]
    Unexpected {
        /// Boot number.
        step: usize,
        /// What the step was.
        what: String,
        /// What went wrong.
        why: String,
    },
}

/// One line of the timeline.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Boot number.
    pub n: usize,
    /// What the step does.
    pub what: String,
    /// What ran.
    pub ran: Ran,
    /// The record after the boot.
    pub record: Option<Record>,
    /// The firmware's logs.
    pub boot: Boot,
}

impl Entry {
    /// A readable line: boot, slot, version, tries left, decision, reason.
    pub fn line(&self) -> String {
        let mut s = format!("boot {:>2}  {:<44}", self.n, self.what);
        let ran = match &self.ran {
            Ran::App(slot) => format!("ran {slot}"),
            other => format!("{other:?}"),
        };
        let _ = write!(s, " {ran:<9}");
        if let Some(r) = &self.record {
            if let Some(slot) = r.last_booted {
                if let Some(st) = r.slot(slot) {
                    let kind = if st.confirmed { "confirmed" } else { "trial" };
                    let _ = write!(s, " v{}  tries={:<2} {:<9}", st.version, st.tries.get(), kind);
                }
            }
            let _ = write!(s, " last-fallback={}", r.last_fallback);
        }
        s
    }
}

/// The story's driver: runs steps, checks them, keeps the timeline.
pub struct Story<'a, R: Rig> {
    rig: &'a mut R,
    /// Every boot so far.
    pub timeline: Vec<Entry>,
    echo: bool,
}

impl<'a, R: Rig> Story<'a, R> {
    /// A story over `rig`; with `echo`, each timeline line is printed as it happens.
    pub fn new(rig: &'a mut R, echo: bool) -> Self {
        Story { rig, timeline: Vec::new(), echo }
    }

    /// The rig.
    pub fn rig(&mut self) -> &mut R {
        self.rig
    }

    /// Powers on with `order`; checks that `expect` ran and `check` holds for the record.
    pub fn boot(
        &mut self,
        what: &str,
        order: Order,
        expect: Ran,
        check: impl FnOnce(&Record) -> Result<(), String>,
    ) -> Result<&Entry, StoryError> {
        let n = self.timeline.len() + 1;
        let boot = self.rig.power_on(&order)?;
        let record = self.rig.record()?;
        let entry = Entry { n, what: what.to_string(), ran: boot.ran.clone(), record: record.clone(), boot };
        if self.echo {
            println!("{}", entry.line());
        }
        let fail = |why: String| StoryError::Unexpected { step: n, what: what.to_string(), why };
        if entry.ran != expect {
            let logs =
                entry.boot.boot_log.iter().chain(&entry.boot.app_log).cloned().collect::<Vec<_>>().join("\n    ");
            return Err(fail(format!("expected {expect:?}, got {:?}\n    {logs}", entry.ran)));
        }
        let r = record.ok_or_else(|| fail("no valid record after the boot".into()))?;
        check(&r).map_err(fail)?;
        self.timeline.push(entry);
        self.timeline.last().ok_or_else(|| fail("timeline empty".into()))
    }
}

fn slot_is(r: &Record, slot: SlotId, confirmed: bool, tries: u8) -> Result<(), String> {
    let s = r.slot(slot).ok_or("no such slot")?;
    if s.confirmed != confirmed || s.tries.get() != tries {
        return Err(format!(
            "slot {slot}: confirmed={} tries={}, expected confirmed={confirmed} tries={tries}",
            s.confirmed,
            s.tries.get()
        ));
    }
    Ok(())
}

/// The demo story (see the module docs). Returns the timeline.
pub fn demo<R: Rig>(rig: &mut R, images: &Images, echo: bool) -> Result<Vec<Entry>, StoryError> {
    use SlotId::{A, B};
    rig.erase_record()?;
    rig.install(A, &images.a_v1)?;
    let mut s = Story::new(rig, echo);
    s.boot("factory-fresh device: v1 boots and confirms", Order::confirm(), Ran::App(A), |r| slot_is(r, A, true, 2))?;
    s.boot("confirmed boot writes nothing", Order::confirm(), Ran::App(A), |r| slot_is(r, A, true, 2))?;
    s.rig().install(B, &images.b_v2)?;
    s.boot("v2 written to B; v1 activates it (3 tries)", Order::confirm().activate(B), Ran::App(A), |r| {
        slot_is(r, B, false, 3).and_then(|()| if r.primary() == Some(B) { Ok(()) } else { Err("B is not next".into()) })
    })?;
    for left in [2u8, 1, 0] {
        s.boot("v2 on trial, never confirms", Order::noconfirm(), Ran::App(B), |r| slot_is(r, B, false, left))?;
    }
    s.boot("v2 out of tries: back on v1", Order::confirm(), Ran::App(A), |r| {
        let b = r.slot(B).ok_or("no B")?;
        match (r.last_fallback, b.unbootable) {
            (Reason::TriesExhausted, Some(Reason::TriesExhausted)) => Ok(()),
            other => Err(format!("expected tries-exhausted, got {other:?}")),
        }
    })?;
    s.boot("v1 activates v2 again", Order::confirm().activate(B), Ran::App(A), |r| slot_is(r, B, false, 3))?;
    s.boot("good v2 boots on trial and confirms", Order::confirm(), Ran::App(B), |r| slot_is(r, B, true, 2))?;
    s.boot("v2 stays", Order::confirm(), Ran::App(B), |r| {
        slot_is(r, B, true, 2)
            .and_then(|()| if r.last_known_good == Some(B) { Ok(()) } else { Err("B is not LKG".into()) })
    })?;
    let mut tampered = images.b_v2.clone();
    let mid = tampered.len() - (tampered.len() - 0x400) / 2;
    if let Some(b) = tampered.get_mut(mid) {
        *b ^= 0x01;
    }
    s.rig().install(B, &tampered)?;
    s.boot("v2 image tampered (one bit): rejected, v1 boots", Order::confirm(), Ran::App(A), |r| {
        match (r.last_fallback, r.slot(B).and_then(|b| b.unbootable)) {
            (Reason::BadHash, Some(Reason::BadHash)) => Ok(()),
            other => Err(format!("expected bad-hash, got {other:?}")),
        }
    })?;
    Ok(s.timeline)
}
