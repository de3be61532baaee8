//! Generates this board's linker scripts and layout consts from `layout.toml`
//! (through safeslot-layout) and links each bin against its own memory.x.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let (_layout, files) =
        safeslot_layout::build_script_emit(&manifest_dir.join("layout.toml"), &out_dir)
            .unwrap_or_else(|e| panic!("layout.toml: {e}"));

    // Each bin gets exactly one memory.x on its search path: the boot stage
    // the bootloader partition, the bring-up app slot a.
    let app_a = files.app_dir("a").expect("layout.toml has a slot named a");
    println!(
        "cargo:rustc-link-arg-bin=bringup-boot=-L{}",
        files.boot_dir.display()
    );
    println!(
        "cargo:rustc-link-arg-bin=bringup-app-a=-L{}",
        app_a.display()
    );
    // link.x (cortex-m-rt) INCLUDEs that memory.x; defmt.x places the defmt string table.
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
}
