//! The NOR flash rules, once: what may be programmed over what, how often, and which
//! ranges a read, program or erase may cover.
//!
//! Every backend that enforces NOR rules in software calls these functions: the simulator
//! ([`crate::sim`]), the agent's file backend, and the board drivers whose memory takes any
//! store (the QEMU boards and the size probe). Drivers over real flash controllers leave the
//! rules to the hardware, which enforces the same ones.
//!
//! # Geometry
//!
//! [`Geometry`] holds the read, write and erase sizes and the capacity. Its
//! [`check_read`](Geometry::check_read), [`check_write`](Geometry::check_write) and
//! [`check_erase`](Geometry::check_erase) are embedded-storage's
//! `nor_flash::check_read/check_write/check_erase` (which check the bounds) plus the
//! alignment to the sizes held at run time, in the same order: out of bounds first, then
//! not aligned. A driver whose geometry is its `NorFlash` constants may call
//! embedded-storage's helpers directly; the result is the same.
//!
//! # Program rules
//!
//! A *word* is one write-size unit. Erase sets every bit of a word to 1 (`0xFF` bytes) and
//! resets its write count to 0. A program of a word, checked by [`check_word`]:
//!
//! 1. must leave the word's write count within the [`WriteCount`] mode (checked first);
//! 2. may only clear bits: a 1 bit of the new data over a stored 0 is refused (1→0 only).
//!
//! A refused word refuses the whole program, and every backend checks all words before it
//! changes any, so a refused program changes nothing.
//!
//! ## A program of all `0xFF` counts as a write
//!
//! Programming a word with all-ones data changes no data bit, but it is still a write to
//! that word, and it counts towards the write limit. On ECC flash (STM32L4 double words)
//! the controller stores ECC bits with every program, all-ones data included, so
//! programming the word again sets `PROGERR` or corrupts its ECC; the nRF52840's limit of
//! two writes per word between erases counts writes, not changed bits. Counting it is the
//! strict choice: a sequence of programs that passes the rules passes every part. On flash
//! without a limit ([`WriteCount::Unlimited`]) the choice changes nothing.
//!
//! ## Who knows the write count
//!
//! The simulator tracks the count of every word exactly. A backend without per-word state
//! (a file, a memory window) sees only the contents, and passes [`writes_seen`]: 0 for a
//! word that reads erased, 1 otherwise. That is a lower bound on the true count (an
//! all-`0xFF` program leaves no trace), so such a backend accepts every program the
//! simulator accepts, and possibly more: for contents made by programs and erases, the
//! simulator is the strictest backend, and the power-cut campaigns run on it.

use core::fmt;

use embedded_storage::nor_flash::{self, ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};

/// The value of an erased byte.
pub const ERASED: u8 = 0xFF;

/// How many times a word may be programmed between two erases (after sequential-storage's
/// `WriteCountCheck`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WriteCount {
    /// Once: ECC flash such as the STM32L4's double words. The default, and the strictest.
    #[default]
    Once,
    /// Twice: the nRF52840 (NVMC, `n_WRITE` = 2 per word between erases).
    Twice,
    /// Any number of times; only the 1→0 rule applies (CFI NOR, RP2040's QSPI NOR).
    Unlimited,
}

impl WriteCount {
    /// The mode a layout's generated `WORD_WRITES` names: 1 once, 2 twice, anything else
    /// (0) unlimited.
    #[must_use]
    pub const fn from_word_writes(n: u32) -> Self {
        match n {
            1 => WriteCount::Once,
            2 => WriteCount::Twice,
            _ => WriteCount::Unlimited,
        }
    }

    /// The mode a layout's `program_once` flag names: [`WriteCount::Once`] or
    /// [`WriteCount::Unlimited`].
    #[must_use]
    pub const fn from_program_once(program_once: bool) -> Self {
        if program_once {
            WriteCount::Once
        } else {
            WriteCount::Unlimited
        }
    }

    /// The most programs a word may take between erases (`None`: no limit).
    #[must_use]
    pub const fn limit(self) -> Option<u8> {
        match self {
            WriteCount::Once => Some(1),
            WriteCount::Twice => Some(2),
            WriteCount::Unlimited => None,
        }
    }

