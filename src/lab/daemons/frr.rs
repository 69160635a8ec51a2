//! FRR 8: a zebra + bgpd pair per speaker, driven with `vtysh`.
//!
//! Both run in the foreground as user `frr` with every socket (zserv, vty)
//! and PID file in the runtime directory, so they never meet a system FRR
//! (`-z`, `--vty_socket`, `-i`). bgpd runs with `-l <local address>`: it
//! listens on that address only (two pairs can share a namespace) and,
//! implied by `-l`, installs nothing in the kernel. zebra is still needed
//! for next-hop tracking, with `ip nht resolve-via-default` since the
//! multihop neighbors are reached through the default route.
//!
//! Each announcement is `network P route-map LAB-ANN-<n>` where the
//! route-map sets next hop and communities; the outbound route-map sends
//! only those, with `set ip next-hop unchanged` so eBGP keeps the next hop. A changed announcement
//! gets a new route-map (FRR applies edits of an existing route-map only
//! after its route-map delay timer).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use bgp_proto::{LargeCommunity, Prefix};
use serde_json::Value;

use super::{
    Announcement, Base, BgpSpeaker, Implementation, ReceivedRoute, RefreshMarkers, START_TIMEOUT,
    SessionState, SpeakerConfig, parse_community,
};
use crate::lab::process::{self, COMMAND_TIME_LIMIT, Process, wait_for};
use crate::lab::{Error, Result};

/// zebra's path in the Debian package.
pub(crate) const ZEBRA: &str = "/usr/lib/frr/zebra";
/// bgpd's path in the Debian package.
pub(crate) const BGPD: &str = "/usr/lib/frr/bgpd";

/// An FRR speaker (zebra + bgpd).
#[derive(Debug)]
pub struct Frr {
    base: Base,
    /// The route-map currently used by each announced prefix.
    route_maps: BTreeMap<Prefix, String>,
    next_route_map: u32,
}

impl Frr {
    /// Prepares a speaker (not started).
    pub fn new(config: SpeakerConfig) -> Result<Self> {
        let base = Base::new(Implementation::Frr, config)?;
        let mut frr = Self {
            base,
            route_maps: BTreeMap::new(),
            next_route_map: 0,
        };
        let prefixes: Vec<Prefix> = frr.base.announcements.keys().copied().collect();
        for prefix in prefixes {
            frr.next_route_map += 1;
            let name = format!("LAB-ANN-{}", frr.next_route_map);
            frr.route_maps.insert(prefix, name);
        }
        Ok(frr)
    }

    fn vty_dir(&self) -> PathBuf {
        self.base.dir.path().to_path_buf()
    }

    fn vtysh(&self, commands: &[String]) -> Result<String> {
        let mut command = Command::new("vtysh");
        command.arg("--vty_socket").arg(self.vty_dir());
        for c in commands {
            command.arg("-c").arg(c);
        }
        let out = process::run(&mut command, COMMAND_TIME_LIMIT)?;
        // vtysh reports some command errors on stdout with a "%" prefix.
        if let Some(line) = out.lines().find(|l| l.starts_with('%')) {
            return Err(Error::Command {
                command: format!("vtysh -c {}", commands.join(" -c ")),
                status: "command rejected".into(),
                output: line.to_string(),
            });
        }
        Ok(out)
    }

    fn show(&self, command: &str) -> Result<Value> {
        let out = self.vtysh(&[command.to_string()])?;
        serde_json::from_str(&out)
            .map_err(|e| Error::parse(format!("vtysh {command}"), e.to_string()))
    }

    /// The route-map lines of one announcement.
    fn route_map_lines(&self, name: &str, a: &Announcement) -> Vec<String> {
        let mut lines = vec![
            format!("route-map {name} permit 10"),
            format!(" set ip next-hop {}", self.base.next_hop(a)),
        ];
        if !a.communities.is_empty() {
            let list: Vec<String> = a.communities.iter().map(ToString::to_string).collect();
            lines.push(format!(" set community {}", list.join(" ")));
        }
        if !a.large_communities.is_empty() {
            let list: Vec<String> = a
                .large_communities
                .iter()
                .map(ToString::to_string)
                .collect();
            lines.push(format!(" set large-community {}", list.join(" ")));
        }
        lines
    }

