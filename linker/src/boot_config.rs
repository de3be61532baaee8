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
        let _ = writeln!(o, "}};");
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
