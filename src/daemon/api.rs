//! Answers control API requests (`nvabgp status`, `routes`, `announce`,
//! ...) from the daemon's own state. Requests arrive validated
//! ([`crate::control::parse`]); what can still fail here is a reference to
//! something that does not exist (a peer, an originated route).

use std::sync::atomic::Ordering;

use bgp_proto::Prefix;

use super::{Daemon, LocalRoute};
use crate::control::types::as_path_fields;
use crate::control::{
    Announced, Announcement, ApiError, Change, ControlRequest, DrainMode, Drained, KernelStatus,
    Neighbor, NextHop, NextHopSet, Request, Response, Route, RoutePath, RouteView, RoutesQuery,
    SessionState, Status, Undrained, Withdrawn,
};
use crate::peer::fsm::State;
use crate::rib::PeerId;

impl Daemon {
    /// Answers one control request.
    pub(super) async fn on_control(&mut self, req: ControlRequest) {
        let answer = self.answer(req.request).await;
        // The client may have gone away; nothing to do then.
        let _ = req.reply.send(answer);
    }

    async fn answer(&mut self, request: Request) -> Result<Response, ApiError> {
        Ok(match request {
            Request::Status => Response::Status(self.status()),
            Request::Neighbors => Response::Neighbors(self.neighbors()),
            Request::Routes(q) => Response::Routes(self.routes(&q)?),
            Request::Health => Response::Health(
                self.origin
                    .as_ref()
                    .map_or_else(Vec::new, crate::origin::OriginHandle::health),
            ),
            Request::Announce(a) => Response::Announced(self.announce(a).await?),
            Request::Withdraw { prefix } => Response::Withdrawn(self.withdraw(prefix).await?),
            Request::SetNextHop { prefix, next_hop } => {
                Response::NextHopSet(self.set_next_hop(prefix, next_hop).await?)
            }
            Request::Drain(mode) => {
                self.drain = Some(mode);
                let prefixes = self.local_routes.len();
                let peers = self.resync_local().await;
                Response::Drained(Drained {
                    mode,
                    prefixes,
                    peers,
                })
            }
            Request::Undrain => {
                let was = self.drain.take();
                let prefixes = if was.is_some() {
                    self.local_routes.len()
                } else {
                    0
                };
                let peers = if was.is_some() {
                    self.resync_local().await
                } else {
                    0
                };
                Response::Undrained(Undrained { prefixes, peers })
            }
        })
    }

    fn established(&self) -> usize {
        self.peers.iter().filter(|p| p.session.is_some()).count()
    }

