//! Building signed slot images (host side, `std` feature): header + padding + image.
//!
//! The image tool, the tests and the rigs all build slot images through this one
//! function, so what they sign is byte for byte what `verify` checks.

use std::vec::Vec;

use ed25519_compact::KeyPair;
use sha2::{Digest, Sha256};

use crate::header::{SlotHeader, HEADER_LEN, MIN_HEADER_SIZE};
use crate::tlv::Tlvs;
use crate::verify::key_id;
use crate::version::Version;

/// What goes into a header besides the image itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignParams {
    /// Header area size (the layout's `header_size` for the slot).
    pub header_size: u16,
    /// Where the image runs from.
    pub load_addr: u64,
    /// Entry offset from the load address.
    pub entry: u64,
    /// Image version.
    pub version: Version,
    /// Anti-rollback security counter.
    pub security_counter: u32,
    /// The protected TLVs (signed metadata: compatible, revoke-below, requires-version,
    /// build digest); empty for a format-1 header.
    pub tlvs: Tlvs,
}

/// Why an image could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageError {
    /// The header size is not a power of two of at least 256 bytes.
    HeaderSize,
    /// The image is empty or larger than 4 GiB.
    ImageLength,
    /// The header with its TLV area does not fit in the header area.
    HeaderTooLong {
        /// Fixed header plus TLV area.
        needed: usize,
        /// The header area size.
        header_size: u16,
    },
    /// The slot image would not fit in `slot_size`.
    TooLarge {
        /// Header plus image.
        needed: u64,
        /// The slot's size.
        slot_size: u32,
    },
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ImageError::HeaderSize => f.write_str("header size must be a power of two of at least 256 bytes"),
            ImageError::ImageLength => f.write_str("image must be 1 byte to 4 GiB long"),
            ImageError::HeaderTooLong { needed, header_size } => write!(
                f,
                "the header with its TLVs needs {needed} bytes but the header area is {header_size}: \
                 use fewer TLVs or a larger header_size"
            ),
            ImageError::TooLarge { needed, slot_size } => {
                write!(f, "header + image need {needed} bytes but the slot holds {slot_size}")
            }
        }
    }
}

impl core::error::Error for ImageError {}

/// A header area size a slot image may have: a power of two of at least
/// [`MIN_HEADER_SIZE`] (which holds the [`HEADER_LEN`]-byte header).
fn header_size_ok(header_size: u16) -> bool {
    u32::from(header_size) >= MIN_HEADER_SIZE && header_size.is_power_of_two() && usize::from(header_size) >= HEADER_LEN
}

/// SHA-256 of `bytes`: the digest the header carries for the image (and the one a signing
/// ceremony shows for the bytes to sign).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut d = [0u8; 32];
    d.copy_from_slice(&Sha256::digest(bytes));
    d
}

/// The header [`sign_header`] makes for `image` and the key whose public half is
/// `public_key`, but with an all-zero signature. Its [`SlotHeader::signed_bytes`] are
/// exactly the bytes that key signs, so a signer that never hands out its private key (an
/// HSM, a KMS) can sign them; set the 64-byte result as the header's `signature`.
pub fn unsigned_header(params: &SignParams, image: &[u8], public_key: &[u8; 32]) -> Result<SlotHeader, ImageError> {
    if !header_size_ok(params.header_size) {
        return Err(ImageError::HeaderSize);
    }
    let image_len = u32::try_from(image.len()).map_err(|_| ImageError::ImageLength)?;
    if image_len == 0 {
        return Err(ImageError::ImageLength);
    }
    let h = SlotHeader {
        header_size: params.header_size,
        image_len,
        version: params.version,
        security_counter: params.security_counter,
        load_addr: params.load_addr,
        entry: params.entry,
        image_hash: sha256(image),
        key_id: key_id(public_key),
        signature: [0; 64],
        tlvs: params.tlvs,
    };
    if h.len() > usize::from(params.header_size) {
        return Err(ImageError::HeaderTooLong { needed: h.len(), header_size: params.header_size });
    }
    Ok(h)
}

/// The signed header for `image`: [`unsigned_header`] signed with `key`.
pub fn sign_header(params: &SignParams, image: &[u8], key: &KeyPair) -> Result<SlotHeader, ImageError> {
    let mut h = unsigned_header(params, image, &key.pk)?;
    // ed25519 is deterministic: the same header and key always give the same signature.
    h.signature = *key.sk.sign(h.signed_bytes(), None);
    Ok(h)
}

