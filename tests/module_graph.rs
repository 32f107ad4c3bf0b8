//! The `use` graph between the files of each crate has no cycle: no two files import each other,
//! directly or through others.
//!
//! Data flows one way through dozerc (config → catalog → bind → plan → codegen; source →
//! operators → store → api), and a loop of imports is where a layer reaches back up. The graph is
//! read from the code itself with `syn`: every `use` and every path that starts at `crate`,
//! `super`, `self` or a child module names the file that defines its target (the longest module
//! prefix that is a file, followed through `pub use` re-exports to the definition), test modules
//! included; a `mod` declaration alone is no import, and neither is a re-export.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A crate's files by module path (`[]` is the crate root, `["api", "rest"]` is `api/rest.rs`).
struct CrateFiles {
    modules: BTreeMap<Vec<String>, PathBuf>,
}

impl CrateFiles {
    fn read(src: &Path) -> CrateFiles {
        let mut modules = BTreeMap::new();
        let mut stack = vec![src.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let rel = path.strip_prefix(src).unwrap();
                let mut parts: Vec<String> = rel
                    .with_extension("")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    parts.pop();
                }
                // A binary's `main.rs` beside `lib.rs` is another crate: leave it out.
                if parts.is_empty() && rel != Path::new("lib.rs") && src.join("lib.rs").exists() {
                    continue;
                }
                modules.insert(parts, path);
            }
        }
        CrateFiles { modules }
    }

    /// The file defining what `path` (absolute, from the crate root) names.
    fn file_of(&self, path: &[String]) -> Option<&Vec<String>> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.modules.get_key_value(&path[..n]).map(|(k, _)| k))
    }
}

/// A module and a name in it.
type ModuleName = (Vec<String>, String);

/// Collects the absolute module paths a file refers to, and what it re-exports.
struct Refs<'a> {
    files: &'a CrateFiles,
    /// The module the visitor is in (the file's, plus inline modules).
    module: Vec<String>,
    found: Vec<(Vec<String>, String)>,
    /// `pub use` items: (module, name) → the absolute path they hand on.
    reexports: Vec<(ModuleName, Vec<String>)>,
    /// Inside a `pub use`.
    public: bool,
}

