//! Path attribute values (RFC 4271 §4.3 and §5, and the RFCs that add
//! attributes), their flags, and zero-copy views of the variable-length ones.

pub mod as_path;
pub mod community;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

pub use as_path::{AsPath, AsPathView, AsSegment, SegmentType};
pub use community::{Community, ExtendedCommunity, LargeCommunity};

use crate::iana::AttributeType;

/// Attribute flag bits (RFC 4271 §4.3).
pub mod flags {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: an optional transitive attribute some speaker did not
    /// recognise.
    pub const PARTIAL: u8 = 0x20;
    /// The length field is two octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
    /// Well-known attributes: transitive, not optional.
    pub const WELL_KNOWN: u8 = TRANSITIVE;
    /// Optional transitive.
    pub const OPTIONAL_TRANSITIVE: u8 = OPTIONAL | TRANSITIVE;
}

/// The optional and transitive bits RFC 4271 §5 and the defining RFCs
/// require of a known attribute type, `None` for unknown types.
pub fn expected_flags(t: AttributeType) -> Option<u8> {
    use AttributeType as T;
    use flags::*;
    Some(match t {
        T::Origin | T::AsPath | T::NextHop | T::LocalPref | T::AtomicAggregate => WELL_KNOWN,
        T::MultiExitDisc | T::OriginatorId | T::ClusterList | T::MpReachNlri | T::MpUnreachNlri => {
            OPTIONAL
        }
        T::Aggregator
        | T::Communities
        | T::ExtendedCommunities
        | T::As4Path
        | T::As4Aggregator
        | T::LargeCommunities
        | T::OnlyToCustomer => OPTIONAL_TRANSITIVE,
        T::Unknown(_) => return None,
    })
}

/// ORIGIN (RFC 4271 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// Learned by an interior protocol (0).
    Igp,
    /// Learned by EGP (1).
    Egp,
    /// Learned some other way (2).
    Incomplete,
}

impl Origin {
    /// The wire value.
    pub const fn code(self) -> u8 {
        match self {
            Self::Igp => 0,
            Self::Egp => 1,
            Self::Incomplete => 2,
        }
    }

    /// The origin for a wire value, `None` when invalid.
    pub const fn from_code(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Igp,
            1 => Self::Egp,
            2 => Self::Incomplete,
            _ => return None,
        })
    }

    /// Lower-case name as used in configs and JSON ("igp", "egp",
    /// "incomplete").
    pub const fn name(self) -> &'static str {
        match self {
            Self::Igp => "igp",
            Self::Egp => "egp",
            Self::Incomplete => "incomplete",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// AGGREGATOR or AS4_AGGREGATOR (RFC 4271 §5.1.7, RFC 6793).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aggregator {
    /// The aggregating AS (AS_TRANS 23456 in a 2-octet AGGREGATOR whose
    /// real AS needs four octets).
    pub asn: u32,
    /// The aggregating speaker's BGP identifier.
    pub address: Ipv4Addr,
}

/// The next hop of a route: NEXT_HOP, or the next hop field of
/// MP_REACH_NLRI (RFC 4760 §3, RFC 2545 §3, RFC 8950).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// An IPv4 next hop.
    V4(Ipv4Addr),
    /// An IPv6 next hop: global, and the link-local one when 32 bytes were
    /// sent.
    V6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address.
        link_local: Option<Ipv6Addr>,
    },
    /// A next hop of a length this crate does not interpret.
    Other(Vec<u8>),
}

impl NextHop {
    /// Interprets a next hop field by its length.
    pub fn from_wire(b: &[u8]) -> Self {
        match b.len() {
            4 => Self::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
            16 | 32 => {
                let mut g = [0u8; 16];
                g.copy_from_slice(&b[..16]);
                let link_local = (b.len() == 32).then(|| {
                    let mut l = [0u8; 16];
                    l.copy_from_slice(&b[16..]);
                    Ipv6Addr::from(l)
                });
                Self::V6 {
                    global: Ipv6Addr::from(g),
                    link_local,
                }
            }
            _ => Self::Other(b.to_vec()),
        }
    }

    /// Bytes on the wire.
    pub fn wire_len(&self) -> usize {
        match self {
            Self::V4(_) => 4,
            Self::V6 {
                link_local: None, ..
            } => 16,
            Self::V6 { .. } => 32,
            Self::Other(b) => b.len(),
        }
    }

    /// Writes the next hop field (without its length byte).
    pub fn encode(&self, out: &mut impl bytes::BufMut) {
        match self {
            Self::V4(a) => out.put_slice(&a.octets()),
            Self::V6 { global, link_local } => {
                out.put_slice(&global.octets());
                if let Some(l) = link_local {
                    out.put_slice(&l.octets());
                }
            }
            Self::Other(b) => out.put_slice(b),
        }
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(a) => a.fmt(f),
            Self::V6 {
                global,
                link_local: None,
            } => global.fmt(f),
            Self::V6 {
                global,
                link_local: Some(l),
            } => write!(f, "{global} {l}"),
            Self::Other(b) => {
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
        }
    }
}
