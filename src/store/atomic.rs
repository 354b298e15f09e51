//! Replacing a small file whole, durably: written beside it, synced,
//! renamed over it, the directory synced, so that a crash at any moment
//! leaves the old file or the new one, never half of one.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes`, durably. The directory must exist.
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}
