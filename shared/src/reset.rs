//! Why the chip last reset: read by the boot stage from the chip's reset-reason register
//! (nRF `RESETREAS`, STM32 `RCC_CSR`, RP2040 `CHIP_RESET` and its watchdog's reason; the
//! virtual boards say what the rig simulated), cleared as the chip requires, and passed to
//! the policy, the history and the hand-off block.
//!
//! A chip may report several causes at once (a pin reset during a brown-out); the board
//! reports the one that best explains the end of the previous run, in this order:
//! watchdog, lockup, software, brown-out, power-on, pin. Stored as one byte; codes are
//! append-only.

/// Why the chip last reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum ResetCause {
    /// The board cannot tell (no register, or nothing set).
    #[default]
    Unknown = 0,
    /// Power was applied (a cold start, or the supply came back).
    PowerOn = 1,
    /// The supply dropped below the brown-out threshold.
    BrownOut = 2,
    /// A watchdog expired (a hang, or a trial armed by the boot stage that never fed it).
    Watchdog = 3,
    /// Software asked for it (`SYSRESETREQ`, a reboot).
    Software = 4,
    /// The reset pin.
    Pin = 5,
    /// The CPU locked up (a fault in a fault handler).
    Lockup = 6,
}

impl ResetCause {
    /// Decodes a cause byte; `None` for an unknown code.
    pub const fn from_u8(v: u8) -> Option<ResetCause> {
        Some(match v {
            0 => ResetCause::Unknown,
            1 => ResetCause::PowerOn,
            2 => ResetCause::BrownOut,
            3 => ResetCause::Watchdog,
            4 => ResetCause::Software,
            5 => ResetCause::Pin,
            6 => ResetCause::Lockup,
            _ => return None,
        })
    }

    /// The stored byte.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// A stable lowercase name (logs, `safeslotctl status`).
    pub const fn name(self) -> &'static str {
        match self {
            ResetCause::Unknown => "unknown",
            ResetCause::PowerOn => "power-on",
            ResetCause::BrownOut => "brown-out",
            ResetCause::Watchdog => "watchdog",
            ResetCause::Software => "software",
            ResetCause::Pin => "pin",
            ResetCause::Lockup => "lockup",
        }
    }

    /// The power went away: not something the running image did. A layout may let such a
    /// reset during a trial not consume a try (bounded: see the policy's free retries).
    pub const fn is_power_loss(self) -> bool {
        matches!(self, ResetCause::PowerOn | ResetCause::BrownOut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_refused() {
        for v in 0..=u8::MAX {
            match ResetCause::from_u8(v) {
                Some(c) => assert_eq!(c.code(), v),
                None => assert!(v > 6, "{v}"),
            }
        }
        assert!(ResetCause::PowerOn.is_power_loss() && ResetCause::BrownOut.is_power_loss());
        assert!(!ResetCause::Watchdog.is_power_loss() && !ResetCause::Unknown.is_power_loss());
    }
}
