//! What may go into the kernel, and via which gateway: the Azure traps
//! (design.md §1) as a pure function of the learned route and what we know
//! of this machine. No I/O here, so every rule has a unit test.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use bgp_proto::Prefix;

use super::prefix_map::PrefixMap;
use crate::config::PinMode;

/// Azure's Instance Metadata Service.
pub const IMDS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// Azure's platform address (DHCP, DNS, health probes, VM agent).
pub const WIRESERVER: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);

/// Why a learned route is kept out of the kernel (each is counted and
/// logged once per prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefusalReason {
    /// Equal to or covering a pinned prefix: the recursive next hop trap
    /// (the Route Server's own subnet learned from it).
    CoversPinned,
    /// Covering a peer address: the same trap where the peer is not pinned.
    CoversPeer,
    /// A default route while ours is pinned: the default-route loop.
    DefaultPinned,
    /// Covering 169.254.169.254 or 168.63.129.16, which must stay reachable
    /// through the platform.
    CoversMetadata,
    /// A next hop is one of this machine's addresses (a loop to ourselves).
    NextHopIsLocal,
    /// A prefix we originate ourselves.
    Originated,
    /// No gateway the kernel can use (an IPv6 next hop off our subnets:
    /// Azure has no IPv6 virtual router for us to use).
    NoGateway,
    /// A route of another protocol holds the same table, prefix and metric:
    /// we never overwrite it.
    ForeignRoute,
}

impl RefusalReason {
    /// Every reason, in a stable order (for counters and metrics).
    pub const ALL: [Self; 8] = [
        Self::CoversPinned,
        Self::CoversPeer,
        Self::DefaultPinned,
        Self::CoversMetadata,
        Self::NextHopIsLocal,
        Self::Originated,
        Self::NoGateway,
        Self::ForeignRoute,
    ];

    /// A short stable name (logs, metrics, JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CoversPinned => "covers-pinned",
            Self::CoversPeer => "covers-peer",
            Self::DefaultPinned => "default-pinned",
            Self::CoversMetadata => "covers-metadata",
            Self::NextHopIsLocal => "next-hop-is-local",
            Self::Originated => "originated",
            Self::NoGateway => "no-gateway",
            Self::ForeignRoute => "foreign-route",
        }
    }

    /// Index into [`Self::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Azure virtual router of a subnet: its first host (10.1.2.0/24 ->
/// 10.1.2.1). `None` for /31 and /32, which have no such host.
pub fn first_host(address: Ipv4Addr, prefix_len: u8) -> Option<Ipv4Addr> {
    if prefix_len > 30 {
        return None;
    }
    let mask = if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - prefix_len)
    };
    Some(Ipv4Addr::from((u32::from(address) & mask) + 1))
}

/// The prefixes to pin via the virtual router.
pub fn pinned_prefixes(
    mode: PinMode,
    route_server_subnets: &[Prefix],
    peers: &[IpAddr],
    connected: &[Prefix],
    pin_default: bool,
) -> Vec<Prefix> {
    let mut out: Vec<Prefix> = Vec::new();
    let subnets = matches!(mode, PinMode::Subnets)
        || (mode == PinMode::Auto && !route_server_subnets.is_empty());
    let addresses = matches!(mode, PinMode::Peers)
        || (mode == PinMode::Auto && route_server_subnets.is_empty());
    if subnets {
        out.extend(route_server_subnets.iter().filter(|p| p.is_ipv4()));
    }
    if addresses {
        for &peer in peers {
            // A peer on one of our subnets is reached directly, not via the
            // virtual router; pinning it would break that.
            if peer.is_ipv4()
                && !connected.iter().any(|c| c.contains_addr(peer))
                && let Ok(p) = Prefix::new(peer, 32)
            {
                out.push(p);
            }
        }
    }
    if pin_default {
        out.push(Prefix::V4(0, 0));
    }
    out.sort();
    out.dedup();
    out
}

/// What the traps are checked against; rebuilt when addresses or our own
/// prefixes change.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Pinned prefixes (the default route among them when pinned).
    pub pinned: Vec<Prefix>,
    /// BGP peer addresses.
    pub peers: Vec<IpAddr>,
    /// This machine's addresses.
    pub local: HashSet<IpAddr>,
    /// Subnets of this machine's addresses.
    pub connected: Vec<Prefix>,
    /// Prefixes we originate.
    pub originated: PrefixMap<()>,
    /// The Azure virtual router (IPv4 gateway for off-subnet next hops).
    pub virtual_router: Option<Ipv4Addr>,
}

