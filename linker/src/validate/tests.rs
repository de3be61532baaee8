//! One bad layout per validation rule, plus the edge cases that must pass.

use std::path::{Path, PathBuf};

use crate::{Layout, LayoutError};

/// A valid layout (the QEMU board's numbers, without comments).
const GOOD: &str = r#"
[board]
name = "qemu-mps2-an386"
target = "thumbv7em-none-eabihf"
chip = "mps2-an386"

[bootloader]
flash_base = 0x0000_0000
flash_size = 0x8000
ram_base = 0x2000_0000
ram_size = 0x10000

[app]
ram_base = 0x2001_0000
ram_size = 0x30000

[handoff]
address = 0x203F_FF00
size = 0x40

[flash]
base = 0x2100_0000
size = 0x100_0000
erase_size = 0x1000
write_size = 8
program_once = true
device = "/dev/mtd0"

[record]
offset = 0x0
size = 0x2000

[keys]
public = ["keys/dev.pub.pem"]

[[slot]]
name = "a"
offset = 0x10000
size = 0x400000
header_size = 0x400

[[slot]]
name = "b"
offset = 0x410000
size = 0x400000
header_size = 0x400
"#;

const SLOT_C: &str = "\n[[slot]]\nname = \"c\"\noffset = 0x810000\nsize = 0x10000\nheader_size = 0x400\n";

/// `GOOD` with the first `from` replaced by `to` (which must occur).
fn with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "test bug: {from:?} not in GOOD");
    GOOD.replacen(from, to, 1)
}

fn parse(text: &str) -> Result<Layout, LayoutError> {
    Layout::parse(text, Path::new("/boards/x"))
}

/// Parses text that must fail, and returns the error and its message.
fn err(text: &str) -> (LayoutError, String) {
    match parse(text) {
        Ok(l) => panic!("expected an error, got {l:#?}"),
        Err(e) => {
            let msg = e.to_string();
            (e, msg)
        }
    }
}

#[test]
fn good_layout_parses() {
    let l = parse(GOOD).unwrap();
    assert_eq!(l.board().name, "qemu-mps2-an386");
    assert_eq!(l.board().chip.as_deref(), Some("mps2-an386"));
    assert_eq!(l.flash().base, 0x2100_0000);
    assert_eq!(l.flash().erase_size, 0x1000);
    assert_eq!(l.slots().len(), 2);
    assert_eq!(l.slot("b").unwrap().offset, 0x41_0000);
    assert_eq!(l.slot_address(l.slot("b").unwrap()), 0x2141_0000);
    assert_eq!(l.record_address(), 0x2100_0000);
    assert_eq!(l.public_key_entries(), ["keys/dev.pub.pem"]);
    assert_eq!(l.public_keys(), [PathBuf::from("/boards/x/keys/dev.pub.pem")]);
    assert_eq!(l.source_name(), "qemu-mps2-an386/layout.toml");
}

#[test]
fn optional_fields_may_be_left_out() {
    let text = with("chip = \"mps2-an386\"\n", "")
        .replace("device = \"/dev/mtd0\"\n", "")
        .replace("[keys]\npublic = [\"keys/dev.pub.pem\"]\n", "");
    let l = parse(&text).unwrap();
    assert_eq!(l.board().chip, None);
    assert_eq!(l.flash().device, None);
    assert!(l.public_keys().is_empty());
}

#[test]
fn bootloader_and_app_ram_may_overlap() {
    let l = parse(&with("ram_base = 0x2001_0000", "ram_base = 0x2000_0000")).unwrap();
    assert_eq!(l.app_ram().base, l.bootloader_ram().base);
}

#[test]
fn three_and_four_slots_are_fine() {
    let three = format!("{GOOD}{SLOT_C}");
    assert_eq!(parse(&three).unwrap().slots().len(), 3);
    let four = format!("{three}{}", SLOT_C.replace("\"c\"", "\"d\"").replace("0x810000", "0x820000"));
    assert_eq!(parse(&four).unwrap().slot_names(), ["a", "b", "c", "d"]);
}

