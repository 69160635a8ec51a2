//! Kernel route install benchmark, run inside a network namespace by
//! `run.sh` (never by `cargo test`).
//!
//! ```text
//! kernel-bench floor N      minimal batched netlink writer: N /24s added, then deleted
//!                           (FLOOR_NHID=1: routes name nexthop object 1, made beforehand,
//!                           and are removed by deleting it; FLOOR_ORDER=asc|desc|bitrev|
//!                           bitrev-hi|random|chunk-K-ORDER: the order written; FLOOR_ACK=last:
//!                           NLM_F_ACK only on the last request of each sendmsg;
//!                           FLOOR_BATCH=K: requests per sendmsg; FLOOR_LISTEN=idle|filtered:
//!                           another socket subscribed to IPv4 route notifications)
//! kernel-bench nvabgp N     nvabgp's kernel module: N routes handed over 1000 per set_many()
//!                           call (one UPDATE's worth), flush; then N withdrawals likewise
//!                           (NVABGP_LISTEN=filtered: with another route subscriber)
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
/// The legacy group bit of RTNLGRP_IPV4_ROUTE.
const RTMGRP_IPV4_ROUTE: u32 = 0x40;
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

    /// Attaches a BPF program that drops every datagram: the kernel still
    /// builds and offers each notification, as to nvabgp's monitor.
    fn drop_everything(&self) {
        let mut program = [libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        }];
        let fprog = libc::sock_fprog {
            len: 1,
            filter: program.as_mut_ptr(),
        };
        // SAFETY: a valid fd and program, copied by the kernel.
        let rc = unsafe {
            libc::setsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&raw const fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as u32,
            )
        };
        assert_eq!(
            rc,
            0,
            "SO_ATTACH_FILTER: {}",
            std::io::Error::last_os_error()
        );
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

/// How a floor writer run is set up (environment variables, so run.sh can
/// name each variant).
#[derive(Debug, Clone)]
struct FloorOptions {
    /// `FLOOR_NHID=ID`: routes name nexthop object ID (made beforehand).
    nexthop: Option<u32>,
    /// `FLOOR_ORDER=asc|desc|bitrev|random`: the order routes are written.
    order: String,
    /// `FLOOR_ACK=all|last`: NLM_F_ACK on every request, or only on the last
    /// of each `sendmsg` (errors are answered either way).
    ack_all: bool,
    /// `FLOOR_BATCH=K`: requests per `sendmsg`.
    batch: u32,
    /// `FLOOR_LISTEN=none|idle|filtered`: another socket of the namespace
    /// subscribed to RTNLGRP_IPV4_ROUTE, never read (`idle`), or dropping
    /// every notification with a BPF filter as nvabgp's monitor does with
    /// its own (`filtered`).
    listen: String,
}

impl FloorOptions {
    fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            nexthop: var("FLOOR_NHID").and_then(|v| v.parse().ok()),
            order: var("FLOOR_ORDER").unwrap_or_else(|| "asc".into()),
            ack_all: var("FLOOR_ACK").as_deref() != Some("last"),
            batch: var("FLOOR_BATCH")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1024),
            listen: var("FLOOR_LISTEN").unwrap_or_else(|| "none".into()),
        }
    }

    /// The name run.sh reports: `floor`, `floor-nhid`, then the options
    /// that differ from the defaults.
    fn name(&self) -> String {
        let mut name = String::from(if self.nexthop.is_some() {
            "floor-nhid"
        } else {
            "floor"
        });
        if self.order != "asc" {
            name += &format!("-{}", self.order);
        }
        if !self.ack_all {
            name += "-lastack";
        }
        if self.batch != 1024 {
            name += &format!("-b{}", self.batch);
        }
        if self.listen != "none" {
            name += &format!("-listen{}", self.listen);
        }
        name
    }

    /// Route indexes 0..n in the order they are written.
    fn indexes(&self, n: u32) -> Vec<u32> {
        // `chunk-K-ORDER`: ascending chunks of K, each written in ORDER (what
        // a writer can do with the batches it is handed).
        if let Some(rest) = self.order.strip_prefix("chunk-")
            && let Some((k, order)) = rest.split_once('-')
            && let Ok(k) = k.parse::<u32>()
        {
            let inner = Self {
                order: order.to_string(),
                ..self.clone()
            };
            let mut out = Vec::with_capacity(n as usize);
            for first in (0..n).step_by(k as usize) {
                let size = k.min(n - first);
                out.extend(inner.indexes(size).into_iter().map(|i| first + i));
            }
            return out;
        }
        match self.order.as_str() {
            "desc" => (0..n).rev().collect(),
            // Bit-reversed order of the high bits, ascending within
            // aligned runs of 256 (one /16's worth of /24s).
            "bitrev-hi" => {
                let runs = n.div_ceil(256);
                let bits = 32 - runs.saturating_sub(1).leading_zeros();
                (0..1u64 << bits)
                    .map(|i| ((i as u32).reverse_bits() >> (32 - bits.max(1))) & ((1 << bits) - 1))
                    .filter(|&run| run < runs)
                    .flat_map(|run| run * 256..(run * 256 + 256).min(n))
                    .collect()
            }
            "bitrev" => {
                let bits = 32 - n.saturating_sub(1).leading_zeros();
                (0..1u64 << bits)
                    .map(|i| ((i as u32).reverse_bits() >> (32 - bits.max(1))) & ((1 << bits) - 1))
                    .filter(|&i| i < n)
                    .collect()
            }
            "random" => {
                let mut v: Vec<u32> = (0..n).collect();
                // xorshift: reproducible, no extra dependency.
                let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
                for i in (1..v.len()).rev() {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    v.swap(i, (state % (i as u64 + 1)) as usize);
                }
                v
            }
            _ => (0..n).collect(),
        }
    }
}