impl Policy {
    fn default_pinned(&self, prefix: &Prefix) -> bool {
        prefix.is_default() && self.pinned.contains(prefix)
    }

    /// The kernel gateways for a learned route with BGP `next_hops`
    /// (sorted, without duplicates), or why it must stay out.
    pub fn evaluate(
        &self,
        prefix: &Prefix,
        next_hops: &[IpAddr],
    ) -> Result<Vec<IpAddr>, RefusalReason> {
        self.check_prefix(prefix)?;
        self.gateways(prefix.is_ipv4(), next_hops)
    }

    /// The traps that depend on the prefix alone.
    pub fn check_prefix(&self, prefix: &Prefix) -> Result<(), RefusalReason> {
        if self.default_pinned(prefix) {
            return Err(RefusalReason::DefaultPinned);
        }
        if [IMDS, WIRESERVER]
            .iter()
            .any(|a| prefix.contains_addr(IpAddr::V4(*a)))
        {
            return Err(RefusalReason::CoversMetadata);
        }
        if self.pinned.iter().any(|p| prefix.covers(p)) {
            return Err(RefusalReason::CoversPinned);
        }
        if self.peers.iter().any(|a| prefix.contains_addr(*a)) {
            return Err(RefusalReason::CoversPeer);
        }
        if self.originated.contains_key(prefix) {
            return Err(RefusalReason::Originated);
        }
        Ok(())
    }

