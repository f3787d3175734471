//! `--shard I/N`: one sweep split into `n` jobs that together scan every object exactly once.

/// Which of `n` shards an object belongs to: its id's first 8 bytes, modulo `n`. Object ids are
/// uniformly distributed, so shards are even; the split depends on the id alone, so `n` jobs together
/// scan every object exactly once whatever order they run in.
#[inline]
pub fn shard_of(id: &gix::oid, n: u64) -> u64 {
    let bytes = id.as_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(first) % n.max(1)
}

/// Parses `I/N` (0 <= I < N).
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not I/N (e.g. 0/4)"))?;
    let i: u64 = i
        .trim()
        .parse()
        .map_err(|_| format!("'{s}': I must be a number"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("'{s}': N must be a number"))?;
    if n == 0 || i >= n {
        return Err(format!("'{s}': need 0 <= I < N"));
    }
    Ok((i, n))
}
