//! The demo application: reports how it was booted, then (per the rig order on the command
//! line, safeslot-shared's `protocol::order::Order`)
//! confirms itself, does not, crashes, hangs, or confirms and serves on under the watchdog.
//!
//! `app=confirm` (default) marks the running slot good through the shared crate — the
//! microcontroller equivalent of `safeslotctl mark-good`; `app=noconfirm` stops without
//! confirming (a reset before the health check passed); `app=crash` faults; `app=hang` spins without confirming or feeding the watchdog; `app=serve` confirms and runs on for three watchdog timeouts, feeding it. `activate=b`
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
use safeslot_shared::mailbox::{Action, Command, Report};
use safeslot_shared::protocol::order::Order;

use crate::flash::Flash;
use crate::host::{self, CmdLine, Exit};
use crate::{config, watchdog, HANDOFF};

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
        let ran = safeslot_cortex_m::app::run(&mut flash, config::BOOT.journal, &HANDOFF, serve);
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
    if order.command.action == Action::Serve {
        serve(&h);
    }
    host::exit(Exit::App(h.slot))
}

/// `app=serve` after confirming: runs on for three watchdog timeouts of QEMU virtual time
/// (3 s when the stage armed none), feeding the watchdog every twentieth of it, then logs
/// `app: served <ms> ms, fed <n> times`. Had the feed failed, the watchdog would have reset
/// the machine first, and the rig would have seen a watchdog reset instead of an app exit.
fn serve(h: &Handoff) {
    let timeout = if h.watchdog_ms != 0 { h.watchdog_ms } else { 1000 };
    let (span, every) = (timeout.saturating_mul(3) / 10, (timeout / 200).max(1));
    let start = watchdog::centiseconds();
    let (mut fed_at, mut feeds) = (start, 0u32);
    loop {
        let now = watchdog::centiseconds();
        if now.wrapping_sub(start) >= span {
            break;
        }
        if h.watchdog_ms != 0 && now.wrapping_sub(fed_at) >= every {
            watchdog::feed();
            (fed_at, feeds) = (now, feeds.saturating_add(1));
        }
        cortex_m::asm::delay(10_000);
    }
    defmt::println!(
        "app: served {=u32} ms, fed {=u32} times, watchdog armed={=bool}",
        span.saturating_mul(10),
        feeds,
        watchdog::armed()
    );
}
