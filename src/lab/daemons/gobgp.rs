//! GoBGP 3: one `gobgpd` per speaker, driven with the `gobgp` CLI over a
//! gRPC Unix socket in the runtime directory (no TCP port to allocate).
//!
//! gobgpd listens on port 179 of the local address only
//! (`local-address-list`), so two can share a namespace. GoBGP has no
//! static routes in its config file: announcements are added through the
//! API once it answers (`gobgp global rib add`); locally originated routes
//! keep their next hop towards eBGP peers.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::process::Command;

use bgp_proto::{Community, LargeCommunity, Prefix};
use serde_json::Value;

use super::{
    Announcement, Base, BgpSpeaker, Implementation, ReceivedRoute, START_TIMEOUT, SessionState,
    SpeakerConfig,
};
use crate::lab::process::{self, COMMAND_TIME_LIMIT, Process, wait_for};
use crate::lab::{Error, Result};

/// A GoBGP speaker.
#[derive(Debug)]
pub struct Gobgp {
    base: Base,
}

impl Gobgp {
    /// Prepares a speaker (not started).
    pub fn new(config: SpeakerConfig) -> Result<Self> {
        Ok(Self {
            base: Base::new(Implementation::Gobgp, config)?,
        })
    }

    fn target(&self) -> String {
        format!("unix://{}", self.base.dir.join("gobgpd.sock").display())
    }

    fn gobgp(&self, args: &[&str]) -> Result<String> {
        let mut command = Command::new("gobgp");
        command.args(["--target", &self.target()]).args(args);
        process::run(&mut command, COMMAND_TIME_LIMIT)
    }

    fn config_text(&self) -> String {
        let c = &self.base.config;
        let t = c.timers;
        let mut s = String::new();
        let _ = writeln!(s, "[global.config]\n  as = {}", c.local_as);
        let _ = writeln!(s, "  router-id = \"{}\"", c.router_id);
        let _ = writeln!(
            s,
            "  port = 179\n  local-address-list = [\"{}\"]",
            c.local_address
        );
        // Send only our own announcements: like Azure Route Server, never
        // pass one neighbor's routes to another.
        let _ = writeln!(
            s,
            "[global.apply-policy.config]\n  export-policy-list = [\"lab-export\"]\n  default-import-policy = \"accept-route\"\n  default-export-policy = \"reject-route\""
        );
        let _ = writeln!(
            s,
            "[[policy-definitions]]\n  name = \"lab-export\"\n  [[policy-definitions.statements]]\n    name = \"own-routes\"\n    [policy-definitions.statements.conditions.bgp-conditions]\n      route-type = \"local\"\n    [policy-definitions.statements.actions]\n      route-disposition = \"accept-route\""
        );
        for n in &c.neighbors {
            let _ = writeln!(s, "[[neighbors]]\n  [neighbors.config]");
            let _ = writeln!(
                s,
                "    neighbor-address = \"{}\"\n    peer-as = {}",
                n.address, n.remote_as
            );
            if let Some(password) = &n.password {
                let _ = writeln!(s, "    auth-password = \"{password}\"");
            }
            let _ = writeln!(s, "  [neighbors.transport.config]");
            let _ = writeln!(s, "    local-address = \"{}\"", c.local_address);
            let _ = writeln!(s, "    passive-mode = {}", c.passive);
            let _ = writeln!(
                s,
                "  [neighbors.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = 255"
            );
            let _ = writeln!(s, "  [neighbors.timers.config]");
            let _ = writeln!(
                s,
                "    hold-time = {}\n    keepalive-interval = {}",
                t.hold, t.keepalive
            );
            let retry = t.connect_retry.max(1);
            // Without it a reset session stays idle 30 s.
            let _ = writeln!(
                s,
                "    connect-retry = {retry}\n    idle-hold-time-after-reset = {retry}"
            );
            let _ = writeln!(
                s,
                "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\""
            );
        }
        s
    }

