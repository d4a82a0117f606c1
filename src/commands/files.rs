//! The one way commsadvise reads a file the user controls: flows and rules
//! files, the files of a generated workspace, and .proto files.
//!
//! Only a regular file is read, and at most a size cap: a FIFO would block
//! forever and a device such as `/dev/zero` never ends. The type is checked
//! before opening (opening a FIFO blocks) and again on the opened handle,
//! which must be the same file (the path may have been swapped in between).
//!
//! Symbolic links, per kind of file:
//! - a flows or rules file named on the command line may be a link
//!   ([`Links::Follow`]): users keep one file under two names, and the link
//!   is theirs;
//! - a file inside `--out` or under a `proto_path` folder is reached by
//!   walking down from that folder ([`walk`]) without following any link
//!   ([`Links::Refuse`]): those files come with a repository or a pull
//!   request, and a link there could make commsadvise read (and print in an
//!   error) any file on the machine, such as `/proc/self/environ`. A link
//!   that stays inside the folder is refused too: telling it apart needs a
//!   second lookup that a swapped path could fool, and a team can always
//!   name the file itself.

use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

/// Whether the last segment of a path may be a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Read what the link points at.
    Follow,
    /// Refuse a link as not a regular file.
    Refuse,
}

/// Why a file was not read.
#[derive(Debug)]
pub enum Unread {
    /// Opening or reading failed: not found, permission denied, …
    Io(io::Error),
    /// It is something else: a folder, a FIFO, a device, or (with
    /// [`Links::Refuse`]) a symbolic link.
    NotRegular(fs::Metadata),
    /// A regular file over the cap, of this many bytes (or more: it may
    /// have grown while being read).
    TooLarge(u64),
}

/// The contents of the regular file at `path`, at most `cap` bytes.
pub fn read_bounded(path: &Path, links: Links, cap: u64) -> Result<Vec<u8>, Unread> {
    let before = match links {
        Links::Follow => fs::metadata(path),
        Links::Refuse => fs::symlink_metadata(path),
    }
    .map_err(Unread::Io)?;
    if !before.is_file() {
        return Err(Unread::NotRegular(before));
    }
    let file = fs::File::open(path).map_err(Unread::Io)?;
    let after = file.metadata().map_err(Unread::Io)?;
    if !after.is_file() {
        return Err(Unread::NotRegular(after));
    }
    if !same_file(&before, &after) {
        // Swapped for another file (or a link) between the two looks.
        return Err(Unread::NotRegular(
            fs::symlink_metadata(path).unwrap_or(after),
        ));
    }
    if after.len() > cap {
        return Err(Unread::TooLarge(after.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(after.len()).unwrap_or(0));
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(Unread::Io)?;
    if bytes.len() as u64 > cap {
        return Err(Unread::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Whether two looks at a path saw the same file.
#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.len() == b.len()
}

/// Why a path inside a folder cannot be used as it stands.
#[derive(Debug)]
pub enum Blocked {
    /// A symbolic link on the way, or at the end.
    Symlink(PathBuf),
    /// Something other than a folder where the path needs one.
    NotFolder(PathBuf, &'static str),
}

/// Walks `rel` ('/'-separated, already checked to be a plain relative path)
/// down from `folder` without following anything: a symbolic link anywhere,
/// or a non-folder before the last segment, blocks it. The last segment's
/// metadata when it exists.
pub fn walk(folder: &Path, rel: &str) -> Result<Option<fs::Metadata>, Blocked> {
    let mut current = folder.to_path_buf();
    let mut segments = rel.split('/').peekable();
    while let Some(segment) = segments.next() {
        current.push(segment);
        let Ok(meta) = fs::symlink_metadata(&current) else {
            return Ok(None);
        };
        if meta.file_type().is_symlink() {
            return Err(Blocked::Symlink(current));
        }
        if segments.peek().is_none() {
            return Ok(Some(meta));
        }
        if !meta.is_dir() {
            return Err(Blocked::NotFolder(current, super::file_kind(&meta)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_up_to_the_cap() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.proto");
        fs::write(&path, b"12345").expect("write");
        assert_eq!(
            read_bounded(&path, Links::Refuse, 5).expect("read"),
            b"12345"
        );
        assert!(matches!(
            read_bounded(&path, Links::Refuse, 4),
            Err(Unread::TooLarge(5))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn follows_a_link_only_when_asked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("target.yaml");
        let link = dir.path().join("link.yaml");
        fs::write(&target, b"x").expect("write");
        std::os::unix::fs::symlink(&target, &link).expect("link");
        assert_eq!(read_bounded(&link, Links::Follow, 10).expect("read"), b"x");
        match read_bounded(&link, Links::Refuse, 10) {
            Err(Unread::NotRegular(meta)) => assert!(meta.file_type().is_symlink()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            walk(dir.path(), "link.yaml"),
            Err(Blocked::Symlink(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_device_without_reading_it() {
        match read_bounded(Path::new("/dev/zero"), Links::Follow, 10) {
            Err(Unread::NotRegular(meta)) => assert_eq!(super::super::file_kind(&meta), "a device"),
            other => panic!("{other:?}"),
        }
    }
}
