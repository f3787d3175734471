//! Running the binary: the one command builder, the one record of a run, and the checks that no
//! key leaks from it.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

use super::mock;

/// Environment variables git sets for hooks and scripts; a test run inside one must not inherit them.
pub const GIT_LOCAL_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
];

/// The binary, run in `cwd`, with nothing inherited that would steer it: no API URL, no admin key,
/// no forge token, no colour variables (tests that want `NO_COLOR` set it), no git configuration of the user's or
/// the system's, no git hook environment. A plain process, for tests that must spawn it (and kill
/// it mid-run); the others use [`sgscan`].
pub fn sgscan_process(cwd: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sgscan"));
    cmd.current_dir(cwd)
        .env_remove("SGSCAN_API_URL")
        .env_remove("SGSCAN_ADMIN_KEY")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITLAB_TOKEN")
        .env_remove("GITEA_TOKEN")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    for v in GIT_LOCAL_ENV {
        cmd.env_remove(v);
    }
    cmd
}

/// [`sgscan_process`] as an assert_cmd command, with a timeout so that a hang fails the test.
pub fn sgscan(cwd: &Path) -> Command {
    let mut cmd = Command::from_std(sgscan_process(cwd));
    cmd.timeout(Duration::from_secs(120));
    cmd
}

/// Runs `cmd` to the end; fails the test if sgscan panicked.
pub fn run(cmd: &mut Command) -> Run {
    let started = Instant::now();
    let out = cmd
        .output()
        .expect("sgscan runs (and finishes before the timeout)");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        out: out.stdout,
        err: out.stderr,
        elapsed: started.elapsed(),
    };
    assert!(!run.stderr.contains("panicked"), "sgscan panicked:\n{run}");
    run
}

/// `sgscan ARGS` in `cwd` with colour off; its output must be UTF-8 and it must have exited by
/// itself.
pub fn scan(cwd: &Path, args: &[&str]) -> Run {
    let run = run(sgscan(cwd).env("NO_COLOR", "1").args(args));
    assert_ne!(run.code, -1, "sgscan was killed by a signal:\n{run}");
    assert!(
        std::str::from_utf8(&run.out).is_ok() && std::str::from_utf8(&run.err).is_ok(),
        "sgscan wrote something that is not UTF-8:\n{run}"
    );
    run
}

/// Asserts that neither output stream of `run` holds a key.
pub fn assert_run_leaks_nothing(run: &Run, keys: &[&String]) {
    assert_no_key(&run.stdout, "stdout", keys);
    assert_no_key(&run.stderr, "stderr", keys);
}

/// One run of the binary.
pub struct Run {
    /// The exit code; -1 if a signal ended the process.
    pub code: i32,
    /// Standard output, decoded lossily.
    pub stdout: String,
    pub stderr: String,
    /// The raw bytes, for checks (ANSI escapes, exact JSON) that must not depend on lossy decoding.
    pub out: Vec<u8>,
    pub err: Vec<u8>,
    pub elapsed: Duration,
}

impl Run {
    /// Standard output as one JSON document; a report is checked against `sgscan schema json`.
    pub fn json(&self) -> Value {
        let doc = serde_json::from_slice(&self.out)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{self}"));
        if is_report_document(&doc) {
            assert_matches_schema(&doc, ReportSchema::Json, "stdout");
        }
        doc
    }

    /// Standard output as JSON lines.
    pub fn lines(&self) -> Vec<Value> {
        jsonl(&self.stdout, "stdout")
    }

    /// Standard output and standard error together.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Whether either stream holds an escape byte.
    pub fn has_ansi(&self) -> bool {
        self.out.contains(&0x1b) || self.err.contains(&0x1b)
    }

    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "exit code\n{self}");
        self
    }
}

/// Parses JSON lines (`what` names the text in messages): one object per line, and no partial
/// last line. The lines of a report are each checked against `sgscan schema jsonl`.
pub fn jsonl(text: &str, what: &str) -> Vec<Value> {
    let lines = parse_jsonl(text, what);
    if is_report_stream(&lines) {
        for (i, line) in lines.iter().enumerate() {
            assert_matches_schema(line, ReportSchema::Jsonl, &format!("line {} of {what}", i + 1));
        }
    }
    lines
}

fn parse_jsonl(text: &str, what: &str) -> Vec<Value> {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{what} ends with a partial line:\n{}",
        scrub(text)
    );
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a line of {what} is not JSON ({e}): {}", scrub(l)));
            assert!(v.is_object(), "a line of {what} is not an object: {}", scrub(l));
            v
        })
        .collect()
}

/// Prints a run with every key-shaped string scrubbed, so a failing test does not print keys.
impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.elapsed,
            cut(&scrub(&self.stdout)),
            cut(&scrub(&self.stderr))
        )
    }
}

