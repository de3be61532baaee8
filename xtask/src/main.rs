//! `cargo xtask`: the project's automation (see `cargo xtask help`).
//!
//! Every subcommand installs what it needs where it can (rustup targets; Debian packages
//! when running as root) or says exactly what is missing.

mod bench;
mod boards;
mod build;
mod demo;
mod env;
mod fi;
mod hil;
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
          builds, the bootloader size limit, the virtual-rig scenarios in QEMU, and the
          probe-rs rig (built and unit-tested; skips with success without a probe) and the
          instruction counter (64/256 KiB boots counted twice: identical, structurally sane)
  hil     run the scenario catalogue, the demo story and the firmware power-cut sweep on the
          virtual board in QEMU (`hil FILTER`: only tests and scenarios whose name contains it)
  hil --probe [--board B] [--chip C] [FILTER]
          the same scenario catalogue on a real board through a debug probe (probe-rs):
          board from --board or SAFESLOT_BOARD, chip from --chip, SAFESLOT_CHIP or the
          board's layout.toml; SAFESLOT_PROBE=VID:PID[:SERIAL] picks a probe,
          SAFESLOT_RELAY_CMD a power relay (run as `$SAFESLOT_RELAY_CMD off|on`) for true
          cold boots. Without a probe it says so and exits 0 (skipped)
  rig     alias of `hil` (virtual board)
  build   build every board's boot stage and demo apps in release (`build --board B`: one)
  boards  build every board in release and check it against its layout.toml (generated
          memory.x, boot stage inside its partition, apps inside their slots)
  size    print the boot stage's flash and RAM use; `size --baseline REV` prints the
          size probe's flash at REV and now, and the difference (what a change cost)
  bench   prints markdown tables (docs/PERFORMANCE.md): `bench agent` times `safeslotctl
          status` on a 128 KiB record region (release, 200 runs) and the in-process journal
          scan; `bench insns` counts the instructions the real boot stage executes in QEMU
          from reset to hand-off (TCG plugin; confirmed and trial boots of 64 KiB, 256 KiB
          and 1 MiB images, split into phases) against the bare sha2/ed25519-compact floor;
          `bench` runs both
  fi [--boot NAME]... [--sample N | --full | --windows-only] [--from I] [--to J]
          instruction-skip fault injection on the real boot stage (QEMU, insn_skip plugin):
          for each attack boot (slot B forged/altered/untrusted/rolled back/misplaced, or
          both slots invalid) skip each chosen executed instruction once and count how the
          boot ends; prints a table and every unverified launch (docs/DESIGN.md)
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
        "hil" | "rig" => hil::command(args.get(1..).unwrap_or_default()),
        "boards" => boards::check_all().map(|_| ()),
        "size" => size::command(args.get(1..).unwrap_or_default()),
        "fi" => fi::command(args.get(1..).unwrap_or_default()),
        "bench" => bench::run(args.get(1..).unwrap_or_default()),
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
