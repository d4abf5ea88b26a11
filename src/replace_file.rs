//! Writing an output file so a reader never sees half of it, without clobbering what is not ours.
//!
//! A regular file (or a new path) is written to a temporary file beside it and renamed over it.
//! Anything else that already exists (`/dev/null`, a FIFO, a terminal) is written in place: a
//! rename would replace the device node itself, which as root breaks the whole machine.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Runs `write` on a file that becomes `path` once `write` succeeds.
pub(crate) fn write_replacing<T>(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<T>,
) -> io::Result<T> {
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            if meta.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is a directory, not a file", path.display()),
                ));
            }
            let mut f = OpenOptions::new().write(true).open(path)?;
            return write(&mut f);
        }
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            path.file_name()
                .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned())
        ))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let out = write(tmp.as_file_mut())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn regular_file_is_replaced_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.om");
        std::fs::write(&p, "old").unwrap();
        write_replacing(&p, |f| f.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.om");
        std::fs::write(&p, "old").unwrap();
        let r: io::Result<()> = write_replacing(&p, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_fifo_stays_a_fifo() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pipe");
        let st = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        let reader = {
            let p = p.clone();
            std::thread::spawn(move || std::fs::read(p).unwrap())
        };
        write_replacing(&p, |f| f.write_all(b"through the pipe")).unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(std::fs::metadata(&p).unwrap().file_type().is_fifo());
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_replacing(dir.path(), |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }
}
