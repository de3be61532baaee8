//! The validated layout: [`Layout`] and the region types it hands out.
//!
//! A `Layout` only comes out of [`Layout::parse`] or [`Layout::load`], so
//! holding one means every rule in [`crate::validate`] passed. Every address
//! and size fits in a `u32`: a region ending above 4 GiB is rejected
//! ([`LayoutError::AddressTooHigh`]), since all our boards are 32-bit.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::error::LayoutError;
use crate::raw::RawLayout;

/// Environment variable that, when set at build time, replaces the public
/// keys listed in `[keys] public`. It holds paths separated like `PATH`
/// (`:` on Unix); relative paths are taken relative to the current directory.
pub const PUBLIC_KEYS_ENV: &str = "SAFESLOT_PUBLIC_KEYS";

/// `[board]`: which board this is and what it is built for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Board {
    /// Board name, the directory under `boards/`: lowercase ascii letters,
    /// digits, `-` and `_`.
    pub name: String,
    /// Rust target triple of its images, e.g. `thumbv7em-none-eabihf`.
    pub target: String,
    /// probe-rs chip name or QEMU machine, when given.
    pub chip: Option<String>,
}

/// A range of the CPU's address space: `base .. base + size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemRange {
    /// First address.
    pub base: u32,
    /// Length in bytes, non-zero.
    pub size: u32,
}

impl MemRange {
    /// One past the last address (may be exactly 4 GiB, hence `u64`).
    #[must_use]
    pub fn end(&self) -> u64 {
        u64::from(self.base) + u64::from(self.size)
    }
}

/// `[flash]`: the NOR device that holds the record and the slots.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Flash {
    /// Address at which the CPU sees the device (XIP).
    pub base: u32,
    /// Device size in bytes, a multiple of `erase_size`.
    pub size: u32,
    /// Erase sector size: a power of two in 256 ..= 262144.
    pub erase_size: u32,
    /// Program granularity: one of 1, 2, 4, 8, 16, 32 (so always `<= erase_size`).
    pub write_size: u32,
    /// Whether a write-word may be programmed only once per erase (ECC flash):
    /// `word_writes == WriteCount::Once`.
    pub program_once: bool,
    /// How often a write-word may be programmed between erases (`[flash] word_writes`, or
    /// the legacy `program_once`): once (ECC flash such as the STM32L4's), twice (the
    /// nRF52840's NVMC, `n_WRITE` = 2), or any number of times (CFI and QSPI NOR).
    pub word_writes: safeslot_shared::nor::WriteCount,
    /// Where Linux sees this flash (e.g. `/dev/mtd0`), when given.
    pub device: Option<String>,
}

/// An area of the flash device, by offset from [`Flash::base`]: the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Region {
    /// Offset from the start of the flash device, erase-aligned.
    pub offset: u32,
    /// Size in bytes, erase-aligned and non-zero.
    pub size: u32,
}

impl Region {
    /// One past the last offset.
    #[must_use]
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + u64::from(self.size)
    }
}

/// One `[[slot]]`: an erase-aligned area of the flash device holding a
/// header of `header_size` bytes followed by an application image.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Slot {
    /// One or two lowercase ascii letters or digits, unique in the layout.
    pub name: String,
    /// Offset from the start of the flash device, erase-aligned.
    pub offset: u32,
    /// Size in bytes, erase-aligned, at least `header_size + 1024`.
    pub size: u32,
    /// Bytes reserved before the image: a power of two of at least 256, so
    /// the image's vector table is aligned.
    pub header_size: u32,
}

impl Slot {
    /// One past the last offset of the slot.
    #[must_use]
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + u64::from(self.size)
    }

    /// Offset of the image (just after the header) from the start of the device.
    #[must_use]
    pub fn image_offset(&self) -> u64 {
        u64::from(self.offset) + u64::from(self.header_size)
    }

    /// Bytes available to the image: `size - header_size` (validation
    /// guarantees at least 1 KiB).
    #[must_use]
    pub fn image_size(&self) -> u64 {
        u64::from(self.size).saturating_sub(u64::from(self.header_size))
    }
}

/// `[linux]`: the slots hold a Linux payload (kernel and initramfs, docs/SOC.md) that the
/// boot stage copies to RAM, verifies there and hands off to with the Linux boot protocol.
/// The RAM regions follow one another: the kernel runs from `kernel` up to `initrd`, the
/// initramfs from `initrd` up to `dtb`, the patched device tree from `dtb` up to
/// `staging`, and `staging` holds one RAM copy of each slot, in slot order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Linux {
    /// Where the kernel `Image` is placed: 2 MiB-aligned, as the arm64 boot protocol asks.
    pub kernel: u32,
    /// Where the initramfs is placed.
    pub initrd: u32,
    /// Where the patched device tree is written (8-byte aligned).
    pub dtb: u32,
    /// Where the slots are copied before they are verified.
    pub staging: u32,
    /// Where the firmware before the stage (QEMU, a ROM) leaves the device tree.
    pub dtb_in: u32,
    /// The kernel's console device (`console=` in the bootargs).
    pub console: String,
}

