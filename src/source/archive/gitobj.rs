//! A `.git` directory inside an archive (a `COPY . .` image layer, a backup tarball): its objects
//! are zlib streams, so a key committed there is invisible to the member scan. Loose objects
//! (`.git/objects/xx/<hex>`) are inflated; packs (`.git/objects/pack/pack-*.pack`) are read entry
//! by entry from the member's bytes, deltas applied against bases of the same pack. Every
//! inflation is metered like any other (member size, total, ratio); each object is scanned once
//! per outer blob, named `<repo>/.git (<type> <id>)`.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::Read;

use super::{End, Job, Kind, Meter, RATIO_FLOOR};

/// Resolved objects kept as delta bases, per pack. A delta whose base was not kept (past this,
/// or not in the pack) is counted in one skip.
const PACK_BASES: usize = 256 * 1024 * 1024;

/// What a member path says of a git object store.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum GitPath<'p> {
    /// A loose object: the repository's path (up to `.git`) and the object id.
    Loose { repo: &'p str, id: String },
    /// A pack: the repository's path.
    Pack { repo: &'p str },
}

/// `…/.git/objects/ab/<38 or 62 hex>` or `…/.git/objects/pack/pack-<hex>.pack` (a bare
/// `name.git` repository too).
pub(super) fn git_path(member: &str) -> Option<GitPath<'_>> {
    let at = member.rfind("objects/")?;
    let repo = member[..at].strip_suffix('/')?;
    let last = repo.rsplit(['/', '!']).next().unwrap_or(repo);
    if !last.ends_with(".git") {
        return None;
    }
    let rest = &member[at + "objects/".len()..];
    let hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if let Some(pack) = rest.strip_prefix("pack/pack-") {
        return pack
            .strip_suffix(".pack")
            .filter(|h| hex(h))
            .map(|_| GitPath::Pack { repo });
    }
    let (dir, file) = rest.split_once('/')?;
    (dir.len() == 2 && hex(dir) && matches!(file.len(), 38 | 62) && hex(file)).then(|| GitPath::Loose {
        repo,
        id: format!("{dir}{file}"),
    })
}

/// The zlib stream at the start of `z`, inflated through the blob's meter: what came out, why it
/// stopped short (if it did), and the compressed bytes it took.
struct Inflated {
    data: Vec<u8>,
    cut: Option<String>,
    end: End,
    consumed: usize,
}

/// A zlib decoder over a slice, counting what it consumed for the ratio guard.
struct Zin<'d, 'c> {
    dec: flate2::bufread::ZlibDecoder<&'d [u8]>,
    total: usize,
    input: &'c Cell<u64>,
}

impl Read for Zin<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.dec.read(buf);
        self.input.set((self.total - self.dec.get_ref().len()) as u64);
        n
    }
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        1 => "commit",
        2 => "tree",
        3 => "blob",
        4 => "tag",
        _ => "object",
    }
}

fn objs_kind(kind: u8) -> Option<gix::objs::Kind> {
    Some(match kind {
        1 => gix::objs::Kind::Commit,
        2 => gix::objs::Kind::Tree,
        3 => gix::objs::Kind::Blob,
        4 => gix::objs::Kind::Tag,
        _ => return None,
    })
}

/// What a pack entry's header says of its content.
enum Base {
    /// The object itself.
    Whole,
    /// A delta against the entry at this offset, if the pack has it.
    Delta(Option<usize>),
}

