//! Generates this board's linker scripts, layout consts and embedded keys from `layout.toml`.
//! The boot stage also gets embassy-rp's `link-rp.x`, which puts boot2 (`.boot2`) into the
//! BOOT2 region the layout's `boot2_size` adds to its memory.x.

use safeslot_board_build::{emit, Image};

fn main() {
    emit(
        &[("safeslot-boot", Image::Boot), ("demo-app-a", Image::App("a")), ("demo-app-b", Image::App("b"))],
        &["link-rp.x"],
    );
}
