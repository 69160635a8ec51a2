//! Decode throughput on a full-table-like stream of UPDATEs, and framing of
//! that stream.
//!
//! `cargo bench -p bgp-proto --bench decode` (divan). The corpus is made
//! here, deterministically, so the workspace does not depend on the
//! standalone harness in `bench/codec` (which compares bgp-proto with other
//! crates; see `bgp-proto/BENCHMARKS.md`). It follows the same shape, in
//! smaller: IPv4 UPDATEs (NLRI field, some with withdrawals) and IPv6 ones
//! (MP_REACH_NLRI / MP_UNREACH_NLRI), 4-octet AS_PATHs of 1..6 ASNs, MED,
//! COMMUNITIES and LARGE_COMMUNITIES on some, /24-heavy IPv4 and /48-heavy
//! IPv6 lengths, prefixes per message heavy-tailed up to messages packed to
//! 4096 bytes.

use bgp_proto::framing::Framer;
use bgp_proto::{Context, LazyMessage, Message, Nlri, Prefix};
use bytes::BytesMut;
use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

const MAX_MESSAGE: usize = 4096;
const HEADER: usize = 19;

/// SplitMix64: small, deterministic on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// A value from `(value, weight)` pairs.
    fn pick<T: Copy>(&mut self, table: &[(T, u64)]) -> T {
        let total: u64 = table.iter().map(|&(_, w)| w).sum();
        let mut r = self.below(total);
        for &(v, w) in table {
            if r < w {
                return v;
            }
            r -= w;
        }
        table[0].0
    }
}

const V4_LENGTHS: &[(u8, u64)] = &[
    (24, 580),
    (23, 100),
    (22, 110),
    (21, 50),
    (20, 50),
    (19, 30),
    (18, 20),
    (16, 30),
    (12, 10),
    (8, 5),
    (28, 10),
    (32, 5),
];
const V6_LENGTHS: &[(u8, u64)] = &[
    (48, 480),
    (32, 120),
    (44, 80),
    (40, 70),
    (36, 40),
    (29, 30),
    (46, 30),
    (56, 10),
    (64, 15),
];
/// Prefixes per UPDATE: heavy-tailed; 0 means "as many as fit".
const PER_MESSAGE: &[((u64, u64), u64)] = &[
    ((1, 1), 480),
    ((2, 3), 245),
    ((4, 10), 150),
    ((11, 50), 90),
    ((51, 300), 30),
    ((0, 0), 5),
];

