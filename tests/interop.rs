//! nvabgp's peer sessions against real BGP implementations in the
//! Azure-like namespace lab: two Route Server stand-ins (10.1.1.4 and
//! 10.1.1.5, AS 65515) reached through the virtual router, nvabgp in the
//! NVA namespace (10.1.2.4, AS 65001), multihop eBGP, hold time 9 s,
//! ConnectRetry 1 s. The stand-ins are BIRD, FRR, GoBGP, ExaBGP, and two
//! more nvabgp instances; one test per implementation, each in its own
//! topology, runs the same scenario:
//!
//! 1. both sessions reach Established, seen from both sides;
//! 2. nvabgp's configured routes reach both stand-ins with next hop
//!    10.1.2.4, the AS path (with prepends) and the communities;
//! 3. the stand-ins' VNet route lands in nvabgp's Loc-RIB as two paths, one
//!    best, both in the ECMP set (checked through `nvabgp routes --json`);
//! 4. withdrawals both ways, and `nvabgp announce` / `set-next-hop` /
//!    `withdraw` at runtime reach both stand-ins;
//! 5. a stand-in killed (-9), then stopped (SIGTERM), restarted each time:
//!    its paths go, the session comes back by itself with them;
//! 6. a stand-in frozen (SIGSTOP) past the hold time: nvabgp's hold timer
//!    expires, its paths go, and after SIGCONT the session recovers;
//! 7. nvabgp killed (-9) and restarted: the stand-ins get the session and
//!    the routes back;
//! 8. a stand-in sends ROUTE-REFRESH (its inbound soft reset): nvabgp
//!    answers with its routes, between BoRR and EoRR where the stand-in
//!    negotiated enhanced route refresh (RFC 7313);
//! 9. nvabgp stopped with SIGTERM: a Cease to each peer, exit status 0.
//!
//! Further tests: TCP MD5 with BIRD, the neighbors' prefix counts, and
//! nvabgp as graceful restart receiving speaker (FRR restarting).
//!
//! Needs root and the Debian packages bird2, frr, gobgpd, exabgp; skips
//! loudly without them (fails on CI). `NVABGP_LAB_KEEP=1` keeps the
//! daemons' logs and configs in the temporary directory;
//! `--nocapture` shows each step's duration.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Instant;

use bgp_proto::{Community, LargeCommunity, Prefix};
use common::{TIMEOUT, VNET, VNET_COMMUNITY, lab_available, prefix, route_server_options};
use nvabgp::control::{self, NextHop, Route, RoutePath, SessionState};
use nvabgp::lab::daemons::{
    Announcement, BgpSpeaker, Implementation, NvaSpeakerOptions, Nvabgp, ReceivedRoute,
    RouteServerOptions, RouteServers, Timers, nva_speaker_config,
};
use nvabgp::lab::{Topology, TopologyOptions};

/// The binary under test.
const NVABGP: &str = env!("CARGO_BIN_EXE_nvabgp");

/// The NVA's default route and its tags.
const DEFAULT: &str = "0.0.0.0/0";
const DEFAULT_COMMUNITY: Community = Community::new(65001, 10);
const DEFAULT_LARGE: LargeCommunity = LargeCommunity::new(65001, 1, 2);
/// The NVA's host route, prepended twice.
const PREPENDED: &str = "100.64.0.1/32";
/// A route announced at runtime.
const RUNTIME: &str = "10.9.0.0/24";
const RUNTIME_COMMUNITY: Community = Community::new(65001, 99);
/// A route announced while a session is down.
const LATE: &str = "10.9.1.0/24";

/// Who stands in for the two Route Server instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StandIn {
    Daemon(Implementation),
    Nvabgp,
}

impl StandIn {
    fn implementations(self) -> Vec<Implementation> {
        match self {
            Self::Daemon(i) => vec![i],
            Self::Nvabgp => Vec::new(),
        }
    }
}

/// One topology with its stand-ins and nvabgp. Fields drop in order:
/// daemons first, namespaces last.
struct Lab {
    steps: common::Steps,
    nva: Nvabgp,
    rs: RouteServers,
    topology: Topology,
}