/// When the boot stage arms the watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchdogArm {
    /// Before handing off a trial or last-resort slot (an image not known to be good).
    Trial,
    /// Before every hand-off.
    Always,
}

/// `[image]`, validated: what the boot stage asks of an image beyond its signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageRules {
    /// The board's product identifier (1..=64 printable ASCII bytes, no space): an image is
    /// accepted only when its signed `compatible` TLV is exactly this. `None`: the board
    /// names none, and accepts only images that name none.
    pub compatible: Option<String>,
    /// Refuse a trial image whose version is lower than the confirmed image's
    /// (`downgrade = "refuse"`).
    pub refuse_downgrade: bool,
}

/// `[watchdog]`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watchdog {
    /// Milliseconds without a feed before the watchdog resets the chip (1..=3_600_000).
    pub timeout_ms: u32,
    /// When it is armed.
    pub arm: WatchdogArm,
}

/// `[clock]`, validated: the core clock out of reset and the one the boot stage runs at
/// (and leaves for the application; docs/PORTING.md, "Clocks"). Read by the board crate,
/// which checks at compile time that its clock set-up gives `core_hz`, and by
/// `cargo xtask bench`, which estimates boot times from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Core clock (Hz) the boot stage sets and leaves for the application.
    pub core_hz: u32,
    /// Core clock (Hz) out of reset (nominal, for an oscillator that varies).
    pub reset_hz: u32,
    /// Flash wait states at `core_hz` (0..=15); `None` where the layout states none (code
    /// runs through a cache from flash the core does not wait on in cycles, e.g. XIP).
    pub flash_wait_states: Option<u8>,
}

/// `[otp]`, validated: where the boot stage keeps its hardware security counters
/// (`safeslot_shared::counter`), each as a thermometer code in its own area of `size` bytes,
/// in `safeslot_shared::counter::CounterId` order from `address`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Otp {
    /// CPU address of the first counter's area.
    pub address: u32,
    /// Bytes per counter's area (a multiple of `unit`).
    pub size: u32,
    /// Bytes per thermometer unit (1 ..= 32).
    pub unit: u32,
}

/// A validated `layout.toml`: the one source of truth for a board's memory map.
///
/// Get one from [`Layout::load`] or [`Layout::parse`]; generate `memory.x`
/// ([`Layout::bootloader_memory_x`], [`Layout::app_memory_x`]), Rust consts
/// ([`Layout::rust_consts`]) and the agent config ([`Layout::agent_config`])
/// from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub(crate) board: Board,
    pub(crate) bootloader_flash: MemRange,
    pub(crate) boot2_size: Option<u32>,
    pub(crate) bootloader_ram: MemRange,
    pub(crate) app_ram: MemRange,
    pub(crate) handoff: MemRange,
    pub(crate) flash: Flash,
    pub(crate) record: Region,
    pub(crate) slots: Vec<Slot>,
    pub(crate) linux: Option<Linux>,
    pub(crate) watchdog: Option<Watchdog>,
    pub(crate) power_loss_retries: u8,
    /// `[image]`.
    pub(crate) image: ImageRules,
    pub(crate) otp: Option<Otp>,
    pub(crate) clock: Option<Clock>,
    /// `[keys] public` as written (relative to the layout file).
    pub(crate) public_key_entries: Vec<String>,
    /// The same, resolved against the layout file's directory.
    pub(crate) public_keys: Vec<PathBuf>,
}

