//! What ships besides the scanner: shell completions, the man page, the report schema, and the
//! package's contents.
//!
//! No key literal appears in this file: keys are generated at run time (`util::KeyGen`).

use std::path::Path;

use serde_json::Value;

use crate::util::run::{ReportSchema, check_schema, report_schema};
use crate::util::{KeyGen, Run, run, scan, sgscan};

/// Every subcommand a user can type; completions and the man page must name each.
const SUBCOMMANDS: &[&str] = &[
    "dir",
    "git",
    "staged",
    "install-hook",
    "pre-push",
    "revoke",
    "merge",
    "ci",
    "stdin",
    "audit",
    "rotate",
    "completions",
    "man",
    "schema",
];

sgtest!(completions_for_every_shell_name_every_subcommand, |dir, cmd| {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = run(sgscan(dir.root()).args(["completions", shell]));
        r.expect_code(0);
        assert!(r.stderr.is_empty(), "{shell}: stderr\n{r}");
        for sub in SUBCOMMANDS {
            assert!(r.stdout.contains(sub), "{shell} completions lack `{sub}`");
        }
        // A flag of a subcommand, so the script completes more than command names.
        assert!(
            r.stdout.contains("max-file-size"),
            "{shell} completions lack --max-file-size"
        );
    }
});

sgtest!(completions_for_an_unknown_shell_are_an_error, |dir, cmd| {
    let r = run(cmd.args(["completions", "tcsh"]));
    r.expect_code(2);
    assert!(r.stderr.contains("tcsh"), "the error names the shell\n{r}");
});

sgtest!(
    man_page_is_roff_with_every_subcommand_and_its_options,
    |dir, cmd| {
        let r = run(cmd.arg("man"));
        r.expect_code(0);
        assert!(r.stdout.contains(".TH sgscan 1"), "a roff title line\n{r}");
        for sub in SUBCOMMANDS {
            let heading = format!(".SH \"SGSCAN {}\"", sub.to_uppercase());
            assert!(
                r.stdout.contains(&heading),
                "the man page lacks the section {heading}"
            );
        }
        // Each subcommand's options are in its section: `--range` only `git`'s.
        let git = section(&r.stdout, "GIT");
        assert!(
            git.contains("\\-\\-range"),
            "`sgscan git`'s section lists --range\n{git}"
        );
        assert!(
            !section(&r.stdout, "DIR").contains("\\-\\-range"),
            "`sgscan dir` has no --range"
        );
    }
);

sgtest!(
    man_page_has_exit_status_environment_files_and_examples_and_names_no_unshipped_page,
    |dir, cmd| {
        let r = run(cmd.arg("man"));
        r.expect_code(0);
        let page = &r.stdout;
        for heading in [
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH EXAMPLES",
        ] {
            assert!(page.contains(heading), "the man page lacks {heading}");
        }
        // Only this one page ships: no `sgscan-dir(1)` pointers to pages nobody installed.
        assert!(
            !page.contains("(1)"),
            "the man page points at another page\n{page}"
        );
        let files = top_section(page, "FILES");
        for file in [".sgscanignore", ".sgscan.toml", "sgscan\\-audit.jsonl"] {
            assert!(files.contains(file), "FILES lacks {file}\n{files}");
        }
        let exit = top_section(page, "\"EXIT STATUS\"");
        for what in ["pre\\-receive", "audit", "rotate", "revoke"] {
            assert!(exit.contains(what), "EXIT STATUS lacks {what}\n{exit}");
        }
        let environment = top_section(page, "ENVIRONMENT");
        let mut read = env_vars_read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path());
        // Read by anstream, not by sgscan's own code.
        read.insert("NO_COLOR".into());
        for var in ["SGSCAN_API_URL", "SGSCAN_ADMIN_KEY", "GITHUB_EVENT_NAME", "USER"] {
            assert!(read.contains(var), "the source scan misses {var}: {read:?}");
        }
        for var in &read {
            assert!(
                environment.contains(var.as_str()),
                "ENVIRONMENT does not name {var}, which the code reads\n{environment}"
            );
        }
    }
);

