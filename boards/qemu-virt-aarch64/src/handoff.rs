//! The Linux arm64 hand-off: place the verified kernel and initramfs, patch the device
//! tree, jump (Documentation/arch/arm64/booting.rst).
//!
//! The kernel `Image` is inflated from the slot's verified RAM copy to the layout's
//! 2 MiB-aligned kernel address, the initramfs copied to its address, and QEMU's device
//! tree rewritten with `/chosen` `bootargs` (console, then the stage's words:
//! `safeslot.slot=`, `safeslot.kind=`, `safeslot.seq=`, `rauc.slot=`, see
//! `safeslot_shared::protocol::cmdline`), `linux,initrd-start`/`-end` and `safeslot,handoff`. The jump
//! enters the kernel with `x0` = the device tree, `x1..x3` = 0, interrupts masked, MMU and
//! D-cache off (as at reset) and the I-cache invalidated.
//!
//! [`launch`] is what the stage's `Platform::launch` does with the verified image: take
//! its RAM copy, [`place`] it, re-check the proof, [`jump`].
//!
//! Unsafe code: [`jump`] and the PSCI call in [`power_off`].

use core::fmt::Write as _;

use safeslot_boot::{ApprovedLaunch, Named};
use safeslot_linux::shadow::Shadow;
use safeslot_linux::{inflate_kernel, parse_payload, patch_chosen, Chosen, DecompressorOxide, LinuxError};
use safeslot_shared::protocol::cmdline::BootArgs;

use crate::cfi::Cfi;
use crate::layout::{LINUX_CONSOLE, LINUX_KERNEL, SLOT_NAMES};
use crate::ram::Region;

/// Why [`launch`] did not enter Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchError {
    /// The verified RAM copy of the image is not there (a stage bug).
    NoCopy,
    /// The image's payload could not be placed (named `linux-<error>` in the log).
    Linux(LinuxError),
    /// The redundant proof did not hold at the check right before the jump (a glitch).
    Fault,
}

impl Named for LaunchError {
    fn name(&self) -> &'static str {
        match self {
            LaunchError::NoCopy => "internal",
            LaunchError::Linux(_) => "linux",
            LaunchError::Fault => "fault",
        }
    }
}

/// The slot's name in the layout (`?` for an index the layout does not have).
pub fn slot_name(index: usize) -> &'static str {
    SLOT_NAMES.get(index).copied().unwrap_or("?")
}

/// Boots the image `approved` describes: places its verified RAM copy from `shadow` (the
/// flash view the boot sequence verified it through) for Linux with the hand-off block
/// `block`, calls `placed` (logs), re-checks the proof and jumps. Returns only if it
/// could not.
pub fn launch(
    approved: &ApprovedLaunch,
    shadow: &Shadow<'_, Cfi>,
    block: &[u8],
    placed: impl FnOnce(&Placed),
) -> LaunchError {
    let l = approved.launch();
    let Some(image) = shadow.image(l.slot.index(), l.image_len) else { return LaunchError::NoCopy };
    let args = BootArgs {
        slot: slot_name(l.slot.index()),
        kind: l.handoff.kind,
        seq: l.handoff.record_seq,
        recorded: l.handoff.recorded,
    };
    let p = match place(image, &args, block) {
        Ok(p) => p,
        Err(e) => return LaunchError::Linux(e),
    };
    placed(&p);
    // Fault-injection hardening: the proof is checked again right before the jump.
    if !approved.holds() {
        return LaunchError::Fault;
    }
    // SAFETY: an `ApprovedLaunch` exists only for an image whose signature and SHA-256
    // verified (only `safeslot_boot::run` builds one, from `boot`'s unchanged `Launch`), and
    // the verifier read the `Shadow` RAM copy that `image` is and `place` took the kernel
    // and initramfs from, just now; nothing wrote those regions since; the stage needs
    // nothing after the jump.
    unsafe { jump(p) }
}

/// Where the kernel was placed and the device tree written.
#[derive(Debug, Clone, Copy)]
pub struct Placed {
    /// The kernel's entry (its first byte).
    pub kernel: u64,
    /// The patched device tree.
    pub dtb: u64,
    /// Inflated kernel bytes.
    pub kernel_len: usize,
    /// Initramfs bytes.
    pub initrd_len: usize,
}

