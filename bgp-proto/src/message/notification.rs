//! NOTIFICATION (RFC 4271 §4.5), with the shutdown communication of
//! RFC 8203 / RFC 9003.

use std::fmt;

use bytes::{BufMut, BytesMut};

use crate::context::Context;
use crate::error::EncodeError;
use crate::framing::{HEADER_LEN, put_header};
use crate::iana::{CeaseSubcode, ErrorCode, MessageType};

/// Longest shutdown communication (RFC 9003 §2), in bytes of UTF-8.
pub const MAX_SHUTDOWN_MESSAGE_LEN: usize = 255;

/// A NOTIFICATION message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Error code and subcode.
    pub code: ErrorCode,
    /// Data, whose meaning depends on the code.
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION with `code` and `data`.
    pub fn new(code: ErrorCode, data: impl Into<Vec<u8>>) -> Self {
        Self {
            code,
            data: data.into(),
        }
    }

    /// A Cease with a shutdown communication (RFC 9003 §2), for
    /// Administrative Shutdown or Administrative Reset.
    ///
    /// `message` is cut to 255 bytes on a character boundary. RFC 9003
    /// defines the communication for those two subcodes only: with any other
    /// subcode, or an empty message, the NOTIFICATION carries no data.
    pub fn cease_shutdown(subcode: CeaseSubcode, message: &str) -> Self {
        let code = ErrorCode::Cease(subcode);
        if !carries_shutdown_message(code) || message.is_empty() {
            return Self::new(code, Vec::new());
        }
        let mut end = message.len().min(MAX_SHUTDOWN_MESSAGE_LEN);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = &message.as_bytes()[..end];
        let mut data = Vec::with_capacity(1 + text.len());
        // end <= 255.
        data.push(end as u8);
        data.extend_from_slice(text);
        Self::new(code, data)
    }

    /// The shutdown communication of a Cease / Administrative Shutdown or
    /// Administrative Reset (RFC 9003 §2).
    ///
    /// `None` when there is none, and when it is malformed (a length that
    /// does not match the data, invalid UTF-8): RFC 9003 §2 has the receiver
    /// log that and carry on, never treat it as an error.
    pub fn shutdown_message(&self) -> Option<&str> {
        if !carries_shutdown_message(self.code) {
            return None;
        }
        let (&len, text) = self.data.split_first()?;
        if len == 0 || text.len() != usize::from(len) {
            return None;
        }
        std::str::from_utf8(text).ok()
    }

    /// Decodes a NOTIFICATION body (after the header).
    ///
    /// Framing guarantees at least the code and subcode (a NOTIFICATION is
    /// at least 21 bytes); a shorter body is a Bad Message Length.
    pub fn decode(body: &[u8]) -> Result<Self, crate::DecodeError> {
        let [code, subcode, data @ ..] = body else {
            let len = u16::try_from(HEADER_LEN + body.len()).unwrap_or(u16::MAX);
            return Err(crate::DecodeError::new(
                ErrorCode::MessageHeader(crate::iana::HeaderSubcode::BadMessageLength),
                16,
                "NOTIFICATION shorter than code and subcode",
            )
            .with_data(len.to_be_bytes()));
        };
        Ok(Self::new(ErrorCode::from_wire(*code, *subcode), data))
    }

    /// Appends the NOTIFICATION (header included) to `out`. Fails, writing
    /// nothing, when the data does not fit in the session's maximum message
    /// size.
    pub fn encode(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        let len = HEADER_LEN + 2 + self.data.len();
        let max = ctx.max_message_len();
        let Some(len16) = u16::try_from(len).ok().filter(|_| len <= max) else {
            return Err(EncodeError::TooLong { len, max });
        };
        out.reserve(len);
        put_header(out, len16, MessageType::Notification);
        out.put_u8(self.code.code());
        out.put_u8(self.code.subcode());
        out.put_slice(&self.data);
        Ok(())
    }
}

fn carries_shutdown_message(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown | CeaseSubcode::AdministrativeReset)
    )
}

/// Bytes of data shown in full by `Display`; the rest is summarised.
const DISPLAY_DATA_LIMIT: usize = 64;

