//! The boot stage's main, for any board: run the shared boot sequence over the board's
//! flash driver, leave the hand-off block and jump, or stay in recovery.

use embedded_storage::nor_flash::NorFlash;
use safeslot_boot::{boot, BootConfig, Outcome};
use safeslot_shared::handoff::Handoff;
use safeslot_shared::policy::Inputs;

use crate::board::Board;
use crate::handoff::launch;

/// Logs the boot stage's decision (one line the rigs parse).
pub fn log_launch(h: &Handoff) {
    defmt::println!(
        "safeslot: boot slot={=u8} kind={=str} tries={=u8} fallback={=str} version={=u8}.{=u8}.{=u16} seq={=u32}",
        h.slot.index() as u8,
        h.kind.name(),
        h.tries_left.get(),
        h.last_fallback.name(),
        h.version.major,
        h.version.minor,
        h.version.revision,
        h.record_seq
    );
}

/// Runs the boot sequence and starts the chosen image; never returns.
///
/// `feed` is called before the sequence, between its long steps (hashing, signature
/// check) and right before the jump: the board feeds its watchdog there when it is
/// running. With nothing bootable the stage stays here in recovery (a running watchdog
/// then resets the chip, which retries the boot without writing the record again).
pub fn run<F: NorFlash>(flash: &mut F, board: &Board, keys: &[[u8; 32]], recovery: bool, mut feed: impl FnMut()) -> ! {
    feed();
    let cfg = BootConfig { journal: board.journal, slots: board.slots(), keys, fresh: board.fresh };
    match boot(flash, &cfg, Inputs { recovery }, &mut feed) {
        Outcome::Launch(l) => {
            log_launch(&l.handoff);
            board.handoff.leave_block(&l.handoff.encode());
            feed();
            // Fault-injection hardening: the proof is checked again right before the jump;
            // `launch` returns only when that check fails, and that ends in recovery.
            launch(&l);
            stay("proof")
        }
        Outcome::Recovery(reason) => stay(reason.name()),
    }
}

/// Recovery: nothing to boot. A product would offer an update path (USB DFU, UART) here;
/// the boot stage only reports and waits (the board's watchdog, if it runs, resets it).
fn stay(reason: &str) -> ! {
    defmt::println!("safeslot: recovery reason={=str}", reason);
    loop {
        cortex_m::asm::wfe();
    }
}
