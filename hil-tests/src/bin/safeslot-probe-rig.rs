//! `safeslot-probe-rig`: the scenario catalogue on a real board through a debug probe.
//!
//! `cargo xtask hil --probe` runs it; by hand:
//!
//! ```text
//! safeslot-probe-rig probes
//!     lists the probes (enumeration bounded to 5 s); exit 0 with at least one,
//!     10 with none, 11 when the enumeration did not answer in time
//! safeslot-probe-rig run --layout boards/B/layout.toml --boot-elf E --app-elf A --app-elf B
//!                        --images DIR --key KEY.pem [--chip C] [--filter F] [--timeout SECS]
//!     runs the catalogue (DIR holds a-v1.img and b-v2.img, signed with KEY.pem); without
//!     a probe it prints NOT RUN and exits 10 (11 on a timeout), never 0: nothing was
//!     tested; exit 1 when a scenario failed
//! ```
//!
//! `SAFESLOT_PROBE=VID:PID[:SERIAL]` picks one of several probes; `SAFESLOT_RELAY_CMD`
//! adds a cold power cycle before every boot (see `safeslot_hil::probe`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use probe_rs::probe::list::Lister;
use probe_rs::probe::{DebugProbeInfo, DebugProbeSelector};
use safeslot_hil::catalogue;
use safeslot_hil::probe::{enumerate_bounded, ProbeBoard, ProbeRig, Probes, ENUMERATION_TIMEOUT, PROBE_ENV, RELAY_ENV};
use safeslot_hil::rig::BoardLayout;
use safeslot_hil::scenarios::Kit;
use safeslot_shared::SlotId;

/// Exit code of `probes` when no probe is attached.
const EXIT_NONE: u8 = 10;
/// Exit code of `probes` when the enumeration timed out.
const EXIT_TIMEOUT: u8 = 11;

/// The probe-rs rig's runner (see the module docs).
#[derive(Parser, Debug)]
#[command(name = "safeslot-probe-rig")]
enum Cli {
    /// List the probes (enumeration bounded to 5 s): exit 0 with at least one, 10 with
    /// none, 11 when the enumeration did not answer in time.
    Probes,
    /// Run the scenario catalogue; without a probe, print NOT RUN and exit 10 (11 when the
    /// enumeration timed out), as `probes` does; exit 1 when a scenario failed.
    Run(Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse() {
        Cli::Probes => probes(),
        Cli::Run(args) => run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("safeslot-probe-rig: {e}");
            ExitCode::from(64)
        }
    }
}

/// The probes, bounded in time; `SAFESLOT_PROBE` narrows the search.
fn enumerate() -> Result<Probes<DebugProbeInfo>, String> {
    let selector = match std::env::var(PROBE_ENV) {
        Ok(s) if !s.trim().is_empty() => {
            Some(s.parse::<DebugProbeSelector>().map_err(|e| format!("{PROBE_ENV}={s}: {e}"))?)
        }
        _ => None,
    };
    Ok(enumerate_bounded(ENUMERATION_TIMEOUT, move || Lister::new().list(selector.as_ref())))
}

fn say_none(p: &Probes<DebugProbeInfo>) -> Option<u8> {
    match p {
        Probes::Found(_) => None,
        Probes::None => {
            println!("probe rig: no debug probe found");
            Some(EXIT_NONE)
        }
        Probes::TimedOut(t) => {
            println!(
                "probe rig: probe enumeration did not answer in {:.1} s (no USB here?): treated as no probe",
                t.as_secs_f64()
            );
            Some(EXIT_TIMEOUT)
        }
    }
}

fn probes() -> Result<u8, String> {
    let found = enumerate()?;
    if let Some(code) = say_none(&found) {
        return Ok(code);
    }
    if let Probes::Found(list) = found {
        for p in list {
            println!("{p}");
        }
    }
    Ok(0)
}

/// `run`'s arguments.
#[derive(clap::Args, Debug)]
struct Args {
    /// The board's layout.toml.
    #[arg(long)]
    layout: PathBuf,
    /// The boot stage ELF (flashed once per run).
    #[arg(long)]
    boot_elf: PathBuf,
    /// A demo app ELF (symbols for the rig); repeatable.
    #[arg(long = "app-elf")]
    app_elfs: Vec<PathBuf>,
    /// The directory holding a-v1.img and b-v2.img.
    #[arg(long)]
    images: PathBuf,
    /// The PEM key the images were signed with.
    #[arg(long)]
    key: PathBuf,
    /// The probe-rs chip name (default: the layout's `board.chip`).
    #[arg(long)]
    chip: Option<String>,
    /// Only scenarios whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Seconds to wait for one boot's report.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    timeout: u64,
}

