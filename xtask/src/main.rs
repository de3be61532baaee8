//! `cargo xtask`: the project's automation (see `cargo xtask help`; arguments are
//! clap-derived, one struct per command).
//!
//! Every subcommand installs what it needs where it can (rustup targets; Debian packages
//! when running as root) or says exactly what is missing.

mod bench;
mod boards;
mod build;
mod demo;
mod env;
mod fi;
mod fuzz;
mod hil;
mod lint;
mod man;
mod size;
mod soak;
mod soc;
mod soc_assets;
mod test;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// `cargo xtask`: build, sign, compose flash images, demo, test, size, bench, fault
/// injection. Every command installs what it needs where it can (rustup targets; Debian
/// packages when running as root) or says exactly what is missing.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build everything, sign v1/v2 with a throw-away key and tell the A/B story on the
    /// virtual board (QEMU mps2-an386); exits non-zero if any step misbehaves.
    Demo {
        /// `qemu-virt-aarch64`: the same story on the virtual SoC, the aarch64 stage booting
        /// Debian's arm64 Linux with safeslotctl in Linux over MTD.
        #[arg(long, value_parser = [build::BOARD, soc::BOARD])]
        board: Option<String>,
    },
    /// The whole test suite: rustfmt and clippy on both workspaces, host tests (incl. the
    /// power-cut sweep), no_std and firmware
    /// builds, the bootloader size limit, the virtual-rig scenarios in QEMU, the probe-rs rig
    /// (built and unit-tested; without a probe it prints NOT RUN), the instruction counter
    /// the fault-injection smoke and a smoke run of every fuzz target.
    Test,
    /// The scenario catalogue, the demo story, the firmware power-cut sweep and a short soak
    /// on the virtual board in QEMU (`soak --boots N`: a long soak alone), or (`--probe`)
    /// the catalogue on a real board through a debug probe (probe-rs). Also `rig`.
    #[command(alias = "rig")]
    Hil(hil::Args),
    /// rustfmt and clippy (`-D warnings`) on the host workspace and on every firmware crate
    /// for its target (part of `test`).
    Lint,
    /// Build every board's boot stage and demo apps in release.
    Build {
        /// Only this board (a directory under boards/).
        #[arg(long)]
        board: Option<String>,
    },
    /// Build every board in release and check it against its layout.toml (generated
    /// memory.x, boot stage inside its partition, apps inside their slots).
    Boards,
    /// Print the boot stage's flash and RAM use.
    Size {
        /// Also build the size probe at this git revision and print its flash before and
        /// now, and the difference (what a change cost).
        #[arg(long, value_name = "REV")]
        baseline: Option<String>,
    },
    /// The host's model-based random soak: the multi-fault campaign (power cuts, torn and
    /// weak programs, failing and dropped writes across consecutive boots, the real boot
    /// sequence on the simulated NOR flash) in a release build; prints the cycles and faults.
    Soak {
        /// Boot cycles, at least (spread over every geometry and seed).
        #[arg(long, default_value_t = soak::DEFAULT_CYCLES)]
        cycles: u64,
        /// Seed of the random sequences (default: the campaign's own).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Markdown tables for docs/PERFORMANCE.md: `agent` times `safeslotctl status` and the
    /// journal scan; `insns` counts the instructions the real boot stage executes in QEMU
    /// from reset to hand-off, split into phases; without an argument, both.
    Bench {
        /// Only this part.
        #[arg(value_parser = ["agent", "insns"])]
        part: Option<String>,
    },
    /// Instruction-skip fault injection on the real boot stage (QEMU, insn_skip plugin): for
    /// each attack boot, skip each chosen executed instruction once and count how the boot
    /// ends; prints a table and every unverified launch (docs/DESIGN.md).
    Fi(fi::Args),
    /// The libFuzzer targets of fuzz/ (cargo-fuzz, nightly): each from its committed seeds
    /// for `--time` seconds; prints executions per target (docs/FUZZING.md).
    Fuzz(fuzz::Args),
    /// Fetch (private apt, Debian bookworm arm64) and build the virtual SoC's kernel,
    /// busybox and MTD modules into ~/.cache/safeslot/soc (once; then cached).
    SocAssets,
    /// Build the virtual SoC's stage, agent, initramfs and signed Linux slot images.
    SocBuild,
    /// Run the virtual SoC scenarios (qemu-system-aarch64 -M virt).
    SocRig {
        /// Only scenarios whose name contains this.
        filter: Option<String>,
    },
    /// Render agent/man/safeslotctl.1 from safeslotctl's clap command line.
    Man {
        /// Fail if the committed page differs instead of writing it.
        #[arg(long)]
        check: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let result: Result<()> = match cli.command {
        Command::Demo { board } => demo::command(board.as_deref()),
        Command::Test => test::run(),
        Command::Hil(args) => hil::command(&args),
        Command::Lint => lint::run_all(),
        Command::Build { board } => build::command(board.as_deref()),
        Command::Boards => boards::check_all().map(|_| ()),
        Command::Size { baseline } => size::command(baseline.as_deref()),
        Command::Soak { cycles, seed } => soak::run(cycles, seed),
        Command::Bench { part } => bench::run(part.as_deref()),
        Command::Fi(args) => fi::command(&args),
        Command::Fuzz(args) => fuzz::command(&args),
        Command::SocAssets => soc_assets::ensure()
            .map(|a| println!("{}: kernel {} ({})", a.dir.display(), a.kernel_release, a.kernel_version)),
        Command::SocBuild => soc::build_all().map(|_| ()),
        Command::SocRig { filter } => soc::rig(filter.as_deref()),
        Command::Man { check } => man::run(check),
    };
    env::print_setup_total();
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
