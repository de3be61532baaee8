//! Helpers shared by the image tool's tests.

pub mod cli;
pub mod elf;
