//! Where the engine's shard checkpoints live: one file per shard in
//! DATA_DIR/engine/, replaced whole (written beside it, synced, renamed
//! over it, the directory synced), so a crash at any moment leaves the
//! previous checkpoint or the new one, never half of one.

use crate::engine::checkpoint::ShardCheckpoint;
use std::path::{Path, PathBuf};

/// The directory of the shard checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointDir {
    dir: PathBuf,
}

/// What [`CheckpointDir::load`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The checkpoint of each shard, by shard index, where one was found.
    pub shards: Vec<Option<ShardCheckpoint>>,
    /// Files that were there and could not be used, with why.
    pub refused: Vec<(PathBuf, String)>,
}

impl CheckpointDir {
    /// The `engine` directory of data dir `data_dir`, created if needed.
    pub fn open(data_dir: &Path) -> std::io::Result<CheckpointDir> {
        let dir = data_dir.join("engine");
        std::fs::create_dir_all(&dir)?;
        Ok(CheckpointDir { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn file(&self, shard: u32) -> PathBuf {
        self.dir.join(format!("shard-{shard}.ckpt"))
    }

    /// Replaces shard `shard`'s checkpoint with `bytes`, durably.
    pub fn save(&self, shard: u32, bytes: &[u8]) -> std::io::Result<()> {
        super::atomic::replace_file(&self.file(shard), bytes)
    }

    /// The checkpoints of a hub of `shards` shards. A file that cannot be
    /// read, is not a checkpoint of this format, or was written by a hub
    /// that split the map among another number of shards is refused (and
    /// left in place, for a person to look at): its shard starts empty.
    pub fn load(&self, shards: usize) -> Loaded {
        let mut loaded = Loaded {
            shards: vec![None; shards],
            refused: Vec::new(),
        };
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return loaded;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "ckpt"))
            .collect();
        files.sort();
        for path in files {
            match read(&path, shards) {
                Ok(c) => {
                    let i = c.shard as usize;
                    loaded.shards[i] = Some(c);
                }
                Err(why) => loaded.refused.push((path, why)),
            }
        }
        loaded
    }
}

fn read(path: &Path, shards: usize) -> Result<ShardCheckpoint, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let c = ShardCheckpoint::decode(&bytes).map_err(|e| e.to_string())?;
    if c.shards as usize != shards || c.shard as usize >= shards {
        return Err(format!(
            "written by a hub of {} shards, this one runs {shards} (hub.shards): the map's cells \
             are split differently",
            c.shards
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::shard::Shard;
    use crate::engine::{EngineSettings, RuleSet};
    use std::sync::Arc;

    fn checkpoint(shard: u32, shards: u32) -> ShardCheckpoint {
        Shard::new(Arc::new(RuleSet::defaults()), EngineSettings::default())
            .checkpoint(shard, shards, 1_000)
    }

    #[test]
    fn checkpoints_come_back_by_shard_and_others_are_refused_with_why() {
        let data = tempfile::tempdir().unwrap();
        let dir = CheckpointDir::open(data.path()).unwrap();
        dir.save(1, &checkpoint(1, 2).encode()).unwrap();
        dir.save(0, &checkpoint(0, 2).encode()).unwrap();
        dir.save(0, &checkpoint(0, 2).encode()).unwrap();
        let loaded = dir.load(2);
        assert!(loaded.shards.iter().all(Option::is_some));
        assert!(loaded.refused.is_empty());
        assert!(
            !dir.path().join("shard-0.ckpt.new").exists(),
            "nothing left beside"
        );

        let loaded = dir.load(4);
        assert!(loaded.shards.iter().all(Option::is_none));
        assert_eq!(loaded.refused.len(), 2);
        assert!(loaded.refused[0].1.contains("2 shards, this one runs 4"));

        std::fs::write(dir.path().join("shard-1.ckpt"), b"garbage").unwrap();
        let loaded = dir.load(2);
        assert!(loaded.shards[0].is_some() && loaded.shards[1].is_none());
        assert_eq!(loaded.refused[0].1, "not a shard checkpoint (bad header)");
    }
}