#[test]
fn flash_may_end_exactly_at_4_gib() {
    let l = parse(&with("base = 0x2100_0000", "base = 0xFF00_0000")).unwrap();
    assert_eq!(l.flash().base, 0xFF00_0000);
}

#[test]
fn unknown_field_is_a_parse_error() {
    let (e, msg) = err(&with("write_size = 8", "write_size = 8\nerase_sise = 4096"));
    assert!(matches!(e, LayoutError::Parse { .. }), "{e:?}");
    assert!(msg.contains("erase_sise"), "{msg}");
}

#[test]
fn missing_field_is_a_parse_error() {
    let (e, msg) = err(&with("write_size = 8\n", ""));
    assert!(matches!(e, LayoutError::Parse { .. }), "{e:?}");
    assert!(msg.contains("write_size"), "{msg}");
}

/// `[flash] word_writes` names the chip's write-count rule, including the nRF52840's
/// "twice" that the older boolean `program_once` could not say; exactly one of the two.
#[test]
fn word_writes_once_twice_unlimited_or_the_legacy_flag() {
    use safeslot_shared::nor::WriteCount;
    for (line, want) in [
        ("program_once = true", WriteCount::Once),
        ("program_once = false", WriteCount::Unlimited),
        ("word_writes = \"once\"", WriteCount::Once),
        ("word_writes = \"twice\"", WriteCount::Twice),
        ("word_writes = \"unlimited\"", WriteCount::Unlimited),
    ] {
        let l = parse(&with("program_once = true", line)).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!((l.flash().word_writes, l.flash().program_once), (want, want == WriteCount::Once), "{line}");
    }
    for (line, why) in [
        ("word_writes = \"thrice\"", "none of"),
        ("program_once = true\nword_writes = \"once\"", "not both"),
        ("", "missing"),
    ] {
        let (e, msg) = err(&with("program_once = true", line));
        assert!(matches!(e, LayoutError::Policy { field: "word_writes", .. }), "{line}: {e:?}");
        assert!(msg.contains(why), "{line}: {msg}");
    }
}

#[test]
fn negative_number_is_a_parse_error() {
    let (e, _) = err(&with("size = 0x40", "size = -64"));
    assert!(matches!(e, LayoutError::Parse { .. }), "{e:?}");
}

#[test]
fn bad_board_name() {
    for name in ["", "Qemu", "-x", "a b", "a*/b"] {
        let (e, msg) = err(&with("name = \"qemu-mps2-an386\"", &format!("name = {name:?}")));
        assert!(matches!(e, LayoutError::BoardName { .. }), "{name}: {e:?}");
        assert!(msg.contains("board.name"), "{msg}");
    }
}

#[test]
fn bad_target() {
    let (e, msg) = err(&with("thumbv7em-none-eabihf", "thumb v7"));
    assert!(matches!(e, LayoutError::Target { .. }), "{e:?}");
    assert!(msg.contains("board.target"), "{msg}");
}

#[test]
fn empty_optional_strings() {
    for (from, to, field) in [
        ("chip = \"mps2-an386\"", "chip = \"\"", "board.chip"),
        ("device = \"/dev/mtd0\"", "device = \"\"", "flash.device"),
        ("public = [\"keys/dev.pub.pem\"]", "public = []", "keys.public"),
        ("public = [\"keys/dev.pub.pem\"]", "public = [\"a.pem\", \"\"]", "keys.public[1]"),
    ] {
        let (e, msg) = err(&with(from, to));
        assert!(matches!(&e, LayoutError::EmptyField { field: f } if f == field), "{field}: {e:?}");
        assert!(msg.contains(field), "{msg}");
    }
}

