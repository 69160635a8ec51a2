//! The requests, responses and errors of the control API.
//!
//! Every value here is already valid: a [`Request`] can only be built from
//! JSON through [`Request::parse`] (see [`super::parse`]), which names the
//! field at fault and what it expects, so the daemon never sees a bad
//! prefix or community. The JSON form follows `nvabgp decode`: prefixes,
//! addresses and communities as strings (`"10.0.0.0/8"`, `"65001:10"`,
//! `"65001:1:2"`), ASNs and metrics as numbers, names in kebab-case.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use bgp_proto::attribute::SegmentType;
use bgp_proto::{AsPath, Community, LargeCommunity, Origin, Prefix};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::{NextHopConfig, RouteConfig};
use crate::peer::fsm::State;

// ---- Commands --------------------------------------------------------------

/// The commands of the API, without their arguments: what a request asks
/// and what kind of result answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `status`: the agent as a whole.
    Status,
    /// `neighbors`: every configured peer and its session.
    Neighbors,
    /// `routes`: the Loc-RIB, or one peer's Adj-RIB-In or Adj-RIB-Out.
    Routes,
    /// `health`: the health checks that gate originated routes.
    Health,
    /// `announce`: originate a route.
    Announce,
    /// `withdraw`: stop originating a route.
    Withdraw,
    /// `set-next-hop`: move an originated route to another next hop.
    SetNextHop,
    /// `drain`: withdraw or prepend every originated route.
    Drain,
    /// `undrain`: end a drain.
    Undrain,
}

impl Command {
    /// Every command, in the order the documentation lists them.
    pub const ALL: [Command; 9] = [
        Self::Status,
        Self::Neighbors,
        Self::Routes,
        Self::Health,
        Self::Announce,
        Self::Withdraw,
        Self::SetNextHop,
        Self::Drain,
        Self::Undrain,
    ];

    /// The name on the wire (`"set-next-hop"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Neighbors => "neighbors",
            Self::Routes => "routes",
            Self::Health => "health",
            Self::Announce => "announce",
            Self::Withdraw => "withdraw",
            Self::SetNextHop => "set-next-hop",
            Self::Drain => "drain",
            Self::Undrain => "undrain",
        }
    }

    /// The command with wire name `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---- Requests --------------------------------------------------------------

/// A validated request.
///
/// Serializes to its wire form (`{"command":"withdraw","prefix":"..."}`);
/// deserializing goes through [`Request::parse`]'s validation, so a value
/// of this type always holds usable arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    /// The agent as a whole: answered by [`Response::Status`].
    Status,
    /// Every configured peer: answered by [`Response::Neighbors`].
    Neighbors,
    /// Routes of one table: answered by [`Response::Routes`].
    Routes(RoutesQuery),
    /// The health checks: answered by [`Response::Health`].
    Health,
    /// Originate a route, or replace the attributes of one already
    /// originated (one UPDATE, no withdraw in between): answered by
    /// [`Response::Announced`].
    Announce(Announcement),
    /// Stop originating a route: answered by [`Response::Withdrawn`].
    Withdraw {
        /// The route's prefix.
        #[serde(with = "as_string")]
        prefix: Prefix,
    },
    /// Move an originated route (typically a "next hop IP" VIP) to another
    /// next hop, keeping its other attributes. Peers get one UPDATE that
    /// replaces the route (an implicit withdraw, RFC 4271 §3.1), never a
    /// withdraw followed by an announce: Azure applies each route change
    /// about every 30 s, so two changes would double the failover time.
    /// Answered by [`Response::NextHopSet`].
    SetNextHop {
        /// The originated route's prefix.
        #[serde(with = "as_string")]
        prefix: Prefix,
        /// The new next hop.
        #[serde(with = "as_string")]
        next_hop: NextHop,
    },
    /// Take the node out of service for maintenance: withdraw every
    /// originated route, or prepend our ASN to all of them so peers prefer
    /// other nodes while traffic drains. Answered by [`Response::Drained`].
    Drain(DrainMode),
    /// End a drain: every originated route goes out again as configured.
    /// Answered by [`Response::Undrained`].
    Undrain,
}