    fn bgpd_config(&self) -> String {
        let c = &self.base.config;
        let t = c.timers;
        let mut s = String::new();
        let _ = writeln!(s, "frr defaults traditional\nhostname {}", c.name);
        // Debug level with neighbor events: the route refresh exchange
        // ("rcvd route-refresh (BoRR)") is logged nowhere else.
        let _ = writeln!(
            s,
            "log file {} debugging\ndebug bgp neighbor-events",
            self.base.dir.join("bgpd.log").display()
        );
        // Send only our own announcements (empty AS path before our own AS
        // is prepended): like Azure Route Server, never reflect a neighbor's
        // routes back to it, nor from one neighbor to the other.
        let _ = writeln!(s, "bgp as-path access-list LAB-LOCAL seq 5 permit ^$");
        let _ = writeln!(
            s,
            "route-map LAB-OUT permit 10\n match as-path LAB-LOCAL\n set ip next-hop unchanged"
        );
        for (prefix, name) in &self.route_maps {
            if let Some(a) = self.base.announcements.get(prefix) {
                for line in self.route_map_lines(name, a) {
                    let _ = writeln!(s, "{line}");
                }
            }
        }
        let _ = writeln!(s, "router bgp {}", c.local_as);
        let _ = writeln!(s, " bgp router-id {}", c.router_id);
        // RFC 8212 would make FRR accept and send nothing without policies.
        let _ = writeln!(
            s,
            " no bgp ebgp-requires-policy\n no bgp network import-check"
        );
        let _ = writeln!(s, " timers bgp {} {}", t.keepalive, t.hold);
        if let Some(restart_time) = c.graceful_restart {
            // Restarting speaker: R and F bits, IPv4 unicast forwarding
            // state "preserved" (zebra's routes die with it, which does not
            // matter to the neighbors' side of the procedure).
            let _ = writeln!(
                s,
                " bgp graceful-restart\n bgp graceful-restart restart-time {restart_time}\n bgp graceful-restart preserve-fw-state"
            );
        }
        for n in &c.neighbors {
            let a = n.address;
            let _ = writeln!(s, " neighbor {a} remote-as {}", n.remote_as);
            let _ = writeln!(s, " neighbor {a} ebgp-multihop 255");
            let _ = writeln!(s, " neighbor {a} update-source {}", c.local_address);
            let _ = writeln!(s, " neighbor {a} timers connect {}", t.connect_retry.max(1));
            let _ = writeln!(s, " neighbor {a} advertisement-interval 0");
            if c.passive {
                let _ = writeln!(s, " neighbor {a} passive");
            }
            if let Some(password) = &n.password {
                let _ = writeln!(s, " neighbor {a} password {password}");
            }
        }
        let _ = writeln!(s, " address-family ipv4 unicast");
        for (prefix, name) in &self.route_maps {
            let _ = writeln!(s, "  network {prefix} route-map {name}");
        }
        for n in &c.neighbors {
            let _ = writeln!(s, "  neighbor {} route-map LAB-OUT out", n.address);
        }
        let _ = writeln!(s, " exit-address-family");
        s
    }

    /// Runs configuration commands.
    fn configure(&self, commands: Vec<String>) -> Result<()> {
        let mut all = vec!["configure terminal".to_string()];
        all.extend(commands);
        self.vtysh(&all).map(drop)
    }

    fn router_commands(&self, lines: &[String]) -> Vec<String> {
        let mut commands = vec![
            format!("router bgp {}", self.base.config.local_as),
            "address-family ipv4 unicast".to_string(),
        ];
        commands.extend(lines.iter().cloned());
        commands
    }

