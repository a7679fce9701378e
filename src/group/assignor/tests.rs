//! Unit tests for the assignors: exact outputs on small cases, balance, stickiness (moves
//! counted against the previous assignment), and a seeded random-membership property test that
//! checks every module-level invariant against independent reference implementations (claims
//! and a brute-force hash ring).

use super::consistent_hash::{member_point, partition_point, splitmix64};
use super::*;

fn members(ids: &[u32]) -> Vec<MemberInfo> {
    ids.iter().copied().map(MemberInfo::new).collect()
}

/// Owner ids per partition.
fn owner_ids(out: &[usize], members: &[MemberInfo]) -> Vec<u32> {
    out.iter().map(|&i| members[i].id.get()).collect()
}

/// `members` with `owned` filled from an assignment given as owner ids per partition.
fn with_owned(ids: &[u32], owners: &[u32]) -> Vec<MemberInfo> {
    ids.iter()
        .map(|&id| {
            let owned = (0..owners.len() as u32)
                .filter(|&p| owners[p as usize] == id)
                .collect();
            MemberInfo::new(id).with_owned(owned)
        })
        .collect()
}

/// Partitions whose owner changed, over the partitions present in both.
fn moved(before: &[u32], after: &[u32]) -> usize {
    before.iter().zip(after).filter(|(a, b)| a != b).count()
}

fn counts(out: &[usize], n: usize) -> Vec<usize> {
    let mut c = vec![0; n];
    for &i in out {
        c[i] += 1;
    }
    c
}

fn spread(out: &[usize], n: usize) -> usize {
    let c = counts(out, n);
    c.iter().max().unwrap() - c.iter().min().unwrap()
}

/// A consistent-hash assignor with a vnode count the test knows is valid.
fn ch(vnodes: u32) -> ConsistentHashAssignor {
    ConsistentHashAssignor::new(vnodes).expect("valid vnode count")
}

/// Reference consistent hashing: brute-force clockwise distance to every point.
fn reference_ring(vnodes: u32, partitions: u32, members: &[MemberInfo]) -> Vec<usize> {
    (0..partitions)
        .map(|p| {
            let h = partition_point(p);
            let mut best = (u64::MAX, u32::MAX, u32::MAX, 0);
            for (i, m) in members.iter().enumerate() {
                for v in 0..vnodes {
                    let d = member_point(m.id, v).wrapping_sub(h);
                    best = best.min((d, m.id.get(), v, i));
                }
            }
            best.3
        })
        .collect()
}

#[test]
fn splitmix64_matches_reference_vector() {
    // First outputs of the reference splitmix64 generator seeded with 0.
    assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    assert_eq!(splitmix64(0x9E37_79B9_7F4A_7C15), 0x6E78_9E6A_A1B9_65F4);
}

#[test]
fn names() {
    assert_eq!(RangeAssignor.name(), "range");
    assert_eq!(RoundRobinAssignor.name(), "round-robin");
    assert_eq!(StickyAssignor.name(), "sticky");
    assert_eq!(WeightedAssignor.name(), "weighted");
    assert_eq!(ConsistentHashAssignor::default().name(), "consistent-hash");
}

/// Every assignor, with `ch` as the consistent-hash one.
fn all_assignors(ch: &ConsistentHashAssignor) -> [&dyn Assignor; 5] {
    [
        &RangeAssignor,
        &RoundRobinAssignor,
        &StickyAssignor,
        &WeightedAssignor,
        ch,
    ]
}

#[test]
fn zero_partitions_and_no_members() {
    for a in all_assignors(&ConsistentHashAssignor::default()) {
        assert!(a.assign(0, &members(&[1, 2])).is_empty());
        assert!(a.assign(0, &[]).is_empty());
    }
}

#[test]
fn range_exact() {
    let m = members(&[10, 20, 30]);
    assert_eq!(RangeAssignor.assign(7, &m), [0, 0, 0, 1, 1, 2, 2]);
    assert_eq!(RangeAssignor.assign(6, &m), [0, 0, 1, 1, 2, 2]);
    assert_eq!(RangeAssignor.assign(2, &m), [0, 1]);
    assert_eq!(RangeAssignor.assign(3, &members(&[5])), [0, 0, 0]);
}

