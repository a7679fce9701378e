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
//!   has exactly one owner (the one exception: [`ConsistentHashAssignor`] returns an empty `Vec`
//!   if the memory for its ring cannot be allocated, which the group controller answers by
//!   using [`RangeAssignor`] for that round);
//! - is deterministic: the same input always gives the same output (no randomness, no global
//!   state, no hash-map iteration order);
//! - never panics, and never aborts on bad configuration: parameters are checked when the
//!   assignor is built ([`AssignorError`]).
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

use std::fmt;

use super::MemberId;

mod consistent_hash;
mod range;
mod sticky;
#[cfg(test)]
mod tests;

pub use consistent_hash::ConsistentHashAssignor;
pub use range::{RangeAssignor, RoundRobinAssignor};
pub use sticky::{StickyAssignor, WeightedAssignor};

/// A member as the assignor sees it.
///
/// # Examples
///
/// ```
/// use ringgroup::group::assignor::MemberInfo;
/// use ringgroup::group::MemberId;
///
/// let m = MemberInfo::new(7).with_weight(3).with_owned(vec![0, 4]);
/// assert_eq!(m, MemberInfo { id: MemberId::from(7), weight: 3, owned: vec![0, 4] });
/// assert_eq!(MemberInfo::new(1).weight, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// Unique, stable member id; members that joined later have larger ids.
    pub id: MemberId,
    /// Capacity weight declared by the member (`>= 1`; `0` is treated as `1`). Only
    /// [`WeightedAssignor`] looks at it.
    pub weight: u32,
    /// Partitions the member owns in the current assignment (for stickiness). Order does not
    /// matter; duplicates and out-of-range entries are ignored.
    pub owned: Vec<u32>,
}

impl MemberInfo {
    /// A member with weight 1 that owns nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::group::assignor::MemberInfo;
    /// use ringgroup::group::MemberId;
    ///
    /// let m = MemberInfo::new(7);
    /// assert_eq!(m.id, MemberId::from(7));
    /// assert_eq!(MemberInfo::new(MemberId::from(7)), m);
    /// assert_eq!((m.weight, m.owned.len()), (1, 0));
    /// ```
    pub fn new(id: impl Into<MemberId>) -> Self {
        MemberInfo {
            id: id.into(),
            weight: 1,
            owned: Vec::new(),
        }
    }

    /// Sets the capacity weight.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::group::assignor::MemberInfo;
    ///
    /// assert_eq!(MemberInfo::new(1).with_weight(4).weight, 4);
    /// ```
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets the partitions owned in the current assignment.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::group::assignor::MemberInfo;
    ///
    /// assert_eq!(MemberInfo::new(1).with_owned(vec![2, 5]).owned, [2, 5]);
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::group::assignor::{Assignor, StickyAssignor};
    ///
    /// assert_eq!(StickyAssignor.name(), "sticky");
    /// ```
    fn name(&self) -> &'static str;

    /// For each partition `0..partitions`, the index into `members` of its owner.
    ///
    /// `members` must be non-empty and sorted by id (ids unique). Returns exactly `partitions`
    /// entries, each `< members.len()`. With no members, returns an empty `Vec` (debug builds
    /// assert unless `partitions == 0`). An implementation that cannot compute an assignment
    /// may return a `Vec` of the wrong length instead of panicking: the group then uses
    /// [`RangeAssignor`] for that round.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::group::assignor::{Assignor, MemberInfo, RoundRobinAssignor};
    ///
    /// let members = [MemberInfo::new(4), MemberInfo::new(9)];
    /// assert_eq!(RoundRobinAssignor.assign(3, &members), [0, 1, 0]);
    /// ```
    fn assign(&self, partitions: u32, members: &[MemberInfo]) -> Vec<usize>;
}

