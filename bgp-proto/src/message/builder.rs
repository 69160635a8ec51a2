//! Packing prefixes that share one attribute set into UPDATEs: the export
//! side of a session.
//!
//! [`UpdateBuilder`] writes each message straight into one growing
//! [`BytesMut`] and splits it off as a [`Bytes`], so a burst of messages
//! shares a few allocations and goes to the socket without another copy.
//!
//! The shape of the messages follows RFC 7606 §5.1: each UPDATE carries
//! exactly one of a non-empty Withdrawn Routes field, a non-empty NLRI field,
//! an MP_REACH_NLRI or an MP_UNREACH_NLRI, and MP_REACH_NLRI is the first
//! attribute. IPv4 prefixes use the classic fields, IPv6 ones the MP
//! attributes (RFC 4760). The other attributes are written once per message
//! in type-code order. Within those rules the builder uses as few messages
//! as it can: prefixes are grouped by encoded size, largest first, and each
//! message is topped up with smaller ones, so every message but the last
//! leaves less room free than the smallest prefix still waiting needs. A
//! table of /24s thus takes exactly ceil(bytes / room) messages, and mixed
//! lengths stay within a few bytes per message of that bound.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::attribute::{
    Aggregator, AsPath, Community, ExtendedCommunity, LargeCommunity, NextHop, Origin, flags,
};
use crate::context::Context;
use crate::error::EncodeError;
use crate::framing::{HEADER_LEN, put_header};
use crate::iana::{Afi, AttributeType, MessageType, Safi};
use crate::message::owned::{
    AttributeValue, PathAttribute, UpdateMessage, nlri_wire_len, put_nlri,
};
use crate::prefix::Nlri;

/// An IPv6 next hop for MP_REACH_NLRI (RFC 2545 §3): the global address,
/// and the link-local one when the peer shares the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6NextHop {
    /// Global address.
    pub global: Ipv6Addr,
    /// Link-local address, sent after the global one (32-byte next hop).
    pub link_local: Option<Ipv6Addr>,
}

impl From<Ipv6NextHop> for NextHop {
    fn from(n: Ipv6NextHop) -> Self {
        NextHop::V6 {
            global: n.global,
            link_local: n.link_local,
        }
    }
}

/// An attribute this crate does not interpret, as received, to be passed on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnknownAttribute {
    /// Flags as received.
    pub flags: u8,
    /// Type code.
    pub type_code: u8,
    /// Value.
    pub value: Vec<u8>,
}

/// The attributes shared by a group of announced prefixes.
///
/// ASNs are always the real 4-octet ones: on a session without the 4-octet
/// AS capability the builder writes AS_TRANS and adds AS4_PATH /
/// AS4_AGGREGATOR itself (RFC 6793 §4.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathAttributes {
    /// ORIGIN.
    pub origin: Origin,
    /// AS_PATH (empty for routes originated towards an iBGP peer).
    pub as_path: AsPath,
    /// NEXT_HOP, required to announce IPv4 prefixes.
    pub next_hop: Option<Ipv4Addr>,
    /// The MP_REACH_NLRI next hop, required to announce IPv6 prefixes.
    pub ipv6_next_hop: Option<Ipv6NextHop>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF (iBGP only; the caller decides).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE.
    pub atomic_aggregate: bool,
    /// AGGREGATOR.
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES (left out when empty: RFC 7606 §7.8 makes an empty one
    /// malformed).
    pub communities: Vec<Community>,
    /// EXTENDED_COMMUNITIES (left out when empty).
    pub extended_communities: Vec<ExtendedCommunity>,
    /// LARGE_COMMUNITY (left out when empty).
    pub large_communities: Vec<LargeCommunity>,
    /// Only to Customer (RFC 9234).
    pub only_to_customer: Option<u32>,
    /// Attributes of unknown type received with the route. Optional
    /// transitive ones are passed on with the Partial bit set (RFC 4271
    /// §5, §9.1.4); the others are not passed on.
    pub unknown: Vec<UnknownAttribute>,
}

impl Default for PathAttributes {
    fn default() -> Self {
        Self {
            origin: Origin::Igp,
            as_path: AsPath::empty(),
            next_hop: None,
            ipv6_next_hop: None,
            med: None,
            local_pref: None,
            atomic_aggregate: false,
            aggregator: None,
            communities: Vec::new(),
            extended_communities: Vec::new(),
            large_communities: Vec::new(),
            only_to_customer: None,
            unknown: Vec::new(),
        }
    }
}

