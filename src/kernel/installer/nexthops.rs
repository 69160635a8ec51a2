//! Kernel nexthop objects: one per gateway, counted, and used to withdraw
//! many routes in one request.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::*;

/// Longest wait for a withdrawal stream to end (see
/// [`Installer::settle_stream`]). A million withdrawals arrive within about
/// half a second at BGP speed.
const SETTLE_MAX: Duration = Duration::from_millis(750);
/// Pause between two looks at the queue while a stream settles.
const SETTLE_STEP: Duration = Duration::from_millis(1);
/// Looks in a row finding nothing new that end the stream.
const SETTLE_QUIET_STEPS: u32 = 3;

/// Whether withdrawing `withdrawn` of the `total` routes on one nexthop
/// object is done by deleting the object. Moving a survivor costs a
/// replace, about what deleting a withdrawn route one by one costs, and
/// the kernel then drops the withdrawn ones at a third of that
/// (bench/kernel): worth it from two withdrawn routes per survivor.
fn worth_bulk(withdrawn: usize, total: usize) -> bool {
    withdrawn >= BULK_MIN && withdrawn * 3 >= total * 2
}

impl Installer {
    pub(super) fn count_nexthop(&mut self, target: &Target, up: bool) {
        if let Some(gateway) = target.nexthop.and_then(|id| self.nexthop_ids.get(&id))
            && let Some(object) = self.nexthops.get_mut(gateway)
            && Some(object.id) == target.nexthop
        {
            if up {
                object.routes += 1;
            } else {
                object.routes = object.routes.saturating_sub(1);
            }
        }
    }

    /// Records `target` as the route of `prefix` in the kernel.
    pub(super) fn set_installed(&mut self, prefix: Prefix, target: Arc<Target>) {
        self.count_nexthop(&target, true);
        if let Some(old) = self.installed.insert(prefix, target) {
            self.count_nexthop(&old, false);
        }
    }

    /// Forgets the route of `prefix` (gone from the kernel).
    pub(super) fn unset_installed(&mut self, prefix: &Prefix) -> Option<Arc<Target>> {
        let old = self.installed.remove(prefix)?;
        self.count_nexthop(&old, false);
        Some(old)
    }

    /// Our nexthop object for `gateway`, made on first use; `None` where
    /// the kernel has none (routes then carry the gateway itself).
    pub(super) fn nexthop_for(&mut self, gateway: IpAddr) -> Option<u32> {
        if let Some(object) = self.nexthops.get(&gateway) {
            return Some(object.id);
        }
        let id = self.create_nexthop(gateway)?;
        self.nexthops
            .insert(gateway, NexthopObject { id, routes: 0 });
        self.nexthop_ids.insert(id, gateway);
        Some(id)
    }

    /// Creates a new nexthop object for `gateway` (not yet registered).
    pub(super) fn create_nexthop(&mut self, gateway: IpAddr) -> Option<u32> {
        if !self.nexthops_usable {
            return None;
        }
        let oif = match self.socket.route_get(gateway) {
            Ok(Some(oif)) => oif,
            // Not reachable now: the route with the gateway itself will
            // get the kernel's own answer.
            _ => return None,
        };
        // Bounded: ids taken by other programs are skipped.
        for _ in 0..64 {
            let id = self.next_nexthop_id;
            self.next_nexthop_id = self.next_nexthop_id.wrapping_add(1).max(1);
            match self.socket.nexthop_create(id, gateway, oif) {
                Ok(()) => return Some(id),
                Err(libc::EEXIST) => continue,
                Err(errno @ (libc::EOPNOTSUPP | libc::EINVAL | libc::EAFNOSUPPORT)) => {
                    // A kernel without nexthop objects: for good.
                    let error = std::io::Error::from_raw_os_error(errno);
                    warn!(%gateway, %error, "kernel nexthop objects unavailable; routes will name their gateways");
                    self.nexthops_usable = false;
                    return None;
                }
                Err(errno) => {
                    // Transient (the interface is going down): this route
                    // names its gateway; the next decision tries again.
                    let error = std::io::Error::from_raw_os_error(errno);
                    debug!(%gateway, %error, "cannot create a nexthop object now");
                    return None;
                }
            }
        }
        None
    }

