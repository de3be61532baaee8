//! The signed slot header at the start of every slot.
//!
//! `HEADER_LEN` fixed bytes followed, in format 2, by the protected TLV area
//! ([`crate::tlv`]; see `docs/FORMAT.md`, "Slot header"); the image starts `header_size`
//! bytes after the slot's start (the rest of the header area is 0xFF). The ed25519
//! signature covers bytes `0..SIGNED_LEN` followed by the TLV area ([`SlotHeader::signed_bytes`]):
//! those include the image's SHA-256, so one signature check plus one streamed hash
//! authenticates header, metadata and image.

use crate::codec::{get_u16, get_u32, get_u64, put};
use crate::error::DecodeError;
use crate::tlv::{Tlvs, MAX_TLV_LEN};
use crate::version::Version;

/// "SSIH": safeslot image header.
pub const HEADER_MAGIC: u32 = u32::from_le_bytes(*b"SSIH");
/// The header format version this code writes for a header with protected TLVs (one
/// without is written as format 1, which every boot stage reads).
pub const HEADER_FORMAT: u16 = 2;
/// The first header format: no TLV area (bytes 28..32 zero). Still read and written.
pub const HEADER_FORMAT_1: u16 = 1;
/// Fixed bytes covered by the signature (the TLV area follows them in the signed message).
pub const SIGNED_LEN: usize = 88;
/// Length of the fixed header: signed part plus the 64-byte signature. The TLV area
/// follows it.
pub const HEADER_LEN: usize = SIGNED_LEN + 64;
/// Longest header: the fixed part plus the longest TLV area.
pub const MAX_HEADER_LEN: usize = HEADER_LEN + MAX_TLV_LEN;
/// Longest signed message: the fixed signed bytes plus the longest TLV area.
pub const MAX_SIGNED_LEN: usize = SIGNED_LEN + MAX_TLV_LEN;
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
    /// Flags (u32), zero in formats 1 and 2.
    pub const FLAGS: usize = 12;
    /// Image version (8 bytes).
    pub const VERSION: usize = 16;
    /// Security counter (u32).
    pub const SECURITY_COUNTER: usize = 24;
    /// Length of the protected TLV area (u16): 1..=256 in format 2, zero in format 1.
    pub const TLV_LEN: usize = 28;
    /// Reserved (u16), zero.
    pub const RESERVED: usize = 30;
    /// Load address (u64): where the image must be when it runs.
    pub const LOAD_ADDR: usize = 32;
    /// Entry offset (u64): the entry point (or vector table) relative to the load address.
    pub const ENTRY: usize = 40;
    /// SHA-256 of the image bytes (32 bytes).
    pub const IMAGE_HASH: usize = 48;
    /// Key id: the first 8 bytes of SHA-256 of the signing public key.
    pub const KEY_ID: usize = 80;
    /// ed25519 signature over bytes 0..88 followed by the TLV area (64 bytes).
    pub const SIGNATURE: usize = 88;
    /// The protected TLV area (format 2), `TLV_LEN` bytes.
    pub const TLVS: usize = 152;
}

/// Bytes of a variable-length encoding (a header, or the message a signature covers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoded<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Encoded<N> {
    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl<const N: usize> AsRef<[u8]> for Encoded<N> {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<const N: usize> core::ops::Deref for Encoded<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
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
    /// The ed25519 signature over [`SlotHeader::signed_bytes`].
    pub signature: [u8; 64],
    /// The protected TLV area (empty in format 1).
    pub tlvs: Tlvs,
}

impl SlotHeader {
    /// The format this header is written in: 1 without TLVs, 2 with.
    pub fn format(&self) -> u16 {
        if self.tlvs.is_empty() {
            HEADER_FORMAT_1
        } else {
            HEADER_FORMAT
        }
    }

    /// Length of the encoded header: [`HEADER_LEN`] plus the TLV area.
    pub fn len(&self) -> usize {
        HEADER_LEN.saturating_add(usize::from(self.tlvs.len()))
    }

