//! The boot stage's result line: the one log line per boot that says what the stage did,
//! written by every board and parsed by every rig (docs/FORMAT.md "Boot log line").
//!
//! ```text
//! safeslot: boot slot=b kind=trial tries=2 fallback=none version=2.0.0 seq=7
//! safeslot: recovery reason=bad-hash
//! safeslot: recovery reason=linux detail=bad-table
//! safeslot: cut store=7 torn=0
//! ```
//!
//! The `cut` line is a virtual board's only: its flash driver stopped at a rig-ordered
//! power cut (`cut=`/`torn=` of [`crate::protocol::order::Order`]).
//!
//! [`StageLine::encode`] writes it into any `core::fmt::Write` with `write_str` alone (no
//! formatting machinery, so it costs the Cortex-M boot stage little flash); a board that
//! logs through defmt encodes into a [`LineBuf`] and logs that as one `{=str}`.
//! [`StageLine::parse`] reads it back on the host. Values are tokens: no spaces, no `=`.

use core::fmt::{self, Write};

use crate::policy::BootKind;
use crate::reason::Reason;
use crate::slot::SlotId;
use crate::version::Version;

/// Prefix of a boot line.
pub const BOOT_PREFIX: &str = "safeslot: boot ";
/// Prefix of a recovery line (what a rig watches for: "nothing was booted").
pub const RECOVERY_PREFIX: &str = "safeslot: recovery ";
/// Prefix of a power-cut line (a virtual board stopped at the rig's planned cut).
pub const CUT_PREFIX: &str = "safeslot: cut ";
/// Longest line [`StageLine::encode`] writes for a boot line (a recovery line's length
/// depends on its names: [`LINE_MAX`] bytes hold every name the stages use).
pub const BOOT_LINE_MAX: usize = 112;
/// Bytes of the [`LineBuf`] a board encodes into.
pub const LINE_MAX: usize = 128;

/// What the stage logs when it hands off (the hand-off block's fields, minus the format
/// and the build number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootLine {
    /// The slot booted (`slot=<letter>`).
    pub slot: SlotId,
    /// How (`kind=confirmed|trial|last-resort`).
    pub kind: BootKind,
    /// Tries left after this boot (`tries=<n>`).
    pub tries: u8,
    /// The record's last fallback (`fallback=<reason name>`).
    pub fallback: Reason,
    /// The image's version (`version=<major>.<minor>.<revision>`; the build is not logged
    /// and parses as 0).
    pub version: Version,
    /// The record's journal sequence number (`seq=<n>`).
    pub seq: u32,
}

impl BootLine {
    /// The line for a hand-off block.
    #[must_use]
    pub fn from_handoff(h: &crate::handoff::Handoff) -> BootLine {
        BootLine {
            slot: h.slot,
            kind: h.kind,
            tries: h.tries_left.get(),
            fallback: h.last_fallback,
            version: Version { build: 0, ..h.version },
            seq: h.record_seq,
        }
    }
}

/// One result line of the boot stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageLine<'a> {
    /// A slot is handed off.
    Boot(BootLine),
    /// Nothing is booted.
    Recovery {
        /// Why (`reason=<name>`: a [`Reason`] name, `fault`, a platform's launch error...).
        reason: &'a str,
        /// A platform's finer cause (`detail=<name>`), e.g. the Linux payload check that
        /// refused (`reason=linux detail=bad-table`).
        detail: Option<&'a str>,
    },
    /// A virtual board's flash driver stopped the machine at the rig's planned power cut,
    /// just before store `store` (`store=<n>`), of which `torn` leading bytes landed
    /// (`torn=<k>`).
    Cut {
        /// The store that never completed (from 1).
        store: u32,
        /// Its leading bytes that landed.
        torn: u32,
    },
}

/// Why a line with a stage prefix does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LogError {
    /// A field is missing, repeated, unknown or out of order.
    Field,
    /// A value does not parse (number, slot letter, kind or reason name).
    Value,
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogError::Field => "missing, unknown or misplaced field in the stage's log line",
            LogError::Value => "bad value in the stage's log line",
        })
    }
}

impl core::error::Error for LogError {}

