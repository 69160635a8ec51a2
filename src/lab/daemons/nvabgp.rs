//! nvabgp itself as a lab speaker: `nvabgp run` in a namespace, as our
//! child, driven through its control socket in the runtime directory.
//!
//! The binary is the one under test (`env!("CARGO_BIN_EXE_nvabgp")` in an
//! integration test), so it is passed in rather than looked up in `PATH`.
//! Besides the [`BgpSpeaker`] interface, which lets nvabgp stand in for the
//! Route Servers like any other daemon, [`Nvabgp`] exposes the control API
//! (`neighbors`, `routes`, `announce`, `withdraw`, `set-next-hop`) with its
//! full types, and the `nvabgp` CLI itself ([`Nvabgp::cli`]).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bgp_proto::{Origin, Prefix};

use super::{
    Announcement, BgpSpeaker, Implementation, ReceivedRoute, START_TIMEOUT, STOP_GRACE,
    SessionState, SpeakerConfig, check_announcement, check_password,
};
use crate::control::{
    self, Announced, ApiError, Client, NextHop, NextHopSet, Request, Response, Route, RoutePath,
    RouteView, RoutesQuery, Withdrawn,
};
use crate::lab::process::{self, COMMAND_TIME_LIMIT, Process, RuntimeDir, wait_for};
use crate::lab::{Error, Result};

/// The `[kernel]` section the lab writes unless told otherwise: no route
/// installed, nothing pinned. Sessions and RIB are what the lab tests; a
/// test about kernel routes sets its own section.
pub const KERNEL_OFF: &str = "install = false\npin = \"none\"\npin_default = false\n";

/// An nvabgp speaker.
pub struct Nvabgp {
    binary: PathBuf,
    config: SpeakerConfig,
    dir: RuntimeDir,
    /// The originated routes, as the next start's `[[route]]`s and as
    /// runtime `announce`/`withdraw` changed them.
    routes: BTreeMap<Prefix, control::Announcement>,
    /// Extra top-level TOML lines.
    extra: Vec<String>,
    /// The body of `[kernel]`; `None` leaves the section out.
    kernel: Option<String>,
    /// `RUST_LOG` of the daemon.
    log_filter: String,
    process: Option<Process>,
    runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for Nvabgp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nvabgp")
            .field("name", &self.config.name)
            .field("dir", &self.dir.path())
            .field("pid", &self.process.as_ref().map(Process::pid))
            .finish_non_exhaustive()
    }
}

impl Nvabgp {
    /// Prepares a speaker running `binary` (not started). The lab
    /// announcements of `config` become `[[route]]`s; richer ones (prepend,
    /// MED) are added with [`Nvabgp::with_route`].
    pub fn new(binary: impl Into<PathBuf>, config: SpeakerConfig) -> Result<Self> {
        if config.graceful_restart.is_some() {
            return Err(Error::Unsupported(
                "nvabgp does not restart gracefully (it is only a receiving speaker)".into(),
            ));
        }
        for neighbor in &config.neighbors {
            if let Some(password) = &neighbor.password {
                check_password(password)?;
            }
        }
        let mut routes = BTreeMap::new();
        for a in &config.announcements {
            check_announcement(a)?;
            routes.insert(a.prefix, to_control(a));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("cannot build a tokio runtime for the control client", e))?;
        Ok(Self {
            binary: binary.into(),
            dir: RuntimeDir::new(&format!("nvabgp-{}", config.name))?,
            config,
            routes,
            extra: Vec::new(),
            kernel: Some(KERNEL_OFF.to_string()),
            log_filter: "info".to_string(),
            process: None,
            runtime,
        })
    }

    /// Creates and starts a speaker (for [`super::RouteServers::start_with`]).
    pub fn spawn(binary: &Path, config: SpeakerConfig) -> Result<Box<dyn BgpSpeaker>> {
        let mut speaker = Self::new(binary, config)?;
        speaker.start()?;
        Ok(Box::new(speaker))
    }

    /// With one more originated route (replacing one of the same prefix).
    pub fn with_route(mut self, route: control::Announcement) -> Self {
        self.routes.insert(route.prefix, route);
        self
    }

