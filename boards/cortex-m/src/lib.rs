//! What every safeslot Cortex-M board shares, written once.
//!
//! * [`handoff`]: the one audited jump into a verified image ([`handoff::jump`]) and the
//!   hand-off area in RAM ([`handoff::HandoffArea`]: the hand-off block and the rig mailbox);
//! * [`board`]: a board's layout as the boot sequence sees it, from the consts its build
//!   script generated ([`board_layout!`]);
//! * [`boot`]: the boot stage's main over any `NorFlash` ([`boot::run`]);
//! * [`app`]: the demo application over any `NorFlash`, driven by the rig mailbox
//!   ([`app::run`]).
//!
//! A board crate adds only what is its own: HAL init, the HAL's flash driver, the watchdog,
//! the recovery input, the defmt transport and its bins. Unsafe code lives only in
//! [`handoff`].
#![no_std]

pub mod app;
pub mod board;
pub mod boot;
#[allow(unsafe_code)]
pub mod handoff;

pub use board::{Board, LayoutConsts};

/// Logs the panic location through defmt and resets the chip: a boot stage (or app) that
/// hangs on a panic is a brick until someone power-cycles it, a reset retries the boot
/// (and a crashing trial image runs out of tries).
#[cfg(feature = "panic-reset")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(at) => defmt::error!("panic at {=str}:{=u32}", at.file(), at.line()),
        None => defmt::error!("panic"),
    }
    cortex_m::peripheral::SCB::sys_reset()
}
