//! TCP for BGP sessions: outgoing connections bound to the configured local
//! address with the configured TTL (multihop eBGP: Azure Route Server sits
//! in another subnet), TCP MD5 signatures (RFC 2385), and the listening
//! socket.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Options of one session's TCP connection.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// Where to connect.
    pub remote: SocketAddr,
    /// Local address to bind to.
    pub local: Option<IpAddr>,
    /// Outgoing TTL / hop limit.
    pub ttl: u8,
    /// TCP MD5 key.
    pub password: Option<String>,
}

fn set_ttl(sock: &Socket, ipv4: bool, ttl: u8) -> io::Result<()> {
    if ipv4 {
        sock.set_ttl(u32::from(ttl))
    } else {
        sock.set_unicast_hops_v6(u32::from(ttl))
    }
}

/// `struct tcp_md5sig` of linux/tcp.h.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; 80],
}

/// Sets (or with `None` clears) the TCP MD5 key for `peer` on `fd`
/// (RFC 2385, Linux TCP_MD5SIG). On a listening socket it applies to
/// connections accepted from `peer`. `v4_mapped`: the socket is IPv6 and
/// `peer` is IPv4, so the kernel sees it as ::ffff:a.b.c.d.
pub fn set_md5(
    fd: &impl AsRawFd,
    peer: IpAddr,
    key: Option<&str>,
    v4_mapped: bool,
) -> io::Result<()> {
    let key = key.unwrap_or("").as_bytes();
    if key.len() > 80 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "TCP MD5 key longer than 80 bytes",
        ));
    }
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    let addr = match (peer, v4_mapped) {
        (IpAddr::V4(a), true) => SocketAddr::new(IpAddr::V6(a.to_ipv6_mapped()), 0),
        _ => SocketAddr::new(peer, 0),
    };
    let sa = socket2::SockAddr::from(addr);
    // SAFETY: `sa` holds at most sizeof(sockaddr_storage) bytes of a valid
    // sockaddr; the destination is exactly that large.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr().cast::<u8>(),
            (&mut sig.addr as *mut libc::sockaddr_storage).cast::<u8>(),
            sa.len() as usize,
        );
    }
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: `sig` is a properly laid out tcp_md5sig that outlives the
    // call; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            (&sig as *const TcpMd5Sig).cast(),
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens an outgoing connection with the session's options, within
/// `timeout`.
pub async fn connect(opts: &TcpOptions, timeout: Duration) -> io::Result<TcpStream> {
    let ipv4 = opts.remote.is_ipv4();
    let domain = if ipv4 { Domain::IPV4 } else { Domain::IPV6 };
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.set_nodelay(true)?;
    set_ttl(&sock, ipv4, opts.ttl)?;
    if let Some(pw) = &opts.password {
        set_md5(&sock, opts.remote.ip(), Some(pw), false)?;
    }
    if let Some(local) = opts.local {
        // Binding lets the session come from the address the peer
        // expects even on a VM with several IPs.
        sock.bind(&SocketAddr::new(local, 0).into())?;
    }
    let std_stream: std::net::TcpStream = sock.into();
    let socket = TcpSocket::from_std_stream(std_stream);
    match tokio::time::timeout(timeout, socket.connect(opts.remote)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

/// Prepares an accepted connection: TTL and no Nagle delay.
pub fn prepare_accepted(stream: &TcpStream, ttl: u8) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let sock = socket2::SockRef::from(stream);
    let ipv4 = match stream.peer_addr()? {
        SocketAddr::V4(_) => true,
        // A v4-mapped peer on a dual-stack socket still uses IP_TTL.
        SocketAddr::V6(a) => a.ip().to_ipv4_mapped().is_some(),
    };
    set_ttl(&sock, ipv4, ttl)
}

/// Binds the BGP listening socket. An unspecified IPv6 address listens on
/// IPv4 as well.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(false)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(64)?;
    TcpListener::from_std(sock.into())
}

/// The peer's address as configured: v4-mapped IPv6 addresses from a
/// dual-stack listener are turned back into IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connects_with_ttl_and_binds_on_loopback() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let opts = TcpOptions {
            remote: addr,
            local: Some("127.0.0.1".parse().unwrap()),
            ttl: 255,
            password: None,
        };
        let (c, a) = tokio::join!(connect(&opts, Duration::from_secs(5)), listener.accept());
        let c = c.unwrap();
        let (s, _) = a.unwrap();
        assert_eq!(c.ttl().unwrap(), 255);
        prepare_accepted(&s, 64).unwrap();
        assert_eq!(s.ttl().unwrap(), 64);
    }

    #[tokio::test]
    async fn md5_keys_are_accepted_by_the_kernel() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        // Some kernels are built without TCP_MD5SIG; say so instead of
        // failing on them.
        match set_md5(
            &listener,
            "127.0.0.1".parse().unwrap(),
            Some("secret"),
            false,
        ) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {
                eprintln!("SKIP: kernel has no TCP_MD5SIG support: {e}");
                return;
            }
            Err(e) => panic!("set_md5: {e}"),
        }
        let opts = TcpOptions {
            remote: listener.local_addr().unwrap(),
            local: None,
            ttl: 64,
            password: Some("secret".into()),
        };
        let (c, a) = tokio::join!(connect(&opts, Duration::from_secs(5)), listener.accept());
        assert!(c.is_ok() && a.is_ok());
        assert!(canonical_ip("::ffff:10.1.1.4".parse().unwrap()).is_ipv4());
    }
}
