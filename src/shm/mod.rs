//! Shared memory: topics in a named region that several processes map.
//!
//! A region holds a header and every partition's ring block (see `ring::block`): the same
//! ring code runs over it as over the heap. Messages are plain data ([`bytemuck::Pod`]: fixed
//! size, no pointers, no `Drop`); [`InlineBytes`] carries byte payloads inline.
//!
//! Dependencies: shm provides storage under the ring and the topic, and imports neither's
//! protocols.

mod error;
mod inline;
pub(crate) mod process;
pub(crate) mod region;

pub use error::RegionError;
pub use inline::InlineBytes;
pub use process::ProcessId;
pub use region::{default_path, remove, DEFAULT_DIR, LAYOUT_VERSION};
pub(crate) use region::{Region, Shape};
