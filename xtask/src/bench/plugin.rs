//! The instruction-counting QEMU plugin (hil-tests/plugin/insn_count.c): its header, its
//! build, one counted run and the parsed counts.
//!
//! Debian ships QEMU 7.2 with plugin support but without `qemu-plugin.h`. The header is in
//! Debian's `qemu` source package: it is downloaded (only downloaded, never unpacked or
//! built) with a private apt configuration — its own `deb-src` sources list derived from
//! the machine's, its own lists, cache and an empty dpkg status under
//! `~/.cache/safeslot/apt` — so the machine's apt state is untouched. Only
//! `include/qemu/qemu-plugin.h` is extracted from the orig tarball; it is kept as
//! `~/.cache/safeslot/qemu-plugin/<QEMU version>/qemu-plugin.h` (the downloaded tarballs
//! are deleted), so later runs and CI on the same machine never download again. The plugin
//! itself is built with the machine's `gcc` into target/safeslot/plugin (no glib).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use safeslot_hil::qemu::{self, QemuRun};

use crate::env;

/// The plugin API version the plugin is written against (QEMU 7.2's `QEMU_PLUGIN_VERSION`).
const API_VERSION: u32 = 1;

/// Where the header (and the private apt state) are cached across runs and worktrees.
fn cache_dir() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set (the plugin header is cached under ~/.cache)")?;
    Ok(PathBuf::from(home).join(".cache/safeslot"))
}

/// The installed `qemu-system-arm`'s version, e.g. `7.2.22` (what the header cache is keyed by).
fn qemu_version() -> Result<String> {
    let bin = qemu::qemu_available().map_err(|e| anyhow::anyhow!(e))?;
    let out = Command::new(&bin).arg("--version").output().with_context(|| bin.display().to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .map(str::to_owned)
        .with_context(|| format!("cannot read the QEMU version from `{}`", text.trim()))
}

/// The Debian source version of the installed qemu-system-arm (`1:7.2+dfsg-7+deb12u18`), if
/// dpkg knows it.
fn debian_source_version() -> Option<String> {
    let out = Command::new("dpkg-query").args(["-W", "-f", "${source:Version}", "qemu-system-arm"]).output().ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !v.is_empty()).then_some(v)
}

/// `deb-src` lines for the machine's Debian repositories (deb822 `.sources` files and
/// one-line `sources.list` entries of type `deb`), `main` only.
fn deb_src_lines() -> Vec<String> {
    let mut lines = Vec::new();
    let mut files: Vec<PathBuf> = vec!["/etc/apt/sources.list".into()];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(dir.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let name = file.to_string_lossy();
        if name.ends_with(".sources") {
            for stanza in text.split("\n\n") {
                let field = |key: &str| {
                    stanza.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':'))).map(str::trim)
                };
                let (Some(types), Some(uris), Some(suites)) = (field("Types"), field("URIs"), field("Suites")) else {
                    continue;
                };
                if field("Enabled") == Some("no") || !types.split_whitespace().any(|t| t == "deb") {
                    continue;
                }
                let opts = field("Signed-By").map(|k| format!("[signed-by={k}] ")).unwrap_or_default();
                for uri in uris.split_whitespace().filter(|u| u.contains("debian")) {
                    for suite in suites.split_whitespace() {
                        lines.push(format!("deb-src {opts}{uri} {suite} main"));
                    }
                }
            }
        } else if name.ends_with(".list") {
            for l in text.lines().map(str::trim).filter(|l| l.starts_with("deb ") && l.contains("debian")) {
                let rest = l.trim_start_matches("deb ").trim();
                let (opts, rest) = match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
                    Some((o, r)) => (format!("[{o}] "), r.trim()),
                    None => (String::new(), rest),
                };
                let mut words = rest.split_whitespace();
                if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
                    lines.push(format!("deb-src {opts}{uri} {suite} main"));
                }
            }
        }
    }
    if lines.is_empty() {
        lines.push("deb-src http://deb.debian.org/debian bookworm main".into());
    }
    lines.sort();
    lines.dedup();
    lines
}

