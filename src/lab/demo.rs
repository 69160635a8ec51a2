//! `nvabgp lab`: the whole job of nvabgp in one narrated run, in the
//! namespace lab, without Azure.
//!
//! 1. The Azure-like topology ([`Topology`]): the NVA (10.1.2.4), the
//!    virtual router (10.1.2.1 / 10.1.1.1) and two Route Server stand-ins
//!    (10.1.1.4, 10.1.1.5, AS 65515; BIRD unless `--route-server` says
//!    otherwise) announcing two VNet prefixes; two "web servers" (TCP
//!    listeners on 10.1.2.11 and 10.1.2.12, on the NVA's subnet) and a
//!    service behind the anycast address (9.9.9.9:53 on the NVA).
//! 2. nvabgp in the NVA namespace with a firewall NVA's configuration
//!    (printed): a static default route, an anycast route gated by a TCP
//!    check, a next-hop-ip VIP with the two web servers as candidates.
//! 3. What it did: sessions, learned routes (ECMP over both instances),
//!    what each Route Server received (its own view), health, the routes
//!    it wrote into the NVA's kernel and those its trap policy kept out.
//! 4. Failures: the active web server stops (the VIP's next hop moves in
//!    one UPDATE, shown on the wire), the anycast service stops (the route
//!    is withdrawn); both come back.
//! 5. A summary, then everything is removed (or, with `--keep`, left
//!    running until Enter or Ctrl-C).
//!
//! Every wait is bounded. Everything lives in namespaces and runtime
//! directories this process created, owned by one `Lab` value, whose drop removes
//! them: at the end, on an error, on a panic, and on SIGINT/SIGTERM (the
//! handler only sets a flag that every wait checks, so the run unwinds
//! normally). A second Ctrl-C kills at once; the next lab run then removes
//! what was left ([`crate::lab::cleanup_leftovers`]).

mod acts;
mod lab;
mod narration;
mod wire;

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write as _};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bgp_proto::Prefix;
use clap::{Args, ValueEnum};

use super::daemons::{
    Announcement, Implementation, NVA_AS, Nvabgp, ROUTE_SERVER_AS, RouteServerOptions,
    RouteServers, Timers,
};
use super::process::{POLL_INTERVAL, RuntimeDir};
use super::topology::{VR_NVA_INTERFACE, list_namespaces};
use super::{Node, Topology, TopologyOptions, require_implementation, require_root};
use crate::config::KERNEL_PROTOCOL;
use acts::{act_established, act_failures};
use lab::{Findings, Lab, Service, run_ip};
use narration::{Interrupted, Narrator, check_interrupted, install_signal_handlers, seconds};
use wire::Capture;

/// `nvabgp lab`.
#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// The BGP implementation that stands in for the two Azure Route Server
    /// instances
    #[arg(long, value_name = "IMPL", value_enum, default_value_t = RouteServerKind::Bird)]
    pub route_server: RouteServerKind,

    /// At the end, leave the lab running (with commands to look around)
    /// until Enter or Ctrl-C
    #[arg(long)]
    pub keep: bool,

    /// No pauses between the acts (for tests and the impatient)
    #[arg(long)]
    pub fast: bool,
}

/// The implementations `--route-server` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RouteServerKind {
    /// BIRD 2 (Debian package bird2)
    Bird,
    /// FRRouting (Debian package frr)
    Frr,
    /// GoBGP (Debian package gobgpd)
    Gobgp,
    /// ExaBGP (Debian package exabgp)
    Exabgp,
    /// nvabgp itself, this binary
    Nvabgp,
}

impl RouteServerKind {
    fn implementation(self) -> Implementation {
        match self {
            Self::Bird => Implementation::Bird,
            Self::Frr => Implementation::Frr,
            Self::Gobgp => Implementation::Gobgp,
            Self::Exabgp => Implementation::Exabgp,
            Self::Nvabgp => Implementation::Nvabgp,
        }
    }
}

// ---- The scenario -----------------------------------------------------------

/// The VNet prefix and a peered spoke, as the Route Servers announce them.
const VNET_PREFIXES: [&str; 2] = ["10.1.0.0/16", "10.2.0.0/16"];
const DEFAULT_ROUTE: &str = "0.0.0.0/0";
const ANYCAST: &str = "9.9.9.9/32";
const ANYCAST_SERVICE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(9, 9, 9, 9), 53);
const VIP: &str = "100.64.0.1/32";
/// The VIP's candidates, best first.
const WEB: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 1, 2, 11), Ipv4Addr::new(10, 1, 2, 12)];
const WEB_PORT: u16 = 80;
/// Health checks: every 0.5 s, 2 results in a row to change state, so a
/// failure shows within about a second.
const CHECK_INTERVAL: f64 = 0.5;
const RISE_FALL: u32 = 2;
/// The VIP's min_hold, seconds: a recovered better candidate takes over
/// no sooner (Azure's own default advice is ~30 s; short for the demo).
const MIN_HOLD: u64 = 3;