#[test]
fn round_robin_exact() {
    let m = members(&[10, 20, 30]);
    assert_eq!(RoundRobinAssignor.assign(7, &m), [0, 1, 2, 0, 1, 2, 0]);
    assert_eq!(RoundRobinAssignor.assign(2, &m), [0, 1]);
}

#[test]
fn range_round_robin_balanced() {
    for n in 1..=9u32 {
        let m = members(&(1..=n).collect::<Vec<_>>());
        for p in 0..=50 {
            assert!(spread(&RangeAssignor.assign(p, &m), n as usize) <= 1);
            assert!(spread(&RoundRobinAssignor.assign(p, &m), n as usize) <= 1);
        }
    }
}

#[test]
fn sticky_without_owned_is_range() {
    for n in 1..=6u32 {
        let m = members(&(1..=n).collect::<Vec<_>>());
        for p in 0..=30 {
            assert_eq!(StickyAssignor.assign(p, &m), RangeAssignor.assign(p, &m));
        }
    }
}

#[test]
fn sticky_exact_conflicts_and_out_of_range() {
    // 1 lists 0, 1 and out-of-range 9; 2 lists 1 (already 1's) and 2. Quota 2 each.
    let m = vec![
        MemberInfo::new(1).with_owned(vec![1, 0, 9, 0]),
        MemberInfo::new(2).with_owned(vec![1, 2]),
    ];
    assert_eq!(StickyAssignor.assign(4, &m), [0, 0, 1, 1]);
}

#[test]
fn sticky_gives_extra_seat_to_bigger_owner() {
    // 5 over 2: range would give member 1 three; sticky lets member 2 keep its three.
    let m = vec![
        MemberInfo::new(1).with_owned(vec![0, 1]),
        MemberInfo::new(2).with_owned(vec![2, 3, 4]),
    ];
    assert_eq!(StickyAssignor.assign(5, &m), [0, 0, 1, 1, 1]);
}

#[test]
fn sticky_over_quota_member_sheds_highest() {
    // Member 1 owns everything; member 2 joins: 1 keeps its lowest 3.
    let m = vec![
        MemberInfo::new(1).with_owned(vec![5, 4, 3, 2, 1, 0]),
        MemberInfo::new(2),
    ];
    assert_eq!(StickyAssignor.assign(6, &m), [0, 0, 0, 1, 1, 1]);
}

#[test]
fn sticky_join_moves_minimum() {
    let three = StickyAssignor.assign(12, &members(&[1, 2, 3]));
    let before = owner_ids(&three, &members(&[1, 2, 3]));
    let m = with_owned(&[1, 2, 3, 4], &before);
    let out = StickyAssignor.assign(12, &m);
    let after = owner_ids(&out, &m);
    assert_eq!(moved(&before, &after), 3);
    assert_eq!(counts(&out, 4), [3, 3, 3, 3]);
    // Every moved partition went to the new member.
    for p in 0..12 {
        if before[p] != after[p] {
            assert_eq!(after[p], 4);
        }
    }
}

#[test]
fn sticky_leave_moves_only_leavers_partitions() {
    let four = members(&[1, 2, 3, 4]);
    let before = owner_ids(&StickyAssignor.assign(12, &four), &four);
    let m = with_owned(&[1, 2, 4], &before);
    let after = owner_ids(&StickyAssignor.assign(12, &m), &m);
    assert_eq!(moved(&before, &after), 3);
    for p in 0..12 {
        if before[p] != 3 {
            assert_eq!(before[p], after[p]);
        }
    }
}

#[test]
fn weighted_proportions() {
    let m = vec![
        MemberInfo::new(1).with_weight(1),
        MemberInfo::new(2).with_weight(2),
        MemberInfo::new(3).with_weight(5),
    ];
    let out = WeightedAssignor.assign(16, &m);
    assert_eq!(counts(&out, 3), [2, 4, 10]);
    let mut expected = vec![0, 0, 1, 1, 1, 1];
    expected.extend([2; 10]);
    assert_eq!(out, expected);
}

