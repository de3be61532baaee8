//! `Journal::open` over an arbitrary region (any bytes, in any of the supported
//! geometries and write-count rules): never panics and never fails on a valid geometry;
//! then one update (or, on a region without a valid record, a first record) and a reopen:
//! the record read back is the one written, or, when the write failed, the one before.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safeslot_shared::journal::{Found, Journal};
use safeslot_shared::nor::WriteCount;
use safeslot_shared::ops;
use safeslot_shared::record::Record;
use safeslot_shared::sim::{SimConfig, SimFlash};
use safeslot_shared::slot::{SlotId, Tries};

fn current(flash: &mut SimFlash, cfg: &SimConfig) -> Option<Record> {
    let j = Journal::open(flash, cfg.whole_journal()).expect("a valid geometry opens");
    match j.found() {
        Found::Valid(_) => Some(j.record().expect("a valid head has a record").clone()),
        Found::Blank | Found::NoValidRecord => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&g, rest)) = data.split_first() else { return };
    let erase_size = [256, 512][usize::from(g / 6 % 2)];
    let cfg = SimConfig {
        write_size: [1, 2, 4, 8, 16, 32][usize::from(g % 6)],
        erase_size,
        size: erase_size * (2 + usize::from(g / 12 % 3)),
        write_count: [WriteCount::Once, WriteCount::Twice, WriteCount::Unlimited][usize::from(g / 36 % 3)],
    };
    let mut bytes = vec![0xFF; cfg.size];
    let n = rest.len().min(cfg.size);
    bytes[..n].copy_from_slice(&rest[..n]);
    let mut flash = SimFlash::from_bytes(cfg, bytes).expect("the region has the configured size");

    let before = current(&mut flash, &cfg);
    let tries = Tries::new(1 + g % 7).expect("1..=7 tries");
    let expected = match &before {
        Some(r) => {
            let slot = SlotId::from_index(g >> 7).expect("slot a or b");
            let mut next = r.clone();
            let Ok(()) = ops::set_active(&mut next, slot, tries) else { return };
            let mut j = Journal::open(&mut flash, cfg.whole_journal()).expect("a valid geometry opens");
            let written = j.update(|r| ops::set_active(r, slot, tries));
            (written.is_ok(), next)
        }
        None => {
            let fresh = Record::fresh(2, tries);
            let mut j = Journal::open(&mut flash, cfg.whole_journal()).expect("a valid geometry opens");
            (j.initialize(&fresh).is_ok(), fresh)
        }
    };
    let after = current(&mut flash, &cfg);
    match expected {
        (true, next) => assert_eq!(after.as_ref(), Some(&next), "the committed record is not the one read back"),
        (false, next) => assert!(
            after == before || after.as_ref() == Some(&next),
            "a failed write left a record that is neither the old nor the new one: {after:?}"
        ),
    }
});
