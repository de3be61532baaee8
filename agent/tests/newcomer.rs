//! Issue #17, finding 8: what a newcomer runs into. A relative `device` in the config
//! is relative to the config file; RAUC bootnames come from the config and the RAUC
//! wrapper finds safeslotctl on PATH; the bootctl verbs are AOSP's, with AOSP's exit
//! codes; a record file can be made from nothing (`init --create`); a boot can be
//! rehearsed on a file (`simulate-boot`, the stage's own selection); the release binary
//! is stripped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{output, Sandbox, RECORD_SIZE};
use safeslot_shared::handoff::Handoff;
use safeslot_shared::policy::Inputs;
use safeslot_shared::SlotId;

/// The rig's config with `from` replaced by `to` (once).
fn edit_config(rig: &Sandbox, from: &str, to: &str) {
    let path = rig.path("safeslot.toml");
    let cfg = std::fs::read_to_string(&path).unwrap();
    assert!(cfg.contains(from), "{from:?} not in {cfg}");
    std::fs::write(&path, cfg.replacen(from, to, 1)).unwrap();
}

/// Points the rig's config at `device` (as written into the config).
fn set_device(rig: &Sandbox, device: &str) {
    let quoted = format!("{:?}", rig.flash_path().display().to_string());
    edit_config(rig, &format!("device = {quoted}"), &format!("device = {device:?}"));
}

// ----- config paths -----

