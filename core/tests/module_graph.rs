//! The core's modules form a layered graph without cycles (docs/design.md,
//! "Layers"): a module (one file under `src/`) may name only modules below
//! it. The graph is read from the source: every `crate::` path (in `use`
//! items, including grouped ones, and inline) outside comments and test
//! modules. `cargo test -p netcore-core --test module_graph -- --nocapture`
//! prints it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The module name of a source file: `tcp/conn.rs` is `tcp::conn`,
/// `tcp/mod.rs` is `tcp`.
fn module_name(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    match parts.split_last() {
        Some((last, parent)) if last == "mod" => parent.join("::"),
        _ => parts.join("::"),
    }
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its `#[cfg(test)]`
/// module (unit tests may reach anywhere).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines().map(|line| line.split("//").next().unwrap()).collect::<Vec<_>>().join("\n")
}

/// Every path written after `crate::`, with grouped imports
/// (`crate::{a, b::{c, d}}`) expanded.
fn crate_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        expand("", rest, &mut paths);
    }
    paths
}

/// Expands the path at the start of `rest` (after `prefix`) into `paths`.
fn expand(prefix: &str, rest: &str, paths: &mut Vec<String>) {
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
    let path = format!("{prefix}{}", &rest[..end]);
    if rest[end..].starts_with('{') {
        let body = &rest[end + 1..];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    expand(&path, body[start..i].trim(), paths);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&path, body[start..i].trim(), paths);
                    start = i + 1;
                }
                _ => {}
            }
        }
    } else {
        paths.push(path);
    }
}

/// The module a `crate::` path names: its longest prefix that is a module,
/// or, for a name the crate root re-exports, the module it comes from.
fn target(path: &str, modules: &BTreeSet<String>, reexports: &BTreeMap<String, String>) -> Option<String> {
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find(|m| modules.contains(m))
        .or_else(|| reexports.get(*segments.first()?).cloned())
}

/// The root's `pub use module::{Name, ...}` items: name → module.
fn reexports(lib: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for item in code(lib).split(';').filter_map(|s| s.trim().strip_prefix("pub use ")) {
        let mut paths = Vec::new();
        expand("", item, &mut paths);
        for path in paths {
            let path = path.split(" as ").last().unwrap().to_owned();
            let original = item.split(" as ").next().unwrap();
            let module = target(&path, modules, &BTreeMap::new())
                .or_else(|| target(original, modules, &BTreeMap::new()))
                .unwrap_or_default();
            if let Some(name) = path.rsplit("::").next() {
                names.insert(name.to_owned(), module);
            }
        }
    }
    names
}

fn module_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut modules: BTreeSet<String> = files.iter().map(|f| module_name(&src, f)).collect();
    modules.remove("lib");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let reexports = reexports(&lib, &modules);
    let mut graph = Graph::new();
    for file in &files {
        let name = module_name(&src, file);
        if name == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let edges = graph.entry(name.clone()).or_default();
        for path in crate_paths(&code(&text)) {
            match target(&path, &modules, &reexports) {
                // A parent module (`tcp` for `tcp::conn`) only declares its children.
                Some(to) if to != name && !format!("{name}::").starts_with(&format!("{to}::")) => {
                    edges.insert(to);
                }
                _ => {}
            }
        }
    }
    graph
}

/// The modules on a cycle, as one cycle each (empty if the graph is acyclic).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        marks.insert(node.to_owned(), Mark::Open);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::New => visit(next, graph, marks, stack, found),
                Mark::Open => {
                    let from = stack.iter().position(|m| m == next).unwrap();
                    found.push(stack[from..].to_vec());
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
    }
    let mut marks = BTreeMap::new();
    let mut found = Vec::new();
    for node in graph.keys() {
        if !marks.contains_key(node) {
            visit(node, graph, &mut marks, &mut Vec::new(), &mut found);
        }
    }
    found
}

/// The graph in layers: each module after every module it names.
fn layers(graph: &Graph) -> Vec<Vec<String>> {
    let mut placed: BTreeMap<&str, usize> = BTreeMap::new();
    while placed.len() < graph.len() {
        let before = placed.len();
        for (module, deps) in graph {
            if placed.contains_key(module.as_str()) {
                continue;
            }
            let levels: Option<Vec<usize>> = deps.iter().map(|d| placed.get(d.as_str()).copied()).collect();
            if let Some(levels) = levels {
                placed.insert(module, levels.into_iter().max().map_or(0, |l| l + 1));
            }
        }
        if placed.len() == before {
            break;
        }
    }
    let mut layers: Vec<Vec<String>> = Vec::new();
    for (module, level) in placed {
        if layers.len() <= level {
            layers.resize(level + 1, Vec::new());
        }
        layers[level].push(module.to_owned());
    }
    layers
}

fn render(graph: &Graph) -> String {
    let mut text = String::from("module -> modules it names\n");
    let layers = layers(graph);
    for (level, modules) in layers.iter().enumerate() {
        text += &format!("layer {level}:\n");
        for module in modules {
            let deps: Vec<&str> = graph[module].iter().map(String::as_str).collect();
            text += &format!("  {module} -> {}\n", deps.join(", "));
        }
    }
    let placed: BTreeSet<&String> = layers.iter().flatten().collect();
    for (module, deps) in graph.iter().filter(|(m, _)| !placed.contains(m)) {
        let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
        text += &format!("on or above a cycle: {module} -> {}\n", deps.join(", "));
    }
    text
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = module_graph();
    println!("{}", render(&graph));
    let cycles = cycles(&graph);
    let listed: Vec<String> = cycles.iter().map(|c| format!("{} -> {}", c.join(" -> "), c[0])).collect();
    assert!(cycles.is_empty(), "import cycles:\n{}\n\n{}", listed.join("\n"), render(&graph));
}

#[test]
fn the_parser_sees_grouped_inline_and_reexported_references() {
    let modules: BTreeSet<String> = ["a", "b", "b::c", "d", "e"].map(String::from).into();
    let reexports = BTreeMap::from([("Thing".to_owned(), "e".to_owned())]);
    let text = "use crate::{a::X, b::{c::Y, Z}};\n// crate::d::commented\nfn f() { crate::Thing::new(); }";
    let found: BTreeSet<Option<String>> =
        crate_paths(&code(text)).iter().map(|p| target(p, &modules, &reexports)).collect();
    let want: BTreeSet<Option<String>> = ["a", "b::c", "b", "e"].map(|m| Some(m.to_owned())).into();
    assert_eq!(found, want);
    let cyclic = Graph::from([("a".into(), ["b".into()].into()), ("b".into(), ["a".into()].into())]);
    assert_eq!(cycles(&cyclic).len(), 1, "a cycle is found");
}

#[test]
fn the_graph_covers_every_source_file() {
    let graph = module_graph();
    for module in ["event_loop", "tcp::conn", "error", "handle"] {
        assert!(graph.contains_key(module), "{module} missing from {graph:?}");
    }
    assert!(graph["event_loop"].contains("handle"), "event_loop names handle");
}