/// Upper bound of any wait for something the lab should do in seconds.
const STEP_TIMEOUT: Duration = Duration::from_secs(45);
/// How long the kernel gets to show the learned routes.
const KERNEL_WAIT: Duration = Duration::from_secs(3);
/// The pause between acts, unless `--fast`.
const PAUSE: Duration = Duration::from_secs(2);

fn prefix(text: &str) -> anyhow::Result<Prefix> {
    text.parse()
        .map_err(|e| anyhow::anyhow!("bad prefix {text}: {e}"))
}

/// The agent's configuration, as on a firewall NVA (the lab's addresses).
fn nvabgp_config(socket: &Path, route_server_subnet: &str) -> String {
    let [web1, web2] = WEB;
    let interval = CHECK_INTERVAL;
    format!(
        r#"# nvabgp on a firewall NVA in a hub VNet (namespace "nva", 10.1.2.4).
asn = {NVA_AS}
router_id = "10.1.2.4"
local_address = "10.1.2.4"
connect_retry = 1
control_socket = "{socket}"

# Azure Route Server: always AS {ROUTE_SERVER_AS}, two instances; peer with both.
[[peer]]
name = "ars-0"
address = "10.1.1.4"
asn = {ROUTE_SERVER_AS}

[[peer]]
name = "ars-1"
address = "10.1.1.5"
asn = {ROUTE_SERVER_AS}

# Learned routes go into the kernel (protocol {KERNEL_PROTOCOL}, "nvabgp"); the
# Route Server subnet and the default route stay pinned via the virtual router.
[kernel]
route_server_subnets = ["{route_server_subnet}"]

# Static: attract the spokes' Internet-bound traffic to this firewall.
[[route]]
prefix = "{DEFAULT_ROUTE}"
communities = ["65001:10", "no-advertise"]

# Anycast: 9.9.9.9 (a DNS service on this NVA), announced while it answers.
[[route]]
kind = "anycast"
prefix = "{ANYCAST}"
communities = ["65001:100"]
[route.check]
name = "dns"
tcp = "{ANYCAST_SERVICE}"
interval = {interval}
timeout = {interval}
rise = {RISE_FALL}
fall = {RISE_FALL}

# Next hop IP: 100.64.0.1 goes straight to the best healthy web server.
[[route]]
kind = "next-hop-ip"
prefix = "{VIP}"
preempt = true
min_hold = {MIN_HOLD}

[[route.candidate]]
next_hop = "{web1}"
priority = 200
[route.candidate.check]
name = "web-1"
tcp = "{web1}:{WEB_PORT}"
interval = {interval}
timeout = {interval}
rise = {RISE_FALL}
fall = {RISE_FALL}

[[route.candidate]]
next_hop = "{web2}"
priority = 100
[route.candidate.check]
name = "web-2"
tcp = "{web2}:{WEB_PORT}"
interval = {interval}
timeout = {interval}
rise = {RISE_FALL}
fall = {RISE_FALL}
"#,
        socket = socket.display(),
    )
}

// ---- The run ----------------------------------------------------------------

