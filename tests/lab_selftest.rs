//! Self-test of the namespace lab: the topology forwards through the
//! virtual router and cleans up after itself, and each real BGP daemon works
//! both as the pair of Route Server stand-ins and as the NVA-side speaker,
//! with the routes, next hops, AS paths and communities the nvabgp interop
//! tests will rely on.
//!
//! Needs root and the Debian packages bird2, frr, gobgpd, exabgp; skips
//! loudly without them (fails on CI).

mod common;

use std::net::Ipv4Addr;
use std::process::Command;

use common::{
    TAGGED, TAGGED_COMMUNITY, TAGGED_LARGE, TIMEOUT, VNET, VNET_COMMUNITY, check, lab_available,
    nva_options, prefix, route_server_options,
};
use nvabgp::lab::daemons::{
    Announcement, BgpSpeaker, Implementation, RouteServers, start_nva_speaker,
};
use nvabgp::lab::{Node, Topology, TopologyOptions, cleanup_leftovers};

fn namespaces_now() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn topology_forwards_through_the_virtual_router_and_cleans_up() {
    if !lab_available(
        "topology_forwards_through_the_virtual_router_and_cleans_up",
        &[],
    ) {
        return;
    }
    let topology = Topology::up(TopologyOptions::default()).unwrap();
    let names = topology.namespaces();
    assert_eq!(names.len(), 3);
    for name in &names {
        assert!(namespaces_now().contains(name), "{name} missing");
    }
    let [rs1, rs2] = topology.rs_addresses();
    assert!(topology.ping(Node::Nva, rs1).unwrap());
    assert!(topology.ping(Node::Nva, rs2).unwrap());
    assert!(
        topology
            .ping(Node::RouteServer, topology.nva_address())
            .unwrap()
    );
    // Nobody holds 10.1.1.9: ping must be able to fail.
    assert!(
        !topology
            .ping(Node::Nva, Ipv4Addr::new(10, 1, 1, 9))
            .unwrap()
    );

    // The path really goes through the virtual router: without forwarding
    // there, the Route Servers are unreachable.
    let route = topology
        .nva_exec(&["ip", "route", "get", &rs1.to_string()])
        .unwrap();
    let route = String::from_utf8_lossy(&route.stdout).to_string();
    assert!(route.contains("via 10.1.2.1 dev nva0"), "{route}");
    let off = topology
        .vr_exec(&["sysctl", "-qw", "net.ipv4.ip_forward=0"])
        .unwrap();
    assert!(off.status.success());
    assert!(!topology.ping(Node::Nva, rs1).unwrap());
    let on = topology
        .vr_exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        .unwrap();
    assert!(on.status.success());
    assert!(topology.ping(Node::Nva, rs1).unwrap());

    // A process left running inside goes with the namespace.
    let mut sleeper = topology
        .command(Node::RouteServer, "sleep")
        .arg("300")
        .spawn()
        .unwrap();
    topology.down().unwrap();
    let now = namespaces_now();
    for name in &names {
        assert!(!now.contains(name), "{name} left behind");
    }
    let status = sleeper.wait().unwrap();
    assert!(!status.success(), "the sleeper was not killed");
}

#[test]
fn leftovers_of_dead_runs_are_removed_and_live_ones_kept() {
    if !lab_available("leftovers_of_dead_runs_are_removed_and_live_ones_kept", &[]) {
        return;
    }
    // A PID that existed and is gone.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let abandoned = format!("nbl{dead}-0-nva");
    let status = Command::new("ip")
        .args(["netns", "add", &abandoned])
        .status()
        .unwrap();
    assert!(status.success());
    let live = Topology::up(TopologyOptions::default()).unwrap();
    // Topology::up cleaned up already; a second call finds nothing more.
    assert!(
        !namespaces_now().contains(&abandoned),
        "{abandoned} not removed"
    );
    let removed = cleanup_leftovers();
    assert!(!removed.iter().any(|n| live.namespaces().contains(n)));
    for name in live.namespaces() {
        assert!(namespaces_now().contains(&name), "live {name} removed");
    }
}

