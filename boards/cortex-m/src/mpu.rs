//! Execute-never slots until the launch (fault-injection hardening).
//!
//! A skipped instruction that corrupts the stack (a skipped `add sp`, an overlong copy into a
//! stack buffer) can make a `pop {…, pc}` take its PC from image bytes: the stage would branch
//! into an image that was never accepted, and none of its checks would run again (the
//! campaign in docs/DESIGN.md, "Fault-injection hardening", found three such skips). So from
//! reset until the jump, the MPU marks every slot **execute-never**: such a branch faults
//! (MemManage, escalated to HardFault, which the stage handles as a crash) before an image
//! instruction completes. [`release`] turns the MPU off again in [`crate::handoff::jump`],
//! after the last proof check, immediately before the branch into the image.
//!
//! The regions come from the layout (`config::EXECUTE_NEVER`: the slots as naturally aligned
//! powers of two, at most [`REGIONS`]); everything else keeps the default memory map
//! (`PRIVDEFENA`), so the stage's own code, RAM and peripherals are unaffected, and the slots
//! stay readable and writable (the stage reads and hashes them, and its journal writes the
//! record). PMSAv6 (Cortex-M0+) and PMSAv7 (Cortex-M3/M4/M7) program regions the same way.

use cortex_m::peripheral::MPU;
use safeslot_boot::config::ExecuteNever;

/// MPU regions every supported core has (Cortex-M0+, M3, M4: 8).
pub const REGIONS: usize = 8;

/// `MPU_RASR`: execute never.
const XN: u32 = 1 << 28;
/// `MPU_RASR`: AP = 0b011, full access (read and write, privileged and unprivileged).
const AP_FULL: u32 = 0b011 << 24;
/// `MPU_RASR`: TEX = 0, C = 1, B = 0: normal memory, write-through (what flash is).
const NORMAL_WT: u32 = 1 << 17;
/// `MPU_RASR`: region enable.
const ENABLE: u32 = 1;
/// `MPU_CTRL`: MPU enable, default memory map for privileged code outside the regions.
const CTRL_ON: u32 = 1 | (1 << 2);

/// Marks `regions` execute-never and turns the MPU on. Regions beyond [`REGIONS`] or with a
/// size outside 256 B ..= 4 GiB are not programmed (the layout's tests keep every board's
/// list inside both limits).
pub fn protect(regions: &[ExecuteNever]) {
    let mut programmed = false;
    for (i, r) in regions.iter().take(REGIONS).enumerate() {
        if !(8..=32).contains(&r.size_log2) {
            continue;
        }
        let rasr = XN | AP_FULL | NORMAL_WT | ((u32::from(r.size_log2) - 1) << 1) | ENABLE;
        // SAFETY: the MPU registers only change which accesses fault; the regions add
        // execute-never to slot flash, which the stage never executes, and keep it readable
        // and writable. Single core, no interrupt enabled: nothing races the raw pointer.
        unsafe {
            (*MPU::PTR).rnr.write(i as u32);
            (*MPU::PTR).rbar.write(r.base);
            (*MPU::PTR).rasr.write(rasr);
        }
        programmed = true;
    }
    if programmed {
        // SAFETY: as above; the MPU is turned on once, after every region is programmed.
        unsafe { (*MPU::PTR).ctrl.write(CTRL_ON) };
    }
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
}

/// Turns the MPU off: the image starts with the reset state of the MPU, as without a boot
/// stage. Called only by [`crate::handoff::jump`].
pub(crate) fn release() {
    // SAFETY: turning the MPU off removes the stage's execute-never regions and nothing
    // else (the stage set no other region).
    unsafe { (*MPU::PTR).ctrl.write(0) };
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
}
