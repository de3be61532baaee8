//! A test rig: a flash file, a config and the `safeslotctl` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use safeslot_shared::journal::{Journal, JournalConfig};
use safeslot_shared::policy::{decide, Decision, ImageInfo, Inputs, Verdict};
use safeslotctl::storage::{FileFlash, Geometry};

pub const RECORD_SIZE: u32 = 0x2000;
pub const ERASE: u32 = 0x1000;
pub const SLOT_A: u32 = 0x10000;
pub const SLOT_B: u32 = 0x20000;
pub const SLOT_SIZE: u32 = 0x10000;
pub const FLASH_SIZE: usize = 0x30000;

/// A temporary directory holding a device image, an agent config and keys, and the
/// safeslotctl runs against it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub write_size: u32,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.stdout))
    }
}

impl Sandbox {
    pub fn new(write_size: u32) -> Sandbox {
        Sandbox::with_keys(write_size, &[])
    }

    pub fn with_keys(write_size: u32, keys: &[&str]) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("flash.bin"), vec![0xFF; FLASH_SIZE]).unwrap();
        let keys = if keys.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
            format!("\n[keys]\npublic = [{}]\n", list.join(", "))
        };
        let cfg = format!(
            "[record]\ndevice = {:?}\noffset = 0x0\nsize = {RECORD_SIZE:#x}\nerase_size = {ERASE:#x}\n\
             write_size = {write_size}\nprogram_once = true\n\n\
             [[slot]]\nname = \"a\"\noffset = {SLOT_A:#x}\nsize = {SLOT_SIZE:#x}\nheader_size = 0x400\n\n\
             [[slot]]\nname = \"b\"\noffset = {SLOT_B:#x}\nsize = {SLOT_SIZE:#x}\nheader_size = 0x400\n{keys}",
            dir.path().join("flash.bin").display().to_string(),
        );
        std::fs::write(dir.path().join("safeslot.toml"), cfg).unwrap();
        std::fs::write(dir.path().join("cmdline"), "console=ttyS0 root=/dev/x\n").unwrap();
        Sandbox { dir, write_size }
    }

    pub fn flash_path(&self) -> PathBuf {
        self.dir.path().join("flash.bin")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Adds `flash_base` to the config, as configs generated from a layout have it (the
    /// CPU address of device offset 0: the load addresses the stage requires follow).
    pub fn set_flash_base(&self, base: u64) {
        let cfg = std::fs::read_to_string(self.path("safeslot.toml")).unwrap();
        let cfg = cfg.replacen("program_once = true\n", &format!("program_once = true\nflash_base = {base:#x}\n"), 1);
        std::fs::write(self.path("safeslot.toml"), cfg).unwrap();
    }

    pub fn set_cmdline(&self, text: &str) {
        std::fs::write(self.path("cmdline"), text).unwrap();
    }

    /// Leaves a hand-off block for the next commands, as the stage does in `/chosen`.
    pub fn set_handoff(&self, h: &safeslot_shared::handoff::Handoff) {
        std::fs::write(self.path("handoff"), h.encode()).unwrap();
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_safeslotctl"));
        c.arg("--config").arg(self.path("safeslot.toml"));
        c.arg("--cmdline").arg(self.path("cmdline"));
        // The host's own device tree is not this rig's: no hand-off block unless a test
        // writes one (`set_handoff`).
        c.arg("--handoff").arg(self.path("handoff"));
        c.args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        output(self.command(args).output().unwrap())
    }

    /// Runs and asserts the exit code.
    pub fn ok(&self, args: &[&str]) -> Run {
        self.expect(0, args)
    }

    pub fn expect(&self, code: i32, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, code, "safeslotctl {args:?}: stdout {:?} stderr {:?}", r.stdout, r.stderr);
        r
    }

    pub fn flash_bytes(&self) -> Vec<u8> {
        std::fs::read(self.flash_path()).unwrap()
    }

    pub fn journal(&self) -> Journal<FileFlash> {
        let g = Geometry { write_size: self.write_size, erase_size: ERASE, program_once: true };
        let f = FileFlash::open(&self.flash_path(), g).unwrap();
        let cfg = JournalConfig { offset: 0, size: RECORD_SIZE, write_size: self.write_size, erase_size: ERASE };
        Journal::open(f, cfg).unwrap()
    }

    /// A reboot: the boot stage's policy decides on the record (every image verifies)
    /// and its plan's record is appended through the journal, as the boot stage does.
    pub fn reboot(&self) -> safeslot_shared::SlotId {
        self.reboot_with(Inputs::default())
    }

    /// [`Sandbox::reboot`] with the given policy inputs (reset cause, free-retry bound). Like
    /// the boot stage, it moves the record to the newest format when it writes.
    pub fn reboot_with(&self, inputs: Inputs) -> safeslot_shared::SlotId {
        self.reboot_failing(inputs, &[])
    }

    /// [`Sandbox::reboot_with`] where the images of the slots in `bad` fail verification
    /// (`bad-hash`).
    pub fn reboot_failing(&self, inputs: Inputs, bad: &[safeslot_shared::SlotId]) -> safeslot_shared::SlotId {
        let mut j = self.journal();
        let seq = j.seq();
        let mut rec = j.record().unwrap().clone();
        rec.upgrade();
        let verdict = |id| {
            if bad.contains(&id) {
                Verdict::Invalid(safeslot_shared::Reason::BadHash)
            } else {
                Verdict::Valid(ImageInfo::default())
            }
        };
        match decide(&rec, inputs, verdict) {
            Decision::Boot(plan) => {
                if plan.changed {
                    j.append_expecting(seq, &plan.record).unwrap();
                }
                plan.slot
            }
            Decision::Recovery(n) => panic!("nothing bootable: {n:?}"),
        }
    }
}

pub fn output(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
    }
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// Whether this process runs as root (uid 0), where permission bits do not stop it.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

/// The command prefix that runs a program as an unprivileged user: nothing when this
/// process is not root, else `setpriv` (or `runuser`) to `nobody` (uid 65534), checked by
/// running `true` through it. `Err` says why neither works.
pub fn unprivileged_prefix() -> Result<Vec<String>, String> {
    if !is_root() {
        return Ok(Vec::new());
    }
    let candidates: [&[&str]; 2] =
        [&["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], &["runuser", "-u", "nobody", "--"]];
    let mut why = Vec::new();
    for c in candidates {
        match Command::new(c[0]).args(&c[1..]).arg("true").output() {
            Ok(o) if o.status.success() => return Ok(c.iter().map(|s| s.to_string()).collect()),
            Ok(o) => why.push(format!("{} failed: {}", c[0], String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => why.push(format!("{}: {e}", c[0])),
        }
    }
    Err(format!("running as root and cannot drop privileges ({})", why.join("; ")))
}

impl Sandbox {
    /// [`Sandbox::command`] run through `prefix` (see [`unprivileged_prefix`]) with the binary
    /// at `bin`.
    pub fn command_via(&self, prefix: &[String], bin: &Path, args: &[&str]) -> Command {
        let mut c = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        c.arg("--config").arg(self.path("safeslot.toml"));
        c.arg("--cmdline").arg(self.path("cmdline"));
        // The host's own device tree is not this rig's: no hand-off block unless a test
        // writes one (`set_handoff`).
        c.arg("--handoff").arg(self.path("handoff"));
        c.args(args);
        c
    }

    /// The names of the files in the rig's directory, sorted.
    pub fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}