impl Layout {
    /// Reads and validates a `layout.toml`. Key paths are resolved relative
    /// to the file's directory.
    ///
    /// # Errors
    ///
    /// [`LayoutError::Read`] if the file cannot be read, [`LayoutError::Parse`]
    /// if it does not match the schema, or the validation error of the first
    /// rule it breaks.
    pub fn load(path: &Path) -> Result<Self, LayoutError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| LayoutError::Read { path: path.to_path_buf(), source })?;
        let base_dir = path.parent().unwrap_or_else(|| Path::new(""));
        Self::parse_named(&text, base_dir, &path.display().to_string())
    }

    /// Parses and validates the text of a `layout.toml`; relative key paths
    /// are resolved against `base_dir`.
    ///
    /// # Errors
    ///
    /// [`LayoutError::Parse`] if the text does not match the schema, or the
    /// validation error of the first rule it breaks.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, LayoutError> {
        Self::parse_named(text, base_dir, "layout.toml")
    }

    fn parse_named(text: &str, base_dir: &Path, origin: &str) -> Result<Self, LayoutError> {
        let raw: RawLayout =
            toml::from_str(text).map_err(|e| LayoutError::Parse { origin: origin.to_owned(), source: Box::new(e) })?;
        crate::validate::validate(raw, base_dir)
    }

    /// `[board]`.
    #[must_use]
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The bootloader partition (`bootloader.flash_base`, `flash_size`): its
    /// binary must fit here.
    #[must_use]
    pub fn bootloader_flash(&self) -> MemRange {
        self.bootloader_flash
    }

    /// `[bootloader] boot2_size`: bytes at the start of the bootloader partition that hold
    /// a second-stage flash loader the chip's boot ROM runs before the boot stage (RP2040's
    /// 256-byte boot2, which sets up XIP from the external QSPI flash), when the board has
    /// one. The boot stage's memory.x then gets a `BOOT2` region there and its `FLASH`
    /// starts after it.
    #[must_use]
    pub fn boot2_size(&self) -> Option<u32> {
        self.boot2_size
    }

    /// RAM the boot stage uses (`bootloader.ram_base`, `ram_size`).
    #[must_use]
    pub fn bootloader_ram(&self) -> MemRange {
        self.bootloader_ram
    }

    /// RAM the applications use (`app.ram_base`, `ram_size`). It may overlap
    /// the bootloader's RAM: the app reuses it after hand-off.
    #[must_use]
    pub fn app_ram(&self) -> MemRange {
        self.app_ram
    }

    /// `[watchdog]`: the timeout and when the boot stage arms the watchdog; `None` when the
    /// board's layout has no such table (the stage then arms nothing).
    #[must_use]
    pub fn watchdog(&self) -> Option<Watchdog> {
        self.watchdog
    }

    #[must_use]
    /// `[trial] power_loss_retries`: power-loss resets of a running trial that repeat it
    /// without using a try, per trial (0 when the table is absent).
    pub fn power_loss_retries(&self) -> u8 {
        self.power_loss_retries
    }

    /// `[image]`: the board's compatible identifier and downgrade rule.
    #[must_use]
    pub fn image_rules(&self) -> &ImageRules {
        &self.image
    }

    /// `[clock]`: the core clock out of reset and the one the boot stage runs at; `None`
    /// when the layout names none (a virtual board).
    #[must_use]
    pub fn clock(&self) -> Option<Clock> {
        self.clock
    }

    /// `[otp]`: the hardware security counters' area; `None` when the board keeps the
    /// record-only floor.
    #[must_use]
    pub fn otp(&self) -> Option<Otp> {
        self.otp
    }

    /// The hand-off block (`handoff.address`, `size`), outside both RAM ranges.
    #[must_use]
    pub fn handoff(&self) -> MemRange {
        self.handoff
    }

    /// `[flash]`.
    #[must_use]
    pub fn flash(&self) -> &Flash {
        &self.flash
    }

    /// `[record]`: the boot-control journal area.
    #[must_use]
    pub fn record(&self) -> Region {
        self.record
    }

    /// The slots, in file order (2 ..= 4).
    #[must_use]
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// `[linux]`, when the slots hold a Linux payload rather than an XIP application.
    #[must_use]
    pub fn linux(&self) -> Option<&Linux> {
        self.linux.as_ref()
    }

    /// The slot called `name`.
    ///
    /// # Errors
    ///
    /// [`LayoutError::UnknownSlot`] if there is none.
    pub fn slot(&self, name: &str) -> Result<&Slot, LayoutError> {
        self.slots
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| LayoutError::UnknownSlot { name: name.to_owned(), known: self.slot_names().join(", ") })
    }

    /// Slot names in file order.
    #[must_use]
    pub fn slot_names(&self) -> Vec<&str> {
        self.slots.iter().map(|s| s.name.as_str()).collect()
    }

    /// CPU address of the start of `slot` (its header).
    #[must_use]
    pub fn slot_address(&self, slot: &Slot) -> u64 {
        u64::from(self.flash.base) + u64::from(slot.offset)
    }

    /// CPU address of the record area.
    #[must_use]
    pub fn record_address(&self) -> u64 {
        u64::from(self.flash.base) + u64::from(self.record.offset)
    }

    /// `[keys] public` exactly as written in the file (relative to it);
    /// empty when there is no `[keys]` table.
    #[must_use]
    pub fn public_key_entries(&self) -> &[String] {
        &self.public_key_entries
    }

    /// `[keys] public`, resolved against the layout file's directory.
    #[must_use]
    pub fn public_keys(&self) -> &[PathBuf] {
        &self.public_keys
    }

    /// The public keys to build in: those in `env_value` when it is set and
    /// non-empty (the value of [`PUBLIC_KEYS_ENV`], split like `PATH`),
    /// otherwise [`Layout::public_keys`]. A pure function, so pass
    /// `std::env::var_os(PUBLIC_KEYS_ENV).as_deref()`.
    #[must_use]
    pub fn resolve_public_keys(&self, env_value: Option<&OsStr>) -> Vec<PathBuf> {
        match env_value {
            Some(v) if !v.is_empty() => std::env::split_paths(v).filter(|p| !p.as_os_str().is_empty()).collect(),
            _ => self.public_keys.clone(),
        }
    }

    /// `<board>/layout.toml`, as named in the header of every generated file.
    #[must_use]
    pub fn source_name(&self) -> String {
        format!("{}/layout.toml", self.board.name)
    }
}
