//! The routing information bases.
//!
//! One table per address family maps each prefix to every path accepted for
//! it (the Adj-RIBs-In of all peers, after import policy), kept ordered
//! best-first by the decision process ([`decision`]): the first path is the
//! Loc-RIB route and the leading `multipath` paths are its ECMP set. Path
//! attributes are interned ([`attrs::AttrStore`]), so a path costs a
//! pointer, a path identifier and a peer index, and a prefix with one path
//! costs no allocation of its own.

pub mod attrs;
pub mod decision;
mod table;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use bgp_proto::iana::CeaseSubcode;
use bgp_proto::{Afi, ErrorCode, Families, Nlri, Notification, Prefix, Update};

use crate::config::{ImportPolicy, MaxPrefixAction, Verdict};
use attrs::{AttrStore, PathAttrs, Session};
use decision::{Candidate, PeerInfo};

/// Index of a peer in the RIB's peer table.
pub type PeerId = u16;

/// One path of a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The route's attributes (shared).
    pub attrs: Arc<PathAttrs>,
    /// ADD-PATH path identifier (0 without ADD-PATH).
    pub path_id: u32,
    /// The peer it came from.
    pub peer: PeerId,
    /// Kept from a session that went down while its peer restarts
    /// gracefully (RFC 4724 §4.2); cleared when the peer re-announces it.
    pub stale: bool,
}

/// The paths of one prefix, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// One path (the common case: no allocation).
    One(Path),
    /// Several paths, best first.
    Many(Box<Vec<Path>>),
}

impl Dest {
    /// The paths, best first.
    pub fn paths(&self) -> &[Path] {
        match self {
            Self::One(p) => std::slice::from_ref(p),
            Self::Many(v) => v,
        }
    }

    /// The best path.
    pub fn best(&self) -> &Path {
        &self.paths()[0]
    }

    fn into_vec(self) -> Vec<Path> {
        match self {
            Self::One(p) => vec![p],
            Self::Many(v) => *v,
        }
    }

    fn from_vec(mut v: Vec<Path>) -> Option<Self> {
        match v.len() {
            0 => None,
            1 => v.pop().map(Self::One),
            _ => Some(Self::Many(Box::new(v))),
        }
    }
}

/// An entry of a family table: the paths and the size of the ECMP set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The paths, best first.
    pub dest: Dest,
    /// How many leading paths form the multipath set (at least 1).
    pub multipath: u8,
}

/// Per-peer state the RIB keeps.
#[derive(Debug, Clone)]
struct PeerState {
    info: PeerInfo,
    import: ImportPolicy,
    accepted: u32,
    warned_max: bool,
}

/// What applying an UPDATE did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UpdateOutcome {
    /// Paths added or replaced.
    pub announced: usize,
    /// Paths removed (withdrawn, treat-as-withdraw, policy).
    pub withdrawn: usize,
    /// Prefixes rejected by import policy or loop detection.
    pub rejected: usize,
    /// The session must be closed with this NOTIFICATION (maximum prefix
    /// limit with the tear-down action).
    pub teardown: Option<Notification>,
    /// The maximum prefix limit was crossed for the first time (warn).
    pub max_prefix_warning: bool,
}

/// The prefixes whose best path or multipath set changed, in the order
/// noted within each family (a prefix may appear more than once). Kept as
/// table keys, 8 bytes an IPv4 prefix: a peer's million routes going is a
/// million changes, and a `Vec<Prefix>` would write four times as much.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    v4: Vec<u64>,
    v6: Vec<(u128, u8)>,
}

impl Changes {
    /// How many changes (a prefix changed twice counts twice).
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// The changed prefixes, IPv4 first.
    pub fn iter(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.v4
            .iter()
            .map(|k| prefix_of_v4(*k))
            .chain(self.v6.iter().map(|&(a, l)| Prefix::V6(a, l)))
    }

    /// The changed prefixes as a vector, IPv4 first.
    pub fn to_vec(&self) -> Vec<Prefix> {
        self.iter().collect()
    }

