//! Origination benchmark in the namespace lab (see README.md beside this
//! file): two BIRDs stand in for the Route Server pair, `tcpdump` captures
//! their side, and every NVA → Route Server stream is reassembled here and
//! decoded by `nvabgp decode`.
//!
//! 1. Control call → first UPDATE with the new next hop on the wire, per
//!    session, for 100.64.0.1/32 flipped between 10.1.2.10 and 10.1.2.11:
//!    nvabgp (`nvabgp set-next-hop` CLI, and the same request over the
//!    control socket from this process), BIRD (`birdc configure` of an
//!    edited static route), ExaBGP (text API `announce route`), GoBGP
//!    (`gobgp global rib add`), each through the lab's wrappers.
//! 2. Health failure → UPDATE: a next-hop-ip VIP whose primary candidate
//!    (a TCP listener) is killed; time from the kill to the first UPDATE
//!    with the secondary as next hop.
//!
//! Every change is also classified by the UPDATEs it caused per session
//! (A: one UPDATE with the new next hop; W>A: withdraw then announce).
//!
//! Usage: `origin-bench NVABGP_BINARY OUT_DIR [CHANGES] [IMPLEMENTATIONS]`
//! (run.sh passes them). Needs root.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bgp_proto::Prefix;
use nvabgp::control::{Client, NextHop, Request};
use nvabgp::lab::daemons::{
    Announcement, BgpSpeaker, Implementation, NvaSpeakerOptions, RouteServerOptions, RouteServers,
    Timers, start_nva_speaker,
};
use nvabgp::lab::process::{Process, RuntimeDir, file_tail, wait_for};
use nvabgp::lab::{Node, Topology, TopologyOptions};
use serde_json::Value;

const PREFIX: &str = "100.64.0.1/32";
const NH: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 1, 2, 10), Ipv4Addr::new(10, 1, 2, 11)];
const WAIT: Duration = Duration::from_secs(60);
/// Pause between two changes (nothing else is on the wire then).
const GAP: Duration = Duration::from_millis(700);
/// Health run: check interval and fall.
const INTERVAL: f64 = 0.5;
const FALL: u32 = 2;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

