//! The coalescing queue between BGP and the installer.
//!
//! BGP never waits on the kernel: [`Pending::set`] only records the latest
//! wanted state of a prefix and, the first time the prefix becomes dirty,
//! appends it to a FIFO. A prefix that changes again before the installer
//! reaches it is written once, with its latest state. The queue is bounded
//! by the number of distinct prefixes (one entry each), not by the rate of
//! changes.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use bgp_proto::Prefix;

use super::prefix_map::{PrefixMap, v4_key, v4_prefix};

/// What BGP wants for a prefix: one pointer, shared by every prefix with
/// the same wish (a full table from one peer has one), so a million
/// waiting prefixes cost a million pointers, not a million next-hop lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Desired(Arc<Want>);

/// The content of a [`Desired`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Want {
    /// The peer of the best path (selects per-peer settings); `None` for
    /// the global settings.
    peer: Option<IpAddr>,
    /// BGP next hops of the multipath set; empty: no route.
    next_hops: Box<[IpAddr]>,
}

impl Desired {
    /// A wish not shared with any other.
    pub fn new(peer: Option<IpAddr>, next_hops: &[IpAddr]) -> Self {
        Self(Arc::new(Want {
            peer,
            next_hops: next_hops.into(),
        }))
    }

    /// The peer of the best path.
    pub fn peer(&self) -> Option<IpAddr> {
        self.0.peer
    }

    /// The BGP next hops; empty: no route.
    pub fn next_hops(&self) -> &[IpAddr] {
        &self.0.next_hops
    }

    /// True when both are the same shared value (a cheap first check).
    pub fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Latest wanted state per dirty prefix, and the order they became dirty.
#[derive(Debug, Default)]
pub struct Pending {
    latest: PrefixMap<Desired>,
    /// Dirty IPv4 prefixes in compact form (8 bytes, not 32), and IPv6.
    fifo4: VecDeque<u64>,
    fifo6: VecDeque<Prefix>,
    /// Calls to [`Pending::set`].
    pub set_calls: u64,
    /// Calls that replaced a state not yet taken by the installer.
    pub coalesced: u64,
    /// The wish of the last call, reused while calls repeat it.
    last: Option<Desired>,
}

impl Pending {
    /// The shared form of a wish (the previous call's when equal).
    pub fn share(&mut self, peer: Option<IpAddr>, next_hops: &[IpAddr]) -> Desired {
        match &self.last {
            Some(last) if last.peer() == peer && last.next_hops() == next_hops => last.clone(),
            _ => {
                let shared = Desired::new(peer, next_hops);
                self.last = Some(shared.clone());
                shared
            }
        }
    }

    /// Records the wanted state of `prefix`. Returns true when the queue
    /// was empty before, i.e. the installer may be asleep and needs a wake.
    pub fn set(&mut self, prefix: Prefix, desired: Desired) -> bool {
        self.set_calls += 1;
        let was_empty = self.is_empty();
        if self.latest.insert(prefix, desired).is_some() {
            self.coalesced += 1;
        } else {
            match prefix {
                Prefix::V4(a, l) => self.fifo4.push_back(v4_key(a, l)),
                Prefix::V6(..) => self.fifo6.push_back(prefix),
            }
        }
        was_empty
    }

    /// Moves up to `max` dirty prefixes into `out`, oldest first within a
    /// family, the two families taken in turn (neither starves the other).
    pub fn take(&mut self, max: usize, out: &mut Vec<(Prefix, Desired)>) {
        while out.len() < max {
            let mut progress = false;
            if let Some(key) = self.fifo4.pop_front() {
                let prefix = v4_prefix(key);
                if let Some(desired) = self.latest.remove(&prefix) {
                    out.push((prefix, desired));
                }
                progress = true;
            }
            if out.len() < max
                && let Some(prefix) = self.fifo6.pop_front()
            {
                if let Some(desired) = self.latest.remove(&prefix) {
                    out.push((prefix, desired));
                }
                progress = true;
            }
            if !progress {
                break;
            }
        }
    }

