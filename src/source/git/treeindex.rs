//! Which trees hold an object, without walking history: while the store is read, every tree's
//! entries are noted as edges (child → tree), eight bytes each; sorted once, they answer "which
//! trees name this blob" by binary search. Going up from a blob to the commits' own trees gives
//! every commit that has it, in time linear in the trees that hold it.
//!
//! An edge keeps the first 36 bits of the child's id, so it may name a tree that does not really
//! hold the child (about one chance in 10^10 per edge): whoever uses an answer checks it against
//! the real tree.
//!
//! Memory is capped at [`MAX_EDGES`] edges (96 MiB): a bigger history (git/git has ~100 million
//! tree entries) drops its index and places blobs with a tree walk instead (`treewalk`).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use gix::ObjectId;
use gix::bstr::BString;

const KEY_BITS: u32 = 36;
const NUMBER_BITS: u32 = 27;
const MAX_TREES: u64 = 1 << NUMBER_BITS;
/// Edges kept at most: 8 bytes each.
pub(super) const MAX_EDGES: u64 = 12 << 20;
/// More than a tree entry takes on average (mode, name, NUL and id: about 40 bytes in git/git),
/// so that the entries of so many tree bytes are fewer than the trees really hold.
const ENTRY_BYTES_HIGH: u64 = 64;
/// Builder shards: each worker thread takes its own, so adding a tree contends with no one.
const SHARDS: usize = 16;

/// Edges from entries to the trees that hold them, sorted by child.
#[derive(Default)]
pub(super) struct TreeIndex {
    /// Tree number → its id.
    trees: Vec<ObjectId>,
    /// `key(child) << 28 | number(tree) << 1 | child is a tree`, sorted.
    edges: Vec<u64>,
}

/// Collects edges from many workers at once.
pub(super) struct IndexBuilder {
    shards: Vec<Mutex<Shard>>,
    next_tree: AtomicU64,
    edges: AtomicU64,
    /// Past the cap: nothing more is kept, and no index will be made.
    over: AtomicBool,
    /// Bytes of the trees announced by [`IndexBuilder::expect`].
    expected: AtomicU64,
    /// [`MAX_EDGES`], or what `SGSCAN_TREE_INDEX_MAX_EDGES` says: the tests set it to check that
    /// the fallback places blobs as the index does.
    cap: u64,
}

#[derive(Default)]
struct Shard {
    trees: Vec<(u64, ObjectId)>,
    edges: Vec<u64>,
}

thread_local! {
    static SLOT: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
    };
}

impl Default for IndexBuilder {
    fn default() -> IndexBuilder {
        IndexBuilder {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            next_tree: AtomicU64::new(0),
            edges: AtomicU64::new(0),
            over: AtomicBool::new(false),
            expected: AtomicU64::new(0),
            cap: std::env::var("SGSCAN_TREE_INDEX_MAX_EDGES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(MAX_EDGES),
        }
    }
}

impl IndexBuilder {
    fn shard(&self) -> std::sync::MutexGuard<'_, Shard> {
        let slot = SLOT.with(|s| *s);
        // A poisoned lock means a worker panicked mid-push; the lists are still sound.
        self.shards[slot].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Trees of `bytes` in all are about to be read: if even a low guess at their entries is over
    /// the cap, the index is given up before any is kept, rather than grown to the cap first (git/git's
    /// 96 MiB of edges, and as much again in vectors grown by doubling, then thrown away).
    pub(super) fn expect(&self, bytes: u64) {
        let expected = self.expected.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if expected / ENTRY_BYTES_HIGH > self.cap {
            self.over.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the index was given up: its entries need not be read any more.
    pub(super) fn given_up(&self) -> bool {
        self.over.load(Ordering::Relaxed)
    }

    pub(super) fn add(&self, tree: &gix::oid, edges: &TreeEdges) {
        if self.over.load(Ordering::Relaxed) {
            return self.drop_shard();
        }
        let n = edges.children.len() as u64;
        if self.edges.fetch_add(n, Ordering::Relaxed) + n > self.cap {
            self.over.store(true, Ordering::Relaxed);
            return self.drop_shard();
        }
        let number = self.next_tree.fetch_add(1, Ordering::Relaxed);
        if number >= MAX_TREES {
            self.over.store(true, Ordering::Relaxed);
            return self.drop_shard();
        }
        let mut shard = self.shard();
        shard.trees.push((number, tree.to_owned()));
        shard.edges.extend(
            edges
                .children
                .iter()
                .map(|&(k, is_tree)| k << (NUMBER_BITS + 1) | number << 1 | u64::from(is_tree)),
        );
    }

    /// Gives this thread's memory back once the index is given up.
    fn drop_shard(&self) {
        let mut shard = self.shard();
        if shard.edges.capacity() > 0 {
            *shard = Shard::default();
        }
    }

    /// The index, sorted; `None` if it outgrew its cap.
    pub(super) fn seal(self, pool: &rayon::ThreadPool) -> Option<TreeIndex> {
        use rayon::slice::ParallelSliceMut;
        if self.over.into_inner() {
            return None;
        }
        let shards: Vec<Shard> = self
            .shards
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect();
        let trees_n = shards.iter().map(|s| s.trees.len()).sum();
        let kind = shards
            .iter()
            .find_map(|s| s.trees.first())
            .map_or(gix::hash::Kind::Sha1, |(_, id)| id.kind());
        let mut trees = vec![ObjectId::null(kind); trees_n];
        let mut edges = Vec::with_capacity(shards.iter().map(|s| s.edges.len()).sum());
        for shard in shards {
            for (n, id) in shard.trees {
                trees[n as usize] = id;
            }
            edges.extend_from_slice(&shard.edges);
        }
        pool.install(|| edges.par_sort_unstable());
        Some(TreeIndex { trees, edges })
    }
}

fn key(id: &gix::oid) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&id.as_bytes()[..8]);
    u64::from_be_bytes(first) >> (64 - KEY_BITS)
}

/// One tree's entries, gathered by a worker before they go into the shared index.
#[derive(Default)]
pub(super) struct TreeEdges {
    children: Vec<(u64, bool)>,
    /// Names of its gitlink entries (submodules).
    pub(super) gitlinks: Vec<BString>,
}

impl TreeEdges {
    /// Only the gitlinks: once the index is given up. A tree without one, nearly all of them, costs
    /// one `memmem` pass for the mode's text and no parse.
    pub(super) fn gitlinks(tree: &[u8], hash: gix::hash::Kind) -> TreeEdges {
        if memchr::memmem::find(tree, b"160000 ").is_none() {
            return TreeEdges::default();
        }
        let mut out = TreeEdges::read(tree, hash);
        out.children.clear();
        out
    }

