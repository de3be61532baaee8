//! Generates the virtual board's layout consts, boot configuration (with the key named by
//! `SAFESLOT_PUBLIC_KEYS`) and boot-stage memory.x from its `layout.toml`, through the
//! generator every board uses, and links the probe with that memory.x: the probe is that
//! board's boot stage without logs, semihosting or power-cut hooks.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let (_, files) = safeslot_board_build::generate(&manifest.join("../qemu-mps2-an386/layout.toml"));
    println!("cargo:rustc-link-arg-bins=-L{}", files.boot_dir.display());
    // cortex-m-rt's `device` feature INCLUDEs device.x (a PAC's interrupt handler names);
    // the boot stage has no interrupt handler, so it is empty (see `__INTERRUPTS`).
    std::fs::write(out.join("device.x"), "").expect("write device.x");
    println!("cargo:rustc-link-arg-bins=-L{}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
