//! UPDATE error handling: one test per RFC 4271 §6.3 subcode and per
//! RFC 7606 case, asserting the NOTIFICATION (code, subcode, data), the
//! offset and the RFC 7606 approach.
//!
//! Messages are built by hand with an empty Withdrawn Routes field unless
//! a test says otherwise, so the attributes start at byte 23 (19-byte
//! header, 2-byte Withdrawn Routes Length, 2-byte Total Path Attribute
//! Length) and the standard ORIGIN, AS_PATH, NEXT_HOP sit at 23, 27 and 36.

use bgp_proto::iana::UpdateSubcode as S;
use bgp_proto::message::owned::AttributeValue;
use bgp_proto::message::update::Update;
use bgp_proto::{
    Action, Afi, AttributeError, AttributeType as T, Context, DecodeError, ErrorCode, LazyMessage,
    LazyUpdate, Message, Nlri, Origin, Prefix, Safi, decode, decode_lazy,
};

const MODERN: Context = Context::MODERN;
/// A session without the 4-octet AS capability.
const OLD: Context = Context::INITIAL;

fn attr(flags: u8, t: u8, v: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, t];
    if flags & 0x10 != 0 {
        a.extend_from_slice(&(v.len() as u16).to_be_bytes());
    } else {
        a.push(v.len() as u8);
    }
    a.extend_from_slice(v);
    a
}

fn origin() -> Vec<u8> {
    attr(0x40, 1, &[0])
}

/// AS_PATH 65001, 4-octet.
fn as_path() -> Vec<u8> {
    attr(0x40, 2, &[2, 1, 0, 0, 0xfd, 0xe9])
}

fn next_hop() -> Vec<u8> {
    attr(0x40, 3, &[192, 0, 2, 1])
}

fn standard() -> Vec<Vec<u8>> {
    vec![origin(), as_path(), next_hop()]
}

/// Offset of the first byte after the standard attributes.
const AFTER_STANDARD: usize = 43;

/// 10.0.0.0/24.
const NLRI: &[u8] = &[24, 10, 0, 0];

/// MP_REACH_NLRI for IPv6 unicast: next hop 2001:db8::1, NLRI 2001:db8::/32.
fn mp_reach_v6(flags: u8) -> Vec<u8> {
    let mut v = vec![0, 2, 1, 16, 0x20, 0x01, 0x0d, 0xb8];
    v.extend_from_slice(&[0; 11]);
    v.push(1);
    v.push(0);
    v.extend_from_slice(&[32, 0x20, 0x01, 0x0d, 0xb8]);
    attr(flags, 14, &v)
}

/// MP_UNREACH_NLRI for IPv6 unicast withdrawing 2001:db8::/32.
fn mp_unreach_v6() -> Vec<u8> {
    attr(0x80, 15, &[0, 2, 1, 32, 0x20, 0x01, 0x0d, 0xb8])
}

fn message_from_body(body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((body.len() + 19) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(body);
    m
}

fn message(withdrawn: &[u8], attrs: &[Vec<u8>], nlri: &[u8]) -> Vec<u8> {
    let attrs: Vec<u8> = attrs.concat();
    let mut body = (withdrawn.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(nlri);
    message_from_body(&body)
}

/// Decodes an UPDATE; every test goes through here, so each case also
/// checks that the lazily checked path gives the same outcome.
fn parse<'a>(msg: &'a [u8], ctx: &Context) -> Result<Update<'a>, DecodeError> {
    let eager = match decode(msg, ctx) {
        Ok(Message::Update(u)) => Ok(u),
        Ok(other) => panic!("not an UPDATE: {other:?}"),
        Err(e) => Err(e),
    };
    assert_eq!(
        lazy_outcome(msg, ctx),
        eager.clone(),
        "the lazy path differs"
    );
    eager
}

/// What the lazy path gives for `msg`: the first error, from
/// `decode_lazy` or from its iterators read to the end, else the checked
/// view (`LazyUpdate::check`).
fn lazy_outcome<'a>(msg: &'a [u8], ctx: &Context) -> Result<Update<'a>, DecodeError> {
    let u = lazy(msg, ctx)?;
    for n in u.withdrawn().chain(u.announced()) {
        n?;
    }
    u.check()
}

fn lazy<'a>(msg: &'a [u8], ctx: &Context) -> Result<LazyUpdate<'a>, DecodeError> {
    match decode_lazy(msg, ctx)? {
        LazyMessage::Update(u) => Ok(u),
        other => panic!("not an UPDATE: {other:?}"),
    }
}

fn fatal(msg: &[u8], ctx: &Context) -> DecodeError {
    match parse(msg, ctx) {
        Err(e) => e,
        Ok(u) => panic!("expected a fatal error, got {u:?}"),
    }
}

