//! The demo application, for any board: report how it was booted, then do what the rig
//! mailbox says (confirm itself, not, or crash), and report back.
//!
//! No valid command in the mailbox (no rig, or stale RAM) means the field behaviour:
//! confirm. Confirming marks the running slot good through the shared crate's `ops` and
//! `Journal` — the microcontroller equivalent of `safeslotctl mark-good`. A command may also
//! activate another slot for a trial first (what an updater does after writing it).

use embedded_storage::nor_flash::NorFlash;
use safeslot_shared::handoff::Handoff;
use safeslot_shared::journal::{Journal, JournalConfig};
use safeslot_shared::mailbox::{Action, Command, Report, MAILBOX_LEN};
use safeslot_shared::{ops, Tries};

use crate::handoff::HandoffArea;

/// Logs how the app was booted (one line the rigs parse).
pub fn log_running(h: &Handoff) {
    defmt::println!(
        "app: running slot={=u8} version={=u8}.{=u8}.{=u16} kind={=str} tries={=u8}",
        h.slot.index() as u8,
        h.version.major,
        h.version.minor,
        h.version.revision,
        h.kind.name(),
        h.tries_left.get()
    );
}

/// Carries out `command` for the running slot `running` (the hand-off block's, never the
/// record's `last_booted`, which is stale when the stage could not write) over the record
/// journal `journal` (the board's `config::BOOT.journal`): activate another slot first if
/// asked, then confirm, not, crash or hang ([`Action::Crash`] and [`Action::Hang`] do not
/// return; [`Action::Serve`] confirms here, and the caller then runs on feeding the
/// watchdog). Returns whether the slot was marked good.
pub fn act<F: NorFlash>(flash: F, journal: JournalConfig, command: Command, running: safeslot_shared::SlotId) -> bool {
    let Ok(mut journal) = Journal::open(flash, journal) else {
        defmt::println!("app: record unreadable");
        return false;
    };
    if let Some(target) = command.activate {
        let done = journal.update(|r| ops::set_active(r, target, Tries::DEFAULT));
        defmt::println!("app: activate {=u8}: {=bool}", target.index() as u8, done.is_ok());
    }
    match command.action {
        Action::Crash => {
            defmt::println!("app: crashing");
            cortex_m::asm::udf()
        }
        Action::NoConfirm => {
            defmt::println!("app: not confirming");
            false
        }
        Action::Hang => {
            // A deadlock in init: no confirm, no feed, no reset, no report. Only a watchdog
            // the boot stage armed ends it.
            defmt::println!("app: hanging");
            loop {
                cortex_m::asm::nop();
            }
        }
        Action::Confirm | Action::Serve => {
            let confirmed = journal.update(|r| ops::mark_good(r, running)).is_ok();
            defmt::println!("app: confirmed={=bool}", confirmed);
            confirmed
        }
    }
}

/// Runs the demo app's work once, driven by the rig mailbox in `area`, and returns what it
/// reported (`None`: no hand-off block, so the boot stage did not start it). On
/// [`Action::Serve`], `serve` runs after the confirmation and before the report (a board
/// with a clock runs on for a while feeding the watchdog; one without passes a no-op and
/// serves in [`main`]'s idle loop, which feeds it forever).
pub fn run<F: NorFlash>(
    flash: F,
    journal: JournalConfig,
    area: &HandoffArea,
    serve: impl FnOnce(&Handoff),
) -> Option<Report> {
    let Ok(h) = Handoff::decode(&area.read_block()) else {
        defmt::println!("app: no hand-off block");
        return None;
    };
    log_running(&h);
    let command = Command::decode(&area.read_mailbox());
    // Consumed before acting: a reset that no rig asked for (a crash, the watchdog) must
    // find the field behaviour, not the same order again.
    area.write_mailbox(&[0; MAILBOX_LEN]);
    let command = command.unwrap_or(Command { action: Action::Confirm, activate: None });
    let report = Report { slot: h.slot, confirmed: act(flash, journal, command, h.slot) };
    if command.action == Action::Serve {
        serve(&h);
    }
    area.write_mailbox(&report.encode());
    Some(report)
}

/// The demo app's main: [`run`], then idle, calling `feed` (the board's watchdog feed)
/// now and then so a watchdog the boot stage found running does not reset the app while a
/// rig reads its report.
pub fn main<F: NorFlash>(flash: F, journal: JournalConfig, area: &HandoffArea, mut feed: impl FnMut()) -> ! {
    let _ = run(flash, journal, area, |_| {});
    loop {
        feed();
        cortex_m::asm::delay(1_000_000);
    }
}
