//! One node's side of partition ownership, as a state machine: what the
//! lease store says (who holds each partition's lease, at which revision),
//! who is alive, and the results of its own claims and renewals go in;
//! the claims, renewals and releases to send, and the partitions it gains
//! and loses, come out. The shell runs it against a KV bucket whose keys
//! expire unless renewed (JetStream KV with a max age), so a dead node's
//! leases lapse on the server's clock, and every write is a compare-and-set
//! on the key's revision, so two nodes never both hold one.
//!
//! A node processes a partition only while its lease is surely still its
//! own: from a confirmed claim or renewal, for the lease time less a
//! margin, measured on its own clock from when it *sent* the write (the
//! server's expiry started later, so the node always stops first). A node
//! that was stopped (SIGSTOP, a long pause) finds on waking that this time
//! has passed and drops the partition before doing anything with it.

use super::assignment::assign;
use std::collections::{BTreeMap, VecDeque};

/// Lease timings, ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimings {
    /// How long a lease lasts unless renewed (the bucket's max age).
    pub ttl_ms: i64,
    /// Renew this often (a third of the ttl is usual).
    pub renew_ms: i64,
    /// Stop processing this long before the lease could lapse.
    pub margin_ms: i64,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        LeaseTimings {
            ttl_ms: 6_000,
            renew_ms: 2_000,
            margin_ms: 1_000,
        }
    }
}

/// Who holds a partition's lease, as the store says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The node's name.
    pub node: String,
    /// The key's revision: what the next write must expect.
    pub revision: u64,
}

/// A write to the lease store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOp {
    /// Create the key of `partition` (only if absent).
    Claim {
        /// The partition.
        partition: u32,
    },
    /// Update the key of `partition`, expecting `revision`.
    Renew {
        /// The partition.
        partition: u32,
        /// The revision last seen.
        revision: u64,
    },
    /// Delete the key of `partition`, expecting `revision`: given up for
    /// the node that should have it.
    Release {
        /// The partition.
        partition: u32,
        /// The revision last seen.
        revision: u64,
    },
}

/// A change in what this node may process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Process the partition from now on; `epoch` (the revision of the
    /// claim) fences what is written for it.
    Gained {
        /// The partition.
        partition: u32,
        /// The revision its claim created.
        epoch: u64,
    },
    /// Stop processing the partition at once.
    Lost {
        /// The partition.
        partition: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    epoch: u64,
    revision: u64,
    /// Until when (own clock) it may be processed.
    valid_until_ms: i64,
    next_renew_ms: i64,
    /// When the renewal in flight was queued.
    renewing_since: Option<i64>,
}

/// One node's leases.
#[derive(Debug)]
pub struct Leases {
    me: String,
    partitions: u32,
    timings: LeaseTimings,
    members: Vec<String>,
    /// What the store says, by partition.
    holders: BTreeMap<u32, Holder>,
    held: BTreeMap<u32, Held>,
    /// Claims sent and not answered, with when they were sent.
    claiming: BTreeMap<u32, i64>,
    releasing: BTreeMap<u32, ()>,
    ops: VecDeque<LeaseOp>,
    changes: VecDeque<Ownership>,
    /// A held lease is kept while its holder lives (a role), not handed to
    /// a node that joins.
    sticky: bool,
}

impl Leases {
    /// Node `me` among `partitions` partitions.
    pub fn new(me: &str, partitions: u32, timings: LeaseTimings) -> Leases {
        Leases {
            me: me.to_owned(),
            partitions,
            timings,
            members: vec![me.to_owned()],
            holders: BTreeMap::new(),
            held: BTreeMap::new(),
            claiming: BTreeMap::new(),
            releasing: BTreeMap::new(),
            ops: VecDeque::new(),
            changes: VecDeque::new(),
            sticky: false,
        }
    }

    /// Leases kept by their holder while it lives: a node that joins (or
    /// comes back from a stop) does not take them over, so a role such as
    /// the district's dispatch moves only when its holder is gone, not
    /// back and forth. Who claims a free one is still the assignment's
    /// choice among the live nodes.
    pub fn sticky(mut self) -> Leases {
        self.sticky = true;
        self
    }

    /// The live nodes (this one among them or not: it always counts
    /// itself).
    pub fn set_members(&mut self, now_ms: i64, mut live: Vec<String>) {
        if !live.contains(&self.me) {
            live.push(self.me.clone());
        }
        live.sort();
        live.dedup();
        self.members = live;
        self.plan(now_ms);
    }

    /// The store's word on one partition's lease: held by someone, or free
    /// (deleted, or lapsed).
    pub fn observe(&mut self, now_ms: i64, partition: u32, holder: Option<Holder>) {
        match &holder {
            Some(h) if h.node == self.me => {
                if let Some(held) = self.held.get_mut(&partition) {
                    held.revision = held.revision.max(h.revision);
                }
            }
            _ => {
                // Someone else's, or gone: it is not ours any more.
                if self.held.remove(&partition).is_some() {
                    self.changes.push_back(Ownership::Lost { partition });
                }
            }
        }
        match holder {
            Some(h) => self.holders.insert(partition, h),
            None => self.holders.remove(&partition),
        };
        self.plan(now_ms);
    }

