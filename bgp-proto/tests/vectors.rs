//! Real messages from real speakers, decoded and compared with an
//! independent decoder.
//!
//! Every `.bin` in `tests/vectors/` is one message exactly as BIRD, FRR,
//! GoBGP or ExaBGP sent it on a live session (see `tests/vectors/README.md`).
//! Each is decoded with the session state it was sent in (the `_provenance`
//! of its `.json`: 4-octet AS, ADD-PATH families, extended messages) and
//! compared field by field with tshark's decode of the same bytes (the `bgp`
//! object of the `.json`), and with the type and length the capture splitter
//! wrote to `MANIFEST.tsv`.
//!
//! "Decoded without error" is not a pass: every vector must match on every
//! field tshark shows, and must have compared at least a minimum number of
//! fields for its message type, so a comparison that silently finds nothing
//! to compare fails too. All mismatches of all vectors are reported at once.
//!
//! Where tshark 4.0 cannot be the oracle (documented in the vectors README)
//! the test uses what the README and MANIFEST document instead:
//! - the 4458-byte RFC 8654 UPDATE, which tshark does not decode: the
//!   MANIFEST summary (prefix count, the prefixes it lists, attributes);
//! - ExaBGP's Bad Peer AS NOTIFICATION with ASCII text as data, which tshark
//!   reads as a 59-byte integer: the data bytes the MANIFEST summary gives.

use std::collections::BTreeMap;
use std::fmt::{Debug, Display};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use bgp_proto::attribute::AsPathView;
use bgp_proto::attribute::flags::EXTENDED_LENGTH;
use bgp_proto::iana::HeaderSubcode;
use bgp_proto::message::open::OptionalParameter;
use bgp_proto::message::owned::AttributeValue;
use bgp_proto::message::update::RawAttribute;
use bgp_proto::{
    Afi, Capability, Context, ErrorCode, Families, Message, NextHop, Nlri, Notification, Open,
    RouteRefresh, Safi, Update,
};
use bytes::BytesMut;
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

/// One captured message with its oracle.
struct Vector {
    /// File stem, e.g. `bird-update-s1-ipv4-wd8`.
    name: String,
    bytes: Vec<u8>,
    /// The session state of the direction it was sent in.
    ctx: Context,
    /// tshark's decode.
    bgp: Value,
    /// `_provenance` (summary from the splitter's own decoder).
    provenance: Value,
    /// Its MANIFEST.tsv row: type and length.
    manifest_type: String,
    manifest_length: usize,
}

fn load_vectors() -> Vec<Vector> {
    let dir = Path::new(VECTORS);
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut rows = BTreeMap::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        rows.insert(
            cols[0].to_string(),
            (cols[3].to_string(), cols[4].parse::<usize>().unwrap()),
        );
    }
    let mut bins: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    bins.sort();
    let vectors: Vec<Vector> = bins
        .iter()
        .map(|bin| {
            let name = bin.file_stem().unwrap().to_str().unwrap().to_string();
            let file = format!("{name}.bin");
            let json: Value = serde_json::from_str(
                &std::fs::read_to_string(bin.with_extension("json"))
                    .unwrap_or_else(|e| panic!("{name}.json: {e}")),
            )
            .unwrap_or_else(|e| panic!("{name}.json: {e}"));
            let (manifest_type, manifest_length) = rows
                .remove(&file)
                .unwrap_or_else(|| panic!("{file} is not in MANIFEST.tsv"));
            Vector {
                ctx: context(&json["_provenance"], &name),
                bytes: std::fs::read(bin).unwrap(),
                bgp: json["bgp"].clone(),
                provenance: json["_provenance"].clone(),
                name,
                manifest_type,
                manifest_length,
            }
        })
        .collect();
    assert!(
        rows.is_empty(),
        "MANIFEST.tsv rows without a .bin: {:?}",
        rows.keys()
    );
    vectors
}

/// The session state the sender was in, from `_provenance`.
fn context(provenance: &Value, name: &str) -> Context {
    let flag = |key: &str| {
        provenance[key]
            .as_bool()
            .unwrap_or_else(|| panic!("{name}: _provenance.{key} is not a boolean"))
    };
    let mut add_path = Families::NONE;
    for family in provenance["session_addpath_afs_sender_to_receiver"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: no session_addpath_afs_sender_to_receiver"))
    {
        add_path = add_path
            | match family.as_str() {
                Some("ipv4-unicast") => Families::IPV4_UNICAST,
                Some("ipv6-unicast") => Families::IPV6_UNICAST,
                other => panic!("{name}: unknown ADD-PATH family {other:?}"),
            };
    }
    Context {
        four_octet_as: flag("session_as4"),
        add_path,
        extended_message: flag("session_ext_msg"),
    }
}

// ---- Walking tshark's JSON ----------------------------------------------
//
// `tshark -T json --no-duplicate-keys` turns a field that occurs once into a
// value and one that repeats into an array of values; the same holds for
// subtrees. Every lookup here therefore goes through `all`, which gives the
// occurrences as a list either way. Values are strings: decimal numbers,
// `0x..` hex numbers, dotted addresses, colon-separated bytes.

/// The occurrences of a field: none, one, or each element of an array.
fn all(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    }
}

/// A tshark number (`"65001"` or `"0x40"`).
fn num(v: &Value) -> u64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("tshark value {v} is not a string"));
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("tshark value {s:?} is not a number"))
}

/// The number at `key` of `obj`, `None` when absent.
fn num_at(obj: &Value, key: &str) -> Option<u64> {
    obj.get(key).map(num)
}

/// The string at `key` of `obj`.
fn str_at<'v>(obj: &'v Value, key: &str) -> Option<&'v str> {
    obj.get(key).and_then(Value::as_str)
}