impl Lab {
    fn start(test: &'static str, standin: StandIn) -> Self {
        Self::start_with(test, standin, &route_server_options(), None)
    }

    /// With other stand-in options, and a TCP MD5 key on nvabgp's sessions.
    fn start_with(
        test: &'static str,
        standin: StandIn,
        options: &RouteServerOptions,
        password: Option<&str>,
    ) -> Self {
        let started = Instant::now();
        let topology = Topology::up(TopologyOptions::default()).unwrap();
        let rs = match standin {
            StandIn::Daemon(i) => RouteServers::start(i, &topology, options),
            StandIn::Nvabgp => RouteServers::start_with(&topology, options, |config| {
                Nvabgp::spawn(Path::new(NVABGP), config)
            }),
        }
        .unwrap_or_else(|e| panic!("{test}: stand-ins did not start: {e}"));
        let nva_options = NvaSpeakerOptions {
            timers: Timers::SHORT,
            password: password.map(str::to_string),
            ..NvaSpeakerOptions::default()
        };
        let mut default_route = control::Announcement::new(prefix(DEFAULT));
        default_route.communities = vec![DEFAULT_COMMUNITY];
        default_route.large_communities = vec![DEFAULT_LARGE];
        let mut prepended = control::Announcement::new(prefix(PREPENDED));
        prepended.prepend = 2;
        let mut nva = Nvabgp::new(NVABGP, nva_speaker_config(&topology, &nva_options))
            .unwrap()
            .with_route(default_route)
            .with_route(prepended);
        if let Err(e) = nva.start() {
            panic!("{test}: nvabgp did not start: {e}\n{}", nva.diagnostics());
        }
        Self {
            nva,
            rs,
            topology,
            steps: common::Steps::new(test, started),
        }
    }

    fn logs(&self) -> String {
        format!("{}\n{}", self.rs.diagnostics(), self.nva.diagnostics())
    }

    /// Unwraps `result`, or fails the test with every daemon's logs.
    fn ok<T, E: std::fmt::Display>(&self, result: Result<T, E>) -> T {
        self.steps.ok(result, || self.logs())
    }

    /// Fails the test with every daemon's logs unless `condition`.
    fn ensure(&self, condition: bool, what: impl std::fmt::Display) {
        self.steps.ensure(condition, what, || self.logs());
    }

    /// Marks the end of a step (its duration shows with `--nocapture`).
    fn step_done(&mut self, step: &str) {
        self.steps.done(step);
    }

    fn rs_addresses(&self) -> [Ipv4Addr; 2] {
        self.topology.rs_addresses()
    }

    fn nva_address(&self) -> Ipv4Addr {
        self.topology.nva_address()
    }

    fn instance(&self, index: usize) -> &dyn BgpSpeaker {
        self.rs.instance(index).unwrap()
    }

    /// Waits until nvabgp's session with `peer` is up (`true`) or down, as
    /// the daemon's RIB sees it too: with an uptime when up, without when
    /// down. The state alone runs ahead: the session task reports state
    /// changes at once but queues "established" and "down" behind the
    /// UPDATEs it forwards, so for a moment `neighbors` shows Idle with the
    /// dead session's uptime and no `last_error` (or Established without
    /// what the OPENs negotiated).
    fn wait_nva_session(&self, peer: Ipv4Addr, up: bool) -> control::Neighbor {
        let what = if up { "Established" } else { "down" };
        self.ok(self.nva.wait_neighbor(
            peer,
            what,
            &|n| {
                if up {
                    n.state == SessionState::Established && n.uptime_secs.is_some()
                } else {
                    n.state != SessionState::Established && n.uptime_secs.is_none()
                }
            },
            TIMEOUT,
        ))
    }

