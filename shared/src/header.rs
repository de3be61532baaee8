//! The signed slot header at the start of every slot.
//!
//! `HEADER_LEN` bytes (see `docs/FORMAT.md`, "Slot header"); the image starts
//! `header_size` bytes after the slot's start (the rest of the header area is 0xFF).
//! The ed25519 signature covers bytes `0..SIGNED_LEN`, which include the image's
//! SHA-256, so one signature check plus one streamed hash authenticates the image.

use crate::codec::{get_u16, get_u32, get_u64, put};
use crate::error::DecodeError;
use crate::version::Version;

/// "SSIH": safeslot image header.
pub const HEADER_MAGIC: u32 = u32::from_le_bytes(*b"SSIH");
/// The header format version this code writes and reads.
pub const HEADER_FORMAT: u16 = 1;
/// Bytes covered by the signature.
pub const SIGNED_LEN: usize = 88;
/// Encoded header length: signed part plus the 64-byte signature.
pub const HEADER_LEN: usize = SIGNED_LEN + 64;
/// Smallest header area a slot may reserve.
pub const MIN_HEADER_SIZE: u32 = 256;

/// Byte offsets of the header's fields.
pub mod field {
    /// Magic "SSIH" (u32).
    pub const MAGIC: usize = 0;
    /// Header format version (u16).
    pub const FORMAT: usize = 4;
    /// Header area size: the image starts this many bytes after the slot start (u16).
    pub const HEADER_SIZE: usize = 6;
    /// Image length in bytes (u32).
    pub const IMAGE_LEN: usize = 8;
    /// Flags (u32), zero in format 1.
    pub const FLAGS: usize = 12;
    /// Image version (8 bytes).
    pub const VERSION: usize = 16;
    /// Security counter (u32).
    pub const SECURITY_COUNTER: usize = 24;
    /// Reserved (u32), zero.
    pub const RESERVED: usize = 28;
    /// Load address (u64): where the image must be when it runs.
    pub const LOAD_ADDR: usize = 32;
    /// Entry offset (u64): the entry point (or vector table) relative to the load address.
    pub const ENTRY: usize = 40;
    /// SHA-256 of the image bytes (32 bytes).
    pub const IMAGE_HASH: usize = 48;
    /// Key id: the first 8 bytes of SHA-256 of the signing public key.
    pub const KEY_ID: usize = 80;
    /// ed25519 signature over bytes 0..88 (64 bytes).
    pub const SIGNATURE: usize = 88;
}

/// A decoded slot header (signature not yet checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SlotHeader {
    /// Header area size in bytes (the image starts here).
    pub header_size: u16,
    /// Image length in bytes.
    pub image_len: u32,
    /// Image version.
    pub version: Version,
    /// Anti-rollback security counter.
    pub security_counter: u32,
    /// Where the image must be when it runs (for XIP: slot start + header size).
    pub load_addr: u64,
    /// Entry point offset from the load address (0 for a Cortex-M vector table).
    pub entry: u64,
    /// SHA-256 of the image.
    pub image_hash: [u8; 32],
    /// Which key signed it.
    pub key_id: [u8; 8],
    /// The ed25519 signature over the first [`SIGNED_LEN`] bytes.
    pub signature: [u8; 64],
}

impl SlotHeader {
    /// Encodes the signed part (the bytes the signature covers).
    pub fn signed_bytes(&self) -> [u8; SIGNED_LEN] {
        let mut b = [0u8; SIGNED_LEN];
        put(&mut b, field::MAGIC, &HEADER_MAGIC.to_le_bytes());
        put(&mut b, field::FORMAT, &HEADER_FORMAT.to_le_bytes());
        put(&mut b, field::HEADER_SIZE, &self.header_size.to_le_bytes());
        put(&mut b, field::IMAGE_LEN, &self.image_len.to_le_bytes());
        put(&mut b, field::VERSION, &self.version.to_bytes());
        put(&mut b, field::SECURITY_COUNTER, &self.security_counter.to_le_bytes());
        put(&mut b, field::LOAD_ADDR, &self.load_addr.to_le_bytes());
        put(&mut b, field::ENTRY, &self.entry.to_le_bytes());
        put(&mut b, field::IMAGE_HASH, &self.image_hash);
        put(&mut b, field::KEY_ID, &self.key_id);
        b
    }

