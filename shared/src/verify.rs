//! Image verification: header signature plus the image's SHA-256, streamed from flash.
//!
//! The same function runs in the boot stage, in the Linux agent (`safeslotctl verify`)
//! and in the image tool (`safeslot-image verify`). It reads the header, checks it against
//! the slot, finds the signing key by its id, checks the ed25519 signature over the signed
//! header bytes, then hashes the image in [`CHUNK`]-byte reads: memory use is constant,
//! whatever the image size.

use ed25519_compact::{PublicKey, Signature};
use embedded_storage::nor_flash::ReadNorFlash;
use sha2::{Digest, Sha256};

use crate::header::{SlotHeader, HEADER_LEN, SIGNED_LEN};
use crate::policy::{ImageInfo, Verdict};
use crate::reason::Reason;

/// Bytes read per hashing step.
pub const CHUNK: usize = 512;

/// A slot's place in flash, as the verifier needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SlotRegion {
    /// Offset of the slot in the flash device.
    pub offset: u32,
    /// Size of the slot.
    pub size: u32,
    /// The header area size the layout reserves for this slot.
    pub header_size: u32,
    /// The address the image must carry as its load address (`None`: not checked, for
    /// images that are copied before running).
    pub load_addr: Option<u64>,
}

/// The key id of a public key: the first 8 bytes of its SHA-256.
pub fn key_id(public_key: &[u8; 32]) -> [u8; 8] {
    let d = Sha256::digest(public_key);
    let mut id = [0u8; 8];
    id.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    id
}

/// What a successful verification established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Verified {
    /// The authenticated header.
    pub header: SlotHeader,
    /// The index (in the trusted key list) of the key that signed it.
    pub key_index: usize,
}

/// Verifies the image in `slot` against the trusted `keys`.
pub fn verify_slot<F: ReadNorFlash>(flash: &mut F, slot: SlotRegion, keys: &[[u8; 32]]) -> Result<Verified, Reason> {
    verify_slot_with(flash, slot, keys, &mut || {})
}

/// [`verify_slot`], calling `tick` once per hashed chunk (boards feed their watchdog there).
pub fn verify_slot_with<F: ReadNorFlash>(
    flash: &mut F,
    slot: SlotRegion,
    keys: &[[u8; 32]],
    tick: &mut dyn FnMut(),
) -> Result<Verified, Reason> {
    let mut hb = [0u8; HEADER_LEN];
    flash.read(slot.offset, &mut hb).map_err(|_| Reason::FlashError)?;
    if hb.iter().all(|&b| b == 0xFF) {
        return Err(Reason::NoImage);
    }
    let header = SlotHeader::decode(&hb).map_err(|e| match e {
        crate::DecodeError::Magic => Reason::NoImage,
        _ => Reason::BadHeader,
    })?;
    if u32::from(header.header_size) != slot.header_size || !header.check_bounds(slot.size) {
        return Err(Reason::ImageBounds);
    }
    if slot.load_addr.is_some_and(|a| a != header.load_addr) {
        return Err(Reason::WrongAddress);
    }
    let key_index = keys.iter().position(|k| key_id(k) == header.key_id).ok_or(Reason::UnknownKey)?;
    let key = keys.get(key_index).ok_or(Reason::UnknownKey)?;
    let pk = PublicKey::new(*key);
    let sig = Signature::from_slice(&header.signature).map_err(|_| Reason::BadSignature)?;
    pk.verify(hb.get(..SIGNED_LEN).ok_or(Reason::BadHeader)?, &sig).map_err(|_| Reason::BadSignature)?;

    let digest = hash_image(flash, slot.offset, u32::from(header.header_size), header.image_len, tick)?;
    if digest != header.image_hash {
        return Err(Reason::BadHash);
    }
    Ok(Verified { header, key_index })
}

/// SHA-256 of `len` bytes starting `header_size` bytes into the slot at `offset`,
/// read in [`CHUNK`]-byte pieces, calling `tick` after each.
pub fn hash_image<F: ReadNorFlash>(
    flash: &mut F,
    offset: u32,
    header_size: u32,
    len: u32,
    tick: &mut dyn FnMut(),
) -> Result<[u8; 32], Reason> {
    let mut at = offset.checked_add(header_size).ok_or(Reason::ImageBounds)?;
    let end = at.checked_add(len).ok_or(Reason::ImageBounds)?;
    let mut h = Sha256::new();
    let mut buf = [0u8; CHUNK];
    // Bounded: each pass advances `at` by at least one byte (len > 0 checked by bounds).
    while at < end {
        let n = (end.saturating_sub(at) as usize).min(CHUNK);
        let part = buf.get_mut(..n).ok_or(Reason::Internal)?;
        flash.read(at, part).map_err(|_| Reason::FlashError)?;
        h.update(&*part);
        tick();
        at = at.saturating_add(n as u32);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&h.finalize());
    Ok(out)
}

/// [`verify_slot`] as the policy's [`Verdict`].
pub fn verdict<F: ReadNorFlash>(flash: &mut F, slot: SlotRegion, keys: &[[u8; 32]]) -> Verdict {
    match verify_slot(flash, slot, keys) {
        Ok(v) => Verdict::Valid(ImageInfo { version: v.header.version, security_counter: v.header.security_counter }),
        Err(r) => Verdict::Invalid(r),
    }
}
