//! Opening a file by name: only a regular file is ever read.
//!
//! Opening a FIFO for reading waits for a writer that may never come, and a device (`/dev/zero`,
//! a terminal) never ends or waits for a person: a `.gitignore`, a config or a git file that is one
//! would stop the scan forever. A name can be a FIFO or a link to a device in any tree or archive
//! extracted from elsewhere, and a name checked first can be swapped before it is opened, so the
//! check is made on what was opened: the open does not wait (`O_NONBLOCK`), then `fstat` says what
//! it is. Standard input, which is meant to be a pipe, is read elsewhere.

use std::fs::{File, FileType};
use std::io::{self, Read};
use std::path::Path;

/// What a file that is not a regular file is, for a message: "a FIFO, not a regular file".
pub fn kind(ft: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// The error for a name that is not a regular file.
fn not_regular(ft: FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{}, not a regular file", kind(ft)),
    )
}

/// Opens `path` for reading if it is a regular file (after links, unless `follow` is false: then
/// a link is refused). Anything else is an error of kind `InvalidInput`, and opening it never
/// waits.
pub fn open(path: &Path, follow: bool) -> io::Result<File> {
    #[cfg(unix)]
    {
        use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
        use std::os::unix::fs::OpenOptionsExt;
        let mut flags = OFlags::NONBLOCK | OFlags::NOCTTY;
        if !follow {
            flags |= OFlags::NOFOLLOW;
        }
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits() as i32)
            .open(path)
        {
            Ok(f) => f,
            // ELOOP from O_NOFOLLOW: the name is a link.
            Err(e) if !follow && e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(match std::fs::symlink_metadata(path) {
                    Ok(m) => not_regular(m.file_type()),
                    Err(_) => e,
                });
            }
            Err(e) => return Err(e),
        };
        let ft = file.metadata()?.file_type();
        if !ft.is_file() {
            return Err(not_regular(ft));
        }
        // Reads of a regular file never return EAGAIN, but the flag is not ours to leave set.
        let flags = fcntl_getfl(&file)?;
        fcntl_setfl(&file, flags - OFlags::NONBLOCK)?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        let meta = if follow {
            std::fs::metadata(path)?
        } else {
            std::fs::symlink_metadata(path)?
        };
        if !meta.is_file() {
            return Err(not_regular(meta.file_type()));
        }
        File::open(path)
    }
}

/// The bytes of the regular file at `path` (links followed), at most `max` of them: a longer file
/// is an error, found by reading, not by trusting its size.
pub fn read(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open(path, true)?;
    let hint = file.metadata().map(|m| m.len()).unwrap_or(0).min(max);
    let mut data = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    file.take(max.saturating_add(1)).read_to_end(&mut data)?;
    if data.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(data)
}

/// The admin key file: a regular file, or a pipe the user hands over on purpose
/// (`--admin-key-file <(pass sendgrid/admin)`), so a credential never has to touch the disk. Only
/// the user names this file (nothing in a scanned tree can), so waiting on its writer is theirs to
/// choose; a device is still refused. At most `max` bytes, found by reading.
pub fn read_credential(path: &Path, max: u64) -> io::Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let meta = std::fs::metadata(path)?;
        if meta.file_type().is_fifo() {
            let mut data = Vec::new();
            File::open(path)?
                .take(max.saturating_add(1))
                .read_to_end(&mut data)?;
            if data.len() as u64 > max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("larger than {max} bytes"),
                ));
            }
            return String::from_utf8(data)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"));
        }
    }
    read_to_string(path, max)
}

/// [`read`], as UTF-8 text.
pub fn read_to_string(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read(path, max)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// The most a small file sgscan reads by name holds (a config, an allow list, a policy, a pattern
/// file, a key file, a list of repositories): far more than any real one.
pub const SMALL: u64 = 16 << 20;

/// The most a report read back holds (a baseline, a report to merge, the verification cache).
pub const REPORT: u64 = 1 << 30;

/// `Ok` if nothing is at `path` or a regular file is (links followed); else what is there, as
/// an error: for names that another library opens on its own.
pub fn regular_or_absent(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) => Err(not_regular(m.file_type())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        // A dangling link, a path through a file: nothing another library could open either.
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Ok(()),
        Err(e) => Err(e),
    }
}

/// How [`create`] opens a file it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Replace what is there (a report).
    Truncate,
    /// Add at the end (an audit log, an allow list).
    Append,
}