fn attribute(out: &mut Vec<u8>, flags: u8, code: u8, value: &[u8]) {
    match u8::try_from(value.len()) {
        Ok(len) if flags & 0x10 == 0 => out.extend_from_slice(&[flags, code, len]),
        _ => {
            out.extend_from_slice(&[flags | 0x10, code]);
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(value);
}

/// ORIGIN, AS_PATH, NEXT_HOP (IPv4 only), MED, COMMUNITIES; then
/// LARGE_COMMUNITIES, which goes after MP_REACH_NLRI in type-code order.
fn attributes(r: &mut Rng, next_hop: Option<[u8; 4]>) -> (Vec<u8>, Vec<u8>) {
    let mut before = Vec::new();
    attribute(
        &mut before,
        0x40,
        1,
        &[r.pick(&[(0, 850), (1, 30), (2, 120)])],
    );
    let hops = r.pick(&[(1u8, 60), (2, 180), (3, 300), (4, 260), (5, 120), (6, 80)]);
    let mut path = vec![2, hops];
    for _ in 0..hops {
        path.extend_from_slice(&(1 + r.below(400_000) as u32).to_be_bytes());
    }
    attribute(&mut before, 0x40, 2, &path);
    if let Some(nh) = next_hop {
        attribute(&mut before, 0x40, 3, &nh);
    }
    if r.chance(300) {
        attribute(&mut before, 0x80, 4, &(r.below(2000) as u32).to_be_bytes());
    }
    if r.chance(500) {
        let n = 1 + r.below(12);
        let c: Vec<u8> = (0..n)
            .flat_map(|_| ((3356 << 16) | r.below(65_000) as u32).to_be_bytes())
            .collect();
        attribute(&mut before, 0xc0, 8, &c);
    }
    let mut after = Vec::new();
    if r.chance(150) {
        let n = 1 + r.below(4);
        let c: Vec<u8> = (0..n * 3)
            .flat_map(|_| (r.below(100_000) as u32).to_be_bytes())
            .collect();
        attribute(&mut after, 0xc0, 32, &c);
    }
    (before, after)
}

fn v4_prefix(r: &mut Rng) -> Prefix {
    let len = r.pick(V4_LENGTHS);
    let addr = ((1 + r.below(222) as u32) << 24) | (r.next() as u32 & 0x00ff_ffff);
    Prefix::V4(addr & (u32::MAX << (32 - len)), len)
}

fn v6_prefix(r: &mut Rng) -> Prefix {
    let len = r.pick(V6_LENGTHS);
    let addr = (0x2001u128 + u128::from(r.below(0x0a0e))) << 112
        | (u128::from(r.next()) << 48 & ((1 << 112) - 1));
    Prefix::V6(addr & (u128::MAX << (128 - len)), len)
}

/// Up to `count` prefixes (0: unbounded) in at most `room` bytes.
fn pack(r: &mut Rng, count: u64, room: usize, v6: bool) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    let mut n = 0;
    while count == 0 || n < count {
        let p = if v6 { v6_prefix(r) } else { v4_prefix(r) };
        if out.len() + 1 + p.wire_bytes() > room {
            break;
        }
        p.encode(&mut out);
        n += 1;
    }
    (out, n)
}

fn update(withdrawn: &[u8], attributes: &[u8], nlri: &[u8]) -> Vec<u8> {
    let len = HEADER + 4 + withdrawn.len() + attributes.len() + nlri.len();
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    m.extend_from_slice(withdrawn);
    m.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
    m.extend_from_slice(attributes);
    m.extend_from_slice(nlri);
    m
}

/// A stream of UPDATEs and its prefix count.
struct Corpus {
    bytes: Vec<u8>,
    prefixes: u64,
}

fn corpus(v4_target: u64, v6_target: u64) -> Corpus {
    let mut r = Rng(0x6267_705f_636f_7270);
    let mut bytes = Vec::new();
    let mut prefixes = 0;
    let (mut v4, mut v6) = (0, 0);
    let body_room = MAX_MESSAGE - HEADER - 4;
    while v4 < v4_target || v6 < v6_target {
        let per_message = r.pick(PER_MESSAGE);
        let count = if per_message.0 == 0 {
            0
        } else {
            per_message.0 + r.below(per_message.1 - per_message.0 + 1)
        };
        let ipv6 = v6 < v6_target && (v4 >= v4_target || r.chance(170));
        let message = if !ipv6 {
            let (withdrawn, w) = if r.chance(100) {
                let n = 1 + r.below(30);
                pack(&mut r, n, 1024, false)
            } else {
                (Vec::new(), 0)
            };
            let (mut attrs, after) = attributes(&mut r, Some([80, 81, 192, 1]));
            attrs.extend_from_slice(&after);
            let (nlri, n) = pack(
                &mut r,
                count,
                body_room - withdrawn.len() - attrs.len(),
                false,
            );
            prefixes += w + n;
            v4 += n;
            update(&withdrawn, &attrs, &nlri)
        } else if r.chance(100) {
            let n = 1 + r.below(30);
            let (nlri, n) = pack(&mut r, n, body_room - 7, true);
            let mut value = vec![0, 2, 1];
            value.extend_from_slice(&nlri);
            let mut attrs = Vec::new();
            attribute(&mut attrs, 0x90, 15, &value);
            prefixes += n;
            update(&[], &attrs, &[])
        } else {
            let (mut attrs, after) = attributes(&mut r, None);
            let mut reach = vec![0, 2, 1, 16, 0x20, 0x01, 0x07, 0xf8];
            reach.extend_from_slice(&[0; 11]);
            reach.extend_from_slice(&[1, 0]);
            let room = body_room - attrs.len() - after.len() - 4 - reach.len();
            let (nlri, n) = pack(&mut r, count, room, true);
            reach.extend_from_slice(&nlri);
            attribute(&mut attrs, 0x90, 14, &reach);
            attrs.extend_from_slice(&after);
            prefixes += n;
            v6 += n;
            update(&[], &attrs, &[])
        };
        bytes.extend_from_slice(&message);
    }
    Corpus { bytes, prefixes }
}

/// 100,000 IPv4 and 20,000 IPv6 prefixes announced, plus withdrawals:
/// about 1 MB, 7,000 messages.
fn the_corpus() -> &'static Corpus {
    static CORPUS: std::sync::OnceLock<Corpus> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| {
        let c = corpus(100_000, 20_000);
        // Refuse to measure a corpus the decoder does not fully accept.
        let mut seen = 0;
        for_each_message(&c.bytes, |m| {
            let Ok(Message::Update(u)) = bgp_proto::decode(m, &Context::MODERN) else {
                panic!("corpus message does not decode");
            };
            assert!(u.errors().is_empty(), "corpus message has findings");
            seen += u.withdrawn().count() + u.announced().count();
        });
        assert_eq!(seen as u64, c.prefixes);
        c
    })
}

