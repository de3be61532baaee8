//! The boot stage of a Cortex-M board: the [`Platform`] that `safeslot_boot::run` drives,
//! and the log lines every Cortex-M board prints.
//!
//! A board supplies its HAL's `NorFlash` driver, its watchdog feed, the recovery input it
//! sampled and its hand-off area ([`crate::board!`]); [`main`] runs the one boot main over
//! them. The virtual board implements its own [`Platform`] (semihosting exit codes, a
//! hand-off marker on stdout, the stack measurement) over the same [`log`] and
//! [`handoff::launch`].

use core::convert::Infallible;

use embedded_storage::nor_flash::NorFlash;
#[cfg(feature = "defmt")]
use safeslot_boot::Event;
use safeslot_boot::{ApprovedLaunch, BootConfig, Platform, Stop};
use safeslot_shared::handoff::HANDOFF_LEN;

use crate::handoff::{self, HandoffArea, JumpRefused};

/// A Cortex-M board's boot stage: flash, watchdog feed, recovery input, hand-off area.
pub struct Stage<F, W> {
    flash: F,
    feed: W,
    recovery: bool,
    handoff: HandoffArea,
}

impl<F: NorFlash, W: FnMut()> Stage<F, W> {
    /// The stage over `flash`; `feed` reloads the watchdog if it runs (a no-op closure on a
    /// board without one), `recovery` is the recovery input's level at reset.
    pub fn new(flash: F, feed: W, recovery: bool, handoff: HandoffArea) -> Self {
        Stage { flash, feed, recovery, handoff }
    }
}

impl<F: NorFlash, W: FnMut()> Platform for Stage<F, W> {
    type Flash = F;
    type LaunchError = JumpRefused;
    type End = Infallible;

    fn flash(&mut self) -> &mut F {
        &mut self.flash
    }

    fn feed_watchdog(&mut self) {
        (self.feed)();
    }

    fn recovery_requested(&mut self) -> bool {
        self.recovery
    }

    #[cfg(feature = "defmt")]
    fn log(&mut self, event: Event<'_, JumpRefused>) {
        log(event);
    }

    fn leave_handoff(&mut self, block: &[u8; HANDOFF_LEN]) {
        self.handoff.leave_block(block);
    }

    fn launch(&mut self, approved: ApprovedLaunch) -> Result<Infallible, JumpRefused> {
        Err(handoff::launch(&approved))
    }

    /// Recovery: nothing to boot. A product would offer an update path (USB DFU, UART)
    /// here; the stage only waits (the log has the reason). A running watchdog then resets
    /// the chip, which retries the boot without writing the record again.
    fn recover(&mut self, _: Stop<JumpRefused>) -> Infallible {
        loop {
            cortex_m::asm::wfe();
        }
    }
}

/// Runs the one boot main (`safeslot_boot::run`) over `stage` with the board's generated
/// `cfg`; never returns.
pub fn main<F: NorFlash, W: FnMut()>(mut stage: Stage<F, W>, cfg: &BootConfig<'_>) -> ! {
    match safeslot_boot::run(&mut stage, cfg) {}
}

/// Logs an event of the boot main: one line each, which the rigs parse
/// (`safeslot: boot slot=…`, `safeslot: recovery reason=…`).
#[cfg(feature = "defmt")]
pub fn log<E: safeslot_boot::Named>(event: Event<'_, E>) {
    use safeslot_boot::Named as _;
    match event {
        Event::Boot(h) => defmt::println!(
            "safeslot: boot slot={=u8} kind={=str} tries={=u8} fallback={=str} version={=u8}.{=u8}.{=u16} seq={=u32}",
            h.slot.index() as u8,
            h.kind.name(),
            h.tries_left.get(),
            h.last_fallback.name(),
            h.version.major,
            h.version.minor,
            h.version.revision,
            h.record_seq
        ),
        Event::Recovery(stop) => defmt::println!("safeslot: recovery reason={=str}", stop.name()),
    }
}
