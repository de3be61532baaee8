//! `cargo xtask fi`: the instruction-skip fault-injection campaign on the real boot stage
//! of the virtual board (docs/DESIGN.md, "Fault-injection campaign").
//!
//! For each attack boot ([`Attack`]: slot A genuine and confirmed unless said otherwise,
//! slot B on trial holding the attack), one reference run under the `insn_skip` plugin
//! traces every executed address from reset to the hand-off or recovery; then one run per
//! chosen index skips exactly that instruction (the plugin's NOP patch, see
//! hil-tests/plugin/insn_skip.c) and ends as soon as its outcome is known: a block
//! starting in a slot (hand-off), a spinning fault handler, the instruction budget, or
//! the guest's exit. Runs are spread over two worker threads, one QEMU process each at
//! a time. The pure parts (protocol, images, sampling, classification) are
//! `safeslot_hil::fi`.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use object::{Object, ObjectSymbol};
use safeslot_hil::fi::{self, Attack, End, Kind, PluginArgs, Report, RunEnd, Setup, SkipPoint};
use safeslot_hil::qemu::{self, QemuRun, FLASH_SIZE};
use safeslot_hil::rig::BoardLayout;
use safeslot_hil::scenarios::ROTATED_KEY_INDEX;
use safeslot_image::SlotTarget;
use safeslot_shared::counter::CounterId;
use safeslot_shared::protocol::exit::Exit;
use safeslot_shared::protocol::order::Order;
use safeslot_shared::SlotId;

use crate::bench::plugin;
use crate::build::{self, Firmware};
use crate::env;
use safeslot_profile::{phase_of, Code, Profiler};

/// Instructions kept before the end of each crypto run (the final comparison's run-up).
const CRYPTO_TAIL: u64 = 64;
/// Uniform samples per boot outside the windows by default.
const DEFAULT_STRIDE_SAMPLES: u64 = 500;
/// Parallel QEMU processes (the machine has two cores).
const WORKERS: usize = 2;
/// Wall-clock safety net of one run (the instruction budget ends hangs long before).
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// `cargo xtask fi`: instruction-skip fault injection on the real boot stage (QEMU).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only this attack boot (forged-header, altered-payload, untrusted-key,
    /// counter-below-floor, load-address-outside, both-invalid, revoked-key, incompatible,
    /// unmet-requirement); repeatable.
    #[arg(long = "boot")]
    boots: Vec<String>,
    /// Uniform samples per boot besides the decision windows (default 500).
    #[arg(long, conflicts_with = "full")]
    sample: Option<u64>,
    /// Every executed index (millions of runs per boot: see the printed estimate).
    #[arg(long)]
    full: bool,
    /// First index (from reset) to consider.
    #[arg(long)]
    from: Option<u64>,
    /// Index to stop before.
    #[arg(long)]
    to: Option<u64>,
    /// Only the decision windows, no uniform samples.
    #[arg(long, conflicts_with_all = ["full", "sample"])]
    windows_only: bool,
    /// Only the decision code's instructions (board, policy, header, hardening) in the
    /// decision windows: for the boots whose image is genuinely signed and hashed and is
    /// refused by an admission rule (revoked-key, incompatible, unmet-requirement), where
    /// the hash loop and the signature check pass whatever is skipped there, so the
    /// refusal rests on this code alone.
    #[arg(long, requires = "windows_only")]
    decisions_only: bool,
    /// The test suite's smoke (the verifier's own instructions in two boots) instead of a campaign.
    #[arg(long)]
    smoke: bool,
}

/// What indices one campaign runs.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Decision windows plus this many uniform samples.
    Sample(u64),
    /// Every index.
    Full,
}

/// Everything the runs share.
pub struct Campaign {
    fw: Firmware,
    qemu: PathBuf,
    so: PathBuf,
    dir: PathBuf,
    profiler: Profiler,
    /// Per `.text` address: its kind of code, and whether it is log output (defmt,
    /// semihosting), which decides nothing.
    codes: HashMap<u64, (Code, bool)>,
    /// The flash state each setup leaves, before slot B is replaced by the attack.
    base_states: BTreeMap<Setup, Vec<u8>>,
    board: BoardLayout,
    a: SlotTarget,
    b: SlotTarget,
    b_payload: Vec<u8>,
    keys: fi::Keys,
    faults: Vec<u64>,
}

