//! Generates this board's linker script inputs, layout consts and boot configuration
//! (with the trusted public keys embedded) from `layout.toml`, through
//! safeslot-board-build, and links the stage with `link.x`.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let (layout, files) = safeslot_board_build::generate(&manifest_dir.join("layout.toml"));
    assert!(layout.linux().is_some(), "this board's slots hold Linux: layout.toml needs [linux]");
    println!("cargo:rustc-link-arg-bin=safeslot-boot=-L{}", files.boot_dir.display());
    println!("cargo:rustc-link-arg-bin=safeslot-boot=-T{}", manifest_dir.join("link.x").display());
    println!("cargo:rerun-if-changed=link.x");
}
