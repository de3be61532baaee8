//! The safeslot boot stage for the Raspberry Pi Pico.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use safeslot_board_rpi_pico::{init, keys, BOARD, WATCHDOG_TIMEOUT};

#[cortex_m_rt::entry]
fn main() -> ! {
    let mut hw = init();
    let watchdog = &mut hw.watchdog;
    safeslot_cortex_m::boot::run(&mut hw.flash, &BOARD, &keys::PUBLIC_KEYS, hw.recovery, || {
        watchdog.feed(WATCHDOG_TIMEOUT)
    })
}
