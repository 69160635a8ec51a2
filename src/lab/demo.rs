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
//!    what each Route Server received (its own view), health, kernel
//!    routes.
//! 4. Failures: the active web server stops (the VIP's next hop moves in
//!    one UPDATE, shown on the wire), the anycast service stops (the route
//!    is withdrawn); both come back.
//! 5. A summary, then everything is removed (or, with `--keep`, left
//!    running until Enter or Ctrl-C).
//!
//! Every wait is bounded. Everything lives in namespaces and runtime
//! directories this process created, owned by [`Lab`], whose drop removes
//! them: at the end, on an error, on a panic, and on SIGINT/SIGTERM (the
//! handler only sets a flag that every wait checks, so the run unwinds
//! normally). A second Ctrl-C kills at once; the next lab run then removes
//! what was left ([`crate::lab::cleanup_leftovers`]).

mod wire;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, IsTerminal, Write as _};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bgp_proto::{Community, Prefix};
use clap::{Args, ValueEnum};

use super::daemons::{
    Announcement, BgpSpeaker, Implementation, NVA_AS, Nvabgp, ROUTE_SERVER_AS, ReceivedRoute,
    RouteServerOptions, RouteServers, Timers,
};
use super::process::{self, COMMAND_TIME_LIMIT, POLL_INTERVAL, Process, RuntimeDir};
use super::topology::VR_NVA_INTERFACE;
use super::{Node, Topology, TopologyOptions, require_implementation, require_root};
use crate::config::KERNEL_PROTOCOL;
use crate::control::{Neighbor, Route, SessionState};
use wire::{Capture, Change};

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

// ---- Interruption -----------------------------------------------------------

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The run was interrupted (SIGINT, SIGTERM).
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
struct Interrupted;

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM set [`INTERRUPTED`]; the handler resets itself, so a
/// second signal kills as usual.
fn install_signal_handlers() -> anyhow::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid empty one; the handler only
        // stores to an atomic, which is async-signal-safe.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error()).context("cannot install a signal handler");
        }
    }
    Ok(())
}

fn check_interrupted() -> anyhow::Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err(Interrupted.into())
    } else {
        Ok(())
    }
}

/// Polls `probe` until it returns `Some`, for at most `timeout`; stops at
/// an interruption. A probe error ends the wait (reported as the
/// interruption when one came meanwhile: Ctrl-C also reaches the daemons).
fn wait<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        check_interrupted()?;
        match probe() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => {
                check_interrupted()?;
                return Err(e.context(format!("while waiting for {what}")));
            }
        }
        if start.elapsed() >= timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Sleeps `duration`, waking early on an interruption.
fn sleep(duration: Duration) -> anyhow::Result<()> {
    let end = Instant::now() + duration;
    while Instant::now() < end {
        check_interrupted()?;
        thread::sleep(POLL_INTERVAL.min(end.saturating_duration_since(Instant::now())));
    }
    check_interrupted()
}

// ---- Output -----------------------------------------------------------------

/// The narration: headings, commands with their output, remarks.
struct Narrator {
    bold: bool,
    pause: Duration,
    act: u32,
}

impl Narrator {
    fn act(&mut self, title: &str) -> anyhow::Result<()> {
        if self.act > 0 {
            sleep(self.pause)?;
        }
        self.act += 1;
        let line = format!("== {}. {title}", self.act);
        if self.bold {
            println!("\n\x1b[1m{line}\x1b[0m");
        } else {
            println!("\n{line}");
        }
        Ok(())
    }

    fn say(&self, text: &str) {
        indented("   ", text);
    }

    /// A command as a user would type it, then its output.
    fn shell(&self, command: &str, output: &str) {
        println!("   $ {command}");
        indented("     ", output.trim_end());
    }
}

/// Prints `text` with `indent` before every line that is not empty.
fn indented(indent: &str, text: &str) {
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            println!();
        } else {
            println!("{indent}{line}");
        }
    }
}

/// Well-known communities by name, others as `ASN:VALUE`.
fn community_name(c: Community) -> String {
    match c {
        Community::NO_EXPORT => "no-export".into(),
        Community::NO_ADVERTISE => "no-advertise".into(),
        Community::NO_EXPORT_SUBCONFED => "no-export-subconfed".into(),
        other => other.to_string(),
    }
}

