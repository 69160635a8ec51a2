//! BIRD 2: one `bird -f` process per speaker, driven with `birdc`.
//!
//! Announcements are static `blackhole` routes (in no kernel table: BIRD
//! here has no kernel protocol) carrying their communities as per-route
//! attributes; the export filter sets each one's next hop, because BIRD
//! keeps a NEXT_HOP towards an eBGP peer only when an export filter set it.
//! Changes rewrite the config and `birdc configure`. Two BIRDs can share a
//! namespace thanks to `strict bind`; one BIRD cannot hold two sessions to
//! the same neighbor address (it locks per neighbor), hence one process per
//! Route Server instance.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use bgp_proto::{Community, LargeCommunity, Prefix};

use super::{
    Announcement, Base, BgpSpeaker, Implementation, ReceivedRoute, RefreshMarkers, START_TIMEOUT,
    SessionState, SpeakerConfig, community_pair,
};
use crate::lab::process::{self, COMMAND_TIME_LIMIT, Process, wait_for};
use crate::lab::{Error, Result};

/// A BIRD 2 speaker.
#[derive(Debug)]
pub struct Bird {
    base: Base,
}

// `rs`, `igp`, `originate` and many other words are keywords of BIRD's
// config language: every name we define starts with `lab_`.
const STATIC_PROTOCOL: &str = "lab_static";
const IGP_TABLE: &str = "lab_igp_table";

fn protocol_name(index: usize) -> String {
    format!("lab_peer{}", index + 1)
}

impl Bird {
    /// Prepares a speaker (not started).
    pub fn new(config: SpeakerConfig) -> Result<Self> {
        Ok(Self {
            base: Base::new(Implementation::Bird, config)?,
        })
    }

    fn socket(&self) -> PathBuf {
        self.base.dir.join("bird.ctl")
    }

    fn birdc(&self, args: &[&str]) -> Result<String> {
        let mut command = Command::new("birdc");
        command.arg("-s").arg(self.socket()).args(args);
        process::run(&mut command, COMMAND_TIME_LIMIT)
    }

    fn config_text(&self) -> String {
        let c = &self.base.config;
        let t = c.timers;
        let mut s = String::new();
        let log = self.base.dir.join("bird.log");
        let _ = writeln!(s, "log \"{}\" all;", log.display());
        let _ = writeln!(s, "timeformat protocol iso long ms;");
        let _ = writeln!(s, "router id {};", c.router_id);
        let _ = writeln!(s, "protocol device {{ scan time 60; }}");
        // BIRD resolves multihop next hops only through its own tables: give
        // it the subnet router, in a table of its own that nothing exports.
        let _ = writeln!(s, "ipv4 table {IGP_TABLE};");
        let _ = writeln!(
            s,
            "protocol static lab_igp {{ ipv4 {{ table {IGP_TABLE}; }}; route 0.0.0.0/0 via {}; }}",
            c.gateway
        );
        let _ = writeln!(s, "protocol static {STATIC_PROTOCOL} {{\n  ipv4;");
        for a in self.base.announcements.values() {
            let _ = write!(s, "  route {} blackhole", a.prefix);
            if !a.communities.is_empty() || !a.large_communities.is_empty() {
                s.push_str(" {");
                for community in &a.communities {
                    let (high, low) = community_pair(*community);
                    let _ = write!(s, " bgp_community.add(({high},{low}));");
                }
                for l in &a.large_communities {
                    let _ = write!(
                        s,
                        " bgp_large_community.add(({},{},{}));",
                        l.global_admin, l.local_data1, l.local_data2
                    );
                }
                s.push_str(" }");
            }
            s.push_str(";\n");
        }
        s.push_str("}\n");
        let _ = writeln!(
            s,
            "filter lab_export {{\n  if proto != \"{STATIC_PROTOCOL}\" then reject;"
        );
        for a in self.base.announcements.values() {
            let _ = writeln!(
                s,
                "  if net = {} then bgp_next_hop = {};",
                a.prefix,
                self.base.next_hop(a)
            );
        }
        s.push_str("  accept;\n}\n");
        for (index, n) in c.neighbors.iter().enumerate() {
            let _ = writeln!(s, "protocol bgp {} {{", protocol_name(index));
            let _ = writeln!(s, "  local {} as {};", c.local_address, c.local_as);
            let _ = writeln!(s, "  neighbor {} as {};", n.address, n.remote_as);
            let _ = writeln!(s, "  multihop 255;\n  strict bind on;");
            // Packet traces show the route refresh exchange ("Got
            // BEGIN-OF-RR"), which BIRD reports nowhere else.
            let _ = writeln!(s, "  debug {{ states, events, packets }};");
            let _ = writeln!(s, "  passive {};", if c.passive { "on" } else { "off" });
            let _ = writeln!(
                s,
                "  hold time {};\n  keepalive time {};",
                t.hold, t.keepalive
            );
            let retry = t.connect_retry.max(1);
            // The default error wait (60-300 s) would keep a restarted peer
            // down for minutes.
            let _ = writeln!(
                s,
                "  connect delay time {retry};\n  connect retry time {retry};\n  error wait time {retry}, {};",
                retry.saturating_mul(4)
            );
            if let Some(password) = &n.password {
                let _ = writeln!(s, "  password \"{password}\";");
            }
            let _ = writeln!(
                s,
                "  ipv4 {{ import all; export filter lab_export; igp table {IGP_TABLE}; }};\n}}"
            );
        }
        s
    }