/// The complete slot image: header, 0xFF padding up to `header_size`, image. Checked
/// against `slot_size`.
pub fn build_slot_image(
    params: &SignParams,
    image: &[u8],
    key: &KeyPair,
    slot_size: u32,
) -> Result<Vec<u8>, ImageError> {
    let header = sign_header(params, image, key)?;
    assemble_slot_image(&header, image, slot_size)
}

/// The slot image around a header already made (by [`sign_header`], or by
/// [`unsigned_header`] with or without its signature set): the encoded header, 0xFF
/// padding up to the header's `header_size`, then `image`, which must be `image_len`
/// bytes long. Checked against `slot_size`. Signs and checks no signature.
pub fn assemble_slot_image(header: &SlotHeader, image: &[u8], slot_size: u32) -> Result<Vec<u8>, ImageError> {
    if !header_size_ok(header.header_size) {
        return Err(ImageError::HeaderSize);
    }
    if header.len() > usize::from(header.header_size) {
        return Err(ImageError::HeaderTooLong { needed: header.len(), header_size: header.header_size });
    }
    if image.is_empty() || u32::try_from(image.len()) != Ok(header.image_len) {
        return Err(ImageError::ImageLength);
    }
    let needed = u64::from(header.header_size).saturating_add(image.len() as u64);
    if needed > u64::from(slot_size) {
        return Err(ImageError::TooLarge { needed, slot_size });
    }
    let mut out = Vec::with_capacity(needed as usize);
    out.extend_from_slice(&header.encode());
    out.resize(usize::from(header.header_size), 0xFF);
    out.extend_from_slice(image);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_compact::Seed;

    fn params() -> SignParams {
        SignParams {
            header_size: 0x400,
            load_addr: 0x2101_0400,
            entry: 0,
            version: Version { major: 1, minor: 2, revision: 3, build: 4 },
            security_counter: 7,
            tlvs: Tlvs::EMPTY,
        }
    }

    /// Signing the unsigned header's signed bytes elsewhere gives what `sign_header` gives,
    /// and assembling either header gives `build_slot_image`'s bytes.
    #[test]
    fn an_unsigned_header_signed_later_is_the_signed_header() {
        let key = KeyPair::from_seed(Seed::new([42; 32]));
        let image = [0x5Au8; 1000];
        let mut h = unsigned_header(&params(), &image, &key.pk).unwrap();
        assert_eq!(h.signature, [0; 64]);
        assert_eq!(h.key_id, key_id(&key.pk));
        assert_eq!(h.image_hash, sha256(&image));
        h.signature = *key.sk.sign(h.signed_bytes(), None);
        assert_eq!(h, sign_header(&params(), &image, &key).unwrap());
        assert_eq!(
            assemble_slot_image(&h, &image, 0x800).unwrap(),
            build_slot_image(&params(), &image, &key, 0x800).unwrap()
        );
    }

    #[test]
    fn assembling_checks_the_image_against_the_header() {
        let key = KeyPair::from_seed(Seed::new([42; 32]));
        let image = [0x5Au8; 1000];
        let h = unsigned_header(&params(), &image, &key.pk).unwrap();
        assert_eq!(assemble_slot_image(&h, &image[..999], 0x800), Err(ImageError::ImageLength));
        assert_eq!(assemble_slot_image(&h, &[], 0x800), Err(ImageError::ImageLength));
        assert_eq!(
            assemble_slot_image(&h, &image, 0x7E7),
            Err(ImageError::TooLarge { needed: 0x7E8, slot_size: 0x7E7 })
        );
        assert_eq!(
            unsigned_header(&SignParams { header_size: 0x300, ..params() }, &image, &key.pk),
            Err(ImageError::HeaderSize)
        );
        assert_eq!(unsigned_header(&params(), &[], &key.pk), Err(ImageError::ImageLength));
        // A TLV area that does not fit in a 256-byte header area.
        let mut tlvs = Tlvs::EMPTY;
        tlvs.push(crate::tlv::tag::COMPATIBLE, &[b'x'; 64]).unwrap();
        tlvs.push(crate::tlv::tag::BUILD_DIGEST, &[0; 32]).unwrap();
        tlvs.push(0x90, &[0; 100]).unwrap();
        assert_eq!(
            unsigned_header(&SignParams { header_size: 0x100, tlvs, ..params() }, &image, &key.pk),
            Err(ImageError::HeaderTooLong { needed: 152 + 66 + 34 + 102, header_size: 0x100 })
        );
    }
}
