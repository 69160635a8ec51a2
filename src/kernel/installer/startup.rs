//! Start-up: this machine's addresses, the virtual router, stale routes of
//! an earlier run, and the pinned routes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use tracing::{info, warn};

use super::*;

impl Installer {
    pub(super) fn start(
        cfg: KernelConfig,
        ctx: KernelContext,
        sockets: Sockets,
        shared: Arc<Shared>,
    ) -> Result<Self, KernelError> {
        let pipeline = pipeline::Pipeline::start(sockets.writer, cfg.protocol)
            .inspect_err(|e| {
                warn!(error = %e, "cannot start the netlink writer thread; writing routes on the installer thread");
            })
            .ok();
        let peer_settings = cfg
            .peers
            .iter()
            .map(|p| (p.address, p.learned.clone()))
            .collect();
        let mut me = Self {
            policy: Policy {
                peers: ctx.peers.clone(),
                originated: ctx.originated.iter().copied().collect(),
                ..Policy::default()
            },
            cfg,
            ctx,
            socket: sockets.own,
            pipeline,
            shared,
            peer_settings,
            installed: PrefixMap::default(),
            targets: HashSet::new(),
            sweep_at: 1024,
            refused: PrefixMap::default(),
            failed: PrefixMap::default(),
            last_reconcile: None,
            reconcile_due: false,
            logged: HashSet::new(),
            foreign: HashSet::new(),
            pinned: BTreeMap::new(),
            pinned_target: None,
            last: None,
            nexthops: HashMap::default(),
            nexthop_ids: HashMap::default(),
            next_nexthop_id: NEXTHOP_ID_BASE,
            nexthops_usable: true,
            stats: KernelStats::default(),
            outcomes: Vec::new(),
        };
        let addresses = me
            .socket
            .dump_addresses()
            .map_err(|source| KernelError::Dump {
                what: "addresses",
                source,
            })?;
        me.apply_addresses(&addresses);
        let mut subnets = me.cfg.route_server_subnets.clone();
        subnets.extend(me.ctx.route_server_subnets.iter().filter(|p| p.is_ipv4()));
        let pinned = pinned_prefixes(
            me.cfg.pin,
            &subnets,
            &me.ctx.peers,
            &me.policy.connected,
            me.cfg.pin_default,
        );
        let virtual_router = match me.cfg.virtual_router {
            Some(v) => Ok(v),
            None => me.derive_virtual_router(&addresses),
        };
        let virtual_router = match virtual_router {
            Ok(v) => Some(v),
            Err(why) if !pinned.is_empty() => return Err(KernelError::VirtualRouter(why)),
            Err(why) => {
                warn!(%why, "no Azure virtual router: learned routes with an off-subnet next hop will be refused");
                None
            }
        };
        me.policy.virtual_router = virtual_router;
        me.stats.virtual_router = virtual_router;
        me.policy.pinned = pinned.clone();
        if let Some(vr) = virtual_router {
            me.pinned_target = Some(me.intern(Target {
                table: me.cfg.table,
                metric: me.cfg.metric,
                gateways: vec![IpAddr::V4(vr)],
                // Pinned routes name their gateway: deleting one of our
                // nexthop objects can never take them along.
                nexthop: None,
                want: Desired::new(None, &[]),
            }));
        }
        for prefix in pinned {
            let key = RouteKey {
                table: me.cfg.table,
                prefix,
                metric: me.cfg.metric,
            };
            me.pinned.insert(
                prefix,
                Pinned {
                    key,
                    installed: false,
                    lost: false,
                },
            );
        }
        me.purge()?;
        me.write_pinned(PinWrite::Start, None);
        info!(
            virtual_router = ?me.policy.virtual_router,
            pinned = me.pinned.values().filter(|p| p.installed).count(),
            wanted = me.pinned.len(),
            purged = me.stats.purged,
            table = me.cfg.table,
            protocol = me.cfg.protocol,
            "kernel routes ready"
        );
        me.publish();
        Ok(me)
    }

