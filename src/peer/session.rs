//! The session task: one tokio task per peer owning its connection(s),
//! receive buffer, FSM and timer deadlines.
//!
//! ```text
//!             Command (start, stop, incoming TCP, UPDATEs to send)
//!   daemon ─────────────────────────────────────────────► session task
//!     ▲                                                      │  │
//!     │ PeerEvent (state, Established, UPDATE bytes, down)  │  │ Bytes
//!     └──────────────────────────────────────────────────────┘  ▼
//!                                                          writer task ─► TCP
//! ```
//!
//! The task `select!`s over the socket, its deadlines (ConnectRetry, hold,
//! keepalive, automatic restart), commands, and the hand-off of received
//! UPDATEs to the RIB. Writes go through a separate writer task so that a
//! peer that does not read can never stop us from reading (two speakers
//! both blocked on write is a classic BGP deadlock). Received UPDATEs wait
//! in a short queue for the RIB; while it is full the socket is not read
//! (TCP back-pressure to the peer) but timers keep running.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bgp_proto::framing::Framer;
use bgp_proto::iana::{CapabilityCode, CeaseSubcode, ErrorCode, OpenSubcode};
use bgp_proto::message::open::{Negotiated, Open, negotiate};
use bgp_proto::message::route_refresh::RouteRefresh;
use bgp_proto::{Afi, Context, Message, Notification, Safi};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::fsm::{Action, Event, Fsm, State};
use super::transport::{self, TcpOptions};
use crate::config::PeerConfig;
use crate::rib::PeerId;

/// How many received UPDATEs may wait for the RIB before the socket is no
/// longer read.
const RIB_QUEUE: usize = 64;

/// Longest wait between automatic restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(120);

/// Commands to a session task.
#[derive(Debug)]
pub enum Command {
    /// Start the session (ManualStart).
    Start,
    /// Stop it with Cease / Administrative Shutdown and this RFC 8203
    /// message; it stays down until [`Command::Start`].
    Stop(String),
    /// A connection the listener accepted from this peer's address.
    Incoming(TcpStream),
    /// Messages to send on the Established session (already encoded).
    Send(Vec<Bytes>),
    /// Close the session with this NOTIFICATION (e.g. maximum prefixes) and
    /// restart it later.
    Reset(Notification),
}

/// What a session tells the daemon.
#[derive(Debug)]
pub enum PeerEvent {
    /// The FSM moved to another state.
    State {
        /// The peer.
        peer: PeerId,
        /// Its new state.
        state: State,
    },
    /// The session is Established.
    Established {
        /// The peer.
        peer: PeerId,
        /// What the OPENs negotiated.
        negotiated: Box<Negotiated>,
        /// The peer's OPEN.
        remote: Box<Open>,
        /// Our end of the connection (the next hop for "self").
        local: SocketAddr,
    },
    /// A valid UPDATE (whole message, header included), to be decoded
    /// with the `rx` context of the session.
    Update {
        /// The peer.
        peer: PeerId,
        /// The message.
        message: Bytes,
    },
    /// A ROUTE-REFRESH request from the peer.
    RouteRefresh {
        /// The peer.
        peer: PeerId,
        /// The request.
        request: RouteRefresh,
    },
    /// The session went down: everything learned from it is void.
    Down {
        /// The peer.
        peer: PeerId,
        /// Why, for the status and logs.
        reason: String,
        /// The Established session ended by losing its TCP connection with
        /// no NOTIFICATION either way: the case in which a graceful restart
        /// helper keeps the peer's routes (RFC 4724 §4.2).
        graceful: bool,
    },
}

/// Message counters a session shares with the daemon's status API.
#[derive(Debug, Default)]
pub struct SessionCounters {
    /// BGP messages received, all sessions so far.
    pub messages_in: AtomicU64,
    /// BGP messages sent, all sessions so far.
    pub messages_out: AtomicU64,
}

/// The static description of one session.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// Index of the peer.
    pub id: PeerId,
    /// Its configuration.
    pub config: PeerConfig,
    /// Our AS.
    pub local_asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Counters read by the status API.
    pub counters: Arc<SessionCounters>,
}