    /// Whether a word already programmed `writes` times since its erase may be programmed
    /// once more.
    #[must_use]
    pub const fn allows(self, writes: u8) -> bool {
        match self.limit() {
            Some(limit) => writes < limit,
            None => true,
        }
    }
}

/// Why a program of a word is refused. The word is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProgramError {
    /// The word has taken as many programs as its [`WriteCount`] allows since its erase.
    WriteLimit,
    /// The new data has a 1 bit over a stored 0 bit (only an erase sets bits).
    SetsBits,
    /// The old and new words differ in length (a caller bug).
    Length,
}

impl fmt::Display for ProgramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProgramError::WriteLimit => "word already programmed as often as the flash allows since its erase",
            ProgramError::SetsBits => "program would turn a 0 bit into 1",
            ProgramError::Length => "old and new word differ in length",
        })
    }
}

impl core::error::Error for ProgramError {}

/// Checks one program of one word; returns the word's write count after it.
///
/// `writes` is how often the word was programmed since its last erase, as far as the
/// backend knows (see the [module docs](self): [`writes_seen`] for a backend without
/// per-word state). `old` is the stored word, `new` the data; all-`0xFF` data counts as a
/// write like any other. The write limit is checked before the bits.
///
/// # Errors
/// [`ProgramError::WriteLimit`], [`ProgramError::SetsBits`], or [`ProgramError::Length`]
/// if `old` and `new` differ in length.
pub fn check_word(mode: WriteCount, writes: u8, old: &[u8], new: &[u8]) -> Result<u8, ProgramError> {
    if old.len() != new.len() {
        return Err(ProgramError::Length);
    }
    if !mode.allows(writes) {
        return Err(ProgramError::WriteLimit);
    }
    if sets_bits(old, new) {
        return Err(ProgramError::SetsBits);
    }
    Ok(writes.saturating_add(1))
}

/// Whether programming `new` over `old` would turn a 0 bit into 1 (byte by byte, over the
/// shorter of the two).
#[must_use]
pub fn sets_bits(old: &[u8], new: &[u8]) -> bool {
    old.iter().zip(new).any(|(&o, &n)| n & !o != 0)
}

/// The write count a backend without per-word state can see in a stored word: 0 if it
/// reads erased (all `0xFF`), else 1. A lower bound on the true count.
#[must_use]
pub fn writes_seen(word: &[u8]) -> u8 {
    u8::from(word.iter().any(|&b| b != ERASED))
}

/// Checks a program of `new` over `old` (the same range, `write_size`-aligned, already
/// checked by [`Geometry::check_write`] or embedded-storage's `check_write`) for a backend
/// without per-word state: each word's count is [`writes_seen`].
///
/// # Errors
/// The byte index (into `new`) of the first refused word, and why.
pub fn check_program_seen(
    mode: WriteCount,
    write_size: usize,
    old: &[u8],
    new: &[u8],
) -> Result<(), (usize, ProgramError)> {
    if old.len() != new.len() || write_size == 0 {
        return Err((0, ProgramError::Length));
    }
    let mut at = 0usize;
    for (o, n) in old.chunks(write_size).zip(new.chunks(write_size)) {
        check_word(mode, writes_seen(o), o, n).map_err(|e| (at, e))?;
        at = at.saturating_add(write_size);
    }
    Ok(())
}

/// A flash's geometry: read, write and erase sizes and capacity, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Geometry {
    /// Read granularity.
    pub read_size: usize,
    /// Program granularity (a word).
    pub write_size: usize,
    /// Erase granularity (a sector).
    pub erase_size: usize,
    /// Size of the device.
    pub capacity: usize,
}

impl Geometry {
    /// The geometry `flash` reports through its `NorFlash` constants and `capacity()`.
    pub fn of<F: NorFlash>(flash: &F) -> Self {
        Geometry {
            read_size: F::READ_SIZE,
            write_size: F::WRITE_SIZE,
            erase_size: F::ERASE_SIZE,
            capacity: flash.capacity(),
        }
    }

