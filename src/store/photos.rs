//! Photos from the spot (现场照片), stored beside the outbox in
//! DATA_DIR/photos/ under their SHA-256, so an order's feedback names each
//! by its hash and a changed file is told apart from the one reported.
//! (In the cluster mode the same photos are also in the cluster's object
//! store; this directory is then the node's copy of those it took or
//! showed.)

use crate::dispatch::lifecycle::Photo;
use std::path::{Path, PathBuf};

/// Media types taken, with the file extension each is kept under.
const TYPES: [(&str, &str); 3] = [
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/webp", "webp"),
];

/// The photo directory.
#[derive(Debug, Clone)]
pub struct Photos {
    dir: PathBuf,
}

/// Why a photo was not taken.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// Not an image type we keep.
    #[error("只接受 JPEG、PNG、WebP 照片 / a photo must be image/jpeg, image/png or image/webp, not {0:?}")]
    Type(String),
    /// Larger than the configured limit.
    #[error("照片超过 {limit} 字节 / the photo is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Empty.
    #[error("照片为空 / the photo is empty")]
    Empty,
    /// The disk.
    #[error("photo store: {0}")]
    Io(#[from] std::io::Error),
}

impl Photos {
    /// DATA_DIR/photos/, created if needed.
    pub fn open(data_dir: &Path) -> std::io::Result<Photos> {
        let dir = data_dir.join("photos");
        std::fs::create_dir_all(&dir)?;
        Ok(Photos { dir })
    }

    /// Keeps a photo durably; returns how an order names it.
    pub fn save(
        &self,
        content_type: &str,
        bytes: &[u8],
        limit: usize,
    ) -> Result<Photo, PhotoError> {
        let ext = extension(content_type).ok_or_else(|| PhotoError::Type(content_type.into()))?;
        if bytes.is_empty() {
            return Err(PhotoError::Empty);
        }
        if bytes.len() > limit {
            return Err(PhotoError::TooLarge { limit });
        }
        let sha256 = hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
        let path = self.dir.join(format!("{sha256}.{ext}"));
        if !path.exists() {
            super::atomic::replace_file(&path, bytes)?;
        }
        Ok(Photo {
            sha256,
            bytes: bytes.len() as u64,
            content_type: content_type.to_owned(),
        })
    }

    /// A photo by its hash: its media type and bytes, if kept.
    pub fn read(&self, sha256: &str) -> std::io::Result<Option<(&'static str, Vec<u8>)>> {
        if !is_hash(sha256) {
            return Ok(None);
        }
        for (ty, ext) in TYPES {
            match std::fs::read(self.dir.join(format!("{sha256}.{ext}"))) {
                Ok(bytes) => return Ok(Some((ty, bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Whether a photo with this hash is kept.
    pub fn has(&self, sha256: &str) -> bool {
        self.read(sha256).is_ok_and(|p| p.is_some())
    }
}

/// Whether `s` has the shape of a photo's name: 64 hex digits (so no
/// other name reaches the disk or the cluster).
pub fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The media type taken for `content_type`, as the store names it.
pub fn media_type(content_type: &str) -> Option<&'static str> {
    let base = content_type.split(';').next().unwrap_or("").trim();
    TYPES.iter().find(|(t, _)| *t == base).map(|(t, _)| *t)
}

fn extension(content_type: &str) -> Option<&'static str> {
    let base = content_type.split(';').next().unwrap_or("").trim();
    TYPES.iter().find(|(t, _)| *t == base).map(|(_, e)| *e)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_is_kept_under_its_hash_and_bad_ones_are_refused_with_why() {
        let dir = tempfile::tempdir().unwrap();
        let photos = Photos::open(dir.path()).unwrap();
        let p = photos.save("image/png", b"\x89PNG fake", 1024).unwrap();
        assert_eq!(p.sha256.len(), 64);
        let (ty, bytes) = photos.read(&p.sha256).unwrap().unwrap();
        assert_eq!((ty, bytes.as_slice()), ("image/png", &b"\x89PNG fake"[..]));
        assert!(matches!(
            photos.save("text/plain", b"x", 10),
            Err(PhotoError::Type(_))
        ));
        assert!(matches!(
            photos.save("image/png", &[0; 11], 10),
            Err(PhotoError::TooLarge { .. })
        ));
        assert!(photos.read("../../etc/passwd").unwrap().is_none());
    }
}
