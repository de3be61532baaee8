//! `safeslot-image keygen` and its output files: never through a symbolic link, the
//! private key 0600 from the start, an existing file refused without `--force` and
//! replaced (a new file renamed over it, never rewritten in place) with it.
#![cfg(unix)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_safeslot-image");
/// sysexits EX_CANTCREAT: an output that cannot be created.
const CANTCREAT: i32 = 73;

fn keygen(args: &[&Path], force: bool) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("keygen").arg("--out").arg(args[0]);
    if let Some(public) = args.get(1) {
        cmd.arg("--pub").arg(public);
    }
    if force {
        cmd.arg("--force");
    }
    let Output { status, stderr, .. } = cmd.output().expect("run safeslot-image");
    (status.code().expect("exit code"), String::from_utf8_lossy(&stderr).into_owned())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn is_private_key(bytes: &[u8]) -> bool {
    bytes.starts_with(b"-----BEGIN PRIVATE KEY-----")
}

/// Everything in `dir`, so a test can see that no temporary file was left behind.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn force_refuses_a_symlink_and_leaves_its_target_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("precious.txt");
    std::fs::write(&target, b"not yours to overwrite\n").expect("write target");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let link = dir.path().join("key.pem");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");

    let (code, stderr) = keygen(&[&link], true);
    assert_eq!(code, CANTCREAT, "{stderr}");
    assert!(stderr.contains("key.pem") && stderr.contains("symbolic link"), "{stderr}");
    assert_eq!(std::fs::read(&target).expect("target"), b"not yours to overwrite\n");
    assert_eq!(mode(&target), 0o644, "the target's mode is not touched either");
    assert!(std::fs::symlink_metadata(&link).expect("link").file_type().is_symlink(), "the link stays");
    assert_eq!(entries(dir.path()), ["key.pem", "precious.txt"], "no temporary file left behind");
}

#[test]
fn a_dangling_symlink_is_refused_as_a_symlink_with_or_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("elsewhere.pem");
    let link = dir.path().join("key.pem");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    for force in [false, true] {
        let (code, stderr) = keygen(&[&link], force);
        assert_eq!(code, CANTCREAT, "--force {force}: {stderr}");
        assert!(stderr.contains("symbolic link"), "--force {force}: {stderr}");
        assert!(!target.exists(), "--force {force}: nothing is created through the link");
    }
}

#[test]
fn force_replaces_the_file_so_an_earlier_reader_never_sees_the_new_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key.pem");
    std::fs::write(&key, b"old contents, world-readable\n").expect("write");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // Permissions are checked at open(2): a reader that opened the old 0644 file keeps
    // reading it, so rewriting that file in place would hand it the new private key.
    let reader = std::fs::File::open(&key).expect("open old file");
    let old_inode = std::fs::metadata(&key).expect("metadata").ino();

    let (code, stderr) = keygen(&[&key], true);
    assert_eq!(code, 0, "{stderr}");
    assert!(is_private_key(&std::fs::read(&key).expect("key")));
    assert_eq!(mode(&key), 0o600);
    assert_ne!(std::fs::metadata(&key).expect("metadata").ino(), old_inode, "a new file, renamed over the old");
    let seen = std::io::read_to_string(reader).expect("read through the old handle");
    assert_eq!(seen, "old contents, world-readable\n", "the earlier reader sees only the old contents");
    assert_eq!(entries(dir.path()), ["key.pem"], "no temporary file left behind");
}

#[test]
fn an_existing_file_is_refused_without_force_and_replaced_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = (dir.path().join("key.pem"), dir.path().join("pub.pem"));
    let (code, stderr) = keygen(&[&key, &public], false);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(mode(&key), 0o600, "the private key is 0600");
    let first = std::fs::read(&key).expect("key");
    assert!(is_private_key(&first));

    let (code, stderr) = keygen(&[&key], false);
    assert_eq!(code, CANTCREAT, "{stderr}");
    assert!(stderr.contains("already exists") && stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read(&key).expect("key"), first, "refused: the key is unchanged");

    let (code, stderr) = keygen(&[&key, &public], true);
    assert_eq!(code, 0, "{stderr}");
    let second = std::fs::read(&key).expect("key");
    assert!(is_private_key(&second));
    assert_ne!(second, first, "replaced with a new key");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(entries(dir.path()), ["key.pem", "pub.pem"], "no temporary file left behind");
}
