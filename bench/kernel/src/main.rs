//! Kernel route install benchmark, run inside a network namespace by
//! `run.sh` (never by `cargo test`).
//!
//! ```text
//! kernel-bench floor N      minimal batched netlink writer: N /24s added, then deleted
//!                           (FLOOR_NHID=1: routes name nexthop object 1, made beforehand,
//!                           and are removed by deleting it)
//! kernel-bench nvabgp N     nvabgp's kernel module: N routes handed over 1000 per set_many()
//!                           call (one UPDATE's worth), flush; then N withdrawals likewise
//! kernel-bench latency K    K single routes: set() -> RTM_NEWROUTE seen on a monitor socket
//! ```
//!
//! Routes are 11.0.0.0/24, 11.0.1.0/24, ... via 10.1.2.1 (the namespace's
//! "virtual router"), table main, metric 20. Each mode prints one line of
//! `key=value` pairs for run.sh.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bgp_proto::Prefix;
use nvabgp::config::{KernelConfig, PinMode};
use nvabgp::kernel::{self, KernelContext};

const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RTA_DST: u16 = 1;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_TABLE: u16 = 15;
/// Prefixes per set_many() call: about one UPDATE's worth.
const PER_UPDATE: u32 = 1000;
/// Protocol of the floor writer's routes (nvabgp's is 200).
const FLOOR_PROTOCOL: u8 = 199;

fn prefix(i: u32) -> u32 {
    (11 << 24) + (i << 8)
}

/// A raw NETLINK_ROUTE socket: the least a route writer can do.
struct Raw {
    fd: libc::c_int,
    buffer: Vec<u8>,
}