impl Request {
    /// The command this request is.
    pub fn command(&self) -> Command {
        match self {
            Self::Status => Command::Status,
            Self::Neighbors => Command::Neighbors,
            Self::Routes(_) => Command::Routes,
            Self::Health => Command::Health,
            Self::Announce(_) => Command::Announce,
            Self::Withdraw { .. } => Command::Withdraw,
            Self::SetNextHop { .. } => Command::SetNextHop,
            Self::Drain(_) => Command::Drain,
            Self::Undrain => Command::Undrain,
        }
    }

    /// True for the commands that change what the agent advertises.
    pub fn is_change(&self) -> bool {
        matches!(
            self.command(),
            Command::Announce
                | Command::Withdraw
                | Command::SetNextHop
                | Command::Drain
                | Command::Undrain
        )
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Self::from_value(value).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Which routes `routes` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutesQuery {
    /// The table.
    #[serde(flatten)]
    pub view: RouteView,
    /// Only routes equal to or more specific than this prefix (a bare
    /// address is a host route, so it matches only itself).
    #[serde(with = "option_as_string", skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Prefix>,
}

impl RoutesQuery {
    /// True when `prefix` passes the query's prefix filter.
    pub fn matches(&self, prefix: &Prefix) -> bool {
        self.prefix.is_none_or(|filter| filter.covers(prefix))
    }
}

/// A routing table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "view", rename_all = "kebab-case")]
pub enum RouteView {
    /// Every path accepted from every peer, best first per prefix (the
    /// Loc-RIB route and its ECMP set flagged); with `peer`, only the paths
    /// learned from that peer.
    LocRib {
        /// A peer's name or address.
        #[serde(skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
    },
    /// What a peer sent, after import policy (RFC 4271 §3.2 Adj-RIB-In).
    AdjIn {
        /// A peer's name or address.
        peer: String,
    },
    /// What we advertise to a peer (RFC 4271 §3.2 Adj-RIB-Out).
    AdjOut {
        /// A peer's name or address.
        peer: String,
    },
}

impl RouteView {
    /// The wire name: `loc-rib`, `adj-in`, `adj-out`.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::LocRib { .. } => "loc-rib",
            Self::AdjIn { .. } => "adj-in",
            Self::AdjOut { .. } => "adj-out",
        }
    }

    /// The peer the view is about, if any.
    pub fn peer(&self) -> Option<&str> {
        match self {
            Self::LocRib { peer } => peer.as_deref(),
            Self::AdjIn { peer } | Self::AdjOut { peer } => Some(peer),
        }
    }
}

/// A route to originate, as `announce` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Announcement {
    /// The prefix.
    #[serde(with = "as_string")]
    pub prefix: Prefix,
    /// `"self"` (each session's local address) or an address (another
    /// machine, e.g. an internal load balancer; Azure Virtual WAN refuses
    /// it).
    #[serde(with = "as_string")]
    pub next_hop: NextHop,
    /// Extra copies of our ASN in the AS path (0..=32).
    pub prepend: u8,
    /// RFC 1997 communities.
    #[serde(with = "strings")]
    pub communities: Vec<Community>,
    /// RFC 8092 large communities.
    #[serde(with = "strings")]
    pub large_communities: Vec<LargeCommunity>,
    /// MULTI_EXIT_DISC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub med: Option<u32>,
    /// ORIGIN.
    #[serde(with = "origin")]
    pub origin: Origin,
}

impl Announcement {
    /// A route with default attributes: next hop self, no prepend, no
    /// communities, no MED, origin IGP.
    pub fn new(prefix: Prefix) -> Self {
        Self {
            prefix,
            next_hop: NextHop::Own,
            prepend: 0,
            communities: Vec::new(),
            large_communities: Vec::new(),
            med: None,
            origin: Origin::Igp,
        }
    }
}

impl From<Announcement> for RouteConfig {
    fn from(a: Announcement) -> Self {
        Self {
            prefix: a.prefix,
            next_hop: a.next_hop.into(),
            prepend: a.prepend,
            communities: a.communities,
            large_communities: a.large_communities,
            med: a.med,
            origin: a.origin,
        }
    }
}

