//! safeslot-hil: host-side rigs that run real safeslot images (QEMU now, probe-rs later).

pub mod qemu;
