//! Bounded reads of the small files a deployment points Tasker at: configuration layers, key
//! files and `*_file` secrets. Each must be a regular file of at most [`MAX_FILE_BYTES`];
//! a FIFO, a device (`/dev/zero`), a directory or a huge file is refused at once with an error
//! naming the path, instead of hanging startup or growing memory without bound.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest key, secret or configuration file Tasker reads: 1 MiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a bounded read failed. The message names the path and never the file's content.
#[derive(Debug)]
pub struct FileReadError {
    path: PathBuf,
    kind: FileReadErrorKind,
}

#[derive(Debug)]
enum FileReadErrorKind {
    Io(std::io::Error),
    NotRegular(&'static str),
    TooLarge(u64),
    NotUtf8,
}

impl FileReadError {
    /// Whether the file does not exist (layers treat a missing file as absent).
    pub fn is_not_found(&self) -> bool {
        matches!(&self.kind, FileReadErrorKind::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }

    /// The file that could not be read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for FileReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.kind {
            FileReadErrorKind::Io(e) => write!(f, "cannot read {path}: {e}"),
            FileReadErrorKind::NotRegular(what) => {
                write!(f, "cannot read {path}: it is {what}, not a regular file")
            }
            FileReadErrorKind::TooLarge(limit) => {
                write!(f, "cannot read {path}: larger than {}", human(*limit))
            }
            FileReadErrorKind::NotUtf8 => write!(f, "cannot read {path}: not UTF-8 text"),
        }
    }
}

impl std::error::Error for FileReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            FileReadErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads `path` as UTF-8 text if it is a regular file of at most [`MAX_FILE_BYTES`].
pub fn read_bounded(path: impl AsRef<Path>) -> Result<String, FileReadError> {
    read_bounded_to(path.as_ref(), MAX_FILE_BYTES)
}

/// Reads `path` as UTF-8 text if it is a regular file of at most `limit` bytes.
///
/// The file is opened without blocking (a FIFO with no writer would otherwise hang the
/// open), its type is checked on the open handle (so a path swapped after a check cannot slip
/// through), and at most `limit + 1` bytes are read, so a file that grows while being read is
/// still refused.
pub fn read_bounded_to(path: &Path, limit: u64) -> Result<String, FileReadError> {
    let fail = |kind| FileReadError {
        path: path.to_owned(),
        kind,
    };
    let file = open_nonblocking(path).map_err(|e| fail(FileReadErrorKind::Io(e)))?;
    let metadata = file
        .metadata()
        .map_err(|e| fail(FileReadErrorKind::Io(e)))?;
    if !metadata.is_file() {
        return Err(fail(FileReadErrorKind::NotRegular(describe(&metadata))));
    }
    if metadata.len() > limit {
        return Err(fail(FileReadErrorKind::TooLarge(limit)));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| fail(FileReadErrorKind::Io(e)))?;
    if bytes.len() as u64 > limit {
        return Err(fail(FileReadErrorKind::TooLarge(limit)));
    }
    String::from_utf8(bytes).map_err(|_| fail(FileReadErrorKind::NotUtf8))
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK only changes the open of FIFOs and devices; reads of regular files ignore it.
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

fn describe(metadata: &std::fs::Metadata) -> &'static str {
    let kind = metadata.file_type();
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

fn human(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "hello").unwrap();
        assert_eq!(read_bounded(&path).unwrap(), "hello");
        std::fs::write(&path, vec![b'a'; MAX_FILE_BYTES as usize]).unwrap();
        assert_eq!(read_bounded(&path).unwrap().len(), MAX_FILE_BYTES as usize);
    }

    #[test]
    fn oversized_directories_devices_and_missing_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.pem");
        std::fs::write(&big, vec![b'a'; MAX_FILE_BYTES as usize + 1]).unwrap();
        let err = read_bounded(&big).unwrap_err().to_string();
        assert!(
            err.contains("big.pem") && err.contains("larger than 1 MiB"),
            "{err}"
        );

        let err = read_bounded(dir.path()).unwrap_err().to_string();
        assert!(err.contains("a directory, not a regular file"), "{err}");

        let err = read_bounded("/dev/zero").unwrap_err().to_string();
        assert_eq!(
            err,
            "cannot read /dev/zero: it is a device, not a regular file"
        );

        let missing = read_bounded(dir.path().join("missing")).unwrap_err();
        assert!(missing.is_not_found());
    }

    #[test]
    fn a_fifo_without_a_writer_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("key.pem");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = read_bounded(&fifo).unwrap_err().to_string();
        assert!(
            err.ends_with("key.pem: it is a FIFO, not a regular file"),
            "{err}"
        );
    }

    #[test]
    fn non_utf8_is_refused_without_quoting_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, b"sk-\xff\xfe").unwrap();
        let err = read_bounded(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("not UTF-8 text") && !err.contains("sk-"),
            "{err}"
        );
    }

    #[test]
    fn a_lower_limit_applies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.yaml");
        std::fs::write(&path, "0123456789").unwrap();
        assert!(read_bounded_to(&path, 10).is_ok());
        let err = read_bounded_to(&path, 9).unwrap_err().to_string();
        assert!(err.ends_with("larger than 9 bytes"), "{err}");
    }
}
