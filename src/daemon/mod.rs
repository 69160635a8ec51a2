//! The supervisor: owns the RIB, starts one session task per peer, accepts
//! connections, and turns Loc-RIB and origination changes into UPDATEs.
//!
//! ```text
//!                    ┌──────────── Command ─────────────┐
//!                    ▼                                   │
//!  listener ──► session task (per peer) ── PeerEvent ──► daemon loop ◄── control requests
//!   (:179)       FSM, timers, socket                     RIB, Adj-RIB-Out, export
//! ```
//!
//! All route state lives in this one task, so no lock is ever taken on the
//! RIB; session tasks only frame, validate and forward UPDATE bytes, which
//! keeps keepalives and hold timers running however long an ingest takes.

mod api;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_proto::message::builder::{Ipv6NextHop, PathAttributes, UnknownAttribute, UpdateBuilder};
use bgp_proto::message::open::{Negotiated, Open};
use bgp_proto::message::route_refresh::{RouteRefresh, RouteRefreshSubtype};
use bgp_proto::{Afi, AsPath, Community, Message, Nlri, Prefix, Safi};
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::config::{Config, NextHopConfig, RouteConfig};
use crate::control::{ControlRequest, ControlServer, DrainMode};
use crate::peer::fsm::State;
use crate::peer::session::{self, Command, PeerEvent, SessionSpec};
use crate::peer::transport;
use crate::rib::attrs::{PathAttrs, Session};
use crate::rib::decision::PeerInfo;
use crate::rib::{PeerId, Rib};

/// How long a restarted peer's stale routes wait for its End-of-RIB
/// (FRR's and BIRD's default stale-path time).
const STALE_PATH_TIME: Duration = Duration::from_secs(360);

/// Per-peer counters for the status API.
#[derive(Debug, Default, Clone)]
pub struct PeerCounters {
    /// UPDATE messages received.
    pub updates_in: u64,
    /// UPDATE messages sent.
    pub updates_out: u64,
    /// Prefixes we currently advertise to the peer.
    pub prefixes_advertised: usize,
}

/// What the daemon knows about an Established session.
#[derive(Debug, Clone)]
pub struct EstablishedSession {
    /// What the OPENs negotiated.
    pub negotiated: Negotiated,
    /// The peer's OPEN.
    pub remote: Open,
    /// Our end of the connection.
    pub local: SocketAddr,
    /// When it came up.
    pub since: Instant,
}

/// One configured peer as the daemon tracks it.
#[derive(Debug)]
pub struct PeerSlot {
    /// The session description.
    pub spec: SessionSpec,
    commands: mpsc::Sender<Command>,
    /// Current FSM state.
    pub state: State,
    /// Set while Established.
    pub session: Option<EstablishedSession>,
    /// Why the session last went down.
    pub last_error: Option<String>,
    /// Counters.
    pub counters: PeerCounters,
    /// What we advertised to the peer (Adj-RIB-Out).
    pub adj_out: BTreeMap<Prefix, Arc<PathAttributes>>,
    /// While the peer restarts gracefully: when its stale routes go.
    pub stale_until: Option<Instant>,
}

/// A route this speaker originates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRoute {
    /// What to announce.
    pub route: RouteConfig,
}

/// The daemon's state (one task).
pub struct Daemon {
    config: Config,
    rib: Rib,
    peers: Vec<PeerSlot>,
    by_address: HashMap<IpAddr, PeerId>,
    local_routes: BTreeMap<Prefix, LocalRoute>,
    started: Instant,
    /// Maintenance drain in force.
    drain: Option<DrainMode>,
    /// Prefixes whose origination health checks decide.
    health_managed: std::collections::HashSet<Prefix>,
    /// The health-check engine, once started.
    origin: Option<crate::origin::OriginHandle>,
    /// The kernel FIB, when the configuration wants one.
    kernel: Option<crate::kernel::KernelHandle>,
}