#[test]
fn zero_sizes() {
    for (from, to, field) in [
        ("flash_size = 0x8000", "flash_size = 0", "bootloader.flash_size"),
        ("ram_size = 0x10000", "ram_size = 0", "bootloader.ram_size"),
        ("ram_size = 0x30000", "ram_size = 0", "app.ram_size"),
        ("size = 0x40", "size = 0", "handoff.size"),
        ("size = 0x100_0000", "size = 0", "flash.size"),
        ("size = 0x2000", "size = 0", "record.size"),
        ("offset = 0x410000\nsize = 0x400000", "offset = 0x410000\nsize = 0", "slot[1] \"b\".size"),
    ] {
        let (e, msg) = err(&with(from, to));
        assert!(matches!(&e, LayoutError::ZeroSize { field: f } if f == field), "{field}: {e:?}");
        assert!(msg.contains(field), "{msg}");
    }
}

#[test]
fn overflowing_sum() {
    let (e, msg) = err(&with("base = 0x2100_0000", "base = 0x7FFF_FFFF_FFFF_FFFF"));
    assert!(matches!(&e, LayoutError::AddressTooHigh { .. } | LayoutError::Overflow { .. }), "{e:?}");
    assert!(msg.contains("flash"), "{msg}");
    // A sum that really overflows u64 needs two big operands; TOML
    // integers stop at i64::MAX, so that takes offset + size.
    let (e, msg) = err(&with(
        "offset = 0x410000\nsize = 0x400000",
        "offset = 0x7FFF_FFFF_FFFF_F000\nsize = 0x7FFF_FFFF_FFFF_F000",
    ));
    assert!(matches!(&e, LayoutError::OutsideFlash { .. } | LayoutError::Overflow { .. }), "{e:?}");
    assert!(msg.contains("slot[1] \"b\""), "{msg}");
}

#[test]
fn overflow_is_reported_for_the_agent_geometry() {
    // Without a device size the only check left is the u64 sum.
    let raw = crate::raw::RawSlot { name: "a".into(), offset: u64::MAX - 0xFFF, size: 0x2000, header_size: 0x400 };
    let e = super::check_slots(&[raw.clone(), raw], 0x1000, None).unwrap_err();
    assert!(matches!(&e, LayoutError::Overflow { field } if field == "slot[0] \"a\""), "{e:?}");
}

#[test]
fn address_at_or_above_4_gib() {
    let (e, msg) = err(&with("base = 0x2100_0000", "base = 0xFF80_0000"));
    assert!(matches!(&e, LayoutError::AddressTooHigh { end, .. } if *end == 0x1_0080_0000), "{e:?}");
    assert!(msg.contains("flash (flash.base + size)") && msg.contains("4 GiB"), "{msg}");
    let (e, _) = err(&with("address = 0x203F_FF00", "address = 0x1_0000_0000"));
    assert!(matches!(e, LayoutError::AddressTooHigh { .. }), "{e:?}");
}

#[test]
fn bad_erase_size() {
    for v in ["0x3000", "0x80", "0x80000", "0"] {
        let (e, msg) = err(&with("erase_size = 0x1000", &format!("erase_size = {v}")));
        assert!(matches!(e, LayoutError::EraseSize { .. }), "{v}: {e:?}");
        assert!(msg.contains("flash.erase_size"), "{msg}");
    }
    // The extremes are allowed.
    let small = with("erase_size = 0x1000", "erase_size = 0x100");
    assert!(parse(&small.replace("\nsize = 0x2000\n", "\nsize = 0x200\n")).is_ok());
    let big = with("erase_size = 0x1000", "erase_size = 0x40000")
        .replace("\nsize = 0x2000\n", "\nsize = 0x80000\n")
        .replace("offset = 0x10000", "offset = 0x80000")
        .replace("offset = 0x410000", "offset = 0x480000");
    assert!(parse(&big).is_ok(), "{:?}", parse(&big));
}

#[test]
fn bad_write_size() {
    for v in ["0", "3", "64"] {
        let (e, msg) = err(&with("write_size = 8", &format!("write_size = {v}")));
        assert!(matches!(e, LayoutError::WriteSize { .. }), "{v}: {e:?}");
        assert!(msg.contains("flash.write_size"), "{msg}");
    }
}

