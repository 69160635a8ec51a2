//! Capabilities advertised in the OPEN message (RFC 5492).
//!
//! Each capability the session layer acts on decodes into a typed variant;
//! any other code is kept raw ([`Capability::Unknown`]) as RFC 5492 §3
//! requires ("MUST ignore"). A typed capability whose value has the wrong
//! length for its type is a malformed OPEN (OPEN Message Error /
//! Unspecific, as BIRD and FRR answer it): acting on half a capability would
//! be worse than refusing the session.

use bytes::BufMut;

use crate::error::{DecodeError, EncodeError};
use crate::iana::{Afi, CapabilityCode, ErrorCode, OpenSubcode, Safi};

/// ADD-PATH Send/Receive field (RFC 7911 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddPathMode {
    /// The sender is able to receive multiple paths (1).
    Receive,
    /// The sender is able to send multiple paths (2).
    Send,
    /// Both (3).
    Both,
    /// A value RFC 7911 does not define; it enables nothing.
    Unknown(u8),
}

impl AddPathMode {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            Self::Receive => 1,
            Self::Send => 2,
            Self::Both => 3,
            Self::Unknown(v) => v,
        }
    }

    /// True for [`Self::Receive`] and [`Self::Both`].
    pub fn receives(self) -> bool {
        matches!(self, Self::Receive | Self::Both)
    }

    /// True for [`Self::Send`] and [`Self::Both`].
    pub fn sends(self) -> bool {
        matches!(self, Self::Send | Self::Both)
    }
}

impl From<u8> for AddPathMode {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::Receive,
            2 => Self::Send,
            3 => Self::Both,
            other => Self::Unknown(other),
        }
    }
}

/// One family of the ADD-PATH capability (RFC 7911 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddPathFamily {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
    /// Whether the sender sends, receives or both.
    pub mode: AddPathMode,
}

/// One family of the graceful restart capability (RFC 4724 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
    /// Flags for the family; see [`GracefulRestartFamily::forwarding_state`].
    pub flags: u8,
}

impl GracefulRestartFamily {
    /// Forwarding State bit (RFC 4724 §3): forwarding was preserved across
    /// the restart.
    pub const FORWARDING_STATE: u8 = 0x80;

    /// True when the sender kept its forwarding state for the family.
    pub fn forwarding_state(&self) -> bool {
        self.flags & Self::FORWARDING_STATE != 0
    }
}

/// The graceful restart capability (RFC 4724 §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GracefulRestart {
    /// The 4-bit Restart Flags field (0..=15), kept whole so that unknown
    /// bits survive re-encoding; see [`Self::RESTART_STATE`] and
    /// [`Self::NOTIFICATION`].
    pub flags: u8,
    /// Restart Time in seconds (12 bits, 0..=4095).
    pub restart_time: u16,
    /// Families whose state is preserved across a restart.
    pub families: Vec<GracefulRestartFamily>,
}

impl GracefulRestart {
    /// Restart State bit (R, RFC 4724 §3): the sender has restarted.
    pub const RESTART_STATE: u8 = 0x8;
    /// Graceful Notification bit (N, RFC 8538 §2): NOTIFICATIONs other than
    /// Hard Reset also trigger graceful restart.
    pub const NOTIFICATION: u8 = 0x4;
    /// Largest Restart Time the 12-bit field holds.
    pub const MAX_RESTART_TIME: u16 = 0x0fff;

    /// True when the sender announces that it has restarted.
    pub fn restart_state(&self) -> bool {
        self.flags & Self::RESTART_STATE != 0
    }

    /// True when the sender supports RFC 8538 graceful NOTIFICATION.
    pub fn notification(&self) -> bool {
        self.flags & Self::NOTIFICATION != 0
    }
}

/// One family of the long-lived graceful restart capability (RFC 9494 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LongLivedGracefulRestartFamily {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
    /// Flags; 0x80 is the Forwarding State bit.
    pub flags: u8,
    /// Long-lived Stale Time in seconds (24 bits).
    pub stale_time: u32,
}

impl LongLivedGracefulRestartFamily {
    /// Forwarding State bit (RFC 9494 §3).
    pub const FORWARDING_STATE: u8 = 0x80;
    /// Largest Long-lived Stale Time the 24-bit field holds.
    pub const MAX_STALE_TIME: u32 = 0x00ff_ffff;
}

