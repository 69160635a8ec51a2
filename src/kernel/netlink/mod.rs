//! The rtnetlink layer: sockets, batched route requests with the outcome
//! of every one checked, and the few dumps the kernel module needs.
//!
//! Why not the `rtnetlink` crate: its request handles send one message and
//! await its answer through a connection task, so a million routes cost a
//! million channel round trips and as many `sendmsg` calls. Installing a
//! full table fast needs many requests per `sendmsg` (the kernel handles
//! every message of one `sendmsg` before it returns) and acknowledgements
//! matched back to their request by sequence number. That is this file:
//! only the last request of a `sendmsg` asks for an acknowledgement (the
//! kernel answers a failed request whether asked or not, and answers the
//! requests of one `sendmsg` in order, so once the last one is answered,
//! every request before it without an answer succeeded); an
//! acknowledgement per route costs the kernel a socket buffer each, about
//! a third of its time on a full-table install.
//! `netlink-sys` for the socket, `netlink-packet-route` to parse what the
//! kernel sends and to build the rare dump requests; the route requests
//! themselves (a fixed header and four attributes) are written straight
//! into the send buffer, and the tests parse each shape back with
//! `netlink-packet-route`.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use bgp_proto::Prefix;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NLMSG_DONE,
    NLMSG_ERROR, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, Parseable,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::Socket;
use netlink_sys::protocols::NETLINK_ROUTE;

mod parse;

pub(crate) use parse::messages;
pub use parse::{parse_address, parse_nexthop, parse_route};

/// `RTM_NEWROUTE` and friends (linux/rtnetlink.h).
pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_DELADDR: u16 = 21;
pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_DELROUTE: u16 = 25;

/// `RT_TABLE_MAIN`.
pub const TABLE_MAIN: u32 = 254;

const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;
const RTN_UNICAST: u8 = 1;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_NOWHERE: u8 = 255;
const RTA_DST: u16 = 1;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_NH_ID: u16 = 30;
/// Nexthop objects (linux/nexthop.h, Linux 5.3+).
pub(crate) const RTM_NEWNEXTHOP: u16 = 104;
pub(crate) const RTM_DELNEXTHOP: u16 = 105;
const RTM_GETNEXTHOP: u16 = 106;
const NHA_ID: u16 = 1;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;

/// Appends a route attribute (struct rtattr), padded to 4 bytes.
fn push_attribute(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    // Values here are at most 16 bytes; the multipath length is patched.
    let len = (4 + value.len()) as u16;
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().div_ceil(4) * 4, 0);
}

fn push_address(out: &mut Vec<u8>, kind: u16, address: IpAddr) {
    match address {
        IpAddr::V4(a) => push_attribute(out, kind, &a.octets()),
        IpAddr::V6(a) => push_attribute(out, kind, &a.octets()),
    }
}

/// Requests per `sendmsg`. Every acknowledgement is its own socket buffer
/// in our receive queue (about 1 KiB of accounting each); the batch must fit
/// the receive buffer or acknowledgements are dropped (`ENOBUFS`).
const BATCH_MAX: usize = 1024;
/// Bytes per `sendmsg`; well under the default `wmem_max`, which caps a
/// netlink datagram (`EMSGSIZE` beyond the send buffer).
const BATCH_BYTES: usize = 96 * 1024;
/// Receive buffer asked for with `SO_RCVBUFFORCE` (root, or
/// `CAP_NET_ADMIN`, which installing routes needs anyway).
const RECEIVE_BUFFER: usize = 8 << 20;
/// How long to wait for the kernel's acknowledgements before giving up on
/// a batch; the kernel answers within the `sendmsg` call, so this only
/// fires when acknowledgements were lost.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// What identifies a route to the kernel: table, destination and metric
/// (TOS is always 0 here). Two routes with the same key cannot both be
/// used; `NLM_F_REPLACE` overwrites whichever has the key, of any protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    /// Routing table.
    pub table: u32,
    /// Destination.
    pub prefix: Prefix,
    /// `RTA_PRIORITY`.
    pub metric: u32,
}

