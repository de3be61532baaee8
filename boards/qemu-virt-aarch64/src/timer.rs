//! The generic timer's virtual counter, for the stage's timing line (how long the slot
//! copies, the boot sequence with its verification, and the Linux placement take).
//!
//! This is a register module: its two system-register reads are its only unsafe code.

/// Microseconds since the counter started (at reset on QEMU), from `CNTVCT_EL0` and
/// `CNTFRQ_EL0`; 0 if the frequency reads as 0.
pub fn now_us() -> u64 {
    let (count, freq): (u64, u64);
    // SAFETY: reading CNTVCT_EL0 and CNTFRQ_EL0 at EL1 has no side effects and touches no
    // memory; both are readable at EL1 out of reset (CNTKCTL_EL1 only gates EL0).
    unsafe {
        core::arch::asm!("isb", "mrs {c}, cntvct_el0", "mrs {f}, cntfrq_el0", c = out(reg) count, f = out(reg) freq, options(nomem, nostack));
    }
    if freq == 0 {
        return 0;
    }
    (u128::from(count) * 1_000_000 / u128::from(freq)) as u64
}