#[test]
fn misaligned_offsets_and_sizes() {
    for (from, to, field) in [
        ("size = 0x100_0000", "size = 0x100_0800", "flash.size"),
        ("offset = 0x0", "offset = 0x800", "record.offset"),
        ("size = 0x2000", "size = 0x2800", "record.size"),
        ("offset = 0x10000", "offset = 0x10800", "slot[0] \"a\".offset"),
        ("size = 0x400000\nheader_size = 0x400\n\n", "size = 0x3FF800\nheader_size = 0x400\n\n", "slot[0] \"a\".size"),
    ] {
        let (e, msg) = err(&with(from, to));
        assert!(matches!(&e, LayoutError::Misaligned { field: f, .. } if f == field), "{field}: {e:?}");
        assert!(msg.contains(field), "{msg}");
    }
}

#[test]
fn record_of_one_sector() {
    let (e, msg) = err(&with("size = 0x2000", "size = 0x1000"));
    assert!(matches!(e, LayoutError::RecordTooSmall { size: 0x1000, erase_size: 0x1000 }), "{e:?}");
    assert!(msg.contains("record.size"), "{msg}");
}

#[test]
fn wrong_slot_count() {
    let one = GOOD.split("\n[[slot]]\nname = \"b\"").next().unwrap().to_owned();
    let (e, _) = err(&one);
    assert!(matches!(e, LayoutError::SlotCount { count: 1 }), "{e:?}");
    let none = GOOD.split("\n[[slot]]").next().unwrap().to_owned();
    let (e, _) = err(&none);
    assert!(matches!(e, LayoutError::SlotCount { count: 0 }), "{e:?}");
    let mut five = GOOD.to_owned();
    for (i, n) in ["c", "d", "e"].iter().enumerate() {
        five.push_str(
            &SLOT_C
                .replace("\"c\"", &format!("{n:?}"))
                .replace("0x810000", &format!("{:#x}", 0x81_0000 + i * 0x1_0000)),
        );
    }
    let (e, msg) = err(&five);
    assert!(matches!(e, LayoutError::SlotCount { count: 5 }), "{e:?}");
    assert!(msg.contains("[[slot]]"), "{msg}");
}

#[test]
fn bad_slot_names() {
    for name in ["", "A", "abc", "a-", "é"] {
        let (e, msg) = err(&with("name = \"b\"", &format!("name = {name:?}")));
        assert!(matches!(e, LayoutError::SlotName { index: 1, .. }), "{name}: {e:?}");
        assert!(msg.contains("slot[1].name"), "{msg}");
    }
    assert!(parse(&with("name = \"b\"", "name = \"b2\"")).is_ok());
}

#[test]
fn duplicate_slot_names() {
    let (e, msg) = err(&with("name = \"b\"", "name = \"a\""));
    assert!(matches!(&e, LayoutError::DuplicateSlotName { name } if name == "a"), "{e:?}");
    assert!(msg.contains("\"a\""), "{msg}");
}

#[test]
fn bad_header_size() {
    for v in ["0x300", "0x80", "0"] {
        let (e, msg) = err(&with("header_size = 0x400", &format!("header_size = {v}")));
        assert!(matches!(e, LayoutError::HeaderSize { .. }), "{v}: {e:?}");
        assert!(msg.contains("slot[0] \"a\".header_size"), "{msg}");
    }
}

#[test]
fn slot_too_small_for_its_header() {
    // Header as large as the slot, and header + 1 KiB just over it.
    for (size, header) in [("0x1000", "0x1000"), ("0x2000", "0x2000")] {
        let text = with("size = 0x400000\nheader_size = 0x400", &format!("size = {size}\nheader_size = {header}"));
        let (e, msg) = err(&text);
        assert!(matches!(e, LayoutError::SlotTooSmall { .. }), "{e:?}");
        assert!(msg.contains("slot[0] \"a\".size"), "{msg}");
    }
    // With 256-byte sectors: a header that fits, but leaves under 1 KiB.
    let text = with("erase_size = 0x1000", "erase_size = 0x100")
        .replace("size = 0x400000\nheader_size = 0x400", "size = 0x400\nheader_size = 0x100");
    let (e, _) = err(&text);
    assert!(matches!(e, LayoutError::SlotTooSmall { size: 0x400, minimum: 0x500, .. }), "{e:?}");
    // 4 KiB slot, 1 KiB header: 3 KiB of image is enough.
    assert!(parse(&with("size = 0x400000\nheader_size = 0x400", "size = 0x1000\nheader_size = 0x400")).is_ok());
}

