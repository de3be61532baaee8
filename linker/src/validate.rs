//! Validation: [`RawLayout`] → [`Layout`], one rule at a time.
//!
//! The rules, in the order they are checked (the first broken one is
//! reported):
//!
//! 1. `board.name` is a lowercase identifier, `board.target` a target
//!    triple, optional strings are non-empty.
//! 2. Every size is non-zero; every CPU region (`bootloader.flash`,
//!    `bootloader.ram`, `app.ram`, `handoff`, `flash`) ends at or below 4 GiB
//!    (all sums checked).
//! 3. `flash.erase_size` is a power of two in 256 ..= 262144,
//!    `flash.write_size` one of 1, 2, 4, 8, 16, 32 (hence `<= erase_size`),
//!    `flash.size` a multiple of `erase_size`.
//! 4. `record`: erase-aligned offset and size, at least 2 sectors, inside the
//!    device.
//! 5. 2 ..= 4 slots with unique names of 1–2 lowercase letters/digits; each
//!    has a power-of-two `header_size >= 256`, erase-aligned offset and size,
//!    `size >= header_size + 1 KiB`, and lies inside the device.
//! 6. No two of record and slots overlap; the bootloader partition overlaps
//!    none of them (it may share the device on single-flash chips).
//! 7. `handoff` is 4-byte aligned and outside both bootloader and app RAM
//!    (which may overlap each other: the app reuses RAM after hand-off).
//! 8. `keys.public`, when present, is a non-empty list of non-empty paths.
//! 9. `bootloader.boot2_size`, when present, is a non-zero multiple of 4 that leaves at
//!    least 1 KiB of the bootloader partition for the boot stage.
//! 10. `[linux]`, when present: `kernel < initrd < dtb < staging`, all inside app RAM,
//!     with room at `staging` for a copy of every slot; `kernel` 2 MiB-aligned, `dtb` and
//!     `dtb_in` 8-byte aligned; `console` non-empty.
//! 11. `[watchdog]`, when present: `timeout_ms` in 1 ..= 3 600 000, `arm` "trial" (the
//!     default) or "always"; `[trial] power_loss_retries` at most 15.
//! 12. `[otp]`, when present: `unit` in 1 ..= 32, `size` a non-zero multiple of it, the
//!     area of every counter (`size` bytes each, `safeslot_shared::counter::CounterId`
//!     order) below 4 GiB and outside the bootloader partition; when it lies in the flash
//!     device, entirely inside it, `unit` a multiple of `write_size`, and no erase sector
//!     it touches shared with the record or a slot (so no erase of theirs reaches it).
//! 13. `[image]`, when present: `compatible` 1..=64 printable ASCII bytes without spaces
//!     (what the image tool accepts for the signed TLV), `downgrade` "allow" (the default)
//!     or "refuse".
//! 14. `[clock]`, when present: `core_hz` and `reset_hz` in 1 kHz ..= 4 GHz (exclusive),
//!     `flash_wait_states` at most 15.
//!
//! Rules 3–6 are shared with [`crate::AgentConfig`] (without the device-size
//! checks, which the agent learns from the device).

use std::collections::HashSet;
use std::path::Path;

use crate::error::LayoutError;
use crate::layout::{
    Board, Clock, Flash, ImageRules, Layout, Linux, MemRange, Otp, Region, Slot, Watchdog, WatchdogArm,
};
use crate::raw::{RawClock, RawImage, RawLayout, RawLinux, RawOtp, RawRegion, RawSlot, RawWatchdog};
use safeslot_shared::nor::WriteCount;

