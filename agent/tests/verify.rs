//! `safeslotctl verify` against signed images in a slot and in a file.

mod common;

use common::{Sandbox, SLOT_A, SLOT_B};
use ed25519_compact::{KeyPair, Seed};
use safeslot_shared::header::{SlotHeader, HEADER_LEN};
use safeslot_shared::verify::key_id;
use safeslot_shared::Version;
use sha2::{Digest, Sha256};

const HEADER_SIZE: usize = 0x400;

fn signed_image(kp: &KeyPair, image: &[u8]) -> Vec<u8> {
    signed_for(kp, image, 0, 4)
}

/// An image signed by `kp` carrying load address `load_addr` and security counter `sc`.
fn signed_for(kp: &KeyPair, image: &[u8], load_addr: u64, sc: u32) -> Vec<u8> {
    signed_with(kp, image, load_addr, sc, safeslot_shared::tlv::Tlvs::EMPTY)
}

/// [`signed_for`] with the protected TLVs `tlvs`.
fn signed_with(kp: &KeyPair, image: &[u8], load_addr: u64, sc: u32, tlvs: safeslot_shared::tlv::Tlvs) -> Vec<u8> {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&Sha256::digest(image));
    let mut h = SlotHeader {
        header_size: HEADER_SIZE as u16,
        image_len: image.len() as u32,
        version: Version { major: 1, minor: 2, revision: 3, build: 0 },
        security_counter: sc,
        load_addr,
        entry: 0,
        image_hash: hash,
        key_id: key_id(&kp.pk),
        signature: [0; 64],
        tlvs,
    };
    h.signature = *kp.sk.sign(h.signed_bytes(), None);
    let mut out = h.encode().to_vec();
    out.resize(HEADER_SIZE, 0xFF);
    assert!(out.len() >= HEADER_LEN);
    out.extend_from_slice(image);
    out
}

#[test]
fn verify_slots_and_files() {
    let kp = KeyPair::from_seed(Seed::new([7; 32]));
    let other = KeyPair::from_seed(Seed::new([8; 32]));
    let rig = Sandbox::with_keys(8, &["keys/dev.pub.pem", "keys/other.raw"]);
    std::fs::create_dir(rig.path("keys")).unwrap();
    std::fs::write(rig.path("keys/dev.pub.pem"), kp.pk.to_pem()).unwrap();
    std::fs::write(rig.path("keys/other.raw"), *other.pk).unwrap();

    let image: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let signed = signed_image(&kp, &image);
    let mut flash = rig.flash_bytes();
    flash[SLOT_A as usize..SLOT_A as usize + signed.len()].copy_from_slice(&signed);
    std::fs::write(rig.flash_path(), &flash).unwrap();
    std::fs::write(rig.path("image.bin"), &signed).unwrap();

    let v = rig.ok(&["verify", "a", "--json"]).json();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["valid"], true);
    assert_eq!(v["version"], "1.2.3");
    assert_eq!(v["security_counter"], 4);
    assert_eq!(v["key_index"], 0);
    assert!(rig.ok(&["verify", "a"]).stdout.contains("a: valid for slot a, version 1.2.3"));
    let img = rig.path("image.bin");
    rig.ok(&["verify", img.to_str().unwrap()]);

    // Signed by the second (raw) key.
    std::fs::write(rig.path("other.bin"), signed_image(&other, &image)).unwrap();
    assert_eq!(rig.ok(&["verify", rig.path("other.bin").to_str().unwrap(), "--json"]).json()["key_index"], 1);

    // Empty slot, tampered image, unknown key.
    let r = rig.expect(65, &["verify", "b", "--json"]);
    assert_eq!(r.json()["reason"], "no-image");
    let mut bad = signed.clone();
    *bad.last_mut().unwrap() ^= 1;
    std::fs::write(rig.path("bad.bin"), &bad).unwrap();
    let r = rig.expect(65, &["verify", rig.path("bad.bin").to_str().unwrap()]);
    assert!(r.stderr.contains("bad-hash"), "{}", r.stderr);
    let stranger = KeyPair::from_seed(Seed::new([9; 32]));
    std::fs::write(rig.path("stranger.bin"), signed_image(&stranger, &image)).unwrap();
    let r = rig.expect(65, &["verify", rig.path("stranger.bin").to_str().unwrap(), "--json"]);
    assert_eq!(r.json()["reason"], "unknown-key");

    rig.expect(64, &["verify", "zz"]);
}

