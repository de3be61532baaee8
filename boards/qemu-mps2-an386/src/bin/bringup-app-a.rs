//! Bring-up image for slot a: says where it runs from and exits with
//! `Exit::BringupApp` (0x42), so the harness knows the hand-off reached it.
#![no_std]
#![no_main]
#![deny(unsafe_code, missing_docs)]

use cortex_m_rt::entry;
use safeslot_board_qemu_mps2_an386::host::{self, Exit};

#[entry]
fn main() -> ! {
    let Some(core) = cortex_m::Peripherals::take() else {
        defmt::panic!("core peripherals taken twice");
    };
    let vtor = core.SCB.vtor.read();
    defmt::println!("app running from {=u32:#x}", vtor);
    host::exit(Exit::BringupApp)
}
