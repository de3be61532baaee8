//! Fault-injection hardening of the "verified" decision.
//!
//! A glitch that skips one instruction must not turn a failed check into a jump. As
//! MCUboot's `fault_injection_hardening` does, the outcome of verification is not a
//! `bool` but a pair of words with a known relation: a success is `(SUCCESS ^ tag,
//! !(SUCCESS ^ tag))` where `tag` binds it to one slot and header; anything else is a
//! failure. The pair is checked twice through [`core::hint::black_box`] so the compiler
//! cannot merge the checks, and a [`Proof`] can only be built by [`Proof::success`].

use core::hint::black_box;

const SUCCESS: u32 = 0x3CA5_965A;
const FAILURE: u32 = 0x0000_0000;

/// The redundant outcome of a verification, bound to `tag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Proof {
    word: u32,
    complement: u32,
}

impl Proof {
    /// A failed verification.
    pub const FAILED: Proof = Proof { word: FAILURE, complement: FAILURE };

    /// A successful verification of the image identified by `tag`.
    pub fn success(tag: u32) -> Proof {
        let word = black_box(SUCCESS ^ tag);
        Proof { word, complement: !word }
    }

    /// True only for a proof built by [`Proof::success`] with the same `tag`; evaluated
    /// twice, independently.
    pub fn holds(&self, tag: u32) -> bool {
        let expect = black_box(SUCCESS ^ tag);
        let first = black_box(self.word) == expect && black_box(self.complement) == !expect;
        let second =
            black_box(self.complement ^ self.word) == u32::MAX && black_box(self.word ^ SUCCESS) == black_box(tag);
        first & second
    }
}

/// A tag binding a proof to a slot and the first bytes of its image hash.
pub fn tag(slot_index: usize, image_hash: &[u8; 32]) -> u32 {
    let h = u32::from_le_bytes([image_hash[0], image_hash[1], image_hash[2], image_hash[3]]);
    h ^ (slot_index as u32).wrapping_mul(0x9E37_79B9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_matching_success_holds() {
        let p = Proof::success(42);
        assert!(p.holds(42));
        assert!(!p.holds(43));
        assert!(!Proof::FAILED.holds(42));
        assert!(!Proof::FAILED.holds(SUCCESS));
        // A single corrupted word (a glitched store) fails.
        assert!(!Proof { word: p.word, complement: p.complement ^ 1 }.holds(42));
        assert!(!Proof { word: p.word ^ 0x100, complement: p.complement }.holds(42));
    }
}
