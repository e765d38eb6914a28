//! The core's vocabulary as one JSON document, for a binding that reads it
//! once when it loads (Node) instead of mapping each table and constant to
//! its own types. The tables stay the source; this only renders them.
//! [`OPERATIONS`] describes the arguments of the loop's operations once, so
//! that a binding builds its argument checks from it (`docs/design.md` 6.3).

use crate::{
    Error, EventKind, Family, FramingMode, HandleKind, SockOption, DEFAULT_ATTEMPT_DELAY, DEFAULT_BACKLOG,
    DEFAULT_DELIMITER, DEFAULT_HIGH_WATER, DEFAULT_LENGTH_HEADER, DEFAULT_LOW_WATER, DEFAULT_MAX_FRAME,
    MAX_BACKOFF_STEPS, MAX_DELIMITER, MAX_FRAME_LIMIT, MAX_RAW_OPTION_SIZE,
};

/// What a binding checks an argument is before it crosses (its type, and a
/// number the binding can convert); every value's meaning and range the core
/// judges when the operation runs.
#[derive(Clone, Copy, Debug)]
pub enum ArgKind {
    /// A host name or IP literal.
    Host,
    /// A port: a number, or a string of digits.
    Port,
    /// A Unix socket path (`@name`: the abstract namespace).
    Path,
    /// Milliseconds, not negative (anything beyond the core's longest
    /// duration, infinity included, means never).
    Millis,
    /// Milliseconds, or none.
    OptionalMillis,
    /// A list of milliseconds, each not negative, or none.
    MillisList,
    /// An integer from `min` to `max`.
    Integer {
        min: i64,
        max: i64,
    },
    Number,
    /// A number, or none.
    OptionalNumber,
    Bool,
    /// A [`Family`]: its value or its name.
    Family,
    /// A list of strings.
    Strings,
    /// An interface's address or index, or none.
    Interface,
    /// Any other string (errors name only a host or a path).
    Text,
    /// A raw socket option's value: a C `int`, or its bytes.
    RawValue,
}

impl ArgKind {
    fn name(self) -> &'static str {
        match self {
            ArgKind::Host => "host",
            ArgKind::Port => "port",
            ArgKind::Path => "path",
            ArgKind::Millis => "millis",
            ArgKind::OptionalMillis => "optional_millis",
            ArgKind::MillisList => "millis_list",
            ArgKind::Integer { .. } => "integer",
            ArgKind::Number => "number",
            ArgKind::OptionalNumber => "optional_number",
            ArgKind::Bool => "bool",
            ArgKind::Family => "family",
            ArgKind::Strings => "strings",
            ArgKind::Interface => "interface",
            ArgKind::Text => "text",
            ArgKind::RawValue => "raw_value",
        }
    }
}

/// One argument (or option) of an operation.
#[derive(Clone, Copy, Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgKind,
}

/// What an operation returns.
#[derive(Clone, Copy, Debug)]
pub enum Returns {
    /// A new handle of this kind.
    Handle(HandleKind),
    Nothing,
    /// A value (a number, an address, bytes).
    Value,
}

/// One operation of the loop, as a binding exposes it: the arguments it
/// takes in order (after the handle, for one on a handle), the options a
/// handle-creating one takes (each left out: the core's default), and the
/// system call its errors name (none: the operation's own name). The options
/// are the core's (`BindOptions`, `ConnectOptions`): Python and Node take
/// each as a keyword; C's flat functions take those their signature has
/// (`nc_tcp_listen`: backlog and flags) and set the rest with the operation
/// of the same meaning (the cap: `nc_set_max_connections`).
#[derive(Clone, Copy, Debug)]
pub struct Operation {
    pub name: &'static str,
    pub syscall: Option<&'static str>,
    pub on_handle: bool,
    pub args: &'static [Arg],
    pub options: &'static [Arg],
    pub returns: Returns,
}

const fn arg(name: &'static str, kind: ArgKind) -> Arg {
    Arg { name, kind }
}