impl PathAttributes {
    /// The attributes to write for a session in state `ctx`, in type-code
    /// order, NEXT_HOP included or not.
    fn to_attributes(
        &self,
        ctx: &Context,
        with_next_hop: bool,
    ) -> Result<Vec<PathAttribute>, EncodeError> {
        use AttributeValue as V;
        let mut out = vec![
            PathAttribute::new(V::Origin(self.origin)),
            PathAttribute::new(V::AsPath(self.as_path.clone())),
        ];
        let mut push = |v: Option<AttributeValue>| out.extend(v.map(PathAttribute::new));
        push(self.next_hop.filter(|_| with_next_hop).map(V::NextHop));
        push(self.med.map(V::MultiExitDisc));
        push(self.local_pref.map(V::LocalPref));
        push(self.atomic_aggregate.then_some(V::AtomicAggregate));
        push(self.aggregator.map(V::Aggregator));
        push((!self.communities.is_empty()).then(|| V::Communities(self.communities.clone())));
        push(
            (!self.extended_communities.is_empty())
                .then(|| V::ExtendedCommunities(self.extended_communities.clone())),
        );
        if !ctx.four_octet_as {
            // RFC 6793 §4.2.2: the real path goes in AS4_PATH when it holds
            // a 4-octet ASN, without confederation segments (§6).
            if self.as_path.needs_as4() {
                let mut as4 = self.as_path.clone();
                as4.segments.retain(|s| !s.kind.is_confed());
                push(Some(V::As4Path(as4)));
            }
            push(
                self.aggregator
                    .filter(|a| a.asn > u32::from(u16::MAX))
                    .map(V::As4Aggregator),
            );
        }
        push(
            (!self.large_communities.is_empty())
                .then(|| V::LargeCommunities(self.large_communities.clone())),
        );
        push(self.only_to_customer.map(V::OnlyToCustomer));
        for u in &self.unknown {
            if !matches!(AttributeType::from(u.type_code), AttributeType::Unknown(_)) {
                return Err(EncodeError::Unrepresentable(
                    "an attribute of known type passed as unknown",
                ));
            }
            if u.flags & flags::OPTIONAL_TRANSITIVE != flags::OPTIONAL_TRANSITIVE {
                continue;
            }
            out.push(PathAttribute {
                flags: flags::OPTIONAL_TRANSITIVE | flags::PARTIAL,
                value: V::Raw {
                    type_code: u.type_code,
                    value: u.value.clone(),
                },
            });
        }
        out.sort_by_key(|a| a.value.type_code());
        if out
            .windows(2)
            .any(|w| w[0].value.type_code() == w[1].value.type_code())
        {
            return Err(EncodeError::Unrepresentable(
                "an unknown attribute type appears twice",
            ));
        }
        Ok(out)
    }
}

/// Header, Withdrawn Routes Length and Total Path Attribute Length.
const FIXED: usize = HEADER_LEN + 4;
/// MP_REACH_NLRI / MP_UNREACH_NLRI header with a 2-byte length: the
/// builder always sets EXTENDED_LENGTH on them, as BIRD and FRR do, so that
/// their header size does not depend on how many prefixes fit.
const MP_HEADER: usize = 4;

/// Packs announcements and withdrawals into UPDATEs for one session.
///
/// ```
/// use bgp_proto::message::builder::{PathAttributes, UpdateBuilder};
/// use bgp_proto::{AsPath, Context, Nlri};
///
/// let attributes = PathAttributes {
///     as_path: AsPath::sequence([65001]),
///     next_hop: Some("192.0.2.1".parse().unwrap()),
///     ..PathAttributes::default()
/// };
/// let prefixes: Vec<Nlri> = (0..2000u32)
///     .map(|i| Nlri::new(bgp_proto::Prefix::V4(0x0a00_0000 | (i << 8), 24)))
///     .collect();
/// let mut builder = UpdateBuilder::new(Context::MODERN);
/// builder.announce(&attributes, &prefixes).unwrap();
/// let messages = builder.finish();
/// assert_eq!(messages.len(), 2);
/// assert!(messages.iter().all(|m| m.len() <= 4096));
/// ```
#[derive(Debug, Clone)]
pub struct UpdateBuilder {
    ctx: Context,
    buf: BytesMut,
    messages: Vec<Bytes>,
}