/// Runs the demo; the exit status is 0 when every act went as narrated.
pub fn run(args: &LabArgs) -> anyhow::Result<ExitCode> {
    let implementation = args.route_server.implementation();
    if let Err(reason) = require_root() {
        bail!(
            "the lab needs root: {reason}.\n\
             It creates network namespaces and changes nothing outside them. Run it as root:\n    \
             sudo {} lab\nor, on a fresh Debian machine, `sudo scripts/demo.sh` (installs what it needs).",
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "nvabgp".into())
        );
    }
    if let Err(reason) = require_implementation(implementation) {
        bail!(
            "{reason}.\nInstall it (apt-get install {}) or pick another stand-in: --route-server bird|frr|gobgp|exabgp|nvabgp",
            implementation.debian_package()
        );
    }
    install_signal_handlers()?;
    let mut narrator = Narrator {
        bold: io::stdout().is_terminal(),
        pause: if args.fast { Duration::ZERO } else { PAUSE },
        act: 0,
    };
    let mut findings = Findings::default();
    let started = Instant::now();
    // The lab lives in this frame: whatever happens below, its drop removes
    // it before we return.
    let mut lab: Option<Lab> = None;
    let result = act_all(args, implementation, &mut narrator, &mut lab, &mut findings);
    let outcome = match result {
        Ok(()) => None,
        Err(e) if e.is::<Interrupted>() => {
            println!("\ninterrupted: removing the lab");
            Some(ExitCode::from(130))
        }
        Err(e) => {
            let _ = io::stdout().flush();
            eprintln!("\nnvabgp lab: {e:#}");
            if let Some(lab) = &lab {
                eprintln!("{}", lab.diagnostics());
            }
            Some(ExitCode::FAILURE)
        }
    };
    let namespaces = lab
        .as_ref()
        .map(|l| l.topology.namespaces())
        .unwrap_or_default();
    if let Some(mut lab) = lab.take() {
        // The agent first, gracefully: it says goodbye (Cease) to both
        // Route Servers.
        if let Some(mut daemon) = lab.daemon.take() {
            match daemon.terminate(Duration::from_secs(5)) {
                Some(status) if outcome.is_none() => {
                    narrator.say(&format!("nvabgp stopped on SIGTERM ({status})"));
                }
                _ => {}
            }
        }
        drop(lab);
    }
    if !namespaces.is_empty() {
        let left: Vec<String> = list_namespaces()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| namespaces.contains(n))
            .collect();
        if left.is_empty() {
            println!(
                "   cleaned up: namespaces {} removed",
                namespaces.join(", ")
            );
        } else {
            eprintln!(
                "nvabgp lab: could not remove {} (the next lab run removes them)",
                left.join(", ")
            );
        }
    }
    if let Some(code) = outcome {
        return Ok(code);
    }
    if findings.problems.is_empty() {
        println!("\nnvabgp lab: done in {}", seconds(started.elapsed()));
        Ok(ExitCode::SUCCESS)
    } else {
        println!("\nnvabgp lab: finished, but not as expected:");
        for p in &findings.problems {
            println!("   - {p}");
        }
        Ok(ExitCode::FAILURE)
    }
}

