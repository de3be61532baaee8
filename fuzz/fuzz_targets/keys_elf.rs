//! The image tool's file inputs: public keys (SPKI PEM, PKCS#8 PEM, 32 raw bytes), signing
//! keys (PKCS#8 PEM, with the explanation of what a refused file holds), ELF files
//! (segments, and flattening into a slot's image) and `inspect` of any slot file. Total:
//! a clear error, never a panic. A key the loaders accept round-trips.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use safeslot_image::slot::SlotTarget;
use safeslot_image::{elf, inspect, keys};

fn target() -> &'static SlotTarget {
    static T: OnceLock<SlotTarget> = OnceLock::new();
    T.get_or_init(|| SlotTarget::new(Some("a".into()), 0x0800_0000, 0x8000, 0x4000, 0x200).expect("slot"))
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz");
    if let Ok(pk) = safeslot_layout::keys::parse_public_key(path, data.to_vec()) {
        assert_eq!(pk.len(), 32);
    }
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(kp) = keys::parse_signing_key(path, text) {
            assert!(kp.sk.public_key() == kp.pk, "a loaded key pair whose halves disagree");
        }
    }
    let _ = elf::load_segments(path, data);
    if let Ok(image) = elf::flatten(path, data, target()) {
        assert!(image.len() <= target().max_image_len() as usize);
    }
    let _ = inspect::inspect(path, data);
});