/// The only finding of an UPDATE that must still decode.
fn finding(msg: &[u8], ctx: &Context) -> AttributeError {
    let u = parse(msg, ctx).unwrap();
    assert_eq!(u.errors().len(), 1, "{:?}", u.errors());
    u.errors()[0].clone()
}

fn update_error(sub: S) -> ErrorCode {
    ErrorCode::UpdateMessage(sub)
}

#[track_caller]
fn assert_finding(
    e: &AttributeError,
    attribute: T,
    sub: S,
    action: Action,
    data: &[u8],
    offset: usize,
) {
    assert_eq!(e.attribute, attribute, "{e}");
    assert_eq!(e.code, update_error(sub), "{e}");
    assert_eq!(e.action, action, "{e}");
    assert_eq!(e.data, data, "{e}");
    assert_eq!(e.offset, offset, "{e}");
}

#[track_caller]
fn assert_fatal(e: &DecodeError, sub: S, data: &[u8], offset: usize) {
    assert_eq!(e.code, update_error(sub), "{e}");
    assert_eq!(e.data, data, "{e}");
    assert_eq!(e.offset, offset, "{e}");
    // One conversion point into the NOTIFICATION that goes on the wire.
    let n = e.notification();
    assert_eq!((n.code, n.data.as_slice()), (e.code, data));
}

#[test]
fn a_clean_update_has_no_findings() {
    let msg = message(&[], &standard(), NLRI);
    let u = parse(&msg, &MODERN).unwrap();
    assert_eq!(u.errors(), &[]);
    assert_eq!(u.action(), None);
    assert_eq!(u.origin(), Some(Origin::Igp));
    assert_eq!(u.nlri().count(), 1);
}

// ---- Malformed Attribute List (1) ----------------------------------------

#[test]
fn withdrawn_routes_length_overrunning_the_message_is_malformed_attribute_list() {
    // RFC 4271 §6.3 / RFC 7606 §3 b: no data.
    let msg = message_from_body(&[0, 200, 24, 10, 0, 0, 0, 0]);
    let e = fatal(&msg, &MODERN);
    assert_fatal(&e, S::MalformedAttributeList, &[], 19);
    assert_eq!(e.action, Action::SessionReset);
}

#[test]
fn total_attribute_length_overrunning_the_message_is_malformed_attribute_list() {
    let msg = message_from_body(&[0, 0, 0, 50, 0x40, 1, 1, 0]);
    let e = fatal(&msg, &MODERN);
    assert_fatal(&e, S::MalformedAttributeList, &[], 21);
    assert_eq!(e.action, Action::SessionReset);
}

#[test]
fn a_repeated_mp_reach_or_mp_unreach_resets_the_session() {
    // RFC 7606 §3 g.
    let mp = mp_reach_v6(0x80);
    let msg = message(&[], &[origin(), as_path(), mp.clone(), mp.clone()], &[]);
    let e = fatal(&msg, &MODERN);
    assert_fatal(&e, S::MalformedAttributeList, &[], 23 + 4 + 9 + mp.len());
    assert_eq!(e.action, Action::SessionReset);
    let un = mp_unreach_v6();
    let msg = message(&[], &[un.clone(), un.clone()], &[]);
    let e = fatal(&msg, &MODERN);
    assert_fatal(&e, S::MalformedAttributeList, &[], 23 + un.len());
}

#[test]
fn a_repeated_attribute_is_discarded_and_the_first_kept() {
    // RFC 7606 §3 g: every occurrence but the first is discarded.
    let msg = message(
        &[],
        &[origin(), as_path(), next_hop(), attr(0x40, 1, &[2])],
        NLRI,
    );
    let u = parse(&msg, &MODERN).unwrap();
    assert_eq!(u.errors().len(), 1);
    assert_finding(
        &u.errors()[0],
        T::Origin,
        S::MalformedAttributeList,
        Action::AttributeDiscard,
        &[],
        AFTER_STANDARD,
    );
    assert_eq!(u.origin(), Some(Origin::Igp));
    assert!(!u.is_treat_as_withdraw());
    let usable: Vec<bool> = u.attributes().map(|a| a.usable).collect();
    assert_eq!(usable, [true, true, true, false]);
    // The owned form keeps the repeat, raw, in its place.
    let m = u.to_message();
    assert_eq!(m.attributes[0].value, AttributeValue::Origin(Origin::Igp));
    assert_eq!(
        m.attributes[3].value,
        AttributeValue::Raw {
            type_code: 1,
            value: vec![2]
        }
    );
}

