//! Configuration of health-gated routes: the `kind`, `check`,
//! `failure_prepend`, `candidate`, `preempt` and `min_hold` keys of a
//! `[[route]]`, validated into [`OriginRoute`].
//!
//! ```toml
//! [[route]]                       # anycast: announced while the check passes
//! kind = "anycast"
//! prefix = "9.9.9.9/32"
//! failure_prepend = 3             # optional: stay announced as a backup path
//! [route.check]
//! tcp = "127.0.0.1:443"
//! maintenance_file = "/etc/nvabgp/maintenance/haproxy"
//!
//! [[route]]                       # next-hop-ip: the best healthy candidate is the next hop
//! kind = "next-hop-ip"
//! prefix = "100.64.0.1/32"
//! min_hold = 30
//! [[route.candidate]]
//! next_hop = "10.1.2.10"
//! priority = 200
//! [route.candidate.check]
//! http = "http://10.1.2.10/healthz"
//! ```
//!
//! The raw structs are filled by `crate::config` (they are fields of its
//! `RawRoute`, which denies unknown keys); this module only turns them
//! into validated types.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, NextHopConfig, RouteConfig};

/// Default time between two probes of a check.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// Default time a probe may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default consecutive successes that make a check pass (HAProxy's default).
pub const DEFAULT_RISE: u32 = 2;
/// Default consecutive failures that make a passing check fail (HAProxy's
/// default).
pub const DEFAULT_FALL: u32 = 3;
/// Default minimum time between two voluntary next-hop changes of a VIP:
/// Azure's SDN applies a route change about every 30 s, so changing faster
/// only queues changes.
pub const DEFAULT_MIN_HOLD: Duration = Duration::from_secs(30);

fn invalid<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError::Invalid(msg.into()))
}

// ---- Raw file structure ---------------------------------------------------

/// `[route.check]` / `[route.candidate.check]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    name: Option<String>,
    tcp: Option<String>,
    http: Option<String>,
    exec: Option<Vec<String>>,
    expect_status: Option<u16>,
    tls_verify: Option<bool>,
    ca_file: Option<String>,
    host: Option<String>,
    interval: Option<f64>,
    timeout: Option<f64>,
    rise: Option<u32>,
    fall: Option<u32>,
    maintenance_file: Option<String>,
}

/// `[[route.candidate]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCandidate {
    next_hop: String,
    priority: Option<u32>,
    check: Option<RawCheck>,
}

/// The origination keys of one `[[route]]`, gathered by `crate::config`.
#[derive(Debug, Default)]
pub(crate) struct RawGating {
    /// `kind`.
    pub kind: Option<String>,
    /// Whether the route gave `next_hop` (refused for `next-hop-ip`).
    pub next_hop_given: bool,
    /// `check`.
    pub check: Option<RawCheck>,
    /// `failure_prepend`.
    pub failure_prepend: Option<u8>,
    /// `candidate`.
    pub candidate: Vec<RawCandidate>,
    /// `preempt`.
    pub preempt: Option<bool>,
    /// `min_hold`.
    pub min_hold: Option<f64>,
}

// ---- Validated configuration ---------------------------------------------

/// A route whose announcement follows health checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRoute {
    /// What is announced when the route is up: prefix and attributes (the
    /// next hop of a `next-hop-ip` route is replaced by the active
    /// candidate's).
    pub route: RouteConfig,
    /// How its announcement is decided.
    pub kind: OriginKind,
}

/// How an originated route's announcement is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginKind {
    /// Announced while the agent runs.
    Static,
    /// Announced while its check passes.
    Anycast {
        /// The check.
        check: CheckConfig,
        /// While the check fails: `None` withdraws the route, `Some(n)`
        /// keeps it announced with `n` more copies of our ASN so it stays a
        /// backup path (active/passive).
        failure_prepend: Option<u8>,
    },
    /// A VIP announced with the best healthy candidate as next hop.
    NextHopIp(NextHopIpConfig),
}

/// The candidates and switching rules of a `next-hop-ip` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHopIpConfig {
    /// The candidates, in configuration order (which breaks priority ties).
    pub candidates: Vec<Candidate>,
    /// Return to a recovered candidate that ranks above the active one.
    pub preempt: bool,
    /// Minimum time between a change and a voluntary (preemption) change.
    pub min_hold: Duration,
}

