//! The entry point: the first instructions at offset 0 of pflash0.
//!
//! QEMU starts the CPU here at EL1 with the MMU and caches off. Before any Rust code runs,
//! `_start` masks interrupts, enables FP/SIMD (`CPACR_EL1.FPEN = 0b11`: Rust's aarch64
//! code uses the NEON registers, and trapping them would fault), sets the stack pointer
//! to the top of the stage's RAM, copies `.data` from flash and zeroes `.bss`, then calls
//! [`main`](crate) — the bin's `#[no_mangle] extern "C" fn safeslot_main() -> !`.
//!
//! The symbols come from `link.x`; `.data` and `.bss` are 8-byte aligned there, so the
//! loops move whole doublewords.

core::arch::global_asm!(
    ".section .text._start, \"ax\"",
    ".global _start",
    "_start:",
    "    msr daifset, #0xf",
    "    mrs x0, cpacr_el1",
    "    orr x0, x0, #(3 << 20)",
    "    msr cpacr_el1, x0",
    "    isb",
    "    ldr x0, =__stack_top",
    "    mov sp, x0",
    "    ldr x0, =__sdata",
    "    ldr x1, =__edata",
    "    ldr x2, =__sidata",
    "1:  cmp x0, x1",
    "    b.hs 2f",
    "    ldr x3, [x2], #8",
    "    str x3, [x0], #8",
    "    b 1b",
    "2:  ldr x0, =__sbss",
    "    ldr x1, =__ebss",
    "3:  cmp x0, x1",
    "    b.hs 4f",
    "    str xzr, [x0], #8",
    "    b 3b",
    "4:  bl safeslot_main",
    "5:  wfe",
    "    b 5b",
    ".ltorg",
);