/// The address at `key` of `obj`.
fn addr_at(obj: &Value, key: &str) -> Option<IpAddr> {
    str_at(obj, key).map(|s| {
        s.parse()
            .unwrap_or_else(|_| panic!("tshark address {s:?} does not parse"))
    })
}

/// Colon-separated bytes (`"20:20:01:0d"`).
fn bytes_of(s: &str) -> Vec<u8> {
    s.split(':')
        .filter(|b| !b.is_empty())
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("bad byte {b:?} in {s:?}")))
        .collect()
}

/// The keys tshark uses for the address of a prefix, one per field.
const PREFIX_ADDRESS_KEYS: [&str; 6] = [
    "bgp.nlri_prefix",
    "bgp.withdrawn_prefix",
    "bgp.mp_reach_nlri_ipv4_prefix",
    "bgp.mp_reach_nlri_ipv6_prefix",
    "bgp.mp_unreach_nlri_ipv4_prefix",
    "bgp.mp_unreach_nlri_ipv6_prefix",
];

/// A prefix as both decoders see it: address as shown (host bits and all),
/// length, path identifier.
type PrefixFields = (IpAddr, u8, Option<u32>);

fn nlri_fields(n: &Nlri) -> PrefixFields {
    (n.prefix.addr(), n.prefix.len(), n.path_id)
}

/// The prefixes of a tshark prefix list: an object keyed by the prefix
/// text (`"10.0.0.0/8"`, `"10.0.0.0/8 PathId 3 "`), in wire order (the
/// JSON is read with `preserve_order`). An empty field may be `""`.
fn tshark_prefixes(v: Option<&Value>) -> Vec<PrefixFields> {
    let mut out = Vec::new();
    let Some(v) = v else { return out };
    match v {
        Value::String(s) if s.is_empty() => return out,
        Value::Object(map) => {
            for (key, entry) in map {
                // A prefix repeated with the same key becomes an array.
                for e in all(Some(entry)) {
                    let addr = PREFIX_ADDRESS_KEYS
                        .iter()
                        .find_map(|k| addr_at(e, k))
                        .unwrap_or_else(|| panic!("no address in tshark prefix {key:?}"));
                    let len = num_at(e, "bgp.prefix_length")
                        .unwrap_or_else(|| panic!("no length in tshark prefix {key:?}"));
                    let path_id = num_at(e, "bgp.nlri_path_id").map(|id| id as u32);
                    out.push((addr, len as u8, path_id));
                }
            }
        }
        other => panic!("unexpected tshark prefix list {other}"),
    }
    out
}

// ---- Comparing -----------------------------------------------------------

/// Counts compared fields and collects mismatches for one vector.
struct Comparison<'a> {
    vector: &'a str,
    fields: usize,
    mismatches: Vec<String>,
}

impl<'a> Comparison<'a> {
    fn new(vector: &'a str) -> Self {
        Self {
            vector,
            fields: 0,
            mismatches: Vec::new(),
        }
    }

    /// Compares one field: `expected` from the oracle, `got` from bgp-proto.
    fn field<T: PartialEq + Debug>(&mut self, what: impl Display, expected: T, got: T) {
        self.fields += 1;
        if expected != got {
            self.mismatches.push(format!(
                "{}: {what}: expected {expected:?}, bgp-proto gave {got:?}",
                self.vector
            ));
        }
    }

    /// Records something that could not be compared at all.
    fn fail(&mut self, what: impl Display) {
        self.mismatches.push(format!("{}: {what}", self.vector));
    }
}

/// Fewest fields a vector of each type must have compared.
fn minimum_fields(message_type: &str) -> usize {
    match message_type {
        // marker, type, length (tshark and MANIFEST), framing, no body
        "KEEPALIVE" => 6,
        // + code, subcode, data
        "NOTIFICATION" => 9,
        // + version, AS, hold time, identifier, capabilities
        "OPEN" => 12,
        // + AFI, subtype, SAFI
        "ROUTE-REFRESH" => 8,
        // + section lengths, at least one attribute or prefix, findings, EoR
        "UPDATE" => 12,
        other => panic!("unknown message type {other}"),
    }
}

#[test]
fn every_vector_decodes_as_tshark_and_the_manifest_say() {
    let vectors = load_vectors();
    assert_eq!(vectors.len(), 117, "the README promises 117 vectors");
    let mut mismatches = Vec::new();
    let mut total = 0;
    let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &vectors {
        let mut c = Comparison::new(&v.name);
        compare_vector(&mut c, v);
        let min = minimum_fields(&v.manifest_type);
        let fields = c.fields;
        if fields < min {
            c.fail(format_args!(
                "only {fields} fields compared, at least {min} expected for {}",
                v.manifest_type
            ));
        }
        total += c.fields;
        *per_type.entry(v.manifest_type.as_str()).or_default() += 1;
        mismatches.extend(c.mismatches);
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches over {} vectors:\n{}",
        mismatches.len(),
        vectors.len(),
        mismatches.join("\n")
    );
    // Visible with --nocapture: how much was actually checked.
    println!(
        "{} vectors, {total} fields compared: {per_type:?}",
        vectors.len()
    );
}