    fn push(&mut self, k: Key) {
        match k {
            Key::V4(k) => self.v4.push(k),
            Key::V6(a, l) => self.v6.push((a, l)),
        }
    }
}

/// Which table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    V4(u64),
    V6(u128, u8),
}

fn key(p: &Prefix) -> Key {
    match *p {
        Prefix::V4(a, l) => Key::V4((u64::from(a) << 8) | u64::from(l)),
        Prefix::V6(a, l) => Key::V6(a, l),
    }
}

fn prefix_of_v4(k: u64) -> Prefix {
    Prefix::V4((k >> 8) as u32, (k & 0xff) as u8)
}

/// The RIB.
#[derive(Debug)]
pub struct Rib {
    local_asn: u32,
    peers: Vec<Option<PeerState>>,
    v4: table::V4Table,
    v6: BTreeMap<(u128, u8), Entry>,
    attrs: AttrStore,
    /// Prefixes whose best path or multipath set changed, when tracked.
    changes: Option<Changes>,
    /// Per peer, the prefixes it announces that import policy, loop
    /// detection or the prefix limit turned away (for the received count).
    rejected: HashMap<PeerId, HashSet<Key>>,
    /// Routes being freed in the background ([`Rib::free_in_background`]).
    freeing: Option<std::thread::JoinHandle<()>>,
}

/// Removals of at least this many routes at once are freed in the
/// background.
const FREE_IN_BACKGROUND: usize = 10_000;

impl Rib {
    /// An empty RIB for a speaker in AS `local_asn`.
    pub fn new(local_asn: u32) -> Self {
        Self {
            local_asn,
            peers: Vec::new(),
            v4: table::V4Table::default(),
            v6: BTreeMap::new(),
            attrs: AttrStore::default(),
            changes: None,
            rejected: HashMap::new(),
            freeing: None,
        }
    }

    /// Starts (or stops) recording which prefixes changed their best path,
    /// for the kernel and for export.
    pub fn track_changes(&mut self, on: bool) {
        self.changes = on.then(Changes::default);
    }

