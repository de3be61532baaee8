//! Building the firmware for the virtual board and signing the demo images.

use std::path::{Path, PathBuf};
use std::process::Command;

use safeslot_shared::version::Version;

use anyhow::{Context, Result};

use crate::env::{self, cargo, run};

/// The virtual board.
pub const BOARD: &str = "qemu-mps2-an386";
/// Its target.
pub const TARGET: &str = "thumbv7em-none-eabihf";

/// What a firmware build produced.
#[derive(Debug, Clone)]
pub struct Firmware {
    /// The boot stage ELF.
    pub boot_elf: PathBuf,
    /// The demo app ELFs for slots a and b.
    pub app_elfs: Vec<PathBuf>,
    /// The throw-away signing key.
    pub key: PathBuf,
    /// Its public key (PEM), embedded in the firmware (trusted key index 0).
    pub public_key: PathBuf,
    /// A second throw-away private key whose public half the firmware trusts too (index 1):
    /// the key-rotation scenario signs the update with it.
    pub next_key: PathBuf,
    /// The public keys built into the firmware, in key-index order (`public_key`, then the
    /// next key's).
    pub trusted: Vec<PathBuf>,
    /// The layout file.
    pub layout: PathBuf,
    /// Where generated files go.
    pub work: PathBuf,
}

/// The throw-away key pair in target/safeslot (made once; never a release key).
fn dev_key(work: &std::path::Path) -> Result<(PathBuf, PathBuf)> {
    key_pair(work, "dev-key")
}

