//! Route origination with health checks: the configuration keys, the pure
//! decision engine driven with explicit timestamps (rise/fall, maintenance,
//! VIP failover order, preempt, min hold, exact events), the probes against
//! local listeners on 127.0.0.1, and the running origin task end to end.
//!
//! No assertion depends on how fast the machine is: time-dependent rules
//! are checked on the pure engine with explicit timestamps; the real-time
//! tests assert the sequence of events (and only lower bounds of time).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use bgp_proto::Prefix;
use nvabgp::config::{Config, NextHopConfig, RouteConfig};
use nvabgp::control::HealthState;
use nvabgp::origin::tls::Tls;
use nvabgp::origin::{
    Engine, OriginEvent, OriginKind, OriginRoute, Outcome, Probe, Report, probe, spawn,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

// ---- Helpers ----------------------------------------------------------------

const HEAD: &str = "asn = 65001\nrouter_id = \"10.1.2.4\"\n";

fn config(routes: &str) -> Config {
    Config::parse(&format!("{HEAD}{routes}")).unwrap_or_else(|e| panic!("{e}\n{routes}"))
}

fn config_err(routes: &str) -> String {
    Config::parse(&format!("{HEAD}{routes}"))
        .map(|_| panic!("accepted:\n{routes}"))
        .unwrap_err()
        .to_string()
}

fn prefix(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn addr(s: &str) -> NextHopConfig {
    NextHopConfig::Address(s.parse().unwrap())
}

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn pass() -> Report {
    Report {
        outcome: Outcome::Pass,
        detail: "ok".into(),
    }
}

fn fail() -> Report {
    Report {
        outcome: Outcome::Fail,
        detail: "connection refused".into(),
    }
}

fn maintenance() -> Report {
    Report {
        outcome: Outcome::Maintenance,
        detail: "maintenance file present".into(),
    }
}

/// The route of an event, which must be about `p`.
fn set(events: &[OriginEvent], p: Prefix) -> Vec<Option<RouteConfig>> {
    events
        .iter()
        .map(|OriginEvent::Set { prefix, route }| {
            assert_eq!(*prefix, p);
            route.clone()
        })
        .collect()
}

/// The next hops of a VIP's events (`None`: withdrawn).
fn next_hops(events: &[OriginEvent]) -> Vec<Option<NextHopConfig>> {
    events
        .iter()
        .map(|OriginEvent::Set { route, .. }| route.as_ref().map(|r| r.next_hop))
        .collect()
}

const ANYCAST: &str = r#"
[[route]]
kind = "anycast"
prefix = "9.9.9.9/32"
communities = ["65001:100"]
[route.check]
tcp = "127.0.0.1:1"
rise = 2
fall = 3
"#;

/// A VIP with three candidates: .10 (priority 200), .11 (100), .12 (100,
/// listed after .11).
fn vip(preempt: bool, min_hold: u32) -> String {
    format!(
        r#"
[[route]]
kind = "next-hop-ip"
prefix = "100.64.0.1/32"
preempt = {preempt}
min_hold = {min_hold}
med = 5
[[route.candidate]]
next_hop = "10.1.2.10"
priority = 200
[route.candidate.check]
tcp = "10.1.2.10:80"
rise = 1
fall = 1
[[route.candidate]]
next_hop = "10.1.2.11"
priority = 100
[route.candidate.check]
tcp = "10.1.2.11:80"
rise = 1
fall = 1
[[route.candidate]]
next_hop = "10.1.2.12"
priority = 100
[route.candidate.check]
tcp = "10.1.2.12:80"
rise = 1
fall = 1
"#
    )
}

fn engine(routes: &str) -> Engine {
    Engine::new(config(routes).health_routes)
}

// ---- Configuration ----------------------------------------------------------

#[test]
fn a_route_without_kind_stays_static() {
    let c = config(
        "[[route]]\nprefix = \"0.0.0.0/0\"\n[[route]]\nkind = \"static\"\nprefix = \"10.0.0.0/8\"\n",
    );
    assert_eq!(c.routes.len(), 2);
    assert!(c.health_routes.is_empty());
    assert_eq!(c.routes[0].next_hop, NextHopConfig::Own);
}

#[test]
fn gated_routes_are_parsed_with_defaults() {
    let c = config(&format!("{ANYCAST}{}", vip(true, 30)));
    assert!(c.routes.is_empty());
    let [anycast, vip] = &c.health_routes[..] else {
        panic!("{:?}", c.health_routes);
    };
    assert_eq!(anycast.route.prefix, prefix("9.9.9.9/32"));
    let OriginKind::Anycast {
        check,
        failure_prepend,
    } = &anycast.kind
    else {
        panic!("{anycast:?}");
    };
    assert_eq!(*failure_prepend, None);
    assert_eq!(check.name, "9.9.9.9/32");
    assert_eq!((check.rise, check.fall), (2, 3));
    assert_eq!(check.interval, Duration::from_secs(2));
    assert_eq!(check.timeout, Duration::from_secs(1));
    let OriginKind::NextHopIp(v) = &vip.kind else {
        panic!("{vip:?}");
    };
    assert!(v.preempt);
    assert_eq!(v.min_hold, Duration::from_secs(30));
    assert_eq!(v.candidates.len(), 3);
    assert_eq!(v.candidates[0].next_hop, addr("10.1.2.10"));
    assert_eq!(v.candidates[0].check.name, "100.64.0.1/32 via 10.1.2.10");
    assert_eq!(vip.route.med, Some(5));
}

#[test]
fn http_and_exec_checks_parse() {
    let c = config(
        r#"
[[route]]
kind = "anycast"
prefix = "9.9.9.9/32"
[route.check]
http = "https://10.0.0.1:8443/health"
host = "web.example"
tls_verify = false
expect_status = 204
[[route]]
kind = "anycast"
prefix = "9.9.9.8/32"
[route.check]
exec = ["sh", "-c", "exit 0"]
interval = 0.5
timeout = 0.5
maintenance_file = "/run/drain"
"#,
    );
    let checks: Vec<_> = c.health_routes.iter().flat_map(|r| r.checks()).collect();
    let Probe::Http(h) = &checks[0].probe else {
        panic!("{:?}", checks[0]);
    };
    assert!(h.tls && !h.tls_verify);
    assert_eq!(
        (h.host.as_str(), h.port, h.path.as_str()),
        ("10.0.0.1", 8443, "/health")
    );
    assert_eq!(
        (h.host_header.as_str(), h.server_name.as_str()),
        ("web.example", "web.example")
    );
    assert_eq!(h.expect_status, 204);
    assert_eq!(checks[0].probe.kind(), "https");
    assert_eq!(checks[1].probe.kind(), "exec");
    assert_eq!(checks[1].probe.target(), "sh -c exit 0");
    assert_eq!(
        checks[1].maintenance_file,
        Some(PathBuf::from("/run/drain"))
    );
}

#[test]
fn configuration_errors_say_what_to_fix() {
    let cases = [
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"anycast\"\n",
            "needs a [route.check]",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"unicast\"\n",
            "\"next-hop-ip\"",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\n[route.check]\ntcp = \"h:1\"\n",
            "does not apply",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"anycast\"\n[route.check]\ntcp = \"h:1\"\nexec = [\"true\"]\n",
            "exactly one",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"anycast\"\n[route.check]\ntcp = \"h\"\n",
            "host:port",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"anycast\"\n[route.check]\nexec = []\n",
            "needs a program",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"anycast\"\n[route.check]\ntcp = \"h:1\"\nexpect_status = 200\n",
            "only applies to http",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"anycast\"\n[route.check]\nhttp = \"http://h/\"\ntls_verify = false\n",
            "https://",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"anycast\"\n[route.check]\ntcp = \"h:1\"\ninterval = 1\ntimeout = 2\n",
            "longer than interval",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"anycast\"\n[route.check]\ntcp = \"h:1\"\nrise = 0\n",
            "rise = 0",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"anycast\"\nprepend = 30\nfailure_prepend = 3\n[route.check]\ntcp = \"h:1\"\n",
            "at most 32",
        ),
        (
            "[[route]]\nprefix = \"100.64.0.1/32\"\nkind = \"next-hop-ip\"\n",
            "at least one [[route.candidate]]",
        ),
        (
            "[[route]]\nprefix = \"100.64.0.1/32\"\nkind = \"next-hop-ip\"\nnext_hop = \"10.1.2.10\"\n",
            "not `next_hop`",
        ),
        (
            "[[route]]\nprefix = \"100.64.0.1/32\"\nkind = \"next-hop-ip\"\n[[route.candidate]]\nnext_hop = \"10.1.2.10\"\n",
            "needs a [route.candidate.check]",
        ),
        (
            "[[route]]\nprefix = \"100.64.0.1/32\"\nkind = \"next-hop-ip\"\n[[route.candidate]]\nnext_hop = \"2001:db8::1\"\n[route.candidate.check]\ntcp = \"h:1\"\n",
            "address family",
        ),
        (
            "[[route]]\nprefix = \"100.64.0.1/32\"\nkind = \"next-hop-ip\"\n[[route.candidate]]\nnext_hop = \"10.1.2.10\"\n[route.candidate.check]\ntcp = \"h:1\"\n[[route.candidate]]\nnext_hop = \"10.1.2.10\"\n[route.candidate.check]\ntcp = \"h:2\"\n",
            "listed twice",
        ),
        (
            "[[route]]\nprefix = \"100.64.0.1/32\"\nkind = \"next-hop-ip\"\nmin_hold = -1\n[[route.candidate]]\nnext_hop = \"10.1.2.10\"\n[route.candidate.check]\ntcp = \"h:1\"\n",
            "min_hold",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"anycast\"\n[route.check]\nname = \"x\"\ntcp = \"h:1\"\n[[route]]\nprefix = \"9.9.9.8/32\"\nkind = \"anycast\"\n[route.check]\nname = \"x\"\ntcp = \"h:1\"\n",
            "used twice",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\n[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"anycast\"\n[route.check]\ntcp = \"h:1\"\n",
            "configured twice",
        ),
        (
            "[[route]]\nprefix = \"9.9.9.9/32\"\nkind = \"anycast\"\n[route.check]\ntcp = \"h:1\"\nbogus = 1\n",
            "bogus",
        ),
    ];
    for (text, expected) in cases {
        let e = config_err(text);
        assert!(e.contains(expected), "{text}\n→ {e}\nexpected: {expected}");
    }
}

#[test]
fn the_examples_are_valid() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let load = |name: &str| {
        Config::load(&dir.join(name)).unwrap_or_else(|e| panic!("examples/{name}: {e}"))
    };
    let firewall = load("firewall-default-route.toml");
    assert_eq!(firewall.routes[0].prefix, prefix("0.0.0.0/0"));
    assert!(firewall.health_routes.is_empty());

    let primary = load("anycast-haproxy-primary.toml");
    let secondary = load("anycast-haproxy-secondary.toml");
    for c in [&primary, &secondary] {
        assert_eq!(c.health_routes[0].route.prefix, prefix("9.9.9.9/32"));
    }
    // The secondary region's path is longer, and stays as a backup.
    assert!(secondary.health_routes[0].route.prepend > primary.health_routes[0].route.prepend);
    assert!(matches!(
        secondary.health_routes[0].kind,
        OriginKind::Anycast {
            failure_prepend: Some(_),
            ..
        }
    ));

    let vip = load("next-hop-ip-vip.toml");
    let OriginKind::NextHopIp(v) = &vip.health_routes[0].kind else {
        panic!("{:?}", vip.health_routes);
    };
    let kinds: Vec<&str> = v.candidates.iter().map(|c| c.check.probe.kind()).collect();
    assert_eq!(kinds, ["https", "tcp", "exec"]);
    assert_eq!(v.candidates[2].next_hop, NextHopConfig::Own);
}

// ---- The engine, explicit timestamps ------------------------------------------

#[test]
fn static_routes_are_announced_at_start_and_never_again() {
    let c = config("[[route]]\nprefix = \"0.0.0.0/0\"\n");
    let route = c.routes[0].clone();
    let mut e = Engine::new(vec![OriginRoute {
        route: route.clone(),
        kind: OriginKind::Static,
    }]);
    let t0 = Instant::now();
    assert_eq!(set(&e.start(t0), route.prefix), [Some(route.clone())]);
    assert_eq!(e.checks().count(), 0);
    assert!(e.on_timer(at(t0, 100_000)).is_empty());
    assert_eq!(e.deadline(), None);
}

#[test]
fn anycast_respects_rise_and_fall() {
    let mut e = engine(ANYCAST);
    let p = prefix("9.9.9.9/32");
    let t0 = Instant::now();
    // Withdrawn (nothing sent) until `rise` passes.
    assert!(e.start(t0).is_empty());
    assert!(e.on_report(0, pass(), at(t0, 1)).is_empty());
    let up = set(&e.on_report(0, pass(), at(t0, 2)), p);
    let announced = up[0].clone().unwrap();
    assert_eq!(announced.prefix, p);
    assert_eq!(announced.prepend, 0);
    assert_eq!(announced.communities.len(), 1);
    // More passes: nothing.
    assert!(e.on_report(0, pass(), at(t0, 3)).is_empty());
    // fall = 3: two failures and a pass reset the count.
    for ms in [4, 5] {
        assert!(e.on_report(0, fail(), at(t0, ms)).is_empty());
    }
    assert!(e.on_report(0, pass(), at(t0, 6)).is_empty());
    for ms in [7, 8] {
        assert!(e.on_report(0, fail(), at(t0, ms)).is_empty());
    }
    assert_eq!(set(&e.on_report(0, fail(), at(t0, 9)), p), [None]);
    assert!(e.on_report(0, fail(), at(t0, 10)).is_empty());
    // Back after exactly `rise` passes, with the same attributes.
    assert!(e.on_report(0, pass(), at(t0, 11)).is_empty());
    assert_eq!(
        set(&e.on_report(0, pass(), at(t0, 12)), p),
        [Some(announced)]
    );
    let health = e.health();
    assert_eq!(health[0].state, HealthState::Up);
    assert_eq!(health[0].last_change, Some(at(t0, 12)));
    assert_eq!(health[0].kind, "tcp");
}

#[test]
fn anycast_with_failure_prepend_stays_as_a_backup_path() {
    let mut e = engine(&ANYCAST.replace(
        "communities",
        "prepend = 1\nfailure_prepend = 3\ncommunities",
    ));
    let p = prefix("9.9.9.9/32");
    let t0 = Instant::now();
    // At start, unproven: announced as the backup path.
    let start = set(&e.start(t0), p);
    assert_eq!(start.len(), 1);
    assert_eq!(start[0].as_ref().map(|r| r.prepend), Some(4));
    // The first failure confirms the state: no event.
    assert!(e.on_report(0, fail(), at(t0, 1)).is_empty());
    e.on_report(0, pass(), at(t0, 2));
    let up = set(&e.on_report(0, pass(), at(t0, 3)), p);
    assert_eq!(up[0].as_ref().map(|r| r.prepend), Some(1));
    for ms in [4, 5] {
        assert!(e.on_report(0, fail(), at(t0, ms)).is_empty());
    }
    let down = set(&e.on_report(0, fail(), at(t0, 6)), p);
    assert_eq!(down[0].as_ref().map(|r| r.prepend), Some(4));
}

#[test]
fn maintenance_drains_at_once_and_returns_after_rise() {
    let mut e = engine(ANYCAST);
    let p = prefix("9.9.9.9/32");
    let t0 = Instant::now();
    e.start(t0);
    e.on_report(0, pass(), at(t0, 1));
    assert_eq!(set(&e.on_report(0, pass(), at(t0, 2)), p).len(), 1);
    // fall = 3, yet one maintenance result withdraws.
    assert_eq!(set(&e.on_report(0, maintenance(), at(t0, 3)), p), [None]);
    assert!(e.on_report(0, maintenance(), at(t0, 4)).is_empty());
    assert_eq!(
        e.health()[0].detail.as_deref(),
        Some("maintenance file present")
    );
    // File removed: `rise` passes again.
    assert!(e.on_report(0, pass(), at(t0, 5)).is_empty());
    assert!(set(&e.on_report(0, pass(), at(t0, 6)), p)[0].is_some());
}

#[test]
fn vip_fails_over_in_priority_then_configuration_order() {
    let mut e = engine(&vip(false, 30));
    let t0 = Instant::now();
    assert!(e.start(t0).is_empty());
    // Lower candidates pass first: nothing until the primary has a result.
    assert!(e.on_report(2, pass(), at(t0, 1)).is_empty());
    assert!(e.on_report(1, pass(), at(t0, 2)).is_empty());
    let first = e.on_report(0, pass(), at(t0, 3));
    assert_eq!(next_hops(&first), [Some(addr("10.1.2.10"))]);
    let OriginEvent::Set { route, .. } = &first[0];
    assert_eq!(route.as_ref().map(|r| r.med), Some(Some(5)));
    // Each failure of the active candidate: one event, the next in rank.
    assert_eq!(
        next_hops(&e.on_report(0, fail(), at(t0, 4))),
        [Some(addr("10.1.2.11"))]
    );
    assert_eq!(
        next_hops(&e.on_report(1, fail(), at(t0, 5))),
        [Some(addr("10.1.2.12"))]
    );
    // A failure of a candidate that is not active changes nothing.
    assert!(e.on_report(1, fail(), at(t0, 6)).is_empty());
    assert_eq!(next_hops(&e.on_report(2, fail(), at(t0, 7))), [None]);
    assert!(e.on_report(2, fail(), at(t0, 8)).is_empty());
    // One back: announced at once (no hold after a withdraw).
    assert_eq!(
        next_hops(&e.on_report(1, pass(), at(t0, 9))),
        [Some(addr("10.1.2.11"))]
    );
    // No preempt: the recovered primary does not take over...
    assert!(e.on_report(0, pass(), at(t0, 10)).is_empty());
    assert_eq!(e.deadline(), None);
    assert!(e.on_timer(at(t0, 1_000_000)).is_empty());
    // ...until the active one fails.
    assert_eq!(
        next_hops(&e.on_report(1, fail(), at(t0, 1_000_001))),
        [Some(addr("10.1.2.10"))]
    );
}

#[test]
fn vip_preemption_waits_for_min_hold_then_happens_once() {
    let mut e = engine(&vip(true, 30));
    let t0 = Instant::now();
    e.start(t0);
    e.on_report(1, pass(), at(t0, 0));
    e.on_report(2, pass(), at(t0, 0));
    assert_eq!(
        next_hops(&e.on_report(0, pass(), at(t0, 0))),
        [Some(addr("10.1.2.10"))]
    );
    // Failover at 1 s: immediate.
    assert_eq!(
        next_hops(&e.on_report(0, fail(), at(t0, 1_000))),
        [Some(addr("10.1.2.11"))]
    );
    // Primary back at 2 s: held until 31 s.
    assert!(e.on_report(0, pass(), at(t0, 2_000)).is_empty());
    assert_eq!(e.deadline(), Some(at(t0, 31_000)));
    for ms in [2_001, 10_000, 30_999] {
        assert!(e.on_timer(at(t0, ms)).is_empty(), "at {ms} ms");
        assert!(e.on_report(0, pass(), at(t0, ms)).is_empty(), "at {ms} ms");
    }
    assert_eq!(
        next_hops(&e.on_timer(at(t0, 31_000))),
        [Some(addr("10.1.2.10"))]
    );
    assert_eq!(e.deadline(), None);
    assert!(e.on_timer(at(t0, 62_000)).is_empty());
    assert!(e.on_report(1, pass(), at(t0, 62_001)).is_empty());
}

#[test]
fn vip_flapping_primary_moves_the_route_at_most_twice_per_hold() {
    // The primary flaps every second for two minutes; the route moves
    // away at once each time it fails, but back only once per 30 s.
    let mut e = engine(&vip(true, 30));
    let t0 = Instant::now();
    e.start(t0);
    e.on_report(1, pass(), t0);
    e.on_report(2, pass(), t0);
    let mut changes = next_hops(&e.on_report(0, pass(), t0));
    for s in 1..=120u64 {
        let t = at(t0, s * 1_000);
        let report = if s % 2 == 1 { fail() } else { pass() };
        changes.extend(next_hops(&e.on_report(0, report, t)));
        changes.extend(next_hops(&e.on_timer(t)));
    }
    // Never two events in a row with the same next hop, never a withdraw.
    assert!(changes.windows(2).all(|w| w[0] != w[1]), "{changes:?}");
    assert!(changes.iter().all(Option::is_some), "{changes:?}");
    let back_to_primary = changes
        .iter()
        .skip(1)
        .filter(|c| **c == Some(addr("10.1.2.10")))
        .count();
    assert!(back_to_primary <= 4, "{back_to_primary}: {changes:?}");
    assert!(back_to_primary >= 3, "{back_to_primary}: {changes:?}");
}

#[test]
fn vip_events_are_exact_under_repeated_results() {
    let mut e = engine(&vip(true, 0));
    let t0 = Instant::now();
    let mut all = e.start(t0);
    let mut t = 0;
    let mut feed = |e: &mut Engine, id: usize, r: Report, all: &mut Vec<OriginEvent>| {
        t += 1;
        all.extend(e.on_report(id, r, at(t0, t)));
        all.extend(e.on_timer(at(t0, t)));
    };
    for _ in 0..5 {
        for id in 0..3 {
            feed(&mut e, id, pass(), &mut all);
        }
    }
    for _ in 0..5 {
        feed(&mut e, 0, fail(), &mut all);
        feed(&mut e, 1, pass(), &mut all);
    }
    for _ in 0..5 {
        feed(&mut e, 1, fail(), &mut all);
        feed(&mut e, 2, fail(), &mut all);
    }
    for _ in 0..5 {
        feed(&mut e, 0, pass(), &mut all);
    }
    assert_eq!(
        next_hops(&all),
        [
            Some(addr("10.1.2.10")),
            Some(addr("10.1.2.11")),
            Some(addr("10.1.2.12")),
            None,
            Some(addr("10.1.2.10")),
        ]
    );
}

#[test]
fn vip_with_self_candidate_announces_own_next_hop() {
    let mut e = engine(
        r#"
[[route]]
kind = "next-hop-ip"
prefix = "100.64.0.2/32"
[[route.candidate]]
next_hop = "self"
[route.candidate.check]
exec = ["true"]
rise = 1
"#,
    );
    let t0 = Instant::now();
    e.start(t0);
    assert_eq!(
        next_hops(&e.on_report(0, pass(), t0)),
        [Some(NextHopConfig::Own)]
    );
}

// ---- Probes against local listeners ---------------------------------------------

/// A TCP listener on 127.0.0.1 that accepts (and closes) connections
/// until stopped; can start again on the same port.
struct Backend {
    address: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Backend {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut b = Self {
            address,
            task: None,
        };
        b.serve(listener);
        b
    }

    fn serve(&mut self, listener: TcpListener) {
        self.task = Some(tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                drop(s);
            }
        }));
    }

    async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.address).await.unwrap();
        self.serve(listener);
    }

    fn target(&self) -> String {
        self.address.to_string()
    }
}

