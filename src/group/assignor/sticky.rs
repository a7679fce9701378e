//! The assignors that keep what members already own: [`StickyAssignor`] and
//! [`WeightedAssignor`].
//!
//! Both work in two steps that differ only in the first: compute a quota per member, then place
//! with the shared claims pass (`Claims` in the parent module), which keeps each member's
//! lowest-numbered claimed partitions up to its quota and fills the rest ascending, members in
//! id order. Sticky's quotas are even (`P / n`, extra seats to the biggest claimers), which
//! makes the number of moved claims the balanced minimum; weighted's quotas are the
//! largest-remainder apportionment over the weights, so each count is within one of its exact
//! share and each member keeps `min(claimed, quota)`. Quotas always sum to `P`.

use std::cmp::Reverse;

use super::{add_seats, even_quotas, has_members, Assignor, Claims, MemberInfo};

/// Cooperative-sticky: balanced like [`RangeAssignor`](super::RangeAssignor), moving the fewest owned partitions.
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
/// `owned` lists the result equals [`RangeAssignor`](super::RangeAssignor)'s. Ignores `weight`.
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
    add_seats(&mut quotas, left, |i| (Reverse(p * weights[i] % total), i));
    quotas
}