impl fmt::Display for Notification {
    /// Code and subcode by name and number, then the shutdown communication
    /// (quoted and escaped: it comes from the peer) or the data in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(message) = self.shutdown_message() {
            return write!(f, ", message {message:?}");
        }
        if self.data.is_empty() {
            return Ok(());
        }
        f.write_str(", data ")?;
        for b in self.data.iter().take(DISPLAY_DATA_LIMIT) {
            write!(f, "{b:02x}")?;
        }
        if self.data.len() > DISPLAY_DATA_LIMIT {
            write!(f, "... ({} bytes)", self.data.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iana::OpenSubcode;

    #[test]
    fn shutdown_message_round_trips() {
        let n = Notification::cease_shutdown(CeaseSubcode::AdministrativeShutdown, "maintenance");
        assert_eq!(n.data[0], 11);
        assert_eq!(n.shutdown_message(), Some("maintenance"));
        let mut out = BytesMut::new();
        n.encode(&Context::MODERN, &mut out).unwrap();
        assert_eq!(out.len(), 33);
        assert_eq!(Notification::decode(&out[HEADER_LEN..]).unwrap(), n);
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        // 127 two-byte characters then one more: 256 bytes.
        let text = "é".repeat(128);
        let n = Notification::cease_shutdown(CeaseSubcode::AdministrativeReset, &text);
        assert_eq!(n.data[0], 254);
        assert_eq!(n.shutdown_message(), Some("é".repeat(127).as_str()));
        let ascii = "x".repeat(300);
        let n = Notification::cease_shutdown(CeaseSubcode::AdministrativeShutdown, &ascii);
        assert_eq!(n.data.len(), 256);
        assert_eq!(n.shutdown_message().map(str::len), Some(255));
    }

    #[test]
    fn other_subcodes_and_empty_messages_carry_no_data() {
        let n = Notification::cease_shutdown(CeaseSubcode::PeerDeconfigured, "bye");
        assert!(n.data.is_empty());
        assert_eq!(n.shutdown_message(), None);
        let n = Notification::cease_shutdown(CeaseSubcode::AdministrativeShutdown, "");
        assert!(n.data.is_empty());
    }

    #[test]
    fn malformed_communications_are_ignored() {
        let code = ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown);
        for data in [
            &[][..],
            &[0][..],
            &[5, b'a', b'b'][..],
            &[1, b'a', b'b'][..],
            &[2, 0xc3, 0x28][..],
        ] {
            assert_eq!(Notification::new(code, data).shutdown_message(), None);
        }
        let other = Notification::new(ErrorCode::Cease(CeaseSubcode::OutOfResources), [1, b'a']);
        assert_eq!(other.shutdown_message(), None);
    }

    #[test]
    fn display_names_the_code_and_shows_the_message() {
        let n = Notification::cease_shutdown(CeaseSubcode::AdministrativeShutdown, "a\nb");
        assert_eq!(
            n.to_string(),
            "Cease (6/2): Administrative Shutdown, message \"a\\nb\""
        );
        let n = Notification::new(ErrorCode::OpenMessage(OpenSubcode::BadPeerAs), [0xfd, 0xfc]);
        assert_eq!(
            n.to_string(),
            "OPEN Message Error (2/2): Bad Peer AS, data fdfc"
        );
        let n = Notification::new(ErrorCode::HoldTimerExpired(0), []);
        assert_eq!(n.to_string(), "Hold Timer Expired (4/0)");
        let n = Notification::new(ErrorCode::from_wire(3, 1), vec![0xab; 70]);
        assert!(n.to_string().ends_with("abab... (70 bytes)"));
    }

    #[test]
    fn encode_respects_the_session_maximum() {
        let n = Notification::new(ErrorCode::from_wire(3, 1), vec![0; 4096 - 21 + 1]);
        let mut out = BytesMut::new();
        assert_eq!(
            n.encode(&Context::MODERN, &mut out),
            Err(EncodeError::TooLong {
                len: 4097,
                max: 4096
            })
        );
        assert!(out.is_empty());
        let ext = Context {
            extended_message: true,
            ..Context::MODERN
        };
        n.encode(&ext, &mut out).unwrap();
        assert_eq!(out.len(), 4097);
    }

    #[test]
    fn short_bodies_are_header_errors() {
        let e = Notification::decode(&[6]).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::MessageHeader(crate::iana::HeaderSubcode::BadMessageLength)
        );
        assert_eq!(e.data, [0, 20]);
    }
}
