//! Generates this board's linker scripts, layout consts and embedded keys from `layout.toml`.

use safeslot_board_build::{emit, Image};

fn main() {
    emit(&[("safeslot-boot", Image::Boot), ("demo-app-a", Image::App("a")), ("demo-app-b", Image::App("b"))], &[]);
}
