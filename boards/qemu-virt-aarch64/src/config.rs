//! The boot sequence's configuration, built from the generated layout consts.

use safeslot_shared::journal::JournalConfig;
use safeslot_shared::select::FreshPolicy;
use safeslot_shared::slot::{Tries, MAX_SLOTS};
use safeslot_shared::verify::SlotRegion;

use crate::layout;

/// The record journal's place and geometry.
pub const JOURNAL: JournalConfig = JournalConfig {
    offset: layout::RECORD_OFFSET,
    size: layout::RECORD_SIZE,
    write_size: layout::WRITE_SIZE,
    erase_size: layout::ERASE_SIZE,
};

/// What a blank record region becomes.
pub const FRESH: FreshPolicy = FreshPolicy::for_slots(layout::SLOT_COUNT as u8);

/// The slots as the verifier sees them. An image carries its slot's image address in
/// flash as its load address (as `safeslot-image sign --layout` writes it), which binds a
/// signed image to its slot; where its parts go in RAM is the layout's `[linux]` map.
pub fn slots() -> [SlotRegion; MAX_SLOTS] {
    let mut out = [SlotRegion { offset: 0, size: 0, header_size: 0, load_addr: Some(0) }; MAX_SLOTS];
    for (i, o) in out.iter_mut().enumerate().take(layout::SLOT_COUNT) {
        let off = layout::SLOT_OFFSETS[i];
        let hdr = layout::SLOT_HEADER_SIZES[i];
        *o = SlotRegion {
            offset: off,
            size: layout::SLOT_SIZES[i],
            header_size: hdr,
            load_addr: Some(u64::from(layout::FLASH_BASE) + u64::from(off) + u64::from(hdr)),
        };
    }
    out
}
