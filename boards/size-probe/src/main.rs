//! The boot stage as a product would ship it: no logs, no semihosting, no test hooks.
//! Built for thumbv7em and thumbv6m by `cargo xtask size`; never run.
#![no_std]
#![no_main]
#![deny(unsafe_code, missing_docs)]

#[allow(unsafe_code)]
mod flash;

use core::panic::PanicInfo;

use cortex_m_rt::entry;
use safeslot_boot::{boot, BootConfig, Outcome};
use safeslot_shared::journal::JournalConfig;
use safeslot_shared::policy::Inputs;
use safeslot_shared::select::FreshPolicy;
use safeslot_shared::verify::SlotRegion;

/// The key the probe embeds (32 raw bytes named by `SAFESLOT_PROBE_KEY` at build time).
const KEYS: [[u8; 32]; 1] = [*include_bytes!(env!("SAFESLOT_PROBE_KEY"))];
const BASE: u32 = 0x2100_0000;

#[entry]
fn main() -> ! {
    let mut f = flash::Flash { base: BASE as usize, size: 0x100_0000 };
    let slots = [
        SlotRegion {
            offset: 0x1_0000,
            size: 0x40_0000,
            header_size: 0x400,
            load_addr: Some(u64::from(BASE) + 0x1_0400),
        },
        SlotRegion {
            offset: 0x41_0000,
            size: 0x40_0000,
            header_size: 0x400,
            load_addr: Some(u64::from(BASE) + 0x41_0400),
        },
    ];
    let cfg = BootConfig {
        journal: JournalConfig { offset: 0, size: 0x2000, write_size: 8, erase_size: 0x1000 },
        slots: &slots,
        keys: &KEYS,
        fresh: FreshPolicy::default(),
    };
    match boot(&mut f, &cfg, Inputs::default(), || {}) {
        Outcome::Launch(l) if l.holds() => {
            #[allow(unsafe_code)]
            // SAFETY: as in the virtual board's boot stage: `l` proves a verified image linked
            // at `load_addr`; nothing else runs; no interrupts are enabled.
            unsafe {
                cortex_m::asm::bootload(l.load_addr as usize as *const u32)
            }
        }
        _ => loop {
            cortex_m::asm::wfi();
        },
    }
}

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
