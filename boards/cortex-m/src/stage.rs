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
use safeslot_boot::config::ExecuteNever;
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
/// `cfg`, the slots (`execute_never`, the generated `config::EXECUTE_NEVER`) execute-never
/// until the jump ([`crate::mpu`]); never returns.
pub fn main<F: NorFlash, W: FnMut()>(mut stage: Stage<F, W>, cfg: &BootConfig<'_>, execute_never: &[ExecuteNever]) -> ! {
    crate::mpu::protect(execute_never);
    match safeslot_boot::run(&mut stage, cfg) {}
}

/// Logs an event of the boot main: the stage's result line, which the rigs parse
/// (`safeslot_shared::protocol::log::StageLine`: `safeslot: boot slot=…`,
/// `safeslot: recovery reason=…`), encoded by the shared encoder and logged as one string.
#[cfg(feature = "defmt")]
pub fn log<E: safeslot_boot::Named>(event: Event<'_, E>) {
    use safeslot_boot::Named as _;
    use safeslot_shared::protocol::log::{BootLine, LineBuf, StageLine};
    let line = match event {
        Event::Boot(h) => StageLine::Boot(BootLine::from_handoff(h)),
        Event::Recovery(stop) => StageLine::Recovery { reason: stop.name(), detail: None },
    };
    let mut buf = LineBuf::new();
    // A line that does not fit is logged as far as it got: the rig then reports it unparsed.
    let _ = line.encode(&mut buf);
    defmt::println!("{=str}", buf.as_str());
}