/// One attack boot's results.
pub struct BootResult {
    /// The attack.
    pub attack: Attack,
    /// How the boot ends without a fault.
    pub reference: RunEnd,
    /// Instructions from reset to the hand-off or recovery.
    pub instructions: u64,
    /// Indices in the decision windows (within the span).
    pub window_indices: u64,
    /// Skips run.
    pub runs: u64,
    /// Runs per outcome.
    pub outcomes: BTreeMap<RunEnd, u64>,
    /// Each unverified launch: the skipped instruction, its size, where it handed off.
    pub unverified: Vec<(SkipPoint, u32, u64)>,
    /// Skips the plugin could not apply (none expected).
    pub not_applied: Vec<SkipPoint>,
    /// Wall time of the skip runs.
    pub elapsed: Duration,
}

impl Campaign {
    /// Builds the firmware and the plugin, signs the genuine images and prepares, for each
    /// [`Setup`] the `attacks` need, the base flash state with the real firmware
    /// ([`Campaign::setup`]).
    pub fn new(attacks: &[Attack]) -> Result<Campaign> {
        env::ensure_qemu()?;
        let so = plugin::ensure_named("insn_skip")?;
        let fw = build::firmware()?;
        let layout = safeslot_layout::Layout::load(&fw.layout)?;
        let board = BoardLayout::from_layout(&layout);
        let dir = fw.work.join("fi");
        std::fs::create_dir_all(&dir)?;
        let target = |n: &str| SlotTarget::from_loaded(&layout, n).map_err(|e| anyhow::anyhow!("{e}"));
        let (a, b) = (target("a")?, target("b")?);
        let key = |path: &Path| safeslot_image::keys::load_signing_key(path).map_err(|e| anyhow::anyhow!("{e}"));
        // The firmware trusts `fw.trusted`, in this order: the signing key, then the next key.
        let keys = fi::Keys { first: key(&fw.key)?, next: key(&fw.next_key)?, untrusted: fi::untrusted_key() };
        let payload = |i: usize, t: &SlotTarget| -> Result<Vec<u8>> {
            let elf = fw.app_elfs.get(i).context("no demo app ELF")?;
            let bytes = std::fs::read(elf).with_context(|| elf.display().to_string())?;
            safeslot_image::load_image(elf, bytes, t).map_err(|e| anyhow::anyhow!("{e}"))
        };
        let (a_payload, b_payload) = (payload(0, &a)?, payload(1, &b)?);
        let b_img = fi::genuine_b_image(&b_payload, &b, &keys)?;
        let mut setups: Vec<Setup> = attacks.iter().map(|a| a.setup()).collect();
        setups.sort_unstable();
        setups.dedup();
        let mut base_states = BTreeMap::new();
        for setup in setups {
            let a_img = fi::slot_a_image(setup, &a_payload, &a, &keys)?;
            let state = Self::setup(&fw, &board, &dir, setup, &a_img, &b_img)?;
            base_states.insert(setup, state);
        }
        let profiler = Profiler::new(&fw.boot_elf)?;
        let codes = profiler.map(|names| (phase_of(names), logging(names)))?;
        let faults = spinning_handlers(&fw.boot_elf)?;
        let qemu = qemu::qemu_available().map_err(|e| anyhow::anyhow!(e))?;
        Ok(Campaign { fw, qemu, so, dir, profiler, codes, base_states, board, a, b, b_payload, keys, faults })
    }

