//! The tamper matrix (issue #20, item 3): a genuine, signed v2 image for slot B, altered in
//! every way a careless or hostile writer could alter it, judged twice — by the image tool's
//! verify (`safeslot_image::verify_bytes`, what `safeslot-image verify` runs) and by the boot
//! sequence (`safeslot_boot::boot` on a simulated device with v1 confirmed in A and B
//! activated for a trial). Both must agree on every case: the tool accepts exactly the images
//! the stage launches, and where the tool refuses, the stage boots the confirmed A and never B.
//!
//! Cases: every single-bit flip of the 152-byte header (signature included); a deterministic
//! sample of payload bit flips; truncations of the image; every length and offset field
//! (image length, header size, TLV length, load address, entry) at its extremes, re-signed
//! with the trusted key so that only the field's value is judged; an unknown key id; a
//! signature by an untrusted key; a security counter below the floor. The counts are printed
//! and asserted, so a matrix that shrinks fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

mod common;

use safeslot_shared::verify::SoftSha256;
use std::path::Path;

use common::{cfg, install, key, BASE, HDR, JOURNAL, SLOT, SLOTS};
use ed25519_compact::KeyPair;
use safeslot_boot::{boot, Outcome};
use safeslot_image::SlotTarget;
use safeslot_shared::header::{field, HEADER_LEN};
use safeslot_shared::journal::Journal;
use safeslot_shared::ops;
use safeslot_shared::policy::{Admission, BootKind, Inputs};
use safeslot_shared::sim::SimFlash;
use safeslot_shared::verify::Trust;
use safeslot_shared::{SlotId, Tries, Version};

/// The rollback floor of the device (A is confirmed with this security counter).
const FLOOR: u32 = 1;

/// A device with v1 (security counter [`FLOOR`]) confirmed in A, and B empty.
fn device() -> SimFlash {
    let mut flash = common::blank_flash();
    install(&mut flash, SlotId::A, &common::image_signed(SlotId::A, 1, FLOOR, &key(1)));
    let keys = [*key(1).pk];
    assert!(matches!(boot(&mut flash, &mut SoftSha256::default(), &cfg(&keys), Inputs::default()), Outcome::Launch(_)));
    Journal::open(&mut flash, JOURNAL).unwrap().update(|r| ops::mark_good(r, SlotId::A)).unwrap();
    assert_eq!(Journal::open(&mut flash, JOURNAL).unwrap().record().unwrap().rollback_floor, FLOOR);
    flash
}

/// What the boot stage does with `b` in slot B, activated for a trial: `Some(kind)` when it
/// launches B, `None` when it boots the confirmed A instead (anything else fails the test).
fn stage(base: &SimFlash, b: &[u8]) -> Option<BootKind> {
    let mut flash = base.clone();
    install(&mut flash, SlotId::B, b);
    Journal::open(&mut flash, JOURNAL)
        .unwrap()
        .update(|r| ops::set_active(r, SlotId::B, Tries::new(3).unwrap()))
        .unwrap();
    let keys = [*key(1).pk];
    match boot(&mut flash, &mut SoftSha256::default(), &cfg(&keys), Inputs::default()) {
        Outcome::Launch(l) if l.slot == SlotId::B => {
            assert!(l.holds());
            Some(l.handoff.kind)
        }
        Outcome::Launch(l) => {
            assert_eq!((l.slot, l.handoff.kind), (SlotId::A, BootKind::Confirmed), "the fallback is the confirmed A");
            None
        }
        Outcome::Recovery(r) => panic!("recovery ({r}) with a confirmed A present"),
    }
}

/// What the image tool says of `b` as slot B's content on that device.
fn tool(b: &[u8]) -> Result<(), safeslot_shared::Reason> {
    let target = SlotTarget::new(Some("b".into()), BASE as u32, SLOTS[1].offset, SLOT, HDR).unwrap();
    let keys = [*key(1).pk];
    let trust = Trust { keys: &keys, compatible: None };
    let v1 = Version { major: 1, minor: 0, revision: 0, build: 0 };
    let admission = Admission { floor: FLOOR, key_floor: 0, confirmed: Some(v1), refuse_downgrade: false };
    match safeslot_image::verify_bytes(Path::new("b.img"), b, &target, &trust, &admission, true) {
        Ok(_) => Ok(()),
        Err(safeslot_image::Error::Verify { reason, .. }) => Err(reason),
        Err(e) => panic!("the tool failed otherwise: {e}"),
    }
}

