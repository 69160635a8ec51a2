//! The five BGP-4 messages, decode dispatch and encoding.

pub mod notification;
pub mod owned;
pub mod update;

use bytes::BytesMut;

use crate::context::Context;
use crate::error::{DecodeError, EncodeError};
use crate::framing::{self, HEADER_LEN};
use crate::iana::{ErrorCode, HeaderSubcode, MessageType};
use notification::Notification;
use update::Update;

/// A decoded BGP message. UPDATEs borrow from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// UPDATE (RFC 4271 §4.3), as a validated zero-copy view.
    Update(Update<'a>),
    /// NOTIFICATION (RFC 4271 §4.5).
    Notification(Notification),
    /// KEEPALIVE (RFC 4271 §4.4).
    Keepalive,
}

impl Message<'_> {
    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Update(_) => MessageType::Update,
            Self::Notification(_) => MessageType::Notification,
            Self::Keepalive => MessageType::Keepalive,
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
        MessageType::Update => Message::Update(Update::parse(body, ctx)?),
        MessageType::Keepalive => Message::Keepalive,
        MessageType::Notification => Message::Notification(Notification::decode(body)?),
        MessageType::Open | MessageType::RouteRefresh => {
            return Err(DecodeError::new(
                ErrorCode::MessageHeader(HeaderSubcode::BadMessageType),
                18,
                "not yet supported",
            ));
        }
    })
}

/// Encodes `msg` for a session in state `ctx`, appending to `out`.
pub fn encode(msg: &Message<'_>, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
    let _ = (msg, ctx, out);
    Err(EncodeError::Unrepresentable("not yet supported"))
}
