//! Structure-aware: arbitrary sequences of device actions (boots, mark good/bad, slot
//! switches), power cuts inside them and bit flips, run through the real journal and a
//! reference model side by side (`safeslot_shared::model`). After every power cycle the
//! state read back is one that was committed, or an explicit fresh state: never invented.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = safeslot_shared::model::run_bytes(data) {
        panic!("journal and model disagree: {violation}");
    }
});
