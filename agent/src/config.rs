//! The agent's settings: the config file (`/etc/safeslot.toml`, read with
//! `safeslot_layout::AgentConfig`) with command-line overrides applied.

use std::path::{Path, PathBuf};
use std::time::Duration;

use safeslot_layout::AgentConfig;
use safeslot_shared::journal::JournalConfig;
use safeslot_shared::verify::SlotRegion;
use safeslot_shared::{Record, SlotId};

use crate::cli::GlobalOpts;
use crate::error::Error;
use crate::storage::{BackendKind, Geometry};

/// Where the config is read from unless `--config` (or `SAFESLOT_CONFIG`) says otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/safeslot.toml";

/// The Mender partition numbers of slots a and b when no `[[slot]]` sets `mender_part`:
/// meta-mender's default layout (boot partition 1, rootfs A 2, rootfs B 3;
/// `MENDER_ROOTFS_PART_{A,B}_NUMBER_DEFAULT` in meta-mender's `mender-setup.bbclass`).
pub const MENDER_DEFAULT_PARTS: [u32; 2] = [2, 3];

/// One slot as the agent knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotConfig {
    /// The slot's name (`a`, `b`, ...).
    pub name: String,
    /// Its RAUC bootname (`[[slot]] bootname`, default: the name): what `get-primary` and
    /// `get-current` print, and what RAUC passes to `set-primary`, `get-state` and
    /// `set-state`.
    pub bootname: String,
    /// Offset in the device.
    pub offset: u32,
    /// Size.
    pub size: u32,
    /// Header area size.
    pub header_size: u32,
    /// The load address the boot stage requires of this slot's image (`flash_base +
    /// offset + header_size`), when the config gives `flash_base`.
    pub load_addr: Option<u64>,
    /// The partition number Mender's `mender_boot_part` names for this slot: the config's
    /// `mender_part`, or [`MENDER_DEFAULT_PARTS`] for a and b when no slot sets one.
    pub mender_part: Option<u32>,
}

/// Everything a command needs to know, resolved.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The device or file holding the record.
    pub device: PathBuf,
    /// Which backend opens it.
    pub backend: BackendKind,
    /// The record region and its geometry.
    pub record: JournalConfig,
    /// A written word may not be programmed again before an erase.
    pub program_once: bool,
    /// The slots, in index order (slot A first). Empty when no config was read.
    pub slots: Vec<SlotConfig>,
    /// Trusted public keys (PEM or 32 raw bytes).
    pub keys: Vec<PathBuf>,
    /// `[image]`: the board's compatible identifier and downgrade rule (what the stage
    /// applies; `verify` applies it too).
    pub image: safeslot_layout::ImageRules,
    /// A lock file taken before the device's own lock (`--lock`); see [`crate::lock`].
    pub lock: Option<PathBuf>,
    /// How long to wait for the lock.
    pub lock_timeout: Duration,
    /// The kernel command line to cross-check the booted slot against.
    pub cmdline: PathBuf,
    /// The hand-off block of this boot (device tree), if the stage left one.
    pub handoff: PathBuf,
}

