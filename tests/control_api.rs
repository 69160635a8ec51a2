//! The control API end to end: the real server on a temporary socket, a
//! fake daemon behind it that records what reaches it and answers canned
//! results, and the real client and `nvabgp` binary in front.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bgp_proto::{Community, LargeCommunity, Origin};
use nvabgp::control::{
    Announced, Announcement, ApiError, Change, Client, ControlRequest, ControlServer, DrainMode,
    Drained, ErrorCode, HealthCheck, HealthState, Neighbor, NextHop, NextHopSet, Request, Response,
    Route, RoutePath, RouteView, RoutesQuery, SessionState, Status, Undrained, Withdrawn,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

// ---- Fixtures --------------------------------------------------------------

/// A fresh directory for one test's socket, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nvabgp-control-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn socket(&self) -> PathBuf {
        self.0.join("nvabgp.sock")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn neighbors() -> Vec<Neighbor> {
    vec![
        Neighbor {
            name: "ars-0".into(),
            address: "10.1.1.4".parse().unwrap(),
            asn: 65515,
            state: SessionState::Established,
            uptime_secs: Some(7980),
            local_address: Some("10.1.2.4".parse().unwrap()),
            hold_time: 180,
            keepalive: 60,
            four_octet_as: Some(true),
            route_refresh: Some(true),
            families: vec!["ipv4-unicast".into()],
            prefixes_received: 12,
            prefixes_accepted: 12,
            prefixes_advertised: 3,
            messages_in: 140,
            messages_out: 133,
            last_error: None,
        },
        Neighbor {
            name: "ars-1".into(),
            address: "10.1.1.5".parse().unwrap(),
            asn: 65515,
            state: SessionState::Active,
            uptime_secs: None,
            local_address: None,
            hold_time: 180,
            keepalive: 60,
            four_octet_as: None,
            route_refresh: None,
            families: Vec::new(),
            prefixes_received: 0,
            prefixes_accepted: 0,
            prefixes_advertised: 0,
            messages_in: 51,
            messages_out: 50,
            last_error: Some("Hold Timer Expired".into()),
        },
    ]
}

fn routes() -> Vec<Route> {
    vec![Route {
        prefix: "10.0.0.0/16".parse().unwrap(),
        paths: vec![RoutePath {
            peer: Some("ars-0".into()),
            next_hop: NextHop::Address("10.1.1.4".parse().unwrap()),
            as_path: vec![65515],
            as_path_segments: None,
            origin: Origin::Igp,
            med: None,
            local_pref: Some(100),
            communities: vec![Community::new(65515, 1)],
            large_communities: vec![LargeCommunity::new(65001, 1, 2)],
            best: true,
            multipath: true,
        }],
    }]
}

fn status() -> Status {
    Status {
        version: "0.1.0".into(),
        asn: 65001,
        router_id: "10.1.2.4".parse().unwrap(),
        uptime_secs: 90_000,
        peers_configured: 2,
        peers_established: 1,
        loc_rib_prefixes: 12,
        attribute_sets: 2,
        drain: None,
        kernel: Some(nvabgp::control::KernelStatus {
            virtual_router: Some("10.1.2.1".parse().unwrap()),
            pinned: 2,
            pinned_wanted: 2,
            installed: 3,
            pending: 0,
            refused: [("covers-pinned".to_string(), 1)].into_iter().collect(),
            restored: 0,
            errors: 0,
        }),
    }
}

/// What the fake daemon answers.
fn canned(request: &Request) -> Result<Response, ApiError> {
    Ok(match request {
        Request::Status => Response::Status(status()),
        Request::Neighbors => Response::Neighbors(neighbors()),
        Request::Routes(query) => {
            if query.view.peer() == Some("nobody") {
                return Err(ApiError::not_found("no peer named \"nobody\""));
            }
            Response::Routes(routes())
        }
        Request::Health => Response::Health(vec![HealthCheck {
            name: "web".into(),
            kind: "tcp".into(),
            target: "10.1.2.11:443".into(),
            state: HealthState::Down,
            last_change_secs: Some(42),
            detail: Some("connection refused".into()),
        }]),
        Request::Announce(a) => Response::Announced(Announced {
            prefix: a.prefix,
            change: Change::New,
            peers: 2,
        }),
        Request::Withdraw { prefix } => Response::Withdrawn(Withdrawn {
            prefix: *prefix,
            peers: 2,
        }),
        Request::SetNextHop { prefix, next_hop } => Response::NextHopSet(NextHopSet {
            prefix: *prefix,
            previous: NextHop::Address("10.1.2.10".parse().unwrap()),
            next_hop: *next_hop,
            peers: 2,
        }),
        Request::Drain(mode) => Response::Drained(Drained {
            mode: *mode,
            prefixes: 3,
            peers: 2,
        }),
        Request::Undrain => Response::Undrained(Undrained {
            prefixes: 3,
            peers: 2,
        }),
    })
}

/// A server on a temporary socket with the fake daemon behind it.
struct Harness {
    dir: TempDir,
    /// Every request that reached the daemon, in order.
    seen: Arc<Mutex<Vec<Request>>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Harness {
    async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = mpsc::channel::<ControlRequest>(16);
        let record = seen.clone();
        tokio::spawn(async move {
            while let Some(ControlRequest { request, reply }) = rx.recv().await {
                let answer = canned(&request);
                record.lock().unwrap().push(request);
                let _ = reply.send(answer);
            }
        });
        Self::with_handler(tx, seen).await
    }

    async fn with_handler(
        handler: mpsc::Sender<ControlRequest>,
        seen: Arc<Mutex<Vec<Request>>>,
    ) -> Self {
        let dir = TempDir::new();
        let server = ControlServer::bind(&dir.socket()).await.unwrap();
        let server = tokio::spawn(server.serve(handler));
        Self { dir, seen, server }
    }

    fn socket(&self) -> PathBuf {
        self.dir.socket()
    }

    fn seen(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

/// A raw connection, to send what the client never would.
struct Raw {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
}

impl Raw {
    async fn connect(path: &Path) -> Self {
        let (read, writer) = UnixStream::connect(path).await.unwrap().into_split();
        Self {
            reader: BufReader::new(read),
            writer,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    async fn answer(&mut self) -> Value {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        assert!(line.ends_with('\n'));
        serde_json::from_str(&line).unwrap()
    }

    async fn ask(&mut self, line: &str) -> Value {
        self.send(format!("{line}\n").as_bytes()).await;
        self.answer().await
    }
}

fn error_of(answer: &Value) -> (String, String) {
    assert_eq!(answer["ok"], json!(false), "{answer}");
    (
        answer["error"]["code"].as_str().unwrap().to_owned(),
        answer["error"]["message"].as_str().unwrap().to_owned(),
    )
}

fn every_request() -> Vec<Request> {
    let mut announcement = Announcement::new("100.64.0.1/32".parse().unwrap());
    announcement.next_hop = NextHop::Address("10.1.2.11".parse().unwrap());
    announcement.prepend = 2;
    announcement.communities = vec![Community::new(65001, 10)];
    announcement.large_communities = vec![LargeCommunity::new(65001, 1, 2)];
    announcement.med = Some(7);
    vec![
        Request::Status,
        Request::Neighbors,
        Request::Routes(RoutesQuery {
            view: RouteView::LocRib { peer: None },
            prefix: None,
        }),
        Request::Routes(RoutesQuery {
            view: RouteView::AdjIn {
                peer: "ars-0".into(),
            },
            prefix: Some("10.0.0.0/8".parse().unwrap()),
        }),
        Request::Routes(RoutesQuery {
            view: RouteView::AdjOut {
                peer: "10.1.1.5".into(),
            },
            prefix: None,
        }),
        Request::Health,
        Request::Announce(announcement),
        Request::Withdraw {
            prefix: "100.64.0.1/32".parse().unwrap(),
        },
        Request::SetNextHop {
            prefix: "100.64.0.1/32".parse().unwrap(),
            next_hop: NextHop::Address("10.1.2.12".parse().unwrap()),
        },
        Request::Drain(DrainMode::Withdraw),
        Request::Drain(DrainMode::Prepend { count: 3 }),
        Request::Undrain,
    ]
}

// ---- The API ---------------------------------------------------------------

#[tokio::test]
async fn every_command_round_trips_through_the_client() {
    let h = Harness::start().await;
    let mut client = Client::connect(h.socket()).await.unwrap();
    let requests = every_request();
    for request in &requests {
        let answer = client.call(request).await;
        assert_eq!(answer, canned(request), "{request:?}");
    }
    // The daemon saw exactly what was sent, in order, over one connection.
    assert_eq!(h.seen(), requests);
    // A daemon error comes back as it was given.
    let err = client
        .call(&Request::Routes(RoutesQuery {
            view: RouteView::AdjIn {
                peer: "nobody".into(),
            },
            prefix: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(err, ApiError::not_found("no peer named \"nobody\""));
}

#[tokio::test]
async fn results_follow_the_json_conventions() {
    let h = Harness::start().await;
    let mut raw = Raw::connect(&h.socket()).await;
    let answer = raw.ask(r#"{"command":"routes"}"#).await;
    assert_eq!(
        answer,
        json!({"ok": true, "result": [{
            "prefix": "10.0.0.0/16",
            "paths": [{
                "peer": "ars-0",
                "next_hop": "10.1.1.4",
                "as_path": [65515],
                "origin": "igp",
                "med": null,
                "local_pref": 100,
                "communities": ["65515:1"],
                "large_communities": ["65001:1:2"],
                "best": true,
                "multipath": true,
            }],
        }]})
    );
    let answer = raw.ask(r#"{"command":"neighbors"}"#).await;
    let down = &answer["result"][1];
    assert_eq!(down["state"], json!("Active"));
    assert_eq!(down["uptime_secs"], Value::Null);
    assert_eq!(down["last_error"], json!("Hold Timer Expired"));
    assert_eq!(answer["result"][0]["address"], json!("10.1.1.4"));
    assert_eq!(answer["result"][0]["state"], json!("Established"));
    let answer = raw
        .ask(r#"{"command":"drain","mode":"prepend","count":3}"#)
        .await;
    assert_eq!(
        answer,
        json!({"ok": true, "result": {"mode": "prepend", "count": 3, "prefixes": 3, "peers": 2}})
    );
    let answer = raw.ask(r#"{"command":"health"}"#).await;
    assert_eq!(answer["result"][0]["state"], json!("down"));
}

#[tokio::test]
async fn bad_lines_get_bad_request_and_the_connection_stays_usable() {
    let h = Harness::start().await;
    let mut raw = Raw::connect(&h.socket()).await;
    let cases: &[(&str, &str)] = &[
        ("this is not json", "not a JSON object"),
        ("[1, 2, 3]", "expected a JSON object"),
        (
            r#"{"command":"frobnicate"}"#,
            "unknown command \"frobnicate\"",
        ),
        (r#"{"command":"withdraw"}"#, "missing field \"prefix\""),
        (
            r#"{"command":"announce","prefix":"10.0.0.0/33"}"#,
            "prefix length 33 is too long",
        ),
        (
            r#"{"command":"announce","prefix":"10.0.0.1/8"}"#,
            "did you mean 10.0.0.0/8?",
        ),
        (
            r#"{"command":"announce","prefix":"10.0.0.0/8","communities":["65001:70000"]}"#,
            "communities[0] is \"65001:70000\": expected ASN:VALUE",
        ),
        (
            r#"{"command":"routes","view":"adj-out"}"#,
            "needs field \"peer\"",
        ),
    ];
    for (line, expected) in cases {
        let (code, message) = error_of(&raw.ask(line).await);
        assert_eq!(code, "bad-request", "{line}");
        assert!(message.contains(expected), "{line}: {message}");
    }
    // Not UTF-8.
    raw.send(b"{\"command\":\"st\xffatus\"}\n").await;
    let (code, message) = error_of(&raw.answer().await);
    assert_eq!(code, "bad-request");
    assert!(message.contains("not UTF-8"), "{message}");
    // Longer than the bound, sent in pieces: skipped whole, answered once.
    let long = format!(
        r#"{{"command":"withdraw","prefix":"{}"}}"#,
        "1".repeat(100_000)
    );
    for piece in long.as_bytes().chunks(8192) {
        raw.send(piece).await;
    }
    raw.send(b"\n").await;
    let (code, message) = error_of(&raw.answer().await);
    assert_eq!(code, "bad-request");
    assert!(message.contains("longer than 65536 bytes"), "{message}");
    // Blank lines are not requests; CRLF is fine.
    raw.send(b"\n  \n{\"command\":\"status\"}\r\n").await;
    let answer = raw.answer().await;
    assert_eq!(answer["ok"], json!(true), "{answer}");
    assert_eq!(answer["result"]["asn"], json!(65001));
    // None of the bad ones reached the daemon.
    assert_eq!(h.seen(), vec![Request::Status]);
}

#[tokio::test]
async fn several_requests_in_one_write_are_answered_in_order() {
    let h = Harness::start().await;
    let mut raw = Raw::connect(&h.socket()).await;
    raw.send(
        b"{\"command\":\"status\"}\nnope\n{\"command\":\"undrain\"}\n{\"command\":\"neighbors\"}",
    )
    .await;
    // The last line has no newline: the end of the stream ends it.
    raw.writer.shutdown().await.unwrap();
    assert_eq!(raw.answer().await["result"]["router_id"], json!("10.1.2.4"));
    assert_eq!(error_of(&raw.answer().await).0, "bad-request");
    assert_eq!(raw.answer().await["result"]["prefixes"], json!(3));
    assert_eq!(raw.answer().await["result"][0]["name"], json!("ars-0"));
    let mut rest = String::new();
    assert_eq!(raw.reader.read_line(&mut rest).await.unwrap(), 0);
}

#[tokio::test]
async fn many_clients_at_once() {
    let h = Harness::start().await;
    let mut tasks = Vec::new();
    for i in 0..32u8 {
        let path = h.socket();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(path).await.unwrap();
            for _ in 0..5 {
                let request = Request::Drain(DrainMode::Prepend { count: i % 32 + 1 });
                assert_eq!(client.call(&request).await, canned(&request));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(h.seen().len(), 32 * 5);
}

#[tokio::test]
async fn a_missing_daemon_is_unavailable() {
    // The daemon is gone: its receiver dropped.
    let (tx, rx) = mpsc::channel::<ControlRequest>(1);
    drop(rx);
    let h = Harness::with_handler(tx, Arc::default()).await;
    let mut client = Client::connect(h.socket()).await.unwrap();
    let err = client.call(&Request::Status).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    // Validation still answers without a daemon, on the same connection.
    let mut raw = Raw::connect(&h.socket()).await;
    assert_eq!(error_of(&raw.ask("{}").await).0, "bad-request");
    assert_eq!(
        error_of(&raw.ask(r#"{"command":"neighbors"}"#).await).0,
        "unavailable"
    );
}

#[tokio::test]
async fn a_daemon_that_drops_the_reply_or_answers_the_wrong_thing() {
    let (tx, mut rx) = mpsc::channel::<ControlRequest>(4);
    tokio::spawn(async move {
        while let Some(ControlRequest { request, reply }) = rx.recv().await {
            match request {
                // Taken, never answered.
                Request::Status => drop(reply),
                // A bug: a status for anything else.
                _ => {
                    let _ = reply.send(Ok(Response::Status(status())));
                }
            }
        }
    });
    let h = Harness::with_handler(tx, Arc::default()).await;
    let mut client = Client::connect(h.socket()).await.unwrap();
    let err = client.call(&Request::Status).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    let err = client.call(&Request::Neighbors).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Internal, "{err}");
    assert!(
        err.message
            .contains("answered neighbors with the result of status")
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_are_told_so() {
    let h = Harness::start().await;
    let mut held = Vec::new();
    for _ in 0..nvabgp::control::server::MAX_CONNECTIONS {
        let mut raw = Raw::connect(&h.socket()).await;
        // Answered: the server has accepted it and holds a slot for it.
        assert_eq!(raw.ask(r#"{"command":"status"}"#).await["ok"], json!(true));
        held.push(raw);
    }
    let mut extra = Raw::connect(&h.socket()).await;
    let (code, message) = error_of(&extra.answer().await);
    assert_eq!(code, "unavailable");
    assert!(
        message.contains("too many control connections"),
        "{message}"
    );
    let mut rest = String::new();
    assert_eq!(extra.reader.read_line(&mut rest).await.unwrap(), 0);
    // A slot freed is a slot for the next client.
    drop(held.pop());
    // The server frees the slot when it sees the close; until then a
    // connection may still be turned away (an error, not a panic).
    let mut served = false;
    for _ in 0..1000 {
        let mut client = Client::connect(h.socket()).await.unwrap();
        if client.call(&Request::Status).await.is_ok() {
            served = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(served, "no slot was freed");
}

#[test]
fn the_readme_examples_are_valid_requests() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## Control API")
        .nth(1)
        .expect("README.md has a Control API section");
    let mut commands = std::collections::HashSet::new();
    for line in section.lines().filter(|l| l.starts_with("{\"command\"")) {
        match Request::parse(line) {
            Ok(request) => {
                commands.insert(request.command());
            }
            // The one example of an error answer.
            Err(e) => assert!(line.contains("10.0.0.1/8"), "{line}: {e}"),
        }
    }
    for command in nvabgp::control::Command::ALL {
        assert!(
            commands.contains(&command),
            "no README example of {command}"
        );
    }
}

// ---- The socket ------------------------------------------------------------

#[tokio::test]
async fn the_socket_is_0660_and_removed_when_the_server_stops() {
    let h = Harness::start().await;
    let mode = std::fs::metadata(h.socket()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660, "{mode:o}");
    h.server.abort();
    assert!(h.server.await.unwrap_err().is_cancelled());
    assert!(!h.dir.socket().exists());
}

#[tokio::test]
async fn a_stale_socket_is_replaced_but_a_live_one_or_a_file_is_not() {
    let dir = TempDir::new();
    let path = dir.socket();
    // Stale: bound by a process that is gone.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let server = ControlServer::bind(&path).await.unwrap();
    // Live: the server above answers on it.
    let err = ControlServer::bind(&path).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains("already running"), "{err}");
    drop(server);
    assert!(!path.exists());
    // Not a socket: left alone.
    std::fs::write(&path, "precious").unwrap();
    let err = ControlServer::bind(&path).await.unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[tokio::test]
async fn a_missing_directory_is_created() {
    let dir = TempDir::new();
    let path = dir.0.join("run").join("nvabgp.sock");
    let _server = ControlServer::bind(&path).await.unwrap();
    assert!(path.exists());
}

#[tokio::test]
async fn the_client_says_when_nothing_listens() {
    let dir = TempDir::new();
    let err = Client::connect(dir.socket()).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(err.message.contains("is the daemon running?"), "{err}");
}

// ---- The nvabgp binary -----------------------------------------------------

/// Runs the built `nvabgp` off the async threads (the server needs them).
async fn nvabgp(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_nvabgp"))
            .args(&args)
            .env_remove("NVABGP_SOCKET")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_neighbors_as_a_table_and_as_json() {
    let h = Harness::start().await;
    let socket = h.socket();
    let socket = socket.to_str().unwrap();

    let out = nvabgp(&["neighbors", "--socket", socket]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("NAME   ADDRESS   ASN    STATE"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("ars-0  10.1.1.4  65515  Established  2h13m  12"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("ars-1  10.1.1.5  65515  Active"),
        "{text}"
    );
    assert!(lines[2].ends_with("Hold Timer Expired"), "{text}");
    // Every column starts at the same offset on every line.
    let at = |line: &str, word: &str| line.find(word).unwrap();
    assert_eq!(at(lines[0], "STATE"), at(lines[1], "Established"));
    assert_eq!(at(lines[0], "STATE"), at(lines[2], "Active"));

    // --socket before the subcommand works too.
    let out = nvabgp(&["--socket", socket, "neighbors", "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(printed, serde_json::to_value(neighbors()).unwrap());
    assert_eq!(h.seen(), vec![Request::Neighbors, Request::Neighbors]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_changes_reach_the_daemon_as_typed_requests() {
    let h = Harness::start().await;
    let socket = h.socket();
    let socket = socket.to_str().unwrap();
    let out = nvabgp(&[
        "announce",
        "100.64.0.1/32",
        "next-hop",
        "10.1.2.11",
        "prepend",
        "2",
        "community",
        "65001:10",
        "community",
        "no-advertise",
        "large-community",
        "65001:1:2",
        "med",
        "5",
        "--socket",
        socket,
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "announced 100.64.0.1/32 to 2 peers\n");
    let out = nvabgp(&[
        "set-next-hop",
        "100.64.0.1/32",
        "10.1.2.12",
        "--socket",
        socket,
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "100.64.0.1/32: next hop 10.1.2.10 -> 10.1.2.12 (one UPDATE) to 2 peers\n"
    );
    let out = nvabgp(&["drain", "--prepend", "3", "--socket", socket]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = nvabgp(&[
        "routes",
        "--peer",
        "ars-0",
        "--adj-out",
        "10.0.0.0/8",
        "--socket",
        socket,
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("*  10.0.0.0/16  10.1.1.4  ars-0"),
        "{}",
        stdout(&out)
    );

    let mut expected = Announcement::new("100.64.0.1/32".parse().unwrap());
    expected.next_hop = NextHop::Address("10.1.2.11".parse().unwrap());
    expected.prepend = 2;
    expected.communities = vec![Community::new(65001, 10), Community::NO_ADVERTISE];
    expected.large_communities = vec![LargeCommunity::new(65001, 1, 2)];
    expected.med = Some(5);
    assert_eq!(
        h.seen(),
        vec![
            Request::Announce(expected),
            Request::SetNextHop {
                prefix: "100.64.0.1/32".parse().unwrap(),
                next_hop: NextHop::Address("10.1.2.12".parse().unwrap()),
            },
            Request::Drain(DrainMode::Prepend { count: 3 }),
            Request::Routes(RoutesQuery {
                view: RouteView::AdjOut {
                    peer: "ars-0".into()
                },
                prefix: Some("10.0.0.0/8".parse().unwrap()),
            }),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_errors_are_clear_and_exit_non_zero() {
    let h = Harness::start().await;
    let socket = h.socket();
    let socket = socket.to_str().unwrap();
    // Host bits: refused before anything is sent.
    let out = nvabgp(&["announce", "10.0.0.1/8", "--socket", socket]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean 10.0.0.0/8?"),
        "{}",
        stderr(&out)
    );
    // A bad attribute: named, with what it expects.
    let out = nvabgp(&[
        "announce",
        "10.0.0.0/8",
        "community",
        "65001",
        "--socket",
        socket,
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("community \"65001\": expected ASN:VALUE"),
        "{}",
        stderr(&out)
    );
    // A family mismatch only the server checks: its message, exit 1.
    let out = nvabgp(&[
        "announce",
        "10.0.0.0/8",
        "next-hop",
        "2001:db8::1",
        "--socket",
        socket,
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is IPv6 for the IPv4 prefix"),
        "{}",
        stderr(&out)
    );
    // The daemon's refusal.
    let out = nvabgp(&["routes", "--peer", "nobody", "--adj-in", "--socket", socket]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "nvabgp: no peer named \"nobody\"\n");
    assert!(stdout(&out).is_empty());
    assert!(h.seen().len() == 1, "{:?}", h.seen());

    // Nothing listening.
    let dir = TempDir::new();
    let missing = dir.socket();
    let out = nvabgp(&["status", "--socket", missing.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(&format!(
            "nvabgp: cannot reach nvabgp at {}: is the daemon running?",
            missing.display()
        )),
        "{}",
        stderr(&out)
    );
}
