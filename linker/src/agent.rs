//! The Linux agent's config: what `safeslotctl` needs to know about the
//! flash, generated from the layout ([`Layout::agent_config`]) and read back
//! with [`AgentConfig::parse`].
//!
//! ```toml
//! [record]
//! device = "/dev/mtd0"     # optional: the agent may take it on its command line;
//!                          # a relative path is relative to the config file
//! offset = 0x0             # offsets are from the start of the device
//! size = 0x2000
//! erase_size = 0x1000
//! write_size = 8
//! program_once = true
//! flash_base = 0x2100_0000 # optional: CPU address of offset 0 as the boot stage sees it
//!
//! [[slot]]                 # 2 to 4 of these
//! name = "a"
//! offset = 0x1_0000
//! size = 0x40_0000
//! header_size = 0x400
//! mender_part = 2          # optional: the partition number Mender's `mender_boot_part`
//!                          # names for this slot (safeslotctl's fw_printenv/fw_setenv)
//! bootname = "A"           # optional: the RAUC bootname (default: the name)
//!
//! [keys]                   # optional; paths as written in layout.toml
//! public = ["keys/release.pub.pem"]
//!
//! [image]                  # optional: as the layout's, for `safeslotctl verify`
//! compatible = "acme,widget-2"
//! downgrade = "refuse"
//! ```
//!
//! Reading it back applies the same geometry rules as the layout (erase and
//! write sizes, alignment, record and slot minimum sizes, unique names, no
//! overlaps), except that the device size is not known until the agent opens
//! the device: check it then with [`AgentConfig::check_device_size`].
//!
//! A slot's `bootname` is the name RAUC knows it by (`[slot.rootfs.0] bootname=` in
//! RAUC's `system.conf`, and `rauc.slot=` on the kernel command line): 1 to 32 ASCII
//! letters, digits, `-`, `_` or `.`, such as `A`/`B` or `system0`/`system1`. It defaults to
//! the slot's name. No two slots may share a name or bootname, ignoring case (the agent
//! accepts either, in either case, for a slot).

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use crate::error::LayoutError;
use crate::layout::{Layout, Region, Slot};
use crate::raw::{RawKeys, RawRegion, RawSlot};
use crate::text::{generated_by, hex_grouped};
use crate::validate;

/// The agent's view of the flash: validated, so holding one means the
/// geometry rules hold. Deserializing it (e.g. as part of a larger config)
/// validates too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAgentConfig")]
#[non_exhaustive]
pub struct AgentConfig {
    /// Where Linux sees the flash (`/dev/mtdN` or a file), when given, as written: the
    /// agent reads a relative path as relative to the config file's directory, as it does
    /// the key paths.
    pub device: Option<String>,
    /// The boot-control record area, by offset in the device.
    pub record: Region,
    /// Erase sector size: a power of two in 256 ..= 262144.
    pub erase_size: u32,
    /// Program granularity: one of 1, 2, 4, 8, 16, 32.
    pub write_size: u32,
    /// Whether a write-word may be programmed only once per erase.
    pub program_once: bool,
    /// The CPU address of device offset 0 as the boot stage sees it (`[flash] base`): the
    /// stage refuses an image whose load address is not `flash_base + slot offset + header
    /// size` (wrong-address), and `safeslotctl verify` applies the same rule with it.
    /// `None` in a config written without it (the load address then goes unchecked, and
    /// `verify` says so).
    pub flash_base: Option<u64>,
    /// The slots, in layout order (2 ..= 4).
    pub slots: Vec<Slot>,
    /// Each slot's `mender_part`, in the order of `slots`: the partition number that
    /// Mender's boot variable `mender_boot_part` names for the slot (`safeslotctl`'s
    /// `fw_printenv`/`fw_setenv`), when the config gives one. No two slots share one.
    /// An agent-only setting: a config generated from a layout has none.
    pub mender_parts: Vec<Option<u32>>,
    /// The RAUC bootname of each slot, in the order of `slots` (one per slot; a slot's
    /// name where the config gives none). Validated: see the module docs.
    pub bootnames: Vec<String>,
    /// Public key paths as written in `layout.toml` (relative paths are
    /// relative to the layout file there; the agent decides what they are
    /// relative to on the device). Empty when there is no `[keys]` table.
    pub public_keys: Vec<String>,
    /// `[image]`: the compatible identifier and downgrade rule the boot stage applies.
    pub image: crate::ImageRules,
}