    /// Takes the prefixes changed since the last call.
    pub fn take_changes(&mut self) -> Changes {
        self.changes
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Registers a peer whose session came up.
    pub fn add_peer(&mut self, id: PeerId, info: PeerInfo, import: ImportPolicy) {
        let i = usize::from(id);
        if self.peers.len() <= i {
            self.peers.resize(i + 1, None);
        }
        // A peer back from a graceful restart still has its stale paths
        // in the tables: keep counting them.
        let accepted = self.peers[i].as_ref().map_or(0, |p| p.accepted);
        self.peers[i] = Some(PeerState {
            info,
            import,
            accepted,
            warned_max: false,
        });
    }

    /// The decision-process facts of a peer.
    pub fn peer_info(&self, id: PeerId) -> Option<&PeerInfo> {
        self.peers.get(usize::from(id))?.as_ref().map(|p| &p.info)
    }

    /// Number of prefixes the peer announces now, accepted or not.
    pub fn received(&self, id: PeerId) -> u64 {
        u64::from(self.accepted(id)) + self.rejected.get(&id).map_or(0, |r| r.len() as u64)
    }

    fn note_rejected(&mut self, id: PeerId, k: Key) {
        self.rejected.entry(id).or_default().insert(k);
    }

    fn clear_rejected(&mut self, id: PeerId, k: Key) {
        if !self.rejected.is_empty()
            && let Some(r) = self.rejected.get_mut(&id)
        {
            r.remove(&k);
        }
    }

    /// Number of paths accepted from a peer.
    pub fn accepted(&self, id: PeerId) -> u32 {
        self.peers
            .get(usize::from(id))
            .and_then(|p| p.as_ref())
            .map_or(0, |p| p.accepted)
    }

    /// Removes every path of a peer (session down). Returns how many.
    pub fn remove_peer(&mut self, id: PeerId) -> usize {
        let expected = self.accepted(id) as usize;
        let n = self.strip(Families::ALL, expected, |p| p.peer == id);
        if let Some(slot) = self.peers.get_mut(usize::from(id)) {
            *slot = None;
        }
        self.rejected.remove(&id);
        n
    }

    /// Removes the paths `doomed` picks from the tables of `families` in one
    /// pass each, then frees attribute sets nothing uses any more.
    /// `expected`: about how many prefixes will change (room is made for
    /// them in the change log at once, rather than by doubling).
    fn strip(
        &mut self,
        families: Families,
        expected: usize,
        doomed: impl Fn(&Path) -> bool,
    ) -> usize {
        self.tidy();
        let Self {
            v4,
            v6,
            peers,
            changes,
            ..
        } = self;
        let vanishes = |e: &Entry| e.dest.paths().iter().all(&doomed);
        let mut n = 0;
        let mut detached = table::Detached::default();
        // Room at once for what paths leaving shared prefixes leave behind
        // (one of two Route Servers going: one per prefix). Unused room is
        // never touched, so it costs no memory.
        let mut graveyard = Vec::with_capacity(expected.min(v4.len() + v6.len()));
        if families.contains(Families::IPV4_UNICAST) {
            if let Some(c) = changes.as_mut() {
                c.v4.reserve(expected.min(v4.len()));
            }
            detached = v4.retain(vanishes, |k, v| {
                if strip_visit(v, &doomed, peers, &mut n, &mut graveyard)
                    && let Some(c) = changes.as_mut()
                {
                    c.v4.push(k);
                }
            });
        }
        if families.contains(Families::IPV6_UNICAST) {
            let (_, all) = table::retain_map(v6, &vanishes, |k, v| {
                if strip_visit(v, &doomed, peers, &mut n, &mut graveyard)
                    && let Some(c) = changes.as_mut()
                {
                    c.v6.push(k);
                }
            });
            if all {
                v6.clear();
            }
        }
        if detached.entries() + graveyard.len() >= FREE_IN_BACKGROUND {
            self.free_in_background((detached, graveyard));
        } else {
            drop((detached, graveyard));
        }
        // The removed paths dropped their references: one sweep frees the
        // attribute sets left unused (once the background free is done).
        if self.freeing.is_none() {
            self.attrs.collect_garbage();
        }
        n
    }

    /// Frees removed routes on a thread of their own: dropping a million
    /// paths is a million atomic reference-count decrements, each waiting
    /// for the cache miss before it, and the routes are gone from the
    /// tables already. Only one such thread runs at a time.
    fn free_in_background<T: Send + 'static>(&mut self, garbage: T) {
        if let Some(h) = self.freeing.take() {
            let _ = h.join();
        }
        // If no thread can be started, the closure and the routes are
        // dropped here, which is just slower.
        self.freeing = std::thread::Builder::new()
            .name("rib-free".into())
            .spawn(move || drop(garbage))
            .ok();
    }

    /// Finishes a background free that is done: the attribute sets only
    /// the freed routes used are released. Cheap; call it now and then.
    pub fn tidy(&mut self) {
        if self.freeing.as_ref().is_some_and(|h| h.is_finished()) {
            self.settle();
        }
    }

    /// Waits for a background free and releases the attribute sets it left
    /// unused, so that [`Rib::attribute_sets`] is exact.
    pub fn settle(&mut self) {
        if let Some(h) = self.freeing.take() {
            let _ = h.join();
            self.attrs.collect_garbage();
        }
    }

    /// Removes every path of a peer in `families`, keeping the peer
    /// registered. Returns how many.
    pub fn remove_families(&mut self, id: PeerId, families: Families) -> usize {
        let removed = self.strip(families, 0, |p| p.peer == id);
        if let Some(st) = self.peer_mut(id) {
            st.accepted = st.accepted.saturating_sub(removed as u32);
        }
        removed
    }