// The flash and slot limits are the ones the firmware enforces (safeslot-shared), so a
// layout that validates here is one the journal and the slot header accept.
/// Smallest allowed erase sector.
pub(crate) const MIN_ERASE_SIZE: u64 = safeslot_shared::journal::MIN_ERASE_SIZE as u64;
/// Largest allowed erase sector.
pub(crate) const MAX_ERASE_SIZE: u64 = safeslot_shared::journal::MAX_ERASE_SIZE as u64;
/// Largest allowed program granularity (any power of two up to it is allowed).
pub(crate) const MAX_WRITE_SIZE: u64 = safeslot_shared::journal::MAX_WRITE_SIZE as u64;
/// Smallest allowed slot header.
pub(crate) const MIN_HEADER_SIZE: u64 = safeslot_shared::header::MIN_HEADER_SIZE as u64;
/// Space a slot must leave for the image after its header.
pub(crate) const MIN_IMAGE_SIZE: u64 = 1024;
/// Fewest slots.
pub(crate) const MIN_SLOTS: usize = 2;
/// Most slots.
pub(crate) const MAX_SLOTS: usize = safeslot_shared::slot::MAX_SLOTS;
/// The end of the 32-bit address space.
const FOUR_GIB: u64 = 1 << 32;

/// Turns a deserialized layout into a validated one.
pub(crate) fn validate(raw: RawLayout, base_dir: &Path) -> Result<Layout, LayoutError> {
    // 1. Names.
    let board = check_board(raw.board.name, raw.board.target, raw.board.chip)?;

    // 2. CPU regions.
    let bootloader_flash = mem_range(
        "bootloader flash (bootloader.flash_base + flash_size)",
        "bootloader.flash_size",
        raw.bootloader.flash_base,
        raw.bootloader.flash_size,
    )?;
    let bootloader_ram = mem_range(
        "bootloader RAM (bootloader.ram_base + ram_size)",
        "bootloader.ram_size",
        raw.bootloader.ram_base,
        raw.bootloader.ram_size,
    )?;
    let app_ram = mem_range("app RAM (app.ram_base + ram_size)", "app.ram_size", raw.app.ram_base, raw.app.ram_size)?;
    let handoff = mem_range("handoff (handoff.address + size)", "handoff.size", raw.handoff.address, raw.handoff.size)?;
    let flash_range = mem_range("flash (flash.base + size)", "flash.size", raw.flash.base, raw.flash.size)?;

    // 3. Flash geometry.
    let erase_size = check_erase_size(raw.flash.erase_size)?;
    let write_size = check_write_size(raw.flash.write_size)?;
    let erase = u64::from(erase_size);
    check_aligned("flash.size", raw.flash.size, erase)?;
    let device = non_empty_opt("flash.device", raw.flash.device)?;
    let word_writes = check_word_writes(raw.flash.program_once, raw.flash.word_writes.as_deref())?;
    let flash = Flash {
        base: flash_range.base,
        size: flash_range.size,
        erase_size,
        write_size,
        program_once: word_writes == WriteCount::Once,
        word_writes,
        device,
    };
    let flash_size = Some(u64::from(flash.size));

    // 4.–6. Record and slots.
    let record = check_record(&raw.record, erase, flash_size)?;
    let slots = check_slots(&raw.slot, erase, flash_size)?;
    check_flash_overlaps(record, &slots)?;
    check_bootloader_overlaps(bootloader_flash, &flash, record, &slots)?;

    // 7. Hand-off block.
    check_handoff(handoff, bootloader_ram, app_ram)?;

    // 8. Keys.
    let public_key_entries = match raw.keys {
        None => Vec::new(),
        Some(keys) => check_key_entries(keys.public)?,
    };
    let public_keys = public_key_entries.iter().map(|k| base_dir.join(k)).collect();

    // 9. Second-stage loader.
    let boot2_size = raw.bootloader.boot2_size.map(|v| check_boot2(v, bootloader_flash)).transpose()?;
    // 10. Linux payload.
    let linux = raw.linux.map(|l| check_linux(l, app_ram, &slots)).transpose()?;
    // 11. Watchdog and trial counting.
    let watchdog = raw.watchdog.map(check_watchdog).transpose()?;
    let power_loss_retries = match raw.trial {
        None => 0,
        Some(t) if t.power_loss_retries <= u64::from(MAX_POWER_LOSS_RETRIES) => t.power_loss_retries as u8,
        Some(t) => {
            return Err(LayoutError::Policy {
                table: "trial",
                field: "power_loss_retries",
                rule: format!("{} is above {MAX_POWER_LOSS_RETRIES}", t.power_loss_retries),
            })
        }
    };

    // 12. The hardware security counters.
    let otp = raw.otp.map(|o| check_otp(&o, bootloader_flash, &flash, record, &slots)).transpose()?;
    // 13. Image rules.
    let image = check_image(raw.image.unwrap_or_default())?;
    // 14. Clocks.
    let clock = raw.clock.map(check_clock).transpose()?;

    Ok(Layout {
        board,
        bootloader_flash,
        boot2_size,
        bootloader_ram,
        app_ram,
        handoff,
        flash,
        record,
        slots,
        linux,
        watchdog,
        power_loss_retries,
        otp,
        clock,
        image,
        public_key_entries,
        public_keys,
    })
}

