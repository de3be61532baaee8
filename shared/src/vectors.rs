//! Test vectors in `docs/vectors/`: generated here, checked here, loaded by the agent and
//! image tool tests too.
//!
//! Each vector is built from known values by the current code. Without
//! `SAFESLOT_BLESS=1` the test *compares*: every file must exist with exactly these
//! bytes, `vectors.json` must match, every file must decode to the values it was built
//! from, and re-encoding the decoded value must give the file's bytes back. With
//! `SAFESLOT_BLESS=1` it (re)writes the files instead. Re-blessing changes committed
//! vectors: that is only legitimate for a *new* vector; an existing vector that stops
//! decoding is a format break (see `docs/FORMAT.md`, "Version rule").
//!
//! The header vectors are signed with a TEST key derived from the fixed seed `[7; 32]`
//! (`test-key.pub`). It is public knowledge: never trust it in a release build.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::fmt::Write as _;
use std::format;
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

use ed25519_compact::{KeyPair, Seed};
use sha2::{Digest, Sha256};

use crate::handoff::{Handoff, HANDOFF_FORMAT, HANDOFF_LEN};
use crate::header::{SlotHeader, HEADER_LEN};
use crate::journal::{decode_v1_entry, encode_entry, Found, Head, Journal, JournalConfig, Pos, ENTRY_LEN};
use crate::ops;
use crate::policy::{BootKind, ImageInfo, Inputs, Verdict};
use crate::reason::Reason;
use crate::record::{Record, RECORD_FORMAT, RECORD_LEN};
use crate::reset::ResetCause;
use crate::select::{select, FreshRecord};
use crate::sim::{CutKind, SimConfig, SimFlash};
use crate::slot::{Priority, SlotId, Tries};
use crate::verify::{key_id, verify_slot, SlotRegion, Trust};
use crate::version::Version;

/// The seed of the TEST signing key. Public: never use it for a release.
pub(crate) const TEST_SEED: [u8; 32] = [7; 32];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors")
}

fn test_key() -> KeyPair {
    KeyPair::from_seed(Seed::new(TEST_SEED))
}

fn v(major: u8, minor: u8, revision: u16, build: u32) -> Version {
    Version { major, minor, revision, build }
}

fn valid(version: Version, sc: u32) -> Verdict {
    Verdict::Valid(ImageInfo { version, security_counter: sc, ..ImageInfo::default() })
}

// ---- the vectors' source values --------------------------------------------------------

fn record_fresh() -> Record {
    Record::fresh(2, Tries::DEFAULT)
}

/// A device's life: factory boot, confirm, three updates (one confirmed, one that never
/// confirms, one with a bad signature). The history has wrapped.
fn record_history() -> Record {
    let mut r = Record::fresh(2, Tries::DEFAULT);
    let mut images = [valid(v(1, 0, 0, 0), 1), Verdict::Invalid(Reason::NoImage)];
    let boot = |r: &mut Record, images: &[Verdict; 2]| {
        let d = crate::policy::decide(r, Inputs::default(), |s| images[s.index()]);
        *r = match d {
            crate::policy::Decision::Boot(p) => p.record,
            crate::policy::Decision::Recovery(n) => n.record,
        };
    };
    boot(&mut r, &images);
    ops::mark_good(&mut r, SlotId::A).unwrap();
    images[1] = valid(v(1, 1, 0, 7), 2);
    ops::set_active(&mut r, SlotId::B, Tries::new(2).unwrap()).unwrap();
    boot(&mut r, &images);
    ops::mark_good(&mut r, SlotId::B).unwrap();
    images[0] = valid(v(1, 2, 0, 0), 2);
    ops::set_active(&mut r, SlotId::A, Tries::new(1).unwrap()).unwrap();
    boot(&mut r, &images);
    boot(&mut r, &images); // tries exhausted: back to B
    images[0] = Verdict::Invalid(Reason::BadSignature);
    ops::set_active(&mut r, SlotId::A, Tries::new(3).unwrap()).unwrap();
    boot(&mut r, &images); // bad signature: back to B
    r
}

/// [`record_history`], then A activated again and booted after a power-on (A was not
/// running: a try), after a power-on while A ran (free: the layout allows one), after a
/// watchdog reset (a try). Reset causes in the history, one free retry counted.
fn record_history_v2() -> Record {
    let mut r = record_history();
    let images = [valid(v(1, 3, 0, 0), 2), valid(v(1, 1, 0, 7), 2)];
    let boot = |r: &mut Record, cause: ResetCause| {
        let inputs = Inputs { reset_cause: cause, free_retries: 1, ..Inputs::default() };
        *r = match crate::policy::decide(r, inputs, |s| images[s.index()]) {
            crate::policy::Decision::Boot(p) => p.record,
            crate::policy::Decision::Recovery(n) => n.record,
        };
    };
    ops::set_active(&mut r, SlotId::A, Tries::new(3).unwrap()).unwrap();
    boot(&mut r, ResetCause::PowerOn);
    boot(&mut r, ResetCause::PowerOn);
    boot(&mut r, ResetCause::Watchdog);
    r
}

/// Four slots in four different states.
fn record_4slot() -> Record {
    let mut r = Record::fresh(4, Tries::DEFAULT);
    r.rollback_floor = 3;
    let a = r.slot_mut(SlotId::A).unwrap();
    *a = crate::record::SlotState {
        priority: Priority::new(14).unwrap(),
        tries: Tries::ZERO,
        confirmed: true,
        unbootable: None,
        security_counter: 3,
        version: v(3, 1, 4, 159),
    };
    let b = r.slot_mut(SlotId::B).unwrap();
    *b = crate::record::SlotState {
        priority: Priority::MAX,
        tries: Tries::new(2).unwrap(),
        confirmed: false,
        unbootable: None,
        security_counter: 4,
        version: v(4, 0, 0, 0),
    };
    let c = r.slot_mut(SlotId::C).unwrap();
    c.unbootable = Some(Reason::BadHash);
    c.priority = Priority::new(1).unwrap();
    let d = r.slot_mut(SlotId::D).unwrap();
    d.unbootable = Some(Reason::MarkedBad);
    r.last_booted = Some(SlotId::B);
    r.last_known_good = Some(SlotId::A);
    r.last_fallback = Reason::RecoveryInput;
    r
}

/// [`record_4slot`] on a device where a confirmed image revoked key 0: slot C's image is
/// signed with it.
fn record_4slot_v3() -> Record {
    let mut r = record_4slot();
    r.key_floor = 1;
    r.slot_mut(SlotId::C).unwrap().unbootable = Some(Reason::RevokedKey);
    r
}