impl From<&RouteConfig> for Announcement {
    fn from(r: &RouteConfig) -> Self {
        Self {
            prefix: r.prefix,
            next_hop: r.next_hop.into(),
            prepend: r.prepend,
            communities: r.communities.clone(),
            large_communities: r.large_communities.clone(),
            med: r.med,
            origin: r.origin,
        }
    }
}

/// The next hop of an originated route: `"self"` or an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// Each session's local address.
    Own,
    /// A fixed address.
    Address(IpAddr),
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Own => f.write_str("self"),
            Self::Address(a) => a.fmt(f),
        }
    }
}

/// A next hop that is neither `self` nor an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected \"self\" or an IP address (e.g. 10.1.2.11)")]
pub struct NextHopParseError;

impl FromStr for NextHop {
    type Err = NextHopParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "self" {
            return Ok(Self::Own);
        }
        s.parse().map(Self::Address).map_err(|_| NextHopParseError)
    }
}

impl From<NextHop> for NextHopConfig {
    fn from(n: NextHop) -> Self {
        match n {
            NextHop::Own => Self::Own,
            NextHop::Address(a) => Self::Address(a),
        }
    }
}

impl From<NextHopConfig> for NextHop {
    fn from(n: NextHopConfig) -> Self {
        match n {
            NextHopConfig::Own => Self::Own,
            NextHopConfig::Address(a) => Self::Address(a),
        }
    }
}

/// How `drain` takes the node out of service.
///
/// JSON: `{"mode":"withdraw"}` or `{"mode":"prepend","count":3}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum DrainMode {
    /// Withdraw every originated route: traffic stops at once.
    Withdraw,
    /// Prepend our ASN `count` (1..=32) more times to every originated
    /// route: peers move to nodes with shorter paths, but keep this one as
    /// a fallback while its connections drain.
    Prepend {
        /// Extra copies of our ASN, on top of each route's own prepend.
        count: u8,
    },
}

impl fmt::Display for DrainMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Withdraw => f.write_str("withdraw"),
            Self::Prepend { count } => write!(f, "prepend {count}"),
        }
    }
}

// ---- Responses -------------------------------------------------------------

/// A successful answer: the `result` of `{"ok":true,"result":...}`.
///
/// Serialized without a tag (the result alone); a client reads it back with
/// [`Response::from_result`], knowing which command it sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// For `status`.
    Status(Status),
    /// For `neighbors`: every configured peer, in configuration order.
    Neighbors(Vec<Neighbor>),
    /// For `routes`: in prefix order, IPv4 first.
    Routes(Vec<Route>),
    /// For `health`.
    Health(Vec<HealthCheck>),
    /// For `announce`.
    Announced(Announced),
    /// For `withdraw`.
    Withdrawn(Withdrawn),
    /// For `set-next-hop`.
    NextHopSet(NextHopSet),
    /// For `drain`.
    Drained(Drained),
    /// For `undrain`.
    Undrained(Undrained),
}

impl Response {
    /// The command this response answers.
    pub fn command(&self) -> Command {
        match self {
            Self::Status(_) => Command::Status,
            Self::Neighbors(_) => Command::Neighbors,
            Self::Routes(_) => Command::Routes,
            Self::Health(_) => Command::Health,
            Self::Announced(_) => Command::Announce,
            Self::Withdrawn(_) => Command::Withdraw,
            Self::NextHopSet(_) => Command::SetNextHop,
            Self::Drained(_) => Command::Drain,
            Self::Undrained(_) => Command::Undrain,
        }
    }

    /// Reads the `result` of an answer to `command`.
    pub fn from_result(
        command: Command,
        result: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        use serde_json::from_value as from;
        Ok(match command {
            Command::Status => Self::Status(from(result)?),
            Command::Neighbors => Self::Neighbors(from(result)?),
            Command::Routes => Self::Routes(from(result)?),
            Command::Health => Self::Health(from(result)?),
            Command::Announce => Self::Announced(from(result)?),
            Command::Withdraw => Self::Withdrawn(from(result)?),
            Command::SetNextHop => Self::NextHopSet(from(result)?),
            Command::Drain => Self::Drained(from(result)?),
            Command::Undrain => Self::Undrained(from(result)?),
        })
    }
}

