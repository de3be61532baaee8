//! The virtual SoC rig: the real aarch64 stage in pflash0 of `qemu-system-aarch64 -M virt`,
//! the record and the Linux slots in pflash1, Debian's arm64 kernel and the agent in Linux.
//!
//! Each [`SocRig::power_on`] is one cold boot: a fresh QEMU over the same two flash files
//! (pflash1 is written by the stage and by `safeslotctl` over MTD in Linux, and keeps what
//! they wrote), run until the init script powers off or the timeout. The serial log and the
//! flash files are the evidence: [`SocBoot`] parses the stage's and init's lines, and
//! [`SocRig::record`] decodes the record from pflash1 through the shared journal code.
//!
//! The rig's only channel into the guest is QEMU's fw_cfg (`opt/safeslot/actions`), read by
//! the init script: the "operator" actions of a scenario (`set-active=b`, ...).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use safeslot_shared::protocol::log::{BootLine, LogError, StageLine};
use safeslot_shared::protocol::order::Order;
use safeslot_shared::Record;

use crate::qemu::{self, QemuError};
use crate::rig::{BoardLayout, RigError};

/// The QEMU binary of the SoC rig (Debian package `qemu-system-arm`).
pub const QEMU_AARCH64: &str = "qemu-system-aarch64";
/// Size of each pflash bank file on `-M virt`.
pub const BANK_SIZE: usize = 64 << 20;

/// One cold boot's evidence.
#[derive(Debug, Clone)]
pub struct SocBoot {
    /// The serial log (stage, kernel, init), lossily decoded.
    pub log: String,
    /// QEMU was killed at the timeout.
    pub timed_out: bool,
    /// Wall time of the boot.
    pub wall: Duration,
}

impl SocBoot {
    /// The stage's result lines in the serial log, parsed by the one parser
    /// ([`StageLine::parse`]); a line that starts like one but does not parse is an `Err`.
    pub fn stage_lines(&self) -> Vec<Result<StageLine<'_>, LogError>> {
        self.log.lines().filter_map(|l| StageLine::parse(l).transpose()).collect()
    }

    /// The stage's `safeslot: boot ...` line (the first that parses).
    pub fn stage_boot(&self) -> Option<BootLine> {
        self.stage_lines().into_iter().find_map(|l| match l {
            Ok(StageLine::Boot(b)) => Some(b),
            _ => None,
        })
    }

    /// One field of the stage's boot line, as it is written in the line (`slot` → `a`,
    /// `version` → `1.0.0`); `None` without a boot line or for an unknown key.
    pub fn stage(&self, key: &str) -> Option<String> {
        let b = self.stage_boot()?;
        Some(match key {
            "slot" => b.slot.letter().to_string(),
            "kind" => b.kind.name().to_owned(),
            "tries" => b.tries.to_string(),
            "fallback" => b.fallback.name().to_owned(),
            "version" => format!("{}.{}.{}", b.version.major, b.version.minor, b.version.revision),
            "seq" => b.seq.to_string(),
            _ => return None,
        })
    }

    /// The stage's own time from its start to the jump, in ms (its `safeslot: timing` line:
    /// slot copies, boot sequence with verification, kernel inflate and device-tree patch).
    pub fn stage_ms(&self) -> Option<u64> {
        let line = self.log.lines().find_map(|l| l.trim_end().strip_prefix("safeslot: timing "))?;
        line.split_whitespace().find_map(|kv| kv.strip_prefix("total=")?.strip_suffix("ms")?.parse().ok())
    }

    /// The reason of the stage's `safeslot: recovery reason=...` line (with its detail:
    /// `linux/bad-table`).
    pub fn recovery(&self) -> Option<String> {
        self.stage_lines().into_iter().find_map(|l| match l {
            Ok(StageLine::Recovery { reason, detail: None }) => Some(reason.to_owned()),
            Ok(StageLine::Recovery { reason, detail: Some(d) }) => Some(format!("{reason}/{d}")),
            _ => None,
        })
    }

    /// The init script's lines (without the `safeslot-init: ` prefix).
    pub fn init_lines(&self) -> Vec<&str> {
        self.log.lines().filter_map(|l| l.trim_end().strip_prefix("safeslot-init: ")).collect()
    }

    /// Whether init printed exactly this line.
    pub fn init_said(&self, line: &str) -> bool {
        self.init_lines().contains(&line)
    }

    /// The `n`th `safeslotctl status --json` init printed (0: before the health check and
    /// the actions, 1: after them).
    pub fn status(&self, n: usize) -> Option<serde_json::Value> {
        let json = self.init_lines().into_iter().filter_map(|l| l.strip_prefix("status ")).nth(n)?;
        serde_json::from_str(json).ok()
    }

    /// Whether Linux came up (init ran) and powered off by itself.
    pub fn linux_ran(&self) -> bool {
        self.init_said("powering off") && !self.timed_out
    }
}

