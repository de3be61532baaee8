//! The rig mailbox: how a hardware test rig tells a board's demo app what to do, and how
//! the app reports back, through a few bytes of RAM that survive a reset.
//!
//! On the virtual board the demo app can also read its orders from the QEMU command line
//! ([`crate::protocol::order`]). A real board has no command line, so the probe-rs rig
//! halts the core after reset, writes a [`Command`] into the [`MAILBOX_LEN`] bytes at
//! `handoff.address + MAILBOX_OFFSET` (the second half of the layout's hand-off area, which
//! the boot stage never writes), and lets it run; the app writes a [`Report`] into the same place once it has acted, for the
//! rig to read back. Both are CRC-protected, so stale or random RAM decodes as an error
//! and the app then does what it does in the field: confirm itself.
//!
//! Layout (little-endian): `0..4` magic (`"SSRC"` command / `"SSRR"` report), `4` action
//! or booted slot index, `5` slot to activate or confirmed flag (`0xFF` = none / not),
//! `6..8` zero, `8..12` CRC-32 of bytes `0..8`. The remaining bytes are reserved.
//!
//! # The protocol, step by step
//!
//! What the rig does (`safeslot_hil::probe`; the virtual rig's mailbox mode does the same
//! through QEMU):
//!
//! 1. resets the board and halts it at the boot stage's reset vector (optionally after a
//!    cold power cycle through a relay, with nRESET held);
//! 2. zeroes the hand-off area's first `MAILBOX_OFFSET + MAILBOX_LEN` bytes (so neither a
//!    stale hand-off block nor the previous boot's report can be mistaken for this boot's)
//!    and writes the encoded [`Command`] at `handoff.address + MAILBOX_OFFSET`;
//! 3. runs the core with a hardware breakpoint on each demo app's ELF entry point and
//!    HardFault vector catch; while the boot stage runs it reads its defmt log over RTT;
//! 4. at the breakpoint, reads the hand-off block (which slot was booted), moves the
//!    breakpoint to the boot stage's entry (so a firmware-initiated reset is caught) and
//!    resumes; then polls the mailbox until a valid [`Report`] appears, the core faults,
//!    or a timeout; halts the core and reads the record region back.
//!
//! What a board must do for it:
//!
//! * **Boot stage**: never touch the mailbox bytes (it writes only the
//!   [`crate::handoff::HANDOFF_LEN`] bytes of the hand-off block); log with defmt over RTT;
//!   on recovery log the recovery line of [`crate::protocol::log`] (e.g.
//!   `safeslot: recovery reason=bad-hash`) and then idle — neither reset nor jump.
//! * **Demo app**, at start: read the [`MAILBOX_LEN`] bytes and [`Command::decode`] them.
//!   If that fails (no rig: the field), behave as in the field (confirm) and never write a
//!   report. If it succeeds: first, when `activate` is set, activate that slot for a trial
//!   (`ops::set_active(record, slot, Tries::DEFAULT)` through the journal); then
//!   * on [`Action::Confirm`], `ops::mark_good` through the journal;
//!   * on [`Action::NoConfirm`], nothing;
//!   * on [`Action::Crash`], fault at once (e.g. `udf`) **without** writing a report — the rig
//!     sees the fault itself (vector catch), whatever the fault handler then does;
//!
//!   and, once every journal write has finished, write
//!   `Report { slot: <the hand-off block's slot>, confirmed: <mark_good succeeded> }`
//!   (volatile byte writes; the CRC makes a half-written report undecodable, so the order
//!   does not matter), then idle in a busy loop: no reset, no return, no further flash
//!   writes, and no `wfi` (some chips gate the debug port's bus clock in sleep, and the
//!   rig reads RAM while the app runs). Log with defmt over RTT (the rig finds
//!   `_SEGGER_RTT` in the app's ELF).
//! * **Layout**: `handoff.size` of at least `MAILBOX_OFFSET + MAILBOX_LEN` bytes, in RAM
//!   that neither program's startup code zeroes (the layout checks it lies outside both
//!   RAM ranges); app entry points in the range the core's breakpoint unit covers (on
//!   ARMv6-M/ARMv7-M the code region below `0x2000_0000`) and at least two breakpoint
//!   comparators. A watchdog the boot stage starts must be fed by the app.
//!
//! The virtual board's demo app (`boards/qemu-mps2-an386/src/app.rs`) implements the app
//! side; `cargo xtask test` runs the whole scenario catalogue through it.

use crate::codec::{crc32, get_u32, put};
use crate::error::DecodeError;
use crate::slot::SlotId;

/// Offset of the mailbox inside the layout's hand-off area (the hand-off block uses the
/// first [`crate::handoff::HANDOFF_LEN`] bytes).
pub const MAILBOX_OFFSET: u32 = 48;
/// Bytes of the mailbox (the hand-off area must be at least `MAILBOX_OFFSET + MAILBOX_LEN`).
pub const MAILBOX_LEN: usize = 12;
/// "SSRC": a command from the rig.
pub const COMMAND_MAGIC: u32 = u32::from_le_bytes(*b"SSRC");
/// "SSRR": a report from the app.
pub const REPORT_MAGIC: u32 = u32::from_le_bytes(*b"SSRR");
const NONE: u8 = 0xFF;

const _: () = assert!(crate::handoff::HANDOFF_LEN <= MAILBOX_OFFSET as usize);