    /// The first host of the subnet of the interface that holds our local
    /// address, or else of the interface the kernel uses towards the peers.
    pub(super) fn derive_virtual_router(
        &mut self,
        addresses: &[InterfaceAddress],
    ) -> Result<Ipv4Addr, String> {
        let on_interface = |index: u32| {
            addresses.iter().find_map(|a| match a.address {
                IpAddr::V4(v4) if a.index == index && !v4.is_loopback() => {
                    first_host(v4, a.prefix_len)
                }
                _ => None,
            })
        };
        for local in &self.ctx.local_addresses {
            if let Some(a) = addresses.iter().find(|a| a.address == *local)
                && let IpAddr::V4(v4) = a.address
            {
                return first_host(v4, a.prefix_len)
                    .ok_or_else(|| format!("{v4}/{} has no first host to use", a.prefix_len));
            }
        }
        let Some(peer) = self.ctx.peers.iter().find(|p| p.is_ipv4()).copied() else {
            return Err("no IPv4 local address or peer to find the NVA interface by".into());
        };
        match self.socket.route_get(peer) {
            Ok(Some(index)) => on_interface(index).ok_or_else(|| {
                format!("the interface towards {peer} (index {index}) has no IPv4 subnet")
            }),
            Ok(None) => Err(format!("no route towards peer {peer}")),
            Err(e) => Err(format!("route lookup towards {peer} failed: {e}")),
        }
    }

    pub(super) fn apply_addresses(&mut self, addresses: &[InterfaceAddress]) {
        self.last = None;
        self.policy.local = addresses.iter().map(|a| a.address).collect();
        self.policy
            .local
            .extend(self.ctx.local_addresses.iter().copied());
        let mut connected: Vec<Prefix> = addresses
            .iter()
            .filter(|a| match a.address {
                IpAddr::V4(v4) => !v4.is_loopback(),
                // Link-local subnets exist on every interface: a next hop
                // there needs an interface we do not know.
                IpAddr::V6(v6) => !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80,
            })
            .filter_map(InterfaceAddress::subnet)
            .collect();
        connected.sort();
        connected.dedup();
        self.policy.connected = connected;
    }

    /// Removes routes of our protocol left by an earlier run, except the
    /// pinned ones, which are kept and replaced in place.
    pub(super) fn purge(&mut self) -> Result<(), KernelError> {
        // Stale nexthop objects first: deleting one removes its routes.
        let nexthops = self
            .socket
            .dump_nexthops(self.cfg.protocol)
            .map_err(|source| KernelError::Dump {
                what: "nexthops",
                source,
            })?;
        for id in nexthops {
            if let Err(errno) = self.socket.nexthop_delete(id) {
                let error = std::io::Error::from_raw_os_error(errno);
                warn!(id, %error, "cannot delete a stale nexthop object of ours");
            }
        }
        let mut stale = Vec::new();
        for table in tables(&self.cfg) {
            let routes = self
                .socket
                .dump_routes(table, self.cfg.protocol)
                .map_err(|source| KernelError::Dump {
                    what: "routes",
                    source,
                })?;
            for route in routes {
                if route.tos != 0 {
                    continue;
                }
                if let Some(p) = self.pinned.get_mut(&route.key.prefix)
                    && p.key == route.key
                {
                    p.installed = true;
                    continue;
                }
                stale.push(route.key);
            }
        }
        if stale.is_empty() {
            return Ok(());
        }
        let requests: Vec<Request<'_>> = stale
            .iter()
            .map(|key| Request {
                write: Write::Delete,
                key: *key,
                gateways: &[],
                nexthop: None,
            })
            .collect();
        let mut outcomes = std::mem::take(&mut self.outcomes);
        self.socket.execute(&requests, &mut outcomes);
        for (key, outcome) in stale.iter().zip(&outcomes) {
            match outcome {
                Ok(()) | Err(libc::ESRCH | libc::ENOENT) => self.stats.purged += 1,
                Err(e) => self.kernel_error("purge", key, *e),
            }
        }
        self.outcomes = outcomes;
        info!(
            removed = self.stats.purged,
            "removed stale routes of our protocol left by an earlier run"
        );
        Ok(())
    }
}
