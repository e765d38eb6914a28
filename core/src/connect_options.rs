//! How to make an outgoing connection: the options, their defaults and
//! limits, and a builder that checks each one as it is given.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::addr;
use crate::error::{invalid, Result};
use crate::names::named_enum;

/// Default delay between staggered attempts (RFC 8305 "Connection Attempt Delay").
pub const DEFAULT_ATTEMPT_DELAY: Duration = Duration::from_millis(250);
/// Longest delay between staggered attempts.
pub const MAX_ATTEMPT_DELAY: Duration = Duration::from_secs(60);
/// Most delays in an auto-reconnect schedule.
pub const MAX_BACKOFF_STEPS: usize = 8;

named_enum! {
    argument: "family";
    /// Which address families a connection may use. The numeric values are
    /// part of the C ABI (`NC_FAMILY_*`).
    pub enum Family {
        /// Both, IPv6 first when the resolver says so (Happy Eyeballs).
        Any = 0, "any";
        /// IPv4 only.
        V4 = 4, "ipv4";
        /// IPv6 only.
        V6 = 6, "ipv6";
    }
}

impl Default for Family {
    fn default() -> Family {
        Family::Any
    }
}

/// How to make an outgoing connection. Build it with the `with_*` methods,
/// which check each value as it is given; [`crate::Loop::tcp_connect_with`] checks
/// the whole again (fields are public).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Give up (`ETIMEDOUT`) if not connected within this time, resolution
    /// and every attempt included (beyond [`crate::MAX_DURATION`]: never).
    pub timeout: Option<Duration>,
    /// Address families allowed.
    pub family: Family,
    /// Where the client socket binds before it connects (none: the system picks).
    pub local: Option<LocalBind>,
    /// Delay before starting the next attempt while earlier ones are still
    /// in flight (default [`DEFAULT_ATTEMPT_DELAY`], at most [`MAX_ATTEMPT_DELAY`]).
    pub attempt_delay: Option<Duration>,
    /// Auto-reconnect delays: empty = off; up to [`MAX_BACKOFF_STEPS`], the
    /// last repeats, the index resets after a successful connection. A
    /// delay beyond [`crate::MAX_DURATION`] never ends: the connection stays
    /// reconnecting until it is closed.
    pub reconnect: Vec<Duration>,
}

/// The parts of a [`ConnectOptions`], each given or not, as a binding
/// receives them: [`ConnectOptions::build`] checks them and fills in the rest.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectParams<'a> {
    /// See [`ConnectOptions::timeout`].
    pub timeout: Option<Duration>,
    /// See [`ConnectOptions::family`].
    pub family: Family,
    /// A local address to bind first: an IP literal (or `localhost`; empty:
    /// any address, as Python's `""`) ...
    pub local_host: Option<&'a str>,
    /// ... and port, 0 to 65535 (0 = any). A port given without a host binds
    /// on the any-address of each attempt's family, as Node's `localPort`.
    pub local_port: Option<i64>,
    /// See [`ConnectOptions::attempt_delay`].
    pub attempt_delay: Option<Duration>,
    /// See [`ConnectOptions::reconnect`].
    pub reconnect: &'a [Duration],
}

impl ConnectOptions {
    /// Options from their parts, each checked as the `with_*` method of the
    /// same name checks it.
    pub fn build(params: ConnectParams<'_>) -> Result<ConnectOptions> {
        let mut options = ConnectOptions::default().with_family(params.family);
        if let Some(timeout) = params.timeout {
            options = options.with_timeout(timeout)?;
        }
        match (params.local_host.filter(|host| !host.is_empty()), params.local_port) {
            (Some(host), port) => options = options.with_local_address(host, port.unwrap_or(0))?,
            (None, Some(port)) => options = options.with_local_port(port)?,
            (None, None) => {}
        }
        if let Some(delay) = params.attempt_delay {
            options = options.with_attempt_delay(delay)?;
        }
        options.with_reconnect(params.reconnect.iter().copied())
    }