/// Vectors written with record format 1 (`docs/FORMAT.md`, "Record"): the records and the
/// format-2 journals holding them, frozen when the record format became 2 (history entries
/// with a reset cause, the free-retry count). The current code must keep reading them.
const FROZEN_RECORD_1: [(&str, &str); 5] = [
    (
        "record-fresh.bin",
        r#"{
      "file": "record-fresh.bin",
      "kind": "record",
      "description": "factory state: slot A on trial with 3 tries, B disabled",
      "length": 128,
      "decoded": {
        "format": 1,
        "slot_count": 2,
        "last_booted": null,
        "last_known_good": null,
        "last_fallback": "none",
        "rollback_floor": 0,
        "slots": [
          {"slot": "a", "priority": 15, "tries": 3, "confirmed": false, "unbootable": null, "security_counter": 0, "version": {"major": 0, "minor": 0, "revision": 0, "build": 0}},
          {"slot": "b", "priority": 0, "tries": 0, "confirmed": false, "unbootable": null, "security_counter": 0, "version": {"major": 0, "minor": 0, "revision": 0, "build": 0}}
        ],
        "history": [
          {"slot": "a", "event": "created", "reason": "none", "tries": 3}
        ]
      }
    }"#,
    ),
    (
        "record-history.bin",
        r#"{
      "file": "record-history.bin",
      "kind": "record",
      "description": "after three updates; the 8-entry history has wrapped",
      "length": 128,
      "decoded": {
        "format": 1,
        "slot_count": 2,
        "last_booted": "b",
        "last_known_good": "b",
        "last_fallback": "bad-signature",
        "rollback_floor": 2,
        "slots": [
          {"slot": "a", "priority": 15, "tries": 3, "confirmed": false, "unbootable": "bad-signature", "security_counter": 2, "version": {"major": 1, "minor": 2, "revision": 0, "build": 0}},
          {"slot": "b", "priority": 14, "tries": 1, "confirmed": true, "unbootable": null, "security_counter": 2, "version": {"major": 1, "minor": 1, "revision": 0, "build": 7}}
        ],
        "history": [
          {"slot": "b", "event": "confirmed", "reason": "none", "tries": 1},
          {"slot": "a", "event": "activated", "reason": "none", "tries": 1},
          {"slot": "a", "event": "trial-boot", "reason": "none", "tries": 0},
          {"slot": "a", "event": "unbootable", "reason": "tries-exhausted", "tries": 0},
          {"slot": "b", "event": "fallback", "reason": "tries-exhausted", "tries": 1},
          {"slot": "a", "event": "activated", "reason": "none", "tries": 3},
          {"slot": "a", "event": "unbootable", "reason": "bad-signature", "tries": 3},
          {"slot": "b", "event": "fallback", "reason": "bad-signature", "tries": 1}
        ]
      }
    }"#,
    ),
    (
        "record-4slot.bin",
        r#"{
      "file": "record-4slot.bin",
      "kind": "record",
      "description": "four slots: confirmed, on trial, bad hash, marked bad",
      "length": 128,
      "decoded": {
        "format": 1,
        "slot_count": 4,
        "last_booted": "b",
        "last_known_good": "a",
        "last_fallback": "recovery-input",
        "rollback_floor": 3,
        "slots": [
          {"slot": "a", "priority": 14, "tries": 0, "confirmed": true, "unbootable": null, "security_counter": 3, "version": {"major": 3, "minor": 1, "revision": 4, "build": 159}},
          {"slot": "b", "priority": 15, "tries": 2, "confirmed": false, "unbootable": null, "security_counter": 4, "version": {"major": 4, "minor": 0, "revision": 0, "build": 0}},
          {"slot": "c", "priority": 1, "tries": 0, "confirmed": false, "unbootable": "bad-hash", "security_counter": 0, "version": {"major": 0, "minor": 0, "revision": 0, "build": 0}},
          {"slot": "d", "priority": 0, "tries": 0, "confirmed": false, "unbootable": "marked-bad", "security_counter": 0, "version": {"major": 0, "minor": 0, "revision": 0, "build": 0}}
        ],
        "history": [
          {"slot": "a", "event": "created", "reason": "none", "tries": 3}
        ]
      }
    }"#,
    ),
    (
        "journal-v2-w8.bin",
        r#"{
      "file": "journal-v2-w8.bin",
      "kind": "journal",
      "format": 2,
      "description": "2 x 1024-byte region, write size 8: five entries (rotated into sector 1), then a claim and a torn sixth body",
      "geometry": {"offset": 0, "size": 2048, "write_size": 8, "erase_size": 1024, "entry_size": 160, "body_size": 144, "mark_size": 8, "entries_per_sector": 6},
      "head": {"seq": 5, "sector": 0, "index": 4, "acked": true, "crc": 803233205},
      "torn": {"sector": 0, "index": 5, "bytes_landed": 72},
      "record": {
        "format": 1,
        "slot_count": 2,
        "last_booted": "b",
        "last_known_good": "b",
        "last_fallback": "none",
        "rollback_floor": 1,
        "slots": [
          {"slot": "a", "priority": 14, "tries": 2, "confirmed": true, "unbootable": null, "security_counter": 1, "version": {"major": 1, "minor": 0, "revision": 0, "build": 0}},
          {"slot": "b", "priority": 15, "tries": 2, "confirmed": true, "unbootable": null, "security_counter": 1, "version": {"major": 2, "minor": 0, "revision": 0, "build": 0}}
        ],
        "history": [
          {"slot": "a", "event": "created", "reason": "none", "tries": 3},
          {"slot": "a", "event": "trial-boot", "reason": "none", "tries": 2},
          {"slot": "a", "event": "confirmed", "reason": "none", "tries": 2},
          {"slot": "b", "event": "activated", "reason": "none", "tries": 3},
          {"slot": "b", "event": "trial-boot", "reason": "none", "tries": 2},
          {"slot": "b", "event": "confirmed", "reason": "none", "tries": 2}
        ]
      }
    }"#,
    ),
    (
        "journal-v2-w1.bin",
        r#"{
      "file": "journal-v2-w1.bin",
      "kind": "journal",
      "format": 2,
      "description": "2 x 1024-byte region, write size 1: five entries (rotated into sector 1), then a claim and a torn sixth body",
      "geometry": {"offset": 0, "size": 2048, "write_size": 1, "erase_size": 1024, "entry_size": 152, "body_size": 144, "mark_size": 4, "entries_per_sector": 6},
      "head": {"seq": 5, "sector": 0, "index": 4, "acked": true, "crc": 2136006140},
      "torn": {"sector": 0, "index": 5, "bytes_landed": 72},
      "record": {
        "format": 1,
        "slot_count": 2,
        "last_booted": "b",
        "last_known_good": "b",
        "last_fallback": "none",
        "rollback_floor": 1,
        "slots": [
          {"slot": "a", "priority": 14, "tries": 2, "confirmed": true, "unbootable": null, "security_counter": 1, "version": {"major": 1, "minor": 0, "revision": 0, "build": 0}},
          {"slot": "b", "priority": 15, "tries": 2, "confirmed": true, "unbootable": null, "security_counter": 1, "version": {"major": 2, "minor": 0, "revision": 0, "build": 0}}
        ],
        "history": [
          {"slot": "a", "event": "created", "reason": "none", "tries": 3},
          {"slot": "a", "event": "trial-boot", "reason": "none", "tries": 2},
          {"slot": "a", "event": "confirmed", "reason": "none", "tries": 2},
          {"slot": "b", "event": "activated", "reason": "none", "tries": 3},
          {"slot": "b", "event": "trial-boot", "reason": "none", "tries": 2},
          {"slot": "b", "event": "confirmed", "reason": "none", "tries": 2}
        ]
      }
    }"#,
    ),
];