    /// Waits until nvabgp's Loc-RIB holds the VNet prefix from exactly
    /// `peers`, and checks the paths: next hop = the stand-in, AS path
    /// [65515], its community, one best, all in the ECMP set.
    fn wait_vnet_paths(&self, peers: &[Ipv4Addr]) -> Vec<RoutePath> {
        let names: Vec<String> = peers.iter().map(ToString::to_string).collect();
        let paths = self.ok(self.nva.wait_loc_rib(
            prefix(VNET),
            &format!("paths from {names:?}"),
            &|paths| {
                let mut from: Vec<String> = paths.iter().filter_map(|p| p.peer.clone()).collect();
                from.sort();
                from == names
            },
            TIMEOUT,
        ));
        check_vnet_paths(self, &paths);
        paths
    }

    /// Steps 1 to 3 in short: both sessions up, nvabgp's routes at both
    /// stand-ins, two ECMP paths for the VNet prefix.
    fn wait_up(&self) {
        for peer in self.rs_addresses() {
            self.wait_nva_session(peer, true);
        }
        self.ok(self.rs.wait_established(TIMEOUT));
        self.wait_nva_routes_at(0);
        self.wait_nva_routes_at(1);
        self.wait_vnet_paths(&self.rs_addresses());
    }

    /// Waits until `instance` has both of nvabgp's configured routes, with
    /// their attributes.
    fn wait_nva_routes_at(&self, index: usize) {
        self.wait_nva_routes_prepended_at(index, 0);
    }

    /// Like [`Lab::wait_nva_routes_at`], with `extra` more copies of
    /// nvabgp's AS in both paths (a drain by prepending).
    fn wait_nva_routes_prepended_at(&self, index: usize, extra: usize) {
        let instance = self.instance(index);
        let nva = self.nva_address();
        self.ok(instance.wait_route_where(
            nva,
            prefix(DEFAULT),
            &|r| is_default_route(r, nva, extra),
            TIMEOUT,
        ));
        self.ok(instance.wait_route_where(
            nva,
            prefix(PREPENDED),
            &|r| is_prepended_route(r, nva, extra),
            TIMEOUT,
        ));
    }
}

/// nvabgp's default route as configured: next hop nvabgp, AS path
/// [65001] (plus `extra` prepends), both communities.
fn is_default_route(route: &ReceivedRoute, nva: Ipv4Addr, extra: usize) -> bool {
    route.next_hop == nva
        && route.as_path == vec![65001; 1 + extra]
        && route.communities == [DEFAULT_COMMUNITY]
        && route.large_communities == [DEFAULT_LARGE]
}

/// nvabgp's host route as configured: next hop nvabgp, AS path [65001]
/// prepended twice (plus `extra`), no communities.
fn is_prepended_route(route: &ReceivedRoute, nva: Ipv4Addr, extra: usize) -> bool {
    route.next_hop == nva
        && route.as_path == vec![65001; 3 + extra]
        && route.communities.is_empty()
        && route.large_communities.is_empty()
}

fn check_vnet_paths(lab: &Lab, paths: &[RoutePath]) {
    for path in paths {
        let Some(peer) = path.peer.as_deref() else {
            lab.ensure(false, format!("VNet path without a peer: {path:?}"));
            return;
        };
        let expected: Ipv4Addr = lab.ok(peer.parse());
        lab.ensure(
            path.next_hop == NextHop::Address(IpAddr::V4(expected))
                && path.as_path == [65515]
                && path.communities.contains(&VNET_COMMUNITY),
            format!("VNet path with wrong attributes: {path:?}"),
        );
        lab.ensure(
            path.multipath,
            format!("VNet path not in the ECMP set: {paths:?}"),
        );
    }
    lab.ensure(
        paths.iter().filter(|p| p.best).count() == 1,
        format!("not exactly one best VNet path: {paths:?}"),
    );
}

/// How many times nvabgp logged a ROUTE-REFRESH request from `peer`.
fn refresh_requests_logged(log: &str, peer: Ipv4Addr) -> usize {
    let peer = format!("peer={peer}");
    log.lines()
        .filter(|l| l.contains("route refresh requested") && l.contains(&peer))
        .count()
}