/// One candidate next hop of a VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The next hop announced while this candidate is active.
    pub next_hop: NextHopConfig,
    /// Higher wins.
    pub priority: u32,
    /// Its health check.
    pub check: CheckConfig,
}

/// One health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckConfig {
    /// Its name in `nvabgp health` and the logs (unique).
    pub name: String,
    /// What it probes.
    pub probe: Probe,
    /// Time between the starts of two probes (probes never overlap).
    pub interval: Duration,
    /// Time a probe may take before it counts as failed (at most
    /// `interval`).
    pub timeout: Duration,
    /// Consecutive successes that make a failing (or new) check pass.
    pub rise: u32,
    /// Consecutive failures that make a passing check fail.
    pub fall: u32,
    /// While this file exists the check counts as failed at once, without
    /// probing: an operator's drain of the routes it gates.
    pub maintenance_file: Option<PathBuf>,
}

/// What a check probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A TCP connection to `host:port` succeeds.
    Tcp {
        /// `host:port` (host: an address, `[v6]`, or a name resolved at each
        /// probe).
        target: String,
    },
    /// An HTTP(S) GET answers the expected status.
    Http(HttpProbe),
    /// A command exits with status 0 (run without a shell: write
    /// `["sh", "-c", "..."]` for one).
    Exec {
        /// Program and arguments.
        argv: Vec<String>,
    },
}

/// An HTTP(S) GET health probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbe {
    /// The URL as configured (for display).
    pub url: String,
    /// `https`.
    pub tls: bool,
    /// Host to connect to (address or name, without brackets).
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// Path and query.
    pub path: String,
    /// Value of the `Host` header.
    pub host_header: String,
    /// Name the TLS certificate must be valid for (SNI): `host`, else the
    /// URL's host.
    pub server_name: String,
    /// Status that counts as healthy.
    pub expect_status: u16,
    /// Verify the server's certificate (HTTPS).
    pub tls_verify: bool,
    /// PEM file of CA certificates trusted besides the built-in roots.
    pub ca_file: Option<PathBuf>,
}

impl Probe {
    /// The kind shown in `nvabgp health`: `tcp`, `http`, `https`, `exec`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Tcp { .. } => "tcp",
            Self::Http(h) if h.tls => "https",
            Self::Http(_) => "http",
            Self::Exec { .. } => "exec",
        }
    }

    /// What it probes, in words: `host:port`, the URL, the command line.
    pub fn target(&self) -> String {
        match self {
            Self::Tcp { target } => target.clone(),
            Self::Http(h) => h.url.clone(),
            Self::Exec { argv } => argv.join(" "),
        }
    }
}

impl OriginRoute {
    /// Every check of the route, in order (a VIP's candidates' checks in
    /// candidate order).
    pub fn checks(&self) -> Vec<&CheckConfig> {
        match &self.kind {
            OriginKind::Static => Vec::new(),
            OriginKind::Anycast { check, .. } => vec![check],
            OriginKind::NextHopIp(v) => v.candidates.iter().map(|c| &c.check).collect(),
        }
    }
}

// ---- Validation -------------------------------------------------------------

