//! The safeslot boot stage for the virtual board.
//!
//! Reads the cut plan (`cut=N [torn=K]`, for power-cut tests), the virtual recovery
//! input (`recovery`) and `mailbox` (write the app's orders into the rig mailbox, as the
//! probe-rs rig does) from the semihosting command line, runs the shared boot sequence,
//! leaves the hand-off block and jumps — or reports recovery and stops.
#![no_std]
#![no_main]
#![deny(unsafe_code, missing_docs, clippy::undocumented_unsafe_blocks)]

use cortex_m_rt::entry;
use safeslot_board_qemu_mps2_an386::flash::{CutPlan, Flash, Program};
use safeslot_board_qemu_mps2_an386::host::{self, CmdLine, EXIT_BAD_CMDLINE, EXIT_RECOVERY};
use safeslot_board_qemu_mps2_an386::{app, keys, stack, BOARD};
use safeslot_boot::{boot, BootConfig, Outcome};
use safeslot_cortex_m::boot::log_launch;
use safeslot_cortex_m::handoff::jump;
use safeslot_shared::policy::Inputs;

#[entry]
fn main() -> ! {
    let line = CmdLine::read().unwrap_or(CmdLine::EMPTY);
    let Ok(plan) = CutPlan::from_cmdline(&line, Program::Boot) else { host::exit(EXIT_BAD_CMDLINE) };
    let Some(mut flash) = Flash::take(plan) else { host::exit(EXIT_BAD_CMDLINE) };
    let inputs = Inputs { recovery: line.words().any(|w| w == "recovery") };
    if line.words().any(|w| w == "mailbox") {
        // Plays the probe-rs rig, which writes the command into RAM while the core is halted
        // at reset: the app's orders go into the mailbox instead of its command line.
        BOARD.handoff.write_mailbox(&app::orders(&line).encode());
    }
    let cfg = BootConfig { journal: BOARD.journal, slots: BOARD.slots(), keys: &keys::PUBLIC_KEYS, fresh: BOARD.fresh };
    stack::paint();
    let outcome = boot(&mut flash, &cfg, inputs, || {});
    defmt::println!("safeslot: stack peak={=u32}", stack::peak());
    match outcome {
        Outcome::Launch(l) => {
            log_launch(&l.handoff);
            BOARD.handoff.leave_block(&l.handoff.encode());
            host::mark_handoff();
            // Fault-injection hardening: the proof is checked again right before the jump,
            // and a failed check ends in recovery, never in the jump below.
            if !l.holds() {
                host::exit(EXIT_RECOVERY)
            }
            #[allow(unsafe_code)]
            // SAFETY: `l` exists only for an image whose signature and SHA-256 verified,
            // whose header's load address is this slot's image address (checked by the
            // verifier) and which was linked there (the generated app memory.x); the
            // image is in flash that nothing writes before it runs; this stage enabled no
            // interrupt; nothing of the stage is needed after the jump.
            unsafe {
                jump(l.load_addr as u32)
            }
        }
        Outcome::Recovery(reason) => {
            defmt::println!("safeslot: recovery reason={=str}", reason.name());
            host::exit(EXIT_RECOVERY)
        }
    }
}
