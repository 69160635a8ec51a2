//! ExaBGP 4: one `exabgp` process per speaker plus our API helper
//! (`exabgp_api.py`, run by ExaBGP as its `process`).
//!
//! ExaBGP has no RIB and no query CLI we can use without global named
//! pipes, so the helper keeps the Adj-RIB-In and session states from
//! ExaBGP's JSON events and writes them to `status.json`; commands reach
//! ExaBGP through the helper: first those in `initial.cmds` (the current
//! announcements, rewritten on every change so a restart announces the
//! same), then every line written to the FIFO `commands`. ExaBGP only
//! connects out unless told to listen (`exabgp.tcp.bind`); we make it
//! listen on the local address too.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::process::Command;
use std::time::Duration;

use bgp_proto::{Community, LargeCommunity, Prefix};
use serde_json::Value;

use super::{
    Announcement, Base, BgpSpeaker, Implementation, ReceivedRoute, RefreshMarkers, START_TIMEOUT,
    SessionState, SpeakerConfig,
};
use crate::lab::process::{self, COMMAND_TIME_LIMIT, Process, wait_for};
use crate::lab::{Error, Result};

/// The system Python (a pyenv shim in `PATH` costs ~200 ms per start).
pub(crate) const PYTHON: &str = "/usr/bin/python3";

const HELPER: &str = include_str!("exabgp_api.py");

/// An ExaBGP speaker.
#[derive(Debug)]
pub struct Exabgp {
    base: Base,
}

impl Exabgp {
    /// Prepares a speaker (not started).
    pub fn new(config: SpeakerConfig) -> Result<Self> {
        Ok(Self {
            base: Base::new(Implementation::Exabgp, config)?,
        })
    }

    fn config_text(&self) -> String {
        let c = &self.base.config;
        let d = &self.base.dir;
        let mut s = format!(
            "process lab {{\n  run {PYTHON} {} --fifo {} --status {} --initial {};\n  encoder json;\n}}\n",
            d.join("exabgp_api.py").display(),
            d.join("commands").display(),
            d.join("status.json").display(),
            d.join("initial.cmds").display(),
        );
        for n in &c.neighbors {
            s.push_str(&format!("neighbor {} {{\n", n.address));
            s.push_str(&format!("  router-id {};\n", c.router_id));
            s.push_str(&format!("  local-address {};\n", c.local_address));
            s.push_str(&format!(
                "  local-as {};\n  peer-as {};\n",
                c.local_as, n.remote_as
            ));
            s.push_str(&format!("  hold-time {};\n", c.timers.hold));
            s.push_str("  outgoing-ttl 255;\n");
            s.push_str(&format!("  passive {};\n", c.passive));
            if let Some(password) = &n.password {
                s.push_str(&format!("  md5-password {password};\n"));
            }
            s.push_str("  family { ipv4 unicast; }\n");
            // Route refresh and enhanced route refresh (RFC 2918, RFC 7313).
            s.push_str("  capability { route-refresh; }\n");
            s.push_str(
                "  api { processes [ lab ]; neighbor-changes; receive { parsed; update; refresh; } }\n}\n",
            );
        }
        s
    }

    fn announce_command(&self, a: &Announcement) -> String {
        let mut command = format!(
            "announce route {} next-hop {} origin igp",
            a.prefix,
            self.base.next_hop(a)
        );
        if !a.communities.is_empty() {
            let list: Vec<String> = a.communities.iter().map(ToString::to_string).collect();
            command.push_str(&format!(" community [{}]", list.join(" ")));
        }
        if !a.large_communities.is_empty() {
            let list: Vec<String> = a
                .large_communities
                .iter()
                .map(ToString::to_string)
                .collect();
            command.push_str(&format!(" large-community [{}]", list.join(" ")));
        }
        command
    }

    fn write_initial(&self) -> Result<()> {
        let mut text = String::new();
        for a in self.base.announcements.values() {
            text.push_str(&self.announce_command(a));
            text.push('\n');
        }
        self.base.dir.write("initial.cmds", &text).map(drop)
    }