    /// Marks the paths of a peer in `keep` stale: a peer restarting
    /// gracefully (RFC 4724 §4.2) or re-advertising a family after a BoRR
    /// (RFC 7313 §4). Re-announced paths lose the mark; [`Rib::sweep_stale`]
    /// removes the rest. Returns how many prefixes had a path marked.
    pub fn mark_stale(&mut self, id: PeerId, keep: Families) -> usize {
        let mut kept = 0;
        let mut mark = |e: &mut Entry| {
            let mut hit = false;
            let mark_path = |p: &mut Path| {
                if p.peer == id {
                    p.stale = true;
                    true
                } else {
                    false
                }
            };
            match &mut e.dest {
                Dest::One(p) => hit |= mark_path(p),
                Dest::Many(v) => {
                    for p in v.iter_mut() {
                        hit |= mark_path(p);
                    }
                }
            }
            kept += usize::from(hit);
        };
        if keep.contains(Families::IPV4_UNICAST) {
            self.v4.for_each_mut(&mut mark);
        }
        if keep.contains(Families::IPV6_UNICAST) {
            self.v6.values_mut().for_each(&mut mark);
        }
        kept
    }

    /// Removes the stale paths of a peer in `families` (its End-of-RIB
    /// arrived, or the restart took too long). Returns how many.
    pub fn sweep_stale(&mut self, id: PeerId, families: Families) -> usize {
        let removed = self.strip(families, 0, |p| p.peer == id && p.stale);
        if let Some(st) = self.peer_mut(id) {
            st.accepted = st.accepted.saturating_sub(removed as u32);
        }
        removed
    }

    /// True when the peer still has stale paths.
    pub fn has_stale(&self, id: PeerId) -> bool {
        self.iter()
            .any(|(_, e)| e.dest.paths().iter().any(|p| p.peer == id && p.stale))
    }

    /// Number of prefixes in the Loc-RIB.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when the Loc-RIB is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of distinct attribute sets stored.
    pub fn attribute_sets(&self) -> usize {
        self.attrs.len()
    }

    /// The entry of a prefix.
    pub fn get(&self, p: &Prefix) -> Option<&Entry> {
        match key(p) {
            Key::V4(k) => self.v4.get(k),
            Key::V6(a, l) => self.v6.get(&(a, l)),
        }
    }

