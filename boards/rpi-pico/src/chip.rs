//! The RP2040's watchdog and reset reason: the boot stage's [`Rp2040`] (a
//! `safeslot_cortex_m::stage::Chip`).
//!
//! * Arming: embassy-rp's `Watchdog::start`, which selects what the watchdog resets
//!   (`PSM.WDSEL`: everything but the oscillators), loads the timeout and enables it. The
//!   counter is 24 bits of 1 µs ticks and counts down twice per tick (erratum RP2040-E1), so
//!   the longest timeout is [`MAX_TIMEOUT_MS`]. It pauses while a debugger halts a core (a
//!   breakpoint in a trial is not a hang). A soft reset does not stop it; unlike the nRF
//!   and STM32 watchdogs, the app may stop it (`Watchdog::stop`), e.g. once it confirmed.
//! * Reset reason: `WATCHDOG.REASON` says whether the watchdog caused the last reset (timer
//!   or forced) and `VREG_AND_CHIP_RESET.CHIP_RESET` which chip-level reset came last (power
//!   or brown-out, RUN pin, debug port). Both are read-only, and neither is cleared by a soft
//!   reset (`SYSRESETREQ`): after a timeout, REASON still says so across every later soft reset
//!   until the next chip-level reset. So the stage keeps a mark in `WATCHDOG.SCRATCH0` (the
//!   boot ROM uses SCRATCH4..7; the app must leave SCRATCH0 alone), which only a
//!   chip-level reset clears:
//!   - no mark: the first boot since a chip-level reset: power-on or brown-out
//!     ([`ResetCause::PowerOn`]), the RUN pin ([`ResetCause::Pin`]), or a debugger's restart
//!     ([`ResetCause::Unknown`]);
//!   - marked: a soft or watchdog reset. A timeout after a boot the stage armed is
//!     [`ResetCause::Watchdog`]; after one it did not arm it may be a stale REASON or a
//!     watchdog the app started: [`ResetCause::Unknown`]. A forced reset (pico-sdk's and
//!     embassy-rp's reboot through the watchdog) or none at all (`SYSRESETREQ`) is
//!     [`ResetCause::Software`].
//!
//!   What remains ambiguous: after a timeout, a soft reset of a later boot the stage armed
//!   still reads as a watchdog reset. An app that reboots through the watchdog
//!   (`Watchdog::trigger_reset`, REASON = forced) avoids that.

use embassy_rp::pac::VREG_AND_CHIP_RESET;
use embassy_rp::watchdog::{ResetReason, Watchdog};
use embassy_time::Duration;
use safeslot_boot::NoSecurityCounter;
use safeslot_boot::ResetCause;
use safeslot_cortex_m::stage::Chip;

/// The reload while the boot stage runs (below the 8.388 s maximum), for a watchdog an app
/// left running across a soft reset.
pub const STAGE_TIMEOUT: Duration = Duration::from_secs(8);
/// The shortest timeout.
pub const MIN_TIMEOUT_MS: u32 = 1;
/// The longest timeout: 0xFF_FFFF half-ticks of 1 µs (8.388 s).
pub const MAX_TIMEOUT_MS: u32 = 0xFF_FFFF / 2 / 1000;

/// The scratch register that holds the stage's mark.
const MARK: usize = 0;
/// The mark: the stage ran since the last chip-level reset and did not arm the watchdog.
const RAN: u32 = 0x5AFE_B007;
/// The mark: the stage ran since the last chip-level reset and armed the watchdog.
const ARMED: u32 = 0x5AFE_D065;

/// What the boot stage reads the reset reason from and arms the watchdog with.
pub struct Rp2040 {
    watchdog: Watchdog,
}

impl Rp2040 {
    /// The chip, owning the watchdog: reloads it with [`STAGE_TIMEOUT`] in case it runs.
    pub fn new(mut watchdog: Watchdog) -> Self {
        watchdog.feed(STAGE_TIMEOUT);
        Rp2040 { watchdog }
    }
}

impl Chip for Rp2040 {
    /// No hash peripheral driver: software SHA-256 (docs/PORTING.md, "A hash engine").
    type Sha256 = safeslot_boot::SoftSha256;

    fn sha256(&mut self) -> safeslot_boot::SoftSha256 {
        safeslot_boot::SoftSha256::default()
    }

    /// The RP2040 has no OTP and no monotonic counter (its only non-volatile memory is the
    /// external QSPI flash, which the application can erase): the record-only floor
    /// (docs/PORTING.md, "Hardware anti-rollback counter").
    type Counter = NoSecurityCounter;

    fn security_counter(&mut self) -> Option<&mut NoSecurityCounter> {
        None
    }

    fn feed_watchdog(&mut self) {
        self.watchdog.feed(STAGE_TIMEOUT); // only loads the counter: a stopped one stays stopped
    }

    fn arm_watchdog(&mut self, timeout_ms: u32) {
        let timeout = Duration::from_millis(u64::from(timeout_ms.clamp(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS)));
        self.watchdog.set_scratch(MARK, ARMED);
        self.watchdog.pause_on_debug(true);
        self.watchdog.start(timeout);
    }

    fn reset_cause(&mut self) -> ResetCause {
        let mark = self.watchdog.get_scratch(MARK);
        self.watchdog.set_scratch(MARK, RAN);
        if mark != RAN && mark != ARMED {
            let chip = VREG_AND_CHIP_RESET.chip_reset().read();
            return if chip.had_por() {
                ResetCause::PowerOn
            } else if chip.had_run() {
                ResetCause::Pin
            } else {
                ResetCause::Unknown
            };
        }
        match self.watchdog.reset_reason() {
            Some(ResetReason::TimedOut) if mark == ARMED => ResetCause::Watchdog,
            Some(ResetReason::TimedOut) => ResetCause::Unknown,
            Some(ResetReason::Forced) | None => ResetCause::Software,
        }
    }
}
