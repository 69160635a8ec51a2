//! nvabgp's kernel routes end to end: the whole daemon in the namespace
//! lab (`nvabgp::lab`), with real BIRD and real GoBGP as the two Route
//! Server stand-ins (10.1.1.4 and 10.1.1.5, AS 65515, reached through the
//! virtual router 10.1.2.1), `[kernel]` on with the Route Server subnet
//! known (`pin = "auto"`, the default, then pins that subnet and the
//! default route). The NVA's routing table is read back with
//! `ip -n <nva> -j route show table all`; our routes are those of
//! `rtm_protocol` 200 (shown as `nvabgp` where `/etc/iproute2/rt_protos.d`
//! names it). One test per stand-in implementation, each in its own
//! topology, runs the same scenario:
//!
//! 1. sessions up: exactly the pinned routes (0.0.0.0/0 and 10.1.1.0/24
//!    via 10.1.2.1) and the learned ones (a spoke announced by both
//!    stand-ins: one route via 10.1.2.1; a prefix announced by one only);
//!    a withdrawal at one stand-in keeps the spoke, at both removes it; one
//!    stand-in down removes only what it alone announced;
//! 2. the seed traps: the stand-ins announce 0.0.0.0/0, the Route Server
//!    subnet itself and 10.0.0.0/8 (covering the peers): the sessions stay
//!    up, the pinned routes stay, none of the three is installed, the Route
//!    Servers still answer ping, and each refusal is in nvabgp's log with
//!    its reason;
//! 3. a pinned route deleted by hand comes back (the time is printed);
//! 4. nvabgp killed (-9) while a learned route goes away, then restarted:
//!    the stale route is gone once it settles, and `ip monitor` never saw a
//!    pinned route deleted in between;
//! 5. SIGTERM: learned routes removed, pinned routes stay.
//!
//! Needs root, iproute2, ping and the Debian packages bird2 and gobgpd;
//! skips loudly without them (fails on CI). `--nocapture` shows each
//! step's duration and the measured restore time.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{TIMEOUT, lab_available, prefix};
use nvabgp::control::{KernelStatus, Request, Response, RoutePath, SessionState};
use nvabgp::lab::daemons::{
    Announcement, BgpSpeaker, Implementation, NvaSpeakerOptions, Nvabgp, RouteServerOptions,
    RouteServers, Timers, nva_speaker_config,
};
use nvabgp::lab::process::{COMMAND_TIME_LIMIT, Process, run, wait_for};
use nvabgp::lab::{Node, Topology, TopologyOptions};

/// The binary under test.
const NVABGP: &str = env!("CARGO_BIN_EXE_nvabgp");

/// Our `rtm_protocol` (`nvabgp::config::KERNEL_PROTOCOL`), as `ip -j`
/// prints it with and without `packaging/rt_protos.d/nvabgp.conf`.
const PROTOCOL_NAMES: [&str; 2] = ["200", "nvabgp"];
/// Our default metric (`nvabgp::config::KERNEL_METRIC`).
const METRIC: u64 = 20;
/// The virtual router: the first host of the NVA subnet.
const VIRTUAL_ROUTER: &str = "10.1.2.1";
/// The Route Server subnet (`RouteServerSubnet`).
const RS_SUBNET: &str = "10.1.1.0/24";
/// The default route.
const DEFAULT: &str = "0.0.0.0/0";
/// A spoke both stand-ins announce.
const SPOKE: &str = "10.2.0.0/16";
/// A prefix only the first stand-in announces.
const ONLY_FIRST: &str = "10.4.0.0/16";
/// A prefix that goes away while nvabgp is dead.
const DOOMED: &str = "10.3.0.0/16";
/// A prefix covering the peers (and the pinned subnet).
const COVERING: &str = "10.0.0.0/8";

/// `[kernel]`: everything default (install, table main, metric 20,
/// protocol 200, pin "auto", default route pinned, the virtual router found
/// from the NVA's subnet) except the Route Server subnet, which makes
/// "auto" pin it rather than each peer address.
const KERNEL: &str = "route_server_subnets = [\"10.1.1.0/24\"]\n";

/// How long the kernel gets to follow a change (a healthy run: a few ms).
const KERNEL_WAIT: Duration = Duration::from_secs(20);
/// How long a pinned route deleted by hand may stay missing (the issue
/// asks for 1 s; 0.5 s of slack for this shared machine).
const RESTORE_LIMIT: Duration = Duration::from_millis(1500);
/// How often the restore is checked.
const RESTORE_POLL: Duration = Duration::from_millis(50);
/// How long the sessions are watched for a flap after the traps.
const STABLE_WATCH: Duration = Duration::from_secs(3);

