//! The checks behind the fuzz targets, as plain functions so that
//! `bgp-proto/tests/fuzz_regressions.rs` replays exactly the same checks on
//! saved inputs (it includes this file with `#[path]`; the fuzz crate is
//! not a dependency of bgp-proto).
//!
//! Both take a fuzz input whose first byte picks the session state (see
//! [`split_context`]) and panic when an invariant breaks.

use bgp_proto::framing::{self, Framer};
use bgp_proto::{Context, Families, Message, decode, encode};
use bytes::BytesMut;

/// The session state a fuzz input asks for with its first byte: bit 0
/// 4-octet AS, bit 1 ADD-PATH for IPv4 unicast, bit 2 ADD-PATH for IPv6
/// unicast, bit 3 extended messages. Returns the context and the rest.
pub fn split_context(data: &[u8]) -> Option<(Context, &[u8])> {
    let (&first, rest) = data.split_first()?;
    let mut add_path = Families::NONE;
    if first & 2 != 0 {
        add_path = add_path | Families::IPV4_UNICAST;
    }
    if first & 4 != 0 {
        add_path = add_path | Families::IPV6_UNICAST;
    }
    let ctx = Context {
        four_octet_as: first & 1 != 0,
        add_path,
        extended_message: first & 8 != 0,
    };
    Some((ctx, rest))
}

/// The receive path: after the context byte, one byte of read size (0 =
/// everything at once), then a TCP stream. The framer must agree with
/// `framing::frame` and `Framer::wanted`; every message it yields, and
/// what is left when it stops, is decoded and, if an UPDATE, read through
/// every accessor.
pub fn check_stream(data: &[u8]) {
    let Some((ctx, rest)) = split_context(data) else {
        return;
    };
    let Some((&chunk, stream)) = rest.split_first() else {
        return;
    };
    let chunk = if chunk == 0 {
        stream.len().max(1)
    } else {
        usize::from(chunk)
    };
    let framer = Framer::new(ctx);
    let mut buf = BytesMut::new();
    let mut framed = 0;
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let one_shot = framing::frame(&buf, &ctx);
            let wanted = framer.wanted(&buf);
            match framer.next_message(&mut buf) {
                Ok(Some(message)) => {
                    assert_eq!(one_shot, Ok(Some(message.len())));
                    assert!(message.len() >= framing::HEADER_LEN);
                    assert!(message.len() <= ctx.max_message_len());
                    assert_eq!(wanted, 0, "a whole message wants no more bytes");
                    framed += message.len();
                    exercise(&message, &ctx);
                }
                Ok(None) => {
                    assert_eq!(one_shot, Ok(None));
                    assert!(wanted > 0, "an incomplete message wants more bytes");
                    break;
                }
                Err(_) => {
                    assert!(one_shot.is_err());
                    // The session is over; decode what is left anyway.
                    exercise(&buf, &ctx);
                    return;
                }
            }
        }
    }
    assert_eq!(framed + buf.len(), stream.len());
    exercise(&buf, &ctx);
}

/// Decodes `message` and, for an UPDATE, calls every accessor.
fn exercise(message: &[u8], ctx: &Context) {
    let Ok(decoded) = decode(message, ctx) else {
        return;
    };
    let _ = format!("{decoded:?}");
    let Message::Update(u) = decoded else {
        return;
    };
    let _ = (u.action(), u.is_treat_as_withdraw(), u.end_of_rib());
    for e in u.errors() {
        let _ = e.to_string();
    }
    let _ = u.withdrawn().count() + u.announced().count();
    let _ = u.withdrawn_routes().count() + u.nlri().count();
    for a in u.attributes() {
        let _ = (a.attribute_type(), a.usable, a.value.len());
    }
    let _ = (
        u.origin(),
        u.next_hop(),
        u.med(),
        u.local_pref(),
        u.originator_id(),
    );
    let _ = (
        u.atomic_aggregate(),
        u.aggregator_raw(),
        u.as4_aggregator(),
        u.aggregator(),
    );
    if let Some(path) = u.as_path() {
        let _ = (path.path_len(), path.to_string());
    }
    if let Some(v) = u.as_path_view() {
        let _ = (v.asns().count(), v.has_confed());
    }
    if let Some(v) = u.as4_path_view() {
        let _ = v.to_path();
    }
    let _ = u.communities().count() + u.large_communities().count();
    let _ = u.extended_communities().count() + u.cluster_list().count();
    if let Some(m) = u.mp_reach() {
        let _ = (m.next_hop().to_string(), m.nlri().count());
    }
    if let Some(m) = u.mp_unreach() {
        let _ = m.nlri().count();
    }
    let _ = u.to_message();
}

/// Round trip: after the context byte, one message. If it decodes (an
/// UPDATE only when it has no RFC 7606 finding), it must encode, and the
/// encoding must decode to an equal message: UPDATEs compared in their
/// owned form, since the bytes may legitimately differ (host bits cleared,
/// lengths re-chosen).
pub fn check_reencode(data: &[u8]) {
    let Some((ctx, message)) = split_context(data) else {
        return;
    };
    let Ok(first) = decode(message, &ctx) else {
        return;
    };
    if matches!(&first, Message::Update(u) if !u.errors().is_empty()) {
        return;
    }
    let mut out = BytesMut::new();
    if let Err(e) = encode(&first, &ctx, &mut out) {
        panic!("decoded message does not encode: {e:?}\n{first:?}");
    }
    let second = match decode(&out, &ctx) {
        Ok(m) => m,
        Err(e) => panic!(
            "encoding does not decode: {e:?}\n{first:?}\n{:02x?}",
            &out[..]
        ),
    };
    match (&first, &second) {
        (Message::Update(a), Message::Update(b)) => {
            assert!(
                b.errors().is_empty(),
                "re-encoding has findings: {:?}",
                b.errors()
            );
            assert_eq!(a.to_message(), b.to_message());
        }
        _ => assert_eq!(first, second),
    }
}