/// The agent as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// nvabgp's version.
    pub version: String,
    /// Our AS number.
    pub asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Seconds since the agent started.
    pub uptime_secs: u64,
    /// Peers in the configuration.
    pub peers_configured: usize,
    /// Peers whose session is Established.
    pub peers_established: usize,
    /// Prefixes in the Loc-RIB (all families).
    pub loc_rib_prefixes: usize,
    /// Distinct path attribute sets the RIB holds (memory use follows it).
    pub attribute_sets: usize,
    /// The drain in force, `null` when in service.
    pub drain: Option<DrainMode>,
    /// The kernel FIB, `null` when nvabgp manages no kernel routes.
    #[serde(default)]
    pub kernel: Option<KernelStatus>,
}

/// What nvabgp holds in the kernel's routing table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelStatus {
    /// The Azure virtual router the routes go through.
    pub virtual_router: Option<Ipv4Addr>,
    /// Pinned routes in the kernel now.
    pub pinned: usize,
    /// Pinned routes wanted.
    pub pinned_wanted: usize,
    /// Learned routes in the kernel now.
    pub installed: usize,
    /// Changes not written yet.
    pub pending: usize,
    /// Learned prefixes kept out of the kernel, per reason (the traps:
    /// `covers-pinned`, `covers-peer`, `default-pinned`, `covers-metadata`,
    /// `next-hop-is-local`, `originated`, `no-gateway`, `foreign-route`);
    /// each prefix counts once per reason. Reasons with no refusal are
    /// left out.
    pub refused: std::collections::BTreeMap<String, u64>,
    /// Routes of ours someone deleted and nvabgp put back.
    pub restored: u64,
    /// Requests the kernel answered with an error.
    pub errors: u64,
}

/// An FSM state (RFC 4271 §8.2.2), by its RFC name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionState {
    /// Refuses connections.
    Idle,
    /// Connecting out.
    Connect,
    /// Waiting for the peer to connect.
    Active,
    /// OPEN sent.
    OpenSent,
    /// OPENs exchanged, waiting for KEEPALIVE.
    OpenConfirm,
    /// Up.
    Established,
}

impl SessionState {
    /// The RFC name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Connect => "Connect",
            Self::Active => "Active",
            Self::OpenSent => "OpenSent",
            Self::OpenConfirm => "OpenConfirm",
            Self::Established => "Established",
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<State> for SessionState {
    fn from(s: State) -> Self {
        match s {
            State::Idle => Self::Idle,
            State::Connect => Self::Connect,
            State::Active => Self::Active,
            State::OpenSent => Self::OpenSent,
            State::OpenConfirm => Self::OpenConfirm,
            State::Established => Self::Established,
        }
    }
}

/// One configured peer and its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbor {
    /// Name from the configuration (its address when unnamed).
    pub name: String,
    /// The peer's address.
    pub address: IpAddr,
    /// The peer's AS.
    pub asn: u32,
    /// The FSM state.
    pub state: SessionState,
    /// Seconds since the session became Established; `null` otherwise.
    pub uptime_secs: Option<u64>,
    /// Our end of the connection; `null` without one.
    pub local_address: Option<IpAddr>,
    /// Hold time in seconds: negotiated while Established, the configured
    /// offer otherwise.
    pub hold_time: u16,
    /// KEEPALIVE interval in seconds, following `hold_time`.
    pub keepalive: u16,
    /// 4-octet AS numbers negotiated (RFC 6793); `null` before the OPENs.
    pub four_octet_as: Option<bool>,
    /// Route refresh negotiated (RFC 2918); `null` before the OPENs.
    pub route_refresh: Option<bool>,
    /// Families negotiated (RFC 4760), named as in `nvabgp decode`:
    /// `ipv4-unicast`, `ipv6-unicast`.
    pub families: Vec<String>,
    /// Prefixes the peer announces, before import policy.
    pub prefixes_received: u64,
    /// Prefixes accepted by import policy.
    pub prefixes_accepted: u64,
    /// Prefixes we advertise to the peer.
    pub prefixes_advertised: u64,
    /// BGP messages received in this and earlier sessions.
    pub messages_in: u64,
    /// BGP messages sent in this and earlier sessions.
    pub messages_out: u64,
    /// Why the session last went down (e.g. the NOTIFICATION); `null` if
    /// it never did.
    pub last_error: Option<String>,
}

