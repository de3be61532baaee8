//! Fault-injection hardening: the two single-skip bypasses found in QEMU, replayed on the
//! host through the `fi-seam` test seam of safeslot-shared (a skipped check passes whatever
//! it computed; the seam does not exist in a target build), and the launch is still
//! refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

mod common;

use common::{cfg, flash_with, image, key, HDR, SLOTS};
use safeslot_boot::{boot, Outcome};
use safeslot_shared::header::field;
use safeslot_shared::policy::Inputs;
use safeslot_shared::verify::seam::{self, Skip};
use safeslot_shared::verify::verify_slot_hardened;
use safeslot_shared::verify::SoftSha256;
use safeslot_shared::{Reason, SlotId};
use sha2::{Digest, Sha256};

const LEN: usize = common::BODY as usize;

/// A genuine image for slot A (header + body).
fn genuine() -> Vec<u8> {
    image(SlotId::A, 1)
}

/// The genuine header over an attacker's payload (bypass (b)).
fn attacker_payload(mut img: Vec<u8>) -> Vec<u8> {
    for b in &mut img[HDR as usize..HDR as usize + 64] {
        *b ^= 0x5A;
    }
    img
}

/// The attacker's payload with the header's hash rewritten to match it: the genuine
/// signature is stale (bypass (a)).
fn forged_header(img: Vec<u8>) -> Vec<u8> {
    let mut img = attacker_payload(img);
    let d = Sha256::digest(&img[HDR as usize..HDR as usize + LEN]);
    img[field::IMAGE_HASH..field::IMAGE_HASH + 32].copy_from_slice(&d);
    img
}

/// Boots a device whose only image is `a` with the checks in `skips` passing regardless.
fn boot_with(a: &[u8], skips: &[Skip]) -> Outcome {
    let mut f = flash_with(&[(SlotId::A, a.to_vec())]);
    let keys = [*key(1).pk];
    seam::skip(skips);
    let o = boot(&mut f, &mut SoftSha256::default(), &cfg(&keys), Inputs::default());
    seam::clear();
    o
}

fn refused(o: &Outcome) -> Option<Reason> {
    match o {
        Outcome::Launch(_) => None,
        Outcome::Recovery(r) => Some(*r),
    }
}

#[test]
fn the_genuine_image_boots_with_the_hardened_checks() {
    let o = boot_with(&genuine(), &[]);
    let Outcome::Launch(l) = o else { panic!("{o:?}") };
    assert!(l.holds());
    assert_eq!(l.slot, SlotId::A);
}

#[test]
fn a_forged_header_with_the_first_signature_check_skipped_is_refused() {
    let img = forged_header(genuine());
    // Without a fault: refused by the signature.
    assert_eq!(refused(&boot_with(&img, &[])), Some(Reason::NothingBootable));
    // Bypass (a): the first ed25519 check (or its error branch) skipped. The second,
    // independent check refuses the image in the verifier.
    let mut f = flash_with(&[(SlotId::A, img.clone())]);
    seam::skip(&[Skip::Signature]);
    let r = verify_slot_hardened(
        &mut f,
        &mut SoftSha256::default(),
        SLOTS[0],
        &safeslot_shared::verify::Trust::keys(&[*key(1).pk]),
    );
    seam::clear();
    assert_eq!(r.err(), Some(Reason::BadSignature));
    assert_eq!(refused(&boot_with(&img, &[Skip::Signature])), Some(Reason::NothingBootable));
    // The second check alone skipped: the first refuses.
    assert_eq!(refused(&boot_with(&img, &[Skip::SignatureAgain])), Some(Reason::NothingBootable));
    // Both skipped (two faults, outside the fault model): the forged image would launch.
    // This shows that the seam reaches the checks the tests above rely on.
    assert_eq!(refused(&boot_with(&img, &[Skip::Signature, Skip::SignatureAgain])), None);
}

#[test]
fn an_attacker_payload_under_a_genuine_header_with_the_hash_compare_skipped_is_refused() {
    let img = attacker_payload(genuine());
    assert_eq!(refused(&boot_with(&img, &[])), Some(Reason::NothingBootable));
    // Bypass (b): the branch to the bad-hash exit skipped. The verifier now says Ok, but
    // its evidence carries the digest it computed, and the proof built from it does not
    // hold: the launch is refused as a glitch (`Internal`), not booted.
    let mut f = flash_with(&[(SlotId::A, img.clone())]);
    seam::skip(&[Skip::HashCompare]);
    let e = verify_slot_hardened(
        &mut f,
        &mut SoftSha256::default(),
        SLOTS[0],
        &safeslot_shared::verify::Trust::keys(&[*key(1).pk]),
    )
    .unwrap();
    seam::clear();
    assert_ne!(e.digest, e.verified.header.image_hash);
    let (p, t) = safeslot_boot::fih::Proof::from_evidence(0, &e);
    assert!(!p.holds(t));
    assert_eq!(refused(&boot_with(&img, &[Skip::HashCompare])), Some(Reason::Internal));
}

#[test]
fn a_forged_header_with_the_hash_compare_skipped_still_fails_the_signature() {
    // The hash compare is not what stops a forged header; a skip there changes nothing.
    let img = forged_header(genuine());
    assert_eq!(refused(&boot_with(&img, &[Skip::HashCompare])), Some(Reason::NothingBootable));
}
