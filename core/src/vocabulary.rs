//! The core's vocabulary as one JSON document, for a binding that reads it
//! once when it loads (Node) instead of mapping each table and constant to
//! its own types. The tables stay the source; this only renders them.

use crate::{
    EventKind, Family, FramingMode, HandleKind, SockOption, DEFAULT_ATTEMPT_DELAY, DEFAULT_BACKLOG, DEFAULT_DELIMITER,
    DEFAULT_HIGH_WATER, DEFAULT_LENGTH_HEADER, DEFAULT_LOW_WATER, DEFAULT_MAX_FRAME, MAX_BACKOFF_STEPS, MAX_DELIMITER,
    MAX_FRAME_LIMIT, MAX_RAW_OPTION_SIZE,
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

/// Every event kind, handle kind, framing mode and family as
/// `{"name", "value"}`; every socket option as `{"name", "value", "min",
/// "max", "is_bool", "applies_to": [handle kind names]}`; and the defaults
/// and limits (`backlog`, `max_frame`, `max_frame_limit`, `delimiter`,
/// `max_delimiter`, `length_header`, `high_water`, `low_water`,
/// `attempt_delay_ms`, `max_reconnect_steps`, `max_raw_option_size`), in one JSON object with the
/// keys `events`, `handle_kinds`, `options`, `framing_modes`, `families`
/// and `defaults`.
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
    format!(
        r#"{{"events":{},"handle_kinds":{},"options":{},"framing_modes":{},"families":{},"defaults":{{{}}}}}"#,
        named(EventKind::ALL, |v| (v.name(), v as i32)),
        named(HandleKind::ALL, |v| (v.name(), v as i32)),
        list(SockOption::ALL, option),
        named(FramingMode::ALL, |v| (v.name(), v as i32)),
        named(Family::ALL, |v| (v.name(), v as i32)),
        defaults.map(|(key, value)| format!(r#""{key}":{value}"#)).join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_entry_of_every_table_and_the_defaults() {
        let json = vocabulary_json();
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
        // Balanced, as far as a JSON parser would see (no brace or bracket in names).
        for (open, close) in [('{', '}'), ('[', ']')] {
            assert_eq!(json.matches(open).count(), json.matches(close).count());
        }
    }
}