sgtest!(ci_help_names_every_variable_ci_reads, |dir, cmd| {
    let r = run(cmd.args(["ci", "--help"]));
    r.expect_code(0);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut read = env_vars_read(&src.join("cli/ci.rs"));
    // Read by the scan only when it runs as `sgscan ci` (annotations and the job summary).
    read.extend(["GITHUB_ACTIONS".to_string(), "GITHUB_STEP_SUMMARY".to_string()]);
    assert!(read.contains("CI_COMMIT_SHA") && read.len() > 10, "{read:?}");
    for var in &read {
        assert!(
            r.stdout.contains(var.as_str()),
            "`sgscan ci --help` does not name {var}\n{r}"
        );
    }
});

/// A top-level section of the man page (`.SH NAME` up to the next `.SH`).
fn top_section<'a>(page: &'a str, name: &str) -> &'a str {
    let start = page
        .find(&format!(".SH {name}\n"))
        .unwrap_or_else(|| panic!("no section {name}"));
    let rest = &page[start + 4..];
    &rest[..rest.find(".SH ").unwrap_or(rest.len())]
}

/// The environment variables the Rust files under `path` read, found in their text: every
/// upper-case string literal with an underscore (`"GITHUB_REF"`) but those given to `env!` (the
/// build's) or to a child's `.env(` (set, not read), and plain upper-case names passed to an
/// `env`/`var` reader or paired with what they mean (`("USER", "OS user")`). A numbered variable
/// (`GIT_PUSH_OPTION_0`) stands for its family, `GIT_PUSH_OPTION_<n>`.
fn env_vars_read(path: &Path) -> std::collections::BTreeSet<String> {
    let underscored = regex::Regex::new(r#"(env!\(|\.env\()?\s*"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)""#).unwrap();
    let plain = regex::Regex::new(
        r#"\b(?:env|var|var_os)\(\s*"([A-Z][A-Z0-9]+)"\)|\(\s*"([A-Z][A-Z0-9]+)",\s*"[^"]*"\)"#,
    )
    .unwrap();
    let numbered = regex::Regex::new(r"_[0-9]+$").unwrap();
    let mut found = std::collections::BTreeSet::new();
    for entry in ignore::Walk::new(path) {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let code = std::fs::read_to_string(entry.path()).unwrap();
        for c in underscored.captures_iter(&code) {
            if c.get(1).is_none() {
                found.insert(numbered.replace(&c[2], "_<n>").into_owned());
            }
        }
        for c in plain.captures_iter(&code) {
            if let Some(name) = c.get(1).or(c.get(2)) {
                found.insert(name.as_str().to_string());
            }
        }
    }
    found
}

/// The man page's section for `sgscan SUB` (upper case).
fn section<'a>(page: &'a str, sub: &str) -> &'a str {
    let start = page
        .find(&format!(".SH \"SGSCAN {sub}\""))
        .unwrap_or_else(|| panic!("no section for {sub}"));
    let rest = &page[start + 4..];
    &rest[..rest.find(".SH ").unwrap_or(rest.len())]
}

sgtest!(
    schema_is_draft_2020_12_and_compiles_against_its_meta_schema,
    |dir, cmd| {
        for format in ["json", "jsonl"] {
            let schema = report_schema(format);
            assert_eq!(
                schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
                "`sgscan schema {format}` declares draft 2020-12"
            );
        }
        // Compiling validates each schema against the draft's meta-schema; an invalid one panics.
        assert!(check_schema(&serde_json::json!({}), ReportSchema::Json).is_err());
        // What was scanned, described: the target and its repositories.
        let json = report_schema("json");
        assert!(
            json["required"]
                .as_array()
                .unwrap()
                .contains(&"generated_at".into()),
            "{json}"
        );
        assert!(json["properties"]["target"].is_object(), "{json}");
        let defs = &json["$defs"];
        assert_eq!(defs["Target"]["required"], serde_json::json!(["mode"]));
        assert_eq!(defs["Repository"]["required"], serde_json::json!(["path"]));
        for field in ["remote_url", "branch", "head", "ranges"] {
            assert!(
                defs["Repository"]["properties"][field].is_object(),
                "{field}: {defs}"
            );
        }
        let line = serde_json::to_string(&report_schema("jsonl")).unwrap();
        assert!(
            line.contains("\"generated_at\"") && line.contains("#/$defs/Target"),
            "{line}"
        );
        // No argument: the JSON report's.
        let r = run(cmd.arg("schema"));
        r.expect_code(0);
        let printed: Value = serde_json::from_slice(&r.out).expect("the schema is JSON");
        assert_eq!(printed, report_schema("json"));
    }
);

