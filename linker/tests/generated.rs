//! The generated files for the real QEMU board: the consts golden file (which
//! is also compiled here, so the generated Rust is known to build), the
//! build-script helper and the staleness check.
//!
//! Regenerate the golden file with `SAFESLOT_BLESS=1 cargo test -p safeslot-layout`.

use std::path::{Path, PathBuf};

use safeslot_layout::{build_script_emit, check_memory_x, Layout, LayoutError};

/// The generated consts for the QEMU board, compiled.
#[allow(dead_code)]
mod qemu_consts {
    include!("golden/qemu-mps2-an386.layout.rs");
}

fn layout_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/qemu-mps2-an386/layout.toml")
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/qemu-mps2-an386.layout.rs")
}

/// The boot configuration golden (compiled and checked against the layout by
/// safeslot-boot's `tests/config.rs`, which has the types it names).
fn config_golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/qemu-mps2-an386.config.rs")
}

/// The key the config golden embeds (any 32 bytes: the golden is about the layout).
const GOLDEN_KEY: [u8; 32] = [0xA5; 32];

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn real_board_layout_loads() {
    let l = Layout::load(&layout_path()).unwrap();
    assert_eq!(l.board().name, "qemu-mps2-an386");
    assert_eq!(l.board().target, "thumbv7em-none-eabihf");
    assert_eq!(l.board().chip.as_deref(), Some("mps2-an386"));
    assert_eq!((l.bootloader_flash().base, l.bootloader_flash().size), (0, 0x1_0000));
    assert_eq!((l.bootloader_ram().base, l.bootloader_ram().size), (0x2000_0000, 0x1_0000));
    assert_eq!((l.app_ram().base, l.app_ram().size), (0x2001_0000, 0x3_0000));
    assert_eq!((l.handoff().base, l.handoff().size), (0x203F_FF00, 0x40));
    let f = l.flash();
    assert_eq!((f.base, f.size, f.erase_size, f.write_size), (0x2100_0000, 0x100_0000, 0x1000, 8));
    assert!(f.program_once);
    assert_eq!(f.device.as_deref(), Some("/dev/mtd0"));
    assert_eq!((l.record().offset, l.record().size), (0, 0x2000));
    assert_eq!(l.slot_names(), ["a", "b"]);
    let b = l.slot("b").unwrap();
    assert_eq!((b.offset, b.size, b.header_size), (0x41_0000, 0x40_0000, 0x400));
    assert_eq!(l.public_key_entries(), ["keys/release.pub.pem"]);
    assert!(l.public_keys()[0].ends_with("qemu-mps2-an386/keys/release.pub.pem"));
}

#[test]
fn consts_golden_is_current() {
    let l = Layout::load(&layout_path()).unwrap();
    let expected = l.rust_consts();
    if std::env::var_os("SAFESLOT_BLESS").is_some() {
        std::fs::write(golden_path(), &expected).unwrap();
    }
    if let Err(e) = check_memory_x(&golden_path(), &expected) {
        panic!("{e}\n(run with SAFESLOT_BLESS=1 to accept)");
    }
}

#[test]
fn config_golden_is_current() {
    let l = Layout::load(&layout_path()).unwrap();
    let expected = l.boot_config_rs(&[GOLDEN_KEY]);
    if std::env::var_os("SAFESLOT_BLESS").is_some() {
        std::fs::write(config_golden_path(), &expected).unwrap();
    }
    if let Err(e) = check_memory_x(&config_golden_path(), &expected) {
        panic!("{e}\n(run with SAFESLOT_BLESS=1 to accept)");
    }
}

#[test]
fn compiled_consts_match_the_layout() {
    use qemu_consts as c;
    let l = Layout::load(&layout_path()).unwrap();
    assert_eq!(c::BOARD_NAME, l.board().name);
    assert_eq!(c::TARGET, l.board().target);
    assert_eq!(c::FLASH_BASE, l.flash().base);
    assert_eq!(c::FLASH_SIZE, l.flash().size);
    assert_eq!(c::ERASE_SIZE, l.flash().erase_size);
    assert_eq!(c::WRITE_SIZE, l.flash().write_size);
    assert_eq!(c::PROGRAM_ONCE, l.flash().program_once);
    assert_eq!(c::RECORD_OFFSET, l.record().offset);
    assert_eq!(c::RECORD_SIZE, l.record().size);
    assert_eq!(c::SLOT_COUNT, l.slots().len());
    assert_eq!(c::SLOT_NAMES.to_vec(), l.slot_names());
    for (i, s) in l.slots().iter().enumerate() {
        assert_eq!(c::SLOT_OFFSETS[i], s.offset);
        assert_eq!(c::SLOT_SIZES[i], s.size);
        assert_eq!(c::SLOT_HEADER_SIZES[i], s.header_size);
    }
    assert_eq!(c::HANDOFF_ADDRESS, l.handoff().base);
    assert_eq!(c::HANDOFF_SIZE, l.handoff().size);
    assert_eq!(c::BOOTLOADER_FLASH_BASE, l.bootloader_flash().base);
    assert_eq!(c::BOOTLOADER_FLASH_SIZE, l.bootloader_flash().size);
    assert_eq!(c::BOOTLOADER_RAM_BASE, l.bootloader_ram().base);
    assert_eq!(c::BOOTLOADER_RAM_SIZE, l.bootloader_ram().size);
    assert_eq!(c::APP_RAM_BASE, l.app_ram().base);
    assert_eq!(c::APP_RAM_SIZE, l.app_ram().size);
}

