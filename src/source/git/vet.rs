//! Vetting a pack before its delta tree is resolved: gitoxide sizes each buffer from the size an
//! entry declares, so a 100-byte entry declaring 8 GiB would cost 8 GiB before anything is checked,
//! and a 3 GiB blob is inflated whole before `--max-file-size` could say no. Here every entry's
//! header is read (for a delta, the first inflated bytes, which hold the size of the object it
//! makes) and only the entries within their limit, and whose bases are, go into the tree.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use gix::objs::Kind;
use gix::odb::pack;
use gix::odb::pack::data::decode::header::ResolvedBase;
use rayon::prelude::*;

use super::objects::size_limit;

/// The most a deflate stream inflates to per byte (zlib's own bound is 1032:1), with slack for
/// an entry's few bytes of framing: an entry that declares more is lying about its size.
const MAX_RATIO: u64 = 1032;
const RATIO_SLACK: u64 = 1024;

/// What becomes of one entry of a pack.
pub(super) enum Verdict {
    /// Into the delta tree.
    Read,
    /// A blob over `--max-file-size`: its declared size; not inflated.
    TooBig(u64),
    /// Not read, and why (names no pack: the caller does). Boxed: a slot is kept for every object
    /// of a pack (850,000 in git/git's).
    Lost(Box<str>),
    /// A delta on a base outside this pack (a thin pack): read by id, through the object store.
    Alone,
}

pub(super) struct Slot {
    /// Its position in the pack's index, which holds its id.
    at: u32,
    pub(super) offset: u64,
    /// Another pack holds the same id.
    pub(super) dup: bool,
    /// Reached by the delta tree, for the one-by-one fallback of a pack that fails part-way: a flag
    /// in the slot's padding rather than a list of every offset read.
    read: AtomicBool,
    pub(super) verdict: Verdict,
    /// The offset of its base, for a delta whose base is in this pack.
    base: Option<u64>,
}

impl Slot {
    pub(super) fn read(&self) {
        self.read.store(true, Ordering::Relaxed);
    }

    pub(super) fn was_read(&self) -> bool {
        self.read.load(Ordering::Relaxed)
    }

    pub(super) fn oid<'a>(&self, index: &'a pack::index::File) -> &'a gix::oid {
        index.oid_at_index(self.at)
    }
}

/// The entries of a pack, in pack order, each with its verdict; and whether the pack's trailer
/// disagrees with its index (a truncated or altered pack).
pub(super) struct Vetted {
    pub(super) slots: Vec<Slot>,
    pub(super) damaged: bool,
    /// The size of the trees to be read, as their entries declare it.
    pub(super) tree_bytes: u64,
}

/// Reads the header of every entry of `index`/`data` on the pool's workers. `others` are the
/// indices of the other packs, for objects held twice.
pub(super) fn vet(
    index: &pack::index::File,
    data: &pack::data::File,
    others: &[&pack::index::File],
    max_file_size: u64,
    pool: &rayon::ThreadPool,
) -> Vetted {
    // (offset, position in the index): the index's own entries hold ids too, three times the size.
    let mut entries: Vec<(u64, u32)> = (0..index.num_objects())
        .map(|i| (index.pack_offset_at_index(i), i))
        .collect();
    entries.sort_unstable();
    let pack_end = data.pack_end() as u64;
    let damaged = data.checksum() != index.pack_checksum();
    let resolve = |id: &gix::oid| -> gix::Result<Option<ResolvedBase>> {
        Ok(index
            .lookup(id)
            .and_then(|i| data.entry(index.pack_offset_at_index(i)).ok())
            .map(ResolvedBase::InPack))
    };
    let tree_bytes = std::sync::atomic::AtomicU64::new(0);
    let mut slots: Vec<Slot> = pool.install(|| {
        entries
            .par_iter()
            .enumerate()
            .map_init(gix::zlib::Inflate::default, |inflate, (i, &(offset, at))| {
                // The bytes up to the next entry are all this one can have.
                let end = entries.get(i + 1).map_or(pack_end, |n| n.0.min(pack_end));
                let (verdict, base, trees) =
                    judge(data, index, offset, end, inflate, &resolve, max_file_size);
                if trees > 0 {
                    tree_bytes.fetch_add(trees, Ordering::Relaxed);
                }
                let oid = index.oid_at_index(at);
                Slot {
                    at,
                    offset,
                    dup: others.iter().any(|o| o.lookup(oid).is_some()),
                    read: AtomicBool::new(false),
                    verdict,
                    base,
                }
            })
            .collect()
    });
    if damaged {
        cut_short(data, pack_end, &mut slots);
    }
    drop(entries);
    block_descendants(index, &mut slots);
    Vetted {
        slots,
        damaged,
        tree_bytes: tree_bytes.into_inner(),
    }
}

