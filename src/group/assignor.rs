//! Partition assignors: pure functions from (partition count, members) to an owner per partition.
//!
//! The group controller calls an [`Assignor`] whenever membership (or the partition count)
//! changes and publishes the result. Assignors hold no state and do no synchronisation; the only
//! memory of the previous assignment they see is each member's [`MemberInfo::owned`] list.
//!
//! # Algorithms
//!
//! - [`RangeAssignor`] (Kafka `range`): contiguous ranges over the members in id order; the first
//!   `partitions % n` members get one extra partition.
//! - [`RoundRobinAssignor`]: partition `p` goes to member `p % n` in id order.
//! - [`StickyAssignor`] (Kafka `cooperative-sticky`): balanced like range, but keeps each
//!   member's owned partitions up to its quota and moves the fewest partitions possible; with no
//!   previous ownership it gives exactly the range assignment.
//! - [`WeightedAssignor`]: quotas proportional to [`MemberInfo::weight`] (largest-remainder, aka
//!   Hamilton, apportionment), placed stickily: owned partitions are kept up to the quota and the
//!   rest is filled contiguously in member order.
//! - [`ConsistentHashAssignor`]: each member sits at `virtual_nodes` points of a 64-bit hash ring
//!   and each partition goes to the next member point clockwise from its own hash; a join or a
//!   leave moves only the partitions next to that member's points.
//!
//! # Invariants
//!
//! For `members` non-empty and sorted by id, every assignor:
//!
//! - returns exactly `partitions` entries, each an index `< members.len()`, so every partition
//!   has exactly one owner;
//! - is deterministic: the same input always gives the same output (no randomness, no global
//!   state, no hash-map iteration order);
//! - never panics.
//!
//! Balance guarantees, with `n = members.len()` and `P = partitions`:
//!
//! | assignor | per-member count |
//! |---|---|
//! | range, round-robin, sticky | `P / n` or `P / n + 1` (max − min ≤ 1) |
//! | weighted | `floor` or `ceil` of `P * weight / total_weight` (within 1 of the exact share) |
//! | consistent-hash | none (statistical only; more virtual nodes, smoother spread) |
//!
//! Stickiness guarantees (given the `owned` lists of the previous assignment):
//!
//! - sticky: the number of previously owned partitions that change owner is the minimum any
//!   balanced assignment can achieve; a member that owned no more than `P / n` keeps them all.
//! - weighted: each member keeps `min(owned, quota)` of its owned partitions.
//! - consistent-hash: independent of `owned`; stable under joins and leaves by construction.
//!
//! Owned partitions that are out of range (`>= partitions`) are ignored, and a partition listed
//! by two members counts as owned by the first of them in id order only.
//!
//! # Preconditions
//!
//! `members` must be non-empty (when `partitions > 0`) and sorted by id with unique ids. With no
//! members an assignor returns an empty `Vec` (and debug builds assert when `partitions > 0`);
//! the controller never calls it without members.

use std::cmp::Reverse;

/// A member as the assignor sees it.
///
/// # Examples
///
/// ```
/// use ringgroup::group::assignor::MemberInfo;
///
/// let m = MemberInfo::new(7).with_weight(3).with_owned(vec![0, 4]);
/// assert_eq!(m, MemberInfo { id: 7, weight: 3, owned: vec![0, 4] });
/// assert_eq!(MemberInfo::new(1).weight, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// Unique, stable member id; members that joined later have larger ids.
    pub id: u64,
    /// Capacity weight declared by the member (`>= 1`; `0` is treated as `1`). Only
    /// [`WeightedAssignor`] looks at it.
    pub weight: u32,
    /// Partitions the member owns in the current assignment (for stickiness). Order does not
    /// matter; duplicates and out-of-range entries are ignored.
    pub owned: Vec<u32>,
}

impl MemberInfo {
    /// A member with weight 1 that owns nothing.
    pub fn new(id: u64) -> Self {
        MemberInfo {
            id,
            weight: 1,
            owned: Vec::new(),
        }
    }

    /// Sets the capacity weight.
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets the partitions owned in the current assignment.
    pub fn with_owned(mut self, owned: Vec<u32>) -> Self {
        self.owned = owned;
        self
    }
}

