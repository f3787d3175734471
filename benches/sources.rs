//! Each source end to end, detector included: the working-tree walk and the git history sweep.
//!
//! ```sh
//! cargo bench --bench sources
//! SGSCAN_BENCH_TREE=/work/bench-data/tree SGSCAN_BENCH_REPO=/work/bench-data/history.git cargo bench --bench sources
//! ```
//!
//! Without the environment variables, a 64 MiB tree and a 2,000-commit repository are generated
//! once into a temporary directory with `benches/gen_tree.py` and `benches/gen_history.py` (seeded,
//! so every run measures the same bytes); this needs python3 and git.

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sgscan::{History, HistoryOptions, Scan, ScanOptions, Source, Unattended, WalkOptions, Worktree};

fn generated(env: &str, script: &str, args: &[&str], dir: &Path, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let out = dir.join(name);
    let benches = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches");
    let status = Command::new("python3")
        .arg(benches.join(script))
        .arg("--out")
        .arg(&out)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 is needed to generate the benchmark corpus");
    assert!(status.success(), "{script} failed");
    out
}

fn tree_bytes(root: &Path) -> u64 {
    ignore::WalkBuilder::new(root)
        .hidden(false)
        .build()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn sources(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let tree = generated(
        "SGSCAN_BENCH_TREE",
        "gen_tree.py",
        &["--size-mb", "64", "--seed", "1"],
        tmp.path(),
        "tree",
    );
    let repo = generated(
        "SGSCAN_BENCH_REPO",
        "gen_history.py",
        &["--commits", "2000", "--seed", "1"],
        tmp.path(),
        "history.git",
    );
    // The whole pipeline with no verification: what `sgscan dir` / `sgscan git` do before the report.
    let mut scan = Scan::new(ScanOptions::default()).expect("built-in rules");
    let mut run = |source: &dyn Source| scan.run(source, &Unattended).expect("scan").outcome;

    let mut g = c.benchmark_group("sources");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(tree_bytes(&tree)));
    let tree = Worktree {
        roots: vec![tree.clone()],
        opts: WalkOptions::default(),
    };
    g.bench_function("dir_walk", |b| b.iter(|| run(&tree)));
    let history = History {
        repo: repo.clone(),
        opts: HistoryOptions {
            max_file_size: u64::MAX,
            ..Default::default()
        },
    };
    // Bytes for the history: what one sweep reads (every distinct blob).
    g.throughput(Throughput::Bytes(run(&history).stats.bytes_scanned));
    g.bench_function("git_history", |b| b.iter(|| run(&history)));
    g.finish();
}

criterion_group!(benches, sources);
criterion_main!(benches);
