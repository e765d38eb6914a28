//! The dialer of one outgoing connection, as a state machine that does no
//! I/O: it resolves (IP literals at once, names by asking its owner), races
//! connection attempts Happy Eyeballs style (RFC 8305), enforces the connect
//! timeout, and reconnects after a backoff.
//!
//! It knows no socket, slab, registry or clock. Its owner (the reactor, in
//! [`crate::connect`]) feeds it inputs with the current time
//! ([`Dialer::start`], [`Dialer::handle_resolved`],
//! [`Dialer::handle_attempt_result`], [`Dialer::handle_timeout`],
//! [`Dialer::handle_lost`], [`Dialer::close`]), carries out the actions it
//! queues ([`Dialer::poll_action`]), reports the outcomes it queues
//! ([`Dialer::poll_event`]) and calls [`Dialer::handle_timeout`] once
//! [`Dialer::poll_timeout`] has passed. Results of resolutions and attempts
//! it no longer waits for are ignored, so its owner never has to cancel them
//! in time.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use crate::addr;
use crate::connect_options::{ConnectOptions, DEFAULT_ATTEMPT_DELAY};
use crate::error::{Error, Result};
use crate::timer::later;

/// Names one connection attempt, or one resolution, of a dialer.
pub(crate) type DialId = u32;

/// What the dialer asks its owner to do (I/O), carried out before the
/// [`DialEvent`]s queued with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Resolve `host` (never an IP literal), then report the addresses with
    /// [`Dialer::handle_resolved`] and this `id`.
    Resolve { id: DialId, host: String, port: u16 },
    /// Start connecting a socket (bound to `local` first, if given) to
    /// `addr`; report the outcome with [`Dialer::handle_attempt_result`].
    StartAttempt { id: DialId, addr: SocketAddr, local: Option<SocketAddr> },
    /// Close attempt `id` (if its socket exists): it failed, lost the race,
    /// or its cycle ended.
    AbortAttempt { id: DialId },
}

/// What the dialer tells its owner: outcomes to report to the user. They
/// are queued apart from [`Action`]s so that the owner can start the I/O
/// at once and still report an outcome only later (a failure known while the
/// user's connect call runs is reported by the next poll).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DialEvent {
    /// Attempt `id` won: its socket, connected to `peer`, is the connection.
    Connected { id: DialId, peer: SocketAddr },
    /// The connection (or a connect cycle) was lost and auto-reconnect is
    /// on: forget the socket; reconnect number `attempt` starts after the
    /// backoff delay.
    Reconnecting { attempt: u32, error: Option<Error> },
    /// Connecting failed for good (`ConnectFailed`, then `Closed`).
    Failed(Error),
    /// The connection was lost for good: close it with this reason.
    Closed(Option<Error>),
}

/// Where a dialer is.
#[derive(Debug)]
enum Phase {
    /// Not started yet, or closed, failed or lost for good: no more actions.
    Idle,
    /// Waiting for resolution `id`.
    Resolving { id: DialId },
    /// Racing attempts.
    Connecting(Box<Race>),
    /// Attempt won; the owner holds the socket.
    Connected,
    /// Waiting to reconnect (`None`: a delay beyond [`crate::MAX_DURATION`]).
    Backoff { until: Option<Instant> },
}

/// The attempts of one connect cycle.
#[derive(Debug)]
struct Race {
    /// Addresses to try, families interleaved (RFC 8305 §4).
    addrs: Vec<SocketAddr>,
    /// Index of the next address to try.
    next: usize,
    /// Why the last attempt failed (reported if every attempt fails).
    last_error: Error,
    /// Attempts in flight.
    in_flight: Vec<DialId>,
    /// When to start the next attempt alongside those in flight.
    next_attempt: Option<Instant>,
}

