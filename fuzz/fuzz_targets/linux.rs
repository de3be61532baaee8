//! The Linux hand-off's parsers over arbitrary bytes: the payload table, the gzip wrapper
//! and the kernel inflater (with the `Image` header check), and the FDT `/chosen`
//! patcher. Total; an accepted payload re-encodes to the same parts; patching a patched
//! tree again gives the same tree (the properties are replaced, never duplicated).
#![no_main]

use libfuzzer_sys::fuzz_target;
use miniz_oxide::inflate::core::DecompressorOxide;
use safeslot_linux::fdt::{patch_chosen, Chosen};
use safeslot_linux::gzip::gzip_deflate;
use safeslot_linux::kernel::inflate_kernel;
use safeslot_linux::payload::{parse_payload, Payload};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = parse_payload(data) {
        let again = p.encode().expect("a parsed payload encodes");
        assert_eq!(parse_payload(&again), Ok(Payload { kernel_gz: p.kernel_gz, initrd: p.initrd }));
    }
    if gzip_deflate(data).is_ok() {
        let mut state = Box::new(DecompressorOxide::new());
        let mut out = vec![0u8; 1 << 16];
        if let Ok(n) = inflate_kernel(&mut state, data, &mut out) {
            assert!(n <= out.len());
        }
    }
    let chosen = Chosen {
        bootargs: "console=ttyAMA0 rauc.slot=A",
        initrd_start: 0x4800_0000,
        initrd_end: 0x4810_0000,
        handoff: &[0xA5; 48],
    };
    let mut out = vec![0u8; data.len() + 512];
    if let Ok(n) = patch_chosen(data, &mut out, &chosen) {
        assert!(n <= out.len());
        let once = &out[..n];
        let mut twice = vec![0u8; n + 512];
        let m = patch_chosen(once, &mut twice, &chosen).expect("a patched tree patches again");
        assert!(&twice[..m] == once, "patching twice changed the tree ({n} -> {m} bytes)");
    }
});
