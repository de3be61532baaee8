//! The demo application: reports how it was booted, then (per the command line)
//! confirms itself, does not, or crashes.
//!
//! `app=confirm` (default) marks the running slot good through the shared crate — the
//! microcontroller equivalent of `safeslotctl mark-good`; `app=noconfirm` stops without
//! confirming (a reset before the health check passed); `app=crash` faults. `activate=b`
//! additionally activates slot b for a trial (what an updater does after writing it).

use safeslot_shared::handoff::Handoff;
use safeslot_shared::journal::Journal;
use safeslot_shared::{ops, SlotId, Tries};

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
    defmt::println!(
        "app: running slot={=u8} version={=u8}.{=u8}.{=u16} kind={=str} tries={=u8}",
        h.slot.index() as u8,
        h.version.major,
        h.version.minor,
        h.version.revision,
        h.kind.name(),
        h.tries_left.get()
    );
    let mode = line.value("app").unwrap_or("confirm");
    let Ok(mut journal) = Journal::open(&mut flash, BOARD.journal) else { host::exit(EXIT_BAD_CMDLINE) };
    if let Some(target) = line.value("activate").and_then(|s| s.chars().next()).and_then(SlotId::from_letter) {
        let done = journal.update(|r| ops::set_active(r, target, Tries::DEFAULT));
        defmt::println!("app: activate {=u8}: {=bool}", target.index() as u8, done.is_ok());
    }
    match mode {
        "crash" => {
            defmt::println!("app: crashing");
            cortex_m::asm::udf()
        }
        "noconfirm" => defmt::println!("app: not confirming"),
        _ => {
            let ok = journal.update(ops::mark_good).is_ok();
            defmt::println!("app: confirmed={=bool}", ok);
        }
    }
    host::exit(EXIT_APP_BASE + h.slot.index() as i32)
}