/// The paths of one prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The prefix.
    #[serde(with = "as_string")]
    pub prefix: Prefix,
    /// Its paths, best first.
    pub paths: Vec<RoutePath>,
}

/// One path of a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePath {
    /// The peer it came from (Loc-RIB, Adj-RIB-In) or goes to
    /// (Adj-RIB-Out); `null` for a route this agent originates.
    pub peer: Option<String>,
    /// NEXT_HOP (or the MP_REACH_NLRI next hop); `"self"` for an
    /// originated route whose next hop is each session's local address.
    #[serde(with = "as_string")]
    pub next_hop: NextHop,
    /// Every ASN of AS_PATH in order, nearest AS first.
    pub as_path: Vec<u32>,
    /// The segments, present only when the path holds an AS_SET or
    /// confederation segment (then `as_path` alone would hide them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_path_segments: Option<Vec<AsPathSegment>>,
    /// ORIGIN: `"igp"`, `"egp"`, `"incomplete"`.
    #[serde(with = "origin")]
    pub origin: Origin,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// COMMUNITIES.
    #[serde(with = "strings")]
    pub communities: Vec<Community>,
    /// LARGE_COMMUNITY.
    #[serde(with = "strings")]
    pub large_communities: Vec<LargeCommunity>,
    /// The Loc-RIB's best path for the prefix.
    pub best: bool,
    /// In the prefix's ECMP set (the best path is too).
    pub multipath: bool,
}

/// One AS_PATH segment, as `nvabgp decode` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsPathSegment {
    /// `"AS_SEQUENCE"`, `"AS_SET"`, `"AS_CONFED_SEQUENCE"`,
    /// `"AS_CONFED_SET"`.
    #[serde(rename = "type")]
    pub segment_type: String,
    /// The ASNs in wire order.
    pub asns: Vec<u32>,
}

/// The `as_path` and `as_path_segments` fields of a [`RoutePath`] for `path`.
pub fn as_path_fields(path: &AsPath) -> (Vec<u32>, Option<Vec<AsPathSegment>>) {
    let asns = path.asns().collect();
    let plain = path
        .segments
        .iter()
        .all(|s| s.kind == SegmentType::Sequence);
    let segments = (!plain).then(|| {
        path.segments
            .iter()
            .map(|s| AsPathSegment {
                segment_type: segment_name(s.kind).to_owned(),
                asns: s.asns.clone(),
            })
            .collect()
    });
    (asns, segments)
}

fn segment_name(t: SegmentType) -> &'static str {
    match t {
        SegmentType::Set => "AS_SET",
        SegmentType::Sequence => "AS_SEQUENCE",
        SegmentType::ConfedSequence => "AS_CONFED_SEQUENCE",
        SegmentType::ConfedSet => "AS_CONFED_SET",
    }
}

/// The state of a health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthState {
    /// Passing: the routes it gates are announced.
    Up,
    /// Failing: the routes it gates are withdrawn.
    Down,
    /// Not run yet.
    Unknown,
}

impl HealthState {
    /// The wire name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Unknown => "unknown",
        }
    }
}

/// One health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Its name in the configuration.
    pub name: String,
    /// What it runs (e.g. `"tcp"`, `"http"`, `"command"`).
    pub kind: String,
    /// What it probes (an address and port, a URL, a command line).
    pub target: String,
    /// Its current state.
    pub state: HealthState,
    /// Seconds since the state last changed; `null` before the first result.
    pub last_change_secs: Option<u64>,
    /// The last result in words (e.g. `"connection refused"`).
    pub detail: Option<String>,
}

