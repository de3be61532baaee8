//! Which slot is running, and whether the record agrees (issue #17, finding 6).
//!
//! The authority is what the boot stage handed over for this boot: the hand-off block in
//! the device tree (`/proc/device-tree/chosen/safeslot,handoff`), else the kernel command
//! line's words (`safeslot.slot=`, `safeslot.seq=`, `safeslot.unrecorded`, or another boot
//! loader's `rauc.slot=`; `safeslot_shared::protocol::cmdline`). The record's
//! `last_booted` is only a last resort (a development set-up with no stage in front of the
//! agent): it is stale after a boot the stage could not record, and anyone who can write
//! the record can change it.
//!
//! The stage's word and the record must agree. A write that depends on the running slot
//! (`mark-good`, `mark-bad` without a slot, RAUC `set-state <booted> good`) is refused
//! with [`crate::Error::Disagree`] when they do not; a read (`get-current`) answers the
//! stage's word and warns.

use safeslot_shared::handoff::Handoff;
use safeslot_shared::protocol::cmdline;
use safeslot_shared::{Record, SlotId};

use crate::Error;

/// Where the running slot was learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The hand-off block the stage put in the device tree.
    Handoff,
    /// The kernel command line.
    Cmdline,
    /// The record's `last_booted` (no word from the stage).
    Record,
}

impl Source {
    /// The name `status --json` shows.
    pub const fn name(self) -> &'static str {
        match self {
            Source::Handoff => "handoff",
            Source::Cmdline => "cmdline",
            Source::Record => "record",
        }
    }
}

/// What the stage said about this boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct StageWord {
    slot: SlotId,
    /// The record's journal sequence number after the stage's write (unknown from an
    /// older stage's command line).
    seq: Option<u32>,
    /// The stage says it wrote the record on this boot (false also when it does not say).
    recorded: bool,
    source: Source,
}

/// The running slot as the stage, the command line and the record see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    /// The record's `last_booted`.
    pub booted: Option<SlotId>,
    /// The command line's slot word, as written.
    pub cmdline: Option<String>,
    /// The command line's slot, resolved (None if absent or unknown).
    pub cmdline_slot: Option<SlotId>,
    /// The running slot: the stage's word, else the record's `last_booted`.
    pub slot: Option<SlotId>,
    /// Where [`Running::slot`] comes from.
    pub source: Source,
    /// Why the stage's word and the record (or the two words of the stage) disagree so
    /// that a write acting on the running slot is refused.
    pub conflict: Option<String>,
    /// The stage's slot is not the record's `last_booted` although that is no conflict
    /// (a boot the stage could not record), in words.
    note: Option<String>,
}

/// The inputs [`Running::gather`] weighs.
pub struct Evidence<'a> {
    /// The decoded hand-off block of this boot, if there is one.
    pub handoff: Option<&'a Handoff>,
    /// The kernel command line's text (empty if unreadable).
    pub cmdline: &'a str,
    /// The record and its journal head's sequence number.
    pub record: (&'a Record, u32),
}