/// The throw-away key pair `NAME.pem`, `NAME.pub.pem` in `work` (made once).
fn key_pair(work: &std::path::Path, name: &str) -> Result<(PathBuf, PathBuf)> {
    let key = work.join(format!("{name}.pem"));
    let public = work.join(format!("{name}.pub.pem"));
    if !key.exists() || !public.exists() {
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(&public);
        let pair = safeslot_image::keys::generate();
        safeslot_image::keys::write_key_pair(&pair, &key, Some(&public), false).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok((key, public))
}

/// `cargo xtask build [--board B]`: builds one board, or all of them.
pub fn command(board: Option<&str>) -> Result<()> {
    let boards = match board {
        None => boards()?,
        Some(b) => vec![b.to_owned()],
    };
    for b in &boards {
        let fw = board_firmware(b)?;
        println!("{b}: {}", fw.boot_elf.display());
    }
    Ok(())
}

/// Builds the virtual board's boot stage and demo apps (release) with a throw-away key.
pub fn firmware() -> Result<Firmware> {
    board_firmware(BOARD)
}

/// The boards: every directory under boards/ with a layout.toml, sorted by name.
pub fn boards() -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(env::root().join("boards"))? {
        let entry = entry?;
        if entry.path().join("layout.toml").is_file() {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// A board's layout file and its parsed layout.
pub fn board_layout(board: &str) -> Result<(PathBuf, safeslot_layout::Layout)> {
    let path = env::root().join("boards").join(board).join("layout.toml");
    let layout = safeslot_layout::Layout::load(&path).with_context(|| format!("board {board}: {}", path.display()))?;
    Ok((path, layout))
}

/// What a board's crate is built with: the target its layout names and the public keys
/// its firmware trusts (the throw-away pairs in target/safeslot, made once).
#[derive(Debug, Clone)]
pub struct BoardEnv {
    /// The board (a directory under boards/).
    pub board: String,
    /// Its target triple (`[board] target` in its layout).
    pub target: String,
    /// Its layout file.
    pub layout_path: PathBuf,
    /// Its parsed layout.
    pub layout: safeslot_layout::Layout,
    /// The throw-away signing key and its public key (trusted key index 0).
    pub key: (PathBuf, PathBuf),
    /// The key-rotation scenario's key pair (trusted key index 1).
    pub next_key: (PathBuf, PathBuf),
    /// Where generated files go (target/safeslot).
    pub work: PathBuf,
}

impl BoardEnv {
    /// The public keys built into the firmware, in key-index order.
    pub fn trusted(&self) -> Vec<PathBuf> {
        vec![self.key.1.clone(), self.next_key.1.clone()]
    }

    /// `cargo SUBCOMMAND -p safeslot-board-<board> --target <target>`, run in boards/ (so
    /// boards/.cargo/config.toml, the sha2 backend choice, applies) with the trusted keys
    /// in `SAFESLOT_PUBLIC_KEYS`: how the board is built (`build --release`) and linted
    /// (`clippy`).
    pub fn cargo(&self, subcommand: &str) -> Result<Command> {
        let trusted = std::env::join_paths(self.trusted()).context("key paths")?;
        let mut cmd = cargo();
        cmd.current_dir(env::root().join("boards"))
            .args([subcommand, "-p", &format!("safeslot-board-{}", self.board), "--target", &self.target])
            .env(safeslot_layout::PUBLIC_KEYS_ENV, trusted);
        Ok(cmd)
    }
}

/// The target, layout and keys of `board` (the rustup target installed, the keys made
/// once).
pub fn board_env(board: &str) -> Result<BoardEnv> {
    let (layout_path, layout) = board_layout(board)?;
    let target = layout.board().target.clone();
    env::ensure_targets(&[target.as_str()])?;
    let work = env::root().join("target/safeslot");
    std::fs::create_dir_all(&work)?;
    let key = dev_key(&work)?;
    let next_key = key_pair(&work, "dev-key-next")?;
    Ok(BoardEnv { board: board.to_owned(), target, layout_path, layout, key, next_key, work })
}

/// Builds a board's crate (`safeslot-board-<board>` in boards/: the boot stage
/// `safeslot-boot` and the demo apps `demo-app-<slot>`) in release for the target its
/// layout names, with a throw-away key.
pub fn board_firmware(board: &str) -> Result<Firmware> {
    let b = board_env(board)?;
    let root = env::root();
    run(b.cargo("build")?.args(["--release", "-q"])).with_context(|| format!("firmware build for {board} failed"))?;
    // Every board names its bins alike, so boards of one target overwrite each other's ELFs
    // in boards/target/<target>/release: keep this board's copy in its own directory.
    let out = root.join("boards/target").join(&b.target).join("release");
    let kept = b.work.join("fw").join(board);
    std::fs::create_dir_all(&kept)?;
    let keep = |name: String| -> Result<PathBuf> {
        let to = kept.join(&name);
        std::fs::copy(out.join(&name), &to).with_context(|| format!("{board}: copying {name}"))?;
        Ok(to)
    };
    let boot_elf = keep("safeslot-boot".to_owned())?;
    // A board whose slots hold Linux (`[linux]` in its layout) has no demo apps.
    let app_elfs = match b.layout.linux() {
        Some(_) => Vec::new(),
        None => b.layout.slot_names().iter().map(|s| keep(format!("demo-app-{s}"))).collect::<Result<Vec<_>>>()?,
    };
    Ok(Firmware {
        boot_elf,
        app_elfs,
        key: b.key.0.clone(),
        public_key: b.key.1.clone(),
        next_key: b.next_key.0.clone(),
        trusted: b.trusted(),
        layout: b.layout_path.clone(),
        work: b.work.clone(),
    })
}

/// Signs `input` (an ELF or raw payload) for `slot` with the demo key through the image
/// tool's library (as `safeslot-image sign` does) and returns the slot image bytes; callers
/// that need a file write it where they need it.
pub fn sign(fw: &Firmware, input: &Path, slot: &str, version: &str, sc: u32) -> Result<Vec<u8>> {
    let e = |e: safeslot_image::Error| anyhow::anyhow!("{e}");
    let layout = safeslot_layout::Layout::load(&fw.layout)?;
    let target = safeslot_image::SlotTarget::from_loaded(&layout, slot).map_err(e)?;
    let key = safeslot_image::keys::load_signing_key(&fw.key).map_err(e)?;
    let bytes = std::fs::read(input).with_context(|| input.display().to_string())?;
    let payload = safeslot_image::load_image(input, bytes, &target).map_err(e)?;
    let parsed = Version::parse(version).with_context(|| format!("version {version:?}"))?;
    let tlvs = safeslot_image::board_tlvs(&layout).map_err(e)?;
    let params = safeslot_image::SignParams { version: parsed, security_counter: sc, entry: 0, tlvs };
    safeslot_image::sign(&payload, &target, &key, params)
        .map_err(e)
        .with_context(|| format!("signing {} for slot {slot}", input.display()))
}