/// A tiny HTTP server answering every request with the current status.
async fn http_server(status: Arc<AtomicU16>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let status = status.load(Ordering::Relaxed);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 512];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                // The probe's request must be well formed.
                assert!(text.starts_with("GET /health?x=1 HTTP/1.1\r\n"), "{text}");
                assert!(text.contains("\r\nHost: "), "{text}");
                let answer = format!(
                    "HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    address
}

fn tcp_probe(target: &str) -> Probe {
    Probe::Tcp {
        target: target.to_string(),
    }
}

fn exec_probe(argv: &[&str]) -> Probe {
    Probe::Exec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
    }
}

/// The probe of the single check of an anycast route with check `check`.
fn check_probe(check: &str) -> Probe {
    let c = config(&format!(
        "[[route]]\nkind = \"anycast\"\nprefix = \"9.9.9.9/32\"\n[route.check]\n{check}\n"
    ));
    c.health_routes[0].checks()[0].probe.clone()
}

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn tcp_probe_follows_the_listener() {
    let mut b = Backend::start().await;
    let p = tcp_probe(&b.target());
    assert_eq!(
        probe::run(&p, T, &Tls::none()).await,
        Ok("connected".into())
    );
    b.stop().await;
    let e = probe::run(&p, T, &Tls::none()).await.unwrap_err();
    assert!(e.contains("refused"), "{e}");
    b.restart().await;
    assert!(probe::run(&p, T, &Tls::none()).await.is_ok());
}

