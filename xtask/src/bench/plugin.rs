//! The instruction-counting QEMU plugin (hil-tests/plugin/insn_count.c): its header, its
//! build, one counted run and the parsed counts.
//!
//! Debian ships QEMU (7.2 in bookworm, 10.0 in bookworm-backports) with plugin support but
//! without `qemu-plugin.h`. The header is in Debian's `qemu` source package of the installed
//! version: it is downloaded (only downloaded, never unpacked or built) with a private apt
//! configuration — its own `deb-src` sources list derived from
//! the machine's, its own lists, cache and an empty dpkg status under
//! `~/.cache/safeslot/apt` — so the machine's apt state is untouched. Only the orig tarball
//! is needed (apt's exit status is not: a mirror may lack the `.dsc` of a backports version
//! and fail the command after the tarball came in), and only
//! `include/qemu/qemu-plugin.h` is extracted from it; it is kept as
//! `~/.cache/safeslot/qemu-plugin/<QEMU version>/qemu-plugin.h` (the downloaded tarballs
//! are deleted), so later runs and CI on the same machine never download again. The plugin
//! itself is built with the machine's `gcc` into target/safeslot/plugin (no glib: where the
//! header includes `<glib.h>`, a two-line stub stands in for it, see [`GLIB_STUB`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use safeslot_hil::qemu::{self, QemuRun};

use crate::env;

/// The plugin API versions (`QEMU_PLUGIN_VERSION`) both plugins are written and tested
/// against: 1 (QEMU 7.2, Debian bookworm) and 4 (QEMU 9.2 to 10.x, e.g. 10.0 from
/// bookworm-backports). Each plugin keeps the differences in one `#if QEMU_PLUGIN_VERSION`
/// block (the inline counters and the instruction bytes); 2 and 3 would compile but were
/// never run, so they are refused like any other.
const API_VERSIONS: &[u32] = &[1, 4];

/// Why a header's API version is refused, or `None` if the plugins support it.
fn unsupported_api(api: u32, header: &Path, name: &str) -> Option<String> {
    (!API_VERSIONS.contains(&api)).then(|| {
        format!(
            "{} defines QEMU plugin API {api}; hil-tests/plugin/{name}.c supports API 1 (QEMU 7.2) and 4 \
             (QEMU 9.2 to 10.x) only. Install a qemu-system-arm with one of those, or port the plugin \
             (the `#if QEMU_PLUGIN_VERSION` block at its top) and add the version to API_VERSIONS in \
             xtask/src/bench/plugin.rs",
            header.display()
        )
    })
}

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
/// `include/qemu/qemu-plugin.h` into `dest`; `version` is the installed QEMU's.
fn fetch_header(dest: &Path, version: &str) -> Result<()> {
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
    // apt-get may fail and still have downloaded the orig tarball, the only file needed: a
    // mirror without the .dsc or .debian.tar.xz of a backports version (seen for QEMU 10.0.2
    // from bookworm-backports) fails the whole command after the tarball came in. So apt's
    // exit status decides nothing here; the tarball does.
    let mut get = private("source");
    get.args(["--download-only", &pkg]).current_dir(&download).stdout(std::process::Stdio::null());
    let mut failed = env::run(&mut get).err();
    if orig_tarball(&download).is_none() {
        // The exact revision may have left the archive; every revision of one upstream
        // version has the same header (the API version is checked after the download).
        eprintln!("xtask: no orig tarball for {pkg}; taking the current qemu source package");
        let mut any = private("source");
        any.args(["--download-only", "qemu"]).current_dir(&download).stdout(std::process::Stdio::null());
        failed = env::run(&mut any).err();
    }
    let orig = match (orig_tarball(&download), failed) {
        (Some(orig), Some(_)) => {
            let name = orig.file_name().unwrap_or_default().to_string_lossy().into_owned();
            eprintln!("xtask: apt-get source exited with an error, but {name} came in: using it");
            orig
        }
        (Some(orig), None) => orig,
        (None, Some(e)) => return Err(e).with_context(|| missing("apt-get source --download-only qemu failed")),
        (None, None) => bail!(missing("the download has no .orig.tar")),
    };
    // The fallback takes whatever version the archive has: its header is only good for the
    // same QEMU release (7.2's is API 1, 10.0's API 4, and QEMU refuses a plugin built
    // for a newer API than its own).
    let name = orig.file_name().unwrap_or_default().to_string_lossy().into_owned();
    ensure!(
        same_release(&name, version),
        missing(&format!("the archive's qemu source is {name}, not of the installed QEMU {version}"))
    );
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

/// The upstream tarball (`qemu_*.orig.tar*`) in `dir`, if one was downloaded.
fn orig_tarball(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| is_orig_tarball(&n.to_string_lossy())))
        .collect();
    found.sort();
    found.pop()
}

/// Whether a file name is a complete upstream tarball (not apt's `.FAILED` or partial file).
fn is_orig_tarball(name: &str) -> bool {
    name.split_once(".orig.tar").is_some_and(|(_, ext)| matches!(ext, "" | ".xz" | ".gz" | ".bz2"))
}

/// Whether the orig tarball `name` (`qemu_10.0.2+ds.orig.tar.xz`) is of the same QEMU
/// release (major.minor) as `version` (`qemu-system-arm --version`'s, `10.0.2`).
fn same_release(name: &str, version: &str) -> bool {
    let upstream = name.strip_prefix("qemu_").unwrap_or(name);
    let major_minor = |v: &str| {
        let mut parts = v.split(|c: char| !c.is_ascii_digit());
        (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned())
    };
    let (want, got) = (major_minor(version), major_minor(upstream));
    !want.0.is_empty() && !want.1.is_empty() && want == got
}