    /// The base flash state of `setup`, made with the real firmware: `a_img` installed in
    /// slot A, booted on its factory trial and confirmed (the record's floor is its counter);
    /// then the genuine `b_img` written to B and activated for a trial by A, on a boot that
    /// finds A confirmed. For [`Setup::Rotated`] that boot is A's first confirmed one: it
    /// raises the record's key floor, and the board's key-floor counter, to what A revokes
    /// (checked).
    fn setup(
        fw: &Firmware,
        board: &BoardLayout,
        dir: &Path,
        setup: Setup,
        a_img: &[u8],
        b_img: &[u8],
    ) -> Result<Vec<u8>> {
        let (off_a, off_b) = (board.slot_offsets[0] as usize, board.slot_offsets[1] as usize);
        let state = dir.join(format!("base-{setup:?}.img").to_lowercase());
        qemu::compose_flash(&state, FLASH_SIZE, &[(off_a, a_img)])?;
        setup_boot(fw, &state, &Order::confirm(), Exit::App(SlotId::A))?;
        let rec = board.read_record(&std::fs::read(&state)?)?.context("no record after the first boot")?;
        ensure!(rec.slot(SlotId::A).is_some_and(|s| s.confirmed), "A not confirmed after setup: {rec:?}");
        let mut bytes = std::fs::read(&state)?;
        bytes.get_mut(off_b..off_b + b_img.len()).context("slot b outside the flash")?.copy_from_slice(b_img);
        std::fs::write(&state, &bytes)?;
        setup_boot(fw, &state, &Order::confirm().activate(SlotId::B), Exit::App(SlotId::A))?;
        let bytes = std::fs::read(&state)?;
        let rec = board.read_record(&bytes)?.context("no record after activation")?;
        ensure!(
            rec.slot(SlotId::B).is_some_and(|s| !s.confirmed && s.tries.get() > 0),
            "B not on trial after setup: {rec:?}"
        );
        let revoked = match setup {
            Setup::Genuine => 0,
            Setup::Rotated => ROTATED_KEY_INDEX,
        };
        ensure!(rec.key_floor == revoked, "{setup:?} setup: record key floor {}, expected {revoked}", rec.key_floor);
        if board.otp.is_some() {
            let hw = board.hardware_counter(&bytes, CounterId::KeyFloor)?;
            ensure!(hw == u32::from(revoked), "{setup:?} setup: key-floor counter {hw}, expected {revoked}");
        }
        Ok(bytes)
    }

