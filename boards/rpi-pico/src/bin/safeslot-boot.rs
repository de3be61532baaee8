//! The safeslot boot stage for the Raspberry Pi Pico.
#![no_std]
#![no_main]

#[cortex_m_rt::entry]
fn main() -> ! {
    safeslot_board_rpi_pico::boot_main()
}