/// Rule 12: `[otp]`.
fn check_otp(
    o: &RawOtp,
    bootloader: MemRange,
    flash: &Flash,
    record: Region,
    slots: &[Slot],
) -> Result<Otp, LayoutError> {
    let err = |field: &'static str, rule: String| LayoutError::Policy { table: "otp", field, rule };
    let max_unit = safeslot_shared::counter::MAX_UNIT as u64;
    if !(1..=max_unit).contains(&o.unit) {
        return Err(err("unit", format!("{} is not in 1..={max_unit}", o.unit)));
    }
    if o.size == 0 || !o.size.is_multiple_of(o.unit) {
        return Err(err("size", format!("{:#x} is not a non-zero multiple of unit ({})", o.size, o.unit)));
    }
    let counters = safeslot_shared::counter::CounterId::ALL.len() as u64;
    let total = o.size.saturating_mul(counters);
    let end = o.address.saturating_add(total);
    if end > FOUR_GIB {
        return Err(err("size", format!("the {counters} counter area(s) end above 4 GiB")));
    }
    first_overlap(&[
        Span {
            name: "bootloader flash (bootloader.flash_base + flash_size)".to_owned(),
            start: u64::from(bootloader.base),
            end: bootloader.end(),
        },
        Span { name: "otp (otp.address + size per counter)".to_owned(), start: o.address, end },
    ])?;
    let (base, device_end) = (u64::from(flash.base), u64::from(flash.base) + u64::from(flash.size));
    if o.address < device_end && end > base {
        if o.address < base || end > device_end {
            return Err(err("address", "an area in the flash device must lie inside it".to_owned()));
        }
        if !o.unit.is_multiple_of(u64::from(flash.write_size)) || !o.address.is_multiple_of(u64::from(flash.write_size))
        {
            return Err(err(
                "unit",
                format!("address and unit must be multiples of flash.write_size ({})", flash.write_size),
            ));
        }
        // Whole erase sectors: the record's and the slots' erases must never reach it.
        let erase = u64::from(flash.erase_size);
        let start = (o.address - base) / erase * erase;
        let stop = (end - base).div_ceil(erase) * erase;
        let mut others = vec![Span { name: "record".to_owned(), start: u64::from(record.offset), end: record.end() }];
        others.extend(slots.iter().enumerate().map(|(i, s)| Span {
            name: format!("slot[{i}] {:?}", s.name),
            start: u64::from(s.offset),
            end: s.end(),
        }));
        for other in others {
            first_overlap(&[Span { name: "otp's erase sectors".to_owned(), start, end: stop }, other])?;
        }
    }
    Ok(Otp { address: o.address as u32, size: o.size as u32, unit: o.unit as u32 })
}

