//! Board support for QEMU's `mps2-an386` (Cortex-M4), the virtual rig of safeslot.
//!
//! The board has no real NOR flash. The harness maps a host file over the
//! 16 MiB PSRAM at [`layout::FLASH_BASE`] (`-M mps2-an386,memory-backend=…`);
//! [`flash::Flash`] turns that plain memory into a NOR device that enforces
//! the program/erase rules of the layout (erase to `0xFF`, program only clears
//! bits, program-once words) and can cut power at an exact store
//! ([`flash::CutPlan`]). [`host`] talks to the harness through semihosting
//! (command line, exit code). The boot stage is the one boot main,
//! `safeslot_boot::run`, over [`stage::VirtualStage`]; the hand-off area ([`HANDOFF`])
//! and the jump into an image are safeslot-cortex-m's, shared with the real boards, and
//! the configuration is the generated [`config`].
//!
//! Unsafe code lives only in [`flash`] (volatile accesses to the window), [`stack`]
//! (painting the free stack to measure its peak) and [`watchdog`] (its registers); the jump and the hand-off area's
//! accesses are audited once, in safeslot-cortex-m's `handoff`.
#![no_std]
#![deny(
    unsafe_code,
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

pub mod app;
#[allow(unsafe_code)]
pub mod flash;
pub mod host;
#[allow(unsafe_code)]
pub mod stack;
pub mod stage;
#[allow(unsafe_code)]
pub mod watchdog;

safeslot_cortex_m::board!();

// The layout's watchdog timeout must be one the CMSDK watchdog can count.
const _: () = assert!(match config::BOOT.watchdog {
    Some(w) => w.timeout_ms <= watchdog::MAX_TIMEOUT_MS,
    None => true,
});

use defmt_semihosting as _; // the global defmt logger: frames go to the host's stdout

/// Logs the panic location and leaves QEMU with [`host::Exit::Panic`].
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(at) => defmt::error!("panic at {=str}:{=u32}", at.file(), at.line()),
        None => defmt::error!("panic"),
    }
    host::exit(host::Exit::Panic)
}

/// A fault (the demo app's `app=crash`, or a bug) ends the run with [`host::Exit::Crash`]
/// instead of cortex-m-rt's default endless loop, so the harness sees it at once.
#[allow(unsafe_code)]
#[cortex_m_rt::exception]
// SAFETY: cortex-m-rt requires the HardFault handler to be declared `unsafe`; it only
// reports and leaves through semihosting, touching no state.
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    host::exit(host::Exit::Crash)
}
