//! Building and checking slot images: the input (ELF or raw binary) becomes
//! header + 0xFF padding + image, signed with ed25519; a file is verified with
//! the shared verifier, exactly as the boot stage verifies a slot.
//!
//! The slot image itself is built by [`safeslot_shared::image::build_slot_image`]
//! (which encodes the header with `SlotHeader::signed_bytes`/`encode`): this
//! crate only chooses the parameters and never lays out header fields itself.

use std::path::Path;

use ed25519_compact::KeyPair;
use safeslot_shared::image::{self as shared_image, ImageError};
use safeslot_shared::policy::Admission;
use safeslot_shared::tlv::Tlvs;
use safeslot_shared::verify::{self, Trust, Verified};
use safeslot_shared::Version;

use crate::flash::SliceFlash;
use crate::slot::SlotTarget;
use crate::{elf, Error};

/// What goes into the header besides the image and the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignParams {
    /// Image version.
    pub version: Version,
    /// Anti-rollback security counter.
    pub security_counter: u32,
    /// Entry point offset from the load address (0: a Cortex-M vector table).
    pub entry: u64,
    /// The protected TLVs (signed metadata); empty: a format-1 header.
    pub tlvs: Tlvs,
}

/// The protected TLVs every image for `layout`'s board carries: its `[image] compatible`
/// (none when the layout names none).
///
/// # Errors
///
/// [`Error::Slot`] if the identifier cannot be carried (the layout validates it already).
pub fn board_tlvs(layout: &safeslot_layout::Layout) -> Result<Tlvs, Error> {
    let mut tlvs = Tlvs::EMPTY;
    if let Some(c) = &layout.image_rules().compatible {
        tlvs.push(safeslot_shared::tlv::tag::COMPATIBLE, c.as_bytes())
            .map_err(|e| Error::Slot(format!("[image] compatible {c:?}: {e}")))?;
    }
    Ok(tlvs)
}

/// Reads the image to sign from `bytes`: an ELF (by its magic) is flattened
/// for `target` ([`elf::flatten`]); anything else is taken as a raw binary
/// that starts at the image address.
///
/// # Errors
///
/// [`Error::Elf`], [`Error::EmptyImage`] or [`Error::TooLarge`].
pub fn load_image(path: &Path, bytes: Vec<u8>, target: &SlotTarget) -> Result<Vec<u8>, Error> {
    let image = if elf::is_elf(&bytes) { elf::flatten(path, &bytes, target)? } else { bytes };
    if image.is_empty() {
        return Err(Error::EmptyImage { path: path.to_path_buf() });
    }
    check_fits(image.len(), target)?;
    Ok(image)
}

/// `len` as a `u32` when an image of that length fits `target`.
pub(crate) fn check_fits(len: usize, target: &SlotTarget) -> Result<u32, Error> {
    let max = target.max_image_len();
    match u32::try_from(len) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(Error::TooLarge {
            len: len as u64,
            max: u64::from(max),
            header_size: target.header_size(),
            slot: target.to_string(),
        }),
    }
}

/// Builds the signed slot image with [`shared_image::build_slot_image`]: the
/// encoded header, 0xFF up to the header size, then `image`. The result is a
/// deterministic function of the inputs (ed25519 signatures are deterministic),
/// and is checked with the shared verifier before it is returned.
///
/// # Errors
///
/// [`Error::EmptyImage`]/[`Error::TooLarge`] for an image that does not fit,
/// [`Error::Entry`] for an entry offset outside the image, and
/// [`Error::Verify`] if the result does not verify (a bug).
pub fn sign(image: &[u8], target: &SlotTarget, key: &KeyPair, params: SignParams) -> Result<Vec<u8>, Error> {
    let shared_params = header_params(image, target, params)?;
    let out = shared_image::build_slot_image(&shared_params, image, key, target.size())
        .map_err(|e| image_error(e, image.len(), target))?;
    let trust = Trust { keys: &[*key.pk], compatible: params.tlvs.compatible() };
    verify_bytes(Path::new("<signed image>"), &out, target, &trust, &Admission::default(), false)?;
    Ok(out)
}

/// The header parameters for `image` in `target`, checked as [`sign`] documents: the
/// image fits, is not empty, and the entry offset lies inside it.
pub(crate) fn header_params(
    image: &[u8],
    target: &SlotTarget,
    params: SignParams,
) -> Result<shared_image::SignParams, Error> {
    let image_len = check_fits(image.len(), target)?;
    if image_len == 0 {
        return Err(Error::EmptyImage { path: "<image>".into() });
    }
    if params.entry >= u64::from(image_len) {
        return Err(Error::Entry { entry: params.entry, len: image_len });
    }
    let header_size = u16::try_from(target.header_size())
        .map_err(|_| Error::Slot(format!("header size {:#x} does not fit the header field", target.header_size())))?;
    Ok(shared_image::SignParams {
        header_size,
        load_addr: target.image_address(),
        entry: params.entry,
        version: params.version,
        security_counter: params.security_counter,
        tlvs: params.tlvs,
    })
}

/// The [`Error`] for an [`ImageError`] building an image of `len` bytes for `target`.
pub(crate) fn image_error(e: ImageError, len: usize, target: &SlotTarget) -> Error {
    match e {
        // Both checked by `header_params` with better messages; kept for completeness.
        ImageError::TooLarge { .. } | ImageError::ImageLength => Error::TooLarge {
            len: len as u64,
            max: u64::from(target.max_image_len()),
            header_size: target.header_size(),
            slot: target.to_string(),
        },
        other => Error::Slot(other.to_string()),
    }
}