impl UpdateBuilder {
    /// A builder for a session in state `ctx` (its sending direction).
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            buf: BytesMut::new(),
            messages: Vec::new(),
        }
    }

    /// The messages built so far.
    pub fn messages(&self) -> &[Bytes] {
        &self.messages
    }

    /// Takes the messages built so far, keeping the builder for more.
    pub fn take(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.messages)
    }

    /// The messages built.
    pub fn finish(self) -> Vec<Bytes> {
        self.messages
    }

    /// Runs `f`, and on error drops whatever it built.
    fn atomically(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let before = self.messages.len();
        let r = f(self);
        if r.is_err() {
            self.messages.truncate(before);
            self.buf.clear();
        }
        r
    }

    fn split_message(&mut self) {
        self.messages.push(self.buf.split().freeze());
    }

    /// Adds UPDATEs withdrawing `prefixes`: IPv4 ones in the Withdrawn
    /// Routes field, IPv6 ones in MP_UNREACH_NLRI, as few messages as the
    /// session's maximum size allows. Nothing is added on error.
    pub fn withdraw(&mut self, prefixes: &[Nlri]) -> Result<(), EncodeError> {
        self.atomically(|b| {
            let max = b.ctx.max_message_len();
            let v4_add_path = b.ctx.add_path_for(Afi::Ipv4, Safi::Unicast);
            let v6_add_path = b.ctx.add_path_for(Afi::Ipv6, Safi::Unicast);
            let v4 = prefixes.iter().filter(|n| n.prefix.is_ipv4());
            pack(v4, v4_add_path, FIXED, max, |batch| {
                put_header(&mut b.buf, 0, MessageType::Update);
                b.buf.put_u16(0);
                for n in batch {
                    put_nlri(n, false, v4_add_path, &mut b.buf)?;
                }
                let withdrawn = b.buf.len() - HEADER_LEN - 2;
                b.buf.put_u16(0);
                finish_message(&mut b.buf, withdrawn, 0);
                b.split_message();
                Ok(())
            })?;
            let v6 = prefixes.iter().filter(|n| !n.prefix.is_ipv4());
            pack(v6, v6_add_path, FIXED + MP_HEADER + 3, max, |batch| {
                put_header(&mut b.buf, 0, MessageType::Update);
                b.buf.put_u16(0);
                b.buf.put_u16(0);
                let at = b.buf.len();
                put_mp_header(&mut b.buf, AttributeType::MpUnreachNlri);
                b.buf.put_u16(Afi::Ipv6.into());
                b.buf.put_u8(Safi::Unicast.into());
                for n in batch {
                    put_nlri(n, true, v6_add_path, &mut b.buf)?;
                }
                finish_mp(&mut b.buf, at);
                let attributes = b.buf.len() - FIXED;
                finish_message(&mut b.buf, 0, attributes);
                b.split_message();
                Ok(())
            })
        })
    }

    /// Adds UPDATEs announcing `prefixes` with `attributes`: IPv4 ones in
    /// the NLRI field with NEXT_HOP, IPv6 ones in MP_REACH_NLRI (the first
    /// attribute, RFC 7606 §5.1) without NEXT_HOP (RFC 4760 §3), as few
    /// messages as the session's maximum size allows. Nothing is added on
    /// error.
    pub fn announce(
        &mut self,
        attributes: &PathAttributes,
        prefixes: &[Nlri],
    ) -> Result<(), EncodeError> {
        self.atomically(|b| {
            let ctx = b.ctx;
            let max = ctx.max_message_len();
            let mut block = BytesMut::new();
            if prefixes.iter().any(|n| n.prefix.is_ipv4()) {
                if attributes.next_hop.is_none() {
                    return Err(EncodeError::Unrepresentable(
                        "IPv4 prefixes need a NEXT_HOP",
                    ));
                }
                for a in attributes.to_attributes(&ctx, true)? {
                    a.encode(&ctx, &mut block)?;
                }
                let add_path = ctx.add_path_for(Afi::Ipv4, Safi::Unicast);
                let v4 = prefixes.iter().filter(|n| n.prefix.is_ipv4());
                pack(v4, add_path, FIXED + block.len(), max, |batch| {
                    put_header(&mut b.buf, 0, MessageType::Update);
                    b.buf.put_u16(0);
                    b.buf.put_u16(0);
                    b.buf.put_slice(&block);
                    for n in batch {
                        put_nlri(n, false, add_path, &mut b.buf)?;
                    }
                    finish_message(&mut b.buf, 0, block.len());
                    b.split_message();
                    Ok(())
                })?;
            }
            if prefixes.iter().any(|n| !n.prefix.is_ipv4()) {
                let next_hop = NextHop::from(attributes.ipv6_next_hop.ok_or(
                    EncodeError::Unrepresentable("IPv6 prefixes need an IPv6 next hop"),
                )?);
                block.clear();
                for a in attributes.to_attributes(&ctx, false)? {
                    a.encode(&ctx, &mut block)?;
                }
                let add_path = ctx.add_path_for(Afi::Ipv6, Safi::Unicast);
                let v6 = prefixes.iter().filter(|n| !n.prefix.is_ipv4());
                let fixed = FIXED + MP_HEADER + 5 + next_hop.wire_len() + block.len();
                pack(v6, add_path, fixed, max, |batch| {
                    put_header(&mut b.buf, 0, MessageType::Update);
                    b.buf.put_u16(0);
                    b.buf.put_u16(0);
                    let at = b.buf.len();
                    put_mp_header(&mut b.buf, AttributeType::MpReachNlri);
                    b.buf.put_u16(Afi::Ipv6.into());
                    b.buf.put_u8(Safi::Unicast.into());
                    // 16 or 32 bytes: an Ipv6NextHop has no other length.
                    b.buf.put_u8(next_hop.wire_len() as u8);
                    next_hop.encode(&mut b.buf);
                    b.buf.put_u8(0);
                    for n in batch {
                        put_nlri(n, true, add_path, &mut b.buf)?;
                    }
                    finish_mp(&mut b.buf, at);
                    b.buf.put_slice(&block);
                    let attributes = b.buf.len() - FIXED;
                    finish_message(&mut b.buf, 0, attributes);
                    b.split_message();
                    Ok(())
                })?;
            }
            Ok(())
        })
    }

    /// Adds the End-of-RIB marker of a family (RFC 4724 §2).
    pub fn end_of_rib(&mut self, afi: Afi, safi: Safi) -> Result<(), EncodeError> {
        self.atomically(|b| {
            UpdateMessage::end_of_rib(afi, safi).encode(&b.ctx, &mut b.buf)?;
            b.split_message();
            Ok(())
        })
    }
}