    /// Whether the sizes are consistent: all non-zero, the erase size a multiple of the
    /// write size, and the capacity a multiple of the erase size.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.read_size > 0
            && self.write_size > 0
            && self.erase_size > 0
            && self.erase_size.is_multiple_of(self.write_size)
            && self.capacity.is_multiple_of(self.erase_size)
    }

    /// Number of words in `len` bytes (rounded down; 0 for a zero write size).
    #[must_use]
    pub fn words(&self, len: usize) -> usize {
        len.checked_div(self.write_size).unwrap_or(0)
    }

    /// Checks a read of `len` bytes at `offset`: embedded-storage's `check_read`.
    ///
    /// # Errors
    /// `OutOfBounds`, then `NotAligned` to the read size.
    pub fn check_read(&self, offset: u32, len: usize) -> Result<(), NorFlashErrorKind> {
        nor_flash::check_read(&Bounds(self.capacity), offset, len)?;
        aligned(self.read_size, offset, len)
    }

    /// Checks a program of `len` bytes at `offset`: embedded-storage's `check_write`.
    ///
    /// # Errors
    /// `OutOfBounds`, then `NotAligned` to the write size.
    pub fn check_write(&self, offset: u32, len: usize) -> Result<(), NorFlashErrorKind> {
        nor_flash::check_write(&Bounds(self.capacity), offset, len)?;
        aligned(self.write_size, offset, len)
    }

    /// Checks an erase of `from..to`: embedded-storage's `check_erase`.
    ///
    /// # Errors
    /// `OutOfBounds` (also for `from > to`), then `NotAligned` to the erase size.
    pub fn check_erase(&self, from: u32, to: u32) -> Result<(), NorFlashErrorKind> {
        nor_flash::check_erase(&Bounds(self.capacity), from, to)?;
        let len = usize::try_from(to.saturating_sub(from)).map_err(|_| NorFlashErrorKind::OutOfBounds)?;
        aligned(self.erase_size, from, len)
    }
}

/// `NotAligned` unless `offset` and `len` are multiples of `align` (a zero `align` only
/// accepts zeros).
fn aligned(align: usize, offset: u32, len: usize) -> Result<(), NorFlashErrorKind> {
    let offset = usize::try_from(offset).map_err(|_| NorFlashErrorKind::OutOfBounds)?;
    if offset.is_multiple_of(align) && len.is_multiple_of(align) {
        Ok(())
    } else {
        Err(NorFlashErrorKind::NotAligned)
    }
}

/// A capacity seen as a flash with 1-byte read, write and erase sizes, so that
/// embedded-storage's `check_*` helpers check its bounds; it never reads or writes.
struct Bounds(usize);

impl ErrorType for Bounds {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for Bounds {
    const READ_SIZE: usize = 1;

    fn read(&mut self, _offset: u32, _bytes: &mut [u8]) -> Result<(), NorFlashErrorKind> {
        Err(NorFlashErrorKind::Other)
    }

    fn capacity(&self) -> usize {
        self.0
    }
}

impl NorFlash for Bounds {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 1;

    fn erase(&mut self, _from: u32, _to: u32) -> Result<(), NorFlashErrorKind> {
        Err(NorFlashErrorKind::Other)
    }

