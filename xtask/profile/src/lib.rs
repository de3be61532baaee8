//! Where the boot stage's instructions went, from the DWARF inline frames of each address
//! (the release profile keeps debug info; fat LTO at opt-level "z" inlines most of the boot
//! sequence into `main`, so symbol boundaries alone would not tell the journal scan from
//! the policy). Two views:
//!
//! * [`Phase`], counted *dynamically* by the plugin from a map this module writes
//!   ([`Profiler::phase_map`]): code inlined into a phase's function counts for that phase
//!   (by the inline frames); out-of-line helpers called from several phases (the flash
//!   driver's read, memcpy, SHA-256's compression, CRC, core iterators, the machine
//!   outliner's fragments) count for the phase that called them. This is the split of a
//!   boot into record scan, policy, header, signature and hashing, callees included.
//! * [`Code`], counted *statically* from the per-address counts ([`Profiler::attribute`]):
//!   which code executed, whoever called it (where the hashing's cost is: compression
//!   function or flash reads).
use std::collections::BTreeMap;

use addr2line::gimli;
use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

/// A kind of code, whoever called it (the static view; see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    /// Runtime start-up, command line, logs, hand-off block, jump.
    Board,
    /// The virtual board's stack painting and peak measurement.
    Stack,
    /// Journal scan and record decode (`Journal::open`, `Record::decode`, CRC).
    RecordScan,
    /// Journal append (the trial's tries decrement).
    RecordWrite,
    /// The selection policy and the boot sequence around it.
    Policy,
    /// Header read, decode, bounds, address and key-id checks.
    Header,
    /// ed25519 signature verification (ed25519-compact, incl. its SHA-512).
    Signature,
    /// The image hashing loop (flash reads into the chunk buffer, sha2 buffering).
    HashLoop,
    /// Fault-injection hardening's own code: the control-flow counter and proof
    /// (`safeslot_boot::fih`). The second signature check runs the same code as the first
    /// and counts as signature.
    Hardening,
    /// Fault-injection hardening of the hash loop: the buffer's address pattern written
    /// before each chunk read (`verify::prefill`). It decides nothing (a skip there can
    /// only leave the pattern weaker; the read still lands): `cargo xtask fi` keeps it out
    /// of its decision windows.
    HashPattern,
    /// sha2's compression function, out of line (image blocks and the key-id hash).
    Sha256,
    /// The flash driver's out-of-line read/write/erase (every phase calls it).
    FlashDriver,
    /// Out-of-line code every phase calls: memcpy/memset (compiler-builtins), core
    /// iterator `next` functions LLVM kept out of line, and the machine outliner's
    /// `OUTLINED_FUNCTION_*` fragments (opt-level "z").
    Shared,
}

impl Code {
    /// Every kind, in table order.
    pub const ALL: [Code; 13] = [
        Code::Board,
        Code::Stack,
        Code::RecordScan,
        Code::RecordWrite,
        Code::Policy,
        Code::Header,
        Code::Signature,
        Code::HashLoop,
        Code::Hardening,
        Code::HashPattern,
        Code::Sha256,
        Code::FlashDriver,
        Code::Shared,
    ];

    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Code::Board => "board: start-up, command line, logs, hand-off block",
            Code::Stack => "board: stack paint + peak (measurement, virtual board only)",
            Code::RecordScan => "record scan: journal open, entry decode, CRC",
            Code::RecordWrite => "record write: journal append (trial tries decrement)",
            Code::Policy => "policy: select + boot sequence",
            Code::Header => "header: read, decode, bounds, key id",
            Code::Signature => "signature: ed25519 verify (ed25519-compact)",
            Code::HashLoop => "image hashing: chunk loop, flash reads, sha2 buffering",
            Code::Hardening => "fault-injection hardening: flow counter, proof",
            Code::HashPattern => "fault-injection hardening: hash buffer pattern (memset it calls: shared)",
            Code::Sha256 => "image hashing: sha2 compress256 (out of line; also the key-id hash)",
            Code::FlashDriver => "flash driver, out of line (called by every phase)",
            Code::Shared => "shared out-of-line code: memcpy, core iterators, outlined fragments (every phase)",
        }
    }
}

