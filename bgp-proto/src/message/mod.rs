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
use update::{LazyUpdate, Update};

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
    // An UPDATE with a valid header, nearly every message of a session,
    // skips the general header check and the dispatch on the type. Any
    // other message, valid or not, takes the general path, which gives
    // every header error.
    if let Some((head, body)) = buf.split_first_chunk::<HEADER_LEN>() {
        if framing::is_valid_update_header(head, buf.len(), ctx) {
            return Update::parse_with(body, ctx, Message::Update);
        }
    }
    decode_any(buf, ctx)
}

/// A decoded BGP message whose UPDATE, if it is one, checks its NLRI
/// entries while they are read ([`LazyUpdate`]); what [`decode_lazy`]
/// returns. The other messages are decoded in full, as by [`decode`].
// As `Message`: the UPDATE view is inline.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LazyMessage<'a> {
    /// OPEN (RFC 4271 §4.2).
    Open(Open),
    /// UPDATE (RFC 4271 §4.3), attributes checked, NLRI checked as read.
    Update(LazyUpdate<'a>),
    /// NOTIFICATION (RFC 4271 §4.5).
    Notification(Notification),
    /// KEEPALIVE (RFC 4271 §4.4).
    Keepalive,
    /// ROUTE-REFRESH (RFC 2918 §3, RFC 7313 §3.2).
    RouteRefresh(RouteRefresh),
}

impl<'a> From<Message<'a>> for LazyMessage<'a> {
    fn from(m: Message<'a>) -> Self {
        match m {
            Message::Open(o) => Self::Open(o),
            Message::Update(u) => Self::Update(u.into()),
            Message::Notification(n) => Self::Notification(n),
            Message::Keepalive => Self::Keepalive,
            Message::RouteRefresh(r) => Self::RouteRefresh(r),
        }
    }
}

/// [`decode`], except that an UPDATE's NLRI entries are checked while the
/// caller iterates them rather than before the view is returned: the
/// full-table receive path, which reads every prefix once instead of
/// twice. Every error is [`decode`]'s for the same message, returned here
/// or by the UPDATE's iterators; read [`LazyUpdate`]'s contract before
/// using it.
pub fn decode_lazy<'a>(buf: &'a [u8], ctx: &Context) -> Result<LazyMessage<'a>, DecodeError> {
    if let Some((head, body)) = buf.split_first_chunk::<HEADER_LEN>() {
        if framing::is_valid_update_header(head, buf.len(), ctx) {
            return LazyUpdate::parse_with(body, ctx, LazyMessage::Update);
        }
    }
    // Every other message, and every header error: `decode`'s general
    // path (which gives a checked UPDATE view only for headers the
    // shortcut refuses, i.e. never for a valid one).
    decode_any(buf, ctx).map(LazyMessage::from)
}

/// [`decode`] of any message.
#[inline(never)]
fn decode_any<'a>(buf: &'a [u8], ctx: &Context) -> Result<Message<'a>, DecodeError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::MARKER;

    /// `decode`'s shortcut for UPDATEs must give what the general path
    /// gives for every header: valid, or wrong in any byte.
    #[test]
    fn the_update_shortcut_agrees_with_the_general_path() {
        let mut update = MARKER.to_vec();
        update.extend_from_slice(&[0, 0, 2]);
        // Withdrawn 10.0.0.0/8; ORIGIN, AS_PATH, NEXT_HOP; NLRI 192.0.2.0/24.
        update.extend_from_slice(&[0, 2, 8, 10, 0, 20]);
        update.extend_from_slice(&[0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9]);
        update.extend_from_slice(&[0x40, 3, 4, 192, 0, 2, 1, 24, 192, 0, 2]);
        let len = update.len() as u16;
        update[16..18].copy_from_slice(&len.to_be_bytes());
        let mut messages = vec![update.clone(), update[..23].to_vec()];
        messages[1][16..18].copy_from_slice(&23u16.to_be_bytes());
        messages[1][19..23].fill(0);
        let contexts = [
            Context::MODERN,
            Context {
                extended_message: true,
                ..Context::INITIAL
            },
        ];
        let mut checked = 0;
        for message in &messages {
            for at in 0..HEADER_LEN {
                for value in [0u8, 1, 2, 3, 4, 5, 0x10, 0x17, 0x18, 0xfe, 0xff] {
                    let mut m = message.clone();
                    m[at] = value;
                    for ctx in &contexts {
                        assert_eq!(decode(&m, ctx), decode_any(&m, ctx), "byte {at} = {value}");
                        checked += 1;
                    }
                }
            }
            // Truncated and extended.
            for cut in 0..message.len() {
                assert_eq!(
                    decode(&message[..cut], &Context::MODERN),
                    decode_any(&message[..cut], &Context::MODERN)
                );
            }
            let mut long = message.clone();
            long.push(0);
            assert_eq!(
                decode(&long, &Context::MODERN),
                decode_any(&long, &Context::MODERN)
            );
        }
        // The valid UPDATEs themselves take the shortcut and decode.
        for message in &messages {
            assert!(matches!(
                decode(message, &Context::MODERN),
                Ok(Message::Update(_))
            ));
        }
        assert!(checked > 800);
    }
}
