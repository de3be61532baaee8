//! The hashing floor: SHA-256 (sha2, the boot stage's backend) over `n` KiB, fed 512 bytes
//! at a time as the boot stage's verifier feeds it, then finalized.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use core::hint::black_box;

use cortex_m_rt::entry;
use safeslot_bench_floor::{count, exit, EXIT_DONE};
use sha2::{Digest, Sha256};

#[entry]
fn main() -> ! {
    let kib = count();
    let chunk = black_box([0x5Au8; 512]);
    let mut h = Sha256::new();
    for _ in 0..kib.saturating_mul(2) {
        h.update(black_box(&chunk[..]));
    }
    black_box(h.finalize());
    exit(EXIT_DONE)
}