/// (kind, name fragments): the first rule with a fragment in any frame's name wins.
const RULES: &[(Code, &[&str])] = &[
    (Code::Signature, &["ed25519_compact::"]),
    (Code::Hardening, &["safeslot_boot::fih"]),
    (Code::HashPattern, &["verify::prefill"]),
    (Code::HashLoop, &["verify::hash_image"]),
    (Code::Sha256, &["sha2::", "digest::", "block_buffer::"]),
    (
        Code::Header,
        &[
            "verify::verify_slot",
            "verify::verify_first",
            "verify::signature_word",
            "verify::check_word",
            "verify::key_id",
            "header::",
        ],
    ),
    (
        Code::RecordWrite,
        &["Journal<F>::append", "Journal<F>::update", "Journal<F>::write_entry", "safeslot_shared::ops::"],
    ),
    (Code::RecordScan, &["journal::", "record::", "codec::"]),
    (Code::Stack, &["::stack::"]),
    // Not "safeslot_boot::": the board's boot-stage bin is also called safeslot_boot (its main).
    (Code::Policy, &["safeslot_shared::policy", "safeslot_shared::select", "safeslot_boot::sequence"]),
    (Code::FlashDriver, &["::flash::", "ReadNorFlash", "NorFlash"]),
    (
        Code::Board,
        &[
            "cortex_m_rt",
            "Reset",
            "__cortex_m_rt_main",
            "safeslot_boot::run::run",
            "semihosting",
            "defmt",
            "host::",
            "handoff::",
        ],
    ),
];

/// The phase of one address, from the names of its frames (innermost first); code no
/// rule claims (memcpy, out-of-line core iterators, outlined fragments) is [`Code::Shared`].
pub fn phase_of(names: &[String]) -> Code {
    RULES
        .iter()
        .find(|(_, frags)| names.iter().any(|n| frags.iter().any(|f| n.contains(f))))
        .map_or(Code::Shared, |(p, _)| *p)
}

/// A phase of the boot, callees included (counted by the plugin; see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Runtime start-up, command line, logs, hand-off block, jump.
    Board,
    /// The virtual board's stack painting and peak measurement.
    Stack,
    /// Journal open: scanning the record region, decoding and checking entries.
    RecordScan,
    /// The trial's record update: journal append (encode, CRC, program, read back).
    RecordWrite,
    /// The selection policy and the boot sequence around it.
    Policy,
    /// Header read, decode and checks, key-id lookup (one SHA-256 of each trusted key).
    Header,
    /// ed25519 signature verification.
    Signature,
    /// Reading the image from flash and hashing it.
    Hashing,
}

impl Phase {
    /// Every phase, in table order; the index is the plugin's phase id.
    pub const ALL: [Phase; 8] = [
        Phase::Board,
        Phase::Stack,
        Phase::RecordScan,
        Phase::RecordWrite,
        Phase::Policy,
        Phase::Header,
        Phase::Signature,
        Phase::Hashing,
    ];

    /// The plugin's id of this phase.
    pub fn id(self) -> u32 {
        Phase::ALL.iter().position(|p| *p == self).unwrap_or(0) as u32
    }

    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Board => "board: start-up, command line, logs, hand-off block",
            Phase::Stack => "board: stack paint + peak (measurement, virtual board only)",
            Phase::RecordScan => "record scan: journal open (reads, entry decode, CRC)",
            Phase::RecordWrite => "record write: journal append (trial tries decrement)",
            Phase::Policy => "policy: select + boot sequence",
            Phase::Header => "header: read, decode, checks, key id",
            Phase::Signature => "signature verify (ed25519-compact)",
            Phase::Hashing => "image hashing: flash reads + SHA-256",
        }
    }
}

/// The plugin's phase id for "the caller's phase".
pub const INHERIT: u32 = 63;

/// Out-of-line functions whose every instruction belongs to one phase, whoever inlined
/// what into them: (phase, name fragments of the function).
const OWN: &[(Phase, &[&str])] = &[
    (Phase::Signature, &["ed25519_compact::"]),
    (
        Phase::RecordWrite,
        &["Journal<F>::append", "Journal<F>::update", "Journal<F>::write_entry", "Journal<F>::initialize"],
    ),
    (Phase::Stack, &["::stack::"]),
];

