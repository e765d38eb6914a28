//! The loop's operations as data, run once for every binding
//! (docs/design.md 5 and 6.3). [`OPERATIONS`] describes each operation a
//! binding exposes by name: its arguments and options in order with their
//! [`ArgKind`], what it returns, the system call its errors name.
//! [`Loop::invoke`] runs one: the binding converts each argument to a
//! [`Value`] by its kind and renders the [`Output`]; which core call an
//! operation is, and how its arguments become that call's types (a
//! [`BindOptions`], a [`ConnectOptions`], a [`Framing`]), is written here
//! and nowhere else. The hot paths (sends, polls) stay typed methods of
//! [`Loop`], as does everything in the C ABI.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{invalid, Detail, Error, Result};
use crate::{
    BindOptions, ConnectOptions, ConnectParams, Family, Framing, FramingMode, FramingParams, Handle, HandleKind, Loop,
    PeerCredentials, SockOption,
};

/// What a binding checks an argument is before it crosses (its type, and a
/// number the binding can convert), and the [`Value`] it converts it to;
/// every value's meaning and range the core judges when the operation runs.
/// An option (or an argument whose kind says "or none") may be
/// [`Value::Absent`]: the core's default.
#[derive(Clone, Copy, Debug)]
pub enum ArgKind {
    /// A host name or IP literal: [`Value::Text`].
    Host,
    /// A port: [`Value::Int`] (Node also takes a string of digits).
    Port,
    /// A Unix socket path (`@name`: the abstract namespace): [`Value::Text`].
    Path,
    /// A duration, not negative (anything beyond the core's longest, infinity
    /// included, means never): [`Value::Duration`]. Node takes milliseconds,
    /// Python seconds.
    Duration,
    /// A duration, or none.
    OptionalDuration,
    /// A list of durations ([`Value::Durations`]), each not negative, or none.
    Durations,
    /// An integer from `min` to `max`: [`Value::Int`].
    Integer { min: i64, max: i64 },
    /// A number: [`Value::Int`] (a binding turns one it cannot hold, a
    /// fraction included, into one out of every range).
    Number,
    /// A number, or none.
    OptionalNumber,
    /// [`Value::Bool`].
    Bool,
    /// A [`Family`]: its value ([`Value::Int`]) or its name ([`Value::Text`]).
    Family,
    /// A list of strings: [`Value::Texts`].
    Strings,
    /// An interface's address ([`Value::Text`]) or index ([`Value::Int`]), or none.
    Interface,
    /// Any other string (errors name only a host or a path): [`Value::Text`].
    Text,
    /// A raw socket option's value: a C `int` ([`Value::Int`]) or its bytes ([`Value::Bytes`]).
    RawValue,
    /// A [`SockOption`]: its name ([`Value::Text`]) or its value ([`Value::Int`]).
    SockOption,
    /// A [`SockOption`]'s value: [`Value::Int`], or [`Value::Bool`] for a
    /// boolean option (which reads back as [`Output::Bool`]).
    OptionValue,
    /// A [`FramingMode`]'s name: [`Value::Text`].
    FramingMode,
    /// Bytes: [`Value::Bytes`].
    Bytes,
}

impl ArgKind {
    /// The kind's name in the vocabulary's JSON.
    pub const fn name(self) -> &'static str {
        match self {
            ArgKind::Host => "host",
            ArgKind::Port => "port",
            ArgKind::Path => "path",
            ArgKind::Duration => "duration",
            ArgKind::OptionalDuration => "optional_duration",
            ArgKind::Durations => "durations",
            ArgKind::Integer { .. } => "integer",
            ArgKind::Number => "number",
            ArgKind::OptionalNumber => "optional_number",
            ArgKind::Bool => "bool",
            ArgKind::Family => "family",
            ArgKind::Strings => "strings",
            ArgKind::Interface => "interface",
            ArgKind::Text => "text",
            ArgKind::RawValue => "raw_value",
            ArgKind::SockOption => "sock_option",
            ArgKind::OptionValue => "option_value",
            ArgKind::FramingMode => "framing_mode",
            ArgKind::Bytes => "bytes",
        }
    }

    /// What a value of this kind must be, for the error of one that is not.
    const fn expected(self) -> &'static str {
        match self {
            ArgKind::Host | ArgKind::Path | ArgKind::Text => "a string",
            ArgKind::Port | ArgKind::Integer { .. } | ArgKind::Number => "an integer",
            ArgKind::OptionalNumber => "an integer, or none",
            ArgKind::Duration => "a duration",
            ArgKind::OptionalDuration => "a duration, or none",
            ArgKind::Durations => "a list of durations, or none",
            ArgKind::Bool => "a boolean",
            ArgKind::Family => "a family's name or value",
            ArgKind::Strings => "a list of strings",
            ArgKind::Interface => "an interface's address or index, or none",
            ArgKind::RawValue => "a C int or bytes",
            ArgKind::SockOption => "an option's name or value",
            ArgKind::OptionValue => "an integer (or a boolean, for a boolean option)",
            ArgKind::FramingMode => "a framing mode's name",
            ArgKind::Bytes => "bytes",
        }
    }
}

