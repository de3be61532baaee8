//! Issue #17, finding 2: writers lock the device itself, so every path to the same file
//! (a symlink, a `--lock` file of its own) contends for the same lock, and the journal
//! never gets two entries with one sequence number.

mod common;

use std::collections::BTreeMap;

use common::{output, Sandbox, ERASE};
use safeslot_shared::journal::{decode_entry, field, JournalConfig, Pos, ENTRY_LEN};
use safeslot_shared::Record;

/// A region large enough that the test's appends never wrap (16 sectors, 400 positions at
/// write size 8), so every entry ever written is still there to be counted.
const SIZE: &str = "0x10000";
const WRITERS: usize = 4;
const APPENDS: usize = 80;

/// Every valid entry in the region: sequence number → (record, prev, own CRC), in the
/// order found.
fn entries(rig: &Sandbox) -> BTreeMap<u32, Vec<(Record, u32, u32)>> {
    let cfg = JournalConfig { offset: 0, size: 0x10000, write_size: rig.write_size, erase_size: ERASE };
    let bytes = rig.flash_bytes();
    let mut out: BTreeMap<u32, Vec<_>> = BTreeMap::new();
    for sector in 0..cfg.sectors() {
        for index in 0..cfg.entries_per_sector() {
            let at = cfg.position_offset(Pos { sector, index }).unwrap() as usize;
            let body = &bytes[at..at + ENTRY_LEN];
            if let Some((seq, prev, geometry, record)) = decode_entry(body) {
                assert_eq!(geometry, cfg.geometry());
                let crc = u32::from_le_bytes(body[field::CRC..field::CRC + 4].try_into().unwrap());
                out.entry(seq).or_default().push((record, prev, crc));
            }
        }
    }
    out
}

#[test]
fn writers_through_a_symlink_and_their_own_lock_files_are_serialised() {
    let rig = Sandbox::new(8);
    let real = rig.flash_path();
    let link = rig.path("link.bin");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    rig.ok(&["init", "--size", SIZE]);

    // Four writers, each spelling the device its own way.
    let x = rig.path("x.lock");
    let y = rig.path("y.lock");
    let spellings: [Vec<&std::ffi::OsStr>; WRITERS] = [
        vec!["--device".as_ref(), real.as_os_str()],
        vec!["--device".as_ref(), link.as_os_str()],
        vec!["--device".as_ref(), real.as_os_str(), "--lock".as_ref(), x.as_os_str()],
        vec!["--device".as_ref(), link.as_os_str(), "--lock".as_ref(), y.as_os_str()],
    ];
    let results: Vec<Vec<common::Run>> = std::thread::scope(|s| {
        let handles: Vec<_> = spellings
            .iter()
            .enumerate()
            .map(|(w, spelling)| {
                let rig = &rig;
                s.spawn(move || {
                    (0..APPENDS)
                        .map(|i| {
                            let slot = if (i + w) % 2 == 0 { "a" } else { "b" };
                            let mut c = rig.command(&["--json", "--size", SIZE, "--lock-timeout", "120"]);
                            c.args(spelling).args(["set-active", slot]);
                            output(c.output().unwrap())
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    // What the processes were told: every one that wrote got a sequence number of its own.
    let mut told: BTreeMap<u64, usize> = BTreeMap::new();
    for r in results.iter().flatten().filter(|r| r.code == 0) {
        let j = r.json();
        if j["changed"] == true {
            *told.entry(j["seq"].as_u64().unwrap()).or_default() += 1;
        }
    }
    // On flash: each sequence number once, with one record.
    let found = entries(&rig);
    let dup: Vec<_> = found.iter().filter(|(_, v)| v.len() > 1).map(|(s, v)| (*s, v.len())).collect();
    assert!(dup.is_empty(), "sequence numbers with more than one entry (seq, entries): {dup:?}");
    let shared: Vec<_> = told.iter().filter(|(_, &n)| n > 1).collect();
    assert!(shared.is_empty(), "processes told the same seq (seq, processes): {shared:?}");
    // Serialised, none had to give up (75: the journal moved underneath it).
    for r in results.iter().flatten() {
        assert_eq!(r.code, 0, "stdout {:?} stderr {:?}", r.stdout, r.stderr);
    }
    // Exactly the reported appends, each written on top of the entry before it (its
    // `prev` is that entry's CRC).
    let seqs: Vec<u32> = found.keys().copied().collect();
    let expected: Vec<u32> = (1..=1 + told.len() as u32).collect();
    assert_eq!(seqs, expected, "the journal holds init plus exactly the reported appends");
    let reported: Vec<u32> = told.keys().map(|&s| s as u32).collect();
    assert_eq!(&seqs[1..], &reported[..]);
    for (seq, v) in &found {
        if let Some(before) = found.get(&(seq - 1)) {
            assert_eq!(v[0].1, before[0].2, "entry {seq} was not written on top of entry {}", seq - 1);
        }
    }
    let st = rig.ok(&["status", "--json", "--size", SIZE]).json();
    assert_eq!(st["seq"].as_u64(), Some(1 + told.len() as u64));
}

/// A lock held on the device through another path (here: the symlink's target, locked
/// directly) keeps writers waiting; readers share it with other readers.
#[test]
fn a_lock_on_the_device_holds_off_writers_through_any_path() {
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    let link = rig.path("link.bin");
    std::os::unix::fs::symlink(rig.flash_path(), &link).unwrap();
    let via_link = |args: &[&str]| {
        let mut c = rig.command(args);
        c.arg("--device").arg(&link);
        output(c.output().unwrap())
    };
    let held = safeslotctl::lock::acquire(&rig.flash_path(), true, std::time::Duration::ZERO).unwrap();
    let before = rig.flash_bytes();
    let r = via_link(&["--lock-timeout", "0.2", "set-active", "b"]);
    assert_eq!(r.code, 75, "stdout {:?} stderr {:?}", r.stdout, r.stderr);
    assert_eq!(via_link(&["--lock-timeout", "0", "status"]).code, 75);
    assert_eq!(rig.flash_bytes(), before);
    drop(held);
    let shared = safeslotctl::lock::acquire(&rig.flash_path(), false, std::time::Duration::ZERO).unwrap();
    assert_eq!(via_link(&["--lock-timeout", "0", "status"]).code, 0, "readers share the lock");
    assert_eq!(via_link(&["--lock-timeout", "0", "set-active", "b"]).code, 75);
    drop(shared);
    assert_eq!(via_link(&["--lock-timeout", "0", "set-active", "b"]).code, 0);
}