fn compare_vector(c: &mut Comparison<'_>, v: &Vector) {
    let bgp = &v.bgp;
    // Header: tshark, the splitter's MANIFEST, and the framer all agree.
    c.field(
        "marker",
        str_at(bgp, "bgp.marker").map(bytes_of),
        v.bytes.get(..16).map(<[u8]>::to_vec),
    );
    c.field(
        "length (tshark)",
        num_at(bgp, "bgp.length"),
        Some(v.bytes.len() as u64),
    );
    c.field("length (MANIFEST)", v.manifest_length, v.bytes.len());
    c.field(
        "framed length",
        Ok(Some(v.bytes.len())),
        bgp_proto::framing::frame(&v.bytes, &v.ctx),
    );
    let msg = match bgp_proto::decode(&v.bytes, &v.ctx) {
        Ok(m) => m,
        Err(e) => {
            c.fail(format_args!("does not decode: {e}"));
            return;
        }
    };
    let name = msg.message_type().name();
    c.field("type (MANIFEST)", v.manifest_type.as_str(), name);
    if v.name == "frr-update-s1-extmsg4458-ipv4-1100nlri-med-comm" {
        // tshark 4.0 does not decode messages over 4096 bytes.
        match &msg {
            Message::Update(u) => compare_extended_message(c, u, v),
            _ => c.fail("not an UPDATE"),
        }
        return;
    }
    c.field(
        "type (tshark)",
        num_at(bgp, "bgp.type"),
        Some(u64::from(msg.message_type().code())),
    );
    match &msg {
        Message::Keepalive => {}
        Message::Open(o) => compare_open(c, o, bgp),
        Message::Update(u) => compare_update(c, u, v),
        Message::Notification(n) => compare_notification(c, n, v),
        Message::RouteRefresh(r) => compare_route_refresh(c, r, bgp),
    }
}

// ---- OPEN ------------------------------------------------------------------

fn compare_open(c: &mut Comparison<'_>, o: &Open, bgp: &Value) {
    c.field(
        "version",
        num_at(bgp, "bgp.open.version"),
        Some(u64::from(o.version)),
    );
    c.field(
        "My AS",
        num_at(bgp, "bgp.open.myas"),
        Some(u64::from(o.my_as)),
    );
    c.field(
        "hold time",
        num_at(bgp, "bgp.open.holdtime"),
        Some(u64::from(o.hold_time)),
    );
    c.field(
        "BGP identifier",
        addr_at(bgp, "bgp.open.identifier"),
        Some(IpAddr::V4(o.bgp_identifier)),
    );
    // Each parameter: its type, and its capabilities with the bytes
    // bgp-proto encodes each to (code, length, value).
    let params: Vec<(u8, Vec<EncodedCapability<'_>>)> = o
        .parameters
        .iter()
        .map(|p| match p {
            OptionalParameter::Capabilities(caps) => (
                2,
                caps.iter()
                    .map(|cap| {
                        let mut wire = Vec::new();
                        cap.encode(&mut wire).unwrap();
                        (cap, wire)
                    })
                    .collect(),
            ),
            OptionalParameter::Unknown { param_type, .. } => (*param_type, Vec::new()),
        })
        .collect();
    let param_len =
        |caps: &[(&Capability, Vec<u8>)]| caps.iter().map(|(_, w)| w.len()).sum::<usize>();
    c.field(
        "optional parameters length",
        num_at(bgp, "bgp.open.opt.len"),
        Some(
            params
                .iter()
                .map(|(_, caps)| 2 + param_len(caps))
                .sum::<usize>() as u64,
        ),
    );
    let expected = all(bgp
        .get("bgp.open.opt")
        .and_then(|x| x.get("bgp.open.opt.param")));
    c.field("optional parameter count", expected.len(), params.len());
    for (i, (t, (ptype, caps))) in expected.iter().zip(&params).enumerate() {
        let what = format!("parameter #{i}");
        c.field(
            format_args!("{what} type"),
            num_at(t, "bgp.open.opt.param.type"),
            Some(u64::from(*ptype)),
        );
        c.field(
            format_args!("{what} length"),
            num_at(t, "bgp.open.opt.param.len"),
            Some(param_len(caps) as u64),
        );
        let expected_caps = all(t.get("bgp.cap"));
        c.field(
            format_args!("{what} capability count"),
            expected_caps.len(),
            caps.len(),
        );
        for (j, (tc, (cap, wire))) in expected_caps.iter().zip(caps).enumerate() {
            compare_capability(c, &format!("{what} capability #{j}"), tc, cap, wire);
        }
    }
}

/// A decoded capability and its wire form.
type EncodedCapability<'a> = (&'a Capability, Vec<u8>);

fn cap_key(suffix: &str) -> String {
    format!("bgp.cap.{suffix}")
}

/// The numbers of a repeated capability field (`bgp.cap.ap.afi`...).
fn nums(t: &Value, suffix: &str) -> Vec<u64> {
    all(t.get(cap_key(suffix))).into_iter().map(num).collect()
}

