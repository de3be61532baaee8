//! The STM32L476's independent watchdog (IWDG) and reset flags (`RCC_CSR`): the boot
//! stage's [`L476`] (a `safeslot_cortex_m::stage::Chip`) and the feed the app shares,
//! [`feed_watchdog`].
//!
//! * Arming: embassy-stm32's `IndependentWatchdog::new` picks the smallest prescaler (4 to
//!   256) whose 12-bit reload covers the timeout at the LSI's nominal 32 kHz (so at most
//!   [`MAX_TIMEOUT_MS`]; the LSI varies by some percent, and the timeout with it), then
//!   `unleash` starts it. The IWDG takes a new prescaler only once the previous update has
//!   completed in its LSI domain (`IWDG_SR`), and an update written while the IWDG is stopped
//!   waits for the LSI: so the stage starts it first, waits, sets the timeout again, waits,
//!   and reloads. It pauses while a debugger halts the core (`DBGMCU_APB1FZR1.DBG_IWDG_STOP`,
//!   a breakpoint in a trial is not a hang); in Stop and Standby it runs unless the option
//!   bytes freeze it (`IWDG_STOP`, `IWDG_STDBY`, left as they are). Once started the IWDG
//!   cannot be stopped: the app reloads it (key `0xAAAA`) within the timeout for as long as
//!   it runs.
//! * Before that, the option bytes may start the IWDG at reset (`IWDG_SW` = 0, about 0.5 s
//!   by default): the stage sets it to [`STAGE_TIMEOUT_US`] and reloads it between its long
//!   steps (reloading a stopped IWDG does nothing).
//! * Reset flags: `RCC_CSR` keeps a flag per reset source until `RMVF` clears them all; the
//!   stage reads them and clears them. Every internal reset also pulses NRST, so `PINRSTF`
//!   comes with the others and counts only alone. `BORRSTF` is set by a power-on as well as
//!   a brown-out (this chip's POR is its BOR level 0): [`ResetCause::PowerOn`]. `SFTRSTF`,
//!   `OBLRSTF` (an option-byte reload), `LPWRRSTF` (entering a low-power mode the option
//!   bytes forbid) and `FWRSTF` (a firewall violation) are all the running software's doing:
//!   [`ResetCause::Software`]. The chip has no lockup flag.

use embassy_stm32::pac::iwdg::vals::Key;
use embassy_stm32::pac::rcc::regs::Csr;
use embassy_stm32::pac::{DBGMCU, IWDG, RCC};
use embassy_stm32::wdg::IndependentWatchdog;
use embassy_stm32::{peripherals, Peri};
use safeslot_boot::ResetCause;
use safeslot_cortex_m::stage::Chip;

use safeslot_shared::counter::OtpCounters;

use crate::flash::L4Otp;
use crate::layout::{OTP_SIZE, OTP_UNIT};

/// The IWDG timeout while the boot stage runs, set in case the option bytes started it
/// (longer than the stage's longest step between two feeds).
pub const STAGE_TIMEOUT_US: u32 = 8_000_000;
/// The shortest timeout.
pub const MIN_TIMEOUT_MS: u32 = 1;
/// The longest timeout: prescaler 256 and reload 0xFFF at 32 kHz (4096 × 8 ms).
pub const MAX_TIMEOUT_MS: u32 = 32_768;

/// How often to poll `IWDG_SR` for a finished update: it takes up to 5 LSI cycles
/// (160 µs) plus the LSI's start-up, far less than this many polls even at 80 MHz.
const UPDATE_POLLS: u32 = 100_000;

/// Reloads the IWDG (key `0xAAAA`). Does nothing while it is stopped.
pub fn feed_watchdog() {
    IWDG.kr().write(|w| w.set_key(Key::RESET));
}

/// Waits (bounded) until the IWDG has taken the prescaler, reload and window last written.
fn wait_for_update() {
    for _ in 0..UPDATE_POLLS {
        let sr = IWDG.sr().read();
        if !(sr.pvu() || sr.rvu() || sr.wvu()) {
            return;
        }
    }
}

/// What the boot stage reads the reset reason from and arms the watchdog with.
pub struct L476 {
    iwdg: Peri<'static, peripherals::IWDG>,
    /// The OTP area with the hardware anti-rollback counter (nothing to lock: no program
    /// can lower it, and it is never erasable).
    otp: OtpCounters<L4Otp>,
}

impl L476 {
    /// The chip, owning the IWDG: sets its timeout to [`STAGE_TIMEOUT_US`] and reloads it,
    /// in case the option bytes started it.
    pub fn new(mut iwdg: Peri<'static, peripherals::IWDG>) -> Self {
        IndependentWatchdog::new(iwdg.reborrow(), STAGE_TIMEOUT_US).pet();
        L476 { iwdg, otp: OtpCounters::new(L4Otp, OTP_SIZE, OTP_UNIT) }
    }
}

impl Chip for L476 {
    /// No hash peripheral driver: software SHA-256 (docs/PORTING.md, "A hash engine").
    type Sha256 = safeslot_boot::SoftSha256;

    fn sha256(&mut self) -> safeslot_boot::SoftSha256 {
        safeslot_boot::SoftSha256::default()
    }

    /// The OTP area ([`crate::flash::L4Otp`]).
    type Counter = OtpCounters<L4Otp>;

    fn security_counter(&mut self) -> Option<&mut OtpCounters<L4Otp>> {
        Some(&mut self.otp)
    }

    fn feed_watchdog(&mut self) {
        feed_watchdog();
    }

    fn arm_watchdog(&mut self, timeout_ms: u32) {
        let timeout_us = timeout_ms.clamp(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS) * 1000;
        DBGMCU.apb1fzr1().modify(|w| w.set_iwdg(true));
        IndependentWatchdog::new(self.iwdg.reborrow(), timeout_us).unleash();
        wait_for_update();
        let mut dog = IndependentWatchdog::new(self.iwdg.reborrow(), timeout_us);
        wait_for_update();
        dog.pet();
    }

    fn reset_cause(&mut self) -> ResetCause {
        let csr = RCC.csr().read();
        RCC.csr().modify(|w| w.set_rmvf(true));
        cause(csr)
    }
}

/// The cause the reset flags report (see the module docs for the order).
fn cause(csr: Csr) -> ResetCause {
    if csr.iwdgrstf() || csr.wwdgrstf() {
        ResetCause::Watchdog
    } else if csr.sftrstf() || csr.oblrstf() || csr.lpwrrstf() || csr.fwrstf() {
        ResetCause::Software
    } else if csr.borrstf() {
        ResetCause::PowerOn
    } else if csr.pinrstf() {
        ResetCause::Pin
    } else {
        ResetCause::Unknown
    }
}
