//! The safeslot boot stage for the NUCLEO-L476RG.
#![no_std]
#![no_main]

#[cortex_m_rt::entry]
fn main() -> ! {
    safeslot_board_nucleo_l476rg::boot_main()
}
