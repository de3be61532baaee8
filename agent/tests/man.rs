//! The committed man page (`agent/man/safeslotctl.1`, rendered by `cargo xtask man`)
//! covers the command line as it is now: every command, every global option and every
//! exit code of the `--help` epilog. The byte-for-byte check against a fresh render is
//! `cargo xtask man --check` (and xtask's own test in `cargo test --workspace`).

use safeslotctl::cli::{command, EXIT_CODES};

fn page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/man/safeslotctl.1");
    let page = std::fs::read_to_string(path).expect("agent/man/safeslotctl.1: run `cargo xtask man`");
    // roff escapes '-' as '\-'; undo it so names can be searched for.
    page.replace("\\-", "-")
}

#[test]
fn man_page_lists_every_command_and_option() {
    let page = page();
    let cmd = command();
    for sub in cmd.get_subcommands() {
        let entry = format!("\\fB{}\\fR", sub.get_name());
        assert!(page.contains(&entry), "man page lacks command `{}`: run `cargo xtask man`", sub.get_name());
    }
    for arg in cmd.get_arguments() {
        if let Some(long) = arg.get_long() {
            assert!(page.contains(&format!("--{long}")), "man page lacks --{long}: run `cargo xtask man`");
        }
    }
}

#[test]
fn man_page_has_the_exit_code_table() {
    let page = page();
    assert!(page.contains(".SH \"EXIT STATUS\""), "no EXIT STATUS section");
    let exit = &page[page.find(".SH \"EXIT STATUS\"").unwrap_or(0)..];
    for line in EXIT_CODES.lines().skip(1) {
        let Some(code) = line.split_whitespace().next().filter(|w| w.parse::<u8>().is_ok()) else { continue };
        if line.len() - line.trim_start().len() >= 6 {
            continue; // a continuation line that happens to start with a number
        }
        assert!(exit.contains(&format!(".TP\n\\fB{code}\\fR\n")), "exit code {code} missing from EXIT STATUS");
    }
    for code in ["0", "64", "65", "66", "69", "70", "74", "75", "77", "78"] {
        assert!(exit.contains(&format!("\\fB{code}\\fR")), "exit code {code} missing");
    }
}
