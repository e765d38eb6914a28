//! Client source addresses (--sources): connections spread round-robin over
//! several loopback addresses, so a churn run's TIME_WAIT sockets (60 s each,
//! on the client, which closes first) spread over many addresses instead of
//! filling one address's port range, and the figure measures the server.
//!
//! Each socket is bound to its address with IP_BIND_ADDRESS_NO_PORT: the
//! port is then chosen at connect() time for the full 4-tuple, as for an
//! unbound socket, instead of by bind() among the ports free for any peer.

use mio::net::TcpStream;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Parses "A" , "A-B" (a range in the last octet's order) and comma lists of
/// those, e.g. "127.0.0.2-127.0.0.17,127.0.0.40".
pub fn parse(spec: &str) -> Result<Vec<Ipv4Addr>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let addr = |s: &str| s.trim().parse::<Ipv4Addr>().map_err(|_| format!("--sources: bad IPv4 address '{s}'"));
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (addr(a)?, addr(b)?),
            None => (addr(part)?, addr(part)?),
        };
        let (lo, hi) = (u32::from(first), u32::from(last));
        if hi < lo || hi - lo >= 65_536 {
            return Err(format!("--sources: '{part}' is not a range of at most 65,536 addresses"));
        }
        out.extend((lo..=hi).map(Ipv4Addr::from));
    }
    if out.is_empty() {
        return Err("--sources: no address".into());
    }
    Ok(out)
}

fn check(rc: libc::c_int, what: &str) -> io::Result<()> {
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = a.port().to_be();
    sa.sin_addr = libc::in_addr { s_addr: u32::from(*a.ip()).to_be() };
    sa
}

/// Starts a non-blocking connect from `src` (any port) to `dst`.
pub fn connect_from(src: Ipv4Addr, dst: SocketAddr) -> io::Result<TcpStream> {
    let SocketAddr::V4(dst) = dst else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "--sources needs an IPv4 --addr"));
    };
    // SAFETY: plain system calls on a descriptor this function owns (OwnedFd
    // closes it on every error path); the address structs outlive the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0);
        check(fd, "socket")?;
        let owned = OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        check(
            libc::setsockopt(
                fd,
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            ),
            "IP_BIND_ADDRESS_NO_PORT",
        )?;
        let len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let from = sockaddr(SocketAddrV4::new(src, 0));
        check(libc::bind(fd, (&from as *const libc::sockaddr_in).cast(), len), &format!("bind {src}"))?;
        let to = sockaddr(dst);
        if libc::connect(owned.as_raw_fd(), (&to as *const libc::sockaddr_in).cast(), len) < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
        }
        Ok(TcpStream::from_std(std::net::TcpStream::from(owned)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_lists() {
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(parse("127.0.0.2").unwrap(), vec![a("127.0.0.2")]);
        assert_eq!(
            parse("127.0.0.2-127.0.0.4, 127.0.0.9").unwrap(),
            vec![a("127.0.0.2"), a("127.0.0.3"), a("127.0.0.4"), a("127.0.0.9")]
        );
        assert_eq!(parse("127.0.0.255-127.0.1.0").unwrap().len(), 2);
        assert!(parse("127.0.0.5-127.0.0.4").is_err());
        assert!(parse("127.0.0.x").is_err());
        assert!(parse(" , ").is_err());
    }

    #[test]
    fn a_connection_comes_from_the_source_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dst = listener.local_addr().unwrap();
        let src: Ipv4Addr = "127.0.0.3".parse().unwrap();
        let stream = connect_from(src, dst).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), src);
        assert_eq!(stream.local_addr().unwrap().ip(), src);
        assert!(connect_from(src, "[::1]:9".parse().unwrap()).is_err());
    }
}