    /// The gateways for BGP `next_hops` of an IPv4 (`v4`) or IPv6 route:
    /// the rules that depend on the next hops alone (so a caller can reuse
    /// the answer for every prefix with the same next hops).
    pub fn gateways(&self, v4: bool, next_hops: &[IpAddr]) -> Result<Vec<IpAddr>, RefusalReason> {
        if next_hops.iter().any(|n| self.local.contains(n)) {
            return Err(RefusalReason::NextHopIsLocal);
        }
        let mut gateways = Vec::with_capacity(next_hops.len());
        for &next_hop in next_hops {
            let gateway = if self.connected.iter().any(|c| c.contains_addr(next_hop)) {
                // On our subnet: the learned next hop itself.
                next_hop
            } else if next_hop.is_ipv4() && v4 {
                // Off-link (the Route Server's next hop is never on-link):
                // Azure forwards through the subnet's virtual router.
                match self.virtual_router {
                    Some(vr) => IpAddr::V4(vr),
                    None => return Err(RefusalReason::NoGateway),
                }
            } else {
                return Err(RefusalReason::NoGateway);
            };
            if gateway.is_ipv4() != v4 {
                return Err(RefusalReason::NoGateway);
            }
            gateways.push(gateway);
        }
        if gateways.is_empty() {
            return Err(RefusalReason::NoGateway);
        }
        gateways.sort();
        gateways.dedup();
        Ok(gateways)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn policy() -> Policy {
        let connected = vec![p("10.1.2.0/24")];
        let peers = vec![a("10.1.1.4"), a("10.1.1.5")];
        Policy {
            pinned: pinned_prefixes(PinMode::Auto, &[p("10.1.1.0/27")], &peers, &connected, true),
            peers,
            local: [a("10.1.2.4")].into_iter().collect(),
            connected,
            originated: [p("100.64.0.0/24")].into_iter().collect(),
            virtual_router: Some(Ipv4Addr::new(10, 1, 2, 1)),
        }
    }

    #[test]
    fn virtual_router_is_the_first_host() {
        assert_eq!(
            first_host(Ipv4Addr::new(10, 1, 2, 4), 24),
            Some(Ipv4Addr::new(10, 1, 2, 1))
        );
        assert_eq!(
            first_host(Ipv4Addr::new(10, 1, 2, 200), 25),
            Some(Ipv4Addr::new(10, 1, 2, 129))
        );
        assert_eq!(first_host(Ipv4Addr::new(10, 1, 2, 4), 31), None);
        assert_eq!(
            first_host(Ipv4Addr::new(10, 1, 2, 4), 0),
            Some(Ipv4Addr::new(0, 0, 0, 1))
        );
    }

    #[test]
    fn pins_subnets_or_peers() {
        let peers = [a("10.1.1.4"), a("10.1.2.9"), a("2001:db8::1")];
        let connected = [p("10.1.2.0/24")];
        assert_eq!(
            pinned_prefixes(PinMode::Auto, &[p("10.1.1.0/27")], &peers, &connected, true),
            vec![p("0.0.0.0/0"), p("10.1.1.0/27")]
        );
        // Peers: on-link and IPv6 peers are not pinned.
        assert_eq!(
            pinned_prefixes(PinMode::Auto, &[], &peers, &connected, false),
            vec![p("10.1.1.4/32")]
        );
        assert_eq!(
            pinned_prefixes(
                PinMode::None,
                &[p("10.1.1.0/27")],
                &peers,
                &connected,
                false
            ),
            vec![]
        );
    }

    #[test]
    fn gateway_is_the_virtual_router_or_the_connected_next_hop() {
        let pol = policy();
        assert_eq!(
            pol.evaluate(&p("192.0.2.0/24"), &[a("10.1.1.4")]),
            Ok(vec![a("10.1.2.1")])
        );
        assert_eq!(
            pol.evaluate(&p("192.0.2.0/24"), &[a("10.1.2.7")]),
            Ok(vec![a("10.1.2.7")])
        );
        // Two Route Server next hops collapse into one gateway; two NVAs
        // on our subnet make an ECMP pair.
        assert_eq!(
            pol.evaluate(&p("192.0.2.0/24"), &[a("10.1.1.5"), a("10.1.1.4")]),
            Ok(vec![a("10.1.2.1")])
        );
        assert_eq!(
            pol.evaluate(&p("192.0.2.0/24"), &[a("10.1.2.9"), a("10.1.2.7")]),
            Ok(vec![a("10.1.2.7"), a("10.1.2.9")])
        );
    }

    #[test]
    fn every_trap_is_refused_with_its_reason() {
        let pol = policy();
        let rs = [a("10.1.1.4")];
        let cases = [
            ("0.0.0.0/0", RefusalReason::DefaultPinned),
            ("169.254.0.0/16", RefusalReason::CoversMetadata),
            ("168.63.129.16/32", RefusalReason::CoversMetadata),
            ("10.1.1.0/27", RefusalReason::CoversPinned),
            ("10.0.0.0/8", RefusalReason::CoversPinned),
            ("10.1.1.4/30", RefusalReason::CoversPeer),
            ("100.64.0.0/24", RefusalReason::Originated),
        ];
        for (prefix, reason) in cases {
            assert_eq!(pol.evaluate(&p(prefix), &rs), Err(reason), "{prefix}");
        }
        assert_eq!(
            pol.evaluate(&p("192.0.2.0/24"), &[a("10.1.2.4")]),
            Err(RefusalReason::NextHopIsLocal)
        );
        // A more specific of our own prefix is not ours.
        assert!(pol.evaluate(&p("100.64.0.0/25"), &rs).is_ok());
        // A more specific inside the Route Server subnet that holds no
        // peer address is allowed.
        assert!(pol.evaluate(&p("10.1.1.16/28"), &rs).is_ok());
    }

    #[test]
    fn without_a_pinned_default_a_learned_default_still_covers_metadata() {
        let mut pol = policy();
        pol.pinned.retain(|p| !p.is_default());
        assert_eq!(
            pol.evaluate(&p("0.0.0.0/0"), &[a("10.1.1.4")]),
            Err(RefusalReason::CoversMetadata)
        );
    }

    #[test]
    fn ipv6_needs_a_connected_next_hop() {
        let mut pol = policy();
        pol.connected.push(p("2001:db8:1::/64"));
        assert_eq!(
            pol.evaluate(&p("2001:db8:9::/48"), &[a("2001:db8:1::7")]),
            Ok(vec![a("2001:db8:1::7")])
        );
        assert_eq!(
            pol.evaluate(&p("2001:db8:9::/48"), &[a("2001:db8:2::7")]),
            Err(RefusalReason::NoGateway)
        );
        // An IPv4 route via an IPv6 next hop (RFC 8950) is not supported.
        assert_eq!(
            pol.evaluate(&p("192.0.2.0/24"), &[a("2001:db8:1::7")]),
            Err(RefusalReason::NoGateway)
        );
        pol.virtual_router = None;
        assert_eq!(
            pol.evaluate(&p("192.0.2.0/24"), &[a("10.1.1.4")]),
            Err(RefusalReason::NoGateway)
        );
        assert_eq!(
            pol.evaluate(&p("192.0.2.0/24"), &[]),
            Err(RefusalReason::NoGateway)
        );
    }
}