/// The changes made in one run, and the UPDATEs each session saw.
type RunResult = (Vec<Change>, BTreeMap<Ipv4Addr, Vec<Update>>);

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn sleep(d: Duration) {
    std::thread::sleep(d);
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One change (control call or health failure) and when it was made.
struct Change {
    at: f64,
    /// The command's return (equal to `at` for health failures).
    returned: f64,
    next_hop: Ipv4Addr,
}

/// What the wire showed for one change on one session.
struct Observed {
    latency_ms: Option<f64>,
    pattern: String,
    updates: usize,
}

// ---- The lab pieces -------------------------------------------------------------

struct Lab {
    topology: Topology,
    dir: RuntimeDir,
    tcpdump: Process,
    pcap: PathBuf,
    rs: RouteServers,
}

impl Lab {
    fn up(label: &str) -> Fallible<Self> {
        let topology = Topology::up(TopologyOptions::default())?;
        let dir = RuntimeDir::new(label)?;
        let pcap = dir.join("rs.pcap");
        let mut command = topology.command(Node::RouteServer, "tcpdump");
        command
            .args(["-i", "rs0", "--immediate-mode", "-U", "-n", "-s", "0", "-w"])
            .arg(&pcap)
            .args(["tcp", "port", "179"]);
        let log = dir.join("tcpdump.log");
        let tcpdump = Process::spawn("tcpdump", command, &log)?;
        wait_for("tcpdump to listen", WAIT, || {
            Ok(std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("listening on")
                .then_some(()))
        })?;
        let options = RouteServerOptions {
            timers: Timers::SHORT,
            ..RouteServerOptions::default()
        };
        let rs = RouteServers::start(Implementation::Bird, &topology, &options)?;
        Ok(Self {
            topology,
            dir,
            tcpdump,
            pcap,
            rs,
        })
    }

    fn wait_next_hop(&self, next_hop: Ipv4Addr) -> Fallible<()> {
        let prefix: Prefix = PREFIX.parse()?;
        let nva = self.topology.nva_address();
        for instance in self.rs.instances() {
            instance.wait_route_where(nva, prefix, &|r| r.next_hop == next_hop, WAIT)?;
        }
        Ok(())
    }

    /// Stops the capture and returns the UPDATEs on each session.
    fn finish(mut self, nvabgp: &Path) -> Fallible<BTreeMap<Ipv4Addr, Vec<Update>>> {
        // tcpdump runs in immediate mode (libpcap otherwise hands packets
        // over in blocks, up to a second late, and loses the last block on
        // exit); this covers its write.
        sleep(Duration::from_millis(500));
        self.tcpdump.terminate(Duration::from_secs(5));
        wire_updates(&self.pcap, &self.dir, nvabgp, self.topology.nva_address())
    }
}

fn nvabgp_config(dir: &RuntimeDir, routes: &str) -> String {
    format!(
        r#"
asn = 65001
router_id = "10.1.2.4"
local_address = "10.1.2.4"
hold_time = 9
connect_retry = 1
control_socket = "{}"
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
{routes}
"#,
        dir.join("nvabgp.sock").display()
    )
}

fn start_nvabgp(lab: &Lab, nvabgp: &Path, routes: &str) -> Fallible<Process> {
    let config = lab
        .dir
        .write("nvabgp.toml", &nvabgp_config(&lab.dir, routes))?;
    let mut command = lab
        .topology
        .command(Node::Nva, &nvabgp.display().to_string());
    command.arg("run").arg("--config").arg(config);
    command.env("RUST_LOG", "info");
    Ok(Process::spawn(
        "nvabgp",
        command,
        &lab.dir.join("nvabgp.log"),
    )?)
}

/// A TCP listener that accepts and closes, in the virtual router's
/// namespace.
fn web(lab: &Lab, address: Ipv4Addr) -> Fallible<Process> {
    let mut command = lab
        .topology
        .command(Node::VirtualRouter, "/usr/bin/python3");
    command.args([
        "-c",
        "import socket, sys\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind((sys.argv[1], 8080))\ns.listen(64)\nwhile True:\n    c, _ = s.accept()\n    c.close()\n",
        &address.to_string(),
    ]);
    Ok(Process::spawn(
        "web",
        command,
        &lab.dir.join(&format!("web-{address}.log")),
    )?)
}

// ---- 1. Control call → UPDATE ---------------------------------------------------

enum Driver {
    NvabgpCli { _daemon: Process, socket: PathBuf },
    NvabgpApi { _daemon: Process, socket: PathBuf },
    Lab(Box<dyn BgpSpeaker>),
}

impl Driver {
    fn change(&mut self, nvabgp: &Path, next_hop: Ipv4Addr) -> Fallible<()> {
        match self {
            Self::NvabgpCli { socket, .. } => {
                let out = Command::new(nvabgp)
                    .arg("--socket")
                    .arg(&*socket)
                    .args(["set-next-hop", PREFIX, &next_hop.to_string()])
                    .output()?;
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
                }
            }
            Self::NvabgpApi { socket, .. } => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                // Connected before the clock starts: the figure is the call.
                let mut client = runtime.block_on(Client::connect(&*socket))?;
                let request = Request::SetNextHop {
                    prefix: PREFIX.parse()?,
                    next_hop: NextHop::Address(next_hop.into()),
                };
                CALL_START.with(|c| c.set(now()));
                runtime.block_on(client.call(&request))?;
            }
            Self::Lab(speaker) => {
                let announcement = Announcement::new(PREFIX.parse()?).with_next_hop(next_hop);
                speaker.announce(announcement)?;
            }
        }
        Ok(())
    }
}

