//! The route monitor: a tokio task reading route and address notifications
//! and handing the installer the ones it must act on. Notifications caused
//! by our own requests carry our port id and are skipped unparsed, so a
//! full-table install costs the monitor one header check per route.

use std::io;
use std::sync::Arc;

use netlink_packet_core::NLM_F_REPLACE;
use netlink_sys::Socket;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;
use tracing::{error, warn};

use super::netlink::{
    RTM_DELADDR, RTM_DELNEXTHOP, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE, messages,
    parse_nexthop, parse_route,
};
use super::{MonitorEvent, Shared};

/// Datagrams read per wake before yielding to other tasks.
const READS_PER_WAKE: usize = 1024;

/// What the monitor looks for.
#[derive(Debug, Clone)]
pub(crate) struct Watch {
    /// Port ids of the installer's sockets: their changes are not events.
    pub own_ports: [u32; 2],
    /// Our `rtm_protocol`.
    pub protocol: u8,
    /// Tables we write to.
    pub tables: Vec<u32>,
    /// Metrics we write with (a foreign route elsewhere cannot collide).
    pub metrics: Vec<u32>,
}

impl Watch {
    /// The event a notification means, if any.
    pub(crate) fn classify(
        &self,
        port: u32,
        kind: u16,
        flags: u16,
        payload: &[u8],
    ) -> Option<MonitorEvent> {
        if self.own_ports.contains(&port) {
            return None;
        }
        match kind {
            RTM_NEWADDR | RTM_DELADDR => Some(MonitorEvent::AddressesChanged),
            RTM_NEWLINK => Some(MonitorEvent::LinkChanged),
            RTM_DELNEXTHOP => match parse_nexthop(payload)? {
                (protocol, id) if protocol == self.protocol => {
                    Some(MonitorEvent::NexthopDeleted(id))
                }
                _ => None,
            },
            RTM_NEWROUTE | RTM_DELROUTE => {
                let route = parse_route(payload)?;
                if !route.unicast || route.tos != 0 || !self.tables.contains(&route.key.table) {
                    return None;
                }
                if route.protocol == self.protocol {
                    // Added with our protocol by someone else (by hand, or
                    // another instance): not ours to track.
                    return (kind == RTM_DELROUTE).then_some(MonitorEvent::OursDeleted(route.key));
                }
                if !self.metrics.contains(&route.key.metric) {
                    return None;
                }
                Some(if kind == RTM_NEWROUTE {
                    MonitorEvent::ForeignAdded {
                        key: route.key,
                        replaced: flags & NLM_F_REPLACE != 0,
                    }
                } else {
                    MonitorEvent::ForeignDeleted(route.key)
                })
            }
            _ => None,
        }
    }
}

/// Runs until `stop` fires (or is dropped).
pub(crate) async fn run(
    socket: Socket,
    watch: Watch,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    // SAFETY: the netlink socket owns its descriptor, closes it only when
    // dropped (which the AsyncFd does last), and always reports the same one.
    let fd = match unsafe { AsyncFd::register(socket) } {
        Ok(fd) => fd,
        Err(e) => {
            error!(error = %e, "route monitor cannot start: deleted pinned routes will only be noticed every 30 s");
            return;
        }
    };
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let mut guard = tokio::select! {
            _ = &mut stop => return,
            ready = fd.readable() => match ready {
                Ok(guard) => guard,
                Err(e) => {
                    error!(error = %e, "route monitor failed");
                    return;
                }
            },
        };
        for _ in 0..READS_PER_WAKE {
            let read = guard.try_io(|inner| inner.get_ref().recv(&mut &mut buffer[..], 0));
            match read {
                Ok(Ok(n)) => {
                    for m in messages(&buffer[..n.min(buffer.len())]) {
                        if let Some(event) = watch.classify(m.port, m.kind, m.flags, m.payload) {
                            shared.push_event(event);
                        }
                    }
                }
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // Notifications were dropped: we cannot know which.
                    shared.push_overrun();
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => {
                    warn!(error = %e, "route monitor read failed");
                    break;
                }
                Err(_would_block) => break,
            }
        }
        drop(guard);
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::netlink::{RouteKey, TABLE_MAIN};
    use bgp_proto::Prefix;

    fn watch() -> Watch {
        Watch {
            own_ports: [42, 43],
            protocol: 196,
            tables: vec![TABLE_MAIN],
            metrics: vec![20],
        }
    }

    /// The payload of a route notification, made with our own encoder.
    fn route(protocol: u8, prefix: &str, metric: u32) -> Vec<u8> {
        use netlink_packet_core::Emitable;
        use netlink_packet_route::route::{
            RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteType,
        };
        let prefix: Prefix = prefix.parse().unwrap();
        let mut m = RouteMessage::default();
        m.header.address_family = netlink_packet_route::AddressFamily::Inet;
        m.header.destination_prefix_length = prefix.len();
        m.header.table = 254;
        m.header.protocol = RouteProtocol::from(protocol);
        m.header.kind = RouteType::Unicast;
        m.attributes = vec![
            RouteAttribute::Destination(RouteAddress::from(prefix.addr())),
            RouteAttribute::Priority(metric),
        ];
        let mut out = vec![0; m.buffer_len()];
        m.emit(&mut out);
        out
    }

    fn key(prefix: &str, metric: u32) -> RouteKey {
        RouteKey {
            table: TABLE_MAIN,
            prefix: prefix.parse().unwrap(),
            metric,
        }
    }

    #[test]
    fn classifies_notifications() {
        let w = watch();
        let ours = route(196, "0.0.0.0/0", 20);
        let foreign = route(4, "192.0.2.0/24", 20);
        // Our own requests are never events.
        assert_eq!(w.classify(42, RTM_DELROUTE, 0, &ours), None);
        assert_eq!(w.classify(43, RTM_DELROUTE, 0, &foreign), None);
        assert_eq!(
            w.classify(7, RTM_DELROUTE, 0, &ours),
            Some(MonitorEvent::OursDeleted(key("0.0.0.0/0", 20)))
        );
        assert_eq!(w.classify(7, RTM_NEWROUTE, 0, &ours), None);
        assert_eq!(
            w.classify(0, RTM_NEWROUTE, NLM_F_REPLACE, &foreign),
            Some(MonitorEvent::ForeignAdded {
                key: key("192.0.2.0/24", 20),
                replaced: true
            })
        );
        assert_eq!(
            w.classify(0, RTM_DELROUTE, 0, &foreign),
            Some(MonitorEvent::ForeignDeleted(key("192.0.2.0/24", 20)))
        );
        // Another metric cannot collide with ours.
        assert_eq!(
            w.classify(0, RTM_NEWROUTE, 0, &route(4, "192.0.2.0/24", 0)),
            None
        );
        assert_eq!(
            w.classify(0, RTM_NEWADDR, 0, &[]),
            Some(MonitorEvent::AddressesChanged)
        );
        assert_eq!(w.classify(0, RTM_NEWROUTE, 0, &[1, 2]), None);
    }
}
