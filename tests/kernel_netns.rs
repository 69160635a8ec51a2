//! The kernel module against a real kernel, inside network namespaces this
//! test creates (and deletes, also on panic):
//!
//! ```text
//!  nvk-PID-N (the NVA)                 nvk-PID-N-vr ("Azure virtual router")
//!  nva0 10.1.2.4/24  <---- veth ---->  vr0 10.1.2.1/24
//! ```
//!
//! The module runs on a thread that entered the NVA namespace with
//! `setns` before its runtime and sockets were made; the kernel state is
//! read with `ip -n NS -j route show table all`. Needs root and iproute2:
//! skipped loudly otherwise, and a failure when `CI=true`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgp_proto::Prefix;
use nvabgp::config::{KernelConfig, KernelPeerConfig, LearnedInstall, PinMode};
use nvabgp::kernel::{self, KernelContext, RefusalReason};

/// `rtm_protocol` of our routes, as `ip -j` shows it: the name when
/// packaging/rt_protos.d/nvabgp.conf is installed, else the number.
const PROTO: u8 = nvabgp::config::KERNEL_PROTOCOL;

fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ip = Command::new("ip").arg("-V").output().is_ok();
    if root && ip {
        return true;
    }
    let why = if root {
        "iproute2 (`ip`) is missing"
    } else {
        "not root (network namespaces need CAP_SYS_ADMIN)"
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "kernel_netns: {why}, and CI=true: these tests must run in CI"
    );
    eprintln!("\n****************************************************************");
    eprintln!("*** SKIPPED kernel_netns: {why}");
    eprintln!("****************************************************************\n");
    false
}

fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// One route of `ip -j route show table all`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    dst: String,
    table: String,
    protocol: String,
    metric: u64,
    /// Gateways, sorted (one, or the multipath set).
    gateways: Vec<String>,
}

impl Route {
    fn ours(&self) -> bool {
        self.protocol == "nvabgp" || self.protocol == PROTO.to_string()
    }
}

/// The NVA namespace and its virtual-router neighbor; deleted on drop.
struct Lab {
    ns: String,
    vr: String,
}

impl Lab {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let ns = format!("nvk-{}-{n}", std::process::id());
        let lab = Self {
            vr: format!("{ns}-vr"),
            ns,
        };
        run(&["ip", "netns", "add", &lab.ns]).unwrap();
        run(&["ip", "netns", "add", &lab.vr]).unwrap();
        lab.ip(&[
            "link", "add", "name", "nva0", "type", "veth", "peer", "name", "vr0", "netns", &lab.vr,
        ]);
        lab.ip(&["addr", "add", "10.1.2.4/24", "dev", "nva0"]);
        lab.ip(&["link", "set", "nva0", "up"]);
        lab.ip(&["link", "set", "lo", "up"]);
        run(&[
            "ip",
            "-n",
            &lab.vr,
            "addr",
            "add",
            "10.1.2.1/24",
            "dev",
            "vr0",
        ])
        .unwrap();
        run(&["ip", "-n", &lab.vr, "link", "set", "vr0", "up"]).unwrap();
        lab
    }

    fn try_ip(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["ip", "-n", &self.ns];
        all.extend_from_slice(args);
        run(&all)
    }

    fn ip(&self, args: &[&str]) -> String {
        self.try_ip(args).unwrap()
    }

    fn routes(&self) -> Vec<Route> {
        let text = self.ip(&["-j", "route", "show", "table", "all"]);
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let s =
            |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(String::from);
        json.as_array()
            .unwrap()
            .iter()
            .filter(|r| s(r, "type").is_none_or(|t| t == "unicast"))
            .map(|r| {
                let mut gateways: Vec<String> = match r.get("nexthops").and_then(|n| n.as_array()) {
                    Some(hops) => hops.iter().filter_map(|h| s(h, "gateway")).collect(),
                    None => s(r, "gateway").into_iter().collect(),
                };
                gateways.sort();
                Route {
                    dst: s(r, "dst").unwrap_or_default(),
                    table: s(r, "table").unwrap_or_else(|| "main".into()),
                    protocol: s(r, "protocol").unwrap_or_default(),
                    metric: r.get("metric").and_then(|m| m.as_u64()).unwrap_or(0),
                    gateways,
                }
            })
            .collect()
    }

    /// Routes of table `table` to `dst` (`default` for 0.0.0.0/0).
    fn find(&self, table: &str, dst: &str) -> Vec<Route> {
        self.routes()
            .into_iter()
            .filter(|r| r.table == table && r.dst == dst)
            .collect()
    }

    fn ours(&self, table: &str, dst: &str) -> Option<Route> {
        self.find(table, dst).into_iter().find(Route::ours)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.ns]);
        let _ = run(&["ip", "netns", "del", &self.vr]);
    }
}

