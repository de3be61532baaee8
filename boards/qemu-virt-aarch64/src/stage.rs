//! The virtual SoC's boot-stage platform: what `safeslot_boot::run`, the one boot main,
//! drives here.
//!
//! The flash is a `safeslot_linux::shadow::Shadow` over the CFI bank: the slots were copied
//! to RAM before the sequence, which verifies those copies; [`Platform::launch`] places the
//! verified copy for Linux and jumps ([`handoff::launch`]), with the hand-off block in the
//! device tree. The log goes to the serial port, with the stage's own timing (slot copies,
//! boot sequence, Linux placement) and its measured stack peak. There is no recovery input
//! and no watchdog; recovery powers off.

use core::convert::Infallible;
use core::fmt::Write as _;

use safeslot_boot::{ApprovedLaunch, Event, Named, NoSecurityCounter, Platform, SoftSha256, Stop};
use safeslot_linux::shadow::Shadow;
use safeslot_shared::handoff::HANDOFF_LEN;
use safeslot_shared::protocol::log::{BootLine, StageLine};

use crate::cfi::Cfi;
use crate::handoff::{self, LaunchError};
use crate::stack;
use crate::timer::now_us;
use crate::uart::Uart;

/// The virtual SoC's boot stage.
pub struct SocStage<'a> {
    flash: Shadow<'a, Cfi>,
    block: [u8; HANDOFF_LEN],
    /// Microseconds: before the slot copies, after them, after the boot sequence.
    started: u64,
    copied: u64,
    decided: u64,
}

impl<'a> SocStage<'a> {
    /// The stage over `flash` (the slots already copied), whose copies started at
    /// `started` (µs, [`now_us`]).
    pub fn new(flash: Shadow<'a, Cfi>, started: u64) -> Self {
        SocStage { flash, block: [0; HANDOFF_LEN], started, copied: now_us(), decided: 0 }
    }
}

// This board arms no watchdog (see `arm_watchdog`): its layout must not ask for one.
const _: () = assert!(crate::config::BOOT.watchdog.is_none());

impl<'a> Platform for SocStage<'a> {
    type Flash = Shadow<'a, Cfi>;
    type LaunchError = LaunchError;
    type End = Infallible;
    /// None: the record-only floor. QEMU's `virt` CFI flash (`pflash_cfi01`) models no
    /// protection (OTP) registers, and Linux's MTD driver reaches every block of both
    /// banks, so a "program-once" area there would only be a convention the hostile OS the
    /// hardware floor is meant for could erase. A real SoC keeps it in fuses or eMMC RPMB
    /// behind a TEE (docs/PORTING.md, "Hardware anti-rollback counter").
    type Counter = NoSecurityCounter;
    type Sha256 = SoftSha256;

    fn sha256(&mut self) -> SoftSha256 {
        SoftSha256::default()
    }

    fn security_counter(&mut self) -> Option<&mut NoSecurityCounter> {
        None
    }

    fn flash(&mut self) -> &mut Shadow<'a, Cfi> {
        &mut self.flash
    }

    fn recovery_requested(&mut self) -> bool {
        false
    }

    /// Never called: QEMU's `virt` machine has no watchdog this stage can arm without a PCI
    /// bus driver (its only one is the PCI `i6300esb`; docs/DESIGN.md, "Watchdog"), so the
    /// board's layout has no `[watchdog]` table, which the assertion below keeps true.
    fn arm_watchdog(&mut self, _timeout_ms: u32) {}

    fn log(&mut self, event: Event<'_, LaunchError>) {
        // The stage's result line: the shared encoder (`protocol::log`), which the rig parses.
        let line = match event {
            Event::Boot(h) => {
                self.decided = now_us();
                StageLine::Boot(BootLine::from_handoff(h))
            }
            Event::Recovery(Stop::Launch(LaunchError::Linux(e))) => {
                StageLine::Recovery { reason: "linux", detail: Some(e.name()) }
            }
            Event::Recovery(stop) => StageLine::Recovery { reason: stop.name(), detail: None },
            // No counter on this board: never reported.
            Event::Counter(..) => return,
        };
        let mut u = Uart;
        let _ = line.encode(&mut u).and_then(|()| u.write_str("\n"));
    }

    fn leave_handoff(&mut self, block: &[u8; HANDOFF_LEN]) {
        // Linux owns all of RAM once it runs: the block goes into the device tree
        // (`/chosen/safeslot,handoff`) when the image is placed.
        self.block = *block;
    }

    fn launch(&mut self, approved: ApprovedLaunch) -> Result<Infallible, LaunchError> {
        let (started, copied, decided) = (self.started, self.copied, self.decided);
        Err(handoff::launch(&approved, &self.flash, &self.block, |p| {
            let placed = now_us();
            let mut u = Uart;
            let _ = writeln!(
                u,
                "safeslot: linux kernel={:#x} ({} bytes inflated) initrd={} bytes dtb={:#x}",
                p.kernel, p.kernel_len, p.initrd_len, p.dtb
            );
            let ms = |a: u64, b: u64| b.saturating_sub(a) / 1000;
            let _ = writeln!(
                u,
                "safeslot: timing copy={}ms boot={}ms place={}ms total={}ms",
                ms(started, copied),
                ms(copied, decided),
                ms(decided, placed),
                ms(started, placed)
            );
            let _ = writeln!(u, "safeslot: stack peak={}", stack::peak());
        }))
    }

    fn recover(&mut self, _: Stop<LaunchError>) -> Infallible {
        handoff::power_off()
    }
}
