//! Maps keyed by prefix for the installer's million-entry tables.
//!
//! `Prefix` is 32 bytes (its IPv6 arm aligns it to 16); an IPv4 key here is
//! 8 (address << 8 | length), which halves the memory of a full IPv4
//! table. The hash is a seeded folded multiply: one multiplication per key
//! instead of SipHash's rounds, with a random seed per map so that a peer
//! choosing its prefixes cannot aim them at one bucket.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

use bgp_proto::Prefix;

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

fn fold(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// Hasher state: a seeded folded multiply per 8 bytes.
#[derive(Debug, Clone, Copy)]
pub struct FoldHasher {
    state: u64,
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.state = fold(self.state ^ i, MULTIPLIER);
    }

    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

/// Builds [`FoldHasher`]s from a random per-map seed.
#[derive(Debug, Clone, Copy)]
pub struct FoldState {
    seed: u64,
}

impl Default for FoldState {
    fn default() -> Self {
        Self {
            seed: RandomState::new().hash_one(0u64),
        }
    }
}

impl BuildHasher for FoldState {
    type Hasher = FoldHasher;

    fn build_hasher(&self) -> FoldHasher {
        FoldHasher { state: self.seed }
    }
}

/// A compact IPv4 key: address and length in one word.
pub fn v4_key(address: u32, len: u8) -> u64 {
    (u64::from(address) << 8) | u64::from(len)
}

/// The prefix of a [`v4_key`].
pub fn v4_prefix(key: u64) -> Prefix {
    Prefix::V4((key >> 8) as u32, key as u8)
}

/// A map from prefix to `V`.
#[derive(Debug, Clone)]
pub struct PrefixMap<V> {
    v4: HashMap<u64, V, FoldState>,
    v6: HashMap<(u128, u8), V, FoldState>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        Self {
            v4: HashMap::default(),
            v6: HashMap::default(),
        }
    }
}

impl<V> PrefixMap<V> {
    /// Entries.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// The value of `prefix`.
    pub fn get(&self, prefix: &Prefix) -> Option<&V> {
        match *prefix {
            Prefix::V4(a, l) => self.v4.get(&v4_key(a, l)),
            Prefix::V6(a, l) => self.v6.get(&(a, l)),
        }
    }

    /// True when `prefix` has a value.
    pub fn contains_key(&self, prefix: &Prefix) -> bool {
        self.get(prefix).is_some()
    }

    /// Sets the value of `prefix`, returning the old one.
    pub fn insert(&mut self, prefix: Prefix, value: V) -> Option<V> {
        match prefix {
            Prefix::V4(a, l) => self.v4.insert(v4_key(a, l), value),
            Prefix::V6(a, l) => self.v6.insert((a, l), value),
        }
    }

    /// Sets the value of `prefix` unless it has one.
    pub fn insert_if_absent(&mut self, prefix: Prefix, value: V) {
        match prefix {
            Prefix::V4(a, l) => {
                self.v4.entry(v4_key(a, l)).or_insert(value);
            }
            Prefix::V6(a, l) => {
                self.v6.entry((a, l)).or_insert(value);
            }
        }
    }