/// Writes `n` in decimal with `write_str` only, one digit at a time from a table (no
/// `str::from_utf8`, which would cost the Cortex-M stage ~600 bytes).
pub(crate) fn decimal(out: &mut impl Write, n: u32) -> fmt::Result {
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    let mut div = 1_000_000_000u32;
    while div > 1 && n.checked_div(div) == Some(0) {
        div /= 10;
    }
    loop {
        let digit = n.checked_div(div).unwrap_or(0) % 10;
        out.write_str(DIGITS.get(digit as usize).copied().unwrap_or("?"))?;
        if div == 1 {
            return Ok(());
        }
        div /= 10;
    }
}

/// `true` when `s` is a non-empty value without spaces or `=`.
fn is_token(s: &str) -> bool {
    !s.is_empty() && !s.bytes().any(|b| b.is_ascii_whitespace() || b == b'=')
}

impl StageLine<'_> {
    /// Writes the line (without a newline) into `out`.
    ///
    /// # Errors
    /// `out` refused a write, or a recovery name is not a token (empty, or holds a space or
    /// `=`): the line would not parse back.
    pub fn encode(&self, out: &mut impl Write) -> fmt::Result {
        match self {
            StageLine::Boot(b) => {
                out.write_str(BOOT_PREFIX)?;
                let mut slot = [0u8; 4];
                out.write_str("slot=")?;
                out.write_str(b.slot.letter().encode_utf8(&mut slot))?;
                out.write_str(" kind=")?;
                out.write_str(b.kind.name())?;
                out.write_str(" tries=")?;
                decimal(out, u32::from(b.tries))?;
                out.write_str(" fallback=")?;
                out.write_str(b.fallback.name())?;
                out.write_str(" version=")?;
                decimal(out, u32::from(b.version.major))?;
                out.write_str(".")?;
                decimal(out, u32::from(b.version.minor))?;
                out.write_str(".")?;
                decimal(out, u32::from(b.version.revision))?;
                out.write_str(" seq=")?;
                decimal(out, b.seq)
            }
            StageLine::Recovery { reason, detail } => {
                if !is_token(reason) || detail.is_some_and(|d| !is_token(d)) {
                    return Err(fmt::Error);
                }
                out.write_str(RECOVERY_PREFIX)?;
                out.write_str("reason=")?;
                out.write_str(reason)?;
                if let Some(d) = detail {
                    out.write_str(" detail=")?;
                    out.write_str(d)?;
                }
                Ok(())
            }
            StageLine::Cut { store, torn } => {
                out.write_str(CUT_PREFIX)?;
                out.write_str("store=")?;
                decimal(out, *store)?;
                out.write_str(" torn=")?;
                decimal(out, *torn)
            }
        }
    }

    /// Reads one log line: `Ok(None)` when it is not a result line of the stage (another
    /// log line), the line when it is one; surrounding whitespace is ignored.
    ///
    /// # Errors
    /// The line starts like a result line but does not parse: [`LogError`].
    pub fn parse(line: &str) -> Result<Option<StageLine<'_>>, LogError> {
        let line = line.trim();
        // A prefix without its trailing space, then a space or the end.
        let after = |prefix: &str| {
            let rest = line.strip_prefix(prefix.trim_end())?;
            (rest.is_empty() || rest.starts_with(' ')).then_some(rest)
        };
        if let Some(rest) = after(BOOT_PREFIX) {
            return parse_boot(rest).map(|b| Some(StageLine::Boot(b)));
        }
        if let Some(rest) = after(CUT_PREFIX) {
            return parse_cut(rest).map(Some);
        }
        let Some(rest) = after(RECOVERY_PREFIX) else { return Ok(None) };
        let mut fields = fields(rest);
        let reason = value(fields.next(), "reason")?;
        let detail = fields.next().map(|f| value(Some(f), "detail")).transpose()?;
        if fields.next().is_some() {
            return Err(LogError::Field);
        }
        Ok(Some(StageLine::Recovery { reason, detail }))
    }
}

/// The `key=value` words of a line.
fn fields(rest: &str) -> impl Iterator<Item = Option<(&str, &str)>> {
    rest.split_whitespace().map(|w| w.split_once('='))
}

/// The value of `field` if its key is `key` and the value is a token.
fn value<'a>(field: Option<Option<(&'a str, &'a str)>>, key: &str) -> Result<&'a str, LogError> {
    match field {
        Some(Some((k, v))) if k == key && is_token(v) => Ok(v),
        Some(Some((k, _))) if k == key => Err(LogError::Value),
        _ => Err(LogError::Field),
    }
}

