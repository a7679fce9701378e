//! The consistent-hash assignor: [`ConsistentHashAssignor`].
//!
//! Every member sits at `virtual_nodes` points of a 64-bit ring (splitmix64 of its id and the
//! vnode number); a partition goes to the owner of the first point at or after its own hash,
//! wrapping around. The output depends only on the member ids (not their positions, weights or
//! `owned` lists), ties on a point are broken by `(id, vnode)`, so it is deterministic, and a
//! join or leave moves only the partitions next to that member's points. There is no balance
//! guarantee, only a statistically even spread.

use super::{has_members, Assignor, AssignorError, MemberId, MemberInfo};

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
/// Building the ring costs `O(n * virtual_nodes)` memory and a sort. The vnode count is checked
/// once, by [`new`](Self::new): it is between 1 and [`MAX_VIRTUAL_NODES`](Self::MAX_VIRTUAL_NODES).
///
/// If the ring's memory cannot be allocated anyway (it is allocated fallibly), `assign` returns
/// an empty `Vec` instead of aborting the process. That breaks the length contract on purpose:
/// the group controller treats an output of the wrong length as a broken assignor and uses the
/// range assignor for that round.
///
/// # Examples
///
/// ```
/// use ringgroup::group::assignor::{Assignor, ConsistentHashAssignor, MemberInfo};
///
/// let a = ConsistentHashAssignor::default();
/// assert_eq!(a.virtual_nodes(), 64);
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
    /// Ring points per member, in `1..=MAX_VIRTUAL_NODES` (checked by `new`).
    virtual_nodes: u32,
}

impl ConsistentHashAssignor {
    /// Virtual nodes per member used by [`Default`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::group::assignor::ConsistentHashAssignor;
    ///
    /// let a = ConsistentHashAssignor::default();
    /// assert_eq!(a.virtual_nodes(), ConsistentHashAssignor::DEFAULT_VIRTUAL_NODES);
    /// ```
    pub const DEFAULT_VIRTUAL_NODES: u32 = 64;

    /// The most virtual nodes per member [`new`](Self::new) accepts: 4096.
    ///
    /// The ring is rebuilt and sorted on every rebalance while the group's control lock is held,
    /// at about 24 bytes a point, so 4096 points are 96 KiB per member (a 1,000-member group
    /// builds a 96 MiB ring). More points buy nothing visible: a member's share of the ring
    /// deviates from fair by about `1 / sqrt(virtual_nodes)` (1.6% at 4096), while the
    /// partitions, which land at hashed points too, add about `1 / sqrt(k)` for `k` partitions
    /// per member; past 4096 virtual nodes the partitions' own noise dominates unless members
    /// hold more than 4096 partitions each.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::group::assignor::ConsistentHashAssignor;
    ///
    /// let max = ConsistentHashAssignor::MAX_VIRTUAL_NODES;
    /// assert!(ConsistentHashAssignor::new(max).is_ok());
    /// assert!(ConsistentHashAssignor::new(max + 1).is_err());
    /// ```
    pub const MAX_VIRTUAL_NODES: u32 = 4096;

    /// A consistent-hash assignor with `virtual_nodes` ring points per member.
    ///
    /// # Errors
    ///
    /// [`AssignorError::ZeroVirtualNodes`] for 0, and [`AssignorError::TooManyVirtualNodes`]
    /// above [`MAX_VIRTUAL_NODES`](Self::MAX_VIRTUAL_NODES).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::group::assignor::{AssignorError, ConsistentHashAssignor};
    ///
    /// let a = ConsistentHashAssignor::new(128)?;
    /// assert_eq!(a.virtual_nodes(), 128);
    /// assert_eq!(
    ///     ConsistentHashAssignor::new(0).unwrap_err(),
    ///     AssignorError::ZeroVirtualNodes
    /// );
    /// assert_eq!(
    ///     ConsistentHashAssignor::new(u32::MAX).unwrap_err(),
    ///     AssignorError::TooManyVirtualNodes { requested: u32::MAX, max: 4096 }
    /// );
    /// # Ok::<(), AssignorError>(())
    /// ```
    pub const fn new(virtual_nodes: u32) -> Result<Self, AssignorError> {
        if virtual_nodes == 0 {
            Err(AssignorError::ZeroVirtualNodes)
        } else if virtual_nodes > Self::MAX_VIRTUAL_NODES {
            Err(AssignorError::TooManyVirtualNodes {
                requested: virtual_nodes,
                max: Self::MAX_VIRTUAL_NODES,
            })
        } else {
            Ok(ConsistentHashAssignor { virtual_nodes })
        }
    }

    /// Ring points per member.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::group::assignor::ConsistentHashAssignor;
    ///
    /// assert_eq!(ConsistentHashAssignor::new(16)?.virtual_nodes(), 16);
    /// # Ok::<(), ringgroup::group::assignor::AssignorError>(())
    /// ```
    pub const fn virtual_nodes(&self) -> u32 {
        self.virtual_nodes
    }
}

impl Default for ConsistentHashAssignor {
    fn default() -> Self {
        ConsistentHashAssignor {
            virtual_nodes: Self::DEFAULT_VIRTUAL_NODES,
        }
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
        let vnodes = self.virtual_nodes;
        // (point, id, vnode, index): sorting the full tuple makes collisions deterministic.
        let mut ring: Vec<(u64, MemberId, u32, usize)> = Vec::new();
        // Fallible: a failed allocation returns the empty (wrong-length) output, see the type docs.
        let fits = members
            .len()
            .checked_mul(vnodes as usize)
            .is_some_and(|len| ring.try_reserve_exact(len).is_ok());
        if !fits {
            return Vec::new();
        }
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