    /// With an extra top-level line in the configuration file
    /// (e.g. `connect_retry = 0.5`).
    pub fn with_toml(mut self, line: &str) -> Self {
        self.extra.push(line.to_string());
        self
    }

    /// With this body of the `[kernel]` section (`None`: no section, the
    /// daemon's defaults) instead of [`KERNEL_OFF`].
    pub fn with_kernel(mut self, body: Option<&str>) -> Self {
        self.kernel = body.map(str::to_string);
        self
    }

    /// With this `RUST_LOG` (default `info`).
    pub fn with_log_filter(mut self, filter: &str) -> Self {
        self.log_filter = filter.to_string();
        self
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("nvabgp.sock")
    }

    /// The daemon's log (stderr and stdout, appended across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("nvabgp.log")
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The PID of the running daemon.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Process::pid)
    }

    /// The configuration file as the next start writes it.
    pub fn config_text(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let _ = writeln!(s, "asn = {}", c.local_as);
        let _ = writeln!(s, "router_id = \"{}\"", c.router_id);
        let _ = writeln!(s, "local_address = \"{}\"", c.local_address);
        // Only our own address: two instances can share a namespace.
        let _ = writeln!(s, "listen = \"{}:179\"", c.local_address);
        let _ = writeln!(s, "hold_time = {}", c.timers.hold);
        let _ = writeln!(s, "connect_retry = {}", c.timers.connect_retry.max(1));
        let _ = writeln!(
            s,
            "control_socket = {}",
            quote(&self.socket().to_string_lossy())
        );
        for line in &self.extra {
            let _ = writeln!(s, "{line}");
        }
        if let Some(kernel) = &self.kernel {
            let _ = writeln!(s, "\n[kernel]\n{kernel}");
        }
        for n in &c.neighbors {
            let _ = writeln!(
                s,
                "\n[[peer]]\naddress = \"{}\"\nasn = {}",
                n.address, n.remote_as
            );
            if c.passive {
                let _ = writeln!(s, "passive = true");
            }
            if let Some(password) = &n.password {
                let _ = writeln!(s, "password = {}", quote(password));
            }
        }
        for r in self.routes.values() {
            let _ = writeln!(s, "\n[[route]]\nprefix = \"{}\"", r.prefix);
            let _ = writeln!(s, "next_hop = \"{}\"", r.next_hop);
            if r.prepend > 0 {
                let _ = writeln!(s, "prepend = {}", r.prepend);
            }
            let list = |items: Vec<String>| {
                items
                    .iter()
                    .map(|i| quote(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if !r.communities.is_empty() {
                let items = r.communities.iter().map(ToString::to_string).collect();
                let _ = writeln!(s, "communities = [{}]", list(items));
            }
            if !r.large_communities.is_empty() {
                let items = r
                    .large_communities
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let _ = writeln!(s, "large_communities = [{}]", list(items));
            }
            if let Some(med) = r.med {
                let _ = writeln!(s, "med = {med}");
            }
            if r.origin != Origin::Igp {
                let _ = writeln!(s, "origin = \"{}\"", r.origin.name());
            }
        }
        s
    }

    /// Sends one request to the control socket (a fresh connection each
    /// time, so a restarted daemon is reached without ceremony); bounded by
    /// [`COMMAND_TIME_LIMIT`].
    pub fn call(&self, request: &Request) -> Result<Response> {
        let socket = self.socket();
        let answer = self.runtime.block_on(async {
            tokio::time::timeout(COMMAND_TIME_LIMIT, async {
                let mut client = Client::connect(&socket)
                    .await?
                    .with_timeout(COMMAND_TIME_LIMIT);
                client.call(request).await
            })
            .await
        });
        let command = format!("nvabgp {} ({})", request.command(), self.config.name);
        match answer {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(api_error(command, &e)),
            Err(_) => Err(Error::Command {
                command,
                status: format!("no answer within {COMMAND_TIME_LIMIT:?}"),
                output: String::new(),
            }),
        }
    }

    /// Every configured peer and its session.
    pub fn neighbors(&self) -> Result<Vec<control::Neighbor>> {
        match self.call(&Request::Neighbors)? {
            Response::Neighbors(n) => Ok(n),
            other => Err(unexpected("neighbors", &other)),
        }
    }

    /// The peer with address `address`.
    pub fn neighbor(&self, address: Ipv4Addr) -> Result<control::Neighbor> {
        self.neighbors()?
            .into_iter()
            .find(|n| n.address == IpAddr::V4(address))
            .ok_or_else(|| {
                Error::Unsupported(format!("{} has no neighbor {address}", self.config.name))
            })
    }

    /// The routes of `view`, optionally only those within `prefix`.
    pub fn routes(&self, view: RouteView, prefix: Option<Prefix>) -> Result<Vec<Route>> {
        match self.call(&Request::Routes(RoutesQuery { view, prefix }))? {
            Response::Routes(r) => Ok(r),
            other => Err(unexpected("routes", &other)),
        }
    }

    /// The Loc-RIB paths of exactly `prefix` (empty when it has none).
    pub fn loc_rib_paths(&self, prefix: Prefix) -> Result<Vec<RoutePath>> {
        Ok(self
            .routes(RouteView::LocRib { peer: None }, Some(prefix))?
            .into_iter()
            .find(|r| r.prefix == prefix)
            .map(|r| r.paths)
            .unwrap_or_default())
    }

    /// What nvabgp advertises to `peer` (Adj-RIB-Out).
    pub fn adj_out(&self, peer: Ipv4Addr) -> Result<Vec<Route>> {
        self.routes(
            RouteView::AdjOut {
                peer: peer.to_string(),
            },
            None,
        )
    }

    /// `announce` at runtime; remembered for the next start.
    pub fn announce_route(&mut self, route: control::Announcement) -> Result<Announced> {
        let answer = self.call(&Request::Announce(route.clone()))?;
        self.routes.insert(route.prefix, route);
        match answer {
            Response::Announced(a) => Ok(a),
            other => Err(unexpected("announce", &other)),
        }
    }

    /// `withdraw` at runtime; forgotten for the next start.
    pub fn withdraw_route(&mut self, prefix: Prefix) -> Result<Withdrawn> {
        let answer = self.call(&Request::Withdraw { prefix })?;
        self.routes.remove(&prefix);
        match answer {
            Response::Withdrawn(w) => Ok(w),
            other => Err(unexpected("withdraw", &other)),
        }
    }

    /// `set-next-hop` at runtime; remembered for the next start.
    pub fn set_next_hop(&mut self, prefix: Prefix, next_hop: NextHop) -> Result<NextHopSet> {
        let answer = self.call(&Request::SetNextHop { prefix, next_hop })?;
        if let Some(r) = self.routes.get_mut(&prefix) {
            r.next_hop = next_hop;
        }
        match answer {
            Response::NextHopSet(n) => Ok(n),
            other => Err(unexpected("set-next-hop", &other)),
        }
    }

    /// Runs the `nvabgp` CLI against this daemon's socket
    /// (`nvabgp --socket S ARGS`) and returns its stdout; an error when it
    /// exits unsuccessfully. Changes made this way are not remembered for
    /// the next start.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let mut command = Command::new(&self.binary);
        command.arg("--socket").arg(self.socket()).args(args);
        process::run(&mut command, COMMAND_TIME_LIMIT)
    }

    /// Waits until the peer `address` satisfies `accept` and returns it.
    pub fn wait_neighbor(
        &self,
        address: Ipv4Addr,
        what: &str,
        accept: &dyn Fn(&control::Neighbor) -> bool,
        timeout: Duration,
    ) -> Result<control::Neighbor> {
        let mut seen = None;
        let what = format!("nvabgp {}: neighbor {address} {what}", self.config.name);
        wait_for(&what, timeout, || {
            let neighbor = self.neighbor(address)?;
            let ok = accept(&neighbor);
            seen = Some(neighbor.clone());
            Ok(ok.then_some(neighbor))
        })
        .map_err(|e| super::with_diagnostics(e, format!("last seen: {seen:?}")))
    }

    /// Waits until the Loc-RIB paths of `prefix` satisfy `accept` and
    /// returns them.
    pub fn wait_loc_rib(
        &self,
        prefix: Prefix,
        what: &str,
        accept: &dyn Fn(&[RoutePath]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<RoutePath>> {
        let mut seen = Vec::new();
        let what = format!("nvabgp {}: Loc-RIB {prefix} {what}", self.config.name);
        wait_for(&what, timeout, || {
            let paths = self.loc_rib_paths(prefix)?;
            let ok = accept(&paths);
            seen = paths.clone();
            Ok(ok.then_some(paths))
        })
        .map_err(|e| super::with_diagnostics(e, format!("last seen: {seen:?}")))
    }

    /// Stops the daemon with SIGTERM, as systemd does, and returns its
    /// exit status; `None` when it was not running or had to be killed
    /// after [`STOP_GRACE`].
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.process.take()?.terminate(STOP_GRACE)
    }

    fn check_alive(&mut self) -> Result<()> {
        if let Some(p) = self.process.as_mut()
            && let Some(status) = p.exit_status()
        {
            return Err(Error::Command {
                command: format!("nvabgp run ({})", self.config.name),
                status: format!("exited: {status}"),
                output: process::file_tail(p.log(), 20),
            });
        }
        Ok(())
    }
}

impl BgpSpeaker for Nvabgp {
    fn implementation(&self) -> Implementation {
        Implementation::Nvabgp
    }

    fn config(&self) -> &SpeakerConfig {
        &self.config
    }

    fn start(&mut self) -> Result<()> {
        if self.is_running() {
            return Err(Error::Unsupported(format!(
                "nvabgp {} is already running",
                self.config.name
            )));
        }
        let conf = self.dir.write("nvabgp.toml", &self.config_text())?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.config.namespace])
            .arg(&self.binary)
            .arg("run")
            .arg("--config")
            .arg(&conf)
            .env("RUST_LOG", &self.log_filter);
        self.process = Some(Process::spawn("nvabgp", command, &self.log_path())?);
        let what = format!(
            "nvabgp {} to answer on its control socket",
            self.config.name
        );
        let ready = wait_for(&what, START_TIMEOUT, || {
            self.check_alive()?;
            Ok(self.call(&Request::Status).ok().map(drop))
        });
        if ready.is_err() {
            self.kill();
        }
        ready
    }

    fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(Process::is_running)
    }

    fn stop(&mut self) {
        let _ = self.terminate();
    }

    fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    fn pids(&self) -> Vec<u32> {
        self.pid().into_iter().collect()
    }

    fn session_state(&self, neighbor: Ipv4Addr) -> Result<SessionState> {
        Ok(SessionState::from_name(
            self.neighbor(neighbor)?.state.name(),
        ))
    }

    fn received_routes(&self, neighbor: Ipv4Addr) -> Result<Vec<ReceivedRoute>> {
        let routes = self.routes(
            RouteView::AdjIn {
                peer: neighbor.to_string(),
            },
            None,
        )?;
        let mut out = Vec::new();
        for route in routes {
            for path in route.paths {
                let NextHop::Address(IpAddr::V4(next_hop)) = path.next_hop else {
                    return Err(Error::parse(
                        "nvabgp routes --adj-in",
                        format!("{}: next hop {} is not IPv4", route.prefix, path.next_hop),
                    ));
                };
                let mut communities = path.communities;
                let mut large_communities = path.large_communities;
                communities.sort();
                large_communities.sort();
                out.push(ReceivedRoute {
                    prefix: route.prefix,
                    next_hop,
                    as_path: path.as_path,
                    communities,
                    large_communities,
                });
            }
        }
        out.sort_by_key(|r| r.prefix);
        Ok(out)
    }

    fn announce(&mut self, announcement: Announcement) -> Result<()> {
        check_announcement(&announcement)?;
        self.announce_route(to_control(&announcement)).map(drop)
    }

    fn withdraw(&mut self, prefix: Prefix) -> Result<()> {
        if !self.routes.contains_key(&prefix) {
            return Err(Error::Unsupported(format!("{prefix} is not announced")));
        }
        self.withdraw_route(prefix).map(drop)
    }

    fn announcements(&self) -> Vec<Announcement> {
        self.routes.values().map(from_control).collect()
    }

    fn diagnostics(&self) -> String {
        let mut out = format!(
            "== nvabgp {} ({})\n-- nvabgp.log\n{}",
            self.config.name,
            self.dir.path().display(),
            process::file_tail(&self.log_path(), 25)
        );
        if let Ok(neighbors) = self.cli(&["neighbors"]) {
            out.push_str("\n-- nvabgp neighbors\n");
            out.push_str(&neighbors);
        }
        out
    }
}

