//! Generates this board's linker scripts, layout consts and embedded keys from
//! `layout.toml` (through safeslot-board-build) and links each bin against its own memory.x.

use safeslot_board_build::{emit, Image};

fn main() {
    emit(&[("safeslot-boot", Image::Boot), ("demo-app-a", Image::App("a")), ("demo-app-b", Image::App("b"))], &[]);
}
