//! Image versions: `major.minor.revision+build`, compared in that order.

use core::fmt;

/// A semver-like image version (as MCUboot's `image_version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Version {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Revision (patch).
    pub revision: u16,
    /// Build number.
    pub build: u32,
}

impl Version {
    /// Encoded size in bytes.
    pub const LEN: usize = 8;

    /// Little-endian encoding: major, minor, revision (u16), build (u32).
    pub fn to_bytes(self) -> [u8; 8] {
        let r = self.revision.to_le_bytes();
        let b = self.build.to_le_bytes();
        [self.major, self.minor, r[0], r[1], b[0], b[1], b[2], b[3]]
    }

    /// Inverse of [`Version::to_bytes`].
    pub fn from_bytes(b: [u8; 8]) -> Version {
        Version {
            major: b[0],
            minor: b[1],
            revision: u16::from_le_bytes([b[2], b[3]]),
            build: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Parses `1.2.3` or `1.2.3+45`.
    pub fn parse(s: &str) -> Option<Version> {
        let (main, build) = match s.split_once('+') {
            Some((m, b)) => (m, b.parse().ok()?),
            None => (s, 0),
        };
        let mut it = main.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next().map_or(Some(0), |x| x.parse().ok())?;
        let revision = it.next().map_or(Some(0), |x| x.parse().ok())?;
        if it.next().is_some() {
            return None;
        }
        Some(Version { major, minor, revision, build })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.revision)?;
        if self.build != 0 {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        let v = Version::parse("1.2.3+4").unwrap();
        assert_eq!(v, Version { major: 1, minor: 2, revision: 3, build: 4 });
        assert_eq!(Version::from_bytes(v.to_bytes()), v);
        assert!(Version::parse("1.2.3.4").is_none());
        assert!(Version::parse("x").is_none());
        assert!(Version::parse("2").unwrap() > v);
        assert_eq!(std::format!("{v}"), "1.2.3+4");
    }
}