/// `[image]` (rule 13): the compatible identifier must be one the signed TLV can carry.
pub(crate) fn check_image(raw: RawImage) -> Result<ImageRules, LayoutError> {
    let err = |field, rule: String| LayoutError::Policy { table: "image", field, rule };
    if let Some(c) = &raw.compatible {
        let mut t = safeslot_shared::tlv::Tlvs::EMPTY;
        if t.push(safeslot_shared::tlv::tag::COMPATIBLE, c.as_bytes()).is_err() {
            return Err(err(
                "compatible",
                format!(
                    "{c:?} is not 1..={} printable ASCII characters without spaces",
                    safeslot_shared::tlv::MAX_COMPATIBLE
                ),
            ));
        }
    }
    let refuse_downgrade = match raw.downgrade.as_deref() {
        None | Some("allow") => false,
        Some("refuse") => true,
        Some(other) => return Err(err("downgrade", format!("{other:?} is neither \"allow\" nor \"refuse\""))),
    };
    Ok(ImageRules { compatible: raw.compatible, refuse_downgrade })
}

/// Most free retries a trial may get (a trial then boots at most tries + this many times).
pub(crate) const MAX_POWER_LOSS_RETRIES: u8 = 15;
/// Longest watchdog timeout: an hour (longer is no watchdog).
pub(crate) const MAX_WATCHDOG_MS: u64 = 3_600_000;

/// `[flash] word_writes` ("once", "twice", "unlimited") or its legacy spelling
/// `program_once` (true, false): exactly one of them.
fn check_word_writes(program_once: Option<bool>, word_writes: Option<&str>) -> Result<WriteCount, LayoutError> {
    let err = |rule: &str| LayoutError::Policy { table: "flash", field: "word_writes", rule: rule.to_owned() };
    match (program_once, word_writes) {
        (Some(true), None) | (None, Some("once")) => Ok(WriteCount::Once),
        (None, Some("twice")) => Ok(WriteCount::Twice),
        (Some(false), None) | (None, Some("unlimited")) => Ok(WriteCount::Unlimited),
        (None, Some(other)) => Err(err(&format!("{other:?} is none of \"once\", \"twice\", \"unlimited\""))),
        (Some(_), Some(_)) => Err(err("give word_writes or the older program_once, not both")),
        (None, None) => Err(err("missing: how often a write-word may be programmed between erases")),
    }
}

/// Rule 14: `[clock]`.
fn check_clock(raw: RawClock) -> Result<Clock, LayoutError> {
    let err = |field, rule: String| LayoutError::Policy { table: "clock", field, rule };
    let hz = |field, v: u64| match u32::try_from(v) {
        Ok(v) if v >= 1_000 => Ok(v),
        _ => Err(err(field, format!("{v} Hz is not in 1000..=4294967295"))),
    };
    let flash_wait_states = match raw.flash_wait_states {
        None => None,
        Some(w @ 0..=15) => Some(w as u8),
        Some(w) => return Err(err("flash_wait_states", format!("{w} is above 15"))),
    };
    Ok(Clock { core_hz: hz("core_hz", raw.core_hz)?, reset_hz: hz("reset_hz", raw.reset_hz)?, flash_wait_states })
}

fn check_watchdog(raw: RawWatchdog) -> Result<Watchdog, LayoutError> {
    let err = |field, rule: String| LayoutError::Policy { table: "watchdog", field, rule };
    if raw.timeout_ms == 0 || raw.timeout_ms > MAX_WATCHDOG_MS {
        return Err(err("timeout_ms", format!("{} is not in 1..={MAX_WATCHDOG_MS}", raw.timeout_ms)));
    }
    let arm = match raw.arm.as_deref() {
        None | Some("trial") => WatchdogArm::Trial,
        Some("always") => WatchdogArm::Always,
        Some(other) => return Err(err("arm", format!("{other:?} is neither \"trial\" nor \"always\""))),
    };
    Ok(Watchdog { timeout_ms: raw.timeout_ms as u32, arm })
}

