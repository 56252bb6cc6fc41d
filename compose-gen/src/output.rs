//! Replacing a file atomically: a reader sees the old file or the new one,
//! never a half-written one, and a failed write leaves the old file as it was.

use std::fs::File;
use std::io::{self, Write};
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `contents` to a new file beside `path` and renames it over `path`.
///
/// The temporary file is in the same directory (a rename does not cross file
/// systems), starts with a `.` and is removed again if anything fails.
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    if path.file_name().is_none() {
        let e = "the path names no file";
        return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
    }
    let dir = dir_of(path);
    // Opened here, not by `tempfile_in`, whose files are private (0600) and
    // whose errors carry the temporary file's random name.
    let mut temp = tempfile::Builder::new().make_in(dir, |temp_path| {
        let mut options = File::options();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o666); // what `>` in a shell gives, less the umask
        options.open(temp_path)
    })?;
    temp.as_file_mut().write_all(contents)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    // Make the rename itself durable; not every file system allows it.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The directory `path` is in: `.` for a bare file name.
pub fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use testkit::file_names;

    #[test]
    fn creates_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.yaml");
        write_atomically(&path, b"first\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first\n");
        write_atomically(&path, b"second\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second\n");
        assert_eq!(file_names(dir.path()), ["out.yaml"]);
    }

    #[test]
    fn failed_rename_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), b"x").unwrap();
        assert!(write_atomically(&target, b"new\n").is_err());
        assert_eq!(file_names(dir.path()), ["taken"]);
        assert_eq!(file_names(&target), ["inside"]);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/out.yaml");
        let e = write_atomically(&path, b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn path_without_file_name() {
        let e = write_atomically(Path::new("/"), b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