#[tokio::test]
async fn http_probe_checks_the_status() {
    let status = Arc::new(AtomicU16::new(200));
    let address = http_server(status.clone()).await;
    let p = check_probe(&format!("http = \"http://{address}/health?x=1\""));
    let tls = match &p {
        Probe::Http(h) => Tls::for_probe(h),
        _ => unreachable!(),
    };
    assert_eq!(probe::run(&p, T, &tls).await, Ok("HTTP 200".into()));
    status.store(503, Ordering::Relaxed);
    assert_eq!(
        probe::run(&p, T, &tls).await,
        Err("HTTP 503, expected 200".into())
    );
    let p503 = check_probe(&format!(
        "http = \"http://{address}/health?x=1\"\nexpect_status = 503"
    ));
    assert!(probe::run(&p503, T, &tls).await.is_ok());
}

#[tokio::test]
async fn http_probe_fails_on_a_server_that_does_not_speak_http() {
    // Accepts, then closes without a word.
    let b = Backend::start().await;
    let p = check_probe(&format!("http = \"http://{}/\"", b.address));
    let e = probe::run(&p, T, &Tls::none()).await.unwrap_err();
    assert!(
        e.contains("without an answer") || e.contains("reset"),
        "{e}"
    );
    // Answers something else.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
        }
    });
    let p = check_probe(&format!("http = \"http://{address}/\""));
    let e = probe::run(&p, T, &Tls::none()).await.unwrap_err();
    assert!(e.contains("not an HTTP/1.x status line"), "{e}");
}

