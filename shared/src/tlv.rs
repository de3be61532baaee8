//! The protected TLV area of a format-2 slot header: signed metadata.
//!
//! `docs/FORMAT.md`, "Protected TLVs". The area follows the fixed header (at byte
//! [`crate::header::HEADER_LEN`]) and the signature covers it together with the fixed
//! signed bytes, so nothing in it can be changed without the signing key. Entries are
//! `tag (u8), length (u8), value`, packed, with tags strictly ascending (each tag at most
//! once, one canonical encoding). A tag with bit 7 clear is **critical**: a reader that does
//! not know it refuses the image, because the tag may restrict where or when the image
//! runs. A tag with bit 7 set is informational and skipped when unknown.
//!
//! Parsing is total and bounded (at most [`MAX_TLV_LEN`] / 2 entries); the same walk
//! validates the area when the header is decoded and answers the accessors afterwards.

use crate::error::DecodeError;
use crate::version::Version;

/// Largest protected TLV area (so that the boot stage's header buffer is bounded).
pub const MAX_TLV_LEN: usize = 256;

/// The tags this code knows.
pub mod tag {
    /// Critical: the product/hardware this image is built for (1..=[`super::MAX_COMPATIBLE`]
    /// printable ASCII bytes); a board whose layout names another one refuses it.
    pub const COMPATIBLE: u8 = 0x01;
    /// Critical: once this image is confirmed, keys with an index below this value
    /// (1 byte, ≥ 1) are revoked on the device.
    pub const REVOKE_BELOW: u8 = 0x02;
    /// Critical: this image boots on trial only over a confirmed image of at least this
    /// version (8-byte version).
    pub const REQUIRES_VERSION: u8 = 0x03;
    /// Informational: a 32-byte digest of the build's metadata (an SBOM or build-info file).
    pub const BUILD_DIGEST: u8 = 0x81;
    /// Bit 7: an informational tag (skipped when unknown).
    pub const INFORMATIONAL: u8 = 0x80;
}

/// Longest compatible identifier.
pub const MAX_COMPATIBLE: usize = 64;

/// One entry of the area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag.
    pub tag: u8,
    /// The value bytes.
    pub value: &'a [u8],
}

impl Tlv<'_> {
    /// Whether a reader that does not know the tag must refuse the image.
    pub const fn is_critical(&self) -> bool {
        self.tag & tag::INFORMATIONAL == 0
    }

    /// Whether this code knows the tag.
    pub const fn is_known(&self) -> bool {
        matches!(self.tag, tag::COMPATIBLE | tag::REVOKE_BELOW | tag::REQUIRES_VERSION | tag::BUILD_DIGEST)
    }
}

/// The entries of an area, in order; an `Err` ends the walk (the area is invalid).
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    rest: &'a [u8],
    last: Option<u8>,
    failed: bool,
}

/// Walks the TLV area `area` (its exact bytes, no padding).
pub fn entries(area: &[u8]) -> Entries<'_> {
    Entries { rest: area, last: None, failed: false }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Tlv<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r = self.entry();
        self.failed = r.is_err();
        Some(r)
    }
}

impl<'a> Entries<'a> {
    fn entry(&mut self) -> Result<Tlv<'a>, DecodeError> {
        let (&t, rest) = self.rest.split_first().ok_or(DecodeError::Length)?;
        let (&len, rest) = rest.split_first().ok_or(DecodeError::Field("tlv length"))?;
        let value = rest.get(..usize::from(len)).ok_or(DecodeError::Field("tlv length"))?;
        self.rest = rest.get(usize::from(len)..).unwrap_or(&[]);
        // Tags 0x00, 0x80 and 0xFF are never used (0xFF: erased flash).
        if t & !tag::INFORMATIONAL == 0 || t == 0xFF {
            return Err(DecodeError::Field("tlv tag"));
        }
        if self.last.is_some_and(|l| l >= t) {
            return Err(DecodeError::Field("tlv order"));
        }
        self.last = Some(t);
        let ok = match t {
            tag::COMPATIBLE => {
                !value.is_empty() && value.len() <= MAX_COMPATIBLE && value.iter().all(|b| (0x21..=0x7E).contains(b))
            }
            tag::REVOKE_BELOW => value.len() == 1 && value.first() != Some(&0),
            tag::REQUIRES_VERSION => value.len() == Version::LEN,
            tag::BUILD_DIGEST => value.len() == 32,
            // An unknown critical tag: the image may restrict something this code cannot check.
            t if t & tag::INFORMATIONAL == 0 => false,
            _ => true,
        };
        if !ok {
            return Err(DecodeError::Field("tlv value"));
        }
        Ok(Tlv { tag: t, value })
    }
}

/// A protected TLV area, as stored (zero after `len`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tlvs {
    len: u16,
    bytes: [u8; MAX_TLV_LEN],
}

impl Default for Tlvs {
    fn default() -> Self {
        Tlvs::EMPTY
    }
}

impl Tlvs {
    /// No entries (a format-1 header).
    pub const EMPTY: Tlvs = Tlvs { len: 0, bytes: [0; MAX_TLV_LEN] };

