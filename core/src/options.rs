//! Socket and queue options, with the range each value must fall in.

use std::ops::RangeInclusive;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

use crate::error::{Detail, Error, Result};
use crate::event::HandleKind;
use crate::names::named_enum;

named_enum! {
    argument: "option";
    /// An option settable with `set_option`. The numeric values are part of
    /// the C ABI; [`SockOption::range`] gives each one's values.
    pub enum SockOption {
        /// TCP_NODELAY, 0 or 1 (on by default).
        NoDelay = 1, "nodelay";
        /// TCP keepalive: 0 = off, else the idle seconds before probes (1 to 32767).
        KeepAlive = 2, "keepalive";
        /// SO_RCVBUF in bytes (1 to 1 GiB; the kernel may round it).
        RecvBuffer = 3, "rcvbuf";
        /// SO_SNDBUF in bytes (1 to 1 GiB; the kernel may round it).
        SendBuffer = 4, "sndbuf";
        /// Send-queue high-water mark in bytes (1 to 1 GiB, at least the low-water mark).
        HighWater = 5, "high_water";
        /// Send-queue low-water mark in bytes (0 to the high-water mark).
        LowWater = 6, "low_water";
        /// SO_BROADCAST (UDP), 0 or 1.
        Broadcast = 7, "broadcast";
        /// SO_LINGER in seconds: -1 = off (the default), 0 = reset on close, 1 to 32767.
        Linger = 8, "linger";
        /// Multicast loopback (UDP), 0 or 1.
        MulticastLoop = 9, "multicast_loop";
        /// Multicast TTL / hop limit (UDP), 0 to 255.
        MulticastTtl = 10, "multicast_ttl";
        /// Unicast TTL / hop limit (IP_TTL, IPV6_UNICAST_HOPS), 1 to 255.
        Ttl = 11, "ttl";
    }
}

const GIB: i64 = 1 << 30;

fn is_v6(sock: &SockRef<'_>) -> bool {
    sock.local_addr().is_ok_and(|a| a.is_ipv6())
}

/// What each option's value must be, in [`SockOption::ALL`] order.
static DETAILS: [Detail; 11] = [
    Detail { argument: SockOption::NoDelay.name(), expected: "0 or 1" },
    Detail { argument: SockOption::KeepAlive.name(), expected: "0 (off) or 1 to 32767 seconds" },
    Detail { argument: SockOption::RecvBuffer.name(), expected: "1 to 1073741824 bytes" },
    Detail { argument: SockOption::SendBuffer.name(), expected: "1 to 1073741824 bytes" },
    Detail { argument: SockOption::HighWater.name(), expected: "1 to 1073741824 bytes, at least the low-water mark" },
    Detail { argument: SockOption::LowWater.name(), expected: "0 to the high-water mark" },
    Detail { argument: SockOption::Broadcast.name(), expected: "0 or 1" },
    Detail { argument: SockOption::Linger.name(), expected: "-1 (off), 0 (reset on close) or 1 to 32767 seconds" },
    Detail { argument: SockOption::MulticastLoop.name(), expected: "0 or 1" },
    Detail { argument: SockOption::MulticastTtl.name(), expected: "0 to 255" },
    Detail { argument: SockOption::Ttl.name(), expected: "1 to 255" },
];

impl SockOption {
    /// The values the option takes (the water marks also depend on each other).
    pub fn range(self) -> RangeInclusive<i64> {
        match self {
            SockOption::NoDelay | SockOption::Broadcast | SockOption::MulticastLoop => 0..=1,
            SockOption::Linger => -1..=32767,
            SockOption::MulticastTtl => 0..=255,
            SockOption::Ttl => 1..=255,
            SockOption::KeepAlive => 0..=32767,
            SockOption::RecvBuffer | SockOption::SendBuffer | SockOption::HighWater => 1..=GIB,
            SockOption::LowWater => 0..=GIB,
        }
    }

    /// Whether the option is an on/off switch (0 or 1).
    pub fn is_bool(self) -> bool {
        self.range() == (0..=1)
    }

    /// Whether the option applies to handles of `kind`.
    pub fn applies_to(self, kind: HandleKind) -> bool {
        use SockOption::*;
        match self {
            RecvBuffer | SendBuffer | Ttl => kind != HandleKind::Timer,
            Broadcast | MulticastLoop | MulticastTtl => kind == HandleKind::Udp,
            NoDelay | KeepAlive | Linger => matches!(kind, HandleKind::TcpConnection | HandleKind::TcpListener),
            HighWater | LowWater => kind == HandleKind::TcpConnection,
        }
    }

