//! The five BGP-4 messages, decode dispatch and encoding.

pub mod builder;
pub mod capability;
pub mod notification;
pub mod open;
pub mod owned;
pub mod route_refresh;
pub mod update;

use bytes::BytesMut;

use crate::context::Context;
use crate::error::{DecodeError, EncodeError};
use crate::framing::{self, HEADER_LEN};
use crate::iana::{ErrorCode, HeaderSubcode, MessageType};
use notification::Notification;
use open::Open;
use route_refresh::RouteRefresh;
use update::Update;

/// A decoded BGP message. UPDATEs borrow from the input buffer.
// The UPDATE view is large (its attribute index is inline); boxing it would
// cost an allocation per UPDATE on the ingest path for the sake of a move.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// OPEN (RFC 4271 §4.2).
    Open(Open),
    /// UPDATE (RFC 4271 §4.3), as a validated zero-copy view.
    Update(Update<'a>),
    /// NOTIFICATION (RFC 4271 §4.5).
    Notification(Notification),
    /// KEEPALIVE (RFC 4271 §4.4).
    Keepalive,
    /// ROUTE-REFRESH (RFC 2918 §3, RFC 7313 §3.2).
    RouteRefresh(RouteRefresh),
}

impl Message<'_> {
    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Open(_) => MessageType::Open,
            Self::Update(_) => MessageType::Update,
            Self::Notification(_) => MessageType::Notification,
            Self::Keepalive => MessageType::Keepalive,
            Self::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }
}

/// Decodes one complete message (header included) received on a session in
/// state `ctx`.
///
/// `buf` must be exactly one message, as [`framing::Framer`] yields them;
/// trailing bytes are a Bad Message Length error.
pub fn decode<'a>(buf: &'a [u8], ctx: &Context) -> Result<Message<'a>, DecodeError> {
    let Some(header) = framing::check_header(buf, ctx)? else {
        return Err(DecodeError::new(
            ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength),
            buf.len(),
            "message shorter than the BGP header",
        ));
    };
    if header.length != buf.len() {
        return Err(DecodeError::new(
            ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength),
            16,
            "length field does not match the message size",
        )
        .with_data([buf[16], buf[17]]));
    }
    let body = &buf[HEADER_LEN..];
    Ok(match header.message_type {
        MessageType::Open => Message::Open(Open::decode(body)?),
        MessageType::Update => Message::Update(Update::parse(body, ctx)?),
        MessageType::Keepalive => Message::Keepalive,
        MessageType::Notification => Message::Notification(Notification::decode(body)?),
        MessageType::RouteRefresh => Message::RouteRefresh(RouteRefresh::decode(body)?),
    })
}

/// Encodes `msg` for a session in state `ctx`, appending it (header
/// included) to `out`.
///
/// Fails, writing nothing, when the message does not fit the session's
/// maximum size (an OPEN never exceeds 4096 bytes) or holds a value its
/// field cannot carry.
pub fn encode(msg: &Message<'_>, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
    match msg {
        Message::Open(open) => open.encode(out),
        Message::Update(update) => update.to_message().encode(ctx, out),
        Message::Notification(notification) => notification.encode(ctx, out),
        Message::Keepalive => {
            encode_keepalive(out);
            Ok(())
        }
        Message::RouteRefresh(refresh) => {
            refresh.encode(out);
            Ok(())
        }
    }
}

/// Appends a KEEPALIVE (RFC 4271 §4.4: the header alone) to `out`.
pub fn encode_keepalive(out: &mut BytesMut) {
    out.reserve(HEADER_LEN);
    framing::put_header(out, HEADER_LEN as u16, MessageType::Keepalive);
}
