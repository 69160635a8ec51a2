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
use crate::prefix::{Encoding, NlriIter, check_nlri_encoded};

mod lazy;
pub use lazy::{LazyNlriIter, LazyUpdate};

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
    // The path attributes field lies between the two (`attributes_span`).
    nlri: Span,
    /// Bit `t` set: attribute type `t` is present and usable.
    present: u64,
    spans: [Span; KEPT.len()],
    /// Where the NLRI of MP_REACH_NLRI start in its value (when present):
    /// found by the walk, so that `announced` does not parse the next hop
    /// again.
    reach_nlri: u16,
    /// How the NLRI of MP_REACH_NLRI and MP_UNREACH_NLRI are encoded;
    /// `None` when absent or of a family this crate does not iterate.
    reach: Option<Encoding>,
    unreach: Option<Encoding>,
    errors: Findings,
}

/// The RFC 7606 findings of an UPDATE. Nearly every UPDATE has none, so
/// they are boxed: the view is 16 bytes smaller than with a `Vec`, and
/// dropping a clean view is one null test.
#[derive(Clone, PartialEq, Eq, Default)]
// A `Box<Vec>` on purpose: one word in the view, and pushes stay amortised.
#[allow(clippy::box_collection)]
struct Findings(Option<Box<Vec<AttributeError>>>);

impl Findings {
    fn push(&mut self, e: AttributeError) {
        self.0.get_or_insert_with(Box::default).push(e);
    }

    fn as_slice(&self) -> &[AttributeError] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    fn iter(&self) -> std::slice::Iter<'_, AttributeError> {
        self.as_slice().iter()
    }
}

impl std::fmt::Debug for Update<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Update")
            .field("withdrawn", &self.withdrawn().collect::<Vec<_>>())
            .field("attributes", &self.attributes().collect::<Vec<_>>())
            .field("announced", &self.announced().collect::<Vec<_>>())
            .field("errors", &self.errors.as_slice())
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
#[derive(Debug, PartialEq, Eq)]
enum Check {
    Ok,
    Bad(UpdateSubcode, &'static str),
}

/// The check of an attribute on the walk's fast path, by its type and
/// flags. Anything other than a clean pass goes to
/// [`Walk::check_attribute`], which decides what is wrong; the fast path
/// only ever says "fine".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum LengthRule {
    /// Unknown optional attribute: any length.
    Any,
    /// Exactly 0, 4 or 8 octets.
    Exact0,
    Exact4,
    Exact8,
    /// A non-zero multiple of 4, 8 or 12 octets.
    Multiple4,
    Multiple8,
    Multiple12,
    /// One octet, 0 to 2.
    Origin,
    /// Well-formed segments of the session's ASN width.
    AsPath,
    /// 6 or 8 octets by the session's ASN width.
    Aggregator,
    /// Checked in full (and fatal when malformed), family recorded.
    MpReach,
    MpUnreach,
    /// Always [`Walk::check_attribute`]: flags that do not fit the type
    /// (or an unknown well-known type), and AS4_PATH (rare).
    Slow,
}

/// What the walk's fast path does with one (type, flags) pair.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(2))]
struct Rule {
    length: LengthRule,
    /// Index into [`Update::spans`], [`NO_SPAN`] for the types only marked
    /// present.
    slot: u8,
}

const NO_SPAN: u8 = u8::MAX;