/// The dialer of one outgoing connection (see the module docs).
pub(crate) struct Dialer {
    host: String,
    port: u16,
    opts: ConnectOptions,
    phase: Phase,
    /// The connect timeout of the current cycle (resolution included).
    deadline: Option<Instant>,
    /// Next index into the reconnect schedule.
    backoff: usize,
    /// Reconnects since the last success (the `Reconnecting` number).
    reconnects: u32,
    /// A failure or loss may still lead to a reconnect.
    may_reconnect: bool,
    /// The last id handed out (attempts and resolutions share the counter).
    last_id: DialId,
    actions: VecDeque<Action>,
    events: VecDeque<DialEvent>,
    /// What [`Dialer::poll_timeout`] answers, and its epoch: bumped whenever
    /// the answer changes, so deadlines armed for an earlier answer go stale.
    timeout: Option<Instant>,
    epoch: u32,
}

/// Orders addresses for Happy Eyeballs: alternate families, starting with
/// the resolver's first choice, keeping each family's own order.
pub(crate) fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
    let (mut a, mut b): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|x| x.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.drain(..), b.drain(..));
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

impl Dialer {
    /// A dialer for `host` (a name or IP literal) and `port`, with checked
    /// options. It does nothing until [`Dialer::start`].
    pub fn new(host: String, port: u16, opts: ConnectOptions) -> Dialer {
        Dialer {
            host,
            port,
            opts,
            phase: Phase::Idle,
            deadline: None,
            backoff: 0,
            reconnects: 0,
            may_reconnect: true,
            last_id: 0,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            timeout: None,
            epoch: 0,
        }
    }

    /// The next thing to do, oldest first.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next outcome to report, oldest first.
    pub fn poll_event(&mut self) -> Option<DialEvent> {
        self.events.pop_front()
    }