    /// Every prefix with its entry, IPv4 first, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &Entry)> {
        self.v4
            .iter()
            .map(|(k, e)| (prefix_of_v4(k), e))
            .chain(self.v6.iter().map(|((a, l), e)| (Prefix::V6(*a, *l), e)))
    }

    /// Applies one UPDATE received from peer `id`.
    pub fn apply_update(&mut self, id: PeerId, u: &Update<'_>) -> UpdateOutcome {
        let mut out = UpdateOutcome::default();
        let Some(peer) = self.peers.get(usize::from(id)).and_then(|p| p.clone()) else {
            return out;
        };
        for n in u.withdrawn() {
            let k = key(&n.prefix);
            self.clear_rejected(id, k);
            out.withdrawn += usize::from(self.remove_path(k, id, Some(n.path_id.unwrap_or(0))));
        }
        // RFC 7606 §2: treat-as-withdraw, and RFC 4271 §9.1.2 loop
        // detection, withdraw whatever the UPDATE announces.
        let looped = u
            .as_path_view()
            .is_some_and(|p| p.asns().any(|a| a == self.local_asn));
        if u.is_treat_as_withdraw() || looped {
            for n in u.announced() {
                let k = key(&n.prefix);
                out.withdrawn += usize::from(self.remove_path(k, id, Some(n.path_id.unwrap_or(0))));
                if looped {
                    out.rejected += 1;
                    self.note_rejected(id, k);
                } else {
                    self.clear_rejected(id, k);
                }
            }
            return out;
        }
        let session = peer.info.session;
        if let Some(mp) = u.mp_reach() {
            let nh = mp.next_hop();
            let (addr, ll) = match nh {
                bgp_proto::NextHop::V4(a) => (Some(IpAddr::V4(a)), None),
                bgp_proto::NextHop::V6 { global, link_local } => {
                    (Some(IpAddr::V6(global)), link_local)
                }
                bgp_proto::NextHop::Other(_) => (None, None),
            };
            if let Some(addr) = addr
                && let Some(a) = PathAttrs::from_update(u, addr, ll, session)
            {
                let a = self.attrs.intern(a);
                self.insert_all(id, &peer, mp.nlri(), &a, &mut out);
                self.attrs.release(a);
            }
        }
        let mut nlri = u.nlri().peekable();
        if nlri.peek().is_some()
            && let Some(nh) = u.next_hop()
            && let Some(a) = PathAttrs::from_update(u, IpAddr::V4(nh), None, session)
        {
            let a = self.attrs.intern(a);
            self.insert_all(id, &peer, nlri, &a, &mut out);
            self.attrs.release(a);
        }
        out
    }

    fn insert_all(
        &mut self,
        id: PeerId,
        peer: &PeerState,
        nlri: impl Iterator<Item = Nlri>,
        attrs: &Arc<PathAttrs>,
        out: &mut UpdateOutcome,
    ) {
        let max = peer.import.max_prefixes;
        for n in nlri {
            let k = key(&n.prefix);
            let path_id = n.path_id.unwrap_or(0);
            if peer.import.verdict(&n.prefix) == Verdict::Reject {
                out.rejected += 1;
                self.note_rejected(id, k);
                out.withdrawn += usize::from(self.remove_path(k, id, Some(path_id)));
                continue;
            }
            let replaced = self.insert_path(
                k,
                Path {
                    attrs: attrs.clone(),
                    path_id,
                    peer: id,
                    stale: false,
                },
                max.filter(|_| peer.import.max_prefixes_action == MaxPrefixAction::DropExcess),
            );
            match replaced {
                Insert::Added | Insert::Replaced => {
                    out.announced += 1;
                    self.clear_rejected(id, k);
                }
                Insert::Dropped => {
                    out.rejected += 1;
                    self.note_rejected(id, k);
                    continue;
                }
            }
            if let (Some(max), Some(st)) = (max, self.peer_mut(id))
                && st.accepted > max
            {
                match st.import.max_prefixes_action {
                    MaxPrefixAction::TearDown if out.teardown.is_none() => {
                        {
                            let afi = if n.prefix.is_ipv4() {
                                Afi::Ipv4
                            } else {
                                Afi::Ipv6
                            };
                            // RFC 4486 §4: AFI, SAFI and the limit.
                            let mut data = Vec::with_capacity(7);
                            data.extend_from_slice(&u16::from(afi).to_be_bytes());
                            data.push(1);
                            data.extend_from_slice(&max.to_be_bytes());
                            out.teardown = Some(Notification::new(
                                ErrorCode::Cease(CeaseSubcode::MaximumNumberOfPrefixesReached),
                                data,
                            ));
                        }
                    }
                    MaxPrefixAction::Warn if !st.warned_max => {
                        st.warned_max = true;
                        out.max_prefix_warning = true;
                    }
                    _ => {}
                }
            }
        }
    }

    fn peer_mut(&mut self, id: PeerId) -> Option<&mut PeerState> {
        self.peers.get_mut(usize::from(id)).and_then(|p| p.as_mut())
    }

    fn entry_mut(&mut self, k: Key) -> Option<&mut Entry> {
        match k {
            Key::V4(k) => self.v4.get_mut(k),
            Key::V6(a, l) => self.v6.get_mut(&(a, l)),
        }
    }

    /// Inserts or replaces the path of `(peer, path_id)`. With `limit`,
    /// a new path beyond it is dropped.
    fn insert_path(&mut self, k: Key, path: Path, limit: Option<u32>) -> Insert {
        let peer = path.peer;
        let may_add = limit.is_none_or(|l| self.accepted(peer) < l);
        // One tree walk for the common cases (a new prefix, or a peer
        // replacing its own only path).
        let peers = &self.peers;
        let outcome = match k {
            Key::V4(k) => self.v4.with_entry(k, |slot| match slot {
                table::Either::Short(e) => upsert_entry(e, path, may_add, peers),
                table::Either::Bucket(e) => upsert_entry(e, path, may_add, peers),
            }),
            Key::V6(a, l) => {
                let (r, _) = upsert_entry(self.v6.entry((a, l)), path, may_add, peers);
                r
            }
        };
        let result = match outcome {
            Upsert::Dropped => return Insert::Dropped,
            Upsert::Added => {
                self.note_change(k);
                Insert::Added
            }
            Upsert::Joined { changed } => {
                if changed {
                    self.note_change(k);
                }
                Insert::Added
            }
            Upsert::Replaced { old, changed } => {
                if changed {
                    self.note_change(k);
                }
                self.attrs.release(old);
                return Insert::Replaced;
            }
            Upsert::Rerank { paths, before, old } => {
                self.store_ranked(k, paths, before);
                match old {
                    Some(old) => {
                        self.attrs.release(old);
                        Insert::Replaced
                    }
                    None => Insert::Added,
                }
            }
        };
        if result == Insert::Added
            && let Some(st) = self.peer_mut(peer)
        {
            st.accepted += 1;
        }
        result
    }

    /// Removes the path of `peer` (with `path_id`, or every path of the peer
    /// when `None`). True when one was removed.
    fn remove_path(&mut self, k: Key, peer: PeerId, path_id: Option<u32>) -> bool {
        let matches = |p: &Path| p.peer == peer && path_id.is_none_or(|id| p.path_id == id);
        let Self {
            v4,
            v6,
            peers,
            attrs,
            ..
        } = self;
        let e = match k {
            Key::V4(k) => v4.get_mut(k),
            Key::V6(a, l) => v6.get_mut(&(a, l)),
        };
        let Some(e) = e else {
            return false;
        };
        let (keep, n, changed) = strip_entry(e, &matches, peers, |r| match r {
            Removed::Path(p) => attrs.release(p.attrs),
            Removed::Paths(v) => v.into_iter().for_each(|p| attrs.release(p.attrs)),
        });
        if n == 0 {
            return false;
        }
        if !keep {
            let old = match k {
                Key::V4(k) => v4.remove(k),
                Key::V6(a, l) => v6.remove(&(a, l)),
            };
            match old.map(|e| e.dest) {
                Some(Dest::One(p)) => attrs.release(p.attrs),
                Some(Dest::Many(v)) => v.into_iter().for_each(|p| attrs.release(p.attrs)),
                None => {}
            }
        }
        if let Some(st) = self.peer_mut(peer) {
            st.accepted = st.accepted.saturating_sub(n as u32);
        }
        if changed {
            self.note_change(k);
        }
        true
    }

    /// Orders `paths` best first and stores them, noting a change of the
    /// best path or multipath set.
    fn store_ranked(&mut self, k: Key, v: Vec<Path>, before: Vec<Path>) {
        let Some((dest, multipath)) = rank(v, &self.peers) else {
            return;
        };
        let changed = match self.entry_mut(k) {
            Some(e) => {
                let new = &dest.paths()[..usize::from(multipath)];
                let changed = before.as_slice() != new;
                e.dest = dest;
                e.multipath = multipath;
                changed
            }
            None => {
                let e = Entry { dest, multipath };
                match k {
                    Key::V4(k) => {
                        self.v4.insert(k, e);
                    }
                    Key::V6(a, l) => {
                        self.v6.insert((a, l), e);
                    }
                }
                true
            }
        };
        if changed {
            self.note_change(k);
        }
    }

    fn note_change(&mut self, k: Key) {
        if let Some(c) = &mut self.changes {
            c.push(k);
        }
    }
}

