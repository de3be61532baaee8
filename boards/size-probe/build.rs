//! Links the probe with the virtual board's generated boot-stage memory.x: the probe is
//! that board's boot stage without logs, semihosting or power-cut hooks.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let (_, files) = safeslot_layout::build_script_emit(&manifest.join("../qemu-mps2-an386/layout.toml"), &out)
        .unwrap_or_else(|e| panic!("layout.toml: {e}"));
    println!("cargo:rustc-link-arg-bins=-L{}", files.boot_dir.display());
    // cortex-m-rt's `device` feature INCLUDEs device.x (a PAC's interrupt handler names);
    // the boot stage has no interrupt handler, so it is empty (see `__INTERRUPTS`).
    std::fs::write(out.join("device.x"), "").expect("write device.x");
    println!("cargo:rustc-link-arg-bins=-L{}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-env-changed=SAFESLOT_PROBE_KEY");
}
