//! `nvabgp decode`: BGP messages in a byte stream, as JSON.
//!
//! The input is what one side of a session sent: messages back to back, as
//! a packet capture's TCP stream holds them. [`Messages`] frames and decodes
//! them one by one with the codec's own framer, so a message that would
//! break a session stops the stream here too, with the byte offset and the
//! NOTIFICATION a speaker would send ([`StreamError`]). [`to_json`] renders
//! a decoded message ([`json`]).

pub mod json;

use std::fmt;

use bgp_proto::framing::{self, HEADER_LEN};
use bgp_proto::{Action, Context, DecodeError, Message, MessageType, Notification};

pub use json::{MessageJson, family_name, to_json};

// ---- Input ---------------------------------------------------------------

/// Why hex input could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// A character that is neither a hex digit, whitespace nor a colon.
    #[error("byte {offset} of the hex input is {found:?}, not a hex digit, whitespace or ':'")]
    InvalidCharacter {
        /// Offset of the character in the input.
        offset: usize,
        /// The character (the raw byte when it is not ASCII).
        found: char,
    },
    /// An odd number of hex digits.
    #[error("the hex input has an odd number of digits ({digits}): the last byte is incomplete")]
    OddDigits {
        /// How many digits there were.
        digits: usize,
    },
}

/// Reads hex text into bytes, ignoring ASCII whitespace and colons (so
/// `ff ff`, `ff:ff` and a hex dump split over lines all work).
pub fn parse_hex(text: &[u8]) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    let mut digits = 0usize;
    for (offset, &c) in text.iter().enumerate() {
        if c.is_ascii_whitespace() || c == b':' {
            continue;
        }
        let Some(nibble) = char::from(c).to_digit(16) else {
            return Err(HexError::InvalidCharacter {
                offset,
                found: char::from(c),
            });
        };
        // to_digit(16) is below 16.
        let nibble = nibble as u8;
        digits += 1;
        match high.take() {
            None => high = Some(nibble),
            Some(h) => out.push(h << 4 | nibble),
        }
    }
    if high.is_some() {
        return Err(HexError::OddDigits { digits });
    }
    Ok(out)
}

// ---- Framing and decoding a stream ----------------------------------------

/// One decoded message of the stream.
#[derive(Debug, Clone)]
pub struct Decoded<'a> {
    /// Position of the message in the stream (0-based).
    pub index: usize,
    /// Byte offset of its first marker byte in the stream.
    pub offset: usize,
    /// The whole message, header included.
    pub bytes: &'a [u8],
    /// The decoded message.
    pub message: Message<'a>,
}

/// Why the stream stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// A message a speaker would reject: the session would end (or, for an
    /// unparseable MP_REACH_NLRI / MP_UNREACH_NLRI, lose that family).
    Malformed {
        /// Position of the message in the stream.
        index: usize,
        /// Offset of the message in the stream.
        message_offset: usize,
        /// Its type, when the header got that far.
        message_type: Option<MessageType>,
        /// The codec's error; its offset counts from the message start.
        error: DecodeError,
    },
    /// The stream ends inside a message.
    Truncated {
        /// Position of the incomplete message in the stream.
        index: usize,
        /// Offset of the incomplete message in the stream.
        message_offset: usize,
        /// Bytes of it present.
        have: usize,
        /// Bytes its header announces, `None` when the header itself is
        /// incomplete.
        length: Option<usize>,
    },
}

impl StreamError {
    /// Offset in the stream of the byte the error is about.
    pub fn stream_offset(&self) -> usize {
        match self {
            Self::Malformed {
                message_offset,
                error,
                ..
            } => message_offset + error.offset,
            Self::Truncated {
                message_offset,
                have,
                ..
            } => message_offset + have,
        }
    }