fn parse_cut(rest: &str) -> Result<StageLine<'static>, LogError> {
    let mut f = fields(rest);
    let store = number(value(f.next(), "store")?)?;
    let torn = number(value(f.next(), "torn")?)?;
    if f.next().is_some() || store == 0 {
        return Err(if store == 0 { LogError::Value } else { LogError::Field });
    }
    Ok(StageLine::Cut { store, torn })
}

fn parse_boot(rest: &str) -> Result<BootLine, LogError> {
    let mut f = fields(rest);
    let slot = value(f.next(), "slot")?;
    let kind = value(f.next(), "kind")?;
    let tries = value(f.next(), "tries")?;
    let fallback = value(f.next(), "fallback")?;
    let version = value(f.next(), "version")?;
    let seq = value(f.next(), "seq")?;
    if f.next().is_some() {
        return Err(LogError::Field);
    }
    let mut letters = slot.chars();
    let slot = match (letters.next().and_then(SlotId::from_letter), letters.next()) {
        (Some(s), None) => s,
        _ => return Err(LogError::Value),
    };
    let kind = [BootKind::Confirmed, BootKind::Trial, BootKind::LastResort]
        .into_iter()
        .find(|k| k.name() == kind)
        .ok_or(LogError::Value)?;
    let fallback = (0..=u8::MAX).filter_map(Reason::from_u8).find(|r| r.name() == fallback).ok_or(LogError::Value)?;
    let mut parts = version.split('.');
    let (Some(major), Some(minor), Some(revision), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(LogError::Value);
    };
    Ok(BootLine {
        slot,
        kind,
        tries: number(tries)?,
        fallback,
        version: Version { major: number(major)?, minor: number(minor)?, revision: number(revision)?, build: 0 },
        seq: number(seq)?,
    })
}

/// A decimal number as the encoder writes it (digits only, no sign).
fn number<T: core::str::FromStr>(s: &str) -> Result<T, LogError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LogError::Value);
    }
    s.parse().map_err(|_| LogError::Value)
}

