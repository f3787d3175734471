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
use sgscan::detect::Detector;
use sgscan::findings::Collector;
use sgscan::source::{Source as _, git, worktree};

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
    let detector = Detector::new(sgscan::rules::embedded().expect("built-in rules")).expect("detector");

    let mut g = c.benchmark_group("sources");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(tree_bytes(&tree)));
    g.bench_function("dir_walk", |b| {
        b.iter(|| {
            let sink = Collector::new(&detector);
            let source = worktree::Worktree {
                roots: vec![tree.clone()],
                opts: worktree::WalkOptions::default(),
            };
            source.scan(&sink).expect("walk");
            sink.finish()
        })
    });
    // Bytes for the history: what one sweep reads (every distinct blob).
    let probe = Collector::new(&detector);
    let history = git::History {
        repo: repo.clone(),
        opts: git::HistoryOptions {
            max_file_size: u64::MAX,
            ..Default::default()
        },
    };
    history.scan(&probe).expect("history");
    g.throughput(Throughput::Bytes(probe.finish().stats.bytes_scanned));
    g.bench_function("git_history", |b| {
        b.iter(|| {
            let sink = Collector::new(&detector);
            history.scan(&sink).expect("history");
            sink.finish()
        })
    });
    g.finish();
}

criterion_group!(benches, sources);
criterion_main!(benches);
