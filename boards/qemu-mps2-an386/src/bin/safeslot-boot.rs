//! The safeslot boot stage for the virtual board: the one boot main
//! (`safeslot_boot::run`) over [`VirtualStage`].
//!
//! Reads the rig order (safeslot-shared's `protocol::order::Order`) from the semihosting
//! command line: the cut plan (`cut=N [torn=K]`, for power-cut tests), the virtual
//! recovery input (`recovery`) and `mailbox` (write the app's orders into the rig mailbox,
//! as the probe-rs rig does); a line that is no order exits with `Exit::BadCmdline`. It paints the stack for the peak
//! measurement, then runs the boot main: it leaves the hand-off block and jumps, or
//! reports recovery and exits.
#![no_std]
#![no_main]
#![deny(unsafe_code, missing_docs, clippy::undocumented_unsafe_blocks)]

use cortex_m_rt::entry;
use safeslot_board_qemu_mps2_an386::flash::Flash;
use safeslot_board_qemu_mps2_an386::host::{self, CmdLine, Exit};
use safeslot_board_qemu_mps2_an386::stage::VirtualStage;
use safeslot_board_qemu_mps2_an386::{config, stack, HANDOFF};
use safeslot_shared::protocol::order::Order;

#[entry]
fn main() -> ! {
    let line = CmdLine::read().unwrap_or(CmdLine::EMPTY);
    let Ok(order) = Order::parse(line.as_str()) else { host::exit(Exit::BadCmdline) };
    let Some(flash) = Flash::take(order.boot) else { host::exit(Exit::BadCmdline) };
    let (recovery, reset) = (order.recovery, order.reset.unwrap_or(safeslot_boot::ResetCause::Unknown));
    if order.mailbox {
        // Plays the probe-rs rig, which writes the command into RAM while the core is halted
        // at reset: the app's orders go into the mailbox instead of its command line.
        HANDOFF.write_mailbox(&order.command.encode());
    }
    stack::paint();
    // The slots are execute-never until the jump, as on every Cortex-M board
    // (`safeslot_cortex_m::mpu`).
    safeslot_cortex_m::mpu::protect(config::EXECUTE_NEVER);
    match safeslot_boot::run(&mut VirtualStage { flash, recovery, reset }, &config::BOOT) {}
}
