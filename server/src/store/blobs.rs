//! The bytes of files: content-addressed blobs, and the partial uploads on
//! their way to becoming one. What a file is called, who may see it and
//! which messages carry it is metadata in the database ([`super::files`]);
//! this module only moves bytes.
//!
//! [`BlobStore`] is the seam: the server holds an `Arc<dyn BlobStore>`, so
//! a cluster can keep blobs elsewhere. [`FsBlobs`] is the embedded default,
//! a directory in the data dir:
//! - `blobs/ab/<sha256>`: a stored blob, named by the SHA-256 of its
//!   content (`ab` is the hash's first two hex digits), mode 0600;
//! - `blobs/ab/<sha256>.thumb`: its thumbnail, a PNG, when it has one;
//! - `blobs/partial/<owner>-<sha256>-<size>`: an upload in progress, kept
//!   across reconnects and restarts so it resumes where it stopped.
//!
//! Blobs never change once stored, so a reader needs no lock: the writer
//! thread decides when one is created or removed (see `files.rs`), and a
//! download that finds its blob gone reports `no_such_file`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The directory of blobs inside the data dir.
pub const BLOBS_DIR: &str = "blobs";

/// An upload in progress: whose, of what content, how large.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartialKey {
    pub owner: i64,
    /// Lowercase hex, checked by the caller (64 hex digits).
    pub sha256: String,
    pub size: u64,
}

/// Where file bytes live. Every method is blocking I/O: call them from a
/// blocking thread (`spawn_blocking`) or the store's writer thread, never
/// from an async task.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// How many bytes an upload has stored so far (`None`: never begun).
    ///
    /// # Errors
    /// An I/O error other than "not found".
    fn partial_len(&self, key: &PartialKey) -> io::Result<Option<u64>>;
    /// Writes `data` at `offset` of an upload, creating it when needed.
    ///
    /// # Errors
    /// The write failed (the disk is full, say).
    fn write_partial(&self, key: &PartialKey, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Reads an upload from its start (to hash, sniff, scan and thumbnail).
    ///
    /// # Errors
    /// It is not there or cannot be opened.
    fn read_partial(&self, key: &PartialKey) -> io::Result<Box<dyn Read + Send>>;
    /// The path of an upload, for a scanner that reads a file.
    fn partial_path(&self, key: &PartialKey) -> PathBuf;
    /// Forgets an upload and its bytes.
    ///
    /// # Errors
    /// An I/O error other than "not found".
    fn drop_partial(&self, key: &PartialKey) -> io::Result<()>;
    /// Puts a complete upload's bytes on disk (an fsync), before
    /// [`BlobStore::promote`] names it: done off the commit path, since
    /// flushing a large file takes long and would hold back every write.
    ///
    /// # Errors
    /// The flush failed.
    fn settle(&self, key: &PartialKey) -> io::Result<()>;
    /// Makes a complete upload the blob of its hash, with its thumbnail.
    /// If the blob is already there the upload is dropped instead. Runs on
    /// the commit path: only renames, the upload was
    /// [settled](BlobStore::settle) before.
    ///
    /// # Errors
    /// The move failed; the upload is still there.
    fn promote(&self, key: &PartialKey, thumb: Option<&[u8]>) -> io::Result<()>;
    /// Whether a blob is stored.
    fn has(&self, sha256: &str) -> bool;
    /// Reads up to `buf.len()` bytes of a blob (or its thumbnail) at
    /// `offset`; fewer only at the end.
    ///
    /// # Errors
    /// The blob is not there (`NotFound`), or the read failed.
    fn read_at(&self, sha256: &str, thumb: bool, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Removes a blob and its thumbnail.
    ///
    /// # Errors
    /// An I/O error other than "not found".
    fn remove(&self, sha256: &str) -> io::Result<()>;
    /// Free bytes where new blobs go.
    ///
    /// # Errors
    /// The file system cannot say.
    fn free_bytes(&self) -> io::Result<u64>;
    /// Removes uploads untouched for longer than `age`; returns how many.
    fn sweep_partials(&self, age: Duration) -> usize;
    /// Copies the blobs named by `hashes` (and their thumbnails) into
    /// `dest`, in this store's layout: hard links where the file system
    /// allows, copies otherwise. Returns the hashes that were not there.
    ///
    /// # Errors
    /// A copy failed.
    fn copy_to(&self, hashes: &[String], dest: &Path) -> io::Result<Vec<String>>;
}

/// Blobs in a directory (the embedded default).
#[derive(Debug)]
pub struct FsBlobs {
    root: PathBuf,
}

impl FsBlobs {
    /// Blobs under `data_dir/blobs`, created (private) if missing.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let root = data_dir.join(BLOBS_DIR);
        for dir in [root.clone(), root.join("partial")] {
            std::fs::create_dir_all(&dir)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self { root })
    }

    fn blob_path(&self, sha256: &str, thumb: bool) -> PathBuf {
        let dir = self.root.join(sha256.get(..2).unwrap_or("00"));
        if thumb {
            dir.join(format!("{sha256}.thumb"))
        } else {
            dir.join(sha256)
        }
    }
}

