//! The checks behind the fuzz targets, as plain functions so that
//! `bgp-proto/tests/fuzz_regressions.rs` replays exactly the same checks on
//! saved inputs (it includes this file with `#[path]`; the fuzz crate is
//! not a dependency of bgp-proto).
//!
//! Both take a fuzz input whose first byte picks the session state (see
//! [`split_context`]) and panic when an invariant breaks. [`check_lazy`],
//! run by `check_stream` on every message, is also used on its own by
//! `bgp-proto/tests/update_roundtrip.rs`.

use bgp_proto::framing::{self, Framer};
use bgp_proto::{
    Afi, Context, DecodeError, Families, LazyMessage, LazyUpdate, Message, Nlri, Prefix, Safi,
    decode, decode_lazy, encode,
};
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

/// Decodes `message` and, for an UPDATE, calls every accessor; checks
/// the lazy path against it.
fn exercise(message: &[u8], ctx: &Context) {
    check_lazy(message, ctx);
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

/// The lazily checked path against the checked one, on any bytes:
/// `decode_lazy` fails exactly when and as `decode` does, except for a
/// malformed NLRI entry, which its iterators report instead, with
/// `decode`'s error, after yielding exactly the well-formed entries
/// before it (by an independent reading of the fields, [`reference`]).
/// When `decode` succeeds, the lazy view is the checked view and its
/// iterators yield what the checked view's do. `LazyUpdate::check` gives
/// `decode`'s outcome.
pub fn check_lazy(message: &[u8], ctx: &Context) {
    let eager = decode(message, ctx);
    let lazy = match (eager.clone(), decode_lazy(message, ctx)) {
        (Ok(Message::Update(_)) | Err(_), Ok(LazyMessage::Update(l))) => l,
        (Err(e), Err(l)) => {
            assert_eq!(e, l, "different errors");
            return;
        }
        (Ok(m), Ok(l)) => {
            assert_eq!(
                LazyMessage::from(m),
                l,
                "a message other than an UPDATE differs"
            );
            return;
        }
        (e, l) => panic!("decode gave {e:?}, decode_lazy {l:?}"),
    };
    let withdrawn: Vec<_> = lazy.withdrawn().collect();
    let announced: Vec<_> = lazy.announced().collect();
    let (withdrawn_ok, withdrawn_err) = split_at_error(&withdrawn);
    let (announced_ok, announced_err) = split_at_error(&announced);
    let (ref_withdrawn, ref_announced) = reference(&lazy);
    assert_eq!(withdrawn_ok, ref_withdrawn.0, "withdrawn before the error");
    assert_eq!(withdrawn_err.is_some(), ref_withdrawn.1, "withdrawn error");
    assert_eq!(announced_ok, ref_announced.0, "announced before the error");
    assert_eq!(announced_err.is_some(), ref_announced.1, "announced error");
    // The internal-iteration forms see the same entries and fail alike.
    let mut seen = Vec::new();
    let result = lazy.for_each_withdrawn(|n| seen.push(n));
    assert_eq!(
        (seen, result.err().as_ref()),
        (withdrawn_ok.clone(), withdrawn_err)
    );
    let mut seen = Vec::new();
    let result = lazy.for_each_announced(|n| seen.push(n));
    assert_eq!(
        (seen, result.err().as_ref()),
        (announced_ok.clone(), announced_err)
    );
    // The single-field iterators agree with the two-field ones.
    let fields = |a: bgp_proto::LazyNlriIter<'_>, b: bgp_proto::LazyNlriIter<'_>| {
        let first: Vec<_> = a.collect();
        let failed = first.last().is_some_and(Result::is_err);
        let second: Vec<_> = if failed { vec![] } else { b.collect() };
        [first, second].concat()
    };
    assert_eq!(
        fields(lazy.withdrawn_routes(), lazy.mp_unreach_nlri()),
        withdrawn
    );
    assert_eq!(fields(lazy.mp_reach_nlri(), lazy.nlri()), announced);
    let checked = lazy.clone().check();
    match eager {
        Ok(Message::Update(u)) => {
            assert_eq!(lazy, LazyUpdate::from(u.clone()), "the views differ");
            assert_eq!(withdrawn, u.withdrawn().map(Ok).collect::<Vec<_>>());
            assert_eq!(announced, u.announced().map(Ok).collect::<Vec<_>>());
            assert_eq!(checked, Ok(u));
        }
        Err(e) => {
            let errors: Vec<&DecodeError> =
                withdrawn_err.into_iter().chain(announced_err).collect();
            assert!(!errors.is_empty(), "decode failed ({e:?}), no iterator did");
            for l in errors {
                assert_eq!(*l, e, "an iterator's error is not decode's");
            }
            assert_eq!(checked, Err(e));
        }
        Ok(_) => unreachable!("matched above"),
    }
}

/// The entries before the first error, and the error; the error must be
/// the last item.
fn split_at_error(items: &[Result<Nlri, DecodeError>]) -> (Vec<Nlri>, Option<&DecodeError>) {
    let ok: Vec<Nlri> = items
        .iter()
        .map_while(|r| r.as_ref().ok().copied())
        .collect();
    let err = items.get(ok.len()).map(|r| match r {
        Err(e) => e,
        Ok(_) => unreachable!("map_while stopped at an error"),
    });
    assert!(items.len() <= ok.len() + 1, "items after an error");
    (ok, err)
}

/// The NLRI of a lazily decoded UPDATE read independently of bgp-proto's
/// NLRI code, byte by byte: for the withdrawn routes (the Withdrawn Routes
/// field, then MP_UNREACH_NLRI's) and the announced ones (MP_REACH_NLRI's,
/// then the NLRI field), the entries up to the first malformed one, and
/// whether there was one.
fn reference(u: &LazyUpdate<'_>) -> ((Vec<Nlri>, bool), (Vec<Nlri>, bool)) {
    let body = u.as_bytes();
    let ctx = u.context();
    let get = |from: usize, len: usize| body.get(from..from + len).unwrap_or_default();
    let wlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let withdrawn_field = get(2, wlen);
    let alen = usize::from(u16::from_be_bytes([body[2 + wlen], body[3 + wlen]]));
    let nlri_field = body.get(4 + wlen + alen..).unwrap_or_default();
    // The first MP_REACH_NLRI and MP_UNREACH_NLRI (a repeat is fatal).
    let mut reach: Option<(bool, &[u8])> = None;
    let mut unreach: Option<(bool, &[u8])> = None;
    let family = |v: &[u8]| match (
        Afi::from(u16::from_be_bytes([v[0], v[1]])),
        Safi::from(v[2]),
    ) {
        (Afi::Ipv4, Safi::Unicast) => Some(false),
        (Afi::Ipv6, Safi::Unicast) => Some(true),
        _ => None,
    };
    let mut attrs = get(4 + wlen, alen);
    while attrs.len() >= 3 {
        let ext = attrs[0] & 0x10 != 0;
        let (hlen, vlen) = if ext {
            match attrs.get(2..4) {
                Some(l) => (4, usize::from(u16::from_be_bytes([l[0], l[1]]))),
                None => break,
            }
        } else {
            (3, usize::from(attrs[2]))
        };
        let Some(v) = attrs.get(hlen..hlen + vlen) else {
            break;
        };
        match attrs[1] {
            14 if reach.is_none() => {
                // AFI, SAFI, next hop length and next hop, reserved octet.
                let nlri = &v[5 + usize::from(v[3])..];
                reach = family(v).map(|ipv6| (ipv6, nlri));
            }
            15 if unreach.is_none() => unreach = family(v).map(|ipv6| (ipv6, &v[3..])),
            _ => {}
        }
        attrs = &attrs[hlen + vlen..];
    }
    let read = |fields: [Option<(bool, &[u8])>; 2]| {
        let mut out = Vec::new();
        for (ipv6, mut field) in fields.into_iter().flatten() {
            let afi = if ipv6 { Afi::Ipv6 } else { Afi::Ipv4 };
            let add_path = ctx.add_path_for(afi, Safi::Unicast);
            while !field.is_empty() {
                let (path_id, rest) = if add_path {
                    match field.split_first_chunk::<4>() {
                        Some((id, rest)) => (Some(u32::from_be_bytes(*id)), rest),
                        None => return (out, true),
                    }
                } else {
                    (None, field)
                };
                let Some((&len, rest)) = rest.split_first() else {
                    return (out, true);
                };
                let bytes = usize::from(len).div_ceil(8);
                if len > if ipv6 { 128 } else { 32 } || rest.len() < bytes {
                    return (out, true);
                }
                let mut addr = [0u8; 16];
                addr[..bytes].copy_from_slice(&rest[..bytes]);
                let prefix = if ipv6 {
                    Prefix::v6(u128::from_be_bytes(addr).into(), len)
                } else {
                    let a = [addr[0], addr[1], addr[2], addr[3]];
                    Prefix::v4(a.into(), len)
                };
                let Ok(prefix) = prefix else {
                    unreachable!("length checked above");
                };
                out.push(Nlri { path_id, prefix });
                field = &rest[bytes..];
            }
        }
        (out, false)
    };
    (
        read([Some((false, withdrawn_field)), unreach]),
        read([reach, Some((false, nlri_field))]),
    )
}
