//! Image verification: header signature plus the image's SHA-256, streamed from flash.
//!
//! The same function runs in the boot stage, in the Linux agent (`safeslotctl verify`)
//! and in the image tool (`safeslot-image verify`). It reads the header, checks it against
//! the slot, finds the signing key by its id, checks the ed25519 signature over the signed
//! header bytes, then hashes the image in [`CHUNK`]-byte reads: memory use is constant,
//! whatever the image size.

use core::hint::black_box;

use ed25519_compact::{PublicKey, Signature};
use embedded_storage::nor_flash::ReadNorFlash;
use sha2::{Digest, Sha256};

use crate::header::{SlotHeader, MAX_HEADER_LEN, MAX_SIGNED_LEN, SIGNED_LEN};
use crate::policy::{Admission, ImageInfo, Verdict};
use crate::reason::Reason;
use crate::tlv::MAX_TLV_LEN;

/// Bytes read per hashing step.
pub const CHUNK: usize = 512;

/// The engine that computes an image's SHA-256: software ([`SoftSha256`]) unless a board
/// has a hash peripheral and implements this over its registers (docs/PORTING.md, "A
/// hash engine"). Only the image hash goes through it; key ids are hashed in software.
///
/// Nothing the engine returns is trusted more than software's: the digest is compared with
/// the signed header's by the same hardened code, so an engine that returns a wrong digest
/// refuses the image, it cannot admit one.
pub trait Sha256Engine {
    /// Forgets anything fed and starts a new digest.
    fn start(&mut self);
    /// Feeds `bytes` (called once per [`CHUNK`]-byte read, in order).
    fn update(&mut self, bytes: &[u8]);
    /// The digest of the bytes fed since [`start`](Self::start).
    fn finish(&mut self) -> [u8; 32];
}

/// SHA-256 in software: the `sha2` crate (the boards build its compact backend).
#[derive(Clone, Debug, Default)]
pub struct SoftSha256(Sha256);

impl Sha256Engine for SoftSha256 {
    fn start(&mut self) {
        self.0 = Sha256::new();
    }

    fn update(&mut self, bytes: &[u8]) {
        Digest::update(&mut self.0, bytes);
    }

    fn finish(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&core::mem::take(&mut self.0).finalize());
        out
    }
}

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

/// What a board trusts: its public keys (a key's index is its position in the list) and
/// the product it is (`[image] compatible` in its layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trust<'a> {
    /// The trusted ed25519 public keys, in index order.
    pub keys: &'a [[u8; 32]],
    /// The board's compatible identifier; `None`: the board names none. An image is
    /// accepted only when its signed `compatible` is exactly this (absent on both sides
    /// counts as equal).
    pub compatible: Option<&'a [u8]>,
}

