//! Tidy: the inventory of unsafe code (docs/DESIGN.md, "Unsafe code: where and why").
//!
//! The compiler's `unsafe_code` lint (`forbid` in the host workspace, `deny` with a scoped
//! `allow` per module in the board crates) stops unsafe code the crate did not allow; this
//! test keeps the list of *where* it was allowed. Every `.rs` file of the repository (both
//! workspaces; `target` and hidden directories left out) is tokenized, comments and string
//! literals dropped, and a file holds unsafe code when a token is:
//!
//! * the keyword `unsafe` (blocks, `unsafe fn`/`impl`/`trait`/`extern`, `#[unsafe(..)]`);
//! * `no_mangle`, `export_name` or `link_section`, the attributes the `unsafe_code` lint
//!   counts as unsafe too (a duplicate symbol or a misplaced section is undefined
//!   behaviour);
//! * `global_asm`, assembly outside any `unsafe` block.
//!
//! The set of such files must equal [`ALLOWED`]: a new file with unsafe code fails until
//! it is added there with its reason (and reviewed), and a file that no longer has any
//! fails until it is taken off.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{TokenStream, TokenTree};

/// Every file allowed to hold unsafe code, relative to the repository root, and why.
/// Each unsafe block there carries a `// SAFETY:` comment (clippy's
/// `undocumented_unsafe_blocks` is denied in those crates).
const ALLOWED: &[(&str, &str)] = &[
    (
        "agent/src/storage/mtd.rs",
        "the MEMGETINFO/MEMERASE ioctls through nix's ioctl macros (which generate `unsafe fn`s); \
         the agent crate denies unsafe code and allows it only in this module",
    ),
    (
        "boards/cortex-m/src/handoff.rs",
        "VTOR, stack pointer and branch to the verified image (`jump`, called only from `launch` \
         with the `ApprovedLaunch` the boot sequence handed over, its proof re-checked), and the \
         volatile accesses to the hand-off area in RAM (hand-off block, rig mailbox); \
         `HandoffArea::new` is an `unsafe const fn`",
    ),
    (
        "boards/cortex-m/src/lib.rs",
        "the `board!` macro's one call of `HandoffArea::new`, with the layout's validated \
         `[handoff]` region (the generated `config::HANDOFF`)",
    ),
    (
        "boards/cortex-m/src/mpu.rs",
        "the MPU registers that make the slots execute-never from reset, and turn the MPU off \
         in `handoff::jump` just before the branch",
    ),
    ("boards/nrf52840-dk/src/counter.rs", "volatile reads and word stores of the counter page (NVMC, ACL)"),
    (
        "boards/nucleo-l476rg/src/flash.rs",
        "`L4Otp`: volatile reads of the OTP area and the two 32-bit stores of a double-word \
         program; the NMI handler (ECC double errors), which cortex-m-rt requires to be `unsafe`",
    ),
    (
        "boards/qemu-mps2-an386/src/flash.rs",
        "volatile accesses to the memory-mapped flash window (OTP sector included)",
    ),
    ("boards/qemu-mps2-an386/src/lib.rs", "the `HardFault` handler, which cortex-m-rt requires to be `unsafe`"),
    (
        "boards/qemu-mps2-an386/src/stack.rs",
        "painting the free stack below the stack pointer and reading it back (peak stack, \
         `cargo xtask size`)",
    ),
    (
        "boards/qemu-mps2-an386/src/watchdog.rs",
        "the CMSDK watchdog's registers (arm, feed) and the FPGA's 100 Hz counter",
    ),
    ("boards/qemu-virt-aarch64/src/bin/safeslot-boot.rs", "`#[no_mangle]` on the stage's entry, called by `_start`"),
    ("boards/qemu-virt-aarch64/src/cfi.rs", "CFI command and read cycles on the flash bank"),
    ("boards/qemu-virt-aarch64/src/fwcfg.rs", "fw_cfg's selector and data registers (the rig's order)"),
    (
        "boards/qemu-virt-aarch64/src/handoff.rs",
        "the Linux jump (called only from `launch` with the `ApprovedLaunch` and the verified RAM \
         copy it just placed) and the PSCI `SYSTEM_OFF` call",
    ),
    (
        "boards/qemu-virt-aarch64/src/ram.rs",
        "the `[linux]` RAM regions as slices, each handed out once, and QEMU's device tree",
    ),
    ("boards/qemu-virt-aarch64/src/stack.rs", "painting the free stack to measure its peak"),
    ("boards/qemu-virt-aarch64/src/start.rs", "`_start` in `global_asm!`: FP/SIMD enable, stack, `.data`/`.bss`"),
    ("boards/qemu-virt-aarch64/src/timer.rs", "the generic timer's counter"),
    ("boards/qemu-virt-aarch64/src/uart.rs", "the PL011's registers"),
    (
        "boards/reference-embassy-boot-nrf/src/main.rs",
        "the size reference's jump (embassy-boot-nrf's `BootLoader::load`) and its `HardFault` \
         handler, which cortex-m-rt requires to be `unsafe`; built only for `cargo xtask size`",
    ),
    (
        "boards/size-probe/src/chip.rs",
        "the CMSDK watchdog's arming and a reset-reason register read, for the size measurement",
    ),
    ("boards/size-probe/src/flash.rs", "volatile accesses to the memory-mapped flash window (`[otp]` included)"),
    (
        "boards/size-probe/src/main.rs",
        "the one-entry device vector table (`no_mangle` + `link_section`): saves the 960 B of a \
         240-entry default table in a stage that enables no interrupt",
    ),
];

