//! The safeslot boot stage for the nRF52840-DK.
#![no_std]
#![no_main]

#[cortex_m_rt::entry]
fn main() -> ! {
    safeslot_board_nrf52840_dk::boot_main()
}