#[test]
fn build_script_emit_writes_every_file() {
    let out = scratch("emit");
    let (layout, files) = build_script_emit(&layout_path(), &out).unwrap();
    assert_eq!(files.boot_dir, out.join("boot"));
    check_memory_x(&out.join("boot/memory.x"), &layout.bootloader_memory_x()).unwrap();
    for slot in ["a", "b"] {
        let dir = files.app_dir(slot).unwrap();
        assert_eq!(dir, out.join(format!("app-{slot}")));
        check_memory_x(&dir.join("memory.x"), &layout.app_memory_x(slot).unwrap()).unwrap();
    }
    assert!(files.app_dir("c").is_none());
    check_memory_x(&files.consts, &layout.rust_consts()).unwrap();
    check_memory_x(&files.agent_config, &layout.agent_config(None)).unwrap();
    // A second run with nothing changed leaves the files alone.
    let before = std::fs::metadata(&files.consts).unwrap().modified().unwrap();
    build_script_emit(&layout_path(), &out).unwrap();
    assert_eq!(std::fs::metadata(&files.consts).unwrap().modified().unwrap(), before);
}

#[test]
fn build_script_emit_reports_a_bad_layout() {
    let dir = scratch("bad-layout");
    let text = std::fs::read_to_string(layout_path()).unwrap().replace("write_size = 8", "write_size = 7");
    let path = dir.join("layout.toml");
    std::fs::write(&path, text).unwrap();
    let e = build_script_emit(&path, &dir.join("out")).unwrap_err();
    assert!(matches!(e, LayoutError::WriteSize { value: 7 }), "{e:?}");
    assert!(!dir.join("out").exists());
    let e = build_script_emit(&dir.join("missing.toml"), &dir.join("out")).unwrap_err();
    assert!(matches!(e, LayoutError::Read { .. }), "{e:?}");
}

#[test]
fn stale_file_gets_a_diff() {
    let dir = scratch("stale");
    let l = Layout::load(&layout_path()).unwrap();
    let expected = l.bootloader_memory_x();
    let path = dir.join("memory.x");
    std::fs::write(&path, expected.replace("0x00010000", "0x00008000")).unwrap();
    let e = check_memory_x(&path, &expected).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, LayoutError::Stale { .. }), "{e:?}");
    assert!(msg.contains("-   FLASH : ORIGIN = 0x00000000, LENGTH = 0x00008000"), "{msg}");
    assert!(msg.contains("+   FLASH : ORIGIN = 0x00000000, LENGTH = 0x00010000"), "{msg}");
    assert!(msg.contains("  MEMORY"), "{msg}");
    // CRLF checkouts still match.
    std::fs::write(&path, expected.replace('\n', "\r\n")).unwrap();
    check_memory_x(&path, &expected).unwrap();
}

/// Every Cortex-M board's slots fit the MPU's eight regions as execute-never blocks (the
/// boot stage keeps them execute-never until its jump; `safeslot_cortex_m::mpu`), and the
/// blocks cover every slot, stay inside the flash device and touch nothing of the boot
/// stage's own partition.
#[test]
fn every_cortex_m_board_has_its_slots_in_at_most_eight_mpu_regions() {
    let boards = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards");
    let mut checked = 0;
    for entry in std::fs::read_dir(&boards).unwrap() {
        let path = entry.unwrap().path().join("layout.toml");
        if !path.is_file() {
            continue;
        }
        let layout = Layout::load(&path).unwrap();
        if !layout.board().target.starts_with("thumb") {
            continue;
        }
        let xn = layout.execute_never_regions();
        assert!(!xn.is_empty() && xn.len() <= 8, "{}: {} regions", path.display(), xn.len());
        let flash = layout.flash();
        let inside = |a: u64| xn.iter().any(|(b, l)| *b <= a && a < b + (1u64 << l));
        for s in layout.slots() {
            let start = u64::from(flash.base) + u64::from(s.offset);
            for a in (start..start + u64::from(s.size)).step_by(256) {
                assert!(inside(a), "{}: slot {} at {a:#x} not execute-never", path.display(), s.name);
            }
        }
        for (b, l) in &xn {
            assert!(
                *b >= u64::from(flash.base) && b + (1u64 << l) <= u64::from(flash.base) + u64::from(flash.size),
                "{}: region {b:#x}+2^{l} outside the flash device",
                path.display()
            );
        }
        let boot = layout.bootloader_flash();
        for (base, log2) in &xn {
            let end = base + (1u64 << log2);
            assert!(
                end <= u64::from(boot.base) || *base >= boot.end(),
                "{}: region {base:#x}+2^{log2} overlaps the boot stage",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} Cortex-M boards found");
}