/// The rule for type code `t` with flags `flags`. The flags must have the
/// Optional and Transitive bits RFC 4271 §5 and the defining RFCs give the
/// type, and Partial clear unless the type is optional transitive; an
/// unknown type must be optional.
const fn rule(t: usize, flags: u8) -> Rule {
    use LengthRule as L;
    use flags::{OPTIONAL, OPTIONAL_TRANSITIVE, PARTIAL, TRANSITIVE, WELL_KNOWN};
    let known = match t {
        1 => Some((WELL_KNOWN, L::Origin)),
        2 => Some((WELL_KNOWN, L::AsPath)),
        3 | 5 => Some((WELL_KNOWN, L::Exact4)),
        4 | 9 => Some((OPTIONAL, L::Exact4)),
        6 => Some((WELL_KNOWN, L::Exact0)),
        7 => Some((OPTIONAL_TRANSITIVE, L::Aggregator)),
        8 => Some((OPTIONAL_TRANSITIVE, L::Multiple4)),
        10 => Some((OPTIONAL, L::Multiple4)),
        14 => Some((OPTIONAL, L::MpReach)),
        15 => Some((OPTIONAL, L::MpUnreach)),
        16 => Some((OPTIONAL_TRANSITIVE, L::Multiple8)),
        17 => Some((OPTIONAL_TRANSITIVE, L::Slow)),
        18 => Some((OPTIONAL_TRANSITIVE, L::Exact8)),
        32 => Some((OPTIONAL_TRANSITIVE, L::Multiple12)),
        35 => Some((OPTIONAL_TRANSITIVE, L::Exact4)),
        _ => None,
    };
    let length = match known {
        Some((expected, length)) => {
            let partial = if expected == OPTIONAL_TRANSITIVE {
                0
            } else {
                PARTIAL
            };
            if flags & (OPTIONAL | TRANSITIVE | partial) == expected {
                length
            } else {
                L::Slow
            }
        }
        None if flags & OPTIONAL != 0 => L::Any,
        None => L::Slow,
    };
    let slot = if t < TRACKED && SLOT[t] != 0 {
        SLOT[t] - 1
    } else {
        NO_SPAN
    };
    Rule { length, slot }
}

/// One [`Rule`] per type code and value of the three flag bits that
/// matter (Optional, Transitive, Partial): checking an attribute costs
/// one table load and one `match` on its rule rather than a conversion to
/// [`AttributeType`], a flags check and a `match` per question. Must agree
/// with [`expected_flags`] and [`Walk::check_attribute`] (unit tests
/// below). 4 KiB.
static RULES: [Rule; 256 * 8] = {
    let mut rules = [Rule {
        length: LengthRule::Slow,
        slot: NO_SPAN,
    }; 256 * 8];
    let mut i = 0;
    while i < rules.len() {
        rules[i] = rule(i >> 3, ((i & 7) as u8) << 5);
        i += 1;
    }
    rules
};

/// The rule of an attribute of type `t` with flags `flags`.
#[inline(always)]
fn rule_of(t: u8, flags: u8) -> Rule {
    RULES[usize::from(t) << 3 | usize::from(flags >> 5)]
}

/// The span index of MP_REACH_NLRI (14).
const MP_REACH_SLOT: usize = SLOT[14] as usize - 1;

/// Sets bit `i` of `bits`, returning whether it was set already.
#[cold]
fn test_and_set(bits: &mut [u64], i: u8) -> bool {
    let (word, bit) = (usize::from(i / 64), i % 64);
    bits.get_mut(word).is_some_and(|w| {
        let was = *w & 1 << bit != 0;
        *w |= 1 << bit;
        was
    })
}

/// ORIGIN (1), AS_PATH (2) and NEXT_HOP (3) in [`Update::present`].
const ORIGIN_AS_PATH: u64 = 1 << 1 | 1 << 2;
const NEXT_HOP: u64 = 1 << 3;

/// The attribute walk's state. The view is built from it once, at the end
/// of [`Update::parse`]: every rewrite of the 128-byte view is a copy, and
/// `parse` runs for every UPDATE of a full table.
struct Walk {
    ctx: Context,
    /// Check the NLRI of MP_REACH_NLRI and MP_UNREACH_NLRI here (false
    /// for a [`LazyUpdate`], whose iterators check them).
    check_nlri: bool,
    present: u64,
    spans: [Span; KEPT.len()],
    errors: Findings,
    reach_nlri: u16,
    reach: Option<Encoding>,
    unreach: Option<Encoding>,
}

impl<'a> Update<'a> {
    /// Validates an UPDATE body (the message without its 19-byte header).
    pub fn parse(body: &'a [u8], ctx: &Context) -> Result<Self, DecodeError> {
        Self::parse_with(body, ctx, |u| u)
    }

