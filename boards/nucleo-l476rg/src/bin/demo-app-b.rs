//! The demo application, linked for slot b.
#![no_std]
#![no_main]

#[cortex_m_rt::entry]
fn main() -> ! {
    safeslot_board_nucleo_l476rg::app_main()
}