/// One tuple of the extended next hop capability (RFC 8950 §3): NLRI of
/// `(nlri_afi, nlri_safi)` may carry a next hop of `next_hop_afi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtendedNextHopFamily {
    /// AFI of the NLRI.
    pub nlri_afi: Afi,
    /// SAFI of the NLRI (two octets on the wire, one in practice).
    pub nlri_safi: Safi,
    /// AFI of the next hop address.
    pub next_hop_afi: Afi,
}

/// One capability (RFC 5492 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Multiprotocol extensions (1, RFC 4760 §8).
    Multiprotocol {
        /// Address family.
        afi: Afi,
        /// Subsequent address family.
        safi: Safi,
    },
    /// Route refresh (2, RFC 2918 §2).
    RouteRefresh,
    /// Pre-standard route refresh (128), which old Cisco speakers pair with
    /// message type 128; recorded, never used.
    RouteRefreshCisco,
    /// Enhanced route refresh (70, RFC 7313 §3).
    EnhancedRouteRefresh,
    /// Support for 4-octet AS numbers, with the speaker's AS (65, RFC 6793
    /// §3).
    FourOctetAs(u32),
    /// Graceful restart (64, RFC 4724 §3).
    GracefulRestart(GracefulRestart),
    /// ADD-PATH (69, RFC 7911 §4).
    AddPath(Vec<AddPathFamily>),
    /// Extended messages up to 65535 bytes (6, RFC 8654 §3).
    ExtendedMessage,
    /// Extended next hop encoding (5, RFC 8950 §3).
    ExtendedNextHop(Vec<ExtendedNextHopFamily>),
    /// Hostname and domain name (73, draft-walton-bgp-hostname-capability).
    Fqdn {
        /// Host name.
        hostname: String,
        /// Domain name, often empty.
        domain: String,
    },
    /// Long-lived graceful restart (71, RFC 9494 §3).
    LongLivedGracefulRestart(Vec<LongLivedGracefulRestartFamily>),
    /// Any other capability, or one whose value this crate cannot represent
    /// typed (a SAFI above 255 in extended next hop, a hostname that is not
    /// UTF-8), kept as received.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

/// Largest capability value: its length field is one octet (RFC 5492 §4).
pub const MAX_CAPABILITY_LEN: usize = 255;

