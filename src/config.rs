//! The TOML configuration: raw serde structs that mirror the file, then
//! validated types the rest of the agent uses, so no other module ever sees
//! an invalid value.
//!
//! ```toml
//! asn = 65001
//! router_id = "10.1.2.4"
//! local_address = "10.1.2.4"
//!
//! [[peer]]
//! name = "ars-0"
//! address = "10.1.1.4"
//! asn = 65515
//!
//! [[route]]
//! prefix = "0.0.0.0/0"
//! communities = ["65001:10"]
//! ```

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use bgp_proto::{Community, LargeCommunity, Origin, Prefix};
use serde::Deserialize;

/// Azure Route Server's ASN.
pub const AZURE_ROUTE_SERVER_ASN: u32 = 65515;

/// A configuration that cannot be used, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// TOML syntax or a field of the wrong type or name.
    #[error(transparent)]
    Syntax(#[from] toml::de::Error),
    /// A value that parses but cannot be used.
    #[error("{0}")]
    Invalid(String),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError::Invalid(msg.into()))
}

// ---- Raw file structure ---------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    asn: u32,
    router_id: Option<Ipv4Addr>,
    local_address: Option<IpAddr>,
    listen: Option<RawListen>,
    #[serde(default)]
    hold_time: Option<u16>,
    #[serde(default)]
    connect_retry: Option<f64>,
    #[serde(default)]
    peer: Vec<RawPeer>,
    #[serde(default)]
    route: Vec<RawRoute>,
    control_socket: Option<String>,
    #[serde(default)]
    kernel: RawKernel,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawListen {
    Enabled(bool),
    Address(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    name: Option<String>,
    address: IpAddr,
    asn: u32,
    port: Option<u16>,
    local_address: Option<IpAddr>,
    ttl: Option<u8>,
    hold_time: Option<u16>,
    password: Option<String>,
    passive: Option<bool>,
    #[serde(default)]
    import: RawImport,
    #[serde(default)]
    export: RawExport,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImport {
    max_prefixes: Option<u32>,
    max_prefixes_action: Option<String>,
    default: Option<String>,
    #[serde(default)]
    prefix: Vec<RawPrefixRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrefixRule {
    prefix: String,
    ge: Option<u8>,
    le: Option<u8>,
    action: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExport {
    learned: Option<bool>,
    #[serde(default)]
    strip_asns: Vec<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: String,
    next_hop: Option<String>,
    #[serde(default)]
    prepend: u8,
    #[serde(default)]
    communities: Vec<String>,
    #[serde(default)]
    large_communities: Vec<String>,
    med: Option<u32>,
    origin: Option<String>,
    // Health-gated origination (crate::origin::config).
    kind: Option<String>,
    check: Option<crate::origin::config::RawCheck>,
    failure_prepend: Option<u8>,
    #[serde(default)]
    candidate: Vec<crate::origin::config::RawCandidate>,
    preempt: Option<bool>,
    min_hold: Option<f64>,
}

// ---- Validated configuration ---------------------------------------------

/// The agent's validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Our AS number.
    pub asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Default local address for sessions (also the default next hop of
    /// originated routes).
    pub local_address: Option<IpAddr>,
    /// Where to accept BGP connections; `None` to only connect out.
    pub listen: Option<SocketAddr>,
    /// The peers.
    pub peers: Vec<PeerConfig>,
    /// Routes announced while the agent runs (`kind = "static"`, the
    /// default).
    pub routes: Vec<RouteConfig>,
    /// Routes whose announcement follows health checks (`kind = "anycast"`
    /// or `"next-hop-ip"`): run by [`crate::origin::spawn`].
    pub health_routes: Vec<crate::origin::OriginRoute>,
    /// Path of the control socket.
    pub control_socket: String,
    /// The kernel FIB: pinned routes and learned-route install.
    pub kernel: KernelConfig,
}

/// One BGP neighbor.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerConfig {
    /// Name for logs and the CLI (defaults to the address).
    pub name: String,
    /// Neighbor address.
    pub address: IpAddr,
    /// Neighbor TCP port.
    pub port: u16,
    /// Neighbor AS.
    pub asn: u32,
    /// Local address to bind to (also our NEXT_HOP towards this peer).
    pub local_address: Option<IpAddr>,
    /// Outgoing TTL (multihop eBGP; Azure Route Server needs more than 1).
    pub ttl: u8,
    /// Hold time we offer (0 or >= 3 seconds).
    pub hold_time: u16,
    /// Initial ConnectRetry interval.
    pub connect_retry: Duration,
    /// TCP MD5 signature key (RFC 2385).
    pub password: Option<String>,
    /// Only accept connections, never connect out.
    pub passive: bool,
    /// What to accept from the peer.
    pub import: ImportPolicy,
    /// What to send to the peer beyond our own routes.
    pub export: ExportPolicy,
}

/// What happens when a peer sends more prefixes than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxPrefixAction {
    /// Log once and keep everything.
    Warn,
    /// Keep the first `max` prefixes, ignore new ones beyond.
    DropExcess,
    /// Close the session with Cease / Maximum Number of Prefixes Reached.
    TearDown,
}

/// Accept or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accept the route.
    Accept,
    /// Reject the route.
    Reject,
}

/// One prefix-list entry: `prefix` covering the route with its length
/// within `ge..=le`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixRule {
    /// The covering prefix.
    pub prefix: Prefix,
    /// Shortest length matched.
    pub ge: u8,
    /// Longest length matched.
    pub le: u8,
    /// What a match means.
    pub verdict: Verdict,
}

