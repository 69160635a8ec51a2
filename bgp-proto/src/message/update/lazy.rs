//! An UPDATE whose NLRI entries are checked while they are read.
//!
//! RFC 7606 §5.3 makes an NLRI field that cannot be parsed fatal (an UPDATE
//! Message Error, Invalid Network Field for the Withdrawn Routes and NLRI
//! fields, RFC 4271 §6.3; the MP_REACH_NLRI / MP_UNREACH_NLRI attribute
//! malformed for theirs, RFC 7606 §3 j). The checked view, [`Update`], so
//! checks every entry before it hands out a single prefix, and its caller
//! then reads them all again: each prefix of a full table is walked twice,
//! and each walk is a chain of dependent loads. [`LazyUpdate`] checks
//! everything else up front (the section lengths, every path attribute,
//! the mandatory attributes, RFC 7606 §5.2) and each NLRI entry as its
//! iterator reaches it, in the one walk that reads it.
//!
//! The contract is [`LazyUpdate`]'s documentation.

use std::iter::FusedIterator;
use std::net::Ipv4Addr;

use super::{RawAttribute, Update};
use crate::attribute::{
    Aggregator, AsPath, AsPathView, Community, ExtendedCommunity, LargeCommunity, NextHop, Origin,
};
use crate::context::Context;
use crate::error::{Action, AttributeError, DecodeError};
use crate::framing::HEADER_LEN;
use crate::iana::{Afi, ErrorCode, Safi, UpdateSubcode};
use crate::prefix::{Malformed, Nlri, NlriIter};

/// An UPDATE whose path attributes are checked and whose NLRI entries are
/// checked as they are iterated. Built by [`crate::decode_lazy`] or
/// [`LazyUpdate::parse`]; a checked [`Update`] converts into one whose
/// iterators never fail.
///
/// # Contract
///
/// * The errors are [`crate::decode`]'s, exactly (code, subcode, data,
///   offset, action, family, reason): [`LazyUpdate::parse`] fails with
///   the error [`Update::parse`] gives whenever it fails on anything but
///   an NLRI entry; otherwise, if [`Update::parse`] fails, at least one of
///   [`LazyUpdate::withdrawn`] and [`LazyUpdate::announced`] yields, after
///   the well-formed entries before the malformed one, `Err` with that
///   same error, and then ends. When [`Update::parse`] succeeds, both
///   yield what [`Update::withdrawn`] and [`Update::announced`] yield, and
///   the attribute accessors and findings ([`LazyUpdate::errors`]) are the
///   checked view's.
/// * So a message is known to be well-formed only once both iterators have
///   run to their end, or [`LazyUpdate::check`] has returned `Ok`. A caller
///   that stops iterating early and keeps the session must call
///   [`LazyUpdate::check`].
/// * A caller may apply each prefix as it comes, and must handle an `Err`
///   from an iterator as the session reset RFC 7606 §5.3 calls for: send
///   [`DecodeError::notification`] and close the session, which deletes
///   every route learned on it (RFC 4271 §8.2.2, UpdateMsgErr), including
///   those this UPDATE applied before the error. That is what makes
///   applying them harmless. (A speaker that keeps a peer's routes as
///   stale across such a reset, RFC 8538, keeps these with them, until
///   the peer's End-of-RIB sweeps what it did not send again.) This holds for an error whose action is
///   [`Action::AfiSafiDisable`](crate::Action::AfiSafiDisable) too (a
///   malformed MP_REACH_NLRI / MP_UNREACH_NLRI, for which RFC 7606 §3 j
///   allows either): disabling only that family would keep whatever the
///   UPDATE applied for the other family, from a message the checked view
///   would have refused whole. A speaker that disables families instead
///   must use [`Update`] or apply nothing before [`LazyUpdate::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LazyUpdate<'a>(Update<'a>);

impl<'a> From<Update<'a>> for LazyUpdate<'a> {
    fn from(u: Update<'a>) -> Self {
        Self(u)
    }
}

/// The error an eager parse of `body` gives. `lazy` is what the lazy parse
/// or iteration found; it is returned only if the eager parse, against
/// the contract, succeeds (never panic on network input).
#[cold]
#[inline(never)]
fn eager_error(body: &[u8], ctx: &Context, lazy: DecodeError) -> DecodeError {
    // The lazy checks are the eager ones less the NLRI entries', so an
    // eager parse fails too, possibly earlier: it checks the Withdrawn
    // Routes and NLRI fields before the attributes, and an MP attribute's
    // NLRI where the attribute is. Running it gives its error exactly, at
    // the cost of a second parse of a message that ends the session.
    Update::parse(body, ctx).err().unwrap_or(lazy)
}