/// The agent config as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgentConfig {
    record: RawAgentRecord,
    #[serde(default)]
    slot: Vec<RawAgentSlot>,
    #[serde(default)]
    keys: Option<RawKeys>,
    #[serde(default)]
    image: Option<crate::raw::RawImage>,
}

/// One `[[slot]]` of the agent config: a layout slot and the agent-only `mender_part`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgentSlot {
    name: String,
    offset: u64,
    size: u64,
    header_size: u64,
    #[serde(default)]
    mender_part: Option<u32>,
    #[serde(default)]
    bootname: Option<String>,
}

impl RawAgentSlot {
    fn layout_slot(&self) -> RawSlot {
        RawSlot { name: self.name.clone(), offset: self.offset, size: self.size, header_size: self.header_size }
    }
}

/// The slots' `mender_part` values, refused when two slots share one.
fn check_mender_parts(raw: &[RawAgentSlot]) -> Result<Vec<Option<u32>>, LayoutError> {
    for (i, a) in raw.iter().enumerate() {
        for b in raw.iter().skip(i.saturating_add(1)) {
            if let (Some(part), Some(other)) = (a.mender_part, b.mender_part) {
                if part == other {
                    return Err(LayoutError::DuplicateMenderPart {
                        part,
                        first: a.name.clone(),
                        second: b.name.clone(),
                    });
                }
            }
        }
    }
    Ok(raw.iter().map(|s| s.mender_part).collect())
}

/// `[record]` of the agent config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgentRecord {
    #[serde(default)]
    device: Option<String>,
    offset: u64,
    size: u64,
    erase_size: u64,
    write_size: u64,
    program_once: bool,
    #[serde(default)]
    flash_base: Option<u64>,
}

/// The longest bootname accepted.
const MAX_BOOTNAME: usize = 32;

/// Each slot's bootname (`given`, else its name), checked: 1 to [`MAX_BOOTNAME`] ASCII
/// letters, digits, `-`, `_` or `.`, and no name or bootname of two different slots equal
/// ignoring case.
fn check_bootnames(slots: &[Slot], given: &[Option<String>]) -> Result<Vec<String>, LayoutError> {
    let names: Vec<String> =
        slots.iter().zip(given).map(|(s, b)| b.clone().unwrap_or_else(|| s.name.clone())).collect();
    for (index, b) in names.iter().enumerate() {
        let err = |rule| Err(LayoutError::Bootname { index, bootname: b.clone(), rule });
        if b.is_empty() || b.len() > MAX_BOOTNAME {
            return err("must be 1 to 32 characters");
        }
        if !b.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')) {
            return err("may hold only ASCII letters, digits, '-', '_' and '.'");
        }
        let clash =
            slots.iter().zip(&names).enumerate().any(|(other, (s, ob))| {
                other != index && (ob.eq_ignore_ascii_case(b) || s.name.eq_ignore_ascii_case(b))
            });
        if clash {
            return err("equals another slot's name or bootname (ignoring case)");
        }
    }
    Ok(names)
}

impl TryFrom<RawAgentConfig> for AgentConfig {
    type Error = LayoutError;