/// Calls `f` on each message of a stream of whole messages.
fn for_each_message(mut stream: &[u8], mut f: impl FnMut(&[u8])) {
    while let Some(len) = stream.get(16..18) {
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let Some((message, rest)) = stream.split_at_checked(len) else {
            break;
        };
        f(message);
        stream = rest;
    }
}

/// What the iterating benches fold each prefix into.
#[inline(always)]
fn touch(sum: u64, n: Nlri) -> u64 {
    sum.wrapping_add(match n.prefix {
        Prefix::V4(a, l) => u64::from(a) << 8 | u64::from(l),
        Prefix::V6(a, l) => (a >> 64) as u64 ^ a as u64 ^ u64::from(l),
    })
}

/// Decode every message and touch every prefix, AS_PATH ASN and community,
/// as a full-table ingest does. Throughput in prefixes and bytes.
#[divan::bench]
fn decode_and_iterate(bencher: Bencher) {
    let c = the_corpus();
    bencher
        .counter(ItemsCount::new(c.prefixes))
        .counter(BytesCount::new(c.bytes.len()))
        .bench(|| {
            let mut sum = 0u64;
            for_each_message(black_box(&c.bytes), |m| {
                if let Ok(Message::Update(u)) = bgp_proto::decode(m, &Context::MODERN) {
                    for n in u.withdrawn().chain(u.announced()) {
                        sum = touch(sum, n);
                    }
                    if let Some(path) = u.as_path_view() {
                        sum = path.asns().fold(sum, |s, a| s.wrapping_add(u64::from(a)));
                    }
                    sum += u.communities().count() as u64 + u.large_communities().count() as u64;
                }
            });
            sum
        });
}

/// [`decode_and_iterate`] through `decode_lazy`, which checks each NLRI
/// entry as it is read rather than before, with `for_each_withdrawn` /
/// `for_each_announced`: the ingest path bench/codec measures. A
/// malformed entry would end its message (the corpus has none:
/// `the_corpus` checks).
#[divan::bench]
fn decode_lazy_and_iterate(bencher: Bencher) {
    let c = the_corpus();
    bencher
        .counter(ItemsCount::new(c.prefixes))
        .counter(BytesCount::new(c.bytes.len()))
        .bench(|| {
            let mut sum = 0u64;
            for_each_message(black_box(&c.bytes), |m| {
                if let Ok(LazyMessage::Update(u)) = bgp_proto::decode_lazy(m, &Context::MODERN) {
                    if u.for_each_withdrawn(|n| sum = touch(sum, n)).is_err() {
                        return;
                    }
                    if let Some(path) = u.as_path_view() {
                        sum = path.asns().fold(sum, |s, a| s.wrapping_add(u64::from(a)));
                    }
                    sum += u.communities().count() as u64 + u.large_communities().count() as u64;
                    let _ = u.for_each_announced(|n| sum = touch(sum, n));
                }
            });
            sum
        });
}

