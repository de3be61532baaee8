//! The trusted public keys, embedded at build time (see `build.rs`): from the files named
//! by `SAFESLOT_PUBLIC_KEYS`, else by the layout's `[keys] public`. There is no default key.

include!(concat!(env!("OUT_DIR"), "/keys.rs"));