    fn try_from(raw: RawAgentConfig) -> Result<Self, LayoutError> {
        let device = match raw.record.device {
            Some(d) if d.is_empty() => return Err(LayoutError::EmptyField { field: "record.device".to_owned() }),
            other => other,
        };
        let erase_size = validate::check_erase_size(raw.record.erase_size)?;
        let write_size = validate::check_write_size(raw.record.write_size)?;
        let erase = u64::from(erase_size);
        let record =
            validate::check_record(&RawRegion { offset: raw.record.offset, size: raw.record.size }, erase, None)?;
        let layout_slots: Vec<RawSlot> = raw.slot.iter().map(RawAgentSlot::layout_slot).collect();
        let slots = validate::check_slots(&layout_slots, erase, None)?;
        let given: Vec<Option<String>> = raw.slot.iter().map(|s| s.bootname.clone()).collect();
        let bootnames = check_bootnames(&slots, &given)?;
        validate::check_flash_overlaps(record, &slots)?;
        let mender_parts = check_mender_parts(&raw.slot)?;
        let public_keys = match raw.keys {
            None => Vec::new(),
            Some(k) => validate::check_key_entries(k.public)?,
        };
        let image = validate::check_image(raw.image.unwrap_or_default())?;
        Ok(Self {
            device,
            record,
            erase_size,
            write_size,
            program_once: raw.record.program_once,
            flash_base: raw.record.flash_base,
            slots,
            mender_parts,
            bootnames,
            public_keys,
            image,
        })
    }
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl AgentConfig {
    /// The agent's view of `layout`; `device_override`, when given, replaces
    /// `[flash] device`.
    #[must_use]
    pub fn from_layout(layout: &Layout, device_override: Option<&str>) -> Self {
        let flash = layout.flash();
        Self {
            device: device_override.map(str::to_owned).or_else(|| flash.device.clone()),
            record: layout.record(),
            erase_size: flash.erase_size,
            write_size: flash.write_size,
            program_once: flash.program_once,
            flash_base: Some(u64::from(flash.base)),
            slots: layout.slots().to_vec(),
            mender_parts: vec![None; layout.slots().len()],
            bootnames: layout.slots().iter().map(|s| s.name.clone()).collect(),
            public_keys: layout.public_key_entries().to_vec(),
            image: layout.image_rules().clone(),
        }
    }

    /// Parses and validates agent-config text.
    ///
    /// # Errors
    ///
    /// [`LayoutError::Parse`] if it does not match the schema, or the
    /// validation error of the first rule it breaks.
    pub fn parse(text: &str) -> Result<Self, LayoutError> {
        Self::parse_named(text, "agent config")
    }

    /// Reads, parses and validates an agent-config file.
    ///
    /// # Errors
    ///
    /// [`LayoutError::Read`] if it cannot be read, otherwise as [`AgentConfig::parse`].
    pub fn load(path: &Path) -> Result<Self, LayoutError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| LayoutError::Read { path: path.to_path_buf(), source })?;
        Self::parse_named(&text, &path.display().to_string())
    }

    fn parse_named(text: &str, origin: &str) -> Result<Self, LayoutError> {
        let raw: RawAgentConfig =
            toml::from_str(text).map_err(|e| LayoutError::Parse { origin: origin.to_owned(), source: Box::new(e) })?;
        Self::try_from(raw)
    }

    /// The slot called `name`.
    ///
    /// # Errors
    ///
    /// [`LayoutError::UnknownSlot`] if there is none.
    pub fn slot(&self, name: &str) -> Result<&Slot, LayoutError> {
        self.slots.iter().find(|s| s.name == name).ok_or_else(|| LayoutError::UnknownSlot {
            name: name.to_owned(),
            known: self.slots.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// Checks that the record and every slot fit in a device of
    /// `device_size` bytes (the size of the MTD device or file).
    ///
    /// # Errors
    ///
    /// [`LayoutError::OutsideFlash`] for the first region that does not fit.
    pub fn check_device_size(&self, device_size: u64) -> Result<(), LayoutError> {
        let regions = std::iter::once(("record".to_owned(), u64::from(self.record.offset), self.record.end())).chain(
            self.slots
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("slot[{i}] {:?}", s.name), u64::from(s.offset), s.end())),
        );
        for (field, offset, end) in regions {
            if end > device_size {
                return Err(LayoutError::OutsideFlash { field, offset, end, flash_size: device_size });
            }
        }
        Ok(())
    }

    /// The config as TOML text (no header comment); [`AgentConfig::parse`]
    /// reads it back to an equal value.
    #[must_use]
    pub fn to_toml(&self) -> String {
        let mut out = String::from("[record]\n");
        if let Some(device) = &self.device {
            let _ = writeln!(out, "device = {}", toml_string(device));
        }
        let _ = write!(
            out,
            "offset = {}\nsize = {}\nerase_size = {}\nwrite_size = {}\nprogram_once = {}\n",
            hex_grouped(u64::from(self.record.offset)),
            hex_grouped(u64::from(self.record.size)),
            hex_grouped(u64::from(self.erase_size)),
            self.write_size,
            self.program_once,
        );
        if let Some(base) = self.flash_base {
            let _ = writeln!(out, "flash_base = {}", hex_grouped(base));
        }
        for (i, s) in self.slots.iter().enumerate() {
            let _ = write!(
                out,
                "\n[[slot]]\nname = {}\noffset = {}\nsize = {}\nheader_size = {}\n",
                toml_string(&s.name),
                hex_grouped(u64::from(s.offset)),
                hex_grouped(u64::from(s.size)),
                hex_grouped(u64::from(s.header_size)),
            );
            if let Some(part) = self.mender_parts.get(i).copied().flatten() {
                let _ = writeln!(out, "mender_part = {part}");
            }
            if let Some(b) = self.bootnames.get(i).filter(|b| **b != s.name) {
                let _ = writeln!(out, "bootname = {}", toml_string(b));
            }
        }
        if !self.public_keys.is_empty() {
            let keys: Vec<String> = self.public_keys.iter().map(|k| toml_string(k)).collect();
            let _ = writeln!(out, "\n[keys]\npublic = [{}]", keys.join(", "));
        }
        if self.image != crate::ImageRules::default() {
            out.push_str("\n[image]\n");
            if let Some(c) = &self.image.compatible {
                let _ = writeln!(out, "compatible = {}", toml_string(c));
            }
            if self.image.refuse_downgrade {
                out.push_str("downgrade = \"refuse\"\n");
            }
        }
        out
    }
}

