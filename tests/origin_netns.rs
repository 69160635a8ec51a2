//! Health-gated origination end to end in the namespace lab: nvabgp itself
//! runs in the NVA namespace with a next-hop-ip VIP 100.64.0.1/32 (two
//! candidates: TCP listeners on 10.1.2.10 and 10.1.2.11, in the virtual
//! router's namespace) and an anycast route 9.9.9.9/32 (an exec check
//! on a flag file); two BIRDs stand in for the Route Server pair.
//!
//! What is asserted, and where:
//! * on the receivers (`birdc`): the route and next hop each Route Server
//!   holds after every step (the waits);
//! * on the wire: `tcpdump -w` on the Route Servers' interface, each NVA →
//!   Route Server TCP stream reassembled here and decoded by `nvabgp
//!   decode`. The wire is the authority for "exactly one UPDATE, no
//!   withdraw": a receiver's table cannot tell a replacement from a
//!   withdraw followed by an announce.
//!
//! Needs root, iproute2, tcpdump, python3 and BIRD 2; skips loudly without
//! them (fails on CI).

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{TIMEOUT, check, lab_available, prefix, route_server_options};
use nvabgp::lab::daemons::{Implementation, RouteServers};
use nvabgp::lab::process::{Process, RuntimeDir, wait_for};
use nvabgp::lab::{Node, SkipReason, Topology, TopologyOptions};
use serde_json::Value;

const VIP: &str = "100.64.0.1/32";
const ANYCAST: &str = "9.9.9.9/32";
const WEB_A: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 10);
const WEB_B: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 11);
const PORT: u16 = 8080;
/// The VIP's min_hold, seconds.
const MIN_HOLD: u64 = 3;
/// The anycast check's rise and fall.
const RISE: usize = 3;
const FALL: usize = 2;

/// A TCP listener that accepts and closes, inside the virtual router's
/// namespace, on one of the candidates' addresses.
fn web(topology: &Topology, dir: &RuntimeDir, address: Ipv4Addr) -> Process {
    let mut command = topology.command(Node::VirtualRouter, "/usr/bin/python3");
    command.args([
        "-c",
        "import socket, sys\n\
         s = socket.socket()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind((sys.argv[1], int(sys.argv[2])))\n\
         s.listen(64)\n\
         while True:\n    c, _ = s.accept()\n    c.close()\n",
        &address.to_string(),
        &PORT.to_string(),
    ]);
    check(
        Process::spawn(
            &format!("web-{address}"),
            command,
            &dir.join(&format!("web-{address}.log")),
        ),
        String::new,
    )
}

fn config(dir: &RuntimeDir) -> String {
    let flag = dir.join("anycast-up");
    let log = dir.join("anycast-probes");
    format!(
        r#"
asn = 65001
router_id = "10.1.2.4"
local_address = "10.1.2.4"
hold_time = 9
connect_retry = 1
control_socket = "{socket}"

[[peer]]
address = "10.1.1.4"
asn = 65515

[[peer]]
address = "10.1.1.5"
asn = 65515

[kernel]
install = false
pin = "none"
pin_default = false

[[route]]
kind = "next-hop-ip"
prefix = "{VIP}"
preempt = true
min_hold = {MIN_HOLD}

[[route.candidate]]
next_hop = "{WEB_A}"
priority = 200
[route.candidate.check]
name = "web-a"
tcp = "{WEB_A}:{PORT}"
interval = 0.2
timeout = 0.2
rise = 2
fall = 2

[[route.candidate]]
next_hop = "{WEB_B}"
priority = 100
[route.candidate.check]
name = "web-b"
tcp = "{WEB_B}:{PORT}"
interval = 0.2
timeout = 0.2
rise = 2
fall = 2

[[route]]
kind = "anycast"
prefix = "{ANYCAST}"
[route.check]
name = "flag"
exec = ["sh", "-c", "test -e {flag}; r=$?; echo $r >> {log}; exit $r"]
interval = 0.2
timeout = 0.2
rise = {RISE}
fall = {FALL}
"#,
        socket = dir.join("nvabgp.sock").display(),
        flag = flag.display(),
        log = log.display(),
    )
}

