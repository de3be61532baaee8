//! `cargo xtask man [--check]`: renders `agent/man/safeslotctl.1` from safeslotctl's clap
//! command line (the doc comments are the help text), so the man page never drifts from
//! `--help`. `--check` renders into memory and fails if the committed page differs.
//!
//! clap_mangen's stock page points at one page per subcommand and prints the `--help`
//! epilog as filled text under "EXTRA". This page keeps everything in one file: the
//! global options, a short SYNOPSIS, a COMMANDS section with each command's arguments, and the exit-code
//! table from `safeslotctl::cli::EXIT_CODES` as an EXIT STATUS section.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

use crate::env;

/// Where the page lives, relative to the repository root.
pub const PAGE: &str = "agent/man/safeslotctl.1";

/// `cargo xtask man [--check]`.
pub fn run(check: bool) -> Result<()> {
    let path: PathBuf = env::root().join(PAGE);
    let page = render()?;
    if check {
        let committed = std::fs::read(&path).with_context(|| format!("{}: run `cargo xtask man`", path.display()))?;
        if committed != page {
            bail!("{PAGE} is out of date with safeslotctl's command line: run `cargo xtask man`");
        }
        println!("{PAGE} is up to date");
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    std::fs::write(&path, &page).with_context(|| path.display().to_string())?;
    println!("wrote {PAGE}");
    Ok(())
}

/// The page, rendered from `safeslotctl::cli::command()`.
pub fn render() -> Result<Vec<u8>> {
    let mut cmd = safeslotctl::cli::command();
    cmd.build();
    let man = Man::new(cmd.clone()).manual("safeslot");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    // clap_mangen's synopsis lists every global flag without its value; this one is
    // shorter and says what matters: options, then one command.
    let mut synopsis = Roff::default();
    synopsis.control("SH", ["SYNOPSIS"]);
    synopsis.text([
        bold("safeslotctl"),
        roman(" ["),
        italic("OPTIONS"),
        roman("] "),
        italic("COMMAND"),
        roman(" ["),
        italic("ARGS"),
        roman("]"),
    ]);
    synopsis.to_writer(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;

    let mut roff = Roff::default();
    commands(&mut roff, &cmd);
    exit_status(&mut roff, safeslotctl::cli::EXIT_CODES)?;
    roff.control("SH", ["FILES"]);
    for (file, what) in [
        ("/etc/safeslot.toml", "the agent config (record geometry, slots, keys)"),
        ("/proc/cmdline", "the boot stage's words: safeslot.slot=, safeslot.seq=, safeslot.unrecorded (or rauc.slot=)"),
    ] {
        roff.control("TP", []);
        roff.text([italic(file)]);
        roff.text([roman(what)]);
    }
    roff.to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// One `.TP` entry per visible subcommand: its name and arguments, its help, then each
/// argument with its help (indented).
fn commands(roff: &mut Roff, cmd: &clap::Command) {
    roff.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let args: Vec<&clap::Arg> =
            sub.get_arguments().filter(|a| !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help").collect();
        let mut header = vec![bold(sub.get_name())];
        for a in &args {
            header.push(roman(" "));
            header.extend(arg_usage(a));
        }
        roff.control("TP", []);
        roff.text(header);
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            roff.text([roman(about.to_string())]);
        }
        if args.is_empty() {
            continue;
        }
        roff.control("RS", []);
        for a in &args {
            roff.control("TP", []);
            roff.text(arg_usage(a));
            let mut help = a.get_long_help().or_else(|| a.get_help()).map(|h| h.to_string()).unwrap_or_default();
            let defaults: Vec<String> =
                a.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
            if !defaults.is_empty() && a.get_action().takes_values() {
                help.push_str(&format!(" [default: {}]", defaults.join(", ")));
            }
            roff.text([roman(help)]);
        }
        roff.control("RE", []);
    }
}

/// `<SLOT>`, `[SLOT]`, `--force`, `--tries <TRIES>`, each bracketed when optional.
fn arg_usage(a: &clap::Arg) -> Vec<Inline> {
    let value = a
        .get_value_names()
        .and_then(|v| v.first().map(|s| s.to_string()))
        .unwrap_or_else(|| a.get_id().as_str().to_uppercase());
    let mut inner = Vec::new();
    if let Some(long) = a.get_long() {
        inner.push(bold(format!("--{long}")));
        if a.get_action().takes_values() {
            inner.push(roman(" "));
            inner.push(italic(value));
        }
    } else {
        inner.push(italic(value));
    }
    if a.is_required_set() {
        inner
    } else {
        let mut out = vec![roman("[")];
        out.extend(inner);
        out.push(roman("]"));
        out
    }
}

/// The `--help` epilog as EXIT STATUS (one `.TP` per code) and, for the paragraph after
/// the table, OUTPUT. Fails if the epilog no longer has the expected shape.
fn exit_status(roff: &mut Roff, epilog: &str) -> Result<()> {
    let mut lines = epilog.lines();
    if lines.next() != Some("Exit codes:") {
        bail!("EXIT_CODES must start with `Exit codes:`");
    }
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        let text = line.trim();
        let (head, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        if head.parse::<u8>().is_ok() && line.len() - line.trim_start().len() < 6 {
            entries.push((head.to_owned(), rest.trim().to_owned()));
        } else if let Some((_, meaning)) = entries.last_mut() {
            meaning.push(' ');
            meaning.push_str(text);
        } else {
            bail!("EXIT_CODES: continuation line before the first code: {line:?}");
        }
    }
    if entries.len() < 2 {
        bail!("EXIT_CODES: no exit-code table found");
    }
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in entries {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(meaning)]);
    }
    let rest: Vec<&str> = lines.map(str::trim).collect();
    let rest = rest.join(" ");
    if !rest.trim().is_empty() {
        roff.control("SH", ["OUTPUT"]);
        roff.text([roman(rest.trim().to_owned())]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed page is what `cargo xtask man` renders now (runs in
    /// `cargo test --workspace`, so CI catches a stale page).
    #[test]
    fn committed_page_is_current() {
        let committed = std::fs::read(env::root().join(PAGE)).expect("agent/man/safeslotctl.1 exists");
        let fresh = render().expect("renders");
        assert!(committed == fresh, "{PAGE} is stale: run `cargo xtask man`");
    }

    #[test]
    fn exit_codes_become_their_own_section() {
        let page = String::from_utf8(render().expect("renders")).expect("utf-8");
        assert!(page.contains(".SH \"EXIT STATUS\"") || page.contains(".SH EXIT STATUS"), "{page}");
        for code in ["64", "65", "66", "69", "70", "74", "75", "77", "78"] {
            assert!(page.contains(&format!("\\fB{code}\\fR")), "exit code {code} missing");
        }
        assert!(!page.contains(".SH EXTRA"));
    }
}
