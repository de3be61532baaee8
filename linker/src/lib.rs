#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod agent;
mod boot_config;
mod build_script;
mod consts;
mod error;
pub mod keys;
mod layout;
mod memory_x;
mod raw;
mod text;
mod validate;

pub use agent::AgentConfig;
pub use build_script::{build_script_emit, build_script_public_keys, Generated};
pub use error::LayoutError;
pub use layout::{
    Board, Clock, Flash, ImageRules, Layout, Linux, MemRange, Otp, Region, Slot, Watchdog, WatchdogArm, PUBLIC_KEYS_ENV,
};
pub use memory_x::check_memory_x;
