//! The safeslot stage of the virtual SoC: copy the slots to RAM, run the shared boot
//! sequence over that view, boot the chosen slot's Linux — or report recovery and power off.
#![no_std]
#![no_main]
#![deny(unsafe_code, missing_docs, clippy::undocumented_unsafe_blocks)]

use core::fmt::Write as _;

use safeslot_board_qemu_virt_aarch64::cfi::Cfi;
use safeslot_board_qemu_virt_aarch64::layout::SLOT_COUNT;
use safeslot_board_qemu_virt_aarch64::layout::SLOT_NAMES;
use safeslot_board_qemu_virt_aarch64::ram::Region;
use safeslot_board_qemu_virt_aarch64::timer::now_us;
use safeslot_board_qemu_virt_aarch64::uart::Uart;
use safeslot_board_qemu_virt_aarch64::{config, handoff, keys, stack};
use safeslot_boot::shadow::Shadow;
use safeslot_boot::{boot, BootConfig, Outcome};
use safeslot_shared::policy::Inputs;

// The staging regions below are taken for exactly two slots.
const _: () = assert!(SLOT_COUNT == 2, "this stage copies two slots");

/// Called by `_start` (see the library's `start` module) with a stack, `.data` and `.bss`.
// `no_mangle` counts as unsafe: the symbol must be unique. It is: `_start` is its only
// caller and nothing else in the stage defines `safeslot_main`.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn safeslot_main() -> ! {
    let mut u = Uart;
    let _ = writeln!(
        u,
        "safeslot: stage {} on {}",
        env!("CARGO_PKG_VERSION"),
        safeslot_board_qemu_virt_aarch64::layout::BOARD_NAME
    );
    let (Some(sa), Some(sb)) = (Region::Staging(0).take(), Region::Staging(1).take()) else {
        let _ = writeln!(u, "safeslot: recovery reason=internal");
        handoff::power_off()
    };
    let slots = config::slots();
    stack::paint();
    let t0 = now_us();
    let mut flash = Shadow::new(Cfi::new(), slots.get(..SLOT_COUNT).unwrap_or(&[]), [Some(sa), Some(sb), None, None]);
    let t1 = now_us();
    let cfg = BootConfig { journal: config::JOURNAL, slots: &slots, keys: &keys::PUBLIC_KEYS, fresh: config::FRESH };
    let outcome = boot(&mut flash, &cfg, Inputs { recovery: false }, || {});
    let t2 = now_us();
    match outcome {
        Outcome::Launch(l) => {
            let h = l.handoff;
            let name = SLOT_NAMES.get(h.slot.index()).copied().unwrap_or("?");
            let _ = writeln!(
                u,
                "safeslot: boot slot={} kind={} tries={} fallback={} version={}.{}.{} seq={}",
                name,
                h.kind.name(),
                h.tries_left.get(),
                h.last_fallback.name(),
                h.version.major,
                h.version.minor,
                h.version.revision,
                h.record_seq
            );
            let Some(image) = flash.image(h.slot.index(), l.image_len) else {
                let _ = writeln!(u, "safeslot: recovery reason=internal");
                handoff::power_off()
            };
            let placed = match handoff::place(image, name, h.kind.name(), &h.encode()) {
                Ok(p) => p,
                Err(e) => {
                    let _ = writeln!(u, "safeslot: recovery reason=linux-{}", e.name());
                    handoff::power_off()
                }
            };
            let t3 = now_us();
            let _ = writeln!(
                u,
                "safeslot: linux kernel={:#x} ({} bytes inflated) initrd={} bytes dtb={:#x}",
                placed.kernel, placed.kernel_len, placed.initrd_len, placed.dtb
            );
            let ms = |a: u64, b: u64| b.saturating_sub(a) / 1000;
            let _ = writeln!(
                u,
                "safeslot: timing copy={}ms boot={}ms place={}ms total={}ms",
                ms(t0, t1),
                ms(t1, t2),
                ms(t2, t3),
                ms(t0, t3)
            );
            let _ = writeln!(u, "safeslot: stack peak={}", stack::peak());
            // Fault-injection hardening: the proof is checked again right before the jump.
            if !l.holds() {
                let _ = writeln!(u, "safeslot: recovery reason=fault");
                handoff::power_off()
            }
            #[allow(unsafe_code)]
            // SAFETY: `l` exists only for an image whose signature and SHA-256 verified, and
            // the verifier read the RAM copy (`Shadow`) that `place` took the kernel and
            // initramfs from; nothing wrote those regions since; the stage needs nothing
            // after the jump.
            unsafe {
                handoff::jump(placed)
            }
        }
        Outcome::Recovery(reason) => {
            let _ = writeln!(u, "safeslot: recovery reason={}", reason.name());
            handoff::power_off()
        }
    }
}
