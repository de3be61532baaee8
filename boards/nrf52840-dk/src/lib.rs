//! safeslot on the nRF52840-DK (PCA10056): HAL init, the NVMC flash driver, the watchdog
//! and the recovery button. Everything else is `safeslot-cortex-m`.
//!
//! * Flash: embassy-nrf's blocking [`Nvmc`] (`NorFlash`: 4-byte words, 4 KiB pages). The
//!   NVMC stalls the CPU while it programs or erases, which is fine for a boot stage.
//! * Watchdog: once started the nRF WDT cannot be stopped and keeps running across a soft
//!   reset, so an app that started it reboots into a boot stage that must feed it: every
//!   reload register the app enabled is reloaded between the boot stage's long steps.
//! * Recovery input: Button 1 (P0.11, active low) held at reset boots last-known-good.
#![no_std]
#![deny(unsafe_code, missing_docs)]

use defmt_rtt as _; // the global defmt logger: RTT, read by probe-rs
use embassy_nrf::gpio::{Input, Pull};
use embassy_nrf::nvmc::Nvmc;
use embassy_nrf::pac::wdt::vals::Rr;
use embassy_nrf::pac::WDT;
use safeslot_cortex_m::stage::Stage; // and the panic handler (log, reset)

safeslot_cortex_m::board!();

/// Initializes the HAL (default clocks, no interrupts); returns the flash driver and
/// whether the recovery button is held.
pub fn init() -> (Nvmc<'static>, bool) {
    let p = embassy_nrf::init(Default::default());
    let button = Input::new(p.P0_11, Pull::Up);
    cortex_m::asm::delay(6_400); // 100 us at 64 MHz for the pull-up to settle
    let recovery = button.is_low();
    (Nvmc::new(p.NVMC), recovery)
}

/// Reloads every enabled reload register of the WDT if it is running (and does nothing
/// otherwise: this stage never starts it). embassy-nrf's `Watchdog` needs the app's handle
/// count at compile time, so this reads RREN through the PAC instead.
pub fn feed_watchdog() {
    if WDT.runstatus().read().runstatus() {
        let enabled = WDT.rren().read().0;
        for i in 0..8 {
            if enabled & (1 << i) != 0 {
                WDT.rr(i).write(|w| w.set_rr(Rr::Reload));
            }
        }
    }
}

/// The boot stage: the one boot main over this board's platform.
pub fn boot_main() -> ! {
    let (flash, recovery) = init();
    safeslot_cortex_m::stage::main(Stage::new(flash, feed_watchdog, recovery, HANDOFF), &config::BOOT, config::EXECUTE_NEVER)
}

/// The demo app, linked for one slot: confirm (or what the rig mailbox says), then idle.
pub fn app_main() -> ! {
    let (flash, _) = init();
    safeslot_cortex_m::app::main(flash, config::BOOT.journal, &HANDOFF, feed_watchdog)
}
