//! `nvabgp decode` end to end: the built binary on real captured messages
//! (bgp-proto/tests/vectors), from files and standard input, raw and hex,
//! and on broken streams.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn vector(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("bgp-proto/tests/vectors")
        .join(format!("{name}.bin"))
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(vector(name)).unwrap()
}

/// Runs `nvabgp decode ARGS`, feeding `stdin`.
fn nvabgp(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nvabgp"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// The JSON objects of a successful run, one per line.
fn decoded(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    lines(out)
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn decode_file(name: &str, extra: &[&str]) -> Value {
    let path = vector(name);
    let mut args = vec!["decode"];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    let mut all = decoded(&nvabgp(&args, b""));
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn an_update_from_a_file() {
    let m = decode_file("frr-update-s1-ipv4-1nlri-med-comm-lcomm-ecomm", &[]);
    assert_eq!(m["type"], "UPDATE");
    assert_eq!(m["offset"], 0);
    assert_eq!(
        m["length"],
        bytes("frr-update-s1-ipv4-1nlri-med-comm-lcomm-ecomm").len()
    );
    assert_eq!(m["origin"], "igp");
    assert_eq!(
        m["as_path"],
        json!([{"type": "AS_SEQUENCE", "asns": [4200000002u32]}])
    );
    assert_eq!(m["as_path_string"], "4200000002");
    assert_eq!(m["next_hop"], "192.0.2.2");
    assert_eq!(m["med"], 77);
    assert_eq!(m["communities"], json!(["65002:10", "65002:20"]));
    assert_eq!(
        m["large_communities"],
        json!(["4200000002:100:1", "4200000002:100:2"])
    );
    assert_eq!(
        m["extended_communities"],
        json!(["rt:65002:100", "rt:65002:200"])
    );
    assert_eq!(m["nlri"], json!(["198.19.0.0/16"]));
    assert!(m.get("errors").is_none() && m.get("end_of_rib").is_none());
}

#[test]
fn a_stream_of_every_message_type_from_stdin() {
    let names = [
        "bird-open-s2-as65001-mp4-mp6-rr-enh-gr-err-llgr",
        "bird-keepalive-s1",
        "bird-update-s2-ipv6-mpreach1-llnh-prepend-med-comm-lcomm",
        "bird-route-refresh-s1-ipv4-borr",
        "bird-update-s2-eor-ipv6",
        "bird-notification-s1-cease-admin-shutdown-msg",
    ];
    let stream: Vec<u8> = names.iter().flat_map(|n| bytes(n)).collect();
    let all = decoded(&nvabgp(&["decode", "-"], &stream));
    let types: Vec<&str> = all.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "OPEN",
            "KEEPALIVE",
            "UPDATE",
            "ROUTE-REFRESH",
            "UPDATE",
            "NOTIFICATION"
        ]
    );
    // Offsets add up over the stream.
    let mut offset = 0;
    for (m, n) in all.iter().zip(names) {
        assert_eq!(m["offset"], offset, "{n}");
        assert_eq!(m["length"], bytes(n).len(), "{n}");
        offset += bytes(n).len();
    }

    let open = &all[0];
    assert_eq!(open["version"], 4);
    assert_eq!(open["my_as"], 65001);
    assert_eq!(open["asn"], 65001);
    assert_eq!(open["hold_time"], 6);
    assert_eq!(open["bgp_identifier"], "192.0.2.1");
    let caps = open["capabilities"].as_array().unwrap();
    assert_eq!(
        caps[0],
        json!({"code": 1, "name": "multiprotocol", "family": "ipv4-unicast"})
    );
    assert!(caps.iter().any(|c| c["code"] == 65 && c["asn"] == 65001));
    assert!(
        caps.iter()
            .any(|c| c["code"] == 64 && c["restart_time"] == 120),
        "{caps:?}"
    );

    let update = &all[2];
    assert_eq!(update["mp_reach"]["family"], "ipv6-unicast");
    assert_eq!(update["mp_reach"]["next_hop"], "2001:db8::1");
    assert_eq!(
        update["mp_reach"]["link_local_next_hop"],
        "fe80::ff:fe00:a01"
    );
    assert_eq!(update["mp_reach"]["nlri"], json!(["2001:db8:aaaa::/48"]));
    assert_eq!(update["med"], 600);
    assert_eq!(update["as_path_string"], "65001 65001 65001");

    assert_eq!(
        all[3],
        json!({"type": "ROUTE-REFRESH", "offset": all[3]["offset"], "length": 23,
               "family": "ipv4-unicast", "afi": 1, "safi": 1, "subtype": 1, "subtype_name": "BoRR"})
    );
    assert_eq!(all[4]["end_of_rib"], "ipv6-unicast");
    assert_eq!(all[4]["mp_unreach"]["family"], "ipv6-unicast");

    let n = &all[5];
    assert_eq!(
        (n["code"].as_u64(), n["subcode"].as_u64()),
        (Some(6), Some(2))
    );
    assert_eq!(n["code_name"], "Cease");
    assert_eq!(n["subcode_name"], "Administrative Shutdown");
    assert_eq!(n["shutdown_message"], "maintenance");
}

#[test]
fn hex_input_decodes_like_the_bytes() {
    let raw = [
        bytes("exabgp-update-s4-ipv4-1nlri-origin-incomplete-asset-atomic-aggr"),
        bytes("exabgp-keepalive-s4"),
    ]
    .concat();
    // A hex dump with colons, spaces and line breaks.
    let text: String = raw
        .chunks(16)
        .map(|line| {
            line.iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
                + " \n"
        })
        .collect();
    let from_hex = decoded(&nvabgp(&["decode", "--hex", "-"], text.as_bytes()));
    let from_bytes = decoded(&nvabgp(&["decode", "-"], &raw));
    assert_eq!(from_hex, from_bytes);
    assert_eq!(from_hex.len(), 2);
    let m = &from_hex[0];
    assert_eq!(m["origin"], "incomplete");
    assert_eq!(m["atomic_aggregate"], true);
    assert_eq!(
        m["aggregator"],
        json!({"asn": 65020, "address": "192.0.2.2"})
    );
    assert_eq!(
        m["as_path"],
        json!([{"type": "AS_SEQUENCE", "asns": [65020]}, {"type": "AS_SET", "asns": [65030, 65040]}])
    );
    assert_eq!(m["as_path_string"], "65020 {65030 65040}");

    let bad = nvabgp(&["decode", "--hex", "-"], b"ff ff zz");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("byte 6"), "{err}");
}

