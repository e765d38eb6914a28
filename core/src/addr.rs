//! Host and port parsing, and name resolution off the loop thread.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, ToSocketAddrs};

use crate::error::{invalid, Error, Result};

/// Checks a user-supplied port (0 to 65535).
pub fn port(port: i64) -> Result<u16> {
    u16::try_from(port).map_err(|_| invalid!("port", "0 to 65535"))
}

/// Parses an IP literal (`127.0.0.1`, `::1`, `[::1]`); `localhost` is
/// 127.0.0.1. `None` for anything else (a name to resolve).
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse().ok()
}

/// A socket address for a host that must be an IP literal (or `localhost`):
/// binding and `send_to` never block on name resolution. An IPv6 literal
/// may carry a zone, as a number or an interface name (`fe80::1%2`,
/// `[fe80::1%eth0]`), as `nc_addr_format` writes it.
pub fn literal(host: &str, port_number: i64) -> Result<SocketAddr> {
    let port = port(port_number)?;
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Some((ip, zone)) = bare.split_once('%') {
        let ip: Ipv6Addr = ip.parse().map_err(|_| not_a_literal())?;
        let zone = zone.parse().ok().or_else(|| interface_index(zone));
        let scope = zone.ok_or(invalid!("host", "an IPv6 zone that is an interface index or name"))?;
        return Ok(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope)));
    }
    ip_literal(host).map(|ip| SocketAddr::new(ip, port)).ok_or_else(not_a_literal)
}

fn not_a_literal() -> Error {
    invalid!("host", "an IP address (IPv6 with an optional %zone) or localhost")
}

/// The host part of an address as the surfaces print it: the IP, and for
/// an IPv6 address with a scope its zone (`fe80::1%2`), so that a reply
/// to a link-local peer leaves by the right interface. [`literal`] takes
/// it back.
pub fn host(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => dotted(v4.ip()),
        SocketAddr::V6(v6) if v6.scope_id() != 0 => format!("{}%{}", v6.ip(), v6.scope_id()),
        SocketAddr::V6(v6) => v6.ip().to_string(),
    }
}

/// An IPv4 address in dotted decimal, as its `Display` writes it, digit by
/// digit: the formatting machinery cost ~1,300 instructions per accepted
/// connection's peer address (bench/NOTES.md, netcore.aio per connection).
fn dotted(ip: &Ipv4Addr) -> String {
    let mut text = String::with_capacity(15);
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

fn interface_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: a NUL-terminated name; the call only reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// Names under the reserved `.invalid` domain never resolve (RFC 6761): they
/// fail at once, without asking any name server.
pub(crate) fn is_reserved_invalid(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "invalid" || host.ends_with(".invalid")
}

/// Resolves a host name with the system resolver. Blocking: call it off the
/// loop thread.
pub(crate) fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>> {
    if is_reserved_invalid(host) {
        return Err(Error::EDNS);
    }
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(|_| Error::EDNS)?.collect();
    if addrs.is_empty() {
        return Err(Error::EDNS);
    }
    Ok(addrs)
}

/// The most addresses one name may be answered with
/// ([`crate::Loop::set_host_addresses`]).
pub const MAX_HOST_ADDRESSES: usize = 64;

/// Parses the addresses a name is answered with: at most
/// [`MAX_HOST_ADDRESSES`], each an IP literal (no zone: the answer is an
/// IP, and a scope has nowhere to go). One check for every surface.
pub fn ip_addresses<S: AsRef<str>>(texts: &[S]) -> Result<Vec<IpAddr>> {
    if texts.len() > MAX_HOST_ADDRESSES {
        const _: () = assert!(MAX_HOST_ADDRESSES == 64, "the detail below says so");
        return Err(invalid!("addresses", "at most 64 addresses"));
    }
    texts.iter().map(|t| ip_literal(t.as_ref()).ok_or(invalid!("addresses", "IP addresses (no zone)"))).collect()
}

/// Checks a host string a user passed: not empty, no NUL, not absurdly long.
pub(crate) fn check_host(host: &str) -> Result<()> {
    if host.is_empty() || host.len() > 253 + 2 || host.contains('\0') {
        return Err(invalid!("host", "a name or address of 1 to 255 bytes, without NUL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_ports() {
        assert_eq!(literal("127.0.0.1", 80).unwrap().to_string(), "127.0.0.1:80");
        assert_eq!(literal("[::1]", 0).unwrap().to_string(), "[::1]:0");
        assert_eq!(literal("::1", 65535).unwrap().port(), 65535);
        assert_eq!(literal("localhost", 1).unwrap().to_string(), "127.0.0.1:1");
        assert_eq!(literal("127.0.0.1", 70000), Err(Error::EINVAL));
        assert_eq!(literal("127.0.0.1", -1), Err(Error::EINVAL));
        assert_eq!(literal("example.invalid", 1), Err(Error::EINVAL));
        assert_eq!(literal("1.2.3", 1), Err(Error::EINVAL));
        assert_eq!(literal("fe80::1%2", 9).unwrap().to_string(), "[fe80::1%2]:9");
        assert_eq!(literal("[fe80::1%lo]", 9).unwrap().to_string(), "[fe80::1%1]:9");
        assert_eq!(literal("fe80::1%no-such-if", 9), Err(Error::EINVAL));
        assert_eq!(literal("127.0.0.1", 70000).unwrap_err().detail().map(|d| d.argument), Some("port"));
        assert_eq!(literal("1.2.3", 1).unwrap_err().detail().map(|d| d.argument), Some("host"));
    }

    #[test]
    fn the_host_of_an_address_keeps_its_zone_and_parses_back() {
        for (text, port) in [("fe80::1%1", 9), ("fe80::1%4000000", 0), ("::1", 7), ("127.0.0.1", 65535)] {
            let addr = literal(text, port).unwrap();
            assert_eq!(host(&addr), text);
            assert_eq!(literal(&host(&addr), port), Ok(addr));
        }
        for ip in [[0, 0, 0, 0], [127, 0, 0, 1], [10, 9, 99, 100], [255, 255, 255, 255], [1, 20, 200, 109]] {
            let ip = Ipv4Addr::from(ip);
            assert_eq!(host(&SocketAddr::new(IpAddr::V4(ip), 1)), ip.to_string());
        }
        let zoned = literal("fe80::1%1", 9).unwrap();
        assert_eq!(zoned.to_string(), "[fe80::1%1]:9");
    }

    #[test]
    fn invalid_names_fail_resolution() {
        assert!(is_reserved_invalid("No-Such-Host.INVALID."));
        assert!(!is_reserved_invalid("invalid.example"));
        assert_eq!(resolve("no-such-host.invalid", 80), Err(Error::EDNS));
    }
}