    /// Withdraws in bulk: when a batch removes two thirds or more of the routes that use
    /// one of our nexthop objects (a peer went down, a table was
    /// withdrawn), the routes that stay are first moved to a fresh object
    /// (replaced in place, no gap), then the old object is deleted, which
    /// makes the kernel remove every withdrawn route in one request
    /// instead of one request per route.
    pub(super) fn bulk_withdraw(&mut self, batch: &mut Pending) {
        if self.nexthop_ids.is_empty() {
            return;
        }
        let mut counts = self.withdrawal_counts(batch);
        if counts
            .iter()
            .any(|&(id, withdrawn)| self.partly_withdrawn(id, withdrawn))
            && self.settle_stream(batch)
        {
            counts = self.withdrawal_counts(batch);
        }
        for (id, withdrawn) in counts {
            let Some(&gateway) = self.nexthop_ids.get(&id) else {
                continue;
            };
            let total = self.routes_using(id);
            if !worth_bulk(withdrawn, total) {
                continue;
            }
            // A whole table withdrawn leaves no survivor to move.
            if withdrawn < total && !self.move_survivors(id, gateway, batch) {
                continue;
            }
            // Routes still on the object: only the withdrawn ones, unless
            // the kernel refused to move a survivor (then no bulk delete).
            let still = self
                .installed
                .iter()
                .filter(|(_, t)| t.nexthop == Some(id))
                .count();
            if still != withdrawn {
                continue;
            }
            match self.socket.nexthop_delete(id) {
                Ok(()) => {
                    self.stats.writes += 1;
                    self.stats.bulk_withdrawals += 1;
                    if batch.waiting() == withdrawn {
                        // Nothing else in the batch (a table withdrawn).
                        batch.clear();
                    } else {
                        let done: Vec<Prefix> = self
                            .installed
                            .iter()
                            .filter(|(_, t)| t.nexthop == Some(id))
                            .map(|(p, _)| p)
                            .collect();
                        for prefix in &done {
                            batch.remove(prefix);
                        }
                    }
                    // The object is gone: no count to keep for it. One
                    // pass in memory order, not a look-up per route.
                    if withdrawn == self.installed.len() {
                        self.installed.clear();
                    } else {
                        self.installed.retain(|_, t| t.nexthop != Some(id));
                    }
                    self.nexthop_ids.remove(&id);
                    if self.nexthops.get(&gateway).is_some_and(|o| o.id == id) {
                        self.nexthops.remove(&gateway);
                    }
                    self.last = None;
                    debug!(
                        routes = withdrawn,
                        "withdrew routes by deleting their nexthop object"
                    );
                }
                Err(errno) => {
                    // The routes stay on the old object and are deleted
                    // one by one by the rounds that follow.
                    self.stats.errors += 1;
                    let error = std::io::Error::from_raw_os_error(errno);
                    warn!(id, routes = withdrawn, %error, "cannot delete our nexthop object for a bulk withdrawal");
                }
            }
        }
    }

    /// Moves the routes on object `id` that the batch does not withdraw
    /// to a fresh object for `gateway` (replaced in place, no gap); false
    /// when no fresh object could be made.
    fn move_survivors(&mut self, id: u32, gateway: IpAddr, batch: &Pending) -> bool {
        let survivors: Vec<(Prefix, Arc<Target>)> = self
            .installed
            .iter()
            .filter(|(p, t)| {
                t.nexthop == Some(id) && batch.get(p).is_none_or(|d| !d.next_hops().is_empty())
            })
            .map(|(p, t)| (p, Arc::clone(t)))
            .collect();
        let Some(fresh) = self.create_nexthop(gateway) else {
            return false;
        };
        self.nexthops.insert(
            gateway,
            NexthopObject {
                id: fresh,
                routes: 0,
            },
        );
        self.nexthop_ids.insert(fresh, gateway);
        self.last = None;
        let mut ops = Vec::with_capacity(survivors.len());
        for (prefix, old) in survivors {
            let target = self.intern(Target {
                table: old.table,
                metric: old.metric,
                gateways: old.gateways.clone(),
                nexthop: Some(fresh),
                want: old.want.clone(),
            });
            ops.push(Op {
                prefix,
                write: Write::Replace,
                key: target.key(prefix),
                target,
                pinned: false,
            });
        }
        self.execute(ops, false);
        true
    }