fn check_linux(raw: RawLinux, app_ram: MemRange, slots: &[Slot]) -> Result<Linux, LayoutError> {
    let err = |field: &'static str, value: u64, rule: &'static str| LayoutError::Linux { field, value, rule };
    let in_ram = |field: &'static str, value: u64| {
        if value < u64::from(app_ram.base) || value >= app_ram.end() {
            Err(err(field, value, "must lie inside app RAM ([app] ram_base/ram_size)"))
        } else {
            Ok(value as u32)
        }
    };
    let kernel = in_ram("kernel", raw.kernel)?;
    let initrd = in_ram("initrd", raw.initrd)?;
    let dtb = in_ram("dtb", raw.dtb)?;
    let staging = in_ram("staging", raw.staging)?;
    let dtb_in = in_ram("dtb_in", raw.dtb_in)?;
    if !raw.kernel.is_multiple_of(0x20_0000) {
        return Err(err("kernel", raw.kernel, "must be 2 MiB-aligned (arm64 boot protocol)"));
    }
    for (field, v) in [("dtb", raw.dtb), ("dtb_in", raw.dtb_in)] {
        if !v.is_multiple_of(8) {
            return Err(err(field, v, "must be 8-byte aligned"));
        }
    }
    if !(kernel < initrd && initrd < dtb && dtb < staging) {
        return Err(err("initrd", raw.initrd, "the regions must follow in order: kernel < initrd < dtb < staging"));
    }
    let copies: u64 = slots.iter().map(|s| u64::from(s.size)).sum();
    if raw.staging + copies > app_ram.end() {
        return Err(err("staging", raw.staging, "app RAM has no room there for a copy of every slot"));
    }
    if raw.console.is_empty() || raw.console.contains(char::is_whitespace) {
        return Err(err("console", 0, "must be a non-empty device name without spaces"));
    }
    Ok(Linux { kernel, initrd, dtb, staging, dtb_in, console: raw.console })
}

fn check_board(name: String, target: String, chip: Option<String>) -> Result<Board, LayoutError> {
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !name_ok {
        return Err(LayoutError::BoardName { name });
    }
    let target_ok =
        !target.is_empty() && target.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !target_ok {
        return Err(LayoutError::Target { target });
    }
    let chip = non_empty_opt("board.chip", chip)?;
    Ok(Board { name, target, chip })
}

fn non_empty_opt(field: &str, value: Option<String>) -> Result<Option<String>, LayoutError> {
    match value {
        Some(v) if v.is_empty() => Err(LayoutError::EmptyField { field: field.to_owned() }),
        other => Ok(other),
    }
}

/// Checks `[start, start + size)` for a non-zero size, overflow and the
/// 4 GiB limit; returns its end.
fn checked_end(region: &str, size_field: &str, start: u64, size: u64) -> Result<u64, LayoutError> {
    if size == 0 {
        return Err(LayoutError::ZeroSize { field: size_field.to_owned() });
    }
    let end = start.checked_add(size).ok_or_else(|| LayoutError::Overflow { field: region.to_owned() })?;
    if end > FOUR_GIB {
        return Err(LayoutError::AddressTooHigh { field: region.to_owned(), end });
    }
    Ok(end)
}

/// Converts a value already known to be below 4 GiB (or reports the region
/// as too high, should that ever not hold).
fn to_u32(region: &str, value: u64, end: u64) -> Result<u32, LayoutError> {
    u32::try_from(value).map_err(|_| LayoutError::AddressTooHigh { field: region.to_owned(), end })
}

fn mem_range(region: &str, size_field: &str, base: u64, size: u64) -> Result<MemRange, LayoutError> {
    let end = checked_end(region, size_field, base, size)?;
    Ok(MemRange { base: to_u32(region, base, end)?, size: to_u32(region, size, end)? })
}

pub(crate) fn check_erase_size(value: u64) -> Result<u32, LayoutError> {
    if !value.is_power_of_two() || !(MIN_ERASE_SIZE..=MAX_ERASE_SIZE).contains(&value) {
        return Err(LayoutError::EraseSize { value });
    }
    u32::try_from(value).map_err(|_| LayoutError::EraseSize { value })
}

