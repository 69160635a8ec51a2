//! The owned, typed form of an UPDATE, and its encoding.
//!
//! [`Update::to_message`] turns a decoded view into an [`UpdateMessage`];
//! [`UpdateMessage::encode`] writes it back. Every attribute keeps its flags
//! and its place in wire order, so a message re-encodes to the bytes it was
//! decoded from unless the sender used a non-canonical form (host bits set
//! in a prefix, a non-zero MP_REACH_NLRI reserved octet, an AS_PATH segment
//! split where it need not be): then decoding the re-encoded message gives
//! the same [`UpdateMessage`] again.

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use crate::attribute::as_path::AS_TRANS;
use crate::attribute::{
    Aggregator, AsPath, AsPathView, Community, ExtendedCommunity, LargeCommunity, NextHop, Origin,
    expected_flags, flags,
};
use crate::context::Context;
use crate::error::EncodeError;
use crate::framing::{HEADER_LEN, put_header};
use crate::iana::{Afi, AttributeType, MessageType, Safi};
use crate::message::update::Update;
use crate::prefix::{Nlri, NlriIter, check_nlri};

/// An UPDATE as plain values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateMessage {
    /// The IPv4 Withdrawn Routes field.
    pub withdrawn: Vec<Nlri>,
    /// Path attributes in wire order.
    pub attributes: Vec<PathAttribute>,
    /// The IPv4 NLRI field.
    pub nlri: Vec<Nlri>,
}

/// One path attribute: its flags octet and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathAttribute {
    /// Flags as received or to be sent (the extended-length bit is kept so
    /// that re-encoding reproduces the sender's choice).
    pub flags: u8,
    /// The value.
    pub value: AttributeValue,
}

/// MP_REACH_NLRI (RFC 4760 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpReachNlri {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
    /// Next hop.
    pub next_hop: NextHop,
    /// Prefixes of IPv4/IPv6 unicast.
    pub nlri: Vec<Nlri>,
    /// The NLRI field of families this crate does not interpret.
    pub raw_nlri: Vec<u8>,
}

/// MP_UNREACH_NLRI (RFC 4760 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpUnreachNlri {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
    /// Prefixes of IPv4/IPv6 unicast.
    pub nlri: Vec<Nlri>,
    /// The withdrawn routes field of families this crate does not interpret.
    pub raw_nlri: Vec<u8>,
}

/// A path attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// ORIGIN (1).
    Origin(Origin),
    /// AS_PATH (2), as received (2- or 4-octet per session).
    AsPath(AsPath),
    /// NEXT_HOP (3).
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC (4).
    MultiExitDisc(u32),
    /// LOCAL_PREF (5).
    LocalPref(u32),
    /// ATOMIC_AGGREGATE (6).
    AtomicAggregate,
    /// AGGREGATOR (7), as received.
    Aggregator(Aggregator),
    /// COMMUNITIES (8).
    Communities(Vec<Community>),
    /// ORIGINATOR_ID (9).
    OriginatorId(Ipv4Addr),
    /// CLUSTER_LIST (10).
    ClusterList(Vec<Ipv4Addr>),
    /// MP_REACH_NLRI (14).
    MpReachNlri(MpReachNlri),
    /// MP_UNREACH_NLRI (15).
    MpUnreachNlri(MpUnreachNlri),
    /// EXTENDED_COMMUNITIES (16).
    ExtendedCommunities(Vec<ExtendedCommunity>),
    /// AS4_PATH (17).
    As4Path(AsPath),
    /// AS4_AGGREGATOR (18).
    As4Aggregator(Aggregator),
    /// LARGE_COMMUNITY (32).
    LargeCommunities(Vec<LargeCommunity>),
    /// Only to Customer (35, RFC 9234): the AS that set it.
    OnlyToCustomer(u32),
    /// Any other attribute, or a malformed or discarded one, kept raw.
    Raw {
        /// Type code.
        type_code: u8,
        /// Value bytes.
        value: Vec<u8>,
    },
}

