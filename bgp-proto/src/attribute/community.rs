//! Communities: RFC 1997, RFC 4360 extended, RFC 8092 large.

use std::fmt;
use std::str::FromStr;

/// An RFC 1997 community, shown as `ASN:VALUE` (`65001:10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT (RFC 1997): not outside the AS / confederation.
    pub const NO_EXPORT: Self = Self(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997): to no other peer. Azure Route Server keeps
    /// such routes from the ExpressRoute and VPN gateways.
    pub const NO_ADVERTISE: Self = Self(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Self = Self(0xFFFF_FF03);
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Self = Self(0xFFFF_0000);
    /// BLACKHOLE (RFC 7999).
    pub const BLACKHOLE: Self = Self(0xFFFF_029A);

    /// A community from its two halves.
    pub const fn new(asn: u16, value: u16) -> Self {
        Self(((asn as u32) << 16) | value as u32)
    }

    /// The high half (by convention an ASN).
    pub const fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The low half.
    pub const fn value(self) -> u16 {
        self.0 as u16
    }

    /// The RFC name of a well-known community.
    pub const fn well_known_name(self) -> Option<&'static str> {
        Some(match self {
            Self::NO_EXPORT => "no-export",
            Self::NO_ADVERTISE => "no-advertise",
            Self::NO_EXPORT_SUBCONFED => "no-export-subconfed",
            Self::GRACEFUL_SHUTDOWN => "graceful-shutdown",
            Self::BLACKHOLE => "blackhole",
            _ => return None,
        })
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.asn(), self.value())
    }
}

/// Why a community string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {0}")]
pub struct CommunityParseError(&'static str);

impl FromStr for Community {
    type Err = CommunityParseError;

    /// `65001:10`, or a well-known name (`no-export`, `no-advertise`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "ASN:VALUE with each half in 0..=65535 (e.g. 65001:10), or no-export, no-advertise, no-export-subconfed, graceful-shutdown, blackhole";
        for c in [
            Self::NO_EXPORT,
            Self::NO_ADVERTISE,
            Self::NO_EXPORT_SUBCONFED,
            Self::GRACEFUL_SHUTDOWN,
            Self::BLACKHOLE,
        ] {
            if c.well_known_name()
                .is_some_and(|n| n.eq_ignore_ascii_case(s))
            {
                return Ok(c);
            }
        }
        let (a, v) = s.split_once(':').ok_or(CommunityParseError(WHAT))?;
        let a = a.trim().parse().map_err(|_| CommunityParseError(WHAT))?;
        let v = v.trim().parse().map_err(|_| CommunityParseError(WHAT))?;
        Ok(Self::new(a, v))
    }
}

/// An RFC 8092 large community, shown as `GLOBAL:LOCAL1:LOCAL2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global administrator (an ASN).
    pub global_admin: u32,
    /// First local data part.
    pub local_data1: u32,
    /// Second local data part.
    pub local_data2: u32,
}

impl LargeCommunity {
    /// A large community from its three parts.
    pub const fn new(global_admin: u32, local_data1: u32, local_data2: u32) -> Self {
        Self {
            global_admin,
            local_data1,
            local_data2,
        }
    }

    /// Decodes 12 bytes.
    pub fn from_bytes(b: [u8; 12]) -> Self {
        let w = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Self::new(w(0), w(4), w(8))
    }

    /// The 12 wire bytes.
    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.global_admin.to_be_bytes());
        b[4..8].copy_from_slice(&self.local_data1.to_be_bytes());
        b[8..].copy_from_slice(&self.local_data2.to_be_bytes());
        b
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.global_admin, self.local_data1, self.local_data2
        )
    }
}

impl FromStr for LargeCommunity {
    type Err = CommunityParseError;

    /// `65001:1:2`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "GLOBAL:LOCAL1:LOCAL2, three numbers in 0..=4294967295 (e.g. 65001:1:2)";
        let mut it = s.split(':').map(|p| p.trim().parse::<u32>());
        match (it.next(), it.next(), it.next(), it.next()) {
            (Some(Ok(a)), Some(Ok(b)), Some(Ok(c)), None) => Ok(Self::new(a, b, c)),
            _ => Err(CommunityParseError(WHAT)),
        }
    }
}

/// An RFC 4360 extended community: 8 bytes, type and sub-type first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtendedCommunity(pub [u8; 8]);

impl ExtendedCommunity {
    /// The type octet (high-order octet of the type field).
    pub const fn type_high(self) -> u8 {
        self.0[0]
    }

    /// The sub-type octet.
    pub const fn subtype(self) -> u8 {
        self.0[1]
    }

    /// True when the community may be passed to other ASes (the
    /// Transitive bit of the type is 0, RFC 4360 §2).
    pub const fn is_transitive(self) -> bool {
        self.0[0] & 0x40 == 0
    }

    /// Route target `ASN:N` with a 2-octet ASN (type 0x00, sub-type 0x02).
    pub fn route_target(asn: u16, value: u32) -> Self {
        let mut b = [0u8; 8];
        b[1] = 0x02;
        b[2..4].copy_from_slice(&asn.to_be_bytes());
        b[4..].copy_from_slice(&value.to_be_bytes());
        Self(b)
    }
}

impl fmt::Display for ExtendedCommunity {
    /// Route target / origin with 2- or 4-octet ASN or IPv4 as
    /// `rt:A:B` / `soo:A:B`, anything else as hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        let kind = match b[1] {
            0x02 => "rt",
            0x03 => "soo",
            _ => "",
        };
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        match (b[0] & 0x3f, kind.is_empty()) {
            (0x00, false) => write!(f, "{kind}:{}:{}", u16_at(2), u32_at(4)),
            (0x01, false) => write!(
                f,
                "{kind}:{}:{}",
                std::net::Ipv4Addr::new(b[2], b[3], b[4], b[5]),
                u16_at(6)
            ),
            (0x02, false) => write!(f, "{kind}:{}:{}", u32_at(2), u16_at(6)),
            _ => {
                f.write_str("0x")?;
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_communities() {
        let c: Community = "65001:10".parse().unwrap();
        assert_eq!(c, Community::new(65001, 10));
        assert_eq!(c.to_string(), "65001:10");
        assert_eq!(
            "no-export".parse::<Community>().unwrap(),
            Community::NO_EXPORT
        );
        assert_eq!(Community::NO_ADVERTISE.to_string(), "65535:65282");
        assert!("65536:1".parse::<Community>().is_err());
        assert!("1".parse::<Community>().is_err());
    }

    #[test]
    fn large_communities() {
        let l: LargeCommunity = "4200000010:1:2".parse().unwrap();
        assert_eq!(l.to_string(), "4200000010:1:2");
        assert_eq!(LargeCommunity::from_bytes(l.to_bytes()), l);
        assert!("1:2".parse::<LargeCommunity>().is_err());
        assert!("1:2:3:4".parse::<LargeCommunity>().is_err());
    }

    #[test]
    fn extended_communities() {
        let rt = ExtendedCommunity::route_target(65001, 100);
        assert_eq!(rt.to_string(), "rt:65001:100");
        assert!(rt.is_transitive());
        assert_eq!(
            ExtendedCommunity([0x80, 0x06, 0, 0, 0, 0, 0, 0]).to_string(),
            "0x8006000000000000"
        );
    }
}
