//! The demo application: reports how it was booted, then (per the command line)
//! confirms itself, does not, or crashes.
//!
//! `app=confirm` (default) marks the running slot good through the shared crate — the
//! microcontroller equivalent of `safeslotctl mark-good`; `app=noconfirm` stops without
//! confirming (a reset before the health check passed); `app=crash` faults. `activate=b`
//! additionally activates slot b for a trial (what an updater does after writing it).

use safeslot_cortex_m::app::{act, log_running};
use safeslot_shared::handoff::Handoff;
use safeslot_shared::mailbox::{Action, Command};
use safeslot_shared::SlotId;

use crate::flash::{CutPlan, Flash, Program};
use crate::host::{self, CmdLine, EXIT_APP_BASE, EXIT_BAD_CMDLINE};
use crate::BOARD;

/// Runs the demo app; never returns (exits through semihosting).
pub fn run() -> ! {
    let line = CmdLine::read().unwrap_or(CmdLine::EMPTY);
    let Ok(plan) = CutPlan::from_cmdline(&line, Program::App) else { host::exit(EXIT_BAD_CMDLINE) };
    let Some(mut flash) = Flash::take(plan) else { host::exit(EXIT_BAD_CMDLINE) };
    let Ok(h) = Handoff::decode(&BOARD.handoff.read_block()) else {
        defmt::println!("app: no hand-off block");
        host::exit(EXIT_BAD_CMDLINE)
    };
    log_running(&h);
    // The command line plays the rig mailbox of the real boards.
    let action = match line.value("app").unwrap_or("confirm") {
        "crash" => Action::Crash,
        "noconfirm" => Action::NoConfirm,
        _ => Action::Confirm,
    };
    let activate = line.value("activate").and_then(|s| s.chars().next()).and_then(SlotId::from_letter);
    act(&mut flash, &BOARD, Command { action, activate });
    host::exit(EXIT_APP_BASE + h.slot.index() as i32)
}
