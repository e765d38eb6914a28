//! The core's vocabulary as one JSON document, for a binding that reads it
//! once when it loads (Node) instead of mapping each table and constant to
//! its own types. The tables stay the source; this only renders them.
//! The loop's [`OPERATIONS`] are rendered too, so that a binding builds its
//! methods and argument checks from them (`docs/design.md` 6.3).

use crate::operation::{Arg, ArgKind, Operation, Returns, OPERATIONS};
use crate::{
    Error, EventKind, Family, FramingMode, HandleKind, SockOption, DEFAULT_ATTEMPT_DELAY, DEFAULT_BACKLOG,
    DEFAULT_DELIMITER, DEFAULT_HIGH_WATER, DEFAULT_LENGTH_HEADER, DEFAULT_LOW_WATER, DEFAULT_MAX_FRAME,
    MAX_BACKOFF_STEPS, MAX_DELIMITER, MAX_FRAME_LIMIT, MAX_RAW_OPTION_SIZE,
};

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
    let (returns, creates) = match op.returns() {
        Returns::Handle(kind) => ("handle", format!(r#""{}""#, kind.name())),
        Returns::Nothing => ("nothing", "null".into()),
        Returns::Value => ("value", "null".into()),
    };
    format!(
        r#"{{"name":"{}","syscall":{},"on_handle":{},"args":{},"options":{},"returns":"{returns}","creates":{creates}}}"#,
        op.name,
        op.syscall.map_or("null".into(), |s| format!(r#""{s}""#)),
        op.on_handle(),
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
/// "returns": "handle" | "nothing" | "value", "creates": a handle
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