/// Decode (validate) only, without iterating: the cost of the checks.
#[divan::bench]
fn decode_only(bencher: Bencher) {
    let c = the_corpus();
    bencher
        .counter(ItemsCount::new(c.prefixes))
        .counter(BytesCount::new(c.bytes.len()))
        .bench(|| {
            let mut ok = 0u32;
            for_each_message(black_box(&c.bytes), |m| {
                ok += u32::from(bgp_proto::decode(m, &Context::MODERN).is_ok());
            });
            ok
        });
}

/// `decode_lazy` only: the checks other than the NLRI entries'.
#[divan::bench]
fn decode_lazy_only(bencher: Bencher) {
    let c = the_corpus();
    bencher
        .counter(ItemsCount::new(c.prefixes))
        .counter(BytesCount::new(c.bytes.len()))
        .bench(|| {
            let mut ok = 0u32;
            for_each_message(black_box(&c.bytes), |m| {
                ok += u32::from(bgp_proto::decode_lazy(m, &Context::MODERN).is_ok());
            });
            ok
        });
}

/// Split the stream into messages with [`Framer`], as a session's read loop
/// does with its receive buffer (the buffer copy is outside the timing).
#[divan::bench]
fn framer(bencher: Bencher) {
    let c = the_corpus();
    let framer = Framer::new(Context::MODERN);
    bencher
        .counter(BytesCount::new(c.bytes.len()))
        .with_inputs(|| BytesMut::from(&c.bytes[..]))
        .bench_local_values(|mut buf| {
            let mut messages = 0u32;
            while let Ok(Some(m)) = framer.next_message(&mut buf) {
                messages += 1;
                black_box(m);
            }
            messages
        });
}

/// Framing and full decode together: the whole receive path of a session.
#[divan::bench]
fn framer_and_decode(bencher: Bencher) {
    let c = the_corpus();
    let framer = Framer::new(Context::MODERN);
    bencher
        .counter(ItemsCount::new(c.prefixes))
        .counter(BytesCount::new(c.bytes.len()))
        .with_inputs(|| BytesMut::from(&c.bytes[..]))
        .bench_local_values(|mut buf| {
            let mut prefixes = 0usize;
            while let Ok(Some(m)) = framer.next_message(&mut buf) {
                if let Ok(Message::Update(u)) = bgp_proto::decode(&m, &Context::MODERN) {
                    prefixes += u.withdrawn().count() + u.announced().count();
                }
            }
            prefixes
        });
}

/// [`framer_and_decode`] with `decode_lazy`, counting the entries that
/// read well.
#[divan::bench]
fn framer_and_decode_lazy(bencher: Bencher) {
    let c = the_corpus();
    let framer = Framer::new(Context::MODERN);
    bencher
        .counter(ItemsCount::new(c.prefixes))
        .counter(BytesCount::new(c.bytes.len()))
        .with_inputs(|| BytesMut::from(&c.bytes[..]))
        .bench_local_values(|mut buf| {
            let mut prefixes = 0usize;
            while let Ok(Some(m)) = framer.next_message(&mut buf) {
                if let Ok(LazyMessage::Update(u)) = bgp_proto::decode_lazy(&m, &Context::MODERN) {
                    prefixes += u
                        .withdrawn()
                        .chain(u.announced())
                        .filter(Result::is_ok)
                        .count();
                }
            }
            prefixes
        });
}
