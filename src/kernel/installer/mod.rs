//! The installer thread: turns wanted states into batched netlink requests
//! and keeps the picture of what is ours in the kernel.
//!
//! Write rules (see the module doc of [`super`] for why):
//! * a key (table, prefix, metric) we do not know to be ours is written
//!   with `NLM_F_EXCL`; `EEXIST` means a foreign route holds it: refused,
//!   counted, left alone;
//! * a key we installed is replaced in place (`NLM_F_REPLACE`), never
//!   deleted and added again; a route moving to another table or metric is
//!   added there before the old one is deleted;
//! * deletes name our protocol, and "no such route" is success.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bgp_proto::Prefix;
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};

mod nexthops;
mod pipeline;
mod startup;

use super::netlink::{InterfaceAddress, Outcome, Request, RouteKey, RouteSocket, Write};
use super::policy::{Policy, RefusalReason, first_host, pinned_prefixes};
use super::prefix_map::{FoldState, PrefixMap};
use super::queue::{Desired, Pending};
use super::{KernelContext, KernelError, KernelStats, MonitorEvent, Shared};
use crate::config::{KernelConfig, LearnedInstall};

/// Prefixes taken from the queue per round. Large enough to fill several
/// `sendmsg` batches, small enough that a `stats()` reader or a monitor
/// event is never held up for long.
const ROUND: usize = 4096;
/// How often the pinned routes are checked even without a notification
/// (IPv4 removes routes silently when their address goes away).
const PIN_CHECK: Duration = Duration::from_secs(30);
/// Most (reason, prefix) pairs remembered for log-once; beyond, refusals
/// are counted every time and no longer logged.
const LOG_ONCE_MAX: usize = 100_000;
/// Least time between two full comparisons with the kernel (each dumps our
/// routes: about a second at a million).
const RECONCILE_GAP: Duration = Duration::from_secs(1);
/// Kernel errors logged one by one before only every 10,000th is.
const ERRORS_LOGGED: u64 = 100;
/// Where our nexthop object ids start (ids are shared by every program in
/// the namespace; a taken one is skipped).
const NEXTHOP_ID_BASE: u32 = 0x4e56_0000;
/// Withdrawals of one nexthop's routes in a batch from which they are
/// removed by deleting the nexthop object rather than one by one.
const BULK_MIN: usize = 256;

/// Every table we write to.
pub(crate) fn tables(cfg: &KernelConfig) -> Vec<u32> {
    let mut t: Vec<u32> = [cfg.table, cfg.learned.table]
        .into_iter()
        .chain(cfg.peers.iter().map(|p| p.learned.table))
        .collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// Every metric we write with.
pub(crate) fn metrics(cfg: &KernelConfig) -> Vec<u32> {
    let mut m: Vec<u32> = [cfg.metric, cfg.learned.metric]
        .into_iter()
        .chain(cfg.peers.iter().map(|p| p.learned.metric))
        .collect();
    m.sort_unstable();
    m.dedup();
    m
}

/// A kernel route as we want it, shared by every prefix with the same one
/// (a full table from a Route Server has one or two).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Target {
    table: u32,
    metric: u32,
    gateways: Vec<IpAddr>,
    /// The kernel nexthop object standing for the (single) gateway.
    nexthop: Option<u32>,
    /// What it was computed from, to recompute when the context changes.
    want: Desired,
}

impl Target {
    fn key(&self, prefix: Prefix) -> RouteKey {
        RouteKey {
            table: self.table,
            prefix,
            metric: self.metric,
        }
    }

    /// Same route in the kernel (what it was computed from aside).
    fn same_route(&self, other: &Self) -> bool {
        self.table == other.table
            && self.metric == other.metric
            && self.gateways == other.gateways
            && self.nexthop == other.nexthop
    }

    fn desired(&self) -> Desired {
        self.want.clone()
    }
}

#[derive(Debug)]
struct Pinned {
    key: RouteKey,
    installed: bool,
    /// It was ours in the kernel and went away (deleted by someone).
    lost: bool,
}

enum Decision {
    Install(Arc<Target>),
    Remove,
    Refuse(RefusalReason),
}

