//! A file's identity beyond its inode: the first bytes, because inode numbers are reused at once
//! on some filesystems and a copy (copytruncate) has another inode with the same content.

use crate::source::state::Position;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes at the start of a file that identify it together with its inode.
pub(crate) const FINGERPRINT_BYTES: usize = 1024;

/// The identifying start of a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub(crate) len: u32,
    pub(crate) hash: u64,
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Reads the file's first bytes (without moving its read position) and checks them against
/// `known`: `None` when they differ (the file was replaced or truncated and refilled), else the
/// fingerprint over what is there now (it grows up to [`FINGERPRINT_BYTES`]).
pub(crate) fn check_start(file: &File, known: Fingerprint) -> Option<Fingerprint> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; FINGERPRINT_BYTES];
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Some(known), // cannot tell: trust the inode
        }
    }
    let old = known.len as usize;
    // A zero length is no fingerprint yet (a new or empty file, an older state file).
    if n < old || (old > 0 && fnv1a(&buf[..old]) != known.hash) {
        return None;
    }
    Some(Fingerprint {
        len: n as u32,
        hash: if n == old {
            known.hash
        } else {
            fnv1a(&buf[..n])
        },
    })
}

/// Whether the file at `path` is the one `p` was saved from: same inode and same first bytes.
pub(crate) fn is_same_file(path: &Path, p: &Position) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let Ok(meta) = file.metadata() else {
        return false;
    };
    (meta.dev(), meta.ino()) == (p.dev, p.ino)
        && meta.len() >= p.offset
        && check_start(
            &file,
            Fingerprint {
                len: p.fp_len,
                hash: p.fp_hash,
            },
        )
        .is_some()
}
