//! The boot stage as a product would ship it: no logs, no semihosting, no test hooks.
//! Built for thumbv7em and thumbv6m by `cargo xtask size`; never run.
//!
//! It is the real boards' boot stage — the one boot main (`safeslot_boot::run`) over
//! safeslot-cortex-m's `Stage`, with its hand-off area and jump — built without the defmt
//! feature, over the virtual board's generated layout and configuration and a minimal
//! memory-mapped flash driver.
#![no_std]
#![no_main]
#![deny(unsafe_code, missing_docs)]

#[allow(unsafe_code)]
mod chip;
#[allow(unsafe_code)]
mod flash;

use core::panic::PanicInfo;

use cortex_m_rt::entry;
use safeslot_cortex_m::stage::{self, Stage};

safeslot_cortex_m::board!();

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
    loop {
        cortex_m::asm::wfi();
    }
}

#[entry]
fn main() -> ! {
    let flash = flash::Flash { base: layout::FLASH_BASE as usize, size: layout::FLASH_SIZE as usize };
    // No recovery input: a board's is a register access.
    stage::main(Stage::new(flash, chip::Probe::new(), false, HANDOFF), &config::BOOT, config::EXECUTE_NEVER)
}

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
