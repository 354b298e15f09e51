//! The lease machine of several nodes against a store with the semantics
//! the shell relies on (create only if absent, compare-and-set on the
//! revision, keys lapse a ttl after their last write), on a manual clock.

use super::*;
use std::collections::BTreeMap;

const P: u32 = 16;

/// A KV bucket as JetStream keeps it: one revision counter, keys that
/// lapse `ttl_ms` after their last write.
#[derive(Default)]
struct Store {
    keys: BTreeMap<u32, (String, u64, i64)>,
    revision: u64,
    ttl_ms: i64,
}

impl Store {
    fn lapse(&mut self, now: i64) {
        let ttl = self.ttl_ms;
        self.keys.retain(|_, (_, _, at)| now - *at < ttl);
    }

    fn holder(&self, p: u32) -> Option<Holder> {
        self.keys.get(&p).map(|(node, revision, _)| Holder {
            node: node.clone(),
            revision: *revision,
        })
    }
}

struct Cluster {
    store: Store,
    nodes: Vec<(Leases, bool)>,
    now: i64,
    partitions: u32,
}

impl Cluster {
    fn new(names: &[&str]) -> Cluster {
        Cluster::of(names, P, false)
    }

    /// `names` sharing `partitions` leases, sticky ones or not.
    fn of(names: &[&str], partitions: u32, sticky: bool) -> Cluster {
        let t = LeaseTimings::default();
        let leases = |n: &str| {
            let l = Leases::new(n, partitions, t);
            if sticky {
                l.sticky()
            } else {
                l
            }
        };
        let mut c = Cluster {
            store: Store {
                ttl_ms: t.ttl_ms,
                ..Store::default()
            },
            nodes: names.iter().map(|n| (leases(n), true)).collect(),
            now: 0,
            partitions,
        };
        c.membership();
        c
    }

    fn alive(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, up)| *up)
            .map(|(l, _)| l.me.clone())
            .collect()
    }

    fn membership(&mut self) {
        let live = self.alive();
        for (l, up) in &mut self.nodes {
            if *up {
                l.set_members(self.now, live.clone());
            }
        }
    }

    /// Runs every live node's writes against the store, tells it what came
    /// of them and what the store holds, until nothing moves.
    fn settle(&mut self) {
        for _ in 0..10 {
            let mut any = false;
            for i in 0..self.nodes.len() {
                if !self.nodes[i].1 {
                    continue;
                }
                while let Some(op) = self.nodes[i].0.poll_op() {
                    any = true;
                    self.apply(i, op);
                }
            }
            self.store.lapse(self.now);
            for (l, up) in &mut self.nodes {
                if *up {
                    for p in 0..self.partitions {
                        l.observe(self.now, p, self.store.holder(p));
                    }
                }
            }
            if !any {
                return;
            }
        }
    }

    fn apply(&mut self, i: usize, op: LeaseOp) {
        let now = self.now;
        let s = &mut self.store;
        s.lapse(now);
        let me = self.nodes[i].0.me.clone();
        let l = &mut self.nodes[i].0;
        match op {
            LeaseOp::Claim { partition } => {
                if s.keys.contains_key(&partition) {
                    l.claim_failed(now, partition);
                } else {
                    s.revision += 1;
                    s.keys.insert(partition, (me, s.revision, now));
                    l.claimed(now, partition, s.revision);
                }
            }
            LeaseOp::Renew {
                partition,
                revision,
            } => match s.keys.get_mut(&partition) {
                Some(k) if k.1 == revision => {
                    s.revision += 1;
                    *k = (me, s.revision, now);
                    l.renewed(now, partition, s.revision);
                }
                _ => l.renew_failed(now, partition, true),
            },
            LeaseOp::Release {
                partition,
                revision,
            } => {
                if s.keys.get(&partition).is_some_and(|k| k.1 == revision) {
                    s.keys.remove(&partition);
                }
                l.released(now, partition);
            }
        }
    }

    /// Moves the clock in steps of `step` ms for `ms`, the nodes ticking.
    fn run(&mut self, ms: i64, step: i64) {
        let end = self.now + ms;
        while self.now < end {
            self.now += step;
            for (l, up) in &mut self.nodes {
                if *up {
                    l.handle_timeout(self.now);
                }
            }
            self.settle();
            self.check_exclusive();
        }
    }

    /// No partition is processed by two nodes at once.
    fn check_exclusive(&self) {
        let mut seen = BTreeMap::new();
        // (A node that is down or stopped processes nothing, whatever it
        // last believed.)
        for (l, _) in self.nodes.iter().filter(|(_, up)| *up) {
            for (p, _) in l.owned() {
                if let Some(other) = seen.insert(p, l.me.clone()) {
                    panic!(
                        "partition {p} owned by {other} and {} at {}",
                        l.me, self.now
                    );
                }
            }
        }
    }

    fn owned_by(&self, i: usize) -> usize {
        self.nodes[i].0.owned().count()
    }
}

