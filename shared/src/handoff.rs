//! The hand-off block: what the boot stage tells the application, in RAM.
//!
//! The boot stage writes [`HANDOFF_LEN`] bytes at a RAM address fixed by the board
//! layout just before it jumps; the application reads them to learn how it was booted
//! without touching flash. The block is CRC-protected, so stale RAM (a cold boot without
//! the stage, or garbage) decodes as an error, never as a plausible state.
//!
//! Each format is the one before it followed by an extension with its own CRC over every
//! byte before that CRC, so an application built against an older format still reads a
//! newer block, and this decoder still reads an older block (the newer facts are then
//! unknown, [`Handoff::format`] says which format it read):
//!
//! * format 1: 24 bytes (slot, kind, tries, last fallback, version, record sequence);
//! * format 2: + 8 bytes (`FLAG_NOT_RECORDED`);
//! * format 3: + 12 bytes (the reset cause the stage read, the watchdog timeout it armed).

use crate::codec::{crc32, get_u32, put};
use crate::error::DecodeError;
use crate::policy::BootKind;
use crate::reason::Reason;
use crate::reset::ResetCause;
use crate::slot::{SlotId, Tries};
use crate::version::Version;

/// "SSHO": safeslot hand-off.
pub const HANDOFF_MAGIC: u32 = u32::from_le_bytes(*b"SSHO");
/// Encoded size (format 3).
pub const HANDOFF_LEN: usize = 44;
/// Size of the format-1 part (which format-1 readers read).
pub const HANDOFF_V1_LEN: usize = 24;
/// Size of the format-2 part (which format-2 readers read).
pub const HANDOFF_V2_LEN: usize = 32;
/// The format written.
pub const HANDOFF_FORMAT: u8 = 3;
/// The value of [`field::EXT_FORMAT`]: the layout of the format-2 extension (bytes 24..32),
/// which format 3 keeps unchanged so that format-2 readers still read the block.
pub const EXT_FORMAT_2: u8 = 2;

/// Byte offsets of the block (see `docs/FORMAT.md`, "Hand-off block").
pub mod field {
    /// Magic (u32).
    pub const MAGIC: usize = 0;
    /// Booted slot index (u8).
    pub const SLOT: usize = 4;
    /// Boot kind (u8): 1 confirmed, 2 trial, 3 last resort.
    pub const KIND: usize = 5;
    /// Tries left (u8).
    pub const TRIES: usize = 6;
    /// Last fallback reason (u8).
    pub const REASON: usize = 7;
    /// Booted image version (8 bytes).
    pub const VERSION: usize = 8;
    /// Record sequence number (u32).
    pub const SEQ: usize = 16;
    /// CRC-32 over bytes 0..20 (u32).
    pub const CRC1: usize = 20;
    /// Extension format (u8), [`super::HANDOFF_FORMAT`].
    pub const EXT_FORMAT: usize = 24;
    /// Flags (u8): [`super::FLAG_NOT_RECORDED`].
    pub const FLAGS: usize = 25;
    /// Reserved, zero (2 bytes).
    pub const RESERVED: usize = 26;
    /// CRC-32 over bytes 0..28 (u32).
    pub const CRC2: usize = 28;
    /// Second extension's format (u8): 3.
    pub const EXT3_FORMAT: usize = 32;
    /// Why the chip reset before this boot (u8, [`crate::reset::ResetCause`] code).
    pub const RESET_CAUSE: usize = 33;
    /// Reserved, zero (2 bytes).
    pub const RESERVED3: usize = 34;
    /// Watchdog timeout in milliseconds that the stage armed before the jump (u32; 0: the
    /// stage armed none).
    pub const WATCHDOG_MS: usize = 36;
    /// CRC-32 over bytes 0..40 (u32).
    pub const CRC3: usize = 40;
}

/// Flag: the boot stage could not write the record on this boot, so the record in flash
/// does not show it (its `last_booted` names another slot). Operations that depend on
/// "the running slot" must use [`Handoff::slot`], never the record's `last_booted`.
pub const FLAG_NOT_RECORDED: u8 = 1;

/// What the boot stage hands the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Handoff {
    /// The slot that was booted.
    pub slot: SlotId,
    /// How it was booted.
    pub kind: BootKind,
    /// Its tries left after this boot (0 for a confirmed slot that never needed them).
    pub tries_left: Tries,
    /// The reason of the last fallback recorded in the record.
    pub last_fallback: Reason,
    /// The booted image's version.
    pub version: Version,
    /// The record's journal sequence number after the boot stage's write.
    pub record_seq: u32,
    /// The record in flash shows this boot. `false` when the stage's write failed (a
    /// confirmed slot booted read-only): the record's `last_booted` is stale.
    pub recorded: bool,
    /// Why the chip reset before this boot, as the stage read it (unknown where the chip
    /// cannot tell, and in a block older than format 3).
    pub reset_cause: ResetCause,
    /// The hardware watchdog the stage armed before the jump: its timeout in milliseconds,
    /// or 0 when the stage armed none (the layout's `[watchdog]`; always 0 in a block older
    /// than format 3). When set, the application must feed the watchdog within this time
    /// until it has confirmed itself, and then either keep feeding it or take it over
    /// (some chips' watchdogs cannot be stopped: docs/PORTING.md).
    pub watchdog_ms: u32,
    /// The block's format: 3, or 1 or 2 when read from a stage that wrote an older one
    /// (then the newer fields read as unknown: `recorded` as `true`, `reset_cause` as
    /// unknown, `watchdog_ms` as 0).
    pub format: u8,
}