pub(crate) fn check_write_size(value: u64) -> Result<u32, LayoutError> {
    if !value.is_power_of_two() || value > MAX_WRITE_SIZE {
        return Err(LayoutError::WriteSize { value });
    }
    u32::try_from(value).map_err(|_| LayoutError::WriteSize { value })
}

/// `erase` is a validated (non-zero) erase size.
fn check_aligned(field: &str, value: u64, erase: u64) -> Result<(), LayoutError> {
    if value.checked_rem(erase) != Some(0) {
        return Err(LayoutError::Misaligned { field: field.to_owned(), value, erase_size: erase });
    }
    Ok(())
}

/// Checks that `[offset, offset + size)` lies inside the device (when its
/// size is known) and fits in 32 bits.
fn check_inside(region: &str, offset: u64, size: u64, flash_size: Option<u64>) -> Result<(u32, u32), LayoutError> {
    let end = offset.checked_add(size).ok_or_else(|| LayoutError::Overflow { field: region.to_owned() })?;
    if let Some(flash_size) = flash_size {
        if end > flash_size {
            return Err(LayoutError::OutsideFlash { field: region.to_owned(), offset, end, flash_size });
        }
    }
    if end > FOUR_GIB {
        return Err(LayoutError::AddressTooHigh { field: region.to_owned(), end });
    }
    Ok((to_u32(region, offset, end)?, to_u32(region, size, end)?))
}

pub(crate) fn check_record(raw: &RawRegion, erase: u64, flash_size: Option<u64>) -> Result<Region, LayoutError> {
    if raw.size == 0 {
        return Err(LayoutError::ZeroSize { field: "record.size".to_owned() });
    }
    check_aligned("record.offset", raw.offset, erase)?;
    check_aligned("record.size", raw.size, erase)?;
    if raw.size < erase.saturating_mul(2) {
        return Err(LayoutError::RecordTooSmall { size: raw.size, erase_size: erase });
    }
    let (offset, size) = check_inside("record", raw.offset, raw.size, flash_size)?;
    Ok(Region { offset, size })
}

