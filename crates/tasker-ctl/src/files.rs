//! Writing files that may hold secrets: created with their final mode (never widened and then
//! narrowed), and never silently replacing an existing file.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// Fails, naming the first file of `paths` that exists, unless `force` is set.
pub(crate) fn refuse_existing(paths: &[&Path], force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    for path in paths {
        if path.symlink_metadata().is_ok() {
            bail!(
                "{} already exists; pass --force to overwrite it",
                path.display()
            );
        }
    }
    Ok(())
}

/// Writes `contents` to `path` with permission bits `mode` (Unix). The data goes to a new
/// temporary file in the same directory, created with `mode`, which then takes `path`'s
/// place: replacing an existing file only when `force` is set.
pub(crate) fn write_file(path: &Path, contents: &[u8], mode: u32, force: bool) -> Result<()> {
    let temp = temp_path(path)?;
    let written = write_new(&temp, contents, mode);
    let placed = written.and_then(|()| {
        if force {
            std::fs::rename(&temp, path)
        } else {
            // A hard link fails when `path` exists, so a file appearing since the check is
            // not replaced either. File systems without hard links get a checked rename.
            match std::fs::hard_link(&temp, path) {
                Err(err)
                    if err.kind() != std::io::ErrorKind::AlreadyExists
                        && path.symlink_metadata().is_err() =>
                {
                    std::fs::rename(&temp, path)
                }
                linked => linked,
            }
        }
    });
    let _ = std::fs::remove_file(&temp);
    match placed {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        ),
        Err(err) => Err(err).with_context(|| format!("cannot write {}", path.display())),
    }
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{} does not name a file", path.display()))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    Ok(path.with_file_name(temp_name))
}