impl Drop for Nvabgp {
    /// The daemon goes before the runtime directory it writes to.
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn to_control(a: &Announcement) -> control::Announcement {
    let mut route = control::Announcement::new(a.prefix);
    if let Some(next_hop) = a.next_hop {
        route.next_hop = NextHop::Address(IpAddr::V4(next_hop));
    }
    route.communities = a.communities.clone();
    route.large_communities = a.large_communities.clone();
    route
}

/// The lab's view of an originated route (prepend, MED and ORIGIN have no
/// place in it).
fn from_control(r: &control::Announcement) -> Announcement {
    Announcement {
        prefix: r.prefix,
        next_hop: match r.next_hop {
            NextHop::Address(IpAddr::V4(a)) => Some(a),
            _ => None,
        },
        communities: r.communities.clone(),
        large_communities: r.large_communities.clone(),
    }
}

fn api_error(command: String, e: &ApiError) -> Error {
    Error::Command {
        command,
        status: e.code.to_string(),
        output: e.message.clone(),
    }
}

fn unexpected(command: &str, response: &Response) -> Error {
    Error::parse(
        format!("nvabgp {command}"),
        format!("answered as {}", response.command()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::daemons::{Neighbor, Timers};
    use bgp_proto::{Community, LargeCommunity};

    fn config() -> SpeakerConfig {
        SpeakerConfig {
            name: "nva".into(),
            namespace: "ns".into(),
            router_id: Ipv4Addr::new(10, 1, 2, 4),
            local_address: Ipv4Addr::new(10, 1, 2, 4),
            local_as: 65001,
            gateway: Ipv4Addr::new(10, 1, 2, 1),
            neighbors: vec![Neighbor {
                address: Ipv4Addr::new(10, 1, 1, 4),
                remote_as: 65515,
                password: Some("k3y".into()),
            }],
            timers: Timers::SHORT,
            passive: false,
            graceful_restart: None,
            announcements: vec![
                Announcement::parse("10.2.0.0/16")
                    .unwrap()
                    .with_next_hop(Ipv4Addr::new(10, 1, 2, 10)),
            ],
        }
    }

    #[test]
    fn the_configuration_file_is_valid_and_complete() {
        let mut tagged = control::Announcement::new("100.64.0.1/32".parse().unwrap());
        tagged.prepend = 2;
        tagged.communities = vec![Community::new(65001, 10)];
        tagged.large_communities = vec![LargeCommunity::new(65001, 1, 2)];
        tagged.med = Some(5);
        let speaker = Nvabgp::new("/bin/false", config())
            .unwrap()
            .with_route(tagged)
            .with_toml("# extra");
        let text = speaker.config_text();
        let parsed = crate::config::Config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(parsed.asn, 65001);
        assert_eq!(parsed.listen.unwrap().to_string(), "10.1.2.4:179");
        assert_eq!(parsed.control_socket, speaker.socket().to_string_lossy());
        assert!(!parsed.kernel.learned.install, "{text}");
        let peer = &parsed.peers[0];
        assert_eq!(peer.hold_time, 9);
        assert_eq!(peer.connect_retry, Duration::from_secs(1));
        assert_eq!(peer.ttl, 255);
        assert_eq!(peer.password.as_deref(), Some("k3y"));
        assert_eq!(parsed.routes.len(), 2);
        let tagged = parsed
            .routes
            .iter()
            .find(|r| r.prefix.to_string() == "100.64.0.1/32")
            .unwrap();
        assert_eq!(tagged.prepend, 2);
        assert_eq!(tagged.med, Some(5));
        assert_eq!(tagged.communities, vec![Community::new(65001, 10)]);
        assert_eq!(
            tagged.large_communities,
            vec![LargeCommunity::new(65001, 1, 2)]
        );
        let moved = parsed
            .routes
            .iter()
            .find(|r| r.prefix.to_string() == "10.2.0.0/16")
            .unwrap();
        assert_eq!(
            moved.next_hop,
            crate::config::NextHopConfig::Address(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 10)))
        );
        assert_eq!(speaker.announcements().len(), 2);
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("x\ny"), "\"x\\u000Ay\"");
    }
}
