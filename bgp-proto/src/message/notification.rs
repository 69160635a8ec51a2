//! NOTIFICATION (RFC 4271 §4.5), with the shutdown communication of
//! RFC 8203 / RFC 9003.

use crate::iana::ErrorCode;

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
}

impl Notification {
    /// Decodes a NOTIFICATION body (after the header).
    pub fn decode(body: &[u8]) -> Result<Self, crate::DecodeError> {
        let [code, subcode, data @ ..] = body else {
            return Err(crate::DecodeError::new(
                ErrorCode::MessageHeader(crate::iana::HeaderSubcode::BadMessageLength),
                16,
                "NOTIFICATION shorter than code and subcode",
            ));
        };
        Ok(Self::new(ErrorCode::from_wire(*code, *subcode), data))
    }
}
