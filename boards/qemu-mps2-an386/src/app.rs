//! The demo application: reports how it was booted, then (per the command line)
//! confirms itself, does not, or crashes.
//!
//! `app=confirm` (default) marks the running slot good through the shared crate — the
//! microcontroller equivalent of `safeslotctl mark-good`; `app=noconfirm` stops without
//! confirming (a reset before the health check passed); `app=crash` faults. `activate=b`
//! additionally activates slot b for a trial (what an updater does after writing it).
//!
//! A rig [`Command`] in the mailbox (`safeslot_shared::mailbox`, what a probe-rs rig writes
//! on a real board; the virtual rig's mailbox mode loads it into RAM) wins over the command
//! line. Then the app follows the mailbox protocol as a real board's demo app must: it
//! acts, writes its [`Report`] into the mailbox, and idles for the rig to read it.

use safeslot_shared::handoff::Handoff;
use safeslot_shared::journal::Journal;
use safeslot_shared::mailbox::{Action, Command, Report};
use safeslot_shared::{ops, SlotId, Tries};

use crate::flash::{CutPlan, Flash, Program};
use crate::host::{self, CmdLine, EXIT_APP_BASE, EXIT_BAD_CMDLINE};
use crate::{config, handoff};

/// Runs the demo app; never returns (exits through semihosting).
pub fn run() -> ! {
    let line = CmdLine::read().unwrap_or(CmdLine::EMPTY);
    let Ok(plan) = CutPlan::from_cmdline(&line, Program::App) else { host::exit(EXIT_BAD_CMDLINE) };
    let Some(mut flash) = Flash::take(plan) else { host::exit(EXIT_BAD_CMDLINE) };
    let Ok(h) = Handoff::decode(&handoff::read_block()) else {
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
    let rig = Command::decode(&handoff::read_mailbox()).ok();
    let command = rig.unwrap_or_else(|| Command {
        action: match line.value("app") {
            Some("crash") => Action::Crash,
            Some("noconfirm") => Action::NoConfirm,
            _ => Action::Confirm,
        },
        activate: line.value("activate").and_then(|s| s.chars().next()).and_then(SlotId::from_letter),
    });
    let Ok(mut journal) = Journal::open(&mut flash, config::JOURNAL) else { host::exit(EXIT_BAD_CMDLINE) };
    if let Some(target) = command.activate {
        let done = journal.update(|r| ops::set_active(r, target, Tries::DEFAULT));
        defmt::println!("app: activate {=u8}: {=bool}", target.index() as u8, done.is_ok());
    }
    let confirmed = match command.action {
        Action::Crash => {
            // No report: the rig sees the fault itself (HardFault vector catch on a real
            // board, the fault handler's exit code here).
            defmt::println!("app: crashing");
            cortex_m::asm::udf()
        }
        Action::NoConfirm => {
            defmt::println!("app: not confirming");
            false
        }
        Action::Confirm => {
            let ok = journal.update(ops::mark_good).is_ok();
            defmt::println!("app: confirmed={=bool}", ok);
            ok
        }
    };
    if rig.is_some() {
        handoff::write_mailbox(&Report { slot: h.slot, confirmed }.encode());
        defmt::println!("app: reported to the rig");
        // Busy idle, as the protocol asks (no wfi: real chips may stop the debug bus in sleep).
        loop {
            cortex_m::asm::nop();
        }
    }
    host::exit(EXIT_APP_BASE + h.slot.index() as i32)
}