#[test]
fn weighted_ties_and_zero_weight() {
    // Equal weights: extra seat to the first in id order, like range.
    let m = members(&[1, 2, 3]);
    assert_eq!(WeightedAssignor.assign(4, &m), [0, 0, 1, 2]);
    // Weight 0 counts as 1.
    let m = vec![
        MemberInfo::new(1).with_weight(0),
        MemberInfo::new(2).with_weight(1),
    ];
    assert_eq!(counts(&WeightedAssignor.assign(6, &m), 2), [3, 3]);
    // Largest remainder: 10 over weights 1,1,1,3 -> shares 1.67,1.67,1.67,5 -> 2,2,1,5.
    let m = vec![
        MemberInfo::new(1),
        MemberInfo::new(2),
        MemberInfo::new(3),
        MemberInfo::new(4).with_weight(3),
    ];
    assert_eq!(counts(&WeightedAssignor.assign(10, &m), 4), [2, 2, 1, 5]);
}

#[test]
fn weighted_huge_weights_do_not_overflow() {
    let m = vec![
        MemberInfo::new(1).with_weight(u32::MAX),
        MemberInfo::new(2).with_weight(u32::MAX),
        MemberInfo::new(3).with_weight(1),
    ];
    assert_eq!(counts(&WeightedAssignor.assign(10, &m), 3), [5, 5, 0]);
}

#[test]
fn weighted_is_sticky() {
    // 8 over 1,1 -> each owns 4; member 2 re-weights to 3 -> quotas 2, 6.
    let before = [1, 1, 1, 1, 2, 2, 2, 2];
    let mut m = with_owned(&[1, 2], &before);
    m[1].weight = 3;
    let out = WeightedAssignor.assign(8, &m);
    // Member 1 keeps its lowest two; member 2 keeps all four and takes 2 and 3.
    assert_eq!(out, [0, 0, 1, 1, 1, 1, 1, 1]);
    let after = owner_ids(&out, &m);
    assert_eq!(moved(&before, &after), 2);
}

#[test]
fn consistent_hash_matches_reference_and_ignores_positions() {
    for vnodes in [1, 3, 64] {
        let a = ch(vnodes);
        let m = members(&[3, 17, 42, 99]);
        let out = a.assign(40, &m);
        assert_eq!(out, reference_ring(vnodes, 40, &m));
        // Weights and owned lists do not matter.
        let mut m2 = m.clone();
        m2[0].weight = 9;
        m2[1].owned = vec![0, 1, 2];
        assert_eq!(a.assign(40, &m2), out);
    }
    assert_eq!(ch(8).assign(5, &members(&[7])), [0; 5]);
    assert_eq!(ConsistentHashAssignor::default().virtual_nodes(), 64);
}

#[test]
fn consistent_hash_rejects_bad_vnode_counts() {
    let max = ConsistentHashAssignor::MAX_VIRTUAL_NODES;
    assert_eq!(
        ConsistentHashAssignor::new(0).unwrap_err(),
        AssignorError::ZeroVirtualNodes
    );
    for requested in [max + 1, u32::MAX] {
        assert_eq!(
            ConsistentHashAssignor::new(requested).unwrap_err(),
            AssignorError::TooManyVirtualNodes { requested, max }
        );
    }
    assert_eq!(ch(1).virtual_nodes(), 1);
    assert_eq!(ch(max).virtual_nodes(), max);
    let err: Box<dyn std::error::Error> = Box::new(AssignorError::ZeroVirtualNodes);
    assert_eq!(
        err.to_string(),
        "a consistent-hash ring needs at least 1 virtual node per member"
    );
}

#[test]
fn consistent_hash_max_vnodes_gives_a_valid_assignment() {
    let a = ch(ConsistentHashAssignor::MAX_VIRTUAL_NODES);
    let m = members(&[2, 3, 5, 8, 13, 21, 34, 55]);
    let out = a.assign(100, &m);
    assert_eq!(out.len(), 100);
    assert!(out.iter().all(|&i| i < m.len()));
    assert_eq!(out, reference_ring(a.virtual_nodes(), 100, &m));
    // 4096 points each spread 100 partitions over all eight members.
    assert!(counts(&out, m.len()).iter().all(|&c| c > 0));
}

