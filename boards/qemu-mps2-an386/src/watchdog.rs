//! The machine's CMSDK APB watchdog (QEMU `cmsdk-apb-watchdog` at `0x4000_8000`, clocked
//! by the 25 MHz WDOGCLK, its interrupt wired to the NMI) and the FPGA's 100 Hz counter.
//!
//! The stage arms it right before it hands off a trial boot ([`arm`]); the demo app feeds
//! it ([`feed`]). The counter counts down from LOAD; at zero it raises its interrupt (the
//! NMI: cortex-m-rt's default handler spins) and reloads; at zero again with the interrupt
//! still pending it resets the machine. A reset therefore comes `2 × LOAD` ticks after the
//! last feed, so [`arm`] loads half the timeout. The watchdog is left unlocked: while
//! locked it ignores every write, the feed (INTCLR) included. QEMU 7.2 counts from reset
//! whatever INTEN says (9.2 made INTEN the counter enable); writing LOAD, then
//! `CTRL = INTEN | RESEN`, works on both.
//!
//! QEMU carries out the reset per its `-action watchdog=…`: the rigs ask for `pause`, which
//! stops the VM in run state `watchdog` (polled over QMP) instead of resetting it.

use core::ptr;

const BASE: usize = 0x4000_8000;
const LOAD: usize = BASE;
const CTRL: usize = BASE + 0x08;
const INTCLR: usize = BASE + 0x0C;
const LOCK: usize = BASE + 0xC00;
/// The value that unlocks the registers.
const UNLOCK: u32 = 0x1ACC_E551;
/// `CTRL`: interrupt enable (the first expiry) and reset enable (the second).
const INTEN_RESEN: u32 = 0b11;
/// WDOGCLK ticks per millisecond, halved (two expiries make one timeout).
const HALF_TICKS_PER_MS: u32 = 25_000 / 2;
/// The FPGA's 100 Hz counter (`CLK100HZ`, QEMU `mps2-fpgaio` at `0x4002_8000`).
const CLK100HZ: usize = 0x4002_8014;

/// The longest timeout [`arm`] can count: `LOAD` is 32 bits.
pub const MAX_TIMEOUT_MS: u32 = u32::MAX / HALF_TICKS_PER_MS;

/// Starts the watchdog: the machine resets `timeout_ms` (at most [`MAX_TIMEOUT_MS`]) after
/// this call or the last [`feed`].
pub fn arm(timeout_ms: u32) {
    let load = timeout_ms.min(MAX_TIMEOUT_MS).saturating_mul(HALF_TICKS_PER_MS).max(1);
    // SAFETY: the watchdog's registers, always mapped on this machine; 32-bit volatile
    // accesses as the device requires; no Rust object lives there.
    unsafe {
        ptr::write_volatile(LOCK as *mut u32, UNLOCK);
        ptr::write_volatile(LOAD as *mut u32, load);
        ptr::write_volatile(CTRL as *mut u32, INTEN_RESEN);
    }
}

/// Whether the stage armed the watchdog (its reset is enabled).
pub fn armed() -> bool {
    // SAFETY: as in `arm`; a read has no side effect on this register.
    unsafe { ptr::read_volatile(CTRL as *const u32) & INTEN_RESEN == INTEN_RESEN }
}

/// Restarts the count from LOAD (and clears a pending first expiry).
pub fn feed() {
    // SAFETY: as in `arm`; writing INTCLR only reloads the counter.
    unsafe { ptr::write_volatile(INTCLR as *mut u32, 1) }
}

/// Hundredths of a second of QEMU virtual time since the machine started (wraps).
pub fn centiseconds() -> u32 {
    // SAFETY: the FPGA's read-only counter, always mapped on this machine.
    unsafe { ptr::read_volatile(CLK100HZ as *const u32) }
}