    fn spawn_daemons(&mut self) -> Result<()> {
        let dir = self.vty_dir();
        let zserv = self.base.dir.join("zserv.api");
        let zebra_conf = format!(
            "hostname {}\nlog file {} informational\nip nht resolve-via-default\n",
            self.base.config.name,
            self.base.dir.join("zebra.log").display()
        );
        let zebra_conf = self.base.dir.write("zebra.conf", &zebra_conf)?;
        let bgpd_conf = self.base.dir.write("bgpd.conf", &self.bgpd_config())?;
        let ns = self.base.config.namespace.clone();

        let mut zebra = Command::new("ip");
        zebra
            .args(["netns", "exec", &ns, ZEBRA, "-f"])
            .arg(&zebra_conf)
            .arg("-z")
            .arg(&zserv)
            .arg("--vty_socket")
            .arg(&dir)
            .arg("-i")
            .arg(self.base.dir.join("zebra.pid"))
            .args(["-P", "0"]);
        let zebra = Process::spawn("zebra", zebra, &self.base.dir.join("zebra.out"))?;
        self.base.processes.push(zebra);
        wait_for("FRR zebra's zserv socket", START_TIMEOUT, || {
            self.base.check_alive()?;
            Ok(zserv.exists().then_some(()))
        })?;

        let mut bgpd = Command::new("ip");
        bgpd.args(["netns", "exec", &ns, BGPD, "-f"])
            .arg(&bgpd_conf)
            .arg("-z")
            .arg(&zserv)
            .arg("--vty_socket")
            .arg(&dir)
            .arg("-i")
            .arg(self.base.dir.join("bgpd.pid"))
            .args(["-P", "0", "-p", "179", "-l"])
            .arg(self.base.config.local_address.to_string());
        let bgpd = Process::spawn("bgpd", bgpd, &self.base.dir.join("bgpd.out"))?;
        self.base.processes.push(bgpd);
        let what = format!("FRR {} to answer vtysh", self.base.config.name);
        wait_for(&what, START_TIMEOUT, || {
            self.base.check_alive()?;
            Ok(self.show("show bgp summary json").ok().map(drop))
        })
    }
}

/// `frr` user and group IDs, from the password database.
fn frr_ids() -> Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| Error::io("cannot read /etc/passwd", e))?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                ["frr", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
                _ => None,
            }
        })
        .ok_or_else(|| Error::Unsupported("no user `frr` (is the frr package installed?)".into()))
}

impl BgpSpeaker for Frr {
    fn implementation(&self) -> Implementation {
        Implementation::Frr
    }

    fn config(&self) -> &SpeakerConfig {
        &self.base.config
    }

    fn start(&mut self) -> Result<()> {
        self.base.ensure_stopped()?;
        // The daemons drop privileges to `frr` and create their sockets and
        // logs in our directory.
        let (uid, gid) = frr_ids()?;
        std::os::unix::fs::chown(self.base.dir.path(), Some(uid), Some(gid))
            .map_err(|e| Error::io("cannot chown the FRR runtime directory", e))?;
        let result = self.spawn_daemons();
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
        let json = self.show(&format!("show bgp neighbors {neighbor} json"))?;
        Ok(parse_neighbor_state(&json, neighbor))
    }

    fn received_routes(&self, neighbor: Ipv4Addr) -> Result<Vec<ReceivedRoute>> {
        self.base.neighbor_index(neighbor)?;
        let json = self.show("show bgp ipv4 unicast json detail")?;
        parse_routes(&json, neighbor)
    }

    fn announce(&mut self, announcement: Announcement) -> Result<()> {
        super::check_announcement(&announcement)?;
        let prefix = announcement.prefix;
        self.next_route_map += 1;
        let name = format!("LAB-ANN-{}", self.next_route_map);
        let mut commands = self.route_map_lines(&name, &announcement);
        commands.push("exit".into());
        commands.extend(self.router_commands(&[format!("network {prefix} route-map {name}")]));
        // Our state changes only once FRR took the commands, so that a
        // restart configures what FRR actually announced.
        self.configure(commands)?;
        self.base.announcements.insert(prefix, announcement);
        if let Some(old) = self.route_maps.insert(prefix, name) {
            self.configure(vec![format!("no route-map {old}")])?;
        }
        Ok(())
    }