#[test]
fn a_relative_device_is_relative_to_the_config_file() {
    let rig = Sandbox::new(8);
    set_device(&rig, "flash.bin");
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| output(rig.command(args).current_dir(elsewhere.path()).output().unwrap());
    let r = run(&["init"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_ne!(rig.flash_bytes(), vec![0xFF; rig.flash_bytes().len()], "the rig's flash.bin was written");
    assert!(!elsewhere.path().join("flash.bin").exists());
    assert_eq!(run(&["get-primary"]).stdout, "a\n");
    // `--device` stays relative to the working directory, like any command-line path.
    let r = run(&["status", "--device", "flash.bin"]);
    assert_eq!(r.code, 66, "{}", r.stderr);
}

// ----- RAUC bootnames and the wrapper -----

/// The rig with RAUC-style bootnames `system0`/`system1` for slots `a`/`b`.
fn rauc_rig() -> Sandbox {
    let rig = Sandbox::new(8);
    edit_config(&rig, "name = \"a\"\n", "name = \"a\"\nbootname = \"system0\"\n");
    edit_config(&rig, "name = \"b\"\n", "name = \"b\"\nbootname = \"system1\"\n");
    rig
}

#[test]
fn rauc_verbs_speak_the_configured_bootnames() {
    let rig = rauc_rig();
    rig.ok(&["init"]);
    assert_eq!(rig.ok(&["get-primary"]).stdout, "system0\n");
    assert_eq!(rig.reboot(), SlotId::A);
    rig.set_cmdline("root=/dev/mmcblk0p2 rauc.slot=system0\n");
    assert_eq!(rig.ok(&["get-current"]).stdout, "system0\n");
    rig.ok(&["set-state", "system0", "good"]);
    assert_eq!(rig.ok(&["get-state", "system0"]).stdout, "good\n");

    // An install into system1, as RAUC's custom backend calls it.
    rig.ok(&["set-state", "system1", "bad"]);
    assert_eq!(rig.ok(&["get-state", "system1"]).stdout, "bad\n");
    rig.ok(&["set-primary", "system1"]);
    assert_eq!(rig.ok(&["get-primary"]).stdout, "system1\n");
    assert_eq!(rig.reboot(), SlotId::B);
    rig.set_cmdline("root=/dev/mmcblk0p3 rauc.slot=system1\n");
    assert_eq!(rig.ok(&["get-current"]).stdout, "system1\n");
    rig.ok(&["set-state", "system1", "good"]);

    // Upper case, and the slot names, still name the slots; the JSON shows both names.
    assert_eq!(rig.ok(&["get-state", "SYSTEM0"]).stdout, "good\n");
    assert_eq!(rig.ok(&["get-state", "a"]).stdout, "good\n");
    let st = rig.ok(&["status", "--json"]).json();
    assert_eq!((st["slots"][1]["name"].clone(), st["slots"][1]["bootname"].clone()), ("b".into(), "system1".into()));
    assert_eq!(st["last_known_good"], "b");
    let e = rig.expect(64, &["get-state", "system2"]);
    assert!(e.stderr.contains("bootname system1"), "{}", e.stderr);
}

#[test]
fn rauc_bootnames_a_and_b() {
    let rig = Sandbox::new(1);
    edit_config(&rig, "name = \"a\"\n", "name = \"a\"\nbootname = \"A\"\n");
    edit_config(&rig, "name = \"b\"\n", "name = \"b\"\nbootname = \"B\"\n");
    rig.ok(&["init"]);
    rig.ok(&["set-primary", "B"]);
    assert_eq!(rig.ok(&["get-primary"]).stdout, "B\n", "printed as RAUC's system.conf has it");
}

fn wrapper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rauc/safeslotctl-rauc")
}

#[test]
fn rauc_wrapper_finds_safeslotctl_on_path() {
    let script = std::fs::read_to_string(wrapper()).unwrap();
    assert!(!script.contains("/usr/bin/safeslotctl"), "the wrapper must not hard-code where safeslotctl lives");
    let rig = rauc_rig();
    rig.ok(&["init"]);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_safeslotctl"));
    let run = |path: &str, ctl: Option<&Path>| {
        let mut c = Command::new("/bin/sh");
        c.arg(wrapper()).arg("get-primary").env("PATH", path).env("SAFESLOT_CONFIG", rig.path("safeslot.toml"));
        match ctl {
            Some(p) => c.env("SAFESLOTCTL", p),
            None => c.env_remove("SAFESLOTCTL"),
        };
        output(c.output().unwrap())
    };
    // From PATH.
    let r = run(&bin.parent().unwrap().display().to_string(), None);
    assert_eq!((r.code, r.stdout.as_str()), (0, "system0\n"), "{}", r.stderr);
    // Named by SAFESLOTCTL.
    let r = run("/nonexistent", Some(&bin));
    assert_eq!((r.code, r.stdout.as_str()), (0, "system0\n"), "{}", r.stderr);
    // Nowhere: a clear message, not RAUC guessing at an exec failure.
    let r = run("/nonexistent", None);
    assert_eq!(r.code, 127, "{}", r.stderr);
    assert!(r.stderr.contains("SAFESLOTCTL"), "{}", r.stderr);
}

// ----- bootctl -----

#[test]
fn bootctl_verbs_answer_as_aosp_does() {
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    assert_eq!(rig.reboot(), SlotId::A);
    assert_eq!(rig.ok(&["get-active-boot-slot"]).stdout, "0\n");
    rig.ok(&["set-active-boot-slot", "1"]);
    assert_eq!(rig.ok(&["get-active-boot-slot"]).stdout, "1\n");

    // "Yes" prints 1 and exits 0; "no" prints 0 and exits 70 (EX_SOFTWARE), as AOSP's
    // bootctl does (system/extras bootctl/bootctl.cpp).
    let yes = rig.ok(&["is-slot-bootable", "1"]);
    assert_eq!(yes.stdout, "1\n");
    let no = rig.expect(70, &["is-slot-marked-successful", "1"]);
    assert_eq!(no.stdout, "0\n");
    rig.ok(&["mark-boot-successful"]);
    assert_eq!(rig.ok(&["is-slot-marked-successful", "0"]).stdout, "1\n");
    // Where safeslotctl differs (documented): a slot that does not exist is a usage error.
    rig.expect(64, &["is-slot-bootable", "7"]);

    // hal-info describes the tool and needs no config or device.
    let mut c = Command::new(env!("CARGO_BIN_EXE_safeslotctl"));
    let r = output(c.args(["--config", "/nonexistent/safeslot.toml", "hal-info"]).output().unwrap());
    assert_eq!((r.code, r.stdout), (0, format!("HAL Version: safeslotctl {}\n", env!("CARGO_PKG_VERSION"))));
}

// ----- init --create -----

#[test]
fn init_create_makes_a_record_file_from_nothing() {
    let rig = Sandbox::new(8);
    set_device(&rig, &rig.path("new/flash.bin").display().to_string());
    // A missing directory is not made: only the file.
    let r = rig.expect(66, &["init", "--create"]);
    assert!(!rig.path("new").exists(), "{}", r.stderr);
    std::fs::create_dir(rig.path("new")).unwrap();
    // Without --create, a missing file is refused and not created.
    rig.expect(66, &["init"]);
    assert!(!rig.path("new/flash.bin").exists());

    let r = rig.ok(&["init", "--create", "--json"]);
    assert_eq!(r.json()["seq"], 1);
    assert!(r.stderr.contains("created"), "{}", r.stderr);
    let bytes = std::fs::read(rig.path("new/flash.bin")).unwrap();
    assert_eq!(bytes.len(), RECORD_SIZE as usize, "0xFF up to the record region's end");
    let st = rig.ok(&["status", "--json"]).json();
    assert_eq!((st["seq"].clone(), st["primary"].clone()), (1.into(), "a".into()));
    // Erased beyond the first entry: the file is flash as the stage would see it.
    assert!(bytes[0x1000..].iter().all(|&b| b == 0xFF));

    // Again: the record is valid, so init refuses and nothing changes (no growth needed).
    let e = rig.expect(69, &["init", "--create"]);
    assert!(e.stderr.contains("--force"), "{}", e.stderr);
    assert_eq!(std::fs::read(rig.path("new/flash.bin")).unwrap(), bytes);
}

#[test]
fn init_create_grows_a_short_file_and_keeps_its_bytes() {
    let rig = Sandbox::new(1);
    // A `truncate`d (empty) file: refused without --create, untouched.
    std::fs::write(rig.flash_path(), b"").unwrap();
    let r = rig.run(&["init"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert_eq!(rig.flash_bytes().len(), 0, "a short file is never grown silently");
    let r = rig.ok(&["init", "--create"]);
    assert!(r.stderr.contains("grew"), "{}", r.stderr);
    assert_eq!(rig.flash_bytes().len(), RECORD_SIZE as usize);
    rig.ok(&["status"]);

    // A short file holding data: grown with 0xFF, its bytes kept, and init still refuses
    // to write over data that is not a record.
    let mut data = vec![0x5A; 0x1000];
    data[..4].copy_from_slice(b"DATA");
    std::fs::write(rig.flash_path(), &data).unwrap();
    let e = rig.expect(69, &["init", "--create"]);
    assert!(e.stderr.contains("not a valid record"), "{}", e.stderr);
    let bytes = rig.flash_bytes();
    assert_eq!(bytes.len(), RECORD_SIZE as usize);
    assert_eq!(&bytes[..0x1000], &data[..], "the bytes the file held are unchanged");
    assert!(bytes[0x1000..].iter().all(|&b| b == 0xFF));
}

#[test]
fn init_create_refuses_devices_and_bad_geometry() {
    let rig = Sandbox::new(8);
    // A device node has its size: --create does not apply.
    let e = rig.expect(64, &["init", "--create", "--device", "/dev/null"]);
    assert!(e.stderr.contains("regular file"), "{}", e.stderr);
    let e = rig.expect(64, &["init", "--create", "--backend", "mtd", "--device", rig.path("mtd").to_str().unwrap()]);
    assert!(e.stderr.contains("MTD"), "{}", e.stderr);
    assert!(!rig.path("mtd").exists());
    // A geometry the journal refuses creates nothing.
    let dev = rig.path("odd.bin");
    let e = rig.expect(78, &["init", "--create", "--device", dev.to_str().unwrap(), "--size", "0x1800"]);
    assert!(e.stderr.contains("geometry"), "{}", e.stderr);
    assert!(!dev.exists());
}

// ----- simulate-boot -----

/// The steps of a RAUC install, confirm, second install and fallback, each followed by a
/// boot: `boot(rig, bad)` performs it.
fn rauc_cycle(rig: &Sandbox, boot: &dyn Fn(&Sandbox, &[&str]) -> SlotId) -> Vec<SlotId> {
    let mut booted = Vec::new();
    rig.ok(&["init"]);
    booted.push(boot(rig, &[]));
    rig.ok(&["mark-good"]);
    rig.ok(&["set-state", "b", "bad"]);
    rig.ok(&["set-primary", "b"]);
    booted.push(boot(rig, &[]));
    rig.ok(&["mark-good"]);
    rig.ok(&["set-primary", "a"]);
    booted.push(boot(rig, &[]));
    // The update's image turns out bad: the stage falls back to b.
    booted.push(boot(rig, &["a"]));
    booted.push(boot(rig, &[]));
    booted
}

#[test]
fn simulate_boot_is_the_stages_own_selection() {
    // The same flow with the test rig's reboot (the shared policy run by hand) and with
    // `simulate-boot`: the same slots boot and the flash ends byte-for-byte the same.
    let by_hand = Sandbox::new(8);
    let by_tool = Sandbox::new(8);
    let hand = rauc_cycle(&by_hand, &|rig, bad| {
        let bad: Vec<SlotId> = bad.iter().map(|b| SlotId::from_letter(b.chars().next().unwrap()).unwrap()).collect();
        rig.reboot_failing(Inputs::default(), &bad)
    });
    let tool = rauc_cycle(&by_tool, &|rig, bad| {
        let mut args = vec!["simulate-boot", "--json"];
        for b in bad {
            args.extend(["--bad", b]);
        }
        let v = rig.ok(&args).json();
        assert_eq!(v["schema"], 1);
        SlotId::from_index(v["index"].as_u64().unwrap() as u8).unwrap()
    });
    assert_eq!(hand, [SlotId::A, SlotId::B, SlotId::A, SlotId::B, SlotId::B]);
    assert_eq!(tool, hand);
    assert_eq!(by_tool.flash_bytes(), by_hand.flash_bytes(), "the same records, entry for entry");
    let st = by_tool.ok(&["status", "--json"]).json();
    assert_eq!(st["slots"][0]["unbootable"], "bad-hash");
    assert_eq!(st["last_fallback"], "bad-hash");
}

#[test]
fn simulate_boot_reports_and_hands_off() {
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    let out = rig.ok(&["simulate-boot"]).stdout;
    assert_eq!(out, "simulate-boot: slot a boots (trial, 2 tries left); record written (journal seq 2)\n");
    rig.ok(&["mark-good"]);
    let v = rig.ok(&["simulate-boot", "--json"]).json();
    assert_eq!(
        (v["slot"].clone(), v["kind"].clone(), v["written"].clone(), v["seq"].clone()),
        ("a".into(), "confirmed".into(), false.into(), 3.into()),
        "a confirmed boot of the same slot writes nothing"
    );

    // The hand-off block the stage would leave, as `--handoff` reads it.
    rig.ok(&["set-active", "b"]);
    let handoff = rig.path("handoff.bin");
    let v = rig.ok(&["simulate-boot", "--json", "--handoff-out", handoff.to_str().unwrap()]).json();
    let h = Handoff::decode(&std::fs::read(&handoff).unwrap()).unwrap();
    assert_eq!((h.slot, h.record_seq, h.tries_left.get()), (SlotId::B, v["seq"].as_u64().unwrap() as u32, 2));
    let st = rig.ok(&["status", "--json", "--handoff", handoff.to_str().unwrap()]).json();
    assert_eq!((st["this_boot"]["slot"].clone(), st["this_boot"]["kind"].clone()), ("b".into(), "trial".into()));

    // Tries run out: three boots without mark-good, then the stage falls back to a.
    rig.ok(&["simulate-boot"]);
    rig.ok(&["simulate-boot"]);
    let v = rig.ok(&["simulate-boot", "--json"]).json();
    assert_eq!((v["slot"].clone(), v["fell_back"].clone()), ("a".into(), true.into()));
    assert_eq!(v["last_fallback"], "tries-exhausted");

    // Nothing bootable: the stage would stop in recovery (69), and says why.
    let e = rig.expect(69, &["simulate-boot", "--bad", "a", "--bad", "b"]);
    assert!(e.stderr.contains("recovery"), "{}", e.stderr);
    rig.expect(64, &["simulate-boot", "--bad", "z"]);
}

#[test]
fn simulate_boot_refuses_a_device_node() {
    let rig = Sandbox::new(8);
    let e = rig.expect(69, &["simulate-boot", "--device", "/dev/null"]);
    assert!(e.stderr.contains("--force"), "{}", e.stderr);
}

// ----- the release binary -----

#[test]
fn the_release_profile_strips_the_binary() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let ws: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let release = ws["profile"]["release"].as_table().expect("[profile.release]");
    let debug = release.get("debug");
    assert!(
        matches!(debug, None | Some(toml::Value::Boolean(false)))
            || debug.and_then(toml::Value::as_integer) == Some(0)
            || debug.and_then(toml::Value::as_str) == Some("none"),
        "release builds keep debug info: {debug:?}"
    );
    let strip = release.get("strip");
    assert!(
        matches!(strip, Some(toml::Value::Boolean(true))) || strip.and_then(toml::Value::as_str) == Some("symbols"),
        "release builds are not stripped: {strip:?}"
    );
}