/// Validates the origination keys of the route `base`: `Ok(None)` for a
/// static route (none of the keys given, or `kind = "static"`), else the
/// health-gated route.
pub(crate) fn validate(
    raw: RawGating,
    base: RouteConfig,
) -> Result<Option<OriginRoute>, ConfigError> {
    let what = format!("route {}", base.prefix);
    let kind = raw.kind.as_deref().unwrap_or("static");
    let refuse = |key: &str, present: bool| -> Result<(), ConfigError> {
        if present {
            invalid(format!(
                "{what}: `{key}` does not apply to kind = \"{kind}\" (anycast: check, failure_prepend; next-hop-ip: candidate, preempt, min_hold)"
            ))
        } else {
            Ok(())
        }
    };
    match kind {
        "static" => {
            refuse("check", raw.check.is_some())?;
            refuse("failure_prepend", raw.failure_prepend.is_some())?;
            refuse("candidate", !raw.candidate.is_empty())?;
            refuse("preempt", raw.preempt.is_some())?;
            refuse("min_hold", raw.min_hold.is_some())?;
            Ok(None)
        }
        "anycast" => {
            refuse("candidate", !raw.candidate.is_empty())?;
            refuse("preempt", raw.preempt.is_some())?;
            refuse("min_hold", raw.min_hold.is_some())?;
            let Some(check) = raw.check else {
                return invalid(format!(
                    "{what}: kind = \"anycast\" needs a [route.check] (e.g. tcp = \"127.0.0.1:443\")"
                ));
            };
            let check = validate_check(check, &what, base.prefix.to_string())?;
            if let Some(n) = raw.failure_prepend {
                if n == 0 || u32::from(n) + u32::from(base.prepend) > 32 {
                    return invalid(format!(
                        "{what}: failure_prepend = {n}: expected 1 or more, with prepend + failure_prepend at most 32"
                    ));
                }
            }
            Ok(Some(OriginRoute {
                route: base,
                kind: OriginKind::Anycast {
                    check,
                    failure_prepend: raw.failure_prepend,
                },
            }))
        }
        "next-hop-ip" => {
            refuse("check", raw.check.is_some())?;
            refuse("failure_prepend", raw.failure_prepend.is_some())?;
            if raw.next_hop_given {
                return invalid(format!(
                    "{what}: a next-hop-ip route takes its next hop from its [[route.candidate]] entries, not `next_hop`"
                ));
            }
            if raw.candidate.is_empty() {
                return invalid(format!(
                    "{what}: kind = \"next-hop-ip\" needs at least one [[route.candidate]] with next_hop and a [route.candidate.check]"
                ));
            }
            let min_hold = match raw.min_hold {
                None => DEFAULT_MIN_HOLD,
                Some(s) if (0.0..=3600.0).contains(&s) => Duration::from_secs_f64(s),
                Some(s) => {
                    return invalid(format!(
                        "{what}: min_hold = {s}: expected seconds between 0 and 3600"
                    ));
                }
            };
            let mut candidates = Vec::with_capacity(raw.candidate.len());
            for c in raw.candidate {
                let next_hop = parse_next_hop(&c.next_hop, &base, &what)?;
                if candidates
                    .iter()
                    .any(|k: &Candidate| k.next_hop == next_hop)
                {
                    return invalid(format!(
                        "{what}: candidate next_hop {} is listed twice",
                        c.next_hop
                    ));
                }
                let Some(check) = c.check else {
                    return invalid(format!(
                        "{what}: candidate {} needs a [route.candidate.check]",
                        c.next_hop
                    ));
                };
                let default_name = format!("{} via {}", base.prefix, c.next_hop);
                candidates.push(Candidate {
                    next_hop,
                    priority: c.priority.unwrap_or(100),
                    check: validate_check(
                        check,
                        &format!("{what} candidate {}", c.next_hop),
                        default_name,
                    )?,
                });
            }
            Ok(Some(OriginRoute {
                route: base,
                kind: OriginKind::NextHopIp(NextHopIpConfig {
                    candidates,
                    preempt: raw.preempt.unwrap_or(true),
                    min_hold,
                }),
            }))
        }
        other => invalid(format!(
            "{what}: kind = \"{other}\": expected \"static\", \"anycast\" or \"next-hop-ip\""
        )),
    }
}

fn parse_next_hop(
    text: &str,
    base: &RouteConfig,
    what: &str,
) -> Result<NextHopConfig, ConfigError> {
    if text == "self" {
        return Ok(NextHopConfig::Own);
    }
    match text.parse::<IpAddr>() {
        Ok(a) if a.is_ipv4() == base.prefix.is_ipv4() => Ok(NextHopConfig::Address(a)),
        Ok(a) => invalid(format!(
            "{what}: candidate next_hop {a} is not of the prefix's address family"
        )),
        Err(_) => invalid(format!(
            "{what}: candidate next_hop = \"{text}\": expected \"self\" or an IP address"
        )),
    }
}

fn seconds(value: Option<f64>, default: Duration, field: &str) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(s) if (0.01..=3600.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        Some(s) => invalid(format!(
            "{field} = {s}: expected seconds between 0.01 and 3600"
        )),
    }
}