struct Op {
    prefix: Prefix,
    write: Write,
    key: RouteKey,
    target: Arc<Target>,
    pinned: bool,
}

/// How pinned routes are (re)written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PinWrite {
    /// At start: replace the ones found ours, create the rest.
    Start,
    /// Later: create each; `EEXIST` means it is still there.
    Check,
}

pub(crate) struct Installer {
    cfg: KernelConfig,
    ctx: KernelContext,
    socket: RouteSocket,
    /// The writer thread for the rounds of a large batch; `None` where it
    /// could not start (every write is then made on `socket`).
    pipeline: Option<pipeline::Pipeline>,
    shared: Arc<Shared>,
    policy: Policy,
    peer_settings: HashMap<IpAddr, LearnedInstall>,
    installed: PrefixMap<Arc<Target>>,
    targets: HashSet<Arc<Target>>,
    sweep_at: usize,
    refused: PrefixMap<(RefusalReason, Desired)>,
    /// Changes the kernel refused (not refusals of ours), retried later.
    failed: PrefixMap<Desired>,
    /// When the kernel's routes were last compared with ours.
    last_reconcile: Option<std::time::Instant>,
    /// A comparison was put off (link changes came too fast).
    reconcile_due: bool,
    logged: HashSet<(RefusalReason, Prefix)>,
    foreign: HashSet<RouteKey>,
    pinned: BTreeMap<Prefix, Pinned>,
    pinned_target: Option<Arc<Target>>,
    /// Our kernel nexthop objects, by gateway.
    /// Keyed with the fast hash: looked up for every route written.
    nexthops: HashMap<IpAddr, NexthopObject, FoldState>,
    /// Gateway of each of our nexthop object ids.
    nexthop_ids: HashMap<u32, IpAddr, FoldState>,
    /// The next id to try for a new nexthop object.
    next_nexthop_id: u32,
    /// False once the kernel refused nexthop objects (before Linux 5.3):
    /// routes then name their gateways.
    nexthops_usable: bool,
    /// The last next-hop decision: a full table from one peer shares one
    /// (peer, next hops), so the gateways are computed once, not per route.
    last: Option<LastDecision>,
    stats: KernelStats,
    outcomes: Vec<Outcome>,
}

/// A kernel nexthop object of ours and how many installed routes use it.
#[derive(Debug, Clone, Copy)]
struct NexthopObject {
    id: u32,
    routes: usize,
}

struct LastDecision {
    want: Desired,
    v4: bool,
    result: Result<Arc<Target>, RefusalReason>,
}

/// The requests for `ops`, in the same order.
fn requests(ops: &[Op]) -> Vec<Request<'_>> {
    ops.iter()
        .map(|op| Request {
            write: op.write,
            key: op.key,
            gateways: &op.target.gateways,
            nexthop: op.target.nexthop,
        })
        .collect()
}

/// The installer's two route sockets: its own, and the writer thread's
/// (see [`pipeline`]).
pub(crate) struct Sockets {
    pub own: RouteSocket,
    pub writer: RouteSocket,
}

/// The thread's body: start-up, then serve until shutdown.
pub(crate) fn run(
    cfg: KernelConfig,
    ctx: KernelContext,
    sockets: Sockets,
    shared: Arc<Shared>,
    ready: oneshot::Sender<Result<(), KernelError>>,
    done: oneshot::Sender<()>,
) {
    match Installer::start(cfg, ctx, sockets, shared) {
        Ok(mut installer) => {
            let _ = ready.send(Ok(()));
            installer.serve();
        }
        Err(e) => {
            let _ = ready.send(Err(e));
        }
    }
    let _ = done.send(());
}

impl Installer {
    fn intern(&mut self, target: Target) -> Arc<Target> {
        if let Some(t) = self.targets.get(&target) {
            return Arc::clone(t);
        }
        if self.targets.len() >= self.sweep_at {
            self.targets.retain(|t| Arc::strong_count(t) > 1);
            self.sweep_at = (self.targets.len() * 2).max(1024);
        }
        let t = Arc::new(target);
        self.targets.insert(Arc::clone(&t));
        t
    }

