//! Socket and queue options, with the range each value must fall in.

use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

use crate::error::{Error, Result};

/// An option settable with `set_option`. The numeric values are part of the C ABI.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(i32)]
pub enum SockOption {
    /// TCP_NODELAY, 0 or 1 (on by default).
    NoDelay = 1,
    /// TCP keepalive: 0 = off, else the idle seconds before probes (1 to 32767).
    KeepAlive = 2,
    /// SO_RCVBUF in bytes (1 to 1 GiB; the kernel may round it).
    RecvBuffer = 3,
    /// SO_SNDBUF in bytes (1 to 1 GiB; the kernel may round it).
    SendBuffer = 4,
    /// Send-queue high-water mark in bytes (1 to 1 GiB, at least the low-water mark).
    HighWater = 5,
    /// Send-queue low-water mark in bytes (0 to the high-water mark).
    LowWater = 6,
    /// SO_BROADCAST (UDP), 0 or 1.
    Broadcast = 7,
    /// SO_LINGER in seconds: -1 = off (the default), 0 = reset on close, 1 to 32767.
    Linger = 8,
    /// Multicast loopback (UDP), 0 or 1.
    MulticastLoop = 9,
    /// Multicast TTL / hop limit (UDP), 0 to 255.
    MulticastTtl = 10,
}

const GIB: i64 = 1 << 30;

fn is_v6(sock: &SockRef<'_>) -> bool {
    sock.local_addr().is_ok_and(|a| a.is_ipv6())
}

impl SockOption {
    /// The option for its C value.
    pub fn from_raw(raw: i32) -> Result<SockOption> {
        use SockOption::*;
        [
            NoDelay,
            KeepAlive,
            RecvBuffer,
            SendBuffer,
            HighWater,
            LowWater,
            Broadcast,
            Linger,
            MulticastLoop,
            MulticastTtl,
        ]
        .into_iter()
        .find(|o| *o as i32 == raw)
        .ok_or(Error::EINVAL)
    }

    /// Checks `value` against the option's range.
    pub(crate) fn check(self, value: i64) -> Result<()> {
        let range = match self {
            SockOption::NoDelay | SockOption::Broadcast | SockOption::MulticastLoop => 0..=1,
            SockOption::Linger => -1..=32767,
            SockOption::MulticastTtl => 0..=255,
            SockOption::KeepAlive => 0..=32767,
            SockOption::RecvBuffer | SockOption::SendBuffer | SockOption::HighWater => 1..=GIB,
            SockOption::LowWater => 0..=GIB,
        };
        if range.contains(&value) {
            Ok(())
        } else {
            Err(Error::EINVAL)
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
            SockOption::HighWater | SockOption::LowWater => return Err(Error::EWRONGKIND),
        })
    }

    /// `EWRONGKIND` unless the option applies to this kind of socket.
    pub(crate) fn check_kind(self, udp: bool) -> Result<()> {
        use SockOption::*;
        let ok = match self {
            RecvBuffer | SendBuffer => true,
            Broadcast | MulticastLoop | MulticastTtl => udp,
            NoDelay | KeepAlive | Linger | HighWater | LowWater => !udp,
        };
        ok.then_some(()).ok_or(Error::EWRONGKIND)
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
        assert_eq!(SockOption::from_raw(99), Err(Error::EINVAL));
        assert_eq!(SockOption::from_raw(5), Ok(SockOption::HighWater));
    }
}
