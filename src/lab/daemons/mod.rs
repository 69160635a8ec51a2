//! Real BGP daemons in the lab: BIRD 2, FRR 8, GoBGP 3 and ExaBGP 4 behind
//! one interface, [`BgpSpeaker`].
//!
//! Two uses:
//! * [`RouteServers`]: two instances in the Route Server namespace, bound to
//!   the two Route Server addresses, AS 65515, each with one multihop eBGP
//!   session to the NVA, announcing VNet prefixes with next hop = their own
//!   address (as Azure Route Server does; the daemons prepend 65515).
//! * [`start_nva_speaker`]: one daemon in the NVA namespace, AS 65001, with a
//!   session to each Route Server instance: today it proves the lab, later it
//!   is the baseline nvabgp is benchmarked against.
//!
//! Each daemon runs in the foreground as our child, with its configuration,
//! control socket and logs in its own [`RuntimeDir`]; nothing is shared
//! with system instances of the same daemons (which may be running as
//! services: we neither use nor touch them). Routes are read back as
//! structured data ([`ReceivedRoute`]) from each daemon's own CLI.

mod bird;
mod exabgp;
mod frr;
mod gobgp;
mod nvabgp;
mod roles;

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use bgp_proto::{Community, LargeCommunity, Prefix};

use super::process::{self, Process, RuntimeDir, wait_for};
use super::{Error, Result};

pub use bird::Bird;
pub use exabgp::Exabgp;
pub use frr::Frr;
pub use gobgp::Gobgp;
pub use nvabgp::Nvabgp;
pub use roles::{
    NvaSpeakerOptions, RouteServerOptions, RouteServers, nva_speaker_config, start_nva_speaker,
};

/// Azure Route Server's AS number.
pub const ROUTE_SERVER_AS: u32 = 65515;

/// The NVA's AS number in the lab.
pub const NVA_AS: u32 = 65001;

/// One of the supported BGP implementations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Implementation {
    /// BIRD 2 (Debian package `bird2`).
    Bird,
    /// FRRouting 8: zebra + bgpd (Debian package `frr`).
    Frr,
    /// GoBGP 3 (Debian package `gobgpd`).
    Gobgp,
    /// ExaBGP 4 (Debian package `exabgp`) with our API helper.
    Exabgp,
    /// nvabgp itself ([`Nvabgp`]): built by cargo, not installed, so
    /// [`spawn`] cannot start it without being told the binary.
    Nvabgp,
}

impl Implementation {
    /// The real daemons nvabgp is tested against (nvabgp not included).
    pub const ALL: [Implementation; 4] = [Self::Bird, Self::Frr, Self::Gobgp, Self::Exabgp];

    /// The programs the lab runs for it.
    pub fn programs(self) -> &'static [&'static str] {
        match self {
            Self::Bird => &["bird", "birdc"],
            Self::Frr => &[frr::ZEBRA, frr::BGPD, "vtysh"],
            Self::Gobgp => &["gobgpd", "gobgp"],
            Self::Exabgp => &["exabgp", exabgp::PYTHON],
            // The binary is the test's own build (`CARGO_BIN_EXE_nvabgp`).
            Self::Nvabgp => &[],
        }
    }

    /// The Debian package that provides it.
    pub fn debian_package(self) -> &'static str {
        match self {
            Self::Bird => "bird2",
            Self::Frr => "frr",
            Self::Gobgp => "gobgpd",
            Self::Exabgp => "exabgp",
            Self::Nvabgp => "nvabgp",
        }
    }
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bird => "BIRD",
            Self::Frr => "FRR",
            Self::Gobgp => "GoBGP",
            Self::Exabgp => "ExaBGP",
            Self::Nvabgp => "nvabgp",
        })
    }
}

/// BGP timers, in seconds (RFC 4271 §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Hold time proposed in OPEN.
    pub hold: u16,
    /// Keepalive interval.
    pub keepalive: u16,
    /// ConnectRetry, also used as the delay before the first connection and
    /// after an error where the implementation has such a knob.
    pub connect_retry: u16,
}