    /// Writes the pinned routes (`only`: just this prefix).
    fn write_pinned(&mut self, how: PinWrite, only: Option<Prefix>) {
        let Some(target) = self.pinned_target.clone() else {
            return;
        };
        let ops: Vec<Op> = self
            .pinned
            .iter()
            .filter(|(prefix, _)| only.is_none_or(|o| o == **prefix))
            .map(|(prefix, p)| Op {
                prefix: *prefix,
                write: if how == PinWrite::Start && p.installed {
                    Write::Replace
                } else {
                    Write::Create
                },
                key: p.key,
                target: Arc::clone(&target),
                pinned: true,
            })
            .collect();
        self.execute(ops, how == PinWrite::Check);
    }

    fn serve(&mut self) {
        let mut round = Vec::with_capacity(ROUND);
        loop {
            let mut timed_out = false;
            // A reconcile put off by a burst of link changes is due soon.
            let wait_for = if self.reconcile_due {
                RECONCILE_GAP
            } else {
                PIN_CHECK
            };
            let (mut batch, events, overrun, originated, shutdown, flushed) = {
                let mut inner = self.shared.lock();
                while inner.pending.is_empty()
                    && inner.events.is_empty()
                    && !inner.overrun
                    && inner.originated.is_none()
                    && inner.shutdown.is_none()
                    && inner.flush.is_empty()
                {
                    inner.sleeping = true;
                    let (guard, wait) = self
                        .shared
                        .wake
                        .wait_timeout(inner, wait_for)
                        .unwrap_or_else(PoisonError::into_inner);
                    inner = guard;
                    inner.sleeping = false;
                    if wait.timed_out() {
                        timed_out = true;
                        break;
                    }
                }
                // Everything waiting is taken in O(1), so set() never waits
                // behind the installer; changes made meanwhile coalesce in
                // the fresh queue.
                let batch = if inner.shutdown.is_none() {
                    inner.pending.detach()
                } else {
                    Pending::default()
                };
                (
                    batch,
                    std::mem::take(&mut inner.events),
                    std::mem::replace(&mut inner.overrun, false),
                    inner.originated.take(),
                    inner.shutdown,
                    // Everything set before these flush calls is in `batch`
                    // or was written before.
                    std::mem::take(&mut inner.flush),
                )
            };
            if let Some(remove_pinned) = shutdown {
                self.shutdown(remove_pinned);
                for waiter in flushed {
                    let _ = waiter.send(());
                }
                return;
            }
            if overrun {
                self.on_overrun();
            }
            if !events.is_empty() {
                self.on_events(events);
            }
            if let Some(originated) = originated {
                self.policy.originated = originated.into_iter().collect();
                self.reevaluate();
            }
            self.bulk_withdraw(&mut batch);
            batch.order_for_kernel();
            // A full table arriving: room for it at once, rather than the
            // map rehashing itself step by step as the routes go in.
            let (v4, v6) = batch.len_by_family();
            self.installed.reserve_up_to(v4, v6);
            loop {
                batch.take(ROUND, &mut round);
                if round.is_empty() {
                    break;
                }
                let work = std::mem::take(&mut round);
                if batch.is_empty() {
                    // The last round (a single route's, often) is written
                    // here: handing it to the writer thread and back costs
                    // two thread wake-ups, which is most of the time a
                    // single route takes.
                    self.process(work);
                } else {
                    self.process_pipelined(work);
                }
                self.stats.pending = batch.len();
                self.publish();
                if !batch.is_empty() && self.between_rounds() {
                    break;
                }
                if !batch.is_empty() {
                    self.absorb_burst(&mut batch);
                }
            }
            self.drain();
            self.stats.pending = 0;
            let reconcile_now = self.reconcile_due
                && self
                    .last_reconcile
                    .is_none_or(|at| at.elapsed() >= RECONCILE_GAP);
            if reconcile_now {
                self.reconcile();
            } else if timed_out {
                if self.failed.is_empty() && !self.reconcile_due {
                    self.write_pinned(PinWrite::Check, None);
                } else {
                    self.reconcile();
                }
            }
            self.publish();
            for waiter in flushed {
                let _ = waiter.send(());
            }
        }
    }