/// One RTM_NEWROUTE (create, exclusive) or RTM_DELROUTE.
fn route_message(
    out: &mut Vec<u8>,
    add: bool,
    destination: u32,
    sequence: u32,
    nexthop: Option<u32>,
    ack: bool,
) {
    let start = out.len();
    let ack = if ack { NLM_F_ACK } else { 0 };
    let (kind, flags) = if add {
        (
            RTM_NEWROUTE,
            NLM_F_REQUEST | ack | NLM_F_CREATE | NLM_F_EXCL,
        )
    } else {
        (RTM_DELROUTE, NLM_F_REQUEST | ack)
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
        match nexthop {
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

/// Adds or deletes the routes `indexes`, `options.batch` requests per
/// sendmsg, and checks every acknowledgement (or, with `FLOOR_ACK=last`,
/// the last request's and every error: netlink answers in order, so the
/// last acknowledgement means every request of the batch was handled).
fn floor_pass(raw: &mut Raw, indexes: &[u32], add: bool, options: &FloorOptions) -> Duration {
    let start = Instant::now();
    let mut out = Vec::with_capacity(options.batch as usize * 64);
    for (chunk_number, chunk) in indexes.chunks(options.batch as usize).enumerate() {
        out.clear();
        let base = (chunk_number * options.batch as usize) as u32 + 1;
        for (k, &index) in chunk.iter().enumerate() {
            let last = k + 1 == chunk.len();
            route_message(
                &mut out,
                add,
                prefix(index),
                base + k as u32,
                options.nexthop,
                options.ack_all || last,
            );
        }
        raw.send(&out);
        let last_sequence = base + chunk.len() as u32 - 1;
        let mut missing = if options.ack_all { chunk.len() } else { 1 };
        while missing > 0 {
            let data = raw.recv().to_vec();
            let mut at = 0;
            while at + 20 <= data.len() {
                let length = u32::from_ne_bytes(data[at..at + 4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(data[at + 4..at + 6].try_into().unwrap());
                let sequence = u32::from_ne_bytes(data[at + 8..at + 12].try_into().unwrap());
                if kind == NLMSG_ERROR {
                    let code = i32::from_ne_bytes(data[at + 16..at + 20].try_into().unwrap());
                    assert_eq!(code, 0, "the kernel refused a request: errno {}", -code);
                    if options.ack_all || sequence == last_sequence {
                        missing -= 1;
                    }
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

/// CPU time (user and system) used by this process so far: unlike wall
/// time, barely moved by other jobs on the machine's cores.
fn cpu_time() -> Duration {
    // SAFETY: clock_gettime fills the zeroed struct it is given.
    let t = unsafe {
        let mut t: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t);
        t
    };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn floor(n: u32) {
    let options = FloorOptions::from_env();
    let mut raw = Raw::open(0);
    // Kept open (never read) for the whole run.
    let _listener = match options.listen.as_str() {
        "idle" => Some(Raw::open(RTMGRP_IPV4_ROUTE)),
        "filtered" => {
            let listener = Raw::open(RTMGRP_IPV4_ROUTE);
            listener.drop_everything();
            Some(listener)
        }
        _ => None,
    };
    let indexes = options.indexes(n);
    let cpu = cpu_time();
    let add = floor_pass(&mut raw, &indexes, true, &options);
    let add_cpu = cpu_time() - cpu;
    let delete = if let Some(id) = options.nexthop {
        // Deleting the nexthop object removes every route using it.
        let start = Instant::now();
        let status = std::process::Command::new("ip")
            .args(["nexthop", "del", "id", &id.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        start.elapsed()
    } else {
        let order = if std::env::var("DELETE_ORDER").as_deref() == Ok("reverse") {
            (0..n).rev().collect()
        } else {
            indexes
        };
        floor_pass(&mut raw, &order, false, &options)
    };
    println!(
        "impl={} n={n} add_s={:.3} del_s={:.3} add_cpu_s={:.3}",
        options.name(),
        add.as_secs_f64(),
        delete.as_secs_f64(),
        add_cpu.as_secs_f64()
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
    // NVABGP_LISTEN=filtered: another route subscriber in the namespace
    // (as systemd-networkd is on a VM), dropping what it is sent.
    let listen = std::env::var("NVABGP_LISTEN").as_deref() == Ok("filtered");
    let _listener = listen.then(|| {
        let listener = Raw::open(RTMGRP_IPV4_ROUTE);
        listener.drop_everything();
        listener
    });
    let name = if listen {
        "nvabgp-listenfiltered"
    } else {
        "nvabgp"
    };
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
        "impl={name} n={n} add_s={:.3} del_s={:.3} set_calls_s={:.3} writes={}",
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
    let mut monitor = Raw::open(RTMGRP_IPV4_ROUTE);
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
