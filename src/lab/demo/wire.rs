//! The demo's view of the wire: the UPDATEs the NVA sent each Route Server
//! instance, from a `tcpdump` capture on the Route Servers' interface,
//! reassembled here and decoded by the agent's own decoder (the code path
//! of `nvabgp decode`).
//!
//! A receiver's table cannot tell a next-hop change sent as one UPDATE from
//! a withdraw followed by an announce: both end with the new next hop.
//! Azure applies about one route change every 30 s, so the difference is
//! worth seeing, and only the wire shows it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use bgp_proto::{Context, Families, Prefix};

use crate::decode::json::{BodyJson, PrefixJson};
use crate::decode::{self, Messages};
use crate::lab::process::{self, Process, RuntimeDir};
use crate::lab::topology::RS_INTERFACE;
use crate::lab::{Node, Result, Topology};

/// How long tcpdump gets to open the interface.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running capture of BGP traffic on the Route Servers' interface.
#[derive(Debug)]
pub(super) struct Capture {
    /// tcpdump; killed on drop.
    process: Process,
    file: PathBuf,
    /// The NVA's address: only what it sent is decoded.
    nva: Ipv4Addr,
}

/// One UPDATE as it went over the wire, reduced to what the demo shows.
#[derive(Debug, Clone)]
pub(super) struct Update {
    /// The Withdrawn Routes field.
    pub withdrawn: Vec<String>,
    /// The NLRI field.
    pub nlri: Vec<String>,
    /// NEXT_HOP.
    pub next_hop: Option<Ipv4Addr>,
    /// AS_PATH as text.
    pub as_path: Option<String>,
    /// When its last byte was captured, in seconds since the epoch.
    pub time: f64,
}

/// What one UPDATE did to one prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// Announced (or replaced) with this next hop.
    Announce(Option<Ipv4Addr>),
    /// Withdrawn.
    Withdraw,
}

impl Update {
    /// What this UPDATE did to `prefix`, if anything. A prefix in both
    /// fields (allowed, RFC 4271 §4.3 leaves the order to the receiver's
    /// reading) counts as an announce: the NLRI is processed last.
    pub fn change_of(&self, prefix: Prefix) -> Option<Change> {
        let text = prefix.to_string();
        if self.nlri.contains(&text) {
            Some(Change::Announce(self.next_hop))
        } else if self.withdrawn.contains(&text) {
            Some(Change::Withdraw)
        } else {
            None
        }
    }

    /// One line for people: `withdrawn [..] nlri [..] next_hop .. as_path ..`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.withdrawn.is_empty() {
            parts.push(format!("withdrawn {}", self.withdrawn.join(" ")));
        }
        if !self.nlri.is_empty() {
            parts.push(format!("nlri {}", self.nlri.join(" ")));
        }
        if let Some(next_hop) = self.next_hop {
            parts.push(format!("next_hop {next_hop}"));
        }
        if let Some(path) = &self.as_path {
            parts.push(format!("as_path {path}"));
        }
        if parts.is_empty() {
            parts.push("End-of-RIB".to_string());
        }
        format!("UPDATE  {}", parts.join("  "))
    }
}

