//! The safeslot boot stage for the NUCLEO-L476RG.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use safeslot_board_nucleo_l476rg::{init, keys, BOARD};

#[cortex_m_rt::entry]
fn main() -> ! {
    let mut hw = init();
    let watchdog = &mut hw.watchdog;
    safeslot_cortex_m::boot::run(&mut hw.flash, &BOARD, &keys::PUBLIC_KEYS, hw.recovery, || watchdog.pet())
}
