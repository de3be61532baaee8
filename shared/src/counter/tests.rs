//! The thermometer code under every cut the simulator offers, and the confirm-only rule.

use super::*;
use crate::nor::WriteCount;
use crate::sim::{CutKind, SimConfig, SimFlash, WriteFault};

/// An OTP area of `units` units of 8 bytes (the STM32L4's double words), program-once.
fn otp(units: usize) -> (SimFlash, Thermometer) {
    let cfg = SimConfig {
        size: 256.max(units * 8).next_multiple_of(256),
        write_size: 8,
        erase_size: 256,
        write_count: WriteCount::Once,
    };
    let t = Thermometer::new(0, u32::try_from(units * 8).unwrap(), 8).unwrap();
    (SimFlash::new(cfg).unwrap(), t)
}

#[test]
fn the_value_is_the_last_unit_not_erased_plus_one() {
    let e = [0xFFu8; 8];
    let p = [0u8; 8];
    let torn = [0xFF, 0xFF, 0xEF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    assert_eq!(decode(&[e, e, e].concat(), 8), 0);
    assert_eq!(decode(&[p, p, e].concat(), 8), 2);
    // A torn unit counts (conservatively) as programmed.
    assert_eq!(decode(&[p, torn, e].concat(), 8), 2);
    // A gap (a unit skipped because it could not be programmed) does not lower the value.
    assert_eq!(decode(&[e, e, p, e].concat(), 8), 3);
    assert_eq!(decode(&[p, p, p].concat(), 8), 3);
    // A trailing partial unit and a zero unit size are ignored.
    assert_eq!(decode(&[p, p, p].concat()[..20], 8), 2);
    assert_eq!(decode(&[p].concat(), 0), 0);
}

#[test]
fn areas_are_checked_and_counters_get_their_own() {
    assert_eq!(Thermometer::new(0, 0, 8), None);
    assert_eq!(Thermometer::new(0, 12, 8), None);
    assert_eq!(Thermometer::new(0, 64, 0), None);
    assert_eq!(Thermometer::new(0, 64, 64), None);
    assert_eq!(Thermometer::new(u32::MAX - 8, 16, 8), None);
    let t = Thermometer::for_counter(CounterId::Rollback, 0x1000, 1024, 8).unwrap();
    assert_eq!((t.offset(), t.size(), t.capacity()), (0x1000, 1024, 128));
    assert_eq!(CounterId::ALL.map(CounterId::index), [0, 1]);
    assert_eq!(CounterId::Rollback.name(), "rollback");
}

#[test]
fn an_advance_programs_one_unit_per_step_and_reads_back() {
    let (mut f, t) = otp(16);
    assert_eq!(t.read(&mut f).unwrap(), 0);
    assert_eq!(t.advance(&mut f, 3).unwrap(), 3);
    assert_eq!(f.stats().programs, 3);
    assert_eq!(t.advance(&mut f, 5).unwrap(), 5);
    assert_eq!(f.stats().programs, 5);
    // Never lowers, and a value already there writes nothing.
    assert_eq!(t.advance(&mut f, 2).unwrap(), 5);
    assert_eq!(t.advance(&mut f, 5).unwrap(), 5);
    assert_eq!((f.stats().programs, f.stats().erases), (5, 0));
    assert_eq!(decode(&f.bytes()[..128], 8), 5);
}

#[test]
fn a_full_area_saturates_at_its_capacity() {
    let (mut f, t) = otp(4);
    assert_eq!(t.advance(&mut f, 1000).unwrap(), 4);
    assert_eq!(t.advance(&mut f, u32::MAX).unwrap(), 4);
    assert_eq!(f.stats().programs, 4);
}

#[test]
fn a_failing_write_is_reported_and_lowers_nothing() {
    let (mut f, t) = otp(8);
    t.advance(&mut f, 2).unwrap();
    for fault in [WriteFault::Error, WriteFault::Drop] {
        f.set_write_fault(Some(fault));
        assert_eq!(t.advance(&mut f, 4), Err(CounterError::NotProgrammed(3)));
        f.set_write_fault(None);
        assert_eq!(t.read(&mut f).unwrap(), 2);
    }
    assert_eq!(t.advance(&mut f, 4).unwrap(), 4);
}

/// A power cut at every program of an advance from 2 to 6, every variant (torn prefixes,
/// torn bits, weak cells): after power returns, every read (weak cells read differently
/// each time) is at least the value before and at most the target, and an advance to the
/// target or beyond then succeeds or leaves the value where it was; none ever overshoots.
#[test]
fn a_cut_anywhere_in_an_advance_never_lowers_nor_overshoots() {
    let (mut before, t) = otp(8);
    t.advance(&mut before, 2).unwrap();
    let mut probe = before.clone();
    let base = probe.mutating_ops();
    t.advance(&mut probe, 6).unwrap();
    let ops = probe.mutating_ops() - base;
    assert_eq!(ops, 4);
    let mut checked = 0;
    for k in 0..ops {
        for kind in probe.cut_variants_at(base + k) {
            let mut f = before.clone();
            f.arm_cut(base + k, kind);
            assert!(t.advance(&mut f, 6).is_err(), "{kind:?} at {k} did not cut");
            f.power_cycle();
            for _ in 0..8 {
                let v = t.read(&mut f).unwrap();
                assert!((2..=6).contains(&v), "{kind:?} at {k}: value {v}");
            }
            // The next confirmed boot advances again: to the same target (a touched unit
            // that reads erased may refuse it on program-once memory) and to a higher one.
            let low = t.read(&mut f).unwrap();
            match t.advance(&mut f, 6) {
                Ok(v) => assert!(v == 6 || (matches!(kind, CutKind::Weak(_)) && v >= low), "{kind:?} at {k}: {v}"),
                Err(CounterError::NotProgrammed(5)) => assert!(t.read(&mut f).unwrap() >= 2),
                Err(e) => panic!("{kind:?} at {k}: {e:?}"),
            }
            assert!(t.read(&mut f).unwrap() <= 6, "{kind:?} at {k}: overshoot");
            assert_eq!(t.advance(&mut f, 7).unwrap(), 7, "{kind:?} at {k}");
            checked += 1;
        }
    }
    // 4 programs × (before, after, torn prefix 0, 3 torn bit subsets, weak cells).
    assert_eq!(checked, 28);
}

#[test]
fn the_confirm_only_rule() {
    assert_eq!(advance_target(BootKind::Confirmed, 5, 3), Some(5));
    assert_eq!(advance_target(BootKind::Confirmed, 3, 3), None);
    assert_eq!(advance_target(BootKind::Confirmed, 2, 3), None);
    assert_eq!(advance_target(BootKind::Trial, 5, 3), None);
    assert_eq!(advance_target(BootKind::LastResort, 5, 3), None);
    assert_eq!(effective_floor(4, 7), 7);
    assert_eq!(effective_floor(9, 7), 9);
    let mut none = NoSecurityCounter;
    assert_eq!((none.read(CounterId::Rollback), none.advance(CounterId::Rollback, 9)), (Ok(0), Ok(0)));
}