/// How a route is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `NLM_F_CREATE | NLM_F_EXCL`: fails with `EEXIST` when any route, ours
    /// or not, holds the key. Used whenever we do not know the key is ours.
    Create,
    /// `NLM_F_CREATE | NLM_F_REPLACE`: overwrites the route with the key in
    /// place (no moment without a route). Only for keys we installed.
    Replace,
    /// `RTM_DELROUTE` restricted to our protocol, so a foreign route with the
    /// same key is never removed.
    Delete,
}

/// One route request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// What to do.
    pub write: Write,
    /// Which route.
    pub key: RouteKey,
    /// Gateways (one: `RTA_GATEWAY`; several: `RTA_MULTIPATH`); ignored
    /// for deletes and when `nexthop` is set.
    pub gateways: &'a [IpAddr],
    /// A kernel nexthop object to use instead of `gateways` (`RTA_NH_ID`).
    pub nexthop: Option<u32>,
}

/// A route read from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    /// Table, destination, metric.
    pub key: RouteKey,
    /// `rtm_protocol`.
    pub protocol: u8,
    /// Unicast routes only are ours; others (local, broadcast) are skipped.
    pub unicast: bool,
    /// Gateways, single or multipath.
    pub gateways: Vec<IpAddr>,
    /// TOS (routes with a TOS never collide with ours).
    pub tos: u8,
}

/// An address of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// Interface index.
    pub index: u32,
    /// The address.
    pub address: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
}

impl InterfaceAddress {
    /// The subnet the address is on.
    pub fn subnet(&self) -> Option<Prefix> {
        Prefix::new(self.address, self.prefix_len).ok()
    }
}

/// The outcome of one request: `Ok` or the errno the kernel answered.
pub type Outcome = Result<(), i32>;

/// A netlink socket for requests (not subscribed to any group).
pub struct RouteSocket {
    socket: Socket,
    port: u32,
    encoder: Encoder,
    /// Single requests and dumps.
    send: Vec<u8>,
    /// Route requests of [`RouteSocket::execute`].
    encoded: Encoded,
    receive: Vec<u8>,
    acks: AckReceiver,
    /// Per request of the batch in flight: answered yet.
    answered: Vec<bool>,
}

/// Route requests encoded for the kernel and cut into `sendmsg`-sized
/// batches, the last request of each asking for an acknowledgement. Made
/// by an [`Encoder`] and sent by [`RouteSocket::transmit`], possibly on
/// another thread: the installer encodes the next round while a writer
/// thread waits for the kernel to take this one.
#[derive(Debug, Default)]
pub struct Encoded {
    bytes: Vec<u8>,
    batches: Vec<Batch>,
}

/// One `sendmsg` worth of an [`Encoded`].
#[derive(Debug, Clone, Copy)]
struct Batch {
    /// Where its bytes end (they start where the previous batch's end).
    end: usize,
    /// Sequence number of its first request; the rest follow.
    base: u32,
    count: usize,
}

impl Encoded {
    /// Requests encoded.
    pub fn len(&self) -> usize {
        self.batches.iter().map(|b| b.count).sum()
    }