thread_local! {
    /// For the API driver: the time just before the call (after connect).
    static CALL_START: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

fn control_run(name: &str, nvabgp: &Path, changes: usize) -> Fallible<RunResult> {
    let lab = Lab::up(&format!("origin-bench-{name}"))?;
    let route = format!(
        "[[route]]\nprefix = \"{PREFIX}\"\nnext_hop = \"{}\"\n",
        NH[0]
    );
    let socket = lab.dir.join("nvabgp.sock");
    let mut driver = match name {
        "nvabgp-cli" => Driver::NvabgpCli {
            _daemon: start_nvabgp(&lab, nvabgp, &route)?,
            socket,
        },
        "nvabgp-api" => Driver::NvabgpApi {
            _daemon: start_nvabgp(&lab, nvabgp, &route)?,
            socket,
        },
        other => {
            let implementation = match other {
                "bird" => Implementation::Bird,
                "exabgp" => Implementation::Exabgp,
                "gobgp" => Implementation::Gobgp,
                "frr" => Implementation::Frr,
                _ => return Err(format!("unknown implementation {other}").into()),
            };
            let options = NvaSpeakerOptions {
                timers: Timers::SHORT,
                announcements: vec![Announcement::new(PREFIX.parse()?).with_next_hop(NH[0])],
                ..NvaSpeakerOptions::default()
            };
            Driver::Lab(start_nva_speaker(implementation, &lab.topology, &options)?)
        }
    };
    lab.rs.wait_established(WAIT)?;
    lab.wait_next_hop(NH[0])?;
    sleep(Duration::from_secs(1));
    let mut made = Vec::new();
    for k in 0..changes {
        let next_hop = NH[(k + 1) % 2];
        CALL_START.with(|c| c.set(0.0));
        let at = now();
        driver.change(nvabgp, next_hop)?;
        let returned = now();
        let at = CALL_START.with(|c| c.get()).max(at);
        made.push(Change {
            at,
            returned,
            next_hop,
        });
        lab.wait_next_hop(next_hop).map_err(|e| {
            format!(
                "{name}: {e}\n{}",
                file_tail(&lab.dir.join("nvabgp.log"), 20)
            )
        })?;
        sleep(GAP);
    }
    drop(driver);
    let wire = lab.finish(nvabgp)?;
    Ok((made, wire))
}

// ---- 2. Health failure → UPDATE ---------------------------------------------------

fn health_run(nvabgp: &Path, changes: usize) -> Fallible<RunResult> {
    let lab = Lab::up("origin-bench-health")?;
    for a in NH {
        let out =
            lab.topology
                .vr_exec(&["ip", "addr", "add", &format!("{a}/24"), "dev", "vr-nva"])?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
        }
    }
    let mut primary = Some(web(&lab, NH[0])?);
    let _secondary = web(&lab, NH[1])?;
    let candidate = |nh: Ipv4Addr, priority: u32| {
        format!(
            "[[route.candidate]]\nnext_hop = \"{nh}\"\npriority = {priority}\n[route.candidate.check]\ntcp = \"{nh}:8080\"\ninterval = {INTERVAL}\ntimeout = 0.2\nrise = 2\nfall = {FALL}\n"
        )
    };
    let routes = format!(
        "[[route]]\nkind = \"next-hop-ip\"\nprefix = \"{PREFIX}\"\nmin_hold = 0\n{}{}",
        candidate(NH[0], 200),
        candidate(NH[1], 100)
    );
    let _daemon = start_nvabgp(&lab, nvabgp, &routes)?;
    lab.rs.wait_established(WAIT)?;
    lab.wait_next_hop(NH[0])?;
    let mut made = Vec::new();
    for k in 0..changes {
        // Spread the failures over the probe phase.
        sleep(Duration::from_millis(700 + (k as u64 * 37) % 500));
        let at = now();
        if let Some(mut p) = primary.take() {
            p.kill();
        }
        made.push(Change {
            at,
            returned: at,
            next_hop: NH[1],
        });
        lab.wait_next_hop(NH[1])?;
        sleep(GAP);
        primary = Some(web(&lab, NH[0])?);
        let back = now();
        lab.wait_next_hop(NH[0])?;
        made.push(Change {
            at: back,
            returned: back,
            next_hop: NH[0],
        });
    }
    let wire = lab.finish(nvabgp)?;
    Ok((made, wire))
}

// ---- The wire -----------------------------------------------------------------------

/// One UPDATE touching the prefix.
struct Update {
    time: f64,
    /// `Some(next hop)` announce, `None` withdraw.
    next_hop: Option<String>,
}

#[derive(Default)]
struct Stream {
    next_seq: Option<u32>,
    bytes: Vec<u8>,
    times: Vec<(usize, f64)>,
}

fn streams(pcap: &[u8], from: Ipv4Addr) -> Fallible<BTreeMap<(Ipv4Addr, u16, u16), Stream>> {
    let mut out: BTreeMap<(Ipv4Addr, u16, u16), Stream> = BTreeMap::new();
    let word = |b: &[u8], i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
    };
    let nanos = match word(pcap, 0) {
        Some(0xA1B2_C3D4) => false,
        Some(0xA1B2_3C4D) => true,
        _ => return Err("not a little-endian pcap".into()),
    };
    if word(pcap, 20) != Some(1) {
        return Err("not an Ethernet capture".into());
    }
    let mut at = 24;
    while let (Some(secs), Some(frac), Some(caplen)) =
        (word(pcap, at), word(pcap, at + 4), word(pcap, at + 8))
    {
        let t = f64::from(secs) + f64::from(frac) / if nanos { 1e9 } else { 1e6 };
        let Some(frame) = pcap.get(at + 16..at + 16 + caplen as usize) else {
            break;
        };
        at += 16 + caplen as usize;
        let Some(ip) = frame
            .get(14..)
            .filter(|_| frame.get(12..14) == Some(&[8, 0]))
        else {
            continue;
        };
        if ip.len() < 20 || ip[9] != 6 {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0F) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
        let Some(tcp) = ip.get(ihl..total).filter(|t| t.len() >= 20) else {
            continue;
        };
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let (sport, dport) = (
            u16::from_be_bytes([tcp[0], tcp[1]]),
            u16::from_be_bytes([tcp[2], tcp[3]]),
        );
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        let offset = usize::from(tcp[12] >> 4) * 4;
        if src != from || (sport != 179 && dport != 179) {
            continue;
        }
        let s = out.entry((dst, sport, dport)).or_default();
        if tcp[13] & 0x02 != 0 {
            *s = Stream {
                next_seq: Some(seq.wrapping_add(1)),
                ..Stream::default()
            };
            continue;
        }
        let (Some(next), Some(payload)) = (s.next_seq, tcp.get(offset..)) else {
            continue;
        };
        let behind = next.wrapping_sub(seq) as usize;
        if behind >= payload.len() || behind > 1 << 30 {
            continue;
        }
        let payload = &payload[behind..];
        s.bytes.extend_from_slice(payload);
        s.next_seq = Some(next.wrapping_add(payload.len() as u32));
        s.times.push((s.bytes.len(), t));
    }
    Ok(out)
}