impl PrefixRule {
    /// True when `p` matches the rule.
    pub fn matches(&self, p: &Prefix) -> bool {
        self.prefix.covers(p) && (self.ge..=self.le).contains(&p.len())
    }
}

/// Import policy of a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPolicy {
    /// First matching rule decides.
    pub rules: Vec<PrefixRule>,
    /// Verdict when no rule matches.
    pub default: Verdict,
    /// Maximum number of accepted prefixes.
    pub max_prefixes: Option<u32>,
    /// What to do beyond `max_prefixes`.
    pub max_prefixes_action: MaxPrefixAction,
}

impl ImportPolicy {
    /// The verdict for prefix `p`.
    pub fn verdict(&self, p: &Prefix) -> Verdict {
        self.rules
            .iter()
            .find(|r| r.matches(p))
            .map_or(self.default, |r| r.verdict)
    }
}

impl Default for ImportPolicy {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            default: Verdict::Accept,
            max_prefixes: None,
            max_prefixes_action: MaxPrefixAction::Warn,
        }
    }
}

/// Export policy of a peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportPolicy {
    /// Re-advertise learned routes (an NVA is not a transit router: off by
    /// default).
    pub learned: bool,
    /// ASNs removed from the AS path of re-advertised routes (e.g. 65515,
    /// which Azure Route Server rejects).
    pub strip_asns: Vec<u32>,
}

/// Next hop of an originated route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHopConfig {
    /// The session's local address.
    Own,
    /// A fixed address (another machine, e.g. an internal load balancer).
    Address(IpAddr),
}

/// A route the agent originates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// The prefix.
    pub prefix: Prefix,
    /// Next hop.
    pub next_hop: NextHopConfig,
    /// Extra copies of our ASN.
    pub prepend: u8,
    /// Communities.
    pub communities: Vec<Community>,
    /// Large communities.
    pub large_communities: Vec<LargeCommunity>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// ORIGIN.
    pub origin: Origin,
}

/// ASNs Azure Route Server refuses as a peer ASN (Microsoft's Route Server
/// FAQ).
fn azure_refuses(asn: u32) -> bool {
    matches!(asn, 8074 | 8075 | 12076 | 65515 | 65517..=65520 | 23456 | 64496..=64511 | 65535..=65551)
}