fn compare_capability(
    c: &mut Comparison<'_>,
    what: &str,
    t: &Value,
    cap: &Capability,
    wire: &[u8],
) {
    c.field(
        format_args!("{what} code"),
        num_at(t, &cap_key("type")),
        Some(u64::from(u8::from(cap.code()))),
    );
    let value = wire.get(2..).unwrap_or_default();
    c.field(
        format_args!("{what} length"),
        num_at(t, &cap_key("length")),
        Some(value.len() as u64),
    );
    let afi = |a: Afi| u64::from(u16::from(a));
    let safi = |s: Safi| u64::from(u8::from(s));
    match cap {
        Capability::Multiprotocol { afi: a, safi: s } => {
            c.field(format_args!("{what} AFI"), nums(t, "mp.afi"), vec![afi(*a)]);
            c.field(
                format_args!("{what} SAFI"),
                nums(t, "mp.safi"),
                vec![safi(*s)],
            );
        }
        Capability::FourOctetAs(asn) => c.field(
            format_args!("{what} 4-octet AS"),
            num_at(t, &cap_key("4as")),
            Some(u64::from(*asn)),
        ),
        Capability::GracefulRestart(gr) => {
            let timers = t.get(cap_key("gr.timers_tree"));
            let timer =
                |k: &str| timers.and_then(|x| num_at(x, &cap_key(&format!("gr.timers.{k}"))));
            c.field(
                format_args!("{what} restart flags and time"),
                num_at(t, &cap_key("gr.timers")),
                Some((u64::from(gr.flags) << 12) | u64::from(gr.restart_time)),
            );
            c.field(
                format_args!("{what} Restart State flag"),
                timer("restart_flag"),
                Some(u64::from(gr.restart_state())),
            );
            c.field(
                format_args!("{what} Notification flag"),
                timer("notification_flag"),
                Some(u64::from(gr.notification())),
            );
            c.field(
                format_args!("{what} restart time"),
                timer("restart_time"),
                Some(u64::from(gr.restart_time)),
            );
            let expected: Vec<(u64, u64, u64)> = nums(t, "gr.afi")
                .into_iter()
                .zip(nums(t, "gr.safi"))
                .zip(nums(t, "gr.flag"))
                .map(|((a, s), f)| (a, s, f))
                .collect();
            c.field(
                format_args!("{what} families (AFI, SAFI, flags)"),
                expected,
                gr.families
                    .iter()
                    .map(|f| (afi(f.afi), safi(f.safi), u64::from(f.flags)))
                    .collect(),
            );
        }
        Capability::AddPath(families) => {
            let expected: Vec<(u64, u64, u64)> = nums(t, "ap.afi")
                .into_iter()
                .zip(nums(t, "ap.safi"))
                .zip(nums(t, "ap.sendreceive"))
                .map(|((a, s), m)| (a, s, m))
                .collect();
            c.field(
                format_args!("{what} families (AFI, SAFI, send/receive)"),
                expected,
                families
                    .iter()
                    .map(|f| (afi(f.afi), safi(f.safi), u64::from(f.mode.code())))
                    .collect(),
            );
        }
        Capability::ExtendedNextHop(families) => {
            let expected: Vec<(u64, u64, u64)> = nums(t, "enh.afi")
                .into_iter()
                .zip(nums(t, "enh.safi"))
                .zip(nums(t, "enh.nhafi"))
                .map(|((a, s), n)| (a, s, n))
                .collect();
            c.field(
                format_args!("{what} families (AFI, SAFI, next hop AFI)"),
                expected,
                families
                    .iter()
                    .map(|f| (afi(f.nlri_afi), safi(f.nlri_safi), afi(f.next_hop_afi)))
                    .collect(),
            );
        }
        Capability::Fqdn { hostname, domain } => {
            c.field(
                format_args!("{what} hostname"),
                str_at(t, &cap_key("orf.fqdn.hostname")),
                Some(hostname.as_str()),
            );
            c.field(
                format_args!("{what} domain name"),
                str_at(t, &cap_key("orf.fqdn.domain_name")),
                Some(domain.as_str()),
            );
        }
        Capability::LongLivedGracefulRestart(families) => {
            // tshark 4.0 does not decode LLGR: it shows the value in hex.
            // RFC 9494 §3: AFI (2), SAFI (1), flags (1), stale time (3).
            let raw = str_at(t, &cap_key("unknown"))
                .map(bytes_of)
                .unwrap_or_default();
            let expected: Vec<(u64, u64, u64, u64)> = raw
                .chunks(7)
                .map(|f| {
                    let n = |b: &[u8]| b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
                    (n(&f[..2]), n(&f[2..3]), n(&f[3..4]), n(&f[4..]))
                })
                .collect();
            c.field(
                format_args!("{what} families (AFI, SAFI, flags, stale time)"),
                expected,
                families
                    .iter()
                    .map(|f| {
                        (
                            afi(f.afi),
                            safi(f.safi),
                            u64::from(f.flags),
                            u64::from(f.stale_time),
                        )
                    })
                    .collect(),
            );
        }
        Capability::Unknown { value: v, .. } => c.field(
            format_args!("{what} value"),
            str_at(t, &cap_key("unknown")).map(bytes_of),
            Some(v.clone()),
        ),
        // No value: code and length (0) say it all.
        Capability::RouteRefresh
        | Capability::RouteRefreshCisco
        | Capability::EnhancedRouteRefresh
        | Capability::ExtendedMessage => {}
    }
}

// ---- ROUTE-REFRESH ---------------------------------------------------------

fn compare_route_refresh(c: &mut Comparison<'_>, r: &RouteRefresh, bgp: &Value) {
    c.field(
        "AFI",
        num_at(bgp, "bgp.route_refresh.afi"),
        Some(u64::from(u16::from(r.afi))),
    );
    c.field(
        "subtype",
        num_at(bgp, "bgp.route_refresh.subtype"),
        Some(u64::from(u8::from(r.subtype))),
    );
    c.field(
        "SAFI",
        num_at(bgp, "bgp.route_refresh.safi"),
        Some(u64::from(u8::from(r.safi))),
    );
}

// ---- NOTIFICATION ----------------------------------------------------------