#[test]
fn slot_outside_flash() {
    let (e, msg) = err(&with("offset = 0x410000", "offset = 0xC10000"));
    assert!(matches!(&e, LayoutError::OutsideFlash { end: 0x101_0000, flash_size: 0x100_0000, .. }), "{e:?}");
    assert!(msg.contains("slot[1] \"b\""), "{msg}");
    let (e, msg) = err(&with("offset = 0x0", "offset = 0x100_0000"));
    assert!(matches!(e, LayoutError::OutsideFlash { .. }), "{e:?}");
    assert!(msg.contains("record"), "{msg}");
}

#[test]
fn overlapping_slots_and_record() {
    let (e, msg) = err(&with("offset = 0x410000", "offset = 0x200000"));
    assert!(
        matches!(&e, LayoutError::Overlap { first, second, .. }
        if first == "slot[0] \"a\"" && second == "slot[1] \"b\""),
        "{e:?}"
    );
    assert!(msg.contains("overlaps"), "{msg}");
    let (e, _) = err(&with("size = 0x2000", "size = 0x11000"));
    assert!(matches!(&e, LayoutError::Overlap { first, .. } if first == "record"), "{e:?}");
}

#[test]
fn bootloader_partition_overlapping_a_slot() {
    // On a single-flash chip the bootloader shares the device; it must
    // then stay clear of record and slots.
    let (e, msg) = err(&with("flash_base = 0x0000_0000", "flash_base = 0x2101_0000"));
    assert!(
        matches!(&e, LayoutError::Overlap { first, second, .. }
        if first.starts_with("bootloader flash") && second.starts_with("slot[0] \"a\" (at")),
        "{e:?}"
    );
    assert!(msg.contains("bootloader flash"), "{msg}");
    assert!(parse(&with("flash_base = 0x0000_0000", "flash_base = 0x2100_2000")).is_ok());
}

#[test]
fn handoff_inside_ram() {
    for (address, ram) in [("0x2000_0100", "bootloader RAM"), ("0x2003_FFF0", "app RAM")] {
        let (e, msg) = err(&with("address = 0x203F_FF00", &format!("address = {address}")));
        assert!(matches!(&e, LayoutError::HandoffInRam { ram: r, .. } if r.starts_with(ram)), "{e:?}");
        assert!(msg.contains("handoff.address"), "{msg}");
    }
    // Touching the end of app RAM is outside it.
    assert!(parse(&with("address = 0x203F_FF00", "address = 0x2004_0000")).is_ok());
}

#[test]
fn handoff_misaligned() {
    let (e, msg) = err(&with("address = 0x203F_FF00", "address = 0x203F_FF02"));
    assert!(matches!(e, LayoutError::HandoffMisaligned { address: 0x203F_FF02 }), "{e:?}");
    assert!(msg.contains("handoff.address"), "{msg}");
}

/// Every numeric field, set to each awkward value: parse must return,
/// never panic.
#[test]
fn no_panic_on_extreme_numbers() {
    let fields = [
        "flash_base = 0x0000_0000",
        "flash_size = 0x8000",
        "ram_base = 0x2000_0000",
        "ram_size = 0x10000",
        "ram_base = 0x2001_0000",
        "ram_size = 0x30000",
        "address = 0x203F_FF00",
        "size = 0x40",
        "base = 0x2100_0000",
        "size = 0x100_0000",
        "erase_size = 0x1000",
        "write_size = 8",
        "offset = 0x0",
        "size = 0x2000",
        "offset = 0x10000",
        "size = 0x400000",
        "header_size = 0x400",
        "offset = 0x410000",
    ];
    let values = [
        "0",
        "1",
        "0xFF",
        "0x100",
        "0x1000",
        "0xFFFF_FFFF",
        "0x1_0000_0000",
        "0x7FFF_FFFF_FFFF_FFFF",
        "0x7FFF_FFFF_FFFF_F000",
        "-1",
    ];
    for f in fields {
        let (key, _) = f.split_once(" = ").unwrap();
        for v in values {
            let _ = parse(&with(f, &format!("{key} = {v}")));
        }
    }
}