impl Settings {
    /// Reads the config (if any) and applies the overrides in `opts`.
    pub fn load(opts: &GlobalOpts) -> Result<Settings, Error> {
        let explicit = opts.config.is_some();
        let path = opts.config.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        let overrides_complete = opts.device.is_some()
            && opts.offset.is_some()
            && opts.size.is_some()
            && opts.erase_size.is_some()
            && opts.write_size.is_some();
        let cfg = match std::fs::read_to_string(&path) {
            Ok(text) => Some(AgentConfig::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?),
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound && overrides_complete => None,
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read {}: {e} (pass --config FILE, or --device, --offset, --size, --erase-size \
                     and --write-size)",
                    path.display()
                )))
            }
        };
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_parts(cfg.as_ref(), &base, opts)
    }

    fn from_parts(cfg: Option<&AgentConfig>, base: &Path, opts: &GlobalOpts) -> Result<Settings, Error> {
        let missing = |what: &str| Error::Config(format!("no {what}: set it in the config or pass --{what}"));
        // `--device` is relative to the working directory like any command-line path; the
        // config's `device`, like its key paths, to the config file's directory.
        let device = opts
            .device
            .clone()
            .or_else(|| cfg.and_then(|c| c.device.as_deref()).map(|d| base.join(d)))
            .ok_or_else(|| missing("device"))?;
        let offset = opts.offset.or(cfg.map(|c| c.record.offset)).ok_or_else(|| missing("offset"))?;
        let size = opts.size.or(cfg.map(|c| c.record.size)).ok_or_else(|| missing("size"))?;
        let erase_size = opts.erase_size.or(cfg.map(|c| c.erase_size)).ok_or_else(|| missing("erase-size"))?;
        let write_size = opts.write_size.or(cfg.map(|c| c.write_size)).ok_or_else(|| missing("write-size"))?;
        let program_once = opts.program_once.or(cfg.map(|c| c.program_once)).unwrap_or(true);
        let slots = cfg
            .map(|c| {
                let explicit = c.mender_parts.iter().any(Option::is_some);
                c.slots
                    .iter()
                    .enumerate()
                    .zip(&c.bootnames)
                    .map(|((i, s), bootname)| SlotConfig {
                        name: s.name.clone(),
                        bootname: bootname.clone(),
                        offset: s.offset,
                        size: s.size,
                        header_size: s.header_size,
                        load_addr: c
                            .flash_base
                            .and_then(|b| b.checked_add(u64::from(s.offset))?.checked_add(u64::from(s.header_size))),
                        mender_part: if explicit {
                            c.mender_parts.get(i).copied().flatten()
                        } else {
                            MENDER_DEFAULT_PARTS.get(i).copied()
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        let keys = cfg.map(|c| c.public_keys.iter().map(|k| base.join(k)).collect()).unwrap_or_default();
        let backend = opts.backend.unwrap_or_else(|| BackendKind::for_path(&device));
        Ok(Settings {
            device,
            backend,
            record: JournalConfig { offset, size, write_size, erase_size },
            program_once,
            slots,
            keys,
            image: cfg.map(|c| c.image.clone()).unwrap_or_default(),
            lock: opts.lock.clone(),
            lock_timeout: opts.lock_timeout,
            cmdline: opts.cmdline.clone(),
            handoff: opts.handoff.clone(),
        })
    }

    /// The geometry the file backend enforces.
    pub fn geometry(&self) -> Geometry {
        Geometry {
            write_size: self.record.write_size,
            erase_size: self.record.erase_size,
            program_once: self.program_once,
        }
    }

    /// The name of `slot`: the config's name, or its lowercase letter.
    pub fn slot_name(&self, slot: SlotId) -> String {
        self.slots.get(slot.index()).map_or_else(|| slot.letter().to_string(), |s| s.name.clone())
    }

    /// The RAUC bootname of `slot`: the config's `bootname` (default: the slot's name), or
    /// its lowercase letter without a config.
    pub fn bootname(&self, slot: SlotId) -> String {
        self.slots.get(slot.index()).map_or_else(|| slot.letter().to_string(), |s| s.bootname.clone())
    }

    /// The slot called `name` in `record`: a config name or bootname (exact, then ignoring
    /// case, as RAUC bootnames are often upper case; the config guarantees that no two
    /// slots' names or bootnames are equal ignoring case) or a letter `a`..`d`.
    pub fn slot_by_name(&self, name: &str, record: &Record) -> Result<SlotId, Error> {
        let by_config = self.slots.iter().position(|s| s.name == name || s.bootname == name).or_else(|| {
            self.slots.iter().position(|s| s.name.eq_ignore_ascii_case(name) || s.bootname.eq_ignore_ascii_case(name))
        });
        let by_letter = || {
            let mut chars = name.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => SlotId::from_letter(c).map(SlotId::index),
                _ => None,
            }
        };
        let index = by_config.or_else(by_letter);
        match index.and_then(|i| u8::try_from(i).ok()).and_then(SlotId::from_index) {
            Some(id) if record.has_slot(id) => Ok(id),
            _ => Err(Error::Usage(format!(
                "no slot named {name:?}; slots are: {}",
                record
                    .slot_ids()
                    .map(|s| match (self.slot_name(s), self.bootname(s)) {
                        (n, b) if n == b => n,
                        (n, b) => format!("{n} (bootname {b})"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The slot with index `n` in `record` (Android-style numbering, 0 = A).
    pub fn slot_by_index(&self, n: u8, record: &Record) -> Result<SlotId, Error> {
        match SlotId::from_index(n) {
            Some(id) if record.has_slot(id) => Ok(id),
            _ => Err(Error::Usage(format!("no slot {n}: valid slots are 0..{}", record.slot_count()))),
        }
    }

    /// The partition number Mender's `mender_boot_part` names for `slot` (see
    /// [`SlotConfig::mender_part`]; without a config, [`MENDER_DEFAULT_PARTS`]).
    pub fn mender_part(&self, slot: SlotId) -> Option<u32> {
        match self.slots.get(slot.index()) {
            Some(c) => c.mender_part,
            None if self.slots.is_empty() => MENDER_DEFAULT_PARTS.get(slot.index()).copied(),
            None => None,
        }
    }

    /// The config of `slot`, for verification.
    pub fn slot_config(&self, slot: SlotId) -> Option<&SlotConfig> {
        self.slots.get(slot.index())
    }

    /// The region the boot stage verifies for the configured slot `c`: its place, header
    /// area and required load address, exactly as the stage's generated configuration
    /// has them.
    pub fn region(c: &SlotConfig) -> SlotRegion {
        SlotRegion { offset: c.offset, size: c.size, header_size: c.header_size, load_addr: c.load_addr }
    }
}

/// Parses a number written in decimal or `0x` hex (underscores allowed).
pub fn parse_u32(s: &str) -> Result<u32, String> {
    let t = s.replace('_', "");
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => t.parse(),
    };
    r.map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_u32("0x1_000"), Ok(4096));
        assert_eq!(parse_u32("4096"), Ok(4096));
        assert!(parse_u32("x").is_err());
    }
}