#[tokio::test]
async fn http_probe_times_out_on_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    // Accepts and holds connections open without answering.
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
        }
    });
    let p = check_probe(&format!("http = \"http://{address}/\""));
    let e = probe::run(&p, Duration::from_millis(100), &Tls::none())
        .await
        .unwrap_err();
    assert_eq!(e, "no answer within 100 ms");
    held.abort();
}

#[tokio::test]
async fn exec_probe_uses_the_exit_code() {
    assert_eq!(
        probe::run(&exec_probe(&["true"]), T, &Tls::none()).await,
        Ok("exit status 0".into())
    );
    assert_eq!(
        probe::run(&exec_probe(&["false"]), T, &Tls::none()).await,
        Err("exit status 1".into())
    );
    // No shell: the metacharacters are one argument of `test`.
    assert!(
        probe::run(&exec_probe(&["test", "a", "=", "a;false"]), T, &Tls::none())
            .await
            .is_err()
    );
    let e = probe::run(&exec_probe(&["/nonexistent/check"]), T, &Tls::none())
        .await
        .unwrap_err();
    assert!(e.contains("cannot run /nonexistent/check"), "{e}");
}

/// The state letter of `pid` in /proc (`None`: the process is gone).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim().chars().next()
}

#[tokio::test]
async fn exec_probe_kills_the_whole_command_on_timeout() {
    let dir = std::env::temp_dir().join(format!("nvabgp-origin-exec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("sleep.pid");
    let script = format!("sleep 5 & echo $! > {}; wait", pidfile.display());
    let e = probe::run(
        &exec_probe(&["sh", "-c", &script]),
        Duration::from_millis(100),
        &Tls::none(),
    )
    .await
    .unwrap_err();
    assert_eq!(e, "no exit within 100 ms: killed");
    // The grandchild went with the process group (or was never started).
    if let Ok(pid) = std::fs::read_to_string(&pidfile) {
        let pid: u32 = pid.trim().parse().unwrap();
        let mut state = proc_state(pid);
        for _ in 0..100 {
            if matches!(state, None | Some('Z') | Some('X')) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            state = proc_state(pid);
        }
        assert!(
            matches!(state, None | Some('Z') | Some('X')),
            "sleep {pid} still running: {state:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    // A plain `sleep 5`.
    let e = probe::run(
        &exec_probe(&["sleep", "5"]),
        Duration::from_millis(100),
        &Tls::none(),
    )
    .await
    .unwrap_err();
    assert_eq!(e, "no exit within 100 ms: killed");
}

#[cfg(feature = "https")]
mod https {
    use super::*;
    use std::process::Command;

    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    struct Pki {
        dir: PathBuf,
    }

    impl Drop for Pki {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn openssl(dir: &std::path::Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A private CA and a server certificate for 127.0.0.1 signed by it,
    /// made with the openssl CLI; `None` (and a loud note) without it.
    fn pki() -> Option<Pki> {
        if Command::new("openssl").arg("version").output().is_err() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("openssl is missing on CI");
            }
            eprintln!("SKIPPED: the HTTPS probe tests need the openssl CLI");
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "nvabgp-origin-pki-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=nvabgp test CA",
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=backend",
            ],
        );
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:backend.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        Some(Pki { dir })
    }

    fn rand_suffix() -> usize {
        static N: AtomicUsize = AtomicUsize::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    /// An HTTPS server on 127.0.0.1 answering 200 to every request.
    async fn https_server(pki: &Pki) -> SocketAddr {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(pki.dir.join("server.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(pki.dir.join("server.key")).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut s) = acceptor.accept(s).await else {
                        return;
                    };
                    let mut buf = [0u8; 1024];
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    let _ = s.shutdown().await;
                });
            }
        });
        address
    }

    async fn run(check: &str) -> Result<String, String> {
        let p = check_probe(check);
        let Probe::Http(h) = &p else { unreachable!() };
        probe::run(&p, T, &Tls::for_probe(h)).await
    }

    #[tokio::test]
    async fn https_probe_verifies_the_certificate() {
        let Some(pki) = pki() else { return };
        let address = https_server(&pki).await;
        let url = format!("http = \"https://{address}/\"");
        // Built-in roots only: the private CA is unknown.
        let e = run(&url).await.unwrap_err();
        assert!(
            e.contains("TLS handshake") && e.contains("UnknownIssuer"),
            "{e}"
        );
        // With the CA: verified (the certificate names 127.0.0.1).
        let ca = pki.dir.join("ca.pem");
        assert_eq!(
            run(&format!("{url}\nca_file = \"{}\"", ca.display())).await,
            Ok("HTTP 200".into())
        );
        // And by name, through `host`.
        assert_eq!(
            run(&format!(
                "{url}\nca_file = \"{}\"\nhost = \"backend.test\"",
                ca.display()
            ))
            .await,
            Ok("HTTP 200".into())
        );
        // A name the certificate does not hold.
        let e = run(&format!(
            "{url}\nca_file = \"{}\"\nhost = \"other.test\"",
            ca.display()
        ))
        .await
        .unwrap_err();
        assert!(e.contains("not valid for name \"other.test\""), "{e}");
        // Verification off: a self-signed or unknown backend passes.
        assert_eq!(
            run(&format!("{url}\ntls_verify = false")).await,
            Ok("HTTP 200".into())
        );
        // An unreadable ca_file fails every probe, with the reason.
        let e = run(&format!("{url}\nca_file = \"/nonexistent/ca.pem\""))
            .await
            .unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}

// ---- The origin task end to end (real time, real checks) ---------------------------

/// Waits for the next event (bounded, so a broken build fails instead of
/// hanging).
async fn next_event(rx: &mut mpsc::Receiver<OriginEvent>) -> (Instant, OriginEvent) {
    let e = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("no origin event within 30 s")
        .expect("origin task ended");
    (Instant::now(), e)
}

/// No event arrives while `probes` more results of the checks come in
/// (watched on the health snapshots).
async fn no_event_during(
    rx: &mut mpsc::Receiver<OriginEvent>,
    handle: &nvabgp::origin::OriginHandle,
    results: usize,
) {
    let mut health = handle.subscribe();
    for _ in 0..results {
        tokio::select! {
            e = rx.recv() => panic!("unexpected event {e:?}"),
            changed = tokio::time::timeout(Duration::from_secs(30), health.changed()) => {
                changed.expect("no health result within 30 s").unwrap();
            }
        }
    }
}

fn route_next_hop(e: &OriginEvent) -> Option<NextHopConfig> {
    let OriginEvent::Set { route, .. } = e;
    route.as_ref().map(|r| r.next_hop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vip_follows_real_tcp_backends() {
    let mut a = Backend::start().await;
    let mut b = Backend::start().await;
    let hold = Duration::from_millis(400);
    let c = config(&format!(
        r#"
[[route]]
prefix = "0.0.0.0/0"
[[route]]
kind = "next-hop-ip"
prefix = "100.64.0.1/32"
min_hold = {}
[[route.candidate]]
next_hop = "10.1.2.10"
priority = 200
[route.candidate.check]
name = "a"
tcp = "{}"
interval = 0.02
timeout = 0.02
rise = 2
fall = 2
[[route.candidate]]
next_hop = "10.1.2.11"
priority = 100
[route.candidate.check]
name = "b"
tcp = "{}"
interval = 0.02
timeout = 0.02
rise = 2
fall = 2
"#,
        hold.as_secs_f64(),
        a.target(),
        b.target()
    ));
    let mut routes: Vec<OriginRoute> = c
        .routes
        .iter()
        .map(|r| OriginRoute {
            route: r.clone(),
            kind: OriginKind::Static,
        })
        .collect();
    routes.extend(c.health_routes);
    let (tx, mut rx) = mpsc::channel(16);
    let handle = spawn(routes, tx);
    let a_nh = Some(addr("10.1.2.10"));
    let b_nh = Some(addr("10.1.2.11"));

    // The static route first, then the VIP on its primary.
    let (_, e) = next_event(&mut rx).await;
    assert_eq!(
        e,
        OriginEvent::Set {
            prefix: prefix("0.0.0.0/0"),
            route: Some(c.routes[0].clone())
        }
    );
    let (_, e) = next_event(&mut rx).await;
    assert_eq!(route_next_hop(&e), a_nh);
    let states: Vec<_> = handle
        .health()
        .into_iter()
        .map(|h| (h.name, h.kind, h.state))
        .collect();
    assert_eq!(
        states[0],
        ("a".to_string(), "tcp".to_string(), HealthState::Up)
    );

    // Primary down: exactly one event, the new next hop (no withdraw).
    a.stop().await;
    let (failed_over, e) = next_event(&mut rx).await;
    assert_eq!(route_next_hop(&e), b_nh);
    let h = handle.health();
    assert_eq!(h[0].state, HealthState::Down);
    assert!(
        h[0].detail.as_deref().unwrap_or("").contains("refused"),
        "{h:?}"
    );

    // Both down: withdrawn.
    b.stop().await;
    let (_, e) = next_event(&mut rx).await;
    assert_eq!(
        e,
        OriginEvent::Set {
            prefix: prefix("100.64.0.1/32"),
            route: None
        }
    );
    no_event_during(&mut rx, &handle, 10).await;

    // Secondary back: announced at once.
    b.restart().await;
    let (announced, e) = next_event(&mut rx).await;
    assert_eq!(route_next_hop(&e), b_nh);

    // Primary back: the preemption waits for min_hold after the last
    // change, then happens exactly once.
    a.restart().await;
    let (preempted, e) = next_event(&mut rx).await;
    assert_eq!(route_next_hop(&e), a_nh);
    assert!(
        preempted - announced >= hold,
        "{:?} < {hold:?}",
        preempted - announced
    );
    assert!(preempted - failed_over >= hold);
    no_event_during(&mut rx, &handle, 10).await;
    drop(handle);
    // The origin task is gone: the channel closes.
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        while rx.recv().await.is_some() {}
    })
    .await;
    assert!(
        closed.is_ok(),
        "events channel still open after the handle was dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anycast_drains_with_the_maintenance_file() {
    let backend = Backend::start().await;
    let dir = std::env::temp_dir().join(format!("nvabgp-origin-maint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("drain");
    let _ = std::fs::remove_file(&file);
    let c = config(&format!(
        r#"
[[route]]
kind = "anycast"
prefix = "9.9.9.9/32"
[route.check]
tcp = "{}"
interval = 0.02
timeout = 0.02
rise = 2
fall = 50
maintenance_file = "{}"
"#,
        backend.target(),
        file.display()
    ));
    let (tx, mut rx) = mpsc::channel(16);
    let handle = spawn(c.health_routes, tx);
    let p = prefix("9.9.9.9/32");
    let (_, e) = next_event(&mut rx).await;
    assert!(
        matches!(&e, OriginEvent::Set { prefix, route: Some(_) } if *prefix == p),
        "{e:?}"
    );
    // fall = 50 would take a second; the file drains at the next probe.
    std::fs::write(&file, b"").unwrap();
    let (_, e) = next_event(&mut rx).await;
    assert_eq!(
        e,
        OriginEvent::Set {
            prefix: p,
            route: None
        }
    );
    let h = handle.health();
    assert_eq!(h[0].state, HealthState::Down);
    assert!(
        h[0].detail
            .as_deref()
            .unwrap_or("")
            .contains("maintenance file"),
        "{h:?}"
    );
    no_event_during(&mut rx, &handle, 5).await;
    std::fs::remove_file(&file).unwrap();
    let (_, e) = next_event(&mut rx).await;
    assert!(
        matches!(&e, OriginEvent::Set { route: Some(_), .. }),
        "{e:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anycast_follows_an_http_backend() {
    let status = Arc::new(AtomicU16::new(200));
    let address = http_server(status.clone()).await;
    let c = config(&format!(
        r#"
[[route]]
kind = "anycast"
prefix = "9.9.9.9/32"
[route.check]
name = "web"
http = "http://{address}/health?x=1"
interval = 0.02
timeout = 0.02
rise = 3
fall = 2
"#
    ));
    let (tx, mut rx) = mpsc::channel(16);
    let handle = spawn(c.health_routes, tx);
    assert!(route_next_hop(&next_event(&mut rx).await.1).is_some());
    status.store(503, Ordering::Relaxed);
    assert_eq!(route_next_hop(&next_event(&mut rx).await.1), None);
    let h = handle.health();
    assert_eq!(
        (h[0].kind.as_str(), h[0].detail.as_deref()),
        ("http", Some("HTTP 503, expected 200"))
    );
    status.store(200, Ordering::Relaxed);
    assert!(route_next_hop(&next_event(&mut rx).await.1).is_some());
}
