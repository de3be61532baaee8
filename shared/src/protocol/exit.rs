//! Semihosting exit codes: how the firmware in QEMU tells the host how a run ended.
//!
//! QEMU runs with `-semihosting-config enable=on,target=native`; the firmware leaves with
//! `SYS_EXIT_EXTENDED`, so the code below is QEMU's process exit status. Every code is
//! non-zero and distinct from QEMU's own failures (1) and a guest reset under
//! `-no-reboot` (0). The table is docs/FORMAT.md "Exit codes".

use crate::slot::SlotId;

/// Bench floor: the work was done (and every signature verified).
pub const FLOOR_DONE: u8 = 0x46;
/// Bench floor: a signature did not verify.
pub const FLOOR_BAD_SIGNATURE: u8 = 0x47;
/// The firmware panicked.
pub const PANIC: u8 = 0x50;
/// The command line could not be read or parsed.
pub const BAD_CMDLINE: u8 = 0x51;
/// The boot stage found nothing bootable (or a check failed) and stopped.
pub const RECOVERY: u8 = 0x52;
/// A fault handler ran (the demo app's `app=crash`, or a bug).
pub const CRASH: u8 = 0x53;
/// A power-cut plan cut power at its flash store.
pub const CUT: u8 = 0x5C;
/// The demo app ran from slot index `i`: `APP_BASE + i` (`i` below `slot::MAX_SLOTS`, 4).
pub const APP_BASE: u8 = 0x60;

/// How a firmware run in QEMU ended, as its exit code says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Exit {
    /// [`FLOOR_DONE`]: a bench floor run did its work.
    FloorDone,
    /// [`FLOOR_BAD_SIGNATURE`]: a bench floor signature did not verify.
    FloorBadSignature,
    /// [`PANIC`]: the firmware panicked.
    Panic,
    /// [`BAD_CMDLINE`]: the command line was unreadable or malformed.
    BadCmdline,
    /// [`RECOVERY`]: the boot stage booted nothing.
    Recovery,
    /// [`CRASH`]: a fault handler ran.
    Crash,
    /// [`CUT`]: a cut plan cut power.
    Cut,
    /// `APP_BASE + slot index`: the demo app ran from this slot and exited normally.
    App(SlotId),
}

impl Exit {
    /// The exit code.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Exit::FloorDone => FLOOR_DONE,
            Exit::FloorBadSignature => FLOOR_BAD_SIGNATURE,
            Exit::Panic => PANIC,
            Exit::BadCmdline => BAD_CMDLINE,
            Exit::Recovery => RECOVERY,
            Exit::Crash => CRASH,
            Exit::Cut => CUT,
            // A slot index is below MAX_SLOTS (4): no overflow.
            Exit::App(slot) => APP_BASE | slot.index() as u8,
        }
    }

    /// The exit code as the `i32` that semihosting's exit takes.
    #[must_use]
    pub const fn status(self) -> i32 {
        self.code() as i32
    }

    /// Reads an exit code (a process exit status); `None` for a code no firmware uses.
    #[must_use]
    pub fn from_code(code: i32) -> Option<Exit> {
        let c = u8::try_from(code).ok()?;
        Some(match c {
            FLOOR_DONE => Exit::FloorDone,
            FLOOR_BAD_SIGNATURE => Exit::FloorBadSignature,
            PANIC => Exit::Panic,
            BAD_CMDLINE => Exit::BadCmdline,
            RECOVERY => Exit::Recovery,
            CRASH => Exit::Crash,
            CUT => Exit::Cut,
            _ => Exit::App(SlotId::from_index(c.checked_sub(APP_BASE)?)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exit_round_trips_and_codes_are_distinct() {
        let all = [
            Exit::FloorDone,
            Exit::FloorBadSignature,
            Exit::Panic,
            Exit::BadCmdline,
            Exit::Recovery,
            Exit::Crash,
            Exit::Cut,
            Exit::App(SlotId::A),
            Exit::App(SlotId::B),
            Exit::App(SlotId::C),
            Exit::App(SlotId::D),
        ];
        for (i, e) in all.iter().enumerate() {
            assert_eq!(Exit::from_code(e.status()), Some(*e), "{e:?}");
            assert_ne!(e.code(), 0, "0 is a guest reset under -no-reboot");
            assert_ne!(e.code(), 1, "1 is QEMU's own failure");
            for other in &all[i + 1..] {
                assert_ne!(e.code(), other.code(), "{e:?} and {other:?}");
            }
        }
        assert_eq!(Exit::App(SlotId::B).code(), 0x61);
    }

    #[test]
    fn unknown_codes_decode_as_none() {
        for c in [-1, 0, 1, 0x43, 0x5F, 0x64, 0xFF, 0x160, i32::MAX, i32::MIN] {
            assert_eq!(Exit::from_code(c), None, "{c:#x}");
        }
    }
}