fn compare_notification(c: &mut Comparison<'_>, n: &Notification, v: &Vector) {
    let bgp = &v.bgp;
    c.field(
        "error code",
        num_at(bgp, "bgp.notify.major_error"),
        Some(u64::from(n.code.code())),
    );
    // tshark names the subcode field after the code
    // (minor_error_cease, minor_error_open, minor_error_expired...).
    let subcode = bgp.as_object().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.starts_with("bgp.notify.minor_error"))
            .map(|(_, s)| num(s))
    });
    c.field("error subcode", subcode, Some(u64::from(n.code.subcode())));

    let expected_data: Vec<u8> =
        if v.name == "exabgp-notification-s4-open-message-error-bad-peer-as" {
            // tshark reads ExaBGP's ASCII text as one 59-byte integer and shows
            // its first four bytes; the whole data is in the MANIFEST summary.
            let summary = v.provenance["summary"].as_str().unwrap_or_default();
            let hex = summary
                .split_once(", data ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or_else(|| panic!("no data in summary {summary:?}"));
            let data = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect::<Vec<u8>>();
            c.field(
                "data, first four bytes (what tshark shows)",
                num_at(bgp, "bgp.notify.error_open.bad_peer_as"),
                n.data
                    .first_chunk::<4>()
                    .map(|b| u64::from(u32::from_be_bytes(*b))),
            );
            data
        } else if let Some(text) = str_at(bgp, "bgp.notify.communication") {
            // RFC 8203 / RFC 9003: a length octet, then UTF-8.
            c.field(
                "shutdown communication length",
                num_at(bgp, "bgp.notify.communication_length"),
                n.data.first().map(|&l| u64::from(l)),
            );
            c.field(
                "shutdown communication",
                Some(text),
                n.data.get(1..).and_then(|t| std::str::from_utf8(t).ok()),
            );
            let mut d = vec![text.len() as u8];
            d.extend_from_slice(text.as_bytes());
            d
        } else if let Some(asn) = num_at(bgp, "bgp.notify.error_open.bad_peer_as") {
            // RFC 4271 §6.2: the data of Bad Peer AS is the 2-octet My AS.
            (asn as u16).to_be_bytes().to_vec()
        } else {
            // tshark shows no data: there must be none.
            Vec::new()
        };
    c.field("data", expected_data, n.data.clone());
}

// ---- UPDATE ----------------------------------------------------------------

const ATTRIBUTE: &str = "bgp.update.path_attribute";

fn key(suffix: &str) -> String {
    format!("{ATTRIBUTE}.{suffix}")
}

/// The End-of-RIB family the vector's name announces (`eor-ipv4`,
/// `eor-ipv6`).
fn expected_end_of_rib(name: &str) -> Option<(Afi, Safi)> {
    if name.contains("-eor-ipv4") {
        Some((Afi::Ipv4, Safi::Unicast))
    } else if name.contains("-eor-ipv6") {
        Some((Afi::Ipv6, Safi::Unicast))
    } else {
        None
    }
}

/// Wire length of an attribute: header (3 or 4 bytes) and value.
fn attribute_wire_len(a: &RawAttribute<'_>) -> usize {
    let header = if a.flags & EXTENDED_LENGTH != 0 { 4 } else { 3 };
    header + a.value.len()
}

fn compare_update(c: &mut Comparison<'_>, u: &Update<'_>, v: &Vector) {
    let bgp = &v.bgp;
    let withdrawn: Vec<Nlri> = u.withdrawn_routes().collect();
    c.field(
        "withdrawn routes length",
        num_at(bgp, "bgp.update.withdrawn_routes.length"),
        Some(withdrawn.iter().map(Nlri::wire_len).sum::<usize>() as u64),
    );
    compare_prefixes(
        c,
        "withdrawn routes",
        bgp.get("bgp.update.withdrawn_routes"),
        &withdrawn,
    );
    let attributes: Vec<RawAttribute<'_>> = u.attributes().collect();
    c.field(
        "path attributes length",
        num_at(bgp, "bgp.update.path_attributes.length"),
        Some(attributes.iter().map(attribute_wire_len).sum::<usize>() as u64),
    );
    let expected = all(bgp
        .get("bgp.update.path_attributes")
        .and_then(|p| p.get(ATTRIBUTE)));
    c.field("attribute count", expected.len(), attributes.len());
    for (i, (t, a)) in expected.iter().zip(&attributes).enumerate() {
        let what = format!("attribute #{i} (type {})", a.type_code);
        c.field(
            format_args!("{what} flags"),
            num_at(t, &key("flags")),
            Some(u64::from(a.flags)),
        );
        c.field(
            format_args!("{what} type code"),
            num_at(t, &key("type_code")),
            Some(u64::from(a.type_code)),
        );
        c.field(
            format_args!("{what} length"),
            num_at(t, &key("length")),
            Some(a.value.len() as u64),
        );
        c.field(format_args!("{what} usable"), true, a.usable);
        compare_attribute_value(c, &what, t, a, u);
    }
    compare_prefixes(
        c,
        "NLRI",
        bgp.get("bgp.update.nlri"),
        &u.nlri().collect::<Vec<_>>(),
    );
    c.field(
        "RFC 7606 findings",
        Vec::<String>::new(),
        u.errors().iter().map(ToString::to_string).collect(),
    );
    c.field("End-of-RIB", expected_end_of_rib(&v.name), u.end_of_rib());
}

fn compare_prefixes(c: &mut Comparison<'_>, what: &str, tshark: Option<&Value>, ours: &[Nlri]) {
    let expected = tshark_prefixes(tshark);
    let got: Vec<PrefixFields> = ours.iter().map(nlri_fields).collect();
    c.field(format_args!("{what} count"), expected.len(), got.len());
    for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
        c.field(format_args!("{what} #{i}"), e, g);
    }
}

