//! How the street platforms judged the orders, read from an outbox
//! (`DATA_DIR/outbox.redb`) offline: order id to outcome (confirmed,
//! false alarm, resolved), for the orders that were acknowledged.
//! Escalations (督办) are left out: they are judged through their order.

use crate::store::Store;
use crate::wire::control::Outcome;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;

/// The outcomes in the outbox at `file` (an `outbox.redb`).
pub fn read(file: &Path) -> Result<HashMap<String, Outcome>> {
    if !file.is_file() {
        bail!("{}: no such outbox file", file.display());
    }
    if file.file_name().and_then(|n| n.to_str()) != Some("outbox.redb") {
        bail!(
            "{}: the outbox is a file named outbox.redb in the hub's data directory",
            file.display()
        );
    }
    let dir = file.parent().unwrap_or(Path::new("."));
    let store = Store::open(dir).with_context(|| {
        format!(
            "opening {} (a running hub holds it locked: stop it, or replay a copy)",
            file.display()
        )
    })?;
    let orders = store
        .all_orders()
        .with_context(|| format!("reading {}", file.display()))?;
    Ok(judged(orders))
}

/// The outcome of each acknowledged order among `orders` (escalations aside).
pub fn judged(orders: Vec<crate::dispatch::record::OrderRecord>) -> HashMap<String, Outcome> {
    orders
        .into_iter()
        .filter(|r| r.order.escalation_of.is_none())
        .filter_map(|r| Some((r.order.id, r.ack?.outcome)))
        .collect()
}