impl Raw {
    fn open(groups: u32) -> Self {
        // SAFETY: plain socket calls with valid arguments; the fd is owned
        // by the struct and closed in Drop.
        unsafe {
            let fd = libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            );
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let mut address: libc::sockaddr_nl = std::mem::zeroed();
            address.nl_family = libc::AF_NETLINK as u16;
            address.nl_groups = groups;
            let rc = libc::bind(
                fd,
                (&raw const address).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            );
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            let size: libc::c_int = 8 << 20;
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&raw const size).cast(),
                4,
            );
            Self {
                fd,
                buffer: vec![0; 1 << 16],
            }
        }
    }

    fn send(&self, data: &[u8]) {
        // SAFETY: data is a valid buffer of its length.
        let n = unsafe { libc::send(self.fd, data.as_ptr().cast(), data.len(), 0) };
        assert_eq!(
            n as usize,
            data.len(),
            "send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// One datagram.
    fn recv(&mut self) -> &[u8] {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe {
            libc::recv(
                self.fd,
                self.buffer.as_mut_ptr().cast(),
                self.buffer.len(),
                0,
            )
        };
        assert!(n >= 0, "recv: {}", std::io::Error::last_os_error());
        &self.buffer[..n as usize]
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        // SAFETY: our own fd.
        unsafe { libc::close(self.fd) };
    }
}

fn attribute(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&(4 + value.len() as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
}

/// One RTM_NEWROUTE (create, exclusive) or RTM_DELROUTE, with NLM_F_ACK.
fn route_message(out: &mut Vec<u8>, add: bool, destination: u32, sequence: u32) {
    let start = out.len();
    let (kind, flags) = if add {
        (
            RTM_NEWROUTE,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
    } else {
        (RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK)
    };
    out.extend_from_slice(&0u32.to_ne_bytes()); // length, set below
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&sequence.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
    let scope = if add { 0 } else { 255 };
    out.extend_from_slice(&[libc::AF_INET as u8, 24, 0, 0, 254, FLOOR_PROTOCOL, scope, 1]);
    out.extend_from_slice(&0u32.to_ne_bytes());
    attribute(out, RTA_DST, &destination.to_be_bytes());
    if add {
        match std::env::var("FLOOR_NHID")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
        {
            // RTA_NH_ID: a shared kernel nexthop object
            Some(id) => attribute(out, 30, &id.to_ne_bytes()),
            None => attribute(out, RTA_GATEWAY, &[10, 1, 2, 1]),
        }
    }
    attribute(out, RTA_PRIORITY, &20u32.to_ne_bytes());
    attribute(out, RTA_TABLE, &254u32.to_ne_bytes());
    let length = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&length.to_ne_bytes());
}

/// Adds or deletes routes 0..n, `batch` requests per sendmsg, and checks
/// every acknowledgement.
fn floor_pass(raw: &mut Raw, n: u32, add: bool, batch: u32) -> Duration {
    let reverse = !add && std::env::var("DELETE_ORDER").as_deref() == Ok("reverse");
    let start = Instant::now();
    let mut out = Vec::with_capacity(batch as usize * 64);
    let mut i = 0;
    while i < n {
        out.clear();
        let first = i;
        while i < n && i - first < batch {
            let index = if reverse { n - 1 - i } else { i };
            route_message(&mut out, add, prefix(index), i + 1);
            i += 1;
        }
        raw.send(&out);
        let mut missing = i - first;
        while missing > 0 {
            let data = raw.recv().to_vec();
            let mut at = 0;
            while at + 20 <= data.len() {
                let length = u32::from_ne_bytes(data[at..at + 4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(data[at + 4..at + 6].try_into().unwrap());
                if kind == NLMSG_ERROR {
                    let code = i32::from_ne_bytes(data[at + 16..at + 20].try_into().unwrap());
                    assert_eq!(code, 0, "the kernel refused a request: errno {}", -code);
                    missing -= 1;
                }
                at += length.div_ceil(4) * 4;
                if length == 0 {
                    break;
                }
            }
        }
    }
    start.elapsed()
}

fn floor(n: u32) {
    let mut raw = Raw::open(0);
    let batch = 1024;
    let add = floor_pass(&mut raw, n, true, batch);
    let delete = if std::env::var("FLOOR_NHID").is_ok() {
        // Deleting the nexthop object removes every route using it.
        let start = Instant::now();
        let status = std::process::Command::new("ip")
            .args(["nexthop", "del", "id", "1"])
            .status()
            .unwrap();
        assert!(status.success());
        start.elapsed()
    } else {
        floor_pass(&mut raw, n, false, batch)
    };
    let name = if std::env::var("FLOOR_NHID").is_ok() {
        "floor-nhid"
    } else {
        "floor"
    };
    println!(
        "impl={name} n={n} add_s={:.3} del_s={:.3}",
        add.as_secs_f64(),
        delete.as_secs_f64()
    );
}

fn config() -> (KernelConfig, KernelContext) {
    let cfg = KernelConfig {
        pin: PinMode::None,
        pin_default: false,
        virtual_router: Some(Ipv4Addr::new(10, 1, 2, 1)),
        ..KernelConfig::default()
    };
    let ctx = KernelContext {
        peers: vec![IpAddr::from([10, 1, 1, 4])],
        local_addresses: vec![IpAddr::from([10, 1, 2, 4])],
        ..KernelContext::default()
    };
    (cfg, ctx)
}

async fn nvabgp(n: u32) {
    let (cfg, ctx) = config();
    let k = kernel::start(&cfg, ctx).await.expect("kernel module start");
    let next_hop = IpAddr::from([10, 1, 1, 4]);
    // As the daemon hands them over: one call per UPDATE of about a
    // thousand prefixes (a full table of /24s packs that many per message).
    let start = Instant::now();
    for first in (0..n).step_by(PER_UPDATE as usize) {
        let last = (first + PER_UPDATE).min(n);
        k.set_many((first..last).map(|i| (Prefix::V4(prefix(i), 24), None, vec![next_hop])));
    }
    let set = start.elapsed();
    k.flush().await;
    let add = start.elapsed();
    let stats = k.stats();
    assert_eq!(stats.installed, n as usize, "{stats:?}");
    assert_eq!(stats.errors, 0);
    let start = Instant::now();
    for first in (0..n).step_by(PER_UPDATE as usize) {
        let last = (first + PER_UPDATE).min(n);
        k.set_many((first..last).map(|i| (Prefix::V4(prefix(i), 24), None, vec![])));
    }
    k.flush().await;
    let delete = start.elapsed();
    let stats = k.stats();
    assert_eq!(stats.installed, 0, "{stats:?}");
    assert_eq!(stats.errors, 0);
    k.shutdown(false).await;
    println!(
        "impl=nvabgp n={n} add_s={:.3} del_s={:.3} set_calls_s={:.3} writes={}",
        add.as_secs_f64(),
        delete.as_secs_f64(),
        set.as_secs_f64(),
        stats.writes
    );
}

/// Waits on a monitor socket for an RTM_NEWROUTE of `destination`/24.
fn wait_new_route(monitor: &mut Raw, destination: u32) -> Instant {
    loop {
        let data = monitor.recv().to_vec();
        let now = Instant::now();
        let mut at = 0;
        while at + 28 <= data.len() {
            let length = u32::from_ne_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(data[at + 4..at + 6].try_into().unwrap());
            if kind == RTM_NEWROUTE && length <= data.len() - at {
                let message = &data[at + 16..at + length];
                let mut attribute_at = 12;
                while attribute_at + 4 <= message.len() {
                    let len = u16::from_ne_bytes(
                        message[attribute_at..attribute_at + 2].try_into().unwrap(),
                    ) as usize;
                    let kind = u16::from_ne_bytes(
                        message[attribute_at + 2..attribute_at + 4]
                            .try_into()
                            .unwrap(),
                    );
                    if len < 4 {
                        break;
                    }
                    if kind == RTA_DST
                        && len == 8
                        && message[attribute_at + 4..attribute_at + 8] == destination.to_be_bytes()
                    {
                        return now;
                    }
                    attribute_at += len.div_ceil(4) * 4;
                }
            }
            if length == 0 {
                break;
            }
            at += length.div_ceil(4) * 4;
        }
    }
}

async fn latency(samples: u32) {
    let (cfg, ctx) = config();
    let k = kernel::start(&cfg, ctx).await.expect("kernel module start");
    // RTMGRP_IPV4_ROUTE
    let mut monitor = Raw::open(0x40);
    let next_hop = IpAddr::from([10, 1, 1, 4]);
    let mut took = Vec::with_capacity(samples as usize);
    for i in 0..samples {
        let destination = (12 << 24) + (i << 8);
        let p = Prefix::V4(destination, 24);
        let start = Instant::now();
        k.set(p, vec![next_hop]);
        let seen = wait_new_route(&mut monitor, destination);
        took.push(seen - start);
        k.set(p, vec![]);
        k.flush().await;
        // Drain the delete notification before the next sample.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    k.shutdown(false).await;
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    println!(
        "impl=nvabgp-latency n={samples} median_us={:.0} p90_us={:.0} p99_us={:.0} max_us={:.0}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u32 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    match args.get(1).map(String::as_str) {
        Some("floor") => floor(n),
        Some("nvabgp") => runtime.block_on(nvabgp(n)),
        Some("latency") => runtime.block_on(latency(n)),
        _ => {
            eprintln!("usage: kernel-bench floor|nvabgp|latency N");
            std::process::exit(2);
        }
    }
}
