//! Path attribute sets as the RIB stores them: owned, hashed and interned,
//! so that a million routes from one peer share a handful of attribute
//! sets (RFC 4271 §3.2 "Routing Information Base" does not require it;
//! memory does).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bgp_proto::{
    Aggregator, AsPath, AttributeType, Community, ExtendedCommunity, LargeCommunity, Origin, Update,
};

/// LOCAL_PREF given to routes from external peers and to our own (RFC 4271
/// §5.1.5: eBGP speakers ignore a received LOCAL_PREF; 100 is the common
/// default).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// An attribute the agent does not interpret, kept to pass it on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OpaqueAttribute {
    /// Flags octet as received.
    pub flags: u8,
    /// Type code.
    pub type_code: u8,
    /// Value.
    pub value: Box<[u8]>,
}

/// The attributes of a route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathAttrs {
    /// ORIGIN.
    pub origin: Origin,
    /// The real AS path (AS4_PATH already merged).
    pub as_path: AsPath,
    /// Next hop (NEXT_HOP or the MP_REACH_NLRI global address).
    pub next_hop: IpAddr,
    /// IPv6 link-local next hop, when sent.
    pub link_local: Option<std::net::Ipv6Addr>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF (the default for eBGP-learned routes).
    pub local_pref: u32,
    /// ATOMIC_AGGREGATE.
    pub atomic_aggregate: bool,
    /// AGGREGATOR (AS4_AGGREGATOR already merged).
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES.
    pub communities: Box<[Community]>,
    /// LARGE_COMMUNITY.
    pub large_communities: Box<[LargeCommunity]>,
    /// EXTENDED_COMMUNITIES.
    pub extended_communities: Box<[ExtendedCommunity]>,
    /// ORIGINATOR_ID.
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST length (only its length matters to the decision).
    pub cluster_list_len: u8,
    /// Optional transitive attributes we do not interpret.
    pub opaque: Box<[OpaqueAttribute]>,
}

/// Whether a route came from an internal or external peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// Same AS.
    Internal,
    /// Another AS.
    External,
}

impl PathAttrs {
    /// The attributes of an UPDATE's announced routes. `next_hop` is the
    /// family's next hop (NEXT_HOP for the NLRI field, MP_REACH_NLRI's for
    /// its NLRI). Returns `None` when a mandatory attribute is missing (the
    /// view reports it as treat-as-withdraw already).
    pub fn from_update(
        u: &Update<'_>,
        next_hop: IpAddr,
        link_local: Option<std::net::Ipv6Addr>,
        session: Session,
    ) -> Option<Self> {
        let internal = session == Session::Internal;
        // RFC 7606 §7.5, §7.9, §7.10: LOCAL_PREF, ORIGINATOR_ID and
        // CLUSTER_LIST from an external peer are discarded.
        let local_pref = match session {
            Session::Internal => u.local_pref().unwrap_or(DEFAULT_LOCAL_PREF),
            Session::External => DEFAULT_LOCAL_PREF,
        };
        let opaque = u
            .attributes()
            .filter(|a| {
                a.usable
                    && matches!(a.attribute_type(), AttributeType::Unknown(_))
                    && a.flags & 0xC0 == 0xC0
            })
            .map(|a| OpaqueAttribute {
                flags: a.flags,
                type_code: a.type_code,
                value: a.value.into(),
            })
            .collect();
        Some(Self {
            origin: u.origin()?,
            as_path: u.as_path()?,
            next_hop,
            link_local,
            med: u.med(),
            local_pref,
            atomic_aggregate: u.atomic_aggregate(),
            aggregator: u.aggregator(),
            communities: u.communities().collect(),
            large_communities: u.large_communities().collect(),
            extended_communities: u.extended_communities().collect(),
            originator_id: u.originator_id().filter(|_| internal),
            cluster_list_len: if internal {
                u.cluster_list().count().min(255) as u8
            } else {
                0
            },
            opaque,
        })
    }
}

/// Interns attribute sets: equal sets share one allocation.
#[derive(Debug, Default)]
pub struct AttrStore {
    set: HashSet<ArcKey>,
}

/// Hashes and compares the pointee, so the set finds equal attribute sets.
#[derive(Debug, Clone)]
struct ArcKey(Arc<PathAttrs>);

impl PartialEq for ArcKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}
impl Eq for ArcKey {}
impl Hash for ArcKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.hash(h)
    }
}
impl std::borrow::Borrow<PathAttrs> for ArcKey {
    fn borrow(&self) -> &PathAttrs {
        &self.0
    }
}

impl AttrStore {
    /// The shared copy of `attrs`.
    pub fn intern(&mut self, attrs: PathAttrs) -> Arc<PathAttrs> {
        if let Some(k) = self.set.get(&attrs) {
            return k.0.clone();
        }
        let a = Arc::new(attrs);
        self.set.insert(ArcKey(a.clone()));
        a
    }

    /// Drops `attrs`; frees the shared copy when nothing else holds it.
    pub fn release(&mut self, attrs: Arc<PathAttrs>) {
        // Two references: the store's and the one being released.
        if Arc::strong_count(&attrs) == 2 {
            self.set.remove(&*attrs);
        }
    }

    /// Frees every set that only the store still holds.
    pub fn collect_garbage(&mut self) {
        self.set.retain(|k| Arc::strong_count(&k.0) > 1);
    }

    /// Number of distinct attribute sets.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// True when no set is stored.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}