fn scenario(test: &'static str, standin: StandIn) {
    if !lab_available(test, &standin.implementations()) {
        return;
    }
    let mut lab = Lab::start(test, standin);
    let [rs1, rs2] = lab.rs_addresses();
    let nva = lab.nva_address();

    // 1. Both sessions up, seen by nvabgp and by the stand-ins; what the
    // OPENs negotiated.
    for peer in [rs1, rs2] {
        let neighbor = lab.wait_nva_session(peer, true);
        lab.ensure(
            neighbor.hold_time == 9
                && neighbor.keepalive == 3
                && neighbor.four_octet_as == Some(true)
                && neighbor.families.iter().any(|f| f == "ipv4-unicast")
                && neighbor.local_address == Some(IpAddr::V4(nva)),
            format!("unexpected session parameters: {neighbor:?}"),
        );
    }
    lab.ok(lab.rs.wait_established(TIMEOUT));
    lab.step_done("1 sessions established");

    // 2. nvabgp's routes at both stand-ins.
    lab.wait_nva_routes_at(0);
    lab.wait_nva_routes_at(1);
    for peer in [rs1, rs2] {
        let out = lab.ok(lab.nva.adj_out(peer));
        let prefixes: Vec<Prefix> = out.iter().map(|r| r.prefix).collect();
        lab.ensure(
            prefixes == [prefix(DEFAULT), prefix(PREPENDED)],
            format!("Adj-RIB-Out of {peer}: {out:?}"),
        );
    }
    lab.step_done("2 routes at the stand-ins");

    // 3. The stand-ins' VNet route: two paths, ECMP; the CLI shows the same.
    let paths = lab.wait_vnet_paths(&[rs1, rs2]);
    let json = lab.ok(lab.nva.cli(&["routes", "--json", VNET]));
    let routes: Vec<Route> = lab.ok(serde_json::from_str(&json));
    lab.ensure(
        routes.len() == 1 && routes[0].prefix == prefix(VNET) && routes[0].paths == paths,
        format!("`nvabgp routes --json {VNET}` differs from the API: {json}"),
    );
    lab.step_done("3 VNet route in the Loc-RIB");

    // 4a. A stand-in withdraws: its path goes, the other stays.
    let withdrawn = lab.rs.instance_mut(0).unwrap().withdraw(prefix(VNET));
    lab.ok(withdrawn);
    lab.wait_vnet_paths(&[rs2]);
    let vnet = Announcement::new(prefix(VNET)).with_community(VNET_COMMUNITY);
    let announced = lab.rs.instance_mut(0).unwrap().announce(vnet);
    lab.ok(announced);
    lab.wait_vnet_paths(&[rs1, rs2]);

    // 4b. Runtime announce, next-hop change and withdraw through the CLI.
    let runtime = prefix(RUNTIME);
    let answer = lab.ok(lab.nva.cli(&[
        "announce",
        RUNTIME,
        "community",
        &RUNTIME_COMMUNITY.to_string(),
        "--json",
    ]));
    lab.ensure(
        answer.contains("\"change\":\"new\"") || answer.contains("\"change\": \"new\""),
        format!("announce answered {answer}"),
    );
    for index in 0..2 {
        let route = lab.ok(lab.instance(index).wait_route(nva, runtime, TIMEOUT));
        lab.ensure(
            route.next_hop == nva
                && route.as_path == [65001]
                && route.communities == [RUNTIME_COMMUNITY],
            format!("runtime route with wrong attributes: {route:?}"),
        );
    }
    let backend = Ipv4Addr::new(10, 1, 2, 10);
    lab.ok(lab
        .nva
        .cli(&["set-next-hop", RUNTIME, &backend.to_string()]));
    for index in 0..2 {
        let route = lab.ok(lab.instance(index).wait_route_where(
            nva,
            runtime,
            &|r| r.next_hop == backend,
            TIMEOUT,
        ));
        lab.ensure(
            route.as_path == [65001] && route.communities == [RUNTIME_COMMUNITY],
            format!("moved route lost attributes: {route:?}"),
        );
    }
    lab.ok(lab.nva.cli(&["withdraw", RUNTIME]));
    lab.ok(lab.rs.wait_route_gone(runtime, TIMEOUT));
    for index in 0..2 {
        let routes = lab.ok(lab.instance(index).received_routes(nva));
        let prefixes: Vec<Prefix> = routes.iter().map(|r| r.prefix).collect();
        lab.ensure(
            prefixes == [prefix(DEFAULT), prefix(PREPENDED)],
            format!("stand-in {index} after the withdraw: {routes:?}"),
        );
    }
    // Drained by prepending, by withdrawing, then back in service.
    lab.ok(lab.nva.cli(&["drain", "--prepend", "2"]));
    lab.wait_nva_routes_prepended_at(0, 2);
    lab.wait_nva_routes_prepended_at(1, 2);
    lab.ok(lab.nva.cli(&["undrain"]));
    lab.wait_nva_routes_at(0);
    lab.wait_nva_routes_at(1);
    lab.ok(lab.nva.cli(&["drain"]));
    lab.ok(lab.rs.wait_route_gone(prefix(DEFAULT), TIMEOUT));
    lab.ok(lab.rs.wait_route_gone(prefix(PREPENDED), TIMEOUT));
    lab.ok(lab.nva.cli(&["undrain"]));
    lab.wait_nva_routes_at(0);
    lab.wait_nva_routes_at(1);
    lab.step_done("4 withdrawals both ways, runtime announce, next hop, drain");

    // 5. kill -9 of the second stand-in: its paths go at once (the kernel
    // closes its connection), the session comes back after a restart.
    lab.rs.instance_mut(1).unwrap().kill();
    let neighbor = lab.wait_nva_session(rs2, false);
    lab.ensure(
        neighbor.last_error.is_some(),
        format!("no last_error after the stand-in died: {neighbor:?}"),
    );
    lab.wait_vnet_paths(&[rs1]);
    // A route announced while the session is down goes out when it is up.
    let late = lab.ok(lab.nva.cli(&["announce", LATE, "--json"]));
    lab.ensure(
        late.contains("\"peers\":1") || late.contains("\"peers\": 1"),
        format!("announce with one session up answered {late}"),
    );
    let restarted = lab.rs.instance_mut(1).unwrap().start();
    lab.ok(restarted);
    lab.wait_nva_session(rs2, true);
    lab.wait_vnet_paths(&[rs1, rs2]);
    lab.wait_nva_routes_at(1);
    lab.ok(lab.instance(1).wait_route(nva, prefix(LATE), TIMEOUT));
    lab.ok(lab.nva.cli(&["withdraw", LATE]));
    lab.ok(lab.rs.wait_route_gone(prefix(LATE), TIMEOUT));
    // The same after a graceful stop (SIGTERM): the daemons say goodbye
    // with a NOTIFICATION first (Cease), or at least close the connection.
    lab.rs.instance_mut(1).unwrap().stop();
    let neighbor = lab.wait_nva_session(rs2, false);
    eprintln!(
        "{test}: after a graceful stop of a stand-in: last_error {:?}",
        neighbor.last_error
    );
    lab.ensure(
        neighbor.last_error.is_some(),
        format!("no last_error after the stand-in stopped: {neighbor:?}"),
    );
    lab.wait_vnet_paths(&[rs1]);
    let restarted = lab.rs.instance_mut(1).unwrap().start();
    lab.ok(restarted);
    lab.wait_nva_session(rs2, true);
    lab.wait_vnet_paths(&[rs1, rs2]);
    lab.wait_nva_routes_at(1);
    lab.step_done("5 stand-in killed, stopped, restarted");

    // 6. The first stand-in frozen: nvabgp's hold timer expires, its paths
    // go; thawed, the session recovers by itself.
    let paused = lab.rs.instance_mut(0).unwrap().pause();
    lab.ok(paused);
    let frozen = Instant::now();
    let neighbor = lab.wait_nva_session(rs1, false);
    let detected = frozen.elapsed();
    let resumed = lab.rs.instance_mut(0).unwrap().resume();
    lab.ok(resumed);
    lab.ensure(
        neighbor
            .last_error
            .as_deref()
            .is_some_and(|e| e.to_ascii_lowercase().contains("hold timer")),
        format!("the session with the frozen stand-in went down for another reason: {neighbor:?}"),
    );
    eprintln!("{test}: hold timer expiry noticed {detected:.1?} after SIGSTOP (hold time 9 s)");
    lab.wait_vnet_paths(&[rs2]);
    lab.wait_nva_session(rs1, true);
    lab.wait_vnet_paths(&[rs1, rs2]);
    lab.wait_nva_routes_at(0);
    lab.step_done("6 stand-in silent past the hold time, then back");

    // 7. nvabgp killed and restarted.
    lab.nva.kill();
    for index in 0..2 {
        lab.ok(lab.instance(index).wait_session(nva, false, TIMEOUT));
    }
    let restarted = lab.nva.start();
    lab.ok(restarted);
    lab.ok(lab.rs.wait_established(TIMEOUT));
    lab.wait_nva_routes_at(0);
    lab.wait_nva_routes_at(1);
    lab.wait_vnet_paths(&[rs1, rs2]);
    lab.step_done("7 nvabgp killed and restarted");

    // 8. ROUTE-REFRESH from the first stand-in.
    route_refresh(&mut lab);

    // 9. SIGTERM, as systemd stops it: a Cease NOTIFICATION to each peer,
    // exit status 0, and the stand-ins see the sessions go.
    let status = lab.nva.terminate();
    lab.ensure(
        status.is_some_and(|s| s.success()),
        format!("nvabgp did not exit cleanly on SIGTERM: {status:?}"),
    );
    for index in 0..2 {
        lab.ok(lab.instance(index).wait_session(nva, false, TIMEOUT));
    }
    let log = lab.nva.log_text();
    for peer in [rs1, rs2] {
        let peer_field = format!("peer={peer}");
        lab.ensure(
            log.lines().any(|l| {
                l.contains("sending NOTIFICATION") && l.contains(&peer_field) && l.contains("Cease")
            }),
            format!("no Cease NOTIFICATION logged for {peer} on SIGTERM"),
        );
    }
    lab.step_done("9 stopped with SIGTERM");
}

