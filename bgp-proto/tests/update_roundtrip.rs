//! UPDATE round trips: real vectors and property tests.

use bgp_proto::{Context, Families, LazyMessage, Message, decode, decode_lazy};
use bytes::BytesMut;

/// The fuzz targets' checks; `check_lazy` compares the lazily checked
/// path with the checked one.
#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz_checks;

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

/// Counts the allocations of the threads that ask for it, so that the
/// zero-allocation decode path can be checked while other tests run.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNTING: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<usize> = const { Cell::new(0) };
    }

    pub struct Counting;

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if COUNTING.with(Cell::get) {
                COUNT.with(|c| c.set(c.get() + 1));
            }
            // SAFETY: forwarded unchanged to the system allocator.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `alloc` above, i.e. from `System`.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Runs `f` and returns how many allocations it made on this thread.
    pub fn allocations(f: impl FnOnce()) -> usize {
        COUNT.with(|c| c.set(0));
        COUNTING.with(|c| c.set(true));
        f();
        COUNTING.with(|c| c.set(false));
        COUNT.with(Cell::get)
    }
}

#[test]
fn decoding_and_reading_a_clean_update_allocates_nothing() {
    // The counter sees what it should.
    assert_eq!(
        counting::allocations(|| {
            std::hint::black_box(vec![1u8]);
        }),
        1
    );
    for v in update_vectors() {
        let n = counting::allocations(|| {
            let Ok(Message::Update(u)) = decode(&v.bytes, &v.ctx) else {
                panic!("{}", v.name);
            };
            let mut sum = u.announced().count() + u.withdrawn().count();
            sum += u.attributes().filter(|a| a.usable).count();
            sum += u.communities().count() + u.large_communities().count();
            sum += u.extended_communities().count() + u.cluster_list().count();
            sum += u.as_path_view().map_or(0, |p| p.asns().count());
            sum += usize::from(u.origin().is_some() && u.next_hop().is_some());
            sum += usize::from(u.med().is_some() || u.local_pref().is_some());
            sum += usize::from(u.aggregator().is_some() || u.end_of_rib().is_some());
            sum += u.mp_reach().map_or(0, |r| r.next_hop.len());
            std::hint::black_box(sum);
        });
        assert_eq!(n, 0, "{}", v.name);
    }
}

/// The lazily checked path reads each prefix once and allocates nothing
/// either, errors being found on the way.
#[test]
fn decoding_lazily_and_reading_a_clean_update_allocates_nothing() {
    for v in update_vectors() {
        let n = counting::allocations(|| {
            let Ok(LazyMessage::Update(u)) = decode_lazy(&v.bytes, &v.ctx) else {
                panic!("{}", v.name);
            };
            let mut sum = 0;
            for n in u.withdrawn().chain(u.announced()) {
                sum += usize::from(n.expect("a real UPDATE").prefix.len());
            }
            sum += u.communities().count() + u.large_communities().count();
            sum += u.as_path_view().map_or(0, |p| p.asns().count());
            sum += usize::from(u.origin().is_some() && u.next_hop().is_some());
            sum += usize::from(u.mp_reach().is_some() || u.end_of_rib().is_some());
            std::hint::black_box(sum);
        });
        assert_eq!(n, 0, "{}", v.name);
    }
}

