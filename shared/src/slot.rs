//! Validated small types: slot ids, priorities and tries.
//!
//! The record stores them as bytes; these types make out-of-range values
//! unrepresentable once decoded.

use core::fmt;

/// The most slots a record describes.
pub const MAX_SLOTS: usize = 4;

/// One of up to four slots. Slot `A` is index 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SlotId {
    /// Slot A (index 0).
    A,
    /// Slot B (index 1).
    B,
    /// Slot C (index 2).
    C,
    /// Slot D (index 3).
    D,
}

impl SlotId {
    /// All slot ids in index order.
    pub const ALL: [SlotId; MAX_SLOTS] = [SlotId::A, SlotId::B, SlotId::C, SlotId::D];

    /// The slot with this index, if it is below [`MAX_SLOTS`].
    pub const fn from_index(i: u8) -> Option<SlotId> {
        match i {
            0 => Some(SlotId::A),
            1 => Some(SlotId::B),
            2 => Some(SlotId::C),
            3 => Some(SlotId::D),
            _ => None,
        }
    }

    /// The slot's index (A = 0).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The slot's lowercase letter, as used in layout files and on the command line.
    pub const fn letter(self) -> char {
        match self {
            SlotId::A => 'a',
            SlotId::B => 'b',
            SlotId::C => 'c',
            SlotId::D => 'd',
        }
    }

    /// Parses `a`..`d` or `A`..`D`.
    pub fn from_letter(c: char) -> Option<SlotId> {
        match c.to_ascii_lowercase() {
            'a' => Some(SlotId::A),
            'b' => Some(SlotId::B),
            'c' => Some(SlotId::C),
            'd' => Some(SlotId::D),
            _ => None,
        }
    }
}

impl fmt::Display for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.letter().to_ascii_uppercase())
    }
}

/// Boot priority, 0..=15; 0 means the slot is disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Priority(u8);

impl Priority {
    /// Disabled: never chosen by priority.
    pub const DISABLED: Priority = Priority(0);
    /// The highest priority, given to a freshly activated slot.
    pub const MAX: Priority = Priority(15);

    /// `Some` for 0..=15.
    pub const fn new(p: u8) -> Option<Priority> {
        if p <= 15 {
            Some(Priority(p))
        } else {
            None
        }
    }

    /// The raw value.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// One lower, saturating at 1 (a lowered slot stays enabled).
    pub const fn lowered(self) -> Priority {
        if self.0 > 1 {
            Priority(self.0.saturating_sub(1))
        } else {
            self
        }
    }
}

/// Boot attempts left for an unconfirmed slot, 0..=15.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tries(u8);

impl Tries {
    /// No attempts left.
    pub const ZERO: Tries = Tries(0);
    /// The most attempts a record can hold.
    pub const MAX: Tries = Tries(15);
    /// The default for a freshly activated slot.
    pub const DEFAULT: Tries = Tries(3);

    /// `Some` for 0..=15.
    pub const fn new(t: u8) -> Option<Tries> {
        if t <= 15 {
            Some(Tries(t))
        } else {
            None
        }
    }

    /// The raw value.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// One fewer, saturating at zero: tries never underflow.
    pub const fn decremented(self) -> Tries {
        Tries(self.0.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(Priority::new(16).is_none());
        assert!(Tries::new(16).is_none());
        assert_eq!(Tries::ZERO.decremented(), Tries::ZERO);
        assert_eq!(Priority::new(1).map(Priority::lowered), Priority::new(1));
        for (i, s) in SlotId::ALL.iter().enumerate() {
            assert_eq!(SlotId::from_index(i as u8), Some(*s));
            assert_eq!(SlotId::from_letter(s.letter()), Some(*s));
        }
        assert_eq!(SlotId::from_index(4), None);
    }
}
