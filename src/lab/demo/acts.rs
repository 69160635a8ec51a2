//! Acts 3 and 4 of the demo: what nvabgp did, then failures and recovery,
//! each shown from nvabgp's side, the Route Servers' side and the wire.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use bgp_proto::Prefix;

use super::lab::{Findings, KernelFindings, Lab, Service};
use super::narration::{Interrupted, Narrator, seconds, wait};
use super::wire::{self, Change};
use super::{
    ANYCAST, ANYCAST_SERVICE, CHECK_INTERVAL, DEFAULT_ROUTE, KERNEL_WAIT, MIN_HOLD, RISE_FALL,
    STEP_TIMEOUT, VIP, VNET_PREFIXES, WEB, WEB_PORT, prefix,
};
use crate::config::KERNEL_PROTOCOL;
use crate::control::SessionState;
use crate::lab::Node;

/// Act 3: sessions, learned routes, what the Route Servers received,
/// health, kernel routes.
pub(super) fn act_established(
    lab: &Lab,
    narrator: &Narrator,
    findings: &mut Findings,
) -> anyhow::Result<()> {
    wait("both sessions to be Established", STEP_TIMEOUT, || {
        let neighbors = lab.neighbors()?;
        Ok((neighbors.len() == 2
            && neighbors
                .iter()
                .all(|n| n.state == SessionState::Established))
        .then_some(()))
    })?;
    let established = lab.daemon_started.map(|t| t.elapsed()).unwrap_or_default();

    // Learned: each VNet prefix from both instances, both in the ECMP set.
    let vnets: Vec<Prefix> = VNET_PREFIXES
        .iter()
        .map(|p| prefix(p))
        .collect::<Result<_, _>>()?;
    wait(
        "the VNet prefixes from both Route Servers",
        STEP_TIMEOUT,
        || {
            let routes = lab.routes("0.0.0.0/0")?;
            Ok(vnets
                .iter()
                .all(|p| {
                    routes.iter().any(|r| {
                        r.prefix == *p && r.paths.iter().filter(|path| path.multipath).count() == 2
                    })
                })
                .then_some(()))
        },
    )?;

    // Originated, as the receivers see them.
    let [default, anycast, vip] = [prefix(DEFAULT_ROUTE)?, prefix(ANYCAST)?, prefix(VIP)?];
    for (p, what) in [
        (default, "the default route"),
        (anycast, "the anycast route"),
    ] {
        lab.wait_received(&format!("{what} at both Route Servers"), p, |r| r.is_some())?;
    }
    lab.wait_received("the VIP via web-1 at both Route Servers", vip, |r| {
        r.is_some_and(|r| r.next_hop == WEB[0])
    })?;
    let settled = lab.daemon_started.map(|t| t.elapsed()).unwrap_or_default();
    narrator.say(&format!(
        "Both sessions Established {} after nvabgp started; routes exchanged within {}:",
        seconds(established),
        seconds(settled)
    ));
    narrator.shell("nvabgp neighbors", &lab.cli(&["neighbors"])?);
    narrator.say("\nLearned: each VNet prefix from both Route Server instances (ECMP; next hop = the instance, as Azure sends them):");
    narrator.shell("nvabgp routes", &lab.cli(&["routes"])?);
    narrator.say("\nAdvertised, nvabgp's side (the same to ars-1):");
    narrator.shell(
        "nvabgp routes --peer ars-0 --adj-out",
        &lab.cli(&["routes", "--peer", "ars-0", "--adj-out"])?,
    );
    narrator.say(&format!(
        "\nAdvertised, the receivers' side: what each Route Server holds ({}'s own view of its table):",
        lab.implementation
    ));
    narrator.say(&lab.route_server_views(None)?);
    narrator.say(&format!(
        "The VIP's next hop is web-1 ({}), the healthy candidate with the highest priority:",
        WEB[0]
    ));
    narrator.shell("nvabgp health", &lab.cli(&["health"])?);

    show_kernel(lab, narrator, findings, &vnets)
}