/// Step 8: the first stand-in sends ROUTE-REFRESH (where it can); nvabgp
/// re-advertises, between BoRR and EoRR where they were negotiated.
fn route_refresh(lab: &mut Lab) {
    let test = lab.steps.test;
    let [rs1, _] = lab.rs_addresses();
    let nva = lab.nva_address();
    let before_log = refresh_requests_logged(&lab.nva.log_text(), rs1);
    let before_updates = lab.instance(0).updates_received(nva).ok();
    let before_markers = lab.instance(0).refresh_markers_received(nva).ok();
    match lab.rs.instance_mut(0).unwrap().request_route_refresh(nva) {
        Err(nvabgp::lab::Error::Unsupported(why)) => {
            eprintln!("{test}: step 8 skipped: {why}");
            return;
        }
        other => lab.ok(other),
    }
    lab.ok(nvabgp::lab::process::wait_for(
        "nvabgp to log the ROUTE-REFRESH request",
        TIMEOUT,
        || Ok((refresh_requests_logged(&lab.nva.log_text(), rs1) > before_log).then_some(())),
    ));
    if let Some(before) = before_updates {
        lab.ok(nvabgp::lab::process::wait_for(
            "the stand-in to receive the routes again",
            TIMEOUT,
            || Ok((lab.instance(0).updates_received(nva)? > before).then_some(())),
        ));
    }
    if let Some(before) = before_markers {
        let markers = lab.ok(nvabgp::lab::process::wait_for(
            "the stand-in to receive BoRR and EoRR",
            TIMEOUT,
            || {
                let now = lab.instance(0).refresh_markers_received(nva)?;
                Ok((now.end > before.end).then_some(now))
            },
        ));
        lab.ensure(
            markers.begin == before.begin + 1 && markers.end == before.end + 1,
            format!("BoRR/EoRR before {before:?}, after {markers:?}"),
        );
    }
    // After EoRR a stand-in flushes what was not re-sent: still all there.
    let routes = lab.ok(lab.instance(0).received_routes(nva));
    let prefixes: Vec<Prefix> = routes.iter().map(|r| r.prefix).collect();
    lab.ensure(
        prefixes == [prefix(DEFAULT), prefix(PREPENDED)],
        format!("routes after the refresh: {routes:?}"),
    );
    lab.ensure(
        is_default_route(&routes[0], nva, 0) && is_prepended_route(&routes[1], nva, 0),
        format!("routes after the refresh with wrong attributes: {routes:?}"),
    );
    lab.step_done("8 route refresh answered");
}

