//! End-to-end bring-up of the QEMU rig: the `bringup-boot` stage of
//! `boards/qemu-mps2-an386` exercises its flash driver in the record region,
//! then hands off to `bringup-app-a` placed in slot a of a composed flash file.
//!
//! Builds nothing: set `SAFESLOT_BRINGUP_ELF_DIR` to the directory holding the
//! two ELFs (e.g. `$CARGO_TARGET_DIR/thumbv7em-none-eabihf/release`).
//! Without it every test here says why and passes. Needs `qemu-system-arm`
//! and `llvm-objcopy` (override with `LLVM_OBJCOPY`); decodes the defmt logs
//! when `defmt-print` is installed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use safeslot_hil::qemu::{
    compose_flash, decode_defmt, defmt_print_available, qemu_available, Exit, QemuOutcome, QemuRun, FLASH_SIZE,
};

/// These mirror `boards/qemu-mps2-an386/layout.toml` and `src/bin/bringup-boot.rs`.
const SLOT_A_OFFSET: usize = 0x1_0000;
const SLOT_A_HEADER: usize = 0x400;
const SECTOR: usize = 0x1000;
const MAGIC0: &[u8; 8] = b"SAFESLOT";
const MAGIC1: &[u8; 8] = &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77];
/// Non-erased filler for the two record sectors, so erases are visible.
const FILL: u8 = 0xA5;

const ENV: &str = "SAFESLOT_BRINGUP_ELF_DIR";

struct Rig {
    boot: PathBuf,
    app: PathBuf,
    app_bin: Vec<u8>,
    dir: PathBuf,
}

/// The rig, or `None` (after saying why) when `SAFESLOT_BRINGUP_ELF_DIR` is unset.
fn rig(test: &str) -> Option<Rig> {
    let Some(elf_dir) = std::env::var_os(ENV).map(PathBuf::from) else {
        eprintln!("skipped: {ENV} is not set (point it at the dir holding bringup-boot and bringup-app-a)");
        return None;
    };
    if let Err(why) = qemu_available() {
        panic!("{ENV} is set but QEMU is not usable: {why}");
    }
    let boot = elf_dir.join("bringup-boot");
    let app = elf_dir.join("bringup-app-a");
    let dir = std::env::temp_dir().join(format!("safeslot-bringup-{test}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let app_bin_path = dir.join("app-a.bin");
    let objcopy = std::env::var_os("LLVM_OBJCOPY").unwrap_or_else(|| "llvm-objcopy".into());
    let status = Command::new(&objcopy)
        .args(["-O", "binary"])
        .arg(&app)
        .arg(&app_bin_path)
        .status()
        .unwrap_or_else(|e| panic!("{objcopy:?}: {e} (install the Debian package `llvm` or set LLVM_OBJCOPY)"));
    assert!(status.success(), "objcopy of {} failed", app.display());
    let app_bin = fs::read(&app_bin_path).unwrap();
    Some(Rig { boot, app, app_bin, dir })
}

impl Rig {
    /// A fresh flash file: record sectors 0 and 1 filled with [`FILL`], app in slot a.
    fn compose(&self) -> PathBuf {
        let path = self.dir.join("flash.img");
        let fill = vec![FILL; 2 * SECTOR];
        compose_flash(&path, FLASH_SIZE, &[(0, &fill), (SLOT_A_OFFSET + SLOT_A_HEADER, &self.app_bin)]).unwrap();
        path
    }

    fn run(&self, flash: &Path, append: &str) -> QemuOutcome {
        let mut run = QemuRun::new(&self.boot, flash);
        run.append = append.to_owned();
        run.timeout = Duration::from_secs(60);
        let outcome = run.run().unwrap();
        assert!(!outcome.timed_out, "QEMU timed out; stderr: {}", outcome.stderr);
        outcome
    }

    /// Decoded boot and app logs, when defmt-print is installed.
    fn logs(&self, outcome: &QemuOutcome) -> Option<(String, String)> {
        if let Err(why) = defmt_print_available() {
            eprintln!("not decoding defmt: {why}");
            return None;
        }
        let segments = outcome.log_segments();
        let boot = decode_defmt(&self.boot, segments[0]).unwrap();
        let app = segments.get(1).map(|s| decode_defmt(&self.app, s).unwrap()).unwrap_or_default();
        Some((boot, app))
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn record(flash: &Path) -> Vec<u8> {
    fs::read(flash).unwrap()[..2 * SECTOR].to_vec()
}

/// The record region after the first `stores` of the five bring-up stores,
/// with the `torn` leading bytes of the next one landed.
fn expected_record(stores: usize, torn: usize) -> Vec<u8> {
    let mut r = vec![FILL; 2 * SECTOR];
    let ops: [(usize, &[u8]); 5] =
        [(0, &[0xFF; SECTOR]), (0, MAGIC0), (8, MAGIC1), (SECTOR, &[0xFF; SECTOR]), (SECTOR, MAGIC0)];
    for (i, (at, bytes)) in ops.iter().enumerate() {
        let n = if i < stores {
            bytes.len()
        } else if i == stores {
            torn.min(bytes.len())
        } else {
            0
        };
        r[*at..*at + n].copy_from_slice(&bytes[..n]);
    }
    r
}

#[test]
fn boot_stage_hands_off_to_slot_a() {
    let Some(rig) = rig("handoff") else { return };
    let flash = rig.compose();
    let outcome = rig.run(&flash, "");
    assert_eq!(outcome.exit(), Some(Exit::BringupApp), "stderr: {}", outcome.stderr);
    assert_eq!(record(&flash), expected_record(5, 0));
    if let Some((boot, app)) = rig.logs(&outcome) {
        assert!(boot.contains("stage up"), "boot log: {boot}");
        assert!(boot.contains("flash ok: 5 stores"), "boot log: {boot}");
        assert!(app.contains("app running from 0x21010400"), "app log: {app}");
    }
}

#[test]
fn cut_stops_before_the_store() {
    let Some(rig) = rig("cut") else { return };
    for (cut, torn) in [(1, 0), (2, 0), (3, 0), (3, 3), (4, 100), (5, 7)] {
        let flash = rig.compose();
        let outcome = rig.run(&flash, &format!("cut={cut} torn={torn}"));
        assert_eq!(outcome.exit(), Some(Exit::Cut), "cut={cut}; stderr: {}", outcome.stderr);
        assert_eq!(record(&flash), expected_record(cut - 1, torn), "cut={cut} torn={torn}");
        if let Some((boot, _)) = rig.logs(&outcome) {
            assert!(boot.contains(&format!("power cut at store {cut}")), "boot log: {boot}");
        }
    }
}

#[test]
fn relaunch_after_cut_reuses_the_flash_file() {
    let Some(rig) = rig("relaunch") else { return };
    let flash = rig.compose();
    let cut = rig.run(&flash, "cut=3");
    assert_eq!(cut.exit(), Some(Exit::Cut));
    assert_eq!(record(&flash), expected_record(2, 0));
    let again = rig.run(&flash, "");
    assert_eq!(again.exit(), Some(Exit::BringupApp), "stderr: {}", again.stderr);
    assert_eq!(record(&flash), expected_record(5, 0));
}

#[test]
fn bad_cut_value_is_refused() {
    let Some(rig) = rig("badcut") else { return };
    let flash = rig.compose();
    let outcome = rig.run(&flash, "cut=x");
    assert_eq!(outcome.exit(), Some(Exit::BadCmdline));
    assert_eq!(record(&flash), vec![FILL; 2 * SECTOR], "a refused plan must store nothing");
}