/// `nvabgp health --json`, once the control socket answers.
fn health(dir: &RuntimeDir) -> Vec<Value> {
    let socket = dir.join("nvabgp.sock");
    let out = check(
        wait_for("nvabgp's control socket", TIMEOUT, || {
            let out = Command::new(env!("CARGO_BIN_EXE_nvabgp"))
                .arg("--socket")
                .arg(&socket)
                .args(["health", "--json"])
                .output()
                .map_err(|e| nvabgp::lab::Error::Unsupported(e.to_string()))?;
            Ok(out.status.success().then_some(out.stdout))
        }),
        String::new,
    );
    serde_json::from_slice::<Vec<Value>>(&out).unwrap()
}

/// The outcomes the anycast check logged (0 pass, else fail), in order.
fn probe_log(dir: &RuntimeDir) -> Vec<bool> {
    std::fs::read_to_string(dir.join("anycast-probes"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim() == "0")
        .collect()
}

/// Length of the run of `value` at the end of `log`.
fn trailing(log: &[bool], value: bool) -> usize {
    log.iter().rev().take_while(|v| **v == value).count()
}

// ---- The wire ------------------------------------------------------------------

/// One direction of a TCP connection: payload bytes in sequence order, and
/// the capture time at which each byte offset was complete.
#[derive(Default)]
struct Stream {
    next_seq: Option<u32>,
    bytes: Vec<u8>,
    /// (end offset of a segment's payload, capture time in seconds).
    times: Vec<(usize, f64)>,
}

impl Stream {
    fn time_of(&self, end: usize) -> f64 {
        self.times
            .iter()
            .find(|(e, _)| *e >= end)
            .map_or(f64::NAN, |(_, t)| *t)
    }
}

/// The TCP streams `from` sent to port 179 or from port 179 in an
/// Ethernet pcap (tcpdump's default format), keyed by destination.
fn streams(pcap: &[u8], from: Ipv4Addr) -> BTreeMap<(Ipv4Addr, u16, u16), Stream> {
    let mut out: BTreeMap<(Ipv4Addr, u16, u16), Stream> = BTreeMap::new();
    assert!(pcap.len() >= 24, "pcap too short");
    let magic = u32::from_le_bytes(pcap[0..4].try_into().unwrap());
    let nanos = match magic {
        0xA1B2_C3D4 => false,
        0xA1B2_3C4D => true,
        other => panic!("not a little-endian pcap: magic {other:#x}"),
    };
    assert_eq!(
        u32::from_le_bytes(pcap[20..24].try_into().unwrap()),
        1,
        "not Ethernet"
    );
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let word = |i: usize| u32::from_le_bytes(pcap[at + i..at + i + 4].try_into().unwrap());
        let (secs, frac, caplen) = (word(0), word(4), word(8) as usize);
        let t = f64::from(secs) + f64::from(frac) / if nanos { 1e9 } else { 1e6 };
        let frame = &pcap[at + 16..(at + 16 + caplen).min(pcap.len())];
        at += 16 + caplen;
        if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0F) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
        if ip[9] != 6 || total < ihl + 20 {
            continue;
        }
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let tcp = &ip[ihl..total];
        let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
        let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        let offset = usize::from(tcp[12] >> 4) * 4;
        let syn = tcp[13] & 0x02 != 0;
        if src != from || (sport != 179 && dport != 179) || offset > tcp.len() {
            continue;
        }
        let s = out.entry((dst, sport, dport)).or_default();
        if syn {
            *s = Stream {
                next_seq: Some(seq.wrapping_add(1)),
                ..Stream::default()
            };
            continue;
        }
        let Some(next) = s.next_seq else { continue };
        let mut payload = &tcp[offset..];
        // Retransmissions: keep only bytes not seen yet.
        let behind = next.wrapping_sub(seq) as usize;
        if behind >= payload.len() || behind > 1 << 30 {
            continue;
        }
        payload = &payload[behind..];
        s.bytes.extend_from_slice(payload);
        s.next_seq = Some(next.wrapping_add(payload.len() as u32));
        s.times.push((s.bytes.len(), t));
    }
    out
}

/// What one UPDATE did to `prefix`: `Some(Some(next hop))` announce,
/// `Some(None)` withdraw, `None` nothing.
fn touches(update: &Value, prefix: &str) -> Option<Option<String>> {
    let has = |key: &str| {
        update[key]
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p.as_str() == Some(prefix)))
    };
    if has("withdrawn") {
        assert!(!has("nlri"), "withdrawn and announced at once: {update}");
        return Some(None);
    }
    has("nlri").then(|| update["next_hop"].as_str().map(str::to_string))
}

