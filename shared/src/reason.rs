//! Reason codes: why a slot is unbootable, why the stage fell back.
//!
//! Stored as one byte in the record, the history and the hand-off block. Codes
//! are append-only: a new code gets a new number, an old number never changes meaning.

use core::fmt;

/// Why a slot was refused or a fallback happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Reason {
    /// No reason (the field is empty).
    None = 0,
    /// An unconfirmed slot used all its tries without confirming.
    TriesExhausted = 1,
    /// The slot holds no header (erased or foreign data).
    NoImage = 2,
    /// The header is malformed: bad magic, version, size, or fields out of range.
    BadHeader = 3,
    /// The image length runs past the slot, or the header area is too small.
    ImageBounds = 4,
    /// The header's load address does not match the slot.
    WrongAddress = 5,
    /// The header was signed with a key that is not trusted.
    UnknownKey = 6,
    /// The ed25519 signature over the header does not verify.
    BadSignature = 7,
    /// The image's SHA-256 does not match the signed header.
    BadHash = 8,
    /// The image's security counter is below the anti-rollback floor.
    Rollback = 9,
    /// Marked bad by the application or the Linux agent.
    MarkedBad = 10,
    /// The recovery input was held at reset.
    RecoveryInput = 11,
    /// The record region held no valid record (blank or corrupt) and was re-created.
    NoValidRecord = 12,
    /// Reading the slot from flash failed.
    FlashError = 13,
    /// Every slot was exhausted; a slot that still verifies was booted rather than brick.
    LastResort = 14,
    /// No slot can be booted.
    NothingBootable = 15,
    /// An internal consistency check failed (a would-be panic).
    Internal = 16,
    /// The image names another product (its signed `compatible` differs from the board's).
    Incompatible = 17,
    /// The image is signed by a key that a confirmed image revoked.
    RevokedKey = 18,
    /// The image is older than the confirmed image (layout `[image] downgrade = "refuse"`).
    Downgrade = 19,
    /// The image requires a newer confirmed image than the device has (its signed
    /// `requires-version`).
    UnmetRequirement = 20,
}

impl Reason {
    /// Decodes a reason byte; `None` for an unknown code.
    pub const fn from_u8(v: u8) -> Option<Reason> {
        Some(match v {
            0 => Reason::None,
            1 => Reason::TriesExhausted,
            2 => Reason::NoImage,
            3 => Reason::BadHeader,
            4 => Reason::ImageBounds,
            5 => Reason::WrongAddress,
            6 => Reason::UnknownKey,
            7 => Reason::BadSignature,
            8 => Reason::BadHash,
            9 => Reason::Rollback,
            10 => Reason::MarkedBad,
            11 => Reason::RecoveryInput,
            12 => Reason::NoValidRecord,
            13 => Reason::FlashError,
            14 => Reason::LastResort,
            15 => Reason::NothingBootable,
            16 => Reason::Internal,
            17 => Reason::Incompatible,
            18 => Reason::RevokedKey,
            19 => Reason::Downgrade,
            20 => Reason::UnmetRequirement,
            _ => return None,
        })
    }

    /// The code byte.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// A stable lowercase name, used in JSON output and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::None => "none",
            Reason::TriesExhausted => "tries-exhausted",
            Reason::NoImage => "no-image",
            Reason::BadHeader => "bad-header",
            Reason::ImageBounds => "image-bounds",
            Reason::WrongAddress => "wrong-address",
            Reason::UnknownKey => "unknown-key",
            Reason::BadSignature => "bad-signature",
            Reason::BadHash => "bad-hash",
            Reason::Rollback => "rollback",
            Reason::MarkedBad => "marked-bad",
            Reason::RecoveryInput => "recovery-input",
            Reason::NoValidRecord => "record-reset",
            Reason::FlashError => "flash-error",
            Reason::LastResort => "last-resort",
            Reason::NothingBootable => "nothing-bootable",
            Reason::Internal => "internal",
            Reason::Incompatible => "incompatible",
            Reason::RevokedKey => "revoked-key",
            Reason::Downgrade => "downgrade",
            Reason::UnmetRequirement => "unmet-requirement",
        }
    }

    /// True for reasons that come from verifying the image: the slot's bytes are
    /// bad, or must never run on this device, so even a last-resort boot must not use it.
    /// A downgrade or an unmet requirement is not one: such an image is authentic and
    /// allowed by the security counter, and booting it beats bricking.
    pub const fn is_image_fault(self) -> bool {
        matches!(
            self,
            Reason::NoImage
                | Reason::BadHeader
                | Reason::ImageBounds
                | Reason::WrongAddress
                | Reason::UnknownKey
                | Reason::BadSignature
                | Reason::BadHash
                | Reason::Rollback
                | Reason::FlashError
                | Reason::Incompatible
                | Reason::RevokedKey
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for v in 0..=255u8 {
            if let Some(r) = Reason::from_u8(v) {
                assert_eq!(r.code(), v);
            }
        }
        assert_eq!(Reason::from_u8(20), Some(Reason::UnmetRequirement));
        assert_eq!(Reason::from_u8(21), None);
    }
}