    fn write(&mut self, _offset: u32, _bytes: &[u8]) -> Result<(), NorFlashErrorKind> {
        Err(NorFlashErrorKind::Other)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn once_allows_one_program_per_erase() {
        let fresh = [ERASED; 4];
        let w = check_word(WriteCount::Once, 0, &fresh, &[0x12, 0x34, 0x56, 0x78]).unwrap();
        assert_eq!(w, 1);
        // Even data that only clears more bits is refused: the word was programmed.
        assert_eq!(check_word(WriteCount::Once, w, &[0x12, 0x34, 0x56, 0x78], &[0; 4]), Err(ProgramError::WriteLimit));
    }

    #[test]
    fn twice_allows_exactly_two_programs() {
        let w1 = check_word(WriteCount::Twice, 0, &[ERASED; 4], &[0xF0; 4]).unwrap();
        let w2 = check_word(WriteCount::Twice, w1, &[0xF0; 4], &[0x30; 4]).unwrap();
        assert_eq!((w1, w2), (1, 2));
        assert_eq!(check_word(WriteCount::Twice, w2, &[0x30; 4], &[0x00; 4]), Err(ProgramError::WriteLimit));
    }

    #[test]
    fn unlimited_only_checks_bits() {
        let mut w = 0;
        let mut old = [ERASED; 2];
        for step in 0..300u32 {
            let new = [old[0] & !(1 << (step % 8)) as u8, old[1]];
            w = check_word(WriteCount::Unlimited, w, &old, &new).unwrap();
            old = new;
        }
        assert_eq!(w, u8::MAX, "the count saturates instead of wrapping");
        assert_eq!(check_word(WriteCount::Unlimited, w, &[0x0F, 0xFF], &[0x1F, 0xFF]), Err(ProgramError::SetsBits));
    }

    #[test]
    fn zero_to_one_is_refused_in_every_mode() {
        for mode in [WriteCount::Once, WriteCount::Twice, WriteCount::Unlimited] {
            // A stored 0 under a new 1, on a word the mode would still accept.
            assert_eq!(check_word(mode, 0, &[0xFF, 0xFE], &[0xFF, 0xFF]), Err(ProgramError::SetsBits), "{mode:?}");
            assert_eq!(check_word(mode, 0, &[0x00], &[0x80]), Err(ProgramError::SetsBits), "{mode:?}");
            // Keeping or clearing bits is fine.
            assert_eq!(check_word(mode, 0, &[0xF0], &[0xF0]), Ok(1));
            assert_eq!(check_word(mode, 0, &[0xF0], &[0x10]), Ok(1));
        }
    }

    #[test]
    fn the_write_limit_is_checked_before_the_bits() {
        assert_eq!(check_word(WriteCount::Once, 1, &[0x00], &[0xFF]), Err(ProgramError::WriteLimit));
    }

    #[test]
    fn an_all_ff_program_counts_as_a_write() {
        let w = check_word(WriteCount::Once, 0, &[ERASED; 8], &[ERASED; 8]).unwrap();
        assert_eq!(w, 1);
        assert_eq!(check_word(WriteCount::Once, w, &[ERASED; 8], &[0; 8]), Err(ProgramError::WriteLimit));
        let w = check_word(WriteCount::Twice, 0, &[ERASED; 8], &[ERASED; 8]).unwrap();
        let w = check_word(WriteCount::Twice, w, &[ERASED; 8], &[ERASED; 8]).unwrap();
        assert_eq!(check_word(WriteCount::Twice, w, &[ERASED; 8], &[0; 8]), Err(ProgramError::WriteLimit));
    }

    #[test]
    fn mismatched_lengths_are_refused() {
        assert_eq!(check_word(WriteCount::Unlimited, 0, &[ERASED; 4], &[0; 3]), Err(ProgramError::Length));
        assert_eq!(check_program_seen(WriteCount::Once, 4, &[ERASED; 8], &[0; 4]), Err((0, ProgramError::Length)));
        assert_eq!(check_program_seen(WriteCount::Once, 0, &[], &[]), Err((0, ProgramError::Length)));
    }

    #[test]
    fn writes_seen_is_zero_only_for_erased_words() {
        assert_eq!(writes_seen(&[ERASED; 8]), 0);
        assert_eq!(writes_seen(&[]), 0);
        assert_eq!(writes_seen(&[ERASED, ERASED, 0xFE, ERASED]), 1);
        assert_eq!(writes_seen(&[0; 4]), 1);
    }

    #[test]
    fn check_program_seen_names_the_first_refused_word() {
        let old = [ERASED, ERASED, ERASED, ERASED, 0x7F, ERASED, ERASED, ERASED];
        assert_eq!(check_program_seen(WriteCount::Once, 4, &old, &[0; 8]), Err((4, ProgramError::WriteLimit)));
        assert_eq!(check_program_seen(WriteCount::Twice, 4, &old, &[0; 8]), Ok(()));
        assert_eq!(check_program_seen(WriteCount::Twice, 4, &old, &[0xFF; 8]), Err((4, ProgramError::SetsBits)));
        assert_eq!(check_program_seen(WriteCount::Once, 4, &old[..4], &[0; 4]), Ok(()));
    }

    #[test]
    fn modes_and_limits() {
        assert_eq!(WriteCount::default(), WriteCount::Once);
        assert_eq!(WriteCount::from_program_once(true), WriteCount::Once);
        assert_eq!(WriteCount::from_program_once(false), WriteCount::Unlimited);
        assert_eq!(
            [WriteCount::Once, WriteCount::Twice, WriteCount::Unlimited].map(WriteCount::limit),
            [Some(1), Some(2), None]
        );
        assert!(WriteCount::Unlimited.allows(u8::MAX));
        assert!(!WriteCount::Twice.allows(u8::MAX));
    }

    /// A flash whose constants are the geometry, to compare with embedded-storage's helpers.
    struct Consts<const R: usize, const W: usize, const E: usize>(usize);

    impl<const R: usize, const W: usize, const E: usize> ErrorType for Consts<R, W, E> {
        type Error = NorFlashErrorKind;
    }

    impl<const R: usize, const W: usize, const E: usize> ReadNorFlash for Consts<R, W, E> {
        const READ_SIZE: usize = R;
        fn read(&mut self, _: u32, _: &mut [u8]) -> Result<(), NorFlashErrorKind> {
            Ok(())
        }
        fn capacity(&self) -> usize {
            self.0
        }
    }

    impl<const R: usize, const W: usize, const E: usize> NorFlash for Consts<R, W, E> {
        const WRITE_SIZE: usize = W;
        const ERASE_SIZE: usize = E;
        fn erase(&mut self, _: u32, _: u32) -> Result<(), NorFlashErrorKind> {
            Ok(())
        }
        fn write(&mut self, _: u32, _: &[u8]) -> Result<(), NorFlashErrorKind> {
            Ok(())
        }
    }

    #[test]
    fn geometry_checks_agree_with_embedded_storage() {
        let flash = Consts::<2, 8, 64>(256);
        let g = Geometry::of(&flash);
        assert_eq!(g, Geometry { read_size: 2, write_size: 8, erase_size: 64, capacity: 256 });
        assert!(g.is_valid());
        let points = [0u32, 1, 2, 4, 7, 8, 16, 63, 64, 128, 192, 248, 255, 256, 257, 320, u32::MAX - 7, u32::MAX];
        for &a in &points {
            for len in [0usize, 1, 2, 6, 8, 16, 64, 128, 256, 257, usize::MAX] {
                assert_eq!(g.check_read(a, len), nor_flash::check_read(&flash, a, len), "read {a} {len}");
                assert_eq!(g.check_write(a, len), nor_flash::check_write(&flash, a, len), "write {a} {len}");
            }
            for &b in &points {
                assert_eq!(g.check_erase(a, b), nor_flash::check_erase(&flash, a, b), "erase {a} {b}");
            }
        }
    }

    #[test]
    fn geometry_alignment_and_bounds() {
        let g = Geometry { read_size: 1, write_size: 4, erase_size: 16, capacity: 64 };
        assert_eq!(g.check_write(4, 8), Ok(()));
        assert_eq!(g.check_write(2, 4), Err(NorFlashErrorKind::NotAligned));
        assert_eq!(g.check_write(4, 6), Err(NorFlashErrorKind::NotAligned));
        // Bounds are reported before alignment.
        assert_eq!(g.check_write(62, 4), Err(NorFlashErrorKind::OutOfBounds));
        assert_eq!(g.check_erase(16, 48), Ok(()));
        assert_eq!(g.check_erase(16, 40), Err(NorFlashErrorKind::NotAligned));
        assert_eq!(g.check_erase(32, 16), Err(NorFlashErrorKind::OutOfBounds));
        assert_eq!(g.check_erase(0, 80), Err(NorFlashErrorKind::OutOfBounds));
        assert_eq!(g.words(12), 3);
        // A zero-sized geometry is invalid, and its checks refuse without dividing by zero.
        let z = Geometry { read_size: 1, write_size: 0, erase_size: 0, capacity: 64 };
        assert!(!z.is_valid());
        assert_eq!(z.check_write(4, 4), Err(NorFlashErrorKind::NotAligned));
        assert_eq!(z.check_erase(0, 16), Err(NorFlashErrorKind::NotAligned));
        assert_eq!(z.words(8), 0);
        assert!(!Geometry { read_size: 1, write_size: 8, erase_size: 12, capacity: 48 }.is_valid());
        assert!(!Geometry { read_size: 1, write_size: 4, erase_size: 16, capacity: 40 }.is_valid());
    }
}