impl Timers {
    /// Azure Route Server's timers: hold 180 s, keepalive 60 s.
    pub const AZURE: Self = Self {
        hold: 180,
        keepalive: 60,
        connect_retry: 5,
    };

    /// Short timers for tests: hold 9 s, keepalive 3 s, retry after 1 s.
    pub const SHORT: Self = Self {
        hold: 9,
        keepalive: 3,
        connect_retry: 1,
    };
}

impl Default for Timers {
    fn default() -> Self {
        Self::AZURE
    }
}

/// A BGP neighbor of a lab speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    /// Its address.
    pub address: Ipv4Addr,
    /// Its AS number.
    pub remote_as: u32,
    /// TCP MD5 key (RFC 2385), if any.
    pub password: Option<String>,
}

/// A route a lab speaker originates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The prefix (IPv4: the lab is IPv4 only, like Azure Route Server).
    pub prefix: Prefix,
    /// NEXT_HOP; `None` means the speaker's own address.
    pub next_hop: Option<Ipv4Addr>,
    /// COMMUNITIES (RFC 1997).
    pub communities: Vec<Community>,
    /// LARGE_COMMUNITY (RFC 8092).
    pub large_communities: Vec<LargeCommunity>,
}

impl Announcement {
    /// `prefix` with the speaker's own address as next hop and no communities.
    pub fn new(prefix: Prefix) -> Self {
        Self {
            prefix,
            next_hop: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
        }
    }

    /// Parses `prefix` (e.g. `10.1.0.0/16`).
    pub fn parse(prefix: &str) -> Result<Self> {
        let prefix = prefix
            .parse::<Prefix>()
            .map_err(|e| Error::Unsupported(format!("bad prefix {prefix:?}: {e}")))?;
        Ok(Self::new(prefix))
    }

    /// With an explicit next hop.
    pub fn with_next_hop(mut self, next_hop: Ipv4Addr) -> Self {
        self.next_hop = Some(next_hop);
        self
    }

    /// With one more community.
    pub fn with_community(mut self, community: Community) -> Self {
        self.communities.push(community);
        self
    }

    /// With one more large community.
    pub fn with_large_community(mut self, community: LargeCommunity) -> Self {
        self.large_communities.push(community);
        self
    }
}

/// A route as a lab speaker received it from one neighbor (after its import
/// policy, which accepts everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRoute {
    /// The prefix.
    pub prefix: Prefix,
    /// NEXT_HOP.
    pub next_hop: Ipv4Addr,
    /// The ASNs of AS_PATH in order (members of AS_SETs flattened in place).
    pub as_path: Vec<u32>,
    /// COMMUNITIES, sorted.
    pub communities: Vec<Community>,
    /// LARGE_COMMUNITY, sorted.
    pub large_communities: Vec<LargeCommunity>,
}

/// A session's state, as the daemon reports it (RFC 4271 §8.2.2 names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Idle.
    Idle,
    /// Connect.
    Connect,
    /// Active.
    Active,
    /// OpenSent.
    OpenSent,
    /// OpenConfirm.
    OpenConfirm,
    /// Established.
    Established,
    /// Something else the daemon said (down, disabled, not started...).
    Other(String),
}

impl SessionState {
    /// Whether the session is up.
    pub fn is_established(&self) -> bool {
        *self == Self::Established
    }

    /// From a daemon's state name, case-insensitively.
    pub(crate) fn from_name(name: &str) -> Self {
        match name.trim().to_ascii_lowercase().as_str() {
            "idle" => Self::Idle,
            "connect" => Self::Connect,
            "active" => Self::Active,
            "opensent" => Self::OpenSent,
            "openconfirm" => Self::OpenConfirm,
            "established" => Self::Established,
            _ => Self::Other(name.trim().to_string()),
        }
    }
}

/// Enhanced route refresh markers received (RFC 7313 §4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshMarkers {
    /// Beginning-of-RIB-Route-Refresh (BoRR) messages.
    pub begin: u64,
    /// End-of-RIB-Route-Refresh (EoRR) messages.
    pub end: u64,
}

