//! Tidy: `docs/FORMAT.md` must be reviewed whenever a byte format changes.
//!
//! The format facts in the code are the `field` modules, the `pub const` sizes, magics
//! and versions, the flag bits, the reason and event codes, the hand-off and version
//! encoders, the Linux payload table (`linux/src/payload.rs`: fields, part kinds, writer)
//! and the CRC definition. This test extracts exactly those items (comments and
//! whitespace dropped, so rewording a doc comment or reformatting elsewhere does not
//! trip it), hashes them with 64-bit FNV-1a and compares with the hash recorded in
//! FORMAT.md as `<!-- format-source-hash: 0x... -->`. After a format change: update
//! FORMAT.md (and the vectors), then the hash. Compare rust-analyzer `xtask/src/tidy.rs`
//! `check_lsp_extensions_docs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::format;
use std::string::String;
use std::vec::Vec;

/// The items that carry format facts, by file: a line (trimmed) starting with one of these
/// anchors starts an item, which runs to the end of the line if it ends with `;` and to
/// the matching closing brace otherwise. `pub const X` also matches every `pub const`
/// item whose name starts with an uppercase letter.
const ITEMS: &[(&str, &str, &[&str])] = &[
    ("codec.rs", include_str!("codec.rs"), &["pub const CRC32"]),
    (
        "record.rs",
        include_str!("record.rs"),
        &["pub const X", "pub mod field", "const FLAG_", "pub enum Event", "pub const fn from_u8"],
    ),
    ("journal.rs", include_str!("journal.rs"), &["pub const X", "pub mod field", "const SEQ_ERASED"]),
    ("header.rs", include_str!("header.rs"), &["pub const X", "pub mod field"]),
    ("handoff.rs", include_str!("handoff.rs"), &["pub const X", "pub mod field", "pub fn encode"]),
    ("reason.rs", include_str!("reason.rs"), &["pub enum Reason", "pub const fn from_u8"]),
    ("version.rs", include_str!("version.rs"), &["pub const LEN", "pub fn to_bytes"]),
    // The Linux payload table lives with the Linux hand-off (safeslot-linux), which shared
    // does not depend on: only its text is read here.
    (
        "linux/payload.rs",
        include_str!("../../linux/src/payload.rs"),
        &[
            "pub const X",
            "pub mod field",
            "pub enum PartKind",
            "pub const fn from_code",
            "pub const fn table_len",
            "pub fn encode",
        ],
    ),
    // The rig protocols (FORMAT.md "Rig protocols"): RAM and text, not flash, but two
    // programs agree on them all the same.
    (
        "mailbox.rs",
        include_str!("mailbox.rs"),
        &[
            "pub const X",
            "const NONE",
            "fn code",
            "fn from_code",
            "fn encode(",
            "fn decode(",
            "pub fn encode",
            "pub fn decode",
        ],
    ),
    ("protocol/exit.rs", include_str!("protocol/exit.rs"), &["pub const X", "pub const fn code", "pub fn from_code"]),
    (
        "protocol/log.rs",
        include_str!("protocol/log.rs"),
        &["pub const X", "pub fn encode", "fn parse_boot", "fn parse_cut"],
    ),
    (
        "protocol/order.rs",
        include_str!("protocol/order.rs"),
        &["pub const fn name", "const KEYS", "pub fn encode", "pub fn parse"],
    ),
    ("protocol/cmdline.rs", include_str!("protocol/cmdline.rs"), &["pub const X", "pub fn encode", "pub fn parse"]),
    ("tlv.rs", include_str!("tlv.rs"), &["pub const X", "pub mod tag", "fn entry"]),
    ("counter.rs", include_str!("counter.rs"), &["pub enum CounterId", "pub const X", "pub fn decode"]),
];

fn starts_item(line: &str, anchor: &str) -> bool {
    match anchor.strip_suffix(" X") {
        Some(prefix) => line
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|rest| rest.chars().next())
            .is_some_and(|c| c.is_ascii_uppercase()),
        None => line.starts_with(anchor),
    }
}

