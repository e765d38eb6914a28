//! The C header against the core's tables, both ways: every event kind,
//! handle kind, option, address family, TLS version, client authentication
//! and error code of the core has the
//! C constant of its name (`NC_EV_` + the name in upper case, ...) with its
//! number in `include/netcore.h`, and every constant of those tables in the
//! header is one of the core's; the `*_LAST` constants are the tables'
//! lengths; the name functions answer with the core's names.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, CStr};
use std::path::Path;

use netcore::{nc_event_name, nc_handle_kind_name, nc_option_name};
use netcore_core::{ClientAuth, Error, EventKind, Family, HandleKind, SockOption, TlsVersion};

/// The header's integer constants: enum members (`NC_X = 3,`) and
/// `#define NC_X 3`.
fn header_constants() -> BTreeMap<String, i64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/netcore.h");
    let header = std::fs::read_to_string(path).expect("include/netcore.h");
    let mut constants = BTreeMap::new();
    for line in header.lines().map(str::trim) {
        let (name, value) = if let Some(define) = line.strip_prefix("#define ") {
            match define.split_once(' ') {
                Some(pair) => pair,
                None => continue,
            }
        } else if let Some((name, value)) = line.split_once(" = ") {
            (name, value.trim_end_matches(','))
        } else {
            continue;
        };
        if let (true, Ok(value)) = (name.starts_with("NC_"), value.parse()) {
            constants.insert(name.to_string(), value);
        }
    }
    constants
}

/// Checks one table: `core` lists (name, number) of every variant; the
/// header's constants starting with `prefix` (but `*_LAST`) must be exactly
/// `prefix` + each name in upper case, with its number.
fn same_table(constants: &BTreeMap<String, i64>, prefix: &str, core: &[(&str, i64)]) {
    let expected: BTreeMap<String, i64> =
        core.iter().map(|&(name, value)| (format!("{prefix}{}", name.to_ascii_uppercase()), value)).collect();
    let in_header: BTreeMap<String, i64> = constants
        .iter()
        .filter(|(name, _)| name.starts_with(prefix) && !name.ends_with("_LAST"))
        .map(|(name, &value)| (name.clone(), value))
        .collect();
    assert_eq!(in_header, expected, "the header's {prefix}* constants against the core's table");
}

fn text(ptr: *const c_char) -> &'static str {
    // SAFETY: the name functions return static NUL-terminated strings.
    unsafe { CStr::from_ptr(ptr) }.to_str().expect("UTF-8")
}

#[test]
fn every_c_constant_is_a_core_variant_and_every_core_variant_a_c_constant() {
    let constants = header_constants();
    let events: Vec<_> = EventKind::ALL.iter().map(|&v| (v.name(), v as i64)).collect();
    same_table(&constants, "NC_EV_", &events);
    let options: Vec<_> = SockOption::ALL.iter().map(|&v| (v.name(), v as i64)).collect();
    same_table(&constants, "NC_OPT_", &options);
    let kinds: Vec<_> = HandleKind::ALL.iter().map(|&v| (v.name(), v as i64)).collect();
    same_table(&constants, "NC_KIND_", &kinds);
    let families: Vec<_> = Family::ALL.iter().map(|&v| (v.name(), v as i64)).collect();
    same_table(&constants, "NC_FAMILY_", &families);
    let auth: Vec<_> = ClientAuth::ALL.iter().map(|&v| (v.name(), v as i64)).collect();
    same_table(&constants, "NC_TLS_CLIENT_AUTH_", &auth);
    // Version names already start with tls: NC_TLS1_2.
    let versions: BTreeMap<String, i64> =
        TlsVersion::ALL.iter().map(|&v| (format!("NC_{}", v.name().to_ascii_uppercase()), v as i64)).collect();
    let in_header: BTreeMap<String, i64> =
        constants.iter().filter(|(n, _)| n.starts_with("NC_TLS1_")).map(|(n, &v)| (n.clone(), v)).collect();
    assert_eq!(in_header, versions, "the header's TLS versions against the core's");
    // Error names already start with E: NC_EINVAL.
    let errors: Vec<_> = Error::ALL.iter().map(|&e| (e.name(), e.code() as i64)).collect();
    let error_constants: BTreeMap<String, i64> =
        constants.iter().filter(|(_, &v)| v < 0).map(|(n, &v)| (n.clone(), v)).collect();
    same_table(&error_constants, "NC_E", &errors.iter().map(|&(n, v)| (&n[1..], v)).collect::<Vec<_>>());
    for (last, table) in [("NC_EV_LAST", events.len()), ("NC_OPT_LAST", options.len()), ("NC_KIND_LAST", kinds.len())] {
        assert_eq!(constants.get(last), Some(&(table as i64)), "{last}");
    }
}

#[test]
fn the_name_functions_answer_with_the_core_names() {
    for &v in EventKind::ALL {
        assert_eq!(text(nc_event_name(v as c_int)), v.name());
    }
    for &v in SockOption::ALL {
        assert_eq!(text(nc_option_name(v as c_int)), v.name());
    }
    for &v in HandleKind::ALL {
        assert_eq!(text(nc_handle_kind_name(v as c_int)), v.name());
    }
    for outside in [0, -1, 99, c_int::MAX] {
        assert_eq!(text(nc_event_name(outside)), "unknown");
        assert_eq!(text(nc_option_name(outside)), "unknown");
        assert_eq!(text(nc_handle_kind_name(outside)), "unknown");
    }
}