fn parse_verdict(s: Option<&str>, field: &str) -> Result<Verdict, ConfigError> {
    match s {
        None | Some("accept") => Ok(Verdict::Accept),
        Some("reject") => Ok(Verdict::Reject),
        Some(other) => invalid(format!(
            "{field} = \"{other}\": expected \"accept\" or \"reject\""
        )),
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Self::parse(&text)
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text)?;
        Self::validate(raw)
    }

    fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
        if raw.asn == 0 || raw.asn == 23456 {
            return invalid(format!(
                "asn = {}: not a usable AS number (0 and AS_TRANS 23456 are reserved)",
                raw.asn
            ));
        }
        let peers_azure = raw.peer.iter().any(|p| p.asn == AZURE_ROUTE_SERVER_ASN);
        if peers_azure && (raw.asn > 65535 || azure_refuses(raw.asn)) {
            return invalid(format!(
                "asn = {}: Azure Route Server (peer asn 65515) only accepts a 16-bit ASN outside 8074, 8075, 12076, 23456, 64496-64511, 65515, 65517-65520, 65535-65551; pick e.g. 65001",
                raw.asn
            ));
        }
        let router_id = match (raw.router_id, raw.local_address) {
            (Some(id), _) => id,
            (None, Some(IpAddr::V4(a))) => a,
            _ => {
                return invalid(
                    "router_id is required when local_address is not an IPv4 address (e.g. router_id = \"10.1.2.4\")",
                );
            }
        };
        if router_id.is_unspecified() {
            return invalid("router_id = \"0.0.0.0\" is not a valid BGP identifier");
        }
        let hold_default = raw.hold_time.unwrap_or(180);
        check_hold(hold_default, "hold_time")?;
        let retry = raw.connect_retry.unwrap_or(5.0);
        if !(0.1..=3600.0).contains(&retry) {
            return invalid(format!(
                "connect_retry = {retry}: expected seconds between 0.1 and 3600"
            ));
        }
        let listen = match raw.listen {
            None | Some(RawListen::Enabled(true)) => Some(SocketAddr::from(([0u8; 16], 179))),
            Some(RawListen::Enabled(false)) => None,
            Some(RawListen::Address(s)) => Some(parse_listen(&s)?),
        };
        let mut peers = Vec::with_capacity(raw.peer.len());
        let mut seen = HashSet::new();
        let seen_peers: HashSet<IpAddr> = raw.peer.iter().map(|p| p.address).collect();
        for p in raw.peer {
            let what = format!("peer {}", p.address);
            if !seen.insert(p.address) {
                return invalid(format!("{what} is configured twice"));
            }
            peers.push(validate_peer(
                p,
                &what,
                hold_default,
                retry,
                raw.local_address,
            )?);
        }
        let mut routes = Vec::with_capacity(raw.route.len());
        let mut health_routes = Vec::new();
        let mut seen = HashSet::new();
        for mut r in raw.route {
            let gating = crate::origin::config::RawGating {
                kind: r.kind.take(),
                next_hop_given: r.next_hop.is_some(),
                check: r.check.take(),
                failure_prepend: r.failure_prepend.take(),
                candidate: std::mem::take(&mut r.candidate),
                preempt: r.preempt.take(),
                min_hold: r.min_hold.take(),
            };
            let route = validate_route(r)?;
            if !seen.insert(route.prefix) {
                return invalid(format!("route {} is configured twice", route.prefix));
            }
            match crate::origin::config::validate(gating, route.clone())? {
                None => routes.push(route),
                Some(gated) => health_routes.push(gated),
            }
        }
        crate::origin::config::check_names_unique(&health_routes)?;
        Ok(Self {
            asn: raw.asn,
            router_id,
            local_address: raw.local_address,
            listen,
            peers,
            routes,
            health_routes,
            control_socket: raw
                .control_socket
                .unwrap_or_else(|| "/run/nvabgp/nvabgp.sock".into()),
            kernel: validate_kernel(raw.kernel, &seen_peers)?,
        })
    }
}

fn check_hold(h: u16, field: &str) -> Result<(), ConfigError> {
    if h == 1 || h == 2 {
        return invalid(format!(
            "{field} = {h}: must be 0 (no keepalives) or at least 3 seconds (RFC 4271 §4.2)"
        ));
    }
    Ok(())
}

fn parse_listen(s: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 179));
    }
    invalid(format!(
        "listen = \"{s}\": expected true, false, an address (\"10.1.2.4\") or address:port (\"10.1.2.4:1179\")"
    ))
}

fn validate_peer(
    p: RawPeer,
    what: &str,
    hold_default: u16,
    retry: f64,
    local_default: Option<IpAddr>,
) -> Result<PeerConfig, ConfigError> {
    if p.asn == 0 {
        return invalid(format!("{what}: asn = 0 is not a usable AS number"));
    }
    let hold_time = p.hold_time.unwrap_or(hold_default);
    check_hold(hold_time, &format!("{what}: hold_time"))?;
    let ttl = p.ttl.unwrap_or(255);
    if ttl == 0 {
        return invalid(format!("{what}: ttl = 0 would never leave the host"));
    }
    if let Some(pw) = &p.password
        && (pw.is_empty() || pw.len() > 80)
    {
        return invalid(format!(
            "{what}: password must be 1 to 80 bytes (TCP_MD5SIG key limit)"
        ));
    }
    let local_address = p.local_address.or(local_default);
    if let Some(l) = local_address
        && l.is_ipv4() != p.address.is_ipv4()
    {
        return invalid(format!(
            "{what}: local_address {l} is not of the peer's address family"
        ));
    }
    let max_prefixes_action = match p.import.max_prefixes_action.as_deref() {
        None | Some("warn") => MaxPrefixAction::Warn,
        Some("drop-excess") => MaxPrefixAction::DropExcess,
        Some("tear-down") => MaxPrefixAction::TearDown,
        Some(other) => {
            return invalid(format!(
                "{what}: import.max_prefixes_action = \"{other}\": expected \"warn\", \"drop-excess\" or \"tear-down\""
            ));
        }
    };
    let rules = prefix_rules(p.import.prefix, &format!("{what}: import"))?;
    Ok(PeerConfig {
        name: p.name.unwrap_or_else(|| p.address.to_string()),
        address: p.address,
        port: p.port.unwrap_or(179),
        asn: p.asn,
        local_address,
        ttl,
        hold_time,
        connect_retry: Duration::from_secs_f64(retry),
        password: p.password,
        passive: p.passive.unwrap_or(false),
        import: ImportPolicy {
            rules,
            default: parse_verdict(
                p.import.default.as_deref(),
                &format!("{what}: import.default"),
            )?,
            max_prefixes: p.import.max_prefixes,
            max_prefixes_action,
        },
        export: ExportPolicy {
            learned: p.export.learned.unwrap_or(false),
            strip_asns: p.export.strip_asns,
        },
    })
}

