//! Links the floor firmware at the virtual board's boot-stage addresses (code at 0x0, where
//! QEMU's `-kernel` loads it; RAM at 0x2000_0000) and embeds the signature it verifies.
//!
//! `SAFESLOT_FLOOR_SIG` names a file of `public key (32) || signature (64) || message`;
//! `cargo xtask bench` writes it from the signed header of the image it benchmarks, so the
//! floor verifies exactly the signature the boot stage verifies. Without it, RFC 8032's
//! test vector 2 is embedded.

use std::env;
use std::path::PathBuf;

/// RFC 8032, section 7.1, TEST 2: public key, signature, message (one byte, 0x72).
const RFC8032_TEST2: &str = concat!(
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da",
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    "72"
);

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // thumbv6m runs in QEMU's `microbit` (nRF51822, Cortex-M0: 16 KiB of RAM), the
    // Cortex-M0+ floor of the Pico's estimate; thumbv7em in the virtual board's machine.
    let ram = if env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv6m")) { "16K" } else { "64K" };
    std::fs::write(
        out.join("memory.x"),
        format!("MEMORY\n{{\n  FLASH : ORIGIN = 0x00000000, LENGTH = 64K\n  RAM : ORIGIN = 0x20000000, LENGTH = {ram}\n}}\n"),
    )
    .expect("write memory.x");
    let sig = match env::var_os("SAFESLOT_FLOOR_SIG") {
        Some(path) => std::fs::read(&path).unwrap_or_else(|e| panic!("SAFESLOT_FLOOR_SIG {path:?}: {e}")),
        None => (0..RFC8032_TEST2.len() / 2)
            .map(|i| u8::from_str_radix(&RFC8032_TEST2[2 * i..2 * i + 2], 16).expect("hex"))
            .collect(),
    };
    assert!(sig.len() >= 96, "SAFESLOT_FLOOR_SIG: key (32) + signature (64) + message expected");
    std::fs::write(out.join("sig.bin"), sig).expect("write sig.bin");
    println!("cargo:rustc-link-arg-bins=-L{}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-env-changed=SAFESLOT_FLOOR_SIG");
    if let Some(path) = env::var_os("SAFESLOT_FLOOR_SIG") {
        println!("cargo:rerun-if-changed={}", PathBuf::from(path).display());
    }
}