/// One argument (or option) of an operation.
#[derive(Clone, Copy, Debug)]
pub struct Arg {
    /// The core's name for it, as errors name it (`local_address`).
    pub name: &'static str,
    pub kind: ArgKind,
    /// The detail of the error for a value not of the kind.
    wrong: Detail,
}

/// What an operation returns.
#[derive(Clone, Copy, Debug)]
pub enum Returns {
    /// A new handle of this kind ([`Output::Handle`]).
    Handle(HandleKind),
    /// [`Output::Nothing`].
    Nothing,
    /// A value (a number, an address, bytes, a name, ...).
    Value,
}

/// An argument as a binding converted it (see [`ArgKind`] for which kind
/// takes which). Owned and language-neutral: a binding saturates an integer
/// it cannot hold; the core judges every value's range.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Left out (undefined, None): the core's default.
    Absent,
    /// [`ArgKind::Bool`].
    Bool(bool),
    /// An integer (ports, counts, C ints, descriptors, a family's or an option's value).
    Int(i64),
    /// A duration (the binding converted its unit: milliseconds, seconds).
    Duration(Duration),
    /// [`ArgKind::Durations`].
    Durations(Vec<Duration>),
    /// A string (hosts, paths, names).
    Text(String),
    /// [`ArgKind::Strings`].
    Texts(Vec<String>),
    /// [`ArgKind::Bytes`], or a raw option's bytes.
    Bytes(Vec<u8>),
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// What an operation that [`Returns::Nothing`] returns.
    Nothing,
    /// The handle an operation made.
    Handle(Handle),
    /// A number (a descriptor, a byte count, an option's value).
    Int(i64),
    /// A boolean option's value.
    Bool(bool),
    /// A socket's address.
    Addr(SocketAddr),
    /// A raw option's bytes.
    Bytes(Vec<u8>),
    /// A name of the core's vocabulary (a handle kind).
    Name(&'static str),
    /// A Unix socket path, or none (an unnamed socket).
    Path(Option<String>),
    /// A Unix connection's peer.
    Credentials(PeerCredentials),
}