    /// What the option's value must be, for an `EINVAL`.
    pub(crate) fn refused(self) -> Error {
        Error::invalid(&DETAILS[self as usize - 1])
    }

    /// Checks `value` against the option's range.
    pub(crate) fn check(self, value: i64) -> Result<()> {
        if self.range().contains(&value) {
            Ok(())
        } else {
            Err(self.refused())
        }
    }

    /// Sets a kernel-level option on a socket.
    pub(crate) fn set_on(self, sock: SockRef<'_>, value: i64) -> Result<()> {
        match self {
            SockOption::NoDelay => sock.set_tcp_nodelay(value != 0)?,
            SockOption::KeepAlive if value == 0 => sock.set_keepalive(false)?,
            SockOption::KeepAlive => {
                let secs = Duration::from_secs(value as u64);
                sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(secs))?;
                sock.set_keepalive(true)?;
            }
            SockOption::RecvBuffer => sock.set_recv_buffer_size(value as usize)?,
            SockOption::SendBuffer => sock.set_send_buffer_size(value as usize)?,
            SockOption::Broadcast => sock.set_broadcast(value != 0)?,
            SockOption::Linger => sock.set_linger((value >= 0).then(|| Duration::from_secs(value as u64)))?,
            SockOption::MulticastLoop if is_v6(&sock) => sock.set_multicast_loop_v6(value != 0)?,
            SockOption::MulticastLoop => sock.set_multicast_loop_v4(value != 0)?,
            SockOption::MulticastTtl if is_v6(&sock) => sock.set_multicast_hops_v6(value as u32)?,
            SockOption::MulticastTtl => sock.set_multicast_ttl_v4(value as u32)?,
            SockOption::Ttl if is_v6(&sock) => sock.set_unicast_hops_v6(value as u32)?,
            SockOption::Ttl => sock.set_ttl_v4(value as u32)?,
            SockOption::HighWater | SockOption::LowWater => return Err(Error::EWRONGKIND),
        }
        Ok(())
    }

    /// Reads a kernel-level option from a socket.
    pub(crate) fn get_from(self, sock: SockRef<'_>) -> Result<i64> {
        Ok(match self {
            SockOption::NoDelay => sock.tcp_nodelay()? as i64,
            SockOption::KeepAlive if !sock.keepalive()? => 0,
            SockOption::KeepAlive => sock.tcp_keepalive_time()?.as_secs() as i64,
            SockOption::RecvBuffer => sock.recv_buffer_size()? as i64,
            SockOption::SendBuffer => sock.send_buffer_size()? as i64,
            SockOption::Broadcast => sock.broadcast()? as i64,
            SockOption::Linger => sock.linger()?.map_or(-1, |d| d.as_secs() as i64),
            SockOption::MulticastLoop if is_v6(&sock) => sock.multicast_loop_v6()? as i64,
            SockOption::MulticastLoop => sock.multicast_loop_v4()? as i64,
            SockOption::MulticastTtl if is_v6(&sock) => sock.multicast_hops_v6()? as i64,
            SockOption::MulticastTtl => sock.multicast_ttl_v4()? as i64,
            SockOption::Ttl if is_v6(&sock) => sock.unicast_hops_v6()? as i64,
            SockOption::Ttl => sock.ttl_v4()? as i64,
            SockOption::HighWater | SockOption::LowWater => return Err(Error::EWRONGKIND),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(SockOption::NoDelay.check(2).is_err());
        assert!(SockOption::KeepAlive.check(-1).is_err());
        assert!(SockOption::RecvBuffer.check(0).is_err());
        assert!(SockOption::HighWater.check(GIB + 1).is_err());
        assert!(SockOption::LowWater.check(0).is_ok());
        assert!(SockOption::Ttl.check(0).is_err() && SockOption::Ttl.check(256).is_err());
        assert_eq!(SockOption::from_raw(99), None);
        assert_eq!(SockOption::from_raw(5), Some(SockOption::HighWater));
        assert_eq!(SockOption::parse("nodelay"), Ok(SockOption::NoDelay));
        assert!(SockOption::parse("NODELAY").unwrap_err().detail().is_some_and(|d| d.expected.contains("high_water")));
    }

    #[test]
    fn every_option_has_its_own_detail() {
        for &option in SockOption::ALL {
            let detail = option.refused().detail().map(|d| d.argument);
            assert_eq!(detail, Some(option.name()));
            assert_eq!(option.is_bool(), DETAILS[option as usize - 1].expected == "0 or 1");
        }
    }
}