    /// [`Update::parse_with`] of the checked view (`EAGER`), or of the
    /// view a [`LazyUpdate`] wraps (`!EAGER`): everything but the NLRI
    /// entries checked.
    #[inline(always)]
    pub(crate) fn parse_with<R>(
        body: &'a [u8],
        ctx: &Context,
        wrap: impl FnOnce(Self) -> R,
    ) -> Result<R, DecodeError> {
        Self::parse_checking::<true, R>(body, ctx, wrap)
    }

    /// [`Update::parse`], giving `wrap(view)`: inlined into
    /// [`crate::decode`] with [`crate::Message::Update`] as `wrap`, the
    /// view is written straight into the returned message rather than
    /// built and then copied twice (it is returned for every UPDATE).
    ///
    /// Without `EAGER`, the NLRI entries (Withdrawn Routes, NLRI, and those
    /// of MP_REACH_NLRI and MP_UNREACH_NLRI) are not checked: only the
    /// lengths that delimit their fields. The errors returned are then a
    /// subset of the eager ones, but not necessarily the first an eager
    /// parse finds ([`LazyUpdate::parse`] sorts that out).
    #[inline(always)]
    fn parse_checking<const EAGER: bool, R>(
        body: &'a [u8],
        ctx: &Context,
        wrap: impl FnOnce(Self) -> R,
    ) -> Result<R, DecodeError> {
        let len = body.len();
        let malformed = |off: usize, why| {
            update_error(UpdateSubcode::MalformedAttributeList, HEADER_LEN + off, why)
        };
        let [w0, w1, ..] = *body else {
            return Err(malformed(0, "UPDATE shorter than its two length fields"));
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
        let wlen = usize::from(u16::from_be_bytes([w0, w1]));
        let alen_at = 2 + wlen;
        let Some(&[a0, a1]) = body.get(alen_at..alen_at + 2) else {
            return Err(malformed(0, "Withdrawn Routes Length overruns the message"));
        };
        let alen = usize::from(u16::from_be_bytes([a0, a1]));
        let attrs_start = alen_at + 2;
        let nlri_start = attrs_start + alen;
        if nlri_start > len {
            return Err(malformed(
                alen_at,
                "Total Path Attribute Length overruns the message",
            ));
        }
        // All fit in two octets: the body is at most 65535 - 19 bytes.
        let withdrawn = Span {
            start: 2,
            len: wlen as u16,
        };
        let nlri = Span {
            start: nlri_start as u16,
            len: (len - nlri_start) as u16,
        };
        // RFC 7606 §5.3: unparseable withdrawn routes or NLRI are fatal;
        // checked here, or by a lazy view's iterators.
        if EAGER {
            let ipv4 = Encoding::new(false, ctx.add_path_for(Afi::Ipv4, Safi::Unicast));
            let fields = [
                (2, body.get(2..alen_at)),
                (nlri_start, body.get(nlri_start..)),
            ];
            for (start, field) in fields {
                if let Err(f) = check_nlri_encoded(field.unwrap_or_default(), ipv4) {
                    return Err(update_error(
                        UpdateSubcode::InvalidNetworkField,
                        HEADER_LEN + start + f.at,
                        f.reason,
                    ));
                }
            }
        }
        let mut walk = Walk::new(ctx);
        walk.check_nlri = EAGER;
        let attrs = body.get(attrs_start..nlri_start).unwrap_or_default();
        walk.attributes(attrs, attrs_start)?;
        // The common case: no finding, and the well-known mandatory
        // attributes there or nothing announced (the fast returns of
        // `check_mandatory`).
        let mandatory = walk.present & ORIGIN_AS_PATH == ORIGIN_AS_PATH
            && (nlri.len == 0 || walk.present & NEXT_HOP != 0)
            || nlri.len == 0 && !walk.mp_reach_announces();
        let view = |walk: Walk| Update {
            body,
            ctx: *ctx,
            withdrawn,
            nlri,
            present: walk.present,
            spans: walk.spans,
            reach_nlri: walk.reach_nlri,
            reach: walk.reach,
            unreach: walk.unreach,
            errors: walk.errors,
        };
        if walk.errors.is_empty() && mandatory {
            // Built where the caller wants it: no copy of the view.
            return Ok(wrap(view(walk)));
        }
        view(walk).finish().map(wrap)
    }

    /// The checks of the whole UPDATE after the walk, for the UPDATEs that
    /// miss a mandatory attribute or have findings.
    #[inline(never)]
    fn finish(mut self) -> Result<Self, DecodeError> {
        self.check_mandatory();
        self.check_unreachable()?;
        Ok(self)
    }

    fn slice(&self, s: Span) -> &'a [u8] {
        let start = s.start as usize;
        self.body
            .get(start..start + s.len as usize)
            .unwrap_or_default()
    }