fn validate_route(r: RawRoute) -> Result<RouteConfig, ConfigError> {
    let prefix: Prefix = r
        .prefix
        .parse()
        .map_err(|e| ConfigError::Invalid(format!("route \"{}\": {e}", r.prefix)))?;
    let what = format!("route {prefix}");
    let next_hop = match r.next_hop.as_deref() {
        None | Some("self") => NextHopConfig::Own,
        Some(s) => match s.parse::<IpAddr>() {
            Ok(a) if a.is_ipv4() == prefix.is_ipv4() || !prefix.is_ipv4() => {
                NextHopConfig::Address(a)
            }
            Ok(a) => {
                return invalid(format!(
                    "{what}: next_hop {a} is IPv6 for an IPv4 prefix (not supported)"
                ));
            }
            Err(_) => {
                return invalid(format!(
                    "{what}: next_hop = \"{s}\": expected \"self\" or an IP address"
                ));
            }
        },
    };
    let communities = r
        .communities
        .iter()
        .map(|c| {
            c.parse::<Community>()
                .map_err(|e| ConfigError::Invalid(format!("{what}: community \"{c}\": {e}")))
        })
        .collect::<Result<_, _>>()?;
    let large_communities = r
        .large_communities
        .iter()
        .map(|c| {
            c.parse::<LargeCommunity>()
                .map_err(|e| ConfigError::Invalid(format!("{what}: large community \"{c}\": {e}")))
        })
        .collect::<Result<_, _>>()?;
    let origin = match r.origin.as_deref() {
        None | Some("igp") => Origin::Igp,
        Some("egp") => Origin::Egp,
        Some("incomplete") => Origin::Incomplete,
        Some(o) => {
            return invalid(format!(
                "{what}: origin = \"{o}\": expected \"igp\", \"egp\" or \"incomplete\""
            ));
        }
    };
    if r.prepend > 32 {
        return invalid(format!("{what}: prepend = {}: at most 32", r.prepend));
    }
    Ok(RouteConfig {
        prefix,
        next_hop,
        prepend: r.prepend,
        communities,
        large_communities,
        med: r.med,
        origin,
    })
}

// ---- [kernel] ---------------------------------------------------------------

/// `rtm_protocol` of every route nvabgp installs; named `nvabgp` by
/// `packaging/rt_protos.d/nvabgp.conf`. Unassigned: linux/rtnetlink.h
/// names 0..=99 and 186..=192, and FRR's rt_protos.d takes 186..=198
/// (196 is its staticd).
pub const KERNEL_PROTOCOL: u8 = 200;
/// Default metric of our routes. Routes made by hand (metric 0) and by
/// DHCP (100 on Azure images) never share a key with ours, so
/// `NLM_F_REPLACE` cannot hit them; the install path still refuses a key
/// held by a foreign route (see `kernel::installer`).
pub const KERNEL_METRIC: u32 = 20;
/// `RT_TABLE_MAIN`.
pub const TABLE_MAIN: u32 = 254;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernel {
    install: Option<bool>,
    table: Option<RawTable>,
    metric: Option<u32>,
    protocol: Option<u8>,
    virtual_router: Option<Ipv4Addr>,
    pin: Option<String>,
    #[serde(default)]
    route_server_subnets: Vec<String>,
    pin_default: Option<bool>,
    remove_pinned_on_stop: Option<bool>,
    filter: Option<RawKernelFilter>,
    #[serde(default)]
    peer: Vec<RawKernelPeer>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawTable {
    Id(u32),
    Name(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernelFilter {
    default: Option<String>,
    #[serde(default)]
    prefix: Vec<RawPrefixRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernelPeer {
    address: IpAddr,
    install: Option<bool>,
    table: Option<RawTable>,
    metric: Option<u32>,
    filter: Option<RawKernelFilter>,
}

/// Which routes are pinned via the Azure virtual router before any session
/// starts, so a learned route can never become the way to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinMode {
    /// The Route Server subnets when known, else each peer address.
    Auto,
    /// Each Route Server subnet.
    Subnets,
    /// Each peer address (a /32), except peers on a connected subnet.
    Peers,
    /// Nothing besides the default route (if `pin_default`).
    None,
}

/// Which learned prefixes go into the kernel: first matching rule decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFilter {
    /// Prefix rules, in order.
    pub rules: Vec<PrefixRule>,
    /// Verdict when no rule matches.
    pub default: Verdict,
}

impl KernelFilter {
    /// True when `p` may be installed.
    pub fn accepts(&self, p: &Prefix) -> bool {
        self.rules
            .iter()
            .find(|r| r.matches(p))
            .map_or(self.default, |r| r.verdict)
            == Verdict::Accept
    }
}

impl Default for KernelFilter {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            default: Verdict::Accept,
        }
    }
}