    /// The NOTIFICATION a BGP speaker receiving this stream would send;
    /// `None` for a truncated stream, which on a session is a connection
    /// closed mid-message.
    pub fn notification(&self) -> Option<Notification> {
        match self {
            Self::Malformed { error, .. } => Some(error.notification()),
            Self::Truncated { .. } => None,
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed {
                index,
                message_offset,
                message_type,
                error,
            } => {
                let what = message_type.map_or("message", MessageType::name);
                write!(
                    f,
                    "{what} #{index} (starting at byte {message_offset}) is malformed at byte {} \
                     (byte {} of the message): {}",
                    self.stream_offset(),
                    error.offset,
                    error.reason
                )
            }
            Self::Truncated {
                index,
                message_offset,
                have,
                length,
            } => match length {
                Some(len) => write!(
                    f,
                    "the input ends inside message #{index} (starting at byte {message_offset}): \
                     {have} of its {len} bytes are there"
                ),
                None => write!(
                    f,
                    "the input ends inside the header of message #{index} (starting at byte \
                     {message_offset}): {have} of {HEADER_LEN} bytes are there"
                ),
            },
        }
    }
}

impl std::error::Error for StreamError {}

/// What a speaker does about a malformed message, for humans: the
/// NOTIFICATION and, for an MP attribute error, the RFC 7606 alternative.
pub fn consequence(e: &StreamError) -> String {
    match e {
        StreamError::Truncated { .. } => {
            "a speaker would see the connection close mid-message (no NOTIFICATION applies)"
                .to_string()
        }
        StreamError::Malformed { error, .. } => {
            let n = error.notification();
            match (error.action, error.family) {
                (Action::AfiSafiDisable, Some((afi, safi))) => format!(
                    "a speaker would stop using {} with this peer (RFC 7606 AFI/SAFI disable) \
                     or send NOTIFICATION {n} and close the session",
                    family_name(afi, safi)
                ),
                _ => format!("a speaker would send NOTIFICATION {n} and close the session"),
            }
        }
    }
}

/// The messages of a stream, decoded with the session state `ctx`; stops
/// after the first error.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    input: &'a [u8],
    ctx: Context,
    offset: usize,
    index: usize,
    done: bool,
}

