//! `safeslotctl verify` against signed images in a slot and in a file.

mod common;

use common::{Rig, SLOT_A};
use ed25519_compact::{KeyPair, Seed};
use safeslot_shared::header::{SlotHeader, HEADER_LEN};
use safeslot_shared::verify::key_id;
use safeslot_shared::Version;
use sha2::{Digest, Sha256};

const HEADER_SIZE: usize = 0x400;

fn signed_image(kp: &KeyPair, image: &[u8]) -> Vec<u8> {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&Sha256::digest(image));
    let mut h = SlotHeader {
        header_size: HEADER_SIZE as u16,
        image_len: image.len() as u32,
        version: Version { major: 1, minor: 2, revision: 3, build: 0 },
        security_counter: 4,
        load_addr: 0,
        entry: 0,
        image_hash: hash,
        key_id: key_id(&kp.pk),
        signature: [0; 64],
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
    let rig = Rig::with_keys(8, &["keys/dev.pub.pem", "keys/other.raw"]);
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
    assert!(rig.ok(&["verify", "a"]).stdout.contains("valid, version 1.2.3"));
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

#[test]
fn verify_needs_keys() {
    let rig = Rig::new(8);
    let r = rig.expect(78, &["verify", "a"]);
    assert!(r.stderr.contains("[keys]"), "{}", r.stderr);
}
