//! Feeds N IPv4 /24s (packed 4096-byte UPDATEs, one attribute set per 1000
//! prefixes) through decode and the RIB in one process and prints time and
//! peak RSS: the in-process part of the ingest benchmark (bench/ has the
//! end-to-end one over TCP against BIRD, FRR and GoBGP).
//!
//! `cargo run --release --example rib_ingest -- 1000000` (env: `PEERS=2`,
//! `REPEAT=5`, `NO_TRACK=1`; see `main`)

use std::time::Instant;

use bgp_proto::message::builder::{PathAttributes, UpdateBuilder};
use bgp_proto::{AsPath, Community, Context, Message, Nlri, Prefix};
use nvabgp::config::ImportPolicy;
use nvabgp::rib::Rib;
use nvabgp::rib::attrs::Session;
use nvabgp::rib::decision::PeerInfo;

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut messages = Vec::new();
    let mut b = UpdateBuilder::new(Context::MODERN);
    let prefixes: Vec<Nlri> = (0..n)
        .map(|i| Nlri::new(Prefix::V4((11 << 24) + (i << 8), 24)))
        .collect();
    for (g, chunk) in prefixes.chunks(1000).enumerate() {
        let attrs = PathAttributes {
            as_path: AsPath::sequence([65515, 64600 + (g as u32 % 50)]),
            next_hop: Some("10.1.1.4".parse().expect("address")),
            communities: vec![Community::new(65515, g as u16)],
            ..PathAttributes::default()
        };
        b.announce(&attrs, chunk).expect("encode");
        messages.extend(b.take());
    }
    let bytes: usize = messages.iter().map(|m| m.len()).sum();
    // `PEERS=2`: the same routes from two Route Server instances (Azure's
    // case: every prefix has two equal paths); `REPEAT=k`: the best of k.
    let peers: u16 = env_or("PEERS", 1).clamp(1, 2);
    let repeat: u32 = env_or("REPEAT", 1).max(1);
    // As the daemon does when it mirrors routes into the kernel: changes
    // recorded, and taken after every UPDATE (`NO_TRACK=1`: not recorded).
    let track = std::env::var_os("NO_TRACK").is_none();
    let before = peak_rss_kb();
    let mut best = [f64::MAX; 3];
    let mut summary = String::new();
    for _ in 0..repeat {
        let mut rib = Rib::new(65001);
        rib.track_changes(track);
        for id in 1..=peers {
            let address = format!("10.1.1.{}", 3 + id);
            let address = address.parse().expect("address");
            let router_id = format!("10.1.1.{}", 3 + id).parse().expect("address");
            let info = PeerInfo {
                address,
                asn: 65515,
                router_id,
                session: Session::External,
            };
            rib.add_peer(id, info, ImportPolicy::default());
        }
        let t = Instant::now();
        for id in 1..=peers {
            for m in &messages {
                if let Ok(Message::Update(u)) = bgp_proto::decode(m, &Context::MODERN) {
                    rib.apply_update(id, &u);
                    std::hint::black_box(rib.take_changes());
                }
            }
        }
        let ingest = t.elapsed().as_secs_f64();
        let (len, sets) = (rib.len(), rib.attribute_sets());
        let t = Instant::now();
        let removed = rib.remove_peer(1);
        let first = t.elapsed().as_secs_f64();
        std::hint::black_box(rib.take_changes());
        let t = Instant::now();
        let removed_last = if peers > 1 { rib.remove_peer(2) } else { 0 };
        let last = t.elapsed().as_secs_f64();
        for (b, x) in best.iter_mut().zip([ingest, first, last]) {
            *b = b.min(x);
        }
        summary = format!(
            "Loc-RIB {len} prefixes, {sets} attribute sets; remove_peer {removed}, then {removed_last}"
        );
    }
    let after = peak_rss_kb();
    println!(
        "{n} prefixes x {peers} peers in {} messages ({bytes} bytes), best of {repeat}, changes {}: ingest {:.3} s ({:.2} M paths/s), {summary}; peak RSS {} kB before, {} kB after (+{} bytes/path); remove_peer {:.1} ms{}",
        messages.len(),
        if track { "tracked" } else { "not tracked" },
        best[0],
        f64::from(n) * f64::from(peers) / best[0] / 1e6,
        before,
        after,
        (after - before) * 1024 / (u64::from(n) * u64::from(peers)).max(1),
        best[1] * 1e3,
        if peers > 1 {
            format!(", then the last peer {:.1} ms", best[2] * 1e3)
        } else {
            String::new()
        },
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