/// Issue #16, item 4: an image signed for another product is refused by `verify` as the
/// stage refuses it (`[image] compatible` in the config, generated from the layout's).
#[test]
fn verify_applies_the_boards_compatible_identifier() {
    use safeslot_shared::tlv::{tag, Tlvs};
    let kp = KeyPair::from_seed(Seed::new([7; 32]));
    let rig = Sandbox::with_keys(8, &["keys/dev.pub.pem"]);
    std::fs::create_dir(rig.path("keys")).unwrap();
    std::fs::write(rig.path("keys/dev.pub.pem"), kp.pk.to_pem()).unwrap();
    let mut cfg = std::fs::read_to_string(rig.path("safeslot.toml")).unwrap();
    cfg.push_str("\n[image]\ncompatible = \"acme,widget-2\"\n");
    std::fs::write(rig.path("safeslot.toml"), cfg).unwrap();
    let image: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let with = |c: Option<&[u8]>| {
        let mut t = Tlvs::EMPTY;
        if let Some(c) = c {
            t.push(tag::COMPATIBLE, c).unwrap();
        }
        signed_with(&kp, &image, 0, 4, t)
    };
    for (name, bytes, want) in [
        ("ours.bin", with(Some(b"acme,widget-2")), None),
        ("theirs.bin", with(Some(b"acme,widget-3")), Some("incompatible")),
        ("unnamed.bin", with(None), Some("incompatible")),
    ] {
        std::fs::write(rig.path(name), bytes).unwrap();
        let file = rig.path(name);
        match want {
            None => {
                rig.ok(&["verify", file.to_str().unwrap()]);
            }
            Some(reason) => {
                let r = rig.expect(65, &["verify", file.to_str().unwrap(), "--json"]);
                assert_eq!(r.json()["reason"], reason, "{name}");
            }
        }
    }
}

#[test]
fn verify_needs_keys() {
    let rig = Sandbox::new(8);
    let r = rig.expect(78, &["verify", "a"]);
    assert!(r.stderr.contains("[keys]"), "{}", r.stderr);
}

/// Issue #16, item 6: `safeslotctl verify` runs the boot stage's checks. Before, it verified
/// a slot without its required load address and ignored the record's floor: it said
/// "valid" for images the stage refuses with wrong-address or rollback.
#[test]
fn verify_applies_the_stages_load_address_and_floor() {
    const BASE: u64 = 0x1000_0000;
    let addr = |slot: u32| BASE + u64::from(slot) + HEADER_SIZE as u64;
    let kp = KeyPair::from_seed(Seed::new([7; 32]));
    let rig = Sandbox::with_keys(8, &["keys/dev.pub.pem"]);
    std::fs::create_dir(rig.path("keys")).unwrap();
    std::fs::write(rig.path("keys/dev.pub.pem"), kp.pk.to_pem()).unwrap();
    rig.set_flash_base(BASE);
    let image: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let put = |slot: u32, bytes: &[u8]| {
        let mut flash = rig.flash_bytes();
        flash[slot as usize..slot as usize + bytes.len()].copy_from_slice(bytes);
        std::fs::write(rig.flash_path(), &flash).unwrap();
    };
    let for_a = signed_for(&kp, &image, addr(SLOT_A), 4);
    let for_b = signed_for(&kp, &image, addr(SLOT_B), 4);
    put(SLOT_A, &for_a);
    let v = rig.ok(&["verify", "a", "--json"]).json();
    assert_eq!(
        (v["valid"].as_bool(), v["slot"].as_str(), v["load_address_checked"].as_bool()),
        (Some(true), Some("a"), Some(true))
    );
    // B's image written into A: the stage refuses it (wrong-address), so verify does.
    put(SLOT_A, &for_b);
    let r = rig.expect(65, &["verify", "a", "--json"]);
    assert_eq!(r.json()["reason"], "wrong-address", "{}", r.stdout);
    // A file is checked as the slot its load address names; an address of no slot is refused.
    std::fs::write(rig.path("b.bin"), &for_b).unwrap();
    let out = rig.ok(&["verify", rig.path("b.bin").to_str().unwrap()]).stdout;
    assert!(out.contains("valid for slot b"), "{out}");
    std::fs::write(rig.path("nowhere.bin"), signed_for(&kp, &image, 0x42, 4)).unwrap();
    let r = rig.expect(65, &["verify", rig.path("nowhere.bin").to_str().unwrap(), "--json"]);
    assert_eq!(r.json()["reason"], "wrong-address");
    // Below the record's anti-rollback floor: refused, as the stage refuses it.
    put(SLOT_A, &for_a);
    rig.ok(&["init"]);
    {
        let mut j = rig.journal();
        j.update(|r| {
            r.rollback_floor = 5;
            Ok(())
        })
        .unwrap();
    }
    let r = rig.expect(65, &["verify", "a", "--json"]);
    let v = r.json();
    assert_eq!((v["reason"].as_str(), v["floor"].as_u64()), (Some("rollback"), Some(5)), "{v}");
    let r = rig.expect(65, &["verify", rig.path("b.bin").to_str().unwrap()]);
    assert!(r.stderr.contains("rollback"), "{}", r.stderr);
}
