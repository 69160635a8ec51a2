//! UPDATE (RFC 4271 §4.3) as a validated zero-copy view, with RFC 7606
//! error handling.
//!
//! [`Update::parse`] walks the message once: it checks the section lengths,
//! every attribute's flags, length and (for the attributes routing depends
//! on) content, and every NLRI, and records where each known attribute
//! sits. Afterwards the accessors read straight from the buffer without
//! re-checking and without allocating, which is what makes a full-table
//! ingest cheap. Findings that RFC 7606 does not make fatal are kept beside
//! the view ([`Update::errors`]) with their approach; the strongest one is
//! [`Update::action`].

use std::net::Ipv4Addr;

use crate::attribute::as_path::AS_TRANS;
use crate::attribute::{
    Aggregator, AsPath, AsPathView, Community, ExtendedCommunity, LargeCommunity, NextHop, Origin,
    expected_flags, flags,
};
use crate::context::{Context, MAX_EXTENDED_MESSAGE_LEN};
use crate::error::{Action, AttributeError, DecodeError};
use crate::framing::HEADER_LEN;
use crate::iana::{Afi, AttributeType, ErrorCode, HeaderSubcode, Safi, UpdateSubcode};
use crate::prefix::{NlriIter, check_nlri};

/// Position of a recorded attribute value inside the UPDATE body. Two
/// octets each suffice: [`Update::parse`] refuses bodies longer than the
/// largest message (RFC 8654).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u16,
    len: u16,
}

/// Number of type codes whose first occurrence is recorded (all the
/// attributes this crate interprets have codes below 64).
const TRACKED: usize = 64;

/// The type codes whose value the view keeps a span for: those an accessor
/// reads. The view is returned and moved by value on every decode, so it
/// keeps one span per such type (a dense table, `SLOT`): one per code below
/// 64 would make it ~600 bytes, and each move a `memcpy` call on the
/// full-table hot path (128 bytes now).
const KEPT: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32];

/// Index into [`Update::spans`] plus one for each code of [`KEPT`], 0 for
/// the other codes (only marked present).
const SLOT: [u8; TRACKED] = {
    let mut slot = [0u8; TRACKED];
    let mut i = 0;
    while i < KEPT.len() {
        slot[KEPT[i] as usize] = i as u8 + 1;
        i += 1;
    }
    slot
};

/// A validated UPDATE, borrowing the message body.
#[derive(Clone, PartialEq, Eq)]
pub struct Update<'a> {
    body: &'a [u8],
    ctx: Context,
    withdrawn: Span,
    attributes: Span,
    nlri: Span,
    /// Bit `t` set: attribute type `t` is present and usable.
    present: u64,
    spans: [Span; KEPT.len()],
    errors: Vec<AttributeError>,
}

impl std::fmt::Debug for Update<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Update")
            .field("withdrawn", &self.withdrawn().collect::<Vec<_>>())
            .field("attributes", &self.attributes().collect::<Vec<_>>())
            .field("announced", &self.announced().collect::<Vec<_>>())
            .field("errors", &self.errors)
            .finish()
    }
}

/// One path attribute as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    /// Flags octet.
    pub flags: u8,
    /// Type code.
    pub type_code: u8,
    /// The value.
    pub value: &'a [u8],
    /// Offset of the flags octet from the start of the message.
    pub offset: usize,
    /// False when RFC 7606 or a duplicate made this occurrence one to
    /// ignore (attribute discard), or it is malformed.
    pub usable: bool,
}

impl RawAttribute<'_> {
    /// The type.
    pub fn attribute_type(&self) -> AttributeType {
        self.type_code.into()
    }
}

/// MP_REACH_NLRI (RFC 4760 §3), as a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpReach<'a> {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
    /// Next hop field, uninterpreted.
    pub next_hop: &'a [u8],
    /// NLRI field; iterate it with [`MpReach::nlri`] for the unicast
    /// families.
    pub nlri_bytes: &'a [u8],
    add_path: bool,
}

impl<'a> MpReach<'a> {
    /// The next hop, interpreted by its length.
    pub fn next_hop(&self) -> NextHop {
        NextHop::from_wire(self.next_hop)
    }

    /// The NLRI of IPv4 or IPv6 unicast; empty for other families, whose
    /// encoding this crate does not interpret.
    pub fn nlri(&self) -> NlriIter<'a> {
        family_nlri(self.afi, self.safi, self.nlri_bytes, self.add_path)
    }
}

/// MP_UNREACH_NLRI (RFC 4760 §4), as a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpUnreach<'a> {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
    /// Withdrawn routes field.
    pub nlri_bytes: &'a [u8],
    add_path: bool,
}