/// Opens `path` for writing (created if absent; `private`: mode 0600), never through a link
/// planted where the file goes: a scanned tree or a pull request can hold `report.sarif ->
/// ~/.bashrc`, and a report or log written through it would replace or grow the file it names. A
/// link is followed only to what is not a file at all (`/dev/stdout`, `>(cat)`, a terminal), and
/// that is checked on what was opened, without truncating, so a link swapped in between changes
/// nothing. A FIFO with no reader is an error, not a wait.
///
/// The same holds for the rest of the name: a relative path whose directories include a link
/// (`out -> /home/user` in the tree, `--output out/report.sarif`) is refused, and so is a file with
/// other names (a hard link) — O_NOFOLLOW covers only the last component and no link at all of
/// the second kind. A `private` file that exists already is narrowed to 0600 before anything is
/// written, and refused when another user owns it (they could read it whatever its mode).
pub fn create(path: &Path, how: Write, private: bool) -> io::Result<File> {
    #[cfg(unix)]
    {
        use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
        no_linked_directory(path)?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true);
        if how == Write::Append {
            opts.append(true);
        }
        let file = {
            // Not truncated on open: what was opened is checked first.
            let mut first = opts.clone();
            first
                .create(true)
                .mode(if private { 0o600 } else { 0o666 })
                .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32);
            match first.open(path) {
                Ok(f) => f,
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                    let f = opts
                        .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32)
                        .open(path)?;
                    let ft = f.metadata()?.file_type();
                    if ft.is_file() || ft.is_dir() {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "a symbolic link to a file: not written through (name the file itself)",
                        ));
                    }
                    f
                }
                Err(e) => return Err(e),
            }
        };
        let meta = file.metadata()?;
        if meta.is_file() {
            if meta.nlink() > 1 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a file with other names too (a hard link): not written through",
                ));
            }
            if private {
                if meta.uid() != rustix::process::geteuid().as_raw() {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        "owned by another user, who could read what is written: not written",
                    ));
                }
                if meta.permissions().mode() & 0o077 != 0 {
                    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                }
            }
            if how == Write::Truncate {
                file.set_len(0)?;
            }
        }
        let flags = fcntl_getfl(&file)?;
        fcntl_setfl(&file, flags - OFlags::NONBLOCK)?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        let _ = private;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true);
        match how {
            Write::Truncate => opts.truncate(true),
            Write::Append => opts.append(true),
        };
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a symbolic link: not written through (name the file itself)",
            ));
        }
        opts.open(path)
    }
}

/// Refuses a relative `path` whose directories include a symbolic link: the tree it is written
/// into may be someone else's, and its `out -> /home/user` would take the file elsewhere. An
/// absolute path is the user's own to spell (`/tmp` is a link on some systems).
#[cfg(unix)]
fn no_linked_directory(path: &Path) -> io::Result<()> {
    if path.is_absolute() {
        return Ok(());
    }
    for dir in path.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is a symbolic link: not written through (name the directory it points to)",
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mkfifo(path: &Path) {
        let ok = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let e = open(&fifo, true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "a FIFO, not a regular file");
        assert!(regular_or_absent(&fifo).is_err());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        assert!(read(&link, SMALL).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_directories_are_refused() {
        let e = read(Path::new("/dev/zero"), SMALL).unwrap_err();
        assert_eq!(e.to_string(), "a character device, not a regular file");
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read(dir.path(), SMALL).unwrap_err().to_string(),
            "a directory, not a regular file"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_is_refused_when_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open(&link, true).is_ok());
        assert_eq!(
            open(&link, false).unwrap_err().to_string(),
            "a symbolic link, not a regular file"
        );
    }

    #[test]
    fn reads_are_bounded_and_absence_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read(&f, 5).unwrap(), b"12345");
        assert!(read(&f, 4).is_err());
        let missing = dir.path().join("missing");
        assert_eq!(read(&missing, 5).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(regular_or_absent(&missing).is_ok());
        assert!(regular_or_absent(&f).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn a_link_to_a_file_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = dir.path().join("report.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        for how in [Write::Truncate, Write::Append] {
            assert!(create(&link, how, false).is_err());
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        // A link to a device is what `/dev/stdout` is: followed.
        let null = dir.path().join("null");
        std::os::unix::fs::symlink("/dev/null", &null).unwrap();
        assert!(create(&null, Write::Truncate, false).is_ok());
        // A FIFO nobody reads: an error, not a wait.
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        assert!(create(&fifo, Write::Truncate, false).is_err());
        let new = dir.path().join("new");
        let mut f = create(&new, Write::Truncate, true).unwrap();
        std::io::Write::write_all(&mut f, b"x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&new).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