#[test]
fn env_overrides_public_keys() {
    let l = parse(GOOD).unwrap();
    assert_eq!(l.resolve_public_keys(None), l.public_keys());
    assert_eq!(l.resolve_public_keys(Some("".as_ref())), l.public_keys());
    let joined = std::env::join_paths(["/k/one.pem", "two.pem"]).unwrap();
    assert_eq!(l.resolve_public_keys(Some(&joined)), [PathBuf::from("/k/one.pem"), PathBuf::from("two.pem")]);
}

/// The real boards' layouts validate: each chip's write and erase sizes (nRF52840 NVMC 4 B
/// words / 4 KiB pages, STM32L4 8 B ECC double words programmed once / 2 KiB pages,
/// RP2040 QSPI NOR 1 B / 4 KiB with a 256 B boot2) are accepted as they are.
#[test]
fn real_board_layouts_validate() {
    use safeslot_shared::nor::WriteCount;
    let boards = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards");
    let expect = [
        ("nrf52840-dk", "nRF52840_xxAA", 4, 0x1000, WriteCount::Twice, None),
        ("nucleo-l476rg", "STM32L476RGTx", 8, 0x800, WriteCount::Once, None),
        ("rpi-pico", "RP2040", 1, 0x1000, WriteCount::Unlimited, Some(0x100)),
    ];
    for (name, chip, write, erase, words, boot2) in expect {
        let l = Layout::load(&boards.join(name).join("layout.toml")).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(l.board().name, name);
        assert_eq!(l.board().chip.as_deref(), Some(chip), "{name}: probe-rs chip name");
        let f = l.flash();
        assert_eq!((f.write_size, f.erase_size, f.word_writes), (write, erase, words), "{name}");
        assert_eq!(l.boot2_size(), boot2, "{name}");
        assert_eq!(l.handoff().size, 0x40, "{name}: hand-off block + rig mailbox");
    }
}

#[test]
fn boot2_region() {
    let l = parse(&with(
        "ram_base = 0x2000_0000\nram_size = 0x10000",
        "boot2_size = 0x100\nram_base = 0x2000_0000\nram_size = 0x10000",
    ))
    .unwrap();
    assert_eq!(l.boot2_size(), Some(0x100));
    assert!(l.rust_consts().contains("pub const BOOTLOADER_BOOT2_SIZE: u32 = 0x100;"));
    assert!(!parse(GOOD).unwrap().rust_consts().contains("BOOT2"), "no boot2 const without a boot2 region");
    // Zero, unaligned, or leaving under 1 KiB of the 32 KiB partition.
    for bad in ["0", "0x102", "0x7C04", "0x8000"] {
        let text = with(
            "ram_base = 0x2000_0000\nram_size = 0x10000",
            &format!("boot2_size = {bad}\nram_base = 0x2000_0000\nram_size = 0x10000"),
        );
        let (e, msg) = err(&text);
        assert!(matches!(e, LayoutError::Boot2Size { flash_size: 0x8000, .. }), "{bad}: {e:?}");
        assert!(msg.starts_with("bootloader.boot2_size = "), "{msg}");
    }
    // Exactly 1 KiB left is fine.
    let text = with(
        "ram_base = 0x2000_0000\nram_size = 0x10000",
        "boot2_size = 0x7C00\nram_base = 0x2000_0000\nram_size = 0x10000",
    );
    assert_eq!(parse(&text).unwrap().boot2_size(), Some(0x7C00));
}

