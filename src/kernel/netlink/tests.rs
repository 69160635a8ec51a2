use super::*;
use netlink_packet_route::route::RouteScope;

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn socket() -> RouteSocket {
    // Encoding needs no kernel; a socket is only needed for the struct.
    RouteSocket::open(196).unwrap()
}

#[test]
fn encodes_and_parses_back_a_multipath_route() {
    let mut s = socket();
    let gateways: Vec<IpAddr> = vec!["10.1.2.5".parse().unwrap(), "10.1.2.6".parse().unwrap()];
    let request = Request {
        write: Write::Create,
        key: RouteKey {
            table: 1000,
            prefix: p("192.0.2.0/24"),
            metric: 20,
        },
        gateways: &gateways,
        nexthop: None,
    };
    s.send.clear();
    s.encode(&request, 7);
    let m = messages(&s.send).next().unwrap();
    assert_eq!((m.sequence, m.kind), (7, RTM_NEWROUTE));
    let payload = m.payload;
    let flags = NetlinkBuffer::new_checked(&s.send[..]).unwrap().flags();
    assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
    let route = parse_route(payload).unwrap();
    assert_eq!(route.key, request.key);
    assert_eq!(route.protocol, 196);
    assert_eq!(route.gateways, gateways);
    assert!(route.unicast);
}

#[test]
fn delete_names_our_protocol_and_matches_any_scope() {
    let mut s = socket();
    let request = Request {
        write: Write::Delete,
        key: RouteKey {
            table: TABLE_MAIN,
            prefix: p("2001:db8::/32"),
            metric: 20,
        },
        gateways: &[],
        nexthop: None,
    };
    s.send.clear();
    s.encode(&request, 1);
    let m = messages(&s.send).next().unwrap();
    assert_eq!(m.kind, RTM_DELROUTE);
    let payload = m.payload;
    let message = RouteMessage::parse(payload).unwrap();
    assert_eq!(message.header.protocol, RouteProtocol::Other(196));
    assert_eq!(message.header.scope, RouteScope::NoWhere);
    assert_eq!(parse_route(payload).unwrap().key, request.key);
}

#[test]
fn encodes_an_ipv6_multipath_replace_and_a_single_gateway() {
    let mut s = socket();
    let gateways: Vec<IpAddr> = vec![
        "2001:db8:1::7".parse().unwrap(),
        "2001:db8:1::8".parse().unwrap(),
    ];
    for gateways in [&gateways[..], &gateways[..1]] {
        let request = Request {
            write: Write::Replace,
            key: RouteKey {
                table: 100,
                prefix: p("2001:db8:9::/48"),
                metric: 1,
            },
            gateways,
            nexthop: None,
        };
        s.send.clear();
        s.encode(&request, 9);
        let m = messages(&s.send).next().unwrap();
        assert_eq!(
            usize::try_from(NetlinkBuffer::new_checked(&s.send[..]).unwrap().length()).unwrap(),
            s.send.len()
        );
        assert_eq!(
            m.flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
        );
        let route = parse_route(m.payload).unwrap();
        assert_eq!(route.key, request.key);
        assert_eq!(route.gateways, gateways);
        let message = RouteMessage::parse(m.payload).unwrap();
        assert_eq!(message.header.scope, RouteScope::Universe);
        assert_eq!(message.header.table, 100);
    }
}

#[test]
fn a_route_can_name_a_nexthop_object_and_nexthop_notifications_parse() {
    let mut s = socket();
    let request = Request {
        write: Write::Create,
        key: RouteKey {
            table: TABLE_MAIN,
            prefix: p("192.0.2.0/24"),
            metric: 20,
        },
        gateways: &["10.1.2.1".parse().unwrap()],
        nexthop: Some(0x4e56_0001),
    };
    s.send.clear();
    s.encode(&request, 3);
    let m = messages(&s.send).next().unwrap();
    let message = RouteMessage::parse(m.payload).unwrap();
    assert!(
        message
            .attributes
            .contains(&RouteAttribute::NhId(0x4e56_0001))
    );
    assert!(
        !message
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Gateway(_)))
    );
    s.nexthop_header(RTM_NEWNEXTHOP, NLM_F_ACK, AF_INET, 200, 5);
    push_attribute(&mut s.send, NHA_ID, &7u32.to_ne_bytes());
    push_address(&mut s.send, NHA_GATEWAY, "10.1.2.1".parse().unwrap());
    s.finish_message();
    let m = messages(&s.send).next().unwrap();
    assert_eq!(m.kind, RTM_NEWNEXTHOP);
    assert_eq!(parse_nexthop(m.payload), Some((200, 7)));
    assert_eq!(parse_nexthop(&m.payload[..8]), None);
}

#[test]
fn splits_datagrams_and_stops_on_garbage() {
    let mut s = socket();
    s.send.clear();
    for i in 0..3 {
        let r = Request {
            write: Write::Replace,
            key: RouteKey {
                table: TABLE_MAIN,
                prefix: p("10.0.0.0/8"),
                metric: i,
            },
            gateways: &["10.1.2.1".parse().unwrap()],
            nexthop: Some(i),
        };
        s.encode(&r, 100 + i);
    }
    s.send.extend_from_slice(&[1, 2, 3]);
    let seqs: Vec<u32> = messages(&s.send).map(|m| m.sequence).collect();
    assert_eq!(seqs, vec![100, 101, 102]);
    assert_eq!(messages(&[0u8; 8]).count(), 0);
}
