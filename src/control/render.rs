//! Answers as text for people: aligned tables in the manner of
//! `birdc show protocols`, one line for a change. Scripts use `--json`.

use std::fmt::Write as _;

use super::types::{
    Announced, Change, DrainMode, Drained, HealthCheck, Neighbor, NextHopSet, Response, Route,
    RoutePath, SessionState, Status, Undrained, Withdrawn,
};

/// The answer as text, ending with a newline.
pub fn render(response: &Response) -> String {
    match response {
        Response::Status(s) => status(s),
        Response::Neighbors(n) => neighbors(n),
        Response::Routes(r) => routes(r),
        Response::Health(h) => health(h),
        Response::Announced(a) => announced(a),
        Response::Withdrawn(w) => withdrawn(w),
        Response::NextHopSet(n) => next_hop_set(n),
        Response::Drained(d) => drained(d),
        Response::Undrained(u) => undrained(u),
    }
}

/// `status`.
pub fn status(s: &Status) -> String {
    let drain = match s.drain {
        None => "no (in service)".to_owned(),
        Some(DrainMode::Withdraw) => "yes: originated routes withdrawn".to_owned(),
        Some(DrainMode::Prepend { count }) => {
            format!("yes: originated routes prepended {count} more times")
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "nvabgp {}: AS {}, router ID {}, up {}",
        s.version,
        s.asn,
        s.router_id,
        duration(s.uptime_secs)
    );
    let _ = writeln!(
        out,
        "peers    {} configured, {} established",
        s.peers_configured, s.peers_established
    );
    let _ = writeln!(
        out,
        "loc-rib  {}, {}",
        count(s.loc_rib_prefixes, "prefix", "prefixes"),
        count(s.attribute_sets, "attribute set", "attribute sets")
    );
    let _ = writeln!(out, "drained  {drain}");
    match &s.kernel {
        None => {
            let _ = writeln!(out, "kernel   not managed");
        }
        Some(k) => {
            let via = k
                .virtual_router
                .map_or_else(|| "-".to_owned(), |v| v.to_string());
            let _ = writeln!(
                out,
                "kernel   {} of {} pinned via {via}, {} learned installed, {} pending, {} restored, {} errors",
                k.pinned, k.pinned_wanted, k.installed, k.pending, k.restored, k.errors
            );
            if !k.refused.is_empty() {
                let list: Vec<String> = k.refused.iter().map(|(r, n)| format!("{r} {n}")).collect();
                let _ = writeln!(out, "refused  {}", list.join(", "));
            }
        }
    }
    out
}

/// `neighbors`: one row per peer.
pub fn neighbors(list: &[Neighbor]) -> String {
    if list.is_empty() {
        return "no neighbors configured\n".into();
    }
    let mut t = Table::new(&[
        "NAME",
        "ADDRESS",
        "ASN",
        "STATE",
        "SINCE",
        "RECEIVED",
        "ACCEPTED",
        "ADVERTISED",
        "INFO",
    ]);
    for n in list {
        let info = if n.state == SessionState::Established {
            n.families.join(" ")
        } else {
            n.last_error.clone().unwrap_or_default()
        };
        t.row(vec![
            n.name.clone(),
            n.address.to_string(),
            n.asn.to_string(),
            n.state.to_string(),
            n.uptime_secs.map_or_else(|| "-".into(), duration),
            n.prefixes_received.to_string(),
            n.prefixes_accepted.to_string(),
            n.prefixes_advertised.to_string(),
            info,
        ]);
    }
    t.render()
}

/// `routes`: one row per path, the prefix on its first; `*` marks the best
/// path, `=` the other members of its ECMP set.
pub fn routes(list: &[Route]) -> String {
    if list.is_empty() {
        return "no routes\n".into();
    }
    let mut t = Table::new(&[
        "",
        "PREFIX",
        "NEXT HOP",
        "PEER",
        "AS PATH",
        "ORIGIN",
        "MED",
        "LOCPREF",
        "COMMUNITIES",
    ]);
    for route in list {
        for (i, path) in route.paths.iter().enumerate() {
            let flag = if path.best {
                "*"
            } else if path.multipath {
                "="
            } else {
                ""
            };
            let prefix = if i == 0 {
                route.prefix.to_string()
            } else {
                String::new()
            };
            t.row(vec![
                flag.into(),
                prefix,
                path.next_hop.to_string(),
                path.peer.clone().unwrap_or_else(|| "(local)".into()),
                as_path(path),
                path.origin.name().into(),
                optional(path.med),
                optional(path.local_pref),
                communities(path),
            ]);
        }
    }
    t.render()
}

/// `health`: one row per check.
pub fn health(list: &[HealthCheck]) -> String {
    if list.is_empty() {
        return "no health checks configured\n".into();
    }
    let mut t = Table::new(&["NAME", "KIND", "TARGET", "STATE", "SINCE", "DETAIL"]);
    for h in list {
        t.row(vec![
            h.name.clone(),
            h.kind.clone(),
            h.target.clone(),
            h.state.name().into(),
            h.last_change_secs.map_or_else(|| "-".into(), duration),
            h.detail.clone().unwrap_or_default(),
        ]);
    }
    t.render()
}

fn announced(a: &Announced) -> String {
    match a.change {
        Change::Unchanged => format!("{} already announced as given: nothing sent\n", a.prefix),
        Change::New => format!("announced {}{}\n", a.prefix, to_peers(a.peers)),
        Change::Replaced => format!(
            "announced {} with new attributes (one UPDATE){}\n",
            a.prefix,
            to_peers(a.peers)
        ),
    }
}

fn withdrawn(w: &Withdrawn) -> String {
    format!("withdrew {}{}\n", w.prefix, to_peers(w.peers))
}

fn next_hop_set(n: &NextHopSet) -> String {
    if n.previous == n.next_hop {
        return format!(
            "{} already has next hop {}: nothing sent\n",
            n.prefix, n.next_hop
        );
    }
    format!(
        "{}: next hop {} -> {} (one UPDATE){}\n",
        n.prefix,
        n.previous,
        n.next_hop,
        to_peers(n.peers)
    )
}

fn drained(d: &Drained) -> String {
    let what = match d.mode {
        DrainMode::Withdraw => "withdrew".to_owned(),
        DrainMode::Prepend { count } => format!("prepended our ASN {count} more times to"),
    };
    format!(
        "drained: {what} {}{}\n",
        count(d.prefixes, "originated prefix", "originated prefixes"),
        to_peers(d.peers)
    )
}

fn undrained(u: &Undrained) -> String {
    format!(
        "back in service: announced {}{}\n",
        count(u.prefixes, "originated prefix", "originated prefixes"),
        to_peers(u.peers)
    )
}

fn to_peers(peers: usize) -> String {
    if peers == 0 {
        "; no established peer now: it goes out when a session comes up".into()
    } else {
        format!(" to {}", count(peers, "peer", "peers"))
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn optional(v: Option<u32>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The AS path as `show ip bgp` writes it: sets in braces, confederation
/// segments in parentheses.
fn as_path(p: &RoutePath) -> String {
    let text = match &p.as_path_segments {
        None => join(&p.as_path),
        Some(segments) => segments
            .iter()
            .map(|s| match s.segment_type.as_str() {
                "AS_SET" => format!("{{{}}}", join(&s.asns)),
                "AS_CONFED_SEQUENCE" => format!("({})", join(&s.asns)),
                "AS_CONFED_SET" => format!("({{{}}})", join(&s.asns)),
                _ => join(&s.asns),
            })
            .collect::<Vec<_>>()
            .join(" "),
    };
    if text.is_empty() { "-".into() } else { text }
}

fn join(asns: &[u32]) -> String {
    asns.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn communities(p: &RoutePath) -> String {
    let all: Vec<String> = p
        .communities
        .iter()
        .map(|c| {
            c.well_known_name()
                .map_or_else(|| c.to_string(), str::to_owned)
        })
        .chain(p.large_communities.iter().map(ToString::to_string))
        .collect();
    if all.is_empty() {
        "-".into()
    } else {
        all.join(" ")
    }
}

/// Seconds as the two largest units: `45s`, `12m05s`, `2h13m`, `3d04h`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Columns padded to their widest cell, two spaces apart, no trailing
/// blanks.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (cell, width) in row.iter().zip(&widths) {
                if !line.is_empty() || *width > 0 {
                    let _ = write!(line, "{cell:<width$}  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::types::{AsPathSegment, NextHop};
    use bgp_proto::{Community, LargeCommunity, Origin};

    #[test]
    fn status_shows_the_kernel_and_its_refusals() {
        let mut s = Status {
            version: "0.1.0".into(),
            asn: 65001,
            router_id: "10.1.2.4".parse().unwrap(),
            uptime_secs: 61,
            peers_configured: 2,
            peers_established: 2,
            loc_rib_prefixes: 3,
            attribute_sets: 1,
            drain: None,
            kernel: None,
        };
        assert!(status(&s).contains("kernel   not managed"));
        s.kernel = Some(crate::control::KernelStatus {
            virtual_router: Some("10.1.2.1".parse().unwrap()),
            pinned: 2,
            pinned_wanted: 2,
            installed: 1,
            pending: 0,
            refused: [
                ("covers-pinned".to_string(), 1),
                ("default-pinned".to_string(), 2),
            ]
            .into_iter()
            .collect(),
            restored: 1,
            errors: 0,
        });
        let out = status(&s);
        assert!(
            out.contains("2 of 2 pinned via 10.1.2.1, 1 learned installed"),
            "{out}"
        );
        assert!(
            out.contains("refused  covers-pinned 1, default-pinned 2"),
            "{out}"
        );
    }

    fn neighbor(name: &str, state: SessionState) -> Neighbor {
        Neighbor {
            name: name.into(),
            address: "10.1.1.4".parse().unwrap(),
            asn: 65515,
            state,
            uptime_secs: (state == SessionState::Established).then_some(7980),
            local_address: None,
            hold_time: 180,
            keepalive: 60,
            four_octet_as: None,
            route_refresh: None,
            families: vec!["ipv4-unicast".into()],
            prefixes_received: 12,
            prefixes_accepted: 11,
            prefixes_advertised: 3,
            messages_in: 100,
            messages_out: 90,
            last_error: Some("Hold Timer Expired".into()),
        }
    }

    #[test]
    fn neighbors_line_up_in_columns() {
        let text = neighbors(&[
            neighbor("ars-0", SessionState::Established),
            neighbor("route-server-1", SessionState::Active),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "NAME            ADDRESS   ASN    STATE        SINCE  RECEIVED  ACCEPTED  ADVERTISED  INFO"
        );
        assert_eq!(
            lines[1],
            "ars-0           10.1.1.4  65515  Established  2h13m  12        11        3           ipv4-unicast"
        );
        assert_eq!(
            lines[2],
            "route-server-1  10.1.1.4  65515  Active       -      12        11        3           Hold Timer Expired"
        );
        assert_eq!(neighbors(&[]), "no neighbors configured\n");
    }

    #[test]
    fn routes_flag_the_best_and_multipath_paths() {
        let path = |peer: &str, best, multipath| RoutePath {
            peer: Some(peer.into()),
            next_hop: NextHop::Address("10.1.1.4".parse().unwrap()),
            as_path: vec![65515],
            as_path_segments: None,
            origin: Origin::Igp,
            med: None,
            local_pref: Some(100),
            communities: vec![Community::new(65515, 1), Community::NO_ADVERTISE],
            large_communities: vec![LargeCommunity::new(65001, 1, 2)],
            best,
            multipath,
        };
        let mut set = path("ars-1", false, false);
        set.as_path = vec![65001, 65002, 65003];
        set.as_path_segments = Some(vec![
            AsPathSegment {
                segment_type: "AS_SEQUENCE".into(),
                asns: vec![65001],
            },
            AsPathSegment {
                segment_type: "AS_SET".into(),
                asns: vec![65002, 65003],
            },
        ]);
        set.communities.clear();
        set.large_communities.clear();
        let text = routes(&[Route {
            prefix: "10.0.0.0/16".parse().unwrap(),
            paths: vec![path("ars-0", true, true), path("ars-1", false, true), set],
        }]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "   PREFIX       NEXT HOP  PEER   AS PATH              ORIGIN  MED  LOCPREF  COMMUNITIES",
                "*  10.0.0.0/16  10.1.1.4  ars-0  65515                igp     -    100      65515:1 no-advertise 65001:1:2",
                "=               10.1.1.4  ars-1  65515                igp     -    100      65515:1 no-advertise 65001:1:2",
                "                10.1.1.4  ars-1  65001 {65002 65003}  igp     -    100      -",
            ]
        );
    }

    #[test]
    fn durations_show_the_two_largest_units() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(725), "12m05s");
        assert_eq!(duration(7980), "2h13m");
        assert_eq!(duration(3 * 86_400 + 4 * 3600 + 59), "3d04h");
    }
}
