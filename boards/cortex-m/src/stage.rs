//! The boot stage of a Cortex-M board: the [`Platform`] that `safeslot_boot::run` drives,
//! and the log lines every Cortex-M board prints.
//!
//! A board supplies its HAL's `NorFlash` driver, its [`Chip`] (watchdog and reset reason),
//! the recovery input it sampled and its hand-off area ([`crate::board!`]); [`main`] runs
//! the one boot main over them. The virtual board implements its own [`Platform`] (semihosting exit codes, a
//! hand-off marker on stdout, the stack measurement) over the same [`log`] and
//! [`handoff::launch`].

use core::convert::Infallible;

use embedded_storage::nor_flash::NorFlash;
use safeslot_boot::config::ExecuteNever;
#[cfg(feature = "defmt")]
use safeslot_boot::Event;
#[allow(unused_imports)] // `NoSecurityCounter`: named in the docs
use safeslot_boot::{
    ApprovedLaunch, BootConfig, NoSecurityCounter, Platform, ResetCause, SecurityCounter, Sha256Engine, SoftSha256,
    Stop,
};
use safeslot_shared::handoff::HANDOFF_LEN;

use crate::handoff::{self, HandoffArea, JumpRefused};

/// What a board's chip gives the boot stage beyond flash: its watchdog, its reset reason
/// and its hardware security counters.
pub trait Chip {
    /// Feeds the watchdog if it runs (an application may have started it before the reset
    /// that led here; on some chips it survives a reset and cannot be stopped).
    fn feed_watchdog(&mut self);

    /// Starts the watchdog with `timeout_ms` (the layout's `[watchdog]`, which the board
    /// checks at build time against the chip's range). Called once, right before the jump,
    /// only on a boot the layout arms.
    fn arm_watchdog(&mut self, timeout_ms: u32);

    /// Why the chip reset, read from its reset-reason register and cleared as the chip
    /// requires (so the next reset reports its own cause); unknown where it cannot tell.
    fn reset_cause(&mut self) -> ResetCause;

    /// The chip's hardware security counters ([`NoSecurityCounter`] where it has none).
    type Counter: SecurityCounter;

    /// The counters in the chip's OTP (or locked flash), or `None`: the stage then keeps
    /// the record-only floor. No default: every chip says which (docs/PORTING.md).
    fn security_counter(&mut self) -> Option<&mut Self::Counter>;

    /// The chip's SHA-256 engine for image hashes: [`SoftSha256`] where it has no hash
    /// peripheral (or its driver is not written yet; docs/PORTING.md, "A hash engine").
    type Sha256: Sha256Engine;

    /// The engine, once per boot.
    fn sha256(&mut self) -> Self::Sha256;
}

/// A Cortex-M board's boot stage: flash, chip (watchdog, reset reason), recovery input,
/// hand-off area.
pub struct Stage<F, C> {
    flash: F,
    chip: C,
    recovery: bool,
    handoff: HandoffArea,
}

impl<F: NorFlash, C: Chip> Stage<F, C> {
    /// The stage over `flash` and `chip`; `recovery` is the recovery input's level at
    /// reset.
    pub fn new(flash: F, chip: C, recovery: bool, handoff: HandoffArea) -> Self {
        Stage { flash, chip, recovery, handoff }
    }
}

impl<F: NorFlash, C: Chip> Platform for Stage<F, C> {
    type Flash = F;
    type LaunchError = JumpRefused;
    type End = Infallible;
    type Counter = C::Counter;
    type Sha256 = C::Sha256;

    fn sha256(&mut self) -> C::Sha256 {
        self.chip.sha256()
    }

    fn security_counter(&mut self) -> Option<&mut C::Counter> {
        self.chip.security_counter()
    }

    fn flash(&mut self) -> &mut F {
        &mut self.flash
    }

    fn feed_watchdog(&mut self) {
        self.chip.feed_watchdog();
    }

    fn arm_watchdog(&mut self, timeout_ms: u32) {
        self.chip.arm_watchdog(timeout_ms);
    }

    fn reset_cause(&mut self) -> ResetCause {
        self.chip.reset_cause()
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
pub fn main<F: NorFlash, C: Chip>(mut stage: Stage<F, C>, cfg: &BootConfig<'_>, execute_never: &[ExecuteNever]) -> ! {
    crate::mpu::protect(execute_never);
    match safeslot_boot::run(&mut stage, cfg) {}
}

/// Logs an event of the boot main: the stage's result line, which the rigs parse
/// (`safeslot_shared::protocol::log::StageLine`: `safeslot: boot slot=…`,
/// `safeslot: recovery reason=…`), encoded by the shared encoder and logged as one string.
#[cfg(feature = "defmt")]
pub fn log<E: safeslot_boot::Named>(event: Event<'_, E>) {
    use safeslot_boot::{CounterEvent, Named as _};
    use safeslot_shared::protocol::log::{BootLine, LineBuf, StageLine};
    let line = match event {
        Event::Boot(h) => StageLine::Boot(BootLine::from_handoff(h)),
        Event::Recovery(stop) => StageLine::Recovery { reason: stop.name(), detail: None },
        // For people, not for the rigs (which read the counter from the flash itself).
        Event::Counter(id, e) => {
            let (what, value) = match e {
                CounterEvent::Read(v) => ("read", v),
                CounterEvent::Unreadable => ("unreadable", 0),
                CounterEvent::Advanced(v) => ("advanced", v),
                CounterEvent::NotAdvanced(v) => ("not-advanced", v),
            };
            defmt::println!("safeslot: counter {=str} {=str}={=u32}", id.name(), what, value);
            return;
        }
    };
    let mut buf = LineBuf::new();
    // A line that does not fit is logged as far as it got: the rig then reports it unparsed.
    let _ = line.encode(&mut buf);
    defmt::println!("{=str}", buf.as_str());
}
