//! `cargo xtask`: the project's automation (see `cargo xtask help`).
//!
//! Every subcommand installs what it needs where it can (rustup targets; Debian packages
//! when running as root) or says exactly what is missing.

mod bench;
mod boards;
mod build;
mod demo;
mod env;
mod man;
mod size;
mod soc;
mod soc_assets;
mod test;

use anyhow::Result;

const HELP: &str = "\
cargo xtask <command>

  demo    build everything, sign v1/v2 with a throw-away key and tell the A/B story on the
          virtual board (QEMU mps2-an386); exits non-zero if any step misbehaves;
          `demo --board qemu-virt-aarch64`: the same story on the virtual SoC, with the
          aarch64 stage booting Debian's arm64 Linux and safeslotctl in Linux over MTD
  test    the whole test suite: host tests (incl. the power-cut sweep), no_std and firmware
          builds, the bootloader size limit, and the virtual-rig scenarios in QEMU
  rig     run the virtual-rig scenarios and the firmware power-cut sweep in QEMU
          (`rig FILTER`: only the tests whose name contains FILTER)
  build   build every board's boot stage and demo apps in release (`build --board B`: one)
  boards  build every board in release and check it against its layout.toml (generated
          memory.x, boot stage inside its partition, apps inside their slots)
  size    print the boot stage's flash and RAM use
  bench   time `safeslotctl status` on a 128 KiB record region (release build, 200 runs)
          and the in-process journal scan; prints a markdown table
  soc-assets  fetch (private apt, Debian bookworm arm64) and build the virtual SoC's kernel,
          busybox and MTD modules into ~/.cache/safeslot/soc (once; then cached)
  soc-build  build the virtual SoC's stage, agent, initramfs and signed Linux slot images
  soc-rig    run the virtual SoC scenarios (qemu-system-aarch64 -M virt; `soc-rig FILTER`)
  man     render agent/man/safeslotctl.1 from safeslotctl's clap command line;
          `man --check` fails if the committed page differs
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str).unwrap_or("help");
    let result: Result<()> = match cmd {
        "demo" => demo::command(args.get(1..).unwrap_or_default()),
        "test" => test::run(),
        "build" => build::command(args.get(1..).unwrap_or_default()),
        "rig" => test::virtual_rig(args.get(1).map(String::as_str)),
        "boards" => boards::check_all().map(|_| ()),
        "size" => size::run(),
        "bench" => bench::run(),
        "soc-build" => soc::build_all().map(|_| ()),
        "soc-rig" => soc::rig(args.get(1).map(String::as_str)),
        "soc-assets" => soc_assets::ensure()
            .map(|a| println!("{}: kernel {} ({})", a.dir.display(), a.kernel_release, a.kernel_version)),
        "man" => man::run(args.get(1..).unwrap_or_default()),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => {
            eprint!("unknown command `{other}`\n\n{HELP}");
            std::process::exit(64);
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