#[test]
fn consistent_hash_points_unchanged_by_member_id() {
    // Recorded when ids were u64: hashing `id.get()` widened to u64 keeps every point.
    assert_eq!(
        member_point(MemberId::from(12345), 9),
        0x9ee6_a54e_1f93_764e
    );
    let m = members(&[1, 2, 3, 7, 1000]);
    let golden: [(u32, [usize; 24]); 3] = [
        (
            1,
            [
                0, 1, 0, 0, 3, 4, 3, 0, 0, 4, 0, 0, 0, 3, 4, 0, 4, 0, 3, 1, 0, 0, 0, 0,
            ],
        ),
        (
            3,
            [
                0, 1, 0, 3, 3, 4, 3, 0, 4, 4, 4, 3, 0, 1, 4, 4, 4, 4, 1, 1, 4, 0, 4, 0,
            ],
        ),
        (
            64,
            [
                2, 2, 1, 4, 2, 2, 1, 3, 4, 4, 0, 4, 2, 3, 0, 2, 0, 4, 4, 2, 1, 2, 0, 4,
            ],
        ),
    ];
    for (vnodes, want) in golden {
        assert_eq!(ch(vnodes).assign(24, &m), want);
    }
}

#[test]
fn consistent_hash_leave_and_join() {
    let a = ConsistentHashAssignor::default();
    let four = members(&[1, 2, 3, 4]);
    let before = owner_ids(&a.assign(64, &four), &four);
    // Every member got something with 64 vnodes and 64 partitions.
    for id in 1..=4 {
        assert!(before.contains(&id));
    }
    // Leave: only the leaver's partitions move.
    let three = members(&[1, 2, 4]);
    let after = owner_ids(&a.assign(64, &three), &three);
    for p in 0..64 {
        if before[p] != 3 {
            assert_eq!(before[p], after[p]);
        }
    }
    // Join: moved partitions all go to the newcomer.
    let five = members(&[1, 2, 3, 4, 5]);
    let joined = owner_ids(&a.assign(64, &five), &five);
    assert!(moved(&before, &joined) > 0);
    for p in 0..64 {
        if before[p] != joined[p] {
            assert_eq!(joined[p], 5);
        }
    }
}

/// Tiny deterministic xorshift64* generator.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Claims as the sticky/weighted assignors must resolve them (independent re-implementation):
/// for each partition, the first member in id order listing it.
fn reference_claims(partitions: u32, members: &[MemberInfo]) -> Vec<Option<usize>> {
    (0..partitions)
        .map(|p| members.iter().position(|m| m.owned.contains(&p)))
        .collect()
}