/// A fixed buffer that a line is encoded into (for boards that log through defmt, which
/// takes a `&str`): `heapless::String`, whose `as_str` needs no UTF-8 re-validation. A
/// write that does not fit fails and leaves what fitted before it.
pub type LineBuf = heapless::String<LINE_MAX>;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::String;

    #[test]
    fn decimals() {
        for n in [0, 1, 9, 10, 99, 100, 255, 65_535, 1_000_000_000, 4_294_967_295] {
            let mut s = String::new();
            decimal(&mut s, n).unwrap();
            assert_eq!(s, std::format!("{n}"));
        }
    }

    fn line(l: &StageLine<'_>) -> String {
        let mut s = String::new();
        l.encode(&mut s).unwrap();
        s
    }

    #[test]
    fn the_documented_lines() {
        let b = BootLine {
            slot: SlotId::B,
            kind: BootKind::Trial,
            tries: 2,
            fallback: Reason::None,
            version: Version { major: 2, minor: 0, revision: 0, build: 0 },
            seq: 7,
        };
        let text = "safeslot: boot slot=b kind=trial tries=2 fallback=none version=2.0.0 seq=7";
        assert_eq!(line(&StageLine::Boot(b)), text);
        assert_eq!(StageLine::parse(text), Ok(Some(StageLine::Boot(b))));
        let r = StageLine::Recovery { reason: "bad-hash", detail: None };
        assert_eq!(line(&r), "safeslot: recovery reason=bad-hash");
        let r = StageLine::Recovery { reason: "linux", detail: Some("bad-table") };
        assert_eq!(line(&r), "safeslot: recovery reason=linux detail=bad-table");
        assert_eq!(StageLine::parse("  safeslot: recovery reason=linux detail=bad-table \r"), Ok(Some(r)));
        let c = StageLine::Cut { store: 7, torn: 4 };
        assert_eq!(line(&c), "safeslot: cut store=7 torn=4");
        assert_eq!(StageLine::parse("safeslot: cut store=7 torn=4"), Ok(Some(c)));
    }

    #[test]
    fn other_lines_are_not_stage_lines_and_broken_ones_are_errors() {
        for other in [
            "",
            "safeslot: bootloader",
            "safeslot: stack peak=8908",
            "app: running slot=0",
            "safeslot: timing total=3ms",
            "safeslot: cutter",
        ] {
            assert_eq!(StageLine::parse(other), Ok(None), "{other:?}");
        }
        for (bad, e) in [
            ("safeslot: boot slot=b", LogError::Field),
            ("safeslot: boot slot=x kind=trial tries=2 fallback=none version=2.0.0 seq=7", LogError::Value),
            ("safeslot: boot slot=b kind=try tries=2 fallback=none version=2.0.0 seq=7", LogError::Value),
            ("safeslot: boot slot=b kind=trial tries=-2 fallback=none version=2.0.0 seq=7", LogError::Value),
            ("safeslot: boot slot=b kind=trial tries=256 fallback=none version=2.0.0 seq=7", LogError::Value),
            ("safeslot: boot slot=b kind=trial tries=2 fallback=nope version=2.0.0 seq=7", LogError::Value),
            ("safeslot: boot slot=b kind=trial tries=2 fallback=none version=2.0 seq=7", LogError::Value),
            ("safeslot: boot kind=trial slot=b tries=2 fallback=none version=2.0.0 seq=7", LogError::Field),
            ("safeslot: boot slot=b kind=trial tries=2 fallback=none version=2.0.0 seq=7 x=1", LogError::Field),
            ("safeslot: recovery", LogError::Field),
            ("safeslot: recovery reason=", LogError::Value),
            ("safeslot: recovery why=bad-hash", LogError::Field),
            ("safeslot: recovery reason=a detail=b extra=c", LogError::Field),
            ("safeslot: cut store=7", LogError::Field),
            ("safeslot: cut store=0 torn=0", LogError::Value),
            ("safeslot: cut store=7 torn=1 x=2", LogError::Field),
            ("safeslot: cut torn=1 store=7", LogError::Field),
        ] {
            assert_eq!(StageLine::parse(bad), Err(e), "{bad:?}");
        }
        // Names that would not parse back are refused by the encoder.
        for (reason, detail) in [("", None), ("bad hash", None), ("a=b", None), ("linux", Some(""))] {
            assert!(StageLine::Recovery { reason, detail }.encode(&mut String::new()).is_err());
        }
    }

    #[test]
    fn the_line_buffer_holds_the_longest_boot_line_and_refuses_overflow() {
        let longest = StageLine::Boot(BootLine {
            slot: SlotId::D,
            kind: BootKind::LastResort,
            tries: u8::MAX,
            fallback: Reason::NothingBootable,
            version: Version { major: u8::MAX, minor: u8::MAX, revision: u16::MAX, build: 0 },
            seq: u32::MAX,
        });
        let mut buf = LineBuf::new();
        longest.encode(&mut buf).unwrap();
        assert!(buf.as_str().len() <= BOOT_LINE_MAX, "{}", buf.as_str().len());
        assert_eq!(buf.as_str(), line(&longest));
        let mut full = LineBuf::new();
        full.write_str(&"x".repeat(LINE_MAX - 1)).unwrap();
        assert!(full.write_str("yz").is_err());
        assert_eq!(full.as_str().len(), LINE_MAX - 1, "a refused write leaves what fitted");
    }

    fn reason() -> impl Strategy<Value = Reason> {
        (0u8..=16).prop_map(|c| Reason::from_u8(c).unwrap())
    }

    proptest! {
        #[test]
        fn boot_lines_round_trip(
            slot in 0u8..4, kind in 0usize..3, tries: u8, fallback in reason(),
            major: u8, minor: u8, revision: u16, seq: u32,
        ) {
            let b = BootLine {
                slot: SlotId::from_index(slot).unwrap(),
                kind: [BootKind::Confirmed, BootKind::Trial, BootKind::LastResort][kind],
                tries,
                fallback,
                version: Version { major, minor, revision, build: 0 },
                seq,
            };
            let mut buf = LineBuf::new();
            StageLine::Boot(b).encode(&mut buf).unwrap();
            prop_assert_eq!(StageLine::parse(buf.as_str()), Ok(Some(StageLine::Boot(b))));
        }

        #[test]
        fn recovery_lines_round_trip(reason in "[a-z][a-z-]{0,20}", detail in proptest::option::of("[a-z][a-z-]{0,20}")) {
            let r = StageLine::Recovery { reason: &reason, detail: detail.as_deref() };
            let text = line(&r);
            prop_assert_eq!(StageLine::parse(&text), Ok(Some(r)));
        }

        #[test]
        fn cut_lines_round_trip(store in 1u32.., torn: u32) {
            let c = StageLine::Cut { store, torn };
            let text = line(&c);
            prop_assert_eq!(StageLine::parse(&text), Ok(Some(c)));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,120}") {
            let _ = StageLine::parse(&s);
            let _ = StageLine::parse(&std::format!("safeslot: boot {s}"));
        }
    }
}
