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
    /// family (or in the order of [`Self::order_for_kernel`]), the two
    /// families taken in turn (neither starves the other).
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

    /// Puts the waiting prefixes in the order the kernel takes them fastest:
    /// by bit-reversed address. The kernel's FIB is an LC-trie
    /// (net/ipv4/fib_trie.c) that widens and narrows its nodes as they
    /// fill and empty. Written in ascending order, the way BGP speakers send
    /// a table, neighbouring prefixes keep hitting the same nodes, which are
    /// rebuilt over and over: a million /24s take a third more kernel time
    /// to add than in this order, and ten to twenty times more to delete
    /// one by one (bench/kernel, `FLOOR_ORDER`). In bit-reversed order,
    /// consecutive writes are spread over the whole space, so the trie
    /// fills top-down and every node grows, or shrinks, evenly.
    ///
    /// Only the order between prefixes changes (each keeps its one, latest
    /// state); [`Self::take`] serves them in this order from then on.
    pub fn order_for_kernel(&mut self) {
        // The bit-reversed form of a key is a key too (and reversing is
        // its own inverse): plain integers sort several times faster than
        // with a key computed at every comparison.
        let reverse4 =
            |key: u64| (u64::from(((key >> 8) as u32).reverse_bits()) << 8) | (key & 0xff);
        let mut fifo4: Vec<u64> = std::mem::take(&mut self.fifo4)
            .into_iter()
            .map(reverse4)
            .collect();
        fifo4.sort_unstable();
        // A prefix removed and set again, or absorbed, may have two
        // entries, now adjacent.
        fifo4.dedup();
        let mut fifo6 = Vec::from(std::mem::take(&mut self.fifo6));
        fifo6.sort_unstable_by_key(|prefix| match prefix {
            Prefix::V6(address, len) => (address.reverse_bits(), *len),
            Prefix::V4(address, len) => (u128::from(address.reverse_bits()), *len),
        });
        fifo6.dedup();
        // Entries of prefixes removed meanwhile need no place (`take`
        // would skip them); looked for only when there are any, as a
        // million random look-ups cost more than the sort.
        if fifo4.len() + fifo6.len() > self.latest.len() {
            let latest = &self.latest;
            fifo4.retain(|&key| latest.contains_key(&v4_prefix(reverse4(key))));
            fifo6.retain(|prefix| latest.contains_key(prefix));
        }
        self.fifo4 = fifo4.into_iter().map(reverse4).collect();
        self.fifo6 = fifo6.into();
    }

    /// Adds the changes of `newer`, a queue detached after this one: a
    /// prefix waiting in both gets `newer`'s state (the latest). The
    /// smaller map is merged into the larger, so absorbing a large burst
    /// costs the size of the smaller; the order is then unspecified (a
    /// prefix may have two entries, served once), until
    /// [`Self::order_for_kernel`].
    pub fn absorb(&mut self, mut newer: Pending) {
        if newer.latest.len() > self.latest.len() {
            // Keep the larger map; the older states only fill the gaps.
            std::mem::swap(&mut self.latest, &mut newer.latest);
            for (prefix, desired) in newer.latest.drain() {
                self.latest.insert_if_absent(prefix, desired);
            }
        } else {
            for (prefix, desired) in newer.latest.drain() {
                self.latest.insert(prefix, desired);
            }
        }
        if newer.fifo4.len() > self.fifo4.len() {
            std::mem::swap(&mut self.fifo4, &mut newer.fifo4);
        }
        self.fifo4.extend(newer.fifo4);
        if newer.fifo6.len() > self.fifo6.len() {
            std::mem::swap(&mut self.fifo6, &mut newer.fifo6);
        }
        self.fifo6.extend(newer.fifo6);
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

    /// Prefixes waiting, IPv4 and IPv6 (as [`Self::len`]).
    pub fn len_by_family(&self) -> (usize, usize) {
        (self.fifo4.len(), self.fifo6.len())
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
    fn ordered_for_the_kernel_the_queue_is_served_in_bit_reversed_order() {
        let mut q = Pending::default();
        let v4 = |i: u32| Prefix::V4((11 << 24) | (i << 8), 24);
        let v6 = |i: u128| Prefix::V6((0x2001_0db8 << 96) | (i << 64), 64);
        for i in 0..8 {
            q.set(v4(i), d("10.1.2.5"));
            q.set(v6(u128::from(i)), d("2001:db8::1"));
        }
        // A prefix changed again keeps its latest state.
        q.set(v4(3), d("10.1.2.6"));
        q.set(Prefix::V4(11 << 24, 23), d("10.1.2.5"));
        q.order_for_kernel();
        let mut out = Vec::new();
        q.take(100, &mut out);
        let order4: Vec<Prefix> = out
            .iter()
            .map(|(p, _)| *p)
            .filter(Prefix::is_ipv4)
            .collect();
        let order6: Vec<Prefix> = out
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| !p.is_ipv4())
            .collect();
        let bit_reversed = [0, 4, 2, 6, 1, 5, 3, 7];
        // The /23 and 11.0.0.0/24 share an address: the shorter first.
        let mut expected4 = vec![Prefix::V4(11 << 24, 23)];
        expected4.extend(bit_reversed.iter().map(|&i| v4(i)));
        assert_eq!(order4, expected4);
        let expected6: Vec<Prefix> = bit_reversed.iter().map(|&i| v6(u128::from(i))).collect();
        assert_eq!(order6, expected6);
        assert!(out.contains(&(v4(3), d("10.1.2.6"))));
        assert!(q.is_empty());
    }

    #[test]
    fn an_absorbed_queue_adds_its_prefixes_and_its_later_states() {
        let a: Prefix = "192.0.2.0/24".parse().unwrap();
        let b: Prefix = "198.51.100.0/24".parse().unwrap();
        let c: Prefix = "2001:db8::/32".parse().unwrap();
        let mut older = Pending::default();
        older.set(a, d("10.1.2.5"));
        older.set(b, d("10.1.2.5"));
        // Removed from the older queue (done another way), then set again.
        older.remove(&b);
        let mut newer = Pending::default();
        newer.set(c, d("2001:db8::1"));
        newer.set(a, Desired::new(None, &[]));
        newer.set(b, d("10.1.2.6"));
        older.absorb(newer);
        assert_eq!(older.waiting(), 3);
        older.order_for_kernel();
        // The removed prefix's old entry is gone: one entry each.
        assert_eq!(older.len(), 3);
        let mut out = Vec::new();
        older.take(10, &mut out);
        out.sort_by_key(|(p, _)| *p);
        let mut expected = vec![
            (a, Desired::new(None, &[])),
            (b, d("10.1.2.6")),
            (c, d("2001:db8::1")),
        ];
        expected.sort_by_key(|(p, _)| *p);
        assert_eq!(out, expected);
        assert!(older.is_empty());

        // The other way round (the older queue is the larger): the same.
        let mut older = Pending::default();
        for i in 0..10u32 {
            older.set(Prefix::V4((10 << 24) | (i << 8), 24), d("10.1.2.5"));
        }
        older.set(a, d("10.1.2.5"));
        let mut newer = Pending::default();
        newer.set(a, d("10.1.2.7"));
        newer.set(b, d("10.1.2.7"));
        older.absorb(newer);
        older.order_for_kernel();
        assert_eq!((older.len(), older.waiting()), (12, 12));
        out.clear();
        older.take(100, &mut out);
        assert_eq!(out.len(), 12);
        assert!(out.contains(&(a, d("10.1.2.7"))) && out.contains(&(b, d("10.1.2.7"))));
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
