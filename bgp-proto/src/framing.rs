//! Message framing: find whole messages in a byte stream (RFC 4271 §4.1).
//!
//! The header is checked as soon as its 19 bytes are there (marker, length
//! within 19..=max for its type, known type), as BIRD's `bgp_rx` does: a
//! framer that waited for a bogus 60,000-byte body would leave the session
//! hanging until the hold timer instead of answering with the NOTIFICATION.

use bytes::{Bytes, BytesMut};

use crate::context::Context;
use crate::error::DecodeError;
use crate::iana::{ErrorCode, HeaderSubcode, MessageType};

/// Length of the fixed header: 16-byte marker, 2-byte length, 1-byte type.
pub const HEADER_LEN: usize = 19;

/// The all-ones marker (RFC 4271 §4.1).
pub const MARKER: [u8; 16] = [0xff; 16];

/// A checked message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Total message length, header included.
    pub length: usize,
    /// Message type.
    pub message_type: MessageType,
}

/// Shortest and longest legal length of each message type (RFC 4271 §6.1,
/// RFC 2918 §3). OPEN stays within 4096 bytes and KEEPALIVE at 19 even with
/// extended messages (RFC 8654 §4).
fn length_bounds(t: MessageType, max: usize) -> (usize, usize) {
    match t {
        MessageType::Open => (29, crate::context::MAX_MESSAGE_LEN),
        MessageType::Update => (23, max),
        MessageType::Notification => (21, max),
        MessageType::Keepalive => (19, 19),
        MessageType::RouteRefresh => (23, max),
    }
}

fn bad_length(raw: [u8; 2], reason: &'static str) -> DecodeError {
    DecodeError::new(
        ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength),
        16,
        reason,
    )
    .with_data(raw)
}

/// Checks the header at the start of `buf`.
///
/// Returns `Ok(None)` while fewer than 19 bytes are buffered, and the header
/// as soon as they are, whether or not the body has arrived. Errors carry the
/// Message Header Error NOTIFICATION of RFC 4271 §6.1 (the data of Bad
/// Message Length is the erroneous length field, of Bad Message Type the
/// type byte).
///
/// ROUTE-REFRESH of a wrong length is not rejected here: RFC 7313 §5 answers
/// it with its own error code, which [`crate::decode`] applies.
pub fn check_header(buf: &[u8], ctx: &Context) -> Result<Option<Header>, DecodeError> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    if head[..16] != MARKER {
        return Err(DecodeError::new(
            ErrorCode::MessageHeader(HeaderSubcode::ConnectionNotSynchronized),
            0,
            "marker is not all ones",
        ));
    }
    let raw = [head[16], head[17]];
    let length = usize::from(u16::from_be_bytes(raw));
    let Some(message_type) = MessageType::from_code(head[18]) else {
        if !(HEADER_LEN..=ctx.max_message_len()).contains(&length) {
            return Err(bad_length(raw, "message length out of range"));
        }
        return Err(DecodeError::new(
            ErrorCode::MessageHeader(HeaderSubcode::BadMessageType),
            18,
            "unknown message type",
        )
        .with_data([head[18]]));
    };
    let (min, max) = length_bounds(message_type, ctx.max_message_len());
    let min = if message_type == MessageType::RouteRefresh {
        HEADER_LEN
    } else {
        min
    };
    if length < min {
        return Err(bad_length(raw, "message shorter than its type allows"));
    }
    if length > max {
        return Err(bad_length(raw, "message longer than the session allows"));
    }
    Ok(Some(Header {
        length,
        message_type,
    }))
}

/// True when `head` is the header of an UPDATE that [`check_header`]
/// accepts and whose length is `len`, the size of the whole message: the
/// checks of `check_header` and [`crate::decode`] for an UPDATE, with the
/// marker compared as two words.
#[inline(always)]
pub(crate) fn is_valid_update_header(head: &[u8; HEADER_LEN], len: usize, ctx: &Context) -> bool {
    let [marker @ .., l0, l1, t] = *head;
    let (high, low) = marker.split_at(8);
    let word = |b: &[u8]| b.try_into().map_or(0, u64::from_ne_bytes);
    word(high) == u64::MAX
        && word(low) == u64::MAX
        && t == MessageType::Update.code()
        && usize::from(u16::from_be_bytes([l0, l1])) == len
        && {
            let (min, max) = length_bounds(MessageType::Update, ctx.max_message_len());
            (min..=max).contains(&len)
        }
}

