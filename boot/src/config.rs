//! The types of a board's generated configuration.
//!
//! safeslot-layout turns a board's `layout.toml` into a `config.rs` of typed consts
//! (`BOOT`: a [`BootConfig`] with the journal geometry, the slot regions, the embedded keys
//! and the fresh-record policy; `HANDOFF`: a [`HandoffRegion`]), which the board's build
//! script writes into `OUT_DIR` and the board passes to [`crate::run()`]. The generated code
//! names every type through this module, so a board needs no other crate to include it.

pub use safeslot_shared::journal::JournalConfig;
pub use safeslot_shared::select::FreshRecord;
pub use safeslot_shared::slot::Tries;
pub use safeslot_shared::verify::SlotRegion;

pub use crate::sequence::BootConfig;

/// The RAM the layout reserves for the hand-off block (and the rig mailbox):
/// `[handoff]`, validated by safeslot-layout to lie outside the boot stage's and the
/// application's RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandoffRegion {
    /// Its CPU address.
    pub address: u32,
    /// Its size in bytes.
    pub size: u32,
}

/// One region of CPU address space that must not be executed before the launch: a
/// naturally aligned power of two (`base` a multiple of `1 << size_log2`), as an MPU region
/// of PMSAv6/PMSAv7 (Cortex-M0+/M3/M4) describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecuteNever {
    /// Its first address.
    pub base: u32,
    /// log2 of its size in bytes (8 ..= 32).
    pub size_log2: u8,
}

/// When the boot stage arms the hardware watchdog (`[watchdog] arm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WatchdogArm {
    /// Before handing off a trial boot only (`"trial"`): a trial that hangs is reset and
    /// uses a try; confirmed boots run without it unless the application starts one.
    Trial,
    /// Before every hand-off (`"always"`).
    Always,
}

/// `[watchdog]`: the hardware watchdog the boot stage arms right before it jumps, so that
/// an image that hangs (never confirms, never resets) is reset by the chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Watchdog {
    /// Milliseconds without a feed before the chip resets (validated by safeslot-layout:
    /// 1..=3_600_000; each board checks its own chip's range at build time).
    pub timeout_ms: u32,
    /// When it is armed.
    pub arm: WatchdogArm,
}

impl Watchdog {
    /// The timeout to arm before handing off a boot of `kind`, or `None`. A last-resort
    /// boot is armed only with [`WatchdogArm::Always`]: resetting it would boot the same
    /// image again.
    #[must_use]
    pub fn timeout_for(&self, kind: safeslot_shared::policy::BootKind) -> Option<u32> {
        use safeslot_shared::policy::BootKind;
        match (self.arm, kind) {
            (WatchdogArm::Always, _) | (WatchdogArm::Trial, BootKind::Trial) => Some(self.timeout_ms),
            (WatchdogArm::Trial, BootKind::Confirmed | BootKind::LastResort) => None,
        }
    }
}