/// What the kernel holds, read back from the NVA's namespace: the pinned
/// routes and the learned ones the trap policy let through, and what that
/// policy kept out (from the agent's log: the control API does not report
/// it). A build that installs nothing gets a clearly marked note instead.
fn show_kernel(
    lab: &Lab,
    narrator: &Narrator,
    findings: &mut Findings,
    vnets: &[Prefix],
) -> anyhow::Result<()> {
    let first_word = |line: &str| line.split_whitespace().next().map(str::to_string);
    // Settled once every learned prefix is either installed or refused.
    let settled = wait("learned routes in the kernel", KERNEL_WAIT, || {
        let text = lab.kernel_routes()?;
        let refused = lab.kernel_refusals();
        let installed: Vec<Prefix> = vnets
            .iter()
            .filter(|p| text.lines().any(|l| first_word(l) == Some(p.to_string())))
            .copied()
            .collect();
        let accounted = vnets
            .iter()
            .all(|p| installed.contains(p) || refused.iter().any(|(r, _)| *r == p.to_string()));
        Ok(accounted.then_some((text, installed, refused)))
    });
    let command =
        format!("ip route show proto {KERNEL_PROTOCOL}      # {KERNEL_PROTOCOL} = nvabgp");
    let (text, installed, refused) = match settled {
        Ok(found) => found,
        Err(e) if e.is::<Interrupted>() => return Err(e),
        Err(_) => {
            // KERNEL: a build whose daemon installs no route (the [kernel]
            // section parsed, the installer not started) lands here.
            narrator.say(&format!(
                "\n[kernel] NOT SHOWN: after {}, the NVA's kernel holds none of the learned routes, and\n\
                 nvabgp logged no reason: this build does not install learned routes.",
                seconds(KERNEL_WAIT)
            ));
            narrator.shell(&command, &lab.kernel_routes().unwrap_or_default());
            return Ok(());
        }
    };
    let pinned: Vec<String> = text
        .lines()
        .filter_map(first_word)
        .filter(|w| !vnets.iter().any(|p| p.to_string() == *w))
        .collect();
    let gateway = lab.topology.options().nva_gateway;
    narrator.say("\nIn the NVA's kernel, written by nvabgp:");
    narrator.shell(&command, &text);
    narrator.say(&format!(
        "pinned via the virtual router {gateway} before any session: {}\n\
         learned, via the virtual router (Azure's Route Server next hops are never on-link): {}",
        list(&pinned),
        list(
            &installed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        ),
    ));
    if !refused.is_empty() {
        narrator.say("kept out on purpose (nvabgp's log):");
        for (prefix, reason) in &refused {
            narrator.say(&format!(
                "  {prefix}  {reason}: {}",
                refusal_meaning(reason)
            ));
        }
    }
    findings.kernel = Some(KernelFindings {
        pinned,
        installed,
        refused,
    });
    Ok(())
}

/// `a, b`, or `none`.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// What the kernel policy's refusal reasons (`crate::kernel::RefusalReason`)
/// protect against, for people.
fn refusal_meaning(reason: &str) -> &'static str {
    match reason {
        "covers-pinned" => "it covers the pinned Route Server subnet (the recursive next hop trap)",
        "covers-peer" => "it covers a peer's address (the recursive next hop trap)",
        "default-pinned" => "our own default route is pinned (the default-route loop)",
        "covers-metadata" => "it covers Azure's metadata or platform address",
        "originated" => "we originate it ourselves",
        _ => "see the log",
    }
}

/// How many UPDATEs per Route Server touched `prefix` so far on the wire.
fn wire_marks(lab: &Lab, prefix: Prefix) -> Vec<usize> {
    let Some(capture) = &lab.capture else {
        return Vec::new();
    };
    let updates = capture.updates();
    lab.topology
        .rs_addresses()
        .iter()
        .map(|a| {
            updates.get(a).map_or(0, |u| {
                u.iter().filter(|u| u.change_of(prefix).is_some()).count()
            })
        })
        .collect()
}

/// What the wire showed for one change.
struct WireResult {
    /// Exactly one UPDATE touched the prefix on every session, the
    /// expected one.
    one_update: bool,
    /// Per Route Server, when the expected UPDATE was captured (seconds).
    times: Vec<f64>,
}

const ONE_UPDATE: &str = "one UPDATE per Route Server";