/// Length of the first complete message in `buf`, `Ok(None)` while it is
/// incomplete.
pub fn frame(buf: &[u8], ctx: &Context) -> Result<Option<usize>, DecodeError> {
    Ok(check_header(buf, ctx)?.and_then(|h| (buf.len() >= h.length).then_some(h.length)))
}

/// A streaming framer over a growing receive buffer.
///
/// Feed it the socket's `BytesMut`; each call to [`Framer::next_message`]
/// splits off one complete message (header included) without copying.
#[derive(Debug, Clone, Default)]
pub struct Framer {
    ctx: Context,
}

impl Framer {
    /// A framer for a session in state `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Changes the session state, e.g. once extended messages are
    /// negotiated.
    pub fn set_context(&mut self, ctx: Context) {
        self.ctx = ctx;
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    ///
    /// After an error the buffer is left as it was: the session is over.
    pub fn next_message(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        Ok(frame(buf, &self.ctx)?.map(|len| buf.split_to(len).freeze()))
    }

    /// How many more bytes the message at the head of `buf` needs (at least
    /// one header's worth when the header is incomplete), so a reader can
    /// reserve once.
    pub fn wanted(&self, buf: &[u8]) -> usize {
        match check_header(buf, &self.ctx) {
            Ok(Some(h)) => h.length.saturating_sub(buf.len()),
            _ => HEADER_LEN.saturating_sub(buf.len()),
        }
    }
}

/// Writes a header for a message of `length` bytes.
pub(crate) fn put_header(out: &mut BytesMut, length: u16, t: MessageType) {
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&[t.code()]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u16, t: u8) -> Vec<u8> {
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&len.to_be_bytes());
        v.push(t);
        v
    }

    #[test]
    fn needs_the_whole_header_first() {
        let ctx = Context::MODERN;
        let h = header(19, 4);
        for n in 0..19 {
            assert_eq!(check_header(&h[..n], &ctx), Ok(None));
        }
        assert_eq!(frame(&h, &ctx), Ok(Some(19)));
    }

    #[test]
    fn rejects_a_bad_marker_at_once() {
        let mut h = header(19, 4);
        h[3] = 0;
        let e = check_header(&h, &Context::MODERN).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::MessageHeader(HeaderSubcode::ConnectionNotSynchronized)
        );
        assert!(e.data.is_empty());
    }

    #[test]
    fn rejects_bad_lengths_with_the_length_as_data() {
        let ctx = Context::MODERN;
        for (len, t) in [(18u16, 2u8), (4097, 2), (20, 4), (28, 1), (22, 2), (20, 3)] {
            let e = check_header(&header(len, t), &ctx).unwrap_err();
            assert_eq!(
                e.code,
                ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength),
                "len {len} type {t}"
            );
            assert_eq!(e.data, len.to_be_bytes());
        }
        // Only announced at the header: the body need not be there.
        let ext = Context {
            extended_message: true,
            ..ctx
        };
        assert_eq!(
            check_header(&header(60000, 2), &ext)
                .unwrap()
                .unwrap()
                .length,
            60000
        );
        assert!(check_header(&header(4097, 1), &ext).is_err());
    }

    #[test]
    fn rejects_unknown_types_with_the_type_as_data() {
        let e = check_header(&header(19, 9), &Context::MODERN).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::MessageHeader(HeaderSubcode::BadMessageType)
        );
        assert_eq!(e.data, [9]);
    }

    #[test]
    fn framer_splits_a_stream() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&header(19, 4));
        buf.extend_from_slice(&header(19, 4)[..10]);
        let f = Framer::new(Context::MODERN);
        assert_eq!(f.next_message(&mut buf).unwrap().unwrap().len(), 19);
        assert_eq!(f.next_message(&mut buf).unwrap(), None);
        assert_eq!(f.wanted(&buf), 9);
        buf.extend_from_slice(&header(19, 4)[10..]);
        assert_eq!(f.next_message(&mut buf).unwrap().unwrap().len(), 19);
        assert!(buf.is_empty());
    }
}