/// One received route for people.
fn route_line(r: &ReceivedRoute) -> String {
    let mut line = format!(
        "{:<16} next hop {:<11} AS path {}",
        r.prefix.to_string(),
        r.next_hop,
        r.as_path
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if !r.communities.is_empty() {
        let names: Vec<String> = r.communities.iter().map(|c| community_name(*c)).collect();
        let _ = write!(line, "  communities {}", names.join(" "));
    }
    line
}

/// `0.9 s`, or `40 ms` below a tenth of a second.
fn seconds(d: Duration) -> String {
    if d < Duration::from_millis(100) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

// ---- Services ---------------------------------------------------------------

/// A TCP service in a namespace that accepts connections and closes them,
/// which is all a TCP health check looks at. It runs on a thread of this
/// process that entered the namespace (no program to install, nothing to
/// find by name), and stops when dropped: connections are then refused.
struct Service {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Service {
    fn start(namespace: &str, address: SocketAddrV4) -> anyhow::Result<Self> {
        // Where `ip netns add` keeps the namespace (iproute2's NETNS_RUN_DIR).
        let path = Path::new("/var/run/netns").join(namespace);
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, bound) = mpsc::channel();
        let stopped = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(format!("lab-service-{address}"))
            .spawn(move || {
                let listener = enter_namespace(&path)
                    .and_then(|()| TcpListener::bind(address))
                    .and_then(|l| l.set_nonblocking(true).map(|()| l));
                let listener = match listener {
                    Ok(l) => {
                        let _ = ready.send(Ok(()));
                        l
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                while !stopped.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((connection, _)) => drop(connection),
                        Err(_) => thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
            .context("cannot start a service thread")?;
        let service = Self {
            stop,
            thread: Some(thread),
        };
        match bound.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(service),
            Ok(Err(e)) => {
                Err(e).with_context(|| format!("cannot listen on {address} in {namespace}"))
            }
            Err(_) => bail!("the service on {address} did not start within 10 s"),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Moves the calling thread into the network namespace at `path`.
fn enter_namespace(path: &Path) -> io::Result<()> {
    let namespace = File::open(path)?;
    // SAFETY: setns(2) on a descriptor we hold open; it changes only the
    // calling thread's network namespace.
    let rc = unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

// ---- The lab ----------------------------------------------------------------

/// Everything the demo started. Fields drop in order: the agent, the
/// capture, the stand-ins, the services, the runtime directory, and last
/// the namespaces (whose removal also kills anything left inside).
struct Lab {
    daemon: Option<Process>,
    capture: Option<Capture>,
    route_servers: Option<RouteServers>,
    web: [Option<Service>; 2],
    dns: Option<Service>,
    dir: RuntimeDir,
    topology: Topology,
    /// This binary: the agent and its CLI.
    binary: PathBuf,
    /// When the agent was started.
    daemon_started: Option<Instant>,
    implementation: Implementation,
}

impl Lab {
    fn socket(&self) -> PathBuf {
        self.dir.join("nvabgp.sock")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("nvabgp.log")
    }

    /// `nvabgp --socket S ARGS`: its stdout.
    fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut command = Command::new(&self.binary);
        command.arg("--socket").arg(self.socket()).args(args);
        Ok(process::run(&mut command, COMMAND_TIME_LIMIT)?)
    }

    fn neighbors(&self) -> anyhow::Result<Vec<Neighbor>> {
        let json = self.cli(&["neighbors", "--json"])?;
        serde_json::from_str(&json).context("cannot parse `nvabgp neighbors --json`")
    }

    fn routes(&self, within: &str) -> anyhow::Result<Vec<Route>> {
        let json = self.cli(&["routes", within, "--json"])?;
        serde_json::from_str(&json).context("cannot parse `nvabgp routes --json`")
    }

    fn instances(&self) -> &[Box<dyn BgpSpeaker>] {
        self.route_servers
            .as_ref()
            .map(RouteServers::instances)
            .unwrap_or_default()
    }

    /// What each Route Server instance holds for `prefix` from the NVA.
    fn received(&self, prefix: Prefix) -> anyhow::Result<Vec<Option<ReceivedRoute>>> {
        let nva = self.topology.nva_address();
        self.instances()
            .iter()
            .map(|i| {
                Ok(i.received_routes(nva)?
                    .into_iter()
                    .find(|r| r.prefix == prefix))
            })
            .collect()
    }

    /// Waits until every Route Server instance's route for `prefix` from
    /// the NVA satisfies `accept` (`None`: no route).
    fn wait_received(
        &self,
        what: &str,
        prefix: Prefix,
        accept: impl Fn(Option<&ReceivedRoute>) -> bool,
    ) -> anyhow::Result<Duration> {
        let start = Instant::now();
        wait(what, STEP_TIMEOUT, || {
            let all = self.received(prefix)?;
            Ok(all.iter().all(|r| accept(r.as_ref())).then_some(()))
        })?;
        Ok(start.elapsed())
    }

    /// Each instance's view of the routes the NVA sent, as lines.
    fn route_server_views(&self, only: Option<Prefix>) -> anyhow::Result<String> {
        let nva = self.topology.nva_address();
        let mut out = String::new();
        for (instance, address) in self.instances().iter().zip(self.topology.rs_addresses()) {
            let routes = instance.received_routes(nva)?;
            let _ = writeln!(
                out,
                "Route Server {address} ({}) has from the NVA:",
                self.implementation
            );
            let mut any = false;
            for r in routes.iter().filter(|r| only.is_none_or(|p| p == r.prefix)) {
                let _ = writeln!(out, "  {}", route_line(r));
                any = true;
            }
            if !any {
                let what = only.map_or_else(|| "nothing".to_string(), |p| format!("no {p}"));
                let _ = writeln!(out, "  {what}");
            }
        }
        Ok(out)
    }

    /// The routes nvabgp wrote into the NVA's kernel (our protocol).
    fn kernel_routes(&self) -> anyhow::Result<String> {
        let protocol = KERNEL_PROTOCOL.to_string();
        let out = self
            .topology
            .nva_exec(&["ip", "route", "show", "proto", &protocol])?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Logs for a failure message.
    fn diagnostics(&self) -> String {
        let mut out = format!(
            "-- nvabgp log ({})\n{}",
            self.log().display(),
            process::file_tail(&self.log(), 30)
        );
        if let Some(rs) = &self.route_servers {
            out.push('\n');
            out.push_str(&rs.diagnostics());
        }
        out
    }

    /// Starts nvabgp in the NVA namespace; returns once its control socket
    /// answers.
    fn start_daemon(&mut self, config: &Path) -> anyhow::Result<()> {
        let mut command = self
            .topology
            .command(Node::Nva, &self.binary.to_string_lossy());
        command
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info");
        self.daemon = Some(Process::spawn("nvabgp", command, &self.log())?);
        self.daemon_started = Some(Instant::now());
        wait(
            "nvabgp to answer on its control socket",
            STEP_TIMEOUT,
            || {
                if let Some(status) = self.daemon.as_mut().and_then(Process::exit_status) {
                    bail!(
                        "nvabgp exited ({status}):\n{}",
                        process::file_tail(&self.log(), 20)
                    );
                }
                Ok(self.cli(&["status"]).ok().map(drop))
            },
        )
    }
}

/// What the summary reports.
#[derive(Debug, Default)]
struct Findings {
    failover: Option<Duration>,
    failover_wire: Option<String>,
    anycast_down: Option<Duration>,
    anycast_up: Option<Duration>,
    /// Since web-1 returned, since the failover.
    preempt: Option<(Duration, Duration)>,
    kernel: Option<bool>,
    /// Expectations the run did not meet (the demo then exits 1).
    problems: Vec<String>,
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
        println!(
            "   cleaned up: namespaces {} removed",
            namespaces.join(", ")
        );
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

fn run_ip(topology: &Topology, node: Node, args: &[&str]) -> anyhow::Result<()> {
    let mut full = vec!["ip"];
    full.extend_from_slice(args);
    let out = topology.exec(node, &full)?;
    if !out.status.success() {
        bail!(
            "`{}` in {node}: {}",
            full.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Act 3: sessions, learned routes, what the Route Servers received,
/// health, kernel routes.
fn act_established(lab: &Lab, narrator: &Narrator, findings: &mut Findings) -> anyhow::Result<()> {
    wait("both sessions to be Established", STEP_TIMEOUT, || {
        let neighbors = lab.neighbors()?;
        Ok((neighbors.len() == 2
            && neighbors
                .iter()
                .all(|n| n.state == SessionState::Established))
        .then_some(()))
    })?;
    let established = lab.daemon_started.map(|t| t.elapsed()).unwrap_or_default();

    // Learned: each VNet prefix from both instances, both in the ECMP set.
    let vnets: Vec<Prefix> = VNET_PREFIXES
        .iter()
        .map(|p| prefix(p))
        .collect::<Result<_, _>>()?;
    wait(
        "the VNet prefixes from both Route Servers",
        STEP_TIMEOUT,
        || {
            let routes = lab.routes("0.0.0.0/0")?;
            Ok(vnets
                .iter()
                .all(|p| {
                    routes.iter().any(|r| {
                        r.prefix == *p && r.paths.iter().filter(|path| path.multipath).count() == 2
                    })
                })
                .then_some(()))
        },
    )?;

    // Originated, as the receivers see them.
    let [default, anycast, vip] = [prefix(DEFAULT_ROUTE)?, prefix(ANYCAST)?, prefix(VIP)?];
    for (p, what) in [
        (default, "the default route"),
        (anycast, "the anycast route"),
    ] {
        lab.wait_received(&format!("{what} at both Route Servers"), p, |r| r.is_some())?;
    }
    lab.wait_received("the VIP via web-1 at both Route Servers", vip, |r| {
        r.is_some_and(|r| r.next_hop == WEB[0])
    })?;
    let settled = lab.daemon_started.map(|t| t.elapsed()).unwrap_or_default();
    narrator.say(&format!(
        "Both sessions Established {} after nvabgp started; routes exchanged within {}:",
        seconds(established),
        seconds(settled)
    ));
    narrator.shell("nvabgp neighbors", &lab.cli(&["neighbors"])?);
    narrator.say("\nLearned: each VNet prefix from both Route Server instances (ECMP; next hop = the instance, as Azure sends them):");
    narrator.shell("nvabgp routes", &lab.cli(&["routes"])?);
    narrator.say("\nAdvertised, nvabgp's side (the same to ars-1):");
    narrator.shell(
        "nvabgp routes --peer ars-0 --adj-out",
        &lab.cli(&["routes", "--peer", "ars-0", "--adj-out"])?,
    );
    narrator.say(&format!(
        "\nAdvertised, the receivers' side: what each Route Server holds ({}'s own view of its table):",
        lab.implementation
    ));
    narrator.say(&lab.route_server_views(None)?);
    narrator.say(&format!(
        "The VIP's next hop is web-1 ({}), the healthy candidate with the highest priority:",
        WEB[0]
    ));
    narrator.shell("nvabgp health", &lab.cli(&["health"])?);

    // KERNEL: shown when the daemon installs learned routes. Until the
    // [kernel] section is wired into the daemon, there is nothing to show
    // and the demo says so rather than faking it.
    let learned_in_kernel = |text: &str| {
        vnets
            .iter()
            .all(|p| text.lines().any(|l| l.starts_with(&p.to_string())))
    };
    let kernel = wait("learned routes in the kernel", KERNEL_WAIT, || {
        let text = lab.kernel_routes()?;
        Ok(learned_in_kernel(&text).then_some(text))
    });
    let command =
        format!("ip route show proto {KERNEL_PROTOCOL}      # {KERNEL_PROTOCOL} = nvabgp");
    match kernel {
        Ok(text) => {
            narrator.say("\nInstalled in the NVA's kernel (learned routes and the pinned ones):");
            narrator.shell(&command, &text);
            findings.kernel = Some(true);
        }
        Err(e) if e.is::<Interrupted>() => return Err(e),
        Err(_) => {
            narrator.say(&format!(
                "\n[kernel] NOT SHOWN: after {}, the NVA's kernel holds no route of protocol {KERNEL_PROTOCOL} (nvabgp).\n\
                 This build of the daemon does not install learned routes yet: the [kernel] section is\n\
                 parsed and validated, the installer exists (src/kernel), the daemon does not start it yet.",
                seconds(KERNEL_WAIT)
            ));
            narrator.shell(&command, &lab.kernel_routes().unwrap_or_default());
            findings.kernel = Some(false);
        }
    }
    Ok(())
}

/// How many UPDATEs per Route Server touched `prefix` so far on the wire.
fn wire_marks(lab: &Lab, prefix: Prefix) -> Vec<usize> {
    let Some(capture) = &lab.capture else {
        return Vec::new();
    };
    let updates = capture.updates();
    lab.topology
        .rs_addresses()
        .iter()
        .map(|a| {
            updates.get(a).map_or(0, |u| {
                u.iter().filter(|u| u.change_of(prefix).is_some()).count()
            })
        })
        .collect()
}

/// What the wire showed for one change.
struct WireResult {
    /// Exactly one UPDATE touched the prefix on every session, the
    /// expected one.
    one_update: bool,
    /// Per Route Server, when the expected UPDATE was captured (seconds).
    times: Vec<f64>,
}

const ONE_UPDATE: &str = "one UPDATE per Route Server";

/// Shows the UPDATEs that touched `prefix` on each session since `marks`
/// ([`wire_marks`]) and checks they are exactly one, `expected` (recorded
/// as a problem otherwise). `None` without a capture.
fn show_wire(
    lab: &Lab,
    narrator: &Narrator,
    findings: &mut Findings,
    prefix: Prefix,
    marks: &[usize],
    expected: Change,
) -> anyhow::Result<Option<WireResult>> {
    let Some(capture) = &lab.capture else {
        return Ok(None);
    };
    let addresses = lab.topology.rs_addresses();
    // The Route Servers already hold the result, so the UPDATE was
    // captured; the file may trail by a write.
    let per_peer = wait("the UPDATEs in the capture", Duration::from_secs(5), || {
        let updates = capture.updates();
        let since: Vec<Vec<wire::Update>> = addresses
            .iter()
            .zip(marks)
            .map(|(a, mark)| {
                updates
                    .get(a)
                    .map(|u| {
                        u.iter()
                            .filter(|u| u.change_of(prefix).is_some())
                            .skip(*mark)
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        Ok(since
            .iter()
            .all(|s| s.iter().any(|u| u.change_of(prefix) == Some(expected)))
            .then_some(since))
    })?;
    narrator.say("On the wire (tcpdump on the Route Servers' link, decoded by nvabgp's decoder):");
    let mut result = WireResult {
        one_update: true,
        times: Vec::new(),
    };
    for (address, updates) in addresses.iter().zip(&per_peer) {
        for u in updates {
            narrator.say(&format!("  to {address}: {}", u.summary()));
        }
        let found = updates
            .iter()
            .find(|u| u.change_of(prefix) == Some(expected));
        result.times.extend(found.map(|u| u.time));
        result.one_update &= updates.len() == 1 && found.is_some();
    }
    if !result.one_update {
        let problem = format!(
            "{prefix}: expected exactly one UPDATE ({expected:?}) per Route Server, saw {:?}",
            per_peer.iter().map(Vec::len).collect::<Vec<_>>()
        );
        narrator.say(&format!("!! {problem}"));
        findings.problems.push(problem);
    }
    Ok(Some(result))
}

/// Act 4: the active web server fails, then the anycast service; both
/// return.
fn act_failures(lab: &mut Lab, narrator: &Narrator, findings: &mut Findings) -> anyhow::Result<()> {
    let (anycast, vip) = (prefix(ANYCAST)?, prefix(VIP)?);
    let [web1, web2] = WEB;

    narrator.say(&format!("web-1 ({web1}:{WEB_PORT}) stops answering."));
    let marks = wire_marks(lab, vip);
    lab.web[0] = None;
    let took = lab.wait_received("the VIP to move to web-2", vip, |r| {
        r.is_some_and(|r| r.next_hop == web2)
    })?;
    let moved = Instant::now();
    findings.failover = Some(took);
    narrator.say(&format!(
        "{} later ({RISE_FALL} failed checks, {CHECK_INTERVAL} s apart), both Route Servers have the VIP via web-2:",
        seconds(took)
    ));
    narrator.say(&lab.route_server_views(Some(vip))?);
    let failover_wire = show_wire(
        lab,
        narrator,
        findings,
        vip,
        &marks,
        Change::Announce(Some(web2)),
    )?;
    findings.failover_wire = failover_wire.as_ref().map(|w| {
        if w.one_update {
            ONE_UPDATE.to_string()
        } else {
            format!("NOT {ONE_UPDATE}")
        }
    });
    if failover_wire.as_ref().is_some_and(|w| w.one_update) {
        narrator.say("=> the next hop moved in ONE UPDATE, no withdraw in between (Azure would apply it as one change).");
    }

    narrator.say(&format!(
        "\nThe anycast service ({ANYCAST_SERVICE}) stops answering."
    ));
    let marks = wire_marks(lab, anycast);
    lab.dns = None;
    let took = lab.wait_received("the anycast route to be withdrawn", anycast, |r| {
        r.is_none()
    })?;
    findings.anycast_down = Some(took);
    narrator.say(&format!(
        "{} later, {ANYCAST} is withdrawn at both Route Servers:",
        seconds(took)
    ));
    narrator.say(&lab.route_server_views(Some(anycast))?);
    show_wire(lab, narrator, findings, anycast, &marks, Change::Withdraw)?;
    narrator.shell("nvabgp health", &lab.cli(&["health"])?);

    narrator.say("Both come back.");
    let nva_ns = lab.topology.namespace(Node::Nva).to_string();
    let vr_ns = lab.topology.namespace(Node::VirtualRouter).to_string();
    lab.dns = Some(Service::start(&nva_ns, ANYCAST_SERVICE)?);
    lab.web[0] = Some(Service::start(&vr_ns, SocketAddrV4::new(web1, WEB_PORT))?);
    let restored = Instant::now();
    let took = lab.wait_received("the anycast route to return", anycast, |r| r.is_some())?;
    findings.anycast_up = Some(took);
    narrator.say(&format!(
        "{ANYCAST} is announced again after {} ({RISE_FALL} good checks).",
        seconds(took)
    ));
    let marks = wire_marks(lab, vip);
    lab.wait_received("the VIP to return to web-1", vip, |r| {
        r.is_some_and(|r| r.next_hop == web1)
    })?;
    let took = restored.elapsed();
    narrator.say(&format!(
        "The VIP is back on web-1 {} after it returned: preempt waits for {RISE_FALL} good checks\n\
         and for min_hold = {MIN_HOLD} s since the last change (no flapping).",
        seconds(took)
    ));
    narrator.say(&lab.route_server_views(Some(vip))?);
    let back_wire = show_wire(
        lab,
        narrator,
        findings,
        vip,
        &marks,
        Change::Announce(Some(web1)),
    )?;
    // The hold, measured where it matters: between the two UPDATEs on the
    // wire (the receivers' tables are polled, so they see changes late).
    let hold = match (&failover_wire, &back_wire) {
        (Some(a), Some(b)) if a.times.len() == b.times.len() && !a.times.is_empty() => a
            .times
            .iter()
            .zip(&b.times)
            .map(|(a, b)| Duration::from_secs_f64((b - a).max(0.0)))
            .min(),
        _ => None,
    };
    match hold {
        Some(hold) => {
            narrator.say(&format!(
                "=> {} between the failover UPDATE and this one (min_hold = {MIN_HOLD} s).",
                seconds(hold)
            ));
            // A millisecond of slack for the capture's clock.
            if hold + Duration::from_millis(1) < Duration::from_secs(MIN_HOLD) {
                findings.problems.push(format!(
                    "the VIP returned {} after the failover, before min_hold",
                    seconds(hold)
                ));
            }
        }
        None => narrator.say(&format!(
            "=> about {} after the failover (min_hold = {MIN_HOLD} s).",
            seconds(moved.elapsed())
        )),
    }
    findings.preempt = Some((took, hold.unwrap_or_else(|| moved.elapsed())));
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
    let kernel = match findings.kernel {
        Some(true) => "learned routes installed (ip route show proto 200)".to_string(),
        Some(false) => "NOT SHOWN: this build does not install learned routes yet".to_string(),
        None => "not reached".to_string(),
    };
    let _ = writeln!(s, "kernel      {kernel}");
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
    fn well_known_communities_are_named() {
        assert_eq!(community_name(Community::NO_ADVERTISE), "no-advertise");
        assert_eq!(community_name(Community::new(65001, 10)), "65001:10");
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