    /// Takes every entry out, in no particular order.
    pub fn drain(&mut self) -> impl Iterator<Item = (Prefix, V)> + '_ {
        self.v4
            .drain()
            .map(|(k, v)| (v4_prefix(k), v))
            .chain(self.v6.drain().map(|((a, l), v)| (Prefix::V6(a, l), v)))
    }

    /// Removes `prefix`, returning its value.
    pub fn remove(&mut self, prefix: &Prefix) -> Option<V> {
        match *prefix {
            Prefix::V4(a, l) => self.v4.remove(&v4_key(a, l)),
            Prefix::V6(a, l) => self.v6.remove(&(a, l)),
        }
    }

    /// Shrinks a table that emptied out (a withdrawn full table), so its
    /// memory is not held for good; amortized, since it only happens once
    /// the entries fall below a quarter of the capacity.
    pub fn shrink_if_sparse(&mut self) {
        if self.v4.capacity() > 4096 && self.v4.len() * 4 < self.v4.capacity() {
            self.v4.shrink_to(self.v4.len() * 2);
        }
        if self.v6.capacity() > 4096 && self.v6.len() * 4 < self.v6.capacity() {
            self.v6.shrink_to(self.v6.len() * 2);
        }
    }

    /// Makes room for `v4` IPv4 and `v6` IPv6 entries in all, where there
    /// is less. Never grows a table that already holds that many: a batch
    /// replacing the routes it has must not double its memory.
    pub fn reserve_up_to(&mut self, v4: usize, v6: usize) {
        if let Some(more) = v4.checked_sub(self.v4.len()) {
            self.v4.reserve(more);
        }
        if let Some(more) = v6.checked_sub(self.v6.len()) {
            self.v6.reserve(more);
        }
    }

    /// Keeps the entries for which `keep` is true, in one pass.
    pub fn retain(&mut self, mut keep: impl FnMut(Prefix, &V) -> bool) {
        self.v4.retain(|k, v| keep(v4_prefix(*k), v));
        self.v6.retain(|(a, l), v| keep(Prefix::V6(*a, *l), v));
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &V)> {
        self.v4
            .iter()
            .map(|(k, v)| (v4_prefix(*k), v))
            .chain(self.v6.iter().map(|((a, l), v)| (Prefix::V6(*a, *l), v)))
    }
}

impl FromIterator<Prefix> for PrefixMap<()> {
    fn from_iter<I: IntoIterator<Item = Prefix>>(iter: I) -> Self {
        let mut map = Self::default();
        for p in iter {
            map.insert(p, ());
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_both_families_apart_and_round_trips_keys() {
        let mut m = PrefixMap::default();
        let a: Prefix = "10.0.0.0/8".parse().unwrap();
        let b: Prefix = "10.0.0.0/9".parse().unwrap();
        let c: Prefix = "2001:db8::/32".parse().unwrap();
        let d: Prefix = "0.0.0.0/0".parse().unwrap();
        assert_eq!(m.insert(a, 1), None);
        assert_eq!(m.insert(b, 2), None);
        assert_eq!(m.insert(c, 3), None);
        assert_eq!(m.insert(d, 4), None);
        assert_eq!(m.insert(a, 5), Some(1));
        assert_eq!(
            (m.get(&a), m.get(&b), m.get(&c), m.get(&d)),
            (Some(&5), Some(&2), Some(&3), Some(&4))
        );
        assert_eq!(m.len(), 4);
        let mut all: Vec<_> = m.iter().map(|(p, v)| (p, *v)).collect();
        all.sort();
        assert_eq!(all, vec![(d, 4), (a, 5), (b, 2), (c, 3)]);
        assert_eq!(m.remove(&b), Some(2));
        assert!(!m.contains_key(&b));
        m.retain(|p, v| !p.is_ipv4() || *v == 4);
        m.reserve_up_to(1000, 0);
        assert!(m.v4.capacity() >= 1000);
        let capacity = m.v4.capacity();
        m.reserve_up_to(1, 0);
        assert_eq!(m.v4.capacity(), capacity);
        let mut left: Vec<_> = m.iter().map(|(p, v)| (p, *v)).collect();
        left.sort();
        assert_eq!(left, vec![(d, 4), (c, 3)]);
        assert_eq!(
            v4_prefix(v4_key(0xffff_ff00, 24)),
            "255.255.255.0/24".parse().unwrap()
        );
        m.clear();
        assert!(m.is_empty());
    }

    #[test]
    fn seeds_differ_between_maps() {
        let (x, y) = (FoldState::default(), FoldState::default());
        assert_ne!(x.hash_one(42u64), y.hash_one(42u64));
        assert_eq!(x.hash_one(42u64), x.hash_one(42u64));
    }
}