    fn status(&self) -> Result<Value> {
        let path = self.base.dir.join("status.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        serde_json::from_str(&text).map_err(|e| Error::parse("ExaBGP helper status", e.to_string()))
    }

    /// Number of commands ExaBGP has answered (`done` or `error`).
    fn answered(&self) -> Result<u64> {
        let status = self.status()?;
        let count = |k: &str| status.get(k).and_then(Value::as_u64).unwrap_or(0);
        Ok(count("acks") + count("errors"))
    }

    /// Sends one API command and waits until ExaBGP answered it.
    fn command(&self, line: &str) -> Result<()> {
        let before = self.answered()?;
        let errors_before = self
            .status()?
            .get("errors")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let fifo = self.base.dir.join("commands");
        // Non-blocking: with the helper gone there is no reader and the open
        // fails (ENXIO) instead of hanging.
        let mut pipe = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .map_err(|e| Error::io("ExaBGP command pipe (is the helper running?)", e))?;
        pipe.write_all(format!("{line}\n").as_bytes())
            .map_err(|e| Error::io("ExaBGP command pipe", e))?;
        drop(pipe);
        wait_for(
            &format!("ExaBGP to answer `{line}`"),
            Duration::from_secs(10),
            || Ok((self.answered()? > before).then_some(())),
        )?;
        let errors = self
            .status()?
            .get("errors")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if errors > errors_before {
            return Err(Error::Command {
                command: line.to_string(),
                status: "ExaBGP answered error".into(),
                output: process::file_tail(&self.base.dir.join("exabgp.log"), 5),
            });
        }
        Ok(())
    }
}

impl BgpSpeaker for Exabgp {
    fn implementation(&self) -> Implementation {
        Implementation::Exabgp
    }

    fn config(&self) -> &SpeakerConfig {
        &self.base.config
    }

