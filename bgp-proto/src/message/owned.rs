//! The owned, typed form of an UPDATE, and its encoding.
//!
//! [`Update::to_message`] turns a decoded view into an [`UpdateMessage`];
//! [`UpdateMessage::encode`] writes it back. Every attribute keeps its flags
//! and its place in wire order, so a message re-encodes to the bytes it was
//! decoded from unless the sender used a non-canonical form.

use std::net::Ipv4Addr;

use bytes::BytesMut;

use crate::attribute::{
    Aggregator, AsPath, Community, ExtendedCommunity, LargeCommunity, NextHop, Origin,
};
use crate::context::Context;
use crate::error::EncodeError;
use crate::iana::{Afi, Safi};
use crate::message::update::Update;
use crate::prefix::Nlri;

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
    /// Any other attribute, or a malformed one, kept raw.
    Raw {
        /// Type code.
        type_code: u8,
        /// Value bytes.
        value: Vec<u8>,
    },
}

impl Update<'_> {
    /// The owned, typed form of this UPDATE.
    pub fn to_message(&self) -> UpdateMessage {
        todo!("owned UPDATE conversion")
    }
}

impl UpdateMessage {
    /// Appends the UPDATE (header included) to `out`.
    pub fn encode(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        let _ = (ctx, out);
        todo!("UPDATE encoding")
    }
}