/// Runs the agent until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (events_tx, mut events) = mpsc::channel::<PeerEvent>(1024);
    let mut d = Daemon::new(config.clone(), &events_tx);
    drop(events_tx);
    // Pinned routes go in before any session starts (the recursive next hop
    // and default-route traps are closed before BGP can open them).
    if kernel_wanted(&config.kernel) {
        let k = crate::kernel::start(
            &config.kernel,
            crate::kernel::KernelContext::from_config(&config),
        )
        .await
        .map_err(|e| anyhow::anyhow!("kernel routes: {e}"))?;
        d.rib.track_changes(true);
        d.kernel = Some(k);
    }
    let listener = match config.listen {
        Some(addr) => {
            let l = transport::listen(addr).map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {addr}: {e} (set `listen = false` to only connect out, or another address)"
                )
            })?;
            for p in &config.peers {
                if let Some(pw) = &p.password {
                    transport::set_md5(&l, p.address, Some(pw), addr.is_ipv6()).map_err(|e| {
                        anyhow::anyhow!("cannot set the TCP MD5 key for {}: {e}", p.address)
                    })?;
                }
            }
            info!(%addr, "listening for BGP connections");
            Some(l)
        }
        None => None,
    };
    let (control_tx, mut control) = mpsc::channel::<ControlRequest>(16);
    let socket = std::path::Path::new(&config.control_socket);
    if let Some(dir) = socket.parent()
        && !dir.as_os_str().is_empty()
    {
        // systemd's RuntimeDirectory creates it; by hand it may be missing.
        let _ = std::fs::create_dir_all(dir);
    }
    let server = ControlServer::bind(socket).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::NotFound => {
                " (set `control_socket` to a writable path)"
            }
            _ => "",
        };
        anyhow::anyhow!(
            "cannot open the control socket {}: {e}{hint}",
            socket.display()
        )
    })?;
    tokio::spawn(async move {
        if let Err(e) = server.serve(control_tx).await {
            error!(error = %e, "control socket failed");
        }
    });
    let (origin_tx, mut origin_events) = mpsc::channel(64);
    d.origin = Some(crate::origin::spawn(
        config.health_routes.clone(),
        origin_tx,
    ));
    let (accepted_tx, mut accepted) = mpsc::channel(16);
    if let Some(l) = listener {
        tokio::spawn(accept_loop(l, accepted_tx));
    }
    for p in &d.peers {
        let _ = p.commands.send(Command::Start).await;
    }
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            Some(ev) = events.recv() => d.on_event(ev).await,
            Some((stream, addr)) = accepted.recv() => d.on_accept(stream, addr).await,
            Some(req) = control.recv() => d.on_control(req).await,
            Some(ev) = origin_events.recv() => d.on_origin(ev).await,
            () = sleep_until(d.next_stale_deadline()) => d.on_stale_timer().await,
            () = &mut shutdown => break,
        }
    }
    info!("shutting down: closing sessions");
    for p in &d.peers {
        let _ = p
            .commands
            .send(Command::Stop("nvabgp shutting down".into()))
            .await;
    }
    // Give the NOTIFICATIONs a moment to leave; bounded.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(500);
    while d.peers.iter().any(|p| p.state != State::Idle) {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(ev)) => d.on_event(ev).await,
            _ => break,
        }
    }
    if let Some(k) = d.kernel.take() {
        info!("removing learned routes from the kernel");
        k.shutdown(config.kernel.remove_pinned_on_stop).await;
    }
    Ok(())
}

/// True when the configuration asks for anything in the kernel: pinned
/// routes or learned routes (globally or for some peer).
fn kernel_wanted(k: &crate::config::KernelConfig) -> bool {
    k.learned.install
        || k.pin_default
        || k.pin != crate::config::PinMode::None
        || k.peers.iter().any(|p| p.learned.install)
}