/// Creates a file only its owner may read: blobs are messages' content.
fn private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl BlobStore for FsBlobs {
    fn partial_len(&self, key: &PartialKey) -> io::Result<Option<u64>> {
        match std::fs::metadata(self.partial_path(key)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write_partial(&self, key: &PartialKey, offset: u64, data: &[u8]) -> io::Result<()> {
        // No sync per chunk: that would cost a disk flush every 64 KiB.
        // After a crash of the machine an upload resumes from what its
        // length says, and the hash check at the end refuses anything the
        // crash garbled; the blob itself is synced before it is kept.
        private_file(&self.partial_path(key))?.write_all_at(data, offset)
    }

    fn read_partial(&self, key: &PartialKey) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(io::BufReader::with_capacity(
            256 * 1024,
            File::open(self.partial_path(key))?,
        )))
    }

    fn partial_path(&self, key: &PartialKey) -> PathBuf {
        self.root
            .join("partial")
            .join(format!("{}-{}-{}", key.owner, key.sha256, key.size))
    }

    fn drop_partial(&self, key: &PartialKey) -> io::Result<()> {
        ignore_missing(std::fs::remove_file(self.partial_path(key)))
    }

    fn settle(&self, key: &PartialKey) -> io::Result<()> {
        File::open(self.partial_path(key))?.sync_all()
    }

    fn promote(&self, key: &PartialKey, thumb: Option<&[u8]>) -> io::Result<()> {
        let path = self.blob_path(&key.sha256, false);
        if path.exists() {
            return self.drop_partial(key);
        }
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        // The thumbnail first: a blob without its thumbnail would be shown
        // as a plain file, one with a stray thumbnail is harmless.
        if let Some(png) = thumb {
            let t = self.blob_path(&key.sha256, true);
            let tmp = t.with_extension("thumb.tmp");
            {
                let f = private_file(&tmp)?;
                f.set_len(0)?;
                f.write_all_at(png, 0)?;
                f.sync_data()?;
            }
            std::fs::rename(&tmp, &t)?;
        }
        std::fs::rename(self.partial_path(key), &path)?;
        // The rename must survive a crash before the row that names it.
        File::open(dir)?.sync_all()
    }

    fn has(&self, sha256: &str) -> bool {
        self.blob_path(sha256, false).exists()
    }

    fn read_at(&self, sha256: &str, thumb: bool, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let file = File::open(self.blob_path(sha256, thumb))?;
        let mut done = 0;
        while done < buf.len() {
            match file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn remove(&self, sha256: &str) -> io::Result<()> {
        ignore_missing(std::fs::remove_file(self.blob_path(sha256, true)))?;
        ignore_missing(std::fs::remove_file(self.blob_path(sha256, false)))
    }

    fn free_bytes(&self) -> io::Result<u64> {
        let s = rustix::fs::statvfs(&self.root).map_err(io::Error::from)?;
        Ok(s.f_bavail.saturating_mul(s.f_frsize))
    }

    fn sweep_partials(&self, age: Duration) -> usize {
        let Ok(entries) = std::fs::read_dir(self.root.join("partial")) else {
            return 0;
        };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > age);
            if old && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    fn copy_to(&self, hashes: &[String], dest: &Path) -> io::Result<Vec<String>> {
        let mut missing = Vec::new();
        let target = FsBlobs {
            root: dest.join(BLOBS_DIR),
        };
        std::fs::create_dir_all(&target.root)?;
        std::fs::set_permissions(&target.root, std::fs::Permissions::from_mode(0o700))?;
        for hash in hashes {
            for thumb in [false, true] {
                let from = self.blob_path(hash, thumb);
                let to = target.blob_path(hash, thumb);
                if to.exists() {
                    continue;
                }
                if let Some(dir) = to.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                match std::fs::hard_link(&from, &to) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if !thumb {
                            missing.push(hash.clone());
                        }
                    }
                    Err(_) => {
                        std::fs::copy(&from, &to)?;
                        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))?;
                    }
                }
            }
        }
        Ok(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sha: &str) -> PartialKey {
        PartialKey {
            owner: 7,
            sha256: sha.into(),
            size: 6,
        }
    }

    #[test]
    fn an_upload_resumes_then_becomes_a_private_blob() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobs::open(dir.path()).unwrap();
        let k = key("ab12");
        assert_eq!(blobs.partial_len(&k).unwrap(), None);
        blobs.write_partial(&k, 0, b"abc").unwrap();
        assert_eq!(blobs.partial_len(&k).unwrap(), Some(3));
        blobs.write_partial(&k, 3, b"def").unwrap();
        let mut all = String::new();
        blobs
            .read_partial(&k)
            .unwrap()
            .read_to_string(&mut all)
            .unwrap();
        assert_eq!(all, "abcdef");
        blobs.settle(&k).unwrap();
        blobs.promote(&k, Some(b"png")).unwrap();
        assert!(blobs.has("ab12"));
        assert_eq!(blobs.partial_len(&k).unwrap(), None);
        let path = dir.path().join("blobs/ab/ab12");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mut buf = [0u8; 4];
        assert_eq!(blobs.read_at("ab12", false, 4, &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"ef");
        assert_eq!(blobs.read_at("ab12", true, 0, &mut buf).unwrap(), 3);
        let copy = tempfile::tempdir().unwrap();
        let missing = blobs
            .copy_to(&["ab12".into(), "cd34".into()], copy.path())
            .unwrap();
        assert_eq!(missing, vec!["cd34".to_owned()]);
        assert!(copy.path().join("blobs/ab/ab12.thumb").exists());
        blobs.remove("ab12").unwrap();
        assert!(!blobs.has("ab12"));
        assert!(blobs.read_at("ab12", false, 0, &mut buf).is_err());
        assert!(blobs.free_bytes().unwrap() > 0);
    }
}
