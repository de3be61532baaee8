//! safeslot on the Raspberry Pi Pico (RP2040): HAL init, the flash driver, the watchdog and
//! the recovery button. Everything else is `safeslot-cortex-m`.
//!
//! * Flash: the 2 MiB QSPI NOR is executed in place, so it cannot be read while it is
//!   programmed or erased. embassy-rp's blocking `Flash` (`NorFlash`) runs every operation
//!   from RAM with interrupts off: it leaves XIP through the boot ROM, programs (256 B pages,
//!   a partial page padded with `0xFF`, which NOR leaves unchanged) or erases (4 KiB),
//!   flushes the XIP cache and re-enters XIP through a RAM copy of boot2 — so the boot stage
//!   reads the slots correctly right after changing the record, and core 1 (parked in the
//!   boot ROM) never fetches from flash meanwhile.
//! * boot2: embassy-rp's W25Q080 second stage (the Pico's W25Q16JV), in the 256 B BOOT2
//!   region of the boot stage's memory.x (layout `boot2_size`), placed by `link-rp.x`.
//! * Watchdog: it survives a soft reset (SYSRESETREQ) once an app started it, so the boot
//!   stage reloads it between its long steps (a reload of a stopped watchdog does nothing).
//! * Recovery input: the BOOTSEL button (read through the QSPI chip-select with XIP paused)
//!   held at reset boots last-known-good.
#![no_std]
#![deny(unsafe_code, missing_docs)]

use defmt_rtt as _; // the global defmt logger: RTT, read by probe-rs
use embassy_rp::flash::{Blocking, Flash};
use embassy_rp::peripherals::FLASH;
use embassy_rp::watchdog::Watchdog;
use embassy_time::Duration;
use safeslot_cortex_m::stage::Stage; // and the panic handler (log, reset)

safeslot_cortex_m::board!();

/// The flash driver: offsets from 0x1000_0000, the whole device.
pub type PicoFlash = Flash<'static, FLASH, Blocking, { layout::FLASH_SIZE as usize }>;

/// Watchdog reload value (the RP2040 maximum is 8.3 s).
const WATCHDOG_TIMEOUT: Duration = Duration::from_secs(8);

/// The chip after HAL init (clocks at 125 MHz from the crystal, no interrupts).
pub struct Hw {
    /// The flash driver.
    pub flash: PicoFlash,
    /// Whether the recovery button is held.
    pub recovery: bool,
    /// The watchdog, for reloading.
    pub watchdog: Watchdog,
}

/// Initializes the HAL and reads the recovery button.
pub fn init() -> Hw {
    let p = embassy_rp::init(Default::default());
    let recovery = embassy_rp::bootsel::is_bootsel_pressed(p.BOOTSEL);
    let mut watchdog = Watchdog::new(p.WATCHDOG);
    watchdog.feed(WATCHDOG_TIMEOUT);
    Hw { flash: Flash::new_blocking(p.FLASH), recovery, watchdog }
}

/// The boot stage: the one boot main over this board's platform.
pub fn boot_main() -> ! {
    let Hw { flash, recovery, mut watchdog } = init();
    let feed = || watchdog.feed(WATCHDOG_TIMEOUT);
    safeslot_cortex_m::stage::main(Stage::new(flash, feed, recovery, HANDOFF), &config::BOOT, config::EXECUTE_NEVER)
}

/// The demo app, linked for one slot: confirm (or what the rig mailbox says), then idle.
pub fn app_main() -> ! {
    let mut hw = init();
    safeslot_cortex_m::app::main(hw.flash, config::BOOT.journal, &HANDOFF, || hw.watchdog.feed(WATCHDOG_TIMEOUT))
}
