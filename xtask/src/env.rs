//! What the tasks need from the machine: paths, rustup targets, QEMU.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// `$CARGO`, as cargo-xtask recommends.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs a command, failing with its command line when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Runs a command and returns its standard output, failing with its command line and
/// standard error when it fails.
pub fn output(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("could not start {shown}"))?;
    if !out.status.success() {
        bail!("{shown} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What this run installed, and how long that took in all.
static SETUP: Mutex<(Vec<String>, Duration)> = Mutex::new((Vec::new(), Duration::ZERO));

/// Counts `what` (installed, taking `took`) into this run's set-up.
pub fn count_setup(what: String, took: Duration) {
    if let Ok(mut s) = SETUP.lock() {
        s.0.push(what);
        s.1 += took;
    }
}

/// Prints the total set-up time of this run (every rustup target, Debian package and
/// cargo tool it installed), when it installed anything; `main` calls it once at the end.
pub fn print_setup_total() {
    if let Some(line) = SETUP.lock().ok().and_then(|s| setup_total(&s.0, s.1)) {
        eprintln!("{line}");
    }
}

/// The set-up total line for `installed`, which took `took` in all; none when nothing was.
fn setup_total(installed: &[String], took: Duration) -> Option<String> {
    (!installed.is_empty())
        .then(|| format!("xtask: set-up took {:.1} s in total: installed {}", took.as_secs_f64(), installed.join(", ")))
}

/// Installs the rustup targets the firmware needs.
pub fn ensure_targets(targets: &[&str]) -> Result<()> {
    let out = Command::new("rustup").args(["target", "list", "--installed"]).output();
    let installed = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => bail!("rustup not found: install the Rust toolchain with rustup, then add targets {targets:?}"),
    };
    let missing: Vec<&str> = targets.iter().copied().filter(|t| !installed.lines().any(|l| l.trim() == *t)).collect();
    if !missing.is_empty() {
        eprintln!("xtask: installing rustup targets {missing:?}");
        let started = Instant::now();
        run(Command::new("rustup").arg("target").arg("add").args(&missing))
            .context("rustup target add failed; run it by hand")?;
        count_setup(format!("rustup targets {}", missing.join(" ")), started.elapsed());
    }
    Ok(())
}

/// The QEMU packages whose installed version the emulator must match: Debian's QEMU
/// packages are built together, and `qemu-system-arm` of another version would replace
/// them (apt removes `qemu-utils` 10.0 from bookworm-backports to install 7.2 from bookworm).
const QEMU_FAMILY: [&str; 4] = ["qemu-utils", "qemu-system-common", "qemu-system-data", "qemu-block-extra"];

/// Makes sure `qemu-system-arm` is there: installs Debian's package when root, else names
/// it. When another QEMU package is already installed, the emulator of **that exact
/// version** is installed (`qemu-system-arm=VERSION`), from the suite it came from: a
/// backports version (`~bpo12`) adds the distribution's `-backports` suite to apt's
/// sources first (a file of its own, nothing else edited). Nothing installed is removed
/// or downgraded ([`AptGet::install`] checks).
pub fn ensure_qemu() -> Result<()> {
    if safeslot_hil::qemu::qemu_available().is_ok() {
        return Ok(());
    }
    let started = Instant::now();
    let (package, release) = match installed_version(&QEMU_FAMILY) {
        Some((name, version)) => {
            eprintln!("xtask: {name} {version} is installed: installing qemu-system-arm of the same version");
            // Its dependencies (qemu-system-common, -data) must come from that suite too.
            let release = if version.contains("~bpo") { Some(ensure_backports()?) } else { None };
            (format!("qemu-system-arm={version}"), release)
        }
        None => (String::from("qemu-system-arm"), None),
    };
    AptGet::system().install(&package, release.as_deref())?;
    // The backports source and its apt-get update count too.
    count_setup(format!("Debian package {package}"), started.elapsed());
    safeslot_hil::qemu::qemu_available().map(|_| ()).map_err(|e| anyhow::anyhow!(e))
}

/// The first of `packages` that dpkg says is installed, with its version.
fn installed_version(packages: &[&str]) -> Option<(String, String)> {
    let out = Command::new("dpkg-query")
        .arg("-W")
        .arg("-f=${Package} ${db:Status-Abbrev} ${Version}\n")
        .args(packages)
        .output()
        .ok()?;
    parse_installed(&String::from_utf8_lossy(&out.stdout))
}

/// From `dpkg-query -W -f='${Package} ${db:Status-Abbrev} ${Version}\n'` lines, the first
/// installed package (status `ii`) and its version.
fn parse_installed(lines: &str) -> Option<(String, String)> {
    lines.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let (name, status, version) = (w.next()?, w.next()?, w.next()?);
        (status == "ii").then(|| (name.to_owned(), version.to_owned()))
    })
}