fn wire_updates(
    pcap: &Path,
    dir: &RuntimeDir,
    nvabgp: &Path,
    nva: Ipv4Addr,
) -> Fallible<BTreeMap<Ipv4Addr, Vec<Update>>> {
    let pcap = std::fs::read(pcap)?;
    let mut out: BTreeMap<Ipv4Addr, Vec<Update>> = BTreeMap::new();
    for (n, ((peer, _, _), stream)) in streams(&pcap, nva)?.into_iter().enumerate() {
        if stream.bytes.is_empty() {
            continue;
        }
        let file = dir.join(&format!("stream-{n}.bin"));
        std::fs::write(&file, &stream.bytes)?;
        let decoded = Command::new(nvabgp).arg("decode").arg(&file).output()?;
        if !decoded.status.success() {
            return Err(String::from_utf8_lossy(&decoded.stderr).into_owned().into());
        }
        for line in String::from_utf8_lossy(&decoded.stdout).lines() {
            let m: Value = serde_json::from_str(line)?;
            if m["type"] != "UPDATE" {
                continue;
            }
            let has = |key: &str| {
                m[key]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|p| p.as_str() == Some(PREFIX)))
            };
            let end =
                (m["offset"].as_u64().unwrap_or(0) + m["length"].as_u64().unwrap_or(0)) as usize;
            let time = stream
                .times
                .iter()
                .find(|(e, _)| *e >= end)
                .map_or(f64::NAN, |(_, t)| *t);
            let next_hop = if has("nlri") {
                Some(m["next_hop"].as_str().unwrap_or("?").to_string())
            } else if has("withdrawn") {
                None
            } else {
                continue;
            };
            out.entry(peer).or_default().push(Update { time, next_hop });
        }
    }
    Ok(out)
}

fn observe(changes: &[Change], wire: &BTreeMap<Ipv4Addr, Vec<Update>>) -> Vec<Vec<Observed>> {
    let mut out = Vec::new();
    for (k, c) in changes.iter().enumerate() {
        let end = changes.get(k + 1).map_or(f64::INFINITY, |n| n.at);
        let mut per_session = Vec::new();
        for updates in wire.values() {
            let window: Vec<&Update> = updates
                .iter()
                .filter(|u| u.time >= c.at && u.time < end)
                .collect();
            let want = c.next_hop.to_string();
            let latency_ms = window
                .iter()
                .find(|u| u.next_hop.as_deref() == Some(want.as_str()))
                .map(|u| (u.time - c.at) * 1e3);
            let pattern = window
                .iter()
                .map(|u| if u.next_hop.is_some() { "A" } else { "W" })
                .collect::<Vec<_>>()
                .join(">");
            per_session.push(Observed {
                latency_ms,
                pattern,
                updates: window.len(),
            });
        }
        out.push(per_session);
    }
    out
}

/// Median [min–max] of the first-UPDATE latencies, and the patterns.
fn summarize(observed: &[Vec<Observed>]) -> (String, String, usize) {
    let mut lat: Vec<f64> = observed
        .iter()
        .flatten()
        .filter_map(|o| o.latency_ms)
        .collect();
    let n = lat.len();
    let med = median(&mut lat);
    let (min, max) = (
        lat.first().copied().unwrap_or(f64::NAN),
        lat.last().copied().unwrap_or(f64::NAN),
    );
    let mut patterns: BTreeMap<&str, usize> = BTreeMap::new();
    for o in observed.iter().flatten() {
        *patterns.entry(o.pattern.as_str()).or_default() += 1;
    }
    let patterns = patterns
        .iter()
        .map(|(p, c)| format!("{} ×{c}", if p.is_empty() { "none" } else { p }))
        .collect::<Vec<_>>()
        .join(", ");
    (format!("{med:.1} [{min:.1}–{max:.1}]"), patterns, n)
}