impl AttributeValue {
    /// The type code on the wire.
    pub fn type_code(&self) -> u8 {
        use AttributeType as T;
        let t = match self {
            Self::Origin(_) => T::Origin,
            Self::AsPath(_) => T::AsPath,
            Self::NextHop(_) => T::NextHop,
            Self::MultiExitDisc(_) => T::MultiExitDisc,
            Self::LocalPref(_) => T::LocalPref,
            Self::AtomicAggregate => T::AtomicAggregate,
            Self::Aggregator(_) => T::Aggregator,
            Self::Communities(_) => T::Communities,
            Self::OriginatorId(_) => T::OriginatorId,
            Self::ClusterList(_) => T::ClusterList,
            Self::MpReachNlri(_) => T::MpReachNlri,
            Self::MpUnreachNlri(_) => T::MpUnreachNlri,
            Self::ExtendedCommunities(_) => T::ExtendedCommunities,
            Self::As4Path(_) => T::As4Path,
            Self::As4Aggregator(_) => T::As4Aggregator,
            Self::LargeCommunities(_) => T::LargeCommunities,
            Self::OnlyToCustomer(_) => T::OnlyToCustomer,
            Self::Raw { type_code, .. } => return *type_code,
        };
        t.into()
    }

    /// The attribute type.
    pub fn attribute_type(&self) -> AttributeType {
        self.type_code().into()
    }

    /// Writes the value (without flags, type and length).
    fn encode_value(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Self::Origin(o) => out.put_u8(o.code()),
            Self::AsPath(p) => p.encode(ctx.four_octet_as, out),
            Self::NextHop(a) | Self::OriginatorId(a) => out.put_slice(&a.octets()),
            Self::MultiExitDisc(v) | Self::LocalPref(v) | Self::OnlyToCustomer(v) => {
                out.put_u32(*v)
            }
            Self::AtomicAggregate => {}
            Self::Aggregator(a) => put_aggregator(a, ctx.four_octet_as, out),
            Self::As4Aggregator(a) => put_aggregator(a, true, out),
            Self::Communities(c) => c.iter().for_each(|c| out.put_u32(c.0)),
            Self::ClusterList(l) => l.iter().for_each(|a| out.put_slice(&a.octets())),
            Self::ExtendedCommunities(c) => c.iter().for_each(|c| out.put_slice(&c.0)),
            Self::LargeCommunities(c) => c.iter().for_each(|c| out.put_slice(&c.to_bytes())),
            Self::As4Path(p) => p.encode(true, out),
            Self::MpReachNlri(m) => {
                let nh_len = u8::try_from(m.next_hop.wire_len())
                    .map_err(|_| EncodeError::Unrepresentable("next hop longer than 255 bytes"))?;
                out.put_u16(m.afi.into());
                out.put_u8(m.safi.into());
                out.put_u8(nh_len);
                m.next_hop.encode(out);
                // Reserved (RFC 4760 §3).
                out.put_u8(0);
                put_family_nlri(m.afi, m.safi, &m.nlri, &m.raw_nlri, ctx, out)?;
            }
            Self::MpUnreachNlri(m) => {
                out.put_u16(m.afi.into());
                out.put_u8(m.safi.into());
                put_family_nlri(m.afi, m.safi, &m.nlri, &m.raw_nlri, ctx, out)?;
            }
            Self::Raw { value, .. } => out.put_slice(value),
        }
        Ok(())
    }
}

fn put_aggregator(a: &Aggregator, four_octet: bool, out: &mut BytesMut) {
    if four_octet {
        out.put_u32(a.asn);
    } else {
        // RFC 6793 §4.2.2: an AS that needs four octets is AS_TRANS here.
        out.put_u16(u16::try_from(a.asn).unwrap_or(AS_TRANS as u16));
    }
    out.put_slice(&a.address.octets());
}

/// `Some(is_ipv6)` for the families whose NLRI this crate interprets.
fn known_family(afi: Afi, safi: Safi) -> Option<bool> {
    match (afi, safi) {
        (Afi::Ipv4, Safi::Unicast) => Some(false),
        (Afi::Ipv6, Safi::Unicast) => Some(true),
        _ => None,
    }
}

