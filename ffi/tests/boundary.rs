//! Reads the ffi crate's sources and checks the two rules of its boundary
//! (see `ffi/src/boundary.rs`):
//! - every exported function (`extern "C" fn name`) has a body that is
//!   exactly one `boundary! { ... }` block, so none returns a value or lets
//!   a panic out without going through it;
//! - no safe function has an `unsafe` block, so none dereferences a raw
//!   pointer it was given (the argument macros need an unsafe context).
//!
//! The check works on the source text: comments are dropped, string and
//! character literals are skipped when braces are matched.

use std::path::Path;

/// One function item found in a source file.
struct Function {
    name: String,
    exported: bool,
    is_unsafe: bool,
    /// The body between its braces, comments removed; `None` for a declaration.
    body: Option<String>,
}

/// The source without comments, and for each byte whether it is inside a
/// string or character literal.
fn strip(src: &str) -> (Vec<u8>, Vec<bool>) {
    let s = src.as_bytes();
    let (mut code, mut literal) = (Vec::with_capacity(s.len()), Vec::with_capacity(s.len()));
    let mut push = |c: u8, lit: bool| {
        code.push(c);
        literal.push(lit);
    };
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'/' if s.get(i + 1) == Some(&b'/') => {
                while i < s.len() && s[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if s.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < s.len() && !(s[i] == b'*' && s[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                push(b'"', true);
                i += 1;
                while i < s.len() && s[i] != b'"' {
                    if s[i] == b'\\' {
                        push(s[i], true);
                        i += 1;
                    }
                    push(s[i], true);
                    i += 1;
                }
                push(b'"', true);
                i += 1;
            }
            // A character literal ('x', '\n', '\''), not a lifetime ('a).
            b'\'' if s.get(i + 2) == Some(&b'\'') || s.get(i + 1) == Some(&b'\\') => {
                let end = s[i + 2..].iter().position(|&c| c == b'\'').map_or(s.len(), |p| i + 3 + p);
                s[i..end].iter().for_each(|&c| push(c, true));
                i = end;
            }
            c => {
                push(c, false);
                i += 1;
            }
        }
    }
    (code, literal)
}

/// The index just past the bracket that closes the one at `open`.
fn matching(code: &[u8], literal: &[bool], open: usize) -> usize {
    let (up, down) = (code[open], if code[open] == b'(' { b')' } else { b'}' });
    let mut depth = 0;
    for i in open..code.len() {
        if literal[i] {
            continue;
        }
        if code[i] == up {
            depth += 1;
        } else if code[i] == down {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
    }
    panic!("unbalanced brackets from byte {open}")
}

/// Every `fn` item of a source file (closures are part of their function).
fn functions(src: &str) -> Vec<Function> {
    let (code, literal) = strip(src);
    let text = String::from_utf8(code.clone()).expect("the source is UTF-8");
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = text[at..].find("fn ").map(|p| at + p) {
        at = pos + 3;
        let before = &text[..pos];
        if literal[pos] || before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = text[at..].chars().take_while(|&c| c.is_alphanumeric() || c == '_' || c == '#').collect();
        if name.is_empty() {
            continue; // a function pointer type, `fn(...)`
        }
        // The qualifiers on the same line: `pub unsafe extern "C" fn`.
        let line = &before[before.rfind('\n').map_or(0, |p| p + 1)..];
        let params = at + text[at..].find('(').expect("a parameter list");
        let after = matching(&code, &literal, params);
        let end = after + text[after..].find(['{', ';']).expect("a body or a semicolon");
        let body = (code[end] == b'{').then(|| {
            let close = matching(&code, &literal, end);
            at = close;
            text[end + 1..close - 1].to_string()
        });
        found.push(Function {
            name,
            exported: line.contains("extern \"C\""),
            is_unsafe: line.split_whitespace().any(|w| w == "unsafe"),
            body,
        });
    }
    found
}

/// Whether `body` is exactly one `boundary! { ... }` block.
fn is_one_boundary(body: &str) -> bool {
    let Some(rest) = body.trim().strip_prefix("boundary!") else { return false };
    let rest = rest.trim_start();
    if !rest.starts_with('{') {
        return false;
    }
    let (code, literal) = strip(rest);
    matching(&code, &literal, 0) == code.len()
}

/// The violations of both rules in one source file.
fn violations(file: &str, src: &str) -> Vec<String> {
    let mut found = Vec::new();
    for f in functions(src) {
        let body = f.body.as_deref().unwrap_or("");
        if f.exported && !is_one_boundary(body) {
            found.push(format!("{file}: exported fn {} does not go through boundary!", f.name));
        }
        let unsafe_block = body.split("unsafe").skip(1).any(|rest| rest.trim_start().starts_with('{'));
        if !f.is_unsafe && unsafe_block {
            found.push(format!("{file}: safe fn {} has an unsafe block", f.name));
        }
    }
    found
}

#[test]
fn every_exported_function_goes_through_the_boundary_and_no_safe_function_is_unsafe() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (mut exported, mut no_mangle, mut problems) = (0, 0, Vec::new());
    for entry in std::fs::read_dir(&dir).expect("ffi/src") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("a source file");
        let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        exported += functions(&src).iter().filter(|f| f.exported && f.body.is_some()).count();
        no_mangle += src.matches("#[no_mangle]").count();
        problems.extend(violations(&file, &src));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The scan found the API (it is not vacuous) and nothing exported escaped it.
    assert!(exported >= 50, "only {exported} exported functions found");
    assert_eq!(exported, no_mangle, "every #[no_mangle] item is an extern \"C\" fn the scan saw");
}

#[test]
fn the_scan_catches_a_bypass_and_an_unsafe_safe_function() {
    let good = r#"
        /// A doc with a brace { and a "quote".
        #[no_mangle]
        pub unsafe extern "C" fn nc_good(r#loop: *mut nc_loop, s: *const c_char) -> c_int {
            boundary! { let c = '{'; let _ = "}"; try_loop!(r#loop).stop(); Ok(()) }
        }
        fn helper<'a>(x: &'a str) -> &'a str { x }
        unsafe fn raw(p: *const u8) -> u8 { unsafe { *p } }
    "#;
    assert_eq!(violations("good", good), Vec::<String>::new());
    let bypass = r#"
        #[no_mangle]
        pub unsafe extern "C" fn nc_bypass(x: c_int) -> c_int {
            boundary! { Ok(x) };
            0
        }
        #[no_mangle]
        pub extern "C" fn nc_bare() -> c_int { 0 }
    "#;
    assert_eq!(violations("bypass", bypass).len(), 2, "{:?}", violations("bypass", bypass));
    let deref = r#"
        fn set_framing(r#loop: *mut nc_loop) -> c_int {
            let lp = unsafe { loop_ref(r#loop) };
            0
        }
    "#;
    assert_eq!(violations("deref", deref), vec!["deref: safe fn set_framing has an unsafe block".to_string()]);
}
