//! The floor of `cargo xtask bench`: what hashing and signature verification cost with the
//! bare crates, in the same QEMU machine, profile and sha2 backend as the boot stage.
//!
//! Each bin reads one number `n` from the semihosting command line (`-append N`), does its
//! work `n` times and exits with [`EXIT_DONE`]; the bench runs it with two values of `n`
//! and takes the difference of the instruction counts, which cancels start-up, command
//! line and exit. Never shipped: no board links it.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use safeslot_shared::protocol::exit::Exit;

/// A run that did all its work (and, for the verifier, every signature verified).
pub const EXIT_DONE: Exit = Exit::FloorDone;
/// A verifier run where a signature did not verify.
pub const EXIT_BAD_SIGNATURE: Exit = Exit::FloorBadSignature;
/// A run whose command line is not one number.
pub const EXIT_BAD_CMDLINE: Exit = Exit::BadCmdline;

/// The repetition count from the command line (the first word after the program name).
pub fn count() -> u32 {
    let Ok(args) = semihosting::experimental::env::args::<256>() else { exit(EXIT_BAD_CMDLINE) };
    match (&args).nth(1) {
        Some(Ok(word)) => word.parse().unwrap_or_else(|_| exit(EXIT_BAD_CMDLINE)),
        _ => exit(EXIT_BAD_CMDLINE),
    }
}

/// Stops the machine; QEMU exits with `code`'s exit code (safeslot-shared's one table).
pub fn exit(code: Exit) -> ! {
    semihosting::process::exit(code.status())
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    exit(Exit::Panic)
}
