//! The journal over the file backend: the read-modify-write guard and NOR rules.

mod common;

use common::Sandbox;
use safeslot_shared::{ops, SlotId, Tries};

#[test]
fn append_expecting_detects_a_writer_that_moved_the_journal() {
    for ws in [1, 8] {
        let rig = Sandbox::new(ws);
        rig.ok(&["init"]);
        let mut ours = rig.journal();
        let seq = ours.seq();
        let mut next = ours.record().unwrap().clone();
        ops::mark_bad(&mut next, SlotId::B).unwrap();

        // Another writer appends in between (as a second process would).
        let mut theirs = rig.journal();
        assert!(theirs.update(|r| ops::set_active(r, SlotId::B, Tries::DEFAULT)).unwrap());

        let before = rig.flash_bytes();
        let e = ours.append_expecting(seq, &next).unwrap_err();
        assert_eq!(e, safeslot_shared::Error::Conflict);
        assert_eq!(rig.flash_bytes(), before, "a conflict writes nothing");
        let mapped: safeslotctl::Error = e.into();
        assert!(matches!(mapped, safeslotctl::Error::Conflict), "{mapped:?}");
        // The agent's view after the conflict: theirs won.
        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!(st["primary"], "b");
    }
}

#[test]
fn the_journal_rotates_sectors_on_program_once_files() {
    for ws in [1, 8] {
        let rig = Sandbox::new(ws);
        rig.ok(&["init"]);
        // 4096 / 136 = 30 entries per sector: 70 appends rotate through both sectors twice.
        for i in 0..70 {
            rig.ok(&["set-active", if i % 2 == 0 { "b" } else { "a" }]);
        }
        let st = rig.ok(&["status", "--json"]).json();
        assert_eq!(st["seq"], 71);
        assert_eq!(st["primary"], "a");
    }
}