const LINUX: &str = "\n[linux]\nkernel = 0x2020_0000\ninitrd = 0x2040_0000\ndtb = 0x2050_0000\nstaging = 0x2060_0000\ndtb_in = 0x2001_0000\nconsole = \"ttyAMA0\"\n";

#[test]
fn linux_payload_is_optional_and_validated() {
    assert!(parse(GOOD).unwrap().linux().is_none());
    assert!(parse(GOOD).unwrap().rust_consts().contains("pub const LINUX_PAYLOAD: bool = false;"));
    // App RAM big enough for the kernel, initramfs, device tree and a copy of both slots.
    let big =
        with("ram_size = 0x30000", "ram_size = 0x800_0000").replace("address = 0x203F_FF00", "address = 0x3000_0000");
    let big = format!("{big}{LINUX}");
    let l = parse(&big).unwrap();
    let lx = l.linux().unwrap();
    assert_eq!(
        (lx.kernel, lx.initrd, lx.dtb, lx.staging, lx.dtb_in),
        (0x2020_0000, 0x2040_0000, 0x2050_0000, 0x2060_0000, 0x2001_0000)
    );
    assert_eq!(lx.console, "ttyAMA0");
    assert!(l.rust_consts().contains("pub const LINUX_KERNEL: u32 = 0x2020_0000;"));
    assert!(l.rust_consts().contains("pub const LINUX_PAYLOAD: bool = true;"));
    for (from, to, field) in [
        ("kernel = 0x2020_0000", "kernel = 0x2021_0000", "kernel"),
        ("dtb = 0x2050_0000", "dtb = 0x2050_0004", "dtb"),
        ("initrd = 0x2040_0000", "initrd = 0x2010_0000", "initrd"),
        ("staging = 0x2060_0000", "staging = 0x2800_0000", "staging"),
        ("dtb_in = 0x2001_0000", "dtb_in = 0x1000_0000", "dtb_in"),
        ("console = \"ttyAMA0\"", "console = \"tty AMA0\"", "console"),
    ] {
        let e = parse(&big.replace(from, to)).unwrap_err();
        assert!(matches!(&e, LayoutError::Linux { field: f, .. } if *f == field), "{from} -> {to}: {e}");
    }
}

#[test]
fn rule_11_watchdog_and_trial_counting() {
    let good = parse(GOOD).unwrap();
    assert_eq!((good.watchdog(), good.power_loss_retries()), (None, 0));
    let text = format!("{GOOD}\n[watchdog]\ntimeout_ms = 4000\n\n[trial]\npower_loss_retries = 2\n");
    let l = parse(&text).unwrap();
    assert_eq!(l.watchdog(), Some(crate::Watchdog { timeout_ms: 4000, arm: crate::WatchdogArm::Trial }));
    assert_eq!(l.power_loss_retries(), 2);
    let always = parse(&format!("{GOOD}\n[watchdog]\ntimeout_ms = 1\narm = \"always\"\n")).unwrap();
    assert_eq!(always.watchdog().map(|w| w.arm), Some(crate::WatchdogArm::Always));
    for (bad, says) in [
        ("[watchdog]\ntimeout_ms = 0\n", "[watchdog] timeout_ms: 0 is not in 1..=3600000"),
        ("[watchdog]\ntimeout_ms = 3600001\n", "[watchdog] timeout_ms: 3600001 is not in 1..=3600000"),
        ("[watchdog]\ntimeout_ms = 10\narm = \"sometimes\"\n", "[watchdog] arm: \"sometimes\" is neither"),
        ("[trial]\npower_loss_retries = 16\n", "[trial] power_loss_retries: 16 is above 15"),
    ] {
        let (_, msg) = err(&format!("{GOOD}\n{bad}"));
        assert!(msg.contains(says), "{bad:?}: {msg}");
    }
    assert!(matches!(parse(&format!("{GOOD}\n[watchdog]\ntimeout = 10\n")), Err(LayoutError::Parse { .. })));
}

