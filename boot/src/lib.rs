//! # safeslot-boot
//!
//! The boot sequence, over traits and without a single register access, so it runs and
//! is tested on the host and on every board alike:
//!
//! 1. open the journal and read the record ([`safeslot_shared::journal`]);
//! 2. choose a slot with the shared policy, verifying each candidate's signed header and
//!    streaming its SHA-256 from flash ([`safeslot_shared::select`]);
//! 3. persist the record update (the tries decrement of a trial) **before** the hand-off;
//! 4. return a [`Launch`]: the only value a board's jump function accepts, and one that
//!    can only be built from a verification that succeeded (see [`fih`]).
//!
//! A board crate supplies the flash driver, samples the recovery input, feeds its
//! watchdog, writes the hand-off block and performs the jump.
#![no_std]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod fih;
pub mod linux;
pub mod sequence;
pub mod shadow;

pub use sequence::{boot, BootConfig, Launch, Outcome};