/// How learned routes are installed (globally, or for one peer's routes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnedInstall {
    /// Install at all (`false`: advertise-only).
    pub install: bool,
    /// Kernel routing table.
    pub table: u32,
    /// Route metric (`RTA_PRIORITY`), never 0.
    pub metric: u32,
    /// Prefix filter.
    pub filter: KernelFilter,
}

/// Per-peer override of [`LearnedInstall`]; the route's best path's peer
/// decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelPeerConfig {
    /// The peer (one of the `[[peer]]` addresses).
    pub address: IpAddr,
    /// Its settings, global values filled in.
    pub learned: LearnedInstall,
}

/// `[kernel]`: pinned routes and the install of learned routes. Every key
/// is optional; the defaults pin the Route Server subnets (or, unknown, the
/// peer addresses) and the default route via the virtual router, and
/// install learned routes into table main with metric 20:
///
/// ```toml
/// [kernel]
/// install = true                          # false: advertise-only
/// table = "main"                          # or a number
/// metric = 20
/// protocol = 200                          # "nvabgp" in /etc/iproute2/rt_protos.d
/// virtual_router = "10.1.2.1"             # default: first host of the NVA subnet
/// pin = "auto"                            # "subnets", "peers" or "none"
/// route_server_subnets = ["10.1.1.0/27"]
/// pin_default = true
/// remove_pinned_on_stop = false
/// [kernel.filter]                         # which learned prefixes to install
/// default = "accept"
/// [[kernel.filter.prefix]]
/// prefix = "10.0.0.0/8"
/// le = 24
/// [[kernel.peer]]                         # per peer: install, table, metric, filter
/// address = "10.1.1.5"
/// install = false
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelConfig {
    /// `rtm_protocol` of our routes.
    pub protocol: u8,
    /// Table of pinned routes (also the learned routes' default table).
    pub table: u32,
    /// Metric of pinned routes (also the learned routes' default metric).
    pub metric: u32,
    /// The Azure virtual router; `None`: first host of the subnet of the
    /// interface towards the peers.
    pub virtual_router: Option<Ipv4Addr>,
    /// What to pin via the virtual router.
    pub pin: PinMode,
    /// Route Server subnets (`RouteServerSubnet`), when known.
    pub route_server_subnets: Vec<Prefix>,
    /// Pin the IPv4 default route via the virtual router.
    pub pin_default: bool,
    /// Remove pinned routes on stop too (default: they stay, so the VM
    /// stays reachable).
    pub remove_pinned_on_stop: bool,
    /// Learned routes, all peers.
    pub learned: LearnedInstall,
    /// Learned routes, per peer.
    pub peers: Vec<KernelPeerConfig>,
}

impl Default for KernelConfig {
    fn default() -> Self {
        Self {
            protocol: KERNEL_PROTOCOL,
            table: TABLE_MAIN,
            metric: KERNEL_METRIC,
            virtual_router: None,
            pin: PinMode::Auto,
            route_server_subnets: Vec::new(),
            pin_default: true,
            remove_pinned_on_stop: false,
            learned: LearnedInstall {
                install: true,
                table: TABLE_MAIN,
                metric: KERNEL_METRIC,
                filter: KernelFilter::default(),
            },
            peers: Vec::new(),
        }
    }
}

fn kernel_table(t: RawTable, field: &str) -> Result<u32, ConfigError> {
    match t {
        RawTable::Name(n) if n == "main" => Ok(TABLE_MAIN),
        RawTable::Id(id) if id != 0 && id != 255 => Ok(id),
        RawTable::Id(id) => invalid(format!(
            "{field} = {id}: 0 is no table and 255 is the kernel's local table; use \"main\" or 1..=4294967295 except 255"
        )),
        RawTable::Name(n) => invalid(format!(
            "{field} = \"{n}\": expected \"main\" or a table number"
        )),
    }
}