/// One route of ours as the kernel reports it, normalised:
/// `"<prefix> via <gateway> metric <m> table <t>"` (multipath routes list
/// every gateway).
fn describe(route: &serde_json::Value) -> String {
    let text = |key: &str| route.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let mut dst = text("dst").unwrap_or_default();
    if dst == "default" {
        dst = DEFAULT.to_string();
    } else if !dst.contains('/') {
        dst.push_str("/32");
    }
    let gateways = match route.get("nexthops").and_then(|n| n.as_array()) {
        Some(hops) => hops
            .iter()
            .filter_map(|h| h.get("gateway").and_then(|g| g.as_str()))
            .collect::<Vec<_>>()
            .join(","),
        None => text("gateway").unwrap_or_else(|| "-".into()),
    };
    let metric = route.get("metric").and_then(|m| m.as_u64()).unwrap_or(0);
    let table = text("table").unwrap_or_else(|| "main".into());
    format!("{dst} via {gateways} metric {metric} table {table}")
}

/// How `describe` shows a route of ours via the virtual router.
fn ours(prefix: &str) -> String {
    format!("{prefix} via {VIRTUAL_ROUTER} metric {METRIC} table main")
}

/// Our routes (protocol 200) in every table of namespace `ns`, described.
fn kernel_routes(ns: &str) -> nvabgp::lab::Result<BTreeSet<String>> {
    let json = run(
        Command::new("ip").args(["-n", ns, "-j", "route", "show", "table", "all"]),
        COMMAND_TIME_LIMIT,
    )?;
    let routes: Vec<serde_json::Value> =
        serde_json::from_str(&json).map_err(|e| nvabgp::lab::Error::Parse {
            what: "ip -j route show table all".into(),
            reason: format!("{e}: {json}"),
        })?;
    Ok(routes
        .iter()
        .filter(|r| {
            r.get("protocol")
                .and_then(|p| p.as_str())
                .is_some_and(|p| PROTOCOL_NAMES.contains(&p))
        })
        .map(describe)
        .collect())
}

/// The routes we expect: the pinned ones and `learned`, all via the
/// virtual router.
fn expected(learned: &[&str]) -> BTreeSet<String> {
    [DEFAULT, RS_SUBNET]
        .iter()
        .chain(learned)
        .map(|p| ours(p))
        .collect()
}

