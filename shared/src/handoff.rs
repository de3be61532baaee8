//! The hand-off block: what the boot stage tells the application, in RAM.
//!
//! The boot stage writes [`HANDOFF_LEN`] bytes at a RAM address fixed by the board
//! layout just before it jumps; the application reads them to learn how it was booted
//! without touching flash. The block is CRC-protected, so stale RAM (a cold boot without
//! the stage, or garbage) decodes as an error, never as a plausible state.

use crate::codec::{crc32, get_u32, put};
use crate::error::DecodeError;
use crate::policy::BootKind;
use crate::reason::Reason;
use crate::slot::{SlotId, Tries};
use crate::version::Version;

/// "SSHO": safeslot hand-off.
pub const HANDOFF_MAGIC: u32 = u32::from_le_bytes(*b"SSHO");
/// Encoded size.
pub const HANDOFF_LEN: usize = 24;

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
}

impl Handoff {
    /// Encodes: magic, slot, kind, tries, reason, version (8), seq (4), CRC-32.
    pub fn encode(&self) -> [u8; HANDOFF_LEN] {
        let mut b = [0u8; HANDOFF_LEN];
        put(&mut b, 0, &HANDOFF_MAGIC.to_le_bytes());
        let kind = match self.kind {
            BootKind::Confirmed => 1,
            BootKind::Trial => 2,
            BootKind::LastResort => 3,
        };
        put(&mut b, 4, &[self.slot.index() as u8, kind, self.tries_left.get(), self.last_fallback.code()]);
        put(&mut b, 8, &self.version.to_bytes());
        put(&mut b, 16, &self.record_seq.to_le_bytes());
        let crc = crc32(b.get(..20).unwrap_or(&[]));
        put(&mut b, 20, &crc.to_le_bytes());
        b
    }

    /// Decodes and checks a hand-off block.
    pub fn decode(b: &[u8]) -> Result<Handoff, DecodeError> {
        if b.len() < HANDOFF_LEN {
            return Err(DecodeError::Length);
        }
        if get_u32(b, 0) != Some(HANDOFF_MAGIC) {
            return Err(DecodeError::Magic);
        }
        if get_u32(b, 20) != Some(crc32(b.get(..20).ok_or(DecodeError::Length)?)) {
            return Err(DecodeError::Crc);
        }
        let byte = |i: usize| b.get(i).copied().ok_or(DecodeError::Length);
        let slot = SlotId::from_index(byte(4)?).ok_or(DecodeError::Field("slot"))?;
        let kind = match byte(5)? {
            1 => BootKind::Confirmed,
            2 => BootKind::Trial,
            3 => BootKind::LastResort,
            _ => return Err(DecodeError::Field("kind")),
        };
        let tries_left = Tries::new(byte(6)?).ok_or(DecodeError::Field("tries"))?;
        let last_fallback = Reason::from_u8(byte(7)?).ok_or(DecodeError::Field("reason"))?;
        let vb: [u8; 8] = b.get(8..16).and_then(|s| s.try_into().ok()).ok_or(DecodeError::Length)?;
        let record_seq = get_u32(b, 16).ok_or(DecodeError::Length)?;
        Ok(Handoff { slot, kind, tries_left, last_fallback, version: Version::from_bytes(vb), record_seq })
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
        };
        let b = h.encode();
        assert_eq!(Handoff::decode(&b), Ok(h));
        assert_eq!(Handoff::decode(&[0u8; HANDOFF_LEN]), Err(DecodeError::Magic));
        let mut c = b;
        c[9] ^= 1;
        assert_eq!(Handoff::decode(&c), Err(DecodeError::Crc));
    }
}