/// The whole exchange between Route Server stand-ins of `standin` and an
/// NVA-side speaker of `nva`, in a fresh topology.
fn interop(test: &str, standin: Implementation, nva: Implementation, password: Option<&str>) {
    if !lab_available(test, &[standin, nva]) {
        return;
    }
    let topology = Topology::up(TopologyOptions::default()).unwrap();
    let names = topology.namespaces();
    let nva_address = topology.nva_address();
    let rs_addresses = topology.rs_addresses();
    let mut rs_options = route_server_options();
    rs_options.password = password.map(str::to_string);
    let mut nva_speaker_options = nva_options();
    nva_speaker_options.password = password.map(str::to_string);

    let mut rs = RouteServers::start(standin, &topology, &rs_options).unwrap();
    let mut speaker = start_nva_speaker(nva, &topology, &nva_speaker_options).unwrap();
    let pids: Vec<u32> = rs
        .instances()
        .iter()
        .flat_map(|i| i.pids())
        .chain(speaker.pids())
        .collect();
    assert!(!pids.is_empty());
    let logs = |rs: &RouteServers, speaker: &dyn BgpSpeaker| {
        format!("{}\n{}", rs.diagnostics(), speaker.diagnostics())
    };

    // Both sessions come up, seen from both sides.
    check(rs.wait_established(TIMEOUT), || logs(&rs, &*speaker));
    for address in rs_addresses {
        check(speaker.wait_established(address, TIMEOUT), || {
            logs(&rs, &*speaker)
        });
    }

    // The NVA's routes reach both instances with the NVA as next hop and
    // its AS as path.
    let default_route = prefix("0.0.0.0/0");
    for route in check(rs.wait_route(default_route, TIMEOUT), || {
        logs(&rs, &*speaker)
    }) {
        assert_eq!(route.next_hop, nva_address, "{route:?}");
        assert_eq!(route.as_path, vec![65001], "{route:?}");
        assert!(route.communities.is_empty(), "{route:?}");
    }
    for route in check(rs.wait_route(prefix(TAGGED), TIMEOUT), || {
        logs(&rs, &*speaker)
    }) {
        assert_eq!(route.next_hop, nva_address, "{route:?}");
        assert_eq!(route.as_path, vec![65001], "{route:?}");
        assert_eq!(route.communities, vec![TAGGED_COMMUNITY], "{route:?}");
        assert_eq!(route.large_communities, vec![TAGGED_LARGE], "{route:?}");
    }

    // The VNet prefix reaches the NVA from each instance, next hop = that
    // instance, AS path 65515, as from Azure Route Server.
    let vnet = prefix(VNET);
    for address in rs_addresses {
        let route = check(speaker.wait_route(address, vnet, TIMEOUT), || {
            logs(&rs, &*speaker)
        });
        assert_eq!(route.next_hop, address, "{route:?}");
        assert_eq!(route.as_path, vec![65515], "{route:?}");
        assert_eq!(route.communities, vec![VNET_COMMUNITY], "{route:?}");
    }

    // Runtime announcement on both instances, with a third-party next hop.
    let spoke = prefix("10.2.0.0/16");
    let firewall = Ipv4Addr::new(10, 1, 1, 10);
    check(
        rs.announce(&Announcement::new(spoke).with_next_hop(firewall)),
        || logs(&rs, &*speaker),
    );
    for address in rs_addresses {
        let route = check(speaker.wait_route(address, spoke, TIMEOUT), || {
            logs(&rs, &*speaker)
        });
        assert_eq!(route.next_hop, firewall, "{route:?}");
    }

    // Runtime withdrawal on one instance only.
    let first = rs.instance_mut(0).unwrap();
    let withdrawn = first.withdraw(vnet);
    check(withdrawn, || first.diagnostics());
    check(
        speaker.wait_route_gone(rs_addresses[0], vnet, TIMEOUT),
        || logs(&rs, &*speaker),
    );
    let routes = speaker.received_routes(rs_addresses[1]).unwrap();
    assert!(routes.iter().any(|r| r.prefix == vnet), "{routes:?}");
    assert!(
        rs.instances()[0]
            .announcements()
            .iter()
            .all(|a| a.prefix != vnet)
    );

    // Runtime withdrawal at the NVA side reaches both instances; the other
    // route stays.
    check(speaker.withdraw(default_route), || logs(&rs, &*speaker));
    check(rs.wait_route_gone(default_route, TIMEOUT), || {
        logs(&rs, &*speaker)
    });
    for instance in rs.instances() {
        let routes = instance.received_routes(nva_address).unwrap();
        assert_eq!(
            routes.iter().map(|r| r.prefix).collect::<Vec<_>>(),
            vec![prefix(TAGGED)],
            "{}",
            instance.config().name
        );
    }

    // A next-hop change at the NVA side (the "next hop IP" pattern): one
    // replacement, seen by both instances with the communities kept.
    let backend = Ipv4Addr::new(10, 1, 2, 10);
    let moved = Announcement::new(prefix(TAGGED))
        .with_next_hop(backend)
        .with_community(TAGGED_COMMUNITY)
        .with_large_community(TAGGED_LARGE);
    check(speaker.announce(moved), || logs(&rs, &*speaker));
    for instance in rs.instances() {
        let route = check(
            instance.wait_route_where(
                nva_address,
                prefix(TAGGED),
                &|r| r.next_hop == backend,
                TIMEOUT,
            ),
            || logs(&rs, &*speaker),
        );
        assert_eq!(route.as_path, vec![65001], "{route:?}");
        assert_eq!(route.communities, vec![TAGGED_COMMUNITY], "{route:?}");
        assert_eq!(route.large_communities, vec![TAGGED_LARGE], "{route:?}");
    }

    // kill -9 of the second instance drops its session only; after a
    // restart it comes back with its routes.
    let second = rs.instance_mut(1).unwrap();
    second.kill();
    assert!(!second.is_running());
    check(
        speaker.wait_session(rs_addresses[1], false, TIMEOUT),
        || logs(&rs, &*speaker),
    );
    assert!(
        speaker
            .session_state(rs_addresses[0])
            .unwrap()
            .is_established()
    );
    let second = rs.instance_mut(1).unwrap();
    let restarted = second.start();
    check(restarted, || second.diagnostics());
    check(speaker.wait_established(rs_addresses[1], TIMEOUT), || {
        logs(&rs, &*speaker)
    });
    for p in [vnet, spoke] {
        check(speaker.wait_route(rs_addresses[1], p, TIMEOUT), || {
            logs(&rs, &*speaker)
        });
    }
    check(
        rs.instances()[1].wait_route(nva_address, prefix(TAGGED), TIMEOUT),
        || logs(&rs, &*speaker),
    );
    let pids: Vec<u32> = pids
        .into_iter()
        .chain(rs.instances().iter().flat_map(|i| i.pids()))
        .collect();

    // A graceful stop (SIGTERM) of the first instance also takes its
    // session down.
    let first = rs.instance_mut(0).unwrap();
    first.stop();
    assert!(!first.is_running());
    check(
        speaker.wait_session(rs_addresses[0], false, TIMEOUT),
        || logs(&rs, &*speaker),
    );

    drop(speaker);
    drop(rs);
    drop(topology);
    let now = namespaces_now();
    for name in &names {
        assert!(!now.contains(name), "{name} left behind");
    }
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} left behind"
        );
    }
}

#[test]
fn bird_route_servers() {
    interop(
        "bird_route_servers",
        Implementation::Bird,
        Implementation::Bird,
        None,
    );
}

#[test]
fn frr_route_servers() {
    interop(
        "frr_route_servers",
        Implementation::Frr,
        Implementation::Bird,
        None,
    );
}

#[test]
fn gobgp_route_servers() {
    interop(
        "gobgp_route_servers",
        Implementation::Gobgp,
        Implementation::Bird,
        None,
    );
}

#[test]
fn exabgp_route_servers() {
    interop(
        "exabgp_route_servers",
        Implementation::Exabgp,
        Implementation::Bird,
        None,
    );
}

#[test]
fn gobgp_nva_speaker_with_md5() {
    interop(
        "gobgp_nva_speaker_with_md5",
        Implementation::Bird,
        Implementation::Gobgp,
        Some("lab-md5-key"),
    );
}

#[test]
fn frr_nva_speaker() {
    interop(
        "frr_nva_speaker",
        Implementation::Bird,
        Implementation::Frr,
        None,
    );
}

#[test]
fn exabgp_nva_speaker() {
    interop(
        "exabgp_nva_speaker",
        Implementation::Bird,
        Implementation::Exabgp,
        None,
    );
}