impl SessionSpec {
    /// The OPEN we send to this peer.
    pub fn open(&self) -> Open {
        let mut b = Open::builder(self.local_asn, self.config.hold_time, self.router_id)
            .family(Afi::Ipv4, Safi::Unicast)
            .family(Afi::Ipv6, Safi::Unicast)
            .route_refresh()
            .enhanced_route_refresh()
            .extended_message();
        // Graceful restart helper (RFC 4724 §3): no restart state, no
        // forwarding state preserved; we only keep the peer's routes.
        b = b.graceful_restart(bgp_proto::message::capability::GracefulRestart {
            flags: 0,
            restart_time: 0,
            families: Vec::new(),
        });
        match b.build() {
            Ok(o) => o,
            // The builder only fails on values the config validation
            // rejects; fall back to a plain OPEN rather than panic.
            Err(_) => Open {
                version: 4,
                my_as: u16::try_from(self.local_asn).unwrap_or(23456),
                hold_time: self.config.hold_time,
                bgp_identifier: self.router_id,
                parameters: Vec::new(),
            },
        }
    }
}

/// One TCP connection of the session.
struct Conn {
    reader: OwnedReadHalf,
    writer: mpsc::UnboundedSender<Bytes>,
    writer_task: JoinHandle<()>,
    buf: BytesMut,
    /// True when we opened it.
    outgoing: bool,
    local: SocketAddr,
    sent: Arc<SessionCounters>,
}

impl Conn {
    fn new(stream: TcpStream, outgoing: bool, sent: Arc<SessionCounters>) -> std::io::Result<Self> {
        let local = stream.local_addr()?;
        let (reader, writer) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let writer_task = tokio::spawn(write_loop(writer, rx));
        Ok(Self {
            reader,
            writer: tx,
            writer_task,
            buf: BytesMut::with_capacity(65536),
            outgoing,
            local,
            sent,
        })
    }

    fn send(&self, b: Bytes) {
        self.sent.messages_out.fetch_add(1, Ordering::Relaxed);
        // A closed writer means the connection is gone; the reader sees it.
        let _ = self.writer.send(b);
    }

    /// Closes after everything queued (a NOTIFICATION, say) is written.
    fn close(self) {
        drop(self.writer);
        drop(self.reader);
        // The writer task flushes, shuts the socket down and exits; it is
        // bounded by its own write timeout.
        drop(self.writer_task);
    }
}

async fn write_loop(mut w: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Bytes>) {
    while let Some(b) = rx.recv().await {
        // A peer that stops reading for this long is gone; the hold
        // timer on our side will notice too.
        match tokio::time::timeout(Duration::from_secs(240), w.write_all(&b)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), w.shutdown()).await;
}

/// The session task's state.
struct Session {
    spec: SessionSpec,
    fsm: Fsm,
    events: mpsc::Sender<PeerEvent>,
    local_open: Open,
    conn: Option<Conn>,
    /// An incoming connection during OpenSent/OpenConfirm (RFC 4271 §6.8).
    secondary: Option<Conn>,
    connecting: Option<JoinHandle<std::io::Result<TcpStream>>>,
    ctx: Context,
    framer: Framer,
    negotiated: Option<Negotiated>,
    remote_open: Option<Open>,
    connect_retry: Option<Instant>,
    hold: Option<Instant>,
    keepalive: Option<Instant>,
    restart: Option<Instant>,
    /// Administratively stopped: no automatic restart, incoming refused.
    stopped: bool,
    to_rib: VecDeque<PeerEvent>,
    backoff_exp: u32,
    down_reason: String,
    /// The connection of an Established session was lost without a
    /// NOTIFICATION (see [`PeerEvent::Down`]).
    graceful_down: bool,
}