impl Running {
    /// Weighs the evidence; `resolve` maps a slot name (the config's, a RAUC bootname or
    /// a letter) to the record's slot, and `name` a slot to its name for messages.
    pub fn gather(
        e: &Evidence<'_>,
        resolve: impl Fn(&str) -> Option<SlotId>,
        name: impl Fn(SlotId) -> String,
    ) -> Running {
        let (record, record_seq) = e.record;
        let words = cmdline::parse(e.cmdline);
        let cmdline_slot = words.slot.and_then(&resolve);
        // Whether the stage recorded the boot is known only from a stage that says so: a
        // command line with `safeslot.seq=` (older stages and other boot loaders write
        // only the slot) and a hand-off block of format 2 or later.
        let from_cmdline = cmdline_slot.map(|slot| StageWord {
            slot,
            seq: words.seq,
            recorded: words.seq.is_some() && !words.unrecorded,
            source: Source::Cmdline,
        });
        let from_handoff = e.handoff.map(|h| StageWord {
            slot: h.slot,
            seq: Some(h.record_seq),
            recorded: h.recorded && h.format >= 2,
            source: Source::Handoff,
        });
        let stage = from_handoff.or(from_cmdline);
        let mut conflict = None;
        let mut disagree = |why: String| {
            conflict.get_or_insert(why);
        };
        if let (Some(word), None) = (words.slot, cmdline_slot) {
            disagree(format!("the kernel command line names slot {word:?}, which the record and config do not have"));
        }
        if words.bad_seq {
            disagree("the kernel command line's safeslot.seq= is not a number".to_owned());
        }
        if let (Some(h), Some(c)) = (from_handoff, from_cmdline) {
            // An older stage's command line has no seq (and so no `unrecorded` word either).
            if h.slot != c.slot || c.seq.is_some_and(|s| Some(s) != h.seq || h.recorded != c.recorded) {
                disagree(format!(
                    "the hand-off block says slot {} (record seq {}), the kernel command line slot {} (seq {})",
                    name(h.slot),
                    seq_text(h.seq),
                    name(c.slot),
                    seq_text(c.seq)
                ));
            }
        }
        if let Some(w) = stage {
            let from = if w.source == Source::Handoff { "hand-off block" } else { "kernel command line" };
            if w.seq.is_some_and(|s| record_seq < s) {
                disagree(format!(
                    "the boot stage booted slot {} with record seq {}, but the record is at seq {record_seq}: it \
                     was restored or re-created since this boot (the {from} says so)",
                    name(w.slot),
                    seq_text(w.seq)
                ));
            }
            if w.recorded && record.last_booted != Some(w.slot) {
                disagree(format!(
                    "the boot stage booted and recorded slot {} (the {from} says so), but the record says {} \
                     booted last: it was re-created or rewritten since this boot",
                    name(w.slot),
                    record.last_booted.map_or_else(|| "no slot".to_owned(), &name)
                ));
            }
        }
        let stage_slot = stage.map(|w| w.slot);
        let note = match (stage_slot, record.last_booted) {
            (Some(ran), Some(booted)) if ran != booted => Some(format!(
                "the record says slot {} was booted last, but the boot stage says slot {} runs: the stage \
                 could not record this boot",
                name(booted),
                name(ran)
            )),
            _ => None,
        };
        Running {
            booted: record.last_booted,
            cmdline: words.slot.map(str::to_owned),
            cmdline_slot,
            slot: stage_slot.or(record.last_booted),
            source: stage.map_or(Source::Record, |w| w.source),
            note,
            conflict,
        }
    }

    /// The stage's slot is not the record's `last_booted`: expected after a boot the
    /// stage could not record, a [`Running::conflict`] when it says it recorded it.
    pub fn mismatch(&self) -> bool {
        self.conflict.is_some() || self.note.is_some()
    }

    /// The running slot for a read (`get-current`): the stage's word, else the record's
    /// `last_booted`; a disagreement is reported on stderr.
    pub fn for_read(&self) -> Result<SlotId, Error> {
        self.warn();
        self.slot.ok_or_else(nothing_booted)
    }

    /// Reports a disagreement on stderr: a conflict, or a stage's slot that is not the
    /// record's `last_booted`.
    pub fn warn(&self) {
        if let Some(why) = self.conflict.as_ref().or(self.note.as_ref()) {
            eprintln!("safeslotctl: warning: {why}");
        }
    }

    /// The running slot for a write that acts on it: refused with [`Error::Disagree`]
    /// (nothing is written) when the stage's word and the record disagree.
    pub fn for_write(&self) -> Result<SlotId, Error> {
        match &self.conflict {
            Some(why) => Err(Error::Disagree(why.clone())),
            None => self.slot.ok_or_else(nothing_booted),
        }
    }
}

fn nothing_booted() -> Error {
    Error::Unavailable("no slot has been booted yet (the record has no last-booted slot)".into())
}

