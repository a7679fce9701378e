//! The consistent-hash assignor: [`ConsistentHashAssignor`].
//!
//! Every member sits at `virtual_nodes` points of a 64-bit ring (splitmix64 of its id and the
//! vnode number); a partition goes to the owner of the first point at or after its own hash,
//! wrapping around. The output depends only on the member ids (not their positions, weights or
//! `owned` lists), ties on a point are broken by `(id, vnode)`, so it is deterministic, and a
//! join or leave moves only the partitions next to that member's points. There is no balance
//! guarantee, only a statistically even spread.

use super::{has_members, Assignor, MemberId, MemberInfo};

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
        let mut ring: Vec<(u64, MemberId, u32, usize)> =
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
pub(super) const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Ring position of virtual node `vnode` of member `id`.
pub(super) fn member_point(id: MemberId, vnode: u32) -> u64 {
    // Hashes the id widened to u64, so points are the same as when ids were u64.
    splitmix64(splitmix64(u64::from(id.get())).wrapping_add(u64::from(vnode)))
}

/// Ring position of a partition (a different domain from member points).
pub(super) fn partition_point(partition: u32) -> u64 {
    splitmix64(u64::from(partition) ^ 0xA076_1D64_78BD_642F)
}
