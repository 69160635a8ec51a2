//! The kernel FIB: pinned routes via the Azure virtual router, and learned
//! routes mirrored into the kernel without ever slowing BGP down.
//!
//! ```text
//!  daemon ── set / set_many ──► Pending (map + FIFO, coalescing; bounded by the
//!    (never blocks: map inserts      │     number of distinct prefixes)
//!     under a short lock)            │ wake (condvar, only when the installer sleeps)
//!                                    ▼ whole queue taken in O(1)
//!                            installer thread ── policy (the Azure traps), then batched
//!                                    ▲           RTM_NEWROUTE / RTM_DELROUTE / nexthop
//!                                    │           requests, every ACK checked ──► kernel
//!                                    │    (rounds of a large batch: sent by a writer
//!                                    │     thread while the installer plans the next)
//!  monitor task (tokio) ── our route or nexthop object deleted by someone, a foreign
//!    RTNLGRP_*_ROUTE, _IFADDR,  route at one of our keys, an address change, overrun
//!    _NEXTHOP; BPF drops our own
//! ```
//!
//! Every route we write carries our own `rtm_protocol`
//! ([`crate::config::KERNEL_PROTOCOL`], 200, named `nvabgp` by
//! `packaging/rt_protos.d/nvabgp.conf`), goes to the configured table, and
//! is deleted only with that protocol named in the request, so the kernel
//! itself refuses to delete a route we did not write. `NLM_F_REPLACE`
//! ignores the protocol, so a key (table, prefix, metric) is only replaced
//! once we know the route there is ours: the first write of a key is
//! `NLM_F_EXCL`, and an `EEXIST` answer means a foreign route holds it (the
//! route is refused and counted, the foreign route left alone). The monitor
//! tracks foreign routes appearing at our keys later. Our default metric
//! (20) is neither the 0 of hand-made routes nor DHCP's 100, so on an Azure
//! VM the case does not arise by default.
//!
//! Learned routes with one gateway name a kernel nexthop object of ours
//! (one per gateway, as FRR's zebra installs), so the kernel checks the
//! gateway once, not per route, and a mass withdrawal (a peer gone, a table
//! withdrawn) is one `RTM_DELNEXTHOP`: the routes that stay are first moved
//! to a fresh object, each replaced in place. Pinned routes name their
//! gateway, so no nexthop deletion can take them. Kernels without nexthop
//! objects (before 5.3) get gateways in every route.
//!
//! The installer is an OS thread, not a tokio task: the kernel does the
//! work of a netlink request inside `sendmsg`, milliseconds for a batch of
//! a thousand routes, which would stall a runtime worker on a two-core VM.
//! For the same reason a large batch is written by a second thread on a
//! socket of its own (`installer/pipeline.rs`), so the kernel's time and
//! the installer's overlap instead of adding up.
//!
//! Start-up ([`start`]) runs before any session: it reads this machine's
//! addresses, finds the virtual router, removes stale routes and nexthop
//! objects of our protocol left by a crash (keeping, and then replacing in
//! place, the routes that are pinned again, so the default route never
//! disappears), and installs the pinned routes. [`KernelHandle::shutdown`]
//! removes learned routes; pinned routes stay unless asked, so the VM stays
//! reachable.
//!
//! Wiring (daemon): `let k = kernel::start(&config.kernel,
//! KernelContext::from_config(&config)).await?;` before the sessions start;
//! on each Loc-RIB change `k.set_from(prefix, Some(best_path_peer), ecmp_next_hops)`
//! (or `set_many` per UPDATE); `k.set_originated(..)` when our own routes
//! change; on SIGTERM `k.shutdown(config.kernel.remove_pinned_on_stop).await`.

mod installer;
mod monitor;
pub mod netlink;
pub mod policy;
mod prefix_map;
mod queue;

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use bgp_proto::Prefix;
use tokio::sync::oneshot;
use tracing::warn;

use crate::config::{Config, KernelConfig};
pub use policy::RefusalReason;
use queue::Pending;

/// Why the kernel module could not start.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// No netlink socket (nvabgp needs `CAP_NET_ADMIN` to manage routes).
    #[error("cannot open a netlink socket: {0} (managing routes needs CAP_NET_ADMIN)")]
    Socket(io::Error),
    /// A dump the start-up needs failed.
    #[error("cannot read {what} from the kernel: {source}")]
    Dump {
        /// What was read.
        what: &'static str,
        /// Why it failed.
        source: io::Error,
    },
    /// Pinned routes are wanted but the virtual router is unknown.
    #[error(
        "cannot find the Azure virtual router: {0}; set kernel.virtual_router (the first host of the NVA subnet, e.g. \"10.1.2.1\")"
    )]
    VirtualRouter(String),
    /// The installer thread could not be started.
    #[error("cannot start the kernel installer thread: {0}")]
    Thread(io::Error),
    /// The installer thread ended during start-up.
    #[error("the kernel installer stopped during start-up")]
    Stopped,
}