/// Tallies one category.
#[derive(Default)]
struct Tally {
    cases: u32,
    accepted: u32,
    accepted_cases: Vec<String>,
}

/// Judges `b` both ways and checks they agree.
fn judge(base: &SimFlash, what: &str, b: &[u8], t: &mut Tally) {
    let by_tool = tool(b);
    let by_stage = stage(base, b);
    assert_eq!(
        by_tool.is_ok(),
        by_stage.is_some(),
        "{what}: the tool says {by_tool:?}, the stage {}",
        if by_stage.is_some() { "launches B" } else { "boots A" }
    );
    if let Some(kind) = by_stage {
        assert_eq!(kind, BootKind::Trial, "{what}: B runs as a trial");
    }
    if by_tool.is_ok() {
        t.accepted_cases.push(what.to_owned());
    }
    t.cases += 1;
    t.accepted += u32::from(by_tool.is_ok());
}

/// The genuine B image with header field `at` (little-endian, `bytes` wide) set to `value`
/// and the header re-signed by `signer`, so the signature is valid over the altered header.
fn resigned(genuine: &[u8], at: usize, value: u64, bytes: usize, signer: &KeyPair) -> Vec<u8> {
    let mut b = genuine.to_vec();
    b[at..at + bytes].copy_from_slice(&value.to_le_bytes()[..bytes]);
    resign(&mut b, signer);
    b
}

/// Re-signs a header in place: the key id of `signer`, then ed25519 over bytes
/// `0..SIGNATURE` followed by the TLV area (none in these images).
fn resign(b: &mut [u8], signer: &KeyPair) {
    let id = safeslot_shared::verify::key_id(&signer.pk);
    b[field::KEY_ID..field::KEY_ID + 8].copy_from_slice(&id);
    let sig = signer.sk.sign(&b[..field::SIGNATURE], None);
    b[field::SIGNATURE..field::SIGNATURE + 64].copy_from_slice(&sig[..]);
}