    /// With a connect timeout (more than zero).
    pub fn with_timeout(mut self, timeout: Duration) -> Result<ConnectOptions> {
        if timeout.is_zero() {
            return Err(invalid!("timeout", "more than 0"));
        }
        self.timeout = Some(timeout);
        Ok(self)
    }

    /// With the families allowed.
    pub fn with_family(mut self, family: Family) -> ConnectOptions {
        self.family = family;
        self
    }

    /// With a local address to bind first: `host` an IP literal (or
    /// `localhost`), `port` 0 to 65535 (0 = any).
    pub fn with_local_address(mut self, host: &str, port: i64) -> Result<ConnectOptions> {
        self.local = Some(LocalBind::Addr(addr::literal(host, i64::from(local_port(port)?))?));
        Ok(self)
    }

    /// With a local port to bind first (0 to 65535, 0 = any) on the
    /// any-address of each attempt's family.
    pub fn with_local_port(mut self, port: i64) -> Result<ConnectOptions> {
        self.local = Some(LocalBind::Port(local_port(port)?));
        Ok(self)
    }

    /// With a Happy Eyeballs attempt delay (at most [`MAX_ATTEMPT_DELAY`]).
    pub fn with_attempt_delay(mut self, delay: Duration) -> Result<ConnectOptions> {
        if delay > MAX_ATTEMPT_DELAY {
            return Err(invalid!("attempt_delay", "at most 60 seconds"));
        }
        self.attempt_delay = Some(delay);
        Ok(self)
    }

    /// With an auto-reconnect schedule (at most [`MAX_BACKOFF_STEPS`] delays).
    pub fn with_reconnect(mut self, delays: impl IntoIterator<Item = Duration>) -> Result<ConnectOptions> {
        self.reconnect = delays.into_iter().take(MAX_BACKOFF_STEPS + 1).collect();
        if self.reconnect.len() > MAX_BACKOFF_STEPS {
            const _: () = assert!(MAX_BACKOFF_STEPS == 8, "the detail below says so");
            return Err(invalid!("reconnect", "at most 8 delays"));
        }
        Ok(self)
    }

    /// Checks the whole: each value in range, and a local address of a
    /// family the connection may use.
    pub(crate) fn check(&self) -> Result<()> {
        let mut checked = ConnectOptions { family: self.family, ..ConnectOptions::default() };
        if let Some(timeout) = self.timeout {
            checked = checked.with_timeout(timeout)?;
        }
        if let Some(delay) = self.attempt_delay {
            checked = checked.with_attempt_delay(delay)?;
        }
        checked.with_reconnect(self.reconnect.iter().copied())?;
        if matches!(self.local, Some(LocalBind::Addr(local)) if !self.allows_family(&local)) {
            return Err(invalid!("local_address", "an address of the family asked for"));
        }
        Ok(())
    }

    fn allows_family(&self, addr: &SocketAddr) -> bool {
        match self.family {
            Family::Any => true,
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        }
    }

    /// Whether a connection may be attempted to `addr`.
    pub(crate) fn allows(&self, addr: &SocketAddr) -> bool {
        self.allows_family(addr) && self.local.is_none_or(|local| local.fits(addr))
    }
}

/// A local port, named as the option that gives it.
fn local_port(port: i64) -> Result<u16> {
    addr::port(port).map_err(|_| invalid!("local_port", "0 to 65535"))
}

/// Where a client socket binds before it connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalBind {
    /// This address (port 0: any); attempts go only to its family.
    Addr(SocketAddr),
    /// This port on the any-address of each attempt's family.
    Port(u16),
}

impl LocalBind {
    /// Whether an attempt to `peer` can bind here.
    fn fits(self, peer: &SocketAddr) -> bool {
        match self {
            LocalBind::Addr(local) => local.is_ipv4() == peer.is_ipv4(),
            LocalBind::Port(_) => true,
        }
    }