#[test]
fn bird_route_servers() {
    scenario("bird_route_servers", StandIn::Daemon(Implementation::Bird));
}

#[test]
fn frr_route_servers() {
    scenario("frr_route_servers", StandIn::Daemon(Implementation::Frr));
}

#[test]
fn gobgp_route_servers() {
    scenario(
        "gobgp_route_servers",
        StandIn::Daemon(Implementation::Gobgp),
    );
}

#[test]
fn exabgp_route_servers() {
    scenario(
        "exabgp_route_servers",
        StandIn::Daemon(Implementation::Exabgp),
    );
}

#[test]
fn nvabgp_route_servers() {
    scenario("nvabgp_route_servers", StandIn::Nvabgp);
}

/// TCP MD5 signatures (RFC 2385) on both sessions, against BIRD: BIRD's
/// kernel drops every segment that is not signed with the key, so the
/// sessions come up only if nvabgp signs them, both when it connects and
/// when it accepts.
#[test]
fn md5_sessions_with_bird() {
    let test = "md5_sessions_with_bird";
    if !lab_available(test, &[Implementation::Bird]) {
        return;
    }
    let key = "lab-md5-key";
    let options = RouteServerOptions {
        password: Some(key.to_string()),
        ..route_server_options()
    };
    let mut lab = Lab::start_with(
        test,
        StandIn::Daemon(Implementation::Bird),
        &options,
        Some(key),
    );
    lab.wait_up();
    lab.step_done("sessions with MD5 up, routes both ways");
    // A reconnection (nvabgp restarted) signs again.
    lab.nva.kill();
    let restarted = lab.nva.start();
    lab.ok(restarted);
    lab.wait_up();
    lab.step_done("sessions with MD5 up again after a restart of nvabgp");
}