pub fn cut(s: &str) -> String {
    if s.len() <= 6000 {
        return s.to_string();
    }
    let mut end = 6000;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

pub fn key_shape() -> regex::Regex {
    regex::Regex::new(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}").unwrap()
}

/// Replaces anything shaped like a SendGrid key with a marker.
pub fn scrub(s: &str) -> String {
    key_shape().replace_all(s, "SG.<scrubbed>").into_owned()
}

/// Asserts that `text` holds none of `keys`, none of their secrets, nothing shaped like a key.
pub fn assert_no_key(text: &str, what: &str, keys: &[&String]) {
    for (i, key) in keys.iter().enumerate() {
        let secret = key.rsplit('.').next().unwrap();
        assert!(
            !text.contains(key.as_str()),
            "{what} contains key #{i} (id {})",
            mock::key_id(key)
        );
        assert!(
            !text.contains(secret),
            "{what} contains the secret of key #{i} (id {})",
            mock::key_id(key)
        );
    }
    assert!(
        !key_shape().is_match(text),
        "{what} contains something shaped like a key:\n{}",
        cut(&scrub(text))
    );
}

/// The two report schemas `sgscan schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportSchema {
    Json,
    Jsonl,
}

/// `sgscan schema json` and `jsonl`, compiled once per test process: every report a test reads
/// is checked against what the binary says its reports are.
fn compiled() -> &'static (boon::Schemas, boon::SchemaIndex, boon::SchemaIndex) {
    static SCHEMAS: OnceLock<(boon::Schemas, boon::SchemaIndex, boon::SchemaIndex)> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        let mut index = |format: &str| {
            let loc = format!("urn:sgscan:schema:{format}");
            compiler
                .add_resource(&loc, report_schema(format))
                .unwrap_or_else(|e| panic!("`sgscan schema {format}`: {e:#}"));
            compiler
                .compile(&loc, &mut schemas)
                .unwrap_or_else(|e| panic!("`sgscan schema {format}` is not a valid JSON Schema: {e:#}"))
        };
        let (json, jsonl) = (index("json"), index("jsonl"));
        (schemas, json, jsonl)
    })
}

/// What `sgscan schema FORMAT` prints, as JSON.
pub fn report_schema(format: &str) -> Value {
    let run = run(sgscan(Path::new(".")).args(["schema", format]));
    assert_eq!(run.code, 0, "`sgscan schema {format}` failed:\n{run}");
    serde_json::from_slice(&run.out)
        .unwrap_or_else(|e| panic!("`sgscan schema {format}` is not JSON ({e}):\n{run}"))
}

/// Whether `value` satisfies the report schema; the error lists every violation.
pub fn check_schema(value: &Value, schema: ReportSchema) -> Result<(), String> {
    let (schemas, json, jsonl) = compiled();
    let index = match schema {
        ReportSchema::Json => *json,
        ReportSchema::Jsonl => *jsonl,
    };
    schemas.validate(value, index).map_err(|e| format!("{e:#}"))
}

fn assert_matches_schema(value: &Value, schema: ReportSchema, what: &str) {
    if let Err(e) = check_schema(value, schema) {
        panic!(
            "{what} does not match `sgscan schema`: {}\n{}",
            scrub(&e),
            cut(&scrub(&value.to_string()))
        );
    }
}

/// A JSON document is a scan report unless it is one of the other documents sgscan writes: SARIF
/// (`runs`), `sgscan audit` (`keys`), `sgscan rotate` (`rotations`). Anything else is checked, so
/// a report that lost its `findings` still fails.
fn is_report_document(doc: &Value) -> bool {
    doc.is_object() && !["runs", "keys", "rotations"].iter().any(|k| doc.get(k).is_some())
}

/// JSON lines are a scan report unless they are an audit log (`event`), `sgscan audit`'s (`key`
/// lines, and a summary line that nests its counts) or `sgscan rotate`'s (`rotation` lines).
fn is_report_stream(lines: &[Value]) -> bool {
    !lines.iter().any(|l| {
        l.get("event").is_some()
            || matches!(l.get("type").and_then(Value::as_str), Some("key" | "rotation"))
            || l.get("summary").is_some_and(Value::is_object)
    })
}

/// Runs `cmd` (a plain process, e.g. [`sgscan_process`]) to the end and returns its run and its
/// peak resident set size in KiB: the child's `VmHWM` (`/proc/PID/status`, Linux), read until it
/// exits. (`wait4`'s `ru_maxrss` would not do: it counts the test process's own RSS at the fork.)
/// A peak held for less than the polling interval just before the exit could be missed; a buffer
/// sized from what an object declares is held for as long as its inflating takes.
pub fn run_peak_rss(cmd: &mut std::process::Command) -> (Run, u64) {
    let (out, err) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
    let started = Instant::now();
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .expect("the command starts");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Some(hwm) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:").map(str::to_string))
            })
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the command did not finish"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut v).unwrap();
        v
    };
    let (out, err) = (read(out), read(err));
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
        out,
        err,
        elapsed: started.elapsed(),
    };
    assert!(!run.stderr.contains("panicked"), "sgscan panicked:\n{run}");
    (run, peak)
}