    /// The current cycle's connect deadline (the connect timeout counted
    /// from the start of resolution): once connected, what is left of it
    /// still bounds the TLS handshake that follows.
    pub fn connect_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// When [`Dialer::handle_timeout`] must be called next (`None`: only
    /// when another input arrives).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timeout
    }

    /// Changes whenever [`Dialer::poll_timeout`] does: tags the owner's
    /// deadlines so that earlier ones are recognised as stale.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Whether a loss of the established connection leads to a reconnect
    /// (the schedule is not empty).
    pub fn auto_reconnects(&self) -> bool {
        !self.opts.reconnect.is_empty()
    }

    /// Whether resolution `id` is still awaited (a lookup not yet started
    /// for a stale one can be skipped).
    pub fn is_resolving(&self, id: DialId) -> bool {
        matches!(self.phase, Phase::Resolving { id: current } if current == id)
    }

    /// Starts a connect cycle: arms the connect timeout, then resolves.
    pub fn start(&mut self, now: Instant) {
        self.deadline = self.opts.timeout.and_then(|timeout| later(now, timeout));
        let id = self.next_id();
        self.phase = Phase::Resolving { id };
        // `localhost` goes through the owner, which may know it otherwise.
        match addr::ip_literal(&self.host).filter(|_| !self.host.eq_ignore_ascii_case("localhost")) {
            Some(ip) => self.handle_resolved(id, Ok(vec![SocketAddr::new(ip, self.port)]), now),
            None => {
                self.actions.push_back(Action::Resolve { id, host: self.host.clone(), port: self.port });
                self.update_timeout();
            }
        }
    }

    /// Takes the addresses of resolution `id` (ignored unless awaited) and
    /// starts the first attempt. Addresses of a family the options exclude
    /// are dropped; none left is `EADDRNOTAVAIL`.
    pub fn handle_resolved(&mut self, id: DialId, result: Result<Vec<SocketAddr>>, now: Instant) {
        if !self.is_resolving(id) {
            return;
        }
        let (addrs, last_error) = match result {
            Ok(addrs) => {
                let allowed: Vec<SocketAddr> = addrs.into_iter().filter(|a| self.opts.allows(a)).collect();
                let error = if allowed.is_empty() { Error::EADDRNOTAVAIL } else { Error::EDNS };
                (interleave(allowed), error)
            }
            Err(e) => (Vec::new(), e),
        };
        let race = Race { addrs, next: 0, last_error, in_flight: Vec::new(), next_attempt: None };
        self.phase = Phase::Connecting(Box::new(race));
        self.start_attempt(now);
        self.update_timeout();
    }

    /// Takes the outcome of attempt `id` (ignored unless in flight): the
    /// first success wins and the others are aborted; a failed one is
    /// closed and the next one starts at once; the last failure ends the
    /// cycle.
    pub fn handle_attempt_result(&mut self, id: DialId, result: Result<SocketAddr>, now: Instant) {
        let Some(race) = self.race().filter(|r| r.in_flight.contains(&id)) else {
            return;
        };
        race.in_flight.retain(|&other| other != id);
        match result {
            Ok(peer) => {
                self.abort_attempts();
                self.phase = Phase::Connected;
                self.backoff = 0;
                self.reconnects = 0;
                self.events.push_back(DialEvent::Connected { id, peer });
            }
            Err(e) => {
                race.last_error = e;
                self.actions.push_back(Action::AbortAttempt { id });
                self.start_attempt(now);
            }
        }
        self.update_timeout();
    }

    /// Runs what is due at `now`: the connect timeout, the next staggered
    /// attempt, or the end of a backoff.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |when: Option<Instant>| when.is_some_and(|when| when <= now);
        match &self.phase {
            Phase::Resolving { .. } | Phase::Connecting(_) if due(self.deadline) => self.fail(Error::ETIMEDOUT, now),
            Phase::Connecting(race) if due(race.next_attempt) => self.start_attempt(now),
            Phase::Backoff { until } if due(*until) => self.start(now),
            _ => {}
        }
        self.update_timeout();
    }

    /// The established connection was lost (`error`: why; `None` for the
    /// peer's EOF): reconnect if the options say so, else close.
    pub fn handle_lost(&mut self, error: Option<Error>, now: Instant) {
        if matches!(self.phase, Phase::Idle) {
            return;
        }
        self.abort_attempts();
        if !self.reconnect(error, now) {
            self.phase = Phase::Idle;
            self.events.push_back(DialEvent::Closed(error));
        }
        self.update_timeout();
    }

    /// The user closed the connection gracefully: a failure or loss from
    /// now on is final. A cycle under way goes on, so that bytes queued
    /// before the close can still be sent.
    pub fn stop_reconnecting(&mut self) {
        self.may_reconnect = false;
    }

    /// Stops everything: attempts in flight are aborted, actions and events
    /// not yet taken are dropped, and later inputs are ignored.
    pub fn close(&mut self) {
        self.actions.clear();
        self.events.clear();
        self.abort_attempts();
        self.phase = Phase::Idle;
        self.update_timeout();
    }

    fn next_id(&mut self) -> DialId {
        self.last_id = self.last_id.wrapping_add(1);
        self.last_id
    }

    fn race(&mut self) -> Option<&mut Race> {
        match &mut self.phase {
            Phase::Connecting(race) => Some(race),
            _ => None,
        }
    }

    /// Starts the next attempt, with the stagger delay before the one after;
    /// with no address left and nothing in flight, the cycle has failed.
    fn start_attempt(&mut self, now: Instant) {
        let (local, delay) = (self.opts.local, self.opts.attempt_delay.unwrap_or(DEFAULT_ATTEMPT_DELAY));
        let id = self.last_id.wrapping_add(1);
        let Some(race) = self.race() else {
            return;
        };
        let Some(&addr) = race.addrs.get(race.next) else {
            race.next_attempt = None;
            if race.in_flight.is_empty() {
                let error = race.last_error;
                self.fail(error, now);
            }
            return;
        };
        race.next += 1;
        race.in_flight.push(id);
        race.next_attempt = if race.next < race.addrs.len() { later(now, delay) } else { None };
        self.last_id = id;
        self.actions.push_back(Action::StartAttempt { id, addr, local: local.map(|local| local.for_peer(&addr)) });
    }

    /// Queues an abort for every attempt in flight.
    fn abort_attempts(&mut self) {
        if let Some(race) = self.race() {
            let aborts: Vec<Action> = race.in_flight.drain(..).map(|id| Action::AbortAttempt { id }).collect();
            self.actions.extend(aborts);
        }
    }

    /// A connect cycle failed: reconnect later if the options say so, else
    /// fail for good.
    fn fail(&mut self, error: Error, now: Instant) {
        self.abort_attempts();
        if !self.reconnect(Some(error), now) {
            self.phase = Phase::Idle;
            self.events.push_back(DialEvent::Failed(error));
        }
    }

    /// Enters the backoff before the next reconnect, if there is to be one:
    /// the schedule's delays in turn, the last one repeating.
    fn reconnect(&mut self, error: Option<Error>, now: Instant) -> bool {
        let Some(&last) = self.opts.reconnect.last().filter(|_| self.may_reconnect) else {
            return false;
        };
        let delay = self.opts.reconnect.get(self.backoff).copied().unwrap_or(last);
        self.backoff += 1;
        self.reconnects += 1;
        self.deadline = None;
        self.phase = Phase::Backoff { until: later(now, delay) };
        self.events.push_back(DialEvent::Reconnecting { attempt: self.reconnects, error });
        true
    }

    /// Recomputes [`Dialer::poll_timeout`], bumping the epoch if it changed.
    fn update_timeout(&mut self) {
        let timeout = match &self.phase {
            Phase::Resolving { .. } => self.deadline,
            Phase::Connecting(race) => match (self.deadline, race.next_attempt) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            Phase::Backoff { until } => *until,
            Phase::Idle | Phase::Connected => None,
        };
        if timeout != self.timeout {
            self.timeout = timeout;
            self.epoch = self.epoch.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every test runs on a fake clock: `t0` plus offsets, no sockets, no threads.

    use std::time::Duration;

    use super::*;
    use crate::connect_options::{Family, LocalBind};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn v4(n: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, n], 80))
    }

    fn v6(n: u16) -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, n], 80))
    }

    /// Everything the dialer queued: actions, and events to report.
    fn drain(d: &mut Dialer) -> (Vec<Action>, Vec<DialEvent>) {
        (std::iter::from_fn(|| d.poll_action()).collect(), std::iter::from_fn(|| d.poll_event()).collect())
    }

    fn quiet(d: &mut Dialer) -> bool {
        drain(d) == (vec![], vec![])
    }

    /// A dialer for a name, started at `t0`, with its resolution request taken.
    fn resolving(opts: ConnectOptions, t0: Instant) -> (Dialer, DialId) {
        let mut d = Dialer::new("dual.test".into(), 80, opts);
        d.start(t0);
        match drain(&mut d).0.as_slice() {
            [Action::Resolve { id, host, port: 80 }] if host == "dual.test" => (d, *id),
            other => panic!("expected one Resolve, got {other:?}"),
        }
    }

    /// The attempts an action list starts, as (id, address).
    fn started(actions: &[Action]) -> Vec<(DialId, SocketAddr)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::StartAttempt { id, addr, .. } => Some((*id, *addr)),
                _ => None,
            })
            .collect()
    }

    fn aborted(actions: &[Action]) -> Vec<DialId> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::AbortAttempt { id } => Some(*id),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn families_alternate_from_the_first() {
        let order = interleave(vec![v6(1), v6(2), v4(1), v4(2), v4(3)]);
        assert_eq!(order, vec![v6(1), v4(1), v6(2), v4(2), v4(3)]);
        assert_eq!(interleave(vec![v4(1), v6(1)]), vec![v4(1), v6(1)]);
    }

    #[test]
    fn a_literal_is_attempted_at_once_without_resolution() {
        let t0 = Instant::now();
        let local = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        let mut d = Dialer::new(
            "127.0.0.1".into(),
            80,
            ConnectOptions { local: local.map(LocalBind::Addr), ..Default::default() },
        );
        d.start(t0);
        let actions = drain(&mut d).0;
        assert!(
            matches!(actions.as_slice(), [Action::StartAttempt { addr, local: l, .. }] if *addr == v4(1) && *l == local)
        );
        assert_eq!(d.poll_timeout(), None, "one address, no timeout: nothing to wait for");
    }

    #[test]
    fn attempts_interleave_families_and_are_staggered_by_the_attempt_delay() {
        let t0 = Instant::now();
        let opts = ConnectOptions { attempt_delay: Some(ms(100)), ..Default::default() };
        let (mut d, id) = resolving(opts, t0);
        d.handle_resolved(id, Ok(vec![v6(1), v6(2), v4(1)]), t0);
        let first = started(&drain(&mut d).0);
        assert_eq!(first.iter().map(|s| s.1).collect::<Vec<_>>(), vec![v6(1)]);
        assert_eq!(d.poll_timeout(), Some(t0 + ms(100)));
        d.handle_timeout(t0 + ms(99));
        assert!(quiet(&mut d), "nothing before the attempt delay");
        d.handle_timeout(t0 + ms(100));
        assert_eq!(started(&drain(&mut d).0).iter().map(|s| s.1).collect::<Vec<_>>(), vec![v4(1)]);
        assert_eq!(d.poll_timeout(), Some(t0 + ms(200)));
        d.handle_timeout(t0 + ms(200));
        assert_eq!(started(&drain(&mut d).0).iter().map(|s| s.1).collect::<Vec<_>>(), vec![v6(2)]);
        assert_eq!(d.poll_timeout(), None, "no address left: no stagger deadline");
    }

    #[test]
    fn a_failed_attempt_starts_the_next_at_once() {
        let t0 = Instant::now();
        let (mut d, id) = resolving(ConnectOptions::default(), t0);
        d.handle_resolved(id, Ok(vec![v4(1), v4(2), v4(3)]), t0);
        let first = started(&drain(&mut d).0)[0].0;
        d.handle_attempt_result(first, Err(Error::ECONNREFUSED), t0 + ms(10));
        assert_eq!(started(&drain(&mut d).0).iter().map(|s| s.1).collect::<Vec<_>>(), vec![v4(2)]);
        assert_eq!(d.poll_timeout(), Some(t0 + ms(10) + DEFAULT_ATTEMPT_DELAY), "the stagger restarts");
    }

    #[test]
    fn the_first_success_wins_and_the_others_are_aborted() {
        let t0 = Instant::now();
        let (mut d, id) = resolving(ConnectOptions::default(), t0);
        d.handle_resolved(id, Ok(vec![v6(1), v4(1), v4(2)]), t0);
        d.handle_timeout(t0 + DEFAULT_ATTEMPT_DELAY);
        d.handle_timeout(t0 + DEFAULT_ATTEMPT_DELAY * 2);
        let ids: Vec<DialId> = started(&drain(&mut d).0).iter().map(|s| s.0).collect();
        assert_eq!(ids.len(), 3);
        d.handle_attempt_result(ids[1], Ok(v4(1)), t0 + ms(600));
        let (actions, events) = drain(&mut d);
        let mut losers = aborted(&actions);
        losers.sort();
        assert_eq!(losers, vec![ids[0], ids[2]]);
        assert_eq!(events, vec![DialEvent::Connected { id: ids[1], peer: v4(1) }]);
        assert_eq!(d.poll_timeout(), None, "connected: nothing timed");
        d.handle_attempt_result(ids[0], Ok(v6(1)), t0 + ms(601));
        assert!(quiet(&mut d), "a loser's late success is ignored");
    }

    #[test]
    fn when_every_attempt_fails_the_last_error_is_reported() {
        let t0 = Instant::now();
        let (mut d, id) = resolving(ConnectOptions::default(), t0);
        d.handle_resolved(id, Ok(vec![v4(1), v6(1)]), t0);
        d.handle_timeout(t0 + DEFAULT_ATTEMPT_DELAY);
        let ids: Vec<DialId> = started(&drain(&mut d).0).iter().map(|s| s.0).collect();
        d.handle_attempt_result(ids[0], Err(Error::ECONNREFUSED), t0 + ms(300));
        let first = (vec![Action::AbortAttempt { id: ids[0] }], vec![]);
        assert_eq!(drain(&mut d), first, "one attempt still in flight");
        d.handle_attempt_result(ids[1], Err(Error::EHOSTUNREACH), t0 + ms(301));
        let last = (vec![Action::AbortAttempt { id: ids[1] }], vec![DialEvent::Failed(Error::EHOSTUNREACH)]);
        assert_eq!(drain(&mut d), last);
        assert_eq!(d.poll_timeout(), None);
    }

    #[test]
    fn a_resolution_failure_is_reported() {
        let t0 = Instant::now();
        let (mut d, id) = resolving(ConnectOptions::default(), t0);
        d.handle_resolved(id, Err(Error::EDNS), t0);
        assert_eq!(drain(&mut d), (vec![], vec![DialEvent::Failed(Error::EDNS)]));
    }

    #[test]
    fn the_connect_timeout_covers_resolution_and_attempts() {
        let t0 = Instant::now();
        let opts = ConnectOptions { timeout: Some(ms(500)), ..Default::default() };
        let (mut d, id) = resolving(opts.clone(), t0);
        assert_eq!(d.poll_timeout(), Some(t0 + ms(500)), "armed while resolving");
        d.handle_timeout(t0 + ms(500));
        assert_eq!(drain(&mut d), (vec![], vec![DialEvent::Failed(Error::ETIMEDOUT)]));
        d.handle_resolved(id, Ok(vec![v4(1)]), t0 + ms(501));
        assert!(quiet(&mut d), "a resolution after the timeout is ignored");

        let (mut d, id) = resolving(opts, t0);
        d.handle_resolved(id, Ok(vec![v4(1), v4(2)]), t0 + ms(400));
        let ids: Vec<DialId> = started(&drain(&mut d).0).iter().map(|s| s.0).collect();
        assert_eq!(d.poll_timeout(), Some(t0 + ms(500)), "the timeout counts from the start, not the attempt");
        d.handle_timeout(t0 + ms(500));
        let failed = (vec![Action::AbortAttempt { id: ids[0] }], vec![DialEvent::Failed(Error::ETIMEDOUT)]);
        assert_eq!(drain(&mut d), failed);
    }

    #[test]
    fn addresses_of_an_excluded_family_are_not_available() {
        let t0 = Instant::now();
        let (mut d, id) = resolving(ConnectOptions { family: Family::V6, ..Default::default() }, t0);
        d.handle_resolved(id, Ok(vec![v4(1), v4(2)]), t0);
        assert_eq!(drain(&mut d), (vec![], vec![DialEvent::Failed(Error::EADDRNOTAVAIL)]));

        let (mut d, id) = resolving(ConnectOptions { family: Family::V4, ..Default::default() }, t0);
        d.handle_resolved(id, Ok(vec![v6(1), v4(1), v6(2)]), t0);
        assert_eq!(started(&drain(&mut d).0).iter().map(|s| s.1).collect::<Vec<_>>(), vec![v4(1)]);
        assert_eq!(d.poll_timeout(), None, "the only allowed address: no stagger");
    }

    #[test]
    fn reconnects_follow_the_schedule_and_restart_after_a_success() {
        let t0 = Instant::now();
        let opts = ConnectOptions { reconnect: vec![ms(50), ms(100)], ..Default::default() };
        let mut d = Dialer::new("127.0.0.1".into(), 80, opts);
        d.start(t0);
        let id = started(&drain(&mut d).0)[0].0;
        d.handle_attempt_result(id, Ok(v4(1)), t0);
        drain(&mut d);
        assert!(d.auto_reconnects());
        d.handle_lost(Some(Error::ECONNRESET), t0 + ms(1000));
        assert_eq!(
            drain(&mut d),
            (vec![], vec![DialEvent::Reconnecting { attempt: 1, error: Some(Error::ECONNRESET) }])
        );
        // Each failed reconnect waits the next delay; the last one repeats.
        let mut now = t0 + ms(1000);
        for (attempt, delay) in [(2, 50), (3, 100), (4, 100)] {
            assert_eq!(d.poll_timeout(), Some(now + ms(delay)), "before reconnect {}", attempt - 1);
            now += ms(delay);
            d.handle_timeout(now);
            let id = started(&drain(&mut d).0)[0].0;
            d.handle_attempt_result(id, Err(Error::ECONNREFUSED), now);
            let error = Some(Error::ECONNREFUSED);
            let aborted = vec![Action::AbortAttempt { id }];
            assert_eq!(drain(&mut d), (aborted, vec![DialEvent::Reconnecting { attempt, error }]));
        }
        now += ms(100);
        d.handle_timeout(now);
        let id = started(&drain(&mut d).0)[0].0;
        d.handle_attempt_result(id, Ok(v4(1)), now);
        assert_eq!(drain(&mut d), (vec![], vec![DialEvent::Connected { id, peer: v4(1) }]));
        d.handle_lost(None, now + ms(1));
        let again = (vec![], vec![DialEvent::Reconnecting { attempt: 1, error: None }]);
        assert_eq!(drain(&mut d), again, "numbers restart");
        assert_eq!(d.poll_timeout(), Some(now + ms(1) + ms(50)), "so does the schedule");
    }

    #[test]
    fn without_reconnect_a_loss_closes_and_a_user_close_stops_reconnecting() {
        let t0 = Instant::now();
        let mut d = Dialer::new("::1".into(), 80, ConnectOptions::default());
        d.start(t0);
        let id = started(&drain(&mut d).0)[0].0;
        d.handle_attempt_result(id, Ok(v6(1)), t0);
        drain(&mut d);
        d.handle_lost(Some(Error::ECONNRESET), t0);
        assert_eq!(drain(&mut d), (vec![], vec![DialEvent::Closed(Some(Error::ECONNRESET))]));

        let opts = ConnectOptions { reconnect: vec![ms(50)], ..Default::default() };
        let mut d = Dialer::new("127.0.0.1".into(), 80, opts);
        d.start(t0);
        let id = started(&drain(&mut d).0)[0].0;
        d.stop_reconnecting();
        d.handle_attempt_result(id, Err(Error::ECONNREFUSED), t0);
        let last = (vec![Action::AbortAttempt { id }], vec![DialEvent::Failed(Error::ECONNREFUSED)]);
        assert_eq!(drain(&mut d), last, "closed by the user: final");
    }

    #[test]
    fn close_stops_everything() {
        let t0 = Instant::now();
        let opts = ConnectOptions { timeout: Some(ms(500)), reconnect: vec![ms(50)], ..Default::default() };
        let (mut d, id) = resolving(opts, t0);
        d.handle_resolved(id, Ok(vec![v4(1), v4(2)]), t0);
        d.handle_timeout(t0 + DEFAULT_ATTEMPT_DELAY);
        let ids: Vec<DialId> = started(&drain(&mut d).0).iter().map(|s| s.0).collect();
        d.handle_resolved(id, Ok(vec![v4(3)]), t0);
        d.close();
        let aborts: Vec<Action> = ids.iter().map(|&id| Action::AbortAttempt { id }).collect();
        assert_eq!(drain(&mut d), (aborts, vec![]));
        assert_eq!(d.poll_timeout(), None);
        d.handle_attempt_result(ids[0], Ok(v4(1)), t0 + ms(300));
        d.handle_timeout(t0 + ms(10_000));
        d.handle_lost(None, t0 + ms(10_000));
        assert!(quiet(&mut d), "nothing after close");
    }

    #[test]
    fn stale_inputs_are_ignored_and_timeouts_get_new_epochs() {
        let t0 = Instant::now();
        let opts = ConnectOptions { timeout: Some(ms(500)), reconnect: vec![ms(50)], ..Default::default() };
        let (mut d, first) = resolving(opts, t0);
        let epoch = d.epoch();
        d.handle_timeout(t0 + ms(499));
        assert!(quiet(&mut d) && d.epoch() == epoch, "early: nothing changes");
        d.handle_timeout(t0 + ms(500));
        assert_eq!(
            drain(&mut d),
            (vec![], vec![DialEvent::Reconnecting { attempt: 1, error: Some(Error::ETIMEDOUT) }])
        );
        assert_ne!(d.epoch(), epoch, "the backoff deadline is a new one");
        d.handle_timeout(t0 + ms(550));
        let Some(Action::Resolve { id: second, .. }) = d.poll_action() else { panic!("no second resolution") };
        assert!(!d.is_resolving(first) && d.is_resolving(second));
        d.handle_resolved(first, Ok(vec![v4(1)]), t0 + ms(560));
        assert!(quiet(&mut d), "the first cycle's resolution is stale");
        d.handle_attempt_result(12345, Ok(v4(1)), t0 + ms(560));
        assert!(quiet(&mut d), "an unknown attempt is ignored");
        d.handle_resolved(second, Ok(vec![v4(1)]), t0 + ms(560));
        assert_eq!(started(&drain(&mut d).0).len(), 1);
    }
}
