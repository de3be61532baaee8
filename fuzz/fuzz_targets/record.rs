//! `Record::decode` over arbitrary bytes: total (never panics), and canonical: a record
//! it accepts encodes back to exactly the bytes it was decoded from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safeslot_shared::record::{Record, RECORD_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(r) = Record::decode(data) else { return };
    assert_eq!(data.len(), RECORD_LEN);
    assert_eq!(r.encode().as_slice(), data, "decode accepted a non-canonical encoding");
});
