//! Hand-off: start an image from its vector table.
//!
//! This is one of the two modules of the board allowed unsafe code; its only
//! unsafe operation is [`jump`].

use cortex_m::peripheral::SCB;

/// VTOR ignores its low 7 bits on ARMv7-M; a table must be aligned to at
/// least this (more when the device has many interrupts).
pub const VECTOR_TABLE_ALIGN: u32 = 0x80;

/// Points VTOR at `vector_table`, loads MSP from its word 0 and branches to
/// its reset vector (word 1). Never returns.
///
/// # Panics
///
/// If `vector_table` is not [`VECTOR_TABLE_ALIGN`]-aligned (a boot-stage bug).
///
/// # Safety
///
/// The caller guarantees that:
/// 1. `vector_table` is the address of a complete, verified image's vector
///    table: word 0 is a valid, 8-byte aligned initial stack pointer inside the
///    image's RAM and word 1 a Thumb reset handler inside the image;
/// 2. that memory stays unchanged until the image has started (nothing else runs);
/// 3. no interrupt or fault handler of the boot stage can run after VTOR changes:
///    the boot stage enabled no interrupt, `SysTick` or other exception source;
/// 4. nothing of the boot stage (stack, statics) is needed afterwards: its RAM
///    may be reused by the image.
pub unsafe fn jump(vector_table: u32) -> ! {
    assert!(vector_table % VECTOR_TABLE_ALIGN == 0, "vector table misaligned");
    // SAFETY: writing VTOR only changes where the core fetches exception
    // vectors. Duty 3 (no exception can be taken in the boot stage before the
    // branch) means no handler is looked up in the new table too early, and
    // duty 1 means the table is valid once the image runs. We are
    // single-core and alone, so the raw SCB pointer races with nothing.
    unsafe { (*SCB::PTR).vtor.write(vector_table) };
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
    // SAFETY: duty 1 gives a valid stack pointer and reset vector at
    // `vector_table`, duty 2 keeps them valid, and duty 4 allows `bootload`
    // to abandon the current stack.
    unsafe { cortex_m::asm::bootload(vector_table as *const u32) }
}

/// Writes the hand-off block at the layout's fixed RAM address, for the image to read.
pub fn leave_block(block: &[u8; safeslot_shared::handoff::HANDOFF_LEN]) {
    let base = crate::layout::HANDOFF_ADDRESS as usize as *mut u8;
    for (i, b) in block.iter().enumerate() {
        // SAFETY: HANDOFF_ADDRESS..+HANDOFF_SIZE is RAM reserved by the layout for this
        // block (validated to lie outside the boot stage's and the apps' RAM, and
        // HANDOFF_LEN <= HANDOFF_SIZE is checked at compile time below); byte writes
        // need no alignment; nothing else aliases it.
        unsafe { core::ptr::write_volatile(base.wrapping_add(i), *b) };
    }
}

/// Reads the hand-off block the boot stage left (the application's side).
pub fn read_block() -> [u8; safeslot_shared::handoff::HANDOFF_LEN] {
    let base = crate::layout::HANDOFF_ADDRESS as usize as *const u8;
    let mut out = [0u8; safeslot_shared::handoff::HANDOFF_LEN];
    for (i, b) in out.iter_mut().enumerate() {
        // SAFETY: as in `leave_block`: reserved RAM, byte reads, no aliasing writer.
        *b = unsafe { core::ptr::read_volatile(base.wrapping_add(i)) };
    }
    out
}

const _: () = assert!(safeslot_shared::handoff::HANDOFF_LEN as u32 <= crate::layout::HANDOFF_SIZE);

/// Address of the rig mailbox (`safeslot_shared::mailbox`): inside the layout's hand-off
/// area, after the hand-off block.
const MAILBOX_ADDRESS: usize =
    crate::layout::HANDOFF_ADDRESS as usize + safeslot_shared::mailbox::MAILBOX_OFFSET as usize;

const _: () = assert!(
    safeslot_shared::mailbox::MAILBOX_OFFSET as usize + safeslot_shared::mailbox::MAILBOX_LEN
        <= crate::layout::HANDOFF_SIZE as usize
);

/// Reads the rig mailbox (a rig's command, or whatever RAM holds: decode it).
pub fn read_mailbox() -> [u8; safeslot_shared::mailbox::MAILBOX_LEN] {
    let base = MAILBOX_ADDRESS as *const u8;
    let mut out = [0u8; safeslot_shared::mailbox::MAILBOX_LEN];
    for (i, b) in out.iter_mut().enumerate() {
        // SAFETY: the mailbox lies inside the hand-off area (checked at compile time
        // above), RAM reserved by the layout outside both programs' RAM; byte reads need
        // no alignment; the only other writer is the rig's debugger, before the boot.
        *b = unsafe { core::ptr::read_volatile(base.wrapping_add(i)) };
    }
    out
}

/// Writes the app's report into the rig mailbox.
pub fn write_mailbox(bytes: &[u8; safeslot_shared::mailbox::MAILBOX_LEN]) {
    let base = MAILBOX_ADDRESS as *mut u8;
    for (i, b) in bytes.iter().enumerate() {
        // SAFETY: as in `read_mailbox`: reserved RAM inside the hand-off area, byte
        // writes, no aliasing Rust object.
        unsafe { core::ptr::write_volatile(base.wrapping_add(i), *b) };
    }
}