/// Computes an assignment of partitions to members.
///
/// Implementations are pure and deterministic; see the [module docs](self) for the invariants.
///
/// # Examples
///
/// ```
/// use ringgroup::group::assignor::{Assignor, MemberInfo, RangeAssignor, RoundRobinAssignor};
///
/// let members: Vec<MemberInfo> = (1..=3).map(MemberInfo::new).collect();
/// let assignors: [Box<dyn Assignor>; 2] = [Box::new(RangeAssignor), Box::new(RoundRobinAssignor)];
/// for a in &assignors {
///     let owners = a.assign(7, &members);
///     assert_eq!(owners.len(), 7);
///     assert!(owners.iter().all(|&i| i < members.len()));
/// }
/// assert_eq!(assignors[0].name(), "range");
/// ```
pub trait Assignor: Send + Sync + std::fmt::Debug + 'static {
    /// Short name, e.g. `"range"`.
    fn name(&self) -> &'static str;

    /// For each partition `0..partitions`, the index into `members` of its owner.
    ///
    /// `members` must be non-empty and sorted by id (ids unique). Returns exactly `partitions`
    /// entries, each `< members.len()`. With no members, returns an empty `Vec` (debug builds
    /// assert unless `partitions == 0`).
    fn assign(&self, partitions: u32, members: &[MemberInfo]) -> Vec<usize>;
}

/// Checks the precondition; `false` means "return an empty assignment".
fn has_members(partitions: u32, members: &[MemberInfo]) -> bool {
    debug_assert!(
        partitions == 0 || !members.is_empty(),
        "assignor called with {partitions} partitions and no members"
    );
    !members.is_empty()
}

/// Kafka's `range` assignor: contiguous ranges over the members in id order.
///
/// With `n` members, every member gets `partitions / n` consecutive partitions and the first
/// `partitions % n` members one more. Ignores `weight` and `owned`.
///
/// # Examples
///
/// ```
/// use ringgroup::group::assignor::{Assignor, MemberInfo, RangeAssignor};
///
/// let members: Vec<MemberInfo> = [10, 20, 30].into_iter().map(MemberInfo::new).collect();
/// assert_eq!(RangeAssignor.assign(7, &members), [0, 0, 0, 1, 1, 2, 2]);
/// assert_eq!(RangeAssignor.assign(2, &members), [0, 1]);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(&self, partitions: u32, members: &[MemberInfo]) -> Vec<usize> {
        if !has_members(partitions, members) {
            return Vec::new();
        }
        let quotas = even_quotas(partitions, members.len(), |i| i);
        fill_in_order(partitions as usize, &quotas)
    }
}

/// Round-robin: partition `p` goes to member `p % n`, members in id order.
///
/// Ignores `weight` and `owned`.
///
/// # Examples
///
/// ```
/// use ringgroup::group::assignor::{Assignor, MemberInfo, RoundRobinAssignor};
///
/// let members: Vec<MemberInfo> = [10, 20, 30].into_iter().map(MemberInfo::new).collect();
/// assert_eq!(RoundRobinAssignor.assign(7, &members), [0, 1, 2, 0, 1, 2, 0]);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn assign(&self, partitions: u32, members: &[MemberInfo]) -> Vec<usize> {
        if !has_members(partitions, members) {
            return Vec::new();
        }
        let n = members.len();
        (0..partitions as usize).map(|p| p % n).collect()
    }
}

/// Cooperative-sticky: balanced like [`RangeAssignor`], moving the fewest owned partitions.
///
/// 1. Claims: each in-range partition in a member's `owned` list is claimed by it, unless a
///    member earlier in id order already claimed it.
/// 2. Quotas: every member gets `partitions / n`; the `partitions % n` extra seats go to the
///    members that claim the most (ties: id order). This choice minimises moves.
/// 3. Keep: each member keeps its lowest-numbered claimed partitions up to its quota.
/// 4. Fill: the remaining partitions, ascending, go to members below quota, in id order.
///
/// The number of claimed partitions that change owner is the minimum possible for a balanced
/// assignment, and a member claiming at most `partitions / n` keeps every claim. With no
/// `owned` lists the result equals [`RangeAssignor`]'s. Ignores `weight`.
///
/// # Examples
///
/// ```
/// use ringgroup::group::assignor::{Assignor, MemberInfo, StickyAssignor};
///
/// // Two members own 6 partitions; a third joins and takes one from each.
/// let members = vec![
///     MemberInfo::new(1).with_owned(vec![0, 1, 2]),
///     MemberInfo::new(2).with_owned(vec![3, 4, 5]),
///     MemberInfo::new(3),
/// ];
/// assert_eq!(StickyAssignor.assign(6, &members), [0, 0, 2, 1, 1, 2]);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct StickyAssignor;