/// Shows the UPDATEs that touched `prefix` on each session since `marks`
/// ([`wire_marks`]) and checks they are exactly one, `expected` (recorded
/// as a problem otherwise). `None` without a capture.
fn show_wire(
    lab: &Lab,
    narrator: &Narrator,
    findings: &mut Findings,
    prefix: Prefix,
    marks: &[usize],
    expected: Change,
) -> anyhow::Result<Option<WireResult>> {
    let Some(capture) = &lab.capture else {
        return Ok(None);
    };
    let addresses = lab.topology.rs_addresses();
    // The Route Servers already hold the result, so the UPDATE was
    // captured; the file may trail by a write.
    let per_peer = wait("the UPDATEs in the capture", Duration::from_secs(5), || {
        let updates = capture.updates();
        let since: Vec<Vec<wire::Update>> = addresses
            .iter()
            .zip(marks)
            .map(|(a, mark)| {
                updates
                    .get(a)
                    .map(|u| {
                        u.iter()
                            .filter(|u| u.change_of(prefix).is_some())
                            .skip(*mark)
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        Ok(since
            .iter()
            .all(|s| s.iter().any(|u| u.change_of(prefix) == Some(expected)))
            .then_some(since))
    })?;
    narrator.say("On the wire (tcpdump on the Route Servers' link, decoded by nvabgp's decoder):");
    let mut result = WireResult {
        one_update: true,
        times: Vec::new(),
    };
    for (address, updates) in addresses.iter().zip(&per_peer) {
        for u in updates {
            narrator.say(&format!("  to {address}: {}", u.summary()));
        }
        let found = updates
            .iter()
            .find(|u| u.change_of(prefix) == Some(expected));
        result.times.extend(found.map(|u| u.time));
        result.one_update &= updates.len() == 1 && found.is_some();
    }
    if !result.one_update {
        let problem = format!(
            "{prefix}: expected exactly one UPDATE ({expected:?}) per Route Server, saw {:?}",
            per_peer.iter().map(Vec::len).collect::<Vec<_>>()
        );
        narrator.say(&format!("!! {problem}"));
        findings.problems.push(problem);
    }
    Ok(Some(result))
}

/// Act 4: the active web server fails, then the anycast service; both
/// return.
pub(super) fn act_failures(
    lab: &mut Lab,
    narrator: &Narrator,
    findings: &mut Findings,
) -> anyhow::Result<()> {
    let (anycast, vip) = (prefix(ANYCAST)?, prefix(VIP)?);
    let [web1, web2] = WEB;

    narrator.say(&format!("web-1 ({web1}:{WEB_PORT}) stops answering."));
    let marks = wire_marks(lab, vip);
    lab.web[0] = None;
    let took = lab.wait_received("the VIP to move to web-2", vip, |r| {
        r.is_some_and(|r| r.next_hop == web2)
    })?;
    let moved = Instant::now();
    findings.failover = Some(took);
    narrator.say(&format!(
        "{} later ({RISE_FALL} failed checks, {CHECK_INTERVAL} s apart), both Route Servers have the VIP via web-2:",
        seconds(took)
    ));
    narrator.say(&lab.route_server_views(Some(vip))?);
    let failover_wire = show_wire(
        lab,
        narrator,
        findings,
        vip,
        &marks,
        Change::Announce(Some(web2)),
    )?;
    findings.failover_wire = failover_wire.as_ref().map(|w| {
        if w.one_update {
            ONE_UPDATE.to_string()
        } else {
            format!("NOT {ONE_UPDATE}")
        }
    });
    if failover_wire.as_ref().is_some_and(|w| w.one_update) {
        narrator.say("=> the next hop moved in ONE UPDATE, no withdraw in between (Azure would apply it as one change).");
    }

    narrator.say(&format!(
        "\nThe anycast service ({ANYCAST_SERVICE}) stops answering."
    ));
    let marks = wire_marks(lab, anycast);
    lab.dns = None;
    let took = lab.wait_received("the anycast route to be withdrawn", anycast, |r| {
        r.is_none()
    })?;
    findings.anycast_down = Some(took);
    narrator.say(&format!(
        "{} later, {ANYCAST} is withdrawn at both Route Servers:",
        seconds(took)
    ));
    narrator.say(&lab.route_server_views(Some(anycast))?);
    show_wire(lab, narrator, findings, anycast, &marks, Change::Withdraw)?;
    narrator.shell("nvabgp health", &lab.cli(&["health"])?);

    narrator.say("Both come back.");
    let nva_ns = lab.topology.namespace(Node::Nva).to_string();
    let vr_ns = lab.topology.namespace(Node::VirtualRouter).to_string();
    lab.dns = Some(Service::start(&nva_ns, ANYCAST_SERVICE)?);
    lab.web[0] = Some(Service::start(&vr_ns, SocketAddrV4::new(web1, WEB_PORT))?);
    let restored = Instant::now();
    let took = lab.wait_received("the anycast route to return", anycast, |r| r.is_some())?;
    findings.anycast_up = Some(took);
    narrator.say(&format!(
        "{ANYCAST} is announced again after {} ({RISE_FALL} good checks).",
        seconds(took)
    ));
    let marks = wire_marks(lab, vip);
    lab.wait_received("the VIP to return to web-1", vip, |r| {
        r.is_some_and(|r| r.next_hop == web1)
    })?;
    let took = restored.elapsed();
    narrator.say(&format!(
        "The VIP is back on web-1 {} after it returned: preempt waits for {RISE_FALL} good checks\n\
         and for min_hold = {MIN_HOLD} s since the last change (no flapping).",
        seconds(took)
    ));
    narrator.say(&lab.route_server_views(Some(vip))?);
    let back_wire = show_wire(
        lab,
        narrator,
        findings,
        vip,
        &marks,
        Change::Announce(Some(web1)),
    )?;
    // The hold, measured where it matters: between the two UPDATEs on the
    // wire (the receivers' tables are polled, so they see changes late).
    let hold = match (&failover_wire, &back_wire) {
        (Some(a), Some(b)) if a.times.len() == b.times.len() && !a.times.is_empty() => a
            .times
            .iter()
            .zip(&b.times)
            .map(|(a, b)| Duration::from_secs_f64((b - a).max(0.0)))
            .min(),
        _ => None,
    };
    match hold {
        Some(hold) => {
            narrator.say(&format!(
                "=> {} between the failover UPDATE and this one (min_hold = {MIN_HOLD} s).",
                seconds(hold)
            ));
            // A millisecond of slack for the capture's clock.
            if hold + Duration::from_millis(1) < Duration::from_secs(MIN_HOLD) {
                findings.problems.push(format!(
                    "the VIP returned {} after the failover, before min_hold",
                    seconds(hold)
                ));
            }
        }
        None => narrator.say(&format!(
            "=> about {} after the failover (min_hold = {MIN_HOLD} s).",
            seconds(moved.elapsed())
        )),
    }
    findings.preempt = Some((took, hold.unwrap_or_else(|| moved.elapsed())));
    Ok(())
}