fn compare_attribute_value(
    c: &mut Comparison<'_>,
    what: &str,
    t: &Value,
    a: &RawAttribute<'_>,
    u: &Update<'_>,
) {
    let four = u.context().four_octet_as;
    match a.type_code {
        1 => c.field(
            format_args!("{what} ORIGIN"),
            num_at(t, &key("origin")),
            u.origin().map(|o| u64::from(o.code())),
        ),
        2 => compare_as_path(c, &format!("{what} AS_PATH"), t, u.as_path_view(), four),
        3 => c.field(
            format_args!("{what} NEXT_HOP"),
            addr_at(t, &key("next_hop")),
            u.next_hop().map(IpAddr::V4),
        ),
        4 => c.field(
            format_args!("{what} MULTI_EXIT_DISC"),
            num_at(t, &key("multi_exit_disc")),
            u.med().map(u64::from),
        ),
        5 => c.field(
            format_args!("{what} LOCAL_PREF"),
            num_at(t, &key("local_pref")),
            u.local_pref().map(u64::from),
        ),
        // tshark shows only flags, type and length (0), compared above.
        6 => c.field(
            format_args!("{what} ATOMIC_AGGREGATE"),
            true,
            u.atomic_aggregate(),
        ),
        7 => {
            let agg = u.aggregator_raw();
            c.field(
                format_args!("{what} AGGREGATOR AS"),
                num_at(t, &key("aggregator_as")),
                agg.map(|g| u64::from(g.asn)),
            );
            c.field(
                format_args!("{what} AGGREGATOR address"),
                addr_at(t, &key("aggregator_origin")),
                agg.map(|g| IpAddr::V4(g.address)),
            );
        }
        8 => compare_communities(c, what, t, u),
        14 => compare_mp_reach(c, what, t, a, u),
        15 => {
            let mp = u.mp_unreach();
            c.field(
                format_args!("{what} MP_UNREACH_NLRI AFI"),
                num_at(t, &key("mp_unreach_nlri.afi")),
                mp.map(|m| u64::from(u16::from(m.afi))),
            );
            c.field(
                format_args!("{what} MP_UNREACH_NLRI SAFI"),
                num_at(t, &key("mp_unreach_nlri.safi")),
                mp.map(|m| u64::from(u8::from(m.safi))),
            );
            compare_prefixes(
                c,
                &format!("{what} MP_UNREACH_NLRI withdrawn"),
                t.get(key("mp_unreach_nlri")),
                &mp.map(|m| m.nlri().collect::<Vec<_>>()).unwrap_or_default(),
            );
        }
        16 => {
            let expected: Vec<[u8; 8]> = all(t
                .get("bgp.ext_communities")
                .and_then(|e| e.get("bgp.ext_community")))
            .into_iter()
            .map(extended_community_bytes)
            .collect();
            c.field(
                format_args!("{what} EXTENDED_COMMUNITIES"),
                expected,
                u.extended_communities().map(|e| e.0).collect(),
            );
        }
        17 => compare_as_path(c, &format!("{what} AS4_PATH"), t, u.as4_path_view(), true),
        32 => {
            let expected: Vec<String> = all(t.get("bgp.large_communities_tree"))
                .into_iter()
                .map(|l| {
                    let part = |k: &str| num_at(l, &format!("bgp.large_communities.{k}")).unwrap();
                    format!("{}:{}:{}", part("ga"), part("ldp1"), part("ldp2"))
                })
                .collect();
            c.field(
                format_args!("{what} LARGE_COMMUNITY"),
                expected,
                u.large_communities().map(|l| l.to_string()).collect(),
            );
        }
        other => c.fail(format_args!(
            "{what}: no comparison written for attribute type {other}; extend this test"
        )),
    }
}

fn compare_as_path(
    c: &mut Comparison<'_>,
    what: &str,
    t: &Value,
    view: Option<AsPathView<'_>>,
    four_octet: bool,
) {
    let Some(view) = view else {
        c.fail(format_args!("{what}: not decoded"));
        return;
    };
    let ours: Vec<(u8, Vec<u32>)> = view
        .segments()
        .map(|(kind, asns)| (kind.code(), asns.collect()))
        .collect();
    let expected = all(t.get(key("as_path_segment")));
    c.field(
        format_args!("{what} segment count"),
        expected.len(),
        ours.len(),
    );
    // tshark guesses 2- or 4-octet ASNs; it must agree with the session.
    let (asn_key, other_key) = if four_octet {
        ("as_path_segment.as4", "as_path_segment.as2")
    } else {
        ("as_path_segment.as2", "as_path_segment.as4")
    };
    for (i, (s, (kind, asns))) in expected.iter().zip(&ours).enumerate() {
        c.field(
            format_args!("{what} segment #{i} type"),
            num_at(s, &key("as_path_segment.type")),
            Some(u64::from(*kind)),
        );
        c.field(
            format_args!("{what} segment #{i} length"),
            num_at(s, &key("as_path_segment.length")),
            Some(asns.len() as u64),
        );
        if s.get(key(other_key)).is_some() {
            c.fail(format_args!(
                "{what} segment #{i}: tshark read {other_key}, the session says otherwise"
            ));
        }
        let expected_asns: Vec<u64> = all(s.get(key(asn_key))).into_iter().map(num).collect();
        c.field(
            format_args!("{what} segment #{i} ASNs"),
            expected_asns,
            asns.iter().map(|&a| u64::from(a)).collect(),
        );
    }
}

/// tshark lists communities it considers well-known (high half 0x0000 or
/// 0xFFFF) apart from the others, as hex; wire order is kept within each
/// group only.
fn compare_communities(c: &mut Comparison<'_>, what: &str, t: &Value, u: &Update<'_>) {
    let communities = t.get(key("communities"));
    let regular: Vec<String> = all(communities.and_then(|x| x.get(key("community"))))
        .into_iter()
        .map(|e| {
            format!(
                "{}:{}",
                num_at(e, &key("community_as")).unwrap(),
                num_at(e, &key("community_value")).unwrap()
            )
        })
        .collect();
    let well_known: Vec<u32> = all(communities.and_then(|x| x.get(key("community_wellknown"))))
        .into_iter()
        .map(|e| num(e) as u32)
        .collect();
    let ours: Vec<_> = u.communities().collect();
    let is_reserved = |v: u32| matches!(v >> 16, 0x0000 | 0xFFFF);
    c.field(
        format_args!("{what} COMMUNITIES"),
        regular,
        ours.iter()
            .filter(|x| !is_reserved(x.0))
            .map(ToString::to_string)
            .collect(),
    );
    c.field(
        format_args!("{what} COMMUNITIES (well-known)"),
        well_known,
        ours.iter()
            .filter(|x| is_reserved(x.0))
            .map(|x| x.0)
            .collect(),
    );
}