impl<'a> MpUnreach<'a> {
    /// The withdrawn NLRI of IPv4 or IPv6 unicast; empty for other
    /// families.
    pub fn nlri(&self) -> NlriIter<'a> {
        family_nlri(self.afi, self.safi, self.nlri_bytes, self.add_path)
    }
}

fn family_nlri(afi: Afi, safi: Safi, bytes: &[u8], add_path: bool) -> NlriIter<'_> {
    match (afi, safi) {
        (Afi::Ipv4, Safi::Unicast) => NlriIter::new(bytes, false, add_path),
        (Afi::Ipv6, Safi::Unicast) => NlriIter::new(bytes, true, add_path),
        _ => NlriIter::empty(),
    }
}

fn known_family(afi: Afi, safi: Safi) -> Option<bool> {
    match (afi, safi) {
        (Afi::Ipv4, Safi::Unicast) => Some(false),
        (Afi::Ipv6, Safi::Unicast) => Some(true),
        _ => None,
    }
}

fn update_error(sub: UpdateSubcode, offset: usize, reason: &'static str) -> DecodeError {
    DecodeError::new(ErrorCode::UpdateMessage(sub), offset, reason)
}

/// Which RFC 7606 approach a malformed attribute of this type gets.
fn approach(t: AttributeType) -> Action {
    use AttributeType as T;
    match t {
        T::AtomicAggregate | T::Aggregator | T::As4Path | T::As4Aggregator => {
            Action::AttributeDiscard
        }
        T::MpReachNlri | T::MpUnreachNlri => Action::SessionReset,
        _ => Action::TreatAsWithdraw,
    }
}

/// The NOTIFICATION data RFC 4271 §6.3 prescribes for an attribute error:
/// the erroneous attribute for Unrecognized Well-known, Attribute Flags,
/// Attribute Length, Invalid ORIGIN, Invalid NEXT_HOP and Optional
/// Attribute errors; nothing for Malformed Attribute List and Malformed
/// AS_PATH.
fn notification_data(sub: UpdateSubcode, whole: &[u8]) -> Vec<u8> {
    use UpdateSubcode as S;
    match sub {
        S::UnrecognizedWellKnownAttribute
        | S::AttributeFlagsError
        | S::AttributeLengthError
        | S::InvalidOriginAttribute
        | S::InvalidNextHopAttribute
        | S::OptionalAttributeError => whole.to_vec(),
        _ => Vec::new(),
    }
}

/// Outcome of checking one attribute value.
enum Check {
    Ok,
    Bad(UpdateSubcode, &'static str),
}

impl<'a> Update<'a> {
    /// Validates an UPDATE body (the message without its 19-byte header).
    pub fn parse(body: &'a [u8], ctx: &Context) -> Result<Self, DecodeError> {
        let len = body.len();
        let malformed = |off: usize, why| {
            update_error(UpdateSubcode::MalformedAttributeList, HEADER_LEN + off, why)
        };
        if len < 4 {
            return Err(malformed(0, "UPDATE shorter than its two length fields"));
        }
        if len > MAX_EXTENDED_MESSAGE_LEN - HEADER_LEN {
            return Err(DecodeError::new(
                ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength),
                16,
                "UPDATE longer than any BGP message",
            ));
        }
        let wlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
        if 2 + wlen + 2 > len {
            return Err(malformed(0, "Withdrawn Routes Length overruns the message"));
        }
        let alen_at = 2 + wlen;
        let alen = usize::from(u16::from_be_bytes([body[alen_at], body[alen_at + 1]]));
        let attrs_start = alen_at + 2;
        if attrs_start + alen > len {
            return Err(malformed(
                alen_at,
                "Total Path Attribute Length overruns the message",
            ));
        }
        let mut u = Update {
            body,
            ctx: *ctx,
            withdrawn: Span {
                start: 2,
                len: wlen as u16,
            },
            attributes: Span {
                start: attrs_start as u16,
                len: alen as u16,
            },
            nlri: Span {
                start: (attrs_start + alen) as u16,
                len: (len - attrs_start - alen) as u16,
            },
            present: 0,
            spans: [Span::default(); KEPT.len()],
            errors: Vec::new(),
        };
        let v4_add_path = ctx.add_path_for(Afi::Ipv4, Safi::Unicast);
        // RFC 7606 §5.3: unparseable withdrawn routes or NLRI are fatal.
        for (span, what) in [(u.withdrawn, "Withdrawn Routes"), (u.nlri, "NLRI")] {
            if let Err(f) = check_nlri(u.slice(span), false, v4_add_path) {
                let _ = what;
                return Err(update_error(
                    UpdateSubcode::InvalidNetworkField,
                    HEADER_LEN + span.start as usize + f.at,
                    f.reason,
                ));
            }
        }
        u.walk_attributes()?;
        u.check_mandatory();
        u.check_unreachable()?;
        Ok(u)
    }

