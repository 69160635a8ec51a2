//! Reading what the kernel sends: datagrams into messages, and the route,
//! address and nexthop messages the kernel module acts on.

use super::*;

/// One message of a datagram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message<'a> {
    /// `nlmsg_seq`: the request's sequence number.
    pub sequence: u32,
    /// `nlmsg_pid`: in a notification, the port of the socket whose request
    /// caused it (0 for the kernel's own changes).
    pub port: u32,
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nlmsg_flags` (a notification of a replace carries `NLM_F_REPLACE`).
    pub flags: u16,
    /// The payload after the header.
    pub payload: &'a [u8],
}

/// Splits a datagram into its messages; stops at the first malformed
/// header.
pub(crate) fn messages(mut data: &[u8]) -> impl Iterator<Item = Message<'_>> {
    std::iter::from_fn(move || {
        // The end of a datagram is the common case: checked here, because
        // the library formats an error message for it.
        let length = u32::from_ne_bytes(data.get(..4)?.try_into().ok()?) as usize;
        if length < 16 || length > data.len() {
            return None;
        }
        let buffer = NetlinkBuffer::new_checked(data).ok()?;
        let length = usize::try_from(buffer.length()).ok()?;
        let item = Message {
            sequence: buffer.sequence_number(),
            port: buffer.port_number(),
            kind: buffer.message_type(),
            flags: buffer.flags(),
            payload: buffer.payload(),
        };
        // Messages are 4-byte aligned within a datagram.
        let next = length.div_ceil(4) * 4;
        data = data.get(next..).unwrap_or(&[]);
        Some(item)
    })
}

fn route_address(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// Parses an `RTM_NEWROUTE`/`RTM_DELROUTE` payload; `None` for families and
/// shapes we never install (MPLS, source routes, bad lengths).
pub fn parse_route(payload: &[u8]) -> Option<KernelRoute> {
    let message = RouteMessage::parse(payload).ok()?;
    let header = &message.header;
    let v4 = match header.address_family {
        AddressFamily::Inet => true,
        AddressFamily::Inet6 => false,
        _ => return None,
    };
    if header.source_prefix_length != 0 {
        return None;
    }
    let mut table = u32::from(header.table);
    let mut metric = 0;
    let mut destination = None;
    let mut gateways = Vec::new();
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Destination(d) => destination = route_address(d),
            RouteAttribute::Gateway(g) => gateways.extend(route_address(g)),
            RouteAttribute::MultiPath(hops) => {
                for hop in hops {
                    for a in &hop.attributes {
                        if let RouteAttribute::Gateway(g) = a {
                            gateways.extend(route_address(g));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let unspecified = if v4 {
        IpAddr::from([0u8; 4])
    } else {
        IpAddr::from([0u8; 16])
    };
    let prefix = Prefix::new(
        destination.unwrap_or(unspecified),
        header.destination_prefix_length,
    )
    .ok()?;
    Some(KernelRoute {
        key: RouteKey {
            table,
            prefix,
            metric,
        },
        protocol: u8::from(header.protocol),
        unicast: header.kind == RouteType::Unicast,
        gateways,
        tos: header.tos,
    })
}

/// Parses an `RTM_NEWNEXTHOP`/`RTM_DELNEXTHOP` payload into (protocol, id).
pub fn parse_nexthop(payload: &[u8]) -> Option<(u8, u32)> {
    let protocol = *payload.get(2)?;
    let mut at = 8;
    while let Some(header) = payload.get(at..at + 4) {
        let len = usize::from(u16::from_ne_bytes([header[0], header[1]]));
        let kind = u16::from_ne_bytes([header[2], header[3]]) & 0x3fff;
        if len < 4 {
            return None;
        }
        if kind == NHA_ID {
            let value = payload.get(at + 4..at + 8)?;
            return Some((protocol, u32::from_ne_bytes(value.try_into().ok()?)));
        }
        at += len.div_ceil(4) * 4;
    }
    None
}

/// Parses an `RTM_NEWADDR`/`RTM_DELADDR` payload.
pub fn parse_address(payload: &[u8]) -> Option<InterfaceAddress> {
    let message = AddressMessage::parse(payload).ok()?;
    // IFA_LOCAL is the interface's own address on point-to-point links,
    // where IFA_ADDRESS is the peer's; elsewhere they are equal.
    let mut local = None;
    let mut address = None;
    for a in &message.attributes {
        match a {
            AddressAttribute::Local(l) => local = Some(*l),
            AddressAttribute::Address(l) => address = Some(*l),
            _ => {}
        }
    }
    Some(InterfaceAddress {
        index: message.header.index,
        address: local.or(address)?,
        prefix_len: message.header.prefix_len,
    })
}