/// Downloads Debian's qemu source package with a private apt configuration and extracts
/// `include/qemu/qemu-plugin.h` into `dest`.
fn fetch_header(dest: &Path) -> Result<()> {
    let missing = |what: &str| {
        format!(
            "cannot get qemu-plugin.h ({what}). It is in Debian's `qemu` source package \
             (include/qemu/qemu-plugin.h of qemu_*.orig.tar.xz); put that file at {} by hand",
            dest.display()
        )
    };
    ensure!(Path::new("/usr/bin/apt-get").exists(), missing("no apt-get on this machine"));
    let apt = cache_dir()?.join("apt");
    let (lists, cache, download) = (apt.join("lists"), apt.join("cache"), apt.join("download"));
    for d in [lists.join("partial"), cache.join("archives/partial"), download.clone()] {
        std::fs::create_dir_all(&d).with_context(|| d.display().to_string())?;
    }
    let sources = apt.join("sources.list");
    std::fs::write(&sources, deb_src_lines().join("\n") + "\n")?;
    let private = |sub: &str| {
        let mut c = Command::new("apt-get");
        c.arg("-q")
            .arg(format!("-oDir::Etc::SourceList={}", sources.display()))
            .arg("-oDir::Etc::SourceParts=/nonexistent")
            .arg(format!("-oDir::State::Lists={}", lists.display()))
            .arg(format!("-oDir::Cache={}", cache.display()))
            .arg("-oDir::State::status=/dev/null")
            .arg("-oDebug::NoLocking=1")
            .arg(sub);
        c
    };
    eprintln!(
        "xtask: fetching qemu-plugin.h from Debian's qemu source package (private apt state in {})",
        apt.display()
    );
    env::run(private("update").stdout(std::process::Stdio::null()))
        .with_context(|| missing("apt-get update of the private deb-src list failed: no network?"))?;
    let pkg = match debian_source_version() {
        Some(v) => format!("qemu={v}"),
        None => "qemu".into(),
    };
    let mut get = private("source");
    get.args(["--download-only", &pkg]).current_dir(&download).stdout(std::process::Stdio::null());
    if env::run(&mut get).is_err() {
        // The exact revision may have left the archive; every 7.2 revision has the same header.
        eprintln!("xtask: {pkg} is not in the archive; taking the current qemu source package");
        let mut any = private("source");
        any.args(["--download-only", "qemu"]).current_dir(&download).stdout(std::process::Stdio::null());
        env::run(&mut any).with_context(|| missing("apt-get source --download-only qemu failed"))?;
    }
    let orig = std::fs::read_dir(&download)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(".orig.tar")))
        .with_context(|| missing("the download has no .orig.tar"))?;
    // The orig tarball is .tar.xz: tar needs xz.
    env::ensure_debian_tool("xz", "xz-utils")?;
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(&orig)
        .args(["--wildcards", "*/include/qemu/qemu-plugin.h"])
        .output()
        .context("could not run tar")?;
    let _ = std::fs::remove_dir_all(&download);
    let _ = std::fs::remove_dir_all(&cache);
    ensure!(out.status.success() && !out.stdout.is_empty(), missing("the tarball has no include/qemu/qemu-plugin.h"));
    std::fs::create_dir_all(dest.parent().context("header path")?)?;
    std::fs::write(dest, &out.stdout)?;
    Ok(())
}

/// The `QEMU_PLUGIN_VERSION` a header defines.
fn header_api_version(header: &str) -> Option<u32> {
    header.lines().find_map(|l| l.trim().strip_prefix("#define QEMU_PLUGIN_VERSION")?.trim().parse().ok())
}

/// Makes sure the counting plugin is built (fetching the header once) and returns the `.so`.
pub fn ensure() -> Result<PathBuf> {
    ensure_named("insn_count")
}

/// Makes sure the plugin `hil-tests/plugin/NAME.c` is built (fetching the header once) and
/// returns the `.so`: `insn_count` (this bench) or `insn_skip` (`cargo xtask fi`).
pub fn ensure_named(name: &str) -> Result<PathBuf> {
    env::ensure_debian_tool("gcc", "gcc")?;
    let version = qemu_version()?;
    let header = cache_dir()?.join("qemu-plugin").join(&version).join("qemu-plugin.h");
    if !header.is_file() {
        fetch_header(&header)?;
    }
    let text = std::fs::read_to_string(&header)?;
    let api = header_api_version(&text).with_context(|| format!("{}: no QEMU_PLUGIN_VERSION", header.display()))?;
    ensure!(
        api == API_VERSION,
        "{} defines plugin API {api}; hil-tests/plugin/{name}.c is written for API {API_VERSION} (QEMU 7.2)",
        header.display()
    );
    let src = env::root().join(format!("hil-tests/plugin/{name}.c"));
    let out_dir = env::root().join("target/safeslot/plugin");
    std::fs::create_dir_all(&out_dir)?;
    let so = out_dir.join(format!("lib{name}-qemu{version}.so"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&so).is_none() || modified(&so) < modified(&src) {
        env::run(
            Command::new("gcc")
                .args(["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I"])
                .arg(header.parent().context("header dir")?)
                .arg("-o")
                .arg(&so)
                .arg(&src),
        )
        .context("building the QEMU plugin failed")?;
    }
    Ok(so)
}

/// What the plugin counted in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Every instruction executed.
    pub total: u64,
    /// Per mark address: (hits, instructions executed before the first hit).
    pub marks: HashMap<u64, (u64, u64)>,
    /// Executions per instruction address.
    pub pcs: HashMap<u64, u64>,
    /// Instructions per phase id (with a phase map; see insn_count.c).
    pub phases: HashMap<u32, u64>,
    /// The guest's exit code (QEMU's).
    pub exit_code: Option<i32>,
}