/// What one lab speaker runs: identity, neighbors, timers, routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerConfig {
    /// A short name for runtime directories and messages (e.g. `rs-10.1.1.4`).
    pub name: String,
    /// The namespace to run in.
    pub namespace: String,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// The address sessions use and listen on (and the default next hop).
    pub local_address: Ipv4Addr,
    /// Our AS number.
    pub local_as: u32,
    /// The subnet router through which the (multihop) neighbors and next
    /// hops resolve; speakers that resolve next hops only through their own
    /// tables (BIRD) get a default route via it.
    pub gateway: Ipv4Addr,
    /// The neighbors.
    pub neighbors: Vec<Neighbor>,
    /// Timers of every session.
    pub timers: Timers,
    /// Only accept connections, never connect.
    pub passive: bool,
    /// Routes announced from the start.
    pub announcements: Vec<Announcement>,
    /// Be a graceful restart restarting speaker (RFC 4724) with this
    /// restart time in seconds, forwarding state preserved for IPv4
    /// unicast: neighbors that are receiving speakers keep its routes while
    /// it restarts. FRR only; `None` everywhere else.
    pub graceful_restart: Option<u16>,
}

/// One running (or stopped) BGP daemon of the lab.
///
/// All processes are killed and the runtime directory removed on drop.
pub trait BgpSpeaker: fmt::Debug + Send {
    /// Which implementation this is.
    fn implementation(&self) -> Implementation;

    /// Its configuration (announcements as at start).
    fn config(&self) -> &SpeakerConfig;

    /// Starts the daemon with the current announcements (again, after
    /// [`kill`](Self::kill) or [`stop`](Self::stop)); returns once it answers
    /// on its control channel. An error if it is running.
    fn start(&mut self) -> Result<()>;

    /// Whether all its processes are running.
    fn is_running(&mut self) -> bool;

    /// Stops it gracefully (SIGTERM, bounded wait, then SIGKILL).
    fn stop(&mut self);

    /// SIGKILL: the sessions' TCP connections are reset by the kernel, no
    /// NOTIFICATION is sent.
    fn kill(&mut self);

    /// PIDs of its processes.
    fn pids(&self) -> Vec<u32>;

    /// The state of the session with `neighbor`.
    fn session_state(&self, neighbor: Ipv4Addr) -> Result<SessionState>;

    /// The routes received from `neighbor`, sorted by prefix.
    fn received_routes(&self, neighbor: Ipv4Addr) -> Result<Vec<ReceivedRoute>>;

    /// Announces (or replaces) a route to all neighbors, at runtime.
    fn announce(&mut self, announcement: Announcement) -> Result<()>;

    /// Withdraws a route announced earlier.
    fn withdraw(&mut self, prefix: Prefix) -> Result<()>;

    /// The routes it currently announces.
    fn announcements(&self) -> Vec<Announcement>;

    /// The ends of its logs, for failure messages.
    fn diagnostics(&self) -> String;

    /// Freezes it (SIGSTOP to every process): it stops sending anything,
    /// keepalives included, while the kernel keeps its connections open, so
    /// its neighbors see silence until their hold timers expire.
    fn pause(&mut self) -> Result<()> {
        for pid in self.pids() {
            process::signal(pid, libc::SIGSTOP)
                .map_err(|e| Error::io(format!("SIGSTOP {pid}"), e))?;
        }
        Ok(())
    }

    /// Undoes [`pause`](Self::pause) (SIGCONT).
    fn resume(&mut self) -> Result<()> {
        for pid in self.pids() {
            process::signal(pid, libc::SIGCONT)
                .map_err(|e| Error::io(format!("SIGCONT {pid}"), e))?;
        }
        Ok(())
    }

    /// Sends `neighbor` a ROUTE-REFRESH for IPv4 unicast (RFC 2918), as
    /// the daemon's inbound soft reset does when the neighbor supports it.
    fn request_route_refresh(&mut self, neighbor: Ipv4Addr) -> Result<()> {
        let _ = neighbor;
        Err(Error::Unsupported(format!(
            "{}: no way to request a route refresh",
            self.implementation()
        )))
    }

