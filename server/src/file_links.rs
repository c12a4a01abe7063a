//! Links to files for clients that cannot download over natter's protocol
//! (IRC): `{http base}/files/{id}/{sig}/{name}` on the HTTP listener.
//!
//! A link is a capability: `sig` is an HMAC-SHA256 of the file id under a
//! key only this server holds (`file-links.key` in the data dir, made on
//! first start, 0600), so links cannot be guessed from ids, and only the
//! members of a room the file was posted to were ever shown one. Whoever
//! holds a link may fetch the file, as with any chat's file URLs; a file
//! whose messages are all deleted is collected, and its links end with it.

use std::io;
use std::path::Path;

use hmac::{Hmac, Mac};
use natter_shared::FileId;
use sha2::Sha256;

/// The key file inside the data dir.
pub const KEY_FILE: &str = "file-links.key";

/// Bytes of the HMAC a link carries (hex in the URL): 128 bits.
const SIG_BYTES: usize = 16;

/// The server's link key.
#[derive(Clone)]
pub struct FileLinks {
    key: [u8; 32],
}

impl std::fmt::Debug for FileLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileLinks(..)")
    }
}

impl FileLinks {
    /// Reads the key from `data_dir`, making it on first use.
    ///
    /// # Errors
    /// The key file cannot be read or written, or is damaged.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        let path = data_dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key = bytes.try_into().map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} is not a 32-byte key; remove it to make a new one (old file links then stop working)",
                            path.display()
                        ),
                    )
                })?;
                Ok(Self { key })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                f.write_all(&key)?;
                f.sync_all()?;
                Ok(Self { key })
            }
            Err(e) => Err(e),
        }
    }

    fn mac(&self, file: FileId) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(b"natter file link v1:");
        mac.update(&file.to_be_bytes());
        mac
    }

    /// The signature a link to `file` carries.
    #[must_use]
    pub fn sign(&self, file: FileId) -> String {
        hex::encode(&self.mac(file).finalize().into_bytes()[..SIG_BYTES])
    }

    /// Whether `sig` is `file`'s (in constant time).
    #[must_use]
    pub fn verify(&self, file: FileId, sig: &str) -> bool {
        match hex::decode(sig) {
            Ok(bytes) if bytes.len() == SIG_BYTES => {
                self.mac(file).verify_truncated_left(&bytes).is_ok()
            }
            _ => false,
        }
    }

    /// The link to `file` named `name` under `base` (the HTTP listener's
    /// URL, no trailing slash).
    #[must_use]
    pub fn url(&self, base: &str, file: FileId, name: &str) -> String {
        let name: String = url_segment(name);
        format!("{base}/files/{file}/{}/{name}", self.sign(file))
    }
}

/// `name` as one URL path segment: unreserved characters kept, the rest
/// percent-encoded (the name is for the browser's "save as"; the id and
/// signature alone find the file).
#[must_use]
pub fn url_segment(name: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    if out.is_empty() { "file".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_signed_kept_and_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let links = FileLinks::open(dir.path()).unwrap();
        let sig = links.sign(42);
        assert_eq!(sig.len(), 32);
        assert!(links.verify(42, &sig));
        assert!(!links.verify(43, &sig));
        assert!(!links.verify(42, "00"));
        assert!(!links.verify(42, "not hex at all, not at all, no!"));
        // The same key on the next start: old links keep working.
        let again = FileLinks::open(dir.path()).unwrap();
        assert!(again.verify(42, &sig));
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            links.url("http://h:1", 42, "my cat (1).png"),
            format!("http://h:1/files/42/{sig}/my%20cat%20%281%29.png")
        );
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        assert!(FileLinks::open(dir.path()).is_err());
    }
}
