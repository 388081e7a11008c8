//! The shape of the code, held by tests so that it stays as `docs/ARCHITECTURE.md` describes it:
//! a domain that knows no HTTP, AWS or storage; every key format in `store/keys.rs`; modules of
//! the store and of keel-local that import each other without circles; files and functions small
//! enough to hold in one's head. Read as text, the way a reviewer reads it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files over the size limit today, each at most the size it has: they may shrink, not grow.
const LARGE_FILES: &[(&str, usize)] = &[];
/// The most lines of non-test code a source file may have.
const MAX_FILE_LINES: usize = 600;
/// Functions over the length limit today, each at most the length it has.
const LONG_FUNCTIONS: &[(&str, &str, usize)] = &[];
/// The most lines a function may have.
const MAX_FUNCTION_LINES: usize = 80;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir` (relative to the workspace), with its non-test code: the text
/// before a trailing `#[cfg(test)] mod tests`.
fn sources(dir: &str) -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a source folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join(dir), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            let code = match text.find("#[cfg(test)]\nmod tests") {
                Some(at) => text[..at].to_owned(),
                None => text,
            };
            let name = path
                .strip_prefix(root())
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            (name, code)
        })
        .collect()
}

fn all_sources() -> Vec<(String, String)> {
    ["shared/src", "functions/src", "infra/src"]
        .into_iter()
        .flat_map(sources)
        .collect()
}

#[test]
fn the_domain_imports_nothing_of_http_aws_or_storage() {
    let forbidden = [
        "crate::http",
        "crate::error",
        "crate::store",
        "lambda_http",
        "aws_",
    ];
    let mut found = Vec::new();
    for (file, code) in sources("shared/src/domain") {
        for (n, line) in code.lines().enumerate() {
            if !line.trim_start().starts_with("//") && forbidden.iter().any(|f| line.contains(f)) {
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the domain reaches outside itself:\n{}",
        found.join("\n")
    );
}

#[test]
fn key_prefixes_are_spelled_only_in_the_keys_module() {
    let mut found = Vec::new();
    for (file, code) in all_sources() {
        if file == "shared/src/store/keys.rs" {
            continue;
        }
        for (n, line) in code.lines().enumerate() {
            let literal = line.split('"').skip(1).step_by(2).any(|text| {
                text.split_once('#').is_some_and(|(prefix, _)| {
                    prefix.len() >= 3 && prefix.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                })
            });
            if literal && !line.trim_start().starts_with("//") {
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "key formats outside store/keys.rs:\n{}",
        found.join("\n")
    );
}

/// The modules of `dir` (a file or a folder each) and those of the same set each one names
/// through `prefix` (`super::` in the store, `crate::` in keel-local).
fn imports(dir: &str, prefix: &str) -> BTreeMap<String, BTreeSet<String>> {
    let module_of = |file: &str| -> String {
        let rest = file.trim_start_matches(dir).trim_start_matches('/');
        rest.split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs")
            .to_owned()
    };
    let files = sources(dir);
    let modules: BTreeSet<String> = files.iter().map(|(f, _)| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, code) in &files {
        let from = module_of(file);
        let named = graph.entry(from.clone()).or_default();
        for piece in code.split(prefix).skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if modules.contains(&name) && name != from && name != "mod" {
                named.insert(name);
            }
        }
    }
    graph
}

/// A circle in `graph`, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_stores_and_keel_locals_modules_import_each_other_without_circles() {
    for (dir, prefix) in [("shared/src/store", "super::"), ("infra/src", "crate::")] {
        let graph = imports(dir, prefix);
        assert!(graph.len() > 5, "{dir}: {graph:?}");
        if let Some(found) = circle(&graph) {
            panic!("{dir}: modules import in a circle: {}", found.join(" → "));
        }
    }
}

#[test]
fn a_circle_of_imports_is_found() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), ["b".to_owned()].into()),
        ("b".to_owned(), ["c".to_owned()].into()),
        ("c".to_owned(), ["a".to_owned()].into()),
        ("d".to_owned(), BTreeSet::new()),
    ]
    .into();
    assert_eq!(circle(&graph).map(|c| c.len()), Some(4));
    let dag: BTreeMap<String, BTreeSet<String>> = [("a".to_owned(), ["b".to_owned()].into())].into();
    assert_eq!(circle(&dag), None);
}

#[test]
fn no_source_file_or_function_grows_past_its_limit() {
    let mut over = Vec::new();
    for (file, code) in all_sources() {
        let lines: Vec<&str> = code.lines().collect();
        let file_limit = LARGE_FILES
            .iter()
            .find(|(f, _)| *f == file)
            .map_or(MAX_FILE_LINES, |(_, n)| *n);
        if lines.len() > file_limit {
            over.push(format!("{file}: {} lines (at most {file_limit})", lines.len()));
        }
        for (at, line) in lines.iter().enumerate() {
            let Some((indent, name)) = function_start(line) else {
                continue;
            };
            let closing = format!("{indent}}}");
            let Some(length) = lines[at + 1..]
                .iter()
                .position(|l| *l == closing)
                .map(|end| end + 2)
            else {
                continue;
            };
            let limit = LONG_FUNCTIONS
                .iter()
                .find(|(f, n, _)| *f == file && *n == name)
                .map_or(MAX_FUNCTION_LINES, |(_, _, n)| *n);
            if length > limit {
                over.push(format!("{file}: fn {name} has {length} lines (at most {limit})"));
            }
        }
    }
    assert!(
        over.is_empty(),
        "too long to hold in one's head:\n{}",
        over.join("\n")
    );
}

/// The indentation and name of a line that starts a function with a body.
fn function_start(line: &str) -> Option<(&str, &str)> {
    let code = line.trim_start();
    let indent = &line[..line.len() - code.len()];
    let mut rest = code;
    for qualifier in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let name = rest
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()?;
    (!line.trim_end().ends_with(';')).then_some((indent, name))
}
