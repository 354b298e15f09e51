//! `tongguan users hash|add`: making entries of the people file. The
//! password is read from standard input (one line), so it stays out of
//! the shell's history and the process list.

use crate::auth::people::{add_entry, hash_password, UserEntry};
use crate::config::Config;
use crate::geo::RegionMap;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// `tongguan users ...`.
#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Print the argon2id hash of a password (read from standard input)
    /// for a `password_hash` of the people file.
    Hash,
    /// Add an account to a people file (made if missing); the password is
    /// read from standard input.
    Add {
        /// The people file (people.users in the config).
        #[arg(long)]
        file: PathBuf,
        /// The account name, unique (zhang.wei).
        #[arg(long)]
        name: String,
        /// The name shown in the console and its watermark (张伟).
        #[arg(long)]
        display_name: String,
        /// street_officer, street_supervisor, district_desk or admin.
        #[arg(long)]
        role: String,
        /// A 12-digit street code, or district.
        #[arg(long)]
        scope: String,
        /// The hub's config, for its region map (default: the embedded map).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Runs a `users` command.
pub fn run(command: UsersCommand) -> Result<()> {
    match command {
        UsersCommand::Hash => {
            println!("{}", hash_password(&password()?));
            Ok(())
        }
        UsersCommand::Add {
            file,
            name,
            display_name,
            role,
            scope,
            config,
        } => {
            let map = region_map(config)?;
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
            };
            let entry = UserEntry {
                name: name.clone(),
                display_name,
                role,
                scope,
                password_hash: hash_password(&password()?),
                disabled: false,
            };
            let text =
                add_entry(&text, entry, &map).with_context(|| format!("{}", file.display()))?;
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &file).with_context(|| format!("writing {}", file.display()))?;
            eprintln!("{name} added to {}", file.display());
            Ok(())
        }
    }
}

fn password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(
        password.chars().count() >= 8,
        "a password has at least 8 characters"
    );
    Ok(password)
}

fn region_map(config: Option<PathBuf>) -> Result<RegionMap> {
    let config = match config {
        Some(p) => Config::load(&p)?,
        None => Config::embedded(),
    };
    match &config.hub.region_map {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            RegionMap::from_geojson(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        }
        None => Ok(RegionMap::sample()),
    }
}