/// What [`upsert`] did, and what is left for the caller.
enum Upsert {
    Dropped,
    Added,
    /// A second path joined the only one.
    Joined {
        changed: bool,
    },
    Replaced {
        old: Arc<PathAttrs>,
        changed: bool,
    },
    /// Several paths: the caller ranks them ([`Rib::store_ranked`]).
    Rerank {
        paths: Vec<Path>,
        before: Vec<Path>,
        old: Option<Arc<PathAttrs>>,
    },
}

/// The insert of one path into a map entry; also says whether an entry
/// was added (for the table's count).
fn upsert_entry<K: Ord>(
    slot: std::collections::btree_map::Entry<'_, K, Entry>,
    path: Path,
    may_add: bool,
    peers: &[Option<PeerState>],
) -> (Upsert, bool) {
    use std::collections::btree_map::Entry as Slot;
    let same = |p: &Path| p.peer == path.peer && p.path_id == path.path_id;
    match slot {
        Slot::Vacant(v) => {
            if !may_add {
                return (Upsert::Dropped, false);
            }
            v.insert(Entry {
                dest: Dest::One(path),
                multipath: 1,
            });
            (Upsert::Added, true)
        }
        Slot::Occupied(mut o) => {
            let e = o.get_mut();
            if let Dest::One(p) = &mut e.dest
                && same(p)
            {
                let old = std::mem::replace(p, path);
                let changed = !Arc::ptr_eq(&old.attrs, &p.attrs);
                return (
                    Upsert::Replaced {
                        old: old.attrs,
                        changed,
                    },
                    false,
                );
            }
            let exists = e.dest.paths().iter().any(same);
            if !exists && !may_add {
                return (Upsert::Dropped, false);
            }
            if let Dest::One(p) = &e.dest {
                // A second path (the other Route Server's copy): one
                // comparison, no re-ranking machinery.
                let (new_first, multipath) = rank_pair(p, &path, peers);
                let pair = Dest::Many(Box::new(Vec::with_capacity(2)));
                if let Dest::One(old) = std::mem::replace(&mut e.dest, pair)
                    && let Dest::Many(v) = &mut e.dest
                {
                    if new_first {
                        v.extend([path, old]);
                    } else {
                        v.extend([old, path]);
                    }
                }
                e.multipath = multipath;
                let changed = new_first || multipath > 1;
                return (Upsert::Joined { changed }, false);
            }
            let before = e.dest.paths()[..usize::from(e.multipath)].to_vec();
            let mut paths = std::mem::replace(&mut e.dest, Dest::One(path.clone())).into_vec();
            let mut old = None;
            match paths.iter_mut().find(|p| same(p)) {
                Some(slot) => old = Some(std::mem::replace(slot, path).attrs),
                None => paths.push(path),
            }
            (Upsert::Rerank { paths, before, old }, false)
        }
    }
}