impl<'a> Messages<'a> {
    /// The messages of `input`.
    pub fn new(input: &'a [u8], ctx: Context) -> Self {
        Self {
            input,
            ctx,
            offset: 0,
            index: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Decoded<'a>, StreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.input.get(self.offset..).unwrap_or_default();
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let (index, message_offset) = (self.index, self.offset);
        let malformed = |error: DecodeError| StreamError::Malformed {
            index,
            message_offset,
            // After a bad marker the type byte means nothing.
            message_type: rest
                .get(..framing::HEADER_LEN)
                .filter(|h| h.starts_with(&framing::MARKER))
                .and_then(|h| MessageType::from_code(h[18])),
            error,
        };
        let result = match framing::frame(rest, &self.ctx) {
            Err(error) => Err(malformed(error)),
            Ok(None) => Err(StreamError::Truncated {
                index,
                message_offset,
                have: rest.len(),
                length: framing::check_header(rest, &self.ctx)
                    .ok()
                    .flatten()
                    .map(|h| h.length),
            }),
            Ok(Some(len)) => {
                let bytes = rest.get(..len).unwrap_or_default();
                match bgp_proto::decode(bytes, &self.ctx) {
                    Ok(message) => {
                        self.offset += len;
                        self.index += 1;
                        Ok(Decoded {
                            index,
                            offset: message_offset,
                            bytes,
                            message,
                        })
                    }
                    Err(error) => Err(malformed(error)),
                }
            }
        };
        self.done = result.is_err();
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::{Afi, Safi};

    fn keepalive() -> Vec<u8> {
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&[0, 19, 4]);
        v
    }

    #[test]
    fn hex_ignores_whitespace_and_colons() {
        assert_eq!(
            parse_hex(b"ff:FF\n 00\t1a").unwrap(),
            [0xff, 0xff, 0x00, 0x1a]
        );
        assert_eq!(parse_hex(b"").unwrap(), Vec::<u8>::new());
        assert_eq!(
            parse_hex(b"ff 0g"),
            Err(HexError::InvalidCharacter {
                offset: 4,
                found: 'g'
            })
        );
        assert_eq!(parse_hex(b"fff"), Err(HexError::OddDigits { digits: 3 }));
    }

    #[test]
    fn a_stream_decodes_message_by_message() {
        let mut input = keepalive();
        input.extend(keepalive());
        let out: Vec<_> = Messages::new(&input, Context::MODERN).collect();
        assert_eq!(out.len(), 2);
        let second = out[1].as_ref().unwrap();
        assert_eq!(
            (second.index, second.offset, second.bytes.len()),
            (1, 19, 19)
        );
        let json = serde_json::to_string(&to_json(second)).unwrap();
        assert_eq!(json, r#"{"type":"KEEPALIVE","offset":19,"length":19}"#);
    }

    #[test]
    fn a_bad_marker_stops_the_stream_with_its_offset() {
        let mut input = keepalive();
        let mut bad = keepalive();
        bad[5] = 0;
        input.extend(bad);
        input.extend(keepalive());
        let out: Vec<_> = Messages::new(&input, Context::MODERN).collect();
        assert_eq!(out.len(), 2, "nothing after the error");
        let e = out[1].as_ref().unwrap_err();
        assert_eq!(e.stream_offset(), 19);
        let n = e.notification().unwrap();
        assert_eq!((n.code.code(), n.code.subcode()), (1, 1));
        assert!(
            e.to_string().contains("message #1 (starting at byte 19)"),
            "{e}"
        );
    }

    #[test]
    fn a_truncated_stream_says_how_much_is_missing() {
        let mut input = keepalive();
        input.extend(&keepalive()[..7]);
        let e = Messages::new(&input, Context::MODERN)
            .nth(1)
            .unwrap()
            .unwrap_err();
        assert_eq!(
            e,
            StreamError::Truncated {
                index: 1,
                message_offset: 19,
                have: 7,
                length: None
            }
        );
        assert_eq!(e.notification(), None);
        assert_eq!(e.stream_offset(), 26);
    }

    #[test]
    fn families_are_named() {
        assert_eq!(family_name(Afi::Ipv6, Safi::Unicast), "ipv6-unicast");
        assert_eq!(family_name(Afi::L2vpn, Safi::Evpn), "l2vpn-evpn");
        assert_eq!(family_name(Afi::Unknown(99), Safi::Unicast), "99/1");
    }

    /// Every single-byte corruption of every captured message, under every
    /// session state `decode` can be told about, either decodes and renders
    /// or stops with an error inside the input: never a panic, never an
    /// offset past the end.
    #[test]
    fn corrupted_captures_never_panic() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/bgp-proto/tests/vectors");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "bin"))
            .collect();
        files.sort();
        assert_eq!(files.len(), 117);
        let contexts = [
            Context {
                extended_message: true,
                ..Context::MODERN
            },
            Context {
                four_octet_as: false,
                add_path: bgp_proto::Families::ALL,
                extended_message: false,
            },
        ];
        let mut runs = 0;
        for file in &files {
            let original = std::fs::read(file).unwrap();
            // Of the 4458-byte UPDATE, the header, the attributes and the
            // first and last prefixes are enough.
            let len = original.len();
            let positions = (0..len).filter(|&at| len < 512 || at < 256 || at >= len - 64);
            for at in positions {
                for value in [0x00, 0xff, original[at].wrapping_add(1)] {
                    let mut bytes = original.clone();
                    bytes[at] = value;
                    for ctx in contexts {
                        for item in Messages::new(&bytes, ctx) {
                            match item {
                                Ok(d) => {
                                    serde_json::to_string(&to_json(&d)).unwrap();
                                }
                                Err(e) => {
                                    assert!(e.stream_offset() <= bytes.len(), "{e}");
                                    let _ = consequence(&e);
                                }
                            }
                        }
                        runs += 1;
                    }
                }
            }
        }
        assert!(runs > 40_000, "{runs}");
    }
}