/// A `core::fmt::Write` into a fixed buffer (for the bootargs).
struct Line<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for Line<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
        self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Places `image` (a verified slot image's bytes in RAM) for Linux, telling it `args` on
/// the kernel command line and `handoff` in `/chosen`.
pub fn place(image: &[u8], args: &BootArgs<'_>, handoff: &[u8]) -> Result<Placed, LinuxError> {
    let payload = parse_payload(image)?;
    let kernel = Region::Kernel.take().ok_or(LinuxError::TooBig)?;
    let initrd = Region::Initrd.take().ok_or(LinuxError::TooBig)?;
    let dtb = Region::Dtb.take().ok_or(LinuxError::TooBig)?;
    // The inflater's ~11 KiB state lives on the stage's 1 MiB stack.
    let mut state = DecompressorOxide::new();
    let kernel_len = inflate_kernel(&mut state, payload.kernel_gz, kernel)?;
    let initrd_dst = initrd.get_mut(..payload.initrd.len()).ok_or(LinuxError::TooBig)?;
    initrd_dst.copy_from_slice(payload.initrd);
    let initrd_start = initrd.as_ptr() as u64;
    let mut text = [0u8; 256];
    let mut line = Line { buf: &mut text, len: 0 };
    write!(line, "console={LINUX_CONSOLE} ").map_err(|_| LinuxError::TooBig)?;
    args.encode(&mut line).map_err(|_| LinuxError::TooBig)?;
    let len = line.len;
    let bootargs = core::str::from_utf8(text.get(..len).unwrap_or(&[])).map_err(|_| LinuxError::TooBig)?;
    let chosen = Chosen {
        bootargs,
        initrd_start,
        initrd_end: initrd_start.saturating_add(payload.initrd.len() as u64),
        handoff,
    };
    patch_chosen(crate::ram::dtb_in(), dtb, &chosen)?;
    Ok(Placed {
        kernel: u64::from(LINUX_KERNEL),
        dtb: dtb.as_ptr() as u64,
        kernel_len,
        initrd_len: payload.initrd.len(),
    })
}

/// Enters the kernel: `x0` = `dtb`, `x1..x3` = 0, interrupts masked, I-cache invalidated.
/// Its one caller is [`launch`].
///
/// # Safety
///
/// The caller guarantees that:
/// 1. `p` comes from [`place`] for an image whose signature and SHA-256 verified over the
///    very RAM bytes `place` copied from (the `safeslot_linux::shadow::Shadow` copies);
/// 2. nothing has written the kernel, initramfs or device-tree regions since;
/// 3. nothing of the stage (stack, statics) is needed afterwards.
unsafe fn jump(p: Placed) -> ! {
    // SAFETY: duties 1 and 2 give a complete arm64 Image at a 2 MiB-aligned address
    // (`place` checked its magic, text_offset 0 and image_size) and a valid FDT at `dtb`;
    // the MMU and D-cache are off since reset, so RAM holds what was written; `ic iallu`
    // drops any stale instruction; duty 3 allows abandoning the stack.
    unsafe {
        core::arch::asm!(
            "msr daifset, #0xf",
            "dsb sy",
            "ic iallu",
            "dsb sy",
            "isb",
            "mov x1, xzr",
            "mov x2, xzr",
            "mov x3, xzr",
            "br x4",
            in("x0") p.dtb,
            in("x4") p.kernel,
            options(noreturn, nostack),
        )
    }
}

/// PSCI `SYSTEM_OFF` through `hvc` (QEMU virt's conduit without EL2/EL3 firmware): the
/// harness sees QEMU exit. Never returns.
pub fn power_off() -> ! {
    loop {
        #[allow(unsafe_code)]
        // SAFETY: PSCI SYSTEM_OFF (0x8400_0008) takes no arguments and touches no memory
        // of ours; if the call returns (no PSCI), the loop waits and retries.
        unsafe {
            core::arch::asm!("hvc #0", inout("x0") 0x8400_0008u64 => _, options(nostack));
            core::arch::asm!("wfi", options(nomem, nostack));
        }
    }
}
