//! The fixtures the boot crate's host tests share: one device geometry (two 32 KiB slots
//! behind a two-sector record journal on 8-byte program-once words), signed images, a
//! simulated flash with them installed, and the boot configuration over it.
#![allow(dead_code, clippy::unwrap_used, clippy::arithmetic_side_effects, missing_docs)]

use ed25519_compact::{KeyPair, Seed};
use embedded_storage::nor_flash::NorFlash;
use safeslot_boot::BootConfig;
use safeslot_shared::image::{build_slot_image, SignParams};
use safeslot_shared::journal::JournalConfig;
use safeslot_shared::select::FreshRecord;
use safeslot_shared::sim::{SimConfig, SimFlash};
use safeslot_shared::verify::SlotRegion;
use safeslot_shared::{SlotId, Version};

/// CPU address of flash offset 0.
pub const BASE: u64 = 0x2100_0000;
/// Header area of each slot.
pub const HDR: u32 = 0x400;
/// Size of each slot.
pub const SLOT: u32 = 0x8000;
/// The two slots; each image's load address is right after its header.
pub const SLOTS: [SlotRegion; 2] = [
    SlotRegion { offset: 0x2000, size: SLOT, header_size: HDR, load_addr: Some(BASE + 0x2000 + HDR as u64) },
    SlotRegion { offset: 0xA000, size: SLOT, header_size: HDR, load_addr: Some(BASE + 0xA000 + HDR as u64) },
];
/// The record journal: two 4 KiB sectors at offset 0.
pub const JOURNAL: JournalConfig = JournalConfig { offset: 0, size: 0x2000, write_size: 8, erase_size: 0x1000 };
/// Bytes of each test image's body: hashed in several chunks.
pub const BODY: u32 = 3000;

/// The signing key with seed `[seed; 32]` (the stage trusts seed 1's unless a test says
/// otherwise).
pub fn key(seed: u8) -> KeyPair {
    KeyPair::from_seed(Seed::new([seed; 32]))
}

/// The body of version `major`'s image (distinct per version).
pub fn body(major: u8) -> Vec<u8> {
    (0..BODY).map(|i| (i * 7 + u32::from(major)) as u8).collect()
}

/// A slot image (header + body) for `slot`, version `major`.0.0, security counter `sc`,
/// signed by `signer`.
pub fn image_signed(slot: SlotId, major: u8, sc: u32, signer: &KeyPair) -> Vec<u8> {
    image_with(slot, major, sc, signer, safeslot_shared::tlv::Tlvs::EMPTY)
}

/// [`image_signed`] with the protected TLVs `tlvs` (a format-2 header when not empty).
pub fn image_with(slot: SlotId, major: u8, sc: u32, signer: &KeyPair, tlvs: safeslot_shared::tlv::Tlvs) -> Vec<u8> {
    let r = SLOTS[slot.index()];
    let p = SignParams {
        header_size: HDR as u16,
        load_addr: r.load_addr.unwrap(),
        entry: 0,
        version: Version { major, minor: 0, revision: 0, build: 0 },
        security_counter: sc,
        tlvs,
    };
    build_slot_image(&p, &body(major), signer, r.size).unwrap()
}

/// [`image_signed`] by the trusted key with security counter 0.
pub fn image(slot: SlotId, major: u8) -> Vec<u8> {
    image_signed(slot, major, 0, &key(1))
}

/// An erased device big enough for the journal and both slots.
pub fn blank_flash() -> SimFlash {
    SimFlash::new(SimConfig {
        size: 0x12000,
        write_size: 8,
        erase_size: 0x1000,
        write_count: safeslot_shared::nor::WriteCount::Once,
    })
    .unwrap()
}

/// Erases `slot` and writes `bytes` at its start (padded to whole words with 0xFF).
pub fn install(flash: &mut SimFlash, slot: SlotId, bytes: &[u8]) {
    let r = SLOTS[slot.index()];
    flash.erase(r.offset, r.offset + r.size).unwrap();
    let mut padded = bytes.to_vec();
    padded.resize(bytes.len().div_ceil(8) * 8, 0xFF);
    flash.write(r.offset, &padded).unwrap();
}

/// A blank device with `slots` installed and its operation counters reset.
pub fn flash_with(slots: &[(SlotId, Vec<u8>)]) -> SimFlash {
    let mut flash = blank_flash();
    for (slot, bytes) in slots {
        install(&mut flash, *slot, bytes);
    }
    flash.reset_stats();
    flash
}

/// The boot configuration over [`SLOTS`] and [`JOURNAL`] trusting `keys`: no watchdog, no
/// free power-loss retries.
pub fn cfg(keys: &[[u8; 32]]) -> BootConfig<'_> {
    BootConfig {
        journal: JOURNAL,
        slots: &SLOTS,
        keys,
        fresh: FreshRecord::default(),
        power_loss_retries: 0,
        watchdog: None,
        compatible: None,
        refuse_downgrade: false,
    }
}
