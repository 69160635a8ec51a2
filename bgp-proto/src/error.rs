//! Decode errors carrying their NOTIFICATION, and RFC 7606 error handling.
//!
//! Every fatal error knows the NOTIFICATION that RFC 4271 §6 prescribes for
//! it (code, subcode, data) and the byte offset where it was found, so the
//! session layer has one conversion point into the wire NOTIFICATION
//! ([`DecodeError::notification`]). Non-fatal UPDATE findings
//! ([`AttributeError`]) travel beside the decoded UPDATE with the RFC 7606
//! approach that applies to them.

use crate::iana::{Afi, AttributeType, ErrorCode, Safi};
use crate::message::notification::Notification;

/// The RFC 7606 §2 error-handling approaches, ordered by severity: the
/// strongest one found in a message decides what happens to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// "Attribute discard": drop the malformed attribute, keep the route.
    AttributeDiscard,
    /// "Treat-as-withdraw": every prefix the UPDATE announces is withdrawn.
    TreatAsWithdraw,
    /// "AFI/SAFI disable": stop exchanging routes of that family with the
    /// peer (RFC 4760 §7); a speaker may reset the session instead.
    AfiSafiDisable,
    /// "Session reset": send the NOTIFICATION and close the session.
    SessionReset,
}

impl Action {
    /// The RFC 7606 name of the approach.
    pub const fn name(self) -> &'static str {
        match self {
            Self::AttributeDiscard => "attribute-discard",
            Self::TreatAsWithdraw => "treat-as-withdraw",
            Self::AfiSafiDisable => "afi-safi-disable",
            Self::SessionReset => "session-reset",
        }
    }
}

/// A message that cannot be processed at all: the session must send the
/// NOTIFICATION it carries (or, with [`Action::AfiSafiDisable`], may disable
/// the family instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (at byte {offset}; {code}, {})", action.name())]
pub struct DecodeError {
    /// NOTIFICATION error code and subcode (RFC 4271 §6).
    pub code: ErrorCode,
    /// NOTIFICATION data, filled as RFC 4271 §6 prescribes for the subcode.
    pub data: Vec<u8>,
    /// Offset of the offending byte from the start of the message (header
    /// included), for logs.
    pub offset: usize,
    /// [`Action::SessionReset`], or [`Action::AfiSafiDisable`] for an
    /// unparseable MP_REACH_NLRI / MP_UNREACH_NLRI of a known family.
    pub action: Action,
    /// The family to disable with [`Action::AfiSafiDisable`].
    pub family: Option<(Afi, Safi)>,
    /// What was wrong, for humans.
    pub reason: &'static str,
}

impl DecodeError {
    /// A session-reset error.
    pub fn new(code: ErrorCode, offset: usize, reason: &'static str) -> Self {
        Self {
            code,
            data: Vec::new(),
            offset,
            action: Action::SessionReset,
            family: None,
            reason,
        }
    }

    /// Sets the NOTIFICATION data.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Turns a session reset into an AFI/SAFI disable for `family`.
    pub fn disabling(mut self, family: (Afi, Safi)) -> Self {
        self.action = Action::AfiSafiDisable;
        self.family = Some(family);
        self
    }

    /// The NOTIFICATION to send for this error.
    pub fn notification(&self) -> Notification {
        Notification::new(self.code, self.data.clone())
    }
}

/// A non-fatal finding in an UPDATE (RFC 7606): the UPDATE is still
/// usable, with [`AttributeError::action`] applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeError {
    /// The attribute that was malformed (or missing).
    pub attribute: AttributeType,
    /// [`Action::AttributeDiscard`] or [`Action::TreatAsWithdraw`].
    pub action: Action,
    /// The RFC 4271 NOTIFICATION this would have been without RFC 7606,
    /// for a speaker configured to reset instead, and for logs.
    pub code: ErrorCode,
    /// The NOTIFICATION data RFC 4271 §6.3 prescribes (usually the whole
    /// attribute: flags, type, length and value).
    pub data: Vec<u8>,
    /// Offset of the attribute from the start of the message.
    pub offset: usize,
    /// What was wrong, for humans.
    pub reason: &'static str,
}

impl std::fmt::Display for AttributeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.attribute.name().unwrap_or("attribute");
        write!(
            f,
            "{name} ({}): {} at byte {}; {}",
            u8::from(self.attribute),
            self.reason,
            self.offset,
            self.action.name()
        )
    }
}

/// An encode request that cannot be met.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The message would exceed the negotiated maximum size.
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    TooLong {
        /// Length the message would have.
        len: usize,
        /// The session's maximum message length.
        max: usize,
    },
    /// A value cannot be represented on the wire.
    #[error("cannot encode: {0}")]
    Unrepresentable(&'static str),
}
