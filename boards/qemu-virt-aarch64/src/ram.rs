//! The RAM regions of the Linux hand-off, from the layout's `[linux]` map, as byte slices.
//!
//! Each region is handed out **once** (a flag per region), so no two live slices alias;
//! that is what makes the one unsafe operation here sound. The layout validator checked
//! that the regions follow one another inside app RAM (`kernel < initrd < dtb < staging`,
//! room at `staging` for a copy of every slot) and that none overlaps the stage's RAM.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::layout::{
    APP_RAM_BASE, APP_RAM_SIZE, LINUX_DTB, LINUX_DTB_IN, LINUX_INITRD, LINUX_KERNEL, LINUX_STAGING, SLOT_COUNT,
    SLOT_SIZES,
};

/// The regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// Where the kernel `Image` is inflated: `kernel .. initrd`.
    Kernel,
    /// Where the initramfs goes: `initrd .. dtb`.
    Initrd,
    /// Where the patched device tree goes: `dtb .. staging`.
    Dtb,
    /// The RAM copy of slot `i`, `SLOT_SIZES[i]` bytes, after those of the slots before it.
    Staging(usize),
}

/// The device tree QEMU left at [`LINUX_DTB_IN`]: at most this many bytes are read.
pub const DTB_IN_MAX: u32 = 0x20_0000;
const _: () = assert!(LINUX_DTB_IN as u64 + DTB_IN_MAX as u64 <= LINUX_KERNEL as u64);
const _: () = assert!(LINUX_DTB_IN >= APP_RAM_BASE);
const _: () = assert!(
    LINUX_STAGING as u64 + SLOT_SIZES[0] as u64 + SLOT_SIZES[1] as u64 <= APP_RAM_BASE as u64 + APP_RAM_SIZE as u64
);

static TAKEN: [AtomicBool; 3 + SLOT_COUNT] = [const { AtomicBool::new(false) }; 3 + SLOT_COUNT];

impl Region {
    fn index(self) -> Option<usize> {
        match self {
            Region::Kernel => Some(0),
            Region::Initrd => Some(1),
            Region::Dtb => Some(2),
            Region::Staging(i) if i < SLOT_COUNT => Some(3 + i),
            Region::Staging(_) => None,
        }
    }

    /// Address and length.
    pub fn span(self) -> Option<(u32, u32)> {
        match self {
            Region::Kernel => Some((LINUX_KERNEL, LINUX_INITRD - LINUX_KERNEL)),
            Region::Initrd => Some((LINUX_INITRD, LINUX_DTB - LINUX_INITRD)),
            Region::Dtb => Some((LINUX_DTB, LINUX_STAGING - LINUX_DTB)),
            Region::Staging(i) => {
                let size = *SLOT_SIZES.get(i)?;
                let before: u32 = SLOT_SIZES.iter().take(i).sum();
                Some((LINUX_STAGING + before, size))
            }
        }
    }

    /// The region as a byte slice; `None` if it was taken before (or does not exist).
    pub fn take(self) -> Option<&'static mut [u8]> {
        let flag = TAKEN.get(self.index()?)?;
        if flag.swap(true, Ordering::AcqRel) {
            return None;
        }
        let (addr, len) = self.span()?;
        // SAFETY: `addr .. addr + len` is RAM of the machine inside the layout's app RAM
        // (validated, and asserted above for the staging end), used by nothing else: the
        // stage's own statics and stack live in the stage's RAM, which the validator keeps
        // apart, and the flag above hands each region out once, so this is the only live
        // reference to it. Any byte pattern is a valid `u8`.
        Some(unsafe { core::slice::from_raw_parts_mut(addr as usize as *mut u8, len as usize) })
    }
}

/// The device tree QEMU placed at [`LINUX_DTB_IN`]: its header's `totalsize` bytes, at
/// most [`DTB_IN_MAX`] (the patcher checks everything else).
pub fn dtb_in() -> &'static [u8] {
    // SAFETY: LINUX_DTB_IN (8-aligned, validated) is RAM below the kernel region (asserted
    // above), which QEMU wrote before the CPU started and nothing writes while the stage
    // runs; reading its second header word is an aligned 32-bit load.
    let total = u32::from_be(unsafe { core::ptr::read_volatile((LINUX_DTB_IN as usize + 4) as *const u32) });
    let len = total.min(DTB_IN_MAX) as usize;
    // SAFETY: as above, `LINUX_DTB_IN .. + len` (len <= DTB_IN_MAX) is that RAM, never
    // written during the stage's life, so a shared slice over it is sound.
    unsafe { core::slice::from_raw_parts(LINUX_DTB_IN as usize as *const u8, len) }
}