/// Out-of-line functions that contain phases (through what is inlined into them), and the
/// phase of their own code: (phase, name fragments of the function).
const CONTAINERS: &[(Phase, &[&str])] = &[
    // The one boot main (`safeslot_boot::run`) and a platform's log sink (the virtual
    // board's measures the stack there), when they are not inlined into the entry.
    (
        Phase::Board,
        &["__cortex_m_rt_main", "Reset", "safeslot_boot::run::run", "as safeslot_boot::run::Platform>::log"],
    ),
    (
        Phase::Header,
        &["sequence::boot::{{closure}}", "verify::verify_slot", "verify::verify_first", "verify::signature_word"],
    ),
    (Phase::Hashing, &["verify::hash_image"]),
    (Phase::RecordScan, &["Journal<F>::open", "Journal<F>::rescan"]),
    (Phase::Policy, &["safeslot_shared::select::select", "safeslot_boot::sequence::boot"]),
];

/// Inlined functions that set the phase inside a container, first match wins.
const INLINED: &[(Phase, &[&str])] = &[
    (Phase::Signature, &["ed25519_compact::"]),
    (Phase::Hashing, &["verify::hash_image"]),
    (
        Phase::Header,
        &[
            "verify::verify_slot",
            "verify::verify_first",
            "verify::signature_word",
            "verify::check_word",
            "verify::key_id",
            "header::",
        ],
    ),
    (
        Phase::RecordWrite,
        &[
            "Journal<F>::append",
            "Journal<F>::update",
            "Journal<F>::write_entry",
            "Journal<F>::initialize",
            "safeslot_shared::ops::",
        ],
    ),
    (Phase::RecordScan, &["journal::", "record::", "codec::"]),
    (Phase::Stack, &["::stack::"]),
    (
        Phase::Policy,
        &["safeslot_shared::policy", "safeslot_shared::select", "safeslot_boot::sequence", "safeslot_boot::fih"],
    ),
];

fn matches(name: &str, frags: &[&str]) -> bool {
    frags.iter().any(|f| name.contains(f))
}

/// The phase of one address given its DWARF frames (innermost first; the last is the
/// out-of-line function it is in) or, without debug info, its symbol; `None`: the
/// caller's phase (an out-of-line helper).
pub fn dynamic_phase(frames: &[String], symbol: Option<&str>) -> Option<Phase> {
    let outer = frames.last().map(String::as_str).or(symbol)?;
    if let Some((p, _)) = OWN.iter().find(|(_, f)| matches(outer, f)) {
        return Some(*p);
    }
    let (own, _) = CONTAINERS.iter().find(|(_, f)| matches(outer, f))?;
    let inlined = frames.get(..frames.len().saturating_sub(1)).unwrap_or_default();
    Some(INLINED.iter().find(|(_, f)| inlined.iter().any(|n| matches(n, f))).map_or(*own, |(p, _)| *p))
}

/// Attributes each executed address in `pcs` that belongs to `elf`'s code to a phase.
pub struct Profiler {
    elf: Vec<u8>,
}

impl Profiler {
    /// Reads `elf`.
    pub fn new(elf: &std::path::Path) -> Result<Self> {
        Ok(Profiler { elf: std::fs::read(elf).with_context(|| elf.display().to_string())? })
    }

    /// Writes the plugin's `phases=` file for this ELF: every 2-byte step of `.text`
    /// mapped to [`dynamic_phase`], as `START END ID` ranges.
    pub fn phase_map(&self, out: &std::path::Path) -> Result<()> {
        let mut text = String::new();
        let mut run: Option<(u64, u64, u32)> = None;
        self.each_address(|pc, frames, symbol| {
            let id = dynamic_phase(frames, symbol).map_or(INHERIT, Phase::id);
            match &mut run {
                Some((_, end, rid)) if *end == pc && *rid == id => *end = pc + 2,
                _ => {
                    if let Some((a, b, i)) = run.take() {
                        text.push_str(&format!("{a:x} {b:x} {i}\n"));
                    }
                    run = Some((pc, pc + 2, id));
                }
            }
        })?;
        if let Some((a, b, i)) = run {
            text.push_str(&format!("{a:x} {b:x} {i}\n"));
        }
        std::fs::write(out, text).with_context(|| out.display().to_string())
    }

    /// Calls `f(address, frames, symbol)` for every 2-byte step of `.text`.
    fn each_address(&self, mut f: impl FnMut(u64, &[String], Option<&str>)) -> Result<()> {
        let file = object::File::parse(&*self.elf)?;
        let text = file.section_by_name(".text").context("no .text")?;
        let (lo, hi) = (text.address(), text.address() + text.size());
        let sym = Symbols::new(&file)?;
        for pc in (lo..hi).step_by(2) {
            let (frames, symbol) = sym.at(pc)?;
            f(pc, &frames, symbol);
        }
        Ok(())
    }