impl<'a> LazyUpdate<'a> {
    /// Checks an UPDATE body (the message without its 19-byte header), all
    /// but its NLRI entries. Fails with exactly [`Update::parse`]'s error
    /// when the body has a fault other than in an NLRI entry.
    pub fn parse(body: &'a [u8], ctx: &Context) -> Result<Self, DecodeError> {
        Self::parse_with(body, ctx, |u| u)
    }

    /// [`LazyUpdate::parse`], giving `wrap(view)` (see
    /// [`Update::parse_with`]).
    #[inline(always)]
    pub(crate) fn parse_with<R>(
        body: &'a [u8],
        ctx: &Context,
        wrap: impl FnOnce(Self) -> R,
    ) -> Result<R, DecodeError> {
        Update::parse_checking::<false, R>(body, ctx, |u| wrap(Self(u)))
            .map_err(|e| eager_error(body, ctx, e))
    }

    /// Checks every NLRI entry and gives the checked view:
    /// `Ok` exactly when [`Update::parse`] succeeds, else its error.
    pub fn check(self) -> Result<Update<'a>, DecodeError> {
        for entry in self.withdrawn().chain(self.announced()) {
            entry?;
        }
        Ok(self.0)
    }

    fn lazy(&self, entries: NlriIter<'a>) -> LazyNlriIter<'a> {
        LazyNlriIter {
            entries,
            body: self.0.body,
            ctx: self.0.ctx,
        }
    }

    // ---- Prefixes -------------------------------------------------------

    /// Every withdrawn unicast prefix: the Withdrawn Routes field, then
    /// MP_UNREACH_NLRI; `Err` at a malformed entry.
    pub fn withdrawn(&self) -> LazyNlriIter<'a> {
        self.lazy(self.0.withdrawn())
    }

    /// Every announced unicast prefix: MP_REACH_NLRI, then the NLRI field;
    /// `Err` at a malformed entry. Check [`LazyUpdate::is_treat_as_withdraw`]
    /// before using them as routes.
    pub fn announced(&self) -> LazyNlriIter<'a> {
        self.lazy(self.0.announced())
    }

    /// Calls `f` on every withdrawn unicast prefix, as
    /// [`LazyUpdate::withdrawn`] yields them, and fails at a malformed
    /// entry with that iterator's error (after `f` has seen the entries
    /// before it). The same walk as the iterator's, written as one loop per
    /// field: the fastest way through a full table.
    #[inline(always)]
    pub fn for_each_withdrawn(&self, f: impl FnMut(Nlri)) -> Result<(), DecodeError> {
        self.0
            .withdrawn()
            .for_each_entry(f)
            .map_err(|Malformed| fault(self.0.body, self.0.ctx))
    }

    /// Calls `f` on every announced unicast prefix, as
    /// [`LazyUpdate::announced`] yields them; see
    /// [`LazyUpdate::for_each_withdrawn`].
    #[inline(always)]
    pub fn for_each_announced(&self, f: impl FnMut(Nlri)) -> Result<(), DecodeError> {
        self.0
            .announced()
            .for_each_entry(f)
            .map_err(|Malformed| fault(self.0.body, self.0.ctx))
    }

    /// The IPv4 Withdrawn Routes field.
    pub fn withdrawn_routes(&self) -> LazyNlriIter<'a> {
        self.lazy(self.0.withdrawn_routes())
    }

    /// The IPv4 NLRI field.
    pub fn nlri(&self) -> LazyNlriIter<'a> {
        self.lazy(self.0.nlri())
    }

    /// The NLRI of MP_REACH_NLRI, if of a unicast family.
    pub fn mp_reach_nlri(&self) -> LazyNlriIter<'a> {
        self.lazy(self.0.mp_reach_nlri())
    }

    /// The withdrawn routes of MP_UNREACH_NLRI, if of a unicast family.
    pub fn mp_unreach_nlri(&self) -> LazyNlriIter<'a> {
        self.lazy(self.0.mp_unreach_nlri())
    }

    /// The family of MP_REACH_NLRI and its next hop.
    pub fn mp_reach(&self) -> Option<(Afi, Safi, NextHop)> {
        self.0.mp_reach().map(|m| (m.afi, m.safi, m.next_hop()))
    }

    /// The family of MP_UNREACH_NLRI.
    pub fn mp_unreach(&self) -> Option<(Afi, Safi)> {
        self.0.mp_unreach().map(|m| (m.afi, m.safi))
    }

    /// See [`Update::end_of_rib`] (it depends on the field lengths only).
    pub fn end_of_rib(&self) -> Option<(Afi, Safi)> {
        self.0.end_of_rib()
    }

    // ---- Findings and attributes: the checked view's --------------------

    /// See [`Update::errors`].
    pub fn errors(&self) -> &[AttributeError] {
        self.0.errors()
    }

    /// See [`Update::action`].
    pub fn action(&self) -> Option<Action> {
        self.0.action()
    }

    /// See [`Update::is_treat_as_withdraw`].
    pub fn is_treat_as_withdraw(&self) -> bool {
        self.0.is_treat_as_withdraw()
    }

    /// The session state the view was decoded with.
    pub fn context(&self) -> &Context {
        self.0.context()
    }

    /// The raw body (without header).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0.as_bytes()
    }

    /// See [`Update::attributes`].
    pub fn attributes(&self) -> impl Iterator<Item = RawAttribute<'a>> + '_ {
        self.0.attributes()
    }

    /// See [`Update::origin`].
    pub fn origin(&self) -> Option<Origin> {
        self.0.origin()
    }

    /// See [`Update::as_path_view`].
    pub fn as_path_view(&self) -> Option<AsPathView<'a>> {
        self.0.as_path_view()
    }

    /// See [`Update::as4_path_view`].
    pub fn as4_path_view(&self) -> Option<AsPathView<'a>> {
        self.0.as4_path_view()
    }

    /// See [`Update::as_path`].
    pub fn as_path(&self) -> Option<AsPath> {
        self.0.as_path()
    }

    /// See [`Update::next_hop`].
    pub fn next_hop(&self) -> Option<Ipv4Addr> {
        self.0.next_hop()
    }

    /// See [`Update::med`].
    pub fn med(&self) -> Option<u32> {
        self.0.med()
    }

    /// See [`Update::local_pref`].
    pub fn local_pref(&self) -> Option<u32> {
        self.0.local_pref()
    }

    /// See [`Update::originator_id`].
    pub fn originator_id(&self) -> Option<Ipv4Addr> {
        self.0.originator_id()
    }

    /// See [`Update::atomic_aggregate`].
    pub fn atomic_aggregate(&self) -> bool {
        self.0.atomic_aggregate()
    }

    /// See [`Update::aggregator_raw`].
    pub fn aggregator_raw(&self) -> Option<Aggregator> {
        self.0.aggregator_raw()
    }

    /// See [`Update::as4_aggregator`].
    pub fn as4_aggregator(&self) -> Option<Aggregator> {
        self.0.as4_aggregator()
    }

    /// See [`Update::aggregator`].
    pub fn aggregator(&self) -> Option<Aggregator> {
        self.0.aggregator()
    }

    /// See [`Update::communities`].
    pub fn communities(&self) -> impl Iterator<Item = Community> + 'a {
        self.0.communities()
    }

    /// See [`Update::large_communities`].
    pub fn large_communities(&self) -> impl Iterator<Item = LargeCommunity> + 'a {
        self.0.large_communities()
    }

    /// See [`Update::extended_communities`].
    pub fn extended_communities(&self) -> impl Iterator<Item = ExtendedCommunity> + 'a {
        self.0.extended_communities()
    }

    /// See [`Update::cluster_list`].
    pub fn cluster_list(&self) -> impl Iterator<Item = Ipv4Addr> + 'a {
        self.0.cluster_list()
    }
}