    /// A counter of what the daemon received from `neighbor` in UPDATEs
    /// (messages or routes, depending on the daemon): only its increase
    /// means something, e.g. that a route refresh was answered.
    fn updates_received(&self, neighbor: Ipv4Addr) -> Result<u64> {
        let _ = neighbor;
        Err(Error::Unsupported(format!(
            "{}: no UPDATE counter",
            self.implementation()
        )))
    }

    /// How many Beginning-of-RIB-Route-Refresh and End-of-RIB-Route-Refresh
    /// markers (RFC 7313 enhanced route refresh) the daemon received from
    /// `neighbor` since it started.
    fn refresh_markers_received(&self, neighbor: Ipv4Addr) -> Result<RefreshMarkers> {
        let _ = neighbor;
        Err(Error::Unsupported(format!(
            "{}: does not report enhanced route refresh markers",
            self.implementation()
        )))
    }

    /// Waits until the session with `neighbor` is Established.
    fn wait_established(&self, neighbor: Ipv4Addr, timeout: Duration) -> Result<()> {
        self.wait_session(neighbor, true, timeout)
    }

    /// Waits until the session with `neighbor` is Established (`up`) or
    /// not.
    fn wait_session(&self, neighbor: Ipv4Addr, up: bool, timeout: Duration) -> Result<()> {
        let what = format!(
            "{} {}: session with {neighbor} {}",
            self.implementation(),
            self.config().name,
            if up { "Established" } else { "down" }
        );
        wait_for(&what, timeout, || {
            Ok((self.session_state(neighbor)?.is_established() == up).then_some(()))
        })
        .map_err(|e| with_diagnostics(e, self.diagnostics()))
    }

    /// Waits until a route for `prefix` received from `neighbor` satisfies
    /// `accept`, and returns it.
    fn wait_route_where(
        &self,
        neighbor: Ipv4Addr,
        prefix: Prefix,
        accept: &dyn Fn(&ReceivedRoute) -> bool,
        timeout: Duration,
    ) -> Result<ReceivedRoute> {
        let what = format!(
            "{} {}: route {prefix} from {neighbor}",
            self.implementation(),
            self.config().name
        );
        let mut seen = None;
        wait_for(&what, timeout, || {
            let route = self
                .received_routes(neighbor)?
                .into_iter()
                .find(|r| r.prefix == prefix);
            let accepted = route.as_ref().is_some_and(accept);
            seen = route.clone();
            Ok(route.filter(|_| accepted))
        })
        .map_err(|e| with_diagnostics(e, format!("last route seen: {seen:?}")))
    }

    /// Waits until a route for `prefix` arrives from `neighbor`.
    fn wait_route(
        &self,
        neighbor: Ipv4Addr,
        prefix: Prefix,
        timeout: Duration,
    ) -> Result<ReceivedRoute> {
        self.wait_route_where(neighbor, prefix, &|_| true, timeout)
    }

    /// Waits until no route for `prefix` is left from `neighbor`.
    fn wait_route_gone(&self, neighbor: Ipv4Addr, prefix: Prefix, timeout: Duration) -> Result<()> {
        let what = format!(
            "{} {}: route {prefix} from {neighbor} withdrawn",
            self.implementation(),
            self.config().name
        );
        wait_for(&what, timeout, || {
            let routes = self.received_routes(neighbor)?;
            Ok((!routes.iter().any(|r| r.prefix == prefix)).then_some(()))
        })
    }
}

/// Appends `more` to a time-out's "last seen".
fn with_diagnostics(error: Error, more: String) -> Error {
    match error {
        Error::Timeout { what, waited, last } => Error::Timeout {
            what,
            waited,
            last: format!("{last}\n{more}"),
        },
        other => other,
    }
}