fn cli_start(nvabgp: &Path, runs: usize) -> Fallible<f64> {
    let mut v = Vec::new();
    for _ in 0..runs {
        let t = now();
        Command::new(nvabgp).arg("--version").output()?;
        v.push((now() - t) * 1e3);
    }
    Ok(median(&mut v))
}

fn main() -> Fallible<()> {
    let args: Vec<String> = std::env::args().collect();
    let nvabgp = PathBuf::from(
        args.get(1)
            .ok_or("usage: origin-bench NVABGP OUT [CHANGES] [IMPLS]")?,
    );
    let out = PathBuf::from(
        args.get(2)
            .ok_or("usage: origin-bench NVABGP OUT [CHANGES] [IMPLS]")?,
    );
    let changes: usize = args.get(3).map_or(Ok(10), |s| s.parse())?;
    let impls: Vec<String> = args
        .get(4)
        .map_or(
            "nvabgp-cli nvabgp-api bird exabgp gobgp health",
            String::as_str,
        )
        .split_whitespace()
        .map(str::to_string)
        .collect();
    std::fs::create_dir_all(&out)?;
    let mut csv = String::from("run,change,session,latency_ms,pattern,updates,call_ms\n");
    let mut table = String::from(
        "| NVA side | change made by | first UPDATE with the new next hop, ms: median [min–max] (n) | UPDATEs per change per session |\n|---|---|---|---|\n",
    );
    let start = cli_start(&nvabgp, 10)?;
    for name in &impls {
        eprintln!("== {name}");
        let result = if name == "health" {
            health_run(&nvabgp, changes)
        } else {
            control_run(name, &nvabgp, changes)
        };
        let (made, wire) = match result {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{name}: FAILED: {e}");
                table.push_str(&format!(
                    "| {name} | – | failed: {} | – |\n",
                    e.to_string().lines().next().unwrap_or("")
                ));
                continue;
            }
        };
        let observed = observe(&made, &wire);
        for (k, (c, per_session)) in made.iter().zip(&observed).enumerate() {
            for (s, o) in per_session.iter().enumerate() {
                csv.push_str(&format!(
                    "{name},{k},{s},{},{},{},{:.2}\n",
                    o.latency_ms.map_or("NA".into(), |l| format!("{l:.2}")),
                    o.pattern,
                    o.updates,
                    (c.returned - c.at) * 1e3
                ));
            }
        }
        let how = match name.as_str() {
            "nvabgp-cli" => "`nvabgp set-next-hop` (CLI process)",
            "nvabgp-api" => "set-next-hop request on the control socket",
            "bird" => "edit static route + `birdc configure`",
            "exabgp" => "text API `announce route`",
            "gobgp" => "`gobgp global rib add`",
            "frr" => "vtysh `network ... route-map`",
            "health" => "TCP listener of the active candidate killed (interval 0.5 s, fall 2)",
            _ => "",
        };
        if name == "health" {
            // Even entries: failures; odd: recoveries (paced by rise).
            let (failures, recoveries): (Vec<_>, Vec<_>) = observed
                .into_iter()
                .enumerate()
                .partition(|(i, _)| i % 2 == 0);
            let strip = |v: Vec<(usize, Vec<Observed>)>| -> Vec<Vec<Observed>> {
                v.into_iter().map(|(_, o)| o).collect()
            };
            let (lat, patterns, n) = summarize(&strip(failures));
            table.push_str(&format!("| nvabgp | {how} | {lat} ({n}) | {patterns} |\n"));
            let (lat, patterns, n) = summarize(&strip(recoveries));
            table.push_str(&format!(
                "| nvabgp | listener restarted: back to the primary after rise 2 (preempt, min_hold 0) | {lat} ({n}) | {patterns} |\n"
            ));
        } else {
            let (lat, patterns, n) = summarize(&observed);
            table.push_str(&format!("| {name} | {how} | {lat} ({n}) | {patterns} |\n"));
        }
    }
    std::fs::write(out.join("origin.csv"), &csv)?;
    let summary = format!(
        "{table}\n`nvabgp --version` process start and exit: median {start:.1} ms (n = 10).\n"
    );
    std::fs::write(out.join("summary.md"), &summary)?;
    println!("{summary}");
    Ok(())
}