    /// The claim of `partition` was stored at `revision`.
    pub fn claimed(&mut self, now_ms: i64, partition: u32, revision: u64) {
        let Some(sent_ms) = self.claiming.remove(&partition) else {
            return;
        };
        self.holders.insert(
            partition,
            Holder {
                node: self.me.clone(),
                revision,
            },
        );
        let valid_until_ms = sent_ms + self.timings.ttl_ms - self.timings.margin_ms;
        if now_ms >= valid_until_ms {
            // Answered too late to use: let it lapse, or renew it below.
            return self.plan(now_ms);
        }
        self.held.insert(
            partition,
            Held {
                epoch: revision,
                revision,
                valid_until_ms,
                next_renew_ms: sent_ms + self.timings.renew_ms,
                renewing_since: None,
            },
        );
        self.changes.push_back(Ownership::Gained {
            partition,
            epoch: revision,
        });
        self.plan(now_ms);
    }

    /// The claim of `partition` failed: someone holds it (or the store
    /// could not be reached).
    pub fn claim_failed(&mut self, now_ms: i64, partition: u32) {
        self.claiming.remove(&partition);
        // Someone has it, as far as this node can tell until the store is
        // read again: not claimed again before then (a claim that fails at
        // once would otherwise be sent again and again).
        self.holders.entry(partition).or_insert(Holder {
            node: String::new(),
            revision: 0,
        });
        self.plan(now_ms);
    }

    /// The renewal of `partition` was stored at `revision`.
    pub fn renewed(&mut self, now_ms: i64, partition: u32, revision: u64) {
        if let Some(h) = self.held.get_mut(&partition) {
            if let Some(sent_ms) = h.renewing_since.take() {
                h.revision = revision;
                h.valid_until_ms = h
                    .valid_until_ms
                    .max(sent_ms + self.timings.ttl_ms - self.timings.margin_ms);
                h.next_renew_ms = sent_ms + self.timings.renew_ms;
            }
        }
        self.expire(now_ms);
    }

    /// The renewal of `partition` failed. A revision mismatch means the
    /// lease is someone else's: lost. Otherwise (the store unreachable) the
    /// lease holds until it may have lapsed, and renewal is tried again.
    pub fn renew_failed(&mut self, now_ms: i64, partition: u32, taken: bool) {
        if taken {
            if self.held.remove(&partition).is_some() {
                self.changes.push_back(Ownership::Lost { partition });
            }
        } else if let Some(h) = self.held.get_mut(&partition) {
            h.renewing_since = None;
        }
        self.expire(now_ms);
    }

    /// The release of `partition` went through (or failed: either way it
    /// is no longer processed here).
    pub fn released(&mut self, now_ms: i64, partition: u32) {
        self.releasing.remove(&partition);
        self.plan(now_ms);
    }

    /// Moves time on: leases that may have lapsed are dropped, renewals
    /// due are queued.
    pub fn handle_timeout(&mut self, now_ms: i64) {
        self.expire(now_ms);
        self.plan(now_ms);
    }

    /// When [`Leases::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<i64> {
        self.held
            .values()
            .flat_map(|h| [h.valid_until_ms, h.next_renew_ms])
            .min()
    }

    /// The next write to send: send it at once (its time counts from
    /// when it was queued).
    pub fn poll_op(&mut self) -> Option<LeaseOp> {
        self.ops.pop_front()
    }

    /// The next change of what this node processes.
    pub fn poll_ownership(&mut self) -> Option<Ownership> {
        self.changes.pop_front()
    }

    /// The partitions this node processes now, with their epochs.
    pub fn owned(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.held.iter().map(|(&p, h)| (p, h.epoch))
    }

    /// Until when (this node's clock, Unix ms) partition `partition` may be
    /// processed here: `None` when it is not this node's. Checked before
    /// each message, it keeps a node that was stopped from processing
    /// anything on waking, before its ownership has been looked at again.
    pub fn valid_until(&self, partition: u32) -> Option<i64> {
        self.held.get(&partition).map(|h| h.valid_until_ms)
    }

    /// Partitions nobody holds, as far as this node knows.
    pub fn unowned(&self) -> usize {
        (0..self.partitions)
            .filter(|p| !self.holders.contains_key(p))
            .count()
    }

    fn expire(&mut self, now_ms: i64) {
        let lapsed: Vec<u32> = self
            .held
            .iter()
            .filter(|(_, h)| now_ms >= h.valid_until_ms)
            .map(|(&p, _)| p)
            .collect();
        for partition in lapsed {
            self.held.remove(&partition);
            self.changes.push_back(Ownership::Lost { partition });
        }
    }

    /// Claims what should be this node's and is free, renews what it
    /// holds, gives up what should be another live node's.
    fn plan(&mut self, now_ms: i64) {
        self.expire(now_ms);
        let names: Vec<&str> = self.members.iter().map(String::as_str).collect();
        let target = assign(&names, self.partitions);
        for p in 0..self.partitions {
            let mine = names[target[p as usize]] == self.me;
            let busy = self.claiming.contains_key(&p) || self.releasing.contains_key(&p);
            if let Some(h) = self.held.get_mut(&p) {
                if !mine && !busy && !self.sticky {
                    let revision = h.revision;
                    self.held.remove(&p);
                    self.changes.push_back(Ownership::Lost { partition: p });
                    self.releasing.insert(p, ());
                    self.ops.push_back(LeaseOp::Release {
                        partition: p,
                        revision,
                    });
                } else if h.renewing_since.is_none() && now_ms >= h.next_renew_ms {
                    h.renewing_since = Some(now_ms);
                    self.ops.push_back(LeaseOp::Renew {
                        partition: p,
                        revision: h.revision,
                    });
                }
            } else if mine && !busy && !self.holders.contains_key(&p) {
                self.claiming.insert(p, now_ms);
                self.ops.push_back(LeaseOp::Claim { partition: p });
            }
        }
    }
}

#[cfg(test)]
mod tests;