#[test]
fn fewer_than_three_bytes_left_for_an_attribute_is_treat_as_withdraw() {
    // RFC 7606 §4: the NLRI is still found from the Total Path Attribute
    // Length.
    for tail in [vec![0x40, 1], vec![0x50, 1, 0]] {
        let mut attrs = standard();
        attrs.push(tail);
        let msg = message(&[], &attrs, NLRI);
        let u = parse(&msg, &MODERN).unwrap();
        assert_eq!(u.errors().len(), 1, "{:?}", u.errors());
        assert_finding(
            &u.errors()[0],
            T::Unknown(0),
            S::MalformedAttributeList,
            Action::TreatAsWithdraw,
            &[],
            AFTER_STANDARD,
        );
        assert_eq!(
            u.nlri().map(|n| n.prefix.to_string()).collect::<Vec<_>>(),
            ["10.0.0.0/24"]
        );
    }
}

// ---- Unrecognized Well-known Attribute (2) -------------------------------

#[test]
fn an_unrecognized_well_known_attribute_is_treat_as_withdraw() {
    // RFC 7606 does not name this case. The view treats it as withdraw, as
    // BIRD and FRR do: a mandatory attribute the route may depend on was not
    // understood, which is worse than a discard but no reason to drop the
    // session. The data is the attribute (RFC 4271 §6.3).
    let unknown = attr(0x40, 99, &[1, 2]);
    let mut attrs = standard();
    attrs.push(unknown.clone());
    let msg = message(&[], &attrs, NLRI);
    assert_finding(
        &finding(&msg, &MODERN),
        T::Unknown(99),
        S::UnrecognizedWellKnownAttribute,
        Action::TreatAsWithdraw,
        &unknown,
        AFTER_STANDARD,
    );
    // An unrecognized optional attribute is no error at all.
    let mut attrs = standard();
    attrs.push(attr(0xc0, 99, &[1, 2]));
    let msg = message(&[], &attrs, NLRI);
    assert_eq!(parse(&msg, &MODERN).unwrap().errors(), &[]);
}

// ---- Missing Well-known Attribute (3) -------------------------------------

#[test]
fn a_missing_well_known_attribute_is_treat_as_withdraw_with_its_type_as_data() {
    // RFC 7606 §3 d; RFC 4271 §6.3: the data is the missing type code. The
    // offset is the Total Path Attribute Length field.
    for (missing, t) in [(0, T::Origin), (1, T::AsPath), (2, T::NextHop)] {
        let mut attrs = standard();
        attrs.remove(missing);
        let msg = message(&[], &attrs, NLRI);
        let e = finding(&msg, &MODERN);
        assert_finding(
            &e,
            t,
            S::MissingWellKnownAttribute,
            Action::TreatAsWithdraw,
            &[u8::from(t)],
            21,
        );
        // The attributes that are there stay usable.
        let u = parse(&msg, &MODERN).unwrap();
        assert!(u.attributes().all(|a| a.usable));
    }
}

#[test]
fn next_hop_is_not_required_beside_mp_reach_only() {
    // RFC 4760 §3 makes NEXT_HOP discretionary for MP_REACH_NLRI-only
    // UPDATEs; ORIGIN and AS_PATH are still needed.
    let msg = message(&[], &[mp_reach_v6(0x80), origin(), as_path()], &[]);
    assert_eq!(parse(&msg, &MODERN).unwrap().errors(), &[]);
    let msg = message(&[], &[mp_reach_v6(0x80), as_path()], &[]);
    assert_finding(
        &finding(&msg, &MODERN),
        T::Origin,
        S::MissingWellKnownAttribute,
        Action::TreatAsWithdraw,
        &[1],
        21,
    );
}

#[test]
fn withdrawals_need_no_attributes() {
    let msg = message(NLRI, &[], &[]);
    assert_eq!(parse(&msg, &MODERN).unwrap().errors(), &[]);
    let msg = message(&[], &[mp_unreach_v6()], &[]);
    assert_eq!(parse(&msg, &MODERN).unwrap().errors(), &[]);
}

// ---- Attribute Flags Error (4) -------------------------------------------

#[test]
fn well_known_marked_optional_is_a_flags_error_and_treat_as_withdraw() {
    // RFC 7606 §3 c; data is the whole attribute (RFC 4271 §6.3).
    let bad = attr(0xc0, 1, &[0]);
    let msg = message(&[], &[bad.clone(), as_path(), next_hop()], NLRI);
    assert_finding(
        &finding(&msg, &MODERN),
        T::Origin,
        S::AttributeFlagsError,
        Action::TreatAsWithdraw,
        &bad,
        23,
    );
    // An optional attribute marked well-known (MULTI_EXIT_DISC).
    let bad = attr(0x40, 4, &[0, 0, 0, 1]);
    let mut attrs = standard();
    attrs.push(bad.clone());
    let msg = message(&[], &attrs, NLRI);
    assert_finding(
        &finding(&msg, &MODERN),
        T::MultiExitDisc,
        S::AttributeFlagsError,
        Action::TreatAsWithdraw,
        &bad,
        AFTER_STANDARD,
    );
}