/// How an operation runs, which also says whether it takes a handle and what
/// it returns.
#[derive(Clone, Copy)]
enum Run {
    /// Makes a handle of this kind, with the user data given.
    Create(HandleKind, fn(&Loop, &mut Args<'_>, u64) -> Result<Handle>),
    /// Acts on the loop.
    Act(fn(&Loop, &mut Args<'_>) -> Result<()>),
    /// Acts on a handle.
    ActOn(fn(&Loop, Handle, &mut Args<'_>) -> Result<()>),
    /// Reads a value of a handle's.
    Read(fn(&Loop, Handle, &mut Args<'_>) -> Result<Output>),
}

/// One operation of the loop, as a binding exposes it: the arguments it
/// takes in order (after the handle, for one on a handle), its options
/// (each may be left out: the core's default), and the system call its
/// errors name (none: the operation's own name). The options are the
/// core's (`BindOptions`, `ConnectOptions`, framing parameters): Python
/// takes each as a keyword, Node in an options object; C's flat functions
/// take those their signature has (`nc_tcp_listen`: backlog and flags) and
/// set the rest with the operation of the same meaning (the cap:
/// `nc_set_max_connections`).
#[derive(Clone, Copy)]
pub struct Operation {
    /// The core's name for it, snake_case: Python's method has this name,
    /// Node's its camelCase.
    pub name: &'static str,
    /// The system call its errors name (none: the operation's own name).
    pub syscall: Option<&'static str>,
    /// Its arguments, in order.
    pub args: &'static [Arg],
    /// Its options, in order, after the arguments.
    pub options: &'static [Arg],
    run: Run,
}

impl Operation {
    /// Whether it works on a handle (given before its arguments).
    pub fn on_handle(&self) -> bool {
        matches!(self.run, Run::ActOn(_) | Run::Read(_))
    }

    /// What [`Loop::invoke`] returns for it.
    pub fn returns(&self) -> Returns {
        match self.run {
            Run::Create(kind, _) => Returns::Handle(kind),
            Run::Act(_) | Run::ActOn(_) => Returns::Nothing,
            Run::Read(_) => Returns::Value,
        }
    }

    /// The operation named `name` (the core's name).
    pub fn named(name: &str) -> Option<&'static Operation> {
        OPERATIONS.iter().find(|op| op.name == name)
    }
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation")
            .field("name", &self.name)
            .field("syscall", &self.syscall)
            .field("args", &self.args)
            .field("options", &self.options)
            .field("returns", &self.returns())
            .finish()
    }
}

impl Loop {
    /// Runs `op` (one of [`OPERATIONS`]) on `handle` (`Some` exactly for an
    /// operation on a handle) with `args`: its arguments, then its options,
    /// in the order `op` lists them (options left at the end may be left
    /// out). `userdata` goes to a handle the operation makes. A value not of
    /// its argument's kind is `EINVAL` naming the argument; every other
    /// error is the operation's own.
    pub fn invoke(&self, op: &Operation, handle: Option<Handle>, args: &[Value], userdata: u64) -> Result<Output> {
        if args.len() > op.args.len() + op.options.len() {
            return Err(invalid!("args", "at most the operation's arguments and options"));
        }
        let args = &mut Args { params: op.args.iter().chain(op.options), values: args.iter() };
        match (op.run, handle) {
            (Run::Create(_, run), None) => run(self, args, userdata).map(Output::Handle),
            (Run::Act(run), None) => run(self, args).map(|()| Output::Nothing),
            (Run::ActOn(run), Some(h)) => run(self, h, args).map(|()| Output::Nothing),
            (Run::Read(run), Some(h)) => run(self, h, args),
            _ => Err(invalid!("handle", "one for an operation on a handle, none for any other")),
        }
    }
}

/// An operation's values, read in the order of its arguments and options.
struct Args<'a> {
    params: std::iter::Chain<std::slice::Iter<'static, Arg>, std::slice::Iter<'static, Arg>>,
    values: std::slice::Iter<'a, Value>,
}

impl<'a> Args<'a> {
    /// The next value as `take` takes it (`None`: not of the argument's
    /// kind), else `EINVAL` naming the argument. Past the values given: absent.
    fn read<T>(&mut self, take: impl FnOnce(&'a Value) -> Option<T>) -> Result<T> {
        const ABSENT: &Value = &Value::Absent;
        let param = self.params.next();
        let value = self.values.next().unwrap_or(ABSENT);
        let wrong = param.map_or(Error::EINVAL, |arg| Error::invalid(&arg.wrong));
        // An integer kind's range is kept here, not left to each binding.
        if let (Some(Arg { kind: ArgKind::Integer { min, max }, .. }), Value::Int(n)) = (param, value) {
            if !(*min..=*max).contains(n) {
                return Err(wrong);
            }
        }
        take(value).ok_or(wrong)
    }

    /// As [`Args::read`], but `None` for an absent value.
    fn optional<T>(&mut self, take: impl FnOnce(&'a Value) -> Option<T>) -> Result<Option<T>> {
        self.read(|value| match value {
            Value::Absent => Some(None),
            given => take(given).map(Some),
        })
    }
}

impl Value {
    fn text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// An integer as a C `int` takes it, saturated (the core judges the
    /// extremes; an [`ArgKind::Integer`]'s range [`Args::read`] keeps).
    fn c_int(&self) -> Option<i32> {
        self.int().map(|n| n.clamp(i32::MIN.into(), i32::MAX.into()) as i32)
    }

    /// A count; a negative one becomes one beyond every limit (no saturation keeps its meaning).
    fn count(&self) -> Option<usize> {
        self.int().map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn duration(&self) -> Option<Duration> {
        match self {
            Value::Duration(d) => Some(*d),
            _ => None,
        }
    }

    fn durations(&self) -> Option<&[Duration]> {
        match self {
            Value::Durations(list) => Some(list),
            _ => None,
        }
    }

    fn texts(&self) -> Option<&[String]> {
        match self {
            Value::Texts(list) => Some(list),
            _ => None,
        }
    }

    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// A family by value or name.
    fn family(&self) -> Option<Result<Family>> {
        self.c_int().map(Family::parse_raw).or_else(|| self.text().map(Family::parse))
    }

    /// A socket option by value or name.
    fn sock_option(&self) -> Option<Result<SockOption>> {
        self.c_int().map(SockOption::parse_raw).or_else(|| self.text().map(SockOption::parse))
    }

    /// A value for `option`: an integer, or a boolean for a boolean option.
    fn option_value(&self, option: SockOption) -> Option<i64> {
        match self {
            Value::Bool(flag) if option.is_bool() => Some(i64::from(*flag)),
            _ => self.int(),
        }
    }

    /// An interface's address, or its index as text, as [`Loop::udp_multicast`] takes it.
    fn interface(&self) -> Option<Cow<'_, str>> {
        self.text().map(Cow::Borrowed).or_else(|| self.int().map(|index| Cow::Owned(index.to_string())))
    }

    /// A C int (in the machine's byte order; one a C int cannot hold is not
    /// one) or bytes, as setsockopt takes them.
    fn raw_value(&self) -> Option<Cow<'_, [u8]>> {
        let int = self.int().and_then(|n| i32::try_from(n).ok());
        int.map(|n| Cow::Owned(n.to_ne_bytes().to_vec())).or_else(|| self.bytes().map(Cow::Borrowed))
    }
}

const fn arg(name: &'static str, kind: ArgKind) -> Arg {
    Arg { name, kind, wrong: Detail { argument: name, expected: kind.expected() } }
}

/// An integer argument from `min` to `max`, `expected` saying so in its errors.
const fn integer(name: &'static str, min: i64, max: i64, expected: &'static str) -> Arg {
    Arg { name, kind: ArgKind::Integer { min, max }, wrong: Detail { argument: name, expected } }
}

const HOST: Arg = arg("host", ArgKind::Host);
const PORT: Arg = arg("port", ArgKind::Port);
const PATH: Arg = arg("path", ArgKind::Path);
const BACKLOG: Arg = arg("backlog", ArgKind::Number);
/// A listener's cap on open connections (0: none), as a listen option
/// ([`crate::BindOptions::max_connections`]) or set later.
const fn max_connections(name: &'static str) -> Arg {
    integer(name, 0, crate::MAX_CONNECTIONS as i64, crate::tcp::listener::MAX_CONNECTIONS_RANGE)
}
const MAX_CONNECTIONS_OPTION: Arg = max_connections("max_connections");
const REUSE_PORT: Arg = arg("reuse_port", ArgKind::Bool);
const IPV6_ONLY: Arg = arg("ipv6_only", ArgKind::Bool);
/// A multicast group and the interface to join it on.
const MEMBERSHIP: &[Arg] = &[arg("group", ArgKind::Text), arg("interface", ArgKind::Interface)];
/// A socket option's level or name, a C `int`.
const fn c_int(name: &'static str) -> Arg {
    integer(name, i32::MIN as i64, i32::MAX as i64, "a C int (-2147483648 to 2147483647)")
}
/// A descriptor, as a C `int` holds it.
const FD: Arg = integer("fd", 0, i32::MAX as i64, "a descriptor (0 to 2147483647)");
const SOCK_OPTION: Arg = arg("option", ArgKind::SockOption);
/// A `Sent` event's token, as every binding can hold it.
const TOKEN: Arg = integer("token", 0, i64::MAX, "a token (0 to 9223372036854775807)");

const fn creates(
    name: &'static str,
    syscall: &'static str,
    args: &'static [Arg],
    options: &'static [Arg],
    kind: HandleKind,
    run: fn(&Loop, &mut Args<'_>, u64) -> Result<Handle>,
) -> Operation {
    Operation { name, syscall: Some(syscall), args, options, run: Run::Create(kind, run) }
}

const fn acts_on(
    name: &'static str,
    syscall: Option<&'static str>,
    args: &'static [Arg],
    run: fn(&Loop, Handle, &mut Args<'_>) -> Result<()>,
) -> Operation {
    Operation { name, syscall, args, options: &[], run: Run::ActOn(run) }
}

const fn reads(
    name: &'static str,
    syscall: Option<&'static str>,
    args: &'static [Arg],
    run: fn(&Loop, Handle, &mut Args<'_>) -> Result<Output>,
) -> Operation {
    Operation { name, syscall, args, options: &[], run: Run::Read(run) }
}

/// The operations a binding builds from this description and runs with
/// [`Loop::invoke`] (the others, the sends on the hot path among them, it
/// writes by hand).
pub static OPERATIONS: &[Operation] = &[
    creates(
        "listen",
        "listen",
        &[HOST, PORT],
        &[BACKLOG, REUSE_PORT, IPV6_ONLY, MAX_CONNECTIONS_OPTION],
        HandleKind::TcpListener,
        |lp, a, userdata| {
            let (host, port) = (a.read(Value::text)?, a.read(Value::int)?);
            let backlog = a.optional(Value::c_int)?;
            let opts = BindOptions::given(
                backlog,
                a.optional(Value::bool)?,
                a.optional(Value::bool)?,
                a.optional(Value::count)?,
            );
            lp.tcp_listen(host, port, &opts, userdata)
        },
    ),
    creates(
        "connect",
        "connect",
        &[HOST, PORT],
        &[
            arg("local_address", ArgKind::Host),
            arg("local_port", ArgKind::Port),
            arg("reconnect", ArgKind::Durations),
            arg("timeout", ArgKind::OptionalDuration),
            arg("attempt_delay", ArgKind::OptionalDuration),
            arg("family", ArgKind::Family),
        ],
        HandleKind::TcpConnection,
        |lp, a, userdata| {
            let (host, port) = (a.read(Value::text)?, a.read(Value::int)?);
            let (local_host, local_port) = (a.optional(Value::text)?, a.optional(Value::int)?);
            let reconnect = a.optional(Value::durations)?.unwrap_or_default();
            let (timeout, attempt_delay) = (a.optional(Value::duration)?, a.optional(Value::duration)?);
            let opts = ConnectOptions::build(ConnectParams {
                timeout,
                family: a.optional(Value::family)?.transpose()?.unwrap_or_default(),
                local_host,
                local_port,
                attempt_delay,
                reconnect,
            })?;
            lp.tcp_connect_with(host, port, &opts, userdata)
        },
    ),
    creates(
        "listen_unix",
        "listen",
        &[PATH],
        &[BACKLOG, MAX_CONNECTIONS_OPTION],
        HandleKind::TcpListener,
        |lp, a, userdata| {
            let path = a.read(Value::text)?;
            let opts = BindOptions::given(a.optional(Value::c_int)?, None, None, a.optional(Value::count)?);
            lp.unix_listen(path, &opts, userdata)
        },
    ),
    creates("connect_unix", "connect", &[PATH], &[], HandleKind::TcpConnection, |lp, a, userdata| {
        lp.unix_connect(a.read(Value::text)?, userdata)
    }),
    creates("udp_bind", "bind", &[HOST, PORT], &[REUSE_PORT, IPV6_ONLY], HandleKind::Udp, |lp, a, userdata| {
        let (host, port) = (a.read(Value::text)?, a.read(Value::int)?);
        let opts = BindOptions::given(None, a.optional(Value::bool)?, a.optional(Value::bool)?, None);
        lp.udp_bind(host, port, &opts, userdata)
    }),
    creates("udp_bind_unix", "bind", &[PATH], &[], HandleKind::Udp, |lp, a, userdata| {
        lp.unix_dgram_bind(a.read(Value::text)?, userdata)
    }),
    creates("adopt_listener", "adopt", &[FD], &[], HandleKind::TcpListener, |lp, a, userdata| {
        lp.adopt_listener(a.read(Value::c_int)?, userdata)
    }),
    creates("adopt_connection", "adopt", &[FD], &[], HandleKind::TcpConnection, |lp, a, userdata| {
        lp.adopt_connection(a.read(Value::c_int)?, userdata)
    }),
    creates("adopt_udp", "adopt", &[FD], &[], HandleKind::Udp, |lp, a, userdata| {
        lp.adopt_udp(a.read(Value::c_int)?, userdata)
    }),
    creates(
        "timer",
        "timer",
        &[arg("delay", ArgKind::Duration), arg("repeat", ArgKind::OptionalDuration)],
        &[],
        HandleKind::Timer,
        |lp, a, userdata| lp.timer_start(a.read(Value::duration)?, a.optional(Value::duration)?, userdata),
    ),
    Operation {
        name: "set_host_addresses",
        syscall: None,
        args: &[arg("name", ArgKind::Host), arg("addresses", ArgKind::Strings)],
        options: &[],
        run: Run::Act(|lp, a| {
            lp.set_host_addresses(a.read(Value::text)?, &crate::ip_addresses(a.read(Value::texts)?)?)
        }),
    },
    acts_on("udp_connect", Some("connect"), &[HOST, PORT], |lp, h, a| {
        lp.udp_connect(h, a.read(Value::text)?, a.read(Value::int)?)
    }),
    acts_on("udp_connect_unix", Some("connect"), &[PATH], |lp, h, a| lp.unix_dgram_connect(h, a.read(Value::text)?)),
    acts_on("close", Some("close"), &[], |lp, h, _| lp.close(h)),
    acts_on("close_reset", Some("close"), &[], |lp, h, _| lp.close_reset(h)),
    acts_on("close_abort", Some("close"), &[], |lp, h, _| lp.close_abort(h)),
    acts_on("shutdown", Some("shutdown"), &[], |lp, h, _| lp.shutdown(h)),
    acts_on("notify_when_sent", None, &[TOKEN], |lp, h, a| lp.notify_when_sent(h, a.read(Value::count)? as u64)),
    acts_on("pause", None, &[], |lp, h, _| lp.pause(h)),
    acts_on("resume", None, &[], |lp, h, _| lp.resume(h)),
    acts_on("set_idle_timeout", None, &[arg("timeout", ArgKind::OptionalDuration)], |lp, h, a| {
        lp.set_idle_timeout(h, a.optional(Value::duration)?)
    }),
    acts_on("set_max_connections", None, &[max_connections("max")], |lp, h, a| {
        lp.set_max_connections(h, a.read(Value::count)?)
    }),
    acts_on("shutdown_server", None, &[arg("drain_timeout", ArgKind::Duration)], |lp, h, a| {
        lp.shutdown_server(h, a.read(Value::duration)?)
    }),
    acts_on("add_membership", None, MEMBERSHIP, |lp, h, a| {
        lp.udp_multicast(h, a.read(Value::text)?, &a.optional(Value::interface)?.unwrap_or_default(), true)
    }),
    acts_on("drop_membership", None, MEMBERSHIP, |lp, h, a| {
        lp.udp_multicast(h, a.read(Value::text)?, &a.optional(Value::interface)?.unwrap_or_default(), false)
    }),
    acts_on("udp_disconnect", Some("connect"), &[], |lp, h, _| lp.udp_disconnect(h)),
    acts_on("set_multicast_interface", None, &[arg("interface", ArgKind::Interface)], |lp, h, a| {
        lp.udp_multicast_interface(h, &a.read(Value::interface)?)
    }),
    acts_on("set_option", Some("setsockopt"), &[SOCK_OPTION, arg("value", ArgKind::OptionValue)], |lp, h, a| {
        let option = a.read(Value::sock_option)??;
        lp.set_option(h, option, a.read(|value| value.option_value(option))?)
    }),
    reads("get_option", Some("getsockopt"), &[SOCK_OPTION], |lp, h, a| {
        let option = a.read(Value::sock_option)??;
        let value = lp.get_option(h, option)?;
        Ok(if option.is_bool() { Output::Bool(value != 0) } else { Output::Int(value) })
    }),
    Operation {
        name: "set_framing",
        syscall: None,
        args: &[arg("mode", ArgKind::FramingMode)],
        options: &[
            arg("delimiter", ArgKind::Bytes),
            arg("size", ArgKind::OptionalNumber),
            arg("header", ArgKind::OptionalNumber),
            arg("max_frame", ArgKind::OptionalNumber),
        ],
        run: Run::ActOn(|lp, h, a| {
            let mode = FramingMode::parse(a.read(Value::text)?)?;
            let delimiter = a.optional(Value::bytes)?;
            let (size, header) = (a.optional(Value::count)?, a.optional(Value::count)?);
            let params = FramingParams { delimiter, size, header, max_frame: a.optional(Value::count)? };
            lp.set_framing(h, Framing::build(mode, params)?)
        }),
    },
    acts_on(
        "set_raw_option",
        Some("setsockopt"),
        &[c_int("level"), c_int("name"), arg("value", ArgKind::RawValue)],
        |lp, h, a| lp.set_raw_option(h, a.read(Value::c_int)?, a.read(Value::c_int)?, &a.read(Value::raw_value)?),
    ),
    reads(
        "get_raw_option",
        Some("getsockopt"),
        &[c_int("level"), c_int("name"), arg("size", ArgKind::OptionalNumber)],
        |lp, h, a| {
            let (level, name) = (a.read(Value::c_int)?, a.read(Value::c_int)?);
            // No size: a C int's.
            let size = a.optional(Value::count)?.unwrap_or(std::mem::size_of::<i32>());
            lp.raw_option(h, level, name, size).map(Output::Bytes)
        },
    ),
    reads("raw_fd", None, &[], |lp, h, _| lp.raw_fd(h).map(|fd| Output::Int(fd.into()))),
    reads("queued_bytes", None, &[], |lp, h, _| lp.queued_bytes(h).map(|n| Output::Int(n as i64))),
    reads("local_address", Some("getsockname"), &[], |lp, h, _| lp.local_addr(h).map(Output::Addr)),
    reads("peer_address", Some("getpeername"), &[], |lp, h, _| lp.peer_addr(h).map(Output::Addr)),
    reads("local_path", Some("getsockname"), &[], |lp, h, _| lp.local_path(h).map(Output::Path)),
    reads("peer_path", Some("getpeername"), &[], |lp, h, _| lp.peer_path(h).map(Output::Path)),
    reads("peer_credentials", None, &[], |lp, h, _| lp.peer_credentials(h).map(Output::Credentials)),
    reads("kind", None, &[], |lp, h, _| lp.kind(h).map(|kind| Output::Name(kind.name()))),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A value of each kind that the operation takes (not necessarily one
    /// it accepts: the core may still refuse it, but not for its kind).
    fn sample(op: &Operation, arg: &Arg) -> Value {
        let secs = Duration::from_secs(1);
        match arg.kind {
            ArgKind::Host => Value::Text("127.0.0.1".into()),
            ArgKind::Path => Value::Text(format!("@netcore-operation-test-{}-{}", std::process::id(), op.name)),
            ArgKind::Text => Value::Text("239.1.2.3".into()),
            ArgKind::Port => Value::Int(0),
            ArgKind::Integer { max, .. } => Value::Int(max),
            ArgKind::Number | ArgKind::OptionalNumber | ArgKind::RawValue | ArgKind::OptionValue => Value::Int(4),
            ArgKind::Duration | ArgKind::OptionalDuration => Value::Duration(secs),
            ArgKind::Durations => Value::Durations(vec![secs]),
            ArgKind::Bool => Value::Bool(false),
            ArgKind::Family => Value::Text("any".into()),
            ArgKind::Strings => Value::Texts(vec!["127.0.0.1".into()]),
            ArgKind::Interface => Value::Int(0),
            ArgKind::SockOption => Value::Text("nodelay".into()),
            ArgKind::FramingMode => Value::Text("delimited".into()),
            ArgKind::Bytes => Value::Bytes(b"\n".to_vec()),
        }
    }

    /// A value of no kind `kind` takes.
    fn wrong(kind: ArgKind) -> Value {
        match kind {
            ArgKind::Bool | ArgKind::OptionValue => Value::Text("yes".into()),
            _ => Value::Bool(true),
        }
    }

    fn params(op: &Operation) -> impl Iterator<Item = &'static Arg> {
        op.args.iter().chain(op.options)
    }

    /// Runs `op` with `values`, on a new UDP socket if it works on a handle.
    fn run(lp: &Loop, op: &Operation, values: &[Value]) -> Result<Output> {
        let handle = op.on_handle().then(|| lp.udp_bind("127.0.0.1", 0, &BindOptions::default(), 0)).transpose()?;
        lp.invoke(op, handle, values, 0)
    }

    #[test]
    fn every_operation_runs_and_returns_what_it_says() {
        let lp = Loop::new().unwrap();
        let mut names = std::collections::HashSet::new();
        for op in OPERATIONS {
            assert!(names.insert(op.name), "{} is listed once", op.name);
            let values: Vec<Value> = params(op).map(|arg| sample(op, arg)).collect();
            match run(&lp, op, &values) {
                Ok(out) => match op.returns() {
                    Returns::Handle(kind) => match out {
                        Output::Handle(h) => assert_eq!(lp.kind(h), Ok(kind), "{}", op.name),
                        other => panic!("{}: {other:?}", op.name),
                    },
                    Returns::Nothing => assert_eq!(out, Output::Nothing, "{}", op.name),
                    Returns::Value => assert!(!matches!(out, Output::Nothing | Output::Handle(_)), "{}", op.name),
                },
                // Refused by the core for what the value is, never for its kind.
                Err(e) => {
                    assert!(params(op).all(|arg| e.detail() != Some(&arg.wrong)), "{}: {:?}", op.name, e.detail())
                }
            }
        }
    }

    #[test]
    fn every_argument_is_read_in_order_by_its_kind() {
        let lp = Loop::new().unwrap();
        for op in OPERATIONS {
            for (i, arg) in params(op).enumerate() {
                let mut values: Vec<Value> = params(op).map(|arg| sample(op, arg)).collect();
                values[i] = wrong(arg.kind);
                let e = run(&lp, op, &values).expect_err(op.name);
                assert_eq!(e, Error::EINVAL, "{} {}", op.name, arg.name);
                assert_eq!(e.detail(), Some(&arg.wrong), "{} {}", op.name, arg.name);
                assert_eq!(e.detail().map(|d| d.argument), Some(arg.name));
            }
        }
    }

    #[test]
    fn an_integer_beyond_its_range_is_refused_naming_the_range() {
        let lp = Loop::new().unwrap();
        let mut checked = 0;
        for op in OPERATIONS {
            for (i, arg) in params(op).enumerate() {
                let ArgKind::Integer { min, max } = arg.kind else { continue };
                // (A bound at i64's own end has nothing beyond it.)
                for beyond in [min.checked_sub(1), max.checked_add(1)].into_iter().flatten() {
                    let mut values: Vec<Value> = params(op).map(|arg| sample(op, arg)).collect();
                    values[i] = Value::Int(beyond);
                    let e = run(&lp, op, &values).expect_err(op.name);
                    assert_eq!(e.detail(), Some(&arg.wrong), "{} {} {beyond}", op.name, arg.name);
                    // The range text is written by hand beside the numbers: it must name both.
                    let names = |n: i64| arg.wrong.expected.contains(&n.to_string());
                    assert!(names(min) && names(max), "{}", arg.wrong.expected);
                    checked += 1;
                }
            }
        }
        // Both bounds of: fd (three adopt operations), level and name (the two
        // raw-option operations), max_connections (two listens and
        // set_max_connections); the lower one of notify_when_sent's token.
        assert_eq!(checked, 2 * (3 + 2 * 2 + 3) + 1);
    }

    #[test]
    fn an_absent_option_is_the_cores_default_and_a_missing_argument_is_refused() {
        let lp = Loop::new().unwrap();
        let listen = Operation::named("listen").unwrap();
        let get_raw = Operation::named("get_raw_option").unwrap();
        let reuse_port = |listener| {
            let args = [Value::Int(libc::SOL_SOCKET.into()), Value::Int(libc::SO_REUSEPORT.into())];
            // No size: a C int's bytes.
            lp.invoke(get_raw, Some(listener), &args, 0).unwrap()
        };
        let host = || Value::Text("127.0.0.1".into());
        for (given, set) in [(vec![], 0i32), (vec![Value::Absent, Value::Bool(true)], 1)] {
            let args: Vec<Value> = [host(), Value::Int(0)].into_iter().chain(given).collect();
            let Output::Handle(listener) = lp.invoke(listen, None, &args, 7).unwrap() else { panic!("no handle") };
            assert_eq!(lp.userdata(listener), Ok(7));
            assert_eq!(reuse_port(listener), Output::Bytes(set.to_ne_bytes().to_vec()));
        }
        let e = lp.invoke(listen, None, &[host()], 0).unwrap_err();
        assert_eq!(e.detail().map(|d| (d.argument, d.expected)), Some(("port", "an integer")));
    }

    #[test]
    fn a_family_and_an_option_are_taken_by_name_or_value() {
        let lp = Loop::new().unwrap();
        let connect = Operation::named("connect").unwrap();
        for family in [Value::Text("ipv4".into()), Value::Int(4)] {
            let mut args = vec![Value::Text("127.0.0.1".into()), Value::Int(9)];
            args.extend([Value::Absent, Value::Absent, Value::Absent, Value::Absent, Value::Absent, family]);
            assert!(matches!(lp.invoke(connect, None, &args, 0), Ok(Output::Handle(_))));
        }
        let bad = [Value::Text("127.0.0.1".into()), Value::Int(9), Value::Absent, Value::Absent, Value::Absent]
            .into_iter()
            .chain([Value::Absent, Value::Absent, Value::Text("ipv5".into())])
            .collect::<Vec<_>>();
        let e = lp.invoke(connect, None, &bad, 0).unwrap_err();
        assert_eq!(e.detail().map(|d| d.argument), Some("family"), "the core's own detail");
        let udp = lp.udp_bind("127.0.0.1", 0, &BindOptions::default(), 0).unwrap();
        let (set, get) = (Operation::named("set_option").unwrap(), Operation::named("get_option").unwrap());
        let broadcast = SockOption::Broadcast;
        lp.invoke(set, Some(udp), &[Value::Text(broadcast.name().into()), Value::Int(1)], 0).unwrap();
        let read = lp.invoke(get, Some(udp), &[Value::Int(broadcast as i32 as i64)], 0);
        assert_eq!(read, Ok(Output::Bool(true)), "a boolean option reads back as a boolean");
        lp.invoke(set, Some(udp), &[Value::Text(broadcast.name().into()), Value::Bool(false)], 0).unwrap();
        assert_eq!(lp.invoke(get, Some(udp), &[Value::Text(broadcast.name().into())], 0), Ok(Output::Bool(false)));
        let ttl = Value::Text(SockOption::MulticastTtl.name().into());
        let e = lp.invoke(set, Some(udp), &[ttl.clone(), Value::Bool(true)], 0).unwrap_err();
        assert_eq!(e.detail().map(|d| d.argument), Some("value"), "no boolean for a numeric option");
        lp.invoke(set, Some(udp), &[ttl.clone(), Value::Int(3)], 0).unwrap();
        assert_eq!(lp.invoke(get, Some(udp), &[ttl], 0), Ok(Output::Int(3)));
    }

    #[test]
    fn a_handle_is_given_exactly_to_an_operation_on_one_and_extra_values_are_refused() {
        let lp = Loop::new().unwrap();
        let timer = lp.timer_start(Duration::from_secs(60), None, 0).unwrap();
        let kind = Operation::named("kind").unwrap();
        assert_eq!(lp.invoke(kind, Some(timer), &[], 0), Ok(Output::Name("timer")));
        let e = lp.invoke(kind, None, &[], 0).unwrap_err();
        assert_eq!(e.detail().map(|d| d.argument), Some("handle"));
        let start_timer = Operation::named("timer").unwrap();
        let e = lp.invoke(start_timer, Some(timer), &[Value::Duration(Duration::ZERO)], 0).unwrap_err();
        assert_eq!(e.detail().map(|d| d.argument), Some("handle"));
        let e = lp.invoke(kind, Some(timer), &[Value::Absent], 0).unwrap_err();
        assert_eq!(e.detail().map(|d| d.argument), Some("args"));
        assert!(Operation::named("send").is_none(), "the hot path is not an operation");
    }
}