/// Vectors written with record format 2 (`docs/FORMAT.md`, "Record"): the records and the
/// journals holding them, frozen when the record format became 3 (the key floor). The
/// current code must keep reading them.
const FROZEN_RECORD_2: [(&str, &str); 5] = [
    (
        "record-v2-fresh.bin",
        r#"{
      "file": "record-v2-fresh.bin",
      "kind": "record",
      "description": "factory state: slot A on trial with 3 tries, B disabled",
      "length": 128,
      "decoded": {
        "format": 2,
        "slot_count": 2,
        "last_booted": null,
        "last_known_good": null,
        "last_fallback": "none",
        "rollback_floor": 0,
        "free_retries": 0,
        "slots": [
          {"slot": "a", "priority": 15, "tries": 3, "confirmed": false, "unbootable": null, "security_counter": 0, "version": {"major": 0, "minor": 0, "revision": 0, "build": 0}},
          {"slot": "b", "priority": 0, "tries": 0, "confirmed": false, "unbootable": null, "security_counter": 0, "version": {"major": 0, "minor": 0, "revision": 0, "build": 0}}
        ],
        "history": [
          {"slot": "a", "event": "created", "reason": "none", "tries": 3, "reset_cause": "unknown"}
        ]
      }
    }"#,
    ),
    (
        "record-v2-history.bin",
        r#"{
      "file": "record-v2-history.bin",
      "kind": "record",
      "description": "after three updates and power losses during a trial; the 8-entry history has wrapped",
      "length": 128,
      "decoded": {
        "format": 2,
        "slot_count": 2,
        "last_booted": "a",
        "last_known_good": "b",
        "last_fallback": "bad-signature",
        "rollback_floor": 2,
        "free_retries": 1,
        "slots": [
          {"slot": "a", "priority": 15, "tries": 1, "confirmed": false, "unbootable": null, "security_counter": 2, "version": {"major": 1, "minor": 3, "revision": 0, "build": 0}},
          {"slot": "b", "priority": 14, "tries": 1, "confirmed": true, "unbootable": null, "security_counter": 2, "version": {"major": 1, "minor": 1, "revision": 0, "build": 7}}
        ],
        "history": [
          {"slot": "b", "event": "fallback", "reason": "tries-exhausted", "tries": 1, "reset_cause": "unknown"},
          {"slot": "a", "event": "activated", "reason": "none", "tries": 3, "reset_cause": "unknown"},
          {"slot": "a", "event": "unbootable", "reason": "bad-signature", "tries": 3, "reset_cause": "unknown"},
          {"slot": "b", "event": "fallback", "reason": "bad-signature", "tries": 1, "reset_cause": "unknown"},
          {"slot": "a", "event": "activated", "reason": "none", "tries": 3, "reset_cause": "unknown"},
          {"slot": "a", "event": "trial-boot", "reason": "none", "tries": 2, "reset_cause": "power-on"},
          {"slot": "a", "event": "trial-boot", "reason": "none", "tries": 2, "reset_cause": "power-on"},
          {"slot": "a", "event": "trial-boot", "reason": "none", "tries": 1, "reset_cause": "watchdog"}
        ]
      }
    }"#,
    ),
    (
        "record-v2-4slot.bin",
        r#"{
      "file": "record-v2-4slot.bin",
      "kind": "record",
      "description": "four slots: confirmed, on trial, bad hash, marked bad",
      "length": 128,
      "decoded": {
        "format": 2,
        "slot_count": 4,
        "last_booted": "b",
        "last_known_good": "a",
        "last_fallback": "recovery-input",
        "rollback_floor": 3,
        "free_retries": 0,
        "slots": [
          {"slot": "a", "priority": 14, "tries": 0, "confirmed": true, "unbootable": null, "security_counter": 3, "version": {"major": 3, "minor": 1, "revision": 4, "build": 159}},
          {"slot": "b", "priority": 15, "tries": 2, "confirmed": false, "unbootable": null, "security_counter": 4, "version": {"major": 4, "minor": 0, "revision": 0, "build": 0}},
          {"slot": "c", "priority": 1, "tries": 0, "confirmed": false, "unbootable": "bad-hash", "security_counter": 0, "version": {"major": 0, "minor": 0, "revision": 0, "build": 0}},
          {"slot": "d", "priority": 0, "tries": 0, "confirmed": false, "unbootable": "marked-bad", "security_counter": 0, "version": {"major": 0, "minor": 0, "revision": 0, "build": 0}}
        ],
        "history": [
          {"slot": "a", "event": "created", "reason": "none", "tries": 3, "reset_cause": "unknown"}
        ]
      }
    }"#,
    ),
    (
        "journal-v2-r2-w8.bin",
        r#"{
      "file": "journal-v2-r2-w8.bin",
      "kind": "journal",
      "format": 2,
      "description": "2 x 1024-byte region, write size 8: five entries (rotated into sector 1), then a claim and a torn sixth body",
      "geometry": {"offset": 0, "size": 2048, "write_size": 8, "erase_size": 1024, "entry_size": 160, "body_size": 144, "mark_size": 8, "entries_per_sector": 6},
      "head": {"seq": 5, "sector": 0, "index": 4, "acked": true, "crc": 803233205},
      "torn": {"sector": 0, "index": 5, "bytes_landed": 72},
      "record": {
        "format": 2,
        "slot_count": 2,
        "last_booted": "b",
        "last_known_good": "b",
        "last_fallback": "none",
        "rollback_floor": 1,
        "free_retries": 0,
        "slots": [
          {"slot": "a", "priority": 14, "tries": 2, "confirmed": true, "unbootable": null, "security_counter": 1, "version": {"major": 1, "minor": 0, "revision": 0, "build": 0}},
          {"slot": "b", "priority": 15, "tries": 2, "confirmed": true, "unbootable": null, "security_counter": 1, "version": {"major": 2, "minor": 0, "revision": 0, "build": 0}}
        ],
        "history": [
          {"slot": "a", "event": "created", "reason": "none", "tries": 3, "reset_cause": "unknown"},
          {"slot": "a", "event": "trial-boot", "reason": "none", "tries": 2, "reset_cause": "unknown"},
          {"slot": "a", "event": "confirmed", "reason": "none", "tries": 2, "reset_cause": "unknown"},
          {"slot": "b", "event": "activated", "reason": "none", "tries": 3, "reset_cause": "unknown"},
          {"slot": "b", "event": "trial-boot", "reason": "none", "tries": 2, "reset_cause": "unknown"},
          {"slot": "b", "event": "confirmed", "reason": "none", "tries": 2, "reset_cause": "unknown"}
        ]
      }
    }"#,
    ),
    (
        "journal-v2-r2-w1.bin",
        r#"{
      "file": "journal-v2-r2-w1.bin",
      "kind": "journal",
      "format": 2,
      "description": "2 x 1024-byte region, write size 1: five entries (rotated into sector 1), then a claim and a torn sixth body",
      "geometry": {"offset": 0, "size": 2048, "write_size": 1, "erase_size": 1024, "entry_size": 152, "body_size": 144, "mark_size": 4, "entries_per_sector": 6},
      "head": {"seq": 5, "sector": 0, "index": 4, "acked": true, "crc": 2136006140},
      "torn": {"sector": 0, "index": 5, "bytes_landed": 72},
      "record": {
        "format": 2,
        "slot_count": 2,
        "last_booted": "b",
        "last_known_good": "b",
        "last_fallback": "none",
        "rollback_floor": 1,
        "free_retries": 0,
        "slots": [
          {"slot": "a", "priority": 14, "tries": 2, "confirmed": true, "unbootable": null, "security_counter": 1, "version": {"major": 1, "minor": 0, "revision": 0, "build": 0}},
          {"slot": "b", "priority": 15, "tries": 2, "confirmed": true, "unbootable": null, "security_counter": 1, "version": {"major": 2, "minor": 0, "revision": 0, "build": 0}}
        ],
        "history": [
          {"slot": "a", "event": "created", "reason": "none", "tries": 3, "reset_cause": "unknown"},
          {"slot": "a", "event": "trial-boot", "reason": "none", "tries": 2, "reset_cause": "unknown"},
          {"slot": "a", "event": "confirmed", "reason": "none", "tries": 2, "reset_cause": "unknown"},
          {"slot": "b", "event": "activated", "reason": "none", "tries": 3, "reset_cause": "unknown"},
          {"slot": "b", "event": "trial-boot", "reason": "none", "tries": 2, "reset_cause": "unknown"},
          {"slot": "b", "event": "confirmed", "reason": "none", "tries": 2, "reset_cause": "unknown"}
        ]
      }
    }"#,
    ),
];

/// Vectors of an earlier format, kept byte for byte and never regenerated: the current
/// code must keep reading them (`docs/FORMAT.md`, "Version rule"). Their descriptions are
/// kept as they were committed.
const FROZEN: [(&str, &str); 4] = [
    (
        "journal-w8.bin",
        r#"{
      "file": "journal-w8.bin",
      "kind": "journal",
      "description": "2 x 512-byte region, write size 8: five entries (rotated into sector 1) and a torn sixth",
      "geometry": {"offset": 0, "size": 1024, "write_size": 8, "erase_size": 512, "entry_size": 136, "entries_per_sector": 3},
      "head": {"seq": 5, "sector": 1, "index": 1, "next_index": 3},
      "torn": {"sector": 1, "index": 2, "bytes_landed": 64},
      "record": {
        "format": 1,
        "slot_count": 2,
        "last_booted": "b",
        "last_known_good": "b",
        "last_fallback": "none",
        "rollback_floor": 1,
        "slots": [
          {"slot": "a", "priority": 14, "tries": 2, "confirmed": true, "unbootable": null, "security_counter": 1, "version": {"major": 1, "minor": 0, "revision": 0, "build": 0}},
          {"slot": "b", "priority": 15, "tries": 2, "confirmed": true, "unbootable": null, "security_counter": 1, "version": {"major": 2, "minor": 0, "revision": 0, "build": 0}}
        ],
        "history": [
          {"slot": "a", "event": "created", "reason": "none", "tries": 3},
          {"slot": "a", "event": "trial-boot", "reason": "none", "tries": 2},
          {"slot": "a", "event": "confirmed", "reason": "none", "tries": 2},
          {"slot": "b", "event": "activated", "reason": "none", "tries": 3},
          {"slot": "b", "event": "trial-boot", "reason": "none", "tries": 2},
          {"slot": "b", "event": "confirmed", "reason": "none", "tries": 2}
        ]
      }
    }"#,
    ),
    (
        "journal-w1.bin",
        r#"{
      "file": "journal-w1.bin",
      "kind": "journal",
      "description": "2 x 512-byte region, write size 1: five entries (rotated into sector 1) and a torn sixth",
      "geometry": {"offset": 0, "size": 1024, "write_size": 1, "erase_size": 512, "entry_size": 136, "entries_per_sector": 3},
      "head": {"seq": 5, "sector": 1, "index": 1, "next_index": 3},
      "torn": {"sector": 1, "index": 2, "bytes_landed": 68},
      "record": {
        "format": 1,
        "slot_count": 2,
        "last_booted": "b",
        "last_known_good": "b",
        "last_fallback": "none",
        "rollback_floor": 1,
        "slots": [
          {"slot": "a", "priority": 14, "tries": 2, "confirmed": true, "unbootable": null, "security_counter": 1, "version": {"major": 1, "minor": 0, "revision": 0, "build": 0}},
          {"slot": "b", "priority": 15, "tries": 2, "confirmed": true, "unbootable": null, "security_counter": 1, "version": {"major": 2, "minor": 0, "revision": 0, "build": 0}}
        ],
        "history": [
          {"slot": "a", "event": "created", "reason": "none", "tries": 3},
          {"slot": "a", "event": "trial-boot", "reason": "none", "tries": 2},
          {"slot": "a", "event": "confirmed", "reason": "none", "tries": 2},
          {"slot": "b", "event": "activated", "reason": "none", "tries": 3},
          {"slot": "b", "event": "trial-boot", "reason": "none", "tries": 2},
          {"slot": "b", "event": "confirmed", "reason": "none", "tries": 2}
        ]
      }
    }"#,
    ),
    (
        "handoff-trial.bin",
        r#"{
      "file": "handoff-trial.bin",
      "kind": "handoff",
      "length": 24,
      "decoded": {"slot": "b", "kind": "trial", "tries_left": 2, "last_fallback": "none", "version": {"major": 2, "minor": 0, "revision": 1, "build": 0}, "record_seq": 4}
    }"#,
    ),
    (
        "handoff-last-resort.bin",
        r#"{
      "file": "handoff-last-resort.bin",
      "kind": "handoff",
      "length": 24,
      "decoded": {"slot": "a", "kind": "last-resort", "tries_left": 0, "last_fallback": "last-resort", "version": {"major": 1, "minor": 0, "revision": 0, "build": 0}, "record_seq": 16909060}
    }"#,
    ),
];