    fn start(&mut self) -> Result<()> {
        self.base.ensure_stopped()?;
        let d = &self.base.dir;
        d.write("exabgp_api.py", HELPER)?;
        let conf = d.write("exabgp.conf", &self.config_text())?;
        self.write_initial()?;
        let fifo = d.join("commands");
        let status = d.join("status.json");
        let _ = std::fs::remove_file(&status);
        if !fifo.exists() {
            let mut mkfifo = Command::new("mkfifo");
            mkfifo.arg("-m").arg("600").arg(&fifo);
            process::run(&mut mkfifo, COMMAND_TIME_LIMIT)?;
        }
        let c = &self.base.config;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &c.namespace, "env"])
            // Stay root and in the foreground; no global named pipes for the CLI.
            .args([
                "exabgp.daemon.user=root",
                "exabgp.daemon.drop=false",
                "exabgp.daemon.daemonize=false",
                "exabgp.api.cli=false",
                "exabgp.api.ack=true",
                "exabgp.tcp.port=179",
            ])
            .arg(format!("exabgp.tcp.bind={}", c.local_address))
            .arg(format!(
                "exabgp.log.destination={}",
                d.join("exabgp.log").display()
            ))
            .arg("exabgp")
            .arg(&conf);
        let process = Process::spawn("exabgp", command, &d.join("exabgp.out"))?;
        self.base.processes.push(process);
        let what = format!("ExaBGP {} and its API helper", c.name);
        // The initial announcements have been passed on once the helper
        // counted that many answers.
        let expected = self.base.announcements.len() as u64;
        let ready = wait_for(&what, START_TIMEOUT, || {
            self.base.check_alive()?;
            Ok(self.answered().ok().filter(|n| *n >= expected).map(drop))
        });
        if ready.is_err() {
            self.base.kill();
        }
        ready
    }

    fn is_running(&mut self) -> bool {
        self.base.is_running()
    }

    fn stop(&mut self) {
        // The helper exits when ExaBGP closes its stdin.
        self.base.stop();
    }

    fn kill(&mut self) {
        // Also the helper: it would exit on EOF anyway, but not at once.
        let helper = self
            .status()
            .ok()
            .and_then(|s| s.get("pid").and_then(Value::as_u64))
            .and_then(|p| u32::try_from(p).ok());
        let ours = self.base.pids();
        self.base.kill();
        if let Some(pid) = helper.filter(|p| !ours.contains(p)) {
            if helper_of_ours(pid, &self.base.dir.join("exabgp_api.py")) {
                let _ = process::signal(pid, libc::SIGKILL);
            }
        }
    }

    fn pids(&self) -> Vec<u32> {
        self.base.pids()
    }

    fn session_state(&self, neighbor: Ipv4Addr) -> Result<SessionState> {
        self.base.neighbor_index(neighbor)?;
        Ok(parse_state(&self.status()?, neighbor))
    }

    fn received_routes(&self, neighbor: Ipv4Addr) -> Result<Vec<ReceivedRoute>> {
        self.base.neighbor_index(neighbor)?;
        parse_routes(&self.status()?, neighbor)
    }

    fn announce(&mut self, announcement: Announcement) -> Result<()> {
        super::check_announcement(&announcement)?;
        let line = self.announce_command(&announcement);
        self.base
            .announcements
            .insert(announcement.prefix, announcement);
        self.write_initial()?;
        self.command(&line)
    }

    fn withdraw(&mut self, prefix: Prefix) -> Result<()> {
        if self.base.announcements.remove(&prefix).is_none() {
            return Err(Error::Unsupported(format!("{prefix} is not announced")));
        }
        self.write_initial()?;
        self.command(&format!("withdraw route {prefix}"))
    }

    fn announcements(&self) -> Vec<Announcement> {
        self.base.announcements()
    }

    fn request_route_refresh(&mut self, neighbor: Ipv4Addr) -> Result<()> {
        self.base.neighbor_index(neighbor)?;
        self.command(&format!(
            "neighbor {neighbor} announce route-refresh ipv4 unicast"
        ))
    }

    fn updates_received(&self, neighbor: Ipv4Addr) -> Result<u64> {
        self.base.neighbor_index(neighbor)?;
        Ok(peer(&self.status()?, neighbor)
            .and_then(|p| p.get("updates"))
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }

    fn refresh_markers_received(&self, neighbor: Ipv4Addr) -> Result<RefreshMarkers> {
        self.base.neighbor_index(neighbor)?;
        let status = self.status()?;
        let count = |subtype: &str| {
            peer(&status, neighbor)
                .and_then(|p| p.pointer(&format!("/refresh/{subtype}")))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        Ok(RefreshMarkers {
            begin: count("begin"),
            end: count("end"),
        })
    }

    fn diagnostics(&self) -> String {
        let mut out = self.base.diagnostics(&["exabgp.out", "exabgp.log"]);
        if let Ok(status) = std::fs::read_to_string(self.base.dir.join("status.json")) {
            out.push_str("\n-- status.json\n");
            out.push_str(process::tail(&status, 2000));
        }
        out
    }
}

impl Drop for Exabgp {
    /// The helper is not our child: kill it too before the runtime
    /// directory goes.
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `pid` runs our helper script (so we never signal a stranger
/// that reused the PID).
fn helper_of_ours(pid: u32, script: &std::path::Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| {
            cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == script.as_os_str().as_encoded_bytes())
        })
        .unwrap_or(false)
}

fn peer(status: &Value, neighbor: Ipv4Addr) -> Option<&Value> {
    status
        .get("peers")
        .and_then(|p| p.get(neighbor.to_string()))
}

/// ExaBGP reports `up`, `down` and `connected` (TCP up, OPEN not yet
/// exchanged).
fn parse_state(status: &Value, neighbor: Ipv4Addr) -> SessionState {
    match peer(status, neighbor)
        .and_then(|p| p.get("state"))
        .and_then(Value::as_str)
    {
        Some("up") => SessionState::Established,
        Some(other) => SessionState::Other(other.to_string()),
        None => SessionState::Other("no event yet".into()),
    }
}

/// The helper's `peers[X].routes`: `{"P": {"next_hop": "a.b.c.d", "as_path":
/// [..], "communities": [[a, b]], "large_communities": [[a, b, c]]}}`.
fn parse_routes(status: &Value, neighbor: Ipv4Addr) -> Result<Vec<ReceivedRoute>> {
    let bad = |reason: String| Error::parse("ExaBGP helper status", reason);
    let Some(routes) = peer(status, neighbor)
        .and_then(|p| p.get("routes"))
        .and_then(Value::as_object)
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (prefix_text, route) in routes {
        let prefix: Prefix = prefix_text
            .parse()
            .map_err(|_| bad(format!("bad prefix {prefix_text:?}")))?;
        let next_hop = route
            .get("next_hop")
            .and_then(Value::as_str)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad(format!("{prefix_text}: no IPv4 next hop")))?;
        let numbers = |v: &Value| -> Result<Vec<u32>> {
            v.as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|n| {
                    n.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| bad(format!("{prefix_text}: bad number {n}")))
                })
                .collect()
        };
        let lists = |key: &str| -> Result<Vec<Vec<u32>>> {
            route
                .get(key)
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(numbers)
                .collect()
        };
        let as_path = route.get("as_path").map_or(Ok(Vec::new()), numbers)?;
        let mut communities = Vec::new();
        for pair in lists("communities")? {
            match pair.as_slice() {
                [high, low] => {
                    let high = u16::try_from(*high).map_err(|_| bad("community".into()))?;
                    let low = u16::try_from(*low).map_err(|_| bad("community".into()))?;
                    communities.push(Community::new(high, low));
                }
                _ => return Err(bad(format!("{prefix_text}: bad community {pair:?}"))),
            }
        }
        let mut large_communities = Vec::new();
        for triple in lists("large_communities")? {
            match triple.as_slice() {
                [a, b, c] => large_communities.push(LargeCommunity::new(*a, *b, *c)),
                _ => {
                    return Err(bad(format!(
                        "{prefix_text}: bad large community {triple:?}"
                    )));
                }
            }
        }
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
    out.sort_by_key(|r| r.prefix);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = r#"{"pid": 14899, "peers": {"10.1.2.4": {"state": "up", "routes": {"0.0.0.0/0": {"as_path": [65001], "communities": [], "large_communities": [], "next_hop": "10.1.2.4"}, "100.64.0.1/32": {"as_path": [65001], "communities": [[65001, 100]], "large_communities": [[65001, 1, 2]], "next_hop": "10.1.2.10"}}}, "10.1.2.5": {"state": "connected", "routes": {}}}, "commands": 1, "acks": 1, "errors": 0}"#;

    #[test]
    fn parses_helper_status() {
        let status: Value = serde_json::from_str(STATUS).unwrap();
        let nva = Ipv4Addr::new(10, 1, 2, 4);
        assert_eq!(parse_state(&status, nva), SessionState::Established);
        assert_eq!(
            parse_state(&status, Ipv4Addr::new(10, 1, 2, 5)),
            SessionState::Other("connected".into())
        );
        assert!(!parse_state(&status, Ipv4Addr::new(10, 1, 2, 6)).is_established());
        let routes = parse_routes(&status, nva).unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[1].next_hop, Ipv4Addr::new(10, 1, 2, 10));
        assert_eq!(routes[1].as_path, vec![65001]);
        assert_eq!(routes[1].communities, vec![Community::new(65001, 100)]);
        assert_eq!(
            routes[1].large_communities,
            vec![LargeCommunity::new(65001, 1, 2)]
        );
        assert!(
            parse_routes(&status, Ipv4Addr::new(10, 1, 2, 5))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn rejects_malformed_status() {
        let bad: Value = serde_json::from_str(
            r#"{"peers": {"10.1.2.4": {"routes": {"1.0.0.0/8": {"next_hop": "10.1.2.4", "communities": [[70000, 1]]}}}}}"#,
        )
        .unwrap();
        assert!(parse_routes(&bad, Ipv4Addr::new(10, 1, 2, 4)).is_err());
        let no_next_hop: Value =
            serde_json::from_str(r#"{"peers": {"10.1.2.4": {"routes": {"1.0.0.0/8": {}}}}}"#)
                .unwrap();
        assert!(parse_routes(&no_next_hop, Ipv4Addr::new(10, 1, 2, 4)).is_err());
    }
}
