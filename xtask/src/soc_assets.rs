//! The virtual SoC's Linux assets: Debian bookworm's own arm64 kernel, busybox and the
//! MTD modules the stock kernel lacks, fetched and built once and cached.
//!
//! Everything comes from Debian's archive through a **private** apt configuration (its
//! own sources list, lists and cache under [`cache_root`], `Dir::State::status=/dev/null`,
//! `APT::Architecture=arm64`), so the machine's own apt state is never touched and nothing
//! is installed: packages are unpacked with `dpkg-deb -x`. The CFI/physmap MTD modules
//! are built out of tree from Debian's `linux-source` with the matching headers'
//! `.config`/`Module.symvers` and Debian's `gcc-12-aarch64-linux-gnu` cross compiler
//! (unpacked, not installed).
//!
//! The result lives in `~/.cache/safeslot/soc/<kernel package version>/` and is reused
//! without touching the network while it is complete; `SAFESLOT_SOC_REFRESH=1` resolves
//! the archive's current kernel again (the mirror moves to newer ABIs, and modules must
//! match the exact kernel).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{ensure, Context, Result};

use crate::env::run;

/// The Debian suites the assets come from (bookworm and its security/updates suites).
const SOURCES: &str = "\
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
";

/// The modules loaded in Linux, in load order: Debian's own `qemu_fw_cfg` (the test rig's
/// channel into the guest, not part of the MTD stack), `mtd` and `chipreg`, and the ones
/// built here.
pub const MODULE_ORDER: [&str; 9] = [
    "qemu_fw_cfg",
    "mtd",
    "cmdlinepart",
    "chipreg",
    "cfi_util",
    "gen_probe",
    "cfi_cmdset_0001",
    "cfi_probe",
    "physmap",
];

/// Kernel sources of the out-of-tree modules, from `linux-source-6.1`.
const MODULE_SOURCES: [&str; 11] = [
    "drivers/mtd/chips/cfi_cmdset_0001.c",
    "drivers/mtd/chips/cfi_probe.c",
    "drivers/mtd/chips/cfi_util.c",
    "drivers/mtd/chips/gen_probe.c",
    "drivers/mtd/chips/fwh_lock.h",
    "drivers/mtd/maps/physmap-core.c",
    "drivers/mtd/maps/physmap-gemini.h",
    "drivers/mtd/maps/physmap-ixp4xx.h",
    "drivers/mtd/maps/physmap-versatile.h",
    "drivers/mtd/maps/physmap-bt1-rom.h",
    "drivers/mtd/parsers/cmdlinepart.c",
];

/// The Kbuild file of the out-of-tree modules. `CONFIG_MTD_PHYSMAP_OF` is set by hand: it
/// is what makes physmap match QEMU's `cfi-flash` device-tree node.
const KBUILD: &str = "\
ccflags-y := -DCONFIG_MTD_PHYSMAP_OF=1
obj-m := cfi_util.o gen_probe.o cfi_cmdset_0001.o cfi_probe.o physmap.o cmdlinepart.o
physmap-y := physmap-core.o
";

/// The cached assets of one kernel version.
#[derive(Debug, Clone)]
pub struct SocAssets {
    /// The directory holding them.
    pub dir: PathBuf,
    /// The kernel release (`uname -r`, e.g. `6.1.0-57-arm64`).
    pub kernel_release: String,
    /// Debian's package version of the kernel (e.g. `6.1.192-3`).
    pub kernel_version: String,
    /// The uncompressed arm64 `Image` (Debian's `vmlinuz`).
    pub image: PathBuf,
    /// The same, gzip'd (what the slots carry).
    pub image_gz: PathBuf,
    /// The static arm64 busybox.
    pub busybox: PathBuf,
    /// The `.ko` files, in [`MODULE_ORDER`].
    pub modules: Vec<PathBuf>,
}

/// `~/.cache/safeslot/soc` (or `$SAFESLOT_SOC_CACHE`).
pub fn cache_root() -> PathBuf {
    if let Some(p) = std::env::var_os("SAFESLOT_SOC_CACHE") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache/safeslot/soc")
}

/// The private apt invocation.
struct Apt {
    dir: PathBuf,
}

