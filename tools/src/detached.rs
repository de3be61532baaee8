//! Signing with a key the build machine never holds (an HSM, a KMS, an offline signer),
//! in two steps around the signer.
//!
//! [`prepare`] builds the slot image with an all-zero signature for the signer's
//! *public* key (its key id goes into the header) and returns the bytes that key must
//! sign: the header's signed part followed by its protected TLVs,
//! [`SlotHeader::signed_bytes`]. The signer signs them
//! with plain ed25519 (no pre-hashing: `openssl pkeyutl -sign -rawin`). [`attach`] puts the
//! detached 64-byte signature into the header and runs the boot stage's verifier over the
//! result before returning it, so it never hands back an image the stage would refuse.
//!
//! The header is the one [`crate::sign`] makes (both come from
//! [`safeslot_shared::image::unsigned_header`]) and ed25519 signatures are deterministic,
//! so the result is byte for byte what `sign` makes with the private key.

use std::path::Path;

use ed25519_compact::PublicKey;
use safeslot_shared::header::SlotHeader;
use safeslot_shared::image as shared_image;
use safeslot_shared::policy::Admission;
use safeslot_shared::verify::Trust;
use safeslot_shared::Reason;

use crate::image::{header_params, image_error, verify_bytes, SignParams};
use crate::keys::{hex, key_id};
use crate::slot::SlotTarget;
use crate::Error;

/// Length of a detached ed25519 signature: 64 raw bytes.
pub const SIGNATURE_LEN: usize = 64;

/// What [`prepare`] makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The slot image with an all-zero signature: header, 0xFF padding, image.
    pub unsigned: Vec<u8>,
    /// The bytes the signer signs: the unsigned header's signed part, then its TLVs.
    pub to_sign: Vec<u8>,
    /// The unsigned header (its key id is the public key's).
    pub header: SlotHeader,
}

/// What [`attach`] makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The signed slot image, verified.
    pub image: Vec<u8>,
    /// Its header, authenticated by the verifier.
    pub header: SlotHeader,
}

/// Builds the unsigned slot image of `image` for `target` and the key `public_key`, and
/// the bytes to sign. The checks are [`crate::sign`]'s.
///
/// # Errors
///
/// As [`crate::sign`]: [`Error::EmptyImage`], [`Error::TooLarge`], [`Error::Entry`].
pub fn prepare(
    image: &[u8],
    target: &SlotTarget,
    public_key: &PublicKey,
    params: SignParams,
) -> Result<Prepared, Error> {
    let shared_params = header_params(image, target, params)?;
    let build = || {
        let header = shared_image::unsigned_header(&shared_params, image, public_key)?;
        let unsigned = shared_image::assemble_slot_image(&header, image, target.size())?;
        Ok((header, unsigned))
    };
    let (header, unsigned) = build().map_err(|e| image_error(e, image.len(), target))?;
    Ok(Prepared { unsigned, to_sign: header.signed_bytes().to_vec(), header })
}

