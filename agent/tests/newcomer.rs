//! Issue #17, finding 8: what a newcomer runs into. A relative `device` in the config
//! is relative to the config file.

mod common;

use common::{output, Rig};

/// The rig's config with `from` replaced by `to` (once).
fn edit_config(rig: &Rig, from: &str, to: &str) {
    let path = rig.path("safeslot.toml");
    let cfg = std::fs::read_to_string(&path).unwrap();
    assert!(cfg.contains(from), "{from:?} not in {cfg}");
    std::fs::write(&path, cfg.replacen(from, to, 1)).unwrap();
}

/// Points the rig's config at `device` (as written into the config).
fn set_device(rig: &Rig, device: &str) {
    let quoted = format!("{:?}", rig.flash_path().display().to_string());
    edit_config(rig, &format!("device = {quoted}"), &format!("device = {device:?}"));
}

// ----- config paths -----

#[test]
fn a_relative_device_is_relative_to_the_config_file() {
    let rig = Rig::new(8);
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
