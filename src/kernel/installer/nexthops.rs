//! Kernel nexthop objects: one per gateway, counted, and used to withdraw
//! many routes in one request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use tracing::{debug, warn};

use super::*;

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
        let mut removing: HashMap<u32, Vec<Prefix>> = HashMap::new();
        for (prefix, desired) in batch.iter() {
            if desired.next_hops().is_empty()
                && let Some(id) = self.installed.get(&prefix).and_then(|t| t.nexthop)
            {
                removing.entry(id).or_default().push(prefix);
            }
        }
        for (id, prefixes) in removing {
            let Some(&gateway) = self.nexthop_ids.get(&id) else {
                continue;
            };
            let total = match self.nexthops.get(&gateway) {
                Some(object) if object.id == id => object.routes,
                // An older object of that gateway (not counted any more).
                _ => self
                    .installed
                    .iter()
                    .filter(|(_, t)| t.nexthop == Some(id))
                    .count(),
            };
            // Moving a survivor costs a replace, about what deleting a
            // withdrawn route one by one costs, and the kernel then drops
            // the withdrawn ones at a third of that (bench/kernel): worth
            // it from two withdrawn routes per survivor. Not below that: a
            // table withdrawn in a stream (still arriving) would otherwise
            // have its not-yet-withdrawn part moved, only to be withdrawn
            // right after.
            if prefixes.len() < BULK_MIN || prefixes.len() * 3 < total * 2 {
                continue;
            }
            // A whole table withdrawn leaves no survivor to look for.
            let survivors: Vec<(Prefix, Arc<Target>)> = if prefixes.len() >= total {
                Vec::new()
            } else {
                self.installed
                    .iter()
                    .filter(|(p, t)| {
                        t.nexthop == Some(id)
                            && batch.get(p).is_none_or(|d| !d.next_hops().is_empty())
                    })
                    .map(|(p, t)| (p, Arc::clone(t)))
                    .collect()
            };
            if !survivors.is_empty() {
                let Some(fresh) = self.create_nexthop(gateway) else {
                    continue;
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
            }
            // Routes still on the old object: only the withdrawn ones, or
            // survivors the kernel refused to move (then no bulk delete).
            let still = self
                .installed
                .iter()
                .filter(|(_, t)| t.nexthop == Some(id))
                .count();
            if still != prefixes.len() {
                continue;
            }
            match self.socket.nexthop_delete(id) {
                Ok(()) => {
                    self.stats.writes += 1;
                    self.stats.bulk_withdrawals += 1;
                    // The object is gone: no count to keep for it.
                    for prefix in &prefixes {
                        self.installed.remove(prefix);
                    }
                    if batch.waiting() == prefixes.len() {
                        // Nothing else in the batch (a table withdrawn).
                        batch.clear();
                    } else {
                        for prefix in &prefixes {
                            batch.remove(prefix);
                        }
                    }
                    self.nexthop_ids.remove(&id);
                    if self.nexthops.get(&gateway).is_some_and(|o| o.id == id) {
                        self.nexthops.remove(&gateway);
                    }
                    self.last = None;
                    debug!(
                        routes = prefixes.len(),
                        "withdrew routes by deleting their nexthop object"
                    );
                }
                Err(errno) => {
                    // The routes stay on the old object and are deleted
                    // one by one by the rounds that follow.
                    self.stats.errors += 1;
                    let error = std::io::Error::from_raw_os_error(errno);
                    warn!(id, routes = prefixes.len(), %error, "cannot delete our nexthop object for a bulk withdrawal");
                }
            }
        }
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
