//! The serde view of `layout.toml`: exactly the schema, nothing checked yet.
//!
//! Every table denies unknown fields, so a typo (`erase_sise`) is an error
//! rather than a silently ignored line. All numbers are `u64` here: a
//! negative or oversized literal fails to deserialize, and everything else is
//! checked by [`crate::validate`] before it becomes a [`crate::Layout`].

use serde::Deserialize;

/// The whole `layout.toml`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLayout {
    pub(crate) board: RawBoard,
    pub(crate) bootloader: RawBootloader,
    pub(crate) app: RawApp,
    pub(crate) handoff: RawHandoff,
    pub(crate) flash: RawFlash,
    pub(crate) record: RawRegion,
    #[serde(default)]
    pub(crate) keys: Option<RawKeys>,
    /// `[linux]`: present when the slots hold a Linux payload (see docs/SOC.md).
    #[serde(default)]
    pub(crate) linux: Option<RawLinux>,
    /// `[watchdog]`: the hardware watchdog the boot stage arms before a hand-off.
    #[serde(default)]
    pub(crate) watchdog: Option<RawWatchdog>,
    /// `[trial]`: how trial boots are counted.
    #[serde(default)]
    pub(crate) trial: Option<RawTrial>,
    /// `[image]`: what the boot stage asks of an image beyond its signature.
    #[serde(default)]
    pub(crate) image: Option<RawImage>,
    /// `[otp]`: the one-time-programmable area of the hardware security counters.
    #[serde(default)]
    pub(crate) otp: Option<RawOtp>,
    /// `[clock]`: the core clock at reset and the one the boot stage runs at.
    #[serde(default)]
    pub(crate) clock: Option<RawClock>,
    /// `[[slot]]` in the file; absent means zero slots, which validation rejects.
    #[serde(default)]
    pub(crate) slot: Vec<RawSlot>,
}

/// `[board]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBoard {
    pub(crate) name: String,
    pub(crate) target: String,
    #[serde(default)]
    pub(crate) chip: Option<String>,
}

/// `[bootloader]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBootloader {
    pub(crate) flash_base: u64,
    pub(crate) flash_size: u64,
    pub(crate) ram_base: u64,
    pub(crate) ram_size: u64,
    /// Bytes at the start of the partition for a second-stage flash loader (RP2040's boot2).
    #[serde(default)]
    pub(crate) boot2_size: Option<u64>,
}

/// `[app]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApp {
    pub(crate) ram_base: u64,
    pub(crate) ram_size: u64,
}

/// `[image]` (also in the agent config).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawImage {
    /// The product identifier an image's signed `compatible` must equal.
    #[serde(default)]
    pub(crate) compatible: Option<String>,
    /// "allow" (the default) or "refuse": a trial image older than the confirmed one.
    #[serde(default)]
    pub(crate) downgrade: Option<String>,
}

/// `[watchdog]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWatchdog {
    /// Milliseconds without a feed before the watchdog resets the chip.
    pub(crate) timeout_ms: u64,
    /// `"trial"` (default): arm it before handing off a trial or last-resort slot;
    /// `"always"`: before every hand-off.
    #[serde(default)]
    pub(crate) arm: Option<String>,
}

/// `[trial]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrial {
    /// Power-loss resets (power-on, brown-out) of a running trial that repeat it without
    /// using a try, at most this many per trial (0..=15).
    #[serde(default)]
    pub(crate) power_loss_retries: u64,
}

/// `[clock]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClock {
    /// Core clock (Hz) the boot stage sets and leaves for the application.
    pub(crate) core_hz: u64,
    /// Core clock (Hz) out of reset.
    pub(crate) reset_hz: u64,
    /// Flash wait states at `core_hz`, where the chip has them.
    #[serde(default)]
    pub(crate) flash_wait_states: Option<u64>,
}

/// `[otp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOtp {
    /// CPU address of the first counter's area.
    pub(crate) address: u64,
    /// Bytes per counter; the counters' areas follow each other.
    pub(crate) size: u64,
    /// Bytes per thermometer unit (one or more write-words, programmed once).
    pub(crate) unit: u64,
}

/// `[handoff]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHandoff {
    pub(crate) address: u64,
    pub(crate) size: u64,
}

/// `[flash]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFlash {
    pub(crate) base: u64,
    pub(crate) size: u64,
    pub(crate) erase_size: u64,
    pub(crate) write_size: u64,
    /// Legacy spelling of `word_writes` (`true` = "once", `false` = "unlimited").
    #[serde(default)]
    pub(crate) program_once: Option<bool>,
    /// How often a write-word may be programmed between erases: "once", "twice",
    /// "unlimited".
    #[serde(default)]
    pub(crate) word_writes: Option<String>,
    #[serde(default)]
    pub(crate) device: Option<String>,
}

/// `[record]`: an area of the flash device, by offset from `flash.base`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegion {
    pub(crate) offset: u64,
    pub(crate) size: u64,
}

/// `[keys]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKeys {
    pub(crate) public: Vec<String>,
}

/// One `[[slot]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlot {
    pub(crate) name: String,
    pub(crate) offset: u64,
    pub(crate) size: u64,
    pub(crate) header_size: u64,
}

/// `[linux]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLinux {
    pub(crate) kernel: u64,
    pub(crate) initrd: u64,
    pub(crate) dtb: u64,
    pub(crate) staging: u64,
    pub(crate) dtb_in: u64,
    pub(crate) console: String,
}
