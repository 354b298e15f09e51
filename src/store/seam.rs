//! The store behind the core's seams: [`Outbox`] for the shell (the
//! store's own methods, so that another outbox can take its place) and
//! [`OrderLookup`] for the dispatcher machine.

use super::{BacklogFilter, Batch, OrderPage, OrderQuery, Store, StoreError};
use crate::dispatch::outbox::{OrderLookup, Outbox};
use crate::dispatch::record::OrderRecord;

impl Outbox for Store {
    type Error = StoreError;

    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        Store::commit(self, batch)
    }

    fn order(&self, id: &str) -> Result<Option<OrderRecord>, StoreError> {
        Store::order(self, id)
    }

    fn backlog(
        &self,
        scope: &str,
        after: u64,
        which: BacklogFilter,
        limit: usize,
    ) -> Result<Vec<(u64, OrderRecord)>, StoreError> {
        Store::backlog(self, scope, after, which, limit)
    }

    fn last_seq(&self, scope: &str) -> Result<u64, StoreError> {
        Store::last_seq(self, scope)
    }

    fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, StoreError> {
        Store::list_orders(self, query)
    }
}

impl OrderLookup for Store {
    fn find_order(&self, id: &str) -> Option<OrderRecord> {
        self.order(id).unwrap_or_else(|e| {
            tracing::error!(error = %e.chain(), order = id, "cannot read the outbox");
            None
        })
    }
}