fn slot_name_ok(name: &str) -> bool {
    (1..=2).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

pub(crate) fn check_slots(raw: &[RawSlot], erase: u64, flash_size: Option<u64>) -> Result<Vec<Slot>, LayoutError> {
    if !(MIN_SLOTS..=MAX_SLOTS).contains(&raw.len()) {
        return Err(LayoutError::SlotCount { count: raw.len() });
    }
    let mut seen = HashSet::new();
    let mut slots = Vec::with_capacity(raw.len());
    for (index, s) in raw.iter().enumerate() {
        if !slot_name_ok(&s.name) {
            return Err(LayoutError::SlotName { index, name: s.name.clone() });
        }
        if !seen.insert(s.name.as_str()) {
            return Err(LayoutError::DuplicateSlotName { name: s.name.clone() });
        }
        let region = format!("slot[{index}] {:?}", s.name);
        let field = |f: &str| format!("{region}.{f}");
        if s.size == 0 {
            return Err(LayoutError::ZeroSize { field: field("size") });
        }
        if !s.header_size.is_power_of_two() || s.header_size < MIN_HEADER_SIZE {
            return Err(LayoutError::HeaderSize { field: field("header_size"), header_size: s.header_size });
        }
        check_aligned(&field("offset"), s.offset, erase)?;
        check_aligned(&field("size"), s.size, erase)?;
        let minimum = s.header_size.saturating_add(MIN_IMAGE_SIZE);
        if s.size < minimum {
            return Err(LayoutError::SlotTooSmall { field: field("size"), size: s.size, minimum });
        }
        let (offset, size) = check_inside(&region, s.offset, s.size, flash_size)?;
        let header_size = u32::try_from(s.header_size).map_err(|_| LayoutError::SlotTooSmall {
            field: field("size"),
            size: s.size,
            minimum,
        })?;
        slots.push(Slot { name: s.name.clone(), offset, size, header_size });
    }
    Ok(slots)
}

/// A named half-open range, for overlap checks.
struct Span {
    name: String,
    start: u64,
    end: u64,
}

fn first_overlap(spans: &[Span]) -> Result<(), LayoutError> {
    for (i, a) in spans.iter().enumerate() {
        for b in spans.iter().skip(i.saturating_add(1)) {
            if a.start < b.end && b.start < a.end {
                return Err(LayoutError::Overlap {
                    first: a.name.clone(),
                    first_start: a.start,
                    first_end: a.end,
                    second: b.name.clone(),
                    second_start: b.start,
                    second_end: b.end,
                });
            }
        }
    }
    Ok(())
}

/// Record and slots, by offset in the device, must not overlap.
pub(crate) fn check_flash_overlaps(record: Region, slots: &[Slot]) -> Result<(), LayoutError> {
    let mut spans = vec![Span { name: "record".to_owned(), start: u64::from(record.offset), end: record.end() }];
    spans.extend(slots.iter().enumerate().map(|(i, s)| Span {
        name: format!("slot[{i}] {:?}", s.name),
        start: u64::from(s.offset),
        end: s.end(),
    }));
    first_overlap(&spans)
}

/// The bootloader partition, by CPU address, must not overlap the record or
/// a slot (it may live in the same device, on single-flash chips).
fn check_bootloader_overlaps(
    bootloader: MemRange,
    flash: &Flash,
    record: Region,
    slots: &[Slot],
) -> Result<(), LayoutError> {
    let base = u64::from(flash.base);
    let boot = Span {
        name: "bootloader flash (bootloader.flash_base + flash_size)".to_owned(),
        start: u64::from(bootloader.base),
        end: bootloader.end(),
    };
    let mut others = vec![Span {
        name: "record (at flash.base + record.offset)".to_owned(),
        start: base.saturating_add(u64::from(record.offset)),
        end: base.saturating_add(record.end()),
    }];
    others.extend(slots.iter().enumerate().map(|(i, s)| Span {
        name: format!("slot[{i}] {:?} (at flash.base + offset)", s.name),
        start: base.saturating_add(u64::from(s.offset)),
        end: base.saturating_add(s.end()),
    }));
    for other in others {
        first_overlap(&[Span { name: boot.name.clone(), start: boot.start, end: boot.end }, other])?;
    }
    Ok(())
}

fn check_handoff(handoff: MemRange, boot_ram: MemRange, app_ram: MemRange) -> Result<(), LayoutError> {
    let address = u64::from(handoff.base);
    if address % 4 != 0 {
        return Err(LayoutError::HandoffMisaligned { address });
    }
    for (ram, range) in
        [("bootloader RAM (bootloader.ram_base + ram_size)", boot_ram), ("app RAM (app.ram_base + ram_size)", app_ram)]
    {
        if address < range.end() && u64::from(range.base) < handoff.end() {
            return Err(LayoutError::HandoffInRam {
                ram,
                address,
                end: handoff.end(),
                ram_base: u64::from(range.base),
                ram_end: range.end(),
            });
        }
    }
    Ok(())
}

/// Space the boot stage needs after a boot2 region, at least.
const MIN_BOOT_STAGE: u64 = 1024;

fn check_boot2(value: u64, partition: MemRange) -> Result<u32, LayoutError> {
    let flash_size = u64::from(partition.size);
    if value == 0 || !value.is_multiple_of(4) || value.saturating_add(MIN_BOOT_STAGE) > flash_size {
        return Err(LayoutError::Boot2Size { value, flash_size });
    }
    u32::try_from(value).map_err(|_| LayoutError::Boot2Size { value, flash_size })
}

pub(crate) fn check_key_entries(public: Vec<String>) -> Result<Vec<String>, LayoutError> {
    if public.is_empty() {
        return Err(LayoutError::EmptyField { field: "keys.public".to_owned() });
    }
    if let Some(i) = public.iter().position(String::is_empty) {
        return Err(LayoutError::EmptyField { field: format!("keys.public[{i}]") });
    }
    Ok(public)
}

#[cfg(test)]
mod tests;