/// Whether a header includes `<glib.h>` (QEMU 10's does, for two pointer types; 7.2's not).
fn includes_glib(header: &str) -> bool {
    header.lines().any(|l| l.trim().replace(' ', "") == "#include<glib.h>")
}

/// The `glib.h` the plugins are built with when qemu-plugin.h includes it. QEMU 10's
/// qemu-plugin.h includes `<glib.h>` for `GArray` and `GByteArray`, which appear only as
/// pointer types in calls the plugins never make (`qemu_plugin_get_registers`,
/// `qemu_plugin_read_register`, `qemu_plugin_read_memory_vaddr`); incomplete types are all
/// it needs, so the plugins stay free of glib and of its development package.
const GLIB_STUB: &str = "/* Written by cargo xtask (xtask/src/bench/plugin.rs): the two glib types qemu-plugin.h \
                         names, incomplete; the plugins use no glib. */\n\
                         #ifndef SAFESLOT_GLIB_STUB_H\n#define SAFESLOT_GLIB_STUB_H\n\
                         typedef struct _GArray GArray;\ntypedef struct _GByteArray GByteArray;\n#endif\n";

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
        fetch_header(&header, &version)?;
    }
    let text = std::fs::read_to_string(&header)?;
    let api = header_api_version(&text).with_context(|| format!("{}: no QEMU_PLUGIN_VERSION", header.display()))?;
    if let Some(why) = unsupported_api(api, &header, name) {
        bail!(why);
    }
    let src = env::root().join(format!("hil-tests/plugin/{name}.c"));
    let out_dir = env::root().join("target/safeslot/plugin");
    std::fs::create_dir_all(&out_dir)?;
    let mut gcc = Command::new("gcc");
    gcc.args(["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I"])
        .arg(header.parent().context("header dir")?);
    if includes_glib(&text) {
        let stub = out_dir.join("glib-stub");
        std::fs::create_dir_all(&stub)?;
        std::fs::write(stub.join("glib.h"), GLIB_STUB)?;
        gcc.arg("-I").arg(&stub);
    }
    let so = out_dir.join(format!("lib{name}-qemu{version}.so"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&so).is_none() || modified(&so) < modified(&src) {
        env::run(gcc.arg("-o").arg(&so).arg(&src)).context("building the QEMU plugin failed")?;
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
    count_command(plugin, run.command(&qemu), run.timeout, marks, phases, out)
}

/// [`count`] for any QEMU command line `cmd` (another machine than the virtual board's),
/// killed after `timeout`.
pub fn count_command(
    plugin: &Path,
    mut cmd: std::process::Command,
    timeout: Duration,
    marks: &[u64],
    phases: Option<&Path>,
    out: &Path,
) -> Result<Counts> {
    let _ = std::fs::remove_file(out);
    let mut arg = format!("{},out={}", plugin.display(), out.display());
    for m in marks {
        arg.push_str(&format!(",mark={m:#x}"));
    }
    if let Some(p) = phases {
        arg.push_str(&format!(",phases={}", p.display()));
    }
    cmd.arg("-plugin").arg(arg);
    let outcome = qemu::run_bounded(cmd, timeout.max(Duration::from_secs(5)))?;
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
        assert_eq!(header_api_version("#define QEMU_PLUGIN_VERSION 4\n"), Some(4));
    }

    #[test]
    fn sees_the_glib_include() {
        assert!(includes_glib("#include <inttypes.h>\n#include <glib.h>\n"));
        assert!(!includes_glib("#include <inttypes.h>\n/* no <glib.h> here */\n"));
        assert!(GLIB_STUB.contains("typedef struct _GArray GArray;\n"));
    }

    #[test]
    fn accepts_the_api_versions_the_plugins_support() {
        let h = Path::new("/x/qemu-plugin.h");
        assert_eq!(unsupported_api(1, h, "insn_skip"), None);
        assert_eq!(unsupported_api(4, h, "insn_skip"), None);
        for api in [0, 2, 3, 5] {
            let why = unsupported_api(api, h, "insn_count").unwrap();
            assert!(why.contains(&format!("plugin API {api};")) && why.contains("insn_count.c"), "{why}");
        }
    }

    #[test]
    fn takes_a_header_only_from_the_installed_release() {
        assert!(same_release("qemu_10.0.2+ds.orig.tar.xz", "10.0.2"));
        assert!(same_release("qemu_7.2+dfsg.orig.tar.xz", "7.2.22"));
        assert!(!same_release("qemu_10.0.2+ds.orig.tar.xz", "7.2.22"));
        assert!(!same_release("qemu_7.2+dfsg.orig.tar.xz", "10.0.2"));
        assert!(!same_release("qemu_10.1.0+ds.orig.tar.xz", "10.0.2"));
        assert!(!same_release("qemu_1.orig.tar.xz", "10.0.2"));
    }

    #[test]
    fn recognises_the_orig_tarball() {
        assert!(is_orig_tarball("qemu_10.0.2+ds.orig.tar.xz"));
        assert!(is_orig_tarball("qemu_7.2+dfsg.orig.tar.xz"));
        assert!(!is_orig_tarball("qemu_10.0.2+ds-2+deb13u1~bpo12+1.debian.tar.xz"));
        assert!(!is_orig_tarball("qemu_10.0.2+ds.orig.tar.xz.FAILED"));
        assert!(!is_orig_tarball("qemu_10.0.2+ds-2+deb13u1~bpo12+1.dsc"));
    }
}