/// `nvabgp neighbors` counts the prefixes each peer announces now: after
/// a stand-in re-sent its one route (a withdraw and an announce, which BIRD
/// follows with an enhanced route refresh of everything) and after a
/// session flap, each peer still announces exactly one prefix.
#[test]
fn neighbor_prefix_counts_follow_the_announcements() {
    let test = "neighbor_prefix_counts_follow_the_announcements";
    if !lab_available(test, &[Implementation::Bird]) {
        return;
    }
    let mut lab = Lab::start(test, StandIn::Daemon(Implementation::Bird));
    let [rs1, rs2] = lab.rs_addresses();
    lab.wait_up();
    let withdrawn = lab.rs.instance_mut(0).unwrap().withdraw(prefix(VNET));
    lab.ok(withdrawn);
    lab.wait_vnet_paths(&[rs2]);
    let vnet = Announcement::new(prefix(VNET)).with_community(VNET_COMMUNITY);
    let announced = lab.rs.instance_mut(0).unwrap().announce(vnet);
    lab.ok(announced);
    lab.wait_vnet_paths(&[rs1, rs2]);
    lab.rs.instance_mut(1).unwrap().kill();
    lab.wait_nva_session(rs2, false);
    let restarted = lab.rs.instance_mut(1).unwrap().start();
    lab.ok(restarted);
    lab.wait_nva_session(rs2, true);
    lab.wait_vnet_paths(&[rs1, rs2]);
    for peer in [rs1, rs2] {
        let neighbor = lab.ok(lab.nva.neighbor(peer));
        lab.ensure(
            neighbor.prefixes_received == 1 && neighbor.prefixes_accepted == 1,
            format!(
                "{peer} announces one prefix, nvabgp shows received {} accepted {}: {neighbor:?}",
                neighbor.prefixes_received, neighbor.prefixes_accepted
            ),
        );
    }
}