#[test]
fn add_path_and_two_octet_sessions() {
    let m = decode_file(
        "bird-update-s3-ipv4-4nlri-addpath-med-lp-comm-no-export",
        &["--add-path", "ipv4"],
    );
    assert_eq!(
        m["nlri"],
        json!([
            {"prefix": "198.51.100.0/24", "path_id": 3},
            {"prefix": "10.11.0.0/18", "path_id": 3},
            {"prefix": "10.10.0.0/16", "path_id": 3},
            {"prefix": "203.0.113.0/25", "path_id": 3}
        ])
    );
    assert_eq!(m["local_pref"], 300);
    assert_eq!(m["communities"], json!(["65535:65281"]));

    let m = decode_file(
        "gobgp-update-s5-ipv6-mpreach1-addpath-origin-incomplete-lp",
        &["--add-path", "ipv4,ipv6"],
    );
    assert_eq!(
        m["mp_reach"]["nlri"],
        json!([{"prefix": "2001:db8:6000::/48", "path_id": 1}])
    );
    assert_eq!(m["mp_reach"]["next_hop"], "2001:db8::2");
    assert!(m["mp_reach"].get("link_local_next_hop").is_none());

    // AS_PATH with AS_TRANS, the real path in AS4_PATH (RFC 6793 §4.2.3).
    let m = decode_file(
        "bird-update-s7-ipv4-1nlri-astrans-comm-no-export-as4path-lcomm",
        &["--two-octet-as"],
    );
    assert_eq!(
        m["as_path"],
        json!([{"type": "AS_SEQUENCE", "asns": [23456, 65010, 23456]}])
    );
    assert_eq!(
        m["as4_path"],
        json!([{"type": "AS_SEQUENCE", "asns": [4200000001u32, 65010, 4200000001u32]}])
    );
    assert_eq!(m["as_path_string"], "4200000001 65010 4200000001");
}

