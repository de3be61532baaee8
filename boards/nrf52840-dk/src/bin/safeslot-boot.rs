//! The safeslot boot stage for the nRF52840-DK.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use safeslot_board_nrf52840_dk::{feed_watchdog, init, keys, BOARD};

#[cortex_m_rt::entry]
fn main() -> ! {
    let (mut flash, recovery) = init();
    safeslot_cortex_m::boot::run(&mut flash, &BOARD, &keys::PUBLIC_KEYS, recovery, feed_watchdog)
}