impl Apt {
    fn new(root: &Path) -> Result<Self> {
        let dir = root.join("apt");
        for d in ["lists/partial", "cache/archives/partial", "debs"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        std::fs::write(dir.join("sources.list"), SOURCES)?;
        Ok(Apt { dir })
    }

    fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        let d = |p: &str| self.dir.join(p).display().to_string();
        for opt in [
            format!("Dir::Etc::SourceList={}", d("sources.list")),
            "Dir::Etc::SourceParts=/dev/null".into(),
            format!("Dir::State::Lists={}", d("lists")),
            format!("Dir::Cache={}", d("cache")),
            "Dir::State::status=/dev/null".into(),
            "APT::Architecture=arm64".into(),
            "APT::Architectures::=arm64".into(),
            "APT::Architectures::=amd64".into(),
            // Root downloads into a root-owned private dir: apt's _apt sandbox cannot write there.
            "APT::Sandbox::User=root".into(),
        ] {
            c.arg("-o").arg(opt);
        }
        c
    }

    fn update(&self) -> Result<()> {
        let out = self.cmd("apt-get").args(["-qq", "update"]).output().context("could not run apt-get")?;
        let err = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.success() && !err.contains("Failed to fetch"),
            "cannot reach Debian's archive (deb.debian.org) to fetch the SoC assets (arm64 kernel, busybox, \
             linux-source, cross gcc):\n{err}\nthe virtual SoC needs them once; they are cached under {}",
            cache_root().display()
        );
        Ok(())
    }

    /// `Depends` of a package, as apt-cache prints them.
    fn depends(&self, pkg: &str) -> Result<Vec<String>> {
        let out = self.cmd("apt-cache").args(["depends", pkg]).output()?;
        ensure!(out.status.success(), "apt-cache depends {pkg}: {}", String::from_utf8_lossy(&out.stderr));
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: "))
            .map(str::to_owned)
            .collect())
    }

    /// The candidate version of a package.
    fn candidate(&self, pkg: &str) -> Result<String> {
        let out = self.cmd("apt-cache").args(["policy", pkg]).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.trim().strip_prefix("Candidate: "))
            .filter(|v| *v != "(none)")
            .map(str::to_owned)
            .with_context(|| format!("Debian's archive has no candidate for {pkg}"))
    }

    fn download(&self, pkgs: &[String]) -> Result<()> {
        run(self.cmd("apt-get").current_dir(self.dir.join("debs")).args(["-qq", "download"]).args(pkgs))
            .context("apt-get download of the SoC assets failed")
    }
}

