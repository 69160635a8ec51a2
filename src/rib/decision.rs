//! The RFC 4271 §9.1.2.2 decision process, as a pure function over the
//! candidate paths of one prefix.
//!
//! The RFC describes elimination in steps rather than a comparison, because
//! MED is only compared between routes from the same neighboring AS, which
//! makes a pairwise comparison intransitive. [`select`] follows the steps
//! literally. It also returns the multipath set: the paths equal to the
//! best one up to the eBGP/iBGP step and from the same neighboring AS, which
//! is what Azure Route Server's two instances produce for every VNet prefix.

use std::net::{IpAddr, Ipv4Addr};

use super::attrs::{PathAttrs, Session};

/// What the decision process needs to know about the peer a path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// Peer address.
    pub address: IpAddr,
    /// Peer AS.
    pub asn: u32,
    /// Peer BGP identifier.
    pub router_id: Ipv4Addr,
    /// Internal or external.
    pub session: Session,
}

/// One candidate path.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The route's attributes.
    pub attrs: &'a PathAttrs,
    /// Where it came from.
    pub peer: &'a PeerInfo,
}

impl Candidate<'_> {
    /// The neighboring AS for the MED comparison (RFC 4271 §9.1.2.2 c): the
    /// first AS of the path, or our own AS for a path without one.
    fn neighbor_as(&self) -> Option<u32> {
        self.attrs.as_path.first_asn()
    }

    /// The identifier for tie-breaking: ORIGINATOR_ID when present
    /// (RFC 4456 §9), else the peer's BGP identifier.
    fn router_id(&self) -> Ipv4Addr {
        self.attrs.originator_id.unwrap_or(self.peer.router_id)
    }

    fn med(&self) -> u32 {
        // RFC 4271 §9.1.2.2 c: a missing MED counts as the lowest value.
        self.attrs.med.unwrap_or(0)
    }
}

/// The result of the decision for one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Index of the best path in the input.
    pub best: usize,
    /// Indices of the paths that share the best one's preference (best
    /// included, first), for ECMP.
    pub multipath: Vec<usize>,
}

/// Up to this many candidates, [`select`] keeps its working sets on the
/// stack.
const SMALL: usize = 16;