/// Runs `body` on a thread inside namespace `ns`, on a runtime made there.
fn in_netns<F, Fut, R>(ns: &str, body: F) -> R
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = R>,
    R: Send + 'static,
{
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a valid namespace fd; affects only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(body())
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Polls `check` every 5 ms for at most 10 s (the runtime keeps running the
/// monitor meanwhile); panics with `what` if it never holds.
async fn wait_for(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    for _ in 0..2000 {
        if check() {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out after 10 s waiting for: {what}");
}

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn context() -> KernelContext {
    KernelContext {
        peers: vec![a("10.1.1.4"), a("10.1.1.5")],
        local_addresses: vec![a("10.1.2.4")],
        originated: vec![p("100.64.0.0/24")],
        route_server_subnets: vec![p("10.1.1.0/27")],
    }
}

/// `ip monitor route` running in the namespace, its lines collected.
struct Monitor {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Monitor {
    fn start(ns: &str) -> Self {
        let mut child = Command::new("ip")
            .args(["-n", ns, "monitor", "route"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn saw(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pinned_and_learned_routes_traps_restore_and_shutdown() {
    if !can_run() {
        return;
    }
    let lab = Lab::new();
    // Left by a crash: a learned route of ours (must go) and the pinned
    // default of ours with an old gateway (must be replaced in place).
    lab.ip(&[
        "route",
        "add",
        "198.18.0.0/24",
        "via",
        "10.1.2.1",
        "proto",
        &PROTO.to_string(),
        "metric",
        "20",
    ]);
    lab.ip(&[
        "route",
        "add",
        "default",
        "via",
        "10.1.2.200",
        "proto",
        &PROTO.to_string(),
        "metric",
        "20",
    ]);
    // A stale nexthop object of ours with a route using it.
    lab.ip(&[
        "nexthop",
        "add",
        "id",
        "77",
        "via",
        "10.1.2.1",
        "dev",
        "nva0",
        "proto",
        &PROTO.to_string(),
    ]);
    lab.ip(&[
        "route",
        "add",
        "198.18.1.0/24",
        "nhid",
        "77",
        "proto",
        &PROTO.to_string(),
        "metric",
        "20",
    ]);
    // Foreign routes: one at our metric (a key we must not take), one at
    // metric 0 for a prefix we will install too.
    lab.ip(&[
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "10.1.2.1",
        "proto",
        "static",
        "metric",
        "20",
    ]);
    lab.ip(&[
        "route",
        "add",
        "192.0.2.0/24",
        "via",
        "10.1.2.1",
        "proto",
        "static",
    ]);
    let foreign_before: Vec<Route> = lab.routes().into_iter().filter(|r| !r.ours()).collect();

    let ns = lab.ns.clone();
    let lab = Arc::new(lab);
    let l = Arc::clone(&lab);
    in_netns(&ns, move || async move {
        let lab = l;
        let cfg = KernelConfig::default();
        let k = kernel::start(&cfg, context()).await.unwrap();
        let stats = k.stats();
        assert_eq!(stats.virtual_router, Some("10.1.2.1".parse().unwrap()));
        assert_eq!(stats.purged, 1, "the stale learned route is purged");
        assert!(lab.find("main", "198.18.0.0/24").is_empty());
        assert!(lab.find("main", "198.18.1.0/24").is_empty());
        assert!(
            lab.try_ip(&["nexthop", "get", "id", "77"]).is_err(),
            "stale nexthop object purged"
        );
        // Pinned: the Route Server subnet and the default, via the
        // virtual router, our protocol.
        for dst in ["10.1.1.0/27", "default"] {
            let r = lab
                .ours("main", dst)
                .unwrap_or_else(|| panic!("pinned {dst} missing"));
            assert_eq!(r.gateways, vec!["10.1.2.1"], "{dst}");
            assert_eq!(r.metric, 20);
        }
        assert_eq!((stats.pinned, stats.pinned_wanted), (2, 2));

        // Learned routes: off-link next hop -> virtual router; connected
        // next hop -> itself; two connected next hops -> ECMP.
        k.set(p("192.0.2.0/24"), vec![a("10.1.1.4")]);
        k.set(p("192.0.3.0/24"), vec![a("10.1.2.7")]);
        k.set(p("192.0.4.0/24"), vec![a("10.1.2.8"), a("10.1.2.7")]);
        k.set(p("192.0.6.0/24"), vec![a("10.1.1.4"), a("10.1.1.5")]);
        // The traps, each set twice (counted and logged once).
        let traps = [
            ("0.0.0.0/0", "10.1.1.4", RefusalReason::DefaultPinned),
            ("10.0.0.0/8", "10.1.1.4", RefusalReason::CoversPinned),
            ("10.1.1.4/30", "10.1.1.4", RefusalReason::CoversPeer),
            ("169.254.0.0/16", "10.1.1.4", RefusalReason::CoversMetadata),
            ("168.63.0.0/16", "10.1.1.4", RefusalReason::CoversMetadata),
            ("192.0.5.0/24", "10.1.2.4", RefusalReason::NextHopIsLocal),
            ("100.64.0.0/24", "10.1.1.4", RefusalReason::Originated),
            ("203.0.113.0/24", "10.1.1.4", RefusalReason::ForeignRoute),
        ];
        for _ in 0..2 {
            for (prefix, next_hop, _) in traps {
                k.set(p(prefix), vec![a(next_hop)]);
            }
        }
        k.flush().await;
        let r = lab.ours("main", "192.0.2.0/24").unwrap();
        assert_eq!(r.gateways, vec!["10.1.2.1"]);
        assert_eq!(
            lab.ours("main", "192.0.3.0/24").unwrap().gateways,
            vec!["10.1.2.7"]
        );
        assert_eq!(
            lab.ours("main", "192.0.4.0/24").unwrap().gateways,
            vec!["10.1.2.7", "10.1.2.8"]
        );
        assert_eq!(
            lab.ours("main", "192.0.6.0/24").unwrap().gateways,
            vec!["10.1.2.1"]
        );
        let stats = k.stats();
        for reason in RefusalReason::ALL {
            let want = traps.iter().filter(|t| t.2 == reason).count() as u64;
            assert_eq!(stats.refused(reason), want, "{reason}");
        }
        for (prefix, _, _) in traps {
            let dst = if prefix == "0.0.0.0/0" {
                "default"
            } else {
                prefix
            };
            assert!(
                lab.find("main", dst)
                    .iter()
                    .all(|r| !r.ours() || dst == "default"),
                "{prefix} must not be installed"
            );
        }
        assert_eq!(
            lab.ours("main", "default").unwrap().gateways,
            vec!["10.1.2.1"]
        );
        assert_eq!(stats.installed, 4);
        assert_eq!(stats.errors, 0);

        // Replace in place: 1000 next-hop flips, each written, and the
        // route never deleted (watched with `ip monitor`).
        let monitor = Monitor::start(&lab.ns);
        // Make sure the monitor is subscribed before the flips: a marker
        // route per attempt (re-adding the same one would be a
        // silent no-op), until the monitor shows one (bounded).
        let mut marker = None;
        for i in 1..=100 {
            let dst = format!("198.19.0.{i}");
            lab.ip(&[
                "route",
                "add",
                &format!("{dst}/32"),
                "via",
                "10.1.2.1",
                "proto",
                "static",
            ]);
            tokio::time::sleep(Duration::from_millis(50)).await;
            if monitor.saw(&dst) {
                marker = Some(i);
                break;
            }
        }
        let last = marker.expect("ip monitor never showed a marker route");
        for i in 0..1000 {
            let next_hop = if i % 2 == 0 { "10.1.2.9" } else { "10.1.2.7" };
            k.set(p("192.0.3.0/24"), vec![a(next_hop)]);
            k.flush().await;
        }
        for i in 1..=last {
            lab.ip(&[
                "route",
                "del",
                &format!("198.19.0.{i}/32"),
                "proto",
                "static",
            ]);
        }
        let deleted = format!("Deleted 198.19.0.{last} ");
        wait_for("ip monitor to catch up", || monitor.saw(&deleted)).await;
        let lines = monitor.lines();
        let flips = lines
            .iter()
            .filter(|l| l.starts_with("192.0.3.0/24"))
            .count();
        let deletes = lines
            .iter()
            .filter(|l| l.starts_with("Deleted 192.0.3.0/24"))
            .count();
        assert_eq!(deletes, 0, "a next-hop change must never delete the route");
        assert_eq!(flips, 1000, "every flip is one replace");
        drop(monitor);
        assert_eq!(
            lab.ours("main", "192.0.3.0/24").unwrap().gateways,
            vec!["10.1.2.7"]
        );

        // A pinned route deleted by hand comes back (through the monitor:
        // the periodic check is 30 s away).
        let before = k.stats().restored;
        lab.ip(&[
            "route",
            "del",
            "10.1.1.0/27",
            "proto",
            &PROTO.to_string(),
            "metric",
            "20",
        ]);
        let took = wait_for("the pinned route to come back", || {
            lab.ours("main", "10.1.1.0/27").is_some()
        })
        .await;
        eprintln!("pinned route restored {took:?} after its deletion");
        wait_for("the restore to be counted", || {
            k.stats().restored == before + 1
        })
        .await;
        // A learned route deleted by hand comes back too.
        lab.ip(&[
            "route",
            "del",
            "192.0.2.0/24",
            "proto",
            &PROTO.to_string(),
            "metric",
            "20",
        ]);
        wait_for("the learned route to come back", || {
            lab.ours("main", "192.0.2.0/24").is_some()
        })
        .await;

        k.shutdown(false).await;
        for dst in [
            "192.0.2.0/24",
            "192.0.3.0/24",
            "192.0.4.0/24",
            "192.0.6.0/24",
        ] {
            assert!(lab.ours("main", dst).is_none(), "{dst} left after shutdown");
        }
        assert!(lab.ours("main", "10.1.1.0/27").is_some(), "pinned stays");
        assert!(
            lab.ours("main", "default").is_some(),
            "pinned default stays"
        );
    });
    // Foreign routes were never touched.
    let foreign_after: Vec<Route> = lab.routes().into_iter().filter(|r| !r.ours()).collect();
    assert_eq!(foreign_before, foreign_after);
}

#[test]
fn per_peer_table_metric_advertise_only_and_removing_pinned() {
    if !can_run() {
        return;
    }
    let lab = Arc::new(Lab::new());
    // A default route from elsewhere (as DHCP gives an Azure VM), which
    // the virtual router is found through; ours coexists at metric 20.
    lab.ip(&[
        "route", "add", "default", "via", "10.1.2.1", "proto", "dhcp", "metric", "100",
    ]);
    let l = Arc::clone(&lab);
    in_netns(&lab.ns.clone(), move || async move {
        let lab = l;
        let mut cfg = KernelConfig {
            pin: PinMode::Peers,
            route_server_subnets: vec![],
            ..KernelConfig::default()
        };
        let mut to_100 = LearnedInstall {
            table: 100,
            metric: 30,
            ..cfg.learned.clone()
        };
        to_100.filter.rules.push(nvabgp::config::PrefixRule {
            prefix: p("192.0.2.128/25"),
            ge: 25,
            le: 32,
            verdict: nvabgp::config::Verdict::Reject,
        });
        cfg.peers = vec![
            KernelPeerConfig {
                address: a("10.1.1.4"),
                learned: to_100,
            },
            KernelPeerConfig {
                address: a("10.1.1.5"),
                learned: LearnedInstall {
                    install: false,
                    ..cfg.learned.clone()
                },
            },
        ];
        let mut ctx = context();
        ctx.route_server_subnets.clear();
        ctx.local_addresses.clear(); // derive the virtual router from the route towards the peers
        let k = kernel::start(&cfg, ctx).await.unwrap();
        // Peers mode: each Route Server address is pinned.
        for dst in ["10.1.1.4", "10.1.1.5", "default"] {
            assert_eq!(
                lab.ours("main", dst).unwrap().gateways,
                vec!["10.1.2.1"],
                "{dst}"
            );
        }
        k.set_from(p("192.0.2.0/25"), Some(a("10.1.1.4")), vec![a("10.1.1.4")]);
        k.set_from(
            p("192.0.2.128/25"),
            Some(a("10.1.1.4")),
            vec![a("10.1.1.4")],
        );
        k.set_from(p("192.0.3.0/24"), Some(a("10.1.1.5")), vec![a("10.1.1.5")]);
        k.flush().await;
        let r = lab.ours("100", "192.0.2.0/25").unwrap();
        assert_eq!(
            (r.metric, r.gateways.clone()),
            (30, vec!["10.1.2.1".to_string()])
        );
        assert!(lab.ours("100", "192.0.2.128/25").is_none(), "filtered");
        assert!(
            lab.find("main", "192.0.3.0/24").is_empty(),
            "advertise-only peer"
        );
        // The best path moves to a peer with the global settings: the route
        // moves from table 100 to main.
        k.set_from(p("192.0.2.0/25"), None, vec![a("10.1.1.4")]);
        k.flush().await;
        assert!(lab.ours("100", "192.0.2.0/25").is_none());
        assert_eq!(lab.ours("main", "192.0.2.0/25").unwrap().metric, 20);
        // Originating a prefix we also learn takes the learned copy out.
        k.set_originated(vec![p("192.0.2.0/25")]);
        k.flush().await;
        assert!(lab.ours("main", "192.0.2.0/25").is_none());
        assert_eq!(k.stats().refused(RefusalReason::Originated), 1);
        k.set_originated(vec![]);
        k.flush().await;
        assert!(
            lab.ours("main", "192.0.2.0/25").is_some(),
            "back once no longer ours"
        );
        k.shutdown(true).await;
        assert!(
            lab.routes().iter().all(|r| !r.ours()),
            "shutdown(remove_pinned) leaves nothing of ours"
        );
    });
}

#[test]
fn a_hundred_thousand_sets_coalesce_and_leave_the_exact_state() {
    if !can_run() {
        return;
    }
    let lab = Arc::new(Lab::new());
    let l = Arc::clone(&lab);
    in_netns(&lab.ns.clone(), move || async move {
        let lab = l;
        let k = kernel::start(&KernelConfig::default(), context())
            .await
            .unwrap();
        const PREFIXES: u32 = 5_000;
        const CALLS: u32 = 100_000;
        let next_hops = ["10.1.2.7", "10.1.2.8", "10.1.1.4", ""];
        let mut expected: BTreeMap<Prefix, Vec<IpAddr>> = BTreeMap::new();
        // A deterministic scramble of prefixes and states, never awaiting
        // in between: BGP does not wait for the kernel.
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..CALLS {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let prefix = Prefix::V4((172 << 24) | (16 << 16) | ((x % PREFIXES) << 8), 24);
            let state: Vec<IpAddr> = match next_hops[(x >> 20) as usize % 4] {
                "" => vec![],
                nh => vec![a(nh)],
            };
            if state.is_empty() {
                expected.remove(&prefix);
            } else {
                expected.insert(prefix, state.clone());
            }
            k.set(prefix, state);
        }
        k.flush().await;
        let stats = k.stats();
        eprintln!(
            "{CALLS} set() calls: {} coalesced, {} writes",
            stats.coalesced, stats.writes
        );
        assert_eq!(stats.set_calls, u64::from(CALLS));
        assert!(
            stats.writes < u64::from(CALLS),
            "writes {} must be fewer than calls",
            stats.writes
        );
        assert!(stats.coalesced > 0);
        let kernel: BTreeMap<String, Vec<String>> = lab
            .routes()
            .into_iter()
            .filter(|r| r.ours() && r.dst.starts_with("172."))
            .map(|r| (r.dst, r.gateways))
            .collect();
        let want: BTreeMap<String, Vec<String>> = expected
            .iter()
            .map(|(p, nh)| {
                let gateway = if nh[0] == a("10.1.1.4") {
                    "10.1.2.1".to_string()
                } else {
                    nh[0].to_string()
                };
                (p.to_string(), vec![gateway])
            })
            .collect();
        let differ: Vec<_> = want
            .iter()
            .filter(|(dst, gw)| kernel.get(*dst) != Some(gw))
            .chain(kernel.iter().filter(|(dst, _)| !want.contains_key(*dst)))
            .take(10)
            .collect();
        assert!(
            differ.is_empty(),
            "kernel differs from the last set(): {differ:?}"
        );
        assert_eq!(kernel.len(), want.len());
        assert_eq!(stats.installed, want.len());
        k.shutdown(false).await;
        assert!(
            lab.routes()
                .iter()
                .all(|r| !(r.ours() && r.dst.starts_with("172.16.")))
        );
    });
}

/// Routes of ours in the kernel under `first_octet.0.0.0/8`, by
/// destination, with their gateways.
fn ours_under(lab: &Lab, first_octet: &str) -> BTreeMap<String, Vec<String>> {
    lab.routes()
        .into_iter()
        .filter(|r| r.ours() && r.dst.starts_with(first_octet))
        .map(|r| (r.dst, r.gateways))
        .collect()
}

#[test]
fn batches_of_many_rounds_through_the_writer_thread_leave_the_exact_state() {
    if !can_run() {
        return;
    }
    let lab = Arc::new(Lab::new());
    let l = Arc::clone(&lab);
    in_netns(&lab.ns.clone(), move || async move {
        let lab = l;
        // Many rounds (4,096 prefixes each) in one batch, so the installer
        // plans a round while the writer thread sends the one before.
        const N: u32 = 30_000;
        let prefix = |i: u32| Prefix::V4((120 << 24) + (i << 8), 24);
        let metric = KernelConfig::default().learned.metric.to_string();
        // Routes of another daemon on keys of ours, in different rounds:
        // refused where they fall, whichever round that is.
        let foreign = [7, 12_345, N - 1];
        for i in foreign {
            lab.ip(&[
                "route",
                "add",
                &prefix(i).to_string(),
                "via",
                "10.1.2.1",
                "proto",
                "static",
                "metric",
                &metric,
            ]);
        }
        let k = kernel::start(&KernelConfig::default(), context())
            .await
            .unwrap();
        let rs = a("10.1.1.4");
        k.set_many((0..N).map(|i| (prefix(i), None, vec![rs])));
        // A pinned route deleted while the batch is being written: put
        // back between two rounds (or after the batch).
        lab.ip(&["route", "del", "10.1.1.0/27"]);
        k.flush().await;
        let stats = k.stats();
        assert_eq!(stats.installed, (N - 3) as usize, "{stats:?}");
        assert_eq!(stats.refused(RefusalReason::ForeignRoute), 3, "{stats:?}");
        assert_eq!(stats.errors, 0, "{stats:?}");
        let want: BTreeMap<String, Vec<String>> = (0..N)
            .filter(|i| !foreign.contains(i))
            .map(|i| (prefix(i).to_string(), vec!["10.1.2.1".to_string()]))
            .collect();
        assert!(ours_under(&lab, "120.") == want, "after the install");
        for i in foreign {
            let theirs = lab.find("main", &prefix(i).to_string());
            assert_eq!(theirs.len(), 1, "{theirs:?}");
            assert_eq!(theirs[0].protocol, "static");
        }
        wait_for("the deleted pinned route to be back", || {
            lab.ours("main", "10.1.1.0/27").is_some()
        })
        .await;

        // Every route moves to a directly connected next hop (replaced in
        // place), then every other one is withdrawn (too few for a bulk
        // withdrawal: deleted one by one).
        let direct = a("10.1.2.7");
        k.set_many((0..N).map(|i| (prefix(i), None, vec![direct])));
        k.flush().await;
        let want: BTreeMap<String, Vec<String>> = want
            .into_keys()
            .map(|dst| (dst, vec!["10.1.2.7".to_string()]))
            .collect();
        assert!(
            ours_under(&lab, "120.") == want,
            "after the next-hop change"
        );
        k.set_many((0..N).step_by(2).map(|i| (prefix(i), None, vec![])));
        k.flush().await;
        let stats = k.stats();
        let want: BTreeMap<String, Vec<String>> = (1..N)
            .step_by(2)
            .filter(|i| !foreign.contains(i))
            .map(|i| (prefix(i).to_string(), vec!["10.1.2.7".to_string()]))
            .collect();
        assert_eq!(stats.installed, want.len(), "{stats:?}");
        assert_eq!(stats.bulk_withdrawals, 0, "{stats:?}");
        assert!(ours_under(&lab, "120.") == want, "after the withdrawal");
        k.shutdown(false).await;
        assert!(ours_under(&lab, "120.").is_empty());
    });
}

#[test]
fn the_monitor_never_receives_our_own_changes() {
    use nvabgp::kernel::netlink::{self, Request, RouteKey, RouteSocket, TABLE_MAIN, Write};
    if !can_run() {
        return;
    }
    let lab = Arc::new(Lab::new());
    let l = Arc::clone(&lab);
    in_netns(&lab.ns.clone(), move || async move {
        let lab = l;
        // The installer's two sockets: its own and its writer thread's.
        let mut ours = RouteSocket::open(PROTO).unwrap();
        let mut writer = RouteSocket::open(PROTO).unwrap();
        let monitor = netlink::open_monitor([ours.port(), writer.port()]).unwrap();
        let gateway = [a("10.1.2.1")];
        let request = |prefix: &str| Request {
            write: Write::Create,
            key: RouteKey {
                table: TABLE_MAIN,
                prefix: p(prefix),
                metric: 20,
            },
            gateways: &gateway,
            nexthop: None,
        };
        let mut outcomes = Vec::new();
        ours.execute(
            &[request("192.0.2.0/24"), request("192.0.3.0/24")],
            &mut outcomes,
        );
        assert_eq!(outcomes, vec![Ok(()), Ok(())]);
        writer.execute(&[request("192.0.4.0/24")], &mut outcomes);
        assert_eq!(outcomes, vec![Ok(())]);
        lab.ip(&[
            "route",
            "add",
            "198.51.100.0/24",
            "via",
            "10.1.2.1",
            "proto",
            "static",
        ]);
        // Every notification queued so far: only the one made by `ip`.
        let mut seen = Vec::new();
        let mut buffer = vec![0u8; 65536];
        for _ in 0..100 {
            match monitor.recv(&mut &mut buffer[..], 0) {
                Ok(n) => {
                    let route = netlink::parse_route(&buffer[16..n]).unwrap();
                    // IPv4 only: the kernel adds IPv6 link routes on its
                    // own as the link comes up.
                    if route.key.prefix.is_ipv4() {
                        seen.push(route.key.prefix.to_string());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("monitor: {e}"),
            }
        }
        assert_eq!(seen, vec!["198.51.100.0/24"]);
    });
}

#[test]
fn a_mass_withdrawal_deletes_one_nexthop_object_and_keeps_the_rest() {
    if !can_run() {
        return;
    }
    let lab = Arc::new(Lab::new());
    let l = Arc::clone(&lab);
    in_netns(&lab.ns.clone(), move || async move {
        let lab = l;
        let k = kernel::start(&KernelConfig::default(), context())
            .await
            .unwrap();
        let prefix = |i: u32| Prefix::V4((100 << 24) + (i << 8), 24);
        let rs = a("10.1.1.4");
        k.set_many((0..3000).map(|i| (prefix(i), None, vec![rs])));
        k.flush().await;
        assert_eq!(k.stats().installed, 3000);
        // Two thirds withdrawn in one go (a peer went down).
        k.set_many((0..2000).map(|i| (prefix(i), None, vec![])));
        k.flush().await;
        let stats = k.stats();
        assert_eq!(stats.bulk_withdrawals, 1, "{stats:?}");
        assert_eq!(stats.installed, 1000);
        assert_eq!(stats.errors, 0);
        let ours: BTreeMap<String, Vec<String>> = lab
            .routes()
            .into_iter()
            .filter(|r| r.ours() && r.dst.starts_with("100."))
            .map(|r| (r.dst, r.gateways))
            .collect();
        let want: BTreeMap<String, Vec<String>> = (2000..3000)
            .map(|i| (prefix(i).to_string(), vec!["10.1.2.1".to_string()]))
            .collect();
        assert_eq!(ours.len(), want.len());
        assert!(
            ours == want,
            "the survivors are exactly the routes not withdrawn"
        );

        // Someone deletes our nexthop object (and with it, silently, the
        // routes using it): they come back.
        let nexthops: serde_json::Value =
            serde_json::from_str(&lab.ip(&["-j", "nexthop", "show"])).unwrap();
        let id = nexthops
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["gateway"] == "10.1.2.1")
            .and_then(|n| n["id"].as_u64())
            .unwrap();
        lab.ip(&["nexthop", "del", "id", &id.to_string()]);
        wait_for(
            "the routes of the deleted nexthop object to come back",
            || {
                lab.routes()
                    .iter()
                    .filter(|r| r.ours() && r.dst.starts_with("100."))
                    .count()
                    == 1000
            },
        )
        .await;
        k.shutdown(false).await;
        assert!(
            lab.routes()
                .iter()
                .all(|r| !(r.ours() && r.dst.starts_with("100.")))
        );
        let left: serde_json::Value =
            serde_json::from_str(&lab.ip(&["-j", "nexthop", "show"])).unwrap();
        assert_eq!(
            left.as_array().map_or(0, Vec::len),
            0,
            "our nexthop objects are gone: {left}"
        );
    });
}

#[test]
fn a_foreign_route_over_ours_is_left_alone_and_ipv6_next_hops_on_link_work() {
    if !can_run() {
        return;
    }
    let lab = Arc::new(Lab::new());
    lab.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:1::4/64",
        "dev",
        "nva0",
        "nodad",
    ]);
    let l = Arc::clone(&lab);
    in_netns(&lab.ns.clone(), move || async move {
        let lab = l;
        let k = kernel::start(&KernelConfig::default(), context())
            .await
            .unwrap();
        k.set(p("192.0.2.0/24"), vec![a("10.1.1.4")]);
        k.set(p("2001:db8:9::/48"), vec![a("2001:db8:1::7")]);
        // Off our subnets, and Azure has no IPv6 virtual router for us.
        k.set(p("2001:db8:8::/48"), vec![a("2001:db8:2::7")]);
        k.flush().await;
        assert_eq!(
            lab.ours("main", "2001:db8:9::/48").unwrap().gateways,
            vec!["2001:db8:1::7"]
        );
        assert!(lab.ours("main", "2001:db8:8::/48").is_none());
        assert_eq!(k.stats().refused(RefusalReason::NoGateway), 1);

        // An operator replaces our route with their own at the same key.
        lab.ip(&[
            "route",
            "replace",
            "192.0.2.0/24",
            "via",
            "10.1.2.50",
            "proto",
            "static",
            "metric",
            "20",
        ]);
        wait_for("the monitor to see the foreign route", || {
            k.stats().refused(RefusalReason::ForeignRoute) == 1
        })
        .await;
        // Our next change for that prefix is refused, theirs stays.
        k.set(p("192.0.2.0/24"), vec![a("10.1.2.7")]);
        k.flush().await;
        let theirs = lab.find("main", "192.0.2.0/24");
        assert_eq!(theirs.len(), 1, "{theirs:?}");
        assert_eq!(
            (theirs[0].protocol.as_str(), theirs[0].gateways.clone()),
            ("static", vec!["10.1.2.50".to_string()])
        );
        k.shutdown(false).await;
        let theirs = lab.find("main", "192.0.2.0/24");
        assert_eq!(
            theirs.len(),
            1,
            "shutdown leaves the foreign route: {theirs:?}"
        );
        assert_eq!(theirs[0].protocol, "static");
        assert!(lab.ours("main", "2001:db8:9::/48").is_none());
    });
}

#[test]
fn routes_lost_to_a_link_flap_come_back() {
    if !can_run() {
        return;
    }
    let lab = Arc::new(Lab::new());
    let l = Arc::clone(&lab);
    in_netns(&lab.ns.clone(), move || async move {
        let lab = l;
        let k = kernel::start(&KernelConfig::default(), context())
            .await
            .unwrap();
        k.set(p("192.0.2.0/24"), vec![a("10.1.1.4")]);
        k.set(p("192.0.3.0/24"), vec![a("10.1.2.7"), a("10.1.2.8")]);
        k.flush().await;
        // Taking the interface down removes its IPv4 routes and nexthop
        // objects without a notification for each.
        lab.ip(&["link", "set", "nva0", "down"]);
        wait_for("the kernel to drop the routes", || {
            lab.ours("main", "192.0.2.0/24").is_none()
        })
        .await;
        lab.ip(&["link", "set", "nva0", "up"]);
        wait_for("learned and pinned routes to come back", || {
            ["192.0.2.0/24", "192.0.3.0/24", "10.1.1.0/27", "default"]
                .iter()
                .all(|dst| lab.ours("main", dst).is_some())
        })
        .await;
        assert_eq!(
            lab.ours("main", "192.0.2.0/24").unwrap().gateways,
            vec!["10.1.2.1"]
        );
        assert_eq!(
            lab.ours("main", "192.0.3.0/24").unwrap().gateways,
            vec!["10.1.2.7", "10.1.2.8"]
        );
        let stats = k.stats();
        assert!(stats.reconciles >= 1, "{stats:?}");
        assert_eq!(stats.installed, 2);
        k.shutdown(false).await;
        assert!(lab.ours("main", "192.0.2.0/24").is_none());
    });
}
