//! The IPv4 table in two levels: prefixes of /16 and longer sit in one of
//! 65,536 small ordered maps chosen by their first 16 bits, shorter ones in
//! a map of their own.
//!
//! One big B-tree of a million routes is about seven levels deep, and the
//! key search was most of an insert's cost; here the first level is an
//! array index and each small map holds a few hundred entries at most (a
//! /16 has 256 /24s). Removing a peer's routes shifts entries only inside
//! small nodes. The bucket array is allocated zeroed on first use, so an
//! empty table costs nothing resident.

use std::collections::BTreeMap;
use std::collections::btree_map;

use super::Entry;

/// Number of first-level buckets: one per /16.
const BUCKETS: usize = 1 << 16;

/// Where a key lives.
enum Slot {
    /// Shorter than /16: in `short`, by the full key.
    Short(u64),
    /// In bucket `.0`, by `.1` = low 16 address bits << 8 | length.
    Bucket(usize, u32),
}

/// The full key of an IPv4 prefix: address << 8 | length.
fn slot(k: u64) -> Slot {
    let addr = (k >> 8) as u32;
    let len = (k & 0xff) as u32;
    if len >= 16 {
        Slot::Bucket((addr >> 16) as usize, ((addr & 0xffff) << 8) | len)
    } else {
        Slot::Short(k)
    }
}

fn full_key(bucket: usize, sub: u32) -> u64 {
    ((bucket as u64) << 24) | u64::from(sub)
}

/// The IPv4 prefixes and their paths.
/// One first-level bucket. Boxed so that an absent bucket is a null
/// pointer: `vec![None; 65536]` is then one zeroed allocation that costs no
/// memory until touched (a bare `BTreeMap` would be 24 bytes written per
/// bucket).
#[allow(clippy::box_collection)]
type Bucket = Option<Box<BTreeMap<u32, Entry>>>;

#[derive(Debug, Default)]
pub(super) struct V4Table {
    short: BTreeMap<u64, Entry>,
    buckets: Vec<Bucket>,
    len: usize,
}

impl V4Table {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn get(&self, k: u64) -> Option<&Entry> {
        match slot(k) {
            Slot::Short(k) => self.short.get(&k),
            Slot::Bucket(b, s) => self.buckets.get(b)?.as_ref()?.get(&s),
        }
    }

    pub(super) fn get_mut(&mut self, k: u64) -> Option<&mut Entry> {
        match slot(k) {
            Slot::Short(k) => self.short.get_mut(&k),
            Slot::Bucket(b, s) => self.buckets.get_mut(b)?.as_mut()?.get_mut(&s),
        }
    }

    pub(super) fn insert(&mut self, k: u64, e: Entry) {
        let old = match slot(k) {
            Slot::Short(k) => self.short.insert(k, e),
            Slot::Bucket(b, s) => self.bucket(b).insert(s, e),
        };
        if old.is_none() {
            self.len += 1;
        }
    }

