#![doc = include_str!("../README.md")]

pub mod app;
pub mod cli;
pub mod cmdline;
pub mod config;
pub mod error;
pub mod fw_env;
pub mod lock;
pub mod mender;
pub mod storage;
pub mod verify;
pub mod view;

pub use error::Error;
