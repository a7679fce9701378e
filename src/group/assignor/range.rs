//! The two stateless, balanced assignors: [`RangeAssignor`] and [`RoundRobinAssignor`].
//!
//! Both ignore `weight` and `owned` and look only at the member count. Range gives every member
//! `P / n` consecutive partitions, the first `P % n` members in id order one more, and lays them
//! out contiguously; round-robin deals partition `p` to member `p % n`. Invariants: exactly `P`
//! entries, each `< n`, and per-member counts that differ by at most one.

use super::{even_quotas, has_members, Assignor, MemberInfo};

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

/// Member `i` gets the next `quotas[i]` partitions, members in order. `quotas` sums to `p`.
fn fill_in_order(p: usize, quotas: &[usize]) -> Vec<usize> {
    debug_assert_eq!(quotas.iter().sum::<usize>(), p);
    let mut out = Vec::with_capacity(p);
    for (i, &q) in quotas.iter().enumerate() {
        out.extend(std::iter::repeat_n(i, q));
    }
    out
}