/// The tokens that make a file hold unsafe code.
const MARKERS: &[&str] = &["unsafe", "no_mangle", "export_name", "link_section", "global_asm"];

/// The markers in `tokens` (recursively), with their line numbers.
fn markers(tokens: TokenStream, out: &mut Vec<(String, usize)>) {
    for t in tokens {
        match t {
            TokenTree::Ident(i) => {
                let s = i.to_string();
                if MARKERS.contains(&s.as_str()) {
                    out.push((s, i.span().start().line));
                }
            }
            TokenTree::Group(g) => markers(g.stream(), out),
            TokenTree::Punct(_) | TokenTree::Literal(_) => {}
        }
    }
}

/// The markers in Rust source `src` (comments and literals are not tokens that count).
fn scan(src: &str) -> Result<Vec<(String, usize)>, String> {
    let tokens = TokenStream::from_str(src).map_err(|e| format!("not Rust tokens: {e}"))?;
    let mut out = Vec::new();
    markers(tokens, &mut out);
    Ok(out)
}

/// Every `.rs` file under `dir`, skipping `target` and hidden directories.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn unsafe_code_is_only_in_the_files_the_inventory_lists() {
    let root = root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    // Both workspaces are scanned (the firmware crates hold all but one of the files).
    assert!(files.len() > 150, "only {} Rust files under {}", files.len(), root.display());
    assert!(files.iter().any(|f| f.starts_with(root.join("boards"))), "boards/ not scanned");

    let mut found = BTreeSet::new();
    let mut unlisted = Vec::new();
    let mut errors = Vec::new();
    let allowed: BTreeSet<&str> = ALLOWED.iter().map(|(f, _)| *f).collect();
    assert_eq!(allowed.len(), ALLOWED.len(), "a file is listed twice");
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let src = std::fs::read_to_string(f).unwrap();
        match scan(&src) {
            Ok(m) if m.is_empty() => {}
            Ok(m) => {
                if !allowed.contains(rel.as_str()) {
                    let at: Vec<String> = m.iter().map(|(w, l)| format!("{rel}:{l}: `{w}`")).collect();
                    unlisted.push(at.join("\n  "));
                }
                found.insert(rel);
            }
            Err(e) => errors.push(format!("{rel}: {e}")),
        }
    }
    assert!(errors.is_empty(), "files the scan could not read:\n{}", errors.join("\n"));
    assert!(
        unlisted.is_empty(),
        "unsafe code outside the inventory (move it into an audited module, or add the file \
         with its reason to ALLOWED in xtask/tests/tidy.rs and have it reviewed):\n  {}",
        unlisted.join("\n  ")
    );
    let stale: Vec<&&str> = allowed.iter().filter(|f| !found.contains(**f)).collect();
    assert!(stale.is_empty(), "listed in ALLOWED but holding no unsafe code any more (take them off): {stale:?}");
    println!("unsafe code in {} of {} Rust files, each listed with its reason", found.len(), files.len());
}

#[test]
fn the_scan_sees_unsafe_code_and_nothing_else() {
    let words = |src: &str| scan(src).unwrap().into_iter().map(|(w, _)| w).collect::<Vec<_>>();
    assert_eq!(words("fn f() { let x = unsafe { g() }; }"), ["unsafe"]);
    assert_eq!(words("unsafe fn f() {}\nunsafe impl Send for X {}"), ["unsafe", "unsafe"]);
    assert_eq!(words("#[no_mangle]\nextern \"C\" fn f() {}"), ["no_mangle"]);
    assert_eq!(words("#[unsafe(link_section = \".x\")]\nstatic S: u8 = 0;"), ["unsafe", "link_section"]);
    assert_eq!(words("#[export_name = \"f\"] fn f() {}"), ["export_name"]);
    assert_eq!(words("core::arch::global_asm!(\"nop\");"), ["global_asm"]);
    assert_eq!(scan("\n\nmod m { fn f() { unsafe {} } }").unwrap(), [(String::from("unsafe"), 3)]);
    // Not code: comments, doc comments, strings, raw strings, longer identifiers.
    assert!(words("// unsafe { }\n/* unsafe /* nested unsafe */ */\n/// `unsafe fn`\nfn f() {}").is_empty());
    assert!(words("//! no_mangle\nconst S: &str = \"unsafe\"; const R: &str = r#\"unsafe\"#;").is_empty());
    assert!(words("#![forbid(unsafe_code)]\n#[allow(unsafe_op_in_unsafe_fn)] fn unsafe_ish() {}").is_empty());
    assert!(scan("fn f() { \"unterminated }").is_err());
}

#[test]
fn the_design_doc_points_to_this_inventory() {
    let design = std::fs::read_to_string(root().join("docs/DESIGN.md")).unwrap();
    assert!(design.contains("xtask/tests/tidy.rs"), "docs/DESIGN.md no longer points to the unsafe inventory");
}
