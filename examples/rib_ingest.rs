//! Feeds N IPv4 /24s (packed 4096-byte UPDATEs, one attribute set per 1000
//! prefixes) through decode and the RIB in one process and prints time and
//! peak RSS: the in-process part of the ingest benchmark (bench/ has the
//! end-to-end one over TCP against BIRD, FRR and GoBGP).
//!
//! `cargo run --release --example rib_ingest -- 1000000`

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
    let before = peak_rss_kb();
    let mut rib = Rib::new(65001);
    rib.add_peer(
        1,
        PeerInfo {
            address: "10.1.1.4".parse().expect("address"),
            asn: 65515,
            router_id: "10.1.1.4".parse().expect("address"),
            session: Session::External,
        },
        ImportPolicy::default(),
    );
    let t = Instant::now();
    for m in &messages {
        if let Ok(Message::Update(u)) = bgp_proto::decode(m, &Context::MODERN) {
            rib.apply_update(1, &u);
        }
    }
    let ingest = t.elapsed();
    let after = peak_rss_kb();
    let t = Instant::now();
    let removed = rib.remove_peer(1);
    let removal = t.elapsed();
    println!(
        "{n} prefixes in {} messages ({bytes} bytes): ingest {:.3} s ({:.2} M prefixes/s), Loc-RIB {} prefixes, {} attribute sets; peak RSS {} kB before, {} kB after (+{} bytes/route); remove_peer {} in {:.3} s",
        messages.len(),
        ingest.as_secs_f64(),
        f64::from(n) / ingest.as_secs_f64() / 1e6,
        rib.len(),
        rib.attribute_sets(),
        before,
        after,
        (after - before) * 1024 / u64::from(n.max(1)),
        removed,
        removal.as_secs_f64(),
    );
}