/// The normalised format-relevant text of one file.
fn extract(src: &str, anchors: &[&str]) -> String {
    // Stop at the test module: tests are not format.
    let src = src.split("#[cfg(test)]").next().unwrap_or(src);
    let lines: Vec<&str> = src.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")).collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if anchors.iter().any(|a| starts_item(l, a)) {
            let mut depth: i32 = 0;
            let mut j = i;
            loop {
                let cur = lines[j];
                out.push_str(cur);
                out.push('\n');
                depth += cur.matches('{').count() as i32 - cur.matches('}').count() as i32;
                if (depth <= 0 && (cur.ends_with(';') || cur.ends_with('}'))) || j + 1 == lines.len() {
                    break;
                }
                j += 1;
            }
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn format_source_hash() -> u64 {
    let mut all = String::new();
    for (name, src, anchors) in ITEMS {
        all.push_str(&format!("== {name}\n"));
        all.push_str(&extract(src, anchors));
    }
    fnv1a64(all.as_bytes())
}

#[test]
fn extraction_finds_every_format_item() {
    let record = extract(ITEMS[1].1, ITEMS[1].2);
    for needle in [
        "pub const RECORD_LEN",
        "pub mod field",
        "pub const CRC: usize = 124;",
        "const FLAG_UNBOOTABLE",
        "LastResort = 7,",
    ] {
        assert!(record.contains(needle), "record.rs extraction lacks {needle}:\n{record}");
    }
    assert!(!record.contains("pub fn fresh"), "only format items are hashed");
    let handoff = extract(ITEMS[4].1, ITEMS[4].2);
    assert!(handoff.contains("pub const HANDOFF_LEN") && handoff.contains("pub const SEQ: usize = 16;"));
    let journal = extract(ITEMS[2].1, ITEMS[2].2);
    assert!(journal.contains("pub const PREV: usize = 8;") && journal.contains("pub const MARK: u8"));
    let reason = extract(ITEMS[5].1, ITEMS[5].2);
    assert!(reason.contains("Internal = 16,") && reason.contains("16 => Reason::Internal,"));
    assert!(extract(ITEMS[0].1, ITEMS[0].2).contains("CRC_32_ISO_HDLC"));
    let payload = extract(ITEMS[7].1, ITEMS[7].2);
    for needle in
        ["pub const PAYLOAD_MAGIC", "pub const OFFSET: usize = 4;", "Initrd = 2,", "2 => Some(PartKind::Initrd),"]
    {
        assert!(payload.contains(needle), "payload.rs extraction lacks {needle}:\n{payload}");
    }
    assert!(payload.contains("put(&mut out, field::COUNT"), "the writer is hashed");
    let n = ITEMS.len();
    let tlv = extract(ITEMS[n - 2].1, ITEMS[n - 2].2);
    assert!(tlv.contains("pub const COMPATIBLE: u8 = 0x01;") && tlv.contains("pub const MAX_TLV_LEN"), "{tlv}");
    assert!(tlv.contains("tag::REVOKE_BELOW => value.len() == 1"), "the entry rules are hashed:\n{tlv}");
    let counter = extract(ITEMS[n - 1].1, ITEMS[n - 1].2);
    assert!(counter.contains("Rollback") && counter.contains("pub const MAX_UNIT"), "{counter}");
    assert!(!payload.contains("fn parse_payload"), "only format items are hashed");
    let mailbox = extract(ITEMS[8].1, ITEMS[8].2);
    assert!(mailbox.contains("pub const MAILBOX_OFFSET: u32 = 48;") && mailbox.contains("Action::Crash => 2,"));
    assert!(mailbox.contains("put(&mut out, 4, &[a, b]);"), "the private encoder is a format item");
    let exit = extract(ITEMS[9].1, ITEMS[9].2);
    assert!(exit.contains("pub const RECOVERY: u8 = 0x52;") && exit.contains("Exit::App(slot) => APP_BASE"));
    assert!(extract(ITEMS[10].1, ITEMS[10].2).contains("out.write_str(\" kind=\")?;"));
    let order = extract(ITEMS[11].1, ITEMS[11].2);
    assert!(order.contains("\"appwfault\"]") && order.contains("Action::NoConfirm => \"noconfirm\","));
    let cmdline = extract(ITEMS[12].1, ITEMS[12].2);
    assert!(cmdline.contains("pub const SEQ_KEY: &str = \"safeslot.seq=\";") && cmdline.contains("UNRECORDED_WORD"));
    // Comments and indentation do not matter.
    assert_eq!(
        extract("pub const A: u8 = 1;\n", &["pub const X"]),
        extract("  /// doc\n    pub const A: u8 = 1;\n", &["pub const X"])
    );
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
}

#[test]
fn format_md_was_updated_after_a_format_change() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/FORMAT.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let want = format!("{:#018x}", format_source_hash());
    let recorded = doc.lines().find_map(|l| {
        l.trim().strip_prefix("<!-- format-source-hash:").and_then(|r| r.strip_suffix("-->")).map(str::trim)
    });
    match recorded {
        Some(h) if h == want => {}
        Some(h) => panic!(
            "FORMAT.md was not updated after a format change: review it and update the hash to {want} \
             (docs/FORMAT.md records {h}; regenerate docs/vectors only for new vectors, old ones must keep decoding)"
        ),
        None => panic!("docs/FORMAT.md has no `<!-- format-source-hash: {want} -->` line"),
    }
}
