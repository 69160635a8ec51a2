//! UPDATE round trips: real vectors and property tests.

use bgp_proto::{Context, Families, Message, decode};
use bytes::BytesMut;

/// One UPDATE vector and the session state it was sent with.
struct Vector {
    name: String,
    bytes: Vec<u8>,
    ctx: Context,
}

fn manifest_context(negotiated: &str) -> Context {
    let mut ctx = Context::INITIAL;
    for item in negotiated.split(';').map(str::trim) {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        if key == "as4" {
            ctx.four_octet_as = value == "yes";
        } else if key == "ext-msg" {
            ctx.extended_message = value == "yes";
        } else if key.starts_with("addpath(") {
            for af in value.split(',') {
                ctx.add_path = ctx.add_path
                    | match af {
                        "ipv4-unicast" => Families::IPV4_UNICAST,
                        "ipv6-unicast" => Families::IPV6_UNICAST,
                        _ => Families::NONE,
                    };
            }
        }
    }
    ctx
}

fn update_vectors() -> Vec<Vector> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
    let manifest = std::fs::read_to_string(format!("{dir}/MANIFEST.tsv")).unwrap();
    let mut out = Vec::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols[3] != "UPDATE" {
            continue;
        }
        out.push(Vector {
            name: cols[0].to_string(),
            bytes: std::fs::read(format!("{dir}/{}", cols[0])).unwrap(),
            ctx: manifest_context(cols[8]),
        });
    }
    assert_eq!(out.len(), 64, "the corpus holds 64 UPDATEs");
    out
}

#[test]
fn every_real_update_re_encodes_to_its_bytes() {
    for v in update_vectors() {
        let Message::Update(u) = decode(&v.bytes, &v.ctx).unwrap() else {
            panic!("{}: not an UPDATE", v.name);
        };
        assert_eq!(u.errors(), &[], "{}", v.name);
        let m = u.to_message();
        let mut out = BytesMut::new();
        m.encode(&v.ctx, &mut out).unwrap();
        assert_eq!(&out[..], &v.bytes[..], "{}", v.name);
    }
}

// ---- Owned form ---------------------------------------------------------

mod owned {
    use super::*;
    use bgp_proto::message::owned::{AttributeValue, UpdateMessage};
    use bgp_proto::{Afi, EncodeError, Nlri, Prefix, Safi};

    #[test]
    fn real_vectors_decode_to_the_typed_values_tshark_saw() {
        let vectors = update_vectors();
        let get = |name: &str| vectors.iter().find(|v| v.name == name).unwrap();
        // 2-octet session: AS_PATH typed as received, AS4_PATH beside it.
        let v = get("bird-update-s7-ipv4-1nlri-astrans-comm-no-export-as4path-lcomm.bin");
        let Message::Update(u) = decode(&v.bytes, &v.ctx).unwrap() else {
            panic!()
        };
        let m = u.to_message();
        let path = m.attributes.iter().find_map(|a| match &a.value {
            AttributeValue::AsPath(p) => Some(p.to_string()),
            _ => None,
        });
        let as4 = m.attributes.iter().find_map(|a| match &a.value {
            AttributeValue::As4Path(p) => Some(p.to_string()),
            _ => None,
        });
        assert_eq!(path.as_deref(), Some("23456 65010 23456"));
        assert_eq!(as4.as_deref(), Some("4200000001 65010 4200000001"));
        assert_eq!(
            u.as_path().unwrap().to_string(),
            "4200000001 65010 4200000001"
        );
        // MP_REACH_NLRI typed with its link-local next hop.
        let v = get("bird-update-s2-ipv6-mpreach13-llnh.bin");
        let Message::Update(u) = decode(&v.bytes, &v.ctx).unwrap() else {
            panic!()
        };
        let m = u.to_message();
        let AttributeValue::MpReachNlri(r) = &m.attributes[0].value else {
            panic!("MP_REACH_NLRI first: {:?}", m.attributes[0]);
        };
        assert_eq!((r.afi, r.safi), (Afi::Ipv6, Safi::Unicast));
        assert_eq!(r.nlri.len(), 13);
        assert!(matches!(
            r.next_hop,
            bgp_proto::NextHop::V6 {
                link_local: Some(_),
                ..
            }
        ));
        // End-of-RIB markers of both families, from every implementation.
        for v in &vectors {
            let Message::Update(u) = decode(&v.bytes, &v.ctx).unwrap() else {
                panic!()
            };
            let m = u.to_message();
            let want = if v.name.contains("eor-ipv4") {
                Some((Afi::Ipv4, Safi::Unicast))
            } else if v.name.contains("eor-ipv6") {
                Some((Afi::Ipv6, Safi::Unicast))
            } else {
                None
            };
            assert_eq!(u.end_of_rib(), want, "{}", v.name);
            assert_eq!(m.end_of_rib_family(), want, "{}", v.name);
            assert_eq!(m.is_end_of_rib(), want.is_some(), "{}", v.name);
        }
    }