    /// Between the rounds of a large batch (a full table takes seconds):
    /// handles what cannot wait, such as a deleted pinned route. True when
    /// asked to stop.
    fn between_rounds(&mut self) -> bool {
        let (events, overrun, stop) = {
            let mut inner = self.shared.lock();
            if inner.events.is_empty() && !inner.overrun {
                return inner.shutdown.is_some();
            }
            (
                std::mem::take(&mut inner.events),
                std::mem::replace(&mut inner.overrun, false),
                inner.shutdown.is_some(),
            )
        };
        // The events are about what we know of the kernel: complete it.
        self.drain();
        if overrun {
            self.on_overrun();
        }
        if !events.is_empty() {
            self.on_events(events);
        }
        stop
    }

    /// Between the rounds of a large batch: when more has queued meanwhile
    /// than is left of the batch (a full table still arriving, or being
    /// withdrawn), it joins the batch. The kernel then gets the burst as
    /// one batch, in the order it takes fastest, and a table withdrawn in
    /// a stream is recognised as one mass withdrawal (a single nexthop
    /// object deletion) instead of a first part deleted route by route.
    /// Flush calls made meanwhile are answered after the next batch, so
    /// they still see everything set before them written.
    fn absorb_burst(&mut self, batch: &mut Pending) {
        let newer = {
            let mut inner = self.shared.lock();
            if inner.shutdown.is_some() || inner.pending.len() < batch.len().max(ROUND) {
                return;
            }
            inner.pending.detach()
        };
        // The burst may change prefixes still in flight, and the bulk
        // withdrawal reads what is installed.
        self.drain();
        batch.absorb(newer);
        self.bulk_withdraw(batch);
        batch.order_for_kernel();
    }

    fn on_overrun(&mut self) {
        self.stats.monitor_overruns += 1;
        warn!("route monitor lost notifications; re-checking pinned routes");
        self.write_pinned(PinWrite::Check, None);
    }

    fn settings(&self, peer: Option<IpAddr>) -> &LearnedInstall {
        peer.and_then(|p| self.peer_settings.get(&p))
            .unwrap_or(&self.cfg.learned)
    }

    fn decide(&mut self, prefix: &Prefix, desired: &Desired) -> Decision {
        if desired.next_hops().is_empty() {
            return Decision::Remove;
        }
        let settings = self.settings(desired.peer());
        if !settings.install || !settings.filter.accepts(prefix) {
            return Decision::Remove;
        }
        let (table, metric) = (settings.table, settings.metric);
        if let Err(reason) = self.policy.check_prefix(prefix) {
            return Decision::Refuse(reason);
        }
        let v4 = prefix.is_ipv4();
        let result = match &self.last {
            Some(last) if last.v4 == v4 && (last.want.same(desired) || last.want == *desired) => {
                last.result.clone()
            }
            _ => {
                let result = self
                    .policy
                    .gateways(v4, desired.next_hops())
                    .map(|gateways| {
                        let nexthop = match gateways.as_slice() {
                            [one] => self.nexthop_for(*one),
                            _ => None,
                        };
                        self.intern(Target {
                            table,
                            metric,
                            gateways,
                            nexthop,
                            want: desired.clone(),
                        })
                    });
                self.last = Some(LastDecision {
                    want: desired.clone(),
                    v4,
                    result: result.clone(),
                });
                result
            }
        };
        match result {
            Ok(target) => Decision::Install(target),
            Err(reason) => Decision::Refuse(reason),
        }
    }

    /// Counts and logs a refusal, once per (reason, prefix).
    fn refuse(&mut self, prefix: Prefix, reason: RefusalReason) {
        if self.logged.len() >= LOG_ONCE_MAX {
            self.stats.refused[reason.index()] += 1;
            return;
        }
        if self.logged.insert((reason, prefix)) {
            self.stats.refused[reason.index()] += 1;
            warn!(%prefix, %reason, "learned route kept out of the kernel");
            if self.logged.len() == LOG_ONCE_MAX {
                warn!("too many refused routes to log each; counting only from now on");
            }
        }
    }

