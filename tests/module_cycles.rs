//! The layering rule of docs/ARCHITECTURE.md, checked: no two modules of a crate refer to each
//! other, directly or round a longer loop, and a `mod.rs` that children import from counts as
//! a module like any other (a facade that only declares and re-exports never closes a loop).
//!
//! It reads the sources as text: every `crate::a::b`, `super::a`, `self::a` path (and `use
//! super::{a, b}` groups) is an edge to the deepest module file the path names, and a parent
//! file's `child::…` paths are edges to that child. Comments, string literals and `#[cfg(test)]`
//! modules are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn module_files(root: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).unwrap().with_extension("");
                let mut m: Module = rel
                    .iter()
                    .map(|c| c.to_string_lossy().into_owned())
                    .collect();
                if matches!(m.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                    m.pop();
                }
                out.insert(m, p);
            }
        }
    }
    out
}

/// The source without comments, string and char literals, and test modules.
fn code_of(src: &str) -> String {
    let src = src.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path that starts at `crate`, `super` or `self` (a `$crate` too), as its segments.
fn rooted_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(is_ident(bytes[i - 1]) || bytes[i - 1] == ':');
        if starts_word && is_ident(bytes[i]) {
            let mut segs = Vec::new();
            let mut j = i;
            loop {
                let s = j;
                while j < bytes.len() && is_ident(bytes[j]) {
                    j += 1;
                }
                segs.push(bytes[s..j].iter().collect::<String>());
                if j + 2 < bytes.len() && bytes[j] == ':' && bytes[j + 1] == ':' {
                    if is_ident(bytes[j + 2]) {
                        j += 2;
                        continue;
                    }
                    if bytes[j + 2] == '{' {
                        // `use super::{a, b::c}`: one path per item.
                        let close = bytes[j..].iter().position(|&c| c == '}').map(|k| j + k);
                        if let Some(close) = close {
                            let group: String = bytes[j + 3..close].iter().collect();
                            for item in group.split(',') {
                                let first = item.trim().split("::").next().unwrap_or("");
                                let first = first.split_whitespace().next().unwrap_or("");
                                if !first.is_empty() && first != "self" {
                                    let mut p = segs.clone();
                                    p.push(first.to_string());
                                    out.push(p);
                                }
                            }
                        }
                    }
                }
                break;
            }
            if segs.len() > 1 {
                out.push(segs);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

fn edges(files: &BTreeMap<Module, PathBuf>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut graph = BTreeMap::new();
    for (m, path) in files {
        let is_dir_module = matches!(
            path.file_name().and_then(|f| f.to_str()),
            Some("mod.rs" | "lib.rs" | "main.rs")
        );
        let code = code_of(&std::fs::read_to_string(path).unwrap());
        let mut to = BTreeSet::new();
        let children: Vec<&Module> = files
            .keys()
            .filter(|k| k.len() == m.len() + 1 && k.starts_with(m))
            .collect();
        for segs in rooted_paths(&code) {
            let (mut base, rest): (Module, &[String]) = match segs[0].as_str() {
                "crate" | "$crate" => (Vec::new(), &segs[1..]),
                "super" => (m[..m.len().saturating_sub(1)].to_vec(), &segs[1..]),
                "self" => (m.clone(), &segs[1..]),
                first if is_dir_module && children.iter().any(|c| c[m.len()] == first) => {
                    (m.clone(), &segs[..])
                }
                _ => continue,
            };
            let mut rest = rest;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            while !base.is_empty() && !files.contains_key(&base) {
                base.pop();
            }
            if &base != m && files.contains_key(&base) {
                to.insert(base);
            }
        }
        graph.insert(m.clone(), to);
    }
    graph
}

/// The loops of `graph`: every strongly connected set of two or more modules.
fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    let reach = |from: &Module| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for next in &graph[&n] {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&Module, BTreeSet<Module>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for m in graph.keys() {
        if done.contains(m) || !reachable[m].contains(m) {
            continue;
        }
        let set: Vec<String> = graph
            .keys()
            .filter(|o| reachable[m].contains(*o) && reachable[*o].contains(m))
            .inspect(|o| {
                done.insert((*o).clone());
            })
            .map(|o| {
                if o.is_empty() {
                    "<root>".into()
                } else {
                    o.join("/")
                }
            })
            .collect();
        out.push(set);
    }
    out
}

fn check(krate: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(krate);
    let files = module_files(&root);
    assert!(files.len() > 3, "{krate}: no sources found");
    let found = cycles(&edges(&files));
    assert!(
        found.is_empty(),
        "{krate}: modules that refer to each other (docs/ARCHITECTURE.md: dependencies point one way): {found:?}"
    );
}

#[test]
fn the_runtime_has_no_module_cycle() {
    check("runtime/src");
}

#[test]
fn the_clients_have_no_module_cycle() {
    check("clients/src");
}

#[test]
fn the_http_crate_has_no_module_cycle() {
    check("http/src");
}

#[test]
fn the_cli_has_no_module_cycle() {
    check("src");
}

#[test]
fn the_checker_finds_a_cycle() {
    let dir = std::env::temp_dir().join(format!("mayfly-cycles-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("net")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod net;\nmod server;\n").unwrap();
    std::fs::write(
        dir.join("net/mod.rs"),
        "mod tcp;\n// crate::server is only named here\npub fn timed() {}\n",
    )
    .unwrap();
    std::fs::write(dir.join("net/tcp.rs"), "use super::timed;\n").unwrap();
    std::fs::write(dir.join("server.rs"), "use crate::net::tcp;\n").unwrap();
    let files = module_files(&dir);
    let graph = edges(&files);
    assert_eq!(
        cycles(&graph),
        Vec::<Vec<String>>::new(),
        "a leaf and a facade: no loop"
    );
    // net/mod.rs now uses its child, which uses net/mod.rs: a loop.
    std::fs::write(
        dir.join("net/mod.rs"),
        "mod tcp;\npub fn timed() {}\npub fn connect() { tcp::open() }\n",
    )
    .unwrap();
    let found = cycles(&edges(&module_files(&dir)));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found, vec![vec!["net".to_string(), "net/tcp".to_string()]]);
}
