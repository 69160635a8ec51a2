//! What the demo runs: the lab ([`Lab`]: namespaces, stand-ins, the agent,
//! the capture) and the services its health checks probe ([`Service`]).

use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::net::{SocketAddrV4, TcpListener};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bgp_proto::Prefix;

use super::STEP_TIMEOUT;
use super::narration::{route_line, wait};
use super::wire::Capture;
use crate::config::KERNEL_PROTOCOL;
use crate::control::{Neighbor, Route};
use crate::lab::daemons::{BgpSpeaker, Implementation, ReceivedRoute, RouteServers};
use crate::lab::process::{self, COMMAND_TIME_LIMIT, Process, RuntimeDir};
use crate::lab::{Node, Topology};

/// A TCP service in a namespace that accepts connections and closes them,
/// which is all a TCP health check looks at. It runs on a thread of this
/// process that entered the namespace (no program to install, nothing to
/// find by name), and stops when dropped: connections are then refused.
pub(super) struct Service {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Service {
    pub(super) fn start(namespace: &str, address: SocketAddrV4) -> anyhow::Result<Self> {
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
pub(super) struct Lab {
    pub(super) daemon: Option<Process>,
    pub(super) capture: Option<Capture>,
    pub(super) route_servers: Option<RouteServers>,
    pub(super) web: [Option<Service>; 2],
    pub(super) dns: Option<Service>,
    pub(super) dir: RuntimeDir,
    pub(super) topology: Topology,
    /// This binary: the agent and its CLI.
    pub(super) binary: PathBuf,
    /// When the agent was started.
    pub(super) daemon_started: Option<Instant>,
    pub(super) implementation: Implementation,
}

impl Lab {
    pub(super) fn socket(&self) -> PathBuf {
        self.dir.join("nvabgp.sock")
    }

    pub(super) fn log(&self) -> PathBuf {
        self.dir.join("nvabgp.log")
    }

    /// `nvabgp --socket S ARGS`: its stdout.
    pub(super) fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut command = Command::new(&self.binary);
        command.arg("--socket").arg(self.socket()).args(args);
        Ok(process::run(&mut command, COMMAND_TIME_LIMIT)?)
    }

    pub(super) fn neighbors(&self) -> anyhow::Result<Vec<Neighbor>> {
        let json = self.cli(&["neighbors", "--json"])?;
        serde_json::from_str(&json).context("cannot parse `nvabgp neighbors --json`")
    }

    pub(super) fn routes(&self, within: &str) -> anyhow::Result<Vec<Route>> {
        let json = self.cli(&["routes", within, "--json"])?;
        serde_json::from_str(&json).context("cannot parse `nvabgp routes --json`")
    }

    pub(super) fn instances(&self) -> &[Box<dyn BgpSpeaker>] {
        self.route_servers
            .as_ref()
            .map(RouteServers::instances)
            .unwrap_or_default()
    }

    /// What each Route Server instance holds for `prefix` from the NVA.
    pub(super) fn received(&self, prefix: Prefix) -> anyhow::Result<Vec<Option<ReceivedRoute>>> {
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
    pub(super) fn wait_received(
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
    pub(super) fn route_server_views(&self, only: Option<Prefix>) -> anyhow::Result<String> {
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
    pub(super) fn kernel_routes(&self) -> anyhow::Result<String> {
        let protocol = KERNEL_PROTOCOL.to_string();
        let out = self
            .topology
            .nva_exec(&["ip", "route", "show", "proto", &protocol])?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The learned prefixes the kernel policy kept out, with the reason
    /// (`prefix=` and `reason=` of the agent's log lines), once each.
    pub(super) fn kernel_refusals(&self) -> Vec<(String, String)> {
        let log = std::fs::read(self.log()).unwrap_or_default();
        let mut out: Vec<(String, String)> = Vec::new();
        for line in String::from_utf8_lossy(&log).lines() {
            if !line.contains("kept out of the kernel") {
                continue;
            }
            let field = |key: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(key))
                    .map(str::to_string)
            };
            if let (Some(prefix), Some(reason)) = (field("prefix="), field("reason=")) {
                if !out.iter().any(|(p, _)| *p == prefix) {
                    out.push((prefix, reason));
                }
            }
        }
        out
    }

    /// Logs for a failure message.
    pub(super) fn diagnostics(&self) -> String {
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
    pub(super) fn start_daemon(&mut self, config: &Path) -> anyhow::Result<()> {
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

/// What the NVA's kernel showed.
#[derive(Debug, Default)]
pub(super) struct KernelFindings {
    /// Our routes that are not learned prefixes: the pinned ones.
    pub(super) pinned: Vec<String>,
    /// Learned prefixes installed.
    pub(super) installed: Vec<Prefix>,
    /// Learned prefixes kept out, with the reason.
    pub(super) refused: Vec<(String, String)>,
}

/// What the summary reports.
#[derive(Debug, Default)]
pub(super) struct Findings {
    pub(super) failover: Option<Duration>,
    pub(super) failover_wire: Option<String>,
    pub(super) anycast_down: Option<Duration>,
    pub(super) anycast_up: Option<Duration>,
    /// Since web-1 returned, since the failover.
    pub(super) preempt: Option<(Duration, Duration)>,
    /// What the kernel showed; `None` when it held none of the learned
    /// routes (a build that does not install them) or was not reached.
    pub(super) kernel: Option<KernelFindings>,
    /// Expectations the run did not meet (the demo then exits 1).
    pub(super) problems: Vec<String>,
}

pub(super) fn run_ip(topology: &Topology, node: Node, args: &[&str]) -> anyhow::Result<()> {
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