    fn kernel_error(&mut self, what: &str, key: &RouteKey, errno: i32) {
        self.stats.errors += 1;
        if self.stats.errors <= ERRORS_LOGGED || self.stats.errors % 10_000 == 0 {
            let error = std::io::Error::from_raw_os_error(errno);
            warn!(
                prefix = %key.prefix, table = key.table, metric = key.metric, %error,
                errors = self.stats.errors, "kernel refused a route {what}"
            );
        }
    }

    /// Plans and writes the changes for a round of prefixes.
    fn process(&mut self, work: Vec<(Prefix, Desired)>) {
        let ops = self.plan_round(work);
        if !ops.is_empty() {
            self.execute(ops, false);
        }
    }

    fn plan_round(&mut self, work: Vec<(Prefix, Desired)>) -> Vec<Op> {
        let mut ops = Vec::with_capacity(work.len());
        for (prefix, desired) in work {
            self.plan(prefix, desired, &mut ops);
        }
        ops
    }

    /// Like [`Self::process`] for a round of a batch whose prefixes are
    /// all distinct: the round goes to the writer thread, which the
    /// kernel keeps busy while this thread plans the next rounds and
    /// records the earlier ones once the kernel has answered them. Call
    /// [`Self::drain`] before looking at what is installed.
    fn process_pipelined(&mut self, work: Vec<(Prefix, Desired)>) {
        let ops = self.plan_round(work);
        if ops.is_empty() {
            return;
        }
        let Some(job) = self.pipeline.as_mut().map(|p| p.encode(&ops)) else {
            self.execute(ops, false);
            return;
        };
        if self.pipeline.as_ref().is_some_and(|p| !p.has_room()) {
            self.record_oldest();
        }
        let sent = match self.pipeline.as_mut() {
            Some(pipeline) => pipeline.submit(job, ops),
            None => Err(ops),
        };
        if let Err(ops) = sent {
            warn!("the netlink writer thread is gone; writing routes on the installer thread");
            self.pipeline = None;
            self.execute(ops, false);
        }
    }

    /// Waits for the rounds with the writer thread and records their
    /// outcomes.
    fn drain(&mut self) {
        while self.record_oldest() {}
    }

    /// Waits for the oldest round with the writer thread and records its
    /// outcomes; false when there was none.
    fn record_oldest(&mut self) -> bool {
        let Some((ops, job)) = self.pipeline.as_mut().and_then(pipeline::Pipeline::finish) else {
            return false;
        };
        self.record(ops, job.outcomes(), false);
        if let Some(pipeline) = self.pipeline.as_mut() {
            pipeline.recycle(job);
        }
        true
    }

    fn plan(&mut self, prefix: Prefix, desired: Desired, ops: &mut Vec<Op>) {
        self.failed.remove(&prefix);
        let old = self.installed.get(&prefix).cloned();
        let delete_old = |ops: &mut Vec<Op>, old: &Arc<Target>| {
            ops.push(Op {
                prefix,
                write: Write::Delete,
                key: old.key(prefix),
                target: Arc::clone(old),
                pinned: false,
            });
        };
        match self.decide(&prefix, &desired) {
            Decision::Remove => {
                self.refused.remove(&prefix);
                if let Some(old) = &old {
                    delete_old(ops, old);
                }
            }
            Decision::Refuse(reason) => {
                self.refuse(prefix, reason);
                self.refused.insert(prefix, (reason, desired));
                if let Some(old) = &old {
                    delete_old(ops, old);
                }
            }
            Decision::Install(target) => {
                let key = target.key(prefix);
                match &old {
                    Some(old) if old.same_route(&target) => {
                        self.refused.remove(&prefix);
                        // Nothing changes in the kernel; remember what it
                        // was computed from.
                        self.set_installed(prefix, target);
                    }
                    _ if !self.foreign.is_empty() && self.foreign.contains(&key) => {
                        self.refuse(prefix, RefusalReason::ForeignRoute);
                        self.refused
                            .insert(prefix, (RefusalReason::ForeignRoute, desired));
                        if let Some(old) = old.as_ref().filter(|o| o.key(prefix) != key) {
                            delete_old(ops, old);
                        }
                    }
                    Some(old) if old.key(prefix) == key => {
                        self.refused.remove(&prefix);
                        ops.push(Op {
                            prefix,
                            write: Write::Replace,
                            key,
                            target,
                            pinned: false,
                        });
                    }
                    _ => {
                        self.refused.remove(&prefix);
                        // Make before break when moving to another table
                        // or metric.
                        ops.push(Op {
                            prefix,
                            write: Write::Create,
                            key,
                            target,
                            pinned: false,
                        });
                        if let Some(old) = &old {
                            delete_old(ops, old);
                        }
                    }
                }
            }
        }
    }