/// What the kernel module needs to know from the rest of the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelContext {
    /// BGP peer addresses (pinned in `peers` mode; a learned route covering
    /// one is refused).
    pub peers: Vec<IpAddr>,
    /// Configured local addresses (the kernel's own list is read too).
    pub local_addresses: Vec<IpAddr>,
    /// Prefixes we originate (a learned copy is refused); see
    /// [`KernelHandle::set_originated`].
    pub originated: Vec<Prefix>,
    /// Route Server subnets, if known (added to `kernel.route_server_subnets`).
    pub route_server_subnets: Vec<Prefix>,
}

impl KernelContext {
    /// The context a configuration implies.
    pub fn from_config(config: &Config) -> Self {
        let mut local_addresses: Vec<IpAddr> = config.local_address.into_iter().collect();
        local_addresses.extend(config.peers.iter().filter_map(|p| p.local_address));
        local_addresses.sort();
        local_addresses.dedup();
        Self {
            peers: config.peers.iter().map(|p| p.address).collect(),
            local_addresses,
            originated: config.routes.iter().map(|r| r.prefix).collect(),
            route_server_subnets: Vec::new(),
        }
    }
}

/// Counters of the kernel module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Learned routes in the kernel now.
    pub installed: usize,
    /// Pinned routes in the kernel now.
    pub pinned: usize,
    /// Pinned routes wanted.
    pub pinned_wanted: usize,
    /// Prefixes not written yet (waiting, or taken and in progress).
    pub pending: usize,
    /// Calls to [`KernelHandle::set`].
    pub set_calls: u64,
    /// Calls folded into a change not yet written.
    pub coalesced: u64,
    /// Route requests the kernel acknowledged (adds, replaces, deletes).
    pub writes: u64,
    /// Refusals per reason, indexed by [`RefusalReason::index`]; each
    /// prefix counts once per reason.
    pub refused: [u64; RefusalReason::ALL.len()],
    /// Prefixes refused now.
    pub refused_now: usize,
    /// Requests the kernel answered with an error (other than a refusal).
    pub errors: u64,
    /// Routes of ours deleted by someone else and put back.
    pub restored: u64,
    /// Stale routes of our protocol removed at start.
    pub purged: u64,
    /// Withdrawals done by deleting a nexthop object (each removes many
    /// routes in one request).
    pub bulk_withdrawals: u64,
    /// Times the monitor lost notifications (receive queue overrun).
    pub monitor_overruns: u64,
    /// Full comparisons of our routes with the kernel's (after link
    /// changes).
    pub reconciles: u64,
    /// The virtual router in use.
    pub virtual_router: Option<Ipv4Addr>,
}

impl KernelStats {
    /// Refusals for `reason`.
    pub fn refused(&self, reason: RefusalReason) -> u64 {
        self.refused[reason.index()]
    }

    /// All refusals.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }
}

/// A route change seen by the monitor and not caused by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MonitorEvent {
    /// A route of our protocol was deleted.
    OursDeleted(netlink::RouteKey),
    /// A route of another protocol appeared at a key we use; `replaced`:
    /// it was written with `NLM_F_REPLACE` (ours, if there, is gone).
    ForeignAdded {
        key: netlink::RouteKey,
        replaced: bool,
    },
    /// A route of another protocol at a key we use was deleted.
    ForeignDeleted(netlink::RouteKey),
    /// An address was added or removed.
    AddressesChanged,
    /// One of our nexthop objects was deleted (its routes went with it).
    NexthopDeleted(u32),
    /// A link changed state: taking an interface down removes its IPv4
    /// routes and nexthop objects without a word.
    LinkChanged,
}

/// Most monitor events held for the installer; beyond, they are dropped
/// and a full resync is done instead.
const EVENTS_MAX: usize = 65_536;

/// State shared by the handle, the installer and the monitor.
#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub pending: Pending,
    pub events: Vec<MonitorEvent>,
    pub overrun: bool,
    pub originated: Option<Vec<Prefix>>,
    pub shutdown: Option<bool>,
    /// Waiting [`KernelHandle::flush`] calls.
    pub flush: Vec<oneshot::Sender<()>>,
    /// The installer waits on the condition variable.
    pub sleeping: bool,
    pub stats: KernelStats,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub inner: Mutex<Inner>,
    pub wake: Condvar,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take route install down with it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn push_event(&self, event: MonitorEvent) {
        let mut inner = self.lock();
        if inner.events.len() >= EVENTS_MAX {
            inner.overrun = true;
            inner.events.clear();
        } else if !inner.overrun {
            inner.events.push(event);
        }
        drop(inner);
        self.wake.notify_one();
    }

    pub fn push_overrun(&self) {
        let mut inner = self.lock();
        inner.overrun = true;
        inner.events.clear();
        drop(inner);
        self.wake.notify_one();
    }
}

