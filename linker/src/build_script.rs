//! Writing the generated files into a directory, and the one-call helper for
//! a board crate's `build.rs`.
//!
//! The output directory gets:
//!
//! | file | contents |
//! | --- | --- |
//! | `boot/memory.x` | [`Layout::bootloader_memory_x`] |
//! | `app-<slot>/memory.x` | [`Layout::app_memory_x`], one directory per slot |
//! | `layout.rs` | [`Layout::rust_consts`] |
//! | `agent.toml` | [`Layout::agent_config`] without a device override |
//!
//! Each `memory.x` sits in its own directory so the build script can put
//! exactly one of them on the linker search path
//! (`cargo:rustc-link-search=<dir>`).

use std::path::{Path, PathBuf};

use crate::error::LayoutError;
use crate::keys::{self, KeyFileError, ALLOW_TEST_KEY_ENV, RAW_PUBLIC_KEY_LEN};
use crate::layout::{Layout, PUBLIC_KEYS_ENV};

/// Where [`Layout::write_outputs`] put each file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Generated {
    /// Directory holding the boot stage's `memory.x`.
    pub boot_dir: PathBuf,
    /// `(slot name, directory holding that slot's application memory.x)`,
    /// in layout order.
    pub app_dirs: Vec<(String, PathBuf)>,
    /// The consts file, `layout.rs`.
    pub consts: PathBuf,
    /// The agent config, `agent.toml`.
    pub agent_config: PathBuf,
}

impl Generated {
    /// The directory holding the `memory.x` for an application in `slot`.
    #[must_use]
    pub fn app_dir(&self, slot: &str) -> Option<&Path> {
        self.app_dirs.iter().find(|(name, _)| name == slot).map(|(_, dir)| dir.as_path())
    }
}

/// Writes `contents` to `path` unless it already holds exactly that, so an
/// unchanged layout does not make cargo relink.
fn write_if_changed(path: &Path, contents: &str) -> Result<(), LayoutError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| LayoutError::Write { path: dir.to_path_buf(), source })?;
    }
    std::fs::write(path, contents).map_err(|source| LayoutError::Write { path: path.to_path_buf(), source })
}

impl Layout {
    /// Writes every generated file under `out_dir` (see the module docs for
    /// the file names) and says where they went.
    ///
    /// # Errors
    ///
    /// [`LayoutError::Write`] if a directory or file cannot be written.
    pub fn write_outputs(&self, out_dir: &Path) -> Result<Generated, LayoutError> {
        let boot_dir = out_dir.join("boot");
        write_if_changed(&boot_dir.join("memory.x"), &self.bootloader_memory_x())?;
        let mut app_dirs = Vec::with_capacity(self.slots().len());
        for slot in self.slots() {
            let dir = out_dir.join(format!("app-{}", slot.name));
            write_if_changed(&dir.join("memory.x"), &self.app_memory_x(&slot.name)?)?;
            app_dirs.push((slot.name.clone(), dir));
        }
        let consts = out_dir.join("layout.rs");
        write_if_changed(&consts, &self.rust_consts())?;
        let agent_config = out_dir.join("agent.toml");
        write_if_changed(&agent_config, &self.agent_config(None))?;
        Ok(Generated { boot_dir, app_dirs, consts, agent_config })
    }
}

/// The whole job of a board's `build.rs`, bar choosing a `memory.x` and loading
/// the keys ([`build_script_public_keys`]): prints
/// `cargo:rerun-if-changed=<layout_path>`, loads and validates the layout, and
/// writes every generated file under `out_dir`.
///
/// ```no_run
/// // build.rs of a boot-stage crate
/// use std::path::PathBuf;
/// let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
/// let (_layout, files) = safeslot_layout::build_script_emit("layout.toml".as_ref(), &out)
///     .unwrap_or_else(|e| panic!("{e}"));
/// println!("cargo:rustc-link-search={}", files.boot_dir.display());
/// ```
///
/// # Errors
///
/// Whatever [`Layout::load`] or [`Layout::write_outputs`] reports.
pub fn build_script_emit(layout_path: &Path, out_dir: &Path) -> Result<(Layout, Generated), LayoutError> {
    // Printed before loading, so a broken layout is re-read once fixed.
    println!("cargo:rerun-if-changed={}", layout_path.display());
    let layout = Layout::load(layout_path)?;
    let generated = layout.write_outputs(out_dir)?;
    Ok((layout, generated))
}

/// The trusted public keys a board's `build.rs` embeds: read from the files named by
/// [`PUBLIC_KEYS_ENV`] (else the layout's `[keys] public`, see
/// [`Layout::resolve_public_keys`]) and checked by [`keys::load_board_keys`], which refuses
/// the public TEST key unless [`ALLOW_TEST_KEY_ENV`] is `1`. Prints
/// `cargo:rerun-if-env-changed` for both variables and `cargo:rerun-if-changed` for each
/// key file.
///
/// # Errors
///
/// A key file that does not load, or [`KeyFileError::TestKey`].
pub fn build_script_public_keys(layout: &Layout) -> Result<Vec<[u8; RAW_PUBLIC_KEY_LEN]>, KeyFileError> {
    println!("cargo:rerun-if-env-changed={PUBLIC_KEYS_ENV}");
    println!("cargo:rerun-if-env-changed={ALLOW_TEST_KEY_ENV}");
    let paths = layout.resolve_public_keys(std::env::var_os(PUBLIC_KEYS_ENV).as_deref());
    for p in &paths {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    keys::load_board_keys(&paths, std::env::var_os(ALLOW_TEST_KEY_ENV).as_deref())
}