#[test]
fn the_partial_bit_on_a_well_known_attribute_is_a_flags_error() {
    // RFC 4271 §4.3: Partial MUST be 0 on well-known attributes.
    let bad = attr(0x60, 2, &[2, 1, 0, 0, 0xfd, 0xe9]);
    let msg = message(&[], &[origin(), bad.clone(), next_hop()], NLRI);
    assert_finding(
        &finding(&msg, &MODERN),
        T::AsPath,
        S::AttributeFlagsError,
        Action::TreatAsWithdraw,
        &bad,
        27,
    );
    // On an optional transitive attribute the Partial bit is legitimate.
    let mut attrs = standard();
    attrs.push(attr(0xe0, 8, &[0xff, 0xff, 0xff, 0x01]));
    let msg = message(&[], &attrs, NLRI);
    assert_eq!(parse(&msg, &MODERN).unwrap().errors(), &[]);
}

#[test]
fn mp_reach_with_wrong_flags_disables_its_family() {
    // RFC 7606 §5.3: MP_REACH_NLRI flags other than RFC 4760's make it
    // incorrect; §3 j: session reset or AFI/SAFI disable.
    let mp = mp_reach_v6(0xc0);
    let msg = message(&[], &[mp.clone(), origin(), as_path()], &[]);
    let e = fatal(&msg, &MODERN);
    assert_fatal(&e, S::AttributeFlagsError, &mp, 23);
    assert_eq!(e.action, Action::AfiSafiDisable);
    assert_eq!(e.family, Some((Afi::Ipv6, Safi::Unicast)));
}

// ---- Attribute Length Error (5) ------------------------------------------

/// A message whose attribute of type `t` is `bad`, after the standard
/// attributes other than `t` (AS_PATH 2- or 4-octet per `ctx`); returns it
/// and the offset of `bad`.
fn with_bad(ctx: &Context, t: u8, bad: &[u8]) -> (Vec<u8>, usize) {
    let path = if ctx.four_octet_as {
        as_path()
    } else {
        attr(0x40, 2, &[2, 1, 0xfd, 0xe9])
    };
    let mut attrs: Vec<Vec<u8>> = [origin(), path, next_hop()]
        .into_iter()
        .filter(|a| a[1] != t)
        .collect();
    let offset = 23 + attrs.iter().map(Vec::len).sum::<usize>();
    attrs.push(bad.to_vec());
    (message(&[], &attrs, NLRI), offset)
}

#[test]
fn each_fixed_length_attribute_checks_its_length() {
    use Action::{AttributeDiscard as Discard, TreatAsWithdraw as Withdraw};
    // (session, attribute, flags, value, RFC 7606 approach and section)
    let cases: &[(Context, T, u8, &[u8], Action)] = &[
        (MODERN, T::Origin, 0x40, &[0, 0], Withdraw), // §7.1
        (MODERN, T::NextHop, 0x40, &[192, 0, 2, 1, 0], Withdraw), // §7.3
        (MODERN, T::MultiExitDisc, 0x80, &[0, 0, 1], Withdraw), // §7.4
        (MODERN, T::LocalPref, 0x40, &[0, 0, 0, 0, 100], Withdraw), // §7.5
        (MODERN, T::AtomicAggregate, 0x40, &[0], Discard), // §7.6
        (
            MODERN,
            T::Aggregator,
            0xc0,
            &[0xfd, 0xe9, 192, 0, 2, 1],
            Discard,
        ), // §7.7
        (
            OLD,
            T::Aggregator,
            0xc0,
            &[0, 0, 0xfd, 0xe9, 192, 0, 2, 1],
            Discard,
        ), // §7.7
        (MODERN, T::Communities, 0xc0, &[0, 0, 0, 1, 2], Withdraw), // §7.8
        (MODERN, T::Communities, 0xc0, &[], Withdraw), // §7.8
        (MODERN, T::OriginatorId, 0x80, &[1, 2, 3], Withdraw), // §7.9
        (MODERN, T::ClusterList, 0x80, &[1, 2, 3, 4, 5, 6], Withdraw), // §7.10
        (MODERN, T::ExtendedCommunities, 0xc0, &[0; 12], Withdraw), // §7.14
        (MODERN, T::LargeCommunities, 0xc0, &[0; 13], Withdraw), // RFC 8092 §6
        (OLD, T::As4Aggregator, 0xc0, &[0; 6], Discard), // RFC 6793 §6
    ];
    for &(ctx, t, flags, value, action) in cases {
        let bad = attr(flags, t.into(), value);
        let (msg, offset) = with_bad(&ctx, t.into(), &bad);
        let u = parse(&msg, &ctx).unwrap();
        assert_eq!(u.errors().len(), 1, "{t:?}: {:?}", u.errors());
        assert_finding(
            &u.errors()[0],
            t,
            S::AttributeLengthError,
            action,
            &bad,
            offset,
        );
        assert_eq!(u.action(), Some(action), "{t:?}");
        // A discarded or malformed attribute is not there for the reader.
        assert!(
            !u.attributes()
                .any(|a| a.type_code == u8::from(t) && a.usable)
        );
    }
}

