//! The command-line tests' harness (`tests/cli.rs`, `tests/detached.rs`): run the
//! binary, a temporary directory with keys and images, the qemu board's layout, and
//! OpenSSL when it is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_safeslot-image");

/// The qemu board's layout (slots a and b, 4 MiB each, 1 KiB header).
pub fn layout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/qemu-mps2-an386/layout.toml")
}

/// The qemu board's slot a by the four numbers instead of the layout.
pub const SLOT_A_FLAGS: [&str; 8] =
    ["--flash-base", "0x2100_0000", "--slot-offset", "0x10000", "--slot-size", "0x400000", "--header-size", "0x400"];

/// What a run of the binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary with `args`.
pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let Output { status, stdout, stderr } = Command::new(BIN).args(args).output().expect("run safeslot-image");
    Run {
        code: status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs the binary with `args` and asserts it exits 0.
pub fn ok<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let r = run(args);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

/// A path as a `&str` argument.
pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// A temporary directory for keys and images, removed when dropped.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A new empty directory.
    pub fn new() -> Self {
        Fixture { dir: tempfile::tempdir().expect("tempdir") }
    }

    /// `name` in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `bytes` to `name` in the directory.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write fixture");
        path
    }

    /// `keygen --out key.pem --pub pub.pem`.
    pub fn keygen(&self) -> (PathBuf, PathBuf) {
        let (key, public) = (self.path("key.pem"), self.path("pub.pem"));
        ok(["keygen", "--out", p(&key), "--pub", p(&public)]);
        (key, public)
    }

    /// Signs `input` for slot a of the qemu layout into `out`.
    pub fn sign(&self, key: &Path, input: &Path, out: &str) -> PathBuf {
        let out = self.path(out);
        let l = layout();
        ok([
            "sign",
            "--key",
            p(key),
            "--layout",
            p(&l),
            "--slot",
            "a",
            "--version",
            "1.2.3+4",
            "--security-counter",
            "7",
            p(input),
            "-o",
            p(&out),
        ]);
        out
    }

    /// `verify --key KEY` of `file` as slot a of the qemu layout.
    pub fn verify(&self, key: &Path, file: &Path) -> Run {
        let l = layout();
        run(["verify", "--key", p(key), "--layout", p(&l), "--slot", "a", p(file)])
    }
}

/// A 5000-byte raw image.
pub fn sample_image() -> Vec<u8> {
    (0..5000u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// Fails the test unless `openssl` runs: the OpenSSL interoperability tests are
/// `#[ignore]`d for that reason, and `cargo xtask test` installs it and runs them.
pub fn require_openssl() {
    let found = Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success());
    assert!(found, "openssl does not run: install it (apt-get install --no-install-recommends openssl)");
}

/// Runs `openssl` with `args`.
pub fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().expect("run openssl")
}
