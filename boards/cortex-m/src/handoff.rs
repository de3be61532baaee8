//! Hand-off: the RAM area the boot stage and the app share, and the jump into an image.
//!
//! The layout's `[handoff]` area (64 B, validated to lie outside both the boot stage's and
//! the app's RAM, so no stack, `.bss` or `.data` of either touches it) holds the hand-off
//! block the boot stage leaves ([`safeslot_shared::handoff`], bytes
//! `0..HANDOFF_LEN`) and the rig mailbox ([`safeslot_shared::mailbox`], bytes
//! `MAILBOX_OFFSET..+MAILBOX_LEN`), which the boot stage never writes.
//!
//! This is the only module of the board crates with unsafe code: volatile accesses to that
//! area and [`jump`].

use cortex_m::peripheral::SCB;
use safeslot_boot::config::HandoffRegion;
use safeslot_boot::{ApprovedLaunch, Named};
use safeslot_shared::handoff::HANDOFF_LEN;
use safeslot_shared::mailbox::{MAILBOX_LEN, MAILBOX_OFFSET};

/// The alignment [`jump`] requires of a vector table: VTOR ignores the low 8 bits on
/// ARMv6-M (Cortex-M0+) and the low 7 on ARMv7-M; a table with more entries needs more
/// (its size rounded up to a power of two), which the layout's slot headers give.
pub const VECTOR_TABLE_ALIGN: u32 = 0x100;

/// Bytes the area must have: the hand-off block, then the mailbox.
const AREA_NEED: usize = MAILBOX_OFFSET as usize + MAILBOX_LEN;

/// The layout's hand-off area: reserved RAM at a fixed address.
#[derive(Debug, Clone, Copy)]
pub struct HandoffArea {
    base: usize,
}

impl HandoffArea {
    /// The area `region` describes.
    ///
    /// # Panics
    ///
    /// (At compile time, when used in a const.) If the region cannot hold the hand-off block
    /// and the mailbox, or its address is not 4-byte aligned.
    ///
    /// # Safety
    ///
    /// The caller guarantees that `region.address .. region.address + region.size` is RAM
    /// that nothing but this area's users reads or writes: no stack, static, DMA buffer or
    /// other code of the boot stage or the app. The layout's `[handoff]` block (the
    /// generated `config::HANDOFF`), validated by safeslot-layout to lie outside both RAM
    /// ranges, is such an area ([`crate::board!`] builds it).
    pub const unsafe fn new(region: HandoffRegion) -> HandoffArea {
        assert!(region.size as usize >= AREA_NEED, "hand-off area too small for the block and the mailbox");
        assert!(region.address.is_multiple_of(4), "hand-off area misaligned");
        HandoffArea { base: region.address as usize }
    }

    fn write(&self, offset: usize, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            // SAFETY: `offset + i < AREA_NEED <= size` for every caller below, so the byte is
            // inside the area, which `new`'s caller reserved for us; byte accesses need no
            // alignment; we are single-threaded (no interrupt handler touches the area).
            unsafe { core::ptr::write_volatile((self.base + offset + i) as *mut u8, *b) };
        }
    }

    fn read<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: as in `write`: inside the reserved area, byte reads, no aliasing writer.
            *b = unsafe { core::ptr::read_volatile((self.base + offset + i) as *const u8) };
        }
        out
    }

    /// Leaves the hand-off block for the image (the boot stage's side).
    pub fn leave_block(&self, block: &[u8; HANDOFF_LEN]) {
        self.write(0, block);
    }

    /// Reads the hand-off block the boot stage left (the application's side).
    pub fn read_block(&self) -> [u8; HANDOFF_LEN] {
        self.read(0)
    }

    /// Reads the rig mailbox (a [`safeslot_shared::mailbox::Command`] when a rig wrote one).
    pub fn read_mailbox(&self) -> [u8; MAILBOX_LEN] {
        self.read(MAILBOX_OFFSET as usize)
    }

    /// Writes the rig mailbox (a [`safeslot_shared::mailbox::Report`], or zeros to consume a
    /// command).
    pub fn write_mailbox(&self, bytes: &[u8; MAILBOX_LEN]) {
        self.write(MAILBOX_OFFSET as usize, bytes);
    }
}

const _: () = assert!(HANDOFF_LEN <= MAILBOX_OFFSET as usize);

/// Why [`launch`] did not jump: the redundant proof did not hold at the last check (a
/// glitch), or the load address is not a 32-bit address (impossible for an image the
/// verifier accepted for a slot of a validated layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JumpRefused;

impl Named for JumpRefused {
    fn name(&self) -> &'static str {
        "fault"
    }
}

/// Jumps into the image `approved` describes if its redundant proof still holds
/// (fault-injection hardening: checked once more right before the jump); returns only if
/// it does not.
///
/// A board calls it from its `safeslot_boot::Platform::launch`, with the
/// [`ApprovedLaunch`] that `safeslot_boot::run` handed it: only `run` builds one, from the
/// `Launch` that `safeslot_boot::boot` returned, unchanged.
pub fn launch(approved: &ApprovedLaunch) -> JumpRefused {
    let l = approved.launch();
    if let Ok(vector_table) = u32::try_from(l.load_addr) {
        if approved.holds() {
            // SAFETY: an `ApprovedLaunch` exists only for an image whose signature and SHA-256
            // verified and whose header's load address is its slot's image address (checked
            // by the verifier), where the generated app memory.x linked it, and it cannot be
            // altered (see above); that flash is not written before the image runs; the boot
            // stage enabled no interrupt or exception source (HAL init without interrupts or
            // time driver); nothing of the stage is needed afterwards.
            unsafe { jump(vector_table) }
        }
    }
    JumpRefused
}

/// Points VTOR at `vector_table`, loads MSP from its word 0 and branches to its reset vector
/// (word 1). Never returns.
///
/// # Panics
///
/// If `vector_table` is not [`VECTOR_TABLE_ALIGN`]-aligned (a boot-stage bug).
///
/// # Safety
///
/// The caller guarantees that:
/// 1. `vector_table` is the address of a complete, verified image's vector table: word 0 is
///    a valid, 8-byte aligned initial stack pointer inside the image's RAM and word 1 a
///    Thumb reset handler inside the image;
/// 2. that memory stays unchanged until the image has started (nothing else runs);
/// 3. no interrupt or fault handler of the boot stage can run after VTOR changes: the boot
///    stage enabled no interrupt, `SysTick` or other exception source;
/// 4. nothing of the boot stage (stack, statics) is needed afterwards: its RAM may be reused
///    by the image.
pub unsafe fn jump(vector_table: u32) -> ! {
    assert!(vector_table.is_multiple_of(VECTOR_TABLE_ALIGN), "vector table misaligned");
    // SAFETY: writing VTOR only changes where the core fetches exception vectors. Duty 3
    // (no exception can be taken in the boot stage before the branch) means no handler is
    // looked up in the new table too early, and duty 1 means the table is valid once the
    // image runs. We are single-core and alone, so the raw SCB pointer races with nothing.
    unsafe { (*SCB::PTR).vtor.write(vector_table) };
    // The slots were execute-never since reset (`mpu::protect`); the image may run now.
    crate::mpu::release();
    // SAFETY: duty 1 gives a valid stack pointer and reset vector at `vector_table`, duty 2
    // keeps them valid, and duty 4 allows `bootload` to abandon the current stack.
    unsafe { cortex_m::asm::bootload(vector_table as *const u32) }
}