/// Makes the distribution's backports suite (`<codename>-backports`, Debian's own mirror
/// and archive key) one of apt's sources, if no source has it yet; returns its name.
fn ensure_backports() -> Result<String> {
    let release = std::fs::read_to_string("/etc/os-release").context("reading /etc/os-release")?;
    let codename = release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|c| c.trim_matches('"').to_owned())
        .filter(|c| !c.is_empty())
        .context("/etc/os-release names no VERSION_CODENAME: add your distribution's backports suite to apt's sources by hand")?;
    let suite = format!("{codename}-backports");
    let policy = output(Command::new("apt-cache").arg("policy")).unwrap_or_default();
    if policy.contains(&format!(" {suite}/")) {
        return Ok(suite);
    }
    let file = format!("/etc/apt/sources.list.d/safeslot-{suite}.sources");
    eprintln!("xtask: adding apt source {suite} (Debian's mirror) in {file}");
    std::fs::write(
        &file,
        format!(
            "# Added by safeslot's cargo xtask: the installed QEMU packages come from {suite}.\n\
             Types: deb\nURIs: http://deb.debian.org/debian\nSuites: {suite}\nComponents: main\n\
             Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        ),
    )
    .with_context(|| format!("writing {file}"))?;
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    Ok(suite)
}

/// Whether this process runs as root (`id -u` says 0).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Installs Debian package `package` as root, the way that does no harm: without
/// recommended packages, and only after a simulated run shows that apt would neither
/// remove nor downgrade anything (otherwise it refuses and says what to do). Prints how
/// long it took (and counts it into the run's set-up total). As non-root it only names
/// the package.
pub fn apt_install(package: &str) -> Result<()> {
    let took = AptGet::system().install(package, None)?;
    count_setup(format!("Debian package {package}"), took);
    Ok(())
}

/// The apt-get that installs Debian packages, and whether this process may (root).
/// [`AptGet::system`] is the machine's; a test names a fake program instead.
#[derive(Debug, Clone)]
pub struct AptGet {
    /// The apt-get program.
    pub program: PathBuf,
    /// Whether this process runs as root (only root installs).
    pub root: bool,
}

impl AptGet {
    /// `/usr/bin/apt-get`, as the user running this.
    pub fn system() -> AptGet {
        AptGet { program: PathBuf::from("/usr/bin/apt-get"), root: is_root() }
    }