fn malformed(offset: usize, reason: &'static str) -> DecodeError {
    DecodeError::new(
        ErrorCode::OpenMessage(OpenSubcode::Unspecific),
        offset,
        reason,
    )
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> CapabilityCode {
        match self {
            Self::Multiprotocol { .. } => CapabilityCode::Multiprotocol,
            Self::RouteRefresh => CapabilityCode::RouteRefresh,
            Self::RouteRefreshCisco => CapabilityCode::RouteRefreshCisco,
            Self::EnhancedRouteRefresh => CapabilityCode::EnhancedRouteRefresh,
            Self::FourOctetAs(_) => CapabilityCode::FourOctetAs,
            Self::GracefulRestart(_) => CapabilityCode::GracefulRestart,
            Self::AddPath(_) => CapabilityCode::AddPath,
            Self::ExtendedMessage => CapabilityCode::ExtendedMessage,
            Self::ExtendedNextHop(_) => CapabilityCode::ExtendedNextHop,
            Self::Fqdn { .. } => CapabilityCode::Fqdn,
            Self::LongLivedGracefulRestart(_) => CapabilityCode::LongLivedGracefulRestart,
            Self::Unknown { code, .. } => CapabilityCode::from(*code),
        }
    }

    /// Decodes one capability from its code and value; `offset` is where
    /// its code octet sits in the message, for the error.
    pub fn decode(code: u8, value: &[u8], offset: usize) -> Result<Self, DecodeError> {
        let exact = |n: usize, reason| {
            if value.len() == n {
                Ok(())
            } else {
                Err(malformed(offset, reason))
            }
        };
        let unit = |n: usize, min: usize, reason| {
            if value.len() >= min && (value.len() - min) % n == 0 {
                Ok(())
            } else {
                Err(malformed(offset, reason))
            }
        };
        let afi_at = |i: usize| Afi::from(u16::from_be_bytes([value[i], value[i + 1]]));
        Ok(match CapabilityCode::from(code) {
            CapabilityCode::Multiprotocol => {
                exact(4, "multiprotocol capability is not 4 bytes")?;
                // value[2] is Reserved: ignored on receipt (RFC 4760 §8).
                Self::Multiprotocol {
                    afi: afi_at(0),
                    safi: Safi::from(value[3]),
                }
            }
            CapabilityCode::RouteRefresh => {
                exact(0, "route refresh capability has a value")?;
                Self::RouteRefresh
            }
            CapabilityCode::RouteRefreshCisco => {
                exact(0, "route refresh capability has a value")?;
                Self::RouteRefreshCisco
            }
            CapabilityCode::EnhancedRouteRefresh => {
                exact(0, "enhanced route refresh capability has a value")?;
                Self::EnhancedRouteRefresh
            }
            CapabilityCode::ExtendedMessage => {
                exact(0, "extended message capability has a value")?;
                Self::ExtendedMessage
            }
            CapabilityCode::FourOctetAs => {
                exact(4, "4-octet AS capability is not 4 bytes")?;
                Self::FourOctetAs(u32::from_be_bytes([value[0], value[1], value[2], value[3]]))
            }
            CapabilityCode::GracefulRestart => {
                unit(4, 2, "graceful restart capability is not 2 + 4n bytes")?;
                Self::GracefulRestart(GracefulRestart {
                    flags: value[0] >> 4,
                    restart_time: u16::from_be_bytes([value[0] & 0x0f, value[1]]),
                    families: value[2..]
                        .chunks_exact(4)
                        .map(|c| GracefulRestartFamily {
                            afi: Afi::from(u16::from_be_bytes([c[0], c[1]])),
                            safi: Safi::from(c[2]),
                            flags: c[3],
                        })
                        .collect(),
                })
            }
            CapabilityCode::AddPath => {
                unit(4, 0, "ADD-PATH capability is not a multiple of 4 bytes")?;
                Self::AddPath(
                    value
                        .chunks_exact(4)
                        .map(|c| AddPathFamily {
                            afi: Afi::from(u16::from_be_bytes([c[0], c[1]])),
                            safi: Safi::from(c[2]),
                            mode: AddPathMode::from(c[3]),
                        })
                        .collect(),
                )
            }
            CapabilityCode::ExtendedNextHop => {
                unit(
                    6,
                    0,
                    "extended next hop capability is not a multiple of 6 bytes",
                )?;
                if value.chunks_exact(6).any(|c| c[2] != 0) {
                    return Ok(Self::Unknown {
                        code,
                        value: value.to_vec(),
                    });
                }
                Self::ExtendedNextHop(
                    value
                        .chunks_exact(6)
                        .map(|c| ExtendedNextHopFamily {
                            nlri_afi: Afi::from(u16::from_be_bytes([c[0], c[1]])),
                            nlri_safi: Safi::from(c[3]),
                            next_hop_afi: Afi::from(u16::from_be_bytes([c[4], c[5]])),
                        })
                        .collect(),
                )
            }
            CapabilityCode::LongLivedGracefulRestart => {
                unit(
                    7,
                    0,
                    "long-lived graceful restart capability is not a multiple of 7 bytes",
                )?;
                Self::LongLivedGracefulRestart(
                    value
                        .chunks_exact(7)
                        .map(|c| LongLivedGracefulRestartFamily {
                            afi: Afi::from(u16::from_be_bytes([c[0], c[1]])),
                            safi: Safi::from(c[2]),
                            flags: c[3],
                            stale_time: u32::from_be_bytes([0, c[4], c[5], c[6]]),
                        })
                        .collect(),
                )
            }
            // The hostname is informational and from a draft: a value that
            // does not parse is kept raw rather than refusing the session.
            CapabilityCode::Fqdn => decode_fqdn(value).unwrap_or_else(|| Self::Unknown {
                code,
                value: value.to_vec(),
            }),
            _ => Self::Unknown {
                code,
                value: value.to_vec(),
            },
        })
    }

    /// Writes the capability value (without code and length) to `out`.
    fn write_value(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::Multiprotocol { afi, safi } => {
                out.put_u16(u16::from(*afi));
                out.put_u8(0);
                out.put_u8(u8::from(*safi));
            }
            Self::RouteRefresh
            | Self::RouteRefreshCisco
            | Self::EnhancedRouteRefresh
            | Self::ExtendedMessage => {}
            Self::FourOctetAs(asn) => out.put_u32(*asn),
            Self::GracefulRestart(gr) => {
                if gr.flags > 0x0f {
                    return Err(EncodeError::Unrepresentable(
                        "graceful restart flags exceed 4 bits",
                    ));
                }
                if gr.restart_time > GracefulRestart::MAX_RESTART_TIME {
                    return Err(EncodeError::Unrepresentable(
                        "graceful restart time exceeds 4095 seconds",
                    ));
                }
                out.put_u16((u16::from(gr.flags) << 12) | gr.restart_time);
                for f in &gr.families {
                    out.put_u16(u16::from(f.afi));
                    out.put_u8(u8::from(f.safi));
                    out.put_u8(f.flags);
                }
            }
            Self::AddPath(families) => {
                for f in families {
                    out.put_u16(u16::from(f.afi));
                    out.put_u8(u8::from(f.safi));
                    out.put_u8(f.mode.code());
                }
            }
            Self::ExtendedNextHop(families) => {
                for f in families {
                    out.put_u16(u16::from(f.nlri_afi));
                    out.put_u16(u16::from(u8::from(f.nlri_safi)));
                    out.put_u16(u16::from(f.next_hop_afi));
                }
            }
            Self::Fqdn { hostname, domain } => {
                for name in [hostname, domain] {
                    let len = u8::try_from(name.len()).map_err(|_| {
                        EncodeError::Unrepresentable("FQDN name longer than 255 bytes")
                    })?;
                    out.put_u8(len);
                    out.extend_from_slice(name.as_bytes());
                }
            }
            Self::LongLivedGracefulRestart(families) => {
                for f in families {
                    if f.stale_time > LongLivedGracefulRestartFamily::MAX_STALE_TIME {
                        return Err(EncodeError::Unrepresentable(
                            "long-lived stale time exceeds 24 bits",
                        ));
                    }
                    out.put_u16(u16::from(f.afi));
                    out.put_u8(u8::from(f.safi));
                    out.put_u8(f.flags);
                    out.extend_from_slice(&f.stale_time.to_be_bytes()[1..]);
                }
            }
            Self::Unknown { value, .. } => out.extend_from_slice(value),
        }
        Ok(())
    }

    /// Appends the capability (code, length, value) to `out`. Nothing is
    /// written when it cannot be encoded.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<(), EncodeError> {
        let mut value = Vec::new();
        self.write_value(&mut value)?;
        let len = u8::try_from(value.len())
            .map_err(|_| EncodeError::Unrepresentable("capability value longer than 255 bytes"))?;
        out.put_u8(u8::from(self.code()));
        out.put_u8(len);
        out.put_slice(&value);
        Ok(())
    }
}

