//! The nRF52840's watchdog (WDT) and reset reason (`POWER.RESETREAS`): the boot stage's
//! [`Nrf52840`] (a `safeslot_cortex_m::stage::Chip`) and the feed the app shares,
//! [`feed_watchdog`].
//!
//! * Arming: embassy-nrf's `Watchdog::try_new` with one reload register (RR0) and the
//!   layout's timeout in 32 768 Hz ticks (rounded up; CRV is 32 bits: at most
//!   [`MAX_TIMEOUT_MS`]). It counts while the CPU sleeps (a trial that hangs in `wfi` is
//!   reset too) and pauses while a debugger halts the CPU (a breakpoint in a trial is not a
//!   hang). Once started the WDT cannot be stopped or reconfigured, and a soft reset does not
//!   stop it: the app reloads RR0 within the timeout for as long as it runs. When the WDT
//!   already runs with another configuration (an app started it before a soft reset), the
//!   stage cannot arm it and leaves it as it is.
//! * Reset reason: `RESETREAS` collects a bit per reset source until written 1 to clear;
//!   the stage reads it and clears what it read. All zero is a power-on or brown-out reset
//!   (this chip does not tell the two apart): [`ResetCause::PowerOn`]. A wake from System
//!   OFF (OFF, LPCOMP, DIF, NFC, VBUS) is neither a power loss nor a fault:
//!   [`ResetCause::Unknown`]. RESETPIN wins over the other bits: after a pin reset the
//!   others may be set when they should not be (nRF52840 erratum 136; Nordic's MDK keeps
//!   only RESETPIN too).

use embassy_nrf::pac::power::regs::Resetreas;
use embassy_nrf::pac::wdt::vals::Rr;
use embassy_nrf::pac::{POWER, WDT};
use embassy_nrf::wdt::{Config, HaltConfig, SleepConfig, Watchdog};
use embassy_nrf::{peripherals, Peri};
use safeslot_boot::ResetCause;
use safeslot_cortex_m::stage::Chip;

use crate::counter::AclPage;

/// WDT ticks per second (the 32.768 kHz LFCLK).
const TICKS_PER_S: u64 = 32_768;

/// The shortest timeout: embassy-nrf's minimum of 15 ticks is 0.46 ms.
pub const MIN_TIMEOUT_MS: u32 = 1;
/// The longest timeout: CRV is 32 bits of 32 768 Hz ticks (about 36 h).
pub const MAX_TIMEOUT_MS: u32 = (u32::MAX as u64 * 1000 / TICKS_PER_S) as u32;

/// `timeout_ms` in WDT ticks, rounded up (at most `u32::MAX`).
fn ticks(timeout_ms: u32) -> u32 {
    let ticks = (u64::from(timeout_ms) * TICKS_PER_S).div_ceil(1000);
    u32::try_from(ticks).unwrap_or(u32::MAX)
}

/// Reloads every enabled reload register of the WDT if it is running, and does nothing
/// otherwise. Reads RREN through the PAC: embassy-nrf's `Watchdog` wants the handle count at
/// compile time, and an app may have enabled more than the stage's one (RR0).
pub fn feed_watchdog() {
    if WDT.runstatus().read().runstatus() {
        let enabled = WDT.rren().read().0;
        for i in 0..8 {
            if enabled & (1 << i) != 0 {
                WDT.rr(i).write(|w| w.set_rr(Rr::Reload));
            }
        }
    }
}

/// What the boot stage reads the reset reason from and arms the watchdog with.
pub struct Nrf52840 {
    /// The WDT until it is armed.
    wdt: Option<Peri<'static, peripherals::WDT>>,
    /// The hardware anti-rollback counter's page.
    counter: AclPage,
}

impl Nrf52840 {
    /// The chip, owning the WDT.
    pub fn new(wdt: Peri<'static, peripherals::WDT>) -> Self {
        Nrf52840 { wdt: Some(wdt), counter: AclPage::new() }
    }
}

impl Chip for Nrf52840 {
    /// No hash peripheral driver: software SHA-256 (docs/PORTING.md, "A hash engine").
    type Sha256 = safeslot_boot::SoftSha256;

    fn sha256(&mut self) -> safeslot_boot::SoftSha256 {
        safeslot_boot::SoftSha256::default()
    }

    /// A flash page locked by the ACL before every hand-off ([`crate::counter`]).
    type Counter = AclPage;

    fn security_counter(&mut self) -> Option<&mut AclPage> {
        Some(&mut self.counter)
    }

    fn feed_watchdog(&mut self) {
        feed_watchdog();
    }

    fn arm_watchdog(&mut self, timeout_ms: u32) {
        let Some(wdt) = self.wdt.take() else { return };
        let mut config = Config::default();
        config.timeout_ticks = ticks(timeout_ms);
        config.action_during_sleep = SleepConfig::Run;
        config.action_during_debug_halt = HaltConfig::Pause;
        // Ok: started (or already running with exactly this configuration) and RR0 reloaded;
        // the handle is dropped, the app reloads RR0 itself ([`feed_watchdog`]).
        if Watchdog::try_new::<_, 1>(wdt, config).is_err() {
            defmt::warn!("watchdog already running with another configuration: left as it is");
        }
    }

    fn reset_cause(&mut self) -> ResetCause {
        let r = POWER.resetreas().read();
        POWER.resetreas().write_value(r); // write 1 to clear: exactly the bits read
        cause(r)
    }
}

/// The cause `RESETREAS` reports (see the module docs for the order).
fn cause(r: Resetreas) -> ResetCause {
    if r.resetpin() {
        ResetCause::Pin
    } else if r.dog() {
        ResetCause::Watchdog
    } else if r.lockup() {
        ResetCause::Lockup
    } else if r.sreq() {
        ResetCause::Software
    } else if r.0 == 0 {
        ResetCause::PowerOn
    } else {
        ResetCause::Unknown
    }
}