/// Verifies `bytes` as the content of `target` (header at offset 0) for a board that
/// trusts `trust` (its keys, by index, and its compatible identifier), on a device in the
/// state `admission` (its floors and confirmed version; `trial`: the image would boot
/// unconfirmed): the boot stage's checks, with [`verify::verify_bootable`] (the one
/// function `safeslotctl verify` runs too).
///
/// # Errors
///
/// [`Error::Verify`] with the [`safeslot_shared::Reason`].
pub fn verify_bytes(
    path: &Path,
    bytes: &[u8],
    target: &SlotTarget,
    trust: &Trust<'_>,
    admission: &Admission,
    trial: bool,
) -> Result<Verified, Error> {
    let mut flash = SliceFlash::new(bytes);
    verify::verify_bootable(&mut flash, target.file_region(), trust, admission, trial)
        .map_err(|reason| Error::Verify { path: path.to_path_buf(), reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use safeslot_shared::header::{field, SlotHeader, HEADER_LEN};
    use safeslot_shared::Reason;

    fn slot() -> SlotTarget {
        SlotTarget::new(Some("a".into()), 0x2100_0000, 0x10000, 0x4000, 0x400).unwrap()
    }

    fn params() -> SignParams {
        SignParams { version: Version::parse("1.2.3+4").unwrap(), security_counter: 7, entry: 0, tlvs: Tlvs::EMPTY }
    }

    fn key() -> KeyPair {
        KeyPair::from_seed(ed25519_compact::Seed::new([42; 32]))
    }

    #[test]
    fn signs_a_verifiable_deterministic_image() {
        let image: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let out = sign(&image, &slot(), &key(), params()).unwrap();
        assert_eq!(out.len(), 0x400 + 1000);
        assert!(out[HEADER_LEN..0x400].iter().all(|&b| b == 0xFF));
        assert_eq!(&out[0x400..], &image[..]);
        let h = SlotHeader::decode(&out).unwrap();
        assert_eq!(h.load_addr, 0x2101_0400);
        assert_eq!(h.header_size, 0x400);
        assert_eq!(h.image_len, 1000);
        assert_eq!(h.version.to_string(), "1.2.3+4");
        assert_eq!(h.security_counter, 7);
        assert_eq!(sign(&image, &slot(), &key(), params()).unwrap(), out);

        let none = Admission::default();
        let v = verify_bytes(Path::new("f"), &out, &slot(), &Trust::keys(&[*key().pk]), &none, false).unwrap();
        assert_eq!(v.header, h);
        let reason = |b: &[u8], keys: &[[u8; 32]]| match verify_bytes(
            Path::new("f"),
            b,
            &slot(),
            &Trust::keys(keys),
            &none,
            false,
        ) {
            Err(Error::Verify { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        let other = KeyPair::from_seed(ed25519_compact::Seed::new([1; 32]));
        assert_eq!(reason(&out, &[*other.pk]), Reason::UnknownKey);
        let mut t = out.clone();
        t[field::SECURITY_COUNTER] ^= 1;
        assert_eq!(reason(&t, &[*key().pk]), Reason::BadSignature);
        let mut t = out.clone();
        t[0x400 + 500] ^= 1;
        assert_eq!(reason(&t, &[*key().pk]), Reason::BadHash);
        assert_eq!(reason(&out[..out.len() - 1], &[*key().pk]), Reason::FlashError);
        let b = SlotTarget::new(Some("b".into()), 0x2100_0000, 0x14000, 0x4000, 0x400).unwrap();
        assert!(matches!(
            verify_bytes(Path::new("f"), &out, &b, &Trust::keys(&[*key().pk]), &none, false),
            Err(Error::Verify { reason: Reason::WrongAddress, .. })
        ));
    }

    #[test]
    fn signed_metadata_binds_the_product_and_revokes_keys() {
        use safeslot_shared::tlv::tag;
        let image = [0x11u8; 300];
        let mut tlvs = Tlvs::EMPTY;
        tlvs.push(tag::COMPATIBLE, b"acme,widget-2").unwrap();
        tlvs.push(tag::REVOKE_BELOW, &[1]).unwrap();
        let out = sign(&image, &slot(), &key(), SignParams { tlvs, ..params() }).unwrap();
        let h = SlotHeader::decode(&out).unwrap();
        assert_eq!((h.format(), h.tlvs.compatible(), h.tlvs.revoke_below()), (2, Some(&b"acme,widget-2"[..]), 1));
        let old = KeyPair::from_seed(ed25519_compact::Seed::new([1; 32]));
        let keys = [*old.pk, *key().pk];
        let check = |compatible: Option<&[u8]>, key_floor: u8| {
            let a = Admission { key_floor, ..Admission::default() };
            verify_bytes(Path::new("f"), &out, &slot(), &Trust { keys: &keys, compatible }, &a, false)
                .map(|v| v.key_index)
        };
        assert_eq!(check(Some(b"acme,widget-2"), 1).unwrap(), 1);
        assert!(matches!(check(Some(b"acme,widget-3"), 0), Err(Error::Verify { reason: Reason::Incompatible, .. })));
        assert!(matches!(check(None, 0), Err(Error::Verify { reason: Reason::Incompatible, .. })));
        assert!(matches!(check(Some(b"acme,widget-2"), 2), Err(Error::Verify { reason: Reason::RevokedKey, .. })));
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let max = slot().max_image_len() as usize;
        assert!(sign(&vec![0; max], &slot(), &key(), params()).is_ok());
        let e = sign(&vec![0; max + 1], &slot(), &key(), params()).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("slot a holds at most 15360 bytes"), "{e}");
        assert!(matches!(sign(&[], &slot(), &key(), params()), Err(Error::EmptyImage { .. })));
        let p = SignParams { entry: 4, ..params() };
        assert!(matches!(sign(&[0; 4], &slot(), &key(), p), Err(Error::Entry { .. })));
    }
}