/// Rebuilds the 8 bytes of an extended community from tshark's fields.
fn extended_community_bytes(e: &Value) -> [u8; 8] {
    let obj = e.as_object().expect("extended community object");
    let field = |suffix: &str| {
        obj.iter()
            .find(|(k, _)| k.starts_with("bgp.ext_com.") && k.ends_with(suffix))
            .map(|(_, v)| v)
    };
    let mut b = [0u8; 8];
    b[0] = num(&obj["bgp.ext_com.type"]) as u8;
    let subtype = obj
        .iter()
        .find(|(k, _)| k.starts_with("bgp.ext_com.stype_"))
        .map(|(_, v)| num(v))
        .unwrap_or_else(|| panic!("no sub-type in {e}"));
    b[1] = subtype as u8;
    if let (Some(asn), Some(n)) = (field(".value_as2"), field(".value_an4")) {
        b[2..4].copy_from_slice(&(num(asn) as u16).to_be_bytes());
        b[4..].copy_from_slice(&(num(n) as u32).to_be_bytes());
    } else if let (Some(ip), Some(n)) = (field(".value_IP4"), field(".value_an2")) {
        let ip: Ipv4Addr = ip.as_str().unwrap().parse().unwrap();
        b[2..6].copy_from_slice(&ip.octets());
        b[6..].copy_from_slice(&(num(n) as u16).to_be_bytes());
    } else if let (Some(asn), Some(n)) = (field(".value_as4"), field(".value_an2")) {
        b[2..6].copy_from_slice(&(num(asn) as u32).to_be_bytes());
        b[6..].copy_from_slice(&(num(n) as u16).to_be_bytes());
    } else {
        panic!("extended community layout not handled by this test: {e}");
    }
    b
}

fn compare_mp_reach(
    c: &mut Comparison<'_>,
    what: &str,
    t: &Value,
    a: &RawAttribute<'_>,
    u: &Update<'_>,
) {
    let Some(mp) = u.mp_reach() else {
        c.fail(format_args!("{what}: MP_REACH_NLRI not decoded"));
        return;
    };
    c.field(
        format_args!("{what} MP_REACH_NLRI AFI"),
        num_at(t, &key("mp_reach_nlri.afi")),
        Some(u64::from(u16::from(mp.afi))),
    );
    c.field(
        format_args!("{what} MP_REACH_NLRI SAFI"),
        num_at(t, &key("mp_reach_nlri.safi")),
        Some(u64::from(u8::from(mp.safi))),
    );
    // tshark shows the next hop field with its length octet first.
    let mut nh = vec![mp.next_hop.len() as u8];
    nh.extend_from_slice(mp.next_hop);
    c.field(
        format_args!("{what} MP_REACH_NLRI next hop field"),
        str_at(t, &key("mp_reach_nlri.next_hop")).map(bytes_of),
        Some(nh),
    );
    let tree = t.get(key("mp_reach_nlri.next_hop_tree"));
    let sub = |s: &str| tree.and_then(|x| addr_at(x, &key(&format!("mp_reach_nlri.next_hop.{s}"))));
    let expected = match (sub("ipv4"), sub("ipv6"), sub("ipv6.link_local")) {
        (Some(IpAddr::V4(v4)), None, None) => Some(NextHop::V4(v4)),
        (None, Some(IpAddr::V6(global)), link_local) => Some(NextHop::V6 {
            global,
            link_local: match link_local {
                Some(IpAddr::V6(l)) => Some(l),
                _ => None,
            },
        }),
        _ => None,
    };
    c.field(
        format_args!("{what} MP_REACH_NLRI next hop"),
        expected,
        Some(mp.next_hop()),
    );
    // The reserved octet after the next hop (ex-SNPA count, RFC 4760 §3).
    c.field(
        format_args!("{what} MP_REACH_NLRI reserved octet"),
        num_at(t, &key("mp_reach_nlri.nbr_snpa")),
        a.value.get(4 + mp.next_hop.len()).map(|&r| u64::from(r)),
    );
    compare_prefixes(
        c,
        &format!("{what} MP_REACH_NLRI NLRI"),
        t.get(key("mp_reach_nlri")),
        &mp.nlri().collect::<Vec<_>>(),
    );
}

