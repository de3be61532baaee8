//! The in-process half of `cargo xtask bench`: times `Journal::open` + `record()` over a
//! record region, in a release build, without process start, config, lock or output.
//!
//! ```text
//! journal_scan FILE RUNS
//! ```
//!
//! FILE holds a 128 KiB region at offset 0 (4 KiB sectors, 8-byte program-once words).
//! Prints one JSON object: the journal's head seq, the written positions, and the time of
//! each run in nanoseconds over the file backend (`FileFlash`, one `pread` per entry
//! position) and over a `SimFlash` holding the same bytes (the scan and decode alone).

use std::path::PathBuf;
use std::time::Instant;

use safeslot_shared::journal::{Journal, JournalConfig};
use safeslot_shared::sim::{SimConfig, SimFlash};
use safeslotctl::storage::{FileFlash, Geometry};

const REGION: u32 = 0x2_0000;
const ERASE: u32 = 4096;
const WRITE: u32 = 8;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(runs)) = (args.next(), args.next()) else {
        return Err("usage: journal_scan FILE RUNS".into());
    };
    let path = PathBuf::from(path);
    let runs: usize = runs.parse().map_err(|e| format!("RUNS: {e}"))?;
    let cfg = JournalConfig { offset: 0, size: REGION, write_size: WRITE, erase_size: ERASE };
    let geometry = Geometry { write_size: WRITE, erase_size: ERASE, program_once: true };

    let mut file_ns = Vec::with_capacity(runs);
    let mut file = FileFlash::open(&path, geometry).map_err(|e| format!("{}: {e}", path.display()))?;
    for _ in 0..runs {
        let t = Instant::now();
        let j = Journal::open(file, cfg).map_err(|e| format!("Journal::open: {e:?}"))?;
        std::hint::black_box(j.record().map_err(|e| format!("record: {e:?}"))?);
        file_ns.push(t.elapsed().as_nanos());
        file = j.into_inner();
    }

    let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
    let sim_cfg = SimConfig {
        size: bytes.len(),
        write_size: WRITE as usize,
        erase_size: ERASE as usize,
        write_count: safeslot_shared::nor::WriteCount::Once,
    };
    let mut sim = SimFlash::from_bytes(sim_cfg, bytes).map_err(|e| format!("SimFlash: {e}"))?;
    let mut sim_ns = Vec::with_capacity(runs);
    let mut seq = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let j = Journal::open(sim, cfg).map_err(|e| format!("Journal::open: {e:?}"))?;
        std::hint::black_box(j.record().map_err(|e| format!("record: {e:?}"))?);
        sim_ns.push(t.elapsed().as_nanos());
        seq = j.seq();
        sim = j.into_inner();
    }

    let es = cfg.entry_size() as usize;
    let written = sim
        .bytes()
        .chunks(ERASE as usize)
        .take(cfg.sectors() as usize)
        .flat_map(|sector| sector.chunks_exact(es).take(cfg.entries_per_sector() as usize))
        .filter(|entry| entry.iter().any(|&b| b != 0xFF))
        .count();
    let out = serde_json::json!({
        "seq": seq,
        "entry_size": es,
        "positions": cfg.sectors() * cfg.entries_per_sector(),
        "written": written,
        "file_ns": file_ns,
        "sim_ns": sim_ns,
    });
    println!("{out}");
    Ok(())
}