#[test]
fn discarded_aggregators_and_atomic_aggregate_read_as_absent() {
    let (msg, _) = with_bad(&MODERN, 6, &attr(0x40, 6, &[0]));
    let u = parse(&msg, &MODERN).unwrap();
    assert!(!u.atomic_aggregate());
    assert!(!u.is_treat_as_withdraw());
    let (msg, _) = with_bad(&MODERN, 7, &attr(0xc0, 7, &[0; 6]));
    let u = parse(&msg, &MODERN).unwrap();
    assert_eq!(u.aggregator(), None);
    assert!(!u.is_treat_as_withdraw());
}

// ---- Invalid ORIGIN Attribute (6) ----------------------------------------

#[test]
fn an_undefined_origin_is_treat_as_withdraw() {
    // RFC 7606 §7.1; the data is the attribute (RFC 4271 §6.3).
    let bad = attr(0x40, 1, &[3]);
    let msg = message(&[], &[bad.clone(), as_path(), next_hop()], NLRI);
    assert_finding(
        &finding(&msg, &MODERN),
        T::Origin,
        S::InvalidOriginAttribute,
        Action::TreatAsWithdraw,
        &bad,
        23,
    );
}

// ---- Malformed AS_PATH (11) ----------------------------------------------

#[test]
fn a_malformed_as_path_is_treat_as_withdraw_without_data() {
    // RFC 7606 §7.2: unknown segment type, zero-length segment, overrun.
    for value in [
        &[5, 1, 0, 0, 0xfd, 0xe9][..],
        &[2, 0],
        &[2, 2, 0, 0, 0xfd, 0xe9],
        &[2, 1, 0, 0, 0xfd, 0xe9, 2],
    ] {
        let msg = message(&[], &[origin(), attr(0x40, 2, value), next_hop()], NLRI);
        assert_finding(
            &finding(&msg, &MODERN),
            T::AsPath,
            S::MalformedAsPath,
            Action::TreatAsWithdraw,
            &[],
            27,
        );
    }
    // A 4-octet path read on a 2-octet session does not line up.
    let msg = message(
        &[],
        &[
            origin(),
            attr(0x40, 2, &[2, 2, 0, 0, 0xfd, 0xe9, 1]),
            next_hop(),
        ],
        NLRI,
    );
    assert_eq!(finding(&msg, &OLD).code, update_error(S::MalformedAsPath));
}

#[test]
fn a_malformed_as4_path_on_a_two_octet_session_is_discarded() {
    // RFC 6793 §6 / RFC 7606 §7: attribute discard; the route keeps its
    // AS_PATH.
    let two_octet_path = attr(0x40, 2, &[2, 2, 0x5b, 0xa0, 0xfd, 0xea]);
    for as4 in [
        attr(0xc0, 17, &[2, 2, 0, 0, 0, 1]),
        attr(0xc0, 17, &[7, 1, 0, 0, 0, 1]),
        attr(0xc0, 17, &[]),
    ] {
        let msg = message(
            &[],
            &[origin(), two_octet_path.clone(), next_hop(), as4.clone()],
            NLRI,
        );
        let u = parse(&msg, &OLD).unwrap();
        assert_eq!(u.errors().len(), 1);
        assert_finding(
            &u.errors()[0],
            T::As4Path,
            S::OptionalAttributeError,
            Action::AttributeDiscard,
            &as4,
            AFTER_STANDARD,
        );
        assert_eq!(u.as_path().unwrap().to_string(), "23456 65002");
    }
    // Confederation segments in AS4_PATH are dropped, the rest is merged
    // (RFC 6793 §6).
    let mut v = vec![3, 1, 0xfa, 0x56, 0xea, 0x09];
    v.extend_from_slice(&[2, 2, 0xfa, 0x56, 0xea, 0x01, 0, 0, 0xfd, 0xea]);
    let msg = message(
        &[],
        &[origin(), two_octet_path, next_hop(), attr(0xc0, 17, &v)],
        NLRI,
    );
    let u = parse(&msg, &OLD).unwrap();
    assert_eq!(u.errors(), &[]);
    assert_eq!(u.as_path().unwrap().to_string(), "4200000001 65002");
}

// ---- Invalid Network Field (10) ------------------------------------------