/// Runs one session until the command channel closes.
pub async fn run(
    spec: SessionSpec,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<PeerEvent>,
) {
    let local_open = spec.open();
    let mut s = Session {
        fsm: Fsm::new(spec.config.passive),
        spec,
        events,
        local_open,
        conn: None,
        secondary: None,
        connecting: None,
        ctx: Context::INITIAL,
        framer: Framer::new(Context {
            extended_message: true,
            ..Context::INITIAL
        }),
        negotiated: None,
        remote_open: None,
        connect_retry: None,
        hold: None,
        keepalive: None,
        restart: None,
        stopped: true,
        to_rib: VecDeque::new(),
        backoff_exp: 0,
        down_reason: String::new(),
        graceful_down: false,
    };
    loop {
        let deadline = s.next_deadline();
        let can_read = s.to_rib.len() < RIB_QUEUE;
        // Each branch only produces a value; handling happens after the
        // select, when the branch futures no longer borrow the session.
        let wake = tokio::select! {
            biased;
            cmd = commands.recv() => Wake::Command(cmd),
            // Hand queued UPDATEs to the RIB first so reading can resume.
            permit = s.events.reserve(), if !s.to_rib.is_empty() => {
                if let (Ok(p), Some(ev)) = (permit, s.to_rib.pop_front()) {
                    p.send(ev);
                }
                Wake::Nothing
            }
            r = read(&mut s.conn), if can_read && s.conn.is_some() => Wake::Read(r, false),
            r = read(&mut s.secondary), if s.secondary.is_some() => Wake::Read(r, true),
            r = join(&mut s.connecting), if s.connecting.is_some() => Wake::Connected(r),
            () = sleep_until(deadline), if deadline.is_some() => Wake::Timer,
        };
        match wake {
            // The RIB took an UPDATE: messages that stayed in the receive
            // buffer while its queue was full go on now, not when the peer
            // happens to send its next bytes.
            Wake::Nothing => {
                if s.conn.as_ref().is_some_and(|c| !c.buf.is_empty()) {
                    s.drain_messages().await;
                }
            }
            Wake::Command(Some(c)) => s.command(c).await,
            Wake::Command(None) => {
                s.stopped = true;
                s.handle(Event::ManualStop(shutdown("peer removed"))).await;
                return;
            }
            Wake::Read(r, secondary) => s.on_read(r, secondary).await,
            Wake::Connected(r) => {
                s.connecting = None;
                match r {
                    Ok(stream) => s.on_connected(Ok(stream), true).await,
                    Err(e) => {
                        debug!(peer = %s.spec.config.name, error = %e, "connect failed");
                        s.handle(Event::TcpConnectionFails).await;
                    }
                }
            }
            Wake::Timer => s.on_timer().await,
        }
    }
}

/// What woke the session task.
enum Wake {
    Nothing,
    Command(Option<Command>),
    Read(std::io::Result<usize>, bool),
    Connected(std::io::Result<TcpStream>),
    Timer,
}

fn shutdown(msg: &str) -> Notification {
    Notification::cease_shutdown(CeaseSubcode::AdministrativeShutdown, msg)
}

async fn sleep_until(d: Option<Instant>) {
    match d {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn read(conn: &mut Option<Conn>) -> std::io::Result<usize> {
    match conn {
        Some(c) => c.reader.read_buf(&mut c.buf).await,
        None => std::future::pending().await,
    }
}

async fn join(
    h: &mut Option<JoinHandle<std::io::Result<TcpStream>>>,
) -> std::io::Result<TcpStream> {
    match h {
        Some(h) => match h.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        },
        None => std::future::pending().await,
    }
}

/// RFC 4271 §10: timers get a random 75–100 % of their value.
fn jitter(d: Duration) -> Duration {
    let r = f64::from(rand_u32() % 2500) / 10000.0;
    d.mul_f64(1.0 - r)
}

/// A cheap random number; timer jitter needs no cryptographic quality.
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u32
}

impl Session {
    fn name(&self) -> &str {
        &self.spec.config.name
    }

    fn next_deadline(&self) -> Option<Instant> {
        [self.connect_retry, self.hold, self.keepalive, self.restart]
            .into_iter()
            .flatten()
            .min()
    }

    fn backoff(&self) -> Duration {
        let base = self.spec.config.connect_retry;
        let d = base.saturating_mul(1 << self.backoff_exp.min(8));
        jitter(d.min(MAX_BACKOFF))
    }

    fn emit(&mut self, ev: PeerEvent) {
        // Route-affecting events keep their order behind queued UPDATEs.
        self.to_rib.push_back(ev);
    }