/// The changes of one prefix on one session: `Some(next hop)` announce,
/// `None` withdraw, with the capture time.
type Changes = Vec<(Option<String>, f64)>;

/// Per NVA → Route Server session: the changes of each prefix on the wire,
/// in order, with capture times, decoded by `nvabgp decode`.
fn wire_changes(
    pcap: &Path,
    dir: &RuntimeDir,
    nva: Ipv4Addr,
) -> BTreeMap<Ipv4Addr, BTreeMap<String, Changes>> {
    let pcap = std::fs::read(pcap).unwrap();
    let mut out: BTreeMap<Ipv4Addr, BTreeMap<String, Changes>> = BTreeMap::new();
    for (n, ((peer, _, _), stream)) in streams(&pcap, nva).into_iter().enumerate() {
        if stream.bytes.is_empty() {
            continue;
        }
        let file = dir.join(&format!("stream-{n}-{peer}.bin"));
        std::fs::write(&file, &stream.bytes).unwrap();
        let decoded = Command::new(env!("CARGO_BIN_EXE_nvabgp"))
            .arg("decode")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            decoded.status.success(),
            "nvabgp decode {}: {}",
            file.display(),
            String::from_utf8_lossy(&decoded.stderr)
        );
        for line in String::from_utf8_lossy(&decoded.stdout).lines() {
            let message: Value = serde_json::from_str(line).unwrap();
            if message["type"] != "UPDATE" {
                continue;
            }
            let end = message["offset"].as_u64().unwrap() + message["length"].as_u64().unwrap();
            let t = stream.time_of(end as usize);
            for p in [VIP, ANYCAST] {
                if let Some(change) = touches(&message, p) {
                    out.entry(peer)
                        .or_default()
                        .entry(p.to_string())
                        .or_default()
                        .push((change, t));
                }
            }
        }
    }
    out
}

// ---- The test ----------------------------------------------------------------------