/// nvabgp advertises the graceful restart capability as a receiving
/// speaker, so when a peer that announced graceful restart (forwarding
/// state preserved) loses its session, nvabgp must keep that peer's routes
/// as stale until the peer is back or its restart time runs out (RFC 4724
/// §4.2), not drop them at once; and not keep them forever either. FRR,
/// restart time 10 s.
#[test]
fn graceful_restart_helper_keeps_the_routes_of_a_restarting_peer() {
    let test = "graceful_restart_helper_keeps_the_routes_of_a_restarting_peer";
    if !lab_available(test, &[Implementation::Frr]) {
        return;
    }
    let options = RouteServerOptions {
        graceful_restart: Some(10),
        ..route_server_options()
    };
    let mut lab = Lab::start_with(test, StandIn::Daemon(Implementation::Frr), &options, None);
    let [rs1, rs2] = lab.rs_addresses();
    lab.wait_up();
    let kept = |lab: &Lab| {
        let paths = lab.ok(lab.nva.loc_rib_paths(prefix(VNET)));
        let mut from: Vec<Option<String>> = paths.iter().map(|p| p.peer.clone()).collect();
        from.sort();
        lab.ensure(
            from == [Some(rs1.to_string()), Some(rs2.to_string())],
            format!(
                "the restarting peer's path was dropped at once instead of kept as stale: {paths:?}"
            ),
        );
    };
    // Killed and back: the routes stay all along.
    lab.rs.instance_mut(1).unwrap().kill();
    lab.wait_nva_session(rs2, false);
    kept(&lab);
    let restarted = lab.rs.instance_mut(1).unwrap().start();
    lab.ok(restarted);
    lab.wait_nva_session(rs2, true);
    lab.wait_vnet_paths(&[rs1, rs2]);
    lab.wait_nva_routes_at(1);
    lab.step_done("routes kept while the peer restarted");
    // Killed for good: the routes go when the restart time is over.
    lab.rs.instance_mut(1).unwrap().kill();
    lab.wait_nva_session(rs2, false);
    kept(&lab);
    lab.wait_vnet_paths(&[rs1]);
    let neighbor = lab.ok(lab.nva.neighbor(rs2));
    lab.ensure(
        neighbor.state != SessionState::Established,
        format!("the killed peer is up again: {neighbor:?}"),
    );
    lab.step_done("stale routes gone after the restart time");
}

/// A network partition at the virtual router (forwarding off): nothing
/// gets through either way, so both of nvabgp's hold timers expire and the
/// VNet paths go; with forwarding back on, both sessions recover by
/// themselves, whatever state each side's half-dead connections were left
/// in. BIRD.
#[test]
fn partition_at_the_virtual_router() {
    let test = "partition_at_the_virtual_router";
    if !lab_available(test, &[Implementation::Bird]) {
        return;
    }
    let mut lab = Lab::start(test, StandIn::Daemon(Implementation::Bird));
    lab.wait_up();
    set_forwarding(&lab, false);
    for peer in lab.rs_addresses() {
        let neighbor = lab.wait_nva_session(peer, false);
        lab.ensure(
            neighbor
                .last_error
                .as_deref()
                .is_some_and(|e| e.to_ascii_lowercase().contains("hold timer")),
            format!("session lost to the partition for another reason: {neighbor:?}"),
        );
    }
    lab.ok(lab
        .nva
        .wait_loc_rib(prefix(VNET), "without paths", &|p| p.is_empty(), TIMEOUT));
    lab.step_done("hold timers expired during the partition");
    set_forwarding(&lab, true);
    lab.wait_up();
    lab.step_done("both sessions back after the partition");
}

/// IPv4 forwarding on the virtual router.
fn set_forwarding(lab: &Lab, on: bool) {
    let value = format!("net.ipv4.ip_forward={}", u8::from(on));
    let out = lab.ok(lab.topology.vr_exec(&["sysctl", "-qw", &value]));
    lab.ensure(out.status.success(), format!("sysctl {value}: {out:?}"));
}
