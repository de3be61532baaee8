//! Links the reference bootloader with its memory.x (embassy-boot's nRF example layout and
//! the partition symbols `from_linkerfile_blocking` reads) through cortex-m-rt's link.x;
//! embassy-nrf's `rt` feature supplies the device.x that link.x includes.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rustc-link-arg-bins=-L{}", manifest.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory.x");
}
