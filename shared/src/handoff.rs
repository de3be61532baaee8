//! The hand-off block: what the boot stage tells the application, in RAM.
//!
//! The boot stage writes [`HANDOFF_LEN`] bytes at a RAM address fixed by the board
//! layout just before it jumps; the application reads them to learn how it was booted
//! without touching flash. The block is CRC-protected, so stale RAM (a cold boot without
//! the stage, or garbage) decodes as an error, never as a plausible state.
//!
//! Format 2 is format 1 (24 bytes, its own CRC) followed by an 8-byte extension with
//! its own CRC over all 28 bytes before it: an application built against format 1 still
//! reads a format-2 block, and this decoder still reads a format-1 block (the extension's
//! facts are then unknown, [`Handoff::format`] says 1).

use crate::codec::{crc32, get_u32, put};
use crate::error::DecodeError;
use crate::policy::BootKind;
use crate::reason::Reason;
use crate::slot::{SlotId, Tries};
use crate::version::Version;

/// "SSHO": safeslot hand-off.
pub const HANDOFF_MAGIC: u32 = u32::from_le_bytes(*b"SSHO");
/// Encoded size (format 2).
pub const HANDOFF_LEN: usize = 32;
/// Size of the format-1 part (which format-1 readers read).
pub const HANDOFF_V1_LEN: usize = 24;
/// The format written.
pub const HANDOFF_FORMAT: u8 = 2;

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
    /// The block's format: 2, or 1 when read from a stage that wrote format 1 (then
    /// `recorded` is unknown and reads `true`).
    pub format: u8,
}

impl Handoff {
    /// Encodes (format 2): the format-1 part, then the extension.
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
        put(&mut b, field::EXT_FORMAT, &[HANDOFF_FORMAT, flags]);
        let crc = crc32(b.get(..field::CRC2).unwrap_or(&[]));
        put(&mut b, field::CRC2, &crc.to_le_bytes());
        b
    }

    /// Decodes and checks a hand-off block (format 2, or format 1 when `b` holds no
    /// valid extension).
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
            format: 1,
        };
        // The extension counts only when its CRC (over the whole block) holds: RAM after
        // a format-1 block is stale or zero.
        let ext_ok = b.get(..field::CRC2).is_some_and(|p| get_u32(b, field::CRC2) == Some(crc32(p)));
        if ext_ok {
            match byte(field::EXT_FORMAT)? {
                HANDOFF_FORMAT => {}
                v => return Err(DecodeError::UnsupportedVersion(v)),
            }
            let flags = byte(field::FLAGS)?;
            if flags & !FLAG_NOT_RECORDED != 0 || byte(field::RESERVED)? != 0 || byte(field::RESERVED + 1)? != 0 {
                return Err(DecodeError::Field("flags"));
            }
            h.recorded = flags & FLAG_NOT_RECORDED == 0;
            h.format = HANDOFF_FORMAT;
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_stale_ram() {
        let h = Handoff {
            slot: SlotId::B,
            kind: BootKind::Trial,
            tries_left: Tries::new(2).unwrap(),
            last_fallback: Reason::TriesExhausted,
            version: Version { major: 2, minor: 0, revision: 0, build: 0 },
            record_seq: 17,
            recorded: false,
            format: 2,
        };
        let b = h.encode();
        assert_eq!(Handoff::decode(&b), Ok(h));
        assert_eq!(Handoff::decode(&[0u8; HANDOFF_LEN]), Err(DecodeError::Magic));
        let mut c = b;
        c[9] ^= 1;
        assert_eq!(Handoff::decode(&c), Err(DecodeError::Crc));
        // A format-1 stage wrote only 24 bytes; whatever follows is stale.
        let mut v1 = b;
        v1[24..].copy_from_slice(&[0xA5; 8]);
        let got = Handoff::decode(&v1).unwrap();
        assert_eq!(got, Handoff { recorded: true, format: 1, ..h });
        assert_eq!(Handoff::decode(&b[..24]).unwrap().format, 1);
        // A format-1 reader (CRC over 0..20 only) still reads a format-2 block.
        assert_eq!(crate::codec::get_u32(&b, 20), Some(crate::codec::crc32(&b[..20])));
        // Unknown flags and extension formats are refused, not guessed.
        for (at, v) in [(25, 2u8), (26, 1), (24, 3)] {
            let mut c = b;
            c[at] = v;
            let crc = crate::codec::crc32(&c[..28]);
            c[28..].copy_from_slice(&crc.to_le_bytes());
            assert!(Handoff::decode(&c).is_err(), "byte {at} = {v}");
        }
    }
}