    fn add_route(&self, a: &Announcement) -> Result<()> {
        let prefix = a.prefix.to_string();
        let next_hop = self.base.next_hop(a).to_string();
        let mut args = vec![
            "global", "rib", "add", "-a", "ipv4", &prefix, "origin", "igp", "nexthop", &next_hop,
        ];
        let communities = join(&a.communities);
        if !a.communities.is_empty() {
            args.extend(["community", &communities]);
        }
        let large = join(&a.large_communities);
        if !a.large_communities.is_empty() {
            args.extend(["large-community", &large]);
        }
        self.gobgp(&args).map(drop)
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl BgpSpeaker for Gobgp {
    fn implementation(&self) -> Implementation {
        Implementation::Gobgp
    }

    fn config(&self) -> &SpeakerConfig {
        &self.base.config
    }

    fn start(&mut self) -> Result<()> {
        self.base.ensure_stopped()?;
        let conf = self.base.dir.write("gobgpd.toml", &self.config_text())?;
        // gobgpd does not replace the socket a killed gobgpd left behind.
        let socket = self.base.dir.join("gobgpd.sock");
        if socket.exists() {
            std::fs::remove_file(&socket)
                .map_err(|e| Error::io(format!("cannot remove {}", socket.display()), e))?;
        }
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.base.config.namespace, "gobgpd", "-f"])
            .arg(&conf)
            .arg(format!("--api-hosts={}", self.target()))
            .args(["--pprof-disable", "-l", "info", "-p"]);
        let process = Process::spawn("gobgpd", command, &self.base.dir.join("gobgpd.log"))?;
        self.base.processes.push(process);
        let what = format!("GoBGP {} to answer its API", self.base.config.name);
        let ready = wait_for(&what, START_TIMEOUT, || {
            self.base.check_alive()?;
            Ok(self.gobgp(&["global"]).ok().map(drop))
        });
        let result = ready.and_then(|()| {
            self.base
                .announcements
                .values()
                .try_for_each(|a| self.add_route(a))
        });
        if result.is_err() {
            self.base.kill();
        }
        result
    }

    fn is_running(&mut self) -> bool {
        self.base.is_running()
    }

    fn stop(&mut self) {
        self.base.stop();
    }

    fn kill(&mut self) {
        self.base.kill();
    }

    fn pids(&self) -> Vec<u32> {
        self.base.pids()
    }

    fn session_state(&self, neighbor: Ipv4Addr) -> Result<SessionState> {
        self.base.neighbor_index(neighbor)?;
        let out = self.gobgp(&["-j", "neighbor", &neighbor.to_string()])?;
        let json: Value = serde_json::from_str(&out)
            .map_err(|e| Error::parse("gobgp -j neighbor", e.to_string()))?;
        Ok(parse_session_state(&json))
    }

    fn received_routes(&self, neighbor: Ipv4Addr) -> Result<Vec<ReceivedRoute>> {
        self.base.neighbor_index(neighbor)?;
        let out = self.gobgp(&[
            "-j",
            "neighbor",
            &neighbor.to_string(),
            "adj-in",
            "-a",
            "ipv4",
        ])?;
        parse_routes(&out)
    }

    fn announce(&mut self, announcement: Announcement) -> Result<()> {
        super::check_announcement(&announcement)?;
        // `rib add` of a prefix we already originate replaces it (one UPDATE).
        self.add_route(&announcement)?;
        self.base
            .announcements
            .insert(announcement.prefix, announcement);
        Ok(())
    }

    fn withdraw(&mut self, prefix: Prefix) -> Result<()> {
        if !self.base.announcements.contains_key(&prefix) {
            return Err(Error::Unsupported(format!("{prefix} is not announced")));
        }
        self.gobgp(&["global", "rib", "del", "-a", "ipv4", &prefix.to_string()])?;
        self.base.announcements.remove(&prefix);
        Ok(())
    }

    fn announcements(&self) -> Vec<Announcement> {
        self.base.announcements()
    }