fn act_all(
    args: &LabArgs,
    implementation: Implementation,
    narrator: &mut Narrator,
    slot: &mut Option<Lab>,
    findings: &mut Findings,
) -> anyhow::Result<()> {
    println!(
        "nvabgp lab: the whole job of nvabgp on one machine, without Azure\n\
         (an Azure-like hub in network namespaces; {implementation} stands in for Azure Route Server)"
    );
    narrator.act("The lab: an Azure hub in three network namespaces")?;
    let binary = std::env::current_exe().context("cannot find this program's path")?;
    let topology = Topology::up(TopologyOptions::default())?;
    let dir = RuntimeDir::new("demo")?;
    let lab = slot.insert(Lab {
        daemon: None,
        capture: None,
        route_servers: None,
        web: [None, None],
        dns: None,
        dir,
        topology,
        binary,
        daemon_started: None,
        implementation,
    });
    let [ars0, ars1] = lab.topology.rs_addresses();
    let (nva_ns, vr_ns, rs_ns) = (
        lab.topology.namespace(Node::Nva).to_string(),
        lab.topology.namespace(Node::VirtualRouter).to_string(),
        lab.topology.namespace(Node::RouteServer).to_string(),
    );
    narrator.say(&format!(
        "  {nva_ns:<15} the NVA, 10.1.2.4/24, AS {NVA_AS}: nvabgp runs here\n  \
         {vr_ns:<15} the Azure virtual router: 10.1.2.1 (NVA subnet), 10.1.1.1 (RouteServerSubnet)\n  \
         {rs_ns:<15} Azure Route Server: {ars0} and {ars1}, AS {ROUTE_SERVER_AS} ({implementation}),\n  \
         {:<15} announcing the VNet {} and a peered spoke {}",
        "",
        VNET_PREFIXES[0],
        VNET_PREFIXES[1],
    ));
    // The web servers sit on the NVA's subnet; in the lab their addresses
    // live on the virtual router's side of the link.
    for address in WEB {
        run_ip(
            &lab.topology,
            Node::VirtualRouter,
            &[
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                VR_NVA_INTERFACE,
            ],
        )?;
    }
    run_ip(
        &lab.topology,
        Node::Nva,
        &[
            "addr",
            "add",
            &format!("{}/32", ANYCAST_SERVICE.ip()),
            "dev",
            "lo",
        ],
    )?;
    for (slot, address) in lab.web.iter_mut().zip(WEB) {
        *slot = Some(Service::start(
            &vr_ns,
            SocketAddrV4::new(address, WEB_PORT),
        )?);
    }
    lab.dns = Some(Service::start(&nva_ns, ANYCAST_SERVICE)?);
    narrator.say(&format!(
        "  web servers     web-1 {}:{WEB_PORT} and web-2 {}:{WEB_PORT}, on the NVA's subnet\n  \
         anycast service {ANYCAST_SERVICE} on the NVA itself (a DNS resolver, say)",
        WEB[0], WEB[1]
    ));
    match Capture::start(&lab.topology, &lab.dir) {
        Ok(capture) => {
            lab.capture = Some(capture);
            narrator.say("  tcpdump         records BGP on the Route Servers' link (the wire, decoded below)");
        }
        Err(e) => narrator.say(&format!(
            "  (no capture: {e}; install tcpdump to see the UPDATEs on the wire)"
        )),
    }
    let options = RouteServerOptions {
        // Azure's hold time and keepalive; quick reconnects for the demo.
        timers: Timers {
            connect_retry: 1,
            ..Timers::AZURE
        },
        announcements: VNET_PREFIXES
            .iter()
            .map(|p| Announcement::parse(p))
            .collect::<Result<_, _>>()?,
        ..RouteServerOptions::default()
    };
    let route_servers = if implementation == Implementation::Nvabgp {
        let binary = lab.binary.clone();
        RouteServers::start_with(&lab.topology, &options, |config| {
            Nvabgp::spawn(&binary, config)
        })?
    } else {
        RouteServers::start(implementation, &lab.topology, &options)?
    };
    lab.route_servers = Some(route_servers);

    narrator.act("nvabgp on the NVA, configured like a firewall NVA")?;
    let config = nvabgp_config(&lab.socket(), "10.1.1.0/24");
    let config_file = lab.dir.write("nvabgp.toml", &config)?;
    narrator.shell(&format!("cat {}", config_file.display()), &config);
    lab.start_daemon(&config_file)?;
    narrator.say(&format!(
        "started: ip netns exec {nva_ns} nvabgp run --config {}",
        config_file.display()
    ));

    narrator.act("What nvabgp did")?;
    act_established(lab, narrator, findings)?;

    narrator.act("Failures: the active web server, then the anycast service")?;
    act_failures(lab, narrator, findings)?;

    narrator.act("Summary")?;
    summary(lab, narrator, findings);

    if args.keep {
        keep(lab, narrator)?;
    }
    println!();
    Ok(())
}

fn summary(lab: &Lab, narrator: &Narrator, findings: &Findings) {
    let vnets = VNET_PREFIXES.join(", ");
    let mut s = format!(
        "sessions    2 Established with Azure Route Server stand-ins ({}, AS {ROUTE_SERVER_AS})\n\
         learned     {vnets} from both instances (ECMP)\n\
         advertised  {DEFAULT_ROUTE} (static), {ANYCAST} (anycast, health-gated), {VIP} (next hop = active web server)\n",
        lab.implementation
    );
    if let Some(took) = findings.failover {
        let wire = findings
            .failover_wire
            .as_deref()
            .unwrap_or("wire not captured");
        let _ = writeln!(
            s,
            "failover    web-1 down: VIP next hop {} -> {} in {} ({wire})",
            WEB[0],
            WEB[1],
            seconds(took)
        );
    }
    if let (Some(down), Some(up)) = (findings.anycast_down, findings.anycast_up) {
        let _ = writeln!(
            s,
            "anycast     service down: withdrawn in {}; back: announced in {}",
            seconds(down),
            seconds(up)
        );
    }
    if let Some((took, since_failover)) = findings.preempt {
        let _ = writeln!(
            s,
            "preempt     web-1 back: VIP returned to it {} later, {} after the failover (min_hold {MIN_HOLD} s)",
            seconds(took),
            seconds(since_failover)
        );
    }
    match &findings.kernel {
        Some(k) => {
            let installed: Vec<String> = k.installed.iter().map(ToString::to_string).collect();
            let _ = write!(
                s,
                "kernel      pinned {}; learned {} installed",
                k.pinned.join(", "),
                if installed.is_empty() {
                    "none".to_string()
                } else {
                    installed.join(", ")
                }
            );
            for (prefix, reason) in &k.refused {
                let _ = write!(s, "; {prefix} kept out ({reason})");
            }
            s.push('\n');
        }
        None => s.push_str("kernel      NOT SHOWN: no learned route installed by this build\n"),
    }
    narrator.say(&s);
}