    fn reconfigure(&mut self) -> Result<()> {
        self.base.dir.write("bird.conf", &self.config_text())?;
        let out = self.birdc(&["configure"])?;
        if out.contains("Reconfigured") || out.contains("Reconfiguration in progress") {
            Ok(())
        } else {
            Err(Error::Command {
                command: "birdc configure".into(),
                status: "rejected".into(),
                output: out,
            })
        }
    }
}

impl BgpSpeaker for Bird {
    fn implementation(&self) -> Implementation {
        Implementation::Bird
    }

    fn config(&self) -> &SpeakerConfig {
        &self.base.config
    }

    fn start(&mut self) -> Result<()> {
        self.base.ensure_stopped()?;
        let conf = self.base.dir.write("bird.conf", &self.config_text())?;
        let mut command = Command::new("ip");
        command
            .args([
                "netns",
                "exec",
                &self.base.config.namespace,
                "bird",
                "-f",
                "-c",
            ])
            .arg(&conf)
            .arg("-s")
            .arg(self.socket())
            .arg("-P")
            .arg(self.base.dir.join("bird.pid"));
        let process = Process::spawn("bird", command, &self.base.dir.join("bird.out"))?;
        self.base.processes.push(process);
        let what = format!("BIRD {} to answer on its socket", self.base.config.name);
        wait_for(&what, START_TIMEOUT, || {
            self.base.check_alive()?;
            Ok(self.birdc(&["show", "status"]).ok().map(drop))
        })
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
        let name = protocol_name(self.base.neighbor_index(neighbor)?);
        Ok(parse_protocol_state(&self.birdc(&[
            "show",
            "protocols",
            "all",
            &name,
        ])?))
    }

    fn received_routes(&self, neighbor: Ipv4Addr) -> Result<Vec<ReceivedRoute>> {
        let name = protocol_name(self.base.neighbor_index(neighbor)?);
        parse_routes(&self.birdc(&["show", "route", "all", "protocol", &name])?)
    }

    fn announce(&mut self, announcement: Announcement) -> Result<()> {
        super::check_announcement(&announcement)?;
        let prefix = announcement.prefix;
        let previous = self.base.announcements.insert(prefix, announcement);
        self.reconfigure().inspect_err(|_| {
            // Keep our state what BIRD runs.
            match previous {
                Some(p) => self.base.announcements.insert(prefix, p),
                None => self.base.announcements.remove(&prefix),
            };
        })
    }