/// A JSON and a JSONL report of a tree holding one key.
fn reports(root: &Path) -> (Value, Vec<Value>) {
    let key = KeyGen::new(14).key();
    std::fs::write(root.join(".env"), format!("SENDGRID_API_KEY={key}\n")).unwrap();
    let json = scan(root, &["dir", ".", "--format", "json"]);
    json.expect_code(1);
    let jsonl = scan(root, &["dir", ".", "--format", "jsonl"]);
    jsonl.expect_code(1);
    (json.json(), jsonl.lines())
}

/// A way to break a report, and what it breaks.
type Break = (&'static str, fn(&mut Value));

sgtest!(a_report_that_breaks_the_schema_is_rejected, |dir, cmd| {
    let (doc, lines) = reports(dir.root());
    assert!(check_schema(&doc, ReportSchema::Json).is_ok());
    let finding_line = lines
        .iter()
        .find(|l| l["type"] == "finding")
        .expect("a finding line")
        .clone();
    assert!(check_schema(&finding_line, ReportSchema::Jsonl).is_ok());

    assert_eq!(doc["target"]["mode"], "dir", "{doc}");
    assert_eq!(doc["target"]["roots"], serde_json::json!(["."]));
    let breaks: [Break; 8] = [
        ("a target whose mode is a number", |d| {
            d["target"]["mode"] = 3.into()
        }),
        ("a repository without its path", |d| {
            d["target"]["repositories"] = serde_json::json!([{ "head": "abc" }])
        }),
        ("a report without generated_at", |d| {
            d.as_object_mut().unwrap().remove("generated_at");
        }),
        ("a finding without its fingerprint", |d| {
            d["findings"][0].as_object_mut().unwrap().remove("fingerprint");
        }),
        ("an unknown encoding", |d| {
            d["findings"][0]["locations"][0]["encoding"] = "rot13".into()
        }),
        ("a line number as a string", |d| {
            d["findings"][0]["locations"][0]["line"] = "2".into()
        }),
        ("an unknown confidence", |d| {
            d["findings"][0]["confidence"] = "certain".into()
        }),
        ("a summary without its key count", |d| {
            d["summary"].as_object_mut().unwrap().remove("keys");
        }),
    ];
    for (what, change) in breaks {
        let mut broken = doc.clone();
        change(&mut broken);
        assert!(
            check_schema(&broken, ReportSchema::Json).is_err(),
            "accepted: {what}"
        );
    }

    let mut untyped = finding_line.clone();
    untyped["type"] = "findings".into();
    assert!(
        check_schema(&untyped, ReportSchema::Jsonl).is_err(),
        "accepted: an unknown line type"
    );
    let mut no_column = finding_line;
    no_column.as_object_mut().unwrap().remove("column");
    assert!(
        check_schema(&no_column, ReportSchema::Jsonl).is_err(),
        "accepted: a location without column"
    );

    // The harness applies the check: a report it parses that breaks the schema fails the test.
    let mut broken = doc.clone();
    broken["findings"][0]["locations"][0]["encoding"] = "rot13".into();
    let fake = Run {
        code: 1,
        stdout: broken.to_string(),
        stderr: String::new(),
        out: broken.to_string().into_bytes(),
        err: Vec::new(),
        elapsed: std::time::Duration::ZERO,
    };
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fake.json()));
    assert!(
        parsed.is_err(),
        "Run::json accepted a report that breaks the schema"
    );
});

sgtest!(package_holds_the_licences_and_no_bench_data, |dir, cmd| {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["package", "--list", "--locked", "--allow-dirty"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo package --list failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<&str> = list.lines().collect();
    for needed in [
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "README.md",
        "SECURITY.md",
        "CHANGELOG.md",
        "Cargo.lock",
        "patterns/sendgrid.toml",
    ] {
        assert!(files.contains(&needed), "the package lacks {needed}:\n{list}");
    }
    for f in &files {
        let outside = f.starts_with("target/")
            || f.starts_with(".github/")
            || f.starts_with(".ci/")
            || (f.starts_with("benches/") && !f.ends_with(".rs"));
        assert!(!outside, "the package holds {f}");
    }
});
