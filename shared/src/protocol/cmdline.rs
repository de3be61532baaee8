//! What the boot stage tells Linux on the kernel command line (docs/FORMAT.md "Kernel
//! command line"): which slot it booted, how, and with which record, so that the agent
//! acts on the slot that really runs (issue #17, finding 6).
//!
//! ```text
//! safeslot.slot=b safeslot.kind=trial safeslot.seq=7 rauc.slot=b
//! safeslot.slot=a safeslot.kind=confirmed safeslot.seq=9 safeslot.unrecorded rauc.slot=a
//! ```
//!
//! * `safeslot.slot=<name>`: the booted slot, by its layout name;
//! * `safeslot.kind=<kind>`: `confirmed`, `trial` or `last-resort`;
//! * `safeslot.seq=<n>`: the record's journal sequence number after the stage's write (the
//!   hand-off block's `SEQ`);
//! * `safeslot.unrecorded`: present when the stage could not write the record on this boot
//!   (`FLAG_NOT_RECORDED`): the record's `last_booted` then names another slot;
//! * `rauc.slot=<name>`: the same slot for RAUC, which reads it to find the booted slot.
//!
//! [`BootArgs::encode`] writes the words with `write_str` alone; [`parse`] reads them back
//! from `/proc/cmdline`. When a word is repeated the last one counts, as for the kernel's
//! own parameters.

use core::fmt::{self, Write};

use crate::policy::BootKind;

/// The booted slot's name.
pub const SLOT_KEY: &str = "safeslot.slot=";
/// How the slot booted.
pub const KIND_KEY: &str = "safeslot.kind=";
/// The record's journal sequence number after the stage's write.
pub const SEQ_KEY: &str = "safeslot.seq=";
/// The flag word of a boot the stage could not record.
pub const UNRECORDED_WORD: &str = "safeslot.unrecorded";
/// The booted slot's name for RAUC.
pub const RAUC_SLOT_KEY: &str = "rauc.slot=";

/// The words the stage adds to the kernel command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootArgs<'a> {
    /// The booted slot's layout name (a token: no spaces, no `=`).
    pub slot: &'a str,
    /// How it booted.
    pub kind: BootKind,
    /// The record's journal sequence number after the stage's write.
    pub seq: u32,
    /// The stage wrote the record on this boot (`false`: `safeslot.unrecorded`).
    pub recorded: bool,
}

impl BootArgs<'_> {
    /// Writes the words, separated by single spaces, without a leading or trailing space.
    ///
    /// # Errors
    /// `out` refused a write, or the slot name is not a token (empty, or holds a space or
    /// `=`): the line would not parse back.
    pub fn encode(&self, out: &mut impl Write) -> fmt::Result {
        if self.slot.is_empty() || self.slot.bytes().any(|b| b.is_ascii_whitespace() || b == b'=') {
            return Err(fmt::Error);
        }
        out.write_str(SLOT_KEY)?;
        out.write_str(self.slot)?;
        out.write_str(" ")?;
        out.write_str(KIND_KEY)?;
        out.write_str(self.kind.name())?;
        out.write_str(" ")?;
        out.write_str(SEQ_KEY)?;
        super::log::decimal(out, self.seq)?;
        if !self.recorded {
            out.write_str(" ")?;
            out.write_str(UNRECORDED_WORD)?;
        }
        out.write_str(" ")?;
        out.write_str(RAUC_SLOT_KEY)?;
        out.write_str(self.slot)
    }
}

/// What a kernel command line says about the boot (every field `None`/`false` when the
/// stage that booted did not write it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// `safeslot.slot=`, else `rauc.slot=` (a command line written by another boot loader).
    pub slot: Option<&'a str>,
    /// `safeslot.kind=`, as written.
    pub kind: Option<&'a str>,
    /// `safeslot.seq=`, when it is a decimal `u32`.
    pub seq: Option<u32>,
    /// `safeslot.seq=` is present but is not a decimal `u32`.
    pub bad_seq: bool,
    /// `safeslot.unrecorded` is present.
    pub unrecorded: bool,
}

/// Reads the stage's words from a kernel command line (`/proc/cmdline`). Other words are
/// ignored; an empty value counts as absent.
#[must_use]
pub fn parse(cmdline: &str) -> Parsed<'_> {
    let last =
        |key: &str| cmdline.split_ascii_whitespace().filter_map(|w| w.strip_prefix(key)).rfind(|v| !v.is_empty());
    let seq_text = last(SEQ_KEY);
    let seq = seq_text.and_then(|s| if s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None });
    Parsed {
        slot: last(SLOT_KEY).or_else(|| last(RAUC_SLOT_KEY)),
        kind: last(KIND_KEY),
        seq,
        bad_seq: seq_text.is_some() && seq.is_none(),
        unrecorded: cmdline.split_ascii_whitespace().any(|w| w == UNRECORDED_WORD),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn encoded(args: BootArgs<'_>) -> String {
        let mut s = String::new();
        args.encode(&mut s).unwrap();
        s
    }

    #[test]
    fn a_recorded_boot_round_trips() {
        let args = BootArgs { slot: "b", kind: BootKind::Trial, seq: 4_000_000_007, recorded: true };
        let line = encoded(args);
        assert_eq!(line, "safeslot.slot=b safeslot.kind=trial safeslot.seq=4000000007 rauc.slot=b");
        let full = std::format!("console=ttyAMA0 {line} quiet");
        let p = parse(&full);
        assert_eq!(
            p,
            Parsed {
                slot: Some("b"),
                kind: Some("trial"),
                seq: Some(4_000_000_007),
                bad_seq: false,
                unrecorded: false
            }
        );
    }

    #[test]
    fn an_unrecorded_boot_says_so() {
        let line = encoded(BootArgs { slot: "a", kind: BootKind::Confirmed, seq: 0, recorded: false });
        assert_eq!(line, "safeslot.slot=a safeslot.kind=confirmed safeslot.seq=0 safeslot.unrecorded rauc.slot=a");
        let p = parse(&line);
        assert!(p.unrecorded);
        assert_eq!((p.slot, p.seq), (Some("a"), Some(0)));
    }

    #[test]
    fn a_slot_name_that_would_not_parse_back_is_refused() {
        for bad in ["", "a b", "a=b", "a\tb"] {
            let mut s = String::new();
            assert!(BootArgs { slot: bad, kind: BootKind::Trial, seq: 1, recorded: true }.encode(&mut s).is_err());
        }
    }

    #[test]
    fn other_boot_loaders_and_bad_values() {
        assert_eq!(parse("root=/dev/x rauc.slot=A").slot, Some("A"));
        assert_eq!(parse("rauc.slot=A safeslot.slot=b").slot, Some("b"));
        assert_eq!(parse("safeslot.slot= console=ttyS0").slot, None);
        assert_eq!(parse("safeslot.slot=a safeslot.slot=b").slot, Some("b"));
        for bad in ["safeslot.seq=-1", "safeslot.seq=+1", "safeslot.seq=4294967296", "safeslot.seq=0x10"] {
            let p = parse(bad);
            assert_eq!((p.seq, p.bad_seq), (None, true), "{bad}");
        }
        assert!(!parse("safeslot.unrecordedx").unrecorded);
        assert_eq!(parse(""), Parsed::default());
    }
}
