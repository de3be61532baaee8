//! The slot header and TLV decoders over arbitrary bytes: total, and a header they accept
//! decodes again, unchanged, from its own encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safeslot_shared::header::SlotHeader;
use safeslot_shared::tlv::Tlvs;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = SlotHeader::decode(data) {
        let again = SlotHeader::decode(h.encode().as_bytes()).expect("a decoded header's encoding decodes");
        assert_eq!(again, h);
    }
    if let Ok(t) = Tlvs::from_bytes(data) {
        let again = Tlvs::from_bytes(t.as_bytes()).expect("accepted TLVs decode from their own bytes");
        assert_eq!(again.as_bytes(), t.as_bytes());
        let _ = t.compatible();
    }
});