/// The decision-process facts of the peer a path came from.
fn info_of(peers: &[Option<PeerState>], id: PeerId) -> PeerInfo {
    peers.get(usize::from(id)).and_then(|s| s.as_ref()).map_or(
        PeerInfo {
            address: IpAddr::from([0u8; 4]),
            asn: 0,
            router_id: std::net::Ipv4Addr::UNSPECIFIED,
            session: Session::External,
        },
        |s| s.info,
    )
}

/// Ranks two paths without allocating: whether `b` goes first, and the
/// size of the multipath set.
fn rank_pair(a: &Path, b: &Path, peers: &[Option<PeerState>]) -> (bool, u8) {
    let (ia, ib) = (info_of(peers, a.peer), info_of(peers, b.peer));
    let c = [
        Candidate {
            attrs: &a.attrs,
            peer: &ia,
        },
        Candidate {
            attrs: &b.attrs,
            peer: &ib,
        },
    ];
    decision::select(&c).map_or((false, 1), |s| (s.best == 1, s.multipath.len() as u8))
}

/// Orders `paths` best first with the decision process; returns them and
/// the size of the multipath set, `None` when there is no path.
fn rank(mut paths: Vec<Path>, peers: &[Option<PeerState>]) -> Option<(Dest, u8)> {
    if let [a, b] = paths.as_slice() {
        let (swap, multipath) = rank_pair(a, b, peers);
        if swap {
            paths.swap(0, 1);
        }
        return Some((Dest::Many(Box::new(paths)), multipath));
    }
    let infos: Vec<PeerInfo> = paths.iter().map(|p| info_of(peers, p.peer)).collect();
    let candidates: Vec<Candidate<'_>> = paths
        .iter()
        .zip(&infos)
        .map(|(p, i)| Candidate {
            attrs: &p.attrs,
            peer: i,
        })
        .collect();
    let sel = decision::select(&candidates)?;
    let mut order = sel.multipath.clone();
    order.extend((0..paths.len()).filter(|i| !sel.multipath.contains(i)));
    let mut slots: Vec<Option<Path>> = paths.into_iter().map(Some).collect();
    let ranked: Vec<Path> = order.iter().filter_map(|&i| slots[i].take()).collect();
    let multipath = sel.multipath.len().min(255) as u8;
    Dest::from_vec(ranked).map(|d| (d, multipath))
}

