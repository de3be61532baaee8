//! Where the boot stage's instructions went: every executed address of the boot-stage ELF
//! attributed to a phase through its DWARF inline frames (the release profile keeps debug
//! info; fat LTO at opt-level "z" inlines most of the boot sequence into `main`, so symbol
//! boundaries alone would not tell the journal scan from the policy).
//!
//! A phase is chosen by the first rule, in [`RULES`] order, that matches any frame of the
//! address (the function it is in, and every function inlined there). Functions that stay
//! out of line and are called from several phases (the flash driver's read, `memcpy`,
//! SHA-256's compression function) cannot be split by caller statically; they have rows of
//! their own.

use std::collections::BTreeMap;

use addr2line::gimli;
use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

/// A phase of the boot, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
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
    /// sha2's compression function, out of line (image blocks and the key-id hash).
    Sha256,
    /// The flash driver's out-of-line read/write/erase (every phase calls it).
    FlashDriver,
    /// Out-of-line code every phase calls: memcpy/memset (compiler-builtins), core
    /// iterator `next` functions LLVM kept out of line, and the machine outliner's
    /// `OUTLINED_FUNCTION_*` fragments (opt-level "z").
    Shared,
}

impl Phase {
    /// Every phase, in table order.
    pub const ALL: [Phase; 11] = [
        Phase::Board,
        Phase::Stack,
        Phase::RecordScan,
        Phase::RecordWrite,
        Phase::Policy,
        Phase::Header,
        Phase::Signature,
        Phase::HashLoop,
        Phase::Sha256,
        Phase::FlashDriver,
        Phase::Shared,
    ];

    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Board => "board: start-up, command line, logs, hand-off block",
            Phase::Stack => "board: stack paint + peak (measurement, virtual board only)",
            Phase::RecordScan => "record scan: journal open, entry decode, CRC",
            Phase::RecordWrite => "record write: journal append (trial tries decrement)",
            Phase::Policy => "policy: select + boot sequence",
            Phase::Header => "header: read, decode, bounds, key id",
            Phase::Signature => "signature: ed25519 verify (ed25519-compact)",
            Phase::HashLoop => "image hashing: chunk loop, flash reads, sha2 buffering",
            Phase::Sha256 => "image hashing: sha2 compress256 (out of line; also the key-id hash)",
            Phase::FlashDriver => "flash driver, out of line (called by every phase)",
            Phase::Shared => "shared out-of-line code: memcpy, core iterators, outlined fragments (every phase)",
        }
    }
}

/// (phase, name fragments): the first rule with a fragment in any frame's name wins.
const RULES: &[(Phase, &[&str])] = &[
    (Phase::Signature, &["ed25519_compact::"]),
    (Phase::HashLoop, &["verify::hash_image"]),
    (Phase::Sha256, &["sha2::", "digest::", "block_buffer::"]),
    (Phase::Header, &["verify::verify_slot", "verify::key_id", "header::"]),
    (
        Phase::RecordWrite,
        &["Journal<F>::append", "Journal<F>::update", "Journal<F>::write_entry", "safeslot_shared::ops::"],
    ),
    (Phase::RecordScan, &["journal::", "record::", "codec::"]),
    (Phase::Stack, &["::stack::"]),
    // Not "safeslot_boot::": the board's boot-stage bin is also called safeslot_boot (its main).
    (
        Phase::Policy,
        &["safeslot_shared::policy", "safeslot_shared::select", "safeslot_boot::sequence", "safeslot_boot::fih"],
    ),
    (Phase::FlashDriver, &["::flash::", "ReadNorFlash", "NorFlash"]),
    (Phase::Board, &["cortex_m_rt", "Reset", "__cortex_m_rt_main", "semihosting", "defmt", "host::", "handoff::"]),
];