impl Refs<'_> {
    /// Resolves a path's leading segments against the current module; `None` for paths that do
    /// not start inside the crate (other crates, local names, std).
    fn absolute(&self, segments: &[String]) -> Option<Vec<String>> {
        let first = segments.first()?;
        let mut base = match first.as_str() {
            "crate" => vec![],
            "self" => self.module.clone(),
            "super" => {
                let mut m = self.module.clone();
                m.pop()?;
                m
            }
            name => {
                let mut child = self.module.clone();
                child.push(name.to_string());
                if !self.files.modules.contains_key(&child) {
                    return None;
                }
                return Some(
                    child
                        .into_iter()
                        .chain(segments[1..].iter().cloned())
                        .collect(),
                );
            }
        };
        let mut rest = &segments[1..];
        while rest.first().is_some_and(|s| s == "super") {
            base.pop()?;
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn note(&mut self, segments: Vec<String>) {
        if let Some(abs) = self.absolute(&segments) {
            let name = segments.join("::");
            self.found.push((abs, name));
        }
    }

    /// A name a `use` brings in as `alias`: a re-export when the `use` is public.
    fn note_use(&mut self, segments: Vec<String>, alias: Option<String>) {
        if self.public {
            if let (Some(abs), Some(alias)) = (self.absolute(&segments), alias) {
                self.reexports.push(((self.module.clone(), alias), abs));
                return;
            }
        }
        self.note(segments);
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                if n.ident != "self" {
                    full.push(n.ident.to_string());
                }
                let alias = full.last().cloned();
                self.note_use(full, alias);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                if r.ident != "self" {
                    full.push(r.ident.to_string());
                }
                self.note_use(full, Some(r.rename.to_string()));
            }
            syn::UseTree::Glob(_) => self.note(prefix.clone()),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Refs<'_> {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.public = !matches!(u.vis, syn::Visibility::Inherited);
        self.use_tree(&mut vec![], &u.tree);
        self.public = false;
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if m.content.is_some() {
            self.module.push(m.ident.to_string());
            syn::visit::visit_item_mod(self, m);
            self.module.pop();
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.leading_colon.is_none() && p.segments.len() > 1 {
            let segments = p.segments.iter().map(|s| s.ident.to_string()).collect();
            self.note(segments);
        }
        syn::visit::visit_path(self, p);
    }
}

/// Every edge file → file of a crate, with the names that make it.
fn edges(src: &Path) -> BTreeMap<(PathBuf, PathBuf), BTreeSet<String>> {
    let files = CrateFiles::read(src);
    let mut found = vec![];
    let mut reexports: BTreeMap<ModuleName, Vec<String>> = BTreeMap::new();
    for (module, path) in &files.modules {
        let text = std::fs::read_to_string(path).unwrap();
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut refs = Refs {
            files: &files,
            module: module.clone(),
            found: vec![],
            reexports: vec![],
            public: false,
        };
        refs.visit_file(&ast);
        found.push((module, path, refs.found));
        reexports.extend(refs.reexports);
    }
    // Follows a path through re-exports to the file that defines what it names.
    let defining = |mut target: Vec<String>| {
        for _ in 0..16 {
            let module = files.file_of(&target)?;
            let Some(name) = target.get(module.len()) else {
                return Some(module);
            };
            match reexports.get(&(module.clone(), name.clone())) {
                Some(to) => {
                    target = to
                        .iter()
                        .chain(&target[module.len() + 1..])
                        .cloned()
                        .collect()
                }
                None => return Some(module),
            }
        }
        files.file_of(&target)
    };
    let mut out: BTreeMap<(PathBuf, PathBuf), BTreeSet<String>> = BTreeMap::new();
    for (module, path, refs) in found {
        for (target, name) in refs {
            let Some(file) = defining(target) else {
                continue;
            };
            if file == module {
                continue;
            }
            out.entry((path.clone(), files.modules[file].clone()))
                .or_default()
                .insert(name);
        }
    }
    out
}

/// The strongly connected components with more than one file (Tarjan's algorithm).
fn cycles(edges: &BTreeMap<(PathBuf, PathBuf), BTreeSet<String>>) -> Vec<Vec<PathBuf>> {
    let nodes: BTreeSet<&PathBuf> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
    let index_of: BTreeMap<&PathBuf, usize> =
        nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let nodes: Vec<&PathBuf> = nodes.into_iter().collect();
    let mut next: Vec<Vec<usize>> = vec![vec![]; nodes.len()];
    for (a, b) in edges.keys() {
        next[index_of[a]].push(index_of[b]);
    }
    struct State {
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        counter: usize,
        found: Vec<Vec<usize>>,
    }
    fn connect(v: usize, next: &[Vec<usize>], s: &mut State) {
        s.index[v] = Some(s.counter);
        s.low[v] = s.counter;
        s.counter += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &next[v] {
            match s.index[w] {
                None => {
                    connect(w, next, s);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = vec![];
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let n = nodes.len();
    let mut s = State {
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: vec![],
        counter: 0,
        found: vec![],
    };
    for v in 0..n {
        if s.index[v].is_none() {
            connect(v, &next, &mut s);
        }
    }
    s.found
        .into_iter()
        .map(|c| {
            let mut files: Vec<PathBuf> = c.into_iter().map(|i| nodes[i].clone()).collect();
            files.sort();
            files
        })
        .collect()
}

fn report(krate: &str) -> Option<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let src = root.join(krate).join("src");
    let edges = edges(&src);
    let found = cycles(&edges);
    if found.is_empty() {
        return None;
    }
    let rel = |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
    let mut text = String::new();
    for files in found {
        text.push_str(&format!(
            "{krate}: files that import each other: {}\n",
            files.iter().map(|f| rel(f)).collect::<Vec<_>>().join(", ")
        ));
        for ((a, b), names) in &edges {
            if files.contains(a) && files.contains(b) {
                text.push_str(&format!(
                    "  {} -> {}: {}\n",
                    rel(a),
                    rel(b),
                    names.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    Some(text)
}

#[test]
fn no_file_imports_itself_through_others() {
    let found: Vec<String> = ["types", "runtime", "compiler", "test-support", "xtask"]
        .iter()
        .filter_map(|k| report(k))
        .collect();
    assert!(found.is_empty(), "import loops:\n{}", found.concat());
}

#[test]
fn the_checker_sees_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::B;\npub struct A;\n").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "pub struct B;\nfn f() -> super::a::A { super::a::A }\n",
    )
    .unwrap();
    let found = cycles(&edges(src));
    assert_eq!(found, vec![vec![src.join("a.rs"), src.join("b.rs")]]);
}