    fn withdraw(&mut self, prefix: Prefix) -> Result<()> {
        let Some(previous) = self.base.announcements.remove(&prefix) else {
            return Err(Error::Unsupported(format!("{prefix} is not announced")));
        };
        self.reconfigure().inspect_err(|_| {
            self.base.announcements.insert(prefix, previous);
        })
    }

    fn announcements(&self) -> Vec<Announcement> {
        self.base.announcements()
    }

    fn request_route_refresh(&mut self, neighbor: Ipv4Addr) -> Result<()> {
        // Without an import table BIRD reloads by asking the neighbor.
        let name = protocol_name(self.base.neighbor_index(neighbor)?);
        let out = self.birdc(&["reload", "in", &name])?;
        if out.contains("reloading") {
            Ok(())
        } else {
            Err(Error::Command {
                command: format!("birdc reload in {name}"),
                status: "refused".into(),
                output: out,
            })
        }
    }

    fn updates_received(&self, neighbor: Ipv4Addr) -> Result<u64> {
        let name = protocol_name(self.base.neighbor_index(neighbor)?);
        parse_import_updates(&self.birdc(&["show", "protocols", "all", &name])?)
    }

    fn refresh_markers_received(&self, neighbor: Ipv4Addr) -> Result<RefreshMarkers> {
        let name = protocol_name(self.base.neighbor_index(neighbor)?);
        let log = std::fs::read(self.base.dir.join("bird.log"))
            .map_err(|e| Error::io("cannot read bird.log", e))?;
        Ok(count_refresh_markers(&String::from_utf8_lossy(&log), &name))
    }

    fn diagnostics(&self) -> String {
        let mut out = self.base.diagnostics(&["bird.out", "bird.log"]);
        if let Ok(protocols) = self.birdc(&["show", "protocols"]) {
            out.push_str("\n-- birdc show protocols\n");
            out.push_str(&protocols);
        }
        out
    }
}