/// Why an assignor could not be built.
///
/// # Examples
///
/// ```
/// use ringgroup::group::assignor::{AssignorError, ConsistentHashAssignor};
///
/// let err = ConsistentHashAssignor::new(1 << 20).unwrap_err();
/// assert_eq!(
///     err,
///     AssignorError::TooManyVirtualNodes { requested: 1 << 20, max: 4096 }
/// );
/// assert_eq!(
///     err.to_string(),
///     "1048576 virtual nodes per member exceeds the maximum of 4096"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssignorError {
    /// More virtual nodes per member than
    /// [`ConsistentHashAssignor::MAX_VIRTUAL_NODES`] were asked for.
    TooManyVirtualNodes {
        /// What was asked for.
        requested: u32,
        /// The largest count allowed.
        max: u32,
    },
    /// Zero virtual nodes per member were asked for (a member needs at least one ring point).
    ZeroVirtualNodes,
}

impl fmt::Display for AssignorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssignorError::TooManyVirtualNodes { requested, max } => write!(
                f,
                "{requested} virtual nodes per member exceeds the maximum of {max}"
            ),
            AssignorError::ZeroVirtualNodes => {
                write!(
                    f,
                    "a consistent-hash ring needs at least 1 virtual node per member"
                )
            }
        }
    }
}

impl std::error::Error for AssignorError {}

/// Runs `assign` over some of the partitions only (`partitions`, which it sees as `0..n` in
/// order), for members given as `(id, weight)` whose current partitions `owner_of` tells.
/// Returns, per entry of `partitions`, the index of its member (what `assign` returned).
pub(crate) fn assign_subset(
    assign: impl FnOnce(u32, &[MemberInfo]) -> Vec<usize>,
    partitions: &[u32],
    members: impl Iterator<Item = (u32, u32)>,
    owner_of: impl Fn(u32) -> u32,
) -> Vec<usize> {
    let owners: Vec<u32> = partitions.iter().map(|&p| owner_of(p)).collect();
    let infos: Vec<MemberInfo> = members
        .map(|(id, weight)| MemberInfo {
            id: MemberId::from(id),
            weight,
            owned: (0..partitions.len() as u32)
                .filter(|&i| owners[i as usize] == id)
                .collect(),
        })
        .collect();
    assign(partitions.len() as u32, &infos)
}

/// Checks the precondition; `false` means "return an empty assignment".
pub(super) fn has_members(partitions: u32, members: &[MemberInfo]) -> bool {
    debug_assert!(
        partitions == 0 || !members.is_empty(),
        "assignor called with {partitions} partitions and no members"
    );
    !members.is_empty()
}

/// Even quotas (`P / n`, and `P % n` members get one more): the extra seats go to the members
/// that sort first by `key`.
pub(super) fn even_quotas<K: Ord>(
    partitions: u32,
    n: usize,
    key: impl Fn(usize) -> K,
) -> Vec<usize> {
    let p = partitions as usize;
    let mut quotas = vec![p / n; n];
    add_seats(&mut quotas, p % n, key);
    quotas
}

/// Hands out `seats` extra seats, one each, to the members that sort first by `key` (a stable
/// sort, so ties keep member order). `seats <= quotas.len()`. Shared by the even and the
/// weighted quotas.
pub(super) fn add_seats<K: Ord>(quotas: &mut [usize], seats: usize, key: impl Fn(usize) -> K) {
    let mut order: Vec<usize> = (0..quotas.len()).collect();
    order.sort_by_key(|&i| key(i));
    for &i in &order[..seats] {
        quotas[i] += 1;
    }
}

/// Marks "no member" in [`Claims::claim`] and during placement.
const NOBODY: usize = usize::MAX;

/// The valid part of the previous assignment: who claims each partition.
pub(super) struct Claims {
    /// For each partition, the index of the first member (id order) listing it, or `NOBODY`.
    claim: Vec<usize>,
    /// For each member, how many partitions it claims.
    pub(super) counts: Vec<usize>,
}

impl Claims {
    pub(super) fn new(partitions: u32, members: &[MemberInfo]) -> Self {
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
    pub(super) fn place(&self, quotas: &[usize]) -> Vec<usize> {
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