    fn slice(&self, s: Span) -> &'a [u8] {
        let start = s.start as usize;
        &self.body[start..start + s.len as usize]
    }

    fn record(&mut self, t: u8, start: usize, len: usize) {
        if let Some(&slot) = SLOT.get(usize::from(t)) {
            self.present |= 1 << t;
            if let Some(span) = usize::from(slot)
                .checked_sub(1)
                .and_then(|i| self.spans.get_mut(i))
            {
                // Both fit: the body is at most 65535 - 19 bytes.
                *span = Span {
                    start: start as u16,
                    len: len as u16,
                };
            }
        }
    }

    fn has(&self, t: AttributeType) -> bool {
        let t = u8::from(t);
        usize::from(t) < TRACKED && self.present & (1 << t) != 0
    }

    fn value(&self, t: AttributeType) -> Option<&'a [u8]> {
        if !self.has(t) {
            return None;
        }
        let slot = usize::from(*SLOT.get(usize::from(u8::from(t)))?).checked_sub(1)?;
        Some(self.slice(*self.spans.get(slot)?))
    }

    /// Records a non-fatal finding. `whole` is the attribute as received
    /// (flags, type, length, value); it becomes the NOTIFICATION data only
    /// for the subcodes whose data RFC 4271 §6.3 defines as the attribute.
    fn finding(
        &mut self,
        t: AttributeType,
        action: Action,
        sub: UpdateSubcode,
        whole: &[u8],
        offset: usize,
        reason: &'static str,
    ) {
        self.errors.push(AttributeError {
            attribute: t,
            action,
            code: ErrorCode::UpdateMessage(sub),
            data: notification_data(sub, whole),
            offset: HEADER_LEN + offset,
            reason,
        });
    }

    fn walk_attributes(&mut self) -> Result<(), DecodeError> {
        let start = self.attributes.start as usize;
        let end = start + self.attributes.len as usize;
        let body = self.body;
        let mut seen = [0u64; 4];
        let mut pos = start;
        while pos < end {
            let flags = body[pos];
            let hlen = if flags & flags::EXTENDED_LENGTH != 0 {
                4
            } else {
                3
            };
            if end - pos < hlen {
                // RFC 7606 §4: too few octets left for an attribute header.
                self.finding(
                    AttributeType::Unknown(0),
                    Action::TreatAsWithdraw,
                    UpdateSubcode::MalformedAttributeList,
                    &[],
                    pos,
                    "attribute header truncated by the Total Path Attribute Length",
                );
                break;
            }
            let t = body[pos + 1];
            let vlen = if hlen == 4 {
                usize::from(u16::from_be_bytes([body[pos + 2], body[pos + 3]]))
            } else {
                usize::from(body[pos + 2])
            };
            let vstart = pos + hlen;
            let vend = vstart + vlen;
            let ty = AttributeType::from(t);
            if vend > end {
                // RFC 7606 §4: the last attribute overruns the attribute
                // field; rely on Total Path Attribute Length for the NLRI.
                // An MP attribute cut short cannot be treated as withdrawn,
                // its NLRI being lost (RFC 7606 §3 j, §5.3): fatal.
                if matches!(
                    ty,
                    AttributeType::MpReachNlri | AttributeType::MpUnreachNlri
                ) {
                    return Err(update_error(
                        UpdateSubcode::AttributeLengthError,
                        HEADER_LEN + pos,
                        "MP_REACH_NLRI / MP_UNREACH_NLRI overruns the attribute field",
                    )
                    .with_data(&body[pos..end]));
                }
                self.finding(
                    ty,
                    Action::TreatAsWithdraw,
                    UpdateSubcode::AttributeLengthError,
                    &body[pos..end],
                    pos,
                    "attribute length overruns the Total Path Attribute Length",
                );
                break;
            }
            let whole = &body[pos..vend];
            let value = &body[vstart..vend];
            let (word, bit) = (usize::from(t / 64), t % 64);
            if seen[word] & (1 << bit) != 0 {
                // RFC 7606 §3 g: repeated MP attributes are fatal, other
                // repeats are discarded.
                if matches!(
                    ty,
                    AttributeType::MpReachNlri | AttributeType::MpUnreachNlri
                ) {
                    // No data: RFC 4271 §6.3 defines none for Malformed
                    // Attribute List.
                    return Err(update_error(
                        UpdateSubcode::MalformedAttributeList,
                        HEADER_LEN + pos,
                        "MP_REACH_NLRI or MP_UNREACH_NLRI appears twice",
                    ));
                }
                self.finding(
                    ty,
                    Action::AttributeDiscard,
                    UpdateSubcode::MalformedAttributeList,
                    whole,
                    pos,
                    "attribute appears more than once; repeat discarded",
                );
                pos = vend;
                continue;
            }
            seen[word] |= 1 << bit;
            // The fatal MP_REACH_NLRI / MP_UNREACH_NLRI errors are all
            // Attribute Flags or Optional Attribute errors, whose data is the
            // whole attribute (RFC 4271 §6.3).
            let checked = self
                .check_attribute(ty, flags, value, pos, vstart)
                .map_err(|e| e.with_data(whole))?;
            match checked {
                Check::Ok => self.record(t, vstart, vlen),
                Check::Bad(sub, reason) => {
                    // RFC 7606 §3 c for flags. RFC 7606 says nothing of an
                    // unrecognized well-known attribute: the route may
                    // depend on what was not understood, so it is withdrawn
                    // rather than kept (as BIRD and FRR do), and the
                    // session is kept.
                    let action = match sub {
                        UpdateSubcode::AttributeFlagsError
                        | UpdateSubcode::UnrecognizedWellKnownAttribute => Action::TreatAsWithdraw,
                        _ => approach(ty),
                    };
                    self.finding(ty, action, sub, whole, pos, reason);
                }
            }
            pos = vend;
        }
        Ok(())
    }

    /// Checks flags, length and content of one attribute (at `pos` in the
    /// body, value at `vstart`). MP_REACH_NLRI and MP_UNREACH_NLRI errors are
    /// returned as fatal errors here.
    fn check_attribute(
        &self,
        ty: AttributeType,
        flags: u8,
        v: &[u8],
        pos: usize,
        vstart: usize,
    ) -> Result<Check, DecodeError> {
        use AttributeType as T;
        use UpdateSubcode as S;
        let Some(expected) = expected_flags(ty) else {
            if flags & flags::OPTIONAL == 0 {
                return Ok(Check::Bad(
                    S::UnrecognizedWellKnownAttribute,
                    "unrecognized well-known attribute",
                ));
            }
            return Ok(Check::Ok);
        };
        let ot = flags & (flags::OPTIONAL | flags::TRANSITIVE);
        let partial_ok = expected == flags::OPTIONAL_TRANSITIVE || flags & flags::PARTIAL == 0;
        // RFC 7606 §3 c checks the Optional and Transitive bits. A Partial
        // bit on a well-known or optional non-transitive attribute breaks
        // RFC 4271 §4.3 ("MUST be set to 0") and is handled the same way,
        // as FRR does: the attribute was not relayed the way its type says.
        if ot != expected || !partial_ok {
            if matches!(ty, T::MpReachNlri | T::MpUnreachNlri) {
                // RFC 7606 §5.3: flags other than RFC 4760's make the
                // attribute incorrect, handled by session reset or AFI/SAFI
                // disable (§3 j), not treat-as-withdraw.
                let err = update_error(
                    S::AttributeFlagsError,
                    HEADER_LEN + pos,
                    "MP_REACH_NLRI / MP_UNREACH_NLRI with wrong attribute flags",
                );
                return Err(match *v {
                    [a0, a1, safi, ..] => {
                        err.disabling((Afi::from(u16::from_be_bytes([a0, a1])), Safi::from(safi)))
                    }
                    _ => err,
                });
            }
            return Ok(Check::Bad(
                S::AttributeFlagsError,
                "attribute flags conflict with the attribute type",
            ));
        }
        let four = self.ctx.four_octet_as;
        let n = v.len();
        let len_is = |ok: bool| {
            if ok {
                Check::Ok
            } else {
                Check::Bad(
                    S::AttributeLengthError,
                    "attribute length is wrong for its type",
                )
            }
        };
        Ok(match ty {
            T::Origin => {
                if n != 1 {
                    len_is(false)
                } else if Origin::from_code(v[0]).is_none() {
                    Check::Bad(S::InvalidOriginAttribute, "ORIGIN value is not 0, 1 or 2")
                } else {
                    Check::Ok
                }
            }
            T::AsPath => match AsPathView::new(v, four) {
                Ok(_) => Check::Ok,
                Err(why) => Check::Bad(S::MalformedAsPath, why),
            },
            // RFC 6793 §6: a malformed AS4_PATH is discarded ([`approach`]).
            // Confederation segments are not an error: only those segments
            // are dropped, when the path is merged ([`Update::as_path`]).
            // RFC 7606 §4 lets only AS_PATH and ATOMIC_AGGREGATE be empty.
            T::As4Path if n == 0 => Check::Bad(S::OptionalAttributeError, "empty AS4_PATH"),
            T::As4Path => match AsPathView::new(v, true) {
                Ok(_) => Check::Ok,
                Err(why) => Check::Bad(S::OptionalAttributeError, why),
            },
            T::NextHop | T::MultiExitDisc | T::LocalPref | T::OriginatorId => len_is(n == 4),
            T::AtomicAggregate => len_is(n == 0),
            T::Aggregator => len_is(n == if four { 8 } else { 6 }),
            T::As4Aggregator => len_is(n == 8),
            T::OnlyToCustomer => len_is(n == 4),
            T::Communities | T::ClusterList => len_is(n > 0 && n % 4 == 0),
            T::ExtendedCommunities => len_is(n > 0 && n % 8 == 0),
            T::LargeCommunities => len_is(n > 0 && n % 12 == 0),
            T::MpReachNlri => {
                self.check_mp_reach(v, vstart)?;
                Check::Ok
            }
            T::MpUnreachNlri => {
                self.check_mp_unreach(v, vstart)?;
                Check::Ok
            }
            T::Unknown(_) => Check::Ok,
        })
    }

    fn check_mp_reach(&self, v: &[u8], vstart: usize) -> Result<(), DecodeError> {
        let off = HEADER_LEN + vstart;
        let too_short = || {
            update_error(
                UpdateSubcode::OptionalAttributeError,
                off,
                "MP_REACH_NLRI too short for AFI, SAFI and next hop",
            )
        };
        let [a0, a1, safi, nhlen, ..] = *v else {
            return Err(too_short());
        };
        let (afi, safi) = (Afi::from(u16::from_be_bytes([a0, a1])), Safi::from(safi));
        let nh_end = 4 + usize::from(nhlen);
        // The reserved octet follows the next hop (RFC 4760 §3).
        if nh_end + 1 > v.len() {
            return Err(too_short().disabling((afi, safi)));
        }
        let Some(ipv6) = known_family(afi, safi) else {
            return Ok(());
        };
        // RFC 7606 §7.11: a next hop length that does not fit the family.
        let nh_ok = match (ipv6, nhlen) {
            (false, 4) | (true, 16 | 32) => true,
            // RFC 8950: IPv6 next hop for IPv4 NLRI.
            (false, 16 | 32) => true,
            _ => false,
        };
        if !nh_ok {
            return Err(update_error(
                UpdateSubcode::OptionalAttributeError,
                off + 3,
                "MP_REACH_NLRI next hop length does not fit the address family",
            )
            .disabling((afi, safi)));
        }
        let add_path = self.ctx.add_path_for(afi, safi);
        check_nlri(&v[nh_end + 1..], ipv6, add_path).map_err(|f| {
            update_error(
                UpdateSubcode::OptionalAttributeError,
                off + nh_end + 1 + f.at,
                f.reason,
            )
            .disabling((afi, safi))
        })?;
        Ok(())
    }

    fn check_mp_unreach(&self, v: &[u8], vstart: usize) -> Result<(), DecodeError> {
        let off = HEADER_LEN + vstart;
        let [a0, a1, safi, ..] = *v else {
            return Err(update_error(
                UpdateSubcode::OptionalAttributeError,
                off,
                "MP_UNREACH_NLRI too short for AFI and SAFI",
            ));
        };
        let (afi, safi) = (Afi::from(u16::from_be_bytes([a0, a1])), Safi::from(safi));
        let Some(ipv6) = known_family(afi, safi) else {
            return Ok(());
        };
        check_nlri(&v[3..], ipv6, self.ctx.add_path_for(afi, safi)).map_err(|f| {
            update_error(
                UpdateSubcode::OptionalAttributeError,
                off + 3 + f.at,
                f.reason,
            )
            .disabling((afi, safi))
        })?;
        Ok(())
    }

    /// True when the UPDATE announces reachable NLRI, in the NLRI field or
    /// in MP_REACH_NLRI.
    fn announces(&self) -> bool {
        self.nlri.len > 0 || self.mp_reach().is_some_and(|m| !m.nlri_bytes.is_empty())
    }

    /// RFC 7606 §3 d: a missing well-known mandatory attribute makes the
    /// UPDATE treat-as-withdraw. Only UPDATEs that announce something need
    /// them; NEXT_HOP only for the NLRI field (RFC 4760 §3, which makes it
    /// discretionary for MP_REACH_NLRI-only UPDATEs).
    fn check_mandatory(&mut self) {
        // The common case needs no further look: ORIGIN (1) and AS_PATH
        // (2) present, and NEXT_HOP (3) too unless the NLRI field is empty.
        const ORIGIN_AS_PATH: u64 = 1 << 1 | 1 << 2;
        const NEXT_HOP: u64 = 1 << 3;
        let classic = self.nlri.len > 0;
        if self.present & ORIGIN_AS_PATH == ORIGIN_AS_PATH
            && (!classic || self.present & NEXT_HOP != 0)
        {
            return;
        }
        if !self.announces() {
            return;
        }
        for t in [
            AttributeType::Origin,
            AttributeType::AsPath,
            AttributeType::NextHop,
        ] {
            if t == AttributeType::NextHop && !classic {
                continue;
            }
            // A present but malformed attribute already has its finding.
            if self.has(t) || self.errors.iter().any(|e| e.attribute == t) {
                continue;
            }
            self.errors.push(AttributeError {
                attribute: t,
                action: Action::TreatAsWithdraw,
                code: ErrorCode::UpdateMessage(UpdateSubcode::MissingWellKnownAttribute),
                // RFC 4271 §6.3: the data is the missing type code.
                data: vec![u8::from(t)],
                // The Total Path Attribute Length field: the attribute is
                // missing from the field it introduces.
                offset: HEADER_LEN + self.attributes.start as usize - 2,
                reason: "well-known mandatory attribute missing",
            });
        }
    }

    /// RFC 7606 §5.2: an UPDATE that carries path attributes other than
    /// MP_UNREACH_NLRI but announces nothing cannot be treated as withdrawn
    /// (there is nothing to withdraw, and no proof that its NLRI were found
    /// where the sender put them), so any finding stronger than attribute
    /// discard resets the session. Every such finding is about an attribute
    /// other than MP_UNREACH_NLRI, whose own errors are already fatal.
    fn check_unreachable(&self) -> Result<(), DecodeError> {
        if self.errors.is_empty() || self.announces() {
            return Ok(());
        }
        match self
            .errors
            .iter()
            .find(|e| e.action >= Action::TreatAsWithdraw)
        {
            Some(e) => Err(DecodeError::new(e.code, e.offset, e.reason).with_data(e.data.clone())),
            None => Ok(()),
        }
    }

    // ---- Findings -------------------------------------------------------

    /// Non-fatal findings (RFC 7606), in the order found.
    pub fn errors(&self) -> &[AttributeError] {
        &self.errors
    }

    /// The strongest RFC 7606 approach any finding calls for, `None` for a
    /// clean UPDATE.
    pub fn action(&self) -> Option<Action> {
        self.errors.iter().map(|e| e.action).max()
    }

    /// True when every announced prefix must be handled as withdrawn
    /// (RFC 7606 §2).
    pub fn is_treat_as_withdraw(&self) -> bool {
        self.action() >= Some(Action::TreatAsWithdraw)
    }

    /// The session state the view was decoded with.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The raw body (without header).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.body
    }

    // ---- Prefixes -------------------------------------------------------

    /// The IPv4 Withdrawn Routes field.
    pub fn withdrawn_routes(&self) -> NlriIter<'a> {
        let ap = self.ctx.add_path_for(Afi::Ipv4, Safi::Unicast);
        NlriIter::new(self.slice(self.withdrawn), false, ap)
    }

    /// The IPv4 NLRI field.
    pub fn nlri(&self) -> NlriIter<'a> {
        let ap = self.ctx.add_path_for(Afi::Ipv4, Safi::Unicast);
        NlriIter::new(self.slice(self.nlri), false, ap)
    }

    /// Every withdrawn unicast prefix: the Withdrawn Routes field, then
    /// MP_UNREACH_NLRI.
    pub fn withdrawn(&self) -> NlriIter<'a> {
        let mp = self
            .mp_unreach()
            .map(|m| m.nlri())
            .unwrap_or_else(NlriIter::empty);
        self.withdrawn_routes().followed_by(mp)
    }

    /// Every announced unicast prefix: MP_REACH_NLRI, then the NLRI field.
    /// Check [`Update::is_treat_as_withdraw`] before using them as routes.
    pub fn announced(&self) -> NlriIter<'a> {
        let mp = self
            .mp_reach()
            .map(|m| m.nlri())
            .unwrap_or_else(NlriIter::empty);
        mp.followed_by(self.nlri())
    }

    /// The family this UPDATE marks End-of-RIB for (RFC 4724 §2): an empty
    /// UPDATE for IPv4 unicast, or one holding only an empty
    /// MP_UNREACH_NLRI.
    pub fn end_of_rib(&self) -> Option<(Afi, Safi)> {
        if self.withdrawn.len != 0 || self.nlri.len != 0 || !self.errors.is_empty() {
            return None;
        }
        if self.attributes.len == 0 {
            return Some((Afi::Ipv4, Safi::Unicast));
        }
        let mut attrs = self.attributes();
        match (attrs.next(), attrs.next()) {
            (Some(a), None) if a.type_code == u8::from(AttributeType::MpUnreachNlri) => {
                let m = self.mp_unreach()?;
                m.nlri_bytes.is_empty().then_some((m.afi, m.safi))
            }
            _ => None,
        }
    }

    // ---- Attributes -----------------------------------------------------

    /// Every path attribute in wire order, usable or not.
    pub fn attributes(&self) -> impl Iterator<Item = RawAttribute<'a>> + '_ {
        let attrs = self.slice(self.attributes);
        let base = self.attributes.start as usize;
        let mut pos = 0usize;
        let mut seen = [0u64; 4];
        std::iter::from_fn(move || {
            let (&flags, rest) = attrs.get(pos..)?.split_first()?;
            let ext = flags & flags::EXTENDED_LENGTH != 0;
            let (t, vlen, hlen) = match (ext, rest) {
                (true, [t, a, b, ..]) => (*t, usize::from(u16::from_be_bytes([*a, *b])), 4),
                (false, [t, l, ..]) => (*t, usize::from(*l), 3),
                _ => return None,
            };
            let value = attrs.get(pos + hlen..pos + hlen + vlen)?;
            let offset = HEADER_LEN + base + pos;
            let (word, bit) = (usize::from(t / 64), t % 64);
            let first = seen[word] & (1 << bit) == 0;
            seen[word] |= 1 << bit;
            let recorded = usize::from(t) >= TRACKED || self.present & (1 << t) != 0;
            let malformed = self
                .errors
                .iter()
                .any(|e| e.offset == offset && u8::from(e.attribute) == t);
            pos += hlen + vlen;
            Some(RawAttribute {
                flags,
                type_code: t,
                value,
                offset,
                usable: first && recorded && !malformed,
            })
        })
    }

    /// ORIGIN.
    pub fn origin(&self) -> Option<Origin> {
        self.value(AttributeType::Origin)
            .and_then(|v| Origin::from_code(v[0]))
    }

    /// AS_PATH as received (2- or 4-octet per the session).
    pub fn as_path_view(&self) -> Option<AsPathView<'a>> {
        let v = self.value(AttributeType::AsPath)?;
        AsPathView::new(v, self.ctx.four_octet_as).ok()
    }

    /// AS4_PATH as received; meaningful only on 2-octet sessions.
    pub fn as4_path_view(&self) -> Option<AsPathView<'a>> {
        let v = self.value(AttributeType::As4Path)?;
        AsPathView::new(v, true).ok()
    }

    /// The real AS path: AS_PATH, merged with AS4_PATH on a 2-octet session
    /// (RFC 6793 §4.2.3; AS4_PATH is ignored on 4-octet sessions, and when
    /// AGGREGATOR names an AS other than AS_TRANS).
    pub fn as_path(&self) -> Option<AsPath> {
        let path = self.as_path_view()?.to_path();
        if self.ctx.four_octet_as {
            return Some(path);
        }
        let aggregator_blocks = self
            .value(AttributeType::Aggregator)
            .is_some_and(|v| u32::from(u16::from_be_bytes([v[0], v[1]])) != AS_TRANS);
        match self.as4_path_view() {
            Some(as4) if !aggregator_blocks => {
                // RFC 6793 §6: confederation segments in AS4_PATH are
                // discarded, the rest of the attribute is used.
                let mut as4 = as4.to_path();
                as4.segments.retain(|s| !s.kind.is_confed());
                Some(path.merge_as4(&as4))
            }
            _ => Some(path),
        }
    }

    /// NEXT_HOP.
    pub fn next_hop(&self) -> Option<Ipv4Addr> {
        let v = self.value(AttributeType::NextHop)?;
        Some(Ipv4Addr::new(v[0], v[1], v[2], v[3]))
    }

    fn u32_of(&self, t: AttributeType) -> Option<u32> {
        let v = self.value(t)?;
        Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
    }

    /// MULTI_EXIT_DISC.
    pub fn med(&self) -> Option<u32> {
        self.u32_of(AttributeType::MultiExitDisc)
    }

    /// LOCAL_PREF.
    pub fn local_pref(&self) -> Option<u32> {
        self.u32_of(AttributeType::LocalPref)
    }

    /// ORIGINATOR_ID.
    pub fn originator_id(&self) -> Option<Ipv4Addr> {
        self.u32_of(AttributeType::OriginatorId).map(Ipv4Addr::from)
    }

    /// ATOMIC_AGGREGATE present.
    pub fn atomic_aggregate(&self) -> bool {
        self.has(AttributeType::AtomicAggregate)
    }

    /// AGGREGATOR as received (2- or 4-octet AS per the session).
    pub fn aggregator_raw(&self) -> Option<Aggregator> {
        let v = self.value(AttributeType::Aggregator)?;
        let (asn, a) = if self.ctx.four_octet_as {
            (u32::from_be_bytes([v[0], v[1], v[2], v[3]]), &v[4..8])
        } else {
            (u32::from(u16::from_be_bytes([v[0], v[1]])), &v[2..6])
        };
        Some(Aggregator {
            asn,
            address: Ipv4Addr::new(a[0], a[1], a[2], a[3]),
        })
    }

    /// AS4_AGGREGATOR as received.
    pub fn as4_aggregator(&self) -> Option<Aggregator> {
        let v = self.value(AttributeType::As4Aggregator)?;
        Some(Aggregator {
            asn: u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
            address: Ipv4Addr::new(v[4], v[5], v[6], v[7]),
        })
    }

    /// The real aggregator: AGGREGATOR, replaced by AS4_AGGREGATOR on a
    /// 2-octet session when AGGREGATOR holds AS_TRANS (RFC 6793 §4.2.3).
    pub fn aggregator(&self) -> Option<Aggregator> {
        let a = self.aggregator_raw()?;
        if !self.ctx.four_octet_as && a.asn == AS_TRANS {
            return self.as4_aggregator().or(Some(a));
        }
        Some(a)
    }

    /// COMMUNITIES.
    pub fn communities(&self) -> impl Iterator<Item = Community> + 'a {
        self.value(AttributeType::Communities)
            .unwrap_or(&[])
            .chunks_exact(4)
            .map(|c| Community(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
    }

    /// LARGE_COMMUNITY.
    pub fn large_communities(&self) -> impl Iterator<Item = LargeCommunity> + 'a {
        self.value(AttributeType::LargeCommunities)
            .unwrap_or(&[])
            .chunks_exact(12)
            .map(|c| {
                let mut b = [0u8; 12];
                b.copy_from_slice(c);
                LargeCommunity::from_bytes(b)
            })
    }

    /// EXTENDED_COMMUNITIES.
    pub fn extended_communities(&self) -> impl Iterator<Item = ExtendedCommunity> + 'a {
        self.value(AttributeType::ExtendedCommunities)
            .unwrap_or(&[])
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                ExtendedCommunity(b)
            })
    }

    /// CLUSTER_LIST.
    pub fn cluster_list(&self) -> impl Iterator<Item = Ipv4Addr> + 'a {
        self.value(AttributeType::ClusterList)
            .unwrap_or(&[])
            .chunks_exact(4)
            .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
    }

    /// MP_REACH_NLRI.
    pub fn mp_reach(&self) -> Option<MpReach<'a>> {
        let v = self.value(AttributeType::MpReachNlri)?;
        let afi = Afi::from(u16::from_be_bytes([v[0], v[1]]));
        let safi = Safi::from(v[2]);
        let nh_end = 4 + usize::from(v[3]);
        Some(MpReach {
            afi,
            safi,
            next_hop: &v[4..nh_end],
            nlri_bytes: &v[nh_end + 1..],
            add_path: self.ctx.add_path_for(afi, safi),
        })
    }

    /// MP_UNREACH_NLRI.
    pub fn mp_unreach(&self) -> Option<MpUnreach<'a>> {
        let v = self.value(AttributeType::MpUnreachNlri)?;
        let afi = Afi::from(u16::from_be_bytes([v[0], v[1]]));
        let safi = Safi::from(v[2]);
        Some(MpUnreach {
            afi,
            safi,
            nlri_bytes: &v[3..],
            add_path: self.ctx.add_path_for(afi, safi),
        })
    }
}