    /// How many of the batch's withdrawals are of installed routes on each
    /// of our nexthop objects (one look-up per withdrawal; objects are
    /// few, one per gateway).
    fn withdrawal_counts(&self, batch: &Pending) -> Vec<(u32, usize)> {
        let mut counts: Vec<(u32, usize)> = Vec::new();
        for (prefix, desired) in batch.iter() {
            if !desired.next_hops().is_empty() {
                continue;
            }
            let Some(id) = self.installed.get(&prefix).and_then(|t| t.nexthop) else {
                continue;
            };
            match counts.iter_mut().find(|(known, _)| *known == id) {
                Some((_, n)) => *n += 1,
                None => counts.push((id, 1)),
            }
        }
        counts
    }

    /// Routes using nexthop object `id` (counted for the current object
    /// of a gateway, looked up for an older one).
    fn routes_using(&self, id: u32) -> usize {
        match self.nexthop_ids.get(&id).and_then(|g| self.nexthops.get(g)) {
            Some(object) if object.id == id => object.routes,
            _ => self
                .installed
                .iter()
                .filter(|(_, t)| t.nexthop == Some(id))
                .count(),
        }
    }

    /// True when `withdrawn` routes of object `id` may be part of a mass
    /// withdrawal still arriving: a third of its routes or more, not all.
    fn partly_withdrawn(&self, id: u32, withdrawn: usize) -> bool {
        let total = self.routes_using(id);
        withdrawn >= BULK_MIN && withdrawn * 3 >= total && withdrawn < total
    }

    /// A table withdrawn in a stream (a peer withdrawing it UPDATE by
    /// UPDATE, or faster than the installer takes it) reaches the batch in
    /// parts. Decided on a part, the first part would be deleted one by
    /// one, or a bulk withdrawal would move the routes not yet withdrawn
    /// to a fresh object, then delete them one by one when their
    /// withdrawals arrive, or delete that object too; each nexthop object
    /// deletion walks the whole FIB (`fib_table_flush`), and a
    /// million-route table withdrawn that way took 3 s instead of 1 s
    /// (bench/kernel). So while changes keep arriving, they join the batch
    /// first; bounded by [`SETTLE_MAX`]. True when the batch grew.
    fn settle_stream(&mut self, batch: &mut Pending) -> bool {
        let started = Instant::now();
        let mut grew = false;
        let mut quiet = 0;
        while started.elapsed() < SETTLE_MAX && quiet < SETTLE_QUIET_STEPS {
            let newer = {
                let mut inner = self.shared.lock();
                if inner.shutdown.is_some() {
                    break;
                }
                (!inner.pending.is_empty()).then(|| inner.pending.detach())
            };
            match newer {
                Some(newer) => {
                    batch.absorb(newer);
                    grew = true;
                    quiet = 0;
                }
                None => quiet += 1,
            }
            std::thread::sleep(SETTLE_STEP);
        }
        if grew {
            // Ordered by the caller once the bulk withdrawal is done.
            debug!(
                waited_ms = started.elapsed().as_millis(),
                waiting = batch.len(),
                "let a withdrawal stream end before withdrawing in bulk"
            );
        }
        grew
    }

    /// Drops our record of nexthop object `id` (gone from the kernel);
    /// false if it was not ours.
    pub(super) fn forget_nexthop(&mut self, id: u32) -> bool {
        let Some(gateway) = self.nexthop_ids.remove(&id) else {
            return false;
        };
        if self.nexthops.get(&gateway).is_some_and(|o| o.id == id) {
            self.nexthops.remove(&gateway);
        }
        // Cached decisions name it.
        self.last = None;
        true
    }

    /// Someone deleted one of our nexthop objects, and with it (silently)
    /// every route that used it: put those back.
    pub(super) fn on_nexthop_deleted(&mut self, id: u32, redo: &mut Vec<(Prefix, Desired)>) {
        if !self.forget_nexthop(id) {
            return;
        }
        let gone: Vec<Prefix> = self
            .installed
            .iter()
            .filter(|(_, t)| t.nexthop == Some(id))
            .map(|(p, _)| p)
            .collect();
        warn!(
            id,
            routes = gone.len(),
            "our nexthop object was deleted by someone else; putting its routes back"
        );
        for prefix in gone {
            if let Some(t) = self.unset_installed(&prefix) {
                self.stats.restored += 1;
                redo.push((prefix, t.desired()));
            }
        }
    }
}