/// Runs the decision process over `candidates`; `None` when there are none.
pub fn select(candidates: &[Candidate<'_>]) -> Option<Selection> {
    let n = candidates.len();
    if n == 0 {
        return None;
    }
    // Flags per candidate rather than index lists: with the usual two or
    // three paths (two Route Server instances), no allocation but the
    // result's.
    let mut small = [[false; SMALL]; 3];
    let mut large;
    let [alive, snapshot, multipath]: [&mut [bool]; 3] = if n <= SMALL {
        let [a, b, c] = &mut small;
        [&mut a[..n], &mut b[..n], &mut c[..n]]
    } else {
        large = vec![false; 3 * n];
        let (a, rest) = large.split_at_mut(n);
        let (b, c) = rest.split_at_mut(n);
        [a, b, c]
    };
    alive.fill(true);
    let keep_best = |alive: &mut [bool], key: &dyn Fn(&Candidate<'_>) -> u64| {
        let best = (0..n)
            .filter(|&i| alive[i])
            .map(|i| key(&candidates[i]))
            .min();
        if let Some(best) = best {
            for (i, a) in alive.iter_mut().enumerate() {
                *a = *a && key(&candidates[i]) == best;
            }
        }
    };
    // a) highest LOCAL_PREF (§9.1.1 degree of preference).
    keep_best(alive, &|c| u64::from(u32::MAX - c.attrs.local_pref));
    // b) shortest AS path.
    keep_best(alive, &|c| c.attrs.as_path.path_len() as u64);
    // c) lowest ORIGIN.
    keep_best(alive, &|c| u64::from(c.attrs.origin.code()));
    // d) lowest MED among routes from the same neighboring AS.
    snapshot.copy_from_slice(alive);
    for (i, a) in alive.iter_mut().enumerate() {
        let c = &candidates[i];
        let nas = c.neighbor_as();
        *a = *a
            && !(0..n).any(|j| {
                let d = &candidates[j];
                snapshot[j] && d.neighbor_as() == nas && d.med() < c.med()
            });
    }
    // e) eBGP over iBGP.
    keep_best(alive, &|c| match c.peer.session {
        Session::External => 0,
        Session::Internal => 1,
    });
    multipath.copy_from_slice(alive);
    // f) (interior cost: every next hop is equally reachable here)
    // g) lowest BGP identifier.
    keep_best(alive, &|c| u64::from(u32::from(c.router_id())));
    // RFC 4456 §9: shortest CLUSTER_LIST.
    keep_best(alive, &|c| u64::from(c.attrs.cluster_list_len));
    // h) lowest peer address.
    let best = (0..n)
        .filter(|&i| alive[i])
        .min_by_key(|&i| candidates[i].peer.address)?;
    // The multipath set: same neighboring AS as the best path (so that MED
    // is comparable and ECMP does not mix unrelated exits).
    let nas = candidates[best].neighbor_as();
    let mut set = Vec::with_capacity(multipath.iter().filter(|m| **m).count());
    set.push(best);
    set.extend((0..n).filter(|&i| multipath[i] && i != best && candidates[i].neighbor_as() == nas));
    Some(Selection {
        best,
        multipath: set,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::{AsPath, Origin};

    fn attrs(path: &[u32], lp: u32, med: Option<u32>, origin: Origin) -> PathAttrs {
        PathAttrs {
            origin,
            as_path: AsPath::sequence(path.iter().copied()),
            next_hop: "10.1.1.4".parse().unwrap(),
            link_local: None,
            med,
            local_pref: lp,
            atomic_aggregate: false,
            aggregator: None,
            communities: Box::new([]),
            large_communities: Box::new([]),
            extended_communities: Box::new([]),
            originator_id: None,
            cluster_list_len: 0,
            opaque: Box::new([]),
        }
    }

    fn peer(addr: &str, asn: u32, id: &str, session: Session) -> PeerInfo {
        PeerInfo {
            address: addr.parse().unwrap(),
            asn,
            router_id: id.parse().unwrap(),
            session,
        }
    }

    #[test]
    fn azure_route_servers_give_two_equal_paths() {
        let a = attrs(&[65515], 100, None, Origin::Igp);
        let p4 = peer("10.1.1.4", 65515, "10.1.1.4", Session::External);
        let p5 = peer("10.1.1.5", 65515, "10.1.1.5", Session::External);
        let c = [
            Candidate {
                attrs: &a,
                peer: &p5,
            },
            Candidate {
                attrs: &a,
                peer: &p4,
            },
        ];
        let s = select(&c).unwrap();
        // Lowest identifier wins; both are multipath.
        assert_eq!(s.best, 1);
        assert_eq!(s.multipath, vec![1, 0]);
    }

    #[test]
    fn each_step_decides_in_rfc_order() {
        let p1 = peer("10.0.0.1", 65001, "1.1.1.1", Session::External);
        let p2 = peer("10.0.0.2", 65002, "2.2.2.2", Session::External);
        let p3 = peer("10.0.0.3", 65000, "3.3.3.3", Session::Internal);
        // Local pref beats path length.
        let hi = attrs(&[65001, 1, 2, 3], 200, None, Origin::Igp);
        let lo = attrs(&[65002], 100, None, Origin::Igp);
        let c = [
            Candidate {
                attrs: &lo,
                peer: &p2,
            },
            Candidate {
                attrs: &hi,
                peer: &p1,
            },
        ];
        assert_eq!(select(&c).unwrap().best, 1);
        // Path length beats origin.
        let short = attrs(&[65001], 100, None, Origin::Incomplete);
        let long = attrs(&[65002, 9], 100, None, Origin::Igp);
        let c = [
            Candidate {
                attrs: &long,
                peer: &p2,
            },
            Candidate {
                attrs: &short,
                peer: &p1,
            },
        ];
        assert_eq!(select(&c).unwrap().best, 1);
        // Origin.
        let igp = attrs(&[65001], 100, None, Origin::Igp);
        let egp = attrs(&[65002], 100, None, Origin::Egp);
        let c = [
            Candidate {
                attrs: &egp,
                peer: &p2,
            },
            Candidate {
                attrs: &igp,
                peer: &p1,
            },
        ];
        assert_eq!(select(&c).unwrap().best, 1);
        // eBGP over iBGP.
        let e = attrs(&[65001], 100, None, Origin::Igp);
        let i = attrs(&[65009], 100, None, Origin::Igp);
        let c = [
            Candidate {
                attrs: &i,
                peer: &p3,
            },
            Candidate {
                attrs: &e,
                peer: &p1,
            },
        ];
        assert_eq!(select(&c).unwrap().best, 1);
    }

    #[test]
    fn med_is_compared_only_within_a_neighbor_as() {
        let pa = peer("10.0.0.1", 65001, "1.1.1.1", Session::External);
        let pb = peer("10.0.0.2", 65001, "2.2.2.2", Session::External);
        let pc = peer("10.0.0.3", 65003, "0.0.0.3", Session::External);
        let a = attrs(&[65001], 100, Some(50), Origin::Igp);
        let b = attrs(&[65001], 100, Some(10), Origin::Igp);
        let c3 = attrs(&[65003], 100, Some(99), Origin::Igp);
        let c = [
            Candidate {
                attrs: &a,
                peer: &pa,
            },
            Candidate {
                attrs: &b,
                peer: &pb,
            },
            Candidate {
                attrs: &c3,
                peer: &pc,
            },
        ];
        // a loses to b on MED (same AS); c is not compared by MED and wins
        // on the lowest identifier.
        let s = select(&c).unwrap();
        assert_eq!(s.best, 2);
        assert_eq!(s.multipath, vec![2]);
        // Without c, b wins on MED although its identifier is higher.
        assert_eq!(select(&c[..2]).unwrap().best, 1);
    }

    #[test]
    fn peer_address_breaks_the_last_tie() {
        let a = attrs(&[65001], 100, None, Origin::Igp);
        let p1 = peer("10.0.0.9", 65001, "1.1.1.1", Session::External);
        let p2 = peer("10.0.0.2", 65001, "1.1.1.1", Session::External);
        let c = [
            Candidate {
                attrs: &a,
                peer: &p1,
            },
            Candidate {
                attrs: &a,
                peer: &p2,
            },
        ];
        assert_eq!(select(&c).unwrap().best, 1);
        assert!(select(&[]).is_none());
    }
}