/// A delta's size varint (7 bits a byte, least significant first).
fn delta_size(d: &[u8], at: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *d.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Applies a git delta to `base`; `None` if it is malformed or its result would pass `max`.
/// The result grows by what the instructions write, never by what the delta declares.
fn apply_delta(base: &[u8], delta: &[u8], max: u64) -> Option<Vec<u8>> {
    let mut at = 0;
    let src = delta_size(delta, &mut at)?;
    let dst = delta_size(delta, &mut at)?;
    if src != base.len() as u64 || dst > max {
        return None;
    }
    let mut out = Vec::new();
    while at < delta.len() {
        let op = delta[at];
        at += 1;
        if op & 0x80 != 0 {
            let mut field = |bits: u8, shift: u32| -> Option<u64> {
                if op & bits == 0 {
                    return Some(0);
                }
                let b = *delta.get(at)?;
                at += 1;
                Some(u64::from(b) << shift)
            };
            let off = field(1, 0)? | field(2, 8)? | field(4, 16)? | field(8, 24)?;
            let mut size = field(0x10, 0)? | field(0x20, 8)? | field(0x40, 16)?;
            if size == 0 {
                size = 0x10000;
            }
            let end = off.checked_add(size)?;
            let piece = base.get(usize::try_from(off).ok()?..usize::try_from(end).ok()?)?;
            out.extend_from_slice(piece);
        } else if op != 0 {
            let piece = delta.get(at..at + usize::from(op))?;
            at += usize::from(op);
            out.extend_from_slice(piece);
        } else {
            return None;
        }
        if out.len() as u64 > dst {
            return None;
        }
    }
    (out.len() as u64 == dst).then_some(out)
}

impl Job<'_> {
    /// A member that is a git object or pack: read as such; false if it is not one.
    pub(super) fn git_member(&self, data: &[u8], member: &str, depth: u32) -> bool {
        let name = member.rsplit('!').next().unwrap_or(member);
        let Some(git) = git_path(name) else {
            return false;
        };
        let repo_at = member.len() - name.len();
        match git {
            GitPath::Loose { repo, id } => {
                let repo = &member[..repo_at + repo.len()];
                self.git_loose(data, member, repo, &id, depth)
            }
            GitPath::Pack { repo } => {
                let repo = &member[..repo_at + repo.len()];
                self.git_pack(data, member, repo, depth);
                true
            }
        }
    }

    fn inflate_zlib(&self, z: &[u8]) -> Inflated {
        let input = Cell::new(0);
        let mut zin = Zin {
            dec: flate2::bufread::ZlibDecoder::new(z),
            total: z.len(),
            input: &input,
        };
        let mut meter = Meter {
            inner: &mut zin,
            job: self,
            input: &input,
            out: 0,
        };
        let got = self.bounded(&mut meter, Kind::Gzip);
        let consumed = z.len() - zin.dec.get_ref().len();
        Inflated {
            data: got.data,
            cut: got.cut.map(|c| c.replace("gzip", "zlib")),
            end: got.end,
            consumed,
        }
    }

    /// Charges bytes made without a decoder (a delta's result) to the blob's total.
    fn charge(&self, n: usize) -> bool {
        let total = self.inflated.get() + n as u64;
        self.inflated.set(total);
        if total > self.limits.max_total {
            self.stop(format!(
                "stopped after {} inflated bytes (--max-archive-size): the rest of the archive was not scanned",
                self.limits.max_total
            ));
            return false;
        }
        true
    }

    /// Scans an object's content once per outer blob.
    fn git_object(&self, repo: &str, kind: &str, id: &str, content: &[u8], depth: u32) {
        if !self.git_seen.borrow_mut().insert(id.to_string()) {
            return;
        }
        self.bytes(content, &format!("{repo} ({kind} {id})"), depth + 1);
    }

    /// A loose object: zlib of `<type> <size>\0<content>`. One that does not inflate is
    /// scanned as it is, with a skip.
    fn git_loose(&self, data: &[u8], member: &str, repo: &str, id: &str, depth: u32) -> bool {
        if !self.admit() {
            return true;
        }
        let got = self.inflate_zlib(data);
        if got.data.is_empty() {
            if self.is_stopped() {
                return true;
            }
            self.skip(
                member,
                format!(
                    "a git object that does not inflate ({}); scanned as raw bytes",
                    got.cut.as_deref().unwrap_or("no data")
                ),
            );
            return false;
        }
        if let Some(why) = got.cut {
            self.skip(member, why);
        }
        let Some(nul) = memchr::memchr(0, &got.data[..got.data.len().min(32)]) else {
            self.skip(
                member,
                "a git object without its header; scanned as inflated".to_string(),
            );
            self.leaf(&got.data, member);
            return true;
        };
        let kind = got.data[..nul].split(|b| *b == b' ').next().unwrap_or_default();
        let kind = String::from_utf8_lossy(kind).into_owned();
        self.git_object(repo, &kind, id, &got.data[nul + 1..], depth);
        true
    }

    /// A pack, entry by entry. Undeltified objects are inflated; deltas are applied to bases of
    /// the same pack kept in memory (up to [`PACK_BASES`]); the rest is one skip.
    fn git_pack(&self, data: &[u8], member: &str, repo: &str, depth: u32) {
        let count = match data.get(..12) {
            Some(h) if &h[..4] == b"PACK" && matches!(h[7], 2 | 3) && h[4..7] == [0, 0, 0] => {
                u32::from_be_bytes([h[8], h[9], h[10], h[11]])
            }
            _ => {
                self.skip(
                    member,
                    "not a git pack (bad header); scanned as raw bytes".to_string(),
                );
                return self.leaf(data, member);
            }
        };
        // Offset → (type, content) of what may be a base; id → offset for REF deltas.
        let mut bases: HashMap<usize, (u8, Vec<u8>)> = HashMap::new();
        let mut ids: HashMap<gix::ObjectId, usize> = HashMap::new();
        let mut kept = 0usize;
        // Bytes deltas made: a copy instruction of 4 bytes writes 64 KiB, so the ratio guard
        // of the pack's inflations does not see them; they are held to it over the pack's bytes.
        let mut made = 0u64;
        let (mut unresolved, mut at) = (0u64, 12usize);
        let trailer = data.len().saturating_sub(20);
        for _ in 0..count {
            if self.is_stopped() {
                return;
            }
            let start = at;
            // Type and size: 3 bits of type, then the size in 4 + 7n bits.
            let Some(&first) = data.get(at) else { break };
            at += 1;
            let kind = (first >> 4) & 7;
            let (mut byte, mut shift) = (first, 4u32);
            while byte & 0x80 != 0 && shift < 64 {
                let Some(&b) = data.get(at) else { break };
                at += 1;
                byte = b;
                shift += 7;
            }
            let base = match kind {
                6 => {
                    let mut b = *data.get(at).unwrap_or(&0);
                    at += 1;
                    let mut off = u64::from(b & 0x7f);
                    while b & 0x80 != 0 {
                        let Some(&n) = data.get(at) else { break };
                        at += 1;
                        b = n;
                        off = off
                            .saturating_add(1)
                            .saturating_mul(128)
                            .saturating_add(u64::from(b & 0x7f));
                    }
                    usize::try_from(off)
                        .ok()
                        .and_then(|o| start.checked_sub(o))
                        .map(|b| Base::Delta(Some(b)))
                }
                7 => {
                    let id = data
                        .get(at..at + 20)
                        .and_then(|b| gix::ObjectId::try_from(b).ok());
                    at += 20;
                    id.map(|id| Base::Delta(ids.get(&id).copied()))
                }
                1..=4 => Some(Base::Whole),
                _ => None,
            };
            let Some(base) = base else {
                self.skip(
                    member,
                    format!("git pack entry at byte {start} has a bad header: the rest of the pack not read"),
                );
                return;
            };
            if at > trailer || !self.admit() {
                break;
            }
            let got = self.inflate_zlib(&data[at..]);
            at += got.consumed;
            if let Some(why) = got.cut {
                self.skip(member, why);
            }
            if got.end != End::Clean {
                if !self.is_stopped() {
                    self.skip(
                        member,
                        format!("git pack entry at byte {start} cut short: the rest of the pack not read"),
                    );
                }
                return;
            }
            let (kind, content) = match base {
                Base::Whole => (kind, got.data),
                Base::Delta(None) => {
                    unresolved += 1;
                    continue;
                }
                Base::Delta(Some(b)) => {
                    let Some((base_kind, base_data)) = bases.get(&b) else {
                        unresolved += 1;
                        continue;
                    };
                    let Some(out) = apply_delta(base_data, &got.data, self.limits.max_member) else {
                        unresolved += 1;
                        continue;
                    };
                    if !self.charge(out.len()) {
                        return;
                    }
                    made += out.len() as u64;
                    if made > RATIO_FLOOR && made / (data.len() as u64).max(1) > self.limits.max_ratio {
                        self.skip(
                            member,
                            format!(
                                "git pack deltas made more than {}:1 of the pack's bytes (--max-ratio), a likely bomb: stopped after {made} bytes; the rest of the pack not read",
                                self.limits.max_ratio
                            ),
                        );
                        return;
                    }
                    (*base_kind, out)
                }
            };
            let Some(okind) = objs_kind(kind) else { continue };
            let Ok(id) = gix::objs::compute_hash(gix::hash::Kind::Sha1, okind, &content) else {
                continue;
            };
            self.git_object(repo, kind_name(kind), &id.to_string(), &content, depth);
            if kept + content.len() <= PACK_BASES {
                kept += content.len();
                ids.insert(id, start);
                bases.insert(start, (kind, content));
            }
        }
        if unresolved > 0 {
            self.skip(
                member,
                format!("{unresolved} git pack deltas not resolved (base not in the pack or not kept): not scanned"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let id = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            git_path(&format!("app/.git/objects/{}/{}", &id[..2], &id[2..])),
            Some(GitPath::Loose {
                repo: "app/.git",
                id: id.to_string()
            })
        );
        assert_eq!(
            git_path(".git/objects/pack/pack-0123abcd.pack"),
            Some(GitPath::Pack { repo: ".git" })
        );
        assert_eq!(git_path("srv/repo.git/objects/pack/pack-0a.idx"), None);
        assert_eq!(
            git_path("web/objects/01/23456789abcdef0123456789abcdef01234567"),
            None
        );
    }

    #[test]
    fn deltas() {
        let base = b"hello, world";
        // src 12, dst 10: copy 7 bytes from 0, insert "there".
        let delta = [12, 12, 0x90, 7, 5, b't', b'h', b'e', b'r', b'e'];
        assert_eq!(
            apply_delta(base, &delta, 100).as_deref(),
            Some(&b"hello, there"[..])
        );
        // Copy past the base's end; declared size past the bound.
        assert_eq!(apply_delta(base, &[12, 5, 0x91, 10, 5], 100), None);
        assert_eq!(apply_delta(base, &[12, 0x80, 1], 100), None);
    }
}