/// The virtual SoC: its two flash files and what it needs to boot.
#[derive(Debug, Clone)]
pub struct SocRig {
    /// Board facts from the layout.
    pub board: BoardLayout,
    /// Slot names, by index.
    pub slot_names: Vec<String>,
    /// pflash0: the stage at offset 0, read-only to the guest.
    pub pflash0: PathBuf,
    /// pflash1: the record and the slots.
    pub pflash1: PathBuf,
    /// QEMU is killed after this long.
    pub timeout: Duration,
}

impl SocRig {
    /// A rig in `dir` with blank flash (all 0xFF) and the stage `stage_bin` in pflash0.
    ///
    /// # Errors
    /// The files cannot be written.
    pub fn new(layout: &safeslot_layout::Layout, stage_bin: &[u8], dir: &Path) -> Result<SocRig, RigError> {
        fs::create_dir_all(dir).map_err(|e| RigError::Io(dir.to_owned(), e))?;
        let pflash0 = dir.join("pflash0.img");
        let pflash1 = dir.join("pflash1.img");
        qemu::compose_flash(&pflash0, BANK_SIZE, &[(0, stage_bin)])?;
        qemu::compose_flash(&pflash1, BANK_SIZE, &[])?;
        Ok(SocRig {
            board: BoardLayout::from_layout(layout),
            slot_names: layout.slot_names().iter().map(|s| (*s).to_owned()).collect(),
            pflash0,
            pflash1,
            timeout: Duration::from_secs(120),
        })
    }

    /// pflash1's bytes.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn flash(&self) -> Result<Vec<u8>, RigError> {
        fs::read(&self.pflash1).map_err(|e| RigError::Io(self.pflash1.clone(), e))
    }

    /// Writes a slot image into slot `name` of pflash1 (the rest of the slot erased), as an
    /// update downloaded into the inactive slot leaves it.
    ///
    /// # Errors
    /// Unknown slot, an image larger than the slot, or file I/O.
    pub fn install(&self, name: &str, image: &[u8]) -> Result<(), RigError> {
        let i = self
            .slot_names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| RigError::Record(format!("no slot {name}")))?;
        let (off, size) = (self.board.slot_offsets[i] as usize, self.board.slot_sizes[i] as usize);
        if image.len() > size {
            return Err(RigError::Record(format!("image of {} bytes > slot {name} ({size})", image.len())));
        }
        let mut flash = self.flash()?;
        let slot = &mut flash[off..off + size];
        slot.fill(0xFF);
        slot[..image.len()].copy_from_slice(image);
        fs::write(&self.pflash1, flash).map_err(|e| RigError::Io(self.pflash1.clone(), e))
    }

    /// The QEMU command line of one boot.
    pub fn command(&self, qemu: &Path, actions: &[&str]) -> Command {
        self.command_with_order(qemu, actions, None)
    }

    /// The QEMU command line of one boot with a rig order for the stage (a power cut at a
    /// flash store), passed as fw_cfg file `opt/safeslot/order`, which the stage reads
    /// (`boards/qemu-virt-aarch64/src/fwcfg.rs`).
    pub fn command_with_order(&self, qemu: &Path, actions: &[&str], order: Option<&Order>) -> Command {
        let drive = |unit: u32, path: &Path, ro: bool| {
            format!(
                "if=pflash,format=raw,unit={unit},file={}{}",
                path.display().to_string().replace(',', ",,"),
                if ro { ",readonly=on" } else { "" }
            )
        };
        let mut cmd = Command::new(qemu);
        cmd.args(["-M", "virt", "-cpu", "cortex-a53", "-m", "512", "-nic", "none", "-no-reboot"])
            .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
            .arg("-drive")
            .arg(drive(0, &self.pflash0, true))
            .arg("-drive")
            .arg(drive(1, &self.pflash1, false));
        if let Some(o) = order {
            cmd.arg("-fw_cfg").arg(format!("name=opt/safeslot/order,string={}", o.to_string().replace(',', ",,")));
        }
        if !actions.is_empty() {
            cmd.arg("-fw_cfg")
                .arg(format!("name=opt/safeslot/actions,string={}", actions.join(" ").replace(',', ",,")));
        }
        cmd
    }

    /// One cold boot with the given operator actions (see the module docs).
    ///
    /// # Errors
    /// QEMU is missing or cannot be run.
    pub fn power_on(&self, actions: &[&str]) -> Result<SocBoot, RigError> {
        let qemu = qemu_aarch64().map_err(QemuError::Missing)?;
        let t0 = Instant::now();
        let out = qemu::run_bounded(self.command(&qemu, actions), self.timeout)?;
        let log = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        Ok(SocBoot { log, timed_out: out.timed_out, wall: t0.elapsed() })
    }

    /// A boot whose power is cut after `after` of wall time (QEMU killed): every flash
    /// write the stage or Linux made before is in pflash1, nothing after it.
    ///
    /// # Errors
    /// QEMU is missing or cannot be run.
    pub fn power_on_cut(&self, actions: &[&str], after: Duration) -> Result<SocBoot, RigError> {
        let qemu = qemu_aarch64().map_err(QemuError::Missing)?;
        let t0 = Instant::now();
        let out = qemu::run_bounded(self.command(&qemu, actions), after)?;
        let log = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        Ok(SocBoot { log, timed_out: out.timed_out, wall: t0.elapsed() })
    }

    /// The record in pflash1, decoded through the shared journal code.
    ///
    /// # Errors
    /// pflash1 cannot be read or its journal does not open.
    pub fn record(&self) -> Result<Option<Record>, RigError> {
        self.board.read_record(&self.flash()?)
    }
}

