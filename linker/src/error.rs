//! [`LayoutError`]: every way reading, validating or writing a layout can fail.
//!
//! Each validation rule has its own variant, and every message names the
//! `layout.toml` field it is about (`flash.erase_size`, `slot[1] "b".offset`),
//! so a build script can print it as is.

use std::path::PathBuf;

/// Why a layout (or an agent config) was rejected, or a file could not be
/// read, written or checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A generated file or its directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML, or does not match the schema (a missing or
    /// unknown field, a wrong type, a negative number).
    #[error("{origin}: {source}")]
    Parse {
        /// What was being parsed: a path, or `layout.toml` / `agent config`.
        origin: String,
        /// The TOML error, with line and column.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// `[board] name` is not a lowercase identifier.
    #[error(
        "board.name = {name:?}: must be 1..=64 characters of lowercase ascii letters, digits, '-' \
         or '_', starting with a letter or digit"
    )]
    BoardName {
        /// The name as written.
        name: String,
    },
    /// `[board] target` is not a plausible target triple.
    #[error(
        "board.target = {target:?}: must be a non-empty Rust target triple (ascii letters, digits, '-', '_', '.')"
    )]
    Target {
        /// The target as written.
        target: String,
    },
    /// An optional string or list that is present but empty.
    #[error("{field} must not be empty (leave it out instead)")]
    EmptyField {
        /// The field, e.g. `flash.device` or `keys.public[0]`.
        field: String,
    },
    /// A size that must be non-zero is zero.
    #[error("{field} must not be zero")]
    ZeroSize {
        /// The field, e.g. `app.ram_size`.
        field: String,
    },
    /// Adding an offset and a size overflowed `u64`.
    #[error("{field}: offset + size overflows")]
    Overflow {
        /// The region, e.g. `slot[0] "a"`.
        field: String,
    },
    /// A region ends above 4 GiB. safeslot-layout only supports 32-bit
    /// address spaces for now: every generated address is a `u32`.
    #[error("{field} ends at {end:#x}, above 4 GiB: only 32-bit address spaces are supported for now")]
    AddressTooHigh {
        /// The region, e.g. `flash`.
        field: String,
        /// Its end (exclusive).
        end: u64,
    },
    /// `flash.erase_size` is not a power of two in 256 B ..= 256 KiB.
    #[error("flash.erase_size = {value:#x}: must be a power of two from 0x100 (256 B) to 0x40000 (256 KiB)")]
    EraseSize {
        /// The value as written.
        value: u64,
    },
    /// `flash.write_size` is not one of 1, 2, 4, 8, 16, 32. (Every allowed
    /// write size is at most 32, below the smallest allowed erase size, so
    /// `write_size <= erase_size` always holds once this passes.)
    #[error("flash.write_size = {value}: must be one of 1, 2, 4, 8, 16, 32")]
    WriteSize {
        /// The value as written.
        value: u64,
    },
    /// An offset or size that must be a multiple of `flash.erase_size` is not.
    #[error("{field} = {value:#x} is not a multiple of flash.erase_size ({erase_size:#x})")]
    Misaligned {
        /// The field, e.g. `slot[1] "b".offset`.
        field: String,
        /// Its value.
        value: u64,
        /// The erase size it must be a multiple of.
        erase_size: u64,
    },
    /// `record.size` is less than two erase sectors (the journal alternates
    /// between at least two).
    #[error("record.size = {size:#x}: the record needs at least 2 erase sectors ({:#x} bytes)", erase_size.saturating_mul(2))]
    RecordTooSmall {
        /// `record.size`.
        size: u64,
        /// `flash.erase_size`.
        erase_size: u64,
    },
    /// Not 2..=4 `[[slot]]` tables.
    #[error("{count} [[slot]] tables: a layout needs 2 to 4 slots")]
    SlotCount {
        /// How many there are.
        count: usize,
    },
    /// A slot name is not one or two lowercase ascii letters or digits.
    #[error("slot[{index}].name = {name:?}: must be 1 or 2 lowercase ascii letters or digits")]
    SlotName {
        /// Position of the slot in the file, from 0.
        index: usize,
        /// The name as written.
        name: String,
    },
    /// Two slots share a name.
    #[error("slot name {name:?} is used twice")]
    DuplicateSlotName {
        /// The name.
        name: String,
    },
    /// Two slots of the agent config name the same Mender partition (`mender_part`).
    #[error("slots {first:?} and {second:?} both have mender_part = {part}: each slot needs its own partition number")]
    DuplicateMenderPart {
        /// The partition number.
        part: u32,
        /// The first slot naming it.
        first: String,
        /// The second.
        second: String,
    },
    /// A slot's `header_size` is not a power of two of at least 256.
    #[error("{field} = {header_size:#x}: must be a power of two of at least 0x100 (vector-table alignment)")]
    HeaderSize {
        /// The field, e.g. `slot[0] "a".header_size`.
        field: String,
        /// The value as written.
        header_size: u64,
    },
    /// A slot cannot hold its header plus 1 KiB of image.
    #[error("{field} = {size:#x}: a slot must hold its header plus 1 KiB, at least {minimum:#x} bytes")]
    SlotTooSmall {
        /// The field, e.g. `slot[0] "a".size`.
        field: String,
        /// The slot size.
        size: u64,
        /// `header_size + 1024`.
        minimum: u64,
    },
    /// A region does not lie inside the flash device.
    #[error("{field} [{offset:#x}..{end:#x}) does not fit in the flash device (flash.size = {flash_size:#x})")]
    OutsideFlash {
        /// The region, e.g. `record`.
        field: String,
        /// Its offset from `flash.base`.
        offset: u64,
        /// Its end offset (exclusive).
        end: u64,
        /// `flash.size`.
        flash_size: u64,
    },
    /// Two flash regions overlap (record, slots, or the bootloader partition
    /// where it shares the device).
    #[error("{first} [{first_start:#x}..{first_end:#x}) overlaps {second} [{second_start:#x}..{second_end:#x})")]
    Overlap {
        /// The first region.
        first: String,
        /// Its start address or offset.
        first_start: u64,
        /// Its end (exclusive).
        first_end: u64,
        /// The second region.
        second: String,
        /// Its start address or offset.
        second_start: u64,
        /// Its end (exclusive).
        second_end: u64,
    },
    /// The hand-off block lies (partly) inside bootloader or app RAM, where
    /// the stack or `.bss` of one of them would overwrite it.
    #[error(
        "handoff (handoff.address + size) [{address:#x}..{end:#x}) overlaps {ram} \
         [{ram_base:#x}..{ram_end:#x}): the hand-off block must lie outside both bootloader and app RAM"
    )]
    HandoffInRam {
        /// Which RAM range: bootloader or app.
        ram: &'static str,
        /// `handoff.address`.
        address: u64,
        /// End of the hand-off block (exclusive).
        end: u64,
        /// Start of the RAM range.
        ram_base: u64,
        /// End of the RAM range (exclusive).
        ram_end: u64,
    },
    /// `handoff.address` is not 4-byte aligned (the block is read as words).
    #[error("handoff.address = {address:#x}: must be 4-byte aligned")]
    HandoffMisaligned {
        /// `handoff.address`.
        address: u64,
    },
    /// `[bootloader] boot2_size` is zero, not a multiple of 4, or leaves less than 1 KiB
    /// of the bootloader partition for the boot stage.
    #[error(
        "bootloader.boot2_size = {value:#x}: must be a non-zero multiple of 4 that leaves at least 1 KiB of \
         the {flash_size:#x}-byte bootloader partition"
    )]
    Boot2Size {
        /// `bootloader.boot2_size` as written.
        value: u64,
        /// `bootloader.flash_size`.
        flash_size: u64,
    },
    /// A `[watchdog]`, `[trial]` or `[image]` value breaks a rule.
    #[error("[{table}] {field}: {rule}")]
    Policy {
        /// The table.
        table: &'static str,
        /// The field.
        field: &'static str,
        /// The rule it breaks.
        rule: String,
    },
    /// A `[linux]` address breaks a rule (order, alignment, inside app RAM).
    #[error("[linux] {field} = {value:#x}: {rule}")]
    Linux {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// An agent config's `[[slot]] bootname` breaks a rule.
    #[error("slot[{index}].bootname = {bootname:?}: {rule}")]
    Bootname {
        /// The slot's index.
        index: usize,
        /// The bootname as written (or the slot name it defaults to).
        bootname: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A slot name passed to a generator is not in the layout.
    #[error("no slot named {name:?} (the layout has {known})")]
    UnknownSlot {
        /// The name asked for.
        name: String,
        /// The slot names there are, comma-separated.
        known: String,
    },
    /// A committed generated file differs from what the layout generates.
    #[error("{} is stale: regenerate it from layout.toml\n{diff}", path.display())]
    Stale {
        /// The file.
        path: PathBuf,
        /// A line diff: `-` lines are in the file, `+` lines are expected.
        diff: String,
    },
}
