//! OPEN, NOTIFICATION, KEEPALIVE and ROUTE-REFRESH against real captures
//! (BIRD, FRR, GoBGP, ExaBGP; tshark's decode as the oracle), the
//! negotiation of real OPEN pairs against what the sessions negotiated, and
//! one malformed message per RFC 4271 §6.2 subcode and the RFC 7313 length
//! error.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use bgp_proto::iana::RouteRefreshSubcode;
use bgp_proto::iana::{CapabilityCode, CeaseSubcode, HeaderSubcode, OpenSubcode};
use bgp_proto::message::capability::{
    AddPathFamily, AddPathMode, ExtendedNextHopFamily, GracefulRestart, GracefulRestartFamily,
    LongLivedGracefulRestartFamily,
};
use bgp_proto::message::open::OptionalParameter;
use bgp_proto::{
    Afi, Capability, Context, DecodeError, ErrorCode, Families, Message, MessageType, Notification,
    Open, RouteRefresh, RouteRefreshSubtype, Safi, decode, encode, encode_keepalive, negotiate,
};
use bytes::BytesMut;
use proptest::prelude::*;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// One row of MANIFEST.tsv.
struct Row {
    file: String,
    message_type: String,
    src: String,
    dst: String,
    negotiated: BTreeMap<String, String>,
}

fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(vectors().join("MANIFEST.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let (src, rest) = cols[7].split_once(" -> ").unwrap();
            let dst = rest.split(' ').next().unwrap();
            let negotiated = cols[8]
                .split("; ")
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    // "addpath(bird->frr)" names the direction: one key.
                    let k = if k.starts_with("addpath") {
                        "addpath"
                    } else {
                        k
                    };
                    (k.to_string(), v.to_string())
                })
                .collect();
            Row {
                file: cols[0].to_string(),
                message_type: cols[3].to_string(),
                src: src.to_string(),
                dst: dst.to_string(),
                negotiated,
            }
        })
        .collect()
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(vectors().join(file)).unwrap()
}

fn oracle(file: &str) -> serde_json::Value {
    let json = std::fs::read_to_string(vectors().join(file.replace(".bin", ".json"))).unwrap();
    serde_json::from_str::<serde_json::Value>(&json).unwrap()["bgp"].clone()
}

/// Every string value under `key`, in document order.
fn collect(v: &serde_json::Value, key: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match v {
                    serde_json::Value::String(s) if k == key => out.push(s.clone()),
                    serde_json::Value::Array(a) if k == key => {
                        out.extend(a.iter().filter_map(|x| x.as_str().map(String::from)));
                    }
                    _ => collect(v, key, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect(x, key, out)),
        _ => {}
    }
}

fn field(v: &serde_json::Value, key: &str) -> Option<String> {
    let mut out = Vec::new();
    collect(v, key, &mut out);
    out.into_iter().next()
}

fn reencode(msg: &Message<'_>, ctx: &Context) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(msg, ctx, &mut out).unwrap();
    out.to_vec()
}

fn open_of(file: &str) -> Open {
    match decode(&read(file), &Context::INITIAL).unwrap() {
        Message::Open(o) => o,
        other => panic!("{file}: {other:?}"),
    }
}

const BIRD_OPEN_S2: &[u8] =
    include_bytes!("vectors/bird-open-s2-as65001-mp4-mp6-rr-enh-gr-err-llgr.bin");
const FRR_OPEN_S5: &[u8] =
    include_bytes!("vectors/frr-open-s5-as65100-mp4-mp6-rr128-rr-err-xmsg-ap-fqdn-gr-llgr.bin");
const EXABGP_OPEN_S6: &[u8] =
    include_bytes!("vectors/exabgp-open-s6-as65020-mp6-gr-rr-err-xmsg.bin");
const GOBGP_OPEN_S4: &[u8] =
    include_bytes!("vectors/gobgp-open-s4-astrans23456-as4-4200000003-mp4-mp6-rr-fqdn-gr-enh.bin");
const BIRD_SHUTDOWN_MSG: &[u8] =
    include_bytes!("vectors/bird-notification-s1-cease-admin-shutdown-msg.bin");
