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

/// The device interrupt vectors: one, never taken. The boot stage enables no interrupt
/// (and hands off with VTOR pointing at the image's own table), so a device-sized table
/// (240 entries, 960 B, without a PAC) would be flash spent on nothing; cortex-m-rt's
/// linker script wants at least one entry.
// Placing a symbol in the vector table is what `no_mangle` + `link_section` are for here;
// cortex-m-rt's link.x places `.vector_table.interrupts` right after the exceptions.
#[allow(unsafe_code)]
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
static __INTERRUPTS: [unsafe extern "C" fn(); 1] = [never];

/// The one device vector: spins (no device interrupt is ever enabled).
extern "C" fn never() {
    loop {}
}

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