    /// The flash state of `attack`: the base state with slot B's bytes replaced (and, for
    /// [`Attack::BothInvalid`], A's payload altered after its confirmation).
    fn state(&self, attack: Attack) -> Result<PathBuf> {
        let mut bytes = self.base_states.get(&attack.setup()).context("no base state for the attack's setup")?.clone();
        let (off_a, off_b) = (self.board.slot_offsets[0] as usize, self.board.slot_offsets[1] as usize);
        let img = fi::attack_image(attack, &self.b_payload, &self.b, &self.keys)?;
        let slot_b = bytes.get_mut(off_b..off_b + self.b.size() as usize).context("slot b outside the flash")?;
        slot_b.fill(0xFF);
        slot_b.get_mut(..img.len()).context("attack image larger than slot b")?.copy_from_slice(&img);
        if !attack.a_valid() {
            // The last byte of A's image, inverted (A's header says how long it is).
            let h =
                safeslot_shared::header::SlotHeader::decode(&bytes[off_a..]).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let last = off_a + self.a.header_size() as usize + h.image_len as usize - 1;
            bytes[last] = !bytes[last];
        }
        let path = self.dir.join(format!("state-{}.img", attack.name()));
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    /// The slots' address ranges (the plugin's stops) and whether each holds a valid image.
    fn stops(&self, attack: Attack) -> (Vec<Range<u64>>, Vec<bool>) {
        let r = |t: &SlotTarget| t.slot_address()..t.end_address();
        (vec![r(&self.a), r(&self.b)], vec![attack.a_valid(), false])
    }

    /// One run of the boot stage over `state` under the plugin. Everything the campaign
    /// needs is in the plugin's report and QEMU's exit status, so the guest's output is
    /// dropped and the process is waited for with a short poll (runs take ~50 ms).
    fn run(&self, state: &Path, args: &PluginArgs) -> Result<(Option<Report>, Option<i32>, bool)> {
        let mut run = QemuRun::new(&self.fw.boot_elf, state);
        run.private_flash = true;
        let _ = std::fs::remove_file(&args.out);
        let mut cmd = run.command(&self.qemu);
        cmd.arg("-plugin").arg(args.encode(&self.so));
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("{cmd:?}"))?;
        let deadline = Instant::now() + RUN_TIMEOUT;
        let (status, timed_out) = loop {
            if let Some(status) = child.try_wait()? {
                break (Some(status), false);
            }
            if Instant::now() >= deadline {
                child.kill()?;
                child.wait()?;
                break (None, true);
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let report = match std::fs::read_to_string(&args.out) {
            Ok(text) => Some(Report::parse(&text)?),
            Err(_) => None,
        };
        Ok((report, status.and_then(|s| s.code()), timed_out))
    }

    /// The kind of code at `pc`, for the decision windows.
    fn kind(&self, pc: u32) -> Kind {
        match self.codes.get(&u64::from(pc)) {
            Some((_, true)) => Kind::Other,
            // The journal append's internals (encode, CRC, program) are bookkeeping: whether
            // to write is decided by the policy code; the uniform sample covers them.
            Some((Code::Board | Code::Policy | Code::Header | Code::HashLoop | Code::Hardening, _)) => Kind::Decision,
            Some((Code::Signature | Code::Sha256, _)) => Kind::Crypto,
            _ => Kind::Other,
        }
    }

    /// Runs one attack boot's campaign over the indices `select` picks in `span`.
    /// Only the skips at instructions `keep` accepts are run.
    pub fn boot(
        &self,
        attack: Attack,
        select: &Selection,
        span: Range<u64>,
        keep: impl Fn(u32) -> bool,
    ) -> Result<BootResult> {
        let state = self.state(attack)?;
        let (stops, verified) = self.stops(attack);
        let trace_file = self.dir.join("trace.bin");
        let reference = PluginArgs {
            out: self.dir.join("reference.txt"),
            trace: Some(trace_file.clone()),
            stops: stops.clone(),
            faults: self.faults.clone(),
            ..PluginArgs::default()
        };
        let (report, code, timed_out) = self.run(&state, &reference)?;
        let ref_outcome = fi::classify(report.as_ref(), code, timed_out, &verified);
        let want = if attack.a_valid() { RunEnd::Fallback } else { RunEnd::Refused };
        ensure!(
            ref_outcome == want,
            "{}: the boot without a fault ended {ref_outcome:?} (exit {code:?}, {report:?}), expected {want:?}",
            attack.name()
        );
        let trace = fi::decode_trace(&std::fs::read(&trace_file)?);
        let report = report.context("no reference report")?;
        ensure!(
            trace.len() as u64 == report.total,
            "{}: the trace holds {} addresses, the count says {}",
            attack.name(),
            trace.len(),
            report.total
        );
        let total = trace.len() as u64;
        let span = span.start.min(total)..span.end.min(total);
        let kinds: Vec<Kind> = trace.iter().map(|&pc| self.kind(pc)).collect();
        if std::env::var_os("SAFESLOT_FI_DEBUG").is_some() {
            let mut by: BTreeMap<Option<(Code, bool)>, u64> = BTreeMap::new();
            for pc in &trace {
                *by.entry(self.codes.get(&u64::from(*pc)).copied()).or_insert(0) += 1;
            }
            eprintln!("xtask: fi: executed instructions by code: {by:?}");
        }
        let windows = fi::windows(&kinds, CRYPTO_TAIL);
        let in_span = |w: &Range<u64>| w.end.min(span.end).saturating_sub(w.start.max(span.start));
        let window_indices: u64 = windows.iter().map(in_span).sum();
        let indices = match select {
            Selection::Full => (span.start..span.end).collect(),
            Selection::Sample(n) => {
                let stride = if *n == 0 { 0 } else { ((span.end - span.start) / n).max(1) };
                fi::sample(span.clone(), &windows, stride)
            }
        };
        let points: Vec<SkipPoint> = fi::skip_points(&trace, &indices).into_iter().filter(|p| keep(p.pc)).collect();
        drop(trace);
        let budget = report.total * 3 + 1_000_000;
        eprintln!(
            "xtask: fi: {}: {total} instructions to {}; {} skips to run ({window_indices} of the span's indices in decision windows, {} in all)",
            attack.name(),
            if attack.a_valid() { "hand-off to A" } else { "recovery" },
            points.len(),
            windows.iter().map(|w| w.end - w.start).sum::<u64>()
        );
        let next = AtomicUsize::new(0);
        let results = Mutex::new(Vec::with_capacity(points.len()));
        let started = Instant::now();
        std::thread::scope(|s| -> Result<()> {
            let workers: Vec<_> = (0..WORKERS)
                .map(|w| {
                    let (next, results, points, stops, verified, state) =
                        (&next, &results, &points, &stops, &verified, &state);
                    s.spawn(move || -> Result<()> {
                        let out = self.dir.join(format!("run-{w}.txt"));
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(p) = points.get(i) else { return Ok(()) };
                            let args = PluginArgs {
                                out: out.clone(),
                                skip: Some(*p),
                                stops: stops.clone(),
                                faults: self.faults.clone(),
                                budget,
                                ..PluginArgs::default()
                            };
                            let (r, code, timed_out) = self.run(state, &args)?;
                            let o = fi::classify(r.as_ref(), code, timed_out, verified);
                            let to = match r.map(|r| r.end) {
                                Some(End::Stop { pc, .. }) => pc,
                                _ => 0,
                            };
                            let size = r.map_or(0, |r| r.skip_size);
                            results.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.push((*p, o, size, to));
                            if i > 0 && i % 2000 == 0 {
                                eprintln!(
                                    "xtask: fi: {}: {i}/{} runs, {:.0} s",
                                    attack.name(),
                                    points.len(),
                                    started.elapsed().as_secs_f64()
                                );
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().map_err(|_| anyhow::anyhow!("a worker panicked"))??;
            }
            Ok(())
        })?;
        let elapsed = started.elapsed();
        let mut results = results.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))?;
        results.sort_by_key(|(p, ..)| p.index);
        let mut outcomes = BTreeMap::new();
        let mut unverified = Vec::new();
        let mut not_applied = Vec::new();
        for (p, o, size, to) in &results {
            *outcomes.entry(*o).or_insert(0) += 1;
            if *o == RunEnd::Unverified {
                unverified.push((*p, *size, *to));
            }
            if *o == RunEnd::NotApplied {
                not_applied.push(*p);
            }
        }
        Ok(BootResult {
            attack,
            reference: ref_outcome,
            instructions: total,
            window_indices,
            runs: results.len() as u64,
            outcomes,
            unverified,
            not_applied,
            elapsed,
        })
    }
}

/// Whether code with these frame names is log output: the defmt encoder and the
/// semihosting calls that carry it (a skip there garbles a log line, it decides nothing).
fn logging(names: &[String]) -> bool {
    names.iter().any(|n| n.contains("defmt") || n.contains("semihosting"))
}

/// Boots `state` with the real firmware and no plugin; checks the exit code.
fn setup_boot(fw: &Firmware, state: &Path, order: &Order, want: Exit) -> Result<()> {
    let mut run = QemuRun::new(&fw.boot_elf, state);
    run.append = order.to_string();
    let out = run.run()?;
    ensure!(out.exit() == Some(want), "setup boot `{order}`: exit {:?}, expected {want:?}", out.exit_code);
    Ok(())
}

/// Fault handlers that spin (cortex-m-rt's `DefaultHandler`): entering one ends a run.
/// The board's HardFault exits through semihosting by itself.
fn spinning_handlers(elf: &Path) -> Result<Vec<u64>> {
    let data = std::fs::read(elf)?;
    let file = object::File::parse(&*data)?;
    let mut out: Vec<u64> = file
        .symbols()
        .filter(|s| matches!(s.name(), Ok("DefaultHandler" | "DefaultHandler_")))
        .map(|s| s.address() & !1)
        .collect();
    out.sort_unstable();
    out.dedup();
    ensure!(!out.is_empty(), "{}: no DefaultHandler symbol", elf.display());
    Ok(out)
}

/// Prints one boot's table rows and its unverified launches.
fn print(c: &Campaign, results: &[BootResult]) -> Result<()> {
    println!("## Instruction-skip campaign (QEMU mps2-an386, real boot stage, one skipped instruction per run)\n");
    print!("| boot | without a fault | instructions | indices in windows | skips run |");
    for o in RunEnd::ALL {
        print!(" {} |", o.name());
    }
    println!(" ms per run (2 workers) |");
    println!("| --- | --- |{}", " ---: |".repeat(4 + RunEnd::ALL.len()));
    for r in results {
        print!(
            "| {} | {} | {} | {} | {} |",
            r.attack.name(),
            r.reference.name(),
            r.instructions,
            r.window_indices,
            r.runs
        );
        for o in RunEnd::ALL {
            print!(" {} |", r.outcomes.get(&o).copied().unwrap_or(0));
        }
        let per = if r.runs > 0 { r.elapsed.as_secs_f64() * 1000.0 / r.runs as f64 } else { 0.0 };
        println!(" {per:.1} |");
    }
    for r in results {
        for p in &r.not_applied {
            println!(
                "{}: skip of {:#07x} (execution {}, index {}) not applied: {}",
                r.attack.name(),
                p.pc,
                p.hit,
                p.index,
                c.profiler.describe(u64::from(p.pc))?
            );
        }
        println!("\n{}: unverified launches: {}", r.attack.name(), r.unverified.len());
        // Grouped by skipped address.
        let mut by_pc: BTreeMap<u32, Vec<&(SkipPoint, u32, u64)>> = BTreeMap::new();
        for u in &r.unverified {
            by_pc.entry(u.0.pc).or_default().push(u);
        }
        for (pc, us) in by_pc {
            let first = us[0];
            println!(
                "  skip {pc:#07x} ({}-byte, execution {}, index {}{}) -> hand-off {:#x}: {}",
                first.1,
                first.0.hit,
                first.0.index,
                if us.len() > 1 { format!(", and {} more executions", us.len() - 1) } else { String::new() },
                first.2,
                c.profiler.describe(u64::from(pc))?
            );
        }
    }
    let (runs, secs): (u64, f64) = results.iter().fold((0, 0.0), |(n, t), r| (n + r.runs, t + r.elapsed.as_secs_f64()));
    if runs > 0 {
        let per = secs / runs as f64;
        let all: u64 = results.iter().map(|r| r.instructions).sum();
        println!(
            "\n{runs} skips in {secs:.0} s: {:.1} ms per run with {WORKERS} workers; `--full` over these boots \
             ({all} indices) would take about {:.1} days",
            per * 1000.0,
            all as f64 * per / 86_400.0
        );
    }
    Ok(())
}

/// `cargo xtask fi ...`.
pub fn command(args: &Args) -> Result<()> {
    if args.smoke {
        return smoke();
    }
    let boots: Vec<Attack> = if args.boots.is_empty() {
        Attack::ALL.to_vec()
    } else {
        args.boots
            .iter()
            .map(|n| Attack::from_name(n).with_context(|| format!("unknown boot `{n}`")))
            .collect::<Result<_>>()?
    };
    let select = if args.full {
        Selection::Full
    } else if args.windows_only {
        Selection::Sample(0)
    } else {
        Selection::Sample(args.sample.unwrap_or(DEFAULT_STRIDE_SAMPLES))
    };
    let span = args.from.unwrap_or(0)..args.to.unwrap_or(u64::MAX);
    if span.is_empty() {
        bail!("--from must be below --to");
    }
    let c = Campaign::new(&boots)?;
    let decision = |pc: u32| {
        matches!(
            c.codes.get(&u64::from(pc)),
            Some((Code::Board | Code::Policy | Code::Header | Code::Hardening, false))
        )
    };
    let mut results = Vec::new();
    for attack in boots {
        results.push(c.boot(attack, &select, span.clone(), |pc| !args.decisions_only || decision(pc))?);
    }
    print(&c, &results)
}

/// A time-bounded smoke for `cargo xtask test`: the forged-header and the altered-payload
/// boots, one skip of every instruction executed in the verifier's own code (header read,
/// decode and checks, `key_id`, the branches on both signature checks' results, the hash
/// compare); fails on any unverified launch or unapplied skip. Bounded by its run count:
/// the verifier's instructions in the decision windows of two boots (printed).
pub fn smoke() -> Result<()> {
    let boots = [Attack::ForgedHeader, Attack::AlteredPayload];
    let c = Campaign::new(&boots)?;
    let keep = |pc: u32| matches!(c.codes.get(&u64::from(pc)), Some((Code::Header, false)));
    let mut results = Vec::new();
    for attack in boots {
        results.push(c.boot(attack, &Selection::Sample(0), 0..u64::MAX, keep)?);
    }
    print(&c, &results)?;
    for r in &results {
        let name = r.attack.name();
        ensure!(r.runs > 0, "{name}: the smoke ran no skip");
        ensure!(!r.outcomes.contains_key(&RunEnd::NotApplied), "{name}: the plugin failed to apply some skips");
        ensure!(
            r.unverified.is_empty(),
            "{name}: {} single-instruction skips launch the attack image",
            r.unverified.len()
        );
    }
    Ok(())
}
