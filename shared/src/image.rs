//! Building signed slot images (host side, `std` feature): header + padding + image.
//!
//! The image tool, the tests and the rigs all build slot images through this one
//! function, so what they sign is byte for byte what `verify` checks.

use std::vec::Vec;

use ed25519_compact::KeyPair;
use sha2::{Digest, Sha256};

use crate::header::{SlotHeader, HEADER_LEN, MIN_HEADER_SIZE};
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
}

/// Why an image could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageError {
    /// The header size is not a power of two of at least 256 bytes.
    HeaderSize,
    /// The image is empty or larger than 4 GiB.
    ImageLength,
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
            ImageError::TooLarge { needed, slot_size } => {
                write!(f, "header + image need {needed} bytes but the slot holds {slot_size}")
            }
        }
    }
}

impl core::error::Error for ImageError {}

/// The signed header for `image`.
pub fn sign_header(params: &SignParams, image: &[u8], key: &KeyPair) -> Result<SlotHeader, ImageError> {
    if u32::from(params.header_size) < MIN_HEADER_SIZE
        || !params.header_size.is_power_of_two()
        || usize::from(params.header_size) < HEADER_LEN
    {
        return Err(ImageError::HeaderSize);
    }
    let image_len = u32::try_from(image.len()).map_err(|_| ImageError::ImageLength)?;
    if image_len == 0 {
        return Err(ImageError::ImageLength);
    }
    let mut image_hash = [0u8; 32];
    image_hash.copy_from_slice(&Sha256::digest(image));
    let mut h = SlotHeader {
        header_size: params.header_size,
        image_len,
        version: params.version,
        security_counter: params.security_counter,
        load_addr: params.load_addr,
        entry: params.entry,
        image_hash,
        key_id: key_id(&key.pk),
        signature: [0; 64],
    };
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
    let needed = u64::from(params.header_size).saturating_add(image.len() as u64);
    if needed > u64::from(slot_size) {
        return Err(ImageError::TooLarge { needed, slot_size });
    }
    let mut out = Vec::with_capacity(needed as usize);
    out.extend_from_slice(&header.encode());
    out.resize(usize::from(params.header_size), 0xFF);
    out.extend_from_slice(image);
    Ok(out)
}
