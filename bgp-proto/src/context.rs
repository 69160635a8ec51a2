//! What a session negotiated that changes the wire format: 4-octet AS
//! numbers (RFC 6793), ADD-PATH per family (RFC 7911) and the maximum
//! message size (RFC 8654). One value, passed to decode and encode; the codec
//! keeps no global state.

use crate::iana::{Afi, Safi};

/// A small set of the unicast families whose NLRI the codec understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Families(u8);

impl Families {
    /// No family.
    pub const NONE: Self = Self(0);
    /// IPv4 unicast.
    pub const IPV4_UNICAST: Self = Self(1);
    /// IPv6 unicast.
    pub const IPV6_UNICAST: Self = Self(2);
    /// IPv4 and IPv6 unicast.
    pub const ALL: Self = Self(3);

    /// The union of two sets.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The intersection of two sets.
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The families of `self` that are not in `other`.
    pub const fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// True when every family of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// True when the set holds no family.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set member for an (AFI, SAFI) pair, `None` for other families.
    pub fn of(afi: Afi, safi: Safi) -> Option<Self> {
        match (afi, safi) {
            (Afi::Ipv4, Safi::Unicast) => Some(Self::IPV4_UNICAST),
            (Afi::Ipv6, Safi::Unicast) => Some(Self::IPV6_UNICAST),
            _ => None,
        }
    }

    /// True when `(afi, safi)` is in the set.
    pub fn has(self, afi: Afi, safi: Safi) -> bool {
        Self::of(afi, safi).is_some_and(|f| self.contains(f))
    }
}

impl std::ops::BitOr for Families {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

/// Largest BGP message without RFC 8654 (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest BGP message with the extended message capability (RFC 8654).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// The session state one direction of a session needs to decode or encode
/// messages.
///
/// A session holds two: one for what it receives (ADD-PATH families the peer
/// sends path identifiers for) and one for what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Context {
    /// Both sides sent the 4-octet AS capability: AS_PATH and AGGREGATOR
    /// carry 4-octet ASNs (RFC 6793 §4).
    pub four_octet_as: bool,
    /// Families whose NLRI carry a 4-octet path identifier in this
    /// direction (RFC 7911 §3).
    pub add_path: Families,
    /// Both sides sent the extended message capability (RFC 8654).
    pub extended_message: bool,
}

impl Context {
    /// A modern session: 4-octet AS, no ADD-PATH, 4096-byte messages.
    pub const MODERN: Self = Self {
        four_octet_as: true,
        add_path: Families::NONE,
        extended_message: false,
    };

    /// The session before the OPENs are exchanged (RFC 4271 defaults).
    pub const INITIAL: Self = Self {
        four_octet_as: false,
        add_path: Families::NONE,
        extended_message: false,
    };

    /// The largest message this session may carry.
    pub const fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// True when NLRI of `(afi, safi)` carry path identifiers.
    pub fn add_path_for(&self, afi: Afi, safi: Safi) -> bool {
        self.add_path.has(afi, safi)
    }
}

impl Default for Context {
    fn default() -> Self {
        Self::MODERN
    }
}