    fn status(&self) -> Status {
        Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            asn: self.config.asn,
            router_id: self.config.router_id,
            uptime_secs: self.started.elapsed().as_secs(),
            peers_configured: self.peers.len(),
            peers_established: self.established(),
            loc_rib_prefixes: self.rib.len(),
            attribute_sets: self.rib.attribute_sets(),
            drain: self.drain,
            kernel: self.kernel.as_ref().map(|k| {
                let st = k.stats();
                KernelStatus {
                    virtual_router: st.virtual_router,
                    pinned: st.pinned,
                    pinned_wanted: st.pinned_wanted,
                    installed: st.installed,
                    pending: st.pending,
                    refused: crate::kernel::RefusalReason::ALL
                        .iter()
                        .filter(|r| st.refused(**r) > 0)
                        .map(|r| (r.as_str().to_owned(), st.refused(*r)))
                        .collect(),
                    restored: st.restored,
                    errors: st.errors,
                }
            }),
        }
    }

    fn neighbors(&self) -> Vec<Neighbor> {
        self.peers
            .iter()
            .map(|p| {
                let cfg = &p.spec.config;
                let s = p.session.as_ref();
                let hold_time = s.map_or(cfg.hold_time, |s| s.negotiated.hold_time);
                Neighbor {
                    name: cfg.name.clone(),
                    address: cfg.address,
                    asn: cfg.asn,
                    state: SessionState::from(p.state),
                    uptime_secs: s.map(|s| s.since.elapsed().as_secs()),
                    local_address: s.map(|s| s.local.ip()),
                    hold_time,
                    keepalive: hold_time / 3,
                    four_octet_as: s.map(|s| s.negotiated.four_octet_as),
                    route_refresh: s.map(|s| s.negotiated.route_refresh),
                    families: s.map_or_else(Vec::new, |s| {
                        s.negotiated
                            .families
                            .iter()
                            .map(|&(afi, safi)| crate::decode::json::family_name(afi, safi))
                            .collect()
                    }),
                    prefixes_received: self.rib.received(p.spec.id),
                    prefixes_accepted: u64::from(self.rib.accepted(p.spec.id)),
                    prefixes_advertised: p.adj_out.len() as u64,
                    messages_in: p.spec.counters.messages_in.load(Ordering::Relaxed),
                    messages_out: p.spec.counters.messages_out.load(Ordering::Relaxed),
                    last_error: p.last_error.clone(),
                }
            })
            .collect()
    }

    fn find_peer(&self, key: &str) -> Result<PeerId, ApiError> {
        self.peers
            .iter()
            .find(|p| p.spec.config.name == key || p.spec.config.address.to_string() == key)
            .map(|p| p.spec.id)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .peers
                    .iter()
                    .map(|p| p.spec.config.name.as_str())
                    .collect();
                ApiError::not_found(format!(
                    "no peer named or addressed \"{key}\" (configured: {})",
                    known.join(", ")
                ))
            })
    }

    fn peer_name(&self, id: PeerId) -> Option<String> {
        self.peers
            .get(usize::from(id).wrapping_sub(1))
            .map(|p| p.spec.config.name.clone())
    }

    fn routes(&self, q: &RoutesQuery) -> Result<Vec<Route>, ApiError> {
        match &q.view {
            RouteView::LocRib { peer } => {
                let only = peer.as_deref().map(|p| self.find_peer(p)).transpose()?;
                Ok(self.rib_routes(q, only))
            }
            RouteView::AdjIn { peer } => {
                let id = self.find_peer(peer)?;
                Ok(self.rib_routes(q, Some(id)))
            }
            RouteView::AdjOut { peer } => {
                let id = self.find_peer(peer)?;
                let slot = &self.peers[usize::from(id) - 1];
                Ok(slot
                    .adj_out
                    .iter()
                    .filter(|(p, _)| q.matches(p))
                    .map(|(p, a)| {
                        let next_hop = match (a.next_hop, a.ipv6_next_hop) {
                            (Some(v4), _) => NextHop::Address(v4.into()),
                            (None, Some(v6)) => NextHop::Address(v6.global.into()),
                            (None, None) => NextHop::Own,
                        };
                        let (as_path, as_path_segments) = as_path_fields(&a.as_path);
                        Route {
                            prefix: *p,
                            paths: vec![RoutePath {
                                peer: Some(slot.spec.config.name.clone()),
                                next_hop,
                                as_path,
                                as_path_segments,
                                origin: a.origin,
                                med: a.med,
                                local_pref: a.local_pref,
                                communities: a.communities.clone(),
                                large_communities: a.large_communities.clone(),
                                best: true,
                                multipath: false,
                            }],
                        }
                    })
                    .collect())
            }
        }
    }

    /// Loc-RIB routes, all paths or only those of one peer.
    fn rib_routes(&self, q: &RoutesQuery, only: Option<PeerId>) -> Vec<Route> {
        self.rib
            .iter()
            .filter(|(p, _)| q.matches(p))
            .filter_map(|(prefix, entry)| {
                let mp = usize::from(entry.multipath);
                let paths: Vec<RoutePath> = entry
                    .dest
                    .paths()
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| only.is_none_or(|id| p.peer == id))
                    .map(|(i, p)| {
                        let a = &p.attrs;
                        let (as_path, as_path_segments) = as_path_fields(&a.as_path);
                        RoutePath {
                            peer: self.peer_name(p.peer),
                            next_hop: NextHop::Address(a.next_hop),
                            as_path,
                            as_path_segments,
                            origin: a.origin,
                            med: a.med,
                            local_pref: Some(a.local_pref),
                            communities: a.communities.to_vec(),
                            large_communities: a.large_communities.to_vec(),
                            best: i == 0,
                            multipath: i < mp,
                        }
                    })
                    .collect();
                (!paths.is_empty()).then_some(Route { prefix, paths })
            })
            .collect()
    }

    /// Re-synchronises every originated prefix with every peer (drain,
    /// undrain). Returns the number of Established peers.
    async fn resync_local(&mut self) -> usize {
        let prefixes: Vec<Prefix> = self.local_routes.keys().copied().collect();
        self.sync_prefixes_all(&prefixes).await
    }

    /// Sends every Established peer the changes for `prefixes`.
    pub(super) async fn sync_prefixes_all(&mut self, prefixes: &[Prefix]) -> usize {
        let ids: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|p| p.session.is_some() && p.state == State::Established)
            .map(|p| p.spec.id)
            .collect();
        for &id in &ids {
            self.sync_peer_prefixes(id, Some(prefixes), false).await;
        }
        ids.len()
    }

    /// Health-gated routes belong to their checks: a manual change would
    /// be overwritten by the next check result.
    fn check_not_managed(&self, prefix: &Prefix) -> Result<(), ApiError> {
        if self.health_managed.contains(prefix) {
            return Err(ApiError::conflict(format!(
                "{prefix} is originated by health checks (a [[route]] with kind anycast or next-hop-ip): change its configuration, or drain it with its maintenance file"
            )));
        }
        Ok(())
    }

    async fn announce(&mut self, a: Announcement) -> Result<Announced, ApiError> {
        self.check_not_managed(&a.prefix)?;
        let prefix = a.prefix;
        let route = crate::config::RouteConfig::from(a);
        let change = match self.local_routes.get(&prefix) {
            None => Change::New,
            Some(lr) if lr.route == route => Change::Unchanged,
            Some(_) => Change::Replaced,
        };
        self.local_routes.insert(prefix, LocalRoute { route });
        self.originated_changed();
        let peers = if change == Change::Unchanged || self.drain == Some(DrainMode::Withdraw) {
            0
        } else {
            self.sync_prefixes_all(&[prefix]).await
        };
        Ok(Announced {
            prefix,
            change,
            peers,
        })
    }

    async fn withdraw(&mut self, prefix: Prefix) -> Result<Withdrawn, ApiError> {
        self.check_not_managed(&prefix)?;
        if self.local_routes.remove(&prefix).is_none() {
            return Err(ApiError::not_found(format!(
                "{prefix} is not originated here (see `nvabgp routes --adj-out --peer P`)"
            )));
        }
        self.originated_changed();
        let peers = self.sync_prefixes_all(&[prefix]).await;
        Ok(Withdrawn { prefix, peers })
    }

    async fn set_next_hop(
        &mut self,
        prefix: Prefix,
        next_hop: NextHop,
    ) -> Result<NextHopSet, ApiError> {
        let Some(lr) = self.local_routes.get_mut(&prefix) else {
            return Err(ApiError::not_found(format!(
                "{prefix} is not originated here: announce it first"
            )));
        };
        let previous = NextHop::from(lr.route.next_hop);
        if previous == next_hop {
            return Ok(NextHopSet {
                prefix,
                previous,
                next_hop,
                peers: 0,
            });
        }
        lr.route.next_hop = next_hop.into();
        // One UPDATE per peer replaces the route (implicit withdraw).
        let peers = self.sync_prefixes_all(&[prefix]).await;
        Ok(NextHopSet {
            prefix,
            previous,
            next_hop,
            peers,
        })
    }
}