fn kernel_metric(m: u32, field: &str) -> Result<u32, ConfigError> {
    if m == 0 {
        // IPv6 turns metric 0 into 1024, and a delete with metric 0 matches
        // any metric: ours must be explicit.
        return invalid(format!("{field} = 0: use 1 or more"));
    }
    Ok(m)
}

/// Validates prefix-list entries; `label` names the list in errors
/// (`peer 10.1.1.4: import`, `kernel.filter`).
fn prefix_rules(raw: Vec<RawPrefixRule>, label: &str) -> Result<Vec<PrefixRule>, ConfigError> {
    let mut rules = Vec::with_capacity(raw.len());
    for r in raw {
        let prefix: Prefix = r
            .prefix
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("{label} prefix \"{}\": {e}", r.prefix)))?;
        let max = if prefix.is_ipv4() { 32 } else { 128 };
        let ge = r.ge.unwrap_or(prefix.len());
        let le =
            r.le.unwrap_or(if r.ge.is_some() { max } else { prefix.len() });
        if ge < prefix.len() || ge > le || le > max {
            return invalid(format!(
                "{label} prefix {prefix} ge {ge} le {le}: need {} <= ge <= le <= {max}",
                prefix.len()
            ));
        }
        rules.push(PrefixRule {
            prefix,
            ge,
            le,
            verdict: parse_verdict(r.action.as_deref(), &format!("{label} prefix action"))?,
        });
    }
    Ok(rules)
}

fn kernel_filter(f: RawKernelFilter, what: &str) -> Result<KernelFilter, ConfigError> {
    let rules = prefix_rules(f.prefix, what)?;
    Ok(KernelFilter {
        rules,
        default: parse_verdict(f.default.as_deref(), &format!("{what}.default"))?,
    })
}

fn validate_kernel(raw: RawKernel, peers: &HashSet<IpAddr>) -> Result<KernelConfig, ConfigError> {
    let protocol = raw.protocol.unwrap_or(KERNEL_PROTOCOL);
    if protocol <= 4 {
        return invalid(format!(
            "kernel.protocol = {protocol}: 0-4 belong to the kernel (unspec, redirect, kernel, boot, static); the default is {KERNEL_PROTOCOL}"
        ));
    }
    let table = raw
        .table
        .map(|t| kernel_table(t, "kernel.table"))
        .transpose()?
        .unwrap_or(TABLE_MAIN);
    let metric = kernel_metric(raw.metric.unwrap_or(KERNEL_METRIC), "kernel.metric")?;
    if let Some(vr) = raw.virtual_router
        && (vr.is_unspecified() || vr.is_broadcast() || vr.is_multicast())
    {
        return invalid(format!(
            "kernel.virtual_router = \"{vr}\": not a unicast address (Azure's is the first host of the subnet, e.g. 10.1.2.1)"
        ));
    }
    let pin = match raw.pin.as_deref() {
        None | Some("auto") => PinMode::Auto,
        Some("subnets") => PinMode::Subnets,
        Some("peers") => PinMode::Peers,
        Some("none") => PinMode::None,
        Some(other) => {
            return invalid(format!(
                "kernel.pin = \"{other}\": expected \"auto\", \"subnets\", \"peers\" or \"none\""
            ));
        }
    };
    let mut route_server_subnets = Vec::with_capacity(raw.route_server_subnets.len());
    for s in &raw.route_server_subnets {
        let p: Prefix = s.parse().map_err(|e| {
            ConfigError::Invalid(format!("kernel.route_server_subnets \"{s}\": {e}"))
        })?;
        if !p.is_ipv4() || p.is_default() {
            return invalid(format!(
                "kernel.route_server_subnets \"{p}\": expected an IPv4 subnet such as 10.1.1.0/27 (Route Server has no IPv6)"
            ));
        }
        route_server_subnets.push(p);
    }
    if pin == PinMode::Subnets && route_server_subnets.is_empty() {
        return invalid(
            "kernel.pin = \"subnets\" needs kernel.route_server_subnets (e.g. [\"10.1.1.0/27\"]), or use \"auto\"",
        );
    }
    let learned = LearnedInstall {
        install: raw.install.unwrap_or(true),
        table,
        metric,
        filter: kernel_filter(raw.filter.unwrap_or_default(), "kernel.filter")?,
    };
    let mut kernel_peers = Vec::with_capacity(raw.peer.len());
    let mut seen = HashSet::new();
    for p in raw.peer {
        let what = format!("kernel.peer {}", p.address);
        if !peers.contains(&p.address) {
            return invalid(format!("{what}: no [[peer]] has this address"));
        }
        if !seen.insert(p.address) {
            return invalid(format!("{what} is configured twice"));
        }
        kernel_peers.push(KernelPeerConfig {
            address: p.address,
            learned: LearnedInstall {
                install: p.install.unwrap_or(learned.install),
                table: p
                    .table
                    .map(|t| kernel_table(t, &format!("{what}: table")))
                    .transpose()?
                    .unwrap_or(learned.table),
                metric: p
                    .metric
                    .map(|m| kernel_metric(m, &format!("{what}: metric")))
                    .transpose()?
                    .unwrap_or(learned.metric),
                filter: match p.filter {
                    Some(f) => kernel_filter(f, &format!("{what}: filter"))?,
                    None => learned.filter.clone(),
                },
            },
        });
    }
    Ok(KernelConfig {
        protocol,
        table,
        metric,
        virtual_router: raw.virtual_router,
        pin,
        route_server_subnets,
        pin_default: raw.pin_default.unwrap_or(true),
        remove_pinned_on_stop: raw.remove_pinned_on_stop.unwrap_or(false),
        learned,
        peers: kernel_peers,
    })
}