#[test]
fn end_of_rib_and_the_extended_message() {
    let m = decode_file("gobgp-update-s3-eor-ipv4", &[]);
    assert_eq!(m["end_of_rib"], "ipv4-unicast");
    // 4458 bytes: fine, extended messages are allowed by default.
    let m = decode_file("frr-update-s1-extmsg4458-ipv4-1100nlri-med-comm", &[]);
    assert_eq!(m["length"], 4458);
    assert_eq!(m["nlri"].as_array().unwrap().len(), 1100);
}

#[test]
fn a_truncated_stream_prints_what_came_before_and_fails() {
    let update = bytes("bird-update-s1-ipv4-1nlri-comm-no-export");
    let mut stream = bytes("bird-keepalive-s1");
    stream.extend_from_slice(&update[..30]);
    let out = nvabgp(&["decode", "-"], &stream);
    assert_eq!(out.status.code(), Some(1));
    let printed = lines(&out);
    assert_eq!(printed.len(), 1);
    assert_eq!(printed[0]["type"], "KEEPALIVE");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("message #1 (starting at byte 19)"), "{err}");
    assert!(
        err.contains(&format!("30 of its {} bytes", update.len())),
        "{err}"
    );
}

#[test]
fn garbage_gives_the_offset_and_the_notification() {
    // A bad marker after one good message.
    let mut stream = bytes("frr-keepalive-s1");
    stream.extend_from_slice(&[0x00; 19]);
    let out = nvabgp(&["decode", "-"], &stream);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out).len(), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("starting at byte 19) is malformed at byte 19"),
        "{err}"
    );
    assert!(err.contains("Message Header Error (1/1)"), "{err}");

    // An UPDATE whose Total Path Attribute Length overruns the message.
    let mut update = bytes("bird-update-s1-ipv4-1nlri-comm-no-export");
    update[21] = 0xff;
    update[22] = 0xff;
    let mut stream = bytes("frr-keepalive-s1");
    stream.extend_from_slice(&update);
    let out = nvabgp(&["decode", "-"], &stream);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "UPDATE #1 (starting at byte 19) is malformed at byte 40 (byte 21 of the message)"
        ),
        "{err}"
    );
    assert!(
        err.contains("NOTIFICATION UPDATE Message Error (3/1): Malformed Attribute List"),
        "{err}"
    );

    // A 2-octet AS_PATH read as 4-octet does not parse: RFC 7606
    // treat-as-withdraw, reported in the JSON, not fatal.
    let m = decode_file("exabgp-update-s7-ipv4-2nlri-med", &[]);
    assert_eq!(m["action"], "treat-as-withdraw");
    assert_eq!(m["errors"][0]["attribute"], "AS_PATH");
    assert_eq!(m["errors"][0]["subcode"], 11);
}

#[test]
fn missing_input_and_bad_arguments_fail_cleanly() {
    let out = nvabgp(&["decode", "/nonexistent/x.bin"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/x.bin"));
    let out = nvabgp(&["decode", "--add-path", "ipv5", "-"], b"");
    assert_eq!(out.status.code(), Some(2));
    let out = nvabgp(&["decode", "-"], b"");
    assert!(out.status.success() && out.stdout.is_empty());
}

#[test]
fn help_describes_the_options() {
    let out = nvabgp(&["decode", "--help"], b"");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--hex",
        "--two-octet-as",
        "--add-path",
        "<FILE>",
        "ipv4",
        "ipv6",
        "NOTIFICATION",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}