/// One entry seen by [`Rib::strip`]: counts the paths removed into `n`;
/// true when the entry's best path or multipath set changed.
fn strip_visit(
    v: table::Visit<'_>,
    doomed: &impl Fn(&Path) -> bool,
    peers: &[Option<PeerState>],
    n: &mut usize,
    graveyard: &mut Vec<Removed>,
) -> bool {
    match v {
        table::Visit::Gone(e) => {
            *n += e.dest.paths().len();
            true
        }
        table::Visit::Stays(e) => {
            let (_, removed, changed) = strip_entry(e, doomed, peers, |r| graveyard.push(r));
            *n += removed;
            changed
        }
    }
}

/// Paths taken out of an entry that stays, for the caller to free.
enum Removed {
    /// One path.
    Path(Path),
    /// The old path vector, holding only removed paths: the entry's own
    /// box, moved rather than freed here.
    #[allow(clippy::box_collection)]
    Paths(Box<Vec<Path>>),
}

/// Removes the paths `doomed` picks from one entry: whether the entry
/// stays, how many paths went, and whether its best path or multipath set
/// changed. Paths removed from an entry that stays go to `removed`; when
/// the entry goes (the first result false), its paths stay in it for the
/// caller.
fn strip_entry(
    e: &mut Entry,
    doomed: &impl Fn(&Path) -> bool,
    peers: &[Option<PeerState>],
    mut removed: impl FnMut(Removed),
) -> (bool, usize, bool) {
    let paths = e.dest.paths();
    let gone = paths.iter().filter(|p| doomed(p)).count();
    if gone == 0 {
        return (true, 0, false);
    }
    if gone == paths.len() {
        // The caller drops the entry; nothing to rearrange.
        return (false, gone, true);
    }
    let set = &paths[..usize::from(e.multipath)];
    let set_hit = set.iter().any(doomed);
    let left = paths.len() - gone;
    // Several paths stay: they are ranked again below, and the set before
    // tells whether that changed anything.
    let before = (left > 1).then(|| set.to_vec());
    let Dest::Many(v) = &mut e.dest else {
        // One path, and it is not doomed: unreachable, as `gone` is not 0.
        return (true, 0, false);
    };
    if left == 1 {
        // The last path left (one of two Route Servers gone): no ranking,
        // and the old vector goes whole, doomed paths inside. The survivor
        // was already the best unless a doomed path was in the set.
        let Some(i) = v.iter().position(|p| !doomed(p)) else {
            return (true, 0, false);
        };
        let p = v.swap_remove(i);
        if let Dest::Many(old) = std::mem::replace(&mut e.dest, Dest::One(p)) {
            removed(Removed::Paths(old));
        }
        e.multipath = 1;
        return (true, gone, set_hit);
    }
    let mut i = 0;
    while i < v.len() {
        if doomed(&v[i]) {
            removed(Removed::Path(v.remove(i)));
        } else {
            i += 1;
        }
    }
    // Rank again even when the set was not hit, since MED makes the
    // decision depend on paths outside it (RFC 4271 §9.1.2.2 c).
    let v = std::mem::take(&mut **v);
    match rank(v, peers) {
        Some((dest, multipath)) => {
            let changed = before.as_deref() != Some(&dest.paths()[..usize::from(multipath)]);
            e.dest = dest;
            e.multipath = multipath;
            (true, gone, changed)
        }
        None => (false, gone, true),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Insert {
    Added,
    Replaced,
    Dropped,
}

#[cfg(test)]
mod tests;