const HOST: Arg = arg("host", ArgKind::Host);
const PORT: Arg = arg("port", ArgKind::Port);
const PATH: Arg = arg("path", ArgKind::Path);
const BACKLOG: Arg = arg("backlog", ArgKind::Number);
/// A listener's cap on open connections (0: none), as a listen option
/// ([`crate::BindOptions::max_connections`]) or set later.
const MAX_CONNECTIONS: ArgKind = ArgKind::Integer { min: 0, max: crate::MAX_CONNECTIONS as i64 };
const MAX_CONNECTIONS_OPTION: Arg = arg("max_connections", MAX_CONNECTIONS);
const BIND_FLAGS: [Arg; 2] = [arg("reuse_port", ArgKind::Bool), arg("ipv6_only", ArgKind::Bool)];
/// A multicast group and the interface to join it on.
const MEMBERSHIP: [Arg; 2] = [arg("group", ArgKind::Text), arg("interface", ArgKind::Interface)];
/// A socket option's level or name, a C `int`.
const fn c_int(name: &'static str) -> Arg {
    arg(name, ArgKind::Integer { min: i32::MIN as i64, max: i32::MAX as i64 })
}
/// A descriptor, as a C `int` holds it.
const FD: Arg = arg("fd", ArgKind::Integer { min: 0, max: i32::MAX as i64 });
const fn creates(
    name: &'static str,
    syscall: &'static str,
    args: &'static [Arg],
    options: &'static [Arg],
    kind: HandleKind,
) -> Operation {
    Operation { name, syscall: Some(syscall), on_handle: false, args, options, returns: Returns::Handle(kind) }
}

const fn on_handle(
    name: &'static str,
    syscall: Option<&'static str>,
    args: &'static [Arg],
    returns: Returns,
) -> Operation {
    Operation { name, syscall, on_handle: true, args, options: &[], returns }
}

/// The operations a binding builds from this description (the others,
/// the sends on the hot path among them, it writes by hand).
pub const OPERATIONS: &[Operation] = &[
    creates(
        "listen",
        "listen",
        &[HOST, PORT],
        &[BACKLOG, BIND_FLAGS[0], BIND_FLAGS[1], MAX_CONNECTIONS_OPTION],
        HandleKind::TcpListener,
    ),
    creates(
        "connect",
        "connect",
        &[HOST, PORT],
        &[
            arg("local_address", ArgKind::Host),
            arg("local_port", ArgKind::Port),
            arg("reconnect", ArgKind::MillisList),
            arg("timeout", ArgKind::OptionalMillis),
            arg("attempt_delay", ArgKind::OptionalMillis),
            arg("family", ArgKind::Family),
        ],
        HandleKind::TcpConnection,
    ),
    creates("listen_unix", "listen", &[PATH], &[BACKLOG, MAX_CONNECTIONS_OPTION], HandleKind::TcpListener),
    creates("connect_unix", "connect", &[PATH], &[], HandleKind::TcpConnection),
    creates("udp_bind", "bind", &[HOST, PORT], &BIND_FLAGS, HandleKind::Udp),
    creates("udp_bind_unix", "bind", &[PATH], &[], HandleKind::Udp),
    creates("adopt_listener", "adopt", &[FD], &[], HandleKind::TcpListener),
    creates("adopt_connection", "adopt", &[FD], &[], HandleKind::TcpConnection),
    creates("adopt_udp", "adopt", &[FD], &[], HandleKind::Udp),
    creates(
        "set_timer",
        "timer",
        &[arg("delay", ArgKind::Millis), arg("repeat", ArgKind::OptionalMillis)],
        &[],
        HandleKind::Timer,
    ),
    Operation {
        name: "set_host_addresses",
        syscall: None,
        on_handle: false,
        args: &[arg("name", ArgKind::Host), arg("addresses", ArgKind::Strings)],
        options: &[],
        returns: Returns::Nothing,
    },
    on_handle("udp_connect", Some("connect"), &[HOST, PORT], Returns::Nothing),
    on_handle("udp_connect_unix", Some("connect"), &[PATH], Returns::Nothing),
    on_handle("shutdown", Some("shutdown"), &[], Returns::Nothing),
    on_handle("set_idle_timeout", None, &[arg("timeout", ArgKind::OptionalMillis)], Returns::Nothing),
    on_handle("set_max_connections", None, &[arg("max", MAX_CONNECTIONS)], Returns::Nothing),
    on_handle("shutdown_server", None, &[arg("drain_timeout", ArgKind::Millis)], Returns::Nothing),
    on_handle("add_membership", None, &MEMBERSHIP, Returns::Nothing),
    on_handle("drop_membership", None, &MEMBERSHIP, Returns::Nothing),
    on_handle("fd", None, &[], Returns::Value),
    on_handle("queued_bytes", None, &[], Returns::Value),
    on_handle("local_address", Some("getsockname"), &[], Returns::Value),
    on_handle("remote_address", Some("getpeername"), &[], Returns::Value),
    on_handle(
        "set_raw_option",
        Some("setsockopt"),
        &[c_int("level"), c_int("name"), arg("value", ArgKind::RawValue)],
        Returns::Nothing,
    ),
    on_handle(
        "get_raw_option",
        Some("getsockopt"),
        &[c_int("level"), c_int("name"), arg("size", ArgKind::OptionalNumber)],
        Returns::Value,
    ),
];

