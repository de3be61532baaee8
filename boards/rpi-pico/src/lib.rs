//! safeslot on the Raspberry Pi Pico (RP2040): HAL init, the flash driver, the watchdog and
//! reset reason, and the recovery button. Everything else is `safeslot-cortex-m`.
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
//! * Watchdog and reset reason: [`chip`]. The boot stage arms the watchdog right before it
//!   hands off a boot the layout's `[watchdog]` arms, and the app feeds it (or stops it). It
//!   survives a soft reset (SYSRESETREQ), so the boot stage also reloads one it finds running
//!   between its long steps (a reload of a stopped watchdog does nothing).
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

pub mod chip;

safeslot_cortex_m::board!();

// The layout's watchdog timeout must be one the watchdog can count.
const _: () = assert!(
    match config::BOOT.watchdog {
        Some(w) => w.timeout_ms >= chip::MIN_TIMEOUT_MS && w.timeout_ms <= chip::MAX_TIMEOUT_MS,
        None => true,
    },
    "layout.toml [watchdog] timeout_ms is outside the RP2040 watchdog's range (1..=8388 ms)"
);

/// The flash driver: offsets from 0x1000_0000, the whole device.
pub type PicoFlash = Flash<'static, FLASH, Blocking, { layout::FLASH_SIZE as usize }>;

/// The reload the app feeds: the layout's timeout, which the stage armed (or, without a
/// `[watchdog]`, the stage's own reload, for a watchdog an earlier app left running).
pub const APP_FEED: Duration = match config::BOOT.watchdog {
    Some(w) => Duration::from_millis(w.timeout_ms as u64),
    None => chip::STAGE_TIMEOUT,
};

/// The chip after HAL init (clocks at 125 MHz from the crystal, no interrupts).
pub struct Hw {
    /// The flash driver.
    pub flash: PicoFlash,
    /// Whether the recovery button is held.
    pub recovery: bool,
    /// The watchdog (not touched yet).
    pub watchdog: Watchdog,
}

/// Initializes the HAL and reads the recovery button.
pub fn init() -> Hw {
    let p = embassy_rp::init(Default::default());
    let recovery = embassy_rp::bootsel::is_bootsel_pressed(p.BOOTSEL);
    Hw { flash: Flash::new_blocking(p.FLASH), recovery, watchdog: Watchdog::new(p.WATCHDOG) }
}

/// The boot stage: the one boot main over this board's platform.
pub fn boot_main() -> ! {
    let Hw { flash, recovery, watchdog } = init();
    let chip = chip::Rp2040::new(watchdog);
    safeslot_cortex_m::stage::main(Stage::new(flash, chip, recovery, HANDOFF), &config::BOOT, config::EXECUTE_NEVER)
}

/// The demo app, linked for one slot: confirm (or what the rig mailbox says), then idle,
/// feeding the watchdog the stage armed with [`APP_FEED`].
pub fn app_main() -> ! {
    let Hw { flash, mut watchdog, .. } = init();
    watchdog.feed(APP_FEED);
    safeslot_cortex_m::app::main(flash, config::BOOT.journal, &HANDOFF, || watchdog.feed(APP_FEED))
}