impl Handoff {
    /// Encodes (format 3): the format-1 part, then the two extensions.
    pub fn encode(&self) -> [u8; HANDOFF_LEN] {
        let mut b = [0u8; HANDOFF_LEN];
        put(&mut b, field::MAGIC, &HANDOFF_MAGIC.to_le_bytes());
        let kind = match self.kind {
            BootKind::Confirmed => 1,
            BootKind::Trial => 2,
            BootKind::LastResort => 3,
        };
        put(&mut b, field::SLOT, &[self.slot.index() as u8, kind, self.tries_left.get(), self.last_fallback.code()]);
        put(&mut b, field::VERSION, &self.version.to_bytes());
        put(&mut b, field::SEQ, &self.record_seq.to_le_bytes());
        let crc = crc32(b.get(..field::CRC1).unwrap_or(&[]));
        put(&mut b, field::CRC1, &crc.to_le_bytes());
        let flags = if self.recorded { 0 } else { FLAG_NOT_RECORDED };
        put(&mut b, field::EXT_FORMAT, &[EXT_FORMAT_2, flags]);
        let crc = crc32(b.get(..field::CRC2).unwrap_or(&[]));
        put(&mut b, field::CRC2, &crc.to_le_bytes());
        put(&mut b, field::EXT3_FORMAT, &[HANDOFF_FORMAT, self.reset_cause.code()]);
        put(&mut b, field::WATCHDOG_MS, &self.watchdog_ms.to_le_bytes());
        let crc = crc32(b.get(..field::CRC3).unwrap_or(&[]));
        put(&mut b, field::CRC3, &crc.to_le_bytes());
        b
    }