impl Assignor for StickyAssignor {
    fn name(&self) -> &'static str {
        "sticky"
    }

    fn assign(&self, partitions: u32, members: &[MemberInfo]) -> Vec<usize> {
        if !has_members(partitions, members) {
            return Vec::new();
        }
        let claims = Claims::new(partitions, members);
        // Extra seats to the biggest claimers first: each such seat saves one move.
        let quotas = even_quotas(partitions, members.len(), |i| {
            (Reverse(claims.counts[i]), i)
        });
        claims.place(&quotas)
    }
}

/// Weighted: quotas proportional to `weight`, placed stickily.
///
/// Quotas are the largest-remainder (Hamilton) apportionment of `partitions` seats over the
/// weights (`0` counts as `1`): each member gets `floor(partitions * w / W)`, and the seats left
/// go to the largest remainders, ties in id order. So each member's count is within 1 of its
/// exact share `partitions * w / W`. Quotas depend only on weights, never on `owned`.
///
/// Placement is sticky-weighted: each member keeps its lowest-numbered owned partitions up to
/// its quota (claims resolved as in [`StickyAssignor`]), then the remaining partitions, ascending,
/// fill the members below quota in id order. With no `owned` lists the ranges are contiguous.
///
/// # Examples
///
/// ```
/// use ringgroup::group::assignor::{Assignor, MemberInfo, WeightedAssignor};
///
/// let members = vec![
///     MemberInfo::new(1).with_weight(1),
///     MemberInfo::new(2).with_weight(3),
/// ];
/// assert_eq!(WeightedAssignor.assign(8, &members), [0, 0, 1, 1, 1, 1, 1, 1]);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct WeightedAssignor;

impl Assignor for WeightedAssignor {
    fn name(&self) -> &'static str {
        "weighted"
    }

    fn assign(&self, partitions: u32, members: &[MemberInfo]) -> Vec<usize> {
        if !has_members(partitions, members) {
            return Vec::new();
        }
        let quotas = weighted_quotas(partitions, members);
        Claims::new(partitions, members).place(&quotas)
    }
}

/// Consistent hashing on a 64-bit ring with virtual nodes.
///
/// Member `id` sits at `virtual_nodes` points `h(id, v)`, `v in 0..virtual_nodes`; partition
/// `p` hashes to `h(p)` and goes to the member owning the first point at or after it, wrapping
/// around. Hashes use the splitmix64 finaliser, so the result depends only on the member ids,
/// not on their positions, weights or `owned` lists. Points that collide are ordered by
/// `(id, v)`.
///
/// When a member leaves, only its partitions move; when one joins, only partitions that it takes
/// move. The spread is not balanced, only statistically even (more virtual nodes, smoother).
/// Building the ring costs `O(n * virtual_nodes)` memory and a sort; `virtual_nodes == 0` is
/// treated as `1`.
///
/// # Examples
///
/// ```
/// use ringgroup::group::assignor::{Assignor, ConsistentHashAssignor, MemberInfo};
///
/// let a = ConsistentHashAssignor::default();
/// assert_eq!(a.virtual_nodes, 64);
/// let three: Vec<MemberInfo> = [1, 2, 3].into_iter().map(MemberInfo::new).collect();
/// let two = &three[..2]; // member 3 leaves
/// let before = a.assign(32, &three);
/// let after = a.assign(32, two);
/// // Only member 3's partitions (index 2) moved.
/// for p in 0..32 {
///     if before[p] != 2 {
///         assert_eq!(before[p], after[p]);
///     }
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ConsistentHashAssignor {
    /// Ring points per member (`0` is treated as `1`).
    pub virtual_nodes: u32,
}

impl ConsistentHashAssignor {
    /// Virtual nodes per member used by [`Default`].
    pub const DEFAULT_VIRTUAL_NODES: u32 = 64;

    /// A consistent-hash assignor with `virtual_nodes` ring points per member.
    pub const fn new(virtual_nodes: u32) -> Self {
        ConsistentHashAssignor { virtual_nodes }
    }
}