fn judge(
    data: &pack::data::File,
    index: &pack::index::File,
    offset: u64,
    end: u64,
    inflate: &mut gix::zlib::Inflate,
    resolve: &dyn Fn(&gix::oid) -> gix::Result<Option<ResolvedBase>>,
    max_file_size: u64,
) -> (Verdict, Option<u64>, u64) {
    if offset >= end {
        // Before the pack's end, only another entry at the same offset ends it there.
        let why = match offset < data.pack_end() as u64 {
            true => "its index gives it the place of another entry: the index does not describe the pack",
            false => "its entry lies past the end of the pack data: the pack is truncated",
        };
        return (Verdict::Lost(why.into()), None, 0);
    }
    let entry = match data.entry(offset) {
        Ok(e) => e,
        Err(e) => {
            return (
                Verdict::Lost(format!("unreadable entry header: {e}").into()),
                None,
                0,
            );
        }
    };
    use pack::data::entry::Header;
    let base = match entry.header {
        Header::OfsDelta { base_distance } => entry.checked_base_pack_offset(base_distance),
        Header::RefDelta { base_id } => match index.lookup(base_id) {
            Some(i) => Some(index.pack_offset_at_index(i)),
            None => return (Verdict::Alone, None, 0),
        },
        _ => None,
    };
    let (declared, data_offset) = (entry.decompressed_size, entry.data_offset);
    // Only headers are read here: a delta's first 20 inflated bytes into a fixed buffer.
    let header = match data.decode_header(entry, inflate, resolve) {
        Ok(h) => h,
        Err(e) => return (Verdict::Lost(format!("unreadable entry: {e}").into()), base, 0),
    };
    let verdict = match header.kind {
        _ if header.object_size <= size_limit(header.kind, max_file_size) => Verdict::Read,
        Kind::Blob => Verdict::TooBig(header.object_size),
        kind => Verdict::Lost(
            format!(
                "a {kind} of {} bytes, more than is read of one ({} bytes)",
                header.object_size,
                size_limit(kind, max_file_size)
            )
            .into(),
        ),
    };
    if !matches!(verdict, Verdict::Read) {
        return (verdict, base, 0);
    }
    // Within its limit by what it says: what it says must fit the bytes it has.
    let compressed = end.saturating_sub(data_offset);
    if declared > compressed.saturating_mul(MAX_RATIO).saturating_add(RATIO_SLACK) {
        return (
            Verdict::Lost(
                format!(
                    "its entry declares {} bytes, more than its {compressed} compressed bytes can hold",
                    declared
                )
                .into(),
            ),
            base,
            0,
        );
    }
    let trees = if header.kind == Kind::Tree {
        header.object_size
    } else {
        0
    };
    (verdict, base, trees)
}

/// In a pack whose trailer does not match its index, the last entries may have lost bytes: each
/// is inflated (into a small scratch buffer, nothing kept) from the end back until one is whole.
fn cut_short(data: &pack::data::File, pack_end: u64, slots: &mut [Slot]) {
    for i in (0..slots.len()).rev() {
        if !matches!(slots[i].verdict, Verdict::Read | Verdict::TooBig(_)) {
            continue;
        }
        let end = slots.get(i + 1).map_or(pack_end, |n| n.offset.min(pack_end));
        let whole = data
            .entry(slots[i].offset)
            .ok()
            .and_then(|e| data.entry_slice(e.data_offset..end))
            .is_some_and(stream_is_whole);
        if whole {
            return;
        }
        slots[i].verdict = Verdict::Lost("its data is cut short: the pack is truncated".into());
    }
}

/// Whether `input` holds a whole deflate stream.
fn stream_is_whole(mut input: &[u8]) -> bool {
    let mut z = flate2::Decompress::new(true);
    let mut out = vec![0u8; 64 << 10];
    loop {
        let (read, made) = (z.total_in(), z.total_out());
        match z.decompress(input, &mut out, flate2::FlushDecompress::None) {
            Ok(flate2::Status::StreamEnd) => return true,
            // The output is thrown away each round: no progress means the input ended mid-stream.
            Ok(_) if z.total_in() == read && z.total_out() == made => return false,
            Ok(_) => input = &input[(z.total_in() - read) as usize..],
            Err(_) => return false,
        }
    }
}

/// A delta whose base is not read cannot be resolved either: it is not read, and said so (or read
/// by id, where its base is outside the pack).
fn block_descendants(index: &pack::index::File, slots: &mut [Slot]) {
    if slots.iter().all(|s| matches!(s.verdict, Verdict::Read)) {
        return;
    }
    let at: HashMap<u64, usize> = slots.iter().enumerate().map(|(i, s)| (s.offset, i)).collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, s) in slots.iter().enumerate() {
        if let Some(b) = s.base.and_then(|b| at.get(&b)) {
            children.entry(*b).or_default().push(i);
        }
    }
    let mut stack: Vec<usize> = (0..slots.len())
        .filter(|&i| !matches!(slots[i].verdict, Verdict::Read))
        .collect();
    while let Some(i) = stack.pop() {
        let Some(kids) = children.remove(&i) else {
            continue;
        };
        let (base, alone) = (slots[i].oid(index), matches!(slots[i].verdict, Verdict::Alone));
        for k in kids {
            if matches!(slots[k].verdict, Verdict::Read) {
                slots[k].verdict = if alone {
                    Verdict::Alone
                } else {
                    Verdict::Lost(format!("a delta on {base}, which was not read").into())
                };
            }
            stack.push(k);
        }
    }
}