impl Layout {
    /// The Linux agent's config for this layout, as TOML with a
    /// `# generated by safeslot-layout from <board>/layout.toml` header:
    /// `[record]` (`device`, `offset`, `size`, `erase_size`, `write_size`,
    /// `program_once`, `flash_base`), one `[[slot]]` per slot (`name`, `offset`, `size`,
    /// `header_size`) and `[keys] public` when the layout has keys.
    /// `device_override` replaces `[flash] device`; with neither, `device` is
    /// left out. Read it back with [`AgentConfig::parse`].
    #[must_use]
    pub fn agent_config(&self, device_override: Option<&str>) -> String {
        format!(
            "# {}\n\n{}",
            generated_by(&self.source_name()),
            AgentConfig::from_layout(self, device_override).to_toml()
        )
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::AgentConfig;
    use crate::{Layout, LayoutError};

    fn qemu() -> Layout {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/qemu-mps2-an386/layout.toml");
        Layout::load(&path).unwrap()
    }

    const GOLDEN: &str = r#"# generated by safeslot-layout from qemu-mps2-an386/layout.toml: do not edit

[record]
device = "/dev/mtd0"
offset = 0x0
size = 0x2000
erase_size = 0x1000
write_size = 8
program_once = true
flash_base = 0x2100_0000

[[slot]]
name = "a"
offset = 0x1_0000
size = 0x40_0000
header_size = 0x400

[[slot]]
name = "b"
offset = 0x41_0000
size = 0x40_0000
header_size = 0x400

[keys]
public = ["keys/release.pub.pem"]
"#;

    #[test]
    fn agent_config_golden() {
        assert_eq!(qemu().agent_config(None), GOLDEN);
    }

    #[test]
    fn round_trip_through_text() {
        let layout = qemu();
        for device in [None, Some("/dev/mtd3"), Some("C:\\flash \"image\".bin")] {
            let text = layout.agent_config(device);
            let parsed = AgentConfig::parse(&text).unwrap();
            let expected = AgentConfig::from_layout(&layout, device);
            assert_eq!(parsed, expected);
            assert_eq!(AgentConfig::parse(&parsed.to_toml()).unwrap(), parsed);
            assert_eq!(parsed.device.as_deref(), device.or(Some("/dev/mtd0")));
        }
        let c = AgentConfig::parse(GOLDEN).unwrap();
        assert_eq!(c.record.offset, 0);
        assert_eq!(c.record.size, 0x2000);
        assert_eq!((c.erase_size, c.write_size, c.program_once), (0x1000, 8, true));
        assert_eq!(c.slot("b").unwrap().offset, 0x41_0000);
        assert_eq!(c.slots, layout.slots());
        assert_eq!(c.public_keys, ["keys/release.pub.pem"]);
    }

    #[test]
    fn device_and_keys_are_optional() {
        let text = GOLDEN
            .replace("device = \"/dev/mtd0\"\n", "")
            .replace("\n[keys]\npublic = [\"keys/release.pub.pem\"]\n", "");
        let c = AgentConfig::parse(&text).unwrap();
        assert_eq!(c.device, None);
        assert!(c.public_keys.is_empty());
        assert_eq!(AgentConfig::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn flash_base_is_optional_and_read_back() {
        let c = AgentConfig::parse(GOLDEN).unwrap();
        assert_eq!(c.flash_base, Some(0x2100_0000));
        assert_eq!(AgentConfig::parse(&c.to_toml()).unwrap(), c);
        let old = AgentConfig::parse(&GOLDEN.replace("flash_base = 0x2100_0000\n", "")).unwrap();
        assert_eq!(old.flash_base, None, "a config written before flash_base still reads");
    }

    #[test]
    fn deserialize_validates_too() {
        let ok: AgentConfig = toml::from_str(GOLDEN).unwrap();
        assert_eq!(ok, AgentConfig::parse(GOLDEN).unwrap());
        let bad = GOLDEN.replace("write_size = 8", "write_size = 3");
        assert!(toml::from_str::<AgentConfig>(&bad).is_err());
    }

    #[test]
    fn rejects_unknown_fields_and_bad_geometry() {
        let e = AgentConfig::parse(&GOLDEN.replace("program_once = true", "program_once = true\nflash_size = 0"))
            .unwrap_err();
        assert!(matches!(e, LayoutError::Parse { .. }), "{e:?}");
        assert!(e.to_string().starts_with("agent config"), "{e}");
        for (from, to) in [
            ("erase_size = 0x1000", "erase_size = 0x1001"),
            ("write_size = 8", "write_size = 5"),
            ("size = 0x2000", "size = 0x1000"),
            ("offset = 0x41_0000", "offset = 0x41_0800"),
            ("offset = 0x41_0000", "offset = 0x20_0000"),
            ("name = \"b\"", "name = \"a\""),
            ("header_size = 0x400\n\n[keys]", "header_size = 0x40_0000\n\n[keys]"),
            ("device = \"/dev/mtd0\"", "device = \"\""),
            ("public = [\"keys/release.pub.pem\"]", "public = []"),
        ] {
            assert!(GOLDEN.contains(from), "{from}");
            let r = AgentConfig::parse(&GOLDEN.replacen(from, to, 1));
            assert!(r.is_err(), "{from} -> {to} accepted");
            assert!(!matches!(r, Err(LayoutError::Parse { .. })), "{from} -> {to}: {r:?}");
        }
        let one_slot = GOLDEN.split("\n[[slot]]\nname = \"b\"").next().unwrap();
        assert!(matches!(AgentConfig::parse(one_slot), Err(LayoutError::SlotCount { count: 1 })));
    }

    #[test]
    fn mender_part_is_optional_per_slot_unique_and_read_back() {
        let c = AgentConfig::parse(GOLDEN).unwrap();
        assert_eq!(c.mender_parts, [None, None], "a generated config names no Mender partitions");
        let text = GOLDEN.replacen("header_size = 0x400\n", "header_size = 0x400\nmender_part = 2\n", 1).replacen(
            "header_size = 0x400\n\n[keys]",
            "header_size = 0x400\nmender_part = 3\n\n[keys]",
            1,
        );
        let c = AgentConfig::parse(&text).unwrap();
        assert_eq!(c.mender_parts, [Some(2), Some(3)]);
        assert_eq!(c.slots, qemu().slots(), "the layout slots are unchanged");
        assert_eq!(AgentConfig::parse(&c.to_toml()).unwrap(), c);
        let only_b =
            GOLDEN.replacen("header_size = 0x400\n\n[keys]", "header_size = 0x400\nmender_part = 0\n\n[keys]", 1);
        assert_eq!(AgentConfig::parse(&only_b).unwrap().mender_parts, [None, Some(0)]);
        let twice = text.replace("mender_part = 3", "mender_part = 2");
        let e = AgentConfig::parse(&twice).unwrap_err();
        assert!(
            matches!(&e, LayoutError::DuplicateMenderPart { part: 2, first, second } if first == "a" && second == "b"),
            "{e:?}"
        );
        let e = AgentConfig::parse(&text.replace("mender_part = 3", "mender_part = -1")).unwrap_err();
        assert!(matches!(e, LayoutError::Parse { .. }), "{e:?}");
    }

    #[test]
    fn bootnames_default_to_the_names_and_are_read_back() {
        let c = AgentConfig::parse(GOLDEN).unwrap();
        assert_eq!(c.bootnames, ["a", "b"]);
        let text = GOLDEN
            .replacen("header_size = 0x400\n", "header_size = 0x400\nbootname = \"system0\"\n", 1)
            .replacen("header_size = 0x400\n\n[keys]", "header_size = 0x400\nbootname = \"system1\"\n\n[keys]", 1);
        let c = AgentConfig::parse(&text).unwrap();
        assert_eq!(c.bootnames, ["system0", "system1"]);
        assert_eq!(AgentConfig::parse(&c.to_toml()).unwrap(), c);
        assert!(c.to_toml().contains("bootname = \"system1\""));
        // RAUC's A/B: the same letters as the names, in upper case, are no clash.
        let ab = GOLDEN.replacen("header_size = 0x400\n", "header_size = 0x400\nbootname = \"A\"\n", 1).replacen(
            "header_size = 0x400\n\n[keys]",
            "header_size = 0x400\nbootname = \"B\"\n\n[keys]",
            1,
        );
        assert_eq!(AgentConfig::parse(&ab).unwrap().bootnames, ["A", "B"]);
    }

    #[test]
    fn bad_bootnames_are_refused() {
        for (bootname, rule) in [
            ("", "1 to 32"),
            ("x".repeat(33).as_str(), "1 to 32"),
            ("sys 0", "letters"),
            ("a=b", "letters"),
            ("B", "another slot"),
        ] {
            let text =
                GOLDEN.replacen("header_size = 0x400\n", &format!("header_size = 0x400\nbootname = {bootname:?}\n"), 1);
            let e = AgentConfig::parse(&text).unwrap_err();
            assert!(matches!(e, LayoutError::Bootname { index: 0, .. }), "{bootname:?}: {e:?}");
            assert!(e.to_string().contains(rule), "{bootname:?}: {e}");
        }
        let text = GOLDEN.replacen("header_size = 0x400\n", "header_size = 0x400\nboot_name = \"x\"\n", 1);
        assert!(matches!(AgentConfig::parse(&text), Err(LayoutError::Parse { .. })));
    }

    #[test]
    fn device_size_check() {
        let c = AgentConfig::parse(GOLDEN).unwrap();
        assert!(c.check_device_size(0x100_0000).is_ok());
        assert!(c.check_device_size(0x81_0000).is_ok());
        let e = c.check_device_size(0x80_0000).unwrap_err();
        assert!(matches!(&e, LayoutError::OutsideFlash { field, .. } if field == "slot[1] \"b\""), "{e:?}");
    }
}