    /// `f` of the names (DWARF frames, innermost first, then the symbol) of every 2-byte
    /// step of `.text`, e.g. [`phase_of`] for each address's [`Code`].
    pub fn map<T>(&self, f: impl Fn(&[String]) -> T) -> Result<std::collections::HashMap<u64, T>> {
        let mut out = std::collections::HashMap::new();
        self.each_address(|pc, frames, symbol| {
            let mut names = frames.to_vec();
            names.extend(symbol.map(str::to_owned));
            out.insert(pc, f(&names));
        })?;
        Ok(out)
    }

    /// Where `pc` is, for a person: the symbol, the inlined frames (innermost first) and
    /// the source line, e.g. `main <- verify_first (shared/src/verify.rs:86)`.
    pub fn describe(&self, pc: u64) -> Result<String> {
        let file = object::File::parse(&*self.elf)?;
        let sym = Symbols::new(&file)?;
        let (frames, symbol) = sym.at(pc)?;
        let short = |n: &str| -> String {
            // Without the legacy mangling's hash (`::h` and 16 hex digits) and generics.
            let n = match n.rsplit_once("::h") {
                Some((head, h)) if h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()) => head,
                _ => n,
            };
            let n = n.split('<').next().unwrap_or(n);
            n.rsplit("::").take(2).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("::")
        };
        let mut s = symbol.map_or_else(|| "?".to_owned(), short);
        let inner: Vec<String> = frames.iter().rev().skip(1).map(|f| short(f)).collect();
        if !inner.is_empty() {
            s.push_str(" > ");
            s.push_str(&inner.join(" > "));
        }
        if let Some(loc) = sym.ctx.find_location(pc)? {
            let f = loc.file.unwrap_or("?");
            let f = f
                .find("/shared/")
                .or_else(|| f.find("/boot/"))
                .or_else(|| f.find("/boards/"))
                .map_or(f, |i| &f[i + 1..]);
            let f = f.rsplit_once("/registry/src/").map_or(f, |(_, r)| r.split_once('/').map_or(r, |(_, x)| x));
            s.push_str(&format!(" ({f}:{})", loc.line.unwrap_or(0)));
        }
        Ok(s)
    }

    /// Sums `pcs` (address, executions) per kind of code; addresses outside the ELF's
    /// `.text` are skipped (and returned as the second value).
    pub fn attribute(&self, pcs: impl Iterator<Item = (u64, u64)>) -> Result<(BTreeMap<Code, u64>, u64)> {
        let file = object::File::parse(&*self.elf)?;
        let text = file.section_by_name(".text").context("no .text")?;
        let (lo, hi) = (text.address(), text.address() + text.size());
        let vt = file.section_by_name(".vector_table").map(|s| (s.address(), s.address() + s.size()));
        let sym = Symbols::new(&file)?;
        let mut out = BTreeMap::new();
        let mut outside = 0;
        for (pc, n) in pcs {
            let in_vt = vt.is_some_and(|(a, b)| (a..b).contains(&pc));
            if !(lo..hi).contains(&pc) || in_vt {
                outside += n;
                continue;
            }
            let (mut names, symbol) = sym.at(pc)?;
            names.extend(symbol.map(str::to_owned));
            let phase = phase_of(&names);
            if std::env::var_os("SAFESLOT_BENCH_DEBUG").is_some() && n > 10_000 {
                eprintln!("{pc:#x} {n} {phase:?} {names:?}");
            }
            *out.entry(phase).or_insert(0) += n;
        }
        Ok((out, outside))
    }
}

/// DWARF frames and symbol names of an ELF's addresses.
struct Symbols<'a> {
    ctx: addr2line::Context<gimli::EndianSlice<'a, gimli::RunTimeEndian>>,
    syms: Vec<(u64, u64, String)>,
}

impl<'a> Symbols<'a> {
    fn new(file: &object::File<'a>) -> Result<Self> {
        let endian = if file.is_little_endian() { gimli::RunTimeEndian::Little } else { gimli::RunTimeEndian::Big };
        let dwarf = gimli::Dwarf::load(|id| -> Result<_, gimli::Error> {
            let data = file.section_by_name(id.name()).and_then(|s| s.data().ok()).unwrap_or(&[]);
            Ok(gimli::EndianSlice::new(data, endian))
        })?;
        let ctx = addr2line::Context::from_dwarf(dwarf)?;
        let mut syms: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
            .map(|s| (s.address() & !1, s.size(), rustc_demangle::demangle(s.name().unwrap_or("")).to_string()))
            .collect();
        syms.sort();
        Ok(Symbols { ctx, syms })
    }

