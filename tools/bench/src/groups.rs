//! What the scenarios that run consumer groups share: the `--assignor` flag's values and
//! settling an assignment before the clock starts.

use std::time::Duration;

use clap::ValueEnum;
use ringgroup::group::assignor::{
    ConsistentHashAssignor, RangeAssignor, RoundRobinAssignor, StickyAssignor, WeightedAssignor,
};
use ringgroup::group::{AssignedPartition, Consumer, Group, GroupBuilder, MemberId};
use ringgroup::ConsumeError;

/// The library's assignors, by their command-line names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AssignorKind {
    /// Contiguous ranges in member order.
    Range,
    /// Partition `p` to member `p mod n`.
    RoundRobin,
    /// Balanced, moving the fewest partitions.
    Sticky,
    /// Member points on a hash ring.
    ConsistentHash,
    /// Quotas proportional to `JoinOptions::weight`.
    Weighted,
}

impl AssignorKind {
    /// Every assignor, in the order runs alternate over them.
    pub const ALL: [AssignorKind; 5] = [
        AssignorKind::Range,
        AssignorKind::RoundRobin,
        AssignorKind::Sticky,
        AssignorKind::ConsistentHash,
        AssignorKind::Weighted,
    ];

    /// The assignor's name, as the library and the command line spell it.
    pub fn name(self) -> &'static str {
        match self {
            AssignorKind::Range => "range",
            AssignorKind::RoundRobin => "round-robin",
            AssignorKind::Sticky => "sticky",
            AssignorKind::ConsistentHash => "consistent-hash",
            AssignorKind::Weighted => "weighted",
        }
    }

    /// `builder` with this assignor.
    pub fn apply<T: Send + Sync + 'static>(self, builder: GroupBuilder<T>) -> GroupBuilder<T> {
        match self {
            AssignorKind::Range => builder.assignor(RangeAssignor),
            AssignorKind::RoundRobin => builder.assignor(RoundRobinAssignor),
            AssignorKind::Sticky => builder.assignor(StickyAssignor),
            AssignorKind::ConsistentHash => builder.assignor(ConsistentHashAssignor::default()),
            AssignorKind::Weighted => builder.assignor(WeightedAssignor),
        }
    }
}

/// Polls every member (there is no data yet) until the assignment stops changing and every
/// one of the topic's `partitions` has exactly one owner, which the group's table confirms: so
/// no partition moves once the clock runs.
pub fn settle<T: Send + Sync + 'static>(
    group: &Group<T>,
    consumers: &mut [Consumer<T>],
    partitions: u32,
) -> Result<(), String> {
    let mut previous = None;
    for _ in 0..1_000 {
        for consumer in consumers.iter_mut() {
            match consumer.poll(1, Duration::ZERO) {
                Err(ConsumeError::Timeout) => {}
                Ok(records) => {
                    return Err(format!(
                        "a message (partition {} offset {}) arrived before the start",
                        records.partition(),
                        records.first_offset()
                    ))
                }
                Err(e) => return Err(format!("settling the assignment: {e}")),
            }
        }
        let assignments: Vec<Vec<AssignedPartition>> =
            consumers.iter().map(Consumer::assignment).collect();
        let owners: Vec<Option<MemberId>> =
            group.metrics().partitions.iter().map(|m| m.owner).collect();
        let complete = (0..partitions).all(|p| {
            let holders: Vec<usize> = (0..consumers.len())
                .filter(|&i| assignments[i].iter().any(|a| a.partition == p))
                .collect();
            holders.len() == 1 && owners[p as usize] == Some(consumers[holders[0]].id())
        });
        let snapshot = Some((assignments, owners));
        if complete && snapshot == previous {
            return Ok(());
        }
        previous = snapshot;
    }
    Err("the assignment did not settle after 1000 polls per member".into())
}