const BIRD_SHUTDOWN: &[u8] =
    include_bytes!("vectors/bird-notification-s1-cease-admin-shutdown.bin");
const BIRD_BAD_PEER_AS: &[u8] =
    include_bytes!("vectors/bird-notification-s7-open-message-error-bad-peer-as.bin");
const BIRD_KEEPALIVE: &[u8] = include_bytes!("vectors/bird-keepalive-s1.bin");
const BIRD_BORR_V4: &[u8] = include_bytes!("vectors/bird-route-refresh-s1-ipv4-borr.bin");
const FRR_EORR_V6: &[u8] = include_bytes!("vectors/frr-route-refresh-s2-ipv6-eorr.bin");

// ---------------------------------------------------------------------------
// Real captures

#[test]
fn every_non_update_vector_re_encodes_byte_exact() {
    let mut seen = BTreeMap::<String, usize>::new();
    for row in manifest().iter().filter(|r| r.message_type != "UPDATE") {
        let bytes = read(&row.file);
        let ctx = if row.message_type == "OPEN" {
            Context::INITIAL
        } else {
            Context {
                four_octet_as: row.negotiated["as4"].starts_with("yes"),
                extended_message: row.negotiated["ext-msg"] == "yes",
                add_path: Families::NONE,
            }
        };
        let msg = decode(&bytes, &ctx).unwrap_or_else(|e| panic!("{}: {e}", row.file));
        assert_eq!(msg.message_type().name(), row.message_type, "{}", row.file);
        assert_eq!(reencode(&msg, &ctx), bytes, "{}", row.file);
        *seen.entry(row.message_type.clone()).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = [
        ("KEEPALIVE", 4),
        ("NOTIFICATION", 20),
        ("OPEN", 15),
        ("ROUTE-REFRESH", 14),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(seen, expected);
}

#[test]
fn open_vectors_agree_with_tshark() {
    for row in manifest().iter().filter(|r| r.message_type == "OPEN") {
        let open = open_of(&row.file);
        let bgp = oracle(&row.file);
        let f = &row.file;
        assert_eq!(
            field(&bgp, "bgp.open.myas"),
            Some(open.my_as.to_string()),
            "{f}"
        );
        assert_eq!(
            field(&bgp, "bgp.open.holdtime"),
            Some(open.hold_time.to_string()),
            "{f}"
        );
        assert_eq!(
            field(&bgp, "bgp.open.identifier"),
            Some(open.bgp_identifier.to_string()),
            "{f}"
        );
        let mut types = Vec::new();
        collect(&bgp, "bgp.cap.type", &mut types);
        let ours: Vec<String> = open
            .capabilities()
            .map(|c| u8::from(c.code()).to_string())
            .collect();
        assert_eq!(ours, types, "{f}");
        assert_eq!(
            field(&bgp, "bgp.cap.4as"),
            open.four_octet_as().map(|a| a.to_string()),
            "{f}"
        );
        // No capability of these speakers is left raw.
        assert!(
            !open
                .capabilities()
                .any(|c| matches!(c, Capability::Unknown { .. })),
            "{f}"
        );
    }
}

#[test]
fn notification_vectors_agree_with_tshark() {
    let mut messages = 0;
    for row in manifest()
        .iter()
        .filter(|r| r.message_type == "NOTIFICATION")
    {
        let Message::Notification(n) = decode(&read(&row.file), &Context::MODERN).unwrap() else {
            panic!("{}", row.file);
        };
        let bgp = oracle(&row.file);
        let obj = bgp.as_object().unwrap();
        let minor = obj
            .iter()
            .find(|(k, _)| k.starts_with("bgp.notify.minor_error"))
            .and_then(|(_, v)| v.as_str())
            .unwrap();
        assert_eq!(
            field(&bgp, "bgp.notify.major_error"),
            Some(n.code.code().to_string()),
            "{}",
            row.file
        );
        assert_eq!(minor, n.code.subcode().to_string(), "{}", row.file);
        assert_eq!(
            field(&bgp, "bgp.notify.communication"),
            n.shutdown_message().map(String::from),
            "{}",
            row.file
        );
        messages += usize::from(n.shutdown_message().is_some());
    }
    assert_eq!(messages, 3, "BIRD, FRR and ExaBGP each sent a text");
}

#[test]
fn route_refresh_vectors_agree_with_tshark() {
    for row in manifest()
        .iter()
        .filter(|r| r.message_type == "ROUTE-REFRESH")
    {
        let Message::RouteRefresh(rr) = decode(&read(&row.file), &Context::MODERN).unwrap() else {
            panic!("{}", row.file);
        };
        let bgp = oracle(&row.file);
        let get = |k: &str| field(&bgp, k).unwrap().parse::<u16>().unwrap();
        assert_eq!(get("bgp.route_refresh.afi"), u16::from(rr.afi));
        assert_eq!(
            get("bgp.route_refresh.subtype"),
            u16::from(u8::from(rr.subtype))
        );
        assert_eq!(get("bgp.route_refresh.safi"), u16::from(u8::from(rr.safi)));
        let expected = if row.file.contains("-borr") {
            RouteRefreshSubtype::BeginningOfRouteRefresh
        } else if row.file.contains("-eorr") {
            RouteRefreshSubtype::EndOfRouteRefresh
        } else {
            RouteRefreshSubtype::Normal
        };
        assert_eq!(rr.subtype, expected, "{}", row.file);
    }
}

#[test]
fn bird_open_with_extended_next_hop_and_empty_llgr() {
    let Message::Open(open) = decode(BIRD_OPEN_S2, &Context::INITIAL).unwrap() else {
        panic!()
    };
    assert_eq!(open.asn(), 65001);
    assert_eq!(open.hold_time, 6);
    assert_eq!(open.bgp_identifier, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(open.parameters.len(), 1, "BIRD sends one parameter");
    assert_eq!(
        open.families(),
        [(Afi::Ipv4, Safi::Unicast), (Afi::Ipv6, Safi::Unicast)]
    );
    let caps: Vec<&Capability> = open.capabilities().collect();
    assert!(
        caps.contains(&&Capability::ExtendedNextHop(vec![ExtendedNextHopFamily {
            nlri_afi: Afi::Ipv4,
            nlri_safi: Safi::Unicast,
            next_hop_afi: Afi::Ipv6,
        }]))
    );
    let gr = open.graceful_restart().unwrap();
    assert_eq!(gr.restart_time, 120);
    assert!(!gr.restart_state());
    assert_eq!(
        gr.families,
        [
            GracefulRestartFamily {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
                flags: 0
            },
            GracefulRestartFamily {
                afi: Afi::Ipv6,
                safi: Safi::Unicast,
                flags: 0
            }
        ]
    );
    assert_eq!(open.long_lived_graceful_restart(), Some(&[][..]));
    assert!(open.has_capability(CapabilityCode::EnhancedRouteRefresh));
    assert!(!open.has_capability(CapabilityCode::ExtendedMessage));
}

#[test]
fn frr_open_with_fqdn_graceful_notification_and_llgr() {
    let Message::Open(open) = decode(FRR_OPEN_S5, &Context::INITIAL).unwrap() else {
        panic!()
    };
    assert_eq!(open.parameters.len(), 11, "FRR sends one parameter each");
    assert_eq!(open.asn(), 65100);
    assert_eq!(open.fqdn(), Some(("frr-s5", "")));
    let gr = open.graceful_restart().unwrap();
    assert_eq!(gr.flags, 0xc);
    assert!(gr.restart_state() && gr.notification());
    assert_eq!(gr.restart_time, 120);
    assert!(gr.families.is_empty());
    assert_eq!(
        open.long_lived_graceful_restart().unwrap(),
        [
            LongLivedGracefulRestartFamily {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
                flags: 0x80,
                stale_time: 0
            },
            LongLivedGracefulRestartFamily {
                afi: Afi::Ipv6,
                safi: Safi::Unicast,
                flags: 0x80,
                stale_time: 0
            }
        ]
    );
    assert_eq!(
        open.add_path_mode(Afi::Ipv6, Safi::Unicast),
        Some(AddPathMode::Both)
    );
    assert!(open.has_capability(CapabilityCode::RouteRefreshCisco));
    assert!(open.has_capability(CapabilityCode::RouteRefresh));
}

#[test]
fn exabgp_and_gobgp_opens() {
    let Message::Open(exa) = decode(EXABGP_OPEN_S6, &Context::INITIAL).unwrap() else {
        panic!()
    };
    let gr = exa.graceful_restart().unwrap();
    assert!(gr.restart_state(), "ExaBGP sets the Restart State bit");
    assert_eq!(gr.restart_time, 60);
    assert_eq!(gr.families.len(), 1);
    assert!(gr.families[0].forwarding_state());
    assert_eq!(exa.families(), [(Afi::Ipv6, Safi::Unicast)]);
    assert!(exa.has_capability(CapabilityCode::ExtendedMessage));

    let Message::Open(go) = decode(GOBGP_OPEN_S4, &Context::INITIAL).unwrap() else {
        panic!()
    };
    assert_eq!(go.my_as, 23456);
    assert_eq!(go.asn(), 4_200_000_003);
    assert_eq!(go.fqdn(), Some(("gobgp-a-wrongas", "")));
    assert_eq!(go.parameters.len(), 1);
}

#[test]
fn shutdown_communications_and_other_notifications() {
    let Message::Notification(n) = decode(BIRD_SHUTDOWN_MSG, &Context::MODERN).unwrap() else {
        panic!()
    };
    assert_eq!(
        n.code,
        ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown)
    );
    assert_eq!(n.shutdown_message(), Some("maintenance"));
    assert_eq!(
        n.to_string(),
        "Cease (6/2): Administrative Shutdown, message \"maintenance\""
    );
    // The constructor produces BIRD's bytes exactly.
    let mut out = BytesMut::new();
    Notification::cease_shutdown(CeaseSubcode::AdministrativeShutdown, "maintenance")
        .encode(&Context::MODERN, &mut out)
        .unwrap();
    assert_eq!(&out[..], BIRD_SHUTDOWN_MSG);

    let Message::Notification(n) = decode(BIRD_SHUTDOWN, &Context::MODERN).unwrap() else {
        panic!()
    };
    assert_eq!(n.shutdown_message(), None);
    assert_eq!(n.to_string(), "Cease (6/2): Administrative Shutdown");

    let Message::Notification(n) = decode(BIRD_BAD_PEER_AS, &Context::MODERN).unwrap() else {
        panic!()
    };
    assert_eq!(n.code, ErrorCode::OpenMessage(OpenSubcode::BadPeerAs));
    assert_eq!(n.data, 65020u16.to_be_bytes());
}

#[test]
fn keepalive_and_route_refresh_captures() {
    assert_eq!(
        decode(BIRD_KEEPALIVE, &Context::MODERN).unwrap(),
        Message::Keepalive
    );
    let mut out = BytesMut::new();
    encode_keepalive(&mut out);
    assert_eq!(&out[..], BIRD_KEEPALIVE);

    assert_eq!(
        decode(BIRD_BORR_V4, &Context::MODERN).unwrap(),
        Message::RouteRefresh(RouteRefresh {
            afi: Afi::Ipv4,
            subtype: RouteRefreshSubtype::BeginningOfRouteRefresh,
            safi: Safi::Unicast
        })
    );
    let eorr = RouteRefresh {
        afi: Afi::Ipv6,
        subtype: RouteRefreshSubtype::EndOfRouteRefresh,
        safi: Safi::Unicast,
    };
    let mut out = BytesMut::new();
    eorr.encode(&mut out);
    assert_eq!(&out[..], FRR_EORR_V6);
}

// ---------------------------------------------------------------------------
// Negotiation of the captured OPEN pairs

fn families_named(list: &str) -> Vec<(Afi, Safi)> {
    list.split(',')
        .filter(|s| *s != "none")
        .map(|s| match s {
            "ipv4-unicast" => (Afi::Ipv4, Safi::Unicast),
            "ipv6-unicast" => (Afi::Ipv6, Safi::Unicast),
            other => panic!("family {other}"),
        })
        .collect()
}

#[test]
fn negotiation_matches_the_captured_sessions() {
    let rows = manifest();
    let opens: Vec<&Row> = rows.iter().filter(|r| r.message_type == "OPEN").collect();
    let mut pairs = 0;
    for a in &opens {
        // The OPEN the other end sent on the same TCP connection.
        let Some(b) = opens.iter().find(|b| b.src == a.dst && b.dst == a.src) else {
            continue;
        };
        pairs += 1;
        let (ours, theirs) = (open_of(&a.file), open_of(&b.file));
        let n = negotiate(&ours, &theirs);
        let s = &a.negotiated;
        let f = &a.file;
        assert_eq!(n.four_octet_as, s["as4"].starts_with("yes"), "{f}");
        assert_eq!(n.tx.four_octet_as, n.four_octet_as);
        assert_eq!(n.extended_message, s["ext-msg"] == "yes", "{f}");
        assert_eq!(n.route_refresh, s["route-refresh"] == "yes", "{f}");
        assert_eq!(n.enhanced_route_refresh, s["enhanced-rr"] == "yes", "{f}");
        let mut families = n.families.clone();
        let mut expected = families_named(&s["afs"]);
        families.sort();
        expected.sort();
        assert_eq!(families, expected, "{f}");
        // Direction a -> b: what we send carries path identifiers.
        let add_path = families_named(&s["addpath"])
            .into_iter()
            .filter_map(|(afi, safi)| Families::of(afi, safi))
            .fold(Families::NONE, Families::union);
        assert_eq!(n.tx.add_path, add_path, "{f}");
        assert_eq!(n.add_path_send, add_path, "{f}");
        // And the reverse negotiation agrees on what b receives.
        let m = negotiate(&theirs, &ours);
        assert_eq!(m.rx.add_path, n.tx.add_path, "{f}");
        assert_eq!(m.hold_time, n.hold_time);
        let gr = ours.graceful_restart().is_some() && n.peer_graceful_restart.is_some();
        assert_eq!(gr, s["gr"] == "yes", "{f}");
        let llgr = ours.long_lived_graceful_restart().is_some()
            && n.peer_long_lived_graceful_restart.is_some();
        assert_eq!(llgr, s.get("llgr").is_some_and(|v| v == "yes"), "{f}");
    }
    assert_eq!(pairs, 14, "seven sessions, both directions");
}

// ---------------------------------------------------------------------------
// Round trips of every kind

fn every_capability() -> Vec<Capability> {
    vec![
        Capability::Multiprotocol {
            afi: Afi::Ipv4,
            safi: Safi::Unicast,
        },
        Capability::Multiprotocol {
            afi: Afi::L2vpn,
            safi: Safi::Evpn,
        },
        Capability::RouteRefresh,
        Capability::RouteRefreshCisco,
        Capability::EnhancedRouteRefresh,
        Capability::FourOctetAs(4_200_000_001),
        Capability::GracefulRestart(GracefulRestart {
            flags: GracefulRestart::RESTART_STATE,
            restart_time: 300,
            families: vec![GracefulRestartFamily {
                afi: Afi::Ipv6,
                safi: Safi::Unicast,
                flags: GracefulRestartFamily::FORWARDING_STATE,
            }],
        }),
        Capability::AddPath(vec![
            AddPathFamily {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
                mode: AddPathMode::Send,
            },
            AddPathFamily {
                afi: Afi::Ipv6,
                safi: Safi::Unicast,
                mode: AddPathMode::Unknown(9),
            },
        ]),
        Capability::ExtendedMessage,
        Capability::ExtendedNextHop(vec![ExtendedNextHopFamily {
            nlri_afi: Afi::Ipv4,
            nlri_safi: Safi::Unicast,
            next_hop_afi: Afi::Ipv6,
        }]),
        Capability::Fqdn {
            hostname: "nva-1".into(),
            domain: "contoso.example".into(),
        },
        Capability::LongLivedGracefulRestart(vec![LongLivedGracefulRestartFamily {
            afi: Afi::Ipv4,
            safi: Safi::Unicast,
            flags: 0,
            stale_time: 86_400,
        }]),
        Capability::Unknown {
            code: 9,
            value: vec![2],
        },
    ]
}

#[test]
fn every_message_and_capability_round_trips() {
    let open = Open {
        version: 4,
        my_as: 23456,
        hold_time: 180,
        bgp_identifier: Ipv4Addr::new(10, 0, 0, 4),
        parameters: vec![
            OptionalParameter::Capabilities(every_capability()),
            OptionalParameter::Capabilities(vec![]),
            OptionalParameter::Capabilities(vec![Capability::RouteRefresh]),
        ],
    };
    let messages = [
        Message::Open(open),
        Message::Keepalive,
        Message::Notification(Notification::cease_shutdown(
            CeaseSubcode::AdministrativeReset,
            "rebooting nva-1 ✓",
        )),
        Message::Notification(Notification::new(ErrorCode::from_wire(9, 9), vec![1, 2, 3])),
        Message::RouteRefresh(RouteRefresh::request(Afi::Ipv4, Safi::Unicast)),
        Message::RouteRefresh(RouteRefresh {
            afi: Afi::Ipv6,
            subtype: RouteRefreshSubtype::Unknown(200),
            safi: Safi::Unicast,
        }),
    ];
    for msg in &messages {
        let ctx = Context::MODERN;
        let bytes = reencode(msg, &ctx);
        assert_eq!(
            usize::from(u16::from_be_bytes([bytes[16], bytes[17]])),
            bytes.len()
        );
        assert_eq!(bytes[18], msg.message_type().code());
        assert_eq!(&decode(&bytes, &ctx).unwrap(), msg);
    }
}

#[test]
fn extended_optional_parameters_are_read_even_when_short() {
    // RFC 9072 form although 8 bytes would fit the classic one.
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&[0, 0, 1, 4, 0xfd, 0xe9, 0, 90, 192, 0, 2, 1]);
    msg.extend_from_slice(&[255, 255, 0, 11]);
    msg.extend_from_slice(&[2, 0, 8, 2, 0, 65, 4, 0, 0, 0xfd, 0xe9]);
    let len = msg.len() as u16;
    msg[16..18].copy_from_slice(&len.to_be_bytes());
    let Message::Open(open) = decode(&msg, &Context::INITIAL).unwrap() else {
        panic!()
    };
    assert_eq!(
        open.parameters,
        [OptionalParameter::Capabilities(vec![
            Capability::RouteRefresh,
            Capability::FourOctetAs(65001)
        ])]
    );
    // Re-encoded in the classic form, which decodes to the same OPEN.
    let again = reencode(&Message::Open(open.clone()), &Context::INITIAL);
    assert_eq!(again[28], 10);
    assert_eq!(
        decode(&again, &Context::INITIAL).unwrap(),
        Message::Open(open)
    );
}

// ---------------------------------------------------------------------------
// Malformed OPENs: one per RFC 4271 §6.2 subcode

/// A valid OPEN with one Capabilities parameter (route refresh, 4-octet AS
/// 65001); tests corrupt it.
fn good_open() -> Vec<u8> {
    let open = Open::builder(65001, 90, Ipv4Addr::new(192, 0, 2, 1))
        .route_refresh()
        .build()
        .unwrap();
    reencode(&Message::Open(open), &Context::INITIAL)
}

fn fix_length(mut msg: Vec<u8>) -> Vec<u8> {
    let len = msg.len() as u16;
    msg[16..18].copy_from_slice(&len.to_be_bytes());
    msg
}

fn open_error(msg: &[u8]) -> DecodeError {
    decode(msg, &Context::INITIAL).unwrap_err()
}

#[test]
fn the_fixture_is_valid() {
    let msg = good_open();
    assert_eq!(msg.len(), 19 + 10 + 2 + 2 + 6);
    assert!(decode(&msg, &Context::INITIAL).is_ok());
}

#[test]
fn unsupported_version_number_gives_the_supported_version() {
    for version in [0u8, 3, 5, 255] {
        let mut msg = good_open();
        msg[19] = version;
        let e = open_error(&msg);
        assert_eq!(
            e.code,
            ErrorCode::OpenMessage(OpenSubcode::UnsupportedVersionNumber)
        );
        assert_eq!(e.data, [0, 4], "largest supported version, two octets");
        assert_eq!(e.offset, 19);
    }
}

#[test]
fn bad_peer_as_only_for_as_zero() {
    // My AS 0 (RFC 7607 §2); data is the My AS field.
    let mut msg = good_open();
    msg[20..22].copy_from_slice(&[0, 0]);
    let e = open_error(&msg);
    assert_eq!(e.code, ErrorCode::OpenMessage(OpenSubcode::BadPeerAs));
    assert_eq!(e.data, [0, 0]);
    assert_eq!(e.offset, 20);
    // AS 0 in the 4-octet AS capability.
    let open = Open::builder(4_200_000_001, 90, Ipv4Addr::new(192, 0, 2, 1))
        .build()
        .unwrap();
    let mut msg = reencode(&Message::Open(open), &Context::INITIAL);
    let cap = msg.len() - 4;
    msg[cap..].copy_from_slice(&[0, 0, 0, 0]);
    let e = open_error(&msg);
    assert_eq!(e.code, ErrorCode::OpenMessage(OpenSubcode::BadPeerAs));
    assert_eq!(e.data, 23456u16.to_be_bytes());
    // Any other AS is the session's to judge.
    let mut msg = good_open();
    msg[20..22].copy_from_slice(&65515u16.to_be_bytes());
    assert!(decode(&msg, &Context::INITIAL).is_ok());
}

#[test]
fn bad_bgp_identifier_is_zero_only() {
    let mut msg = good_open();
    msg[24..28].copy_from_slice(&[0, 0, 0, 0]);
    let e = open_error(&msg);
    assert_eq!(
        e.code,
        ErrorCode::OpenMessage(OpenSubcode::BadBgpIdentifier)
    );
    assert!(e.data.is_empty());
    assert_eq!(e.offset, 24);
    // RFC 6286: any non-zero 32-bit value, not only unicast host addresses.
    for id in [[255, 255, 255, 255], [224, 0, 0, 5], [0, 0, 0, 1]] {
        let mut msg = good_open();
        msg[24..28].copy_from_slice(&id);
        assert!(decode(&msg, &Context::INITIAL).is_ok(), "{id:?}");
    }
}

#[test]
fn unsupported_optional_parameter() {
    // Deprecated Authentication (1) after the Capabilities parameter.
    let mut msg = good_open();
    msg[28] += 4;
    msg.extend_from_slice(&[1, 2, 0xaa, 0xbb]);
    let msg = fix_length(msg);
    let e = open_error(&msg);
    assert_eq!(
        e.code,
        ErrorCode::OpenMessage(OpenSubcode::UnsupportedOptionalParameter)
    );
    assert!(e.data.is_empty());
    assert_eq!(e.offset, 39);
}

#[test]
fn unacceptable_hold_time() {
    for hold in [1u16, 2] {
        let mut msg = good_open();
        msg[22..24].copy_from_slice(&hold.to_be_bytes());
        let e = open_error(&msg);
        assert_eq!(
            e.code,
            ErrorCode::OpenMessage(OpenSubcode::UnacceptableHoldTime)
        );
        assert!(e.data.is_empty());
        assert_eq!(e.offset, 22);
    }
    for hold in [0u16, 3, 65535] {
        let mut msg = good_open();
        msg[22..24].copy_from_slice(&hold.to_be_bytes());
        assert!(decode(&msg, &Context::INITIAL).is_ok(), "{hold}");
    }
}

#[test]
fn unspecific_for_lengths_that_do_not_add_up() {
    let unspecific = ErrorCode::OpenMessage(OpenSubcode::Unspecific);
    let cases: Vec<(&str, Vec<u8>, usize)> = vec![
        // Optional Parameters Length beyond the message.
        (
            "params overrun",
            {
                let mut m = good_open();
                m[28] += 1;
                m
            },
            28,
        ),
        // Bytes after the optional parameters.
        (
            "trailing",
            fix_length({
                let mut m = good_open();
                m.push(0);
                m
            }),
            39,
        ),
        // The parameter claims more than the optional parameters hold.
        (
            "param overrun",
            {
                let mut m = good_open();
                m[30] += 1;
                m
            },
            29,
        ),
        // A capability overruns its parameter.
        (
            "capability overrun",
            {
                let mut m = good_open();
                m[34] = 5;
                m
            },
            33,
        ),
        // A 4-octet AS capability of 3 bytes.
        (
            "capability length",
            fix_length({
                let mut m = good_open();
                m[28] -= 1;
                m[30] -= 1;
                m[34] = 3;
                m.pop();
                m
            }),
            33,
        ),
        // RFC 9072 form whose length overruns the message.
        (
            "extended overrun",
            fix_length({
                let mut m = good_open()[..29].to_vec();
                m[28] = 255;
                m.extend_from_slice(&[255, 0, 50, 2, 0, 0]);
                m
            }),
            28,
        ),
        // RFC 9072 form with a truncated parameter header.
        (
            "extended header",
            fix_length({
                let mut m = good_open()[..29].to_vec();
                m[28] = 255;
                m.extend_from_slice(&[255, 0, 2, 2, 0]);
                m
            }),
            32,
        ),
    ];
    for (what, msg, offset) in cases {
        let e = open_error(&msg);
        assert_eq!(e.code, unspecific, "{what}");
        assert_eq!(e.offset, offset, "{what}");
        assert!(e.data.is_empty(), "{what}");
    }
}

#[test]
fn unknown_capabilities_are_kept_not_refused() {
    // RFC 5492 §3: ignore what is not understood; Unsupported Capability is
    // the session's answer to a missing one, not the decoder's.
    let mut msg = good_open();
    msg[28] += 4;
    msg[30] += 4;
    msg.extend_from_slice(&[250, 2, 7, 7]);
    let msg = fix_length(msg);
    let Message::Open(open) = decode(&msg, &Context::INITIAL).unwrap() else {
        panic!()
    };
    assert_eq!(
        open.capabilities().last(),
        Some(&Capability::Unknown {
            code: 250,
            value: vec![7, 7]
        })
    );
}

#[test]
fn route_refresh_of_the_wrong_length() {
    for body in [&[0u8, 1, 1][..], &[0, 1, 2, 1, 0][..], &[][..]] {
        let mut msg = vec![0xff; 16];
        msg.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        msg.push(5);
        msg.extend_from_slice(body);
        let e = decode(&msg, &Context::MODERN).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength)
        );
        assert_eq!(e.data, msg, "the data is the whole message");
        assert_eq!(e.notification().data, msg);
    }
}