/// Writes one NLRI entry of a field of family `ipv6`, with a path
/// identifier exactly when `add_path`.
///
/// A missing path identifier on an ADD-PATH family is sent as 0; one given
/// for a family without ADD-PATH is left out, since the session cannot
/// carry it (RFC 7911 §3).
pub(crate) fn put_nlri(
    n: &Nlri,
    ipv6: bool,
    add_path: bool,
    out: &mut impl BufMut,
) -> Result<(), EncodeError> {
    if n.prefix.is_ipv4() == ipv6 {
        return Err(EncodeError::Unrepresentable(
            "prefix of the wrong address family for its NLRI field",
        ));
    }
    if add_path {
        out.put_u32(n.path_id.unwrap_or(0));
    }
    n.prefix.encode(out);
    Ok(())
}

/// Bytes [`put_nlri`] writes for `n`.
pub(crate) fn nlri_wire_len(n: &Nlri, add_path: bool) -> usize {
    1 + n.prefix.wire_bytes() + if add_path { 4 } else { 0 }
}

fn put_family_nlri(
    afi: Afi,
    safi: Safi,
    nlri: &[Nlri],
    raw: &[u8],
    ctx: &Context,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    match known_family(afi, safi) {
        Some(ipv6) => {
            let add_path = ctx.add_path_for(afi, safi);
            for n in nlri {
                put_nlri(n, ipv6, add_path, out)?;
            }
        }
        None if !nlri.is_empty() => {
            return Err(EncodeError::Unrepresentable(
                "typed prefixes for a family other than IPv4/IPv6 unicast",
            ));
        }
        None => {}
    }
    out.put_slice(raw);
    Ok(())
}

impl PathAttribute {
    /// An attribute with the flags its type requires (RFC 4271 §5 and the
    /// defining RFCs); unknown types get optional transitive.
    pub fn new(value: AttributeValue) -> Self {
        let flags = expected_flags(value.attribute_type()).unwrap_or(flags::OPTIONAL_TRANSITIVE);
        Self { flags, value }
    }

    /// Writes the attribute: flags, type, length, value.
    ///
    /// The EXTENDED_LENGTH flag is kept as given when the value fits in 255
    /// bytes (some speakers set it on short attributes, RFC 4271 §4.3
    /// allows it) and set when it does not.
    pub fn encode(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        let at = out.len();
        // Room for a 2-byte length; shrunk afterwards when one byte does.
        out.put_u8(self.flags | flags::EXTENDED_LENGTH);
        out.put_u8(self.value.type_code());
        out.put_u16(0);
        if let Err(e) = self.value.encode_value(ctx, out) {
            out.truncate(at);
            return Err(e);
        }
        let len = out.len() - at - 4;
        if self.flags & flags::EXTENDED_LENGTH != 0 || len > 255 {
            let Ok(len) = u16::try_from(len) else {
                out.truncate(at);
                return Err(EncodeError::Unrepresentable(
                    "attribute value longer than 65535 bytes",
                ));
            };
            out[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
        } else {
            out[at] = self.flags;
            out[at + 2] = len as u8;
            out.copy_within(at + 4.., at + 3);
            out.truncate(out.len() - 1);
        }
        Ok(())
    }
}

impl Update<'_> {
    /// The owned, typed form of this UPDATE.
    ///
    /// Attributes come in wire order with their flags. The view's unusable
    /// attributes (malformed, repeated, or discarded under RFC 7606) and
    /// attributes of unknown type are [`AttributeValue::Raw`]. AS_PATH and
    /// AGGREGATOR are typed as received (2- or 4-octet per the session);
    /// the merged path is [`Update::as_path`].
    pub fn to_message(&self) -> UpdateMessage {
        let ctx = self.context();
        UpdateMessage {
            withdrawn: self.withdrawn_routes().collect(),
            attributes: self
                .attributes()
                .map(|a| PathAttribute {
                    flags: a.flags,
                    value: a
                        .usable
                        .then(|| typed_value(a.attribute_type(), a.value, ctx))
                        .flatten()
                        .unwrap_or_else(|| AttributeValue::Raw {
                            type_code: a.type_code,
                            value: a.value.to_vec(),
                        }),
                })
                .collect(),
            nlri: self.nlri().collect(),
        }
    }
}