    /// Sends `ops`, applies each outcome; requests whose acknowledgement
    /// was lost are sent once more. `exists_is_ours`: `EEXIST` on a create
    /// means the route is still there (pinned checks, retries).
    fn execute(&mut self, ops: Vec<Op>, exists_is_ours: bool) {
        // Writes stay in order: the round with the writer first.
        self.drain();
        let mut outcomes = std::mem::take(&mut self.outcomes);
        self.socket.execute(&requests(&ops), &mut outcomes);
        self.record(ops, &outcomes, exists_is_ours);
        self.outcomes = outcomes;
    }

    /// Applies the outcome of each of `ops`; requests whose
    /// acknowledgement was lost are sent once more.
    fn record(&mut self, ops: Vec<Op>, outcomes: &[Outcome], exists_is_ours: bool) {
        let mut uncertain = Vec::new();
        for (op, outcome) in ops.into_iter().zip(outcomes.iter().copied()) {
            match outcome {
                Err(libc::ENOBUFS | libc::ETIMEDOUT) if !exists_is_ours => uncertain.push(op),
                outcome => self.apply(op, outcome, exists_is_ours),
            }
        }
        if !uncertain.is_empty() {
            warn!(
                requests = uncertain.len(),
                "lost netlink acknowledgements; sending those requests again"
            );
            self.execute(uncertain, true);
        }
    }

    fn apply(&mut self, op: Op, outcome: Outcome, exists_is_ours: bool) {
        match (op.write, outcome) {
            (Write::Create | Write::Replace, Ok(())) => {
                self.stats.writes += 1;
                if op.pinned {
                    if let Some(p) = self.pinned.get_mut(&op.prefix) {
                        if exists_is_ours && (p.installed || p.lost) {
                            // Deleted by someone (or gone silently, as IPv4
                            // does when an address goes away).
                            self.stats.restored += 1;
                            warn!(prefix = %op.prefix, "pinned route was missing; put back");
                        } else if exists_is_ours {
                            info!(prefix = %op.prefix, "pinned route installed");
                        }
                        p.installed = true;
                        p.lost = false;
                    }
                } else {
                    self.set_installed(op.prefix, op.target);
                }
            }
            (Write::Create, Err(libc::EEXIST)) if exists_is_ours => {
                if op.pinned {
                    if let Some(p) = self.pinned.get_mut(&op.prefix) {
                        p.installed = true;
                        p.lost = false;
                    }
                } else {
                    self.set_installed(op.prefix, op.target);
                }
            }
            (Write::Create, Err(libc::EEXIST)) => {
                // A route of another protocol holds the key.
                self.foreign.insert(op.key);
                self.refuse(op.prefix, RefusalReason::ForeignRoute);
                if !op.pinned {
                    self.refused.insert(
                        op.prefix,
                        (RefusalReason::ForeignRoute, op.target.desired()),
                    );
                }
            }
            (Write::Delete, Ok(()) | Err(libc::ESRCH | libc::ENOENT)) => {
                if outcome.is_ok() {
                    self.stats.writes += 1;
                }
                if op.pinned {
                    if let Some(p) = self.pinned.get_mut(&op.prefix) {
                        p.installed = false;
                    }
                } else if self
                    .installed
                    .get(&op.prefix)
                    .is_some_and(|t| t.key(op.prefix) == op.key)
                {
                    self.unset_installed(&op.prefix);
                }
            }
            (write, Err(errno)) => {
                if !op.pinned {
                    // Retried at the next reconcile (link change, or the
                    // periodic check).
                    let desired = if write == Write::Delete {
                        Desired::new(None, &[])
                    } else {
                        op.target.desired()
                    };
                    self.failed.insert(op.prefix, desired);
                }
                let what = match write {
                    Write::Create => "add",
                    Write::Replace => "replace",
                    Write::Delete => "delete",
                };
                self.kernel_error(what, &op.key, errno);
            }
        }
    }