#[test]
fn notification_shorter_than_21_bytes_is_a_header_error() {
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&[0, 20, 3, 6]);
    let e = decode(&msg, &Context::MODERN).unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength)
    );
    assert_eq!(e.data, [0, 20]);
}

#[test]
fn opens_above_4096_bytes_are_refused_both_ways() {
    let mut b = Open::builder(65001, 90, Ipv4Addr::new(192, 0, 2, 1));
    for _ in 0..20 {
        b = b.capability(Capability::Unknown {
            code: 200,
            value: vec![0; 255],
        });
    }
    assert!(b.build().is_err());
    let ext = Context {
        extended_message: true,
        ..Context::MODERN
    };
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&5000u16.to_be_bytes());
    msg.push(MessageType::Open.code());
    msg.resize(5000, 0);
    let e = decode(&msg, &ext).unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength)
    );
}

// ---------------------------------------------------------------------------
// Arbitrary input

proptest! {
    #[test]
    fn open_decode_never_panics_and_what_decodes_round_trips(
        body in proptest::collection::vec(any::<u8>(), 0..300)
    ) {
        if let Ok(open) = Open::decode(&body) {
            let mut out = BytesMut::new();
            open.encode(&mut out).unwrap();
            prop_assert_eq!(Open::decode(&out[19..]).unwrap(), open);
        }
    }

    #[test]
    fn corrupted_real_opens_never_panic(
        index in 0usize..4,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let vector = [BIRD_OPEN_S2, FRR_OPEN_S5, EXABGP_OPEN_S6, GOBGP_OPEN_S4][index];
        let mut body = vector[19..].to_vec();
        for (at, value) in flips {
            let i = at % body.len();
            body[i] = value;
        }
        body.truncate(cut % (body.len() + 1));
        if let Ok(open) = Open::decode(&body) {
            let mut out = BytesMut::new();
            open.encode(&mut out).unwrap();
            prop_assert_eq!(Open::decode(&out[19..]).unwrap(), open);
        }
    }

    #[test]
    fn notification_and_route_refresh_decode_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..64)
    ) {
        if let Ok(n) = Notification::decode(&body) {
            let _ = n.shutdown_message();
            let _ = n.to_string();
        }
        let _ = RouteRefresh::decode(&body);
    }
}
