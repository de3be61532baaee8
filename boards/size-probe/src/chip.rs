//! The probe's chip: what a real board's watchdog arming and reset-reason read cost, with
//! the virtual board's CMSDK watchdog registers (a few register writes) and a reset-reason
//! register read and cleared as the real chips' are (one read, one write), and a real
//! board's hardware anti-rollback counter: the shared thermometer code over the layout's
//! `[otp]` area, memory-mapped like the STM32L4's OTP.

use core::ptr;

use safeslot_boot::ResetCause;
use safeslot_cortex_m::stage::Chip;
use safeslot_shared::counter::OtpCounters;

use crate::flash::Flash;
use crate::layout::{OTP_ADDRESS, OTP_SIZE, OTP_UNIT};

/// CMSDK APB watchdog: LOCK, LOAD and CTRL (see the virtual board's `watchdog` module).
const WDOG_LOCK: usize = 0x4000_8C00;
const WDOG_LOAD: usize = 0x4000_8000;
const WDOG_CTRL: usize = 0x4000_8008;
/// A reset-reason register as on the nRF52 (`RESETREAS`: read, then write 1s to clear).
const RESETREAS: usize = 0x4000_0400;

/// The probe's chip, with its OTP window.
pub struct Probe {
    /// The `[otp]` area, memory-mapped, holding the counters.
    pub otp: OtpCounters<Flash>,
}

impl Probe {
    /// The chip over the layout's `[otp]` area.
    pub const fn new() -> Probe {
        Probe {
            otp: OtpCounters::new(Flash { base: OTP_ADDRESS as usize, size: OTP_SIZE as usize }, OTP_SIZE, OTP_UNIT),
        }
    }
}

impl Chip for Probe {
    /// No hash peripheral driver: software SHA-256 (docs/PORTING.md, "A hash engine").
    type Sha256 = safeslot_boot::SoftSha256;

    fn sha256(&mut self) -> safeslot_boot::SoftSha256 {
        safeslot_boot::SoftSha256::default()
    }

    type Counter = OtpCounters<Flash>;

    fn security_counter(&mut self) -> Option<&mut OtpCounters<Flash>> {
        Some(&mut self.otp)
    }

    fn feed_watchdog(&mut self) {}

    fn arm_watchdog(&mut self, timeout_ms: u32) {
        // SAFETY: device registers (never run: the probe is only sized); 32-bit volatile
        // accesses; no Rust object lives there.
        unsafe {
            ptr::write_volatile(WDOG_LOCK as *mut u32, 0x1ACC_E551);
            ptr::write_volatile(WDOG_LOAD as *mut u32, timeout_ms.saturating_mul(12_500));
            ptr::write_volatile(WDOG_CTRL as *mut u32, 3);
        }
    }

    fn reset_cause(&mut self) -> ResetCause {
        // SAFETY: as above.
        let r = unsafe { ptr::read_volatile(RESETREAS as *const u32) };
        // SAFETY: as above; writing the bits read clears them.
        unsafe { ptr::write_volatile(RESETREAS as *mut u32, r) };
        match r {
            0 => ResetCause::PowerOn,
            r if r & 0b10 != 0 => ResetCause::Watchdog,
            r if r & 0b100 != 0 => ResetCause::Software,
            r if r & 0b1000 != 0 => ResetCause::Lockup,
            r if r & 0b1 != 0 => ResetCause::Pin,
            _ => ResetCause::Unknown,
        }
    }
}