fn validate_check(
    raw: RawCheck,
    what: &str,
    default_name: String,
) -> Result<CheckConfig, ConfigError> {
    let what = format!("{what}: check");
    let given = [raw.tcp.is_some(), raw.http.is_some(), raw.exec.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return invalid(format!(
            "{what}: give exactly one of tcp = \"host:port\", http = \"http(s)://host/path\" or exec = [\"program\", \"arg\"]"
        ));
    }
    let http_only = [
        ("expect_status", raw.expect_status.is_some()),
        ("tls_verify", raw.tls_verify.is_some()),
        ("ca_file", raw.ca_file.is_some()),
        ("host", raw.host.is_some()),
    ];
    if raw.http.is_none() {
        if let Some((key, _)) = http_only.iter().find(|(_, g)| *g) {
            return invalid(format!("{what}: `{key}` only applies to http checks"));
        }
    }
    let probe = if let Some(target) = raw.tcp {
        validate_host_port(&target, &what)?;
        Probe::Tcp { target }
    } else if let Some(argv) = raw.exec {
        if argv.first().is_none_or(|p| p.is_empty()) {
            return invalid(format!(
                "{what}: exec needs a program: exec = [\"/usr/local/bin/check\", \"arg\"] (no shell unless you write [\"sh\", \"-c\", \"...\"])"
            ));
        }
        Probe::Exec { argv }
    } else if let Some(url) = raw.http {
        let mut h = parse_url(&url, &what)?;
        if let Some(host) = raw.host {
            if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic()) {
                return invalid(format!("{what}: host = \"{host}\": expected a host name"));
            }
            h.host_header.clone_from(&host);
            h.server_name = host;
        }
        if let Some(s) = raw.expect_status {
            if !(100..=599).contains(&s) {
                return invalid(format!(
                    "{what}: expect_status = {s}: expected an HTTP status 100-599"
                ));
            }
            h.expect_status = s;
        }
        if !h.tls && (raw.tls_verify.is_some() || raw.ca_file.is_some()) {
            return invalid(format!(
                "{what}: tls_verify and ca_file only apply to https:// URLs"
            ));
        }
        h.tls_verify = raw.tls_verify.unwrap_or(true);
        h.ca_file = raw.ca_file.map(PathBuf::from);
        if h.tls && !cfg!(feature = "https") {
            return invalid(format!(
                "{what}: this nvabgp was built without HTTPS support (cargo feature `https`)"
            ));
        }
        Probe::Http(h)
    } else {
        return invalid(format!("{what}: no probe"));
    };
    let interval = seconds(raw.interval, DEFAULT_INTERVAL, &format!("{what}: interval"))?;
    let timeout = seconds(
        raw.timeout,
        DEFAULT_TIMEOUT.min(interval),
        &format!("{what}: timeout"),
    )?;
    if timeout > interval {
        return invalid(format!(
            "{what}: timeout ({} s) is longer than interval ({} s): probes never overlap, so a failure would be seen late",
            timeout.as_secs_f64(),
            interval.as_secs_f64()
        ));
    }
    let count = |v: Option<u32>, default: u32, key: &str| match v {
        None => Ok(default),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(n) => invalid(format!("{what}: {key} = {n}: expected 1 to 100")),
    };
    let name = raw.name.unwrap_or(default_name);
    if name.is_empty() {
        return invalid(format!("{what}: name must not be empty"));
    }
    Ok(CheckConfig {
        name,
        probe,
        interval,
        timeout,
        rise: count(raw.rise, DEFAULT_RISE, "rise")?,
        fall: count(raw.fall, DEFAULT_FALL, "fall")?,
        maintenance_file: raw.maintenance_file.map(PathBuf::from),
    })
}

/// `host:port` with a non-zero port (`[v6]:port` for IPv6).
fn validate_host_port(target: &str, what: &str) -> Result<(), ConfigError> {
    let bad = || {
        invalid(format!(
            "{what}: tcp = \"{target}\": expected host:port, e.g. \"127.0.0.1:443\" or \"[::1]:443\""
        ))
    };
    let Some((host, port)) = target.rsplit_once(':') else {
        return bad();
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty() && !host.contains(':') && host.bytes().all(|b| b.is_ascii_graphic())
    };
    match port.parse::<u16>() {
        Ok(p) if p != 0 && host_ok => Ok(()),
        _ => bad(),
    }
}