    #[test]
    fn end_of_rib_markers_encode_as_rfc4724_says() {
        let mut out = BytesMut::new();
        UpdateMessage::end_of_rib(Afi::Ipv4, Safi::Unicast)
            .encode(&Context::MODERN, &mut out)
            .unwrap();
        let mut want = vec![0xff; 16];
        want.extend_from_slice(&[0, 23, 2, 0, 0, 0, 0]);
        assert_eq!(&out[..], &want[..]);
        out.clear();
        UpdateMessage::end_of_rib(Afi::Ipv6, Safi::Unicast)
            .encode(&Context::MODERN, &mut out)
            .unwrap();
        assert_eq!(&out[16..], &[0, 29, 2, 0, 0, 0, 6, 0x80, 15, 3, 0, 2, 1]);
        let Message::Update(u) = decode(&out, &Context::MODERN).unwrap() else {
            panic!()
        };
        assert_eq!(u.end_of_rib(), Some((Afi::Ipv6, Safi::Unicast)));
    }

    #[test]
    fn encode_refuses_messages_over_the_session_maximum() {
        let v = update_vectors()
            .into_iter()
            .find(|v| v.name.starts_with("frr-update-s1-extmsg4458"))
            .unwrap();
        let Message::Update(u) = decode(&v.bytes, &v.ctx).unwrap() else {
            panic!()
        };
        let m = u.to_message();
        assert_eq!(m.nlri.len(), 1100);
        let mut out = BytesMut::from(&b"kept"[..]);
        let short = Context {
            extended_message: false,
            ..v.ctx
        };
        assert_eq!(
            m.encode(&short, &mut out),
            Err(EncodeError::TooLong {
                len: 4458,
                max: 4096
            })
        );
        assert_eq!(&out[..], b"kept", "nothing written on error");
        m.encode(&v.ctx, &mut out).unwrap();
        assert_eq!(&out[4..], &v.bytes[..]);
    }

    #[test]
    fn extended_length_is_kept_when_short_and_set_when_needed() {
        let mut m = UpdateMessage::default();
        let communities: Vec<_> = (0..100).map(bgp_proto::Community).collect();
        let mut a =
            bgp_proto::message::owned::PathAttribute::new(AttributeValue::Communities(communities));
        a.flags &= !0x10;
        m.attributes.push(a);
        let mut out = BytesMut::new();
        m.encode(&Context::MODERN, &mut out).unwrap();
        // 400 bytes: the flag is set although the caller did not ask.
        assert_eq!(&out[23..27], &[0xd0, 8, 1, 144]);
        let Message::Update(u) = decode(&out, &Context::MODERN).unwrap() else {
            panic!()
        };
        assert_eq!(u.communities().count(), 100);
        // A short attribute keeps a 2-byte length when the flag asks for it.
        let mut m = UpdateMessage::default();
        let mut a = bgp_proto::message::owned::PathAttribute::new(AttributeValue::MultiExitDisc(7));
        a.flags |= 0x10;
        m.attributes.push(a);
        out.clear();
        m.encode(&Context::MODERN, &mut out).unwrap();
        assert_eq!(&out[23..], &[0x90, 4, 0, 4, 0, 0, 0, 7]);
    }

    #[test]
    fn encode_refuses_a_prefix_of_the_wrong_family() {
        let m = UpdateMessage {
            nlri: vec![Nlri::new("2001:db8::/32".parse::<Prefix>().unwrap())],
            ..UpdateMessage::default()
        };
        assert!(matches!(
            m.encode(&Context::MODERN, &mut BytesMut::new()),
            Err(EncodeError::Unrepresentable(_))
        ));
    }
}
