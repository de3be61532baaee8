//! Board support for QEMU's `virt` machine with a Cortex-A53: the safeslot stage of the
//! virtual SoC, which boots Debian's own arm64 Linux from A/B slots in CFI NOR flash.
//!
//! The CPU starts at offset 0 of pflash0 at EL1 with the MMU off; [`start`] enables
//! FP/SIMD, sets up the stack and `.data`/`.bss` and calls the stage's `main`. The stage
//! copies each slot into RAM ([`ram`]) and runs the one boot main, `safeslot_boot::run`,
//! over [`stage::SocStage`], whose flash is `safeslot_linux::shadow::Shadow`, a view whose
//! slot reads come from those copies, so the bytes verified are the bytes then booted; its
//! configuration is the generated [`config`]. [`cfi`] drives pflash1 (the record and the
//! slots) with the Intel command set and enforces the NOR rules QEMU's model does not.
//! [`handoff`] places the kernel and initramfs, patches the device tree and jumps with the
//! Linux arm64 boot protocol; [`uart`] is the serial log.
//!
//! [`fwcfg`] reads the rig's order (a power cut at a flash store) from QEMU's fw_cfg.
//!
//! Unsafe code lives only in [`start`] (the entry point), [`stack`] (painting the free stack
//! to measure its peak), [`cfi`], [`fwcfg`], [`timer`] and [`uart`] (register
//! and flash-window accesses) and [`ram`]/[`handoff`] (RAM regions from the layout, the
//! jump); everything else is safe.
#![no_std]
#![deny(
    unsafe_code,
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

#[allow(unsafe_code)]
pub mod cfi;
pub mod config;
#[allow(unsafe_code)]
pub mod fwcfg;
#[allow(unsafe_code)]
pub mod handoff;
pub mod layout;
#[allow(unsafe_code)]
pub mod ram;
#[allow(unsafe_code)]
pub mod stack;
pub mod stage;
#[allow(unsafe_code)]
pub mod start;
#[allow(unsafe_code)]
pub mod timer;
#[allow(unsafe_code)]
pub mod uart;

/// Prints the panic location on the serial port and powers off.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let mut u = uart::Uart;
    match info.location() {
        Some(at) => {
            let _ = writeln!(u, "safeslot: panic at {}:{}", at.file(), at.line());
        }
        None => {
            let _ = writeln!(u, "safeslot: panic");
        }
    }
    handoff::power_off()
}