/// Finds `qemu-system-aarch64` (Debian's `qemu-system-arm` package ships it).
///
/// # Errors
/// A sentence naming the package to install.
pub fn qemu_aarch64() -> Result<PathBuf, String> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(QEMU_AARCH64))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{QEMU_AARCH64} not found: install the Debian package qemu-system-arm"))
}

/// The signed slot images the SoC story installs.
#[derive(Debug, Clone)]
pub struct SocImages {
    /// v1 for slot a (health check passes).
    pub a_v1: Vec<u8>,
    /// v2 for slot b (health check passes).
    pub b_v2: Vec<u8>,
    /// v2 for slot b whose health check fails: it never confirms.
    pub b_v2_unconfirmed: Vec<u8>,
    /// v2 for slot b with a kernel byte flipped after signing.
    pub b_v2_tampered: Vec<u8>,
}

/// One step of the story: what was done, and what the stage and Linux said.
fn step(
    rig: &SocRig,
    n: &mut usize,
    what: &str,
    actions: &[&str],
    expect: impl FnOnce(&SocBoot) -> Result<(), String>,
) -> Result<SocBoot, RigError> {
    *n += 1;
    let b = rig.power_on(actions)?;
    let fields = |k: &str| b.stage(k).unwrap_or_else(|| "-".into());
    let linux = match b.status(1) {
        Some(st) => format!(
            "Linux: booted {} last-known-good {} last-fallback {}",
            st["booted"].as_str().unwrap_or("?"),
            st["last_known_good"].as_str().unwrap_or("none"),
            st["last_fallback"].as_str().unwrap_or("?")
        ),
        None => "Linux did not report".into(),
    };
    println!(
        "{:>2}. {what:<52} stage: slot {} {} v{} (fallback {}); {linux} [{:.1} s, stage {} ms]",
        *n,
        fields("slot"),
        fields("kind"),
        fields("version"),
        fields("fallback"),
        b.wall.as_secs_f64(),
        b.stage_ms().map_or_else(|| "-".to_owned(), |m| m.to_string())
    );
    if let Err(why) = expect(&b).and_then(|()| if b.linux_ran() { Ok(()) } else { Err("Linux did not run".into()) }) {
        return Err(RigError::Record(format!("step {n} ({what}): {why}\n{}", b.log)));
    }
    Ok(b)
}

fn want(b: &SocBoot, slot: &str, kind: &str) -> Result<(), String> {
    match (b.stage("slot"), b.stage("kind")) {
        (Some(s), Some(k)) if s == slot && k == kind => Ok(()),
        other => Err(format!("expected slot {slot} {kind}, the stage said {other:?}")),
    }
}

