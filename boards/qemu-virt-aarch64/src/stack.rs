//! The stage's peak stack use, measured: paint the free stack with a pattern before the
//! boot sequence, find the lowest word it overwrote before the jump.
//!
//! The free stack is `__ebss` (link.x: the end of `.bss`, 8-aligned) up to the current
//! stack pointer; the stack grows down from `__stack_top`. The figure goes to the serial
//! log (`safeslot: stack peak=N`).

/// What unused stack holds after [`paint`].
const PATTERN: u64 = 0x5AFE_57AC_5AFE_57AC;
/// Bytes just below the live stack pointer left alone while painting.
const MARGIN: usize = 256;

extern "C" {
    /// link.x: the top of the stack (its initial value).
    static __stack_top: u64;
    /// link.x: the end of `.bss`, the lowest address the stack may grow to.
    static __ebss: u64;
}

fn bounds() -> (usize, usize) {
    // Only the addresses of the linker-provided symbols are taken; they are never read.
    (core::ptr::addr_of!(__stack_top) as usize, core::ptr::addr_of!(__ebss) as usize)
}

fn sp() -> usize {
    let sp: usize;
    // SAFETY: copying the stack pointer to a register has no side effects.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

/// Fills the unused stack below the current stack pointer with [`PATTERN`].
#[inline(never)]
pub fn paint() {
    let (_, bottom) = bounds();
    let limit = sp().saturating_sub(MARGIN);
    let mut at = bottom;
    while at.saturating_add(8) <= limit {
        // SAFETY: `bottom..sp - MARGIN` is the stage's RAM below every live stack frame
        // (the stack grows down from `__stack_top`, this frame is above `sp - MARGIN`);
        // nothing else uses it (no interrupt enabled, one core); `__ebss` is 8-aligned
        // and we step by 8.
        unsafe { core::ptr::write_volatile(at as *mut u64, PATTERN) };
        at = at.saturating_add(8);
    }
}

/// Bytes of stack used since [`paint`]: from the top down to the lowest overwritten word.
pub fn peak() -> usize {
    let (top, bottom) = bounds();
    let mut at = bottom;
    // SAFETY: reads of 8-aligned words in `bottom..top`, the stack region; a word still
    // holding the pattern was not written since `paint`.
    while at < top && unsafe { core::ptr::read_volatile(at as *const u64) } == PATTERN {
        at = at.saturating_add(8);
    }
    top.saturating_sub(at)
}
