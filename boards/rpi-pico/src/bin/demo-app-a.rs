//! The demo application, linked for slot a.
#![no_std]
#![no_main]

#[cortex_m_rt::entry]
fn main() -> ! {
    safeslot_board_rpi_pico::app_main()
}