    /// Decodes and checks a hand-off block (format 3; format 2 or 1 when `b` holds no valid
    /// later extension).
    pub fn decode(b: &[u8]) -> Result<Handoff, DecodeError> {
        if b.len() < HANDOFF_V1_LEN {
            return Err(DecodeError::Length);
        }
        if get_u32(b, field::MAGIC) != Some(HANDOFF_MAGIC) {
            return Err(DecodeError::Magic);
        }
        if get_u32(b, field::CRC1) != Some(crc32(b.get(..field::CRC1).ok_or(DecodeError::Length)?)) {
            return Err(DecodeError::Crc);
        }
        let byte = |i: usize| b.get(i).copied().ok_or(DecodeError::Length);
        let slot = SlotId::from_index(byte(field::SLOT)?).ok_or(DecodeError::Field("slot"))?;
        let kind = match byte(field::KIND)? {
            1 => BootKind::Confirmed,
            2 => BootKind::Trial,
            3 => BootKind::LastResort,
            _ => return Err(DecodeError::Field("kind")),
        };
        let tries_left = Tries::new(byte(field::TRIES)?).ok_or(DecodeError::Field("tries"))?;
        let last_fallback = Reason::from_u8(byte(field::REASON)?).ok_or(DecodeError::Field("reason"))?;
        let vb: [u8; 8] =
            b.get(field::VERSION..field::SEQ).and_then(|s| s.try_into().ok()).ok_or(DecodeError::Length)?;
        let record_seq = get_u32(b, field::SEQ).ok_or(DecodeError::Length)?;
        let mut h = Handoff {
            slot,
            kind,
            tries_left,
            last_fallback,
            version: Version::from_bytes(vb),
            record_seq,
            recorded: true,
            reset_cause: ResetCause::Unknown,
            watchdog_ms: 0,
            format: 1,
        };
        // The extension counts only when its CRC (over the whole block) holds: RAM after
        // a format-1 block is stale or zero.
        let ext_ok = b.get(..field::CRC2).is_some_and(|p| get_u32(b, field::CRC2) == Some(crc32(p)));
        if !ext_ok {
            return Ok(h);
        }
        match byte(field::EXT_FORMAT)? {
            EXT_FORMAT_2 => {}
            v => return Err(DecodeError::UnsupportedVersion(v)),
        }
        let flags = byte(field::FLAGS)?;
        if flags & !FLAG_NOT_RECORDED != 0 || byte(field::RESERVED)? != 0 || byte(field::RESERVED + 1)? != 0 {
            return Err(DecodeError::Field("flags"));
        }
        h.recorded = flags & FLAG_NOT_RECORDED == 0;
        h.format = EXT_FORMAT_2;
        // The same rule for the second extension: RAM after a format-2 block (the rig
        // mailbox of format-2 layouts, stale bytes) never has a valid CRC3.
        let ext3_ok = b.get(..field::CRC3).is_some_and(|p| get_u32(b, field::CRC3) == Some(crc32(p)));
        if !ext3_ok {
            return Ok(h);
        }
        match byte(field::EXT3_FORMAT)? {
            HANDOFF_FORMAT => {}
            v => return Err(DecodeError::UnsupportedVersion(v)),
        }
        h.reset_cause = ResetCause::from_u8(byte(field::RESET_CAUSE)?).ok_or(DecodeError::Field("reset cause"))?;
        if byte(field::RESERVED3)? != 0 || byte(field::RESERVED3 + 1)? != 0 {
            return Err(DecodeError::Field("reserved"));
        }
        h.watchdog_ms = get_u32(b, field::WATCHDOG_MS).ok_or(DecodeError::Length)?;
        h.format = HANDOFF_FORMAT;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handoff {
        Handoff {
            slot: SlotId::B,
            kind: BootKind::Trial,
            tries_left: Tries::new(2).unwrap(),
            last_fallback: Reason::TriesExhausted,
            version: Version { major: 2, minor: 0, revision: 0, build: 0 },
            record_seq: 17,
            recorded: false,
            reset_cause: ResetCause::Watchdog,
            watchdog_ms: 4000,
            format: 3,
        }
    }

    /// Re-seals the CRCs from `from` on (after a test changed a byte).
    fn reseal(c: &mut [u8; HANDOFF_LEN], crcs: &[usize]) {
        for &at in crcs {
            let crc = crate::codec::crc32(&c[..at]);
            c[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        }
    }

    #[test]
    fn round_trip_and_rejects_stale_ram() {
        let h = sample();
        let b = h.encode();
        assert_eq!(Handoff::decode(&b), Ok(h));
        assert_eq!(Handoff::decode(&[0u8; HANDOFF_LEN]), Err(DecodeError::Magic));
        let mut c = b;
        c[9] ^= 1;
        assert_eq!(Handoff::decode(&c), Err(DecodeError::Crc));
    }

    #[test]
    fn older_blocks_read_with_the_newer_facts_unknown() {
        let h = sample();
        let b = h.encode();
        // A format-1 stage wrote only 24 bytes; whatever follows is stale.
        let mut v1 = b;
        v1[24..].copy_from_slice(&[0xA5; HANDOFF_LEN - 24]);
        let got = Handoff::decode(&v1).unwrap();
        assert_eq!(got, Handoff { recorded: true, reset_cause: ResetCause::Unknown, watchdog_ms: 0, format: 1, ..h });
        assert_eq!(Handoff::decode(&b[..24]).unwrap().format, 1);
        // A format-2 stage wrote 32 bytes; after them, a format-2 layout's rig mailbox.
        let mut v2 = b;
        v2[32..].copy_from_slice(&[0x5A; HANDOFF_LEN - 32]);
        let got = Handoff::decode(&v2).unwrap();
        assert_eq!(got, Handoff { reset_cause: ResetCause::Unknown, watchdog_ms: 0, format: 2, ..h });
        assert_eq!(Handoff::decode(&b[..HANDOFF_V2_LEN]).unwrap().format, 2);
    }

    #[test]
    fn older_readers_still_read_a_format_3_block() {
        let b = sample().encode();
        // Format 1 reads 0..24 with the CRC over 0..20; format 2 checks 0..28 and byte 24 = 2.
        assert_eq!(crate::codec::get_u32(&b, 20), Some(crate::codec::crc32(&b[..20])));
        assert_eq!(crate::codec::get_u32(&b, 28), Some(crate::codec::crc32(&b[..28])));
        assert_eq!(b[field::EXT_FORMAT], 2);
    }

    #[test]
    fn unknown_flags_causes_and_formats_are_refused_not_guessed() {
        let b = sample().encode();
        for (at, v) in [(25, 2u8), (26, 1), (24, 3)] {
            let mut c = b;
            c[at] = v;
            reseal(&mut c, &[field::CRC2, field::CRC3]);
            assert!(Handoff::decode(&c).is_err(), "byte {at} = {v}");
        }
        for (at, v) in [(field::EXT3_FORMAT, 4u8), (field::RESET_CAUSE, 7), (field::RESERVED3, 1), (35, 1)] {
            let mut c = b;
            c[at] = v;
            reseal(&mut c, &[field::CRC3]);
            assert!(Handoff::decode(&c).is_err(), "byte {at} = {v}");
        }
        // Every cause round-trips.
        for code in 0..=6 {
            let cause = ResetCause::from_u8(code).unwrap();
            let h = Handoff { reset_cause: cause, ..sample() };
            assert_eq!(Handoff::decode(&h.encode()).unwrap().reset_cause, cause);
        }
    }
}
