//! Reading a config file so that a path can neither hang the program nor
//! exhaust its memory: only regular files are opened, reads are bounded, and
//! a leading UTF-8 byte order mark (which Windows editors add) is dropped.
//! One descriptor is held in reserve for it, so that a reload can read its
//! file when the process has run out of descriptors: that is when lowering
//! the connection cap matters.

use std::fs::{File, FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Mutex;

/// Largest config file accepted. The real files are a few hundred bytes; a
/// larger one is a wrong path (a log, an image), not a configuration.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The UTF-8 encoding of U+FEFF, the byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The descriptor held in reserve (open on `/dev/null`): given up for a
/// config file that cannot be opened for want of descriptors (`EMFILE`),
/// taken again once the file is read. The classic reserved-descriptor trick.
static SPARE: Mutex<Option<File>> = Mutex::new(None);

/// Takes the reserve descriptor if it is not held; called after each read.
/// Without one (none to be had) reads simply go without.
fn reserve_descriptor() {
    let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
    if spare.is_none() {
        *spare = File::open("/dev/null").ok();
    }
}

/// Opens `path` with `options`; when the process is out of descriptors,
/// gives up the reserve one and tries once more.
fn open_with_reserve(options: &OpenOptions, path: &Path) -> io::Result<File> {
    match options.open(path) {
        Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
            let spare = SPARE.lock().unwrap_or_else(|e| e.into_inner()).take();
            if spare.is_none() {
                return Err(e);
            }
            drop(spare);
            options.open(path)
        }
        other => other,
    }
}

/// The text of the config file at `path`, without a leading BOM; `None`
/// when the file does not exist and `required` is false. `Err` is the reason,
/// worded for a person.
pub fn read_text(path: &Path, required: bool) -> Result<Option<String>, String> {
    let text = read_text_once(path, required);
    // The file is closed again: its descriptor becomes the reserve if that
    // was given up.
    reserve_descriptor();
    text
}

fn read_text_once(path: &Path, required: bool) -> Result<Option<String>, String> {
    // stat first, so that a FIFO or a device is never opened at all (opening
    // a FIFO blocks until a writer comes; a device open can have effects).
    let metadata = match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && !required => return Ok(None),
        other => other.map_err(|e| e.to_string())?,
    };
    ensure_regular(metadata.file_type())?;
    // The path may have been replaced since the stat: O_NONBLOCK keeps the
    // open from blocking on a FIFO and the fstat below rejects it. Reading a
    // regular file ignores O_NONBLOCK.
    let mut options = OpenOptions::new();
    options
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    let file = open_with_reserve(&options, path);
    let file = match file {
        Err(e) if e.kind() == io::ErrorKind::NotFound && !required => return Ok(None),
        other => other.map_err(|e| e.to_string())?,
    };
    ensure_regular(file.metadata().map_err(|e| e.to_string())?.file_type())?;
    decode(read_bounded(file)?).map(Some)
}

/// Reads at most one byte more than the limit, so that a file that grows
/// while it is read cannot get past it.
fn read_bounded(file: File) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "larger than {} MiB, the limit for a config file",
            MAX_FILE_BYTES >> 20
        ));
    }
    Ok(bytes)
}

/// The text of the file's bytes: UTF-8, a leading BOM dropped.
fn decode(bytes: Vec<u8>) -> Result<String, String> {
    let bytes = match bytes.strip_prefix(BOM) {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn ensure_regular(kind: FileType) -> Result<(), String> {
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(format!("{what}, not a regular file"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// `name` in a scratch directory of this test run.
    fn scratch(name: &str) -> PathBuf {
        testkit::scratch_dir("config-file").join(name)
    }

    #[test]
    fn missing_file_is_none_unless_required() {
        let path = scratch("absent.ini");
        assert_eq!(read_text(&path, false), Ok(None));
        assert!(read_text(&path, true).unwrap_err().contains("No such file"));
    }

    #[test]
    fn bom_is_dropped_and_text_kept() {
        let path = scratch("bom.ini");
        std::fs::write(&path, b"\xEF\xBB\xBF[DEFAULT]\nA = 1\n").unwrap();
        assert_eq!(
            read_text(&path, true),
            Ok(Some("[DEFAULT]\nA = 1\n".into()))
        );
        std::fs::write(&path, b"A = \xFF\n").unwrap();
        assert_eq!(
            read_text(&path, true),
            Err("not UTF-8 text (invalid byte at offset 4)".into())
        );
    }

    #[test]
    fn size_is_capped_at_one_mib() {
        let path = scratch("big.ini");
        std::fs::write(&path, vec![b'#'; MAX_FILE_BYTES as usize]).unwrap();
        assert!(read_text(&path, true).unwrap().is_some());
        std::fs::write(&path, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert_eq!(
            read_text(&path, true),
            Err("larger than 1 MiB, the limit for a config file".into())
        );
    }

    #[test]
    fn only_regular_files() {
        let dir = scratch("");
        assert_eq!(
            read_text(&dir, false),
            Err("a directory, not a regular file".into())
        );
        assert_eq!(
            read_text(Path::new("/dev/zero"), true),
            Err("a character device, not a regular file".into())
        );
        let fifo = scratch("fifo.ini");
        testkit::make_fifo(&fifo);
        // Without a writer an open of the FIFO would block for ever.
        assert_eq!(
            read_text(&fifo, true),
            Err("a FIFO (named pipe), not a regular file".into())
        );
    }
}