/// The "received" column of the channel's `Import updates:` statistics in
/// `birdc show protocols all NAME`:
///
/// ```text
///     Route change stats:     received   rejected   filtered    ignored   accepted
///       Import updates:              2          0          0          0          2
/// ```
fn parse_import_updates(output: &str) -> Result<u64> {
    output
        .lines()
        .find_map(|line| line.trim().strip_prefix("Import updates:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::parse("birdc show protocols all", "no Import updates statistics"))
}

/// BIRD's packet traces of protocol `name` (`lab_peer1: Got BEGIN-OF-RR`).
fn count_refresh_markers(log: &str, name: &str) -> RefreshMarkers {
    let count = |what: &str| {
        let needle = format!("{name}: Got {what}");
        log.lines().filter(|l| l.ends_with(&needle)).count() as u64
    };
    RefreshMarkers {
        begin: count("BEGIN-OF-RR"),
        end: count("END-OF-RR"),
    }
}

/// The `BGP state:` of `birdc show protocols all NAME`; the protocol's own
/// state (e.g. `down`) when there is none.
fn parse_protocol_state(output: &str) -> SessionState {
    for line in output.lines() {
        if let Some(state) = line.trim().strip_prefix("BGP state:") {
            return SessionState::from_name(state);
        }
    }
    // "lab_peer1  BGP  ---  down  12:00:00.000  ..."
    let state = output
        .lines()
        .find(|l| l.starts_with("lab_peer"))
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap_or("unknown");
    SessionState::Other(state.to_string())
}

/// Routes of `birdc show route all protocol NAME` (`→` stands for a tab):
///
/// ```text
/// 10.1.0.0/16          unicast [lab_peer1 01:08:35.207 from 10.1.1.4] * (100/?) [AS65515i]
/// →via 10.1.2.1 on nva0
/// →BGP.as_path: 65515
/// →BGP.next_hop: 10.1.1.4
/// →BGP.community: (65515,1)
/// →BGP.large_community: (65515, 1, 2)
///                      unicast [lab_peer2 ...]        <- another route, same prefix
/// ```
fn parse_routes(output: &str) -> Result<Vec<ReceivedRoute>> {
    let mut routes = Vec::new();
    let mut prefix: Option<Prefix> = None;
    let mut current: Option<Partial> = None;
    for line in output.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("BIRD ") || trimmed.starts_with("Table ") {
            continue;
        }
        if let Some(attribute) = trimmed.strip_prefix("BGP.") {
            if let Some(route) = current.as_mut() {
                route.attribute(attribute)?;
            }
            continue;
        }
        let starts_route = !line.starts_with('\t') && trimmed.contains('[');
        if !starts_route {
            continue; // "via ...", "Type: ...", "dev ..."
        }
        if !line.starts_with(char::is_whitespace) {
            let first = trimmed.split_whitespace().next().unwrap_or_default();
            prefix =
                Some(first.parse().map_err(|_| {
                    Error::parse("birdc show route", format!("no prefix in {line:?}"))
                })?);
        }
        if let Some(done) = current.take() {
            routes.extend(done.finish());
        }
        current = prefix.map(Partial::new);
    }
    if let Some(done) = current.take() {
        routes.extend(done.finish());
    }
    routes.sort_by_key(|r| r.prefix);
    Ok(routes)
}

/// A route being parsed.
struct Partial {
    prefix: Prefix,
    next_hop: Option<Ipv4Addr>,
    as_path: Vec<u32>,
    communities: Vec<Community>,
    large_communities: Vec<LargeCommunity>,
}

impl Partial {
    fn new(prefix: Prefix) -> Self {
        Self {
            prefix,
            next_hop: None,
            as_path: Vec::new(),
            communities: Vec::new(),
            large_communities: Vec::new(),
        }
    }

    fn attribute(&mut self, text: &str) -> Result<()> {
        let bad = |what: &str| Error::parse("birdc show route", format!("bad {what}: {text:?}"));
        let Some((name, value)) = text.split_once(':') else {
            return Ok(());
        };
        let value = value.trim();
        match name {
            "as_path" => {
                // Sets print as "{65002 65003}": keep their members in place.
                self.as_path = value
                    .split(|c: char| c.is_whitespace() || c == '{' || c == '}')
                    .filter(|t| !t.is_empty())
                    .map(|t| t.parse().map_err(|_| bad("AS path")))
                    .collect::<Result<_>>()?;
            }
            "next_hop" => {
                // IPv6 next hops may come as "global link-local"; ours are IPv4.
                let first = value.split_whitespace().next().unwrap_or_default();
                self.next_hop = Some(first.parse().map_err(|_| bad("next hop"))?);
            }
            "community" => {
                for numbers in tuples(value) {
                    match numbers.as_slice() {
                        [high, low] => {
                            let high = u16::try_from(*high).map_err(|_| bad("community"))?;
                            let low = u16::try_from(*low).map_err(|_| bad("community"))?;
                            self.communities.push(Community::new(high, low));
                        }
                        _ => return Err(bad("community")),
                    }
                }
            }
            "large_community" => {
                for numbers in tuples(value) {
                    match numbers.as_slice() {
                        [a, b, c] => self.large_communities.push(LargeCommunity::new(*a, *b, *c)),
                        _ => return Err(bad("large community")),
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(mut self) -> Option<ReceivedRoute> {
        self.communities.sort();
        self.large_communities.sort();
        Some(ReceivedRoute {
            prefix: self.prefix,
            next_hop: self.next_hop?,
            as_path: self.as_path,
            communities: self.communities,
            large_communities: self.large_communities,
        })
    }
}

/// The numbers of each `(a,b)` / `(a, b, c)` group; groups with anything
/// else than numbers are left out.
fn tuples(text: &str) -> Vec<Vec<u32>> {
    text.split('(')
        .filter_map(|group| group.split_once(')').map(|(inside, _)| inside))
        .filter_map(|inside| {
            inside
                .split(',')
                .map(|n| n.trim().parse::<u32>().ok())
                .collect::<Option<Vec<u32>>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::daemons::{Neighbor, Timers};

    const ROUTES: &str = "BIRD 2.0.12 ready.
Table master4:
0.0.0.0/0            unicast [lab_peer1 01:08:35.207 from 10.1.2.4] * (100/?) [AS65001i]
\tvia 10.1.1.1 on rs0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 65001
\tBGP.next_hop: 10.1.2.4
\tBGP.local_pref: 100
10.1.0.0/16          unicast [lab_peer1 01:08:35.207 from 10.1.1.4] * (100/?) [AS65515i]
\tvia 10.1.2.1 on nva0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 65515 {64512 64513}
\tBGP.next_hop: 10.1.1.4
\tBGP.med: 0
\tBGP.local_pref: 100
\tBGP.community: (65515,1) (65000,7)
\tBGP.large_community: (65515, 1, 2)
                     unicast [lab_peer1 01:08:36.000 from 10.1.1.4] (100/?) [AS65515i]
\tType: BGP univ
\tBGP.as_path: 65515
\tBGP.next_hop: 10.1.1.9
100.64.0.1/32        unreachable [lab_peer1 01:08:35.207 from 10.1.2.4] * (100/-) [AS65001i]
\tType: BGP univ
\tBGP.as_path: 65001
\tBGP.next_hop: 10.1.2.10
\tBGP.community: (65001,100)
";

    #[test]
    fn parses_show_route_all() {
        let routes = parse_routes(ROUTES).unwrap();
        assert_eq!(routes.len(), 4);
        assert_eq!(routes[0].prefix.to_string(), "0.0.0.0/0");
        assert_eq!(routes[0].next_hop, Ipv4Addr::new(10, 1, 2, 4));
        assert_eq!(routes[0].as_path, vec![65001]);
        assert!(routes[0].communities.is_empty());
        let vnet: Vec<_> = routes
            .iter()
            .filter(|r| r.prefix.to_string() == "10.1.0.0/16")
            .collect();
        assert_eq!(vnet.len(), 2);
        assert_eq!(vnet[0].as_path, vec![65515, 64512, 64513]);
        assert_eq!(
            vnet[0].communities,
            vec![Community::new(65000, 7), Community::new(65515, 1)]
        );
        assert_eq!(
            vnet[0].large_communities,
            vec![LargeCommunity::new(65515, 1, 2)]
        );
        assert_eq!(vnet[1].next_hop, Ipv4Addr::new(10, 1, 1, 9));
        assert!(vnet[1].communities.is_empty());
        assert_eq!(routes[3].prefix.to_string(), "100.64.0.1/32");
        assert_eq!(routes[3].communities, vec![Community::new(65001, 100)]);
    }

    #[test]
    fn empty_and_malformed_outputs() {
        assert!(parse_routes("BIRD 2.0.12 ready.\n").unwrap().is_empty());
        assert!(parse_routes("BIRD 2.0.12 ready.\nTable master4:\nfoo  unicast [x]\n").is_err());
        let bad_community =
            "1.0.0.0/8 unicast [p]\n\tBGP.next_hop: 1.1.1.1\n\tBGP.community: (70000,1)\n";
        assert!(parse_routes(bad_community).is_err());
    }

    #[test]
    fn parses_protocol_states() {
        let up = "BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\nlab_peer1      BGP        ---        up     01:08:35.207  Established   \n  BGP state:          Established\n    Neighbor address: 10.1.1.4\n";
        assert_eq!(parse_protocol_state(up), SessionState::Established);
        let active = "lab_peer1 BGP --- start 01:00:00.000 Active Socket: Connection refused\n  BGP state:          Active\n";
        assert_eq!(parse_protocol_state(active), SessionState::Active);
        let down = "Name Proto Table State Since Info\nlab_peer1 BGP --- down 01:00:00.000\n";
        assert_eq!(
            parse_protocol_state(down),
            SessionState::Other("down".into())
        );
    }

    #[test]
    fn config_has_per_route_attributes_and_next_hops() {
        let config = SpeakerConfig {
            name: "t".into(),
            namespace: "none".into(),
            router_id: Ipv4Addr::new(10, 1, 1, 4),
            local_address: Ipv4Addr::new(10, 1, 1, 4),
            local_as: 65515,
            gateway: Ipv4Addr::new(10, 1, 1, 1),
            neighbors: vec![Neighbor {
                address: Ipv4Addr::new(10, 1, 2, 4),
                remote_as: 65001,
                password: Some("key".into()),
            }],
            timers: Timers::SHORT,
            passive: true,
            graceful_restart: None,
            announcements: vec![
                Announcement::parse("10.1.0.0/16")
                    .unwrap()
                    .with_community(Community::new(65515, 1))
                    .with_large_community(LargeCommunity::new(65515, 1, 2)),
                Announcement::parse("10.2.0.0/16")
                    .unwrap()
                    .with_next_hop(Ipv4Addr::new(10, 1, 1, 9)),
            ],
        };
        let bird = Bird::new(config).unwrap();
        let text = bird.config_text();
        assert!(text.contains(
            "route 10.1.0.0/16 blackhole { bgp_community.add((65515,1)); bgp_large_community.add((65515,1,2)); };"
        ), "{text}");
        assert!(text.contains("route 10.2.0.0/16 blackhole;"), "{text}");
        assert!(
            text.contains("if net = 10.1.0.0/16 then bgp_next_hop = 10.1.1.4;"),
            "{text}"
        );
        assert!(
            text.contains("if net = 10.2.0.0/16 then bgp_next_hop = 10.1.1.9;"),
            "{text}"
        );
        assert!(
            text.contains("passive on;") && text.contains("password \"key\";"),
            "{text}"
        );
        assert!(
            text.contains("hold time 9;") && text.contains("keepalive time 3;"),
            "{text}"
        );
        assert!(text.contains("route 0.0.0.0/0 via 10.1.1.1;"), "{text}");
        // BIRD itself must accept it, when installed.
        if crate::lab::prerequisites::find_program("bird") {
            let path = bird.base.dir.write("check.conf", &text).unwrap();
            let mut command = Command::new("bird");
            command.arg("-p").arg("-c").arg(&path);
            process::run(&mut command, COMMAND_TIME_LIMIT).unwrap();
        }
    }

    #[test]
    fn parses_import_update_statistics() {
        let out = "BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
lab_peer1  BGP        ---        up     01:30:20.044  Established
  BGP state:          Established
  Channel ipv4
    Routes:         1 imported, 2 exported, 1 preferred
    Route change stats:     received   rejected   filtered    ignored   accepted
      Import updates:              7          0          0          2          5
      Import withdraws:            1          0        ---          0          1
      Export updates:              2          0          0        ---          2
";
        assert_eq!(parse_import_updates(out).unwrap(), 7);
        assert!(parse_import_updates("lab_peer1  BGP  ---  down").is_err());
    }

    #[test]
    fn counts_refresh_markers_of_one_protocol() {
        let log = "2026-11-22 01:30:20.044 <TRACE> lab_peer1: Sending BEGIN-OF-RR
2026-11-22 01:30:32.935 <TRACE> lab_peer1: Sending ROUTE-REFRESH
2026-11-22 01:30:32.950 <TRACE> lab_peer1: Got BEGIN-OF-RR
2026-11-22 01:30:32.950 <TRACE> lab_peer1: Got END-OF-RR
2026-11-22 01:30:33.950 <TRACE> lab_peer2: Got END-OF-RR
";
        assert_eq!(
            count_refresh_markers(log, "lab_peer1"),
            RefreshMarkers { begin: 1, end: 1 }
        );
        assert_eq!(
            count_refresh_markers(log, "lab_peer2"),
            RefreshMarkers { begin: 0, end: 1 }
        );
    }
}