/// Creates and starts a speaker of `implementation`.
pub fn spawn(implementation: Implementation, config: SpeakerConfig) -> Result<Box<dyn BgpSpeaker>> {
    let mut speaker: Box<dyn BgpSpeaker> = match implementation {
        Implementation::Bird => Box::new(Bird::new(config)?),
        Implementation::Frr => Box::new(Frr::new(config)?),
        Implementation::Gobgp => Box::new(Gobgp::new(config)?),
        Implementation::Exabgp => Box::new(Exabgp::new(config)?),
        Implementation::Nvabgp => {
            return Err(Error::Unsupported(
                "nvabgp is started with Nvabgp::new(binary, config) (the binary is the test's build)"
                    .into(),
            ));
        }
    };
    speaker.start()?;
    Ok(speaker)
}

/// What every implementation keeps: configuration, runtime directory,
/// current announcements and processes.
#[derive(Debug)]
struct Base {
    implementation: Implementation,
    config: SpeakerConfig,
    dir: RuntimeDir,
    announcements: BTreeMap<Prefix, Announcement>,
    processes: Vec<Process>,
}

/// How long a daemon may take to answer on its control channel after start.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long SIGTERM may take before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

impl Base {
    fn new(implementation: Implementation, config: SpeakerConfig) -> Result<Self> {
        for neighbor in &config.neighbors {
            if let Some(password) = &neighbor.password {
                check_password(password)?;
            }
        }
        let mut announcements = BTreeMap::new();
        for a in &config.announcements {
            check_announcement(a)?;
            announcements.insert(a.prefix, a.clone());
        }
        if config.graceful_restart.is_some() && implementation != Implementation::Frr {
            return Err(Error::Unsupported(format!(
                "{implementation}: the lab configures graceful restart for FRR only"
            )));
        }
        let label = format!("{}-{}", implementation.debian_package(), config.name);
        Ok(Self {
            implementation,
            dir: RuntimeDir::new(&label)?,
            config,
            announcements,
            processes: Vec::new(),
        })
    }

    fn next_hop(&self, announcement: &Announcement) -> Ipv4Addr {
        announcement.next_hop.unwrap_or(self.config.local_address)
    }

    fn neighbor_index(&self, address: Ipv4Addr) -> Result<usize> {
        self.config
            .neighbors
            .iter()
            .position(|n| n.address == address)
            .ok_or_else(|| {
                Error::Unsupported(format!("{} has no neighbor {address}", self.config.name))
            })
    }

    fn ensure_stopped(&mut self) -> Result<()> {
        if self.processes.iter_mut().any(Process::is_running) {
            return Err(Error::Unsupported(format!(
                "{} {} is already running",
                self.implementation, self.config.name
            )));
        }
        self.processes.clear();
        Ok(())
    }

    /// An error if one of our processes has exited (while waiting for it
    /// to become ready, there is no point in waiting longer).
    fn check_alive(&mut self) -> Result<()> {
        for p in &mut self.processes {
            if let Some(status) = p.exit_status() {
                return Err(Error::Command {
                    command: format!("{} ({})", p.name(), self.config.name),
                    status: format!("exited: {status}"),
                    output: process::file_tail(p.log(), 20),
                });
            }
        }
        Ok(())
    }

    fn is_running(&mut self) -> bool {
        !self.processes.is_empty() && self.processes.iter_mut().all(Process::is_running)
    }

    fn kill(&mut self) {
        for p in self.processes.iter_mut().rev() {
            p.kill();
        }
        self.processes.clear();
    }

    fn stop(&mut self) {
        for p in self.processes.iter_mut().rev() {
            let _ = p.terminate(STOP_GRACE);
        }
        self.processes.clear();
    }

    fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(Process::pid).collect()
    }

    /// The last lines of the given files in the runtime directory.
    fn diagnostics(&self, files: &[&str]) -> String {
        let mut out = format!(
            "== {} {} ({})",
            self.implementation,
            self.config.name,
            self.dir.path().display()
        );
        for file in files {
            let text = process::file_tail(&self.dir.join(file), 15);
            if !text.is_empty() {
                out.push_str(&format!("\n-- {file}\n{text}"));
            }
        }
        out
    }

    fn announcements(&self) -> Vec<Announcement> {
        self.announcements.values().cloned().collect()
    }
}

