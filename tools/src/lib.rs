#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod detached;
pub mod elf;
mod error;
pub mod flash;
pub mod image;
pub mod inspect;
pub mod keys;
pub mod linux;
pub mod output;
pub mod slot;

pub use detached::{attach, prepare, Attached, Prepared};
pub use error::{describe, Error};
pub use image::{board_tlvs, load_image, sign, verify_bytes, SignParams};
pub use inspect::{inspect, Inspection};
pub use slot::SlotTarget;