    /// The address an attempt to `peer` binds.
    pub(crate) fn for_peer(self, peer: &SocketAddr) -> SocketAddr {
        match self {
            LocalBind::Addr(local) => local,
            LocalBind::Port(port) if peer.is_ipv4() => SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
            LocalBind::Port(port) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_checks_every_part_it_is_given() {
        let refused =
            |params: ConnectParams<'_>| ConnectOptions::build(params).unwrap_err().detail().map(|d| d.argument);
        let none = ConnectParams::default();
        assert_eq!(ConnectOptions::build(none), Ok(ConnectOptions::default()));
        assert_eq!(refused(ConnectParams { timeout: Some(Duration::ZERO), ..none }), Some("timeout"));
        assert_eq!(
            refused(ConnectParams { local_host: Some("::1"), local_port: Some(-1), ..none }),
            Some("local_port")
        );
        assert_eq!(refused(ConnectParams { local_port: Some(1 << 16), ..none }), Some("local_port"));
        let slow = Some(Duration::from_secs(61));
        assert_eq!(refused(ConnectParams { attempt_delay: slow, ..none }), Some("attempt_delay"));
        assert_eq!(refused(ConnectParams { reconnect: &[Duration::ZERO; 9], ..none }), Some("reconnect"));
        let all = ConnectParams {
            timeout: Some(Duration::from_secs(1)),
            family: Family::V6,
            local_host: Some("::1"),
            local_port: Some(0),
            attempt_delay: Some(Duration::from_millis(10)),
            reconnect: &[Duration::from_millis(5)],
        };
        let built = ConnectOptions::build(all).unwrap();
        assert_eq!((built.timeout, built.family, built.attempt_delay), (all.timeout, Family::V6, all.attempt_delay));
        assert_eq!(
            (built.local, built.reconnect),
            (Some(LocalBind::Addr("[::1]:0".parse().unwrap())), vec![all.reconnect[0]])
        );
    }

    #[test]
    fn a_local_port_alone_binds_on_the_any_address_of_each_attempt_s_family() {
        let port_only = |host| ConnectParams { local_host: host, local_port: Some(5000), ..Default::default() };
        for params in [port_only(None), port_only(Some(""))] {
            let local = ConnectOptions::build(params).unwrap().local.unwrap();
            assert_eq!(local, LocalBind::Port(5000));
            assert_eq!(local.for_peer(&"127.0.0.1:80".parse().unwrap()), "0.0.0.0:5000".parse().unwrap());
            assert_eq!(local.for_peer(&"[::1]:80".parse().unwrap()), "[::]:5000".parse().unwrap());
        }
        let v6_only = ConnectOptions::build(ConnectParams { family: Family::V6, ..port_only(None) }).unwrap();
        assert_eq!((v6_only.check(), v6_only.allows(&"[::1]:80".parse().unwrap())), (Ok(()), true));
    }

    #[test]
    fn the_builder_names_the_value_it_refuses() {
        let refused = |r: Result<ConnectOptions>| r.unwrap_err().detail().map(|d| d.argument);
        let opts = ConnectOptions::default;
        assert_eq!(refused(opts().with_timeout(Duration::ZERO)), Some("timeout"));
        assert_eq!(refused(opts().with_attempt_delay(Duration::from_secs(61))), Some("attempt_delay"));
        assert_eq!(refused(opts().with_reconnect([Duration::ZERO; 9])), Some("reconnect"));
        assert_eq!(refused(opts().with_local_address("::1", 70000)), Some("local_port"));
        assert_eq!(refused(opts().with_local_port(-1)), Some("local_port"));
        let v4_with_v6_local = opts().with_family(Family::V4).with_local_address("::1", 0).unwrap();
        assert_eq!(v4_with_v6_local.check().unwrap_err().detail().map(|d| d.argument), Some("local_address"));
        let fine = opts().with_timeout(Duration::from_secs(1)).and_then(|o| o.with_reconnect([Duration::ZERO; 8]));
        assert_eq!(fine.map(|o| o.check()), Ok(Ok(())));
    }

    #[test]
    fn families_are_named_by_their_c_values() {
        assert_eq!(Family::from_raw(4), Some(Family::V4));
        assert_eq!(Family::parse("ipv6"), Ok(Family::V6));
        assert_eq!(Family::default(), Family::Any);
    }
}