    /// Never: a header has at least its fixed part.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The fixed signed bytes (`0..SIGNED_LEN`).
    fn fixed_signed(&self) -> [u8; SIGNED_LEN] {
        let mut b = [0u8; SIGNED_LEN];
        put(&mut b, field::MAGIC, &HEADER_MAGIC.to_le_bytes());
        put(&mut b, field::FORMAT, &self.format().to_le_bytes());
        put(&mut b, field::TLV_LEN, &self.tlvs.len().to_le_bytes());
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

    /// The message the signature covers: bytes `0..SIGNED_LEN` followed by the TLV area.
    pub fn signed_bytes(&self) -> Encoded<MAX_SIGNED_LEN> {
        let mut bytes = [0u8; MAX_SIGNED_LEN];
        put(&mut bytes, 0, &self.fixed_signed());
        put(&mut bytes, SIGNED_LEN, self.tlvs.as_bytes());
        Encoded { bytes, len: SIGNED_LEN.saturating_add(usize::from(self.tlvs.len())) }
    }

    /// Encodes the whole header: the fixed part, then the TLV area.
    pub fn encode(&self) -> Encoded<MAX_HEADER_LEN> {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        put(&mut bytes, 0, &self.fixed_signed());
        put(&mut bytes, field::SIGNATURE, &self.signature);
        put(&mut bytes, field::TLVS, self.tlvs.as_bytes());
        Encoded { bytes, len: self.len() }
    }

    /// Decodes a header from the start of `b` (which must hold the fixed part and the TLV
    /// area; more bytes are ignored). Checks structure only (magic, format, reserved
    /// fields, header size, every TLV); bounds against a slot are checked by
    /// [`SlotHeader::check_bounds`] and the signature by `verify`.
    pub fn decode(b: &[u8]) -> Result<SlotHeader, DecodeError> {
        if b.len() < HEADER_LEN {
            return Err(DecodeError::Length);
        }
        if get_u32(b, field::MAGIC) != Some(HEADER_MAGIC) {
            return Err(DecodeError::Magic);
        }
        let format = get_u16(b, field::FORMAT).ok_or(DecodeError::Length)?;
        if format != HEADER_FORMAT && format != HEADER_FORMAT_1 {
            return Err(DecodeError::UnsupportedVersion(format.min(255) as u8));
        }
        if get_u32(b, field::FLAGS) != Some(0) {
            return Err(DecodeError::Field("flags"));
        }
        if get_u16(b, field::RESERVED) != Some(0) {
            return Err(DecodeError::Field("reserved"));
        }
        // Format 1: no area (its bytes 28..32 were one reserved zero word). Format 2: a
        // non-empty area (an empty one is written as format 1: one encoding per header).
        let tlv_len = usize::from(get_u16(b, field::TLV_LEN).ok_or(DecodeError::Length)?);
        if (format == HEADER_FORMAT_1) != (tlv_len == 0) {
            return Err(DecodeError::Field("tlv_len"));
        }
        let area = field::TLVS.checked_add(tlv_len).and_then(|end| b.get(field::TLVS..end));
        let tlvs = Tlvs::from_bytes(area.ok_or(DecodeError::Length)?)?;
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
            tlvs,
        })
    }

    /// Checks the header against its slot: the header (with its TLV area) fits in the
    /// header area, the image after it in the slot, and the entry offset lies inside the
    /// image (so the stage never hands off to bytes it did not hash).
    pub fn check_bounds(&self, slot_size: u32) -> bool {
        u32::from(self.header_size)
            .checked_add(self.image_len)
            .is_some_and(|end| end <= slot_size && self.image_len > 0)
            && self.len() <= usize::from(self.header_size)
            && self.entry < u64::from(self.image_len)
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
            tlvs: Tlvs::EMPTY,
        }
    }

    #[test]
    fn round_trip_and_bounds() {
        let h = sample();
        assert_eq!(SlotHeader::decode(&h.encode()), Ok(h));
        assert_eq!(h.encode().len(), HEADER_LEN);
        assert_eq!(h.format(), HEADER_FORMAT_1);
        assert!(h.check_bounds(0x400 + 1000));
        assert!(!h.check_bounds(0x400 + 999));
        let mut big = h;
        big.image_len = u32::MAX;
        assert!(!big.check_bounds(u32::MAX));
    }

    #[test]
    fn structural_errors() {
        let e = sample().encode();
        let mut b = [0u8; HEADER_LEN];
        b.copy_from_slice(&e);
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
        // Format 1 with a TLV length, format 2 without one.
        let mut c = b;
        c[field::TLV_LEN] = 2;
        assert_eq!(SlotHeader::decode(&c), Err(DecodeError::Field("tlv_len")));
        let mut c = b;
        c[field::FORMAT] = 2;
        assert_eq!(SlotHeader::decode(&c), Err(DecodeError::Field("tlv_len")));
        let mut c = b;
        c[field::FORMAT] = 3;
        assert_eq!(SlotHeader::decode(&c), Err(DecodeError::UnsupportedVersion(3)));
    }

    #[test]
    fn format_2_carries_the_tlv_area_under_the_signature() {
        let mut h = sample();
        h.tlvs.push(crate::tlv::tag::COMPATIBLE, b"acme,widget").unwrap();
        h.tlvs.push(crate::tlv::tag::REVOKE_BELOW, &[2]).unwrap();
        let e = h.encode();
        assert_eq!(h.format(), HEADER_FORMAT);
        assert_eq!(e.len(), HEADER_LEN + 16);
        assert_eq!(&e[field::TLVS..], h.tlvs.as_bytes());
        assert_eq!(SlotHeader::decode(&e), Ok(h));
        // The signed message is the fixed signed part, then the area.
        let m = h.signed_bytes();
        assert_eq!(&m[..SIGNED_LEN], &e[..SIGNED_LEN]);
        assert_eq!(&m[SIGNED_LEN..], h.tlvs.as_bytes());
        // Cut short: the area is missing.
        assert_eq!(SlotHeader::decode(&e[..e.len() - 1]), Err(DecodeError::Length));
        // A bad entry inside the area.
        let mut c = [0u8; HEADER_LEN + 16];
        c.copy_from_slice(&e);
        c[field::TLVS] = 0x05;
        assert!(SlotHeader::decode(&c).is_err());
        // Bounds: the header must fit in its area.
        let mut small = h;
        small.header_size = 0x100;
        assert!(small.check_bounds(0x100 + 1000));
        let mut big = h;
        big.tlvs = crate::tlv::Tlvs::from_bytes(
            &[
                0x81, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0x90, 100,
            ]
            .iter()
            .copied()
            .chain([0u8; 100])
            .collect::<std::vec::Vec<u8>>(),
        )
        .unwrap();
        big.header_size = 0x100;
        assert!(!big.check_bounds(0x100 + 1000));
    }
}
