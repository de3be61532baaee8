//! The stage's whole verification (`verify_bootable`: header decode, bounds, key lookup,
//! ed25519 over the header and its TLVs, SHA-256 of the image, admission), through the
//! image tool's `verify`, over arbitrary slot bytes. Two kinds of input (first byte):
//! a fully arbitrary slot, or a genuinely signed slot with byte edits, truncation or
//! extension (structure-aware, so the fuzzer reaches the signature and hash checks).
//! Oracle: an accepted slot carries exactly the signed header and image of the genuine one
//! (nothing the key did not sign is ever accepted).
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use ed25519_compact::{KeyPair, Seed};
use libfuzzer_sys::fuzz_target;
use safeslot_image::image::{sign, verify_bytes, SignParams};
use safeslot_image::slot::SlotTarget;
use safeslot_shared::header::SlotHeader;
use safeslot_shared::policy::Admission;
use safeslot_shared::tlv::{tag, Tlvs};
use safeslot_shared::verify::Trust;
use safeslot_shared::version::Version;

const COMPATIBLE: &[u8] = b"safeslot,fuzz";

struct Genuine {
    target: SlotTarget,
    keys: [[u8; 32]; 2],
    slot: Vec<u8>,
    header: SlotHeader,
}

fn genuine() -> &'static Genuine {
    static G: OnceLock<Genuine> = OnceLock::new();
    G.get_or_init(|| {
        let target = SlotTarget::new(Some("a".into()), 0x0800_0000, 0x8000, 0x4000, 0x200).expect("slot");
        let signer = KeyPair::from_seed(Seed::new([7; 32]));
        let other = KeyPair::from_seed(Seed::new([9; 32]));
        let mut tlvs = Tlvs::EMPTY;
        tlvs.push(tag::COMPATIBLE, COMPATIBLE).expect("room for one TLV");
        let image: Vec<u8> = (0..1500u32).map(|i| (i * 31 % 251) as u8).collect();
        let params =
            SignParams { version: Version::parse("1.2.3+4").expect("version"), security_counter: 5, entry: 0, tlvs };
        let slot = sign(&image, &target, &signer, params).expect("signing the genuine slot");
        let header = SlotHeader::decode(&slot).expect("the genuine header decodes");
        Genuine { target, keys: [*other.pk, *signer.pk], slot, header }
    })
}

fuzz_target!(|data: &[u8]| {
    let g = genuine();
    let Some((&mode, rest)) = data.split_first() else { return };
    let slot = if mode & 1 == 1 {
        rest.to_vec()
    } else {
        let mut s = g.slot.clone();
        // Length change: keep, cut or extend (with 0xFF, as erased flash) by up to 255.
        let Some((&len, edits)) = rest.split_first() else { return };
        match mode >> 1 & 3 {
            1 => s.truncate(s.len().saturating_sub(usize::from(len))),
            2 => s.resize(s.len() + usize::from(len), 0xFF),
            _ => {}
        }
        for e in edits.chunks_exact(3) {
            if s.is_empty() {
                break;
            }
            let at = usize::from(u16::from_le_bytes([e[0], e[1]])) % s.len();
            s[at] ^= e[2];
        }
        s
    };
    let trust = Trust { keys: &g.keys, compatible: Some(COMPATIBLE) };
    let trial = mode & 0x80 != 0;
    let Ok(v) = verify_bytes(Path::new("fuzz"), &slot, &g.target, &trust, &Admission::default(), trial) else {
        return;
    };
    assert_eq!(v.header, g.header, "accepted a header the key did not sign");
    assert_eq!(v.key_index, 1);
    let start = usize::from(g.header.header_size);
    let end = start + g.header.image_len as usize;
    assert_eq!(slot.get(start..end), g.slot.get(start..end), "accepted an image that is not the signed one");
});