/// The running kernel module.
pub struct KernelHandle {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    done: Option<oneshot::Receiver<()>>,
    monitor: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

/// Starts the kernel module: purges stale routes of our protocol, installs
/// the pinned routes, then starts the monitor and the installer. Call it
/// before any BGP session starts, on the tokio runtime, in the network
/// namespace whose routes to manage.
pub async fn start(cfg: &KernelConfig, ctx: KernelContext) -> Result<KernelHandle, KernelError> {
    let sockets = installer::Sockets {
        own: netlink::RouteSocket::open(cfg.protocol).map_err(KernelError::Socket)?,
        writer: netlink::RouteSocket::open(cfg.protocol).map_err(KernelError::Socket)?,
    };
    let ports = [sockets.own.port(), sockets.writer.port()];
    // Subscribed before the installer reads anything, so no change after
    // its reads is missed.
    let monitor_socket = netlink::open_monitor(ports).map_err(KernelError::Socket)?;
    let shared = Arc::new(Shared::default());
    let (ready_tx, ready_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let thread = {
        let shared = Arc::clone(&shared);
        let cfg = cfg.clone();
        std::thread::Builder::new()
            .name("nvabgp-kernel".into())
            .spawn(move || installer::run(cfg, ctx, sockets, shared, ready_tx, done_tx))
            .map_err(KernelError::Thread)?
    };
    let tables = installer::tables(cfg);
    match ready_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            return Err(e);
        }
        Err(_) => return Err(KernelError::Stopped),
    }
    let (stop_tx, stop_rx) = oneshot::channel();
    let watch = monitor::Watch {
        own_ports: ports,
        protocol: cfg.protocol,
        tables,
        metrics: installer::metrics(cfg),
    };
    let task = tokio::spawn(monitor::run(
        monitor_socket,
        watch,
        Arc::clone(&shared),
        stop_rx,
    ));
    Ok(KernelHandle {
        shared,
        thread: Some(thread),
        done: Some(done_rx),
        monitor: Some((stop_tx, task)),
    })
}

impl KernelHandle {
    /// The learned best path(s) of `prefix` (the BGP next hops of its ECMP
    /// set); empty removes the route. Never blocks on the kernel.
    pub fn set(&self, prefix: Prefix, next_hops: Vec<IpAddr>) {
        self.set_from(prefix, None, next_hops);
    }

    /// Like [`Self::set`], with the peer of the best path, whose
    /// `[[kernel.peer]]` settings (install, table, metric, filter) apply.
    pub fn set_from(&self, prefix: Prefix, peer: Option<IpAddr>, next_hops: Vec<IpAddr>) {
        let wake = {
            let mut inner = self.shared.lock();
            if inner.shutdown.is_some() {
                return;
            }
            // Only a sleeping installer needs the (system call) wake-up; a
            // busy one takes the change with its next round.
            let desired = inner.pending.share(peer, &next_hops);
            inner.pending.set(prefix, desired) && inner.sleeping
        };
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Several changes at once, under one lock (an UPDATE's prefixes, or a
    /// peer's whole table when it goes down): each is `(prefix, peer of the
    /// best path, next hops)` as in [`Self::set_from`].
    pub fn set_many(
        &self,
        changes: impl IntoIterator<Item = (Prefix, Option<IpAddr>, Vec<IpAddr>)>,
    ) {
        let wake = {
            let mut inner = self.shared.lock();
            if inner.shutdown.is_some() {
                return;
            }
            let mut wake = false;
            for (prefix, peer, next_hops) in changes {
                let desired = inner.pending.share(peer, &next_hops);
                wake |= inner.pending.set(prefix, desired);
            }
            wake && inner.sleeping
        };
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Replaces the set of prefixes we originate (a learned copy of one is
    /// refused; routes already installed are re-checked).
    pub fn set_originated(&self, prefixes: Vec<Prefix>) {
        self.shared.lock().originated = Some(prefixes);
        self.shared.wake.notify_one();
    }

    /// Completes once every change given before the call has been written
    /// to the kernel (or refused); for tests and for callers that must know
    /// the FIB caught up.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        self.shared.lock().flush.push(tx);
        self.shared.wake.notify_one();
        let _ = rx.await;
    }

    /// The counters now.
    pub fn stats(&self) -> KernelStats {
        let inner = self.shared.lock();
        let mut stats = inner.stats.clone();
        // The installer publishes what it still holds of the batch it took.
        stats.pending += inner.pending.len();
        stats.set_calls = inner.pending.set_calls;
        stats.coalesced = inner.pending.coalesced;
        stats
    }

    /// Stops: learned routes are removed (batched); pinned routes stay
    /// unless `remove_pinned`.
    pub async fn shutdown(mut self, remove_pinned: bool) {
        if let Some((stop, task)) = self.monitor.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
        self.shared.lock().shutdown = Some(remove_pinned);
        self.shared.wake.notify_one();
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for KernelHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // Dropped without shutdown(): stop as on SIGTERM, in the
            // background (nothing can be awaited here).
            warn!("kernel module dropped without shutdown; removing learned routes");
            if let Some((stop, _)) = self.monitor.take() {
                let _ = stop.send(());
            }
            self.shared.lock().shutdown.get_or_insert(false);
            self.shared.wake.notify_one();
        }
    }
}