/// The phase of one address, from the names of its frames (innermost first); code no
/// rule claims (memcpy, out-of-line core iterators, outlined fragments) is [`Phase::Shared`].
pub fn phase_of(names: &[String]) -> Phase {
    RULES
        .iter()
        .find(|(_, frags)| names.iter().any(|n| frags.iter().any(|f| n.contains(f))))
        .map_or(Phase::Shared, |(p, _)| *p)
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

    /// Sums `pcs` (address, executions) per phase; addresses outside the ELF's `.text`
    /// are skipped (and returned as the second value).
    pub fn attribute(&self, pcs: impl Iterator<Item = (u64, u64)>) -> Result<(BTreeMap<Phase, u64>, u64)> {
        let file = object::File::parse(&*self.elf)?;
        let text = file.section_by_name(".text").context("no .text")?;
        let (lo, hi) = (text.address(), text.address() + text.size());
        let vt = file.section_by_name(".vector_table").map(|s| (s.address(), s.address() + s.size()));
        let endian = if file.is_little_endian() { gimli::RunTimeEndian::Little } else { gimli::RunTimeEndian::Big };
        let dwarf = gimli::Dwarf::load(|id| -> Result<_, gimli::Error> {
            let data = file.section_by_name(id.name()).and_then(|s| s.data().ok()).unwrap_or(&[]);
            Ok(gimli::EndianSlice::new(data, endian))
        })?;
        let ctx = addr2line::Context::from_dwarf(dwarf)?;
        let mut syms: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
            .map(|s| (s.address() & !1, s.size(), s.name().unwrap_or("").to_owned()))
            .collect();
        syms.sort();
        let mut out = BTreeMap::new();
        let mut outside = 0;
        for (pc, n) in pcs {
            let in_vt = vt.is_some_and(|(a, b)| (a..b).contains(&pc));
            if !(lo..hi).contains(&pc) || in_vt {
                outside += n;
                continue;
            }
            let mut names = Vec::new();
            let mut frames = ctx.find_frames(pc).skip_all_loads()?;
            while let Some(f) = frames.next()? {
                if let Some(name) = f.function.as_ref().and_then(|f| f.demangle().ok()) {
                    names.push(name.into_owned());
                }
            }
            // Code without debug info (compiler-builtins' asm): its symbol name.
            let at = syms.partition_point(|(a, _, _)| *a <= pc);
            if let Some((a, size, name)) = at.checked_sub(1).and_then(|i| syms.get(i)) {
                if pc < a + size {
                    names.push(rustc_demangle::demangle(name).to_string());
                }
            }
            let phase = phase_of(&names);
            if std::env::var_os("SAFESLOT_BENCH_DEBUG").is_some() && n > 10_000 {
                eprintln!("{pc:#x} {n} {phase:?} {names:?}");
            }
            *out.entry(phase).or_insert(0) += n;
        }
        Ok((out, outside))
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
        assert_eq!(phase_of(&sha_in_loop), Phase::HashLoop);
        assert_eq!(phase_of(&names(&["sha2::sha256::compress256"])), Phase::Sha256);
        let encode =
            names(&["safeslot_shared::record::Record::encode", "safeslot_shared::journal::Journal<F>::write_entry"]);
        assert_eq!(phase_of(&encode), Phase::RecordWrite);
        let open = names(&["safeslot_shared::journal::Journal<F>::open", "safeslot_boot::sequence::boot<F>"]);
        assert_eq!(phase_of(&open), Phase::RecordScan);
        assert_eq!(phase_of(&names(&["safeslot_shared::select::select<F>"])), Phase::Policy);
        assert_eq!(phase_of(&names(&["__aeabi_memcpy4"])), Phase::Shared);
        assert_eq!(phase_of(&names(&["OUTLINED_FUNCTION_13"])), Phase::Shared);
        assert_eq!(phase_of(&names(&["Reset"])), Phase::Board);
        let peak = names(&["safeslot_board_qemu_mps2_an386::stack::peak", "safeslot_boot::__cortex_m_rt_main"]);
        assert_eq!(phase_of(&peak), Phase::Stack);
    }
}
