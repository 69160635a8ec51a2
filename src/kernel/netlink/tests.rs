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
    s.encoder.encode(&mut s.send, &request, 7);
    request_ack(&mut s.send, 0);
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
    s.encoder.encode(&mut s.send, &request, 1);
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
        s.encoder.encode(&mut s.send, &request, 9);
        request_ack(&mut s.send, 0);
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
    s.encoder.encode(&mut s.send, &request, 3);
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
        s.encoder.encode(&mut s.send, &r, 100 + i);
    }
    s.send.extend_from_slice(&[1, 2, 3]);
    let seqs: Vec<u32> = messages(&s.send).map(|m| m.sequence).collect();
    assert_eq!(seqs, vec![100, 101, 102]);
    assert_eq!(messages(&[0u8; 8]).count(), 0);
}

#[test]
fn only_the_last_request_of_a_batch_asks_for_an_acknowledgement() {
    let mut s = socket();
    let gateways: Vec<IpAddr> = vec!["10.1.2.1".parse().unwrap()];
    let request = Request {
        write: Write::Create,
        key: RouteKey {
            table: TABLE_MAIN,
            prefix: p("192.0.2.0/24"),
            metric: 20,
        },
        gateways: &gateways,
        nexthop: None,
    };
    s.send.clear();
    s.encoder.encode(&mut s.send, &request, 1);
    let flags = NetlinkBuffer::new_checked(&s.send[..]).unwrap().flags();
    assert_eq!(flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
}

/// Runs `body` on a thread of its own in a fresh network namespace (only
/// that thread moves), with veth `d0` up at 10.9.0.1/24; skipped (false)
/// without the privilege or `ip`.
fn in_private_namespace(body: impl FnOnce() + Send + 'static) -> bool {
    std::thread::spawn(|| {
        // SAFETY: unshare has no memory preconditions; it moves only this
        // thread to a new network namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!(
                "SKIPPED: unshare(CLONE_NEWNET): {}",
                io::Error::last_os_error()
            );
            return false;
        }
        // Children forked from this thread share its namespace.
        for args in [
            &["link", "add", "d0", "type", "veth", "peer", "name", "d1"][..],
            &["addr", "add", "10.9.0.1/24", "dev", "d0"],
            &["link", "set", "d0", "up"],
            &["link", "set", "d1", "up"],
        ] {
            match std::process::Command::new("ip").args(args).status() {
                Ok(status) if status.success() => {}
                other => {
                    eprintln!("SKIPPED: ip {args:?}: {other:?}");
                    return false;
                }
            }
        }
        body();
        true
    })
    .join()
    .unwrap()
}

#[test]
fn every_outcome_of_a_batch_is_known_with_one_acknowledgement_per_sendmsg() {
    in_private_namespace(|| {
        let mut s = socket();
        let gateways: Vec<IpAddr> = vec!["10.9.0.2".parse().unwrap()];
        let key = |i: u32| RouteKey {
            table: TABLE_MAIN,
            prefix: Prefix::V4((11 << 24) | (i << 8), 24),
            metric: 20,
        };
        let request = |write, i| Request {
            write,
            key: key(i),
            gateways: &gateways,
            nexthop: None,
        };
        // Routes 0..3000 exist, except every 7th.
        let first: Vec<Request<'_>> = (0..3000)
            .filter(|i| i % 7 != 0)
            .map(|i| request(Write::Create, i))
            .collect();
        let mut outcomes = Vec::new();
        s.execute(&first, &mut outcomes);
        assert_eq!(outcomes.len(), first.len());
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        // Creating all 3000 again (three sendmsg calls): the existing ones
        // fail, each where it is, and the rest succeed; the last request
        // of a batch failing (2999 exists) must end that batch too.
        let again: Vec<Request<'_>> = (0..3000).map(|i| request(Write::Create, i)).collect();
        s.execute(&again, &mut outcomes);
        let expected: Vec<Outcome> = (0..3000)
            .map(|i| {
                if i % 7 == 0 {
                    Ok(())
                } else {
                    Err(libc::EEXIST)
                }
            })
            .collect();
        assert_eq!(outcomes, expected);
        // Deleting 0..4000: the last 1000 were never there.
        let delete: Vec<Request<'_>> = (0..4000).map(|i| request(Write::Delete, i)).collect();
        s.execute(&delete, &mut outcomes);
        assert!(outcomes[..3000].iter().all(Result::is_ok), "{outcomes:?}");
        assert!(
            outcomes[3000..].iter().all(|o| *o == Err(libc::ESRCH)),
            "{:?}",
            &outcomes[3000..3010]
        );
        assert!(s.dump_routes(TABLE_MAIN, 196).unwrap().is_empty());
    });
}