#[test]
fn bad_nlri_resets_the_session_with_invalid_network_field() {
    // RFC 7606 §5.3 / §3 j; RFC 4271 §6.3 defines no data.
    let cases: &[(&[u8], &[u8], usize)] = &[
        // Prefix length 33.
        (&[], &[33, 10, 0, 0, 0, 0], AFTER_STANDARD),
        // Last prefix truncated.
        (&[], &[24, 10, 0], AFTER_STANDARD),
        // The second entry is the bad one.
        (&[], &[24, 10, 0, 0, 25, 10, 0, 1], AFTER_STANDARD + 4),
    ];
    for &(withdrawn, nlri, offset) in cases {
        let msg = message(withdrawn, &standard(), nlri);
        let e = fatal(&msg, &MODERN);
        assert_fatal(&e, S::InvalidNetworkField, &[], offset);
        assert_eq!(e.action, Action::SessionReset);
    }
    // A truncated Withdrawn Routes field (RFC 7606 §3 i).
    let msg = message(&[24, 10, 0], &[], &[]);
    assert_fatal(&fatal(&msg, &MODERN), S::InvalidNetworkField, &[], 21);
    // A truncated path identifier with ADD-PATH.
    let ctx = Context {
        add_path: bgp_proto::Families::IPV4_UNICAST,
        ..MODERN
    };
    let msg = message(&[0, 0, 1], &[], &[]);
    assert_fatal(&fatal(&msg, &ctx), S::InvalidNetworkField, &[], 21);
}

/// RFC 7606 §5.3 through the lazy path: `decode_lazy` accepts the
/// message, the iterator yields the well-formed entries before the
/// malformed one, then `decode`'s error (the session reset), then nothing.
#[test]
fn the_lazy_path_reports_bad_nlri_where_the_iterator_meets_it() {
    let v4 = |a: [u8; 4], len| Nlri::new(Prefix::V4(u32::from_be_bytes(a), len));
    let nlri = [
        24, 10, 0, 0, 25, 10, 0, 1, 0x80, 16, 10, 1, 33, 10, 0, 0, 0, 0,
    ];
    let msg = message(&[16, 10, 9], &standard(), &nlri);
    let u = lazy(&msg, &MODERN).expect("only an NLRI entry is malformed");
    let e = fatal(&msg, &MODERN);
    assert_fatal(&e, S::InvalidNetworkField, &[], AFTER_STANDARD + 3 + 12);
    assert_eq!(e.action, Action::SessionReset);
    // The Withdrawn Routes field is fine.
    let withdrawn: Vec<_> = u.withdrawn().collect();
    assert_eq!(withdrawn, [Ok(v4([10, 9, 0, 0], 16))]);
    let mut announced = u.announced();
    assert_eq!(announced.next(), Some(Ok(v4([10, 0, 0, 0], 24))));
    assert_eq!(announced.next(), Some(Ok(v4([10, 0, 1, 128], 25))));
    assert_eq!(announced.next(), Some(Ok(v4([10, 1, 0, 0], 16))));
    assert_eq!(announced.next(), Some(Err(e.clone())));
    assert_eq!(announced.next(), None);
    assert_eq!(announced.next(), None);
    // A caller that read only the withdrawn routes learns of it from
    // `check`.
    assert_eq!(u.check(), Err(e));

    // MP_REACH_NLRI (IPv6): the error disables the family, as `decode`
    // says; the entries before it come out first.
    let mut v = vec![0, 2, 1, 16, 0x20, 0x01, 0x0d, 0xb8];
    v.extend_from_slice(&[0; 12]);
    // Reserved octet, 2001:db8::/32, then a /129.
    v.extend_from_slice(&[0, 32, 0x20, 0x01, 0x0d, 0xb8, 129, 0xff]);
    let mp = attr(0x80, 14, &v);
    let msg = message(&[], &[origin(), as_path(), mp.clone()], &[]);
    let e = fatal(&msg, &MODERN);
    // Attribute at 36, value at 39, NLRI at 60, the /129 at 65.
    assert_fatal(&e, S::OptionalAttributeError, &mp, 65);
    assert_eq!(e.family, Some((Afi::Ipv6, Safi::Unicast)));
    let u = lazy(&msg, &MODERN).unwrap();
    let announced: Vec<_> = u.announced().collect();
    let first = Prefix::V6(0x2001_0db8 << 96, 32);
    assert_eq!(announced, [Ok(Nlri::new(first)), Err(e)]);

    // A truncated path identifier in MP_UNREACH_NLRI with ADD-PATH.
    let ctx = Context {
        add_path: bgp_proto::Families::IPV6_UNICAST,
        ..MODERN
    };
    let un = attr(0x80, 15, &[0, 2, 1, 0, 0, 0, 7, 0, 0, 0, 0]);
    let msg = message(&[8, 10], std::slice::from_ref(&un), &[]);
    let e = fatal(&msg, &ctx);
    assert_fatal(&e, S::OptionalAttributeError, &un, 23 + 2 + 3 + 3 + 5);
    let u = lazy(&msg, &ctx).unwrap();
    let withdrawn: Vec<_> = u.withdrawn().collect();
    let default = Nlri {
        path_id: Some(7),
        prefix: Prefix::V6(0, 0),
    };
    assert_eq!(withdrawn, [Ok(v4([10, 0, 0, 0], 8)), Ok(default), Err(e)]);
}

