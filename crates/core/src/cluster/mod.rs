//! The decisions of a cluster of hub nodes on a shared log (NATS
//! JetStream in the shell): which node should own which partition of the
//! map ([`assignment`]), and one node's leases on its partitions
//! ([`lease`]), and the fencing of a stale holder's late writes ([`fence`]),
//! a partition's engine state as it moves between nodes
//! ([`partition_state`]), the device book as the nodes share it
//! ([`book`]), the devices' activity gathered from every node
//! ([`activity`]) and the rules in force and the mode ([`rules`]). Pure:
//! membership, the lease store's answers and the time go in, writes to
//! send and ownership changes come out.

pub mod activity;
pub mod assignment;
pub mod book;
pub mod fence;
pub mod lease;
pub mod partition_state;
pub mod rules;
