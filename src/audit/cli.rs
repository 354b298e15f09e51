//! `tongguan audit verify`: checks the audit trail offline, line by line
//! and its end against the saved head; exits non-zero naming the first bad
//! entry.

use crate::audit::file;
use anyhow::Result;
use std::path::PathBuf;

/// `tongguan audit ...`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check DATA_DIR/audit/audit.log: every entry's hash chains to the one
    /// before, the sequence has no gap, and no entry counted in
    /// audit.head is missing. Exits non-zero naming the first bad entry.
    Verify {
        /// The hub's data directory (hub.data_dir).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}

/// Runs an `audit` command.
pub fn run(command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Verify { data_dir } => {
            let head = file::verify(&data_dir)?;
            println!(
                "{}: {} entries, the chain holds (last hash {})",
                file::log_path(&data_dir).display(),
                head.seq,
                head.hash
            );
            Ok(())
        }
    }
}