/// The 4458-byte FRR UPDATE (RFC 8654), checked against the MANIFEST
/// summary because tshark 4.0 stops at 4096 bytes: "1100 /24s 10.128.0.0 ..
/// 10.132.75.0, ORIGIN IGP, AS_PATH 4200000002, NEXT_HOP 192.0.2.2, MED 0,
/// COMMUNITIES 65002:1100", extended-length flag on AS_PATH.
fn compare_extended_message(c: &mut Comparison<'_>, u: &Update<'_>, v: &Vector) {
    let summary = v.provenance["summary"].as_str().unwrap_or_default();
    // "1100 ipv4 NLRI (lengths /24): 10.128.0.0/24 10.132.75.0/24 ... (+1094)."
    let (count, rest) = summary
        .split_once(" ipv4 NLRI")
        .expect("NLRI count in summary");
    let listed: Vec<String> = rest
        .split_once("): ")
        .expect("NLRI list in summary")
        .1
        .split_whitespace()
        .take_while(|w| w.contains('/'))
        .map(str::to_string)
        .collect();
    let nlri: Vec<Nlri> = u.nlri().collect();
    c.field("NLRI count", count.parse::<usize>().ok(), Some(nlri.len()));
    c.field(
        "first NLRI, in order",
        listed.clone(),
        nlri.iter()
            .take(listed.len())
            .map(|n| n.to_string())
            .collect(),
    );
    // 10.128.0.0/24 ..= 10.132.75.0/24, each once.
    let mut expected: Vec<String> = (128u8..=132)
        .flat_map(|b| (0u8..=255).map(move |c| format!("10.{b}.{c}.0/24")))
        .take(4 * 256 + 76)
        .collect();
    expected.sort();
    let mut got: Vec<String> = nlri.iter().map(ToString::to_string).collect();
    got.sort();
    c.field("NLRI set", expected, got);
    c.field(
        "no path identifiers",
        true,
        nlri.iter().all(|n| n.path_id.is_none()),
    );
    c.field("withdrawn routes", 0, u.withdrawn_routes().count());
    let types: Vec<u8> = u.attributes().map(|a| a.type_code).collect();
    c.field("attribute types in order", vec![1, 2, 3, 4, 8], types);
    c.field("ORIGIN", Some(0), u.origin().map(|o| o.code()));
    c.field(
        "AS_PATH",
        Some(vec![(2u8, vec![4_200_000_002u32])]),
        u.as_path_view().map(|p| {
            p.segments()
                .map(|(k, a)| (k.code(), a.collect()))
                .collect::<Vec<_>>()
        }),
    );
    c.field(
        "AS_PATH extended-length flag",
        Some(true),
        u.attributes()
            .find(|a| a.type_code == 2)
            .map(|a| a.flags & EXTENDED_LENGTH != 0),
    );
    c.field("NEXT_HOP", Some(Ipv4Addr::new(192, 0, 2, 2)), u.next_hop());
    c.field("MED", Some(0), u.med());
    c.field(
        "COMMUNITIES",
        vec!["65002:1100".to_string()],
        u.communities().map(|x| x.to_string()).collect(),
    );
    c.field("RFC 7606 findings", 0, u.errors().len());
    c.field("End-of-RIB", None, u.end_of_rib());
    // Without RFC 8654 the same bytes are a Bad Message Length (RFC 8654
    // §5), with the length field as data.
    let without = Context {
        extended_message: false,
        ..v.ctx
    };
    c.field(
        "decoded without extended messages",
        Err((
            ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength),
            v.bytes[16..18].to_vec(),
        )),
        bgp_proto::decode(&v.bytes, &without)
            .map(|m| m.message_type())
            .map_err(|e| (e.code, e.data)),
    );
}

// ---- Re-encoding -------------------------------------------------------------

/// Vectors whose sender used a form bgp-proto does not reproduce byte for
/// byte; for these only `decode(encode(x)) == x` is required. Empty: every
/// captured message re-encodes to its exact bytes (attribute flags,
/// including the extended-length bit on short attributes, are kept as
/// received).
const NON_CANONICAL: &[(&str, &str)] = &[];

#[test]
fn every_vector_re_encodes_to_its_own_bytes() {
    let vectors = load_vectors();
    let mut failures = Vec::new();
    let mut exact = 0;
    for v in &vectors {
        let msg = match bgp_proto::decode(&v.bytes, &v.ctx) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{}: does not decode: {e}", v.name));
                continue;
            }
        };
        let canonical = !NON_CANONICAL.iter().any(|(n, _)| *n == v.name);
        // Through the generic entry point.
        let mut out = BytesMut::new();
        if let Err(e) = bgp_proto::encode(&msg, &v.ctx, &mut out) {
            failures.push(format!("{}: does not encode: {e}", v.name));
            continue;
        }
        check_re_encoding(&mut failures, v, &msg, &out, canonical, "encode");
        // UPDATEs also through their owned form, field by field.
        if let Message::Update(u) = &msg {
            let owned = u.to_message();
            // Every attribute in these vectors is of a type bgp-proto
            // interprets: a raw fallback would make the round trip vacuous.
            for a in &owned.attributes {
                if let AttributeValue::Raw { type_code, .. } = a.value {
                    failures.push(format!(
                        "{}: to_message kept attribute type {type_code} raw",
                        v.name
                    ));
                }
            }
            let mut out = BytesMut::new();
            match owned.encode(&v.ctx, &mut out) {
                Ok(()) => {
                    check_re_encoding(&mut failures, v, &msg, &out, canonical, "to_message");
                    if let Ok(Message::Update(again)) = bgp_proto::decode(&out, &v.ctx) {
                        if again.to_message() != owned {
                            failures
                                .push(format!("{}: to_message: decode(encode(x)) != x", v.name));
                        }
                    }
                }
                Err(e) => failures.push(format!("{}: to_message does not encode: {e}", v.name)),
            }
        }
        if canonical && out.as_ref() == v.bytes.as_slice() {
            exact += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} re-encoding failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(exact, vectors.len() - NON_CANONICAL.len());
}

fn check_re_encoding(
    failures: &mut Vec<String>,
    v: &Vector,
    msg: &Message<'_>,
    out: &[u8],
    canonical: bool,
    path: &str,
) {
    if canonical {
        if out != v.bytes.as_slice() {
            let at = out
                .iter()
                .zip(&v.bytes)
                .position(|(a, b)| a != b)
                .unwrap_or(out.len().min(v.bytes.len()));
            failures.push(format!(
                "{}: {path}: re-encoded bytes differ from byte {at} on (length {} vs {})\n  \
                 sent: {}\n  ours: {}",
                v.name,
                out.len(),
                v.bytes.len(),
                hex(&v.bytes),
                hex(out)
            ));
        }
        return;
    }
    match bgp_proto::decode(out, &v.ctx) {
        Ok(again) if same_message(&again, msg) => {}
        Ok(again) => failures.push(format!(
            "{}: {path}: decode(encode(x)) != x: {again:?} vs {msg:?}",
            v.name
        )),
        Err(e) => failures.push(format!(
            "{}: {path}: the re-encoded message does not decode: {e}",
            v.name
        )),
    }
}

/// Equality of content: UPDATE views compare by their owned form, since the
/// views of two different byte strings can never be equal.
fn same_message(a: &Message<'_>, b: &Message<'_>) -> bool {
    match (a, b) {
        (Message::Update(x), Message::Update(y)) => x.to_message() == y.to_message(),
        _ => a == b,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