    fn withdraw(&mut self, prefix: Prefix) -> Result<()> {
        if !self.base.announcements.contains_key(&prefix) {
            return Err(Error::Unsupported(format!("{prefix} is not announced")));
        }
        let mut commands = self.router_commands(&[format!("no network {prefix}")]);
        if let Some(name) = self.route_maps.get(&prefix) {
            commands.push("exit-address-family".into());
            commands.push("exit".into());
            commands.push(format!("no route-map {name}"));
        }
        self.configure(commands)?;
        self.base.announcements.remove(&prefix);
        self.route_maps.remove(&prefix);
        Ok(())
    }

    fn announcements(&self) -> Vec<Announcement> {
        self.base.announcements()
    }

    fn request_route_refresh(&mut self, neighbor: Ipv4Addr) -> Result<()> {
        // Without soft-reconfiguration inbound, FRR asks the neighbor.
        self.base.neighbor_index(neighbor)?;
        self.vtysh(&[format!("clear bgp ipv4 unicast {neighbor} soft in")])
            .map(drop)
    }

    fn updates_received(&self, neighbor: Ipv4Addr) -> Result<u64> {
        self.base.neighbor_index(neighbor)?;
        let json = self.show(&format!("show bgp neighbors {neighbor} json"))?;
        json.pointer(&format!("/{neighbor}/messageStats/updatesRecv"))
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::parse("vtysh show bgp neighbors json", "no updatesRecv"))
    }

    fn refresh_markers_received(&self, neighbor: Ipv4Addr) -> Result<RefreshMarkers> {
        self.base.neighbor_index(neighbor)?;
        let log = std::fs::read(self.base.dir.join("bgpd.log"))
            .map_err(|e| Error::io("cannot read bgpd.log", e))?;
        Ok(count_refresh_markers(
            &String::from_utf8_lossy(&log),
            neighbor,
        ))
    }

    fn diagnostics(&self) -> String {
        let mut out = self
            .base
            .diagnostics(&["zebra.out", "bgpd.out", "bgpd.log"]);
        if let Ok(summary) = self.vtysh(&["show bgp summary".to_string()]) {
            out.push_str("\n-- show bgp summary\n");
            out.push_str(&summary);
        }
        out
    }
}

/// bgpd's neighbor-event debug lines about received route refresh markers
/// (`... BGP: [SDZS7-XVC4W] 10.1.2.4(Unknown) rcvd route-refresh (BoRR) for
/// IPv4/unicast, triggering timer for 360 seconds`; the parenthesis holds
/// the neighbor's hostname when it sent one).
fn count_refresh_markers(log: &str, neighbor: Ipv4Addr) -> RefreshMarkers {
    let count = |marker: &str| {
        let needle = format!(" rcvd route-refresh ({marker})");
        let from = |l: &&str| {
            l.split_once(&needle).is_some_and(|(before, _)| {
                let peer = before.rsplit(' ').next().unwrap_or_default();
                peer.split('(').next() == Some(neighbor.to_string().as_str())
            })
        };
        log.lines().filter(from).count() as u64
    };
    RefreshMarkers {
        begin: count("BoRR"),
        end: count("EoRR"),
    }
}

/// `bgpState` of `show bgp neighbors X json`.
fn parse_neighbor_state(json: &Value, neighbor: Ipv4Addr) -> SessionState {
    match json
        .get(neighbor.to_string())
        .and_then(|n| n.get("bgpState"))
        .and_then(Value::as_str)
    {
        Some(state) => SessionState::from_name(state),
        None => SessionState::Other("no such neighbor in vtysh output".into()),
    }
}

