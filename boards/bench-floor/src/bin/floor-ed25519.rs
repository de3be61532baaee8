//! The verification floor: `n` ed25519 verifications (ed25519-compact, `opt_size`, as the
//! boot stage uses it) of the embedded signature (see build.rs).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use core::hint::black_box;

use cortex_m_rt::entry;
use ed25519_compact::{PublicKey, Signature};
use safeslot_bench_floor::{count, exit, EXIT_BAD_SIGNATURE, EXIT_DONE};

/// Public key (32) || signature (64) || message.
static SIG: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/sig.bin"));

#[entry]
fn main() -> ! {
    let n = count();
    let (Some(pk), Some(sig), Some(msg)) = (SIG.get(..32), SIG.get(32..96), SIG.get(96..)) else {
        exit(EXIT_BAD_SIGNATURE)
    };
    let (Ok(pk), Ok(sig)) = (PublicKey::from_slice(pk), Signature::from_slice(sig)) else { exit(EXIT_BAD_SIGNATURE) };
    for _ in 0..n {
        if black_box(&pk).verify(black_box(msg), black_box(&sig)).is_err() {
            exit(EXIT_BAD_SIGNATURE)
        }
    }
    exit(EXIT_DONE)
}
