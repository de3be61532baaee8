//! The virtual rig's scenarios on the real firmware in QEMU.
//!
//! `cargo xtask test` builds the firmware, signs the images and runs this with
//! `SAFESLOT_RIG_*` set; run by hand without them, it says so and skips.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

use safeslot_hil::rig::{BoardFlash, VirtualRig};
use safeslot_hil::story::{self, Images};

struct Setup {
    boot: PathBuf,
    apps: Vec<PathBuf>,
    images: PathBuf,
    layout: safeslot_layout::Layout,
}

fn setup() -> Option<Setup> {
    let boot = std::env::var_os("SAFESLOT_RIG_BOOT_ELF")?;
    let apps = std::env::split_paths(&std::env::var_os("SAFESLOT_RIG_APP_ELFS")?).collect();
    let images = PathBuf::from(std::env::var_os("SAFESLOT_RIG_IMAGES")?);
    let layout = safeslot_layout::Layout::load(&PathBuf::from(std::env::var_os("SAFESLOT_RIG_LAYOUT")?)).unwrap();
    Some(Setup { boot: boot.into(), apps, images, layout })
}

fn rig(s: &Setup, name: &str) -> VirtualRig {
    let img = std::env::temp_dir().join(format!("safeslot-rig-{}-{name}.img", std::process::id()));
    VirtualRig::new(BoardFlash::from_layout(&s.layout), s.boot.clone(), s.apps.clone(), img).unwrap()
}

fn images(s: &Setup) -> Images {
    Images {
        a_v1: std::fs::read(s.images.join("a-v1.img")).unwrap(),
        b_v2: std::fs::read(s.images.join("b-v2.img")).unwrap(),
    }
}

#[test]
fn demo_story() {
    let Some(s) = setup() else {
        println!("skipped: run through `cargo xtask test` (SAFESLOT_RIG_* not set)");
        return;
    };
    let mut r = rig(&s, "demo");
    let t = story::demo(&mut r, &images(&s), true).unwrap();
    assert_eq!(t.len(), 11);
    let _ = std::fs::remove_file(&r.flash_img);
}
