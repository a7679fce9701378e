//! Shared memory: topics in a named region that several processes map.
//!
//! A region holds a header and every partition's ring block (see `ring::block`): the same
//! ring code runs over it as over the heap. Messages are plain data ([`bytemuck::Pod`]: fixed
//! size, no pointers, no `Drop`; or [`bytemuck::AnyBitPattern`], which also allows padding, as
//! in a request and its route); [`InlineBytes`] carries byte payloads inline. A region's extra
//! area and companion files serve the layers above (a request topic's producer groups).
//!
//! A region is only as trustworthy as its file: region files are created owner-only (`0600`)
//! whatever the umask, unless the creator widens them for a group of users; an opener refuses a
//! symbolic link, a file that is not a regular file, another user's file and a file that users
//! it did not mean can write, unless its [`RegionOptions`] accept them. Every region name
//! passes one rule (see [`MAX_REGION_NAME`]), so none reaches outside the region directory.
//!
//! Dependencies: shm provides storage under the ring and the topic, and imports neither's
//! protocols.

#[cfg(not(ringgroup_loom))]
mod access;
#[cfg(not(ringgroup_loom))]
mod error;
#[cfg(not(ringgroup_loom))]
pub(crate) mod groups;
#[cfg(not(ringgroup_loom))]
mod inline;
#[cfg(not(ringgroup_loom))]
pub mod layout;
mod lock_word;
#[cfg(not(ringgroup_loom))]
mod name;
#[cfg(not(ringgroup_loom))]
pub(crate) mod process;
#[cfg(not(ringgroup_loom))]
pub(crate) mod region;
mod trust;

#[cfg(not(ringgroup_loom))]
pub(crate) use access::checked_permissions;
#[cfg(not(ringgroup_loom))]
pub use access::{RegionOptions, DEFAULT_PERMISSIONS};
#[cfg(not(ringgroup_loom))]
pub use error::RegionError;
#[cfg(not(ringgroup_loom))]
pub use groups::{MAX_GROUP_NAME, MAX_GROUP_PROCESSES};
#[cfg(not(ringgroup_loom))]
pub use inline::InlineBytes;
/// The lock word's protocol, for the loom models (which cannot map regions).
#[cfg(ringgroup_loom)]
#[doc(hidden)]
pub use lock_word::LockWord;
#[cfg(not(ringgroup_loom))]
pub use name::MAX_REGION_NAME;
#[cfg(not(ringgroup_loom))]
pub(crate) use name::{check as check_name, region_name, MAX_REPLY_REGIONS};
#[cfg(not(ringgroup_loom))]
pub use process::ProcessId;
#[cfg(not(ringgroup_loom))]
pub use region::{default_path, remove, DEFAULT_DIR, LAYOUT_VERSION};
#[cfg(not(ringgroup_loom))]
pub(crate) use region::{Region, Shape};
pub use trust::Corruption;
pub(crate) use trust::{Boundary, Poison};

/// The extra area of every topic region: room for a request topic's producer-group directory
/// (see `producer_group::shared_memory`).
#[cfg(not(ringgroup_loom))]
pub(crate) const TOPIC_EXTRA: usize = 4096;
