//! # safeslot-linux
//!
//! The Linux hand-off of a board whose slots hold a Linux payload (`[linux]` in its
//! layout; docs/SOC.md), apart from the boot sequence (`safeslot-boot`), which only
//! decides *which* verified image boots (dependencies: `safeslot-shared` and
//! `embedded-storage`, for [`shadow`]; never `safeslot-boot`):
//!
//! * [`payload`]: the payload table at the start of a Linux slot's signed image
//!   (docs/FORMAT.md, "Linux payload"): [`parse_payload`] for the boot stage and,
//!   with feature `alloc`, `Payload::encode` for the host tools, from the same constants;
//! * [`gzip`] and [`kernel`]: the gzip'd arm64 kernel `Image`, inflated into its RAM
//!   region and checked ([`inflate_kernel`]); with `std`, `gzip::compress`;
//! * [`fdt`]: the device-tree `/chosen` patch ([`patch_chosen`]);
//! * [`shadow`]: verify-in-RAM, the flash view the boot sequence verifies the slots'
//!   RAM copies through, which are then the bytes handed to Linux;
//! * `cpio` (feature `alloc`; `CpioBuilder::add_tree` with `std`): the newc initramfs
//!   writer.
//!
//! Without features the crate is `no_std` and allocation-free, with no registers and no
//! addresses: the board hands in byte slices over the (already verified) RAM copy and its
//! destination regions, so all of this is tested on the host. Every parser here is bounded
//! by the length of its input and fails with a [`LinuxError`] on anything malformed;
//! nothing panics or indexes out of bounds.
#![no_std]
#![forbid(unsafe_code)]
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

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod bytes;
#[cfg(feature = "alloc")]
pub mod cpio;
mod error;
pub mod fdt;
pub mod gzip;
pub mod kernel;
pub mod payload;
pub mod shadow;

pub use error::LinuxError;
pub use fdt::{patch_chosen, Chosen};
pub use kernel::inflate_kernel;
/// The inflater state [`inflate_kernel`] takes (re-exported so a board needs no direct
/// `miniz_oxide` dependency).
pub use miniz_oxide::inflate::core::DecompressorOxide;
pub use payload::{parse_payload, PartKind, Payload};