#[test]
fn property_random_membership() {
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    let ch = self::ch(16);
    let all = all_assignors(&ch);
    // Current group: (id, weight), sorted by id.
    let mut group: Vec<(u32, u32)> = vec![(1, 1)];
    let mut next_id = 2;
    let mut partitions: u32 = 12;
    // Previous assignment of each assignor, as owner ids.
    let mut prev: Vec<Vec<u32>> = vec![Vec::new(); all.len()];

    for step in 0..500 {
        // Mutate membership / partition count.
        let old_partitions = partitions;
        let mut left: Option<u32> = None;
        let mut joined: Option<u32> = None;
        match rng.below(10) {
            0..=3 if group.len() < 12 => {
                group.push((next_id, rng.below(9) as u32)); // weight 0..=8, 0 means 1
                joined = Some(next_id);
                next_id += 1;
            }
            0..=6 if group.len() > 1 => {
                let i = rng.below(group.len() as u64) as usize;
                left = Some(group.remove(i).0);
            }
            7 => partitions = rng.below(41) as u32,
            8 => {
                let i = rng.below(group.len() as u64) as usize;
                group[i].1 = rng.below(9) as u32;
            }
            _ => {}
        }
        let n = group.len();

        for (k, a) in all.iter().enumerate() {
            let mut members: Vec<MemberInfo> = group
                .iter()
                .map(|&(id, w)| {
                    let owned = (0..prev[k].len() as u32)
                        .filter(|&p| prev[k][p as usize] == id)
                        .collect();
                    MemberInfo::new(id).with_weight(w).with_owned(owned)
                })
                .collect();
            // Occasionally add noise: a duplicate or out-of-range claim.
            if rng.below(4) == 0 {
                let i = rng.below(n as u64) as usize;
                members[i].owned.push(rng.below(50) as u32);
            }

            let out = a.assign(partitions, &members);
            let ctx = format!("step {step} {} P={partitions} n={n}", a.name());
            assert_eq!(out.len(), partitions as usize, "{ctx}");
            assert!(out.iter().all(|&i| i < n), "{ctx}");
            assert_eq!(
                a.assign(partitions, &members),
                out,
                "{ctx}: nondeterministic"
            );
            let c = counts(&out, n);
            let p = partitions as usize;

            match a.name() {
                "range" | "round-robin" => assert!(spread(&out, n) <= 1, "{ctx}"),
                "sticky" => {
                    assert!(spread(&out, n) <= 1, "{ctx}");
                    let claims = reference_claims(partitions, &members);
                    let mut claimed = vec![0usize; n];
                    for &i in claims.iter().flatten() {
                        claimed[i] += 1;
                    }
                    let base = p / n;
                    // A member claiming no more than the floor quota keeps everything.
                    for (q, cl) in claims.iter().enumerate() {
                        if let Some(i) = *cl {
                            if claimed[i] <= base {
                                assert_eq!(out[q], i, "{ctx}: moved p{q}");
                            }
                        }
                    }
                    // Total moves of claimed partitions is the balanced minimum.
                    let over: usize = claimed.iter().map(|&x| x.saturating_sub(base)).sum();
                    let big = claimed.iter().filter(|&&x| x > base).count();
                    let min_moves = over - big.min(p % n);
                    let moves = claims
                        .iter()
                        .zip(&out)
                        .filter(|(cl, o)| cl.is_some_and(|i| i != **o))
                        .count();
                    assert_eq!(moves, min_moves, "{ctx}");
                }
                "weighted" => {
                    let total: u64 = group.iter().map(|&(_, w)| u64::from(w.max(1))).sum();
                    for (i, &(_, w)) in group.iter().enumerate() {
                        // |count - P*w/W| < 1  <=>  |count*W - P*w| < W
                        let exact = p as u64 * u64::from(w.max(1));
                        let got = c[i] as u64 * total;
                        assert!(got.abs_diff(exact) < total, "{ctx}: member {i}");
                    }
                    // Sticky-weighted: each member keeps min(claimed, quota).
                    let claims = reference_claims(partitions, &members);
                    for (i, &quota) in c.iter().enumerate() {
                        let claimed = claims.iter().filter(|&&cl| cl == Some(i)).count();
                        let kept = claims
                            .iter()
                            .zip(&out)
                            .filter(|&(&cl, &o)| cl == Some(i) && o == i)
                            .count();
                        assert_eq!(kept, claimed.min(quota), "{ctx}: member {i}");
                    }
                }
                "consistent-hash" => {
                    assert_eq!(out, reference_ring(16, partitions, &members), "{ctx}");
                    let after = owner_ids(&out, &members);
                    if partitions == old_partitions && !prev[k].is_empty() {
                        for (q, (&b, &o)) in prev[k].iter().zip(&after).enumerate() {
                            match (left, joined) {
                                (Some(l), _) if b != l => assert_eq!(b, o, "{ctx} p{q}"),
                                (_, Some(j)) if b != o => assert_eq!(o, j, "{ctx} p{q}"),
                                (None, None) => assert_eq!(b, o, "{ctx} p{q}"),
                                _ => {}
                            }
                        }
                    }
                }
                other => unreachable!("{other}"),
            }
            prev[k] = owner_ids(&out, &members);
        }
    }
}
