//! # bgp-proto: a sans-IO BGP-4 wire codec
//!
//! Framing, decoding and encoding of every BGP-4 message, with no I/O, no
//! async runtime and no logging: the session layer owns sockets and timers,
//! this crate owns bytes.
//!
//! - [`framing`]: find whole messages in a byte stream, checking the header
//!   eagerly ([`framing::Framer`]).
//! - [`decode`]: one framed message into a [`Message`]. UPDATEs decode into a
//!   validated zero-copy view ([`Update`]) whose iterators allocate nothing;
//!   [`Update::to_message`] gives the owned, typed form.
//! - [`decode_lazy`]: the same, except that an UPDATE's NLRI entries are
//!   checked as they are iterated ([`LazyUpdate`]), so that a full-table
//!   ingest reads each prefix once; same errors, see its contract.
//! - Encoding: [`encode`], and [`message::builder::UpdateBuilder`] which packs
//!   prefixes sharing one attribute set into as few UPDATEs as the session's
//!   maximum size allows.
//! - Everything that depends on the session (4-octet AS, ADD-PATH, extended
//!   messages) is one [`Context`] value passed in, never global state.
//! - Every malformed input gives a typed [`DecodeError`] carrying the
//!   NOTIFICATION (code, subcode, data) RFC 4271 §6 prescribes, or, for
//!   UPDATE attributes, an [`AttributeError`] with the RFC 7606 [`Action`].
//!   Decoding never panics and never allocates from a length field.
//!
//! ## Supported specifications
//! - RFC 4271 BGP-4 (messages, path attributes, error handling §6)
//! - RFC 1997 communities, RFC 4360 extended communities, RFC 8092 large
//!   communities
//! - RFC 4456 ORIGINATOR_ID and CLUSTER_LIST
//! - RFC 4760 multiprotocol extensions (MP_REACH_NLRI / MP_UNREACH_NLRI for
//!   IPv4 and IPv6 unicast; other families kept raw)
//! - RFC 5492 capabilities; RFC 9072 extended optional parameters length
//! - RFC 2918 route refresh, RFC 7313 enhanced route refresh
//! - RFC 6793 4-octet AS numbers, AS4_PATH / AS4_AGGREGATOR merging
//! - RFC 4724 graceful restart, RFC 9494 long-lived graceful restart
//!   (capability)
//! - RFC 7911 ADD-PATH, RFC 8654 extended messages, RFC 8950 extended next
//!   hop (capability and IPv6 next hops for IPv4 NLRI)
//! - RFC 8203 / RFC 9003 shutdown communication
//! - RFC 7606 revised UPDATE error handling
//! - draft-walton-bgp-hostname-capability (FQDN)

pub mod attribute;
pub mod context;
pub mod error;
pub mod framing;
pub mod iana;
pub mod message;
pub mod prefix;
mod reader;

pub use attribute::{
    Aggregator, AsPath, AsSegment, Community, ExtendedCommunity, LargeCommunity, NextHop, Origin,
    SegmentType,
};
pub use context::{Context, Families};
pub use error::{Action, AttributeError, DecodeError, EncodeError};
pub use iana::{Afi, AttributeType, ErrorCode, MessageType, Safi};
pub use message::capability::Capability;
pub use message::encode_keepalive;
pub use message::notification::Notification;
pub use message::open::{Negotiated, Open, negotiate};
pub use message::route_refresh::{RouteRefresh, RouteRefreshSubtype};
pub use message::update::{LazyNlriIter, LazyUpdate, Update};
pub use message::{LazyMessage, Message, decode, decode_lazy, encode};
pub use prefix::{Nlri, Prefix};