#[cfg(test)]
mod kernel_tests {
    use super::*;

    const BASE: &str =
        "asn = 65001\nrouter_id = \"10.1.2.4\"\n[[peer]]\naddress = \"10.1.1.4\"\nasn = 65515\n";

    fn parse(kernel: &str) -> Result<Config, ConfigError> {
        Config::parse(&format!("{BASE}{kernel}"))
    }

    fn err(kernel: &str) -> String {
        parse(kernel).unwrap_err().to_string()
    }

    #[test]
    fn defaults_pin_and_install_into_main() {
        let k = parse("").unwrap().kernel;
        assert_eq!(k, KernelConfig::default());
        assert_eq!((k.protocol, k.table, k.metric), (200, 254, 20));
        assert!(k.pin_default && k.learned.install && !k.remove_pinned_on_stop);
        assert_eq!(k.pin, PinMode::Auto);
    }

    #[test]
    fn parses_global_and_per_peer_settings() {
        let k = parse(
            r#"
            [kernel]
            table = 100
            metric = 30
            virtual_router = "10.1.2.1"
            pin = "subnets"
            route_server_subnets = ["10.1.1.0/27"]
            pin_default = false
            remove_pinned_on_stop = true
            [kernel.filter]
            default = "reject"
            [[kernel.filter.prefix]]
            prefix = "10.0.0.0/8"
            le = 24
            [[kernel.peer]]
            address = "10.1.1.4"
            install = false
            table = "main"
            "#,
        )
        .unwrap()
        .kernel;
        assert_eq!((k.table, k.metric), (100, 30));
        assert_eq!(k.virtual_router, Some(Ipv4Addr::new(10, 1, 2, 1)));
        assert_eq!(k.pin, PinMode::Subnets);
        assert_eq!(k.route_server_subnets, vec!["10.1.1.0/27".parse().unwrap()]);
        assert!(!k.pin_default && k.remove_pinned_on_stop);
        assert!(k.learned.filter.accepts(&"10.2.0.0/16".parse().unwrap()));
        assert!(!k.learned.filter.accepts(&"10.2.3.0/25".parse().unwrap()));
        assert!(!k.learned.filter.accepts(&"192.0.2.0/24".parse().unwrap()));
        let peer = &k.peers[0].learned;
        // Per-peer values override; the rest is inherited.
        assert!(!peer.install);
        assert_eq!((peer.table, peer.metric), (254, 30));
        assert_eq!(peer.filter, k.learned.filter);
    }

    #[test]
    fn the_documented_example_parses() {
        let k = Config::parse(&format!(
            "{BASE}[[peer]]\naddress = \"10.1.1.5\"\nasn = 65515\n{}",
            r#"
            [kernel]
            install = true
            table = "main"
            metric = 20
            protocol = 200
            virtual_router = "10.1.2.1"
            pin = "auto"
            route_server_subnets = ["10.1.1.0/27"]
            pin_default = true
            remove_pinned_on_stop = false
            [kernel.filter]
            default = "accept"
            [[kernel.filter.prefix]]
            prefix = "10.0.0.0/8"
            le = 24
            [[kernel.peer]]
            address = "10.1.1.5"
            install = false
            "#
        ))
        .unwrap()
        .kernel;
        assert!(!k.peers[0].learned.install && k.learned.install);
        assert_eq!(k.route_server_subnets.len(), 1);
    }

