//! Properties the decode hot path depends on for its speed (see
//! BENCHMARKS.md); none is timed.

use bgp_proto::{Context, Message, Prefix, Update};

/// The view is returned and moved by value on every decode: past 128 bytes
/// each move becomes a `memcpy` call, which cost about 20% of the decode
/// time when it was ~600 bytes.
#[test]
fn the_update_view_stays_small() {
    assert!(std::mem::size_of::<Update<'_>>() <= 128);
    assert!(std::mem::size_of::<Message<'_>>() <= 128);
}

/// Spans inside the view are two octets: a body longer than the largest
/// message (65535 bytes with the header) is refused rather than wrapped.
#[test]
fn a_body_longer_than_any_message_is_refused() {
    let mut body = vec![0u8; 65535 - 19 + 1];
    // Withdrawn Routes Length 0, Total Path Attribute Length 0, the rest
    // NLRI: /0 default routes, each one byte.
    assert!(Update::parse(&body, &Context::MODERN).is_err());
    body.truncate(65535 - 19);
    let u = Update::parse(&body, &Context::MODERN).expect("largest body parses");
    assert_eq!(u.nlri().count(), 65535 - 19 - 4);
    assert!(u.nlri().all(|n| n.prefix == Prefix::V4(0, 0)));
}

/// `announced()` is MP_REACH_NLRI then the NLRI field in one iterator,
/// `withdrawn()` the Withdrawn Routes field then MP_UNREACH_NLRI.
#[test]
fn two_field_iterators_keep_wire_order() {
    let mut next_hop = vec![0x20, 0x01, 0x0d, 0xb8];
    next_hop.resize(16, 0);
    next_hop[15] = 1;
    let mut reach = vec![0, 2, 1, 16];
    reach.extend_from_slice(&next_hop);
    reach.extend_from_slice(&[0, 16, 0x20, 0x01]); // reserved, 2001::/16
    let unreach = [0, 2, 1, 8, 0x30]; // 3000::/8
    let mut attributes = vec![0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 192, 0, 2, 1];
    attributes.extend_from_slice(&[0x80, 14, reach.len() as u8]);
    attributes.extend_from_slice(&reach);
    attributes.extend_from_slice(&[0x80, 15, unreach.len() as u8]);
    attributes.extend_from_slice(&unreach);
    let mut body = vec![0, 2, 8, 10]; // withdrawn 10.0.0.0/8
    body.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
    body.extend_from_slice(&attributes);
    body.extend_from_slice(&[24, 198, 51, 100]); // NLRI 198.51.100.0/24
    let u = Update::parse(&body, &Context::MODERN).expect("valid UPDATE");
    assert!(u.errors().is_empty(), "{:?}", u.errors());
    let announced: Vec<_> = u.announced().map(|n| n.prefix.to_string()).collect();
    let withdrawn: Vec<_> = u.withdrawn().map(|n| n.prefix.to_string()).collect();
    assert_eq!(announced, ["2001::/16", "198.51.100.0/24"]);
    assert_eq!(withdrawn, ["10.0.0.0/8", "3000::/8"]);
}
