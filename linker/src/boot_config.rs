//! `config.rs`: the boot stage's configuration as typed Rust consts, for
//! `include!(concat!(env!("OUT_DIR"), "/config.rs"))` in a board crate.
//!
//! Where `layout.rs` gives numbers, this gives the values the boot stage takes
//! directly: `BOOT`, a `safeslot_boot::BootConfig` (journal geometry, slot
//! regions with each slot's image address, the trusted keys, the fresh-record
//! policy), and `HANDOFF`, the `[handoff]` RAM as a
//! `safeslot_boot::config::HandoffRegion`. Every type is named through
//! `::safeslot_boot::config`, so the including crate needs `safeslot-boot`
//! and nothing else. Nothing here is computed on the target: a board cannot
//! re-derive the layout differently from another.

use std::fmt::Write as _;

use crate::layout::Layout;
use crate::text::{generated_by, hex_grouped};

/// The module every generated type is named through.
const TYPES: &str = "::safeslot_boot::config";

impl Layout {
    /// A Rust module body of documented consts: `PUBLIC_KEYS` (the given
    /// keys, in order), `BOOT` and `HANDOFF` (see the module docs). Each slot's
    /// `load_addr` is its image address in flash (`[flash] base` plus slot
    /// offset plus header size): an image's header must name that address,
    /// which binds a signed image to its slot. It has no inner (`//!`) doc, so
    /// it can be `include!`d anywhere items are allowed.
    #[must_use]
    pub fn boot_config_rs(&self, keys: &[[u8; 32]]) -> String {
        let mut out = format!(
            "// {}\n// Include with `include!(concat!(env!(\"OUT_DIR\"), \"/config.rs\"));`.\n\n",
            generated_by(&self.source_name())
        );
        let o = &mut out;
        // Writing to a String cannot fail.
        let _ = writeln!(
            o,
            "/// The trusted ed25519 public keys, embedded at build time (from `SAFESLOT_PUBLIC_KEYS`, else `[keys] public`)."
        );
        let _ = writeln!(o, "pub const PUBLIC_KEYS: [[u8; 32]; {}] = [", keys.len());
        for k in keys {
            let bytes: Vec<String> = k.iter().map(|b| format!("0x{b:02x}")).collect();
            let _ = writeln!(o, "    [{}],", bytes.join(", "));
        }
        let _ = writeln!(o, "];");
        let flash = self.flash();
        let record = self.record();
        let _ = writeln!(o, "/// The boot sequence's configuration: what `safeslot_boot::run` takes.");
        let _ = writeln!(o, "pub const BOOT: {TYPES}::BootConfig<'static> = {TYPES}::BootConfig {{");
        let _ = writeln!(
            o,
            "    journal: {TYPES}::JournalConfig {{ offset: {}, size: {}, write_size: {}, erase_size: {} }},",
            hex_grouped(u64::from(record.offset)),
            hex_grouped(u64::from(record.size)),
            flash.write_size,
            hex_grouped(u64::from(flash.erase_size)),
        );
        let _ = writeln!(o, "    slots: &[");
        for s in self.slots() {
            let image = u64::from(flash.base) + u64::from(s.offset) + u64::from(s.header_size);
            let _ = writeln!(
                o,
                "        // slot {:?}\n        {TYPES}::SlotRegion {{ offset: {}, size: {}, header_size: {}, load_addr: Some({}) }},",
                s.name,
                hex_grouped(u64::from(s.offset)),
                hex_grouped(u64::from(s.size)),
                hex_grouped(u64::from(s.header_size)),
                hex_grouped(image),
            );
        }
        let _ = writeln!(o, "    ],");
        let _ = writeln!(o, "    keys: &PUBLIC_KEYS,");
        let _ = writeln!(o, "    fresh: {TYPES}::FreshRecord::for_slots({}),", self.slots().len());
        let _ = writeln!(o, "    power_loss_retries: {},", self.power_loss_retries());
        let rules = self.image_rules();
        match &rules.compatible {
            None => {
                let _ = writeln!(o, "    compatible: None,");
            }
            // Validated as printable ASCII without quotes' trouble: `{:?}` is a Rust literal.
            Some(c) => {
                let _ = writeln!(o, "    compatible: Some(b{c:?}),");
            }
        }
        let _ = writeln!(o, "    refuse_downgrade: {},", rules.refuse_downgrade);
        match self.watchdog() {
            None => {
                let _ = writeln!(o, "    watchdog: None,");
            }
            Some(w) => {
                let arm = match w.arm {
                    crate::WatchdogArm::Trial => "Trial",
                    crate::WatchdogArm::Always => "Always",
                };
                let _ = writeln!(
                    o,
                    "    watchdog: Some({TYPES}::Watchdog {{ timeout_ms: {}, arm: {TYPES}::WatchdogArm::{arm} }}),",
                    w.timeout_ms
                );
            }
        }
        let _ = writeln!(o, "}};");
        let xn = self.execute_never_regions();
        let _ = writeln!(
            o,
            "/// The slots' CPU addresses as naturally aligned power-of-two regions ({} of them), which the\n/// boot stage keeps execute-never until its jump: a branch into an image before the launch\n/// (a fault that corrupts a return address) faults instead of running image code.",
            xn.len()
        );
        let _ = writeln!(o, "pub const EXECUTE_NEVER: &[{TYPES}::ExecuteNever] = &[");
        for (base, log2) in &xn {
            let _ = writeln!(o, "    {TYPES}::ExecuteNever {{ base: {}, size_log2: {log2} }},", hex_grouped(*base));
        }
        let _ = writeln!(o, "];");
        let _ = writeln!(
            o,
            "/// The RAM reserved for the hand-off block and the rig mailbox (`[handoff]`), outside both RAM ranges."
        );
        let _ = writeln!(
            o,
            "pub const HANDOFF: {TYPES}::HandoffRegion = {TYPES}::HandoffRegion {{ address: {}, size: {} }};",
            hex_grouped(u64::from(self.handoff().base)),
            hex_grouped(u64::from(self.handoff().size)),
        );
        out
    }
}