    #[test]
    fn refuses_unusable_kernel_settings() {
        assert!(err("[kernel]\ntable = 255").contains("local table"));
        assert!(err("[kernel]\ntable = 0").contains("no table"));
        assert!(err("[kernel]\ntable = \"mine\"").contains("\"main\""));
        assert!(err("[kernel]\nmetric = 0").contains("1 or more"));
        assert!(err("[kernel]\nprotocol = 4").contains("belong to the kernel"));
        assert!(err("[kernel]\npin = \"all\"").contains("\"peers\""));
        assert!(err("[kernel]\npin = \"subnets\"").contains("route_server_subnets"));
        assert!(err("[kernel]\nroute_server_subnets = [\"2001:db8::/64\"]").contains("IPv4"));
        assert!(err("[kernel]\nroute_server_subnets = [\"10.1.1.1/27\"]").contains("host bits"));
        assert!(err("[kernel]\nvirtual_router = \"0.0.0.0\"").contains("unicast"));
        assert!(err("[kernel]\nbogus = 1").contains("bogus"));
        assert!(err("[[kernel.peer]]\naddress = \"10.9.9.9\"").contains("no [[peer]]"));
        assert!(
            err("[[kernel.peer]]\naddress = \"10.1.1.4\"\n[[kernel.peer]]\naddress = \"10.1.1.4\"")
                .contains("twice")
        );
        assert!(
            err("[kernel.filter]\n[[kernel.filter.prefix]]\nprefix = \"10.0.0.0/8\"\nge = 4")
                .contains("ge 4")
        );
        assert!(err("[kernel.filter]\ndefault = \"maybe\"").contains("kernel.filter.default"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        asn = 65001
        local_address = "10.1.2.4"
        hold_time = 9
        [[peer]]
        name = "ars-0"
        address = "10.1.1.4"
        asn = 65515
        [peer.import]
        max_prefixes = 4000
        max_prefixes_action = "tear-down"
        [[peer.import.prefix]]
        prefix = "10.0.0.0/8"
        le = 24
        [[peer]]
        address = "10.1.1.5"
        asn = 65515
        ttl = 64
        [[route]]
        prefix = "0.0.0.0/0"
        communities = ["65001:10", "no-advertise"]
        large_communities = ["65001:1:2"]
        prepend = 2
    "#;

    #[test]
    fn parses_a_route_server_pair() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.router_id, Ipv4Addr::new(10, 1, 2, 4));
        assert_eq!(c.peers.len(), 2);
        assert_eq!(c.peers[0].name, "ars-0");
        assert_eq!(c.peers[1].name, "10.1.1.5");
        assert_eq!(c.peers[0].ttl, 255);
        assert_eq!(c.peers[1].ttl, 64);
        assert_eq!(c.peers[0].hold_time, 9);
        assert_eq!(
            c.peers[0].import.max_prefixes_action,
            MaxPrefixAction::TearDown
        );
        let rule = &c.peers[0].import.rules[0];
        assert_eq!((rule.ge, rule.le), (8, 24));
        assert_eq!(
            c.peers[0].import.verdict(&"10.1.0.0/16".parse().unwrap()),
            Verdict::Accept
        );
        assert_eq!(c.routes[0].communities[1], Community::NO_ADVERTISE);
        assert_eq!(c.routes[0].prepend, 2);
        assert_eq!(c.listen, Some("[::]:179".parse().unwrap()));
    }

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_say_what_to_fix() {
        assert!(err("asn = 65001\nbogus = 1\nrouter_id=\"1.1.1.1\"").contains("bogus"));
        assert!(
            err("asn = 65515\nrouter_id=\"1.1.1.1\"\n[[peer]]\naddress=\"10.1.1.4\"\nasn=65515")
                .contains("16-bit ASN")
        );
        assert!(err("asn = 65001").contains("router_id"));
        assert!(err("asn = 65001\nrouter_id=\"1.1.1.1\"\nhold_time = 2").contains("at least 3"));
        assert!(
            err("asn = 65001\nrouter_id=\"1.1.1.1\"\n[[route]]\nprefix=\"10.0.0.1/8\"")
                .contains("host bits")
        );
        assert!(err(
            "asn = 65001\nrouter_id=\"1.1.1.1\"\n[[route]]\nprefix=\"10.0.0.0/8\"\ncommunities=[\"x\"]"
        )
        .contains("community \"x\""));
        assert!(err(
            "asn = 65001\nrouter_id=\"1.1.1.1\"\n[[peer]]\naddress=\"10.1.1.4\"\nasn=65515\n[[peer]]\naddress=\"10.1.1.4\"\nasn=65515"
        )
        .contains("twice"));
        assert!(err(
            "asn = 65001\nrouter_id=\"1.1.1.1\"\n[[peer]]\naddress=\"10.1.1.4\"\nasn=1\n[peer.import]\nmax_prefixes_action=\"explode\""
        )
        .contains("tear-down"));
    }
}
