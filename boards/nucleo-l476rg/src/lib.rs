//! safeslot on the NUCLEO-L476RG (STM32L476RG): HAL init, the flash driver, the watchdog
//! and the recovery button. Everything else is `safeslot-cortex-m`.
//!
//! * Flash: embassy-stm32's blocking `Flash` (`NorFlash`: 8-byte double words, 2 KiB
//!   pages, both banks), wrapped in [`L4Flash`] for the two traps of this chip's ECC flash:
//!   - each double word carries ECC, so it is programmed **once** per erase (the layout says
//!     `program_once`; the journal never programs a position twice, even a torn one);
//!   - a double word torn by a power cut mid-program can hold a 2-bit ECC error, and *reading*
//!     it raises an NMI (FLASH_ECCR.ECCD). cortex-m-rt's default NMI handler spins forever:
//!     a brick. `flash`'s NMI handler clears ECCD and returns, so the read yields the raw
//!     (garbage) bytes and the journal rejects that entry by its CRC, as the sweep proves for
//!     torn programs;
//!   - the flash's data and instruction caches (on from reset) can hold lines of a page that
//!     was just erased or programmed: [`L4Flash`] resets both after every erase and program.
//! * Watchdog: the IWDG may be started by the option bytes (IWDG_SW = 0) and then runs from
//!   reset: it is reloaded between the boot stage's long steps (reloading a stopped IWDG does
//!   nothing, and nothing here starts it).
//! * Recovery input: the blue user button B1 (PC13, low while pressed) held at reset.
#![no_std]
#![deny(unsafe_code, missing_docs, clippy::undocumented_unsafe_blocks)]

use defmt_rtt as _; // the global defmt logger: RTT, read by probe-rs
use embassy_stm32::flash::Flash;
use embassy_stm32::gpio::{Input, Pull};
use embassy_stm32::wdg::IndependentWatchdog;
use safeslot_cortex_m::stage::Stage; // and the panic handler (log, reset)

pub mod flash;

safeslot_cortex_m::board!();

pub use flash::L4Flash;

/// IWDG timeout set when it is reloaded (it is only reloaded, never started, here).
const WATCHDOG_TIMEOUT_US: u32 = 8_000_000;

/// The chip after HAL init (default clocks: MSI 4 MHz, no interrupts).
pub struct Hw {
    /// The flash driver.
    pub flash: L4Flash,
    /// Whether the recovery button is held.
    pub recovery: bool,
    /// The IWDG, for reloading.
    pub watchdog: IndependentWatchdog<'static, embassy_stm32::peripherals::IWDG>,
}

/// Initializes the HAL and reads the recovery button.
pub fn init() -> Hw {
    let p = embassy_stm32::init(Default::default());
    let button = Input::new(p.PC13, Pull::None); // B1 has an external pull-up
    cortex_m::asm::delay(400); // 100 us at 4 MHz
    let recovery = button.is_low();
    let mut watchdog = IndependentWatchdog::new(p.IWDG, WATCHDOG_TIMEOUT_US);
    watchdog.pet();
    Hw { flash: L4Flash(Flash::new_blocking(p.FLASH)), recovery, watchdog }
}

/// The boot stage: the one boot main over this board's platform.
pub fn boot_main() -> ! {
    let Hw { flash, recovery, mut watchdog } = init();
    safeslot_cortex_m::stage::main(Stage::new(flash, || watchdog.pet(), recovery, HANDOFF), &config::BOOT, config::EXECUTE_NEVER)
}

/// The demo app, linked for one slot: confirm (or what the rig mailbox says), then idle.
pub fn app_main() -> ! {
    let mut hw = init();
    safeslot_cortex_m::app::main(hw.flash, config::BOOT.journal, &HANDOFF, || hw.watchdog.pet())
}