/// Returns the cached assets, fetching and building them first when needed.
pub fn ensure() -> Result<SocAssets> {
    let root = cache_root();
    std::fs::create_dir_all(&root)?;
    let refresh = std::env::var_os("SAFESLOT_SOC_REFRESH").is_some_and(|v| v == "1");
    if !refresh {
        if let Some(a) = cached(&root)? {
            return Ok(a);
        }
    }
    let t0 = Instant::now();
    for tool in ["apt-get", "apt-cache", "dpkg-deb", "tar", "make", "xz"] {
        ensure!(
            Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output()?.status.success(),
            "the SoC assets need `{tool}` on this machine (Debian: apt, dpkg, tar, make, xz-utils)"
        );
    }
    let apt = Apt::new(&root)?;
    eprintln!(
        "xtask: soc assets: resolving Debian bookworm's arm64 kernel (private apt state in {})",
        apt.dir.display()
    );
    apt.update()?;
    let image_pkg = apt
        .depends("linux-image-arm64")?
        .into_iter()
        .find(|d| d.starts_with("linux-image-") && d.ends_with("-arm64"))
        .context("linux-image-arm64 depends on no linux-image-<abi>-arm64")?;
    let release = image_pkg.trim_start_matches("linux-image-").to_owned();
    let version = apt.candidate(&image_pkg)?;
    let abi = release.trim_end_matches("-arm64");
    let dir = root.join(format!("{release}_{version}"));
    if let Some(a) = complete(&dir)? {
        return Ok(a);
    }
    let series = abi.split('.').take(2).collect::<Vec<_>>().join("."); // 6.1.0-57 -> 6.1
    let kbuild = format!("linux-kbuild-{series}");
    let source = format!("linux-source-{series}");
    let pkgs: Vec<String> = [
        format!("{image_pkg}-unsigned:arm64={version}"),
        format!("linux-headers-{release}:arm64={version}"),
        format!("linux-headers-{abi}-common={version}"),
        format!("{kbuild}:amd64={version}"),
        format!("{source}={version}"),
        "busybox-static:arm64".into(),
        "gcc-12-aarch64-linux-gnu:amd64".into(),
        "cpp-12-aarch64-linux-gnu:amd64".into(),
        "gcc-12-aarch64-linux-gnu-base:amd64".into(),
        "binutils-aarch64-linux-gnu:amd64".into(),
    ]
    .into();
    let debs = apt.dir.join("debs");
    for e in std::fs::read_dir(&debs)? {
        std::fs::remove_file(e?.path())?;
    }
    eprintln!("xtask: soc assets: downloading {} packages for kernel {release} ({version})", pkgs.len());
    apt.download(&pkgs)?;
    let work = root.join(format!("work-{release}_{version}"));
    let _ = std::fs::remove_dir_all(&work);
    let sysroot = work.join("root");
    std::fs::create_dir_all(&sysroot)?;
    for e in std::fs::read_dir(&debs)? {
        run(Command::new("dpkg-deb").arg("-x").arg(e?.path()).arg(&sysroot))?;
    }
    let staging = root.join(format!("tmp-{release}_{version}"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join("modules"))?;
    build_modules(&sysroot, &work, &release, &source, &staging)?;
    let vmlinuz = sysroot.join(format!("boot/vmlinuz-{release}"));
    let image = std::fs::read(&vmlinuz).with_context(|| format!("reading {}", vmlinuz.display()))?;
    ensure!(image.get(0x38..0x3C) == Some(b"ARM\x64"), "{}: not an arm64 Image (no ARM\\x64 magic)", vmlinuz.display());
    std::fs::write(staging.join("Image"), &image)?;
    std::fs::write(staging.join("Image.gz"), safeslot_linux::gzip::compress(&image)?)?;
    std::fs::copy(sysroot.join("bin/busybox"), staging.join("busybox")).context("busybox-static has no bin/busybox")?;
    let kmod = sysroot.join(format!("lib/modules/{release}/kernel/drivers/mtd"));
    std::fs::copy(kmod.join("mtd.ko"), staging.join("modules/mtd.ko"))?;
    std::fs::copy(kmod.join("chips/chipreg.ko"), staging.join("modules/chipreg.ko"))?;
    let fw_cfg = sysroot.join(format!("lib/modules/{release}/kernel/drivers/firmware/qemu_fw_cfg.ko"));
    std::fs::copy(fw_cfg, staging.join("modules/qemu_fw_cfg.ko"))?;
    std::fs::write(staging.join("VERSION"), format!("{release}\n{version}\n"))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&staging, &dir)?;
    std::fs::remove_dir_all(&work)?;
    // The .debs (238 MB) are not needed once built; a refresh downloads what it needs.
    let _ = std::fs::remove_dir_all(&debs);
    eprintln!("xtask: soc assets: ready in {:.1} s ({})", t0.elapsed().as_secs_f64(), dir.display());
    crate::env::count_setup(format!("the SoC assets for kernel {release}"), t0.elapsed());
    complete(&dir)?.context("assets incomplete right after building them")
}

/// The most recently built asset directory in the cache, if it is complete. (Names do not
/// sort by version: `6.1.0-9` > `6.1.0-10`; the build time of `VERSION`, written last, does.)
fn cached(root: &Path) -> Result<Option<SocAssets>> {
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(root)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| Some((std::fs::metadata(p.join("VERSION")).ok()?.modified().ok()?, p)))
        .collect();
    dirs.sort();
    match dirs.last() {
        Some((_, d)) => complete(d),
        None => Ok(None),
    }
}

/// The assets in `dir`, when every file is there.
fn complete(dir: &Path) -> Result<Option<SocAssets>> {
    let Ok(v) = std::fs::read_to_string(dir.join("VERSION")) else { return Ok(None) };
    let mut lines = v.lines();
    let (Some(release), Some(version)) = (lines.next(), lines.next()) else { return Ok(None) };
    let a = SocAssets {
        dir: dir.to_path_buf(),
        kernel_release: release.to_owned(),
        kernel_version: version.to_owned(),
        image: dir.join("Image"),
        image_gz: dir.join("Image.gz"),
        busybox: dir.join("busybox"),
        modules: MODULE_ORDER.iter().map(|m| dir.join("modules").join(format!("{m}.ko"))).collect(),
    };
    let all = [&a.image, &a.image_gz, &a.busybox].into_iter().chain(&a.modules).all(|p| p.is_file());
    Ok(all.then_some(a))
}