impl Counts {
    /// Instructions executed before the first execution of `addr`, if it ran.
    pub fn before(&self, addr: u64) -> Option<u64> {
        self.marks.get(&addr).filter(|(hits, _)| *hits > 0).map(|&(_, first)| first)
    }
}

/// Parses the plugin's out= file.
pub fn parse(text: &str) -> Result<Counts> {
    let mut lines = text.lines();
    ensure!(lines.next() == Some("insn_count 1"), "not an insn_count 1 file");
    let mut c =
        Counts { total: 0, marks: HashMap::new(), pcs: HashMap::new(), phases: HashMap::new(), exit_code: None };
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).with_context(|| format!("bad address {s}"));
    let num = |s: Option<&str>| -> Result<u64> { s.context("short line")?.parse().context("bad number") };
    for line in lines {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("total") => c.total = num(w.next())?,
            Some("dropped") => ensure!(num(w.next())? == 0, "the plugin's address table overflowed"),
            Some("mark") => {
                let addr = hex(w.next().context("short line")?)?;
                let (hits, first) = (num(w.next())?, num(w.next())?);
                c.marks.insert(addr, (hits, first));
            }
            Some("phase") => {
                let id = num(w.next())?;
                c.phases.insert(u32::try_from(id).context("bad phase id")?, num(w.next())?);
            }
            Some("pc") => {
                let addr = hex(w.next().context("short line")?)?;
                c.pcs.insert(addr, num(w.next())?);
            }
            _ => bail!("unexpected line `{line}`"),
        }
    }
    Ok(c)
}

/// Runs `run` under the plugin with `marks` (and a phase map, if given); returns the counts.
pub fn count(plugin: &Path, run: &QemuRun, marks: &[u64], phases: Option<&Path>, out: &Path) -> Result<Counts> {
    let qemu = qemu::qemu_available().map_err(|e| anyhow::anyhow!(e))?;
    let _ = std::fs::remove_file(out);
    let mut arg = format!("{},out={}", plugin.display(), out.display());
    for m in marks {
        arg.push_str(&format!(",mark={m:#x}"));
    }
    if let Some(p) = phases {
        arg.push_str(&format!(",phases={}", p.display()));
    }
    let mut cmd = run.command(&qemu);
    cmd.arg("-plugin").arg(arg);
    let outcome = qemu::run_bounded(cmd, run.timeout.max(Duration::from_secs(5)))?;
    ensure!(!outcome.timed_out, "QEMU timed out under the plugin: {}", outcome.stderr.trim());
    let text = std::fs::read_to_string(out)
        .with_context(|| format!("the plugin wrote no {} (QEMU said: {})", out.display(), outcome.stderr.trim()))?;
    let mut counts = parse(&text).with_context(|| out.display().to_string())?;
    counts.exit_code = outcome.exit_code;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_plugin_output() {
        let text = "insn_count 1\ntotal 10\ndropped 0\nmark 0x400 1 0 0\nmark 0x500 0 0 0\nphase 2 10\npc 0x400 3\npc 0x402 7\n";
        let c = parse(text).unwrap();
        assert_eq!(c.total, 10);
        assert_eq!(c.before(0x400), Some(0));
        assert_eq!(c.before(0x500), None);
        assert_eq!(c.pcs.get(&0x402), Some(&7));
        assert_eq!(c.phases.get(&2), Some(&10));
        assert!(parse("insn_count 1\ndropped 2\n").is_err());
        assert!(parse("something else\n").is_err());
    }

    #[test]
    fn reads_the_api_version() {
        assert_eq!(header_api_version("#include <x.h>\n#define QEMU_PLUGIN_VERSION 1\n"), Some(1));
        assert_eq!(header_api_version("nothing"), None);
    }
}
