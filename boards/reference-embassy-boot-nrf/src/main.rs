//! A size reference, never shipped: embassy-boot's nRF bootloader (`embassy-boot-nrf`
//! 0.12 over embassy-nrf 0.11, for the nRF52840) as embassy's own example
//! `examples/boot/bootloader/nrf` builds it, without defmt or any other log, so that
//! `cargo xtask size` can print its flash and RAM next to our boot stage's log-free build
//! (boards/size-probe) — issue #18, goal 7.
//!
//! The two do different jobs, and the table says so: at boot, embassy-boot checks its state
//! page and, if an update was marked, swaps the DFU partition into ACTIVE (or reverts a
//! trial that was not confirmed), then jumps to ACTIVE. It verifies no signature and no
//! hash at boot (embassy-boot checks a signature only in the application's updater, before
//! marking an update). Our boot stage verifies the ed25519 signature and the SHA-256 of the
//! image it boots, every boot, and keeps an A/B record instead of swapping.
//!
//! Same profile as every firmware build here (boards/Cargo.toml: `opt-level = "z"`, fat
//! LTO, one codegen unit, `panic = "abort"`); the panic and HardFault handlers are a bare
//! `udf`, as the size probe's carry no log either.
#![no_std]
#![no_main]

use core::cell::RefCell;

use cortex_m_rt::{entry, exception};
use embassy_boot_nrf::{BootLoader, BootLoaderConfig, WatchdogFlash};
use embassy_nrf::nvmc::Nvmc;
use embassy_nrf::wdt::{self, HaltConfig, SleepConfig};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::blocking_mutex::Mutex;

#[entry]
fn main() -> ! {
    let p = embassy_nrf::init(Default::default());

    // As the example: a 5 s watchdog, petted on every flash access during a swap, running
    // in sleep and paused while a debugger halts the core.
    let mut wdt_config = wdt::Config::default();
    wdt_config.timeout_ticks = 32768 * 5;
    wdt_config.action_during_sleep = SleepConfig::Run;
    wdt_config.action_during_debug_halt = HaltConfig::Pause;

    let flash = WatchdogFlash::start(Nvmc::new(p.NVMC), p.WDT, wdt_config);
    let flash: Mutex<NoopRawMutex, _> = Mutex::new(RefCell::new(flash));

    // ACTIVE, DFU and the state page all live in the internal flash (memory.x).
    let config = BootLoaderConfig::from_linkerfile_blocking(&flash, &flash, &flash);
    let active_offset = config.active.offset();
    let bl: BootLoader = BootLoader::prepare(config);

    #[allow(unsafe_code)]
    // SAFETY: `active_offset` is the start of the ACTIVE partition (memory.x), where the
    // application's vector table is linked; `load` points VTOR there, loads its stack
    // pointer and jumps to its reset vector, and never returns. Nothing of ours is live
    // afterwards: the flash and watchdog handles are abandoned with this stack.
    unsafe {
        bl.load(active_offset)
    }
}

#[allow(unsafe_code)]
#[exception]
// SAFETY: cortex-m-rt requires the HardFault handler to be declared `unsafe`; it touches no
// state and only stops the core.
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    cortex_m::asm::udf()
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    cortex_m::asm::udf()
}