#[test]
fn one_node_claims_every_partition_and_keeps_them_by_renewing() {
    let mut c = Cluster::new(&["solo"]);
    c.settle();
    assert_eq!(c.owned_by(0), P as usize);
    let gained = std::iter::from_fn(|| c.nodes[0].0.poll_ownership()).count();
    assert_eq!(gained, P as usize);
    c.run(60_000, 250);
    assert_eq!(c.owned_by(0), P as usize, "a minute later, still all");
    assert!(
        std::iter::from_fn(|| c.nodes[0].0.poll_ownership())
            .all(|o| matches!(o, Ownership::Gained { .. })),
        "nothing lost while renewing"
    );
}

#[test]
fn nodes_share_the_partitions_evenly_and_never_both_hold_one() {
    let mut c = Cluster::new(&["hub-a", "hub-b"]);
    c.run(10_000, 250);
    assert_eq!((c.owned_by(0), c.owned_by(1)), (8, 8));
    assert_eq!(c.nodes[0].0.unowned(), 0);
}

#[test]
fn a_dead_nodes_partitions_move_to_the_survivor_within_the_lease_time() {
    let mut c = Cluster::new(&["hub-a", "hub-b"]);
    c.run(5_000, 250);
    // hub-b dies: it renews nothing; membership has not noticed yet.
    c.nodes[1].1 = false;
    let died = c.now;
    let mut moved_at = None;
    while c.now < died + 20_000 {
        c.run(250, 250);
        if c.owned_by(0) == P as usize {
            moved_at.get_or_insert(c.now);
        }
        if c.now == died + 3_000 {
            // The members bucket forgets it (its own ttl).
            c.membership();
        }
    }
    let took = moved_at.expect("hub-a took over") - died;
    let limit = LeaseTimings::default().ttl_ms + 1_000;
    assert!(took <= limit, "moved in {took} ms");
}

#[test]
fn a_stalled_node_drops_its_partitions_before_it_does_anything_on_waking() {
    let mut c = Cluster::new(&["hub-a", "hub-b"]);
    c.run(5_000, 250);
    let stalled: Vec<u32> = c.nodes[1].0.owned().map(|(p, _)| p).collect();
    while c.nodes[1].0.poll_ownership().is_some() {}
    // SIGSTOP: hub-b neither renews nor hears; hub-a takes over.
    c.nodes[1].1 = false;
    c.run(3_000, 250);
    c.nodes[0].0.set_members(c.now, vec!["hub-a".into()]);
    c.run(10_000, 250);
    assert_eq!(c.owned_by(0), P as usize);
    // What it believed while asleep has lapsed by its own clock, whatever
    // it last heard.
    let woke = c.now;
    assert!(stalled
        .iter()
        .all(|&p| c.nodes[1].0.valid_until(p).is_some_and(|t| t <= woke)));
    // SIGCONT: its first step is a tick, and it gives up everything.
    c.nodes[1].1 = true;
    let now = c.now;
    c.nodes[1].0.handle_timeout(now);
    assert_eq!(c.owned_by(1), 0);
    let lost: Vec<u32> = std::iter::from_fn(|| c.nodes[1].0.poll_ownership())
        .map(|o| match o {
            Ownership::Lost { partition } => partition,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(lost, stalled);
    // Its renewals, if any, fail on the revision; it claims nothing held.
    c.membership();
    c.run(10_000, 250);
    c.check_exclusive();
    assert_eq!(c.owned_by(0) + c.owned_by(1), P as usize);
    assert_eq!(
        (c.owned_by(0), c.owned_by(1)),
        (8, 8),
        "and takes its share back"
    );
}

#[test]
fn a_joining_node_gets_its_share_from_the_others() {
    let mut c = Cluster::new(&["hub-a", "hub-b"]);
    c.run(5_000, 250);
    c.nodes
        .push((Leases::new("hub-c", P, LeaseTimings::default()), true));
    c.membership();
    c.run(5_000, 250);
    let counts: Vec<usize> = (0..3).map(|i| c.owned_by(i)).collect();
    assert_eq!(counts.iter().sum::<usize>(), P as usize);
    assert!(counts.iter().all(|&n| n == 5 || n == 6), "{counts:?}");
}

#[test]
fn a_sticky_role_stays_with_its_holder_when_others_come_and_moves_only_when_it_dies() {
    // One lease (the district's dispatch) among three nodes.
    let mut c = Cluster::of(&["hub-a", "hub-b", "hub-c"], 1, true);
    c.nodes[1].1 = false;
    c.nodes[2].1 = false;
    c.membership();
    c.run(10_000, 500);
    assert_eq!(c.owned_by(0), 1, "the only live node takes the role");
    // The others come: whoever the assignment prefers, the holder keeps it.
    c.nodes[1].1 = true;
    c.nodes[2].1 = true;
    c.membership();
    c.run(30_000, 500);
    assert_eq!((c.owned_by(0), c.owned_by(1), c.owned_by(2)), (1, 0, 0));
    // The holder dies: one survivor has it within the lease time.
    c.nodes[0].1 = false;
    c.membership();
    c.run(LeaseTimings::default().ttl_ms + 2_000, 500);
    assert_eq!(c.owned_by(1) + c.owned_by(2), 1);
}