    /// The DWARF frames at `pc` (innermost first) and the symbol containing it.
    fn at(&self, pc: u64) -> Result<(Vec<String>, Option<&str>)> {
        let mut names = Vec::new();
        let mut frames = self.ctx.find_frames(pc).skip_all_loads()?;
        while let Some(f) = frames.next()? {
            if let Some(name) = f.function.as_ref().and_then(|f| f.demangle().ok()) {
                names.push(name.into_owned());
            }
        }
        let at = self.syms.partition_point(|(a, _, _)| *a <= pc);
        let symbol = at
            .checked_sub(1)
            .and_then(|i| self.syms.get(i))
            .filter(|(a, size, _)| pc < a + size)
            .map(|(_, _, n)| n.as_str());
        Ok((names, symbol))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rules_prefer_the_specific_phase() {
        let sha_in_loop = names(&["sha2::sha256::compress256", "safeslot_shared::verify::hash_image<F>", "main"]);
        assert_eq!(phase_of(&sha_in_loop), Code::HashLoop);
        assert_eq!(phase_of(&names(&["sha2::sha256::compress256"])), Code::Sha256);
        let encode =
            names(&["safeslot_shared::record::Record::encode", "safeslot_shared::journal::Journal<F>::write_entry"]);
        assert_eq!(phase_of(&encode), Code::RecordWrite);
        let open = names(&["safeslot_shared::journal::Journal<F>::open", "safeslot_boot::sequence::boot<F>"]);
        assert_eq!(phase_of(&open), Code::RecordScan);
        assert_eq!(phase_of(&names(&["safeslot_shared::select::select<F>"])), Code::Policy);
        assert_eq!(phase_of(&names(&["__aeabi_memcpy4"])), Code::Shared);
        assert_eq!(phase_of(&names(&["OUTLINED_FUNCTION_13"])), Code::Shared);
        assert_eq!(phase_of(&names(&["Reset"])), Code::Board);
        let peak = names(&["safeslot_board_qemu_mps2_an386::stack::peak", "safeslot_boot::__cortex_m_rt_main"]);
        assert_eq!(phase_of(&peak), Code::Stack);
    }

    #[test]
    fn helpers_inherit_and_containers_split_by_inlining() {
        let main = "safeslot_boot::__cortex_m_rt_main";
        // Out-of-line helpers take their caller's phase.
        assert_eq!(dynamic_phase(&names(&["sha2::sha256::compress256"]), None), None);
        assert_eq!(dynamic_phase(&[], Some("__aeabi_memcpy4")), None);
        assert_eq!(dynamic_phase(&names(&["safeslot_shared::codec::crc32"]), None), None);
        // A container's own code, and what is inlined into it.
        assert_eq!(dynamic_phase(&names(&[main]), None), Some(Phase::Board));
        let open = names(&["safeslot_shared::journal::Journal<F>::open", "safeslot_boot::sequence::boot<F>", main]);
        assert_eq!(dynamic_phase(&open, None), Some(Phase::RecordScan));
        let persist = names(&[
            "safeslot_shared::journal::Journal<F>::update",
            "safeslot_shared::select::select<F>",
            "safeslot_boot::sequence::boot<F>",
            main,
        ]);
        assert_eq!(dynamic_phase(&persist, None), Some(Phase::RecordWrite));
        let closure = "safeslot_boot::sequence::boot::{{closure}}";
        let sha_in_loop = names(&["sha2::Sha256::update", "safeslot_shared::verify::hash_image<F>", closure]);
        assert_eq!(dynamic_phase(&sha_in_loop, None), Some(Phase::Hashing));
        let key_id = names(&["sha2::Sha256::update", "safeslot_shared::verify::key_id", closure]);
        assert_eq!(dynamic_phase(&key_id, None), Some(Phase::Header));
        // Functions that are one phase whatever is inlined into them.
        let encode =
            names(&["safeslot_shared::record::Record::encode", "safeslot_shared::journal::Journal<F>::write_entry"]);
        assert_eq!(dynamic_phase(&encode, None), Some(Phase::RecordWrite));
        let fe = names(&["ed25519_compact::field25519::fiat_25519_carry_mul"]);
        assert_eq!(dynamic_phase(&fe, None), Some(Phase::Signature));
    }
}