    fn on_events(&mut self, events: Vec<MonitorEvent>) {
        let mut redo = Vec::new();
        let mut addresses_changed = false;
        let mut link_changed = false;
        let mut restore_pinned = Vec::new();
        for event in events {
            match event {
                MonitorEvent::OursDeleted(key) => {
                    if let Some(p) = self.pinned.get_mut(&key.prefix)
                        && p.key == key
                    {
                        if p.installed {
                            p.installed = false;
                            p.lost = true;
                            warn!(prefix = %key.prefix, "pinned route was deleted; putting it back");
                            restore_pinned.push(key.prefix);
                        }
                    } else if let Some(t) = self.installed.get(&key.prefix).cloned()
                        && t.key(key.prefix) == key
                    {
                        self.unset_installed(&key.prefix);
                        self.stats.restored += 1;
                        info!(prefix = %key.prefix, "learned route was deleted by someone else; putting it back");
                        redo.push((key.prefix, t.desired()));
                    }
                }
                MonitorEvent::ForeignAdded { key, replaced } => {
                    self.foreign.insert(key);
                    if !replaced {
                        continue;
                    }
                    if let Some(p) = self.pinned.get_mut(&key.prefix)
                        && p.key == key
                        && p.installed
                    {
                        p.installed = false;
                        warn!(prefix = %key.prefix, "pinned route replaced by a route of another protocol; leaving it alone");
                    } else if let Some(t) = self.installed.get(&key.prefix).cloned()
                        && t.key(key.prefix) == key
                    {
                        self.unset_installed(&key.prefix);
                        self.refuse(key.prefix, RefusalReason::ForeignRoute);
                        self.refused
                            .insert(key.prefix, (RefusalReason::ForeignRoute, t.desired()));
                    }
                }
                MonitorEvent::ForeignDeleted(key) => {
                    if !self.foreign.remove(&key) {
                        continue;
                    }
                    if self.pinned.get(&key.prefix).is_some_and(|p| p.key == key) {
                        restore_pinned.push(key.prefix);
                    } else if let Some((RefusalReason::ForeignRoute, desired)) =
                        self.refused.get(&key.prefix)
                    {
                        redo.push((key.prefix, desired.clone()));
                    }
                }
                MonitorEvent::AddressesChanged => addresses_changed = true,
                MonitorEvent::LinkChanged => link_changed = true,
                MonitorEvent::NexthopDeleted(id) => self.on_nexthop_deleted(id, &mut redo),
            }
        }
        for prefix in restore_pinned {
            self.write_pinned(PinWrite::Check, Some(prefix));
        }
        if !redo.is_empty() {
            self.process(redo);
        }
        if addresses_changed {
            match self.socket.dump_addresses() {
                Ok(addresses) => {
                    self.apply_addresses(&addresses);
                    debug!(addresses = addresses.len(), "addresses changed");
                    self.reevaluate();
                    self.write_pinned(PinWrite::Check, None);
                }
                Err(e) => error!(error = %e, "cannot read addresses after a change"),
            }
        }
        if link_changed {
            if self
                .last_reconcile
                .is_none_or(|at| at.elapsed() >= RECONCILE_GAP)
            {
                self.reconcile();
            } else {
                // A flapping link: at most one full comparison per gap.
                self.reconcile_due = true;
            }
        }
    }

