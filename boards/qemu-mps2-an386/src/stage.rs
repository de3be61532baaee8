//! The virtual board's boot-stage platform: what `safeslot_boot::run`, the one boot main,
//! drives here.
//!
//! Like a real board's (`safeslot_cortex_m::stage::Stage`) it logs the same lines, leaves
//! the block in the same hand-off area and jumps through the same audited
//! `safeslot_cortex_m::handoff::launch`. What differs is the rig's view: the flash driver
//! cuts power where the command line says ([`crate::flash::CutPlan`]), the recovery input
//! is the command line's `recovery`, the reset cause its `reset=`, the stage writes [`host::HANDOFF_MARKER`] before the
//! jump (so the harness can split the two programs' logs), logs its measured stack peak,
//! and ends recovery with a semihosting exit code instead of waiting.

use core::convert::Infallible;

use safeslot_boot::{ApprovedLaunch, Event, Platform, ResetCause, SoftSha256, Stop};
use safeslot_cortex_m::handoff::{self, JumpRefused};
use safeslot_shared::handoff::HANDOFF_LEN;

use crate::flash::Flash;
use crate::host::{self, Exit};
use crate::{stack, HANDOFF};

/// The virtual board's boot stage.
pub struct VirtualStage {
    /// The NOR driver over the flash window, with the boot stage's cut plan.
    pub flash: Flash,
    /// The command line's `recovery` word.
    pub recovery: bool,
    /// The command line's `reset=` (the machine has no reset-cause register: the rig says
    /// why it reset; unknown without it).
    pub reset: ResetCause,
}

impl Platform for VirtualStage {
    type Flash = Flash;
    type LaunchError = JumpRefused;
    type End = Infallible;
    /// The OTP sector of the flash file, through the flash driver (`crate::flash`).
    type Counter = Flash;
    type Sha256 = SoftSha256;

    fn sha256(&mut self) -> SoftSha256 {
        SoftSha256::default()
    }

    fn security_counter(&mut self) -> Option<&mut Flash> {
        Some(&mut self.flash)
    }

    fn flash(&mut self) -> &mut Flash {
        &mut self.flash
    }

    fn recovery_requested(&mut self) -> bool {
        self.recovery
    }

    fn reset_cause(&mut self) -> ResetCause {
        self.reset
    }

    fn arm_watchdog(&mut self, timeout_ms: u32) {
        crate::watchdog::arm(timeout_ms);
    }

    fn log(&mut self, event: Event<'_, JumpRefused>) {
        // The sequence is over: the stack it needed has been used (painted in the bin).
        if !matches!(event, Event::Counter(..)) {
            defmt::println!("safeslot: stack peak={=u32}", stack::peak());
        }
        safeslot_cortex_m::stage::log(event);
    }

    fn leave_handoff(&mut self, block: &[u8; HANDOFF_LEN]) {
        HANDOFF.leave_block(block);
    }

    fn launch(&mut self, approved: ApprovedLaunch) -> Result<Infallible, JumpRefused> {
        host::mark_handoff();
        Err(handoff::launch(&approved))
    }

    fn recover(&mut self, _: Stop<JumpRefused>) -> Infallible {
        host::exit(Exit::Recovery)
    }
}
