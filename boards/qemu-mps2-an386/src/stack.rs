//! The boot stage's peak stack use, measured: paint the free stack with a pattern before
//! the boot sequence, find the lowest word it overwrote afterwards.
//!
//! The free stack is `_stack_end` (cortex-m-rt: the end of `.bss`/`.uninit`, aligned) up
//! to the current stack pointer. `cargo xtask size` reads the figure from the boot log.

/// What unused stack holds after [`paint`].
const PATTERN: u32 = 0x5AFE_57AC;
/// Bytes just below the live stack pointer left alone while painting.
const MARGIN: usize = 64;

extern "C" {
    /// cortex-m-rt: the top of the stack (its initial value).
    static _stack_start: u32;
    /// cortex-m-rt: the lowest address the stack may grow to.
    static _stack_end: u32;
}

fn bounds() -> (usize, usize) {
    // Only the addresses of the linker-provided symbols are taken; they are never read.
    (core::ptr::addr_of!(_stack_start) as usize, core::ptr::addr_of!(_stack_end) as usize)
}

/// Fills the unused stack below the current stack pointer with [`PATTERN`].
#[inline(never)]
pub fn paint() {
    let (_, bottom) = bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut at = bottom;
    while at + 4 <= sp.saturating_sub(MARGIN) {
        // SAFETY: `bottom..sp - MARGIN` is RAM below every live stack frame (the stack
        // grows down from `_stack_start`, and this function's frame is above `sp -
        // MARGIN`); nothing else uses it (no interrupt is enabled, single core); the
        // address is 4-aligned (`_stack_end` is, and we step by 4).
        unsafe { core::ptr::write_volatile(at as *mut u32, PATTERN) };
        at += 4;
    }
}

/// Bytes of stack used since [`paint`]: from the top down to the lowest overwritten word.
pub fn peak() -> u32 {
    let (top, bottom) = bounds();
    let mut at = bottom;
    // SAFETY: reads of 4-aligned words in `bottom..top`, the stack region; a word still
    // holding the pattern was not written since `paint`.
    while at < top && unsafe { core::ptr::read_volatile(at as *const u32) } == PATTERN {
        at += 4;
    }
    (top - at) as u32
}