    /// Reads a tree's entries; a tree corrupt part-way gives the entries before the damage.
    pub(super) fn read(tree: &[u8], hash: gix::hash::Kind) -> TreeEdges {
        let mut out = TreeEdges::default();
        for e in gix::objs::TreeRefIter::from_bytes(tree, hash) {
            let Ok(e) = e else { break };
            if e.mode.is_commit() {
                out.gitlinks.push(e.filename.to_owned());
            } else {
                out.children.push((key(e.oid), e.mode.is_tree()));
            }
        }
        out
    }
}

impl TreeIndex {
    /// The trees whose entries name `child` (a tree if `is_tree`), as far as the key tells.
    fn parents(&self, child: &gix::oid, is_tree: bool) -> impl Iterator<Item = usize> + '_ {
        let k = key(child);
        let start = self.edges.partition_point(|e| e >> (NUMBER_BITS + 1) < k);
        self.edges[start..]
            .iter()
            .take_while(move |e| *e >> (NUMBER_BITS + 1) == k)
            .filter(move |e| (*e & 1 == 1) == is_tree)
            .map(|e| ((e >> 1) & ((1 << NUMBER_BITS) - 1)) as usize)
    }

    /// Every tree that holds `id` (a blob, or a tree if `is_tree`), directly or below: the trees a
    /// path to it goes through.
    pub(super) fn holders(&self, id: &gix::oid, is_tree: bool) -> HashSet<ObjectId> {
        let mut seen: HashSet<usize> = HashSet::new();
        let mut stack: Vec<usize> = self.parents(id, is_tree).collect();
        while let Some(t) = stack.pop() {
            if seen.insert(t) {
                stack.extend(self.parents(&self.trees[t], true));
            }
        }
        seen.into_iter().map(|t| self.trees[t]).collect()
    }

    /// Blob entries whose child is not in `blobs` (sorted): each missing key once, with a tree
    /// that names it. One merge pass over both sorted lists.
    pub(super) fn missing_blobs(&self, blobs: &[ObjectId]) -> Vec<(u64, ObjectId)> {
        let mut have = blobs.iter().map(|b| key(b)).peekable();
        let mut out = Vec::new();
        let mut last = None;
        for e in self.edges.iter().filter(|e| *e & 1 == 0) {
            let k = e >> (NUMBER_BITS + 1);
            while have.next_if(|h| *h < k).is_some() {}
            if have.peek() == Some(&k) || last == Some(k) {
                continue;
            }
            last = Some(k);
            out.push((k, self.trees[((e >> 1) & ((1 << NUMBER_BITS) - 1)) as usize]));
        }
        out
    }

    /// Whether `id`'s key is `k` (to find, in a real tree, the entry a missing key stands for).
    pub(super) fn has_key(id: &gix::oid, k: u64) -> bool {
        key(id) == k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        let mut b = [0u8; 20];
        b[0] = n;
        b[19] = n;
        ObjectId::from_bytes_or_panic(&b)
    }

    #[test]
    fn holders_go_up_through_every_tree_and_missing_blobs_are_found_once() {
        let (blob, gone) = (id(1), id(2));
        let (sub, other_sub, root1, root2) = (id(10), id(11), id(20), id(21));
        let builder = IndexBuilder::default();
        let edges = |children: &[(ObjectId, bool)]| TreeEdges {
            children: children.iter().map(|(c, t)| (key(c), *t)).collect(),
            gitlinks: Vec::new(),
        };
        builder.add(&sub, &edges(&[(blob, false), (gone, false)]));
        builder.add(&other_sub, &edges(&[(gone, false)]));
        builder.add(&root1, &edges(&[(sub, true)]));
        builder.add(&root2, &edges(&[(sub, true), (other_sub, true), (blob, false)]));
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let index = builder.seal(&pool).expect("under the cap");
        let holders = index.holders(&blob, false);
        assert_eq!(holders, [sub, root1, root2].into_iter().collect());
        // A blob key is not a tree key: `blob` as a tree is held by nothing.
        assert!(index.holders(&blob, true).is_empty());
        assert_eq!(index.holders(&sub, true), [root1, root2].into_iter().collect());
        let missing = index.missing_blobs(&[blob]);
        assert_eq!(missing.len(), 1);
        assert!(TreeIndex::has_key(&gone, missing[0].0));
        assert!([sub, other_sub].contains(&missing[0].1));
        assert!(index.missing_blobs(&[blob, gone]).is_empty());
    }
}
