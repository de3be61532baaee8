#![doc = include_str!("../README.md")]

pub mod app;
pub mod cli;
pub mod config;
pub mod error;
pub mod fw_env;
pub mod lock;
pub mod mender;
pub mod running;
pub mod storage;
pub mod verify;
pub mod view;

pub use error::Error;