    /// Compares our routes and nexthop objects with the kernel's and puts
    /// back what is missing: an interface taken down takes its IPv4 routes
    /// and nexthop objects with it, without a notification for each. Also
    /// retries the installs the kernel refused (an unreachable gateway).
    fn reconcile(&mut self) {
        self.stats.reconciles += 1;
        self.reconcile_due = false;
        self.last_reconcile = Some(std::time::Instant::now());
        self.write_pinned(PinWrite::Check, None);
        match self.socket.dump_nexthops(self.cfg.protocol) {
            Ok(ids) => {
                let present: HashSet<u32> = ids.into_iter().collect();
                let gone: Vec<u32> = self
                    .nexthop_ids
                    .keys()
                    .filter(|id| !present.contains(id))
                    .copied()
                    .collect();
                for id in gone {
                    self.forget_nexthop(id);
                }
            }
            Err(e) => warn!(error = %e, "cannot read nexthop objects to reconcile"),
        }
        let mut present: HashSet<RouteKey> = HashSet::new();
        for table in tables(&self.cfg) {
            match self.socket.dump_routes(table, self.cfg.protocol) {
                Ok(routes) => present.extend(routes.into_iter().map(|r| r.key)),
                Err(e) => {
                    warn!(error = %e, "cannot read routes to reconcile");
                    return;
                }
            }
        }
        let missing: Vec<Prefix> = self
            .installed
            .iter()
            .filter(|(p, t)| !present.contains(&t.key(*p)))
            .map(|(p, _)| p)
            .collect();
        drop(present);
        let mut redo: Vec<(Prefix, Desired)> =
            Vec::with_capacity(missing.len() + self.failed.len());
        for prefix in missing {
            if let Some(t) = self.unset_installed(&prefix) {
                self.stats.restored += 1;
                redo.push((prefix, t.desired()));
            }
        }
        if !redo.is_empty() {
            warn!(
                routes = redo.len(),
                "learned routes vanished from the kernel; putting them back"
            );
        }
        redo.extend(self.failed.iter().map(|(p, d)| (p, d.clone())));
        self.failed.clear();
        while !redo.is_empty() {
            let rest = redo.split_off(redo.len().saturating_sub(ROUND));
            self.process(rest);
        }
    }

    /// Re-checks every installed and refused route against the policy
    /// (after our prefixes or addresses changed).
    fn reevaluate(&mut self) {
        let mut work: Vec<(Prefix, Desired)> = self
            .installed
            .iter()
            .map(|(p, t)| (p, t.desired()))
            .collect();
        work.extend(self.refused.iter().map(|(p, (_, d))| (p, d.clone())));
        while !work.is_empty() {
            let rest = work.split_off(work.len().saturating_sub(ROUND));
            self.process(rest);
        }
    }

    fn shutdown(&mut self, remove_pinned: bool) {
        self.drain();
        self.shared.lock().pending.clear();
        let learned = self.installed.len();
        // Deleting our nexthop objects removes the routes that use them,
        // one request each; the rest (multipath routes) one by one.
        let ids: Vec<u32> = self.nexthop_ids.keys().copied().collect();
        for id in ids {
            match self.socket.nexthop_delete(id) {
                Ok(()) | Err(libc::ENOENT) => {
                    let gone: Vec<Prefix> = self
                        .installed
                        .iter()
                        .filter(|(_, t)| t.nexthop == Some(id))
                        .map(|(p, _)| p)
                        .collect();
                    for prefix in gone {
                        self.unset_installed(&prefix);
                    }
                }
                Err(errno) => {
                    let error = std::io::Error::from_raw_os_error(errno);
                    warn!(id, %error, "cannot delete our nexthop object; deleting its routes one by one");
                }
            }
        }
        let mut ops: Vec<Op> = self
            .installed
            .iter()
            .map(|(prefix, t)| Op {
                prefix,
                write: Write::Delete,
                key: t.key(prefix),
                target: Arc::clone(t),
                pinned: false,
            })
            .collect();
        if remove_pinned && let Some(target) = &self.pinned_target {
            ops.extend(
                self.pinned
                    .iter()
                    .filter(|(_, p)| p.installed)
                    .map(|(prefix, p)| Op {
                        prefix: *prefix,
                        write: Write::Delete,
                        key: p.key,
                        target: Arc::clone(target),
                        pinned: true,
                    }),
            );
        }
        self.execute(ops, false);
        info!(
            learned,
            left = self.installed.len(),
            pinned_kept = !remove_pinned,
            "kernel routes removed on stop"
        );
        self.publish();
    }

    fn publish(&mut self) {
        self.installed.shrink_if_sparse();
        self.stats.installed = self.installed.len();
        self.stats.pinned = self.pinned.values().filter(|p| p.installed).count();
        self.stats.pinned_wanted = self.pinned.len();
        self.stats.refused_now = self.refused.len();
        let stats = self.stats.clone();
        self.shared.lock().stats = stats;
    }
}