/// The first error of a message with two is `decode`'s on the lazy path
/// too, although the lazy path checks the attributes first: a repeated
/// MP_REACH_NLRI (Malformed Attribute List) after a malformed NLRI field
/// (Invalid Network Field, found first by `decode`).
#[test]
fn the_lazy_path_gives_decodes_first_error_of_two() {
    let msg = message(
        &[],
        &[
            origin(),
            as_path(),
            next_hop(),
            mp_reach_v6(0x80),
            mp_reach_v6(0x80),
        ],
        &[24, 10, 0],
    );
    let e = fatal(&msg, &MODERN);
    assert_fatal(&e, S::InvalidNetworkField, &[], AFTER_STANDARD + 2 * 29);
    assert_eq!(lazy(&msg, &MODERN), Err(e));
}

// ---- Optional Attribute Error (9): MP_REACH_NLRI / MP_UNREACH_NLRI ------

#[test]
fn mp_reach_with_a_bad_next_hop_length_disables_its_family() {
    // RFC 7606 §7.11; data is the attribute (RFC 4271 §6.3).
    let mp = attr(
        0x80,
        14,
        &[0, 2, 1, 4, 192, 0, 2, 1, 0, 32, 0x20, 0x01, 0x0d, 0xb8],
    );
    let msg = message(&[], &[mp.clone(), origin(), as_path()], &[]);
    let e = fatal(&msg, &MODERN);
    // Offset of the next hop length octet.
    assert_fatal(&e, S::OptionalAttributeError, &mp, 23 + 3 + 3);
    assert_eq!(e.action, Action::AfiSafiDisable);
    assert_eq!(e.family, Some((Afi::Ipv6, Safi::Unicast)));
}

#[test]
fn mp_nlri_that_does_not_parse_disables_the_family() {
    // RFC 7606 §5.3: NLRI overrunning the attribute, or too long a prefix.
    let mut v = vec![0, 2, 1, 16];
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    v.extend_from_slice(&[0; 12]);
    v.push(0);
    v.extend_from_slice(&[64, 0x20, 0x01]);
    let mp = attr(0x80, 14, &v);
    let msg = message(&[], &[mp.clone(), origin(), as_path()], &[]);
    let e = fatal(&msg, &MODERN);
    assert_fatal(&e, S::OptionalAttributeError, &mp, 23 + 3 + v.len() - 3);
    assert_eq!(
        (e.action, e.family),
        (Action::AfiSafiDisable, Some((Afi::Ipv6, Safi::Unicast)))
    );
    let un = attr(0x80, 15, &[0, 2, 1, 129, 0x20]);
    let msg = message(&[], std::slice::from_ref(&un), &[]);
    let e = fatal(&msg, &MODERN);
    assert_fatal(&e, S::OptionalAttributeError, &un, 23 + 3 + 3);
    assert_eq!(
        (e.action, e.family),
        (Action::AfiSafiDisable, Some((Afi::Ipv6, Safi::Unicast)))
    );
}

#[test]
fn mp_attributes_too_short_for_their_family_reset_the_session() {
    // RFC 7606 §5.3: MP_UNREACH_NLRI shorter than 3, MP_REACH_NLRI shorter
    // than 5. Without a readable AFI/SAFI there is no family to disable.
    let un = attr(0x80, 15, &[0, 2]);
    let e = fatal(&message(&[], std::slice::from_ref(&un), &[]), &MODERN);
    assert_fatal(&e, S::OptionalAttributeError, &un, 23 + 3);
    assert_eq!((e.action, e.family), (Action::SessionReset, None));
    let mp = attr(0x80, 14, &[0, 2, 1, 0]);
    let e = fatal(&message(&[], std::slice::from_ref(&mp), &[]), &MODERN);
    assert_eq!(e.code, update_error(S::OptionalAttributeError));
    assert_eq!(e.data, mp);
    assert_eq!(e.family, Some((Afi::Ipv6, Safi::Unicast)));
}

// ---- RFC 7606 §4: lengths that disagree ----------------------------------

#[test]
fn an_attribute_overrunning_the_attribute_field_is_treat_as_withdraw() {
    // COMMUNITIES says 8 bytes, the Total Path Attribute Length leaves 4:
    // treat-as-withdraw, and the NLRI is found from the Total Path
    // Attribute Length (RFC 7606 §4).
    let mut attrs = standard().concat();
    let partial = [0xc0, 8, 8, 0, 0, 0, 1];
    attrs.extend_from_slice(&partial);
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(NLRI);
    let msg = message_from_body(&body);
    let u = parse(&msg, &MODERN).unwrap();
    assert_eq!(u.errors().len(), 1);
    assert_finding(
        &u.errors()[0],
        T::Communities,
        S::AttributeLengthError,
        Action::TreatAsWithdraw,
        &partial,
        AFTER_STANDARD,
    );
    assert_eq!(
        u.nlri().map(|n| n.prefix.to_string()).collect::<Vec<_>>(),
        ["10.0.0.0/24"]
    );
    assert_eq!(u.origin(), Some(Origin::Igp));
}

