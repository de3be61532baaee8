//! safeslot on the nRF52840-DK (PCA10056): HAL init, the NVMC flash driver, the watchdog
//! and reset reason, and the recovery button. Everything else is `safeslot-cortex-m`.
//!
//! * Flash: embassy-nrf's blocking [`Nvmc`] (`NorFlash`: 4-byte words, 4 KiB pages). The
//!   NVMC stalls the CPU while it programs or erases, which is fine for a boot stage.
//! * Watchdog and reset reason: [`chip`]. The boot stage arms the WDT right before it hands
//!   off a boot the layout's `[watchdog]` arms; once started the WDT cannot be stopped and
//!   keeps running across a soft reset, so the boot stage also feeds one it finds running
//!   (every reload register the app enabled) between its long steps, and the app feeds it
//!   for as long as it runs.
//! * Recovery input: Button 1 (P0.11, active low) held at reset boots last-known-good.
//! * Hardware anti-rollback counter: [`counter`], a flash page the ACL write-protects
//!   before every hand-off.
#![no_std]
#![deny(unsafe_code, missing_docs)]

use defmt_rtt as _; // the global defmt logger: RTT, read by probe-rs
use embassy_nrf::gpio::{Input, Pull};
use embassy_nrf::nvmc::Nvmc;
use embassy_nrf::{peripherals, Peri};
use safeslot_cortex_m::stage::Stage; // and the panic handler (log, reset)

pub mod chip;
#[allow(unsafe_code)]
pub mod counter;

safeslot_cortex_m::board!();

pub use chip::feed_watchdog;

// The layout's watchdog timeout must be one the WDT can count.
const _: () = assert!(
    match config::BOOT.watchdog {
        Some(w) => w.timeout_ms >= chip::MIN_TIMEOUT_MS && w.timeout_ms <= chip::MAX_TIMEOUT_MS,
        None => true,
    },
    "layout.toml [watchdog] timeout_ms is outside the nRF52840 WDT's range"
);

/// The chip after HAL init (default clocks, no interrupts).
pub struct Hw {
    /// The flash driver.
    pub flash: Nvmc<'static>,
    /// Whether the recovery button is held.
    pub recovery: bool,
    /// The WDT, for the boot stage to arm.
    pub wdt: Peri<'static, peripherals::WDT>,
}

/// Initializes the HAL and reads the recovery button.
pub fn init() -> Hw {
    let p = embassy_nrf::init(Default::default());
    let button = Input::new(p.P0_11, Pull::Up);
    cortex_m::asm::delay(6_400); // 100 us at 64 MHz for the pull-up to settle
    let recovery = button.is_low();
    Hw { flash: Nvmc::new(p.NVMC), recovery, wdt: p.WDT }
}

/// The boot stage: the one boot main over this board's platform.
pub fn boot_main() -> ! {
    let Hw { flash, recovery, wdt } = init();
    let chip = chip::Nrf52840::new(wdt);
    safeslot_cortex_m::stage::main(Stage::new(flash, chip, recovery, HANDOFF), &config::BOOT, config::EXECUTE_NEVER)
}

/// The demo app, linked for one slot: confirm (or what the rig mailbox says), then idle,
/// reloading the WDT the stage armed (RR0) or an earlier app started.
pub fn app_main() -> ! {
    let Hw { flash, .. } = init();
    safeslot_cortex_m::app::main(flash, config::BOOT.journal, &HANDOFF, feed_watchdog)
}