    /// The path attributes field, between the Withdrawn Routes field (and
    /// the Total Path Attribute Length) and the NLRI field.
    fn attributes_span(&self) -> Span {
        let start = self.withdrawn.start + self.withdrawn.len + 2;
        Span {
            start,
            len: self.nlri.start - start,
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
                offset: HEADER_LEN + self.attributes_span().start as usize - 2,
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
}

impl Walk {
    fn new(ctx: &Context) -> Self {
        Walk {
            ctx: *ctx,
            check_nlri: true,
            present: 0,
            spans: [Span::default(); KEPT.len()],
            errors: Findings::default(),
            reach_nlri: 0,
            reach: None,
            unreach: None,
        }
    }

    /// Walks the path attributes field `attrs`, which starts at `base` in
    /// the body: checks every attribute, records where the usable ones are
    /// and keeps the findings.
    #[inline(always)]
    fn attributes(&mut self, attrs: &[u8], base: usize) -> Result<(), DecodeError> {
        // Few values live through the loop, so that they stay in
        // registers: what is left of the field, the types seen (below 64;
        // the others are rare) and those found unusable (rarer still).
        let mut rest = attrs;
        let mut seen = 0u64;
        let mut seen_high = [0u64; 3];
        let mut unusable = 0u64;
        while let [flags, t, ..] = *rest {
            let off = base + attrs.len() - rest.len();
            let header = if flags & flags::EXTENDED_LENGTH == 0 {
                rest.get(2).map(|&l| (3, usize::from(l)))
            } else {
                rest.get(2..4)
                    .map(|l| (4, usize::from(u16::from_be_bytes([l[0], l[1]]))))
            };
            let Some((hlen, vlen)) = header else {
                self.truncated_header(off);
                rest = &[];
                break;
            };
            let Some((whole, tail)) = rest.split_at_checked(hlen + vlen) else {
                self.overrun(t, rest, off)?;
                rest = &[];
                break;
            };
            rest = tail;
            let value = whole.get(hlen..).unwrap_or_default();
            let vstart = off + hlen;
            let bit = 1u64 << (t % 64);
            let repeated = if t < 64 {
                let repeated = seen & bit != 0;
                seen |= bit;
                repeated
            } else {
                test_and_set(&mut seen_high, t - 64)
            };
            if repeated {
                self.repeated(t, whole, off)?;
                continue;
            }
            let rule = rule_of(t, flags);
            // The fatal MP_REACH_NLRI / MP_UNREACH_NLRI errors are all
            // Attribute Flags or Optional Attribute errors, whose data is the
            // whole attribute (RFC 4271 §6.3).
            let usable = self
                .passes(rule.length, value, vstart)
                .map_err(|e| e.with_data(whole))?
                || self.check_slow(t, flags, whole, hlen, off)?;
            if !usable {
                if t < 64 {
                    unusable |= bit;
                }
                continue;
            }
            if let Some(span) = self.spans.get_mut(usize::from(rule.slot)) {
                // Both fit: the body is at most 65535 - 19 bytes.
                *span = Span {
                    start: vstart as u16,
                    len: value.len() as u16,
                };
            }
        }
        if !rest.is_empty() {
            // One octet left: not even a type code.
            self.truncated_header(base + attrs.len() - rest.len());
        }
        // Present: seen, below 64 (`seen` holds no other), and usable.
        self.present = seen & !unusable;
        Ok(())
    }

    /// True when a usable MP_REACH_NLRI has NLRI (of any family).
    fn mp_reach_announces(&self) -> bool {
        self.present & 1 << 14 != 0
            && self
                .spans
                .get(MP_REACH_SLOT)
                .is_some_and(|s| s.len > self.reach_nlri)
    }

    /// The fast check: true when the attribute (value at `vstart` in the
    /// body) is certainly fine; false when [`Walk::check_attribute`] must
    /// look. MP_REACH_NLRI and MP_UNREACH_NLRI with the right flags are
    /// checked in full here, their errors being fatal.
    #[inline(always)]
    fn passes(&mut self, rule: LengthRule, v: &[u8], vstart: usize) -> Result<bool, DecodeError> {
        use LengthRule as L;
        let n = v.len();
        Ok(match rule {
            L::Any => true,
            L::Exact0 => n == 0,
            L::Exact4 => n == 4,
            L::Exact8 => n == 8,
            L::Multiple4 => n != 0 && n % 4 == 0,
            L::Multiple8 => n != 0 && n % 8 == 0,
            L::Multiple12 => n != 0 && n % 12 == 0,
            L::Origin => matches!(v, [0..=2]),
            L::AsPath => AsPathView::check(v, self.ctx.four_octet_as).is_ok(),
            L::Aggregator => n == if self.ctx.four_octet_as { 8 } else { 6 },
            L::MpReach => {
                self.check_mp_reach(v, vstart)?;
                true
            }
            L::MpUnreach => {
                self.check_mp_unreach(v, vstart)?;
                true
            }
            L::Slow => false,
        })
    }

    /// An attribute the fast check did not pass: the full check, true when
    /// the attribute is usable after all, else the finding kept.
    #[inline(never)]
    fn check_slow(
        &mut self,
        t: u8,
        flags: u8,
        whole: &[u8],
        hlen: usize,
        off: usize,
    ) -> Result<bool, DecodeError> {
        let ty = AttributeType::from(t);
        let value = whole.get(hlen..).unwrap_or_default();
        let checked = self
            .check_attribute(ty, flags, value, off, off + hlen)
            .map_err(|e| e.with_data(whole))?;
        let Check::Bad(sub, reason) = checked else {
            return Ok(true);
        };
        // RFC 7606 §3 c for flags. RFC 7606 says nothing of an unrecognized
        // well-known attribute: the route may depend on what was not
        // understood, so it is withdrawn rather than kept (as BIRD and FRR
        // do), and the session is kept.
        let action = match sub {
            UpdateSubcode::AttributeFlagsError | UpdateSubcode::UnrecognizedWellKnownAttribute => {
                Action::TreatAsWithdraw
            }
            _ => approach(ty),
        };
        self.finding(ty, action, sub, whole, off, reason);
        Ok(false)
    }

    /// RFC 7606 §4: too few octets left for an attribute header (at `off`).
    #[cold]
    fn truncated_header(&mut self, off: usize) {
        self.finding(
            AttributeType::Unknown(0),
            Action::TreatAsWithdraw,
            UpdateSubcode::MalformedAttributeList,
            &[],
            off,
            "attribute header truncated by the Total Path Attribute Length",
        );
    }

    /// RFC 7606 §4: the last attribute (type `t` at `off`, `rest` being all
    /// that is left of the field) overruns the attribute field; rely on
    /// Total Path Attribute Length for the NLRI. An MP attribute cut short
    /// cannot be treated as withdrawn, its NLRI being lost (RFC 7606 §3 j,
    /// §5.3): fatal.
    #[cold]
    fn overrun(&mut self, t: u8, rest: &[u8], off: usize) -> Result<(), DecodeError> {
        let ty = AttributeType::from(t);
        if matches!(
            ty,
            AttributeType::MpReachNlri | AttributeType::MpUnreachNlri
        ) {
            return Err(update_error(
                UpdateSubcode::AttributeLengthError,
                HEADER_LEN + off,
                "MP_REACH_NLRI / MP_UNREACH_NLRI overruns the attribute field",
            )
            .with_data(rest));
        }
        self.finding(
            ty,
            Action::TreatAsWithdraw,
            UpdateSubcode::AttributeLengthError,
            rest,
            off,
            "attribute length overruns the Total Path Attribute Length",
        );
        Ok(())
    }

    /// RFC 7606 §3 g: repeated MP attributes are fatal, other repeats are
    /// discarded.
    #[cold]
    fn repeated(&mut self, t: u8, whole: &[u8], off: usize) -> Result<(), DecodeError> {
        let ty = AttributeType::from(t);
        if matches!(
            ty,
            AttributeType::MpReachNlri | AttributeType::MpUnreachNlri
        ) {
            // No data: RFC 4271 §6.3 defines none for Malformed Attribute
            // List.
            return Err(update_error(
                UpdateSubcode::MalformedAttributeList,
                HEADER_LEN + off,
                "MP_REACH_NLRI or MP_UNREACH_NLRI appears twice",
            ));
        }
        self.finding(
            ty,
            Action::AttributeDiscard,
            UpdateSubcode::MalformedAttributeList,
            whole,
            off,
            "attribute appears more than once; repeat discarded",
        );
        Ok(())
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

    /// Checks flags, length and content of one attribute (at `pos` in the
    /// body, value at `vstart`). MP_REACH_NLRI and MP_UNREACH_NLRI errors are
    /// returned as fatal errors here.
    fn check_attribute(
        &mut self,
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

    /// Checks MP_REACH_NLRI (value at `vstart` in the body) and records
    /// where its NLRI start and how they are encoded.
    fn check_mp_reach(&mut self, v: &[u8], vstart: usize) -> Result<(), DecodeError> {
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
        // At most 4 + 255 + 1.
        self.reach_nlri = (nh_end + 1) as u16;
        self.reach = None;
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
        let encoding = Encoding::new(ipv6, self.ctx.add_path_for(afi, safi));
        let nlri = v.get(nh_end + 1..).unwrap_or_default();
        if !self.check_nlri {
            self.reach = Some(encoding);
            return Ok(());
        }
        check_nlri_encoded(nlri, encoding).map_err(|f| {
            update_error(
                UpdateSubcode::OptionalAttributeError,
                off + nh_end + 1 + f.at,
                f.reason,
            )
            .disabling((afi, safi))
        })?;
        self.reach = Some(encoding);
        Ok(())
    }

    /// Checks MP_UNREACH_NLRI (value at `vstart` in the body) and records
    /// how its withdrawn routes are encoded.
    fn check_mp_unreach(&mut self, v: &[u8], vstart: usize) -> Result<(), DecodeError> {
        let off = HEADER_LEN + vstart;
        let [a0, a1, safi, ..] = *v else {
            return Err(update_error(
                UpdateSubcode::OptionalAttributeError,
                off,
                "MP_UNREACH_NLRI too short for AFI and SAFI",
            ));
        };
        let (afi, safi) = (Afi::from(u16::from_be_bytes([a0, a1])), Safi::from(safi));
        self.unreach = None;
        let Some(ipv6) = known_family(afi, safi) else {
            return Ok(());
        };
        let encoding = Encoding::new(ipv6, self.ctx.add_path_for(afi, safi));
        if !self.check_nlri {
            self.unreach = Some(encoding);
            return Ok(());
        }
        check_nlri_encoded(v.get(3..).unwrap_or_default(), encoding).map_err(|f| {
            update_error(
                UpdateSubcode::OptionalAttributeError,
                off + 3 + f.at,
                f.reason,
            )
            .disabling((afi, safi))
        })?;
        self.unreach = Some(encoding);
        Ok(())
    }
}

impl<'a> Update<'a> {
    // ---- Findings -------------------------------------------------------

    /// Non-fatal findings (RFC 7606), in the order found.
    pub fn errors(&self) -> &[AttributeError] {
        self.errors.as_slice()
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

    /// How the IPv4 fields (Withdrawn Routes, NLRI) are encoded.
    fn ipv4_encoding(&self) -> Encoding {
        Encoding::new(false, self.ctx.add_path_for(Afi::Ipv4, Safi::Unicast))
    }

    /// The IPv4 Withdrawn Routes field.
    pub fn withdrawn_routes(&self) -> NlriIter<'a> {
        NlriIter::with_encoding(self.slice(self.withdrawn), self.ipv4_encoding())
    }

    /// The IPv4 NLRI field.
    pub fn nlri(&self) -> NlriIter<'a> {
        NlriIter::with_encoding(self.slice(self.nlri), self.ipv4_encoding())
    }

    /// The withdrawn routes of MP_UNREACH_NLRI, if of a unicast family.
    fn mp_unreach_nlri(&self) -> NlriIter<'a> {
        match (self.unreach, self.value(AttributeType::MpUnreachNlri)) {
            (Some(encoding), Some(v)) => {
                NlriIter::with_encoding(v.get(3..).unwrap_or_default(), encoding)
            }
            _ => NlriIter::empty(),
        }
    }

    /// The NLRI of MP_REACH_NLRI, if of a unicast family.
    fn mp_reach_nlri(&self) -> NlriIter<'a> {
        match (self.reach, self.value(AttributeType::MpReachNlri)) {
            (Some(encoding), Some(v)) => {
                let nlri = v.get(usize::from(self.reach_nlri)..);
                NlriIter::with_encoding(nlri.unwrap_or_default(), encoding)
            }
            _ => NlriIter::empty(),
        }
    }

    /// Every withdrawn unicast prefix: the Withdrawn Routes field, then
    /// MP_UNREACH_NLRI.
    pub fn withdrawn(&self) -> NlriIter<'a> {
        self.withdrawn_routes().followed_by(self.mp_unreach_nlri())
    }