/// Parses `http://host[:port][/path]` or `https://...`.
fn parse_url(url: &str, what: &str) -> Result<HttpProbe, ConfigError> {
    let bad = |why: &str| {
        invalid(format!(
            "{what}: http = \"{url}\": {why} (expected e.g. \"http://127.0.0.1:8080/healthz\")"
        ))
    };
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return bad("the scheme must be http:// or https://");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    // The path goes into the request line as is: no spaces, no control
    // characters, nothing that could split the request.
    if !path.bytes().all(|b| b.is_ascii_graphic()) || path.contains('#') {
        return bad("the path must be printable ASCII without spaces or '#'");
    }
    if authority.is_empty() || authority.contains('@') {
        return bad("a host is required, without user information");
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let Some((v6, tail)) = after.split_once(']') else {
            return bad("unclosed '['");
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("not an IPv6 address between [ ]");
        }
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse::<u16>().ok(),
            None if tail.is_empty() => Some(default_port),
            None => None,
        };
        (v6.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse::<u16>().ok()),
            None => (authority.to_string(), Some(default_port)),
        }
    };
    let Some(port) = port.filter(|p| *p != 0) else {
        return bad("bad port");
    };
    if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("bad host");
    }
    let bracketed = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    // RFC 9110 §7.2: the port is left out when it is the scheme's default.
    let host_header = if port == default_port {
        bracketed
    } else {
        format!("{bracketed}:{port}")
    };
    Ok(HttpProbe {
        url: url.to_string(),
        tls,
        host: host.clone(),
        port,
        path: path.to_string(),
        host_header,
        server_name: host.clone(),
        expect_status: 200,
        tls_verify: true,
        ca_file: None,
    })
}

/// Refuses two checks with the same name (they would be indistinguishable
/// in `nvabgp health`).
pub(crate) fn check_names_unique(routes: &[OriginRoute]) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for r in routes {
        for c in r.checks() {
            if !seen.insert(c.name.as_str()) {
                return invalid(format!(
                    "health check name \"{}\" is used twice: give each check its own `name`",
                    c.name
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> HttpProbe {
        parse_url(u, "t").unwrap()
    }

    #[test]
    fn urls_split_into_host_port_path_and_host_header() {
        let h = url("http://10.1.2.10/healthz?full=1");
        assert_eq!(
            (h.host.as_str(), h.port, h.path.as_str(), h.tls),
            ("10.1.2.10", 80, "/healthz?full=1", false)
        );
        assert_eq!(h.host_header, "10.1.2.10");
        let h = url("https://backend.example:8443");
        assert_eq!(
            (h.host.as_str(), h.port, h.path.as_str()),
            ("backend.example", 8443, "/")
        );
        assert_eq!(h.host_header, "backend.example:8443");
        let h = url("https://backend.example:443/x");
        assert_eq!(h.host_header, "backend.example");
        let h = url("http://[2001:db8::1]:8080/h");
        assert_eq!((h.host.as_str(), h.port), ("2001:db8::1", 8080));
        assert_eq!(h.host_header, "[2001:db8::1]:8080");
        let h = url("http://[2001:db8::1]/h");
        assert_eq!(
            (h.host.as_str(), h.port, h.host_header.as_str()),
            ("2001:db8::1", 80, "[2001:db8::1]")
        );
        for bad in [
            "ftp://x/",
            "http://",
            "http://u@h/",
            "http://h:0/",
            "http://h:99999/",
            "http://h/a b",
            "http://h/a\r\nX: y",
            "http://[zz]/",
            "http://[::1/",
        ] {
            assert!(parse_url(bad, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn tcp_targets_need_host_and_port() {
        for good in ["127.0.0.1:443", "[::1]:80", "backend:8080"] {
            assert!(validate_host_port(good, "t").is_ok(), "{good}");
        }
        for bad in ["127.0.0.1", "::1:80", ":80", "h:0", "h:x", "[::1]80"] {
            assert!(validate_host_port(bad, "t").is_err(), "{bad}");
        }
    }
}