    /// The area from its bytes: checked entry by entry ([`entries`]).
    ///
    /// # Errors
    ///
    /// Longer than [`MAX_TLV_LEN`], or an entry that does not decode.
    pub fn from_bytes(area: &[u8]) -> Result<Tlvs, DecodeError> {
        if area.len() > MAX_TLV_LEN {
            return Err(DecodeError::Field("tlv_len"));
        }
        for e in entries(area) {
            e?;
        }
        let mut t = Tlvs::EMPTY;
        t.bytes.get_mut(..area.len()).ok_or(DecodeError::Length)?.copy_from_slice(area);
        t.len = area.len() as u16;
        Ok(t)
    }

    /// The stored bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Length of the area in bytes.
    pub const fn len(&self) -> u16 {
        self.len
    }

    /// Whether there are no entries.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of `t`, if present (the area was checked when it was built).
    pub fn get(&self, t: u8) -> Option<&[u8]> {
        entries(self.as_bytes()).flatten().find(|e| e.tag == t).map(|e| e.value)
    }

    /// The compatible identifier, if the image names one.
    pub fn compatible(&self) -> Option<&[u8]> {
        self.get(tag::COMPATIBLE)
    }

    /// Keys with an index below this are revoked once the image is confirmed (0: none).
    pub fn revoke_below(&self) -> u8 {
        self.get(tag::REVOKE_BELOW).and_then(|v| v.first().copied()).unwrap_or(0)
    }

    /// The lowest confirmed version this image may be tried over, if it names one.
    pub fn requires_version(&self) -> Option<Version> {
        let v: [u8; 8] = self.get(tag::REQUIRES_VERSION)?.try_into().ok()?;
        Some(Version::from_bytes(v))
    }

    /// Appends an entry (host tools build areas with this; tags must come in ascending
    /// order).
    ///
    /// # Errors
    ///
    /// The area would be too long, or the entry would not decode.
    pub fn push(&mut self, t: u8, value: &[u8]) -> Result<(), DecodeError> {
        let at = usize::from(self.len);
        let len = u8::try_from(value.len()).map_err(|_| DecodeError::Field("tlv length"))?;
        let end = at.checked_add(2).and_then(|a| a.checked_add(value.len())).ok_or(DecodeError::Field("tlv_len"))?;
        let mut next = *self;
        let dst = next.bytes.get_mut(at..end).ok_or(DecodeError::Field("tlv_len"))?;
        let (head, rest) = dst.split_at_mut(2);
        head.copy_from_slice(&[t, len]);
        rest.copy_from_slice(value);
        let checked = Tlvs::from_bytes(next.bytes.get(..end).ok_or(DecodeError::Length)?)?;
        *self = checked;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_in_order_round_trip() {
        let mut t = Tlvs::EMPTY;
        t.push(tag::COMPATIBLE, b"acme,widget-2").unwrap();
        t.push(tag::REVOKE_BELOW, &[1]).unwrap();
        t.push(tag::REQUIRES_VERSION, &Version { major: 2, minor: 0, revision: 0, build: 0 }.to_bytes()).unwrap();
        t.push(tag::BUILD_DIGEST, &[9; 32]).unwrap();
        assert_eq!(Tlvs::from_bytes(t.as_bytes()), Ok(t));
        assert_eq!(t.compatible(), Some(&b"acme,widget-2"[..]));
        assert_eq!(t.revoke_below(), 1);
        assert_eq!(t.requires_version().map(|v| v.major), Some(2));
        assert_eq!(Tlvs::EMPTY.revoke_below(), 0);
        assert_eq!(Tlvs::EMPTY.compatible(), None);
    }

    #[test]
    fn refuses_what_is_not_canonical_or_not_understood() {
        let bad: &[&[u8]] = &[
            &[0x01],                      // no length
            &[0x01, 3, b'a'],             // value runs past the end
            &[0x02, 1, 1, 0x01, 1, b'a'], // descending tags
            &[0x02, 1, 1, 0x02, 1, 2],    // a tag twice
            &[0x02, 1, 0],                // revoke-below 0
            &[0x02, 2, 1, 0],             // wrong length
            &[0x01, 0],                   // empty compatible
            &[0x01, 2, b'a', b' '],       // a space in compatible
            &[0x04, 0],                   // unknown critical tag
            &[0x00, 0],                   // reserved tag
            &[0xFF, 0],                   // erased
            &[0x81, 31, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ];
        for b in bad {
            assert!(Tlvs::from_bytes(b).is_err(), "{b:02x?}");
        }
        // An unknown informational tag is skipped.
        let t = Tlvs::from_bytes(&[0x01, 1, b'x', 0x90, 2, 7, 7]).unwrap();
        assert_eq!(t.compatible(), Some(&b"x"[..]));
        assert!(Tlvs::from_bytes(&[0u8; MAX_TLV_LEN + 1]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsing_is_total(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(t) = Tlvs::from_bytes(&b) {
                proptest::prop_assert_eq!(t.as_bytes(), &b[..]);
                let _ = (t.compatible(), t.revoke_below(), t.requires_version());
            }
        }
    }
}