/// The story `cargo xtask demo --board qemu-virt-aarch64` tells, each step asserted: a fresh
/// device boots A and Linux confirms it; a tampered B is activated from Linux and rejected
/// by the stage; a B that never confirms runs its tries and the device is back on A with
/// the reason in `safeslotctl status`; a good B is activated with RAUC's `set-primary`,
/// confirms itself and stays. Returns the number of boots.
///
/// # Errors
/// A step did not behave as told, or the rig failed.
pub fn story(rig: &SocRig, img: &SocImages) -> Result<usize, RigError> {
    let mut n = 0;
    rig.install("a", &img.a_v1)?;
    step(rig, &mut n, "factory-fresh flash, A v1 in slot a", &[], |b| {
        want(b, "a", "trial")?;
        b.init_said("health ok, marked good").then_some(()).ok_or("A did not confirm".into())
    })?;
    rig.install("b", &img.b_v2_tampered)?;
    step(rig, &mut n, "tampered B v2 downloaded; Linux: set-active b", &["set-active=b"], |b| {
        want(b, "a", "confirmed")
    })?;
    step(rig, &mut n, "power cycle", &[], |b| {
        want(b, "a", "confirmed")?;
        (b.stage("fallback").as_deref() == Some("bad-hash")).then_some(()).ok_or("no bad-hash fallback".into())
    })?;
    rig.install("b", &img.b_v2_unconfirmed)?;
    step(rig, &mut n, "B v2 (fails its health check); Linux: set-active b", &["set-active=b"], |b| {
        want(b, "a", "confirmed")
    })?;
    let mut trials = 0;
    // Bounded: the record's tries (at most 7) plus the fallback boot.
    for _ in 0..8 {
        let b = step(rig, &mut n, "power cycle", &[], |_| Ok(()))?;
        if b.stage("slot").as_deref() == Some("b") {
            want(&b, "b", "trial").map_err(RigError::Record)?;
            trials += 1;
            continue;
        }
        want(&b, "a", "confirmed").map_err(RigError::Record)?;
        if b.stage("fallback").as_deref() != Some("tries-exhausted") || trials == 0 {
            return Err(RigError::Record(format!("expected a tries-exhausted fallback after {trials} trials")));
        }
        break;
    }
    rig.install("b", &img.b_v2)?;
    step(rig, &mut n, "good B v2 downloaded; Linux: set-primary B (RAUC)", &["set-primary=B"], |b| {
        want(b, "a", "confirmed")
    })?;
    step(rig, &mut n, "power cycle: B on trial, health ok, mark-good", &[], |b| {
        want(b, "b", "trial")?;
        b.init_said("health ok, marked good").then_some(()).ok_or("B did not confirm".into())
    })?;
    step(rig, &mut n, "power cycle: B stays", &[], |b| want(b, "b", "confirmed"))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(log: &str) -> SocBoot {
        SocBoot { log: log.into(), timed_out: false, wall: Duration::ZERO }
    }

    #[test]
    fn the_stage_lines_are_read_with_the_shared_parser() {
        let b = boot(
            "safeslot: stage 0.1.0 on qemu-virt-aarch64\r\n\
             safeslot: boot slot=b kind=trial tries=2 fallback=none version=2.0.0 seq=7\r\n\
             safeslot: timing copy=1ms boot=2ms place=3ms total=6ms\r\n",
        );
        let line = b.stage_boot().unwrap();
        assert_eq!((line.slot, line.tries, line.seq), (safeslot_shared::SlotId::B, 2, 7));
        assert_eq!(b.stage("slot").as_deref(), Some("b"));
        assert_eq!(b.stage("version").as_deref(), Some("2.0.0"));
        assert_eq!(b.stage("fallback").as_deref(), Some("none"));
        assert_eq!(b.stage("nope"), None);
        assert_eq!(b.stage_ms(), Some(6));
        assert_eq!(b.recovery(), None);
        let r = boot("safeslot: recovery reason=linux detail=bad-table\n");
        assert_eq!(r.recovery().as_deref(), Some("linux/bad-table"));
        assert_eq!(r.stage_boot(), None);
        // A line that starts like a boot line but does not parse is no boot line.
        let broken = boot("safeslot: boot slot=b kind=trial\n");
        assert_eq!(broken.stage_boot(), None);
        assert_eq!(broken.stage_lines(), vec![Err(LogError::Field)]);
    }
}