    /// Every announced unicast prefix: MP_REACH_NLRI, then the NLRI field.
    /// Check [`Update::is_treat_as_withdraw`] before using them as routes.
    pub fn announced(&self) -> NlriIter<'a> {
        self.mp_reach_nlri().followed_by(self.nlri())
    }

    /// The family this UPDATE marks End-of-RIB for (RFC 4724 §2): an empty
    /// UPDATE for IPv4 unicast, or one holding only an empty
    /// MP_UNREACH_NLRI.
    pub fn end_of_rib(&self) -> Option<(Afi, Safi)> {
        if self.withdrawn.len != 0 || self.nlri.len != 0 || !self.errors.is_empty() {
            return None;
        }
        if self.attributes_span().len == 0 {
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
        let attributes = self.attributes_span();
        let attrs = self.slice(attributes);
        let base = attributes.start as usize;
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
        // The walk checked it with the session's ASN width.
        let v = self.value(AttributeType::AsPath)?;
        Some(AsPathView::validated(v, self.ctx.four_octet_as))
    }

    /// AS4_PATH as received; meaningful only on 2-octet sessions.
    pub fn as4_path_view(&self) -> Option<AsPathView<'a>> {
        // The walk checked it as 4-octet ASNs.
        let v = self.value(AttributeType::As4Path)?;
        Some(AsPathView::validated(v, true))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Families;

    #[test]
    fn rules_agree_with_expected_flags_and_slots() {
        for t in 0..=255u8 {
            let slot = SLOT.get(usize::from(t)).map_or(0, |&s| s);
            for high in 0..8u8 {
                let flags = high << 5;
                let rule = rule_of(t, flags);
                let flags_ok = match expected_flags(AttributeType::from(t)) {
                    Some(flags::OPTIONAL_TRANSITIVE) => flags & 0xc0 == flags::OPTIONAL_TRANSITIVE,
                    Some(e) => flags & 0xe0 == e,
                    None => flags & flags::OPTIONAL != 0,
                };
                let as4_path = t == u8::from(AttributeType::As4Path);
                assert_eq!(
                    rule.length != LengthRule::Slow,
                    flags_ok && !as4_path,
                    "type {t} flags {flags:#x}"
                );
                // The other flag bits do not matter.
                for low in [0x10, 0x0f] {
                    assert_eq!(rule_of(t, flags | low).length, rule.length);
                }
                assert_eq!(rule.slot, slot.wrapping_sub(1), "type {t}");
            }
        }
    }

    /// Values to try every attribute type with: every short value over a
    /// few telling octets, well-formed AS paths and MP attributes of both
    /// families, and pseudo-random bytes.
    fn sample_values() -> Vec<Vec<u8>> {
        let alphabet = [0u8, 1, 2, 3, 4, 0xff];
        let mut values = vec![vec![]];
        for &a in &alphabet {
            values.push(vec![a]);
            for &b in &alphabet {
                values.push(vec![a, b]);
            }
        }
        for n in 3..=40 {
            values.push(vec![0; n]);
            values.push(vec![0xff; n]);
        }
        let mut reach_v4 = vec![0, 1, 1, 4, 192, 0, 2, 1, 0, 24, 198, 51, 100];
        let reach_v6 = [
            &[0, 2, 1, 16][..],
            &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            &[0, 32, 0x20, 1, 0xd, 0xb8],
        ]
        .concat();
        values.push(reach_v4.clone());
        values.push(reach_v6.clone());
        values.push(vec![0, 2, 1, 16, 0]); // next hop overruns
        values.push(vec![0, 1, 1, 4, 192, 0, 2, 1, 0, 33, 1, 2, 3, 4, 5]); // /33
        values.push(vec![0, 1, 128, 4, 192, 0, 2, 1, 0, 7, 7]); // other family
        values.push(vec![0, 2, 1, 32, 8, 0x30]);
        values.push(vec![0, 1, 1, 8, 0x30]);
        reach_v4.truncate(11);
        values.push(reach_v4);
        // AS paths: 4-octet sequence, 2-octet set then sequence, confed.
        values.push(vec![2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0xfd, 0xea]);
        values.push(vec![1, 2, 0xfd, 0xe9, 0xfd, 0xea, 2, 1, 0, 1]);
        values.push(vec![3, 1, 0, 0, 0, 1]);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for n in 0..200 {
            let len = n % 41;
            let v = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly small octets, so that lengths and counts fit.
                    if x % 3 == 0 { x as u8 } else { (x % 5) as u8 }
                })
                .collect();
            values.push(v);
        }
        values
    }

    /// The walk's fast check is only a shortcut: whenever it passes an
    /// attribute, the full check passes it too (recording the same MP
    /// family), and its fatal errors are the full check's. Every
    /// attribute it does not pass gets the full check.
    #[test]
    fn the_fast_check_passes_only_what_the_full_check_passes() {
        let values = sample_values();
        let contexts = [
            Context::MODERN,
            Context::INITIAL,
            Context {
                add_path: Families::ALL,
                ..Context::MODERN
            },
        ];
        let mut passed = 0;
        for ctx in &contexts {
            for t in 0..=255u8 {
                let known = expected_flags(AttributeType::from(t)).is_some();
                for high in 0..8u8 {
                    let flags = high << 5;
                    let values = if known { &values[..] } else { &values[..43] };
                    for v in values {
                        let rule = rule_of(t, flags);
                        let mut fast = Walk::new(ctx);
                        let quick = fast.passes(rule.length, v, 100);
                        let mut full = Walk::new(ctx);
                        let checked =
                            full.check_attribute(AttributeType::from(t), flags, v, 97, 100);
                        let what = format!("type {t} flags {flags:#x} value {v:?} {ctx:?}");
                        match quick {
                            Ok(true) => {
                                passed += 1;
                                assert_eq!(checked, Ok(Check::Ok), "{what}");
                                assert_eq!(
                                    (fast.reach_nlri, fast.reach, fast.unreach),
                                    (full.reach_nlri, full.reach, full.unreach),
                                    "{what}"
                                );
                            }
                            Ok(false) => assert!(
                                checked != Ok(Check::Ok) || rule.length == LengthRule::Slow,
                                "{what}: the full check passes it"
                            ),
                            Err(e) => assert_eq!(checked, Err(e), "{what}"),
                        }
                    }
                }
            }
        }
        // Not vacuous: plenty of attributes take the fast path.
        assert!(passed > 10_000, "{passed}");
    }
}