/// `--keep`: print how to look around, wait for Enter or Ctrl-C.
fn keep(lab: &Lab, narrator: &mut Narrator) -> anyhow::Result<()> {
    let nva = lab.topology.namespace(Node::Nva);
    let vr = lab.topology.namespace(Node::VirtualRouter);
    let rs = lab.topology.namespace(Node::RouteServer);
    let binary = lab.binary.display();
    let socket = lab.socket();
    let socket = socket.display();
    narrator.act("The lab stays up (--keep)")?;
    let commands = [
        (
            format!("{binary} --socket {socket} neighbors"),
            "ask nvabgp (also: routes, health, drain, ...)",
        ),
        (format!("ip netns exec {nva} bash"), "a shell on the NVA"),
        (format!("ip -n {nva} route"), "the NVA's kernel routes"),
        (
            format!("ip netns exec {rs} tcpdump -ni rs0 tcp port 179"),
            "watch BGP",
        ),
        (
            format!("ip -n {vr} addr del {}/24 dev {VR_NVA_INTERFACE}", WEB[0]),
            "fail web-1 (addr add ... restores it)",
        ),
        (format!("tail -f {}", lab.log().display()), "nvabgp's log"),
    ];
    let width = commands.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    let mut text = String::from("In another terminal, as root:\n");
    for (command, comment) in &commands {
        let _ = writeln!(text, "  {command:<width$}  # {comment}");
    }
    text.push_str("Press Enter (or Ctrl-C) to stop and clean up.");
    narrator.say(&text);
    let _ = io::stdout().flush();
    // A thread reads the line, so that a signal still ends the wait (the
    // standard library retries reads interrupted by signals).
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("lab-keep-stdin".into())
        .spawn(move || {
            let mut line = String::new();
            let _ = io::stdin().read_line(&mut line);
            let _ = tx.send(());
        })
        .context("cannot start the stdin reader")?;
    loop {
        check_interrupted()?;
        match rx.recv_timeout(POLL_INTERVAL) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::Community;

    use crate::config::Config;
    use crate::origin::OriginKind;

    #[test]
    fn the_printed_configuration_is_valid_and_says_what_the_demo_narrates() {
        let text = nvabgp_config(Path::new("/run/x/nvabgp.sock"), "10.1.1.0/24");
        let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(config.asn, NVA_AS);
        assert_eq!(config.peers.len(), 2);
        assert!(config.peers.iter().all(|p| p.asn == ROUTE_SERVER_AS));
        assert_eq!(config.control_socket, "/run/x/nvabgp.sock");
        assert_eq!(config.routes.len(), 1);
        assert_eq!(config.routes[0].prefix, prefix(DEFAULT_ROUTE).unwrap());
        assert!(
            config.routes[0]
                .communities
                .contains(&Community::NO_ADVERTISE)
        );
        assert_eq!(config.health_routes.len(), 2);
        let vip = config
            .health_routes
            .iter()
            .find(|r| r.route.prefix == prefix(VIP).unwrap())
            .unwrap();
        let OriginKind::NextHopIp(nhip) = &vip.kind else {
            panic!("{vip:?}")
        };
        assert_eq!(nhip.candidates.len(), 2);
        assert!(nhip.preempt);
        assert_eq!(nhip.min_hold, Duration::from_secs(MIN_HOLD));
        assert!(
            config
                .health_routes
                .iter()
                .any(|r| r.route.prefix == prefix(ANYCAST).unwrap()
                    && matches!(r.kind, OriginKind::Anycast { .. }))
        );
        assert_eq!(
            config.kernel.route_server_subnets,
            vec![prefix("10.1.1.0/24").unwrap()]
        );
    }

    #[test]
    fn the_flags_parse() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Top {
            #[command(flatten)]
            lab: LabArgs,
        }
        let t = Top::try_parse_from(["lab", "--route-server", "frr", "--fast"]).unwrap();
        assert_eq!(t.lab.route_server, RouteServerKind::Frr);
        assert!(t.lab.fast && !t.lab.keep);
        let t = Top::try_parse_from(["lab"]).unwrap();
        assert_eq!(t.lab.route_server, RouteServerKind::Bird);
        assert!(Top::try_parse_from(["lab", "--route-server", "quagga"]).is_err());
    }
}