/// The format-2 hand-off vectors (32 bytes), frozen when format 3 was introduced: a format-3
/// decoder reads them as format 2 (reset cause unknown, no watchdog).
const FROZEN_HANDOFF_2: [(&str, &str); 3] = [
    (
        "handoff-v2-trial.bin",
        r#"{
      "file": "handoff-v2-trial.bin",
      "kind": "handoff",
      "length": 32,
      "decoded": {"slot": "b", "kind": "trial", "tries_left": 2, "last_fallback": "none", "version": {"major": 2, "minor": 0, "revision": 1, "build": 0}, "record_seq": 4}
    }"#,
    ),
    (
        "handoff-v2-last-resort.bin",
        r#"{
      "file": "handoff-v2-last-resort.bin",
      "kind": "handoff",
      "length": 32,
      "decoded": {"slot": "a", "kind": "last-resort", "tries_left": 0, "last_fallback": "last-resort", "version": {"major": 1, "minor": 0, "revision": 0, "build": 0}, "record_seq": 16909060}
    }"#,
    ),
    (
        "handoff-v2-not-recorded.bin",
        r#"{
      "file": "handoff-v2-not-recorded.bin",
      "kind": "handoff",
      "length": 32,
      "decoded": {"slot": "a", "kind": "confirmed", "tries_left": 0, "last_fallback": "flash-error", "version": {"major": 1, "minor": 0, "revision": 0, "build": 0}, "record_seq": 9}
    }"#,
    ),
];

/// The record the format-1 journal vectors hold: factory boot, confirm, activate B, trial
/// boot of B, confirm (the activation of A after it was torn).
fn journal_v1_record() -> Record {
    let images = [valid(v(1, 0, 0, 0), 1), valid(v(2, 0, 0, 0), 1)];
    let boot = |r: &Record| match crate::policy::decide(r, Inputs::default(), |s| images[s.index()]) {
        crate::policy::Decision::Boot(p) => p.record,
        crate::policy::Decision::Recovery(n) => n.record,
    };
    let mut r = boot(&FreshRecord::default().record(false));
    ops::mark_good(&mut r, SlotId::A).unwrap();
    ops::set_active(&mut r, SlotId::B, Tries::DEFAULT).unwrap();
    let mut r = boot(&r);
    ops::mark_good(&mut r, SlotId::B).unwrap();
    r
}

struct JournalVector {
    cfg: JournalConfig,
    bytes: Vec<u8>,
    head: Head,
    record: Record,
    /// The torn entry's position and how many bytes of it landed.
    torn: (Pos, usize),
}

/// A 2 x 1024-byte region: factory boot, confirm, activate B, trial boot of B, confirm;
/// then an activation of A torn by a power cut halfway through its body.
fn journal_vector(write_size: u32) -> JournalVector {
    let cfg = JournalConfig { offset: 0, size: 2048, write_size, erase_size: 1024 };
    let mut f = SimFlash::new(SimConfig {
        size: 2048,
        write_size: write_size as usize,
        erase_size: 1024,
        write_count: crate::nor::WriteCount::Once,
    })
    .unwrap();
    let mut j = Journal::open(&mut f, cfg).unwrap();
    let images = [valid(v(1, 0, 0, 0), 1), valid(v(2, 0, 0, 0), 1)];
    let boot = |j: &mut Journal<&mut SimFlash>| {
        select(j, Inputs::default(), FreshRecord::default(), |_, s| images[s.index()]).unwrap();
    };
    boot(&mut j);
    j.update(|r| ops::mark_good(r, SlotId::A)).unwrap();
    j.update(|r| ops::set_active(r, SlotId::B, Tries::DEFAULT)).unwrap();
    boot(&mut j);
    j.update(|r| ops::mark_good(r, SlotId::B)).unwrap();
    let Found::Valid(head) = j.found() else { panic!("no head") };
    let record = j.record().unwrap().clone();
    let words = ((ENTRY_LEN as u32).div_ceil(write_size) / 2) as usize;
    // The claim of the head's position lands, then half of the next body.
    let at = j.flash_mut().mutating_ops() + 1;
    j.flash_mut().arm_cut(at, CutKind::TornPrefix(words));
    assert!(j.update(|r| ops::set_active(r, SlotId::A, Tries::DEFAULT)).is_err());
    f.power_cycle();
    let torn = (Pos { sector: head.pos.sector, index: head.pos.index + 1 }, words * write_size as usize);
    JournalVector { cfg, bytes: f.bytes().to_vec(), head, record, torn }
}

struct SlotVector {
    header: SlotHeader,
    image: Vec<u8>,
    slot: Vec<u8>,
}

const SLOT_HEADER_SIZE: u16 = 256;
const SLOT_LOAD_ADDR: u64 = 0x0001_0100;

fn slot_vector() -> SlotVector {
    slot_vector_with(crate::tlv::Tlvs::EMPTY)
}

/// The compatible identifier of the format-2 vectors.
const VECTOR_COMPATIBLE: &[u8] = b"safeslot,test-vector";

/// The protected TLVs of the format-2 vectors: every known tag, and an unknown
/// informational one (0x90), which readers skip.
fn vector_tlvs() -> crate::tlv::Tlvs {
    use crate::tlv::tag;
    let mut t = crate::tlv::Tlvs::EMPTY;
    t.push(tag::COMPATIBLE, VECTOR_COMPATIBLE).unwrap();
    t.push(tag::REVOKE_BELOW, &[1]).unwrap();
    t.push(tag::REQUIRES_VERSION, &v(1, 0, 0, 0).to_bytes()).unwrap();
    t.push(tag::BUILD_DIGEST, &Sha256::digest(b"safeslot test-vector build info")).unwrap();
    t.push(0x90, &[0xC0, 0xFF, 0xEE, 0x00]).unwrap();
    t
}