/// Splits `[lo, hi)` into the fewest naturally aligned power-of-two blocks of at least
/// `min_log2` bits that cover exactly it (`lo` and `hi` must be multiples of
/// `1 << min_log2`): `(base, log2 size)`, in address order.
#[must_use]
pub fn aligned_blocks(lo: u64, hi: u64, min_log2: u32) -> Vec<(u64, u8)> {
    let mut out = Vec::new();
    let mut at = lo;
    while at < hi {
        // The largest block that starts at `at` (alignment) and ends by `hi`.
        let mut log2 = if at == 0 { 32 } else { at.trailing_zeros().min(32) };
        while log2 > min_log2 && at + (1u64 << log2) > hi {
            log2 -= 1;
        }
        if at + (1u64 << log2) > hi {
            break; // `hi` not aligned to `min_log2`: leave the tail (the caller checked it is).
        }
        out.push((at, log2 as u8));
        at += 1u64 << log2;
    }
    out
}

impl Layout {
    /// The execute-never regions of the boot stage (`config::EXECUTE_NEVER`): naturally
    /// aligned power-of-two blocks of at least 256 bytes (the Cortex-M0+'s smallest MPU
    /// region) that cover every slot, stay inside the flash device and never touch the boot
    /// stage's own partition. They may cover more than the slots (the record, unused flash:
    /// data that is never executed) when that takes fewer blocks: of the spans from the
    /// slots' lowest start, rounded down, to their highest end, rounded up, to each power of
    /// two within those bounds, the one needing the fewest blocks.
    #[must_use]
    pub fn execute_never_regions(&self) -> Vec<(u64, u8)> {
        let base = u64::from(self.flash().base);
        let Some(lo) = self.slots().iter().map(|s| base + u64::from(s.offset)).min() else { return Vec::new() };
        let hi = self.slots().iter().map(|s| base + u64::from(s.offset) + u64::from(s.size)).max().unwrap_or(lo);
        let boot = self.bootloader_flash();
        let (boot_lo, boot_hi) = (u64::from(boot.base), boot.end());
        // The bounds the span may grow to: the flash device, minus the boot partition on
        // the side of it the slots are on.
        let mut floor = base;
        let mut ceil = base + u64::from(self.flash().size);
        if boot_hi <= lo {
            floor = floor.max(boot_hi);
        } else if boot_lo >= hi {
            ceil = ceil.min(boot_lo);
        } else {
            // The boot partition lies between the slots: only the slots themselves.
            let mut out = Vec::new();
            for s in self.slots() {
                let start = base + u64::from(s.offset);
                out.extend(aligned_blocks(start, start + u64::from(s.size), 8));
            }
            return out;
        }
        let mut best = aligned_blocks(lo, hi, 8);
        for k in 8..=32u32 {
            let down = lo & !((1u64 << k) - 1);
            for j in 8..=32u32 {
                let up = (hi + (1u64 << j) - 1) & !((1u64 << j) - 1);
                if down < floor || up > ceil {
                    continue;
                }
                let blocks = aligned_blocks(down, up, 8);
                if blocks.len() < best.len() {
                    best = blocks;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod xn_tests {
    use super::aligned_blocks;

    #[test]
    fn blocks_cover_exactly_and_are_aligned() {
        for (lo, hi) in [(0x1_0000u64, 0x81_0000u64), (0x1_0000, 0xF_4000), (0x2101_0000, 0x2181_0000), (0, 0x100)] {
            let b = aligned_blocks(lo, hi, 8);
            let mut at = lo;
            for (base, log2) in &b {
                assert_eq!(*base, at, "{lo:#x}..{hi:#x}: contiguous");
                assert_eq!(base % (1u64 << log2), 0, "{base:#x} aligned to 2^{log2}");
                assert!(*log2 >= 8);
                at += 1u64 << log2;
            }
            assert_eq!(at, hi, "{lo:#x}..{hi:#x}: covered exactly");
        }
        // The virtual board's two slots: 64 KiB + 2 x 4 MiB from 0x2101_0000.
        assert_eq!(aligned_blocks(0x2101_0000, 0x2181_0000, 8).len(), 8);
        assert_eq!(aligned_blocks(0x2100_0000, 0x2200_0000, 8), [(0x2100_0000, 24)]);
    }
}