/// Builds the UPDATEs withdrawing `withdraw` and then announcing
/// `announce` with `attributes` (withdrawals first, so that a prefix in
/// both lists ends up announced, as RFC 4271 §4.3 reads one UPDATE holding
/// both).
pub fn build(
    ctx: Context,
    attributes: &PathAttributes,
    announce: &[Nlri],
    withdraw: &[Nlri],
) -> Result<Vec<Bytes>, EncodeError> {
    let mut b = UpdateBuilder::new(ctx);
    b.withdraw(withdraw)?;
    b.announce(attributes, announce)?;
    Ok(b.finish())
}

fn put_mp_header(out: &mut BytesMut, t: AttributeType) {
    out.put_u8(flags::OPTIONAL | flags::EXTENDED_LENGTH);
    out.put_u8(t.into());
    out.put_u16(0);
}

/// Fills in the length of the MP attribute that starts at `at`.
fn finish_mp(out: &mut BytesMut, at: usize) {
    // The packer keeps every message within 65535 bytes.
    let len = (out.len() - at - MP_HEADER) as u16;
    out[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Fills in the message length, Withdrawn Routes Length and Total Path
/// Attribute Length of the message that fills `out`.
fn finish_message(out: &mut BytesMut, withdrawn: usize, attributes: usize) {
    // The packer keeps every message within the session's maximum, itself
    // at most 65535 bytes.
    let len = out.len() as u16;
    out[16..18].copy_from_slice(&len.to_be_bytes());
    out[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&(withdrawn as u16).to_be_bytes());
    let at = HEADER_LEN + 2 + withdrawn;
    out[at..at + 2].copy_from_slice(&(attributes as u16).to_be_bytes());
}

/// Splits `entries` into batches that fit in a message of at most `max`
/// bytes beside `overhead` bytes of header and attributes, and calls `emit`
/// for each, largest entries first in each batch.
fn pack<'p>(
    entries: impl Iterator<Item = &'p Nlri>,
    add_path: bool,
    overhead: usize,
    max: usize,
    mut emit: impl FnMut(&[&'p Nlri]) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let mut sized: Vec<(usize, &Nlri)> = entries.map(|n| (nlri_wire_len(n, add_path), n)).collect();
    let Some(largest) = sized.iter().map(|(s, _)| *s).max() else {
        return Ok(());
    };
    if overhead + largest > max {
        return Err(EncodeError::TooLong {
            len: overhead + largest,
            max,
        });
    }
    let room = max - overhead;
    // Stable: prefixes of one size keep the caller's order.
    sized.sort_by_key(|s| std::cmp::Reverse(s.0));
    // (size, next unused index, end) per size class, largest first.
    let mut classes: Vec<(usize, usize, usize)> = Vec::new();
    for (i, (s, _)) in sized.iter().enumerate() {
        match classes.last_mut() {
            Some(c) if c.0 == *s => c.2 = i + 1,
            _ => classes.push((*s, i, i + 1)),
        }
    }
    let mut batch: Vec<&Nlri> = Vec::new();
    let mut left = sized.len();
    while left > 0 {
        batch.clear();
        let mut free = room;
        for c in classes.iter_mut() {
            let take = (c.2 - c.1).min(free / c.0);
            batch.extend(sized[c.1..c.1 + take].iter().map(|(_, n)| *n));
            c.1 += take;
            free -= take * c.0;
        }
        left -= batch.len();
        emit(&batch)?;
    }
    Ok(())
}
