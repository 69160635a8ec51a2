//! The session layer against a scripted peer on loopback: the test speaks
//! BGP itself (with bgp-proto) to the real daemon, so it can misbehave on
//! purpose and see exactly what nvabgp sends back.
//!
//! Each test uses its own 127.0.x.y addresses and ports so they can run in
//! parallel. Every wait is bounded.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bgp_proto::iana::{CeaseSubcode, ErrorCode, OpenSubcode, UpdateSubcode};
use bgp_proto::message::open::Open;
use bgp_proto::message::route_refresh::{RouteRefresh, RouteRefreshSubtype};
use bgp_proto::{Afi, Context, Message, Notification, Safi};
use bytes::{Bytes, BytesMut};
use nvabgp::config::Config;
use nvabgp::control::{Client, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const WAIT: Duration = Duration::from_secs(10);

/// A BGP speaker scripted by the test.
struct FakePeer {
    stream: TcpStream,
    buf: BytesMut,
    ctx: Context,
}

impl FakePeer {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
            ctx: Context {
                extended_message: true,
                ..Context::INITIAL
            },
        }
    }

    /// Connects to the daemon from `from`.
    async fn connect(from: IpAddr, to: SocketAddr) -> Self {
        let s = TcpSocket::new_v4().unwrap();
        s.bind(SocketAddr::new(from, 0)).unwrap();
        Self::new(
            tokio::time::timeout(WAIT, s.connect(to))
                .await
                .unwrap()
                .unwrap(),
        )
    }

    async fn send(&mut self, b: &[u8]) {
        self.stream.write_all(b).await.unwrap();
    }

    /// The next whole message, `None` when the daemon closed the
    /// connection.
    async fn recv(&mut self) -> Option<Bytes> {
        let framer = bgp_proto::framing::Framer::new(self.ctx);
        loop {
            if let Some(m) = framer.next_message(&mut self.buf).unwrap() {
                return Some(m);
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("daemon silent for too long")
                .ok()?;
            if n == 0 {
                return None;
            }
        }
    }

    /// Receives until a message of the wanted kind, returning it; the
    /// skipped ones are returned too.
    async fn recv_until(&mut self, want: fn(&Message<'_>) -> bool) -> (Bytes, Vec<Bytes>) {
        let mut skipped = Vec::new();
        for _ in 0..1000 {
            let m = self.recv().await.expect("connection closed");
            let hit = want(&bgp_proto::decode(&m, &self.ctx).unwrap());
            if hit {
                return (m, skipped);
            }
            skipped.push(m);
        }
        panic!("message not seen");
    }

    /// Our OPEN, then theirs, then KEEPALIVEs both ways: Established.
    async fn handshake(&mut self, open: &Open) -> Open {
        self.send(&encode_open(open)).await;
        let m = self.recv().await.expect("no OPEN");
        let Ok(Message::Open(theirs)) = bgp_proto::decode(&m, &self.ctx) else {
            panic!("expected OPEN");
        };
        let n = bgp_proto::message::open::negotiate(open, &theirs);
        self.ctx = n.rx;
        self.send(&keepalive()).await;
        let m = self.recv().await.expect("no KEEPALIVE");
        assert!(matches!(
            bgp_proto::decode(&m, &self.ctx),
            Ok(Message::Keepalive)
        ));
        theirs
    }
}

fn keepalive() -> Vec<u8> {
    let mut b = BytesMut::new();
    bgp_proto::message::encode_keepalive(&mut b);
    b.to_vec()
}

fn encode_open(o: &Open) -> Vec<u8> {
    let mut b = BytesMut::new();
    o.encode(&mut b).unwrap();
    b.to_vec()
}

fn open(asn: u32, id: &str, hold: u16) -> Open {
    Open::builder(asn, hold, id.parse().unwrap())
        .family(Afi::Ipv4, Safi::Unicast)
        .route_refresh()
        .enhanced_route_refresh()
        .build()
        .unwrap()
}

fn notification(m: &[u8]) -> Notification {
    match bgp_proto::decode(m, &Context::MODERN) {
        Ok(Message::Notification(n)) => n,
        other => panic!("expected NOTIFICATION, got {other:?}"),
    }
}

fn free_port(ip: IpAddr) -> u16 {
    std::net::TcpListener::bind(SocketAddr::new(ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running daemon with one peer at `peer`; returns the daemon's listen
/// address and its control socket.
struct Daemon {
    listen: SocketAddr,
    socket: std::path::PathBuf,
    _dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn daemon(local: &str, peer: &str, peer_port: u16, extra: &str) -> Daemon {
    let local_ip: IpAddr = local.parse().unwrap();
    let port = free_port(local_ip);
    let dir = std::env::temp_dir().join(format!("nvabgp-session-{}-{local}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("ctl.sock");
    let text = format!(
        r#"
        asn = 65001
        router_id = "10.0.0.100"
        local_address = "{local}"
        listen = "{local}:{port}"
        hold_time = 9
        connect_retry = 0.2
        control_socket = "{}"
        [[peer]]
        address = "{peer}"
        port = {peer_port}
        asn = 65515
        {extra}
        [[route]]
        prefix = "0.0.0.0/0"
        communities = ["65001:10"]
        # The daemon runs in the test's own network namespace: hands off
        # its routing table.
        [kernel]
        install = false
        pin = "none"
        pin_default = false
        "#,
        socket.display()
    );
    let config = Config::parse(&text).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(nvabgp::daemon::run(config, async move {
        let _ = rx.await;
    }));
    // The control socket appears once the daemon is up.
    for _ in 0..200 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Daemon {
        listen: SocketAddr::new(local_ip, port),
        socket,
        _dir: TempDir(dir),
        stop: Some(tx),
        task,
    }
}

/// Polls `status` until `done` holds (bounded: 2 s), failing with `what`.
async fn wait_status(d: &Daemon, what: &str, done: impl Fn(&nvabgp::control::Status) -> bool) {
    for _ in 0..100 {
        if let Response::Status(s) = d.call(Request::Status).await
            && done(&s)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}");
}

impl Daemon {
    async fn call(&self, r: Request) -> Response {
        Client::connect(&self.socket)
            .await
            .unwrap()
            .call(&r)
            .await
            .unwrap()
    }

    async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(WAIT, &mut self.task).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn established_session_gets_routes_then_end_of_rib_and_answers_route_refresh() {
    let peer_ip: IpAddr = "127.0.1.2".parse().unwrap();
    // Nothing listens at the peer port: the daemon's connects fail and it
    // waits for us (Active).
    let d = daemon("127.0.1.1", "127.0.1.2", free_port(peer_ip), "").await;
    let mut p = FakePeer::connect(peer_ip, d.listen).await;
    let theirs = p.handshake(&open(65515, "10.1.1.4", 9)).await;
    assert_eq!(theirs.asn(), 65001);
    assert_eq!(theirs.hold_time, 9);
    // The configured route, then End-of-RIB for IPv4.
    let m = p.recv().await.unwrap();
    let Ok(Message::Update(u)) = bgp_proto::decode(&m, &p.ctx) else {
        panic!("expected UPDATE");
    };
    let nlri: Vec<String> = u.nlri().map(|n| n.prefix.to_string()).collect();
    assert_eq!(nlri, ["0.0.0.0/0"]);
    assert_eq!(u.next_hop(), Some("127.0.1.1".parse().unwrap()));
    assert_eq!(u.as_path().unwrap().to_string(), "65001");
    assert_eq!(
        u.communities().map(|c| c.to_string()).collect::<Vec<_>>(),
        ["65001:10"]
    );
    let m = p.recv().await.unwrap();
    let Ok(Message::Update(u)) = bgp_proto::decode(&m, &p.ctx) else {
        panic!("expected End-of-RIB");
    };
    assert_eq!(u.end_of_rib(), Some((Afi::Ipv4, Safi::Unicast)));

    // ROUTE-REFRESH: BoRR, the route again, EoRR (RFC 7313).
    let mut rr = BytesMut::new();
    RouteRefresh::request(Afi::Ipv4, Safi::Unicast).encode(&mut rr);
    p.send(&rr).await;
    let (first, _) = p.recv_until(|m| !matches!(m, Message::Keepalive)).await;
    let Ok(Message::RouteRefresh(b)) = bgp_proto::decode(&first, &p.ctx) else {
        panic!("expected BoRR");
    };
    assert_eq!(b.subtype, RouteRefreshSubtype::BeginningOfRouteRefresh);
    let (again, _) = p.recv_until(|m| !matches!(m, Message::Keepalive)).await;
    let Ok(Message::Update(u)) = bgp_proto::decode(&again, &p.ctx) else {
        panic!("expected the route again");
    };
    assert_eq!(u.nlri().count(), 1);
    let (last, _) = p.recv_until(|m| !matches!(m, Message::Keepalive)).await;
    let Ok(Message::RouteRefresh(e)) = bgp_proto::decode(&last, &p.ctx) else {
        panic!("expected EoRR");
    };
    assert_eq!(e.subtype, RouteRefreshSubtype::EndOfRouteRefresh);

    // A route from the peer lands in the Loc-RIB; its withdrawal removes it.
    let update = hex_update_10_1();
    p.send(&update).await;
    wait_status(&d, "route from the peer not in the Loc-RIB", |s| {
        s.loc_rib_prefixes == 1
    })
    .await;

    // Administrative shutdown: Cease / Administrative Shutdown with text.
    d.shutdown().await;
    let (m, _) = p
        .recv_until(|m| matches!(m, Message::Notification(_)))
        .await;
    let n = notification(&m);
    assert_eq!(
        n.code,
        ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown)
    );
    assert_eq!(n.shutdown_message(), Some("nvabgp shutting down"));
}

/// UPDATE: ORIGIN IGP, AS_PATH 65515, NEXT_HOP 10.1.1.4, NLRI 10.1.0.0/16
/// (4-octet AS session).
fn hex_update_10_1() -> Vec<u8> {
    let body: Vec<u8> = [
        &[0u8, 0][..],
        &[0, 20],
        &[0x40, 1, 1, 0],
        &[0x40, 2, 6, 2, 1, 0, 0, 0xff, 0xeb],
        &[0x40, 3, 4, 10, 1, 1, 4],
        &[16, 10, 1],
    ]
    .concat();
    let mut m = vec![0xff; 16];
    m.extend(((19 + body.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend(body);
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_peer_as_gets_bad_peer_as() {
    let peer_ip: IpAddr = "127.0.2.2".parse().unwrap();
    let d = daemon("127.0.2.1", "127.0.2.2", free_port(peer_ip), "").await;
    let mut p = FakePeer::connect(peer_ip, d.listen).await;
    p.send(&encode_open(&open(65099, "10.1.1.4", 9))).await;
    let (m, _) = p
        .recv_until(|m| matches!(m, Message::Notification(_)))
        .await;
    let n = notification(&m);
    assert_eq!(n.code, ErrorCode::OpenMessage(OpenSubcode::BadPeerAs));
    assert_eq!(p.recv().await, None, "connection not closed");
    let mut last_error = None;
    for _ in 0..100 {
        let Response::Neighbors(ns) = d.call(Request::Neighbors).await else {
            panic!()
        };
        last_error = ns[0].last_error.clone();
        if last_error.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        last_error.as_deref().unwrap_or("").contains("65099"),
        "{last_error:?}"
    );
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_update_gets_its_notification_and_routes_are_dropped() {
    let peer_ip: IpAddr = "127.0.3.2".parse().unwrap();
    let d = daemon("127.0.3.1", "127.0.3.2", free_port(peer_ip), "").await;
    let mut p = FakePeer::connect(peer_ip, d.listen).await;
    p.handshake(&open(65515, "10.1.1.4", 9)).await;
    p.send(&hex_update_10_1()).await;
    // Withdrawn Routes Length overrunning the message: Malformed Attribute
    // List, session reset.
    let mut bad = hex_update_10_1();
    bad[19] = 0xff;
    p.send(&bad).await;
    let (m, _) = p
        .recv_until(|m| matches!(m, Message::Notification(_)))
        .await;
    assert_eq!(
        notification(&m).code,
        ErrorCode::UpdateMessage(UpdateSubcode::MalformedAttributeList)
    );
    wait_status(
        &d,
        "routes of the reset session still in the Loc-RIB",
        |s| s.loc_rib_prefixes == 0 && s.peers_established == 0,
    )
    .await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_is_dropped_when_the_hold_timer_expires() {
    let peer_ip: IpAddr = "127.0.4.2".parse().unwrap();
    let d = daemon(
        "127.0.4.1",
        "127.0.4.2",
        free_port(peer_ip),
        "hold_time = 3",
    )
    .await;
    let mut p = FakePeer::connect(peer_ip, d.listen).await;
    let theirs = p.handshake(&open(65515, "10.1.1.4", 3)).await;
    assert_eq!(theirs.hold_time, 3);
    // Say nothing: within hold time (3 s) plus slack the daemon gives up.
    let started = std::time::Instant::now();
    let (m, skipped) = p
        .recv_until(|m| matches!(m, Message::Notification(_)))
        .await;
    assert_eq!(notification(&m).code, ErrorCode::HoldTimerExpired(0));
    assert!(started.elapsed() >= Duration::from_secs(2));
    // Keepalives kept coming at about a third of the hold time meanwhile.
    assert!(
        skipped
            .iter()
            .filter(|m| m.len() == 19 && m[18] == 4)
            .count()
            >= 1
    );
    d.shutdown().await;
}

/// Two connections between the daemon at `local` and a fake peer at
/// `peer`: the one the daemon opened (its OPEN already received) and one
/// the peer opened (nothing sent yet).
async fn collision(local: &str, peer: &str) -> (Daemon, FakePeer, FakePeer) {
    let peer_ip: IpAddr = peer.parse().unwrap();
    let listener = TcpListener::bind(SocketAddr::new(peer_ip, 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let d = daemon(local, peer, port, "").await;
    let (ours_stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut accepted = FakePeer::new(ours_stream);
    // The daemon sends its OPEN on the connection it opened.
    let m = accepted.recv().await.unwrap();
    assert!(matches!(
        bgp_proto::decode(&m, &accepted.ctx),
        Ok(Message::Open(_))
    ));
    let initiated = FakePeer::connect(peer_ip, d.listen).await;
    (d, accepted, initiated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_collision_keeps_the_connection_of_the_higher_identifier() {
    // The fake peer both accepts the daemon's connection and connects to
    // the daemon; its identifier 10.255.0.1 is higher than the daemon's
    // 10.0.0.100, so RFC 4271 §6.8 keeps the connection the peer opened.
    let (d, mut accepted, mut initiated) = collision("127.0.5.1", "127.0.5.2").await;
    let mine = open(65515, "10.255.0.1", 9);
    initiated.send(&encode_open(&mine)).await;
    accepted.send(&encode_open(&mine)).await;
    // The daemon's own connection is closed with Cease / Connection
    // Collision Resolution...
    let (m, _) = accepted
        .recv_until(|m| matches!(m, Message::Notification(_)))
        .await;
    assert_eq!(
        notification(&m).code,
        ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution)
    );
    // ...and the one we opened reaches Established.
    let m = initiated.recv().await.unwrap();
    assert!(matches!(
        bgp_proto::decode(&m, &initiated.ctx),
        Ok(Message::Open(_))
    ));
    initiated.send(&keepalive()).await;
    wait_status(
        &d,
        "session over the surviving connection not Established",
        |s| s.peers_established == 1,
    )
    .await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_collision_keeps_our_connection_when_our_identifier_is_higher() {
    // Peer identifier 10.0.0.1 < the daemon's 10.0.0.100: the connection
    // the daemon opened survives, the peer's is closed with Cease 7.
    let (d, mut accepted, mut initiated) = collision("127.0.6.1", "127.0.6.2").await;
    let mine = open(65515, "10.0.0.1", 9);
    initiated.send(&encode_open(&mine)).await;
    // Give the daemon the second connection before the first one's OPEN.
    tokio::time::sleep(Duration::from_millis(100)).await;
    accepted.send(&encode_open(&mine)).await;
    let (m, _) = initiated
        .recv_until(|m| matches!(m, Message::Notification(_)))
        .await;
    assert_eq!(
        notification(&m).code,
        ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution)
    );
    // The daemon's own connection goes on: KEEPALIVE after our OPEN.
    let (_, _) = accepted
        .recv_until(|m| matches!(m, Message::Keepalive))
        .await;
    accepted.send(&keepalive()).await;
    wait_status(
        &d,
        "session over the daemon's connection not Established",
        |s| s.peers_established == 1,
    )
    .await;
    d.shutdown().await;
}

/// UPDATE announcing `prefixes` (/16s of 10.x.0.0) with ORIGIN IGP,
/// AS_PATH 65515, NEXT_HOP 10.1.1.4.
fn update_16s(seconds: &[u8]) -> Vec<u8> {
    let mut body: Vec<u8> = [
        &[0u8, 0][..],
        &[0, 20],
        &[0x40, 1, 1, 0],
        &[0x40, 2, 6, 2, 1, 0, 0, 0xff, 0xeb],
        &[0x40, 3, 4, 10, 1, 1, 4],
    ]
    .concat();
    for s in seconds {
        body.extend([16, 10, *s]);
    }
    let mut m = vec![0xff; 16];
    m.extend(((19 + body.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend(body);
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enhanced_route_refresh_from_the_peer_drops_what_it_did_not_resend() {
    let peer_ip: IpAddr = "127.0.7.2".parse().unwrap();
    let d = daemon("127.0.7.1", "127.0.7.2", free_port(peer_ip), "").await;
    let mut p = FakePeer::connect(peer_ip, d.listen).await;
    p.handshake(&open(65515, "10.1.1.4", 9)).await;
    p.send(&update_16s(&[1, 2])).await;
    let prefixes = |d: &Daemon| {
        let d = d.socket.clone();
        async move {
            let r = Client::connect(&d)
                .await
                .unwrap()
                .call(&Request::Routes(nvabgp::control::RoutesQuery {
                    view: nvabgp::control::RouteView::LocRib { peer: None },
                    prefix: None,
                }))
                .await
                .unwrap();
            let Response::Routes(r) = r else { panic!() };
            r.iter().map(|r| r.prefix.to_string()).collect::<Vec<_>>()
        }
    };
    let mut ok = false;
    for _ in 0..100 {
        if prefixes(&d).await.len() == 2 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "routes not learned");
    // BoRR, only 10.1.0.0/16 again, EoRR (RFC 7313 §4).
    for (subtype, update) in [
        (
            RouteRefreshSubtype::BeginningOfRouteRefresh,
            Some(update_16s(&[1])),
        ),
        (RouteRefreshSubtype::EndOfRouteRefresh, None),
    ] {
        let mut b = BytesMut::new();
        RouteRefresh {
            afi: Afi::Ipv4,
            subtype,
            safi: Safi::Unicast,
        }
        .encode(&mut b);
        p.send(&b).await;
        if let Some(u) = update {
            p.send(&u).await;
        }
    }
    let mut left = Vec::new();
    for _ in 0..100 {
        left = prefixes(&d).await;
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left, ["10.1.0.0/16"]);
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_the_rib_queue_is_processed_without_waiting_for_more_bytes() {
    // 300 UPDATEs in one write: more than the session's queue to the RIB
    // holds. Then silence: every one must still reach the Loc-RIB, not
    // wait for the peer's next message.
    let peer_ip: IpAddr = "127.0.8.2".parse().unwrap();
    let d = daemon("127.0.8.1", "127.0.8.2", free_port(peer_ip), "").await;
    let mut p = FakePeer::connect(peer_ip, d.listen).await;
    p.handshake(&open(65515, "10.1.1.4", 9)).await;
    let mut burst = Vec::new();
    for i in 0..300u16 {
        let [a, b] = i.to_be_bytes();
        let mut u = update_16s(&[0]);
        // 11.a.b.0/24 instead of the /16 the helper writes.
        let n = u.len();
        u.truncate(n - 3);
        u.extend([24, 11, a, b]);
        let len = u.len() as u16;
        u[16..18].copy_from_slice(&len.to_be_bytes());
        burst.extend(u);
    }
    p.send(&burst).await;
    let mut n = 0;
    for _ in 0..150 {
        if let Response::Status(s) = d.call(Request::Status).await {
            n = s.loc_rib_prefixes;
            if n == 300 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(n, 300, "UPDATEs left in the receive buffer");
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_four_octet_as_gets_two_octet_paths() {
    // An old speaker: no 4-octet AS capability, no route refresh. The
    // session must come up and our routes go out with a 2-octet AS_PATH.
    use bgp_proto::message::capability::Capability;
    use bgp_proto::message::open::OptionalParameter;
    let peer_ip: IpAddr = "127.0.9.2".parse().unwrap();
    let d = daemon("127.0.9.1", "127.0.9.2", free_port(peer_ip), "").await;
    let mut p = FakePeer::connect(peer_ip, d.listen).await;
    let old = Open {
        version: 4,
        my_as: 65515,
        hold_time: 9,
        bgp_identifier: "10.1.1.4".parse().unwrap(),
        parameters: vec![OptionalParameter::Capabilities(vec![
            Capability::Multiprotocol {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
            },
        ])],
    };
    p.handshake(&old).await;
    assert!(!p.ctx.four_octet_as);
    let (m, _) = p
        .recv_until(|m| matches!(m, Message::Update(u) if u.nlri().count() > 0))
        .await;
    // AS_PATH value: one AS_SEQUENCE of one 2-octet ASN (65001).
    let Ok(Message::Update(u)) = bgp_proto::decode(&m, &p.ctx) else {
        panic!("expected UPDATE");
    };
    assert_eq!(u.as_path_view().unwrap().as_bytes(), [2, 1, 0xfd, 0xe9]);
    assert_eq!(u.as_path().unwrap().to_string(), "65001");
    wait_status(&d, "session with the old speaker not Established", |s| {
        s.peers_established == 1
    })
    .await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_from_unknown_addresses_are_closed() {
    let peer_ip: IpAddr = "127.0.10.2".parse().unwrap();
    let d = daemon("127.0.10.1", "127.0.10.2", free_port(peer_ip), "").await;
    let stranger: IpAddr = "127.0.10.9".parse().unwrap();
    let mut p = FakePeer::connect(stranger, d.listen).await;
    // Even a well-formed OPEN gets no answer: the connection just closes.
    p.send(&encode_open(&open(65515, "10.1.1.9", 9))).await;
    assert_eq!(p.recv().await, None, "connection from a stranger kept open");
    wait_status(&d, "a stranger counted as a peer", |s| {
        s.peers_established == 0
    })
    .await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_prefixes_close_the_session_with_cease_1() {
    let peer_ip: IpAddr = "127.0.11.2".parse().unwrap();
    let limit = "[peer.import]\nmax_prefixes = 2\nmax_prefixes_action = \"tear-down\"";
    let d = daemon("127.0.11.1", "127.0.11.2", free_port(peer_ip), limit).await;
    let mut p = FakePeer::connect(peer_ip, d.listen).await;
    p.handshake(&open(65515, "10.1.1.4", 9)).await;
    p.send(&update_16s(&[1, 2, 3])).await;
    let (m, _) = p
        .recv_until(|m| matches!(m, Message::Notification(_)))
        .await;
    let n = notification(&m);
    assert_eq!(
        n.code,
        ErrorCode::Cease(CeaseSubcode::MaximumNumberOfPrefixesReached)
    );
    // RFC 4486 §4: AFI 1, SAFI 1, the limit 2.
    assert_eq!(n.data, [0, 1, 1, 0, 0, 0, 2]);
    wait_status(&d, "routes of the closed session still there", |s| {
        s.loc_rib_prefixes == 0
    })
    .await;
    d.shutdown().await;
}