impl Drop for Base {
    /// Processes go before the runtime directory they write to.
    fn drop(&mut self) {
        self.kill();
    }
}

fn check_announcement(announcement: &Announcement) -> Result<()> {
    if announcement.prefix.is_ipv4() {
        Ok(())
    } else {
        Err(Error::Unsupported(format!(
            "{}: the lab announces IPv4 prefixes only",
            announcement.prefix
        )))
    }
}

/// MD5 keys end up in several config languages; keep them to characters
/// that need no quoting in any of them.
fn check_password(password: &str) -> Result<()> {
    let ok = !password.is_empty()
        && password.len() <= 80
        && password
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+=@%:,".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Unsupported(
            "lab MD5 keys: 1 to 80 characters of [A-Za-z0-9-_.+=@%:,]".into(),
        ))
    }
}

/// Parses FRR's and GoBGP's community strings: `65001:100` or a well-known
/// name as those daemons print it.
fn parse_community(text: &str) -> Option<Community> {
    let well_known = match text.trim() {
        "internet" => Some(Community(0)),
        "graceful-shutdown" => Some(Community::GRACEFUL_SHUTDOWN),
        "accept-own" => Some(Community(0xFFFF_0001)),
        "llgr-stale" => Some(Community(0xFFFF_0006)),
        "no-llgr" => Some(Community(0xFFFF_0007)),
        "accept-own-nexthop" => Some(Community(0xFFFF_0008)),
        "blackhole" => Some(Community::BLACKHOLE),
        "no-export" | "noExport" => Some(Community::NO_EXPORT),
        "no-advertise" | "noAdvertise" => Some(Community::NO_ADVERTISE),
        "local-AS" | "localAs" => Some(Community::NO_EXPORT_SUBCONFED),
        "no-peer" | "noPeer" => Some(Community(0xFFFF_FF04)),
        _ => None,
    };
    well_known.or_else(|| text.trim().parse().ok())
}

/// The text of a community as BIRD, FRR, GoBGP and ExaBGP configs take it.
fn community_pair(c: Community) -> (u16, u16) {
    (c.asn(), c.value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_state_names() {
        assert_eq!(
            SessionState::from_name("Established"),
            SessionState::Established
        );
        assert_eq!(
            SessionState::from_name(" ESTABLISHED "),
            SessionState::Established
        );
        assert_eq!(SessionState::from_name("OpenSent"), SessionState::OpenSent);
        assert_eq!(SessionState::from_name("Active"), SessionState::Active);
        assert_eq!(
            SessionState::from_name("Policy"),
            SessionState::Other("Policy".into())
        );
        assert!(!SessionState::from_name("up").is_established());
    }

    #[test]
    fn communities_in_daemon_spelling() {
        assert_eq!(
            parse_community("65001:100"),
            Some(Community::new(65001, 100))
        );
        assert_eq!(parse_community("no-export"), Some(Community::NO_EXPORT));
        assert_eq!(
            parse_community("local-AS"),
            Some(Community::NO_EXPORT_SUBCONFED)
        );
        assert_eq!(parse_community("65001"), None);
        assert_eq!(community_pair(Community::new(1, 2)), (1, 2));
    }

    #[test]
    fn passwords_are_restricted_to_safe_characters() {
        assert!(check_password("s3cret-key").is_ok());
        assert!(check_password("").is_err());
        assert!(check_password("with space").is_err());
        assert!(check_password("quote\"d").is_err());
        assert!(check_password(&"x".repeat(81)).is_err());
    }

    #[test]
    fn announcements_are_ipv4() {
        let v6 = Announcement::parse("2001:db8::/32").unwrap();
        assert!(check_announcement(&v6).is_err());
        let v4 = Announcement::parse("10.1.0.0/16")
            .unwrap()
            .with_next_hop(Ipv4Addr::new(10, 1, 1, 4))
            .with_community(Community::new(65515, 1));
        assert!(check_announcement(&v4).is_ok());
        assert_eq!(v4.communities, vec![Community::new(65515, 1)]);
        assert!(Announcement::parse("10.1.0.1/16").is_err());
    }
}