/// Paths from `neighbor` in `show bgp ipv4 unicast json detail`:
/// `{"routes": {"P": [{"prefix": ..., "advertisedTo": ...}, {path}, ...]}}`
/// where the first element describes the prefix and each path has
/// `aspath.segments[].list`, `nexthops[].ip`, `community.list`,
/// `largeCommunity.list` and `peer.peerId`.
fn parse_routes(json: &Value, neighbor: Ipv4Addr) -> Result<Vec<ReceivedRoute>> {
    let what = "vtysh show bgp ipv4 unicast json detail";
    let bad = |reason: String| Error::parse(what, reason);
    let Some(routes) = json.get("routes").and_then(Value::as_object) else {
        // No "routes" at all: an empty table.
        return Ok(Vec::new());
    };
    let neighbor = neighbor.to_string();
    let mut out = Vec::new();
    for (prefix_text, entries) in routes {
        let prefix: Prefix = prefix_text
            .parse()
            .map_err(|_| bad(format!("bad prefix {prefix_text:?}")))?;
        for path in entries.as_array().map(Vec::as_slice).unwrap_or_default() {
            let peer = path.pointer("/peer/peerId").and_then(Value::as_str);
            if peer != Some(neighbor.as_str()) {
                continue;
            }
            let next_hop = path
                .pointer("/nexthops/0/ip")
                .and_then(Value::as_str)
                .and_then(|ip| ip.parse().ok())
                .ok_or_else(|| bad(format!("{prefix_text}: no IPv4 next hop")))?;
            let mut as_path = Vec::new();
            for segment in path
                .pointer("/aspath/segments")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                for asn in segment
                    .get("list")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let asn = asn
                        .as_u64()
                        .and_then(|a| u32::try_from(a).ok())
                        .ok_or_else(|| bad(format!("{prefix_text}: bad ASN {asn}")))?;
                    as_path.push(asn);
                }
            }
            let strings = |pointer: &str| -> Vec<String> {
                path.pointer(pointer)
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let mut communities = strings("/community/list")
                .iter()
                .map(|c| parse_community(c).ok_or_else(|| bad(format!("bad community {c:?}"))))
                .collect::<Result<Vec<_>>>()?;
            let mut large_communities = strings("/largeCommunity/list")
                .iter()
                .map(|c| {
                    c.parse::<LargeCommunity>()
                        .map_err(|_| bad(format!("bad large community {c:?}")))
                })
                .collect::<Result<Vec<_>>>()?;
            communities.sort();
            large_communities.sort();
            out.push(ReceivedRoute {
                prefix,
                next_hop,
                as_path,
                communities,
                large_communities,
            });
        }
    }
    out.sort_by_key(|r| r.prefix);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::Community;

    // Captured from FRR 8.4.4 (one path from 10.1.2.4, one local).
    const DETAIL: &str = r#"{
 "vrfId": 0, "vrfName": "default", "tableVersion": 3, "routerId": "10.1.1.4", "defaultLocPrf": 100, "localAS": 65515,
 "routes": { "0.0.0.0/0": [{"prefix":"0.0.0.0/0","version":2,"advertisedTo":{"10.1.2.4":{}}},{"aspath":{"string":"65001","segments":[{"type":"as-sequence","list":[65001]}],"length":1},"origin":"IGP","valid":true,"version":2,"bestpath":{"overall":true,"selectionReason":"First path received"},"nexthops":[{"ip":"10.1.2.4","afi":"ipv4","metric":0,"accessible":true,"used":true}],"peer":{"peerId":"10.1.2.4","routerId":"10.1.2.4","type":"external"}}]
,"10.1.0.0/16": [{"prefix":"10.1.0.0/16","version":1,"advertisedTo":{"10.1.2.4":{}}},{"aspath":{"string":"Local","segments":[],"length":0},"origin":"IGP","metric":0,"weight":32768,"valid":true,"version":1,"sourced":true,"local":true,"community":{"string":"65515:1","list":["65515:1"]},"largeCommunity":{"string":"65515:1:2","list":["65515:1:2"]},"nexthops":[{"ip":"10.1.1.4","hostname":"rs4","afi":"ipv4","metric":0,"accessible":true,"used":true}],"peer":{"peerId":"0.0.0.0","routerId":"10.1.1.4"}}]
,"100.64.0.1/32": [{"prefix":"100.64.0.1/32","version":3,"advertisedTo":{"10.1.2.4":{}}},{"aspath":{"string":"65001 {64512,64513}","segments":[{"type":"as-sequence","list":[65001]},{"type":"as-set","list":[64512,64513]}],"length":2},"origin":"IGP","valid":true,"version":3,"community":{"string":"65001:100 no-export","list":["65001:100","no-export"]},"largeCommunity":{"string":"65001:1:1","list":["65001:1:1"]},"nexthops":[{"ip":"10.1.2.10","afi":"ipv4","metric":0,"accessible":true,"used":true}],"peer":{"peerId":"10.1.2.4","routerId":"10.1.2.4","type":"external"}}]
 }  }"#;

    #[test]
    fn parses_detail_json_per_neighbor() {
        let json: Value = serde_json::from_str(DETAIL).unwrap();
        let routes = parse_routes(&json, Ipv4Addr::new(10, 1, 2, 4)).unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].prefix.to_string(), "0.0.0.0/0");
        assert_eq!(routes[0].next_hop, Ipv4Addr::new(10, 1, 2, 4));
        assert_eq!(routes[0].as_path, vec![65001]);
        assert!(routes[0].communities.is_empty());
        assert_eq!(routes[1].prefix.to_string(), "100.64.0.1/32");
        assert_eq!(routes[1].next_hop, Ipv4Addr::new(10, 1, 2, 10));
        assert_eq!(routes[1].as_path, vec![65001, 64512, 64513]);
        assert_eq!(
            routes[1].communities,
            vec![Community::new(65001, 100), Community::NO_EXPORT]
        );
        assert_eq!(
            routes[1].large_communities,
            vec![LargeCommunity::new(65001, 1, 1)]
        );
        assert!(
            parse_routes(&json, Ipv4Addr::new(10, 9, 9, 9))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn empty_table_and_bad_values() {
        let empty: Value = serde_json::from_str("{}").unwrap();
        assert!(
            parse_routes(&empty, Ipv4Addr::new(10, 1, 2, 4))
                .unwrap()
                .is_empty()
        );
        let bad: Value = serde_json::from_str(
            r#"{"routes":{"1.0.0.0/8":[{"peer":{"peerId":"10.1.2.4"},"nexthops":[{"ip":"10.1.2.4"}],"community":{"list":["x:y"]}}]}}"#,
        )
        .unwrap();
        assert!(parse_routes(&bad, Ipv4Addr::new(10, 1, 2, 4)).is_err());
    }

    #[test]
    fn parses_neighbor_state() {
        let json: Value =
            serde_json::from_str(r#"{"10.1.2.4":{"remoteAs":65001,"bgpState":"Established"}}"#)
                .unwrap();
        assert_eq!(
            parse_neighbor_state(&json, Ipv4Addr::new(10, 1, 2, 4)),
            SessionState::Established
        );
        let json: Value = serde_json::from_str(r#"{"10.1.2.4":{"bgpState":"Active"}}"#).unwrap();
        assert_eq!(
            parse_neighbor_state(&json, Ipv4Addr::new(10, 1, 2, 4)),
            SessionState::Active
        );
        assert!(!parse_neighbor_state(&json, Ipv4Addr::new(10, 1, 2, 5)).is_established());
    }

    #[test]
    fn counts_refresh_markers_of_one_neighbor() {
        // Captured from FRR 8.4.4 with `debug bgp neighbor-events`.
        let log = "2026/11/22 01:33:50 BGP: [ZYAGF-264TT] 10.1.2.4(Unknown) route-refresh for IPv4/unicast, marking prefix 0.0.0.0/0 as stale
2026/11/22 01:33:50 BGP: [SDZS7-XVC4W] 10.1.2.4(Unknown) rcvd route-refresh (BoRR) for IPv4/unicast, triggering timer for 360 seconds
2026/11/22 01:33:50 BGP: [Y6XKR-PF89P] 10.1.2.4(Unknown) rcvd route-refresh (EoRR) for IPv4/unicast, stopping BoRR timer
2026/11/22 01:33:51 BGP: [Y6XKR-PF89P] 10.1.2.40(nva) rcvd route-refresh (EoRR) for IPv4/unicast, stopping BoRR timer
";
        assert_eq!(
            count_refresh_markers(log, Ipv4Addr::new(10, 1, 2, 4)),
            RefreshMarkers { begin: 1, end: 1 }
        );
        assert_eq!(
            count_refresh_markers(log, Ipv4Addr::new(10, 1, 2, 40)),
            RefreshMarkers { begin: 0, end: 1 }
        );
    }
}
