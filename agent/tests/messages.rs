//! Issue #17, finding 7: failing commands say what failed (the file, its size), exit with
//! the code of the table, leave no files behind, and `--json` holds for every verb.

mod common;

use common::Sandbox;

fn files(rig: &Sandbox) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(rig.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn failing_commands_leave_no_files_behind() {
    let rig = Sandbox::new(8);
    let before = files(&rig);
    rig.expect(65, &["mark-good"]); // blank region
    rig.expect(65, &["status"]);
    rig.ok(&["init"]);
    rig.expect(64, &["set-active", "x"]);
    rig.expect(69, &["mark-good"]); // nothing booted yet
    let missing = rig.path("nodir/flash.bin");
    rig.expect(66, &["--device", missing.to_str().unwrap(), "set-active", "b"]);
    assert_eq!(files(&rig), before, "no lock or temporary file is left next to the device");
}

#[test]
fn a_missing_device_is_named_as_itself() {
    let rig = Sandbox::new(8);
    let missing = rig.path("nodir/flash.bin");
    for args in [&["status"][..], &["mark-good"], &["get-primary"]] {
        let mut all = vec!["--device", missing.to_str().unwrap()];
        all.extend_from_slice(args);
        let e = rig.expect(66, &all);
        assert!(e.stderr.contains("nodir/flash.bin: No such file"), "{args:?}: {}", e.stderr);
        assert!(!e.stderr.contains(".lock"), "{}", e.stderr);
    }
}

#[test]
fn a_short_or_empty_record_file_names_the_file_and_the_sizes() {
    let rig = Sandbox::new(8);
    for (len, args) in [(0usize, &["status"][..]), (100, &["init"]), (0x1fff, &["get-primary"])] {
        std::fs::write(rig.flash_path(), vec![0xFF; len]).unwrap();
        let e = rig.expect(78, args);
        assert!(
            e.stderr.contains("flash.bin")
                && e.stderr.contains(&format!("{len} bytes"))
                && e.stderr.contains("needs 8192"),
            "{len}: {}",
            e.stderr
        );
        assert_eq!(std::fs::metadata(rig.flash_path()).unwrap().len(), len as u64, "the file is left alone");
    }
}

#[test]
fn a_directory_as_the_device_is_no_input() {
    let rig = Sandbox::new(8);
    std::fs::create_dir(rig.path("dir")).unwrap();
    for args in [&["status"][..], &["mark-good"]] {
        let mut all = vec!["--device", rig.path("dir").to_str().unwrap().to_owned().leak()];
        all.extend_from_slice(args);
        let e = rig.expect(66, &all);
        assert!(e.stderr.contains("is a directory"), "{}", e.stderr);
    }
}

#[test]
fn json_holds_for_the_rauc_and_bootctl_verbs() {
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    rig.reboot();
    rig.set_cmdline("safeslot.slot=a");
    let v = rig.ok(&["--json", "get-primary"]).json();
    assert_eq!(
        (v["schema"].as_u64(), v["command"].as_str(), v["value"].as_str()),
        (Some(1), Some("get-primary"), Some("a"))
    );
    assert_eq!(rig.ok(&["get-current", "--json"]).json()["value"], "a");
    assert_eq!(rig.ok(&["--json", "get-state", "a"]).json()["value"], "good");
    assert_eq!(rig.ok(&["--json", "get-number-slots"]).json()["value"], "2");
    assert_eq!(rig.ok(&["--json", "get-suffix", "1"]).json()["value"], "_b");
    // A "no" keeps its exit code and says so in the object.
    let no = rig.expect(70, &["--json", "is-slot-marked-successful", "0"]);
    assert_eq!((no.json()["answer"].as_bool(), no.json()["value"].as_str()), (Some(false), Some("0")));
    let info = rig.ok(&["--json", "hal-info"]).json();
    assert!(info["value"].as_str().is_some_and(|v| v.starts_with("HAL Version: safeslotctl")), "{info}");
    let set = rig.ok(&["--json", "set-primary", "b"]).json();
    assert_eq!((set["command"].as_str(), set["answer"].as_bool()), (Some("set-primary"), Some(true)));
    // Without --json the verbs stay bare, for RAUC.
    assert_eq!(rig.ok(&["get-primary"]).stdout, "b\n");
    assert_eq!(rig.ok(&["set-primary", "b"]).stdout, "");
}