    pub(super) fn remove(&mut self, k: u64) -> Option<Entry> {
        let old = match slot(k) {
            Slot::Short(k) => self.short.remove(&k),
            Slot::Bucket(b, s) => self.buckets.get_mut(b)?.as_mut()?.remove(&s),
        };
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Runs `f` on the map entry of `k` (its map created if missing); `f`
    /// returns its result and whether it added an entry.
    pub(super) fn with_entry<R>(&mut self, k: u64, f: impl FnOnce(Either<'_>) -> (R, bool)) -> R {
        let (r, added) = match slot(k) {
            Slot::Short(k) => f(Either::Short(self.short.entry(k))),
            Slot::Bucket(b, s) => f(Either::Bucket(self.bucket(b).entry(s))),
        };
        if added {
            self.len += 1;
        }
        r
    }

    fn bucket(&mut self, b: usize) -> &mut BTreeMap<u32, Entry> {
        if self.buckets.is_empty() {
            // Zeroed: the kernel maps the pages only when touched.
            self.buckets = vec![None; BUCKETS];
        }
        self.buckets[b].get_or_insert_with(Box::default)
    }

    /// Every entry in key order (address, then length).
    pub(super) fn iter(&self) -> V4Iter<'_> {
        V4Iter {
            short: self.short.iter().peekable(),
            buckets: self.buckets.iter().enumerate(),
            current: None,
            limit: None,
        }
    }

    /// Every entry, mutably, in no particular order.
    pub(super) fn for_each_mut(&mut self, mut f: impl FnMut(&mut Entry)) {
        self.short.values_mut().for_each(&mut f);
        for m in self.buckets.iter_mut().flatten() {
            m.values_mut().for_each(&mut f);
        }
    }

    /// Removes the entries `vanishes` picks, showing each to `visit` as
    /// [`Visit::Gone`], and lets `visit` change the others
    /// ([`Visit::Stays`]; it must leave them with a path `vanishes` does
    /// not pick).
    /// A bucket none of whose entries vanish is changed in place, and one
    /// all of whose entries vanish is detached whole and returned, for the
    /// caller to free when it suits (freeing a million routes is most of
    /// the cost of removing them); only a bucket with some of each is
    /// rebuilt from its survivors (a bulk build, which beats removing
    /// entries one by one). So neither a peer's whole table going nor one
    /// of two Route Servers' copies going moves an entry.
    pub(super) fn retain(
        &mut self,
        vanishes: impl Fn(&Entry) -> bool,
        mut visit: impl FnMut(u64, Visit<'_>),
    ) -> Detached {
        let (mut removed, all) = retain_map(&mut self.short, &vanishes, &mut visit);
        if all {
            self.short.clear();
        }
        let mut detached = Detached::default();
        for (b, slot) in self.buckets.iter_mut().enumerate() {
            let Some(m) = slot else {
                continue;
            };
            let (n, all) = retain_map(m, &vanishes, |s, v| visit(full_key(b, s), v));
            removed += n;
            if all {
                detached.entries += m.len();
                detached.maps.extend(slot.take());
            } else if m.is_empty() {
                *slot = None;
            }
        }
        self.len -= removed;
        detached
    }
}

/// Maps of entries taken out of the table whole by [`V4Table::retain`].
#[derive(Debug, Default)]
pub(super) struct Detached {
    // The buckets' own boxes, moved as they are: unboxing would free them
    // here, which is what detaching avoids.
    #[allow(clippy::vec_box)]
    maps: Vec<Box<BTreeMap<u32, Entry>>>,
    entries: usize,
}

impl Detached {
    /// How many entries they hold.
    pub(super) fn entries(&self) -> usize {
        self.entries
    }
}

/// What [`V4Table::retain`] shows of an entry.
pub(super) enum Visit<'a> {
    /// It is being removed.
    Gone(&'a Entry),
    /// It stays, and may be changed.
    Stays(&'a mut Entry),
}

/// [`V4Table::retain`] for one map: how many entries vanish, and whether
/// that is all of them (the map is then left as it was, for the caller to
/// take whole). One pass visits every entry; only a map left with some of
/// each is rebuilt, from the entries that no longer vanish (so `visit` must
/// leave a surviving entry with a path `vanishes` does not pick).
pub(super) fn retain_map<K: Ord + Copy>(
    map: &mut BTreeMap<K, Entry>,
    vanishes: &impl Fn(&Entry) -> bool,
    mut visit: impl FnMut(K, Visit<'_>),
) -> (usize, bool) {
    let before = map.len();
    let mut vanishing = 0;
    for (k, e) in map.iter_mut() {
        if vanishes(e) {
            vanishing += 1;
            visit(*k, Visit::Gone(e));
        } else {
            visit(*k, Visit::Stays(e));
        }
    }
    if vanishing == 0 || vanishing == before {
        return (vanishing, vanishing == before);
    }
    *map = std::mem::take(map)
        .into_iter()
        .filter(|(_, e)| !vanishes(e))
        .collect();
    (vanishing, false)
}

/// An entry of one of the table's maps, for [`V4Table::with_entry`].
pub(super) enum Either<'a> {
    /// In the map of short prefixes.
    Short(btree_map::Entry<'a, u64, Entry>),
    /// In a bucket.
    Bucket(btree_map::Entry<'a, u32, Entry>),
}

/// [`V4Table::iter`].
pub(super) struct V4Iter<'a> {
    short: std::iter::Peekable<btree_map::Iter<'a, u64, Entry>>,
    buckets: std::iter::Enumerate<std::slice::Iter<'a, Bucket>>,
    current: Option<(usize, btree_map::Iter<'a, u32, Entry>)>,
    /// Short prefixes below this key go before the current bucket's
    /// entries.
    limit: Option<u64>,
}

impl<'a> Iterator for V4Iter<'a> {
    type Item = (u64, &'a Entry);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(limit) = self.limit {
                // A short prefix within a bucket's range has the bucket's
                // address with zero low bits and a length below 16: it sorts
                // before every entry of the bucket, like the ones before it.
                if let Some((k, _)) = self.short.peek()
                    && **k < limit
                {
                    return self.short.next().map(|(k, e)| (*k, e));
                }
                self.limit = None;
            }
            if let Some((b, it)) = &mut self.current {
                if let Some((s, e)) = it.next() {
                    return Some((full_key(*b, *s), e));
                }
                self.current = None;
            }
            match self.buckets.next() {
                Some((b, Some(m))) => {
                    self.current = Some((b, m.iter()));
                    self.limit = Some(full_key(b + 1, 0));
                }
                Some((_, None)) => {}
                None => return self.short.next().map(|(k, e)| (*k, e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::{Dest, Path};
    use std::sync::Arc;

    fn entry() -> Entry {
        let attrs = Arc::new(crate::rib::attrs::PathAttrs {
            origin: bgp_proto::Origin::Igp,
            as_path: bgp_proto::AsPath::empty(),
            next_hop: "10.0.0.1".parse().unwrap(),
            link_local: None,
            med: None,
            local_pref: 100,
            atomic_aggregate: false,
            aggregator: None,
            communities: Box::new([]),
            large_communities: Box::new([]),
            extended_communities: Box::new([]),
            originator_id: None,
            cluster_list_len: 0,
            opaque: Box::new([]),
        });
        Entry {
            dest: Dest::One(Path {
                attrs,
                path_id: 0,
                peer: 1,
                stale: false,
            }),
            multipath: 1,
        }
    }

    fn key(s: &str) -> u64 {
        let p: bgp_proto::Prefix = s.parse().unwrap();
        let bgp_proto::Prefix::V4(a, l) = p else {
            panic!()
        };
        (u64::from(a) << 8) | u64::from(l)
    }

    #[test]
    fn iterates_in_key_order_across_both_levels() {
        let mut t = V4Table::default();
        let prefixes = [
            "10.1.2.0/24",
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.1.0.0/16",
            "9.255.255.255/32",
            "10.0.0.0/15",
            "10.0.0.0/16",
            "10.1.0.0/24",
            "192.168.0.0/16",
            "255.255.255.255/32",
        ];
        for p in prefixes {
            t.insert(key(p), entry());
        }
        assert_eq!(t.len(), prefixes.len());
        let got: Vec<u64> = t.iter().map(|(k, _)| k).collect();
        let mut want: Vec<u64> = prefixes.iter().map(|p| key(p)).collect();
        want.sort();
        assert_eq!(got, want);
        assert!(t.get(key("10.0.0.0/15")).is_some());
        assert!(t.get(key("10.1.0.0/17")).is_none());
        // Removing keeps the count and order right.
        assert!(t.remove(key("10.1.0.0/16")).is_some());
        assert!(t.remove(key("10.1.0.0/16")).is_none());
        if let Some(Entry {
            dest: Dest::One(p), ..
        }) = t.get_mut(key("0.0.0.0/0"))
        {
            p.path_id = 7;
        }
        let mut went = Vec::new();
        let detached = t.retain(
            |e| e.dest.best().path_id == 7,
            |k, v| {
                if let Visit::Gone(_) = v {
                    went.push(k)
                }
            },
        );
        assert_eq!((detached.entries(), went.len()), (0, 1));
        assert_eq!(went, [key("0.0.0.0/0")]);
        assert_eq!(t.len(), prefixes.len() - 2);
        let got: Vec<u64> = t.iter().map(|(k, _)| k).collect();
        want.retain(|k| *k != key("10.1.0.0/16") && *k != key("0.0.0.0/0"));
        assert_eq!(got, want);
    }

    #[test]
    fn a_bucket_whose_entries_all_vanish_is_detached_whole() {
        let mut t = V4Table::default();
        for p in ["10.1.0.0/24", "10.1.1.0/24", "10.2.0.0/24", "10.0.0.0/8"] {
            t.insert(key(p), entry());
        }
        // 10.1.0.0/16's two entries vanish, 10.2.0.0/24 is only updated.
        let mut went = Vec::new();
        let mut updated = Vec::new();
        let detached = t.retain(
            |e| e.dest.best().path_id == 1,
            |k, v| match v {
                Visit::Gone(_) => went.push(k),
                Visit::Stays(_) => updated.push(k),
            },
        );
        assert!(went.is_empty() && detached.entries() == 0);
        assert_eq!(updated.len(), 4);
        for p in ["10.1.0.0/24", "10.1.1.0/24"] {
            if let Some(Entry {
                dest: Dest::One(p), ..
            }) = t.get_mut(key(p))
            {
                p.path_id = 1;
            }
        }
        let (mut went, mut updated) = (Vec::new(), Vec::new());
        let detached = t.retain(
            |e| e.dest.best().path_id == 1,
            |k, v| match v {
                Visit::Gone(_) => went.push(k),
                Visit::Stays(_) => updated.push(k),
            },
        );
        assert_eq!(detached.entries(), 2);
        assert_eq!(went, [key("10.1.0.0/24"), key("10.1.1.0/24")]);
        assert_eq!(updated, [key("10.0.0.0/8"), key("10.2.0.0/24")]);
        assert_eq!(t.len(), 2);
        assert!(t.get(key("10.1.1.0/24")).is_none());
        let left: Vec<u64> = t.iter().map(|(k, _)| k).collect();
        assert_eq!(left, [key("10.0.0.0/8"), key("10.2.0.0/24")]);
    }
}