    /// Takes everything waiting, leaving an empty queue (the counters
    /// stay). The taken queue's memory goes when it is dropped, so a full
    /// table's burst does not keep a million-entry map allocated.
    pub fn detach(&mut self) -> Pending {
        Pending {
            latest: std::mem::take(&mut self.latest),
            fifo4: std::mem::take(&mut self.fifo4),
            fifo6: std::mem::take(&mut self.fifo6),
            ..Pending::default()
        }
    }

    /// Every waiting prefix and its wanted state, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &Desired)> {
        self.latest.iter()
    }

    /// The wanted state of `prefix`, if it waits.
    pub fn get(&self, prefix: &Prefix) -> Option<&Desired> {
        self.latest.get(prefix)
    }

    /// Drops the waiting change of `prefix` (done another way).
    pub fn remove(&mut self, prefix: &Prefix) {
        // Its FIFO entry stays and is skipped by `take`.
        self.latest.remove(prefix);
    }

    /// Prefixes with a waiting change (without the FIFO's leftovers of
    /// [`Self::remove`]).
    pub fn waiting(&self) -> usize {
        self.latest.len()
    }

    /// Prefixes waiting.
    pub fn len(&self) -> usize {
        self.fifo4.len() + self.fifo6.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.fifo4.is_empty() && self.fifo6.is_empty()
    }

    /// Drops everything waiting (shutdown).
    pub fn clear(&mut self) {
        self.latest.clear();
        self.fifo4.clear();
        self.fifo6.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(next_hop: &str) -> Desired {
        Desired::new(None, &[next_hop.parse().unwrap()])
    }

    #[test]
    fn a_prefix_changed_twice_is_taken_once_with_its_latest_state() {
        let mut q = Pending::default();
        let a: Prefix = "192.0.2.0/24".parse().unwrap();
        let b: Prefix = "198.51.100.0/24".parse().unwrap();
        assert!(q.set(a, d("10.1.2.5")));
        assert!(!q.set(b, d("10.1.2.5")));
        assert!(!q.set(a, d("10.1.2.6")));
        assert_eq!((q.len(), q.set_calls, q.coalesced), (2, 3, 1));
        let mut out = Vec::new();
        q.take(1, &mut out);
        assert_eq!(out, vec![(a, d("10.1.2.6"))]);
        q.take(10, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], (b, d("10.1.2.5")));
        assert!(q.is_empty());
        // Empty again: the next set must wake the installer.
        assert!(q.set(a, d("10.1.2.5")));
        let mut taken = q.detach();
        assert!(q.is_empty() && taken.len() == 1);
        assert!(q.set(a, d("10.1.2.6")));
        out.clear();
        taken.take(10, &mut out);
        assert_eq!(out, vec![(a, d("10.1.2.5"))]);
        assert_eq!(q.set_calls, 5);
    }

    #[test]
    fn a_flood_of_changes_to_few_prefixes_stays_small() {
        let mut q = Pending::default();
        for i in 0..100_000u32 {
            let p = Prefix::V4((10 << 24) | ((i % 16) << 8), 24);
            q.set(p, d(if i % 2 == 0 { "10.1.2.5" } else { "10.1.2.6" }));
        }
        assert_eq!(q.len(), 16);
        assert_eq!(q.coalesced, 100_000 - 16);
    }

    #[test]
    fn both_families_are_served_in_turn() {
        let mut q = Pending::default();
        for i in 0..4u32 {
            q.set(Prefix::V4(i << 8, 24), d("10.1.2.5"));
            q.set(Prefix::V6(u128::from(i) << 64, 64), d("2001:db8::1"));
        }
        let mut out = Vec::new();
        q.take(4, &mut out);
        let v6 = out.iter().filter(|(p, _)| !p.is_ipv4()).count();
        assert_eq!((out.len(), v6), (4, 2));
        q.take(100, &mut out);
        assert_eq!(out.len(), 8);
        assert!(q.is_empty());
    }
}
