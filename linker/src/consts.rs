//! `layout.rs`: the layout as Rust `pub const` items, for
//! `include!(concat!(env!("OUT_DIR"), "/layout.rs"))` in a board crate.
//!
//! Consts rather than `extern` linker symbols, which would need `unsafe` to
//! read. Addresses and sizes are `u32` (the layout rejects anything at or
//! above 4 GiB); `SLOT_COUNT` is a `usize` so it can size arrays.

use std::fmt::Write as _;

use crate::layout::Layout;
use crate::text::{generated_by, hex_grouped};

/// Appends one documented const.
fn item(out: &mut String, doc: &str, name: &str, ty: &str, value: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "/// {doc}\npub const {name}: {ty} = {value};");
}

fn hex(v: u32) -> String {
    hex_grouped(u64::from(v))
}

fn array(values: impl Iterator<Item = String>) -> String {
    format!("[{}]", values.collect::<Vec<_>>().join(", "))
}

impl Layout {
    /// A Rust module body of documented `pub const` items: `BOARD_NAME`,
    /// `TARGET`, `FLASH_BASE`, `FLASH_SIZE`, `ERASE_SIZE`, `WRITE_SIZE`,
    /// `PROGRAM_ONCE`, `RECORD_OFFSET`, `RECORD_SIZE`, `SLOT_COUNT`,
    /// `SLOT_NAMES`, `SLOT_OFFSETS`, `SLOT_SIZES`, `SLOT_HEADER_SIZES`,
    /// `HANDOFF_ADDRESS`, `HANDOFF_SIZE`, `BOOTLOADER_FLASH_BASE`,
    /// `BOOTLOADER_FLASH_SIZE`, `BOOTLOADER_BOOT2_SIZE` (only with a boot2 region), `BOOTLOADER_RAM_BASE`, `BOOTLOADER_RAM_SIZE`,
    /// `APP_RAM_BASE`, `APP_RAM_SIZE`. Offsets are from `FLASH_BASE`;
    /// addresses and sizes are `u32`. It has no inner (`//!`) doc, so it can
    /// be `include!`d anywhere items are allowed.
    #[must_use]
    pub fn rust_consts(&self) -> String {
        let mut out = format!(
            "// {}\n// Include with `include!(concat!(env!(\"OUT_DIR\"), \"/layout.rs\"));`.\n\n",
            generated_by(&self.source_name())
        );
        let o = &mut out;
        let flash = self.flash();
        let n = self.slots().len();
        item(o, "Board name (`[board] name`).", "BOARD_NAME", "&str", &format!("{:?}", self.board().name));
        item(
            o,
            "Rust target triple of the board's images (`[board] target`).",
            "TARGET",
            "&str",
            &format!("{:?}", self.board().target),
        );
        item(
            o,
            "CPU address of the NOR flash that holds the record and the slots (`[flash] base`).",
            "FLASH_BASE",
            "u32",
            &hex(flash.base),
        );
        item(o, "Size of that flash device in bytes (`[flash] size`).", "FLASH_SIZE", "u32", &hex(flash.size));
        item(
            o,
            "Erase sector size in bytes, a power of two (`[flash] erase_size`).",
            "ERASE_SIZE",
            "u32",
            &hex(flash.erase_size),
        );
        item(
            o,
            "Program granularity in bytes (`[flash] write_size`).",
            "WRITE_SIZE",
            "u32",
            &flash.write_size.to_string(),
        );
        item(
            o,
            "Whether a write-word may be programmed only once per erase, as on ECC flash (`[flash] word_writes = \"once\"`).",
            "PROGRAM_ONCE",
            "bool",
            &flash.program_once.to_string(),
        );
        item(
            o,
            "How many times a write-word may be programmed between erases; 0: any number (`[flash] word_writes`).",
            "WORD_WRITES",
            "u32",
            match flash.word_writes {
                safeslot_shared::nor::WriteCount::Once => "1",
                safeslot_shared::nor::WriteCount::Twice => "2",
                safeslot_shared::nor::WriteCount::Unlimited => "0",
            },
        );
        item(
            o,
            "Offset of the boot-control record area from `FLASH_BASE` (`[record] offset`).",
            "RECORD_OFFSET",
            "u32",
            &hex(self.record().offset),
        );
        item(
            o,
            "Size of the record area in bytes, at least two erase sectors (`[record] size`).",
            "RECORD_SIZE",
            "u32",
            &hex(self.record().size),
        );
        item(o, "Number of slots (`[[slot]]` tables), 2 to 4.", "SLOT_COUNT", "usize", &n.to_string());
        item(
            o,
            "Slot names, in layout order; index `i` of every `SLOT_*` array is the same slot.",
            "SLOT_NAMES",
            &format!("[&str; {n}]"),
            &array(self.slots().iter().map(|s| format!("{:?}", s.name))),
        );
        item(
            o,
            "Slot offsets from `FLASH_BASE`, erase-aligned.",
            "SLOT_OFFSETS",
            &format!("[u32; {n}]"),
            &array(self.slots().iter().map(|s| hex(s.offset))),
        );
        item(
            o,
            "Slot sizes in bytes, erase-aligned.",
            "SLOT_SIZES",
            &format!("[u32; {n}]"),
            &array(self.slots().iter().map(|s| hex(s.size))),
        );
        item(
            o,
            "Bytes reserved for the slot header before each image (a power of two, so the vector table is aligned).",
            "SLOT_HEADER_SIZES",
            &format!("[u32; {n}]"),
            &array(self.slots().iter().map(|s| hex(s.header_size))),
        );
        item(o, "Address of the hand-off block the boot stage leaves for the app, outside both RAM ranges (`[handoff] address`).", "HANDOFF_ADDRESS", "u32", &hex(self.handoff().base));
        item(
            o,
            "Size of the hand-off block in bytes (`[handoff] size`).",
            "HANDOFF_SIZE",
            "u32",
            &hex(self.handoff().size),
        );
        item(
            o,
            "Start of the bootloader partition (`[bootloader] flash_base`).",
            "BOOTLOADER_FLASH_BASE",
            "u32",
            &hex(self.bootloader_flash().base),
        );
        item(
            o,
            "Size of the bootloader partition in bytes (`[bootloader] flash_size`).",
            "BOOTLOADER_FLASH_SIZE",
            "u32",
            &hex(self.bootloader_flash().size),
        );
        if let Some(b2) = self.boot2_size() {
            item(
                o,
                "Bytes of second-stage flash loader at the start of the bootloader partition (`[bootloader] boot2_size`).",
                "BOOTLOADER_BOOT2_SIZE",
                "u32",
                &hex(b2),
            );
        }
        item(
            o,
            "Start of the boot stage's RAM (`[bootloader] ram_base`).",
            "BOOTLOADER_RAM_BASE",
            "u32",
            &hex(self.bootloader_ram().base),
        );
        item(
            o,
            "Size of the boot stage's RAM in bytes (`[bootloader] ram_size`).",
            "BOOTLOADER_RAM_SIZE",
            "u32",
            &hex(self.bootloader_ram().size),
        );
        item(
            o,
            "Whether the slots hold a Linux payload (`[linux]` present) rather than an XIP application.",
            "LINUX_PAYLOAD",
            "bool",
            &self.linux().is_some().to_string(),
        );
        if let Some(l) = self.linux() {
            for (name, doc, v) in [
                ("LINUX_KERNEL", "Where the kernel `Image` goes, 2 MiB-aligned (`[linux] kernel`).", l.kernel),
                ("LINUX_INITRD", "Where the initramfs goes (`[linux] initrd`).", l.initrd),
                ("LINUX_DTB", "Where the patched device tree goes (`[linux] dtb`).", l.dtb),
                ("LINUX_STAGING", "Where the slots are copied to be verified (`[linux] staging`).", l.staging),
                ("LINUX_DTB_IN", "Where the firmware leaves the device tree (`[linux] dtb_in`).", l.dtb_in),
            ] {
                item(o, doc, name, "u32", &hex(v));
            }
            item(o, "The kernel console (`[linux] console`).", "LINUX_CONSOLE", "&str", &format!("{:?}", l.console));
        }
        if let Some(otp) = self.otp() {
            for (name, doc, v) in [
                (
                    "OTP_ADDRESS",
                    "CPU address of the hardware security counters' OTP area (`[otp] address`).",
                    otp.address,
                ),
                ("OTP_SIZE", "Bytes per counter's area, thermometer-coded (`[otp] size`).", otp.size),
                ("OTP_UNIT", "Bytes per thermometer unit, programmed once (`[otp] unit`).", otp.unit),
            ] {
                item(o, doc, name, "u32", &hex(v));
            }
        }
        if let Some(c) = self.clock() {
            item(
                o,
                "Core clock (Hz) the boot stage sets and leaves for the app (`[clock] core_hz`).",
                "CORE_CLOCK_HZ",
                "u32",
                &c.core_hz.to_string(),
            );
            item(
                o,
                "Core clock (Hz) out of reset (`[clock] reset_hz`).",
                "RESET_CLOCK_HZ",
                "u32",
                &c.reset_hz.to_string(),
            );
        }
        item(o, "Start of the applications' RAM (`[app] ram_base`).", "APP_RAM_BASE", "u32", &hex(self.app_ram().base));
        item(
            o,
            "Size of the applications' RAM in bytes (`[app] ram_size`).",
            "APP_RAM_SIZE",
            "u32",
            &hex(self.app_ram().size),
        );
        out
    }
}