async fn sleep_until(d: Option<Instant>) {
    match d {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    out: mpsc::Sender<(tokio::net::TcpStream, SocketAddr)>,
) {
    loop {
        match listener.accept().await {
            Ok((s, a)) => {
                if out.send((s, a)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

impl Daemon {
    fn new(config: Config, events: &mpsc::Sender<PeerEvent>) -> Self {
        let mut peers = Vec::new();
        let mut by_address = HashMap::new();
        for (i, p) in config.peers.iter().enumerate() {
            // Peer ids start at 1; 0 stays free for local routes.
            let id = (i + 1) as PeerId;
            let spec = SessionSpec {
                id,
                config: p.clone(),
                local_asn: config.asn,
                router_id: config.router_id,
                counters: Arc::default(),
            };
            let (tx, rx) = mpsc::channel(64);
            tokio::spawn(session::run(spec.clone(), rx, events.clone()));
            by_address.insert(p.address, id);
            peers.push(PeerSlot {
                spec,
                commands: tx,
                state: State::Idle,
                session: None,
                last_error: None,
                counters: PeerCounters::default(),
                adj_out: BTreeMap::new(),
                stale_until: None,
            });
        }
        let local_routes = config
            .routes
            .iter()
            .map(|r| (r.prefix, LocalRoute { route: r.clone() }))
            .collect();
        let health_managed: std::collections::HashSet<Prefix> = config
            .health_routes
            .iter()
            .map(|r| r.route.prefix)
            .collect();
        let mut rib = Rib::new(config.asn);
        // Loc-RIB changes are only needed by peers that re-export them.
        rib.track_changes(config.peers.iter().any(|p| p.export.learned));
        Self {
            rib,
            config,
            peers,
            by_address,
            local_routes,
            started: Instant::now(),
            drain: None,
            health_managed,
            origin: None,
            kernel: None,
        }
    }

    /// The RIB.
    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    /// The peers.
    pub fn peers(&self) -> &[PeerSlot] {
        &self.peers
    }

    /// When the daemon started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn slot(&mut self, id: PeerId) -> Option<&mut PeerSlot> {
        self.peers.get_mut(usize::from(id).checked_sub(1)?)
    }

    fn next_stale_deadline(&self) -> Option<Instant> {
        self.peers.iter().filter_map(|p| p.stale_until).min()
    }

    /// A restarting peer's stale routes outlived their time: they go (all
    /// of the peer's routes, when it is still down).
    async fn on_stale_timer(&mut self) {
        let now = Instant::now();
        let due: Vec<(PeerId, bool)> = self
            .peers
            .iter()
            .filter(|p| p.stale_until.is_some_and(|t| t <= now))
            .map(|p| (p.spec.id, p.session.is_some()))
            .collect();
        for (id, up) in due {
            let removed = if up {
                self.rib.sweep_stale(id, bgp_proto::Families::ALL)
            } else {
                self.rib.remove_peer(id)
            };
            if let Some(s) = self.slot(id) {
                s.stale_until = None;
                info!(peer = %s.spec.config.name, removed, "stale routes of a restarting peer expired");
            }
        }
        self.export_changes().await;
    }

    /// A health-gated route changed its desired state: one UPDATE per
    /// Established peer (a next-hop change replaces the route).
    async fn on_origin(&mut self, ev: crate::origin::OriginEvent) {
        let crate::origin::OriginEvent::Set { prefix, route } = ev;
        match route {
            Some(route) => {
                debug!(%prefix, next_hop = ?route.next_hop, "originating");
                self.local_routes.insert(prefix, LocalRoute { route });
            }
            None => {
                debug!(%prefix, "no longer originating");
                self.local_routes.remove(&prefix);
            }
        }
        self.originated_changed();
        self.sync_prefixes_all(&[prefix]).await;
    }

    async fn on_accept(&mut self, stream: tokio::net::TcpStream, addr: SocketAddr) {
        let ip = session::peer_key(addr.ip());
        match self.by_address.get(&ip).copied() {
            Some(id) => {
                if let Some(slot) = self.slot(id) {
                    let _ = slot.commands.send(Command::Incoming(stream)).await;
                }
            }
            None => {
                warn!(%addr, "connection from an address that is not a configured peer: closed");
            }
        }
    }

    async fn on_event(&mut self, ev: PeerEvent) {
        match ev {
            PeerEvent::State { peer, state } => {
                if let Some(s) = self.slot(peer) {
                    s.state = state;
                }
            }
            PeerEvent::Established {
                peer,
                negotiated,
                remote,
                local,
            } => self.on_established(peer, *negotiated, *remote, local).await,
            PeerEvent::Update { peer, message } => self.on_update(peer, message).await,
            PeerEvent::RouteRefresh { peer, request } => self.on_route_refresh(peer, request).await,
            PeerEvent::Down {
                peer,
                reason,
                graceful,
            } => {
                // Failed attempts of a session that was not up change no
                // route (and must not end a graceful restart's stale time).
                if let Some(s) = self.slot(peer)
                    && s.session.is_none()
                {
                    // Keep a real cause (a NOTIFICATION, a refused OPEN)
                    // over the bare end of a later attempt.
                    if reason != "session closed" || s.last_error.is_none() {
                        s.last_error = Some(reason);
                    }
                    s.state = State::Idle;
                    return;
                }
                let restart = self
                    .slot(peer)
                    .and_then(|s| s.session.as_ref())
                    .and_then(|s| s.negotiated.peer_graceful_restart.clone())
                    .filter(|gr| graceful && gr.restart_time > 0);
                let keep = restart.as_ref().map_or(bgp_proto::Families::NONE, |gr| {
                    gr.families
                        .iter()
                        .filter_map(|f| bgp_proto::Families::of(f.afi, f.safi))
                        .fold(bgp_proto::Families::NONE, bgp_proto::Families::union)
                });
                let (kept, removed) = if keep.is_empty() {
                    (0, self.rib.remove_peer(peer))
                } else {
                    let removed = self
                        .rib
                        .remove_families(peer, bgp_proto::Families::ALL.difference(keep));
                    (self.rib.mark_stale(peer, keep), removed)
                };
                if let Some(s) = self.slot(peer) {
                    if kept > 0
                        && let Some(gr) = &restart
                    {
                        // RFC 4724 §4.2: keep them for the restart time.
                        let secs = u64::from(gr.restart_time);
                        s.stale_until = Some(Instant::now() + Duration::from_secs(secs));
                        info!(peer = %s.spec.config.name, kept, restart_time = secs, %reason, "peer restarting gracefully: its routes are kept as stale");
                    } else {
                        s.stale_until = None;
                        info!(peer = %s.spec.config.name, removed, %reason, "routes of the peer removed");
                    }
                    s.session = None;
                    s.last_error = Some(reason);
                    s.adj_out.clear();
                    s.counters.prefixes_advertised = 0;
                    s.state = State::Idle;
                }
                self.export_changes().await;
            }
        }
    }

    async fn on_established(
        &mut self,
        peer: PeerId,
        negotiated: Negotiated,
        remote: Open,
        local: SocketAddr,
    ) {
        let Some(slot) = self.slot(peer) else {
            return;
        };
        let cfg = &slot.spec.config;
        let info = PeerInfo {
            address: cfg.address,
            asn: cfg.asn,
            router_id: remote.bgp_identifier,
            session: if cfg.asn == slot.spec.local_asn {
                Session::Internal
            } else {
                Session::External
            },
        };
        let import = cfg.import.clone();
        slot.state = State::Established;
        slot.last_error = None;
        slot.session = Some(EstablishedSession {
            negotiated,
            remote,
            local,
            since: Instant::now(),
        });
        self.rib.add_peer(peer, info, import);
        self.after_graceful_restart(peer);
        self.export_changes().await;
        self.sync_peer(peer, true).await;
    }

    /// A peer with stale routes is back (RFC 4724 §4.2): stale routes of
    /// families whose forwarding state it did not keep go now; the others
    /// wait for its End-of-RIB, bounded by the stale-path time.
    fn after_graceful_restart(&mut self, peer: PeerId) {
        let Some(slot) = self.slot(peer) else {
            return;
        };
        if slot.stale_until.is_none() {
            return;
        }
        let kept = slot
            .session
            .as_ref()
            .and_then(|s| s.negotiated.peer_graceful_restart.as_ref())
            .map_or(bgp_proto::Families::NONE, |gr| {
                gr.families
                    .iter()
                    .filter(|f| f.forwarding_state())
                    .filter_map(|f| bgp_proto::Families::of(f.afi, f.safi))
                    .fold(bgp_proto::Families::NONE, bgp_proto::Families::union)
            });
        slot.stale_until = Some(Instant::now() + STALE_PATH_TIME);
        let swept = self
            .rib
            .sweep_stale(peer, bgp_proto::Families::ALL.difference(kept));
        if swept > 0 {
            debug!(
                peer,
                swept, "stale routes without preserved forwarding state removed"
            );
        }
    }

    async fn on_update(&mut self, peer: PeerId, message: Bytes) {
        let Some(slot) = self.slot(peer) else {
            return;
        };
        let Some(sess) = &slot.session else {
            return;
        };
        let ctx = sess.negotiated.rx;
        slot.counters.updates_in += 1;
        let name = slot.spec.config.name.clone();
        let Ok(Message::Update(u)) = bgp_proto::decode(&message, &ctx) else {
            // The session task validated it with the same context.
            debug!(peer = %name, "UPDATE failed to decode a second time");
            return;
        };
        let end_of_rib = u.end_of_rib();
        let outcome = self.rib.apply_update(peer, &u);
        drop(u);
        if let Some((afi, safi)) = end_of_rib
            && let Some(family) = bgp_proto::Families::of(afi, safi)
            && self.slot(peer).is_some_and(|s| s.stale_until.is_some())
        {
            // RFC 4724 §4.2: the restarted peer has re-sent this family;
            // whatever it did not re-send is gone.
            let removed = self.rib.sweep_stale(peer, family);
            let left = self.rib.has_stale(peer);
            if let Some(s) = self.slot(peer) {
                info!(peer = %s.spec.config.name, removed, "End-of-RIB after a graceful restart: stale routes removed");
                if !left {
                    s.stale_until = None;
                }
            }
        }
        self.export_changes().await;
        if let Some(s) = self.slot(peer) {
            if outcome.max_prefix_warning {
                warn!(peer = %name, "maximum number of prefixes exceeded");
            }
            if let Some(n) = outcome.teardown {
                warn!(peer = %name, "maximum number of prefixes exceeded: closing the session");
                let _ = s.commands.send(Command::Reset(n)).await;
            }
        }
    }

    async fn on_route_refresh(&mut self, peer: PeerId, request: RouteRefresh) {
        let Some(slot) = self.slot(peer) else {
            return;
        };
        let name = slot.spec.config.name.clone();
        let family = bgp_proto::Families::of(request.afi, request.safi);
        match (request.subtype, family) {
            (RouteRefreshSubtype::Normal, _) => {
                info!(peer = %name, afi = ?request.afi, "route refresh requested");
                self.resend(peer, request.afi, request.safi).await;
            }
            // RFC 7313 §4: the peer re-advertises the family: its routes
            // are stale until re-sent, and the ones not re-sent by the EoRR
            // go.
            (RouteRefreshSubtype::BeginningOfRouteRefresh, Some(f)) => {
                let marked = self.rib.mark_stale(peer, f);
                if let Some(s) = self.slot(peer) {
                    s.stale_until
                        .get_or_insert(Instant::now() + STALE_PATH_TIME);
                }
                debug!(peer = %name, marked, "BoRR: routes marked stale");
            }
            (RouteRefreshSubtype::EndOfRouteRefresh, Some(f)) => {
                let removed = self.rib.sweep_stale(peer, f);
                let left = self.rib.has_stale(peer);
                if let Some(s) = self.slot(peer)
                    && !left
                {
                    s.stale_until = None;
                }
                info!(peer = %name, removed, "EoRR: routes not re-advertised removed");
                self.export_changes().await;
            }
            _ => {}
        }
    }

    /// Re-advertises everything of a family (ROUTE-REFRESH), with the RFC
    /// 7313 markers when enhanced route refresh was negotiated.
    async fn resend(&mut self, peer: PeerId, afi: Afi, safi: Safi) {
        let Some(slot) = self.slot(peer) else {
            return;
        };
        let Some(sess) = &slot.session else {
            return;
        };
        let ctx = sess.negotiated.tx;
        let enhanced = sess.negotiated.enhanced_route_refresh;
        let mut msgs = Vec::new();
        if enhanced {
            msgs.push(encode_refresh(RouteRefresh {
                afi,
                subtype: RouteRefreshSubtype::BeginningOfRouteRefresh,
                safi,
            }));
        }
        let ipv4 = afi == Afi::Ipv4;
        let mut b = UpdateBuilder::new(ctx);
        for (attrs, nlri) in group(
            slot.adj_out
                .iter()
                .filter(|(p, _)| p.is_ipv4() == ipv4)
                .map(|(p, a)| (*p, a.clone())),
        ) {
            if let Err(e) = b.announce(&attrs, &nlri) {
                warn!(peer = %slot.spec.config.name, error = %e, "cannot encode routes");
            }
        }
        msgs.extend(b.finish());
        if enhanced {
            msgs.push(encode_refresh(RouteRefresh {
                afi,
                subtype: RouteRefreshSubtype::EndOfRouteRefresh,
                safi,
            }));
        }
        slot.counters.updates_out += msgs.len() as u64;
        let _ = slot.commands.send(Command::Send(msgs)).await;
    }

    /// The route peer `id` should have for `prefix`: our own route for it,
    /// else (when its export policy allows learned routes) the Loc-RIB's
    /// best path, unless that came from the peer itself.
    fn desired_route(
        &self,
        slot: &PeerSlot,
        local: IpAddr,
        prefix: &Prefix,
        cache: &mut ExportCache,
    ) -> Option<Arc<PathAttributes>> {
        let internal = slot.spec.config.asn == self.config.asn;
        if let Some(lr) = self.local_routes.get(prefix) {
            let mut key = lr.route.clone();
            match self.drain {
                Some(DrainMode::Withdraw) => return None,
                Some(DrainMode::Prepend { count }) => {
                    key.prepend = key.prepend.saturating_add(count);
                }
                None => {}
            }
            let route = key.clone();
            key.prefix = Prefix::V4(0, 0);
            if let Some((_, a)) = cache.local.iter().find(|(k, _)| *k == key) {
                return a.clone();
            }
            let a = export_attrs(&route, self.config.asn, internal, local).map(Arc::new);
            if a.is_none() {
                debug!(peer = %slot.spec.config.name, %prefix, "no next hop of the prefix's family on this session");
            }
            cache.local.push((key, a.clone()));
            return a;
        }
        let export = &slot.spec.config.export;
        if !export.learned {
            return None;
        }
        let best = self.rib.get(prefix)?.dest.best();
        if best.peer == slot.spec.id {
            return None;
        }
        let key = Arc::as_ptr(&best.attrs) as usize;
        if let Some(a) = cache.learned.get(&key) {
            return a.clone();
        }
        let a = reexport_attrs(
            &best.attrs,
            self.config.asn,
            internal,
            local,
            &export.strip_asns,
        )
        .map(Arc::new);
        cache.learned.insert(key, a.clone());
        a
    }

    /// Sends peer `id` the difference between what it has and what it
    /// should have, for every prefix (`None`) or the given ones; with
    /// `initial`, also End-of-RIB for each family.
    async fn sync_peer_prefixes(&mut self, id: PeerId, scope: Option<&[Prefix]>, initial: bool) {
        let Some(slot) = self.peers.get(usize::from(id).wrapping_sub(1)) else {
            return;
        };
        let Some(sess) = &slot.session else {
            return;
        };
        let local = sess.local.ip();
        let mut cache = ExportCache::default();
        let candidates: Vec<Prefix> = match scope {
            Some(p) => p.to_vec(),
            None => {
                let mut all: std::collections::BTreeSet<Prefix> =
                    self.local_routes.keys().copied().collect();
                all.extend(slot.adj_out.keys().copied());
                if slot.spec.config.export.learned {
                    all.extend(self.rib.iter().map(|(p, _)| p));
                }
                all.into_iter().collect()
            }
        };
        let mut announce: Vec<(Prefix, Arc<PathAttributes>)> = Vec::new();
        let mut withdraw: Vec<Nlri> = Vec::new();
        for p in &candidates {
            let want = self.desired_route(slot, local, p, &mut cache);
            match (slot.adj_out.get(p), want) {
                (Some(have), Some(want)) if **have == *want => {}
                (_, Some(want)) => announce.push((*p, want)),
                (Some(_), None) => withdraw.push(Nlri::new(*p)),
                (None, None) => {}
            }
        }
        let ctx = sess.negotiated.tx;
        let families = sess.negotiated.unicast_families();
        let name = slot.spec.config.name.clone();
        let mut b = UpdateBuilder::new(ctx);
        if let Err(e) = b.withdraw(&withdraw) {
            warn!(peer = %name, error = %e, "cannot encode withdrawals");
        }
        for (attrs, nlri) in group(announce.iter().cloned()) {
            if let Err(e) = b.announce(&attrs, &nlri) {
                warn!(peer = %name, error = %e, "cannot encode routes");
            }
        }
        if initial {
            for (afi, safi, f) in [
                (Afi::Ipv4, Safi::Unicast, bgp_proto::Families::IPV4_UNICAST),
                (Afi::Ipv6, Safi::Unicast, bgp_proto::Families::IPV6_UNICAST),
            ] {
                if families.contains(f) {
                    let _ = b.end_of_rib(afi, safi);
                }
            }
        }
        let msgs = b.finish();
        let Some(slot) = self.slot(id) else {
            return;
        };
        for n in &withdraw {
            slot.adj_out.remove(&n.prefix);
        }
        for (p, a) in announce {
            slot.adj_out.insert(p, a);
        }
        slot.counters.prefixes_advertised = slot.adj_out.len();
        if msgs.is_empty() {
            return;
        }
        slot.counters.updates_out += msgs.len() as u64;
        if slot.commands.send(Command::Send(msgs)).await.is_err() {
            error!(peer = %name, "session task is gone");
        }
    }

    /// Full resynchronisation of one peer.
    async fn sync_peer(&mut self, id: PeerId, initial: bool) {
        self.sync_peer_prefixes(id, None, initial).await;
    }

    /// Passes Loc-RIB changes on to the peers that re-export learned routes.
    async fn export_changes(&mut self) {
        // Routes freed in the background since: release their attributes.
        self.rib.tidy();
        let changed = self.rib.take_changes();
        if changed.is_empty() {
            return;
        }
        self.mirror_to_kernel(&changed);
        let ids: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|p| p.session.is_some() && p.spec.config.export.learned)
            .map(|p| p.spec.id)
            .collect();
        if ids.is_empty() {
            return;
        }
        let changed = changed.to_vec();
        for id in ids {
            self.sync_peer_prefixes(id, Some(&changed), false).await;
        }
    }
}

impl Daemon {
    /// Passes Loc-RIB changes to the kernel: each prefix's ECMP set of BGP
    /// next hops (empty: removed) and the peer of its best path, whose
    /// per-peer install settings apply. Never blocks.
    fn mirror_to_kernel(&self, changed: &crate::rib::Changes) {
        let Some(k) = &self.kernel else {
            return;
        };
        k.set_many(changed.iter().map(|p| match self.rib.get(&p) {
            Some(e) => {
                let paths = &e.dest.paths()[..usize::from(e.multipath)];
                let mut hops: Vec<IpAddr> = paths.iter().map(|p| p.attrs.next_hop).collect();
                hops.dedup();
                let peer = self.rib.peer_info(e.dest.best().peer).map(|i| i.address);
                (p, peer, hops)
            }
            None => (p, None, Vec::new()),
        }));
    }

    /// Tells the kernel module which prefixes we originate now (a learned
    /// copy of one is never installed).
    pub(super) fn originated_changed(&self) {
        if let Some(k) = &self.kernel {
            k.set_originated(self.local_routes.keys().copied().collect());
        }
    }
}

/// Export attribute sets built during one synchronisation, shared between
/// prefixes so that they group into few UPDATEs.
#[derive(Default)]
struct ExportCache {
    local: Vec<(RouteConfig, Option<Arc<PathAttributes>>)>,
    learned: HashMap<usize, Option<Arc<PathAttributes>>>,
}

/// The attributes of a learned route re-advertised to one peer (export
/// policy `learned = true`): our AS prepended towards external peers, the
/// configured ASNs stripped (Azure Route Server rejects paths holding
/// 65515), next hop self, MED kept only inside the AS (RFC 4271 §5.1.4),
/// NO_EXPORT / NO_ADVERTISE honoured (RFC 1997).
fn reexport_attrs(
    a: &PathAttrs,
    local_asn: u32,
    internal: bool,
    local: IpAddr,
    strip: &[u32],
) -> Option<PathAttributes> {
    if a.communities.contains(&Community::NO_ADVERTISE)
        || (!internal && a.communities.contains(&Community::NO_EXPORT))
    {
        return None;
    }
    if internal {
        // Without route reflection, iBGP-learned routes never go to iBGP
        // peers (RFC 4271 §9.2); ours are all eBGP-learned or local here.
        return None;
    }
    let mut as_path = a.as_path.clone();
    for asn in strip {
        as_path.remove_asn(*asn);
    }
    as_path.prepend(local_asn, 1);
    let mut out = PathAttributes {
        origin: a.origin,
        as_path,
        atomic_aggregate: a.atomic_aggregate,
        aggregator: a.aggregator,
        communities: a.communities.to_vec(),
        large_communities: a.large_communities.to_vec(),
        extended_communities: a
            .extended_communities
            .iter()
            .copied()
            .filter(|c| c.is_transitive())
            .collect(),
        unknown: a
            .opaque
            .iter()
            .map(|o| UnknownAttribute {
                flags: o.flags,
                type_code: o.type_code,
                value: o.value.to_vec(),
            })
            .collect(),
        ..PathAttributes::default()
    };
    match (a.next_hop, local) {
        (IpAddr::V4(_), IpAddr::V4(l)) => out.next_hop = Some(l),
        (IpAddr::V6(_), IpAddr::V6(l)) => {
            out.ipv6_next_hop = Some(Ipv6NextHop {
                global: l,
                link_local: None,
            })
        }
        _ => return None,
    }
    Some(out)
}

/// The attributes of a local route towards one peer.
fn export_attrs(
    r: &RouteConfig,
    local_asn: u32,
    internal: bool,
    session_local: IpAddr,
) -> Option<PathAttributes> {
    let next_hop = match r.next_hop {
        NextHopConfig::Own => session_local,
        NextHopConfig::Address(a) => a,
    };
    let mut as_path = AsPath::empty();
    if !internal {
        as_path.prepend(local_asn, 1 + usize::from(r.prepend));
    } else if r.prepend > 0 {
        as_path.prepend(local_asn, usize::from(r.prepend));
    }
    let mut a = PathAttributes {
        origin: r.origin,
        as_path,
        med: r.med,
        local_pref: internal.then_some(crate::rib::attrs::DEFAULT_LOCAL_PREF),
        communities: r.communities.clone(),
        large_communities: r.large_communities.clone(),
        ..PathAttributes::default()
    };
    match (r.prefix.is_ipv4(), next_hop) {
        (true, IpAddr::V4(nh)) => a.next_hop = Some(nh),
        (false, IpAddr::V6(nh)) => {
            a.ipv6_next_hop = Some(Ipv6NextHop {
                global: nh,
                link_local: None,
            })
        }
        _ => return None,
    }
    Some(a)
}

/// Groups prefixes by attribute set (pointer-equal sets first, then equal
/// values), keeping the first-seen order.
fn group(
    routes: impl Iterator<Item = (Prefix, Arc<PathAttributes>)>,
) -> Vec<(Arc<PathAttributes>, Vec<Nlri>)> {
    let mut groups: Vec<(Arc<PathAttributes>, Vec<Nlri>)> = Vec::new();
    for (p, a) in routes {
        match groups
            .iter_mut()
            .find(|(g, _)| Arc::ptr_eq(g, &a) || **g == *a)
        {
            Some((_, v)) => v.push(Nlri::new(p)),
            None => groups.push((a, vec![Nlri::new(p)])),
        }
    }
    groups
}

fn encode_refresh(r: RouteRefresh) -> Bytes {
    let mut b = BytesMut::with_capacity(23);
    r.encode(&mut b);
    b.freeze()
}