#[test]
fn rule_12_otp() {
    assert_eq!(parse(GOOD).unwrap().otp(), None);
    // In the flash device (the virtual board's last sector), and outside it (STM32L4).
    let l = parse(&format!("{GOOD}\n[otp]\naddress = 0x21FF_F000\nsize = 0x400\nunit = 8\n")).unwrap();
    assert_eq!(l.otp(), Some(crate::Otp { address: 0x21FF_F000, size: 0x400, unit: 8 }));
    assert!(l.rust_consts().contains("pub const OTP_ADDRESS: u32 = 0x21FF_F000;"), "{}", l.rust_consts());
    assert!(l.rust_consts().contains("pub const OTP_UNIT: u32 = 0x8;"));
    assert!(parse(&format!("{GOOD}\n[otp]\naddress = 0x1FFF_7000\nsize = 0x400\nunit = 8\n")).is_ok());
    assert!(!parse(GOOD).unwrap().rust_consts().contains("OTP_"));
    for (bad, says) in [
        ("address = 0x1FFF_7000\nsize = 0x400\nunit = 0", "[otp] unit: 0 is not in 1..=32"),
        ("address = 0x1FFF_7000\nsize = 0x400\nunit = 64", "[otp] unit: 64 is not in 1..=32"),
        ("address = 0x1FFF_7000\nsize = 0x404\nunit = 8", "[otp] size: 0x404 is not a non-zero multiple"),
        ("address = 0xFFFF_FF00\nsize = 0x400\nunit = 8", "above 4 GiB"),
        ("address = 0x21FF_FF00\nsize = 0x400\nunit = 8", "must lie inside it"),
        ("address = 0x21FF_F000\nsize = 0x400\nunit = 4", "multiples of flash.write_size (8)"),
        // In the record's second sector, and in a slot's: their erases would reach it.
        ("address = 0x2100_1C00\nsize = 0x400\nunit = 8", "record"),
        ("address = 0x2101_0000\nsize = 0x400\nunit = 8", "slot[0]"),
        ("address = 0x0000_4000\nsize = 0x400\nunit = 8", "bootloader"),
    ] {
        let (_, msg) = err(&format!("{GOOD}\n[otp]\n{bad}\n"));
        assert!(msg.contains(says), "{bad:?}: {msg}");
    }
}

#[test]
fn rule_14_clock() {
    assert_eq!(parse(GOOD).unwrap().clock(), None);
    let l = parse(&format!("{GOOD}\n[clock]\ncore_hz = 80_000_000\nreset_hz = 4_000_000\nflash_wait_states = 4\n"))
        .unwrap();
    assert_eq!(l.clock(), Some(crate::Clock { core_hz: 80_000_000, reset_hz: 4_000_000, flash_wait_states: Some(4) }));
    assert!(l.rust_consts().contains("pub const CORE_CLOCK_HZ: u32 = 80000000;"), "{}", l.rust_consts());
    let same = parse(&format!("{GOOD}\n[clock]\ncore_hz = 64_000_000\nreset_hz = 64_000_000\n")).unwrap();
    assert_eq!(same.clock().map(|c| c.flash_wait_states), Some(None));
    for (bad, says) in [
        ("[clock]\ncore_hz = 999\nreset_hz = 4000000\n", "[clock] core_hz: 999 Hz is not in"),
        ("[clock]\ncore_hz = 4000000\nreset_hz = 4294967296\n", "[clock] reset_hz: 4294967296 Hz is not in"),
        (
            "[clock]\ncore_hz = 4000000\nreset_hz = 4000000\nflash_wait_states = 16\n",
            "[clock] flash_wait_states: 16 is above 15",
        ),
    ] {
        let (_, msg) = err(&format!("{GOOD}\n{bad}"));
        assert!(msg.contains(says), "{bad:?}: {msg}");
    }
    assert!(matches!(parse(&format!("{GOOD}\n[clock]\ncore_hz = 1000\n")), Err(LayoutError::Parse { .. })));
}
