//! The demo application: reports how it was booted, then (per the rig order on the command
//! line, safeslot-shared's `protocol::order::Order`)
//! confirms itself, does not, or crashes.
//!
//! `app=confirm` (default) marks the running slot good through the shared crate — the
//! microcontroller equivalent of `safeslotctl mark-good`; `app=noconfirm` stops without
//! confirming (a reset before the health check passed); `app=crash` faults. `activate=b`
//! additionally activates slot b for a trial (what an updater does after writing it).
//!
//! With `mailbox` on the command line the boot stage instead writes those orders into the
//! rig mailbox in RAM, as the probe-rs rig does on a real board after it halts the core at
//! reset; the app then finds a valid command there and runs exactly the real boards' demo
//! app (`safeslot_cortex_m::app::run`: read and consume the command, act, write the report),
//! and logs the report it reads back from RAM (`app: report slot=N confirmed=B`). A command
//! that a rig loaded into RAM itself (the mailbox rig in hil-tests, as the probe-rs rig on
//! a real board) is followed the same way, but the app then idles for the rig to read the
//! report, as the protocol asks.

use safeslot_cortex_m::app::{act, log_running};
use safeslot_shared::handoff::Handoff;
use safeslot_shared::mailbox::{Command, Report};
use safeslot_shared::protocol::order::Order;

use crate::flash::Flash;
use crate::host::{self, CmdLine, Exit};
use crate::{config, HANDOFF};

/// Runs the demo app; never returns (exits through semihosting).
pub fn run() -> ! {
    let line = CmdLine::read().unwrap_or(CmdLine::EMPTY);
    let Ok(order) = Order::parse(line.as_str()) else { host::exit(Exit::BadCmdline) };
    let Some(mut flash) = Flash::take(order.app) else { host::exit(Exit::BadCmdline) };
    let Ok(h) = Handoff::decode(&HANDOFF.read_block()) else {
        defmt::println!("app: no hand-off block");
        host::exit(Exit::BadCmdline)
    };
    if Command::decode(&HANDOFF.read_mailbox()).is_ok() {
        let ran = safeslot_cortex_m::app::run(&mut flash, config::BOOT.journal, &HANDOFF);
        if !order.mailbox {
            // A rig loaded the command (the mailbox rig, as the probe-rs rig on a real
            // board): idle as the protocol asks, busy (no wfi), while the rig reads the
            // report from RAM.
            loop {
                cortex_m::asm::nop();
            }
        }
        match Report::decode(&HANDOFF.read_mailbox()) {
            Ok(r) => defmt::println!("app: report slot={=u8} confirmed={=bool}", r.slot.index() as u8, r.confirmed),
            Err(_) => defmt::println!("app: no report in the mailbox"),
        }
        host::exit(Exit::App(ran.map_or(h.slot, |r| r.slot)))
    }
    log_running(&h);
    // The command line's `app=`/`activate=` play the rig mailbox of the real boards.
    act(&mut flash, config::BOOT.journal, order.command, h.slot);
    host::exit(Exit::App(h.slot))
}