fn u32_at(v: &[u8]) -> Option<u32> {
    v.try_into().ok().map(u32::from_be_bytes)
}

fn ipv4_at(v: &[u8]) -> Option<Ipv4Addr> {
    u32_at(v).map(Ipv4Addr::from)
}

fn chunks<const N: usize, T>(v: &[u8], f: impl Fn([u8; N]) -> T) -> Option<Vec<T>> {
    if v.len() % N != 0 {
        return None;
    }
    Some(
        v.chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect(),
    )
}

fn aggregator_at(v: &[u8], four_octet: bool) -> Option<Aggregator> {
    let (asn, addr) = if four_octet {
        let (asn, addr) = v.split_first_chunk::<4>()?;
        (u32::from_be_bytes(*asn), addr)
    } else {
        let (asn, addr) = v.split_first_chunk::<2>()?;
        (u32::from(u16::from_be_bytes(*asn)), addr)
    };
    Some(Aggregator {
        asn,
        address: ipv4_at(addr)?,
    })
}

/// The prefixes of an MP field: typed for IPv4/IPv6 unicast, raw for the
/// rest. `None` when a unicast field does not parse.
fn family_nlri(afi: Afi, safi: Safi, v: &[u8], ctx: &Context) -> Option<(Vec<Nlri>, Vec<u8>)> {
    match known_family(afi, safi) {
        Some(ipv6) => {
            let add_path = ctx.add_path_for(afi, safi);
            let count = check_nlri(v, ipv6, add_path).ok()?;
            let mut nlri = Vec::with_capacity(count);
            nlri.extend(NlriIter::new(v, ipv6, add_path));
            Some((nlri, Vec::new()))
        }
        None => Some((Vec::new(), v.to_vec())),
    }
}

/// The typed value of an attribute, `None` when it does not parse (the
/// view has validated every usable attribute; this never trusts that).
fn typed_value(t: AttributeType, v: &[u8], ctx: &Context) -> Option<AttributeValue> {
    use AttributeType as T;
    use AttributeValue as V;
    Some(match t {
        T::Origin => match v {
            [code] => V::Origin(Origin::from_code(*code)?),
            _ => return None,
        },
        T::AsPath => V::AsPath(AsPathView::new(v, ctx.four_octet_as).ok()?.to_path()),
        T::NextHop => V::NextHop(ipv4_at(v)?),
        T::MultiExitDisc => V::MultiExitDisc(u32_at(v)?),
        T::LocalPref => V::LocalPref(u32_at(v)?),
        T::AtomicAggregate if v.is_empty() => V::AtomicAggregate,
        T::Aggregator if v.len() == if ctx.four_octet_as { 8 } else { 6 } => {
            V::Aggregator(aggregator_at(v, ctx.four_octet_as)?)
        }
        T::Communities => V::Communities(chunks(v, |c| Community(u32::from_be_bytes(c)))?),
        T::OriginatorId => V::OriginatorId(ipv4_at(v)?),
        T::ClusterList => V::ClusterList(chunks(v, Ipv4Addr::from)?),
        T::MpReachNlri => {
            let (&[a0, a1, safi, nh_len], rest) = v.split_first_chunk::<4>()?;
            let (afi, safi) = (Afi::from(u16::from_be_bytes([a0, a1])), Safi::from(safi));
            let (next_hop, rest) = rest.split_at_checked(usize::from(nh_len))?;
            let (_reserved, field) = rest.split_first()?;
            let (nlri, raw_nlri) = family_nlri(afi, safi, field, ctx)?;
            V::MpReachNlri(MpReachNlri {
                afi,
                safi,
                next_hop: NextHop::from_wire(next_hop),
                nlri,
                raw_nlri,
            })
        }
        T::MpUnreachNlri => {
            let (&[a0, a1, safi], field) = v.split_first_chunk::<3>()?;
            let (afi, safi) = (Afi::from(u16::from_be_bytes([a0, a1])), Safi::from(safi));
            let (nlri, raw_nlri) = family_nlri(afi, safi, field, ctx)?;
            V::MpUnreachNlri(MpUnreachNlri {
                afi,
                safi,
                nlri,
                raw_nlri,
            })
        }
        T::ExtendedCommunities => V::ExtendedCommunities(chunks(v, ExtendedCommunity)?),
        T::As4Path => V::As4Path(AsPathView::new(v, true).ok()?.to_path()),
        T::As4Aggregator if v.len() == 8 => V::As4Aggregator(aggregator_at(v, true)?),
        T::LargeCommunities => V::LargeCommunities(chunks(v, LargeCommunity::from_bytes)?),
        T::OnlyToCustomer => V::OnlyToCustomer(u32_at(v)?),
        _ => return None,
    })
}