/// What `announce` did to the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// A prefix not originated before.
    New,
    /// The prefix was originated with other attributes: replaced in one
    /// UPDATE.
    Replaced,
    /// The prefix was originated with the same attributes: nothing sent.
    Unchanged,
}

/// The answer to `announce`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announced {
    /// The prefix.
    #[serde(with = "as_string")]
    pub prefix: Prefix,
    /// What changed.
    pub change: Change,
    /// Established peers the UPDATE goes to (0 while drained or with no
    /// session up; the route goes out when one comes up).
    pub peers: usize,
}

/// The answer to `withdraw`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawn {
    /// The prefix.
    #[serde(with = "as_string")]
    pub prefix: Prefix,
    /// Established peers the withdraw goes to.
    pub peers: usize,
}

/// The answer to `set-next-hop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextHopSet {
    /// The prefix.
    #[serde(with = "as_string")]
    pub prefix: Prefix,
    /// The next hop before.
    #[serde(with = "as_string")]
    pub previous: NextHop,
    /// The next hop now.
    #[serde(with = "as_string")]
    pub next_hop: NextHop,
    /// Established peers the UPDATE goes to (0 when the next hop did not
    /// change).
    pub peers: usize,
}

/// The answer to `drain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drained {
    /// The drain now in force.
    #[serde(flatten)]
    pub mode: DrainMode,
    /// Originated prefixes withdrawn or prepended.
    pub prefixes: usize,
    /// Established peers the UPDATEs go to.
    pub peers: usize,
}

/// The answer to `undrain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undrained {
    /// Originated prefixes announced again as configured.
    pub prefixes: usize,
    /// Established peers the UPDATEs go to.
    pub peers: usize,
}

// ---- Errors ----------------------------------------------------------------

/// Why a request failed: the `error` of `{"ok":false,"error":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The class of failure, for scripts.
    pub code: ErrorCode,
    /// What went wrong and what to do about it, for people.
    pub message: String,
}

impl ApiError {
    /// An error of class `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A request that cannot be carried out as written.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// A peer or route the request names does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// A valid request the agent's current state refuses.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// The agent cannot answer (shutting down, or not reachable).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// A bug: the agent failed in a way it should not.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

/// The class of an [`ApiError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The request is malformed or invalid; it never reached the daemon.
    BadRequest,
    /// It names a peer or a route that does not exist.
    NotFound,
    /// It is valid but the agent's state refuses it.
    Conflict,
    /// The agent cannot answer: shutting down, or not reachable.
    Unavailable,
    /// No answer in time; a change may still take effect.
    Timeout,
    /// A bug in the agent.
    Internal,
    /// A code this client does not know (from a newer agent).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The wire name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::NotFound => "not-found",
            Self::Conflict => "conflict",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---- Serde helpers ---------------------------------------------------------

/// A value as its `Display` string, read back with `FromStr`.
mod as_string {
    use super::*;

    pub fn serialize<T: fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: fmt::Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

/// An optional value as its string or `null`.
mod option_as_string {
    use super::*;

    pub fn serialize<T: fmt::Display, S: Serializer>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }
}

/// A list of values as strings.
mod strings {
    use super::*;

    pub fn serialize<T: fmt::Display, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| x.to_string()))
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Vec<T>, D::Error>
    where
        T: FromStr,
        T::Err: fmt::Display,
        D: Deserializer<'de>,
    {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|text| {
                text.parse()
                    .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
            })
            .collect()
    }
}

/// ORIGIN by name.
mod origin {
    use super::*;

    pub fn serialize<S: Serializer>(o: &Origin, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(o.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Origin, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_origin(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?}: expected \"igp\", \"egp\" or \"incomplete\""
            ))
        })
    }
}

/// ORIGIN from its name (`igp`, `egp`, `incomplete`).
pub fn parse_origin(name: &str) -> Option<Origin> {
    [Origin::Igp, Origin::Egp, Origin::Incomplete]
        .into_iter()
        .find(|o| o.name() == name)
}