/// The learned prefixes nvabgp's log says it kept out of the kernel, with
/// the reason: `(prefix, reason)` of each "kept out of the kernel" line.
fn refusals(log: &str) -> BTreeSet<(String, String)> {
    log.lines()
        .filter(|l| l.contains("learned route kept out of the kernel"))
        .filter_map(|l| {
            let field = |key: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(key))
                    .map(str::to_string)
            };
            Some((field("prefix=")?, field("reason=")?))
        })
        .collect()
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
    fn start(test: &'static str, implementation: Implementation) -> Self {
        let started = Instant::now();
        let topology = Topology::up(TopologyOptions::default()).unwrap();
        let options = RouteServerOptions {
            timers: Timers::SHORT,
            announcements: vec![Announcement::new(prefix(SPOKE))],
            ..RouteServerOptions::default()
        };
        let mut rs = RouteServers::start(implementation, &topology, &options)
            .unwrap_or_else(|e| panic!("{test}: stand-ins did not start: {e}"));
        let only_first = rs
            .instance_mut(0)
            .unwrap()
            .announce(Announcement::new(prefix(ONLY_FIRST)));
        if let Err(e) = only_first {
            panic!("{test}: {e}\n{}", rs.diagnostics());
        }
        let nva_options = NvaSpeakerOptions {
            timers: Timers::SHORT,
            ..NvaSpeakerOptions::default()
        };
        let mut nva = Nvabgp::new(NVABGP, nva_speaker_config(&topology, &nva_options))
            .unwrap()
            .with_kernel(Some(KERNEL));
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

    fn ns(&self) -> &str {
        self.topology.namespace(Node::Nva)
    }

    fn logs(&self) -> String {
        let routes = run(
            Command::new("ip").args(["-n", self.ns(), "route", "show", "table", "all"]),
            COMMAND_TIME_LIMIT,
        )
        .unwrap_or_else(|e| e.to_string());
        format!(
            "{}\n{}\n-- ip route show table all (nva)\n{routes}",
            self.rs.diagnostics(),
            self.nva.diagnostics()
        )
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

    fn routes(&self) -> BTreeSet<String> {
        self.ok(kernel_routes(self.ns()))
    }

    /// nvabgp's kernel counters (`nvabgp status`).
    fn kernel_status(&self) -> KernelStatus {
        match self.ok(self.nva.call(&Request::Status)) {
            Response::Status(status) => match status.kernel {
                Some(kernel) => kernel,
                None => panic!("{}: status without kernel: {status:?}", self.steps.test),
            },
            other => panic!("{}: status answered {other:?}", self.steps.test),
        }
    }

    /// Waits until our routes are exactly `want`.
    fn wait_kernel(&self, want: &BTreeSet<String>, what: &str) {
        let mut seen = BTreeSet::new();
        let result = wait_for(what, KERNEL_WAIT, || {
            seen = kernel_routes(self.ns())?;
            Ok((seen == *want).then_some(()))
        });
        if result.is_err() {
            panic!(
                "{}: timed out after {KERNEL_WAIT:?} waiting for {what}\nwant {want:#?}\nhave {seen:#?}\n{}",
                self.steps.test,
                self.logs()
            );
        }
    }

    /// Waits until nvabgp's session with `peer` is up (`true`) or down, as
    /// its RIB sees it too (see tests/interop.rs).
    fn wait_nva_session(&self, peer: Ipv4Addr, up: bool) {
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
        ));
    }

    /// Waits until nvabgp's Loc-RIB holds `prefix` from exactly `peers`.
    fn wait_paths(&self, prefix_text: &str, peers: &[Ipv4Addr]) -> Vec<RoutePath> {
        let mut names: Vec<String> = peers.iter().map(ToString::to_string).collect();
        names.sort();
        self.ok(self.nva.wait_loc_rib(
            prefix(prefix_text),
            &format!("paths from {names:?}"),
            &|paths| {
                let mut from: Vec<String> = paths.iter().filter_map(|p| p.peer.clone()).collect();
                from.sort();
                from == names
            },
            TIMEOUT,
        ))
    }

    /// Both sessions up and the spoke from both stand-ins.
    fn wait_up(&self) {
        for peer in self.rs_addresses() {
            self.wait_nva_session(peer, true);
        }
        self.ok(self.rs.wait_established(TIMEOUT));
        self.wait_paths(SPOKE, &self.rs_addresses());
    }

    /// Proves the kernel caught up with every Loc-RIB change made so far:
    /// `marker` is announced by the second stand-in, and once nvabgp has
    /// written it (changes reach the kernel in order), it is withdrawn
    /// again and waited out. `steady` are the other routes of ours
    /// expected meanwhile, which are checked to be exactly there.
    fn kernel_caught_up(&mut self, marker: &str, steady: &[&str]) {
        let announced = self
            .rs
            .instance_mut(1)
            .unwrap()
            .announce(Announcement::new(prefix(marker)));
        self.ok(announced);
        let mut with_marker = steady.to_vec();
        with_marker.push(marker);
        self.wait_kernel(
            &expected(&with_marker),
            &format!("marker {marker} installed"),
        );
        let withdrawn = self.rs.instance_mut(1).unwrap().withdraw(prefix(marker));
        self.ok(withdrawn);
        self.wait_kernel(&expected(steady), &format!("marker {marker} removed"));
    }
}