#[test]
fn the_image_tool_and_the_boot_stage_agree_on_every_tampered_image() {
    let base = device();
    let genuine = common::image_signed(SlotId::B, 2, FLOOR, &key(1));
    let mut report = Vec::new();

    // The genuine image: both accept it.
    let mut t = Tally::default();
    judge(&base, "genuine", &genuine, &mut t);
    assert_eq!((t.cases, t.accepted), (1, 1));
    report.push(("genuine", t));

    // Every single-bit flip of the header, signature included.
    let mut t = Tally::default();
    for bit in 0..HEADER_LEN * 8 {
        let mut b = genuine.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        judge(&base, &format!("header bit {bit}"), &b, &mut t);
    }
    assert_eq!(t.accepted, 0, "a flipped header bit was accepted");
    report.push(("header and signature bit flips", t));

    // Payload bit flips: the first and last byte's every bit, and 256 pseudo-random bits.
    let payload = HDR as usize..genuine.len();
    let mut t = Tally::default();
    let mut bits: Vec<usize> = (0..8).chain((payload.len() - 1) * 8..payload.len() * 8).collect();
    let mut x = 0x9E37_79B9_u32;
    for _ in 0..256 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bits.push(x as usize % (payload.len() * 8));
    }
    for bit in bits {
        let mut b = genuine.clone();
        b[payload.start + bit / 8] ^= 1 << (bit % 8);
        judge(&base, &format!("payload bit {bit}"), &b, &mut t);
    }
    assert_eq!(t.accepted, 0, "a flipped payload bit was accepted");
    report.push(("payload bit flips (sampled)", t));

    // Truncations: the header cut, the image cut, one byte short.
    let mut t = Tally::default();
    for len in [0, 1, field::SIGNATURE, HEADER_LEN - 1, HEADER_LEN, HDR as usize, genuine.len() / 2, genuine.len() - 1]
    {
        judge(&base, &format!("truncated to {len}"), &genuine[..len], &mut t);
    }
    assert_eq!(t.accepted, 0, "a truncated image was accepted");
    report.push(("truncations", t));

    // Every length and offset field at its extremes, validly signed by the trusted key.
    let image_len = (genuine.len() - HDR as usize) as u64;
    let load = SLOTS[1].load_addr.unwrap();
    let slot = u64::from(SLOT);
    let mut t = Tally::default();
    let u32_values = [0, 1, slot - 1, slot, slot + 1, u64::from(u32::MAX), u64::from(u32::MAX - HDR + 1)];
    for v in u32_values.iter().copied().chain([image_len - 1, image_len + 1]) {
        judge(&base, &format!("image length {v}"), &resigned(&genuine, field::IMAGE_LEN, v, 4, &key(1)), &mut t);
    }
    for v in [0, 1, HEADER_LEN as u64 - 1, u64::from(HDR) - 8, u64::from(HDR) + 8, slot, 0xFFFF] {
        judge(&base, &format!("header size {v}"), &resigned(&genuine, field::HEADER_SIZE, v, 2, &key(1)), &mut t);
    }
    for v in [1, 256, 257, 0xFFFF] {
        judge(&base, &format!("TLV length {v}"), &resigned(&genuine, field::TLV_LEN, v, 2, &key(1)), &mut t);
    }
    for v in [0, load - 1, load + 1, load + slot, BASE, u64::MAX, u64::MAX - slot + 1, 0x2000_0000] {
        judge(&base, &format!("load address {v:#x}"), &resigned(&genuine, field::LOAD_ADDR, v, 8, &key(1)), &mut t);
    }
    for v in [image_len, image_len + 1, slot, u64::MAX, u64::MAX - load + 1] {
        // Outside the image: the stage would hand off to bytes it did not hash.
        judge(&base, &format!("entry {v:#x}"), &resigned(&genuine, field::ENTRY, v, 8, &key(1)), &mut t);
    }
    assert_eq!(t.accepted, 0, "a length or offset outside the image was accepted: {:?}", t.accepted_cases);
    report.push(("length and offset fields at extremes (re-signed)", t));

    // Keys and counters.
    let mut t = Tally::default();
    let mut unknown = genuine.clone();
    unknown[field::KEY_ID] ^= 0xFF;
    judge(&base, "unknown key id", &unknown, &mut t);
    let mut untrusted = genuine.clone();
    resign(&mut untrusted, &key(9));
    judge(&base, "signed by an untrusted key", &untrusted, &mut t);
    let mut claims_trusted = untrusted.clone();
    claims_trusted[field::KEY_ID..field::KEY_ID + 8].copy_from_slice(&safeslot_shared::verify::key_id(&key(1).pk));
    judge(&base, "untrusted signature under the trusted key id", &claims_trusted, &mut t);
    judge(&base, "counter below the floor", &common::image_signed(SlotId::B, 2, FLOOR - 1, &key(1)), &mut t);
    judge(
        &base,
        "counter at the floor",
        &resigned(&genuine, field::SECURITY_COUNTER, u64::from(FLOOR), 4, &key(1)),
        &mut t,
    );
    assert_eq!(t.accepted, 1, "only the image at the floor is accepted");
    report.push(("keys and counters", t));

    let mut total = 0;
    for (what, t) in &report {
        println!(
            "tamper matrix: {what}: {} cases, {} refused by both, {} accepted by both {:?}",
            t.cases,
            t.cases - t.accepted,
            t.accepted,
            t.accepted_cases
        );
        total += t.cases;
    }
    println!("tamper matrix: {total} cases, tool and boot sequence agree on every one");
    assert!(total >= 1_216 + 272 + 8 + 33 + 5, "the matrix shrank: {total} cases");
}