impl Capture {
    /// Starts tcpdump on the Route Servers' interface, writing every
    /// packet as it arrives; returns once it listens.
    pub fn start(topology: &Topology, dir: &RuntimeDir) -> Result<Self> {
        let file = dir.join("bgp.pcap");
        let log = dir.join("tcpdump.log");
        let mut command = topology.command(Node::RouteServer, "tcpdump");
        // Immediate mode and -U: libpcap otherwise hands packets over in
        // blocks, up to a second late.
        command
            .args([
                "-i",
                RS_INTERFACE,
                "--immediate-mode",
                "-U",
                "-n",
                "-s",
                "0",
            ])
            .arg("-w")
            .arg(&file)
            .args(["tcp", "port", "179"]);
        let process = Process::spawn("tcpdump", command, &log)?;
        let mut capture = Self {
            process,
            file,
            nva: topology.nva_address(),
        };
        process::wait_for("tcpdump to listen", START_TIMEOUT, || {
            if let Some(status) = capture.process.exit_status() {
                return Err(crate::lab::Error::Command {
                    command: "tcpdump".into(),
                    status: status.to_string(),
                    output: process::file_tail(&log, 5),
                });
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            Ok(text.contains("listening on").then_some(()))
        })?;
        Ok(capture)
    }

    /// Every UPDATE the NVA sent so far, per Route Server address, in
    /// order (of the latest connection to each).
    pub fn updates(&self) -> BTreeMap<Ipv4Addr, Vec<Update>> {
        let pcap = std::fs::read(&self.file).unwrap_or_default();
        let mut out: BTreeMap<Ipv4Addr, Vec<Update>> = BTreeMap::new();
        for ((peer, _, _), stream) in tcp_streams(&pcap, self.nva) {
            out.entry(peer).or_default().extend(decode_updates(&stream));
        }
        out
    }
}

/// The UPDATEs of one direction of a session; stops at the first message
/// that does not decode (a capture read while a segment is being written
/// ends inside a message).
fn decode_updates(stream: &Stream) -> Vec<Update> {
    // What nvabgp and every stand-in negotiate; extended messages only
    // raise the length limit, so assuming them is harmless.
    let context = Context {
        four_octet_as: true,
        add_path: Families::NONE,
        extended_message: true,
    };
    let text = |p: PrefixJson| match p {
        PrefixJson::Plain(p) => p,
        PrefixJson::WithPathId { prefix, .. } => prefix,
    };
    Messages::new(&stream.bytes, context)
        .map_while(|m| m.ok())
        .filter_map(|m| {
            let time = stream.time_of(m.offset + m.bytes.len());
            match decode::to_json(&m).body {
                BodyJson::Update(u) => Some(Update {
                    withdrawn: u.withdrawn.into_iter().map(text).collect(),
                    nlri: u.nlri.into_iter().map(text).collect(),
                    next_hop: u.next_hop,
                    as_path: u.as_path_string,
                    time,
                }),
                _ => None,
            }
        })
        .collect()
}

/// A TCP connection seen from one side: (destination address, source
/// port, destination port).
type Connection = (Ipv4Addr, u16, u16);

/// One direction of a TCP connection, reassembled.
#[derive(Debug, Default)]
struct Stream {
    /// The next expected sequence number; `None` before the SYN, or after
    /// a gap (the rest is not followed).
    next: Option<u32>,
    /// The payload in sequence order.
    bytes: Vec<u8>,
    /// (payload length after a segment, its capture time in seconds).
    times: Vec<(usize, f64)>,
}

impl Stream {
    /// When the byte before offset `end` was captured (NaN if never).
    fn time_of(&self, end: usize) -> f64 {
        self.times
            .iter()
            .find(|(e, _)| *e >= end)
            .map_or(f64::NAN, |(_, t)| *t)
    }
}

/// Reads `N` bytes at `at`.
fn bytes<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The TCP payload `from` sent to or from port 179, per connection
/// (destination address, source port, destination port), in sequence
/// order from the connection's SYN. Reads a pcap file (tcpdump's default
/// format, either byte order) of Ethernet frames; a record cut short at
/// the end of the file ends the read. A gap in a stream (a packet the
/// capture missed) ends that stream, so what follows is never decoded out
/// of place.
fn tcp_streams(pcap: &[u8], from: Ipv4Addr) -> BTreeMap<Connection, Stream> {
    let mut streams: BTreeMap<Connection, Stream> = BTreeMap::new();
    let Some(magic) = bytes::<4>(pcap, 0) else {
        return streams;
    };
    // The second magic number marks nanosecond timestamps.
    let (little_endian, nanoseconds) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic))
    {
        (0xA1B2_C3D4, _) => (true, false),
        (0xA1B2_3C4D, _) => (true, true),
        (_, 0xA1B2_C3D4) => (false, false),
        (_, 0xA1B2_3C4D) => (false, true),
        _ => return streams,
    };
    let fraction = if nanoseconds { 1e9 } else { 1e6 };
    let word = |at: usize| {
        bytes::<4>(pcap, at).map(|b| {
            if little_endian {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        })
    };
    // LINKTYPE_ETHERNET only: what tcpdump writes for a veth.
    if word(20) != Some(1) {
        return streams;
    }
    let mut at = 24;
    while let Some(captured) = word(at + 8) {
        let Ok(captured) = usize::try_from(captured) else {
            break;
        };
        let start = at + 16;
        let Some(frame) = start
            .checked_add(captured)
            .and_then(|end| pcap.get(start..end))
        else {
            break;
        };
        let time =
            f64::from(word(at).unwrap_or(0)) + f64::from(word(at + 4).unwrap_or(0)) / fraction;
        at = start + captured;
        if let Some(segment) = tcp_segment(frame, from) {
            let entry = streams.entry(segment.key).or_default();
            if segment.syn {
                *entry = Stream {
                    next: Some(segment.seq.wrapping_add(1)),
                    ..Stream::default()
                };
                continue;
            }
            let Some(next) = entry.next else { continue };
            // How far this segment starts before the next expected byte:
            // a retransmission repeats bytes we have.
            let behind = next.wrapping_sub(segment.seq);
            if behind > u32::MAX / 2 {
                // Starts after the next expected byte: we missed data.
                if !segment.payload.is_empty() {
                    entry.next = None;
                }
                continue;
            }
            let fresh = segment
                .payload
                .get(usize::try_from(behind).unwrap_or(usize::MAX)..)
                .unwrap_or_default();
            if fresh.is_empty() {
                continue;
            }
            entry.bytes.extend_from_slice(fresh);
            entry.times.push((entry.bytes.len(), time));
            entry.next = Some(next.wrapping_add(u32::try_from(fresh.len()).unwrap_or(0)));
        }
    }
    streams
}