fn run(a: &Args) -> Result<u8, String> {
    let layout = safeslot_layout::Layout::load(&a.layout).map_err(|e| format!("{}: {e}", a.layout.display()))?;
    let board = ProbeBoard::from_layout(&layout, a.chip.clone()).map_err(|e| e.to_string())?;
    let chip = board.chip().map_err(|e| e.to_string())?.to_string();
    let found = enumerate()?;
    if let Some(code) = say_none(&found) {
        // Nothing ran: not a pass (exit 0), whatever calls this must say so.
        println!("NOT RUN: probe rig (no probe): the catalogue on board {} as chip {chip}", board.name);
        return Ok(code);
    }
    let Probes::Found(list) = found else { return Ok(0) };
    let [probe] = list.as_slice() else {
        let names: Vec<String> = list.iter().map(|p| p.to_string()).collect();
        return Err(format!(
            "{} probes attached ({}): pick one with {PROBE_ENV}=VID:PID[:SERIAL]",
            list.len(),
            names.join("; ")
        ));
    };
    let read = |p: PathBuf| std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()));
    let (img_a, img_b) = (read(a.images.join("a-v1.img"))?, read(a.images.join("b-v2.img"))?);
    let pem = String::from_utf8(read(a.key.clone())?).map_err(|_| format!("{}: not PEM text", a.key.display()))?;
    let flash = BoardLayout::from_layout(&layout);
    let slot_b = flash.slot_sizes.get(SlotId::B.index()).copied().ok_or("the layout has no slot b")?;
    let kit = Kit::new(&pem, &img_a, &img_b, slot_b).map_err(|e| e.to_string())?;
    let journal = flash.journal.size as usize;
    let relay = std::env::var(RELAY_ENV).ok().filter(|s| !s.trim().is_empty());
    println!(
        "probe rig: board {} chip {chip} via {probe}; power cycle: {}",
        board.name,
        relay.as_deref().map_or("probe reset (warm: RAM survives)".to_string(), |r| format!("relay `{r} off|on`"))
    );
    let mut rig =
        ProbeRig::open(probe, board.clone(), flash, &a.boot_elf, &a.app_elfs, relay).map_err(|e| e.to_string())?;
    rig.timeout = Duration::from_secs(a.timeout);
    let list =
        catalogue::select(catalogue::catalogue::<ProbeRig>(journal, layout.power_loss_retries()), a.filter.as_deref());
    let sum = catalogue::run_all(&mut rig, &kit, &list);
    println!(
        "probe rig on {} ({chip}): {} scenarios, {} passed, {} skipped, {} failed",
        board.name,
        sum.total(),
        sum.passed,
        sum.skipped,
        sum.failed.len()
    );
    Ok(if sum.failed.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, clap::Error> {
        match Cli::try_parse_from(["safeslot-probe-rig", "run"].into_iter().chain(s.split_whitespace()))? {
            Cli::Run(a) => Ok(a),
            Cli::Probes => unreachable!("parsed `run`"),
        }
    }

    #[test]
    fn run_flags_parse_and_required_ones_are_required() {
        let a = parse(
            "--layout l.toml --boot-elf boot --app-elf a --app-elf b --images d --key k.pem --chip RP2040 --timeout 3",
        )
        .unwrap();
        assert_eq!(a.app_elfs, vec![PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!((a.chip.as_deref(), a.timeout), (Some("RP2040"), 3));
        assert_eq!(a.filter, None);
        let missing = parse("--boot-elf b --images d --key k").unwrap_err().to_string();
        assert!(missing.contains("--layout"), "{missing}");
        assert!(parse("--layout").is_err());
        assert!(parse("--verbose 1").is_err());
        assert!(parse("--layout l --boot-elf b --images d --key k --timeout soon").is_err());
        assert_eq!(parse("--layout l --boot-elf b --images d --key k").unwrap().timeout, 10);
    }
}
