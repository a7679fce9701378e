//! Member ids: one type for a member's identity everywhere (the group, the assignors, metrics).

use std::fmt;

/// A member's id within its group. Ids are small integers handed out by the group at join; an
/// id is reused only after the handle that held it is gone, so an id names at most one live
/// member handle at a time.
///
/// # Examples
///
/// ```
/// use ringgroup::group::MemberId;
///
/// let id = MemberId::from(7);
/// assert_eq!(id.get(), 7);
/// assert_eq!(id.to_string(), "member-7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(u32);

impl MemberId {
    /// The id as a number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for MemberId {
    fn from(id: u32) -> Self {
        MemberId(id)
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "member-{}", self.0)
    }
}
