//! safeslot on the NUCLEO-L476RG (STM32L476RG): HAL init, the flash driver, the watchdog
//! and reset reason, and the recovery button. Everything else is `safeslot-cortex-m`.
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
//! * Watchdog and reset reason: [`chip`]. The boot stage arms the IWDG right before it hands
//!   off a boot the layout's `[watchdog]` arms; once started it cannot be stopped, so the app
//!   feeds it for as long as it runs. The option bytes may also start it at reset
//!   (IWDG_SW = 0): the boot stage then reloads it between its long steps.
//! * Recovery input: the blue user button B1 (PC13, low while pressed) held at reset.
#![no_std]
#![deny(unsafe_code, missing_docs, clippy::undocumented_unsafe_blocks)]

use defmt_rtt as _; // the global defmt logger: RTT, read by probe-rs
use embassy_stm32::flash::Flash;
use embassy_stm32::gpio::{Input, Pull};
use embassy_stm32::{peripherals, Peri};
use safeslot_cortex_m::stage::Stage; // and the panic handler (log, reset)

pub mod chip;
pub mod flash;

safeslot_cortex_m::board!();

pub use chip::feed_watchdog;
pub use flash::L4Flash;

// The layout's watchdog timeout must be one the IWDG can count.
const _: () = assert!(
    match config::BOOT.watchdog {
        Some(w) => w.timeout_ms >= chip::MIN_TIMEOUT_MS && w.timeout_ms <= chip::MAX_TIMEOUT_MS,
        None => true,
    },
    "layout.toml [watchdog] timeout_ms is outside the STM32L4 IWDG's range (1..=32768 ms)"
);

/// The PLL multiplier: SYSCLK = MSI 4 MHz / 1 × 40 / 2 = 80 MHz, the chip's most in
/// voltage range 1 (RM0351 §6.2.5: VCO input 4 MHz in 4..=16, VCO 160 MHz in 64..=344).
const PLL_N: u8 = 40;
/// MSI's frequency, range 6 (the reset range).
const MSI_HZ: u32 = 4_000_000;
const _: () = assert!(
    MSI_HZ * PLL_N as u32 / 2 == layout::CORE_CLOCK_HZ && MSI_HZ == layout::RESET_CLOCK_HZ,
    "layout.toml [clock] does not match the PLL set-up in src/lib.rs"
);

/// The clock tree the boot stage sets up and leaves for the app: SYSCLK = HCLK = PCLK1 =
/// PCLK2 = 80 MHz from the PLL (fed by MSI 4 MHz, left on), flash latency 4 wait states with
/// prefetch and the ART caches on (embassy-stm32 sets the latency from HCLK). An app that
/// calls `embassy_stm32::init` with another tree gets it: that init switches to MSI first.
fn clocks() -> embassy_stm32::Config {
    use embassy_stm32::rcc::{MSIRange, Pll, PllMul, PllPreDiv, PllRDiv, PllSource, Sysclk};
    let mut c = embassy_stm32::Config::default();
    c.rcc.msi = Some(MSIRange::RANGE4M);
    c.rcc.pll = Some(Pll {
        source: PllSource::MSI,
        prediv: PllPreDiv::DIV1,
        mul: PllMul::from_bits(PLL_N),
        divp: None,
        divq: None,
        divr: Some(PllRDiv::DIV2),
    });
    c.rcc.sys = Sysclk::PLL1_R;
    c
}

/// The chip after HAL init ([`clocks`]: 80 MHz; no interrupts).
pub struct Hw {
    /// The flash driver.
    pub flash: L4Flash,
    /// Whether the recovery button is held.
    pub recovery: bool,
    /// The IWDG, for the boot stage to arm.
    pub iwdg: Peri<'static, peripherals::IWDG>,
}

/// Initializes the HAL and reads the recovery button.
pub fn init() -> Hw {
    let p = embassy_stm32::init(clocks());
    let button = Input::new(p.PC13, Pull::None); // B1 has an external pull-up
    cortex_m::asm::delay(layout::CORE_CLOCK_HZ / 10_000); // 100 us
    let recovery = button.is_low();
    Hw { flash: L4Flash(Flash::new_blocking(p.FLASH)), recovery, iwdg: p.IWDG }
}

/// The boot stage: the one boot main over this board's platform.
pub fn boot_main() -> ! {
    let Hw { flash, recovery, iwdg } = init();
    let chip = chip::L476::new(iwdg);
    safeslot_cortex_m::stage::main(Stage::new(flash, chip, recovery, HANDOFF), &config::BOOT, config::EXECUTE_NEVER)
}

/// The demo app, linked for one slot: confirm (or what the rig mailbox says), then idle,
/// reloading the IWDG the stage armed (with the stage's timeout: the app does not retime it).
pub fn app_main() -> ! {
    let Hw { flash, .. } = init();
    feed_watchdog();
    safeslot_cortex_m::app::main(flash, config::BOOT.journal, &HANDOFF, feed_watchdog)
}