#[test]
fn vip_failover_and_anycast_gating_on_the_wire() {
    let test = "vip_failover_and_anycast_gating_on_the_wire";
    if !lab_available(test, &[Implementation::Bird]) {
        return;
    }
    for program in ["tcpdump", "/usr/bin/python3"] {
        if Command::new(program).arg("--version").output().is_err() {
            SkipReason(format!("{program} is not installed")).skip_or_fail(test);
            return;
        }
    }
    let topology = Topology::up(TopologyOptions::default()).unwrap();
    let nva = topology.nva_address();
    let dir = RuntimeDir::new("origin-netns").unwrap();
    for a in [WEB_A, WEB_B] {
        let out = topology
            .vr_exec(&["ip", "addr", "add", &format!("{a}/24"), "dev", "vr-nva"])
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut web_a = Some(web(&topology, &dir, WEB_A));
    let mut web_b = Some(web(&topology, &dir, WEB_B));
    std::fs::write(dir.join("anycast-up"), b"").unwrap();

    // The capture starts before any session exists.
    let pcap = dir.join("rs.pcap");
    let mut tcpdump = topology.command(Node::RouteServer, "tcpdump");
    tcpdump
        .args(["-i", "rs0", "--immediate-mode", "-U", "-n", "-s", "0", "-w"])
        .arg(&pcap)
        .args(["tcp", "port", "179"]);
    let tcpdump_log = dir.join("tcpdump.log");
    let mut tcpdump = Process::spawn("tcpdump", tcpdump, &tcpdump_log).unwrap();
    check(
        wait_for("tcpdump to listen", TIMEOUT, || {
            Ok(std::fs::read_to_string(&tcpdump_log)
                .unwrap_or_default()
                .contains("listening on")
                .then_some(()))
        }),
        || nvabgp::lab::process::file_tail(&tcpdump_log, 10),
    );

    let rs = RouteServers::start(Implementation::Bird, &topology, &route_server_options()).unwrap();
    let config_file = dir.write("nvabgp.toml", &config(&dir)).unwrap();
    let mut daemon = topology.command(Node::Nva, env!("CARGO_BIN_EXE_nvabgp"));
    daemon
        .arg("run")
        .arg("--config")
        .arg(&config_file)
        .env("RUST_LOG", "info");
    let daemon_log = dir.join("nvabgp.log");
    let _daemon = Process::spawn("nvabgp", daemon, &daemon_log).unwrap();
    let logs = || {
        format!(
            "{}\n== nvabgp\n{}",
            rs.diagnostics(),
            nvabgp::lab::process::file_tail(&daemon_log, 40)
        )
    };
    check(rs.wait_established(TIMEOUT), logs);

    let checks = health(&dir);
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["web-a", "web-b", "flag"], "{checks:?}");

    let [rs1, rs2] = topology.rs_addresses();
    let vip = prefix(VIP);
    let anycast = prefix(ANYCAST);
    let wait_next_hop = |next_hop: Ipv4Addr| {
        for instance in rs.instances() {
            check(
                instance.wait_route_where(nva, vip, &|r| r.next_hop == next_hop, TIMEOUT),
                logs,
            );
        }
    };

    // 1. Both candidates healthy: the primary.
    wait_next_hop(WEB_A);
    check(rs.wait_route(anycast, TIMEOUT), logs);
    // 2. The primary stops: the secondary, at both Route Servers.
    drop(web_a.take());
    wait_next_hop(WEB_B);
    // 3. Both stop: withdrawn.
    drop(web_b.take());
    check(rs.wait_route_gone(vip, TIMEOUT), logs);
    let h = health(&dir);
    assert_eq!(h[0]["state"], "down", "{h:?}");
    assert_eq!(h[1]["state"], "down", "{h:?}");
    // 4. The secondary returns: announced again.
    web_b = Some(web(&topology, &dir, WEB_B));
    wait_next_hop(WEB_B);
    // 5. The primary returns: preempted back, after min_hold (checked on the
    // wire below).
    web_a = Some(web(&topology, &dir, WEB_A));
    wait_next_hop(WEB_A);

    // 6. Anycast: withdrawn after `fall` failed probes, back after `rise`
    // good ones.
    std::fs::remove_file(dir.join("anycast-up")).unwrap();
    check(rs.wait_route_gone(anycast, TIMEOUT), logs);
    let log = probe_log(&dir);
    assert!(trailing(&log, false) >= FALL, "{log:?}");
    let before_rise = log.len();
    std::fs::write(dir.join("anycast-up"), b"").unwrap();
    check(rs.wait_route(anycast, TIMEOUT), logs);
    let log = probe_log(&dir);
    let passes_since = log[before_rise..].iter().filter(|p| **p).count();
    assert!(passes_since >= RISE, "{log:?}");
    for instance in rs.instances() {
        let routes = instance.received_routes(nva).unwrap();
        assert!(routes.iter().any(|r| r.prefix == anycast), "{routes:?}");
    }

    // The wire: tcpdump runs in immediate mode (libpcap otherwise hands
    // packets over in blocks, up to a second late, and drops the last
    // block on exit); a short settle covers its write, then it stops.
    std::thread::sleep(Duration::from_millis(500));
    tcpdump.terminate(Duration::from_secs(5));
    let wire = wire_changes(&pcap, &dir, nva);
    let a = Some(WEB_A.to_string());
    let b = Some(WEB_B.to_string());
    for peer in [rs1, rs2] {
        let changes = wire
            .get(&peer)
            .unwrap_or_else(|| panic!("no UPDATE to {peer} captured"));
        let vip_changes: Vec<Option<String>> =
            changes[VIP].iter().map(|(c, _)| c.clone()).collect();
        // One UPDATE per change: never a withdraw before a next-hop change,
        // never a repeat.
        assert_eq!(
            vip_changes,
            [a.clone(), b.clone(), None, b.clone(), a.clone()],
            "{peer}: {:?}",
            changes[VIP]
        );
        // The preemption waited for min_hold after the re-announce.
        let times: Vec<f64> = changes[VIP].iter().map(|(_, t)| *t).collect();
        assert!(
            times[4] - times[3] >= MIN_HOLD as f64 - 0.01,
            "{peer}: preempted {:.3} s after the re-announce",
            times[4] - times[3]
        );
        let anycast_changes: Vec<bool> =
            changes[ANYCAST].iter().map(|(c, _)| c.is_some()).collect();
        assert_eq!(
            anycast_changes,
            [true, false, true],
            "{peer}: {:?}",
            changes[ANYCAST]
        );
    }
    drop(web_a);
    drop(web_b);
}