fn seq_text(seq: Option<u32>) -> String {
    seq.map_or_else(|| "unknown".to_owned(), |s| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use safeslot_shared::policy::BootKind;
    use safeslot_shared::reset::ResetCause;
    use safeslot_shared::{Reason, Tries, Version};

    fn record(last_booted: Option<SlotId>) -> Record {
        let mut r = Record::fresh(2, Tries::DEFAULT);
        r.last_booted = last_booted;
        r
    }

    fn handoff(slot: SlotId, seq: u32, recorded: bool) -> Handoff {
        Handoff {
            slot,
            kind: BootKind::Confirmed,
            tries_left: Tries::ZERO,
            last_fallback: Reason::None,
            version: Version::default(),
            record_seq: seq,
            recorded,
            reset_cause: ResetCause::Unknown,
            watchdog_ms: 0,
            format: safeslot_shared::handoff::HANDOFF_FORMAT,
        }
    }

    fn gather(h: Option<&Handoff>, cmdline: &str, r: &Record, seq: u32) -> Running {
        let e = Evidence { handoff: h, cmdline, record: (r, seq) };
        Running::gather(
            &e,
            |n| SlotId::from_letter(n.chars().next()?).filter(|_| n.len() == 1),
            |s| s.letter().to_string(),
        )
    }

    #[test]
    fn the_stage_outranks_the_record() {
        // A read-only fallback: the stage booted A and could not record it.
        let r = record(Some(SlotId::B));
        let h = handoff(SlotId::A, 5, false);
        let run = gather(Some(&h), "safeslot.slot=a safeslot.seq=5 safeslot.unrecorded", &r, 5);
        assert_eq!((run.slot, run.source, run.conflict), (Some(SlotId::A), Source::Handoff, None));
        let run = gather(None, "safeslot.slot=a safeslot.seq=5 safeslot.unrecorded", &r, 5);
        assert_eq!((run.slot, run.source, run.conflict), (Some(SlotId::A), Source::Cmdline, None));
    }

    #[test]
    fn without_a_word_from_the_stage_the_record_answers() {
        let run = gather(None, "console=ttyS0", &record(Some(SlotId::B)), 3);
        assert_eq!((run.slot, run.source, run.conflict), (Some(SlotId::B), Source::Record, None));
    }

    #[test]
    fn a_record_rewritten_since_the_boot_disagrees() {
        // The stage recorded B's boot at seq 7; then `init --force` made a fresh record.
        let run = gather(None, "safeslot.slot=b safeslot.seq=7", &record(None), 8);
        assert!(run.conflict.unwrap().contains("record says no slot booted last"));
        // A recorded boot of A, but the record names B.
        let run = gather(None, "safeslot.slot=a safeslot.seq=7", &record(Some(SlotId::B)), 9);
        assert!(run.conflict.is_some());
        // The record is older than the one the stage booted with (a restored image).
        let run = gather(None, "safeslot.slot=a safeslot.seq=7", &record(Some(SlotId::A)), 6);
        assert!(run.conflict.unwrap().contains("restored"));
        // Agreement: later agent writes raise the seq.
        let run = gather(None, "safeslot.slot=a safeslot.seq=7", &record(Some(SlotId::A)), 12);
        assert_eq!(run.conflict, None);
    }

    #[test]
    fn the_stages_two_words_must_agree() {
        let r = record(Some(SlotId::A));
        let h = handoff(SlotId::A, 4, true);
        for cmdline in ["safeslot.slot=b safeslot.seq=4", "safeslot.slot=a safeslot.seq=3", "safeslot.slot=z"] {
            assert!(gather(Some(&h), cmdline, &r, 4).conflict.is_some(), "{cmdline}");
        }
        assert_eq!(gather(Some(&h), "safeslot.slot=a safeslot.seq=4", &r, 4).conflict, None);
        // An older stage's command line without a seq.
        assert_eq!(gather(Some(&h), "safeslot.slot=a", &r, 4).conflict, None);
        assert!(gather(None, "safeslot.slot=a safeslot.seq=x", &r, 4).conflict.is_some());
    }
}