    /// True when nothing is encoded.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

/// Numbers and writes route requests for one socket. Sequence numbers need
/// only be unique among the requests in flight on that socket, so each
/// socket's requests come from one encoder.
#[derive(Debug)]
pub struct Encoder {
    protocol: u8,
    sequence: u32,
}

/// Adds `NLM_F_ACK` to the request encoded at `start` of `out`.
fn request_ack(out: &mut [u8], start: usize) {
    // nlmsg_flags: after the 4-byte length and the 2-byte type.
    if let Some(flags) = out.get_mut(start + 6..start + 8) {
        let with_ack = u16::from_ne_bytes([flags[0], flags[1]]) | NLM_F_ACK;
        flags.copy_from_slice(&with_ack.to_ne_bytes());
    }
}

/// Sends one datagram; kernel memory pressure is retried a few times,
/// bounded, then reported.
fn send_all(socket: &Socket, bytes: &[u8]) -> io::Result<()> {
    let mut attempts = 0;
    loop {
        match socket.send(bytes, 0) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if attempts < 50
                    && matches!(
                        e.raw_os_error(),
                        Some(libc::ENOBUFS | libc::ENOMEM | libc::EAGAIN)
                    ) =>
            {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(2 * attempts));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Acknowledgements per `recvmmsg` call. Netlink hands out one datagram
/// (one acknowledgement) per receive; fetching them 64 at a time saves a
/// system call per route on a full-table install.
const ACKS_PER_CALL: usize = 64;
/// Bytes kept per acknowledgement: 36 with `NETLINK_CAP_ACK`, more with an
/// extended-ack text; a longer one is truncated, which the parser allows.
const ACK_BYTES: usize = 512;

/// Buffers for `recvmmsg`.
struct AckReceiver {
    storage: Vec<u8>,
    lengths: [usize; ACKS_PER_CALL],
}

impl AckReceiver {
    fn new() -> Self {
        Self {
            storage: vec![0; ACKS_PER_CALL * ACK_BYTES],
            lengths: [0; ACKS_PER_CALL],
        }
    }

    /// Waits for at least one datagram and takes up to [`ACKS_PER_CALL`].
    fn receive(&mut self, socket: &Socket) -> io::Result<usize> {
        // SAFETY: all-zero iovec and mmsghdr values are valid (null
        // pointers, zero lengths) and are filled in below.
        let mut iovecs: [libc::iovec; ACKS_PER_CALL] = unsafe { std::mem::zeroed() };
        let mut headers: [libc::mmsghdr; ACKS_PER_CALL] = unsafe { std::mem::zeroed() };
        for (i, (iovec, header)) in iovecs.iter_mut().zip(headers.iter_mut()).enumerate() {
            iovec.iov_base = self.storage[i * ACK_BYTES..].as_mut_ptr().cast();
            iovec.iov_len = ACK_BYTES;
            header.msg_hdr.msg_iov = iovec;
            header.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `headers` points at `iovecs`, which point into
        // `self.storage`, all alive and unaliased for the call; the kernel
        // writes at most ACK_BYTES per slot.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                ACKS_PER_CALL as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = usize::try_from(n).unwrap_or(0).min(ACKS_PER_CALL);
        for (length, header) in self.lengths.iter_mut().zip(&headers[..n]) {
            *length = (header.msg_len as usize).min(ACK_BYTES);
        }
        Ok(n)
    }

    /// The datagrams of the last [`Self::receive`] that returned `n`.
    fn datagrams(&self, n: usize) -> impl Iterator<Item = &[u8]> {
        self.lengths[..n.min(ACKS_PER_CALL)]
            .iter()
            .enumerate()
            .map(|(i, length)| &self.storage[i * ACK_BYTES..i * ACK_BYTES + length])
    }
}

fn force_receive_buffer(socket: &Socket, bytes: usize) {
    let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: a valid fd, and a pointer to a live c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&raw const size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        // Without CAP_NET_ADMIN: the plain option, capped by rmem_max.
        let _ = socket.set_rx_buf_sz(size);
    }
}

/// Opens a route socket bound to a kernel-chosen port.
fn open(receive_buffer: usize) -> io::Result<(Socket, u32)> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    let address = socket.bind_auto()?;
    force_receive_buffer(&socket, receive_buffer);
    // Extended acknowledgements carry the kernel's reason text; harmless
    // where unsupported.
    let _ = socket.set_ext_ack(true);
    // Acknowledgements without the echoed request: smaller, so more fit.
    let _ = socket.set_cap_ack(true);
    Ok((socket, address.port_number()))
}

impl Encoder {
    /// An encoder for requests that write routes with `protocol`.
    pub fn new(protocol: u8) -> Self {
        Self {
            protocol,
            sequence: 1,
        }
    }

    fn next_sequence(&mut self, count: usize) -> u32 {
        let base = self.sequence;
        // Sequence numbers only need to be unique among requests in flight.
        self.sequence = self
            .sequence
            .wrapping_add(u32::try_from(count).unwrap_or(u32::MAX))
            .max(1);
        base
    }

    /// Encodes `requests` into `out` (emptied first), at most
    /// [`BATCH_MAX`] requests or about [`BATCH_BYTES`] per batch.
    pub fn encode_requests(&mut self, requests: &[Request<'_>], out: &mut Encoded) {
        out.bytes.clear();
        out.batches.clear();
        let mut index = 0;
        while index < requests.len() {
            let first = index;
            let batch_start = out.bytes.len();
            let end = (first + BATCH_MAX).min(requests.len());
            let base = self.next_sequence(end - first);
            let mut last_start = batch_start;
            while index < end && out.bytes.len() - batch_start < BATCH_BYTES {
                let sequence = base.wrapping_add((index - first) as u32);
                last_start = out.bytes.len();
                self.encode(&mut out.bytes, &requests[index], sequence);
                index += 1;
            }
            // The last request asks for an acknowledgement: its answer
            // ends the batch. Which one is last is known only once the
            // batch is full, so its flags are set after encoding.
            request_ack(&mut out.bytes, last_start);
            out.batches.push(Batch {
                end: out.bytes.len(),
                base,
                count: index - first,
            });
        }
    }

    /// Appends one route request to `out`, without `NLM_F_ACK` (the kernel
    /// then answers only a failure; [`request_ack`] asks for more).
    /// The hot path of a full-table install, so it is written straight into
    /// the send buffer rather than built as `netlink-packet-route` values
    /// (which allocate per attribute); the tests parse every shape back
    /// with `netlink-packet-route`.
    fn encode(&self, out: &mut Vec<u8>, request: &Request<'_>, sequence: u32) {
        let key = &request.key;
        let (kind, flags, scope) = match request.write {
            // Scope "nowhere" matches a route of any scope (as `ip route
            // del` does); the protocol restricts the match to ours.
            Write::Delete => (RTM_DELROUTE, 0, RT_SCOPE_NOWHERE),
            Write::Create => (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, RT_SCOPE_UNIVERSE),
            Write::Replace => (
                RTM_NEWROUTE,
                NLM_F_CREATE | NLM_F_REPLACE,
                RT_SCOPE_UNIVERSE,
            ),
        };
        let start = out.len();
        // struct nlmsghdr; the length is patched at the end.
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        out.extend_from_slice(&sequence.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol,
        // scope, type, flags. Tables above 255 go in RTA_TABLE only.
        let family = if key.prefix.is_ipv4() {
            AF_INET
        } else {
            AF_INET6
        };
        out.extend_from_slice(&[
            family,
            key.prefix.len(),
            0,
            0,
            u8::try_from(key.table).unwrap_or(0),
            self.protocol,
            scope,
            RTN_UNICAST,
        ]);
        out.extend_from_slice(&0u32.to_ne_bytes());
        push_address(out, RTA_DST, key.prefix.addr());
        push_attribute(out, RTA_TABLE, &key.table.to_ne_bytes());
        push_attribute(out, RTA_PRIORITY, &key.metric.to_ne_bytes());
        if request.write != Write::Delete
            && let Some(id) = request.nexthop
        {
            push_attribute(out, RTA_NH_ID, &id.to_ne_bytes());
        } else if request.write != Write::Delete {
            match request.gateways {
                [one] => push_address(out, RTA_GATEWAY, *one),
                many => {
                    // RTA_MULTIPATH: one struct rtnexthop (len, flags,
                    // hops, ifindex) per gateway, each followed by its
                    // RTA_GATEWAY.
                    let multipath = out.len();
                    push_attribute(out, RTA_MULTIPATH, &[]);
                    for gateway in many {
                        let hop = out.len();
                        out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
                        push_address(out, RTA_GATEWAY, *gateway);
                        let hop_len = (out.len() - hop) as u16;
                        out[hop..hop + 2].copy_from_slice(&hop_len.to_ne_bytes());
                    }
                    let len = (out.len() - multipath) as u16;
                    out[multipath..multipath + 2].copy_from_slice(&len.to_ne_bytes());
                }
            }
        }
        let len = (out.len() - start) as u32;
        out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }
}

impl RouteSocket {
    /// Opens the request socket; routes it writes carry `protocol`.
    pub fn open(protocol: u8) -> io::Result<Self> {
        let (socket, port) = open(RECEIVE_BUFFER)?;
        // Lets dumps be filtered by table and protocol in the kernel
        // (Linux 4.20+); we filter again ourselves, so failure is harmless.
        let _ = socket.set_netlink_get_strict_chk(true);
        socket2::SockRef::from(&socket).set_read_timeout(Some(ACK_TIMEOUT))?;
        Ok(Self {
            socket,
            port,
            encoder: Encoder::new(protocol),
            send: Vec::with_capacity(4096),
            encoded: Encoded::default(),
            receive: vec![0; 64 * 1024],
            acks: AckReceiver::new(),
            answered: Vec::with_capacity(BATCH_MAX),
        })
    }

    /// Our netlink port id: notifications caused by our own requests carry it.
    pub fn port(&self) -> u32 {
        self.port
    }

    fn next_sequence(&mut self, count: usize) -> u32 {
        self.encoder.next_sequence(count)
    }

    fn encode_message(&mut self, inner: RouteNetlinkMessage, flags: u16, sequence: u32) {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = sequence;
        let mut message = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(inner));
        message.finalize();
        let start = self.send.len();
        self.send.resize(start + message.buffer_len(), 0);
        message.serialize(&mut self.send[start..]);
    }

    fn send_buffer(&mut self) -> io::Result<()> {
        send_all(&self.socket, &self.send)
    }

    /// Executes `requests`, many per `sendmsg` (the last of each with
    /// `NLM_F_ACK`), and writes one outcome per request into `outcomes`
    /// (same order). When the answers stop before the last request's
    /// (receive queue overrun, timeout), the requests without an answer
    /// are reported as `ENOBUFS` / `ETIMEDOUT`: their effect is unknown and
    /// the caller decides how to recover.
    pub fn execute(&mut self, requests: &[Request<'_>], outcomes: &mut Vec<Outcome>) {
        let mut encoded = std::mem::take(&mut self.encoded);
        self.encoder.encode_requests(requests, &mut encoded);
        self.transmit(&encoded, outcomes);
        self.encoded = encoded;
    }

    /// Sends requests encoded by this socket's own encoder or, when this
    /// socket sends nothing else, by another one (see [`Encoded`]);
    /// outcomes as [`Self::execute`].
    pub fn transmit(&mut self, encoded: &Encoded, outcomes: &mut Vec<Outcome>) {
        outcomes.clear();
        let mut from = 0;
        for batch in &encoded.batches {
            let bytes = encoded.bytes.get(from..batch.end).unwrap_or_default();
            from = batch.end;
            let start = outcomes.len();
            if let Err(e) = send_all(&self.socket, bytes) {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                outcomes.extend(std::iter::repeat_n(Err(errno), batch.count));
                continue;
            }
            outcomes.extend(std::iter::repeat_n(Err(libc::ETIMEDOUT), batch.count));
            self.collect_acks(batch.base, &mut outcomes[start..]);
        }
    }

    /// Reads the answers for sequence numbers `base..base+n`, the last of
    /// which asked for an acknowledgement, until that one arrives; the
    /// requests before it without an answer succeeded. When the answers
    /// stop short of it, the requests without one keep the error already
    /// in `slots`.
    fn collect_acks(&mut self, base: u32, slots: &mut [Outcome]) {
        let Some(last) = slots.len().checked_sub(1) else {
            return;
        };
        // Which requests have been answered (an error, or the last's
        // acknowledgement); reused, at most BATCH_MAX long.
        self.answered.clear();
        self.answered.resize(slots.len(), false);
        loop {
            let received = match self.acks.receive(&self.socket) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let errno = e.raw_os_error().unwrap_or(libc::EIO);
                    let unanswered = slots
                        .iter_mut()
                        .zip(&self.answered)
                        .filter(|(_, answered)| !**answered);
                    for (slot, _) in unanswered {
                        *slot = Err(if errno == libc::EAGAIN {
                            libc::ETIMEDOUT
                        } else {
                            errno
                        });
                    }
                    return;
                }
            };
            for datagram in self.acks.datagrams(received) {
                // An acknowledgement is one message: header, then the
                // error code (0 for success). Read from the fixed offsets
                // so a truncated one (a long extended-ack text) still
                // counts.
                let Some(header) = datagram.get(..20) else {
                    continue;
                };
                let kind = u16::from_ne_bytes([header[4], header[5]]);
                if kind != NLMSG_ERROR {
                    continue;
                }
                let sequence = u32::from_ne_bytes([header[8], header[9], header[10], header[11]]);
                let index = sequence.wrapping_sub(base) as usize;
                let (Some(slot), Some(answered)) =
                    (slots.get_mut(index), self.answered.get_mut(index))
                else {
                    continue; // a straggler from an earlier, timed-out batch
                };
                let code = i32::from_ne_bytes([header[16], header[17], header[18], header[19]]);
                *slot = if code == 0 { Ok(()) } else { Err(-code) };
                *answered = true;
                if index == last {
                    // Answered in order: everything before it is handled,
                    // and a failure would have been answered already.
                    for (slot, answered) in slots.iter_mut().zip(&self.answered) {
                        if !answered {
                            *slot = Ok(());
                        }
                    }
                    return;
                }
            }
        }
    }

    /// Sends one dump request and collects the answers' payloads.
    fn dump(&mut self, inner: RouteNetlinkMessage) -> io::Result<Vec<(u16, Vec<u8>)>> {
        self.send.clear();
        let sequence = self.next_sequence(1);
        self.encode_message(inner, NLM_F_REQUEST | NLM_F_DUMP, sequence);
        self.dump_sent(sequence)
    }

    /// Collects the answers to the dump request in the send buffer.
    fn dump_sent(&mut self, sequence: u32) -> io::Result<Vec<(u16, Vec<u8>)>> {
        self.send_buffer()?;
        let mut out = Vec::new();
        // A dump ends with NLMSG_DONE; bounded by the table size, and the
        // read timeout ends it if the kernel stops answering.
        loop {
            let n = match self.socket.recv(&mut &mut self.receive[..], 0) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            for m in messages(&self.receive[..n.min(self.receive.len())]) {
                let (kind, payload) = (m.kind, m.payload);
                if m.sequence != sequence {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .map_or(libc::EIO, |b| -i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        return Err(io::Error::from_raw_os_error(code));
                    }
                    _ => out.push((kind, payload.to_vec())),
                }
            }
        }
    }

    /// Starts a message of `kind` with a `struct nhmsg` (family, scope,
    /// protocol, reserved, flags) in the emptied send buffer.
    /// The kernel refuses a get, dump or delete whose header names a
    /// protocol, so `protocol` is only set for a create.
    fn nexthop_header(&mut self, kind: u16, flags: u16, family: u8, protocol: u8, sequence: u32) {
        self.send.clear();
        self.send.extend_from_slice(&0u32.to_ne_bytes());
        self.send.extend_from_slice(&kind.to_ne_bytes());
        self.send
            .extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        self.send.extend_from_slice(&sequence.to_ne_bytes());
        self.send.extend_from_slice(&0u32.to_ne_bytes());
        self.send
            .extend_from_slice(&[family, RT_SCOPE_UNIVERSE, protocol, 0, 0, 0, 0, 0]);
    }

    fn finish_message(&mut self) {
        let len = self.send.len() as u32;
        self.send[..4].copy_from_slice(&len.to_ne_bytes());
    }

    /// Sends the one request in the send buffer and waits for its
    /// acknowledgement.
    fn request_sent(&mut self, sequence: u32) -> Outcome {
        if let Err(e) = self.send_buffer() {
            return Err(e.raw_os_error().unwrap_or(libc::EIO));
        }
        let mut slot = [Err(libc::ETIMEDOUT)];
        self.collect_acks(sequence, &mut slot);
        slot[0]
    }

    /// Creates nexthop object `id`: `gateway` through interface `oif`.
    /// Routes then name the object instead of the gateway, the kernel checks
    /// the gateway once instead of once per route, and deleting the object
    /// removes every route that uses it in one request.
    pub fn nexthop_create(&mut self, id: u32, gateway: IpAddr, oif: u32) -> Outcome {
        let sequence = self.next_sequence(1);
        let family = if gateway.is_ipv4() { AF_INET } else { AF_INET6 };
        self.nexthop_header(
            RTM_NEWNEXTHOP,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            family,
            self.encoder.protocol,
            sequence,
        );
        push_attribute(&mut self.send, NHA_ID, &id.to_ne_bytes());
        push_attribute(&mut self.send, NHA_OIF, &oif.to_ne_bytes());
        push_address(&mut self.send, NHA_GATEWAY, gateway);
        self.finish_message();
        self.request_sent(sequence)
    }

    /// Deletes nexthop object `id`, and with it every route using it.
    pub fn nexthop_delete(&mut self, id: u32) -> Outcome {
        let sequence = self.next_sequence(1);
        self.nexthop_header(RTM_DELNEXTHOP, NLM_F_ACK, 0, 0, sequence);
        push_attribute(&mut self.send, NHA_ID, &id.to_ne_bytes());
        self.finish_message();
        self.request_sent(sequence)
    }

    /// Ids of the nexthop objects of `protocol`. An empty list where the
    /// kernel has no nexthop objects.
    pub fn dump_nexthops(&mut self, protocol: u8) -> io::Result<Vec<u32>> {
        let sequence = self.next_sequence(1);
        self.nexthop_header(RTM_GETNEXTHOP, NLM_F_DUMP, 0, 0, sequence);
        self.finish_message();
        let answers = match self.dump_sent(sequence) {
            Ok(a) => a,
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(answers
            .iter()
            .filter(|(kind, _)| *kind == RTM_NEWNEXTHOP)
            .filter_map(|(_, payload)| parse_nexthop(payload))
            .filter(|(p, _)| *p == protocol)
            .map(|(_, id)| id)
            .collect())
    }

    /// The unicast routes of `table` written with `protocol` (both families).
    pub fn dump_routes(&mut self, table: u32, protocol: u8) -> io::Result<Vec<KernelRoute>> {
        let mut routes = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut message = RouteMessage::default();
            message.header.address_family = family;
            message.header.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
            message.header.protocol = RouteProtocol::from(protocol);
            message.attributes = vec![RouteAttribute::Table(table)];
            for (kind, payload) in self.dump(RouteNetlinkMessage::GetRoute(message))? {
                if kind != RTM_NEWROUTE {
                    continue;
                }
                if let Some(route) = parse_route(&payload)
                    && route.key.table == table
                    && route.protocol == protocol
                    && route.unicast
                {
                    routes.push(route);
                }
            }
        }
        Ok(routes)
    }

    /// Every address of every interface.
    pub fn dump_addresses(&mut self) -> io::Result<Vec<InterfaceAddress>> {
        let mut out = Vec::new();
        for (kind, payload) in
            self.dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))?
        {
            if kind == RTM_NEWADDR
                && let Some(a) = parse_address(&payload)
            {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// The interface the kernel would use to reach `destination` now
    /// (`ip route get`), if any.
    pub fn route_get(&mut self, destination: IpAddr) -> io::Result<Option<u32>> {
        let mut message = RouteMessage::default();
        message.header.address_family = match destination {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        message.header.destination_prefix_length = if destination.is_ipv4() { 32 } else { 128 };
        message.attributes = vec![RouteAttribute::Destination(RouteAddress::from(destination))];
        self.send.clear();
        let sequence = self.next_sequence(1);
        self.encode_message(
            RouteNetlinkMessage::GetRoute(message),
            NLM_F_REQUEST,
            sequence,
        );
        self.send_buffer()?;
        loop {
            let n = match self.socket.recv(&mut &mut self.receive[..], 0) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            for m in messages(&self.receive[..n.min(self.receive.len())]) {
                let (kind, payload) = (m.kind, m.payload);
                if m.sequence != sequence {
                    continue;
                }
                if kind == NLMSG_ERROR {
                    // ENETUNREACH and friends: no route.
                    return Ok(None);
                }
                if kind == RTM_NEWROUTE
                    && let Ok(route) = RouteMessage::parse(payload)
                {
                    return Ok(route.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Oif(i) => Some(*i),
                        _ => None,
                    }));
                }
            }
        }
    }
}

/// A socket subscribed to route and address changes (IPv4 and IPv6), which
/// never receives the notifications caused by the sockets with port ids
/// `ignore_ports` (a BPF filter, see `drop_ports_filter`).
pub fn open_monitor(ignore_ports: [u32; 2]) -> io::Result<Socket> {
    // Big: a full-table change by another daemon must not overrun it often.
    let (socket, _) = open(32 << 20)?;
    if let Err(e) = attach_filter(&socket, &drop_ports_filter(ignore_ports)) {
        // Correct without it (the monitor checks the port again), only
        // slower during full-table changes.
        tracing::warn!(error = %e, "cannot filter our own route notifications in the kernel");
    }
    for group in [
        libc::RTNLGRP_IPV4_ROUTE,
        libc::RTNLGRP_IPV6_ROUTE,
        libc::RTNLGRP_IPV4_IFADDR,
        libc::RTNLGRP_IPV6_IFADDR,
    ] {
        socket.add_membership(group)?;
    }
    // Nexthop objects (Linux 5.3+); older kernels have none to watch.
    let _ = socket.add_membership(libc::RTNLGRP_NEXTHOP);
    socket.add_membership(libc::RTNLGRP_LINK)?;
    socket.set_non_blocking(true)?;
    Ok(socket)
}

/// A classic BPF program that drops every datagram whose first message
/// has `nlmsg_pid` equal to one of `ports`: the notifications our own
/// requests cause (one message per notification). Installing a million
/// routes would otherwise queue a million notifications on the monitor
/// only to be skipped.
pub(crate) fn drop_ports_filter(ports: [u32; 2]) -> [libc::sock_filter; 5] {
    let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    // Absolute loads read network byte order; nlmsg_pid is in host order.
    let as_loaded = |port: u32| u32::from_be_bytes(port.to_ne_bytes());
    let jump_if_equal = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    // Jump offsets count from the next instruction.
    [
        op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 12),
        op(jump_if_equal, 1, 0, as_loaded(ports[0])),
        op(jump_if_equal, 0, 1, as_loaded(ports[1])),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, 0),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, u32::MAX),
    ]
}

fn attach_filter(socket: &Socket, program: &[libc::sock_filter]) -> io::Result<()> {
    let program = libc::sock_fprog {
        len: u16::try_from(program.len())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: a valid fd and a sock_fprog pointing at `program`, alive for
    // the call (the kernel copies it).
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const program).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests;