fn slot_vector_with(tlvs: crate::tlv::Tlvs) -> SlotVector {
    let key = test_key();
    let image: Vec<u8> = (0..100u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut image_hash = [0u8; 32];
    image_hash.copy_from_slice(&Sha256::digest(&image));
    let mut header = SlotHeader {
        header_size: SLOT_HEADER_SIZE,
        image_len: image.len() as u32,
        version: v(1, 2, 3, 4),
        security_counter: 5,
        load_addr: SLOT_LOAD_ADDR,
        entry: 0,
        image_hash,
        key_id: key_id(&key.pk),
        signature: [0; 64],
        tlvs,
    };
    header.signature = *key.sk.sign(header.signed_bytes(), None);
    let mut slot = header.encode().to_vec();
    slot.resize(usize::from(SLOT_HEADER_SIZE), 0xFF);
    slot.extend_from_slice(&image);
    SlotVector { header, image, slot }
}

fn handoff_trial() -> Handoff {
    Handoff {
        slot: SlotId::B,
        kind: BootKind::Trial,
        tries_left: Tries::new(2).unwrap(),
        last_fallback: Reason::None,
        version: v(2, 0, 1, 0),
        record_seq: 4,
        recorded: true,
        reset_cause: ResetCause::Watchdog,
        watchdog_ms: 4000,
        format: HANDOFF_FORMAT,
    }
}

fn handoff_last_resort() -> Handoff {
    Handoff {
        slot: SlotId::A,
        kind: BootKind::LastResort,
        tries_left: Tries::ZERO,
        last_fallback: Reason::LastResort,
        version: v(1, 0, 0, 0),
        record_seq: 0x0102_0304,
        recorded: true,
        reset_cause: ResetCause::PowerOn,
        watchdog_ms: 0,
        format: HANDOFF_FORMAT,
    }
}

/// A confirmed boot whose record write failed: the record does not show it.
fn handoff_not_recorded() -> Handoff {
    Handoff {
        slot: SlotId::A,
        kind: BootKind::Confirmed,
        tries_left: Tries::ZERO,
        last_fallback: Reason::FlashError,
        version: v(1, 0, 0, 0),
        record_seq: 9,
        recorded: false,
        reset_cause: ResetCause::Unknown,
        watchdog_ms: 0,
        format: HANDOFF_FORMAT,
    }
}

// ---- JSON (hand-formatted; shared has no serde) -----------------------------------------

fn slot_json(s: Option<SlotId>) -> String {
    s.map_or_else(|| String::from("null"), |s| format!("\"{}\"", s.letter()))
}

fn version_json(v: Version) -> String {
    format!("{{\"major\": {}, \"minor\": {}, \"revision\": {}, \"build\": {}}}", v.major, v.minor, v.revision, v.build)
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn record_json(r: &Record, indent: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{{");
    let _ = writeln!(o, "{indent}  \"format\": {RECORD_FORMAT},");
    let _ = writeln!(o, "{indent}  \"key_floor\": {},", r.key_floor);
    let _ = writeln!(o, "{indent}  \"slot_count\": {},", r.slot_count());
    let _ = writeln!(o, "{indent}  \"last_booted\": {},", slot_json(r.last_booted));
    let _ = writeln!(o, "{indent}  \"last_known_good\": {},", slot_json(r.last_known_good));
    let _ = writeln!(o, "{indent}  \"last_fallback\": \"{}\",", r.last_fallback.name());
    let _ = writeln!(o, "{indent}  \"rollback_floor\": {},", r.rollback_floor);
    let _ = writeln!(o, "{indent}  \"free_retries\": {},", r.free_retries);
    let _ = writeln!(o, "{indent}  \"slots\": [");
    let n = r.slot_ids().count();
    for (i, id) in r.slot_ids().enumerate() {
        let s = r.slot(id).unwrap();
        let unb = s.unbootable.map_or_else(|| String::from("null"), |x| format!("\"{}\"", x.name()));
        let _ = writeln!(
            o,
            "{indent}    {{\"slot\": \"{}\", \"priority\": {}, \"tries\": {}, \"confirmed\": {}, \"unbootable\": {}, \"security_counter\": {}, \"version\": {}}}{}",
            id.letter(),
            s.priority.get(),
            s.tries.get(),
            s.confirmed,
            unb,
            s.security_counter,
            version_json(s.version),
            if i + 1 < n { "," } else { "" }
        );
    }
    let _ = writeln!(o, "{indent}  ],");
    let _ = writeln!(o, "{indent}  \"history\": [");
    let n = r.history().count();
    for (i, h) in r.history().enumerate() {
        let _ = writeln!(
            o,
            "{indent}    {{\"slot\": {}, \"event\": \"{}\", \"reason\": \"{}\", \"tries\": {}, \"reset_cause\": \"{}\"}}{}",
            slot_json(h.slot),
            h.event.name(),
            h.reason.name(),
            h.tries.get(),
            h.cause.name(),
            if i + 1 < n { "," } else { "" }
        );
    }
    let _ = writeln!(o, "{indent}  ]");
    let _ = write!(o, "{indent}}}");
    o
}

fn header_json(h: &SlotHeader, indent: &str) -> String {
    let tlvs = if h.tlvs.is_empty() {
        String::new()
    } else {
        let items: Vec<String> = crate::tlv::entries(h.tlvs.as_bytes())
            .map(|e| {
                let e = e.unwrap();
                format!(
                    "{{\"tag\": {}, \"critical\": {}, \"known\": {}, \"value\": \"{}\"}}",
                    e.tag,
                    e.is_critical(),
                    e.is_known(),
                    hex(e.value)
                )
            })
            .collect();
        format!(",\n{indent}  \"tlvs\": [\n{indent}    {}\n{indent}  ]", items.join(&format!(",\n{indent}    ")))
    };
    format!(
        "{{\n{indent}  \"format\": {},\n{indent}  \"header_size\": {},\n{indent}  \"image_len\": {},\n{indent}  \"version\": {},\n{indent}  \"security_counter\": {},\n{indent}  \"load_addr\": {},\n{indent}  \"entry\": {},\n{indent}  \"image_sha256\": \"{}\",\n{indent}  \"key_id\": \"{}\",\n{indent}  \"signature\": \"{}\"{tlvs}\n{indent}}}",
        h.format(),
        h.header_size,
        h.image_len,
        version_json(h.version),
        h.security_counter,
        h.load_addr,
        h.entry,
        hex(&h.image_hash),
        hex(&h.key_id),
        hex(&h.signature)
    )
}

fn handoff_json(h: &Handoff) -> String {
    format!(
        "{{\"slot\": \"{}\", \"kind\": \"{}\", \"tries_left\": {}, \"last_fallback\": \"{}\", \"version\": {}, \"record_seq\": {}, \"recorded\": {}, \"reset_cause\": \"{}\", \"watchdog_ms\": {}, \"format\": {}}}",
        h.slot.letter(),
        h.kind.name(),
        h.tries_left.get(),
        h.last_fallback.name(),
        version_json(h.version),
        h.record_seq,
        h.recorded,
        h.reset_cause.name(),
        h.watchdog_ms,
        h.format
    )
}

// ---- the vector set -------------------------------------------------------------------

struct Vector {
    file: &'static str,
    bytes: Vec<u8>,
    /// The JSON object describing it (without the surrounding braces' indentation).
    json: String,
}

fn all() -> Vec<Vector> {
    let mut out = Vec::new();
    for (file, json) in FROZEN_RECORD_1.iter().take(3) {
        out.push(Vector { file, bytes: load(file), json: String::from(*json) });
    }
    for (file, json) in FROZEN_RECORD_2.iter().take(3) {
        out.push(Vector { file, bytes: load(file), json: String::from(*json) });
    }
    for (file, desc, r) in [
        ("record-v3-fresh.bin", "factory state: slot A on trial with 3 tries, B disabled", record_fresh()),
        (
            "record-v3-history.bin",
            "after three updates and power losses during a trial; the 8-entry history has wrapped",
            record_history_v2(),
        ),
        (
            "record-v3-4slot.bin",
            "four slots: confirmed, on trial, revoked key, marked bad; keys below index 1 revoked",
            record_4slot_v3(),
        ),
    ] {
        out.push(Vector {
            file,
            bytes: r.encode().to_vec(),
            json: format!(
                "{{\n      \"file\": \"{file}\",\n      \"kind\": \"record\",\n      \"description\": \"{desc}\",\n      \"length\": {RECORD_LEN},\n      \"decoded\": {}\n    }}",
                record_json(&r, "      ")
            ),
        });
    }
    for (file, json) in FROZEN.iter().take(2) {
        out.push(Vector { file, bytes: load(file), json: String::from(*json) });
    }
    for (file, json) in FROZEN_RECORD_1.iter().skip(3) {
        out.push(Vector { file, bytes: load(file), json: String::from(*json) });
    }
    for (file, json) in FROZEN_RECORD_2.iter().skip(3) {
        out.push(Vector { file, bytes: load(file), json: String::from(*json) });
    }
    for (file, w) in [("journal-v2-r3-w8.bin", 8u32), ("journal-v2-r3-w1.bin", 1)] {
        let jv = journal_vector(w);
        out.push(Vector {
            file,
            bytes: jv.bytes.clone(),
            json: format!(
                "{{\n      \"file\": \"{file}\",\n      \"kind\": \"journal\",\n      \"format\": 2,\n      \"description\": \"2 x 1024-byte region, write size {w}: five entries (rotated into sector 1), then a claim and a torn sixth body\",\n      \"geometry\": {{\"offset\": 0, \"size\": {}, \"write_size\": {}, \"erase_size\": {}, \"entry_size\": {}, \"body_size\": {}, \"mark_size\": {}, \"entries_per_sector\": {}}},\n      \"head\": {{\"seq\": {}, \"sector\": {}, \"index\": {}, \"acked\": {}, \"crc\": {}}},\n      \"torn\": {{\"sector\": {}, \"index\": {}, \"bytes_landed\": {}}},\n      \"record\": {}\n    }}",
                jv.cfg.size,
                jv.cfg.write_size,
                jv.cfg.erase_size,
                jv.cfg.entry_size(),
                jv.cfg.body_size(),
                jv.cfg.mark_size(),
                jv.cfg.entries_per_sector(),
                jv.head.seq,
                jv.head.pos.sector,
                jv.head.pos.index,
                jv.head.acked,
                jv.head.crc,
                jv.torn.0.sector,
                jv.torn.0.index,
                jv.torn.1,
                record_json(&jv.record, "      ")
            ),
        });
    }
    let key = test_key();
    out.push(Vector {
        file: "test-key.pub",
        bytes: key.pk.to_vec(),
        json: format!(
            "{{\n      \"file\": \"test-key.pub\",\n      \"kind\": \"public-key\",\n      \"description\": \"TEST ed25519 public key from the fixed seed [7; 32]: public knowledge, never trust it in a release build\",\n      \"key_id\": \"{}\"\n    }}",
            hex(&key_id(&key.pk))
        ),
    });
    let sv = slot_vector();
    out.push(Vector {
        file: "header-valid.bin",
        bytes: sv.header.encode().to_vec(),
        json: format!(
            "{{\n      \"file\": \"header-valid.bin\",\n      \"kind\": \"header\",\n      \"description\": \"slot header signed with test-key.pub\",\n      \"length\": {HEADER_LEN},\n      \"signature_valid\": true,\n      \"decoded\": {}\n    }}",
            header_json(&sv.header, "      ")
        ),
    });
    let mut bad = sv.header;
    bad.signature[0] ^= 0x01;
    out.push(Vector {
        file: "header-bad-signature.bin",
        bytes: bad.encode().to_vec(),
        json: format!(
            "{{\n      \"file\": \"header-bad-signature.bin\",\n      \"kind\": \"header\",\n      \"description\": \"header-valid.bin with bit 0 of the signature flipped: decodes, fails verification (bad-signature)\",\n      \"length\": {HEADER_LEN},\n      \"signature_valid\": false,\n      \"decoded\": {}\n    }}",
            header_json(&bad, "      ")
        ),
    });
    out.push(Vector {
        file: "slot-valid.bin",
        bytes: sv.slot.clone(),
        json: format!(
            "{{\n      \"file\": \"slot-valid.bin\",\n      \"kind\": \"slot-image\",\n      \"description\": \"header-valid.bin, 0xFF padding to the 256-byte header area, then the 100-byte image; verifies with test-key.pub\",\n      \"header_size\": {SLOT_HEADER_SIZE},\n      \"load_addr\": {SLOT_LOAD_ADDR},\n      \"image_len\": {},\n      \"verify\": \"ok\"\n    }}",
            sv.image.len()
        ),
    });
    let sv2 = slot_vector_with(vector_tlvs());
    out.push(Vector {
        file: "header-v2-valid.bin",
        bytes: sv2.header.encode().to_vec(),
        json: format!(
            "{{\n      \"file\": \"header-v2-valid.bin\",\n      \"kind\": \"header\",\n      \"description\": \"format-2 slot header with a protected TLV area (every known tag and an unknown informational one), signed with test-key.pub\",\n      \"length\": {},\n      \"signature_valid\": true,\n      \"decoded\": {}\n    }}",
            sv2.header.len(),
            header_json(&sv2.header, "      ")
        ),
    });
    out.push(Vector {
        file: "slot-v2-valid.bin",
        bytes: sv2.slot.clone(),
        json: format!(
            "{{\n      \"file\": \"slot-v2-valid.bin\",\n      \"kind\": \"slot-image\",\n      \"description\": \"header-v2-valid.bin, 0xFF padding to the 256-byte header area, then the 100-byte image; verifies with test-key.pub on a board whose compatible is the header's, and is incompatible elsewhere\",\n      \"header_size\": {SLOT_HEADER_SIZE},\n      \"load_addr\": {SLOT_LOAD_ADDR},\n      \"image_len\": {},\n      \"compatible\": \"{}\",\n      \"verify\": \"ok\"\n    }}",
            sv2.image.len(),
            String::from_utf8_lossy(VECTOR_COMPATIBLE)
        ),
    });
    for (file, json) in FROZEN.iter().skip(2) {
        out.push(Vector { file, bytes: load(file), json: String::from(*json) });
    }
    for (file, json) in FROZEN_HANDOFF_2 {
        out.push(Vector { file, bytes: load(file), json: String::from(json) });
    }
    for (file, h) in [
        ("handoff-v3-trial.bin", handoff_trial()),
        ("handoff-v3-last-resort.bin", handoff_last_resort()),
        ("handoff-v3-not-recorded.bin", handoff_not_recorded()),
    ] {
        out.push(Vector {
            file,
            bytes: h.encode().to_vec(),
            json: format!(
                "{{\n      \"file\": \"{file}\",\n      \"kind\": \"handoff\",\n      \"length\": {HANDOFF_LEN},\n      \"decoded\": {}\n    }}",
                handoff_json(&h)
            ),
        });
    }
    out
}

fn vectors_json(vs: &[Vector]) -> String {
    let mut o = String::from("{\n  \"schema\": 1,\n  \"generated_by\": \"cargo test -p safeslot-shared vectors (SAFESLOT_BLESS=1 writes)\",\n  \"crc\": \"CRC-32/ISO-HDLC\",\n  \"vectors\": [\n");
    for (i, v) in vs.iter().enumerate() {
        let _ = writeln!(o, "    {}{}", v.json, if i + 1 < vs.len() { "," } else { "" });
    }
    o.push_str("  ]\n}\n");
    o
}

fn load(file: &str) -> Vec<u8> {
    std::fs::read(dir().join(file))
        .unwrap_or_else(|e| panic!("docs/vectors/{file}: {e} (new vector? run with SAFESLOT_BLESS=1)"))
}

#[test]
fn vectors_match_the_committed_files() {
    let vs = all();
    let json = vectors_json(&vs);
    if std::env::var_os("SAFESLOT_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(dir()).unwrap();
        for v in &vs {
            std::fs::write(dir().join(v.file), &v.bytes).unwrap();
        }
        std::fs::write(dir().join("vectors.json"), &json).unwrap();
        return;
    }
    for v in &vs {
        assert!(
            load(v.file) == v.bytes,
            "docs/vectors/{} differs from what the code produces: a format change? Old vectors must keep decoding",
            v.file
        );
    }
    let on_disk = String::from_utf8(load("vectors.json")).unwrap();
    assert!(on_disk == json, "docs/vectors/vectors.json is stale: run with SAFESLOT_BLESS=1 and review the diff");
    let listed: Vec<&str> = vs.iter().map(|v| v.file).collect();
    for e in std::fs::read_dir(dir()).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(
            name == "vectors.json" || name == "README.md" || listed.contains(&name.as_str()),
            "unlisted file docs/vectors/{name}"
        );
    }
}

#[test]
fn record_vectors_decode_and_reencode() {
    for (file, r) in [
        ("record-v3-fresh.bin", record_fresh()),
        ("record-v3-history.bin", record_history_v2()),
        ("record-v3-4slot.bin", record_4slot_v3()),
    ] {
        let b = load(file);
        let got = Record::decode(&b).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(got, r, "{file}");
        assert_eq!(&got.encode()[..], &b[..], "{file}: re-encoding changes bytes");
    }
    // The frozen format-2 vectors: the same values, re-encoded byte for byte by a writer that
    // keeps the format; the key floor reads as 0.
    for (file, r) in [
        ("record-v2-fresh.bin", record_fresh()),
        ("record-v2-history.bin", record_history_v2()),
        ("record-v2-4slot.bin", record_4slot()),
    ] {
        let b = load(file);
        assert_eq!(b[crate::record::field::FORMAT], crate::record::RECORD_FORMAT_2, "{file}");
        let got = Record::decode(&b).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!((got.format(), &got.encode()[..]), (crate::record::RECORD_FORMAT_2, &b[..]), "{file}");
        assert_eq!(upgraded(Ok::<_, ()>(&got)), Some(r), "{file}");
        // A format-2 record with a byte at the key floor does not decode (reserved there).
        let mut c = got.clone();
        c.key_floor = 1;
        let mut bad = c.encode();
        bad[crate::record::field::FORMAT] = crate::record::RECORD_FORMAT_2;
        let crc = crate::codec::crc32(&bad[..crate::record::field::CRC]);
        bad[crate::record::field::CRC..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(Record::decode(&bad), Err(crate::DecodeError::Field("reserved")), "{file}");
        // ... and a key floor is never dropped: such a record is written as format 3.
        assert_eq!(c.encode()[crate::record::field::FORMAT], RECORD_FORMAT, "{file}");
    }
    assert_eq!(record_history().history().count(), 8);
    let h = record_history_v2();
    assert_eq!(h.free_retries, 1);
    assert!(
        h.history().any(|e| e.cause == ResetCause::PowerOn) && h.history().any(|e| e.cause == ResetCause::Watchdog)
    );
}

/// A record read from a journal, moved to the current format (the values, not the
/// format they were read in, are compared).
fn upgraded<E>(r: Result<&Record, E>) -> Option<Record> {
    r.ok().cloned().map(|mut r| {
        r.upgrade();
        r
    })
}

/// The record-format-1 vectors still decode, to the same values (reset causes unknown, no
/// free retries), and re-encode as format 2 that decodes to them again.
#[test]
fn format_1_record_vectors_still_read() {
    for (file, r) in [
        ("record-fresh.bin", record_fresh()),
        ("record-history.bin", record_history()),
        ("record-4slot.bin", record_4slot()),
    ] {
        let b = load(file);
        assert_eq!(b[crate::record::field::FORMAT], crate::record::RECORD_FORMAT_1, "{file}");
        let mut got = Record::decode(&b).unwrap_or_else(|e| panic!("{file}: {e}"));
        // A writer that keeps the format (the agent) writes the same bytes back.
        assert_eq!((got.format(), &got.encode()[..]), (crate::record::RECORD_FORMAT_1, &b[..]), "{file}");
        // Upgraded (the boot stage), the values are the same and the bytes format 2.
        got.upgrade();
        assert_eq!(got, r, "{file}");
        let again = got.encode();
        assert_eq!(again[crate::record::field::FORMAT], RECORD_FORMAT, "{file}");
        assert_eq!(
            Record::decode(&again).map(|mut x| {
                x.upgrade();
                x
            }),
            Ok(r),
            "{file}"
        );
    }
    for (file, w) in [("journal-v2-w8.bin", 8u32), ("journal-v2-w1.bin", 1)] {
        let jv = journal_vector(w);
        let b = load(file);
        let sim = SimConfig {
            size: b.len(),
            write_size: w as usize,
            erase_size: 1024,
            write_count: crate::nor::WriteCount::Once,
        };
        let mut j = Journal::open(SimFlash::from_bytes(sim, b).unwrap(), jv.cfg).unwrap();
        assert_eq!(j.found(), Found::Valid(jv.head), "{file}");
        assert_eq!(upgraded(j.record()), Some(jv.record.clone()), "{file}");
        j.update(|x| ops::set_active(x, SlotId::A, Tries::DEFAULT)).unwrap();
        assert_eq!(j.seq(), jv.head.seq + 1, "{file}");
        // A writer other than the boot stage (here the record operations, as the agent
        // runs them) keeps format 1: an older boot stage can still read the record.
        assert_eq!(j.record().unwrap().format(), crate::record::RECORD_FORMAT_1, "{file}");
    }
}

#[test]
fn journal_vectors_scan_to_the_expected_head() {
    for (file, w) in [("journal-v2-r3-w8.bin", 8u32), ("journal-v2-r3-w1.bin", 1)] {
        let jv = journal_vector(w);
        let b = load(file);
        let sim = SimConfig {
            size: b.len(),
            write_size: w as usize,
            erase_size: 1024,
            write_count: crate::nor::WriteCount::Once,
        };
        let mut j = Journal::open(SimFlash::from_bytes(sim, b.clone()).unwrap(), jv.cfg).unwrap();
        assert_eq!(j.found(), Found::Valid(jv.head), "{file}");
        assert_eq!(j.record(), Ok(&jv.record), "{file}");
        assert!(j.head_is_solid(), "{file}");
        // The head entry re-encodes to the bytes at its position, padded with 0xFF, and
        // its ack mark is written.
        let c = jv.cfg;
        let at = c.position_offset(jv.head.pos).unwrap() as usize;
        let (bs, ms) = (c.body_size() as usize, c.mark_size() as usize);
        let body = encode_entry(jv.head.seq, 0, c.geometry(), &jv.record);
        let prev = crate::codec::get_u32(&b[at..], crate::journal::field::PREV).unwrap();
        assert_eq!(&b[at..at + ENTRY_LEN], &encode_entry(jv.head.seq, prev, c.geometry(), &jv.record)[..], "{file}");
        assert_ne!(&b[at..at + ENTRY_LEN], &body[..], "{file}: prev links the entry before");
        assert!(b[at + ENTRY_LEN..at + bs].iter().all(|&x| x == 0xFF), "{file}: padding");
        assert!(b[at + bs..at + bs + ms].iter().all(|&x| x == crate::journal::MARK), "{file}: ack");
        assert!(b[at + bs + ms..at + bs + 2 * ms].iter().all(|&x| x == crate::journal::MARK), "{file}: claim");
        // The torn entry is partly programmed and does not decode.
        let t = c.position_offset(jv.torn.0).unwrap() as usize;
        assert!(b[t..t + jv.torn.1].iter().any(|&x| x != 0xFF) && b[t + jv.torn.1..t + bs].iter().all(|&x| x == 0xFF));
        assert_eq!(crate::journal::decode_entry(&b[t..t + bs]), None);
        // And the journal still appends (after the torn position, program-once safe).
        j.update(|x| ops::set_active(x, SlotId::A, Tries::DEFAULT)).unwrap();
        assert_eq!(j.seq(), jv.head.seq + 1);
        assert_ne!(j.record(), Ok(&jv.record));
    }
}

/// The frozen journals of format-2 records still read: the same head position and
/// sequence number, the same record values; an append by a writer other than the boot stage
/// keeps format 2.
#[test]
fn format_2_record_journal_vectors_still_read() {
    for (file, w) in [("journal-v2-r2-w8.bin", 8u32), ("journal-v2-r2-w1.bin", 1)] {
        let jv = journal_vector(w);
        let b = load(file);
        let sim = SimConfig {
            size: b.len(),
            write_size: w as usize,
            erase_size: 1024,
            write_count: crate::nor::WriteCount::Once,
        };
        let mut j = Journal::open(SimFlash::from_bytes(sim, b).unwrap(), jv.cfg).unwrap();
        let Found::Valid(h) = j.found() else { panic!("{file}: no head") };
        assert_eq!((h.seq, h.pos, h.acked, h.format), (jv.head.seq, jv.head.pos, jv.head.acked, jv.head.format));
        assert_eq!(j.record().unwrap().format(), crate::record::RECORD_FORMAT_2, "{file}");
        assert_eq!(upgraded(j.record()), Some(jv.record.clone()), "{file}");
        j.update(|x| ops::set_active(x, SlotId::A, Tries::DEFAULT)).unwrap();
        assert_eq!(j.record().unwrap().format(), crate::record::RECORD_FORMAT_2, "{file}");
    }
}

/// The format-1 journal vectors still read, with the same head and record, and the
/// first append moves the region to format 2.
#[test]
fn format_1_journal_vectors_still_read() {
    for (file, w, landed) in [("journal-w8.bin", 8u32, 64usize), ("journal-w1.bin", 1, 68)] {
        let b = load(file);
        let cfg = JournalConfig { offset: 0, size: 1024, write_size: w, erase_size: 512 };
        let sim = SimConfig {
            size: b.len(),
            write_size: w as usize,
            erase_size: 512,
            write_count: crate::nor::WriteCount::Once,
        };
        let mut j = Journal::open(SimFlash::from_bytes(sim, b.clone()).unwrap(), cfg).unwrap();
        let Found::Valid(h) = j.found() else { panic!("{file}: no head") };
        assert_eq!((h.seq, h.format, h.pos), (5, 1, Pos { sector: 1, index: 1 }), "{file}");
        assert_eq!(upgraded(j.record()), Some(journal_v1_record()), "{file}");
        assert_eq!(decode_v1_entry(&b[512 + 136..512 + 272]).map(|e| e.0), Some(5), "{file}");
        // The torn sixth entry (136 B positions) does not decode.
        assert!(b[512 + 272..512 + 272 + landed].iter().any(|&x| x != 0xFF));
        assert_eq!(decode_v1_entry(&b[512 + 272..512 + 408]), None);
        j.update(|x| ops::set_active(x, SlotId::A, Tries::DEFAULT)).unwrap();
        let h = match j.found() {
            Found::Valid(h) => h,
            other => panic!("{other:?}"),
        };
        assert_eq!((h.seq, h.format, h.pos.sector), (6, crate::journal::FORMAT, 0), "{file}");
    }
}

#[test]
fn header_and_slot_vectors_verify_with_the_test_key() {
    let sv = slot_vector();
    let pk: [u8; 32] = load("test-key.pub").try_into().unwrap();
    assert_eq!(pk, *test_key().pk);
    let b = load("header-valid.bin");
    let h = SlotHeader::decode(&b).unwrap();
    assert_eq!(h, sv.header);
    assert_eq!(&h.encode()[..], &b[..]);
    let bad = SlotHeader::decode(&load("header-bad-signature.bin")).unwrap();
    assert_ne!(bad.signature, h.signature);

    let slot = load("slot-valid.bin");
    assert_eq!(slot, sv.slot);
    let len = slot.len();
    let region = SlotRegion {
        offset: 0,
        size: len as u32,
        header_size: u32::from(SLOT_HEADER_SIZE),
        load_addr: Some(SLOT_LOAD_ADDR),
    };
    let sim = SimConfig { size: len, write_size: 4, erase_size: 4, write_count: crate::nor::WriteCount::Unlimited };
    let mut f = SimFlash::from_bytes(sim, slot.clone()).unwrap();
    let ok = verify_slot(&mut f, region, &Trust::keys(&[[0; 32], pk])).unwrap();
    assert_eq!((ok.header, ok.key_index), (sv.header, 1));
    // The same slot with the bad-signature header.
    let mut tampered = slot.clone();
    tampered[..HEADER_LEN].copy_from_slice(&load("header-bad-signature.bin"));
    let mut f = SimFlash::from_bytes(sim, tampered).unwrap();
    assert_eq!(verify_slot(&mut f, region, &Trust::keys(&[pk])).map(|_| ()), Err(Reason::BadSignature));
    let mut f = SimFlash::from_bytes(sim, sv.slot.clone()).unwrap();
    assert_eq!(verify_slot(&mut f, region, &Trust::keys(&[[1; 32]])).map(|_| ()), Err(Reason::UnknownKey));
    // A format-1 image names no product: a board that names one refuses it.
    let mut f = SimFlash::from_bytes(sim, slot).unwrap();
    let on_product = Trust { keys: &[pk], compatible: Some(VECTOR_COMPATIBLE) };
    assert_eq!(verify_slot(&mut f, region, &on_product).map(|_| ()), Err(Reason::Incompatible));
}

#[test]
fn format_2_header_and_slot_vectors_verify_only_on_their_product() {
    let sv = slot_vector_with(vector_tlvs());
    let pk: [u8; 32] = load("test-key.pub").try_into().unwrap();
    let b = load("header-v2-valid.bin");
    let h = SlotHeader::decode(&b).unwrap();
    assert_eq!(h, sv.header);
    assert_eq!(&h.encode()[..], &b[..]);
    assert_eq!(h.format(), crate::header::HEADER_FORMAT);
    assert_eq!(h.tlvs.compatible(), Some(VECTOR_COMPATIBLE));
    assert_eq!((h.tlvs.revoke_below(), h.tlvs.requires_version()), (1, Some(v(1, 0, 0, 0))));
    let slot = load("slot-v2-valid.bin");
    assert_eq!(slot, sv.slot);
    let len = slot.len();
    let region = SlotRegion {
        offset: 0,
        size: len as u32,
        header_size: u32::from(SLOT_HEADER_SIZE),
        load_addr: Some(SLOT_LOAD_ADDR),
    };
    let sim = SimConfig { size: len, write_size: 4, erase_size: 4, write_count: crate::nor::WriteCount::Unlimited };
    let check = |bytes: &[u8], trust: &Trust<'_>| {
        let mut f = SimFlash::from_bytes(sim, bytes.to_vec()).unwrap();
        verify_slot(&mut f, region, trust)
    };
    let on_product = Trust { keys: &[pk], compatible: Some(VECTOR_COMPATIBLE) };
    let ok = check(&slot, &on_product).unwrap();
    assert_eq!(ok.info().revoke_below, 1);
    assert_eq!(check(&slot, &Trust::keys(&[pk])).map(|_| ()), Err(Reason::Incompatible));
    let other = Trust { keys: &[pk], compatible: Some(b"safeslot,test-vectoR") };
    assert_eq!(check(&slot, &other).map(|_| ()), Err(Reason::Incompatible));
    // Every single-bit flip of the signed area (fixed part, TLV length, TLVs) is refused.
    let end = h.len();
    for bit in 0..end * 8 {
        let byte = bit / 8;
        if (crate::header::field::SIGNATURE..HEADER_LEN).contains(&byte) && bit % 8 != 0 {
            continue; // the signature: one bit per byte is enough (header-bad-signature.bin)
        }
        let mut c = slot.clone();
        c[byte] ^= 1 << (bit % 8);
        let got = check(&c, &on_product).map(|_| ());
        assert!(got.is_err(), "bit {bit} (byte {byte}) flipped and still verified");
    }
}

#[test]
fn handoff_vectors_decode_and_reencode() {
    for (file, h) in [
        ("handoff-v3-trial.bin", handoff_trial()),
        ("handoff-v3-last-resort.bin", handoff_last_resort()),
        ("handoff-v3-not-recorded.bin", handoff_not_recorded()),
    ] {
        let b = load(file);
        assert_eq!(b.len(), HANDOFF_LEN, "{file}");
        let got = Handoff::decode(&b).unwrap();
        assert_eq!(got, h, "{file}");
        assert_eq!(&got.encode()[..], &b[..], "{file}");
        // A format-2 reader reads the first 32 bytes: the frozen format-2 vector of the
        // same boot, byte for byte; a format-1 reader the first 24.
        let v2 = load(&file.replace("-v3-", "-v2-"));
        assert_eq!(b[..crate::handoff::HANDOFF_V2_LEN], v2[..], "{file}: format-2 prefix");
        if let Some(v1) = ["handoff-trial.bin", "handoff-last-resort.bin"].into_iter().find(|f| file.ends_with(&f[8..]))
        {
            assert_eq!(b[..24], load(v1)[..], "{file}: format-1 prefix");
        }
    }
    // The format-2 blocks (32 bytes) still decode, as format 2, the newer facts unknown.
    for (file, h) in [
        ("handoff-v2-trial.bin", handoff_trial()),
        ("handoff-v2-last-resort.bin", handoff_last_resort()),
        ("handoff-v2-not-recorded.bin", handoff_not_recorded()),
    ] {
        let b = load(file);
        assert_eq!(b.len(), crate::handoff::HANDOFF_V2_LEN);
        let old = Handoff { reset_cause: ResetCause::Unknown, watchdog_ms: 0, format: 2, ..h };
        assert_eq!(Handoff::decode(&b), Ok(old), "{file}");
    }
    // The format-1 blocks (24 bytes) still decode, as format 1.
    for (file, h) in [("handoff-trial.bin", handoff_trial()), ("handoff-last-resort.bin", handoff_last_resort())] {
        let b = load(file);
        assert_eq!(b.len(), crate::handoff::HANDOFF_V1_LEN);
        let old = Handoff { reset_cause: ResetCause::Unknown, watchdog_ms: 0, format: 1, ..h };
        assert_eq!(Handoff::decode(&b), Ok(old), "{file}");
    }
}

#[test]
fn json_is_well_formed_enough() {
    // A cheap structural check: balanced brackets outside strings, no trailing commas.
    let json = vectors_json(&all());
    let (mut depth, mut in_str) = (0i32, false);
    let mut prev = ' ';
    for c in json.chars() {
        match c {
            '"' => in_str = !in_str,
            '{' | '[' if !in_str => depth += 1,
            '}' | ']' if !in_str => {
                assert_ne!(prev, ',', "trailing comma");
                depth -= 1;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            prev = c;
        }
    }
    assert_eq!((depth, in_str), (0, false));
}