/// One TCP segment of interest.
struct Segment<'a> {
    key: Connection,
    seq: u32,
    syn: bool,
    payload: &'a [u8],
}

/// The TCP segment in an Ethernet frame, if it is IPv4 TCP from `from`
/// with port 179 on either end.
fn tcp_segment(frame: &[u8], from: Ipv4Addr) -> Option<Segment<'_>> {
    const ETHERNET: usize = 14;
    if bytes::<2>(frame, 12)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(ETHERNET..)?;
    let header = usize::from(ip.first()? & 0x0F) * 4;
    let total = usize::from(u16::from_be_bytes(bytes::<2>(ip, 2)?)).min(ip.len());
    if *ip.get(9)? != 6 || header < 20 {
        return None;
    }
    let source = Ipv4Addr::from(bytes::<4>(ip, 12)?);
    let destination = Ipv4Addr::from(bytes::<4>(ip, 16)?);
    if source != from {
        return None;
    }
    let tcp = ip.get(header..total)?;
    let source_port = u16::from_be_bytes(bytes::<2>(tcp, 0)?);
    let destination_port = u16::from_be_bytes(bytes::<2>(tcp, 2)?);
    if source_port != 179 && destination_port != 179 {
        return None;
    }
    let seq = u32::from_be_bytes(bytes::<4>(tcp, 4)?);
    let data_offset = usize::from(tcp.get(12)? >> 4) * 4;
    let syn = tcp.get(13)? & 0x02 != 0;
    Some(Segment {
        key: (destination, source_port, destination_port),
        seq,
        syn,
        payload: tcp.get(data_offset..)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NVA: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 4);
    const RS: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 4);

    /// An Ethernet/IPv4/TCP frame from `source` to RS:179.
    fn frame(source: Ipv4Addr, seq: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = u16::try_from(20 + 20 + payload.len()).unwrap();
        f.extend_from_slice(&[0x45, 0, 0, 0]);
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&source.octets());
        f.extend_from_slice(&RS.octets());
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&179u16.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&[
            0,
            0,
            0,
            0,
            0x50,
            if syn { 0x02 } else { 0x18 },
            0,
            0,
            0,
            0,
            0,
            0,
        ]);
        f.extend_from_slice(payload);
        f
    }

    fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
        p.extend_from_slice(&[2, 0, 4, 0]);
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&65535u32.to_le_bytes());
        p.extend_from_slice(&1u32.to_le_bytes());
        for (n, f) in frames.iter().enumerate() {
            let len = u32::try_from(f.len()).unwrap();
            // Frame n at 100 + n seconds and n milliseconds.
            p.extend_from_slice(&(100 + u32::try_from(n).unwrap()).to_le_bytes());
            p.extend_from_slice(&(1000 * u32::try_from(n).unwrap()).to_le_bytes());
            p.extend_from_slice(&len.to_le_bytes());
            p.extend_from_slice(&len.to_le_bytes());
            p.extend_from_slice(f);
        }
        p
    }

    /// An UPDATE moving `prefix` to `next_hop` (no withdrawn routes).
    fn update(prefix: [u8; 4], len: u8, next_hop: Ipv4Addr) -> Vec<u8> {
        let mut attrs = vec![0x40, 1, 1, 0]; // ORIGIN IGP
        attrs.extend_from_slice(&[0x40, 2, 6, 2, 1, 0, 0, 0xFD, 0xE9]); // AS_PATH 65001
        attrs.extend_from_slice(&[0x40, 3, 4]);
        attrs.extend_from_slice(&next_hop.octets());
        let mut body = vec![0, 0];
        body.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
        body.extend_from_slice(&attrs);
        body.push(len);
        body.extend_from_slice(&prefix[..usize::from(len.div_ceil(8))]);
        let mut m = vec![0xFF; 16];
        m.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
        m.push(2);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn streams_are_reassembled_in_order_without_retransmissions() {
        let a = update([100, 64, 0, 1], 32, Ipv4Addr::new(10, 1, 2, 11));
        let b = update([100, 64, 0, 1], 32, Ipv4Addr::new(10, 1, 2, 12));
        let (first, second) = a.split_at(10);
        let seq = 1000u32;
        let frames = [
            frame(NVA, seq, true, &[]),
            frame(NVA, seq + 1, false, first),
            // A retransmission of the first part, then the rest.
            frame(NVA, seq + 1, false, a.as_slice()),
            // Someone else's segment is ignored.
            frame(Ipv4Addr::new(10, 9, 9, 9), seq + 1, false, &b),
            frame(NVA, seq + 1 + u32::try_from(a.len()).unwrap(), false, &b),
        ];
        let streams = tcp_streams(&pcap(&frames), NVA);
        let stream = &streams[&(RS, 40000, 179)];
        assert_eq!(stream.bytes.len(), a.len() + b.len());
        assert_eq!(&stream.bytes[..10], first);
        assert_eq!(&stream.bytes[10..a.len()], second);
        let updates = decode_updates(stream);
        assert_eq!(updates.len(), 2, "{updates:?}");
        // Complete with the retransmission (frame 2), then frame 4.
        assert!((updates[0].time - 102.002).abs() < 1e-9, "{updates:?}");
        assert!((updates[1].time - 104.004).abs() < 1e-9, "{updates:?}");
        let vip: Prefix = "100.64.0.1/32".parse().unwrap();
        assert_eq!(
            updates[1].change_of(vip),
            Some(Change::Announce(Some(Ipv4Addr::new(10, 1, 2, 12))))
        );
        assert_eq!(updates[1].as_path.as_deref(), Some("65001"));
        assert!(updates[1].summary().contains("next_hop 10.1.2.12"));
        assert_eq!(updates[0].change_of("9.9.9.9/32".parse().unwrap()), None);
    }

    #[test]
    fn a_gap_ends_the_stream_and_a_cut_record_ends_the_read() {
        let a = update([9, 9, 9, 9], 32, NVA);
        let seq = 7u32;
        let frames = [
            frame(NVA, seq, true, &[]),
            frame(NVA, seq + 1, false, &a),
            // Bytes after a hole are not appended.
            frame(NVA, seq + 100, false, &a),
        ];
        let mut file = pcap(&frames);
        let streams = tcp_streams(&file, NVA);
        assert_eq!(streams[&(RS, 40000, 179)].bytes, a);
        // A record header promising more than the file holds.
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&1000u32.to_le_bytes());
        file.extend_from_slice(&1000u32.to_le_bytes());
        file.extend_from_slice(&[1, 2, 3]);
        assert_eq!(tcp_streams(&file, NVA)[&(RS, 40000, 179)].bytes, a);
        assert!(tcp_streams(&file[..10], NVA).is_empty());
        assert!(tcp_streams(b"not a pcap file at all, no", NVA).is_empty());
    }

    #[test]
    fn a_withdrawal_is_a_withdraw() {
        let u = Update {
            withdrawn: vec!["9.9.9.9/32".into()],
            nlri: Vec::new(),
            next_hop: None,
            as_path: None,
            time: 0.0,
        };
        assert_eq!(
            u.change_of("9.9.9.9/32".parse().unwrap()),
            Some(Change::Withdraw)
        );
        assert_eq!(u.summary(), "UPDATE  withdrawn 9.9.9.9/32");
    }
}