/// The whole scenario against `implementation` as the Route Servers.
fn scenario(test: &'static str, implementation: Implementation) {
    if !lab_available(test, &[implementation]) {
        return;
    }
    let mut lab = Lab::start(test, implementation);
    let [rs1, rs2] = lab.rs_addresses();

    // 1. Sessions up: pinned routes plus what was learned, nothing else.
    lab.wait_up();
    lab.wait_paths(ONLY_FIRST, &[rs1]);
    lab.wait_kernel(
        &expected(&[SPOKE, ONLY_FIRST]),
        "pinned routes and the learned spoke and prefix",
    );
    let status = lab.kernel_status();
    lab.ensure(
        status.pinned == 2
            && status.pinned_wanted == 2
            && status.installed == 2
            && status.virtual_router == Some(Ipv4Addr::new(10, 1, 2, 1))
            && status.refused.is_empty()
            && status.errors == 0,
        format!("kernel counters: {status:?}"),
    );
    lab.step_done("1a pinned and learned routes installed");

    // 1b. A withdrawal at one stand-in: the other still announces the
    // spoke, so it stays; at both, it goes; announced again, it is back.
    let withdrawn = lab.rs.instance_mut(0).unwrap().withdraw(prefix(SPOKE));
    lab.ok(withdrawn);
    lab.wait_paths(SPOKE, &[rs2]);
    lab.kernel_caught_up("10.9.1.0/24", &[SPOKE, ONLY_FIRST]);
    let withdrawn = lab.rs.instance_mut(1).unwrap().withdraw(prefix(SPOKE));
    lab.ok(withdrawn);
    lab.wait_kernel(&expected(&[ONLY_FIRST]), "the spoke removed");
    let changed = lab.rs.announce(&Announcement::new(prefix(SPOKE)));
    lab.ok(changed);
    lab.wait_paths(SPOKE, &[rs1, rs2]);
    lab.wait_kernel(&expected(&[SPOKE, ONLY_FIRST]), "the spoke back");
    lab.step_done("1b withdrawals at one and at both stand-ins");

    // 1c. The first stand-in down: what only it announced goes, the spoke
    // (still announced by the second) stays; back up, all is back.
    lab.rs.instance_mut(0).unwrap().kill();
    lab.wait_nva_session(rs1, false);
    lab.wait_paths(SPOKE, &[rs2]);
    lab.wait_kernel(
        &expected(&[SPOKE]),
        "only the first stand-in's prefix removed",
    );
    lab.kernel_caught_up("10.9.2.0/24", &[SPOKE]);
    let restarted = lab.rs.instance_mut(0).unwrap().start();
    lab.ok(restarted);
    lab.wait_up();
    lab.wait_kernel(
        &expected(&[SPOKE, ONLY_FIRST]),
        "the first stand-in's prefix back",
    );
    lab.step_done("1c one stand-in down and back");

    // 2. The seed traps: the stand-ins announce the default route, the
    // Route Server subnet itself and a prefix covering the peers.
    let uptimes = |lab: &Lab| -> Vec<(Option<u64>, Option<String>)> {
        lab.rs_addresses()
            .iter()
            .map(|peer| {
                let n = lab.ok(lab.nva.neighbor(*peer));
                lab.ensure(
                    n.state == SessionState::Established,
                    format!("session with {peer} not Established: {n:?}"),
                );
                (n.uptime_secs, n.last_error)
            })
            .collect()
    };
    let before = uptimes(&lab);
    for trap in [DEFAULT, RS_SUBNET, COVERING] {
        let changed = lab.rs.announce(&Announcement::new(prefix(trap)));
        lab.ok(changed);
    }
    for trap in [DEFAULT, RS_SUBNET, COVERING] {
        lab.wait_paths(trap, &[rs1, rs2]);
    }
    let want_refused: BTreeSet<(String, String)> = [
        (DEFAULT, "default-pinned"),
        (RS_SUBNET, "covers-pinned"),
        (COVERING, "covers-pinned"),
    ]
    .iter()
    .map(|(p, r)| (p.to_string(), r.to_string()))
    .collect();
    let mut seen_refused = BTreeSet::new();
    let logged = wait_for("the three refusals in nvabgp's log", KERNEL_WAIT, || {
        seen_refused = refusals(&lab.nva.log_text());
        Ok(want_refused.is_subset(&seen_refused).then_some(()))
    });
    lab.ensure(
        logged.is_ok(),
        format!("refusals logged: {seen_refused:?}, want {want_refused:?}"),
    );
    lab.ensure(
        seen_refused == want_refused,
        format!("other refusals logged: {seen_refused:?}, want {want_refused:?}"),
    );
    let status = lab.kernel_status();
    let want_counts: std::collections::BTreeMap<String, u64> = [
        ("covers-pinned".to_string(), 2),
        ("default-pinned".to_string(), 1),
    ]
    .into();
    lab.ensure(
        status.refused == want_counts && status.errors == 0,
        format!("kernel counters after the traps: {status:?}"),
    );
    // Whatever the refused routes did, it is done once a later change has
    // reached the kernel.
    lab.kernel_caught_up("10.9.3.0/24", &[SPOKE, ONLY_FIRST]);
    // A few seconds without a flap (nothing to do with the 9 s hold time:
    // a broken path to the peers would reset the connections at once or
    // stop the keepalives, both seen as a new uptime or a last_error).
    let watch = Instant::now();
    while watch.elapsed() < STABLE_WATCH {
        let now = uptimes(&lab);
        for ((up_before, error_before), (up_now, error_now)) in before.iter().zip(&now) {
            lab.ensure(
                up_now >= up_before && error_now == error_before,
                format!("a session flapped after the traps: before {before:?}, now {now:?}"),
            );
        }
        lab.ensure(
            lab.routes() == expected(&[SPOKE, ONLY_FIRST]),
            format!("our routes changed after the traps: {:?}", lab.routes()),
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    for target in lab.rs_addresses() {
        let answered = lab.ok(lab.topology.ping(Node::Nva, target));
        lab.ensure(
            answered,
            format!("{target} does not answer ping from the NVA"),
        );
    }
    lab.step_done("2 the traps refused, sessions and pinned routes unharmed");

    // 3. A pinned route deleted by hand is put back.
    for pinned in [RS_SUBNET, DEFAULT] {
        let restored_before = lab.kernel_status().restored;
        let metric = METRIC.to_string();
        let deleted = run(
            Command::new("ip").args([
                "-n",
                lab.ns(),
                "route",
                "del",
                pinned,
                "via",
                VIRTUAL_ROUTER,
                "proto",
                "200",
                "metric",
                &metric,
                "table",
                "main",
            ]),
            COMMAND_TIME_LIMIT,
        );
        let deleted_at = Instant::now();
        lab.ok(deleted);
        let want = expected(&[SPOKE, ONLY_FIRST]);
        let mut missing_seen = false;
        let (restored, seen) = loop {
            let seen = lab.routes();
            if seen == want {
                break (Some(deleted_at.elapsed()), seen);
            }
            missing_seen |= !seen.contains(&ours(pinned));
            if deleted_at.elapsed() > RESTORE_LIMIT {
                break (None, seen);
            }
            std::thread::sleep(RESTORE_POLL);
        };
        match restored {
            Some(took) => eprintln!(
                "{test}: pinned {pinned} deleted by hand, back after {took:.0?} (seen missing: {missing_seen})"
            ),
            None => lab.ensure(
                false,
                format!("pinned {pinned} not back within {RESTORE_LIMIT:?}: {seen:#?}"),
            ),
        }
        // Put back by nvabgp, as it counts.
        let mut status = None;
        let counted = wait_for("nvabgp to count the restore", KERNEL_WAIT, || {
            let now = lab.kernel_status();
            let done = now.restored == restored_before + 1;
            status = Some(now);
            Ok(done.then_some(()))
        });
        lab.ensure(
            counted.is_ok(),
            format!("restored was {restored_before}, now {status:?}"),
        );
    }
    lab.step_done("3 pinned routes deleted by hand put back");

    // 4. nvabgp killed while a learned route goes away, then restarted.
    let changed = lab.rs.announce(&Announcement::new(prefix(DOOMED)));
    lab.ok(changed);
    lab.wait_kernel(&expected(&[SPOKE, ONLY_FIRST, DOOMED]), "the doomed prefix");
    let monitor_log = lab.ok(lab
        .nva
        .log_path()
        .parent()
        .map(|d| d.join("ip-monitor.log"))
        .ok_or("no runtime directory"));
    let mut command = Command::new("ip");
    command.args(["-n", lab.ns(), "monitor", "route", "nexthop"]);
    let mut monitor = lab.ok(Process::spawn("ip-monitor", command, &monitor_log));
    // The monitor listens once it reports a change made after its start
    // (each attempt adds a route of its own metric; all deleted after).
    let probe = "192.0.2.0/24";
    let mut attempts = 0u32;
    let listening = wait_for("ip monitor to report a route change", KERNEL_WAIT, || {
        attempts += 1;
        let metric = (1000 + attempts).to_string();
        run(
            Command::new("ip").args([
                "-n",
                lab.ns(),
                "route",
                "add",
                probe,
                "via",
                VIRTUAL_ROUTER,
                "metric",
                &metric,
            ]),
            COMMAND_TIME_LIMIT,
        )?;
        let events = std::fs::read_to_string(&monitor_log).unwrap_or_default();
        Ok(events.contains(probe).then_some(()))
    });
    if let Err(e) = listening {
        let events = std::fs::read_to_string(&monitor_log).unwrap_or_default();
        lab.ensure(false, format!("{e}; ip monitor wrote:\n{events}"));
    }
    for attempt in 1..=attempts {
        let metric = (1000 + attempt).to_string();
        lab.ok(run(
            Command::new("ip").args([
                "-n",
                lab.ns(),
                "route",
                "del",
                probe,
                "via",
                VIRTUAL_ROUTER,
                "metric",
                &metric,
            ]),
            COMMAND_TIME_LIMIT,
        ));
    }
    // Our routes, polled all along as well.
    let stop = AtomicBool::new(false);
    let ns = lab.ns().to_string();
    let pinned = [ours(DEFAULT), ours(RS_SUBNET)];
    let window = Instant::now();
    let (polls, lost, spoke_missing) = std::thread::scope(|scope| {
        let poller = scope.spawn(|| {
            let mut polls = 0u32;
            let mut lost = Vec::new();
            let spoke = ours(SPOKE);
            let mut spoke_missing: Option<(Duration, Duration)> = None;
            while !stop.load(Ordering::Relaxed) {
                match kernel_routes(&ns) {
                    Ok(routes) => {
                        polls += 1;
                        if !pinned.iter().all(|p| routes.contains(p)) {
                            lost.push(format!("{:?}: {routes:?}", window.elapsed()));
                        }
                        if !routes.contains(&spoke) {
                            let now = window.elapsed();
                            let first = spoke_missing.map_or(now, |(first, _)| first);
                            spoke_missing = Some((first, now));
                        }
                    }
                    Err(e) => lost.push(format!("{:?}: {e}", window.elapsed())),
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (polls, lost, spoke_missing)
        });
        lab.nva.kill();
        // Dead, nvabgp leaves its routes behind (the restart must clean up).
        let left = lab.routes();
        lab.ensure(
            left == expected(&[SPOKE, ONLY_FIRST, DOOMED]),
            format!("routes after kill -9: {left:?}"),
        );
        let changed = lab.rs.withdraw(prefix(DOOMED));
        lab.ok(changed);
        let restarted = lab.nva.start();
        lab.ok(restarted);
        lab.wait_up();
        lab.wait_paths(ONLY_FIRST, &[rs1]);
        lab.wait_kernel(
            &expected(&[SPOKE, ONLY_FIRST]),
            "the stale route gone after the restart",
        );
        stop.store(true, Ordering::Relaxed);
        poller.join().unwrap()
    });
    let settled = window.elapsed();
    monitor.kill();
    let events = std::fs::read_to_string(&monitor_log).unwrap_or_default();
    let deleted_ours = |prefix_text: &str| {
        let dst = if prefix_text == DEFAULT {
            "default"
        } else {
            prefix_text
        };
        events.lines().any(|l| {
            l.starts_with("Deleted")
                && l.split_whitespace().nth(1) == Some(dst)
                && PROTOCOL_NAMES
                    .iter()
                    .any(|p| l.contains(&format!("proto {p} ")))
        })
    };
    // Still listening after the restart: the learned routes written again
    // (the purge took the stale ones with their nexthop object, which the
    // kernel does not report per route).
    lab.ensure(
        events
            .lines()
            .any(|l| !l.starts_with("Deleted") && l.starts_with(SPOKE)),
        format!("ip monitor did not see {SPOKE} written again:\n{events}"),
    );
    for pinned in [DEFAULT, RS_SUBNET] {
        lab.ensure(
            !deleted_ours(pinned),
            format!("pinned {pinned} deleted during the restart:\n{events}"),
        );
    }
    lab.ensure(
        lost.is_empty() && polls > 0,
        format!("pinned routes missing during the restart ({polls} polls): {lost:#?}"),
    );
    eprintln!(
        "{test}: restart settled in {settled:.1?}; {polls} polls, pinned routes always there; \
         learned {SPOKE} missing from {spoke_missing:?} (first and last poll without it)"
    );
    lab.step_done("4 kill -9 and restart: stale route purged, pinned routes kept");

    // 5. SIGTERM: learned routes removed, pinned routes stay.
    let status = lab.nva.terminate();
    lab.ensure(
        status.is_some_and(|s| s.success()),
        format!("nvabgp did not exit cleanly on SIGTERM: {status:?}"),
    );
    let left = lab.routes();
    lab.ensure(
        left == expected(&[]),
        format!("after SIGTERM, want only the pinned routes: {left:#?}"),
    );
    lab.step_done("5 SIGTERM: learned routes removed, pinned kept");
}

#[test]
fn kernel_routes_with_bird_route_servers() {
    scenario(
        "kernel_routes_with_bird_route_servers",
        Implementation::Bird,
    );
}

#[test]
fn kernel_routes_with_gobgp_route_servers() {
    scenario(
        "kernel_routes_with_gobgp_route_servers",
        Implementation::Gobgp,
    );
}