impl<'a> Trust<'a> {
    /// Trust in `keys`, on a board that names no compatible identifier.
    pub const fn keys(keys: &'a [[u8; 32]]) -> Trust<'a> {
        Trust { keys, compatible: None }
    }
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

impl Verified {
    /// [`Verified::key_index`] as the policy and the hand-off carry it: a list of more than
    /// 255 keys cannot be built (`safeslot-layout`), so it saturates.
    pub fn key_index_u8(&self) -> u8 {
        u8::try_from(self.key_index).unwrap_or(u8::MAX)
    }

    /// The facts the policy needs.
    pub fn info(&self) -> ImageInfo {
        let h = &self.header;
        ImageInfo {
            version: h.version,
            security_counter: h.security_counter,
            key_index: self.key_index_u8(),
            revoke_below: h.tlvs.revoke_below(),
            requires: h.tlvs.requires_version(),
        }
    }
}

/// Verifies the image in `slot` against the trusted `keys`: [`verify_slot_hardened`]
/// (the boot stage's checks, every one of them) without the evidence. The agent, the image
/// tool and the test vectors call this; there is one verification path.
///
/// # Errors
///
/// As [`verify_slot_hardened`].
pub fn verify_slot<F: ReadNorFlash>(flash: &mut F, slot: SlotRegion, trust: &Trust<'_>) -> Result<Verified, Reason> {
    verify_slot_hardened(flash, &mut SoftSha256::default(), slot, trust).map(|e| e.verified)
}

/// Whether the boot stage would accept the image in `slot` on a device in the state
/// `admission` (its floors and, for a trial, the confirmed version), `trial` when the
/// image would boot unconfirmed: [`verify_slot`] (every check of the stage's verification),
/// then [`Admission::check`] (the policy's rule 2). The one answer to "would it boot?" that
/// `safeslotctl verify` and `safeslot-image verify` give.
///
/// # Errors
///
/// The [`Reason`] the stage refuses the image for.
pub fn verify_bootable<F: ReadNorFlash>(
    flash: &mut F,
    slot: SlotRegion,
    trust: &Trust<'_>,
    admission: &Admission,
    trial: bool,
) -> Result<Verified, Reason> {
    let v = verify_slot(flash, slot, trust)?;
    admission.check(&v.info(), trial)?;
    Ok(v)
}

/// Reads the header of `slot` into `hb`: the fixed part and as much of a TLV area as the
/// header area can hold (never more than [`MAX_HEADER_LEN`]). Bytes past the read are
/// left as they were.
fn read_header<F: ReadNorFlash>(flash: &mut F, slot: SlotRegion, hb: &mut [u8; MAX_HEADER_LEN]) -> Result<(), Reason> {
    let n = black_box((slot.header_size as usize).min(MAX_HEADER_LEN));
    let part = hb.get_mut(..n).ok_or(Reason::ImageBounds)?;
    flash.read(slot.offset, part).map_err(|_| Reason::FlashError)
}

/// The signed message of the header read into `hb`: bytes `0..SIGNED_LEN`, then the TLV
/// area of `header` (the decoded copy of those bytes).
fn signed_message(hb: &[u8; MAX_HEADER_LEN], header: &SlotHeader) -> Result<([u8; MAX_SIGNED_LEN], usize), Reason> {
    let mut m = [0u8; MAX_SIGNED_LEN];
    let tlvs = header.tlvs.as_bytes();
    let len = SIGNED_LEN.checked_add(tlvs.len()).ok_or(Reason::BadHeader)?;
    m.get_mut(..SIGNED_LEN).ok_or(Reason::BadHeader)?.copy_from_slice(hb.get(..SIGNED_LEN).ok_or(Reason::BadHeader)?);
    m.get_mut(SIGNED_LEN..len).ok_or(Reason::BadHeader)?.copy_from_slice(tlvs);
    Ok((m, len))
}

/// Whether the image's signed `compatible` is the board's (both absent counts as equal).
fn compatible(header: &SlotHeader, trust: &Trust<'_>) -> bool {
    header.tlvs.compatible() == trust.compatible
}

const _: () = assert!(MAX_TLV_LEN < MAX_HEADER_LEN);

/// The value [`signature_word`] gives for a signature that verified (any other value: it
/// did not). Not 0, not all ones, not a value a skipped store leaves.
pub const SIGNATURE_OK: u32 = 0x5AC3_3CA5;

/// What [`verify_slot_hardened`] computed, for the boot stage's fault-injection
/// hardening (`safeslot_boot::fih`): values produced by independent computations, so that
/// one skipped instruction (anywhere, including inside ed25519-compact or sha2) cannot make
/// all of them agree with a header whose signature or hash is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Evidence {
    /// The header as the first check accepted it.
    pub verified: Verified,
    /// The SHA-256 computed over the image bytes in flash (not the header's claim).
    pub digest: [u8; 32],
    /// The first signature check's word ([`SIGNATURE_OK`] when it verified).
    pub signature: u32,
    /// The second, independent signature check's word: the signed bytes read from flash
    /// again, the key looked up again by its id, ed25519 run again.
    pub signature_again: u32,
    /// The second key check: [`SIGNATURE_OK`] when the key at `verified.key_index` has the
    /// header's key id (re-derived, not the first lookup's result).
    pub key_again: u32,
}

/// Verifies the image in `slot` against the trusted `keys` (header, bounds, load address,
/// key, ed25519 signature, SHA-256 of the image bytes), then makes a second, independent
/// signature check and key check, and returns the computed digest and the check words
/// ([`Evidence`]) for the boot stage to bind into its proof. The second check costs one
/// more ed25519 verify (about 1.8 M instructions on a Cortex-M4) and one more header read;
/// the image is hashed once.
///
/// A board's watchdog is fed by its flash driver (the boot stage wraps it: `run`'s `Fed`),
/// so verification takes no callback.
///
/// # Errors
///
/// The [`Reason`] the image is refused for; [`Reason::BadSignature`] or
/// [`Reason::UnknownKey`] also when the second check disagrees with the first (a glitch).
pub fn verify_slot_hardened<F: ReadNorFlash, H: Sha256Engine>(
    flash: &mut F,
    sha: &mut H,
    slot: SlotRegion,
    trust: &Trust<'_>,
) -> Result<Evidence, Reason> {
    let (verified, digest, signature) = verify_first(flash, sha, slot, trust)?;
    // Second check, by a separate read of the header: a fault in the first check's
    // buffers or branches does not carry over.
    let mut hb = [0x5Au8; MAX_HEADER_LEN];
    read_header(flash, slot, &mut hb)?;
    let again = SlotHeader::decode(&hb).map_err(|_| Reason::BadHeader)?;
    let key = trust.keys.get(verified.key_index).ok_or(Reason::UnknownKey)?;
    let key_again = check_word(key_id(key) == again.key_id);
    let (msg, len) = signed_message(&hb, &again)?;
    let signature_again = signature_word(key, msg.get(..len).ok_or(Reason::BadHeader)?, &again.signature);
    #[cfg(feature = "fi-seam")]
    let signature_again = seam::word(signature_again, seam::Skip::SignatureAgain);
    if black_box(signature_again) != SIGNATURE_OK || black_box(again) != verified.header {
        return Err(Reason::BadSignature);
    }
    if black_box(key_again) != SIGNATURE_OK {
        return Err(Reason::UnknownKey);
    }
    // The board binding, checked again on the second copy.
    if !black_box(compatible(&again, trust)) {
        return Err(Reason::Incompatible);
    }
    Ok(Evidence { verified, digest, signature, signature_again, key_again })
}

/// [`SIGNATURE_OK`] if `ok`, 0 otherwise.
fn check_word(ok: bool) -> u32 {
    SIGNATURE_OK & 0u32.wrapping_sub(u32::from(black_box(ok)))
}

/// The verifier's one ed25519 check: [`SIGNATURE_OK`] when `sig` is a valid signature of
/// `msg` by the public key `key`, 0 otherwise. Both of [`verify_slot_hardened`]'s checks call
/// it (so every verification of the boot stage, the agent and the image tool does), and it is
/// the lowest level safeslot owns: below it is `ed25519_compact::PublicKey::verify`. It is
/// public so that the RFC 8032 and Wycheproof vectors run through exactly this function
/// (`shared/tests/ed25519_vectors.rs`).
///
/// What it accepts is ed25519-compact's rule (docs/SECURITY.md, "What the signature check
/// accepts", pinned by those tests): the **cofactored** equation `[8](S·B − k·A − R) = 0`
/// with `k = SHA-512(R ‖ A ‖ msg) mod L` over the received encodings; `S` must be below the
/// group order `L` (a non-canonical `S` is refused); `A` and `R` must be canonical encodings
/// (`y < p`, no negative zero) of points that are not of small order (either is refused).
pub fn signature_word(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> u32 {
    let pk = PublicKey::new(black_box(*key));
    let ok = match Signature::from_slice(black_box(sig)) {
        Ok(s) => pk.verify(black_box(msg), &s).is_ok(),
        Err(_) => false,
    };
    check_word(ok)
}

/// The first check: header, bounds, address, key, signature, hash. Returns the computed
/// digest and the signature word as well.
fn verify_first<F: ReadNorFlash, H: Sha256Engine>(
    flash: &mut F,
    sha: &mut H,
    slot: SlotRegion,
    trust: &Trust<'_>,
) -> Result<(Verified, [u8; 32], u32), Reason> {
    let mut hb = [0xFFu8; MAX_HEADER_LEN];
    read_header(flash, slot, &mut hb)?;
    if hb.get(..crate::header::HEADER_LEN).is_none_or(|h| h.iter().all(|&b| b == 0xFF)) {
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
    let key_index = trust.keys.iter().position(|k| key_id(k) == header.key_id).ok_or(Reason::UnknownKey)?;
    let key = trust.keys.get(key_index).ok_or(Reason::UnknownKey)?;
    let (msg, len) = signed_message(&hb, &header)?;
    let signature = signature_word(key, msg.get(..len).ok_or(Reason::BadHeader)?, &header.signature);
    #[cfg(feature = "fi-seam")]
    let signature = seam::word(signature, seam::Skip::Signature);
    if signature != SIGNATURE_OK {
        return Err(Reason::BadSignature);
    }
    // After the signature: the identifier is authentic, so "incompatible" is a fact about
    // the image, not about whoever wrote the slot.
    if !compatible(&header, trust) {
        return Err(Reason::Incompatible);
    }

    let digest = hash_image(flash, sha, slot.offset, u32::from(header.header_size), header.image_len)?;
    #[cfg(feature = "fi-seam")]
    let hash_skipped = seam::skipped(seam::Skip::HashCompare);
    #[cfg(not(feature = "fi-seam"))]
    let hash_skipped = false;
    if digest != header.image_hash && !hash_skipped {
        return Err(Reason::BadHash);
    }
    Ok((Verified { header, key_index }, digest, signature))
}

/// A host-only seam that simulates one skipped check (fault-injection tests): a check
/// named here passes whatever it computed. Exists only with the `fi-seam` feature, which
/// needs `std` and cannot be built for a bare-metal target.
#[cfg(feature = "fi-seam")]
pub mod seam {
    use core::cell::Cell;

    /// A check the seam can make pass.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(u8)]
    pub enum Skip {
        /// The first ed25519 check returns Ok (the injection that reached ed25519's point
        /// set-up, or the skipped error branch after it).
        Signature = 1,
        /// The second, independent ed25519 check returns Ok.
        SignatureAgain = 2,
        /// The first check's hash compare passes (the skipped branch to the bad-hash exit).
        HashCompare = 4,
    }

    std::thread_local! {
        static SKIPPED: Cell<u8> = const { Cell::new(0) };
    }

    /// Makes the checks in `skips` pass on this thread until [`clear`].
    pub fn skip(skips: &[Skip]) {
        SKIPPED.with(|s| s.set(skips.iter().fold(0, |a, k| a | *k as u8)));
    }

    /// Every check runs normally again.
    pub fn clear() {
        SKIPPED.with(|s| s.set(0));
    }

    pub(crate) fn skipped(k: Skip) -> bool {
        SKIPPED.with(|s| s.get() & k as u8 != 0)
    }

    /// A signature check's word `w`, or [`super::SIGNATURE_OK`] when check `k` is skipped.
    pub(crate) fn word(w: u32, k: Skip) -> u32 {
        if skipped(k) {
            super::SIGNATURE_OK
        } else {
            w
        }
    }
}

#[cfg(all(feature = "fi-seam", target_os = "none"))]
compile_error!("the fi-seam feature (fault-injection test seam) is host-only");

/// SHA-256 of `len` bytes starting `header_size` bytes into the slot at `offset`,
/// read in [`CHUNK`]-byte pieces and fed to the engine `sha`.
///
/// Fault-injection hardening (docs/DESIGN.md, "Fault-injection hardening"): one skipped
/// instruction in this loop must not make it hash bytes other than the ones in flash.
/// * The chunk length is bounds-checked at run time ([`black_box`] keeps the compiler from
///   proving it and removing the check): a skipped `min` otherwise made one read copy the
///   rest of the image over the stack.
/// * Before each read, the buffer is filled ([`prefill`]) with a pattern that depends on
///   the chunk's address, **at the end of the previous pass** (and once before the first),
///   so the fill and the read do not share a pointer set-up: a read that is skipped,
///   redirected or shortened leaves the pattern in what is hashed, never the previous
///   chunk's bytes (where a genuine image repeats a chunk, e.g. padding, those would
///   hash as the genuine chunk while the attacker's bytes sit in flash).
/// * After each read, the chunk's last word is read again on its own and compared
///   ([`check_last_word`]): a driver's copy loop whose source address stalled never read
///   the chunk's end.
pub fn hash_image<F: ReadNorFlash, H: Sha256Engine>(
    flash: &mut F,
    sha: &mut H,
    offset: u32,
    header_size: u32,
    len: u32,
) -> Result<[u8; 32], Reason> {
    let mut at = offset.checked_add(header_size).ok_or(Reason::ImageBounds)?;
    let end = at.checked_add(len).ok_or(Reason::ImageBounds)?;
    sha.start();
    let mut buf = [0u8; CHUNK];
    prefill(&mut buf, at);
    // Bounded: each pass advances `at` by at least one byte (len > 0 checked by bounds).
    while at < end {
        let n = black_box((end.saturating_sub(at) as usize).min(CHUNK));
        let part = buf.get_mut(..n).ok_or(Reason::Internal)?;
        flash.read(at, part).map_err(|_| Reason::FlashError)?;
        check_last_word(flash, at, part)?;
        sha.update(part);
        at = at.saturating_add(n as u32);
        prefill(&mut buf, at);
    }
    Ok(sha.finish())
}

/// Reads the last (up to) 4 bytes of the chunk `part` read at `at` again, on their own, and
/// refuses ([`Reason::FlashError`]) when they differ from `part`'s.
///
/// One skipped increment of the source address in a driver's copy loop (the address stalls
/// while the destination moves on) copies every later word of the chunk from below its
/// place: the chunk is as long as it should be, but its last bytes were never read. In a run
/// of equal bytes (padding), that copy is the genuine chunk while the attacker's bytes sit at
/// its end; the prefilled pattern cannot show it, because every byte of the buffer was
/// written. A separate read of the last word, compared with the buffer's, does.
fn check_last_word<F: ReadNorFlash>(flash: &mut F, at: u32, part: &[u8]) -> Result<(), Reason> {
    let n = part.len();
    let k = n.min(4);
    let start = n.saturating_sub(k);
    let mut last = [0u8; 4];
    let last = last.get_mut(..k).ok_or(Reason::Internal)?;
    flash.read(at.saturating_add(start as u32), last).map_err(|_| Reason::FlashError)?;
    if part.get(start..) != Some(&*last) {
        return Err(Reason::FlashError);
    }
    Ok(())
}

/// Fills `buf` with a pattern of the address `at` of the chunk that will be read into it
/// next: 32-bit words, each `at` mixed with the word's position (a multiplicative hash),
/// so no two words of a chunk, and no word of two chunks, repeat. A chunk whose read did not
/// reach some of its words (a skipped, redirected or shortened read, a skipped store in the
/// driver's copy loop) then differs from the genuine chunk unless the genuine chunk holds
/// exactly these address-dependent words. [`black_box`] keeps the compiler from moving the
/// fill down next to the read (which would let one skipped pointer set-up redirect both).
/// About 4 instructions per word, written without a library call.
#[inline(never)]
fn prefill(buf: &mut [u8; CHUNK], at: u32) {
    let seed = black_box(at) ^ 0xC3A5_5A3C;
    let mut i = 0;
    while i < CHUNK {
        let w = seed.wrapping_add((i as u32).wrapping_mul(0x9E37_79B9)).to_le_bytes();
        if let Some(d) = buf.get_mut(i..i.wrapping_add(4)) {
            d.copy_from_slice(&w);
        }
        i = i.wrapping_add(4);
    }
    black_box(buf);
}

/// [`verify_slot`] as the policy's [`Verdict`].
pub fn verdict<F: ReadNorFlash>(flash: &mut F, slot: SlotRegion, trust: &Trust<'_>) -> Verdict {
    match verify_slot(flash, slot, trust) {
        Ok(v) => Verdict::Valid(v.info()),
        Err(r) => Verdict::Invalid(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_storage::nor_flash::{ErrorType, NorFlashErrorKind};
    use std::vec;
    use std::vec::Vec;

    /// [`hash_image`] of the first `len` bytes of `f` (no header) with the software engine.
    fn soft_hash<F: ReadNorFlash>(f: &mut F, len: u32) -> Result<[u8; 32], Reason> {
        hash_image(f, &mut SoftSha256::default(), 0, 0, len)
    }

    /// Flash over a byte vector whose `skip`-th read (counting from 0) does nothing (a
    /// skipped `read` call), or, with `short`, copies only its first `short` bytes (a read
    /// whose length was not set up).
    ///
    /// Reads are counted only when longer than 4 bytes: the chunk reads, not the re-reads
    /// of a chunk's last word ([`check_last_word`]), which are never faulted.
    struct Skipping {
        bytes: Vec<u8>,
        skip: Option<usize>,
        reads: usize,
        short: usize,
        /// With `skip`, leave only the 4 bytes at this offset of the read unwritten (a
        /// skipped store in the driver's copy loop) instead of shortening it.
        hole: Option<usize>,
    }

    impl ErrorType for Skipping {
        type Error = NorFlashErrorKind;
    }

    impl ReadNorFlash for Skipping {
        const READ_SIZE: usize = 1;
        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
            let at = offset as usize;
            if bytes.len() <= 4 {
                bytes.copy_from_slice(&self.bytes[at..at + bytes.len()]);
                return Ok(());
            }
            let n = self.reads;
            self.reads += 1;
            let len =
                if Some(n) == self.skip && self.hole.is_none() { self.short.min(bytes.len()) } else { bytes.len() };
            let keep: Vec<u8> = bytes.to_vec();
            bytes[..len].copy_from_slice(&self.bytes[at..at + len]);
            if let (true, Some(h)) = (Some(n) == self.skip, self.hole) {
                let h = h.min(len.saturating_sub(4));
                bytes[h..h + 4].copy_from_slice(&keep[h..h + 4]);
            }
            Ok(())
        }
        fn capacity(&self) -> usize {
            self.bytes.len()
        }
    }

    /// Flash whose `stall`-th chunk read copies, from byte `from` of the read on, each byte
    /// from `by` bytes below its place (one skipped source-address increment in a driver's
    /// copy loop); every other read, and every re-read of a last word, is exact.
    struct Stalling {
        bytes: Vec<u8>,
        stall: usize,
        from: usize,
        by: usize,
        reads: usize,
    }

    impl ErrorType for Stalling {
        type Error = NorFlashErrorKind;
    }

    impl ReadNorFlash for Stalling {
        const READ_SIZE: usize = 1;
        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
            let at = offset as usize;
            let stalled = bytes.len() > 4 && self.reads == self.stall;
            self.reads += usize::from(bytes.len() > 4);
            for (i, b) in bytes.iter_mut().enumerate() {
                let from = if stalled && i >= self.from { at + i - self.by } else { at + i };
                *b = self.bytes[from];
            }
            Ok(())
        }
        fn capacity(&self) -> usize {
            self.bytes.len()
        }
    }

    #[test]
    fn a_stalled_copy_loop_does_not_hash_padding_over_the_attackers_tail() {
        // A genuine image that is zero padding after its first chunk, an attacker's copy
        // with the last 16 bytes of chunk 3 changed. A read of chunk 3 whose source address
        // stalls (by a byte, a word or a 16-byte pass) copies the padding below into those
        // bytes: without the last-word re-read it hashes as the genuine image.
        let mut genuine = vec![0u8; 6 * CHUNK];
        genuine[..CHUNK].iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let mut attacker = genuine.clone();
        attacker[4 * CHUNK - 16..4 * CHUNK].fill(0xA5);
        let len = genuine.len() as u32;
        let exact = |bytes: &Vec<u8>| {
            soft_hash(&mut Stalling { bytes: bytes.clone(), stall: usize::MAX, from: 0, by: 0, reads: 0 }, len)
        };
        let good = exact(&genuine).unwrap();
        assert_ne!(exact(&attacker).unwrap(), good);
        for by in [1, 4, 16] {
            for from in [by, 100, CHUNK - 32, CHUNK - 16] {
                let mut f = Stalling { bytes: attacker.clone(), stall: 3, from, by, reads: 0 };
                let h = soft_hash(&mut f, len);
                assert_ne!(h, Ok(good), "stall by {by} from {from}");
                // A 16-byte stall copies only padding over the changed tail: only the
                // re-read shows it (shorter stalls still hash some of the changed bytes).
                if by == 16 {
                    assert_eq!(h, Err(Reason::FlashError), "stall by {by} from {from}");
                }
            }
        }
        // A stall that ends before the chunk's last word is read changes nothing: the
        // genuine image still hashes as itself.
        let mut f = Stalling { bytes: genuine.clone(), stall: 3, from: CHUNK, by: 16, reads: 0 };
        assert_eq!(soft_hash(&mut f, len), Ok(good));
    }

    #[test]
    fn a_skipped_chunk_read_does_not_hash_as_the_previous_chunk() {
        // A genuine image whose chunks 1 and 2 are equal (padding), and an attacker's copy
        // with other bytes in chunk 2.
        let mut genuine: Vec<u8> = (0..4 * CHUNK).map(|i| (i * 13 % 251) as u8).collect();
        genuine.copy_within(CHUNK..2 * CHUNK, 2 * CHUNK);
        let mut attacker = genuine.clone();
        attacker[2 * CHUNK..3 * CHUNK].fill(0xBE);
        let len = genuine.len() as u32;
        let hash = |bytes: &Vec<u8>, skip| {
            soft_hash(&mut Skipping { bytes: bytes.clone(), skip, reads: 0, short: 0, hole: None }, len)
        };
        // A faulted read is refused (the last word read again differs) or hashes otherwise.
        let good = hash(&genuine, None);
        assert!(good.is_ok());
        assert_ne!(hash(&attacker, None), good);
        // Skipping the read of chunk 2 (the third read) leaves the address pattern in the
        // buffer, not chunk 1: the hash is not the genuine one.
        assert_ne!(hash(&attacker, Some(2)), good);
        // Every other skipped read also changes the hash of the genuine image.
        for k in 0..4 {
            assert_ne!(hash(&genuine, Some(k)), good, "read {k}");
        }
    }

    #[test]
    fn a_short_chunk_read_does_not_hash_as_the_genuine_chunk() {
        // A genuine image ending in zero padding (two and a half chunks of it), and an
        // attacker's copy with its last 16 bytes changed; a read of any chunk that copies
        // only some of its bytes leaves the address pattern in the rest, which differs from
        // the padding (and from the previous chunk).
        let mut genuine: Vec<u8> = (0..5 * CHUNK + 100).map(|i| (i * 7 % 253) as u8).collect();
        let pad = genuine.len() - (2 * CHUNK + 300);
        genuine[pad..].fill(0);
        let mut attacker = genuine.clone();
        let n = attacker.len();
        attacker[n - 16..].fill(0xA5);
        let len = genuine.len() as u32;
        let good = soft_hash(&mut Skipping { bytes: genuine.clone(), skip: None, reads: 0, short: 0, hole: None }, len)
            .unwrap();
        for read in 0..6 {
            for short in [0, 1, 8, 100, 84, CHUNK - 8, CHUNK - 1] {
                let mut f = Skipping { bytes: attacker.clone(), skip: Some(read), reads: 0, short, hole: None };
                let h = soft_hash(&mut f, len);
                assert_ne!(h, Ok(good), "read {read} copying {short} bytes");
            }
        }
        // A genuine image that is all padding after its first chunk, an attacker's copy that
        // differs in one word of one chunk: the read of that chunk leaving exactly that word
        // unwritten (a skipped store in the copy loop) still hashes the pattern there, not the
        // previous chunk's padding.
        let mut genuine = vec![0u8; 6 * CHUNK];
        genuine[..CHUNK].iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let len = genuine.len() as u32;
        let good = soft_hash(&mut Skipping { bytes: genuine.clone(), skip: None, reads: 0, short: 0, hole: None }, len)
            .unwrap();
        for chunk in 1..6 {
            for word in [0, 4, 100, CHUNK - 4] {
                let mut attacker = genuine.clone();
                attacker[chunk * CHUNK + word..chunk * CHUNK + word + 4].copy_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]);
                let mut f = Skipping { bytes: attacker, skip: Some(chunk), reads: 0, short: 0, hole: Some(word) };
                let h = soft_hash(&mut f, len);
                assert_ne!(h, Ok(good), "chunk {chunk}, unwritten word at {word}");
            }
        }
    }
}
