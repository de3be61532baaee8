//! The safeslot stage of the virtual SoC: copy the slots to RAM, then the one boot main
//! (`safeslot_boot::run`) over [`SocStage`]: it verifies the copies, boots the chosen
//! slot's Linux, or reports recovery and powers off.
#![no_std]
#![no_main]
#![deny(unsafe_code, missing_docs, clippy::undocumented_unsafe_blocks)]

use core::fmt::Write as _;

use safeslot_board_qemu_virt_aarch64::cfi::Cfi;
use safeslot_board_qemu_virt_aarch64::layout::{BOARD_NAME, SLOT_COUNT};
use safeslot_board_qemu_virt_aarch64::ram::Region;
use safeslot_board_qemu_virt_aarch64::stage::SocStage;
use safeslot_board_qemu_virt_aarch64::timer::now_us;
use safeslot_board_qemu_virt_aarch64::uart::Uart;
use safeslot_board_qemu_virt_aarch64::{config, fwcfg, handoff, stack};
use safeslot_linux::shadow::Shadow;

// The staging regions below are taken for exactly two slots.
const _: () = assert!(SLOT_COUNT == 2, "this stage copies two slots");

/// Called by `_start` (see the library's `start` module) with a stack, `.data` and `.bss`.
// `no_mangle` counts as unsafe: the symbol must be unique. It is: `_start` is its only
// caller and nothing else in the stage defines `safeslot_main`.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn safeslot_main() -> ! {
    let mut u = Uart;
    let _ = writeln!(u, "safeslot: stage {} on {}", env!("CARGO_PKG_VERSION"), BOARD_NAME);
    let (Some(sa), Some(sb)) = (Region::Staging(0).take(), Region::Staging(1).take()) else {
        let _ = writeln!(u, "safeslot: recovery reason=internal");
        handoff::power_off()
    };
    // The rig's power-cut order (fw_cfg; none on every ordinary boot).
    let Ok(plan) = fwcfg::cut_plan() else {
        let _ = writeln!(u, "safeslot: recovery reason=internal detail=rig-order");
        handoff::power_off()
    };
    stack::paint();
    let started = now_us();
    let flash = Shadow::new(Cfi::with_plan(plan), config::BOOT.slots, [Some(sa), Some(sb), None, None]);
    match safeslot_boot::run(&mut SocStage::new(flash, started), &config::BOOT) {}
}