#[test]
fn an_mp_attribute_overrunning_the_attribute_field_resets_the_session() {
    // Its NLRI cannot be found, so it cannot be treated as withdrawn.
    let mp = mp_reach_v6(0x80);
    let mut attrs = [origin(), as_path()].concat();
    attrs.extend_from_slice(&mp[..mp.len() - 4]);
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    let msg = message_from_body(&body);
    let e = fatal(&msg, &MODERN);
    assert_fatal(&e, S::AttributeLengthError, &mp[..mp.len() - 4], 36);
    assert_eq!(e.action, Action::SessionReset);
}

// ---- RFC 7606 §5.2: nothing to withdraw -----------------------------------

#[test]
fn a_withdraw_only_update_with_a_malformed_attribute_resets_the_session() {
    // Attributes other than MP_UNREACH_NLRI and no reachable NLRI: an error
    // stronger than attribute discard resets the session (RFC 7606 §5.2),
    // with the NOTIFICATION of that error.
    let bad = attr(0x40, 1, &[0, 0]);
    let msg = message(NLRI, &[bad.clone(), as_path()], &[]);
    let e = fatal(&msg, &MODERN);
    // After the 4-byte Withdrawn Routes field.
    assert_fatal(&e, S::AttributeLengthError, &bad, 27);
    assert_eq!(e.action, Action::SessionReset);
    // ExaBGP's shape: ORIGIN and AS_PATH beside MP_UNREACH_NLRI.
    let msg = message(&[], &[mp_unreach_v6(), bad.clone(), as_path()], &[]);
    let e = fatal(&msg, &MODERN);
    assert_fatal(
        &e,
        S::AttributeLengthError,
        &bad,
        23 + mp_unreach_v6().len(),
    );
    // Attribute discard is still just that.
    let msg = message(NLRI, &[attr(0x40, 6, &[0])], &[]);
    let u = parse(&msg, &MODERN).unwrap();
    assert_eq!(u.action(), Some(Action::AttributeDiscard));
}

#[test]
fn the_strongest_approach_wins() {
    // RFC 7606 §3 h: a discard and a treat-as-withdraw make treat-as-withdraw.
    let mut attrs = standard();
    attrs.push(attr(0x80, 4, &[0, 1]));
    attrs.push(attr(0xc0, 7, &[0; 3]));
    let msg = message(&[], &attrs, NLRI);
    let u = parse(&msg, &MODERN).unwrap();
    let actions: Vec<Action> = u.errors().iter().map(|e| e.action).collect();
    assert_eq!(actions, [Action::TreatAsWithdraw, Action::AttributeDiscard]);
    assert_eq!(u.action(), Some(Action::TreatAsWithdraw));
    assert!(u.is_treat_as_withdraw());
    // The prefixes are still readable, to be withdrawn.
    assert_eq!(u.announced().count(), 1);
}

// ---- End-of-RIB (RFC 4724 §2) ---------------------------------------------

#[test]
fn end_of_rib_is_recognised_for_both_families() {
    let msg = message(&[], &[], &[]);
    assert_eq!(
        parse(&msg, &MODERN).unwrap().end_of_rib(),
        Some((Afi::Ipv4, Safi::Unicast))
    );
    let msg = message(&[], &[attr(0x80, 15, &[0, 2, 1])], &[]);
    assert_eq!(
        parse(&msg, &MODERN).unwrap().end_of_rib(),
        Some((Afi::Ipv6, Safi::Unicast))
    );
    // As BIRD, FRR and GoBGP send it (one-byte length) and as ExaBGP does
    // (extended length).
    for bytes in [
        &include_bytes!("vectors/bird-update-s2-eor-ipv6.bin")[..],
        &include_bytes!("vectors/exabgp-update-s4-eor-ipv6.bin")[..],
    ] {
        assert_eq!(
            parse(bytes, &MODERN).unwrap().end_of_rib(),
            Some((Afi::Ipv6, Safi::Unicast))
        );
    }
    assert_eq!(
        parse(
            include_bytes!("vectors/gobgp-update-s3-eor-ipv4.bin"),
            &MODERN
        )
        .unwrap()
        .end_of_rib(),
        Some((Afi::Ipv4, Safi::Unicast))
    );
    // A withdrawal, an announcement, or an MP_UNREACH_NLRI with prefixes is
    // not one.
    for msg in [
        message(&[], &[mp_unreach_v6()], &[]),
        message(NLRI, &[], &[]),
        message(&[], &standard(), NLRI),
    ] {
        assert_eq!(parse(&msg, &MODERN).unwrap().end_of_rib(), None);
    }
}