/// The NLRI entries of one or two fields of a [`LazyUpdate`], each checked
/// as it is read: `Ok` for each well-formed entry, then, at a malformed
/// one, `Err` with the error [`crate::decode`] gives for the whole
/// message, and the end. See [`LazyUpdate`] for what the caller must do
/// with that error.
#[derive(Debug, Clone)]
pub struct LazyNlriIter<'a> {
    entries: NlriIter<'a>,
    /// What the error is computed from, only on the error path.
    body: &'a [u8],
    ctx: Context,
}

/// The error for a malformed entry met in `body`. Takes the body and the
/// context by value, not the iterator: an iterator whose address went to
/// a call would be kept in memory, each entry's step stored to it.
#[cold]
#[inline(never)]
fn fault(body: &[u8], ctx: Context) -> DecodeError {
    // Offsets count from the start of the message, header included.
    let fallback = DecodeError::new(
        ErrorCode::UpdateMessage(UpdateSubcode::InvalidNetworkField),
        HEADER_LEN,
        "malformed NLRI entry",
    );
    eager_error(body, &ctx, fallback)
}

impl Iterator for LazyNlriIter<'_> {
    type Item = Result<Nlri, DecodeError>;

    // Always inlined, as `NlriIter::next`: once per prefix of a full table.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.entries.next_entry()? {
            Ok(n) => Ok(n),
            Err(Malformed) => Err(fault(self.body, self.ctx)),
        })
    }
}

impl FusedIterator for LazyNlriIter<'_> {}