    fn request_route_refresh(&mut self, neighbor: Ipv4Addr) -> Result<()> {
        self.base.neighbor_index(neighbor)?;
        // `gobgp neighbor X softresetin` replays GoBGP's own Adj-RIB-In
        // through the import policy (server.go softResetIn); nothing in its
        // CLI or API sends a ROUTE-REFRESH.
        Err(Error::Unsupported(
            "GoBGP: softresetin replays its Adj-RIB-In and sends no ROUTE-REFRESH".into(),
        ))
    }

    fn updates_received(&self, neighbor: Ipv4Addr) -> Result<u64> {
        self.base.neighbor_index(neighbor)?;
        let out = self.gobgp(&["-j", "neighbor", &neighbor.to_string()])?;
        let json: Value = serde_json::from_str(&out)
            .map_err(|e| Error::parse("gobgp -j neighbor", e.to_string()))?;
        // The API leaves zero counters out.
        Ok(json
            .pointer("/state/messages/received/update")
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }

    fn diagnostics(&self) -> String {
        let mut out = self.base.diagnostics(&["gobgpd.log"]);
        if let Ok(neighbors) = self.gobgp(&["neighbor"]) {
            out.push_str("\n-- gobgp neighbor\n");
            out.push_str(&neighbors);
        }
        out
    }
}

/// `state.session_state` of `gobgp -j neighbor X`: the API enum as a number
/// (6 = ESTABLISHED) or, in other builds, its name.
fn parse_session_state(json: &Value) -> SessionState {
    match json.pointer("/state/session_state") {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(1) => SessionState::Idle,
            Some(2) => SessionState::Connect,
            Some(3) => SessionState::Active,
            Some(4) => SessionState::OpenSent,
            Some(5) => SessionState::OpenConfirm,
            Some(6) => SessionState::Established,
            _ => SessionState::Other(format!("session_state {n}")),
        },
        Some(Value::String(s)) => SessionState::from_name(s.trim_start_matches("SESSION_STATE_")),
        // The API leaves the zero value (UNKNOWN) out.
        _ => SessionState::Other("unknown".into()),
    }
}