    /// [`apt_install`] through this apt-get, taking the package and its dependencies from
    /// the suite `release` (`apt-get -t`) when given; returns how long it took.
    pub fn install(&self, package: &str, release: Option<&str>) -> Result<Duration> {
        let target: Vec<&str> = release.map(|r| vec!["-t", r]).unwrap_or_default();
        if !self.root || !self.program.exists() {
            bail!(
                "the Debian package `{package}` is missing: install it \
                 (apt-get install --no-install-recommends {package})"
            );
        }
        let started = Instant::now();
        eprintln!("xtask: installing Debian package {package} (--no-install-recommends, nothing removed)");
        let _ = run(Command::new(&self.program).args(["update", "-qq"]));
        let sim = Command::new(&self.program)
            .args(["-s", "install", "--no-install-recommends"])
            .args(&target)
            .arg(package)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .context("could not run apt-get -s")?;
        let harm = harmful_changes(&String::from_utf8_lossy(&sim.stdout));
        if !sim.status.success() || !harm.is_empty() {
            bail!(
                "installing `{package}` would {}; refusing to change this machine's packages. Install a \
                 `{package}` that fits what is installed (e.g. from the same suite as the installed QEMU \
                 packages), then run again",
                if harm.is_empty() {
                    format!("fail: {}", String::from_utf8_lossy(&sim.stderr).trim())
                } else {
                    harm.join(", ")
                }
            );
        }
        run(Command::new(&self.program)
            .args(["install", "-y", "-qq", "--no-install-recommends", "--no-remove"])
            .args(&target)
            .arg(package)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        let took = started.elapsed();
        eprintln!("xtask: set-up of {package} took {:.1} s", took.as_secs_f64());
        Ok(took)
    }
}

/// What an `apt-get -s` transcript would remove or downgrade (`remove NAME`,
/// `downgrade NAME`): its `Remv` lines, and `Inst` lines whose new version is older.
pub fn harmful_changes(transcript: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in transcript.lines() {
        let mut w = line.split_whitespace();
        match (w.next(), w.next()) {
            (Some("Remv"), Some(name)) => out.push(format!("remove {name}")),
            (Some("Inst"), Some(name)) => {
                // "Inst NAME [OLD] (NEW suite [arch])": an upgrade or a downgrade.
                let Some(old) = w.next().and_then(|o| o.strip_prefix('[')).and_then(|o| o.strip_suffix(']')) else {
                    continue;
                };
                let old = Some(old);
                let new = w.next().and_then(|n| n.strip_prefix('('));
                if let (Some(old), Some(new)) = (old, new) {
                    if debian_version_lt(new, old) {
                        out.push(format!("downgrade {name} {old} -> {new}"));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// `a < b` for Debian versions, by `dpkg --compare-versions` (false when dpkg is absent).
fn debian_version_lt(a: &str, b: &str) -> bool {
    Command::new("dpkg").args(["--compare-versions", a, "lt", b]).status().is_ok_and(|s| s.success())
}

/// Makes sure the command `tool` is on PATH: installs Debian's `package` when root, else
/// names it.
pub fn ensure_debian_tool(tool: &str, package: &str) -> Result<()> {
    // Found when it starts (`openssl --version` exits 1: the exit status says nothing).
    let found = || Command::new(tool).arg("--version").output().is_ok();
    if found() {
        return Ok(());
    }
    apt_install(package)?;
    if !found() {
        bail!(
            "`{tool}` not found: install the Debian package `{package}` \
             (apt-get install --no-install-recommends {package})"
        );
    }
    Ok(())
}

/// Makes sure `defmt-print` (which decodes the firmware's defmt logs) is there: installs it
/// with `cargo install defmt-print --locked` (into ~/.cargo/bin, where later runs find it).
pub fn ensure_defmt_print() -> Result<()> {
    if safeslot_hil::qemu::defmt_print_available().is_ok() {
        return Ok(());
    }
    eprintln!("xtask: installing defmt-print (cargo install defmt-print --locked; once)");
    let started = Instant::now();
    run(cargo().args(["install", "defmt-print", "--locked", "--quiet"]))
        .context("could not install defmt-print; install it by hand: cargo install defmt-print --locked")?;
    count_setup(String::from("defmt-print (cargo install)"), started.elapsed());
    safeslot_hil::qemu::defmt_print_available().map(|_| ()).map_err(|e| anyhow::anyhow!(e))
}

#[cfg(test)]
mod tests {
    use super::{harmful_changes, parse_installed, setup_total, AptGet};
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    /// A fake `apt-get` in a temporary directory: it appends its arguments, one call a
    /// line, to `calls`, and answers `-s` (the simulation) with `simulation` and `sim_exit`;
    /// every other call succeeds silently. No network, no root, nothing installed.
    struct FakeApt {
        dir: tempfile::TempDir,
    }

    impl FakeApt {
        fn new(simulation: &str, sim_exit: u8) -> FakeApt {
            let dir = tempfile::tempdir().unwrap();
            let (calls, sim) = (dir.path().join("calls"), dir.path().join("simulation"));
            std::fs::write(&sim, simulation).unwrap();
            std::fs::write(&calls, "").unwrap();
            let script = format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\nif [ \"$1\" = -s ]; then cat '{}'; exit {sim_exit}; fi\nexit 0\n",
                calls.display(),
                sim.display()
            );
            let program = dir.path().join("apt-get");
            std::fs::write(&program, script).unwrap();
            std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
            FakeApt { dir }
        }

        fn apt(&self, root: bool) -> AptGet {
            AptGet { program: self.path("apt-get"), root }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        /// The calls made, one argument list each.
        fn calls(&self) -> Vec<String> {
            std::fs::read_to_string(self.path("calls")).unwrap().lines().map(str::to_owned).collect()
        }
    }

    /// What apt-get -s prints for qemu-system-arm 7.2 from bookworm over qemu-utils 10.0
    /// from bookworm-backports (the fresh-machine report of issue #20).
    const REMOVES_QEMU_UTILS: &str = "Reading package lists...\n\
        Remv qemu-utils [1:10.0.2+ds-2+deb13u1~bpo12+1]\n\
        Inst qemu-system-common (1:7.2+dfsg-7+deb12u16 Debian:12.12/stable [amd64])\n\
        Inst qemu-system-arm (1:7.2+dfsg-7+deb12u16 Debian:12.12/stable [amd64])\n\
        Conf qemu-system-arm (1:7.2+dfsg-7+deb12u16 Debian:12.12/stable [amd64])\n";

    const CLEAN: &str = "Reading package lists...\n\
        Inst qemu-system-arm (1:7.2+dfsg-7+deb12u16 Debian:12.12/stable [amd64])\n\
        Conf qemu-system-arm (1:7.2+dfsg-7+deb12u16 Debian:12.12/stable [amd64])\n";

    /// Whether a call installs for real (not the `-s` simulation, not `update`).
    fn installs(call: &str) -> bool {
        call.split_whitespace().next() == Some("install")
    }

    #[test]
    fn an_install_that_would_remove_a_package_is_refused_before_anything_is_installed() {
        let fake = FakeApt::new(REMOVES_QEMU_UTILS, 0);
        let err = fake.apt(true).install("qemu-system-arm", None).unwrap_err().to_string();
        assert!(err.contains("remove qemu-utils"), "the refusal names the removal: {err}");
        assert!(err.contains("refusing"), "{err}");
        let calls = fake.calls();
        assert!(
            calls.iter().any(|c| c == "-s install --no-install-recommends qemu-system-arm"),
            "the simulation ran, without recommends: {calls:?}"
        );
        assert!(!calls.iter().any(|c| installs(c)), "no real install after the refusal: {calls:?}");
    }

    #[test]
    fn a_clean_install_runs_without_recommends_and_without_removals() {
        let fake = FakeApt::new(CLEAN, 0);
        fake.apt(true).install("qemu-system-arm", None).unwrap();
        let calls = fake.calls();
        let sim = calls.iter().position(|c| c == "-s install --no-install-recommends qemu-system-arm");
        let real = calls.iter().position(|c| c == "install -y -qq --no-install-recommends --no-remove qemu-system-arm");
        assert!(sim.is_some() && real.is_some() && sim < real, "simulation, then the install: {calls:?}");
        assert_eq!(calls.iter().filter(|c| installs(c)).count(), 1, "{calls:?}");
    }

    #[test]
    fn a_release_is_passed_to_the_simulation_and_the_install() {
        let fake = FakeApt::new(CLEAN, 0);
        fake.apt(true).install("qemu-system-arm=1:10.0.2", Some("bookworm-backports")).unwrap();
        let calls = fake.calls();
        assert!(
            calls.contains(&"-s install --no-install-recommends -t bookworm-backports qemu-system-arm=1:10.0.2".into()),
            "{calls:?}"
        );
        assert!(
            calls.contains(
                &"install -y -qq --no-install-recommends --no-remove -t bookworm-backports qemu-system-arm=1:10.0.2"
                    .into()
            ),
            "{calls:?}"
        );
    }

    #[test]
    fn a_simulation_that_fails_is_a_refusal() {
        let fake = FakeApt::new("E: Unable to locate package qemu-system-arm\n", 100);
        let err = fake.apt(true).install("qemu-system-arm", None).unwrap_err().to_string();
        assert!(err.contains("would fail"), "{err}");
        assert!(!fake.calls().iter().any(|c| installs(c)), "{:?}", fake.calls());
    }

    #[test]
    fn the_set_up_total_is_printed_only_when_something_was_installed() {
        assert_eq!(setup_total(&[], std::time::Duration::ZERO), None);
        let installed = ["Debian package qemu-system-arm".to_owned(), "defmt-print (cargo install)".to_owned()];
        assert_eq!(
            setup_total(&installed, std::time::Duration::from_millis(83_456)).as_deref(),
            Some("xtask: set-up took 83.5 s in total: installed Debian package qemu-system-arm, defmt-print (cargo install)")
        );
    }

    #[test]
    fn without_root_apt_is_not_run_and_the_package_is_named() {
        let fake = FakeApt::new(CLEAN, 0);
        let err = fake.apt(false).install("openssl", None).unwrap_err().to_string();
        assert!(err.contains("apt-get install --no-install-recommends openssl"), "{err}");
        assert!(fake.calls().is_empty(), "{:?}", fake.calls());
        let missing = AptGet { program: Path::new("/nonexistent/apt-get").into(), root: true };
        assert!(missing.install("openssl", None).is_err());
    }

    #[test]
    fn the_installed_qemu_version_is_the_one_to_match() {
        let q = "qemu-utils ii 1:10.0.2+ds-2+deb13u1~bpo12+1\nqemu-system-common un <none>\n";
        assert_eq!(
            parse_installed(q),
            Some((String::from("qemu-utils"), String::from("1:10.0.2+ds-2+deb13u1~bpo12+1")))
        );
        assert_eq!(parse_installed("qemu-utils un <none>\n"), None);
        assert_eq!(parse_installed(""), None);
    }

    #[test]
    fn a_simulated_install_that_removes_is_refused() {
        let t =
            "Remv qemu-utils [1:10.0.2+ds-2+deb13u1~bpo12+1]\nInst qemu-system-arm (1:7.2+dfsg-7 Debian:12 [amd64])\n";
        assert_eq!(harmful_changes(t), ["remove qemu-utils"]);
        assert!(
            harmful_changes("Inst libfoo (1.0 Debian:12 [amd64])\nConf libfoo (1.0 Debian:12 [amd64])\n").is_empty()
        );
        // An upgrade is fine, a downgrade is not (dpkg, on every Debian machine, decides).
        assert!(harmful_changes("Inst libfoo [1.0] (1.1 Debian:12 [amd64])\n").is_empty());
        assert_eq!(harmful_changes("Inst libfoo [1.1] (1.0 Debian:12 [amd64])\n"), ["downgrade libfoo 1.1 -> 1.0"]);
    }
}