#[test]
fn every_real_update_decodes_lazily_as_it_decodes() {
    for v in update_vectors() {
        fuzz_checks::check_lazy(&v.bytes, &v.ctx);
        let Ok(LazyMessage::Update(u)) = decode_lazy(&v.bytes, &v.ctx) else {
            panic!("{}", v.name);
        };
        assert!(u.clone().check().is_ok(), "{}", v.name);
    }
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

// ---- Builder ------------------------------------------------------------

mod builder {
    use super::*;
    use bgp_proto::message::builder::{
        Ipv6NextHop, PathAttributes, UnknownAttribute, UpdateBuilder,
    };
    use bgp_proto::message::owned::AttributeValue;
    use bgp_proto::message::update::Update;
    use bgp_proto::{Aggregator, AsPath, Community, EncodeError, NextHop, Nlri, Prefix};
    use bytes::Bytes;
    use std::collections::BTreeSet;

    fn attributes() -> PathAttributes {
        PathAttributes {
            as_path: AsPath::sequence([65001]),
            next_hop: Some("192.0.2.1".parse().unwrap()),
            ipv6_next_hop: Some(Ipv6NextHop {
                global: "2001:db8::1".parse().unwrap(),
                link_local: Some("fe80::1".parse().unwrap()),
            }),
            med: Some(10),
            communities: vec![Community::new(65001, 1)],
            ..PathAttributes::default()
        }
    }

    /// 10.0.0.0/24, 10.0.1.0/24, ...
    fn slash24s(n: u32) -> Vec<Nlri> {
        (0..n)
            .map(|i| Nlri::new(Prefix::V4(0x0a00_0000 + (i << 8), 24)))
            .collect()
    }

    /// 2001:db8:0::/48, 2001:db8:1::/48, ...
    fn slash48s(n: u32) -> Vec<Nlri> {
        (0..n)
            .map(|i| {
                Nlri::new(Prefix::V6(
                    (0x2001_0db8u128 << 96) | (u128::from(i) << 80),
                    48,
                ))
            })
            .collect()
    }

    fn view<'a>(m: &'a Bytes, ctx: &Context) -> Update<'a> {
        assert!(m.len() <= ctx.max_message_len());
        match decode(m, ctx).unwrap() {
            Message::Update(u) => {
                assert_eq!(u.errors(), &[]);
                u
            }
            other => panic!("{other:?}"),
        }
    }

    /// The RFC 7606 §5.1 shape: exactly one NLRI-bearing field, and an MP
    /// attribute is the first attribute.
    fn check_shape(u: &Update<'_>) {
        let fields = [
            u.withdrawn_routes().next().is_some(),
            u.nlri().next().is_some(),
            u.mp_reach().is_some(),
            u.mp_unreach().is_some(),
        ];
        assert_eq!(fields.iter().filter(|f| **f).count(), 1, "{u:?}");
        if u.mp_reach().is_some() || u.mp_unreach().is_some() {
            assert!(matches!(
                u.attributes().next().map(|a| a.type_code),
                Some(14 | 15)
            ));
        }
    }

    #[test]
    fn ten_thousand_slash_24s_fill_every_message() {
        let prefixes = slash24s(10_000);
        // ORIGIN 4 + AS_PATH 9 + NEXT_HOP 7 + MED 7 + COMMUNITIES 7 bytes.
        let attributes_len = 34;
        for ctx in [
            Context::MODERN,
            Context {
                extended_message: true,
                ..Context::MODERN
            },
        ] {
            let max = ctx.max_message_len();
            let per_message = (max - 23 - attributes_len) / 4;
            let mut b = UpdateBuilder::new(ctx);
            b.announce(&attributes(), &prefixes).unwrap();
            let messages = b.finish();
            assert_eq!(
                messages.len(),
                10_000usize.div_ceil(per_message),
                "max {max}"
            );
            let mut seen = BTreeSet::new();
            for (i, m) in messages.iter().enumerate() {
                let u = view(m, &ctx);
                check_shape(&u);
                assert_eq!(u.origin(), Some(bgp_proto::Origin::Igp));
                assert_eq!(u.as_path().unwrap().to_string(), "65001");
                assert_eq!(u.next_hop(), Some("192.0.2.1".parse().unwrap()));
                assert_eq!(u.med(), Some(10));
                assert_eq!(
                    u.communities().collect::<Vec<_>>(),
                    [Community::new(65001, 1)]
                );
                assert_eq!(u.attributes().count(), 5);
                let n = u.nlri().count();
                if i + 1 < messages.len() {
                    assert_eq!(n, per_message);
                }
                seen.extend(u.nlri());
            }
            assert_eq!(seen, prefixes.iter().copied().collect::<BTreeSet<_>>());
        }
        // The two limits: 10 messages of 4096 bytes, 1 of 65535.
        assert_eq!(10_000usize.div_ceil((4096 - 23 - 34) / 4), 10);
        assert_eq!(10_000usize.div_ceil((65535 - 23 - 34) / 4), 1);
    }

    #[test]
    fn withdraw_only_packs_both_families() {
        let v4 = slash24s(10_000);
        let v6 = slash48s(3_000);
        let all: Vec<Nlri> = v4.iter().chain(&v6).copied().collect();
        let ctx = Context::MODERN;
        let mut b = UpdateBuilder::new(ctx);
        b.withdraw(&all).unwrap();
        let messages = b.finish();
        // IPv4: 4073 bytes of Withdrawn Routes per message, 4 per /24.
        let v4_messages = 10_000usize.div_ceil((4096 - 23) / 4);
        // IPv6: 4066 bytes of MP_UNREACH_NLRI NLRI per message, 7 per /48.
        let v6_messages = 3_000usize.div_ceil((4096 - 23 - 4 - 3) / 7);
        assert_eq!(messages.len(), v4_messages + v6_messages);
        let mut seen = BTreeSet::new();
        for m in &messages {
            let u = view(m, &ctx);
            check_shape(&u);
            assert!(u.announced().next().is_none());
            let attrs: Vec<u8> = u.attributes().map(|a| a.type_code).collect();
            assert!(attrs.is_empty() || attrs == [15], "{attrs:?}");
            seen.extend(u.withdrawn());
        }
        assert_eq!(seen, all.iter().copied().collect::<BTreeSet<_>>());
    }

    #[test]
    fn mixed_families_with_add_path_go_in_separate_messages() {
        let ctx = Context {
            add_path: bgp_proto::Families::ALL,
            ..Context::MODERN
        };
        let with_ids = |v: Vec<Nlri>| -> Vec<Nlri> {
            v.into_iter()
                .enumerate()
                .map(|(i, n)| Nlri {
                    path_id: Some(i as u32 % 3 + 1),
                    ..n
                })
                .collect()
        };
        let announce: Vec<Nlri> = with_ids(slash24s(300))
            .into_iter()
            .chain(with_ids(slash48s(300)))
            .collect();
        let withdraw: Vec<Nlri> = with_ids(slash24s(350)[300..].to_vec())
            .into_iter()
            .chain(with_ids(slash48s(350)[300..].to_vec()))
            .collect();
        let messages =
            bgp_proto::message::builder::build(ctx, &attributes(), &announce, &withdraw).unwrap();
        // One message per field: everything fits in 4096 bytes.
        assert_eq!(messages.len(), 4);
        let (mut announced, mut withdrawn) = (BTreeSet::new(), BTreeSet::new());
        for m in &messages {
            let u = view(m, &ctx);
            check_shape(&u);
            if let Some(r) = u.mp_reach() {
                assert_eq!(
                    r.next_hop(),
                    NextHop::V6 {
                        global: "2001:db8::1".parse().unwrap(),
                        link_local: Some("fe80::1".parse().unwrap())
                    }
                );
                // RFC 4760 §3: no NEXT_HOP beside MP_REACH_NLRI only.
                assert_eq!(u.next_hop(), None);
                assert_eq!(u.med(), Some(10));
            }
            announced.extend(u.announced());
            withdrawn.extend(u.withdrawn());
        }
        // Withdrawals come first.
        assert!(view(&messages[0], &ctx).announced().next().is_none());
        assert_eq!(announced, announce.iter().copied().collect());
        assert_eq!(withdrawn, withdraw.iter().copied().collect());
    }

    #[test]
    fn mixed_prefix_lengths_pack_to_the_byte_bound() {
        let ctx = Context::MODERN;
        // Lengths /8 to /32 in turn: 2 to 5 bytes each.
        let prefixes: Vec<Nlri> = (0..20_000u32)
            .map(|i| {
                let len = 8 + (i % 25) as u8;
                Nlri::new(
                    Prefix::v4(std::net::Ipv4Addr::from(i.wrapping_mul(2_654_435_761)), len)
                        .unwrap(),
                )
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let bytes: usize = prefixes
            .iter()
            .map(|n| 1 + usize::from(n.prefix.len()).div_ceil(8))
            .sum();
        let mut b = UpdateBuilder::new(ctx);
        b.withdraw(&prefixes).unwrap();
        let messages = b.finish();
        assert_eq!(messages.len(), bytes.div_ceil(4096 - 23));
        let mut seen = BTreeSet::new();
        for m in &messages {
            seen.extend(view(m, &ctx).withdrawn());
        }
        assert_eq!(seen, prefixes.into_iter().collect());
    }

    #[test]
    fn two_octet_sessions_get_as_trans_and_as4_attributes() {
        let ctx = Context::INITIAL;
        let attributes = PathAttributes {
            as_path: AsPath::sequence([4_200_000_001, 65010]),
            aggregator: Some(Aggregator {
                asn: 4_200_000_001,
                address: "192.0.2.9".parse().unwrap(),
            }),
            ..attributes()
        };
        let mut b = UpdateBuilder::new(ctx);
        b.announce(&attributes, &slash24s(1)).unwrap();
        let messages = b.finish();
        let u = view(&messages[0], &ctx);
        let m = u.to_message();
        let types: Vec<u8> = m.attributes.iter().map(|a| a.value.type_code()).collect();
        // Type-code order, AS4_PATH and AS4_AGGREGATOR added.
        assert_eq!(types, [1, 2, 3, 4, 7, 8, 17, 18]);
        assert_eq!(
            u.as_path_view().unwrap().asns().collect::<Vec<_>>(),
            [23456, 65010]
        );
        assert_eq!(u.aggregator_raw().unwrap().asn, 23456);
        assert_eq!(u.as_path(), Some(attributes.as_path.clone()));
        assert_eq!(u.aggregator(), attributes.aggregator);
        // A path of 2-octet ASNs needs neither (RFC 6793 §4.2.2 SHOULD NOT).
        let mut b = UpdateBuilder::new(ctx);
        b.announce(&self::attributes(), &slash24s(1)).unwrap();
        let m = view(&b.finish()[0], &ctx).to_message();
        assert!(m.attributes.iter().all(|a| a.value.type_code() < 17));
        // On a 4-octet session neither is sent either.
        let mut b = UpdateBuilder::new(Context::MODERN);
        b.announce(&attributes, &slash24s(1)).unwrap();
        let m = view(&b.finish()[0], &Context::MODERN).to_message();
        assert!(m.attributes.iter().all(|a| a.value.type_code() < 17));
    }

    #[test]
    fn unknown_transitive_attributes_pass_with_the_partial_bit() {
        let attributes = PathAttributes {
            unknown: vec![
                UnknownAttribute {
                    flags: 0xc0,
                    type_code: 99,
                    value: vec![1, 2, 3],
                },
                UnknownAttribute {
                    flags: 0x80,
                    type_code: 98,
                    value: vec![4],
                },
            ],
            ..attributes()
        };
        let mut b = UpdateBuilder::new(Context::MODERN);
        b.announce(&attributes, &slash24s(1)).unwrap();
        let messages = b.finish();
        let u = view(&messages[0], &Context::MODERN);
        let last = u.attributes().last().unwrap();
        assert_eq!(
            (last.flags, last.type_code, last.value),
            (0xe0, 99, &[1, 2, 3][..])
        );
        assert!(
            u.attributes().all(|a| a.type_code != 98),
            "non-transitive dropped"
        );
        // A known type passed as unknown would be sent twice: refused.
        let bad = PathAttributes {
            unknown: vec![UnknownAttribute {
                flags: 0xc0,
                type_code: 8,
                value: vec![0; 4],
            }],
            ..self::attributes()
        };
        let mut b = UpdateBuilder::new(Context::MODERN);
        assert!(b.announce(&bad, &slash24s(1)).is_err());
    }

    #[test]
    fn errors_leave_the_builder_as_it_was() {
        let mut b = UpdateBuilder::new(Context::MODERN);
        b.withdraw(&slash24s(2)).unwrap();
        // No IPv6 next hop for the IPv6 prefixes: nothing of this call is
        // kept, not even the IPv4 messages built before the failure.
        let no_v6 = PathAttributes {
            ipv6_next_hop: None,
            ..attributes()
        };
        let mixed: Vec<Nlri> = slash24s(5).into_iter().chain(slash48s(5)).collect();
        assert!(matches!(
            b.announce(&no_v6, &mixed),
            Err(EncodeError::Unrepresentable(_))
        ));
        // Attributes that leave no room for one prefix.
        let huge = PathAttributes {
            communities: (0..1100).map(Community).collect(),
            ..attributes()
        };
        assert!(matches!(
            b.announce(&huge, &slash24s(1)),
            Err(EncodeError::TooLong { max: 4096, .. })
        ));
        assert_eq!(b.messages().len(), 1);
        let u = view(&b.messages()[0], &Context::MODERN);
        assert_eq!(u.withdrawn().count(), 2);
        b.end_of_rib(bgp_proto::Afi::Ipv6, bgp_proto::Safi::Unicast)
            .unwrap();
        let all = b.take();
        assert_eq!(
            view(&all[1], &Context::MODERN).end_of_rib(),
            Some((bgp_proto::Afi::Ipv6, bgp_proto::Safi::Unicast))
        );
        assert!(b.messages().is_empty());
    }

    #[test]
    fn typed_values_survive_the_builder() {
        let attributes = PathAttributes {
            local_pref: Some(200),
            atomic_aggregate: true,
            large_communities: vec![bgp_proto::LargeCommunity::new(65001, 1, 2)],
            extended_communities: vec![bgp_proto::ExtendedCommunity::route_target(65001, 7)],
            only_to_customer: Some(65001),
            ..attributes()
        };
        let mut b = UpdateBuilder::new(Context::MODERN);
        b.announce(&attributes, &slash48s(1)).unwrap();
        let messages = b.finish();
        let u = view(&messages[0], &Context::MODERN);
        let m = u.to_message();
        let values: Vec<&AttributeValue> = m.attributes.iter().map(|a| &a.value).collect();
        assert!(matches!(values[0], AttributeValue::MpReachNlri(_)));
        assert!(values.contains(&&AttributeValue::LocalPref(200)));
        assert!(values.contains(&&AttributeValue::AtomicAggregate));
        assert!(values.contains(&&AttributeValue::OnlyToCustomer(65001)));
        assert_eq!(u.large_communities().count(), 1);
        assert_eq!(u.extended_communities().count(), 1);
    }
}

// ---- Properties ---------------------------------------------------------

mod properties {
    use super::*;
    use bgp_proto::message::owned::{
        AttributeValue as V, MpReachNlri, MpUnreachNlri, PathAttribute, UpdateMessage,
    };
    use bgp_proto::{
        Afi, Aggregator, AsPath, AsSegment, Community, ExtendedCommunity, LargeCommunity, NextHop,
        Nlri, Origin, Prefix, Safi, SegmentType,
    };
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn context() -> impl Strategy<Value = Context> {
        (any::<bool>(), 0u8..4, any::<bool>()).prop_map(|(four, ap, ext)| Context {
            four_octet_as: four,
            add_path: match ap {
                0 => Families::NONE,
                1 => Families::IPV4_UNICAST,
                2 => Families::IPV6_UNICAST,
                _ => Families::ALL,
            },
            extended_message: ext,
        })
    }

    fn nlri(ipv6: bool, add_path: bool) -> impl Strategy<Value = Nlri> {
        let id = if add_path {
            any::<u32>().prop_map(Some).boxed()
        } else {
            Just(None).boxed()
        };
        let prefix = if ipv6 {
            (any::<u128>(), 0u8..=128)
                .prop_map(|(a, l)| Prefix::v6(Ipv6Addr::from(a), l).unwrap())
                .boxed()
        } else {
            (any::<u32>(), 0u8..=32)
                .prop_map(|(a, l)| Prefix::v4(Ipv4Addr::from(a), l).unwrap())
                .boxed()
        };
        (id, prefix).prop_map(|(path_id, prefix)| Nlri { path_id, prefix })
    }

    fn nlris(ipv6: bool, add_path: bool, max: usize) -> impl Strategy<Value = Vec<Nlri>> {
        prop::collection::vec(nlri(ipv6, add_path), 0..max)
    }

    fn as_path(four: bool) -> impl Strategy<Value = AsPath> {
        let asn = if four {
            any::<u32>().boxed()
        } else {
            (0u32..=65535).boxed()
        };
        let kind = prop_oneof![
            Just(SegmentType::Set),
            Just(SegmentType::Sequence),
            Just(SegmentType::ConfedSequence),
            Just(SegmentType::ConfedSet),
        ];
        let segment = (kind, prop::collection::vec(asn, 1..6))
            .prop_map(|(kind, asns)| AsSegment { kind, asns });
        prop::collection::vec(segment, 0..4).prop_map(|segments| AsPath { segments })
    }

    fn aggregator(four: bool) -> impl Strategy<Value = Aggregator> {
        let asn = if four {
            any::<u32>().boxed()
        } else {
            (0u32..=65535).boxed()
        };
        (asn, any::<u32>()).prop_map(|(asn, a)| Aggregator {
            asn,
            address: Ipv4Addr::from(a),
        })
    }

    fn ipv6_next_hop() -> impl Strategy<Value = NextHop> {
        (any::<u128>(), prop::option::of(any::<u128>())).prop_map(|(g, l)| NextHop::V6 {
            global: Ipv6Addr::from(g),
            link_local: l.map(Ipv6Addr::from),
        })
    }

    fn mp_reach(ctx: Context) -> impl Strategy<Value = V> {
        let v6 = ctx.add_path_for(Afi::Ipv6, Safi::Unicast);
        let v4 = ctx.add_path_for(Afi::Ipv4, Safi::Unicast);
        prop_oneof![
            (ipv6_next_hop(), nlris(true, v6, 6)).prop_map(|(next_hop, nlri)| {
                V::MpReachNlri(MpReachNlri {
                    afi: Afi::Ipv6,
                    safi: Safi::Unicast,
                    next_hop,
                    nlri,
                    raw_nlri: vec![],
                })
            }),
            // IPv4 NLRI with an IPv4 or an IPv6 next hop (RFC 8950).
            (
                prop_oneof![
                    any::<u32>().prop_map(|a| NextHop::V4(Ipv4Addr::from(a))),
                    ipv6_next_hop()
                ],
                nlris(false, v4, 6)
            )
                .prop_map(|(next_hop, nlri)| {
                    V::MpReachNlri(MpReachNlri {
                        afi: Afi::Ipv4,
                        safi: Safi::Unicast,
                        next_hop,
                        nlri,
                        raw_nlri: vec![],
                    })
                }),
            // A family this crate keeps raw (VPNv4): next hop and NLRI as bytes.
            (
                prop::collection::vec(any::<u8>(), 0..24),
                prop::collection::vec(any::<u8>(), 0..24)
            )
                .prop_map(|(nh, raw_nlri)| {
                    V::MpReachNlri(MpReachNlri {
                        afi: Afi::Ipv4,
                        safi: Safi::MplsVpn,
                        next_hop: NextHop::from_wire(&nh),
                        nlri: vec![],
                        raw_nlri,
                    })
                }),
        ]
    }

    fn mp_unreach(ctx: Context) -> impl Strategy<Value = V> {
        let v6 = ctx.add_path_for(Afi::Ipv6, Safi::Unicast);
        let v4 = ctx.add_path_for(Afi::Ipv4, Safi::Unicast);
        prop_oneof![
            nlris(true, v6, 6).prop_map(|nlri| (Afi::Ipv6, Safi::Unicast, nlri, vec![])),
            nlris(false, v4, 6).prop_map(|nlri| (Afi::Ipv4, Safi::Unicast, nlri, vec![])),
            prop::collection::vec(any::<u8>(), 0..24).prop_map(|raw| (
                Afi::L2vpn,
                Safi::Evpn,
                vec![],
                raw
            )),
        ]
        .prop_map(|(afi, safi, nlri, raw_nlri)| {
            V::MpUnreachNlri(MpUnreachNlri {
                afi,
                safi,
                nlri,
                raw_nlri,
            })
        })
    }

    /// Every attribute kind, each valid for `ctx`.
    fn values(ctx: Context) -> impl Strategy<Value = Vec<V>> {
        let four = ctx.four_octet_as;
        let v4 = || any::<u32>().prop_map(Ipv4Addr::from);
        let set = (
            (
                prop_oneof![
                    Just(Origin::Igp),
                    Just(Origin::Egp),
                    Just(Origin::Incomplete)
                ],
                as_path(four),
                v4(),
                any::<u32>(),
                any::<u32>(),
                aggregator(four),
                prop::collection::vec(any::<u32>().prop_map(Community), 1..5),
                v4(),
                prop::collection::vec(v4(), 1..4),
            ),
            (
                mp_reach(ctx),
                mp_unreach(ctx),
                prop::collection::vec(any::<[u8; 8]>().prop_map(ExtendedCommunity), 1..4),
                as_path(true).prop_filter("AS4_PATH is never empty", |p| !p.is_empty()),
                aggregator(true),
                prop::collection::vec(
                    (any::<u32>(), any::<u32>(), any::<u32>())
                        .prop_map(|(a, b, c)| LargeCommunity::new(a, b, c)),
                    1..4,
                ),
                any::<u32>(),
                // Unknown optional attributes (types this crate has no name
                // for), possibly empty.
                prop::collection::vec(any::<u8>(), 0..12),
            ),
        );
        set.prop_map(
            |((o, p, nh, med, lp, ag, c, oid, cl), (r, u, x, p4, a4, l, otc, raw))| {
                vec![
                    V::Origin(o),
                    V::AsPath(p),
                    V::NextHop(nh),
                    V::MultiExitDisc(med),
                    V::LocalPref(lp),
                    V::AtomicAggregate,
                    V::Aggregator(ag),
                    V::Communities(c),
                    V::OriginatorId(oid),
                    V::ClusterList(cl),
                    r,
                    u,
                    V::ExtendedCommunities(x),
                    V::As4Path(p4),
                    V::As4Aggregator(a4),
                    V::LargeCommunities(l),
                    V::OnlyToCustomer(otc),
                    V::Raw {
                        type_code: 200,
                        value: raw.clone(),
                    },
                    V::Raw {
                        type_code: 41,
                        value: raw,
                    },
                ]
            },
        )
    }

    /// A valid UPDATE for `ctx`: a random subset of the attributes, each at
    /// most once, in random order, with random extended-length and (where
    /// allowed) partial bits.
    fn message(ctx: Context) -> impl Strategy<Value = UpdateMessage> {
        let v4 = ctx.add_path_for(Afi::Ipv4, Safi::Unicast);
        (
            nlris(false, v4, 8),
            nlris(false, v4, 8),
            values(ctx).prop_shuffle(),
            prop::collection::vec((any::<bool>(), any::<bool>(), any::<bool>()), 19),
        )
            .prop_map(|(withdrawn, nlri, values, bits)| {
                let attributes = values
                    .into_iter()
                    .zip(bits)
                    .filter(|(_, (keep, _, _))| *keep)
                    .map(|(v, (_, ext, partial))| {
                        let mut a = PathAttribute::new(v);
                        if ext {
                            a.flags |= 0x10;
                        }
                        if partial && a.flags & 0xc0 == 0xc0 {
                            a.flags |= 0x20;
                        }
                        a
                    })
                    .collect();
                UpdateMessage {
                    withdrawn,
                    attributes,
                    nlri,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        #[test]
        fn encode_then_decode_gives_the_message_back(
            (ctx, m) in context().prop_flat_map(|ctx| (Just(ctx), message(ctx)))
        ) {
            let mut out = BytesMut::new();
            m.encode(&ctx, &mut out).unwrap();
            let Message::Update(u) = decode(&out, &ctx).unwrap() else { panic!() };
            // RFC 7606 findings only for what the generator may leave out.
            for e in u.errors() {
                prop_assert_eq!(
                    e.code,
                    bgp_proto::ErrorCode::UpdateMessage(
                        bgp_proto::iana::UpdateSubcode::MissingWellKnownAttribute
                    )
                );
            }
            prop_assert_eq!(u.to_message(), m);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            ctx in context(),
            body in prop::collection::vec(any::<u8>(), 0..200),
            kind in 0u8..6,
        ) {
            // A valid header, so that the body reaches the decoders.
            let mut msg = vec![0xff; 16];
            msg.extend_from_slice(&((body.len() + 19) as u16).to_be_bytes());
            msg.push(kind);
            msg.extend_from_slice(&body);
            exercise(&msg, &ctx);
            exercise(&body, &ctx);
        }

        /// `decode_lazy` against `decode` (see `fuzz_checks::check_lazy`:
        /// same errors, the same prefixes before a malformed entry as an
        /// independent reading, the same view otherwise) on valid UPDATEs
        /// with edits, half of them in the NLRI: length octets bumped past
        /// the family's maximum or past the field, fields cut short.
        #[test]
        fn lazy_decoding_agrees_with_decoding_on_mutated_updates(
            (ctx, m) in context().prop_flat_map(|ctx| (Just(ctx), message(ctx))),
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), any::<u8>(), 0u8..6), 0..4,
            ),
        ) {
            let mut out = BytesMut::new();
            m.encode(&ctx, &mut out).unwrap();
            let mut body = out[19..].to_vec();
            for (at, byte, op) in edits {
                if body.is_empty() {
                    break;
                }
                let i = at.index(body.len());
                match op {
                    0 => body[i] = byte,
                    1 => body[i] ^= 1 << (byte % 8),
                    2 => body.truncate(i),
                    3 => body.insert(i, byte),
                    // An NLRI length octet (the first of some entry, if
                    // `i` hits one) made too long or absurd.
                    4 => body[i] = body[i].saturating_add(byte % 16 + 1),
                    _ => body[i] = 129 + byte % 127,
                }
            }
            let mut msg = out[..19].to_vec();
            msg[16..18].copy_from_slice(&((body.len() + 19) as u16).to_be_bytes());
            msg.extend_from_slice(&body);
            fuzz_checks::check_lazy(&msg, &ctx);
        }

        /// The same on bodies whose NLRI fields are arbitrary bytes:
        /// valid attributes for both families, then random Withdrawn
        /// Routes, NLRI and MP NLRI fields (most of them malformed).
        #[test]
        fn lazy_decoding_agrees_with_decoding_on_random_nlri_fields(
            ctx in context(),
            withdrawn in prop::collection::vec(any::<u8>(), 0..24),
            nlri in prop::collection::vec(prop_oneof![0u8..=40, any::<u8>()], 0..24),
            reach in prop::collection::vec(prop_oneof![0u8..=130, any::<u8>()], 0..24),
            unreach in prop::collection::vec(any::<u8>(), 0..24),
            which in 0u8..4,
        ) {
            let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 192, 0, 2, 1];
            if which & 1 != 0 {
                let mut v = vec![0, 2, 1, 16];
                v.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
                v.extend_from_slice(&reach);
                attrs.extend_from_slice(&[0x80, 14, v.len() as u8]);
                attrs.extend_from_slice(&v);
            }
            if which & 2 != 0 {
                let mut v = vec![0, 2, 1];
                v.extend_from_slice(&unreach);
                attrs.extend_from_slice(&[0x80, 15, v.len() as u8]);
                attrs.extend_from_slice(&v);
            }
            let mut body = (withdrawn.len() as u16).to_be_bytes().to_vec();
            body.extend_from_slice(&withdrawn);
            body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
            body.extend_from_slice(&attrs);
            body.extend_from_slice(&nlri);
            let mut msg = vec![0xff; 16];
            msg.extend_from_slice(&((body.len() + 19) as u16).to_be_bytes());
            msg.push(2);
            msg.extend_from_slice(&body);
            fuzz_checks::check_lazy(&msg, &ctx);
        }

        #[test]
        fn mutated_updates_never_panic(
            (ctx, m) in context().prop_flat_map(|ctx| (Just(ctx), message(ctx))),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
        ) {
            let mut out = BytesMut::new();
            m.encode(&ctx, &mut out).unwrap();
            let mut body = out[19..].to_vec();
            for (at, byte, op) in edits {
                if body.is_empty() {
                    body.push(byte);
                    continue;
                }
                let i = at.index(body.len());
                match op {
                    0 => body[i] = byte,
                    1 => body[i] ^= 1 << (byte % 8),
                    2 => body.truncate(i),
                    _ => body.insert(i, byte),
                }
            }
            let mut msg = out[..19].to_vec();
            msg[16..18].copy_from_slice(&((body.len() + 19) as u16).to_be_bytes());
            msg.extend_from_slice(&body);
            exercise(&msg, &ctx);
        }
    }

    /// Decodes and, for an UPDATE, walks every accessor and re-encodes.
    fn exercise(msg: &[u8], ctx: &Context) {
        let Ok(Message::Update(u)) = decode(msg, ctx) else {
            return;
        };
        let _ = format!("{u:?}");
        let _ = (
            u.origin(),
            u.as_path(),
            u.next_hop(),
            u.med(),
            u.local_pref(),
        );
        let _ = (
            u.aggregator(),
            u.originator_id(),
            u.end_of_rib(),
            u.action(),
        );
        let _ = u.communities().count() + u.large_communities().count();
        let _ = u.extended_communities().count() + u.cluster_list().count();
        let _ = u.withdrawn().count() + u.announced().count();
        let _ = u.mp_reach().map(|r| r.next_hop());
        let m = u.to_message();
        let mut out = BytesMut::new();
        if m.encode(ctx, &mut out).is_ok() {
            // What was accepted once is accepted again.
            assert!(decode(&out, ctx).is_ok(), "{m:?}");
        }
    }
}
