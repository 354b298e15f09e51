//! Which live node should own which partition: rendezvous hashing
//! (highest random weight) with a quota of ⌊partitions / nodes⌋ or one more
//! per node, so
//! the partitions spread evenly, each node computes the same answer from
//! the same membership, and a node joining or leaving moves few of them:
//! mostly the ones it takes or gives up.

/// The owner each partition should have, by partition: an index into
/// `nodes`. `nodes` are the live nodes' names (any order; the answer does
/// not depend on it). Empty when there is no node.
pub fn assign(nodes: &[&str], partitions: u32) -> Vec<usize> {
    if nodes.is_empty() {
        return Vec::new();
    }
    // Every node gets ⌊P/N⌋, and P mod N of them one more.
    let floor = partitions as usize / nodes.len();
    let mut extra = partitions as usize % nodes.len();
    let mut load = vec![0usize; nodes.len()];
    // Partitions in a fixed order, each to its most preferred node with
    // room. The order is by how strongly a partition prefers its first
    // choice, so the cap bends the weakest preferences.
    let mut ranked: Vec<(u32, Vec<usize>)> =
        (0..partitions).map(|p| (p, preference(nodes, p))).collect();
    ranked.sort_by_key(|(p, prefs)| (std::cmp::Reverse(weight(nodes[prefs[0]], *p)), *p));
    let mut owner = vec![0usize; partitions as usize];
    for (p, prefs) in ranked {
        let n = *prefs
            .iter()
            .find(|&&n| load[n] < floor || (load[n] == floor && extra > 0))
            .expect("the quotas add up to the partitions");
        if load[n] == floor {
            extra -= 1;
        }
        load[n] += 1;
        owner[p as usize] = n;
    }
    owner
}

/// The nodes by how much partition `p` wants them, most first (ties by
/// name, so the order is total).
fn preference(nodes: &[&str], p: u32) -> Vec<usize> {
    let mut prefs: Vec<usize> = (0..nodes.len()).collect();
    prefs.sort_by_key(|&n| (std::cmp::Reverse(weight(nodes[n], p)), nodes[n]));
    prefs
}

/// A node's weight for a partition: a 64-bit FNV-1a digest of both, then
/// mixed (FNV alone clusters on similar names).
fn weight(node: &str, p: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node.bytes().chain([0xff]).chain(p.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64's finalizer.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(owner: &[usize], nodes: usize) -> Vec<usize> {
        let mut c = vec![0; nodes];
        for &n in owner {
            c[n] += 1;
        }
        c
    }

    #[test]
    fn partitions_spread_evenly_and_every_node_agrees() {
        let nodes = ["hub-a", "hub-b", "hub-c"];
        let owner = assign(&nodes, 64);
        assert_eq!(owner.len(), 64);
        let c = counts(&owner, 3);
        assert!(c.iter().all(|&n| n == 21 || n == 22), "{c:?}");
        let reversed = ["hub-c", "hub-b", "hub-a"];
        let other = assign(&reversed, 64);
        for p in 0..64 {
            assert_eq!(nodes[owner[p]], reversed[other[p]], "partition {p}");
        }
    }

    #[test]
    fn a_node_that_leaves_gives_up_only_its_own_and_takes_them_back_on_return() {
        let three = ["hub-a", "hub-b", "hub-c"];
        let two = ["hub-a", "hub-b"];
        let before = assign(&three, 64);
        let after = assign(&two, 64);
        let kept = (0..64)
            .filter(|&p| three[before[p]] != "hub-c")
            .filter(|&p| three[before[p]] == two[after[p]])
            .count();
        let had = (0..64).filter(|&p| three[before[p]] != "hub-c").count();
        assert!(
            kept * 10 >= had * 8,
            "most partitions of the survivors stay: {kept} of {had}"
        );
        assert_eq!(counts(&after, 2), vec![32, 32]);
        assert_eq!(
            assign(&three, 64),
            before,
            "the same membership, the same answer"
        );
    }

    #[test]
    fn one_node_owns_all_and_none_owns_nothing() {
        assert_eq!(assign(&["solo"], 8), vec![0; 8]);
        assert!(assign(&[], 8).is_empty());
    }
}
