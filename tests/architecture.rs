//! The folder list is the pipeline: this test reads every `crate::…` path in `src/` and fails if a
//! module reaches one that sits later in the pipeline, or if files import each other in a loop.
//! The layer order is written down once, here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom first. A module may use its own layer's modules and any layer below, never one above.
/// The report schema sits low: allow lists read baselines through it.
const LAYERS: &[&[&str]] = &[
    &["text", "model", "file"],
    &["http"],
    &["key"],
    &["rules"],
    &["decode"],
    &["detect"],
    &["source"],
    &["findings"],
    &["report::schema"],
    &["allow"],
    &["sendgrid"],
    &["config"],
    &["verify"],
    &["revoke"],
    &["account"],
    &["rotate"],
    &["pipeline"],
    &["report"],
    &["cli"],
];

/// `src/a/b.rs` and `src/a/b/mod.rs` → `a::b`.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The layer of a module: the longest prefix named in [`LAYERS`].
fn layer_of(module: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, names) in LAYERS.iter().enumerate() {
        for name in *names {
            let hit = module == *name || module.starts_with(&format!("{name}::"));
            if hit && best.is_none_or(|(len, _)| name.len() > len) {
                best = Some((name.len(), i));
            }
        }
    }
    best.map(|(_, i)| i)
}

/// Every `crate::a::b…` path in the code (test modules excluded), as the module it names: the
/// longest prefix that is a module of the crate.
fn references(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = code.split("#[cfg(test)]").next().unwrap_or(code);
    // Doc links name modules without depending on them.
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let code = code.as_str();
    let mut out = BTreeSet::new();
    let mut paths = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            paths.extend(inner.split(',').map(|p| p.trim().to_string()));
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            paths.push(rest[..end].to_string());
        }
    }
    for p in paths {
        let segs: Vec<&str> = p.split("::").filter(|s| !s.is_empty()).collect();
        for n in (1..=segs.len()).rev() {
            let m = segs[..n].join("::");
            if modules.contains(&m) {
                out.insert(m);
                break;
            }
        }
    }
    out
}

fn related(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
}

/// The violations of the layer order and the import loops in `graph` (module → modules it uses).
fn check(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (m, deps) in graph {
        let Some(lm) = layer_of(m) else {
            problems.push(format!(
                "{m}: not in LAYERS (add it where it belongs in the pipeline)"
            ));
            continue;
        };
        for d in deps.iter().filter(|d| !related(m, d)) {
            match layer_of(d) {
                Some(ld) if ld > lm => {
                    problems.push(format!("{m} uses {d}, which sits later in the pipeline"))
                }
                _ => {}
            }
        }
    }
    // Loops: depth-first search over edges between unrelated modules.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        problems: &mut Vec<String>,
    ) {
        if let Some(pos) = stack.iter().position(|s| *s == m) {
            problems.push(format!("import loop: {} → {m}", stack[pos..].join(" → ")));
            return;
        }
        if !done.insert(m) {
            return;
        }
        stack.push(m);
        for d in graph.get(m).into_iter().flatten().filter(|d| !related(m, d)) {
            visit(d, graph, stack, done, problems);
        }
        stack.pop();
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, graph, &mut Vec::new(), &mut done, &mut problems);
    }
    problems
}

fn source_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut modules = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        if rel == Path::new("lib.rs") || rel == Path::new("main.rs") {
            continue;
        }
        modules.insert(module_of(rel), std::fs::read_to_string(&f).unwrap());
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(m, code)| (m.clone(), references(code, &names)))
        .collect()
}

#[test]
fn no_module_imports_a_later_stage_and_no_loops() {
    let graph = source_graph();
    assert!(graph.len() > 10, "read too few modules: {graph:?}");
    let problems = check(&graph);
    assert!(
        problems.is_empty(),
        "architecture violations:\n{}",
        problems.join("\n")
    );
}

/// The checker itself catches a climb and a loop (so the test above can fail).
#[test]
fn checker_catches_climbs_and_loops() {
    let g = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert!(check(&g(&[("cli", "model"), ("report::human", "report::schema")])).is_empty());
    let climb = check(&g(&[("model", "cli")]));
    assert!(
        climb.iter().any(|p| p.contains("later in the pipeline")),
        "{climb:?}"
    );
    let lp = check(&g(&[
        ("source::git::plan", "source::git::repo"),
        ("source::git::repo", "source::git::plan"),
    ]));
    assert!(lp.iter().any(|p| p.contains("import loop")), "{lp:?}");
    let names: BTreeSet<String> = ["model", "report", "report::schema"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let refs = references(
        "use crate::{model::Finding, report::schema::Line};\nlet x = crate::report::write;",
        &names,
    );
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["model", "report", "report::schema"]
    );
}
