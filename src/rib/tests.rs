//! RIB tests over hand-built UPDATE bytes (independent of the encoder, so a
//! bug there cannot hide one here).

use super::*;
use crate::config::PrefixRule;
use bgp_proto::{Context, Families};

/// An UPDATE with ORIGIN IGP, AS_PATH `path` (4-octet), NEXT_HOP `nh`,
/// optional MED, withdrawn and announced /24s of 10.x.y.0.
fn update(
    path: &[u32],
    nh: [u8; 4],
    med: Option<u32>,
    wd: &[[u8; 3]],
    nlri: &[[u8; 3]],
) -> Vec<u8> {
    let mut attrs = vec![0x40, 1, 1, 0];
    attrs.extend([0x40, 2, (2 + 4 * path.len()) as u8, 2, path.len() as u8]);
    for a in path {
        attrs.extend(a.to_be_bytes());
    }
    attrs.extend([0x40, 3, 4]);
    attrs.extend(nh);
    if let Some(m) = med {
        attrs.extend([0x80, 4, 4]);
        attrs.extend(m.to_be_bytes());
    }
    let mut body = Vec::new();
    let w: Vec<u8> = wd.iter().flat_map(|p| [24, p[0], p[1], p[2]]).collect();
    body.extend((w.len() as u16).to_be_bytes());
    body.extend(w);
    if nlri.is_empty() {
        body.extend(0u16.to_be_bytes());
    } else {
        body.extend((attrs.len() as u16).to_be_bytes());
        body.extend(attrs);
        for p in nlri {
            body.extend([24, p[0], p[1], p[2]]);
        }
    }
    let mut m = vec![0xff; 16];
    m.extend(((19 + body.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend(body);
    m
}

fn apply(rib: &mut Rib, peer: PeerId, bytes: &[u8]) -> UpdateOutcome {
    match bgp_proto::decode(bytes, &Context::MODERN).unwrap() {
        bgp_proto::Message::Update(u) => rib.apply_update(peer, &u),
        other => panic!("not an update: {other:?}"),
    }
}

fn info(addr: &str, asn: u32) -> PeerInfo {
    PeerInfo {
        address: addr.parse().unwrap(),
        asn,
        router_id: addr.parse().unwrap(),
        session: Session::External,
    }
}

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

#[test]
fn two_route_servers_give_an_ecmp_pair_and_withdrawals_shrink_it() {
    let mut rib = Rib::new(65001);
    rib.track_changes(true);
    rib.add_peer(1, info("10.1.1.4", 65515), ImportPolicy::default());
    rib.add_peer(2, info("10.1.1.5", 65515), ImportPolicy::default());
    let o = apply(
        &mut rib,
        2,
        &update(&[65515], [10, 1, 1, 5], None, &[], &[[10, 1, 0]]),
    );
    assert_eq!(o.announced, 1);
    apply(
        &mut rib,
        1,
        &update(&[65515], [10, 1, 1, 4], None, &[], &[[10, 1, 0]]),
    );
    let e = rib.get(&p("10.1.0.0/24")).unwrap();
    assert_eq!(e.multipath, 2);
    assert_eq!(e.dest.best().peer, 1, "lower router id wins");
    assert_eq!(rib.len(), 1);
    // Both peers' paths share attribute sets only when equal: here the
    // next hops differ.
    assert_eq!(rib.attribute_sets(), 2);
    assert_eq!(
        rib.take_changes().to_vec(),
        vec![p("10.1.0.0/24"), p("10.1.0.0/24")]
    );
    // Withdraw from peer 1: peer 2's path remains best.
    let o = apply(&mut rib, 1, &update(&[], [0; 4], None, &[[10, 1, 0]], &[]));
    assert_eq!(o.withdrawn, 1);
    let e = rib.get(&p("10.1.0.0/24")).unwrap();
    assert_eq!((e.dest.best().peer, e.multipath), (2, 1));
    assert_eq!(rib.attribute_sets(), 1, "unused attribute set freed");
    // Peer 2 goes down: the prefix is gone.
    assert_eq!(rib.remove_peer(2), 1);
    assert!(rib.is_empty());
    assert_eq!(rib.attribute_sets(), 0);
}

#[test]
fn shorter_path_wins_alone() {
    let mut rib = Rib::new(65001);
    rib.add_peer(1, info("10.0.0.1", 65010), ImportPolicy::default());
    rib.add_peer(2, info("10.0.0.2", 65020), ImportPolicy::default());
    apply(
        &mut rib,
        1,
        &update(&[65010, 65011], [10, 0, 0, 1], None, &[], &[[10, 9, 0]]),
    );
    apply(
        &mut rib,
        2,
        &update(&[65020], [10, 0, 0, 2], None, &[], &[[10, 9, 0]]),
    );
    let e = rib.get(&p("10.9.0.0/24")).unwrap();
    assert_eq!((e.dest.best().peer, e.multipath), (2, 1));
    // Peer 2 re-announces with a longer path: peer 1 takes over.
    apply(
        &mut rib,
        2,
        &update(&[65020, 1, 2], [10, 0, 0, 2], None, &[], &[[10, 9, 0]]),
    );
    let e = rib.get(&p("10.9.0.0/24")).unwrap();
    assert_eq!(e.dest.best().peer, 1);
    assert_eq!(e.dest.paths().len(), 2);
}

#[test]
fn loops_and_import_policy_reject_and_withdraw() {
    let mut rib = Rib::new(65001);
    let policy = ImportPolicy {
        rules: vec![PrefixRule {
            prefix: p("10.66.0.0/16"),
            ge: 16,
            le: 32,
            verdict: Verdict::Reject,
        }],
        ..ImportPolicy::default()
    };
    rib.add_peer(1, info("10.0.0.1", 65010), policy);
    apply(
        &mut rib,
        1,
        &update(&[65010], [10, 0, 0, 1], None, &[], &[[10, 5, 0]]),
    );
    assert_eq!(rib.len(), 1);
    // The same prefix comes back with our AS in the path: withdrawn.
    let o = apply(
        &mut rib,
        1,
        &update(&[65010, 65001], [10, 0, 0, 1], None, &[], &[[10, 5, 0]]),
    );
    assert_eq!((o.rejected, o.withdrawn), (1, 1));
    assert!(rib.is_empty());
    let o = apply(
        &mut rib,
        1,
        &update(
            &[65010],
            [10, 0, 0, 1],
            None,
            &[],
            &[[10, 66, 1], [10, 7, 0]],
        ),
    );
    assert_eq!((o.rejected, o.announced), (1, 1));
    assert!(rib.get(&p("10.66.1.0/24")).is_none());
}

#[test]
fn max_prefix_actions() {
    let limit = |action| ImportPolicy {
        max_prefixes: Some(2),
        max_prefixes_action: action,
        ..ImportPolicy::default()
    };
    let three = update(
        &[65010],
        [10, 0, 0, 1],
        None,
        &[],
        &[[10, 0, 1], [10, 0, 2], [10, 0, 3]],
    );
    let mut rib = Rib::new(65001);
    rib.add_peer(1, info("10.0.0.1", 65010), limit(MaxPrefixAction::TearDown));
    let o = apply(&mut rib, 1, &three);
    let n = o.teardown.expect("tear-down");
    assert_eq!(
        n.code,
        ErrorCode::Cease(CeaseSubcode::MaximumNumberOfPrefixesReached)
    );
    assert_eq!(n.data, [0, 1, 1, 0, 0, 0, 2]);

    let mut rib = Rib::new(65001);
    rib.add_peer(
        1,
        info("10.0.0.1", 65010),
        limit(MaxPrefixAction::DropExcess),
    );
    let o = apply(&mut rib, 1, &three);
    assert_eq!((o.announced, o.rejected), (2, 1));
    assert_eq!(rib.accepted(1), 2);
    // Re-announcing a known prefix is still accepted at the limit.
    let o = apply(
        &mut rib,
        1,
        &update(&[65010], [10, 0, 0, 1], Some(5), &[], &[[10, 0, 1]]),
    );
    assert_eq!(o.announced, 1);

    let mut rib = Rib::new(65001);
    rib.add_peer(1, info("10.0.0.1", 65010), limit(MaxPrefixAction::Warn));
    let o = apply(&mut rib, 1, &three);
    assert!(o.max_prefix_warning && o.teardown.is_none());
    assert_eq!(rib.len(), 3);
}

#[test]
fn treat_as_withdraw_removes_the_announced_prefixes() {
    let mut rib = Rib::new(65001);
    rib.add_peer(1, info("10.0.0.1", 65010), ImportPolicy::default());
    apply(
        &mut rib,
        1,
        &update(&[65010], [10, 0, 0, 1], None, &[], &[[10, 5, 0]]),
    );
    // Same prefix, ORIGIN value 7: RFC 7606 treat-as-withdraw.
    let mut bad = update(&[65010], [10, 0, 0, 1], None, &[], &[[10, 5, 0]]);
    let origin_value = 19 + 2 + 2 + 3;
    bad[origin_value] = 7;
    let o = apply(&mut rib, 1, &bad);
    assert_eq!(o.withdrawn, 1);
    assert!(rib.is_empty());
}

#[test]
fn a_million_routes_share_one_attribute_set() {
    let mut rib = Rib::new(65001);
    rib.add_peer(1, info("10.1.1.4", 65515), ImportPolicy::default());
    let mut count = 0;
    for a in 0..=255u8 {
        let nlri: Vec<[u8; 3]> = (0..=255u8).map(|b| [11, a, b]).collect();
        for chunk in nlri.chunks(128) {
            let o = apply(
                &mut rib,
                1,
                &update(&[65515], [10, 1, 1, 4], None, &[], chunk),
            );
            count += o.announced;
        }
    }
    assert_eq!(count, 65536);
    assert_eq!(rib.len(), 65536);
    assert_eq!(rib.attribute_sets(), 1);
    assert_eq!(rib.remove_peer(1), 65536);
    assert!(rib.is_empty());
    // So many routes are freed in the background: their attribute set
    // goes once that is done.
    rib.settle();
    assert_eq!(rib.attribute_sets(), 0);
}

#[test]
fn graceful_restart_keeps_stale_paths_until_swept() {
    let mut rib = Rib::new(65001);
    rib.track_changes(true);
    rib.add_peer(1, info("10.1.1.4", 65515), ImportPolicy::default());
    rib.add_peer(2, info("10.1.1.5", 65515), ImportPolicy::default());
    apply(
        &mut rib,
        1,
        &update(
            &[65515],
            [10, 1, 1, 4],
            None,
            &[],
            &[[10, 1, 0], [10, 2, 0]],
        ),
    );
    apply(
        &mut rib,
        2,
        &update(&[65515], [10, 1, 1, 5], None, &[], &[[10, 1, 0]]),
    );
    rib.take_changes();
    // Peer 1 restarts: its paths stay, stale; nothing changes for routing.
    assert_eq!(rib.mark_stale(1, Families::IPV4_UNICAST), 2);
    assert!(rib.has_stale(1));
    assert_eq!(rib.len(), 2);
    assert!(rib.take_changes().is_empty());
    assert!(rib.get(&p("10.2.0.0/24")).unwrap().dest.best().stale);
    // Back up: it re-announces one prefix (no longer stale)...
    rib.add_peer(1, info("10.1.1.4", 65515), ImportPolicy::default());
    assert_eq!(rib.accepted(1), 2, "stale paths still counted");
    apply(
        &mut rib,
        1,
        &update(&[65515], [10, 1, 1, 4], None, &[], &[[10, 1, 0]]),
    );
    // ...then End-of-RIB: the one it did not re-send goes.
    assert_eq!(rib.sweep_stale(1, Families::IPV4_UNICAST), 1);
    assert!(!rib.has_stale(1));
    assert!(rib.get(&p("10.2.0.0/24")).is_none());
    assert_eq!(rib.get(&p("10.1.0.0/24")).unwrap().multipath, 2);
    assert_eq!(rib.accepted(1), 1);
    // Families not kept go at once.
    assert_eq!(
        rib.remove_families(2, Families::ALL.difference(Families::IPV6_UNICAST)),
        1
    );
    assert_eq!(rib.mark_stale(2, Families::IPV6_UNICAST), 0);
    assert_eq!(rib.get(&p("10.1.0.0/24")).unwrap().dest.paths().len(), 1);
}

#[test]
fn received_counts_what_the_peer_announces_now() {
    let mut rib = Rib::new(65001);
    let policy = ImportPolicy {
        rules: vec![PrefixRule {
            prefix: p("10.66.0.0/16"),
            ge: 16,
            le: 32,
            verdict: Verdict::Reject,
        }],
        ..ImportPolicy::default()
    };
    rib.add_peer(1, info("10.0.0.1", 65010), policy);
    let both = update(
        &[65010],
        [10, 0, 0, 1],
        None,
        &[],
        &[[10, 66, 1], [10, 7, 0]],
    );
    apply(&mut rib, 1, &both);
    assert_eq!((rib.received(1), rib.accepted(1)), (2, 1));
    // The same announcements again: still two.
    apply(&mut rib, 1, &both);
    assert_eq!(rib.received(1), 2);
    // Withdrawing the rejected one counts it out.
    apply(&mut rib, 1, &update(&[], [0; 4], None, &[[10, 66, 1]], &[]));
    assert_eq!((rib.received(1), rib.accepted(1)), (1, 1));
    rib.remove_peer(1);
    assert_eq!(rib.received(1), 0);
}

/// Random announcements, withdrawals and peers going down from four peers
/// (two in one neighboring AS, like Route Server instances) against a plain
/// model: every prefix keeps exactly the model's paths, ranked as a fresh
/// decision would rank them, with the accepted counts right, and every
/// change of a best path or multipath set is reported. Exercises the fast
/// paths (a second path joining, one of two leaving, whole buckets
/// dropped) against the general one.
#[test]
fn random_operations_keep_the_tables_ranked_and_the_changes_complete() {
    let asns = [65515, 65515, 65001, 65002];
    let mut rib = Rib::new(65000);
    rib.track_changes(true);
    for (i, asn) in asns.iter().enumerate() {
        rib.add_peer(
            i as PeerId + 1,
            info(&format!("10.9.0.{}", i + 1), *asn),
            ImportPolicy::default(),
        );
    }
    let prefixes: [[u8; 3]; 6] = [
        [10, 0, 0],
        [10, 0, 1],
        [10, 0, 2],
        [10, 1, 0],
        [10, 1, 1],
        [20, 0, 0],
    ];
    let pfx = |b: [u8; 3]| Prefix::V4(u32::from_be_bytes([b[0], b[1], b[2], 0]), 24);
    // The model: prefix -> peers with a path.
    let mut model: std::collections::BTreeMap<Prefix, std::collections::BTreeSet<PeerId>> =
        Default::default();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let sets = |rib: &Rib| -> std::collections::BTreeMap<Prefix, Vec<Path>> {
        rib.iter()
            .map(|(p, e)| (p, e.dest.paths()[..usize::from(e.multipath)].to_vec()))
            .collect()
    };
    for step in 0..1000 {
        let before = sets(&rib);
        let peer = rnd(4) as PeerId + 1;
        let asn = asns[usize::from(peer - 1)];
        match rnd(10) {
            0..=5 => {
                let chosen: Vec<[u8; 3]> =
                    prefixes.iter().copied().filter(|_| rnd(2) == 0).collect();
                let mut path = vec![asn];
                path.extend((0..rnd(2)).map(|i| 64600 + i as u32));
                let med = [None, Some(0), Some(5)][rnd(3) as usize];
                let nh = [10, 9, 0, peer as u8];
                apply(&mut rib, peer, &update(&path, nh, med, &[], &chosen));
                for c in chosen {
                    model.entry(pfx(c)).or_default().insert(peer);
                }
            }
            6..=8 => {
                let chosen: Vec<[u8; 3]> =
                    prefixes.iter().copied().filter(|_| rnd(2) == 0).collect();
                apply(&mut rib, peer, &update(&[], [0; 4], None, &chosen, &[]));
                for c in chosen {
                    if let Some(s) = model.get_mut(&pfx(c)) {
                        s.remove(&peer);
                    }
                }
            }
            _ => {
                rib.remove_peer(peer);
                rib.add_peer(
                    peer,
                    info(&format!("10.9.0.{peer}"), asn),
                    ImportPolicy::default(),
                );
                for s in model.values_mut() {
                    s.remove(&peer);
                }
            }
        }
        model.retain(|_, s| !s.is_empty());
        let changes: std::collections::BTreeSet<Prefix> = rib.take_changes().iter().collect();
        let after = sets(&rib);
        for (p, e) in rib.iter() {
            let peers: std::collections::BTreeSet<PeerId> =
                e.dest.paths().iter().map(|x| x.peer).collect();
            assert_eq!(Some(&peers), model.get(&p), "step {step}: paths of {p}");
            let fresh = rank(e.dest.paths().to_vec(), &rib.peers).unwrap();
            assert_eq!(
                fresh,
                (e.dest.clone(), e.multipath),
                "step {step}: ranking of {p}"
            );
        }
        assert_eq!(rib.len(), model.len(), "step {step}");
        for p in before.keys().chain(after.keys()) {
            if before.get(p) != after.get(p) {
                assert!(
                    changes.contains(p),
                    "step {step}: change of {p} not reported"
                );
            }
        }
        for id in 1..=4 {
            let n = model.values().filter(|s| s.contains(&id)).count();
            assert_eq!(
                rib.accepted(id) as usize,
                n,
                "step {step}: accepted of peer {id}"
            );
        }
    }
}