    async fn command(&mut self, c: Command) {
        match c {
            Command::Start => {
                self.stopped = false;
                self.restart = None;
                self.backoff_exp = 0;
                self.handle(Event::ManualStart).await;
            }
            Command::Stop(msg) => {
                self.stopped = true;
                self.restart = None;
                self.handle(Event::ManualStop(shutdown(&msg))).await;
            }
            Command::Reset(n) => {
                self.down_reason = format!("sent {}", describe(&n));
                self.handle(Event::UpdateMsgErr(n)).await;
            }
            Command::Send(msgs) => {
                if self.fsm.state() == State::Established
                    && let Some(c) = &self.conn
                {
                    for m in msgs {
                        c.send(m);
                    }
                }
            }
            Command::Incoming(stream) => self.incoming(stream).await,
        }
    }

    async fn incoming(&mut self, stream: TcpStream) {
        if self.stopped {
            info!(peer = %self.name(), "connection refused: session is administratively down");
            return;
        }
        if let Err(e) = transport::prepare_accepted(&stream, self.spec.config.ttl) {
            warn!(peer = %self.name(), error = %e, "cannot set up accepted connection");
            return;
        }
        match self.fsm.state() {
            State::Idle => {
                self.restart = None;
                self.handle(Event::AutomaticStart).await;
                self.abort_connect();
                self.on_connected(Ok(stream), false).await;
            }
            State::Connect | State::Active => {
                self.abort_connect();
                self.on_connected(Ok(stream), false).await;
            }
            State::OpenSent | State::OpenConfirm if self.secondary.is_none() => {
                let Ok(conn) = Conn::new(stream, false, self.spec.counters.clone()) else {
                    return;
                };
                debug!(peer = %self.name(), "connection collision: second connection accepted");
                conn.send(self.encode_open());
                self.secondary = Some(conn);
                // With the peer's identifier known, decide at once.
                if let Some(id) = self.remote_open.as_ref().map(|o| o.bgp_identifier) {
                    self.resolve_collision(id).await;
                }
            }
            _ => {
                // RFC 4271 §6.8: a connection colliding with an Established
                // one is closed.
                if let Ok(conn) = Conn::new(stream, false, self.spec.counters.clone()) {
                    conn.send(encode_notification(&Notification::new(
                        ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution),
                        Vec::new(),
                    )));
                    conn.close();
                }
            }
        }
    }

    fn abort_connect(&mut self) {
        if let Some(h) = self.connecting.take() {
            h.abort();
        }
    }

    async fn on_connected(&mut self, stream: std::io::Result<TcpStream>, outgoing: bool) {
        let conn = stream.and_then(|s| Conn::new(s, outgoing, self.spec.counters.clone()));
        match conn {
            Ok(c) => {
                self.conn = Some(c);
                self.buf_reset();
                self.handle(Event::TcpConnectionUp).await;
            }
            Err(e) => {
                debug!(peer = %self.name(), error = %e, "connection setup failed");
                self.handle(Event::TcpConnectionFails).await;
            }
        }
    }

    fn buf_reset(&mut self) {
        self.ctx = Context::INITIAL;
        self.framer.set_context(Context {
            extended_message: true,
            ..Context::INITIAL
        });
        self.negotiated = None;
        self.remote_open = None;
    }

    fn encode_open(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(128);
        // Our own OPEN is built from validated config; encoding cannot fail
        // on it, and an empty message would only make the peer close.
        let _ = self.local_open.encode(&mut b);
        b.freeze()
    }

    /// RFC 4271 §6.8: keep the connection opened by the side with the
    /// higher BGP identifier.
    async fn resolve_collision(&mut self, remote_id: Ipv4Addr) {
        let Some(secondary) = self.secondary.take() else {
            return;
        };
        let keep_ours = u32::from(self.spec.router_id) > u32::from(remote_id);
        let primary_is_ours = self.conn.as_ref().is_some_and(|c| c.outgoing);
        let cease = encode_notification(&Notification::new(
            ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution),
            Vec::new(),
        ));
        if keep_ours == primary_is_ours {
            info!(peer = %self.name(), "connection collision: keeping the existing connection");
            secondary.send(cease);
            secondary.close();
            return;
        }
        info!(peer = %self.name(), "connection collision: switching to the peer's connection");
        if let Some(old) = self.conn.take() {
            old.send(cease);
            old.close();
        }
        // The new connection has our OPEN already; its FSM starts in
        // OpenSent.
        self.conn = Some(secondary);
        self.buf_reset();
        self.fsm = Fsm::new(true);
        self.fsm.handle(Event::ManualStartPassive);
        self.fsm.handle(Event::TcpConnectionUp);
        self.hold = Some(Instant::now() + super::fsm::OPEN_HOLD_TIME);
        self.keepalive = None;
        // Messages already buffered on it are read by the next loop turn.
    }

    async fn on_read(&mut self, r: std::io::Result<usize>, secondary: bool) {
        match r {
            Ok(0) | Err(_) => {
                if secondary {
                    if let Some(c) = self.secondary.take() {
                        c.close();
                    }
                    return;
                }
                let why = match &r {
                    Err(e) => format!("connection error: {e}"),
                    _ => "connection closed by peer".to_string(),
                };
                if self.down_reason.is_empty() {
                    self.down_reason = why;
                }
                self.graceful_down = self.fsm.state() == State::Established;
                self.handle(Event::TcpConnectionFails).await;
            }
            Ok(_) if secondary => self.on_secondary_data().await,
            Ok(_) => self.drain_messages().await,
        }
    }

    async fn on_secondary_data(&mut self) {
        let Some(c) = self.secondary.as_mut() else {
            return;
        };
        match self.framer.next_message(&mut c.buf) {
            Ok(None) => {}
            Ok(Some(m)) => match bgp_proto::decode(&m, &Context::INITIAL) {
                Ok(Message::Open(o)) => {
                    let id = o.bgp_identifier;
                    // Put the OPEN back in front so it is processed on the
                    // connection that survives.
                    if let Some(c) = self.secondary.as_mut() {
                        let mut b = BytesMut::with_capacity(m.len() + c.buf.len());
                        b.extend_from_slice(&m);
                        b.extend_from_slice(&c.buf);
                        c.buf = b;
                    }
                    self.resolve_collision(id).await;
                    if self.conn.as_ref().is_some_and(|c| !c.buf.is_empty()) {
                        self.drain_messages().await;
                    }
                }
                _ => {
                    if let Some(c) = self.secondary.take() {
                        c.close();
                    }
                }
            },
            Err(_) => {
                if let Some(c) = self.secondary.take() {
                    c.close();
                }
            }
        }
    }

    /// Processes every complete message in the receive buffer.
    async fn drain_messages(&mut self) {
        // Bounded by the buffer: each turn consumes one message or stops.
        loop {
            if self.to_rib.len() >= RIB_QUEUE {
                return;
            }
            let Some(c) = self.conn.as_mut() else {
                return;
            };
            let msg = match self.framer.next_message(&mut c.buf) {
                Ok(Some(m)) => m,
                Ok(None) => return,
                Err(e) => {
                    warn!(peer = %self.name(), error = %e, "bad message header");
                    self.down_reason = format!("received a bad header: {e}");
                    self.handle(Event::BgpHeaderErr(e.notification())).await;
                    return;
                }
            };
            self.on_message(msg).await;
        }
    }

    async fn on_message(&mut self, m: Bytes) {
        self.spec
            .counters
            .messages_in
            .fetch_add(1, Ordering::Relaxed);
        let decoded = match bgp_proto::decode(&m, &self.ctx) {
            Ok(d) => d,
            Err(e) => {
                warn!(peer = %self.name(), error = %e, "malformed message");
                self.down_reason = format!("received a malformed message: {e}");
                let n = e.notification();
                let ev = match e.code {
                    ErrorCode::MessageHeader(_) => Event::BgpHeaderErr(n),
                    ErrorCode::OpenMessage(_) => Event::BgpOpenMsgErr(n),
                    _ => Event::UpdateMsgErr(n),
                };
                self.handle(ev).await;
                return;
            }
        };
        match decoded {
            Message::Open(o) => self.on_open(o).await,
            Message::Keepalive => self.handle(Event::KeepAliveMsg).await,
            Message::Notification(n) => {
                warn!(peer = %self.name(), notification = %n, "peer sent NOTIFICATION");
                self.down_reason = format!("received {}", describe(&n));
                let version = matches!(
                    n.code,
                    ErrorCode::OpenMessage(OpenSubcode::UnsupportedVersionNumber)
                );
                self.handle(if version {
                    Event::NotifMsgVerErr
                } else {
                    Event::NotifMsg
                })
                .await;
            }
            Message::Update(u) => {
                for f in u.errors() {
                    warn!(peer = %self.name(), finding = %f, "RFC 7606 error in UPDATE");
                }
                drop(u);
                let established = self.fsm.state() == State::Established;
                self.handle(Event::UpdateMsg).await;
                if established {
                    let peer = self.spec.id;
                    self.emit(PeerEvent::Update { peer, message: m });
                }
            }
            Message::RouteRefresh(rr) => {
                if self.fsm.state() == State::Established {
                    // Restarts the hold timer like any message.
                    self.handle(Event::UpdateMsg).await;
                    let peer = self.spec.id;
                    self.emit(PeerEvent::RouteRefresh { peer, request: rr });
                } else {
                    self.handle(Event::UpdateMsg).await;
                }
            }
        }
    }

    /// Checks the peer's OPEN (RFC 4271 §6.2) and feeds the FSM.
    async fn on_open(&mut self, o: Open) {
        if self.fsm.state() != State::OpenSent {
            self.handle(Event::BgpOpen { hold_time: 0 }).await;
            return;
        }
        let cfg = &self.spec.config;
        let err = |sub, data: Vec<u8>| {
            Event::BgpOpenMsgErr(Notification::new(ErrorCode::OpenMessage(sub), data))
        };
        if o.asn() != cfg.asn {
            warn!(peer = %self.name(), expected = cfg.asn, got = o.asn(), "peer has the wrong AS");
            self.down_reason = format!("peer AS {} is not the configured {}", o.asn(), cfg.asn);
            let ev = err(OpenSubcode::BadPeerAs, o.my_as.to_be_bytes().to_vec());
            self.handle(ev).await;
            return;
        }
        let internal = cfg.asn == self.spec.local_asn;
        if o.bgp_identifier.is_unspecified()
            || (internal && o.bgp_identifier == self.spec.router_id)
        {
            self.down_reason = format!("bad BGP identifier {}", o.bgp_identifier);
            let ev = err(
                OpenSubcode::BadBgpIdentifier,
                o.bgp_identifier.octets().to_vec(),
            );
            self.handle(ev).await;
            return;
        }
        let negotiated = negotiate(&self.local_open, &o);
        if !o.has_capability(CapabilityCode::RouteRefresh) {
            debug!(peer = %self.name(), "peer does not support route refresh");
        }
        // A collision waiting on this identifier can be decided now.
        if self.secondary.is_some() {
            let id = o.bgp_identifier;
            self.remote_open = Some(o.clone());
            self.resolve_collision(id).await;
            if self.remote_open.is_none() {
                // Switched to the other connection: its OPEN decides.
                return;
            }
        }
        self.ctx = negotiated.rx;
        self.framer.set_context(negotiated.rx);
        let hold_time = negotiated.hold_time;
        self.negotiated = Some(negotiated);
        self.remote_open = Some(o);
        self.handle(Event::BgpOpen { hold_time }).await;
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if self.restart.is_some_and(|t| t <= now) {
            self.restart = None;
            if !self.stopped {
                self.handle(Event::AutomaticStart).await;
            }
        }
        if self.connect_retry.is_some_and(|t| t <= now) {
            self.connect_retry = None;
            self.handle(Event::ConnectRetryTimerExpires).await;
        }
        if self.hold.is_some_and(|t| t <= now) {
            self.hold = None;
            if !self.to_rib.is_empty() {
                // We are the bottleneck (the RIB has not taken what the
                // peer sent): the peer is alive, its KEEPALIVEs wait unread
                // in our socket.
                self.hold = Some(now + Duration::from_secs(u64::from(self.fsm.hold_time().max(3))));
            } else {
                warn!(peer = %self.name(), "hold timer expired");
                self.down_reason = "hold timer expired".into();
                self.handle(Event::HoldTimerExpires).await;
            }
        }
        if self.keepalive.is_some_and(|t| t <= now) {
            self.keepalive = None;
            self.handle(Event::KeepaliveTimerExpires).await;
        }
    }

    /// Feeds one event to the FSM and performs its actions.
    async fn handle(&mut self, ev: Event) {
        let before = self.fsm.state();
        let actions = self.fsm.handle(ev);
        for a in actions {
            self.perform(a).await;
        }
        let after = self.fsm.state();
        if before != after {
            info!(peer = %self.name(), from = %before, to = %after, "state change");
            let peer = self.spec.id;
            // In order with Established / Down, so the status never shows a
            // state older than the session events before it.
            self.emit(PeerEvent::State { peer, state: after });
        }
    }

    async fn perform(&mut self, a: Action) {
        match a {
            Action::Connect => {
                self.abort_connect();
                let cfg = &self.spec.config;
                let opts = TcpOptions {
                    remote: SocketAddr::new(cfg.address, cfg.port),
                    local: cfg.local_address,
                    ttl: cfg.ttl,
                    password: cfg.password.clone(),
                };
                let timeout = cfg.connect_retry.max(Duration::from_secs(1));
                self.connecting = Some(tokio::spawn(async move {
                    transport::connect(&opts, timeout).await
                }));
            }
            Action::DropConnection => {
                self.abort_connect();
                if let Some(c) = self.conn.take() {
                    c.close();
                }
                if let Some(c) = self.secondary.take() {
                    c.close();
                }
            }
            Action::SendOpen => {
                let open = self.encode_open();
                if let Some(c) = &self.conn {
                    c.send(open);
                }
            }
            Action::SendKeepalive => {
                if let Some(c) = &self.conn {
                    c.send(Bytes::from_static(&KEEPALIVE));
                }
            }
            Action::SendNotification(n) => {
                warn!(peer = %self.name(), notification = %n, "sending NOTIFICATION");
                if self.down_reason.is_empty() {
                    self.down_reason = format!("sent {}", describe(&n));
                }
                if let Some(c) = &self.conn {
                    c.send(encode_notification(&n));
                }
            }
            Action::StartConnectRetry => {
                self.connect_retry = Some(Instant::now() + self.backoff());
            }
            Action::StopConnectRetry => self.connect_retry = None,
            Action::SetHoldTimer(d) => self.hold = d.map(|d| Instant::now() + d),
            Action::SetKeepaliveTimer(d) => self.keepalive = d.map(|d| Instant::now() + jitter(d)),
            Action::Established => {
                self.backoff_exp = 0;
                self.down_reason.clear();
                let (Some(n), Some(o), Some(c)) = (
                    self.negotiated.clone(),
                    self.remote_open.clone(),
                    self.conn.as_ref(),
                ) else {
                    return;
                };
                let local = c.local;
                info!(
                    peer = %self.name(),
                    hold = n.hold_time,
                    four_octet_as = n.four_octet_as,
                    "session established"
                );
                let peer = self.spec.id;
                self.emit(PeerEvent::Established {
                    peer,
                    negotiated: Box::new(n),
                    remote: Box::new(o),
                    local,
                });
            }
            Action::SessionDown => {
                let reason = if self.down_reason.is_empty() {
                    "session closed".to_string()
                } else {
                    std::mem::take(&mut self.down_reason)
                };
                info!(peer = %self.name(), reason = %reason, "session down");
                let peer = self.spec.id;
                let graceful = std::mem::take(&mut self.graceful_down);
                self.emit(PeerEvent::Down {
                    peer,
                    reason,
                    graceful,
                });
                self.buf_reset();
                if !self.stopped {
                    // Jittered exponential back-off before the automatic
                    // restart; the first one is quick so that a restarted
                    // peer is back in well under a second.
                    let wait = if self.backoff_exp == 0 {
                        jitter(Duration::from_millis(200))
                    } else {
                        self.backoff()
                    };
                    self.backoff_exp = (self.backoff_exp + 1).min(8);
                    self.restart = Some(Instant::now() + wait);
                }
            }
        }
    }
}

const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, 4,
];

fn encode_notification(n: &Notification) -> Bytes {
    let mut b = BytesMut::with_capacity(21 + n.data.len());
    // Only data longer than a message could fail; ours never is.
    let _ = n.encode(&Context::INITIAL, &mut b);
    b.freeze()
}

fn describe(n: &Notification) -> String {
    match n.shutdown_message() {
        Some(m) => format!("NOTIFICATION {} \"{m}\"", n.code),
        None => format!("NOTIFICATION {}", n.code),
    }
}

/// The address a peer is known by, for the listener's lookup.
pub fn peer_key(ip: IpAddr) -> IpAddr {
    transport::canonical_ip(ip)
}