/// The FQDN value: hostname length, hostname, domain length, domain.
fn decode_fqdn(value: &[u8]) -> Option<Capability> {
    let (&host_len, rest) = value.split_first()?;
    let (host, rest) = rest.split_at_checked(usize::from(host_len))?;
    let (&domain_len, domain) = rest.split_first()?;
    if domain.len() != usize::from(domain_len) {
        return None;
    }
    Some(Capability::Fqdn {
        hostname: String::from_utf8(host.to_vec()).ok()?,
        domain: String::from_utf8(domain.to_vec()).ok()?,
    })
}

/// Decodes the capabilities of one Capabilities optional parameter
/// (RFC 5492 §4): a sequence of (code, length, value) triples filling the
/// parameter exactly. `base` is the offset of `value` in the message.
pub(crate) fn decode_list(value: &[u8], base: usize) -> Result<Vec<Capability>, DecodeError> {
    let mut r = crate::reader::Reader::new(value, base);
    // Each capability takes at least two bytes: bounded by the input.
    let mut caps = Vec::with_capacity(value.len() / 2);
    while !r.is_empty() {
        let at = r.offset();
        let (Some(code), Some(len)) = (r.u8(), r.u8()) else {
            return Err(malformed(at, "capability header truncated"));
        };
        let Some(v) = r.bytes(usize::from(len)) else {
            return Err(malformed(at, "capability overruns its optional parameter"));
        };
        caps.push(Capability::decode(code, v, at)?);
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(c: &Capability) -> Vec<u8> {
        let mut out = Vec::new();
        c.encode(&mut out).unwrap();
        let back = Capability::decode(out[0], &out[2..], 0).unwrap();
        assert_eq!(&back, c);
        assert_eq!(usize::from(out[1]), out.len() - 2);
        out
    }

    #[test]
    fn every_kind_round_trips() {
        let caps = [
            Capability::Multiprotocol {
                afi: Afi::Ipv6,
                safi: Safi::Unicast,
            },
            Capability::RouteRefresh,
            Capability::RouteRefreshCisco,
            Capability::EnhancedRouteRefresh,
            Capability::ExtendedMessage,
            Capability::FourOctetAs(4_200_000_001),
            Capability::GracefulRestart(GracefulRestart {
                flags: GracefulRestart::RESTART_STATE | GracefulRestart::NOTIFICATION,
                restart_time: 4095,
                families: vec![GracefulRestartFamily {
                    afi: Afi::Ipv4,
                    safi: Safi::Unicast,
                    flags: GracefulRestartFamily::FORWARDING_STATE,
                }],
            }),
            Capability::AddPath(vec![AddPathFamily {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
                mode: AddPathMode::Both,
            }]),
            Capability::ExtendedNextHop(vec![ExtendedNextHopFamily {
                nlri_afi: Afi::Ipv4,
                nlri_safi: Safi::Unicast,
                next_hop_afi: Afi::Ipv6,
            }]),
            Capability::Fqdn {
                hostname: "nva-0".into(),
                domain: "example.net".into(),
            },
            Capability::LongLivedGracefulRestart(vec![LongLivedGracefulRestartFamily {
                afi: Afi::Ipv6,
                safi: Safi::Unicast,
                flags: 0x80,
                stale_time: 0x00ff_ffff,
            }]),
            Capability::Unknown {
                code: 200,
                value: vec![1, 2, 3],
            },
        ];
        for c in &caps {
            round_trip(c);
        }
        assert_eq!(
            round_trip(&caps[6]),
            [64, 6, 0xcf, 0xff, 0, 1, 1, 0x80],
            "flags in the top nibble, time in the low 12 bits"
        );
    }

    #[test]
    fn wrong_lengths_are_open_message_errors_at_the_capability() {
        for (code, value) in [
            (1u8, &[0u8, 1, 0][..]),
            (2, &[0][..]),
            (65, &[0, 0, 1][..]),
            (64, &[0][..]),
            (64, &[0, 0, 0, 1, 1][..]),
            (69, &[0, 1, 1][..]),
            (5, &[0, 1, 0, 1, 0][..]),
            (71, &[0, 1, 1, 0, 0, 0][..]),
            (6, &[1][..]),
            (70, &[1][..]),
        ] {
            let e = Capability::decode(code, value, 42).unwrap_err();
            assert_eq!(
                e.code,
                ErrorCode::OpenMessage(OpenSubcode::Unspecific),
                "{code}"
            );
            assert_eq!(e.offset, 42);
            assert!(e.data.is_empty());
        }
    }

    #[test]
    fn unrepresentable_values_are_kept_raw() {
        let enh = [0, 1, 1, 0, 0, 2];
        assert_eq!(
            Capability::decode(5, &enh, 0).unwrap(),
            Capability::Unknown {
                code: 5,
                value: enh.to_vec()
            }
        );
        for fqdn in [
            &[3u8, b'a', b'b'][..],
            &[1, 0xff, 0][..],
            &[][..],
            &[0, 2, b'x'][..],
        ] {
            assert!(matches!(
                Capability::decode(73, fqdn, 0).unwrap(),
                Capability::Unknown { code: 73, .. }
            ));
        }
        assert_eq!(
            Capability::decode(1, &[0, 2, 0xaa, 1], 0).unwrap(),
            Capability::Multiprotocol {
                afi: Afi::Ipv6,
                safi: Safi::Unicast
            },
            "the reserved octet is ignored"
        );
    }

    #[test]
    fn encode_refuses_what_the_fields_cannot_hold() {
        let long = Capability::Fqdn {
            hostname: "h".repeat(200),
            domain: "d".repeat(60),
        };
        let mut out = Vec::new();
        assert!(long.encode(&mut out).is_err());
        assert!(out.is_empty(), "nothing written on error");
        let gr = Capability::GracefulRestart(GracefulRestart {
            flags: 0,
            restart_time: 4096,
            families: vec![],
        });
        assert!(gr.encode(&mut out).is_err());
        let llgr = Capability::LongLivedGracefulRestart(vec![LongLivedGracefulRestartFamily {
            afi: Afi::Ipv4,
            safi: Safi::Unicast,
            flags: 0,
            stale_time: 1 << 24,
        }]);
        assert!(llgr.encode(&mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn lists_must_fill_their_parameter() {
        let caps = decode_list(&[2, 0, 70, 0, 65, 4, 0, 0, 0xfd, 0xe9], 30).unwrap();
        assert_eq!(
            caps,
            [
                Capability::RouteRefresh,
                Capability::EnhancedRouteRefresh,
                Capability::FourOctetAs(65001)
            ]
        );
        let e = decode_list(&[2, 0, 65, 4, 0, 0], 30).unwrap_err();
        assert_eq!(e.offset, 32);
        let e = decode_list(&[2, 0, 65], 30).unwrap_err();
        assert_eq!(e.code, ErrorCode::OpenMessage(OpenSubcode::Unspecific));
        assert_eq!(e.offset, 32);
    }
}