/// `gobgp -j neighbor X adj-in -a ipv4`: `{"P": [{"nlri": ..., "attrs":
/// [{"type": 2, "as_paths": [{"asns": [...]}]}, {"type": 3, "nexthop": ...},
/// {"type": 8, "communities": [u32]}, {"type": 32, "value": [{"ASN",
/// "LocalData1", "LocalData2"}]}]}]}`.
fn parse_routes(output: &str) -> Result<Vec<ReceivedRoute>> {
    let what = "gobgp -j adj-in";
    let bad = |reason: String| Error::parse(what, reason);
    let text = output.trim();
    if text.is_empty() || text == "null" {
        return Ok(Vec::new());
    }
    let json: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let Some(map) = json.as_object() else {
        return Err(bad("not an object".into()));
    };
    let mut routes = Vec::new();
    for (prefix_text, paths) in map {
        let prefix: Prefix = prefix_text
            .parse()
            .map_err(|_| bad(format!("bad prefix {prefix_text:?}")))?;
        for path in paths.as_array().map(Vec::as_slice).unwrap_or_default() {
            let mut next_hop = None;
            let mut as_path = Vec::new();
            let mut communities = Vec::new();
            let mut large_communities = Vec::new();
            for attribute in path
                .get("attrs")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let number = |v: &Value| {
                    v.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| bad(format!("{prefix_text}: bad number {v}")))
                };
                let list = |key: &str| {
                    attribute
                        .get(key)
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                };
                match attribute.get("type").and_then(Value::as_u64) {
                    Some(2) => {
                        for segment in list("as_paths") {
                            for asn in segment
                                .get("asns")
                                .and_then(Value::as_array)
                                .map(Vec::as_slice)
                                .unwrap_or_default()
                            {
                                as_path.push(number(asn)?);
                            }
                        }
                    }
                    // NEXT_HOP, or MP_REACH_NLRI's next hop.
                    Some(3) | Some(14) => {
                        if let Some(ip) = attribute.get("nexthop").and_then(Value::as_str) {
                            next_hop = ip.parse().ok().or(next_hop);
                        }
                    }
                    Some(8) => {
                        for c in list("communities") {
                            communities.push(Community(number(c)?));
                        }
                    }
                    Some(32) => {
                        for l in list("value") {
                            let part = |k: &str| l.get(k).map_or(Ok(0), number);
                            large_communities.push(LargeCommunity::new(
                                part("ASN")?,
                                part("LocalData1")?,
                                part("LocalData2")?,
                            ));
                        }
                    }
                    _ => {}
                }
            }
            let next_hop =
                next_hop.ok_or_else(|| bad(format!("{prefix_text}: no IPv4 next hop")))?;
            communities.sort();
            large_communities.sort();
            routes.push(ReceivedRoute {
                prefix,
                next_hop,
                as_path,
                communities,
                large_communities,
            });
        }
    }
    routes.sort_by_key(|r| r.prefix);
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from GoBGP 3.10 (`gobgp -j neighbor 10.1.2.4 adj-in`), plus a large community.
    const ADJ_IN: &str = r#"{"0.0.0.0/0":[{"nlri":{"prefix":"0.0.0.0/0"},"age":1795309749,"best":false,"attrs":[{"type":1,"value":0},{"type":2,"as_paths":[{"segment_type":2,"num":1,"asns":[65001]}]},{"type":3,"nexthop":"10.1.2.4"}],"stale":false,"source-id":"10.1.2.4","neighbor-ip":"10.1.2.4"}],"100.64.0.1/32":[{"nlri":{"prefix":"100.64.0.1/32"},"age":1795309749,"best":false,"attrs":[{"type":1,"value":0},{"type":2,"as_paths":[{"segment_type":2,"num":1,"asns":[65001]},{"segment_type":1,"num":2,"asns":[64512,64513]}]},{"type":3,"nexthop":"10.1.2.10"},{"type":8,"communities":[4259905636]},{"type":32,"value":[{"ASN":65001,"LocalData1":1,"LocalData2":2}]}],"stale":false,"source-id":"10.1.2.4","neighbor-ip":"10.1.2.4"}]}"#;

    #[test]
    fn parses_adj_in() {
        let routes = parse_routes(ADJ_IN).unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].prefix.to_string(), "0.0.0.0/0");
        assert_eq!(routes[0].next_hop, Ipv4Addr::new(10, 1, 2, 4));
        assert_eq!(routes[0].as_path, vec![65001]);
        assert_eq!(routes[1].next_hop, Ipv4Addr::new(10, 1, 2, 10));
        assert_eq!(routes[1].as_path, vec![65001, 64512, 64513]);
        // 4259905636 = 0xFDE9_0064 = 65001:100
        assert_eq!(routes[1].communities, vec![Community::new(65001, 100)]);
        assert_eq!(
            routes[1].large_communities,
            vec![LargeCommunity::new(65001, 1, 2)]
        );
    }

    #[test]
    fn empty_and_malformed_adj_in() {
        assert!(parse_routes("").unwrap().is_empty());
        assert!(parse_routes("{}\n").unwrap().is_empty());
        assert!(parse_routes("null").unwrap().is_empty());
        assert!(parse_routes("[1]").is_err());
        assert!(parse_routes(r#"{"1.0.0.0/8":[{"attrs":[{"type":1,"value":0}]}]}"#).is_err());
        assert!(parse_routes(r#"{"1.0.0.0/8":[{"attrs":[{"type":3,"nexthop":"1.1.1.1"},{"type":8,"communities":[-1]}]}]}"#).is_err());
    }

    #[test]
    fn parses_session_states() {
        let state = |text: &str| parse_session_state(&serde_json::from_str(text).unwrap());
        assert_eq!(
            state(r#"{"state":{"session_state":6}}"#),
            SessionState::Established
        );
        assert_eq!(
            state(r#"{"state":{"session_state":3}}"#),
            SessionState::Active
        );
        assert_eq!(
            state(r#"{"state":{"session_state":"SESSION_STATE_ESTABLISHED"}}"#),
            SessionState::Established
        );
        assert!(!state(r#"{"state":{}}"#).is_established());
    }
}