    /// Encodes the whole header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        put(&mut b, 0, &self.signed_bytes());
        put(&mut b, field::SIGNATURE, &self.signature);
        b
    }

    /// Decodes a header. Checks structure only (magic, format, reserved fields, header
    /// size); bounds against a slot are checked by [`SlotHeader::check_bounds`] and the
    /// signature by `verify`.
    pub fn decode(b: &[u8]) -> Result<SlotHeader, DecodeError> {
        if b.len() < HEADER_LEN {
            return Err(DecodeError::Length);
        }
        if get_u32(b, field::MAGIC) != Some(HEADER_MAGIC) {
            return Err(DecodeError::Magic);
        }
        let format = get_u16(b, field::FORMAT).ok_or(DecodeError::Length)?;
        if format != HEADER_FORMAT {
            return Err(DecodeError::UnsupportedVersion(format.min(255) as u8));
        }
        if get_u32(b, field::FLAGS) != Some(0) {
            return Err(DecodeError::Field("flags"));
        }
        if get_u32(b, field::RESERVED) != Some(0) {
            return Err(DecodeError::Field("reserved"));
        }
        let header_size = get_u16(b, field::HEADER_SIZE).ok_or(DecodeError::Length)?;
        if u32::from(header_size) < MIN_HEADER_SIZE || !header_size.is_power_of_two() {
            return Err(DecodeError::Field("header_size"));
        }
        let arr = |at: usize| b.get(at..).ok_or(DecodeError::Length);
        let mut image_hash = [0u8; 32];
        image_hash.copy_from_slice(arr(field::IMAGE_HASH)?.get(..32).ok_or(DecodeError::Length)?);
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(arr(field::KEY_ID)?.get(..8).ok_or(DecodeError::Length)?);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(arr(field::SIGNATURE)?.get(..64).ok_or(DecodeError::Length)?);
        let mut vb = [0u8; 8];
        vb.copy_from_slice(arr(field::VERSION)?.get(..8).ok_or(DecodeError::Length)?);
        Ok(SlotHeader {
            header_size,
            image_len: get_u32(b, field::IMAGE_LEN).ok_or(DecodeError::Length)?,
            version: Version::from_bytes(vb),
            security_counter: get_u32(b, field::SECURITY_COUNTER).ok_or(DecodeError::Length)?,
            load_addr: get_u64(b, field::LOAD_ADDR).ok_or(DecodeError::Length)?,
            entry: get_u64(b, field::ENTRY).ok_or(DecodeError::Length)?,
            image_hash,
            key_id,
            signature,
        })
    }

    /// Checks the header against its slot: the image must fit after the header area.
    pub fn check_bounds(&self, slot_size: u32) -> bool {
        u32::from(self.header_size)
            .checked_add(self.image_len)
            .is_some_and(|end| end <= slot_size && self.image_len > 0)
            && (HEADER_LEN as u32) <= u32::from(self.header_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SlotHeader {
        SlotHeader {
            header_size: 0x400,
            image_len: 1000,
            version: Version { major: 1, minor: 2, revision: 3, build: 0 },
            security_counter: 5,
            load_addr: 0x2101_0400,
            entry: 0,
            image_hash: [7; 32],
            key_id: [9; 8],
            signature: [3; 64],
        }
    }

    #[test]
    fn round_trip_and_bounds() {
        let h = sample();
        assert_eq!(SlotHeader::decode(&h.encode()), Ok(h));
        assert!(h.check_bounds(0x400 + 1000));
        assert!(!h.check_bounds(0x400 + 999));
        let mut big = h;
        big.image_len = u32::MAX;
        assert!(!big.check_bounds(u32::MAX));
    }

    #[test]
    fn structural_errors() {
        let b = sample().encode();
        assert_eq!(SlotHeader::decode(&b[..HEADER_LEN - 1]), Err(DecodeError::Length));
        let mut c = b;
        c[0] ^= 1;
        assert_eq!(SlotHeader::decode(&c), Err(DecodeError::Magic));
        let mut c = b;
        c[field::HEADER_SIZE] = 0x33;
        assert!(SlotHeader::decode(&c).is_err());
        let mut c = b;
        c[field::FLAGS] = 1;
        assert_eq!(SlotHeader::decode(&c), Err(DecodeError::Field("flags")));
    }
}