impl UpdateMessage {
    /// The End-of-RIB marker for a family (RFC 4724 §2): an empty UPDATE
    /// for IPv4 unicast, an UPDATE holding only an empty MP_UNREACH_NLRI
    /// otherwise.
    pub fn end_of_rib(afi: Afi, safi: Safi) -> Self {
        if (afi, safi) == (Afi::Ipv4, Safi::Unicast) {
            return Self::default();
        }
        Self {
            attributes: vec![PathAttribute::new(AttributeValue::MpUnreachNlri(
                MpUnreachNlri {
                    afi,
                    safi,
                    nlri: Vec::new(),
                    raw_nlri: Vec::new(),
                },
            ))],
            ..Self::default()
        }
    }

    /// The family this message marks End-of-RIB for (RFC 4724 §2), `None`
    /// when it is not an End-of-RIB marker.
    pub fn end_of_rib_family(&self) -> Option<(Afi, Safi)> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some((Afi::Ipv4, Safi::Unicast)),
            [
                PathAttribute {
                    value: AttributeValue::MpUnreachNlri(m),
                    ..
                },
            ] if m.nlri.is_empty() && m.raw_nlri.is_empty() => Some((m.afi, m.safi)),
            _ => None,
        }
    }

    /// True for an End-of-RIB marker of any family.
    pub fn is_end_of_rib(&self) -> bool {
        self.end_of_rib_family().is_some()
    }

    /// Appends the UPDATE (header included) to `out`.
    ///
    /// Attributes are written in the order given, AS_PATH and AGGREGATOR
    /// with 2- or 4-octet ASNs per `ctx.four_octet_as`, NLRI with path
    /// identifiers per `ctx.add_path`. Fails, leaving `out` as it was, with
    /// [`EncodeError::TooLong`] when the message would exceed
    /// `ctx.max_message_len()`.
    pub fn encode(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        let r = self.encode_unchecked(ctx, out, start);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn encode_unchecked(
        &self,
        ctx: &Context,
        out: &mut BytesMut,
        start: usize,
    ) -> Result<(), EncodeError> {
        let max = ctx.max_message_len();
        let too_long = |len| EncodeError::TooLong { len, max };
        let add_path = ctx.add_path_for(Afi::Ipv4, Safi::Unicast);
        put_header(out, 0, MessageType::Update);
        out.put_u16(0);
        for n in &self.withdrawn {
            put_nlri(n, false, add_path, out)?;
        }
        let withdrawn_len = out.len() - start - HEADER_LEN - 2;
        out.put_u16(0);
        for a in &self.attributes {
            a.encode(ctx, out)?;
            // Stop early rather than write a huge message to drop it.
            if out.len() - start > max {
                return Err(too_long(out.len() - start));
            }
        }
        let attributes_len = out.len() - start - HEADER_LEN - 4 - withdrawn_len;
        for n in &self.nlri {
            put_nlri(n, false, add_path, out)?;
        }
        let len = out.len() - start;
        if len > max {
            return Err(too_long(len));
        }
        // Every field is shorter than the message, itself at most 65535.
        let field = |n: usize| u16::try_from(n).map_err(|_| too_long(len));
        let message = &mut out[start..];
        message[16..18].copy_from_slice(&field(len)?.to_be_bytes());
        message[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&field(withdrawn_len)?.to_be_bytes());
        let at = HEADER_LEN + 2 + withdrawn_len;
        message[at..at + 2].copy_from_slice(&field(attributes_len)?.to_be_bytes());
        Ok(())
    }
}