/// Builds the CFI/physmap/cmdlinepart modules out of tree into `out/modules`.
fn build_modules(sysroot: &Path, work: &Path, release: &str, source: &str, out: &Path) -> Result<()> {
    let t0 = Instant::now();
    let tarball = sysroot.join(format!("usr/src/{source}.tar.xz"));
    let top = source.to_owned();
    let src = work.join("src");
    std::fs::create_dir_all(&src)?;
    run(Command::new("tar")
        .arg("-xJf")
        .arg(&tarball)
        .arg("-C")
        .arg(&src)
        .args(MODULE_SOURCES.iter().map(|f| format!("{top}/{f}"))))
    .context("extracting the MTD sources from linux-source")?;
    let m = work.join("mtd-modules");
    std::fs::create_dir_all(&m)?;
    for f in MODULE_SOURCES {
        let name = Path::new(f).file_name().context("source path")?;
        std::fs::copy(src.join(&top).join(f), m.join(name))?;
    }
    std::fs::write(m.join("Kbuild"), KBUILD)?;
    // Debian's arm64 headers include the common headers by absolute path: point it at the
    // unpacked tree.
    let headers = sysroot.join(format!("usr/src/linux-headers-{release}"));
    let mk = headers.join("Makefile");
    let text = std::fs::read_to_string(&mk)?;
    std::fs::write(&mk, text.replace("/usr/src/", &format!("{}/usr/src/", sysroot.display())))?;
    let path = format!("{}:{}", sysroot.join("usr/bin").display(), std::env::var("PATH").unwrap_or_default());
    let gcc = sysroot.join("usr/bin/aarch64-linux-gnu-gcc-12");
    ensure!(gcc.is_file(), "gcc-12-aarch64-linux-gnu has no {}", gcc.display());
    run(Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&headers)
        .arg(format!("M={}", m.display()))
        .args(["ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-", "CC=aarch64-linux-gnu-gcc-12", "-j2", "modules"])
        .env("PATH", path)
        .env("LD_LIBRARY_PATH", sysroot.join("usr/lib/x86_64-linux-gnu"))
        .env("KBUILD_VERBOSE", "0"))
    .context("building the MTD modules out of tree failed")?;
    for ko in ["cmdlinepart", "cfi_util", "gen_probe", "cfi_cmdset_0001", "cfi_probe", "physmap"] {
        let dst = out.join("modules").join(format!("{ko}.ko"));
        std::fs::copy(m.join(format!("{ko}.ko")), &dst).with_context(|| format!("{ko}.ko was not built"))?;
        // Debug info only (the initramfs carries them): symbols and the module's sections stay.
        run(Command::new(sysroot.join("usr/bin/aarch64-linux-gnu-strip"))
            .arg("--strip-debug")
            .arg(&dst)
            .env("LD_LIBRARY_PATH", sysroot.join("usr/lib/x86_64-linux-gnu")))?;
    }
    eprintln!("xtask: soc assets: MTD modules built in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(dir: &Path, release: &str, skip: Option<&str>) {
        std::fs::create_dir_all(dir.join("modules")).unwrap();
        for f in ["Image", "Image.gz", "busybox"] {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
        for m in MODULE_ORDER.iter().filter(|m| Some(**m) != skip) {
            std::fs::write(dir.join("modules").join(format!("{m}.ko")), b"x").unwrap();
        }
        std::fs::write(dir.join("VERSION"), format!("{release}\n6.1.1-1\n")).unwrap();
    }

    #[test]
    fn only_a_complete_cache_is_used_and_the_newest_wins() {
        let root = tempfile::tempdir().unwrap();
        assert!(cached(root.path()).unwrap().is_none());
        fake(&root.path().join("6.1.0-9-arm64_6.1.1-1"), "6.1.0-9-arm64", None);
        std::thread::sleep(std::time::Duration::from_millis(20));
        fake(&root.path().join("6.1.0-11-arm64_6.1.2-1"), "6.1.0-11-arm64", Some("physmap"));
        // The newer one lacks a module: it is incomplete, and `cached` does not fall back
        // silently to an older kernel's modules for it.
        assert!(complete(&root.path().join("6.1.0-11-arm64_6.1.2-1")).unwrap().is_none());
        assert!(cached(root.path()).unwrap().is_none());
        fake(&root.path().join("6.1.0-11-arm64_6.1.2-1"), "6.1.0-11-arm64", None);
        // `6.1.0-9` sorts after `6.1.0-11` by name; the one built last wins.
        let a = cached(root.path()).unwrap().unwrap();
        assert_eq!(a.kernel_release, "6.1.0-11-arm64");
        assert_eq!(a.modules.len(), MODULE_ORDER.len());
        assert!(a.modules[MODULE_ORDER.len() - 1].ends_with("modules/physmap.ko"));
    }
}