/// Puts the detached `signature` into the header of `unsigned` (an unsigned slot image as
/// [`prepare`] writes it, read from `unsigned_path`) and returns the signed slot image,
/// after checking it with the boot stage's verifier as the content of `target`, trusting
/// only `public_key`.
///
/// # Errors
///
/// - [`Error::Signature`]: the signature is not 64 bytes, or it does not verify (it
///   was made over other bytes, or with another private key);
/// - [`Error::Header`]: `unsigned` does not start with a slot header;
/// - [`Error::Unsigned`]: `unsigned` is not byte for byte what `prepare` writes (it
///   already has a signature, its length or padding differ), or was prepared for
///   another key;
/// - [`Error::Verify`]: any other reason the stage would refuse the result, such as the
///   image bytes changed since `prepare` (`bad-hash`) or another slot (`wrong-address`).
pub fn attach(
    unsigned_path: &Path,
    unsigned: &[u8],
    signature_path: &Path,
    signature: &[u8],
    target: &SlotTarget,
    public_key: &PublicKey,
) -> Result<Attached, Error> {
    let signature = <[u8; SIGNATURE_LEN]>::try_from(signature).map_err(|_| Error::Signature {
        path: signature_path.to_path_buf(),
        reason: format!(
            "{} bytes; a detached ed25519 signature is {SIGNATURE_LEN} raw bytes (not hex, base64 or DER), \
             as `openssl pkeyutl -sign -rawin` writes it",
            signature.len()
        ),
    })?;
    let unsigned_error = |reason: String| Error::Unsigned { path: unsigned_path.to_path_buf(), reason };
    let mut header =
        SlotHeader::decode(unsigned).map_err(|source| Error::Header { path: unsigned_path.to_path_buf(), source })?;
    if header.signature != [0; SIGNATURE_LEN] {
        return Err(unsigned_error(
            "its header already carries a signature: attach takes the unsigned image `prepare` wrote".into(),
        ));
    }
    let expected_id = key_id(public_key);
    if header.key_id != expected_id {
        return Err(unsigned_error(format!(
            "prepared for the key with id {}, but the given key's id is {}",
            hex(&header.key_id),
            hex(&expected_id)
        )));
    }
    let header_size = usize::from(header.header_size);
    let expected_len = header_size + header.image_len as usize;
    if unsigned.len() != expected_len {
        return Err(unsigned_error(format!(
            "{} bytes, but its header says {expected_len} ({header_size:#x}-byte header area + {}-byte image): \
             cut short or extended since `prepare`",
            unsigned.len(),
            header.image_len
        )));
    }
    let header_len = header.len();
    if unsigned.get(header_len..header_size).is_none_or(|pad| pad.iter().any(|&b| b != 0xFF)) {
        return Err(unsigned_error(format!(
            "bytes {header_len:#x}..{header_size:#x} between the header and the image are not all 0xFF: \
             changed since `prepare`"
        )));
    }
    header.signature = signature;
    let mut out = unsigned.to_vec();
    out[..header_len].copy_from_slice(&header.encode());
    let trust = Trust { keys: &[**public_key], compatible: header.tlvs.compatible() };
    match verify_bytes(unsigned_path, &out, target, &trust, &Admission::default(), false) {
        Ok(v) => Ok(Attached { image: out, header: v.header }),
        Err(Error::Verify { reason: Reason::BadSignature, .. }) => Err(Error::Signature {
            path: signature_path.to_path_buf(),
            reason: format!(
                "does not verify with the key with id {}: it was made over other bytes than this image's \
                 bytes to sign (another `prepare`, or a header changed since), or with another private key",
                hex(&expected_id)
            ),
        }),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_compact::{KeyPair, Seed};
    use safeslot_shared::header::{field, HEADER_LEN, SIGNED_LEN};
    use safeslot_shared::Version;

    fn slot() -> SlotTarget {
        SlotTarget::new(Some("a".into()), 0x2100_0000, 0x10000, 0x4000, 0x400).unwrap()
    }

    fn params() -> SignParams {
        let mut tlvs = safeslot_shared::tlv::Tlvs::EMPTY;
        tlvs.push(safeslot_shared::tlv::tag::COMPATIBLE, b"acme,widget-2").unwrap();
        SignParams { version: Version::parse("1.2.3+4").unwrap(), security_counter: 7, entry: 0, tlvs }
    }

    fn key() -> KeyPair {
        KeyPair::from_seed(Seed::new([42; 32]))
    }

    fn image() -> Vec<u8> {
        (0..1000u32).map(|i| (i % 251) as u8).collect()
    }

    fn attach_to(unsigned: &[u8], signature: &[u8], target: &SlotTarget, pk: &PublicKey) -> Result<Vec<u8>, Error> {
        attach(Path::new("u"), unsigned, Path::new("s"), signature, target, pk).map(|a| a.image)
    }

    #[test]
    fn prepare_sign_attach_is_sign() {
        let p = prepare(&image(), &slot(), &key().pk, params()).unwrap();
        assert_eq!(p.header.signature, [0; 64]);
        assert_eq!(p.header.key_id, key_id(&key().pk));
        assert_eq!(&p.unsigned[..SIGNED_LEN], &p.to_sign[..SIGNED_LEN]);
        // The protected TLVs follow, signed too.
        assert_eq!(&p.unsigned[HEADER_LEN..p.header.len()], &p.to_sign[SIGNED_LEN..]);
        assert_eq!(p.to_sign.len(), SIGNED_LEN + 15);
        assert!(p.unsigned[field::SIGNATURE..HEADER_LEN].iter().all(|&b| b == 0));
        let signature = key().sk.sign(&p.to_sign, None);
        let out = attach_to(&p.unsigned, &signature[..], &slot(), &key().pk).unwrap();
        assert_eq!(out, crate::sign(&image(), &slot(), &key(), params()).unwrap());
        // Only the signature differs from the unsigned image.
        assert_eq!(&out[..field::SIGNATURE], &p.unsigned[..field::SIGNATURE]);
        assert_eq!(&out[HEADER_LEN..], &p.unsigned[HEADER_LEN..]);
        // The checks are sign's.
        let e = prepare(&image(), &slot(), &key().pk, SignParams { entry: 1000, ..params() }).unwrap_err();
        assert!(matches!(e, Error::Entry { .. }), "{e}");
        assert!(matches!(prepare(&[], &slot(), &key().pk, params()), Err(Error::EmptyImage { .. })));
    }

    #[test]
    fn attach_refuses_what_would_not_verify() {
        let p = prepare(&image(), &slot(), &key().pk, params()).unwrap();
        let good = key().sk.sign(&p.to_sign, None);
        let err = |unsigned: &[u8], signature: &[u8], target: &SlotTarget, pk: &PublicKey| {
            attach_to(unsigned, signature, target, pk).unwrap_err()
        };

        let e = err(&p.unsigned, &good[..63], &slot(), &key().pk);
        assert!(matches!(e, Error::Signature { .. }) && e.to_string().contains("63 bytes"), "{e}");
        // Another key's signature over the right bytes, and the right key over other bytes.
        let other = KeyPair::from_seed(Seed::new([1; 32]));
        let e = err(&p.unsigned, &other.sk.sign(&p.to_sign, None)[..], &slot(), &key().pk);
        assert!(matches!(e, Error::Signature { .. }) && e.to_string().contains("another private key"), "{e}");
        let e = err(&p.unsigned, &key().sk.sign(b"other bytes", None)[..], &slot(), &key().pk);
        assert!(matches!(e, Error::Signature { .. }), "{e}");
        // Prepared for one key, attached with another.
        let e = err(&p.unsigned, &good[..], &slot(), &other.pk);
        assert!(matches!(e, Error::Unsigned { .. }) && e.to_string().contains("prepared for the key"), "{e}");

        // The unsigned image changed after prepare: a header field, an image byte, the
        // padding, its length; or it is signed already.
        let changed = |at: usize| {
            let mut u = p.unsigned.clone();
            u[at] ^= 1;
            err(&u, &good[..], &slot(), &key().pk)
        };
        assert!(matches!(changed(field::SECURITY_COUNTER), Error::Signature { .. }));
        assert!(matches!(changed(HEADER_LEN + 3), Error::Signature { .. }), "a signed TLV byte");
        assert!(matches!(changed(0x400 + 500), Error::Verify { reason: Reason::BadHash, .. }));
        assert!(matches!(changed(0x200), Error::Unsigned { .. }));
        assert!(matches!(changed(field::SIGNATURE), Error::Unsigned { .. }));
        assert!(matches!(changed(field::MAGIC), Error::Header { .. }));
        let e = err(&p.unsigned[..p.unsigned.len() - 1], &good[..], &slot(), &key().pk);
        assert!(matches!(e, Error::Unsigned { .. }) && e.to_string().contains("cut short"), "{e}");
        let mut longer = p.unsigned.clone();
        longer.push(0xFF);
        assert!(matches!(err(&longer, &good[..], &slot(), &key().pk), Error::Unsigned { .. }));

        // Another slot than the one prepared for.
        let b = SlotTarget::new(Some("b".into()), 0x2100_0000, 0x14000, 0x4000, 0x400).unwrap();
        assert!(matches!(
            err(&p.unsigned, &good[..], &b, &key().pk),
            Error::Verify { reason: Reason::WrongAddress, .. }
        ));
    }
}