/// What the demo app does after it started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Action {
    /// Mark the running slot good (the field behaviour).
    Confirm,
    /// Stop without confirming (a reset before the health check passed).
    NoConfirm,
    /// Fault before confirming.
    Crash,
    /// Hang before confirming: spin forever without feeding the watchdog, resetting or
    /// writing a report (a deadlock in init). Only the watchdog the stage armed gets the
    /// board out of it.
    Hang,
    /// Confirm, then keep running for three of the watchdog's timeouts (the hand-off
    /// block's `watchdog_ms`; 3 s without one), feeding it, before reporting: a confirmed
    /// app that lives on under the watchdog the stage armed.
    Serve,
}

impl Action {
    fn code(self) -> u8 {
        match self {
            Action::Confirm => 0,
            Action::NoConfirm => 1,
            Action::Crash => 2,
            Action::Hang => 3,
            Action::Serve => 4,
        }
    }

    fn from_code(c: u8) -> Option<Action> {
        match c {
            0 => Some(Action::Confirm),
            1 => Some(Action::NoConfirm),
            2 => Some(Action::Crash),
            3 => Some(Action::Hang),
            4 => Some(Action::Serve),
            _ => None,
        }
    }
}

/// The rig's order for the next boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Command {
    /// What the app does.
    pub action: Action,
    /// A slot the app activates for a trial before acting (what an updater does).
    pub activate: Option<SlotId>,
}

/// What the app did, for the rig to read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Report {
    /// The slot the app runs from.
    pub slot: SlotId,
    /// Whether it marked itself good successfully.
    pub confirmed: bool,
}

fn encode(magic: u32, a: u8, b: u8) -> [u8; MAILBOX_LEN] {
    let mut out = [0u8; MAILBOX_LEN];
    put(&mut out, 0, &magic.to_le_bytes());
    put(&mut out, 4, &[a, b]);
    let crc = crc32(out.get(..8).unwrap_or(&[]));
    put(&mut out, 8, &crc.to_le_bytes());
    out
}

fn decode(bytes: &[u8], magic: u32) -> Result<(u8, u8), DecodeError> {
    let head = bytes.get(..8).ok_or(DecodeError::Length)?;
    if get_u32(bytes, 0) != Some(magic) {
        return Err(DecodeError::Magic);
    }
    if get_u32(bytes, 8) != Some(crc32(head)) {
        return Err(DecodeError::Crc);
    }
    match head {
        [_, _, _, _, a, b, 0, 0] => Ok((*a, *b)),
        _ => Err(DecodeError::Field("reserved")),
    }
}

fn slot_code(s: Option<SlotId>) -> u8 {
    s.map_or(NONE, |s| s.index() as u8)
}

impl Command {
    /// Encodes the command.
    pub fn encode(&self) -> [u8; MAILBOX_LEN] {
        encode(COMMAND_MAGIC, self.action.code(), slot_code(self.activate))
    }

    /// Decodes a command; anything but a well-formed command is an error.
    pub fn decode(bytes: &[u8]) -> Result<Command, DecodeError> {
        let (a, b) = decode(bytes, COMMAND_MAGIC)?;
        let action = Action::from_code(a).ok_or(DecodeError::Field("action"))?;
        let activate = match b {
            NONE => None,
            i => Some(SlotId::from_index(i).ok_or(DecodeError::Field("activate"))?),
        };
        Ok(Command { action, activate })
    }
}

impl Report {
    /// Encodes the report.
    pub fn encode(&self) -> [u8; MAILBOX_LEN] {
        encode(REPORT_MAGIC, self.slot.index() as u8, u8::from(self.confirmed))
    }

    /// Decodes a report; anything but a well-formed report is an error.
    pub fn decode(bytes: &[u8]) -> Result<Report, DecodeError> {
        let (a, b) = decode(bytes, REPORT_MAGIC)?;
        let slot = SlotId::from_index(a).ok_or(DecodeError::Field("slot"))?;
        let confirmed = match b {
            0 => false,
            1 => true,
            _ => return Err(DecodeError::Field("confirmed")),
        };
        Ok(Report { slot, confirmed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_reports_round_trip() {
        for action in [Action::Confirm, Action::NoConfirm, Action::Crash] {
            for activate in [None, Some(SlotId::A), Some(SlotId::B)] {
                let c = Command { action, activate };
                assert_eq!(Command::decode(&c.encode()), Ok(c));
                assert!(Report::decode(&c.encode()).is_err(), "a command is not a report");
            }
        }
        for slot in [SlotId::A, SlotId::D] {
            for confirmed in [false, true] {
                let r = Report { slot, confirmed };
                assert_eq!(Report::decode(&r.encode()), Ok(r));
                assert!(Command::decode(&r.encode()).is_err(), "a report is not a command");
            }
        }
    }

    #[test]
    fn stale_or_damaged_ram_is_an_error() {
        assert!(Command::decode(&[0u8; MAILBOX_LEN]).is_err());
        assert!(Command::decode(&[0xFF; MAILBOX_LEN]).is_err());
        assert!(Command::decode(&[]).is_err());
        let good = Command { action: Action::Crash, activate: Some(SlotId::B) }.encode();
        for i in 0..8 {
            for bit in 0..8 {
                let mut b = good;
                b[i] ^= 1 << bit;
                assert!(Command::decode(&b).is_err(), "byte {i} bit {bit}");
            }
        }
        // A well-formed CRC over an unknown action or slot is still refused.
        assert_eq!(Command::decode(&encode(COMMAND_MAGIC, 9, NONE)), Err(DecodeError::Field("action")));
        assert_eq!(Command::decode(&encode(COMMAND_MAGIC, 0, 7)), Err(DecodeError::Field("activate")));
        assert_eq!(Report::decode(&encode(REPORT_MAGIC, 0, 2)), Err(DecodeError::Field("confirmed")));
    }
}