/// A JSON array of `item` for each of `all`.
fn list<T: Copy>(all: &[T], item: impl Fn(T) -> String) -> String {
    format!("[{}]", all.iter().map(|&v| item(v)).collect::<Vec<_>>().join(","))
}

/// `{"name":…,"value":…}` for each variant of a named enum.
fn named<T: Copy>(all: &[T], name_value: impl Fn(T) -> (&'static str, i32)) -> String {
    list(all, |v| {
        let (name, value) = name_value(v);
        format!(r#"{{"name":"{name}","value":{value}}}"#)
    })
}

/// `{"name", "kind", "min", "max"}` (the bounds of an integer) for each of `args`.
fn args_json(args: &[Arg]) -> String {
    list(args, |a| {
        let (min, max) = match a.kind {
            ArgKind::Integer { min, max } => (min.to_string(), max.to_string()),
            _ => ("null".into(), "null".into()),
        };
        format!(r#"{{"name":"{}","kind":"{}","min":{min},"max":{max}}}"#, a.name, a.kind.name())
    })
}

fn operation_json(op: Operation) -> String {
    let (returns, creates) = match op.returns {
        Returns::Handle(kind) => ("handle", format!(r#""{}""#, kind.name())),
        Returns::Nothing => ("nothing", "null".into()),
        Returns::Value => ("value", "null".into()),
    };
    format!(
        r#"{{"name":"{}","syscall":{},"on_handle":{},"args":{},"options":{},"returns":"{returns}","creates":{creates}}}"#,
        op.name,
        op.syscall.map_or("null".into(), |s| format!(r#""{s}""#)),
        op.on_handle,
        args_json(op.args),
        args_json(op.options)
    )
}

/// Every error code the library defines as `{"code", "name", "message"}`;
/// every event kind, handle kind, framing mode and family as
/// `{"name", "value"}`; every socket option as `{"name", "value", "min",
/// "max", "is_bool", "applies_to": [handle kind names]}`; and the defaults
/// and limits (`backlog`, `max_frame`, `max_frame_limit`, `delimiter`,
/// `max_delimiter`, `length_header`, `high_water`, `low_water`,
/// `attempt_delay_ms`, `max_reconnect_steps`, `max_raw_option_size`); and
/// [`OPERATIONS`] as `{"name", "syscall", "on_handle", "args", "options",
/// "returns": "handle" | "nothing" | "value" | "sent", "creates": a handle
/// kind's name or null}`; in one JSON object with the keys `errors`, `events`,
/// `handle_kinds`, `options`, `framing_modes`, `families`, `defaults` and
/// `operations`.
pub fn vocabulary_json() -> String {
    let option = |o: SockOption| {
        let applies_to = HandleKind::ALL.iter().filter(|&&k| o.applies_to(k)).map(|k| format!(r#""{}""#, k.name()));
        format!(
            r#"{{"name":"{}","value":{},"min":{},"max":{},"is_bool":{},"applies_to":[{}]}}"#,
            o.name(),
            o as i32,
            o.range().start(),
            o.range().end(),
            o.is_bool(),
            applies_to.collect::<Vec<_>>().join(",")
        )
    };
    // The delimiter is ASCII: Debug formatting of a str is a JSON string then.
    let delimiter = format!("{:?}", String::from_utf8_lossy(DEFAULT_DELIMITER));
    let defaults = [
        ("backlog", DEFAULT_BACKLOG.to_string()),
        ("max_frame", DEFAULT_MAX_FRAME.to_string()),
        ("max_frame_limit", MAX_FRAME_LIMIT.to_string()),
        ("delimiter", delimiter),
        ("max_delimiter", MAX_DELIMITER.to_string()),
        ("length_header", DEFAULT_LENGTH_HEADER.to_string()),
        ("high_water", DEFAULT_HIGH_WATER.to_string()),
        ("low_water", DEFAULT_LOW_WATER.to_string()),
        ("attempt_delay_ms", DEFAULT_ATTEMPT_DELAY.as_millis().to_string()),
        ("max_reconnect_steps", MAX_BACKOFF_STEPS.to_string()),
        ("max_raw_option_size", MAX_RAW_OPTION_SIZE.to_string()),
    ];
    // The messages are ASCII: Debug formatting of a str is a JSON string then.
    let error = |e: Error| format!(r#"{{"code":{},"name":"{}","message":{:?}}}"#, e.code(), e.name(), e.message());
    format!(
        r#"{{"errors":{},"events":{},"handle_kinds":{},"options":{},"framing_modes":{},"families":{},"defaults":{{{}}},"operations":{}}}"#,
        list(Error::ALL, error),
        named(EventKind::ALL, |v| (v.name(), v as i32)),
        named(HandleKind::ALL, |v| (v.name(), v as i32)),
        list(SockOption::ALL, option),
        named(FramingMode::ALL, |v| (v.name(), v as i32)),
        named(Family::ALL, |v| (v.name(), v as i32)),
        defaults.map(|(key, value)| format!(r#""{key}":{value}"#)).join(","),
        list(OPERATIONS, operation_json)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_entry_of_every_table_and_the_defaults() {
        let json = vocabulary_json();
        for e in Error::ALL {
            assert!(e.message().is_ascii(), "{e:?}");
            assert!(json.contains(&format!(r#"{{"code":{},"name":"{}","message":"#, e.code(), e.name())), "{e:?}");
        }
        for e in EventKind::ALL {
            assert!(json.contains(&format!(r#"{{"name":"{}","value":{}}}"#, e.name(), *e as i32)), "{e:?}");
        }
        for k in HandleKind::ALL {
            assert!(json.contains(&format!(r#"{{"name":"{}","value":{}}}"#, k.name(), *k as i32)), "{k:?}");
        }
        for o in SockOption::ALL {
            let head = format!(r#"{{"name":"{}","value":{},"min":{},"#, o.name(), *o as i32, o.range().start());
            assert!(json.contains(&head), "{o:?}");
        }
        assert!(json.contains(r#"{"name":"length_prefixed","value":3}"#), "framing modes");
        assert!(json.contains(r#"{"name":"ipv6","value":6}"#), "families");
        assert!(json.contains(r#""delimiter":"\n""#), "the delimiter, escaped");
        assert!(json.contains(&format!(r#""backlog":{DEFAULT_BACKLOG}"#)));
        assert!(json.contains(r#""attempt_delay_ms":250,"#));
        for op in OPERATIONS {
            assert!(json.contains(&format!(r#"{{"name":"{}","syscall":"#, op.name)), "{op:?}");
        }
        assert!(json.contains(r#"{"name":"fd","kind":"integer","min":0,"max":2147483647}"#), "an integer's bounds");
        // Balanced, as far as a JSON parser would see (no brace or bracket in names).
        for (open, close) in [('{', '}'), ('[', ']')] {
            assert_eq!(json.matches(open).count(), json.matches(close).count());
        }
    }
}