impl Default for ConsistentHashAssignor {
    fn default() -> Self {
        Self::new(Self::DEFAULT_VIRTUAL_NODES)
    }
}

impl Assignor for ConsistentHashAssignor {
    fn name(&self) -> &'static str {
        "consistent-hash"
    }

    fn assign(&self, partitions: u32, members: &[MemberInfo]) -> Vec<usize> {
        if !has_members(partitions, members) {
            return Vec::new();
        }
        let vnodes = self.virtual_nodes.max(1);
        // (point, id, vnode, index): sorting the full tuple makes collisions deterministic.
        let mut ring: Vec<(u64, u64, u32, usize)> =
            Vec::with_capacity(members.len().saturating_mul(vnodes as usize));
        for (i, m) in members.iter().enumerate() {
            for v in 0..vnodes {
                ring.push((member_point(m.id, v), m.id, v, i));
            }
        }
        ring.sort_unstable();
        (0..partitions)
            .map(|p| {
                let h = partition_point(p);
                let at = ring.partition_point(|e| e.0 < h);
                ring.get(at).unwrap_or(&ring[0]).3
            })
            .collect()
    }
}

/// One splitmix64 step: a strong 64-bit mixer (bijective).
const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Ring position of virtual node `vnode` of member `id`.
fn member_point(id: u64, vnode: u32) -> u64 {
    splitmix64(splitmix64(id).wrapping_add(u64::from(vnode)))
}

/// Ring position of a partition (a different domain from member points).
fn partition_point(partition: u32) -> u64 {
    splitmix64(u64::from(partition) ^ 0xA076_1D64_78BD_642F)
}

/// Even quotas (`P / n`, and `P % n` members get one more): the extra seats go to the members
/// that sort first by `key`.
fn even_quotas<K: Ord>(partitions: u32, n: usize, key: impl Fn(usize) -> K) -> Vec<usize> {
    let p = partitions as usize;
    let mut quotas = vec![p / n; n];
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| key(i));
    for &i in &order[..p % n] {
        quotas[i] += 1;
    }
    quotas
}

/// Largest-remainder apportionment of `partitions` seats over the members' weights.
fn weighted_quotas(partitions: u32, members: &[MemberInfo]) -> Vec<usize> {
    let weights: Vec<u128> = members
        .iter()
        .map(|m| u128::from(m.weight.max(1)))
        .collect();
    let total: u128 = weights.iter().sum();
    let p = u128::from(partitions);
    // floor(p * w / total) <= p, which fits usize since it came from a u32.
    let mut quotas: Vec<usize> = weights.iter().map(|&w| (p * w / total) as usize).collect();
    // Fewer than n seats are left: the fractional parts are each < 1 and sum to an integer.
    let left = partitions as usize - quotas.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&i| (Reverse(p * weights[i] % total), i));
    for &i in &order[..left] {
        quotas[i] += 1;
    }
    quotas
}

/// Member `i` gets the next `quotas[i]` partitions, members in order. `quotas` sums to `p`.
fn fill_in_order(p: usize, quotas: &[usize]) -> Vec<usize> {
    debug_assert_eq!(quotas.iter().sum::<usize>(), p);
    let mut out = Vec::with_capacity(p);
    for (i, &q) in quotas.iter().enumerate() {
        out.extend(std::iter::repeat_n(i, q));
    }
    out
}

/// Marks "no member" in [`Claims::claim`] and during placement.
const NOBODY: usize = usize::MAX;

/// The valid part of the previous assignment: who claims each partition.
struct Claims {
    /// For each partition, the index of the first member (id order) listing it, or `NOBODY`.
    claim: Vec<usize>,
    /// For each member, how many partitions it claims.
    counts: Vec<usize>,
}

impl Claims {
    fn new(partitions: u32, members: &[MemberInfo]) -> Self {
        let mut claim = vec![NOBODY; partitions as usize];
        let mut counts = vec![0; members.len()];
        for (i, m) in members.iter().enumerate() {
            for &p in &m.owned {
                // Out of range: ignored. Already claimed (by an earlier member, or a duplicate
                // in this member's own list): ignored.
                if let Some(slot) = claim.get_mut(p as usize) {
                    if *slot == NOBODY {
                        *slot = i;
                        counts[i] += 1;
                    }
                }
            }
        }
        Claims { claim, counts }
    }

    /// Keeps claims up to each member's quota (lowest partitions first), then fills the members
    /// below quota, in order, with the rest (ascending). `quotas` must sum to the partition count.
    fn place(&self, quotas: &[usize]) -> Vec<usize> {
        debug_assert_eq!(quotas.iter().sum::<usize>(), self.claim.len());
        let mut out = vec![NOBODY; self.claim.len()];
        let mut filled = vec![0; quotas.len()];
        for (slot, &c) in out.iter_mut().zip(&self.claim) {
            if c != NOBODY && filled[c] < quotas[c] {
                *slot = c;
                filled[c] += 1;
            }
        }
        // Partitions left == seats left, so the cursor never runs past the last member.
        let mut m = 0;
        for slot in out.iter_mut().filter(|s| **s == NOBODY) {
            while filled[m] >= quotas[m] {
                m += 1;
            }
            *slot = m;
            filled[m] += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(ids: &[u64]) -> Vec<MemberInfo> {
        ids.iter().copied().map(MemberInfo::new).collect()
    }

    /// Owner ids per partition.
    fn owner_ids(out: &[usize], members: &[MemberInfo]) -> Vec<u64> {
        out.iter().map(|&i| members[i].id).collect()
    }

    /// `members` with `owned` filled from an assignment given as owner ids per partition.
    fn with_owned(ids: &[u64], owners: &[u64]) -> Vec<MemberInfo> {
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
    fn moved(before: &[u64], after: &[u64]) -> usize {
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

    /// Reference consistent hashing: brute-force clockwise distance to every point.
    fn reference_ring(vnodes: u32, partitions: u32, members: &[MemberInfo]) -> Vec<usize> {
        (0..partitions)
            .map(|p| {
                let h = partition_point(p);
                let mut best = (u64::MAX, u64::MAX, u32::MAX, 0);
                for (i, m) in members.iter().enumerate() {
                    for v in 0..vnodes.max(1) {
                        let d = member_point(m.id, v).wrapping_sub(h);
                        best = best.min((d, m.id, v, i));
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

    #[test]
    fn zero_partitions_and_no_members() {
        let all: [&dyn Assignor; 5] = [
            &RangeAssignor,
            &RoundRobinAssignor,
            &StickyAssignor,
            &WeightedAssignor,
            &ConsistentHashAssignor::default(),
        ];
        for a in all {
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
        for n in 1..=9u64 {
            let m = members(&(1..=n).collect::<Vec<_>>());
            for p in 0..=50 {
                assert!(spread(&RangeAssignor.assign(p, &m), n as usize) <= 1);
                assert!(spread(&RoundRobinAssignor.assign(p, &m), n as usize) <= 1);
            }
        }
    }

    #[test]
    fn sticky_without_owned_is_range() {
        for n in 1..=6u64 {
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
        for vnodes in [0, 1, 3, 64] {
            let a = ConsistentHashAssignor::new(vnodes);
            let m = members(&[3, 17, 42, 99]);
            let out = a.assign(40, &m);
            assert_eq!(out, reference_ring(vnodes, 40, &m));
            // Weights and owned lists do not matter.
            let mut m2 = m.clone();
            m2[0].weight = 9;
            m2[1].owned = vec![0, 1, 2];
            assert_eq!(a.assign(40, &m2), out);
        }
        assert_eq!(
            ConsistentHashAssignor::new(8).assign(5, &members(&[7])),
            [0; 5]
        );
        assert_eq!(ConsistentHashAssignor::default().virtual_nodes, 64);
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
        let ch = ConsistentHashAssignor::new(16);
        let all: [&dyn Assignor; 5] = [
            &RangeAssignor,
            &RoundRobinAssignor,
            &StickyAssignor,
            &WeightedAssignor,
            &ch,
        ];
        // Current group: (id, weight), sorted by id.
        let mut group: Vec<(u64, u32)> = vec![(1, 1)];
        let mut next_id = 2;
        let mut partitions: u32 = 12;
        // Previous assignment of each assignor, as owner ids.
        let mut prev: Vec<Vec<u64>> = vec![Vec::new(); all.len()];

        for step in 0..500 {
            // Mutate membership / partition count.
            let old_partitions = partitions;
            let mut left: Option<u64> = None;
            let mut joined: Option<u64> = None;
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
}
