//! The shared-memory layer's errors: every way a region can fail to be made or opened.

use std::fmt;
use std::path::{Path, PathBuf};

use super::process::ProcessId;
use crate::ring::BuildError;
use crate::sync::StdArc;

/// Why a shared-memory region could not be created or opened. Never a `SIGBUS`, a panic or
/// undefined behaviour: each bad region is one of these.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RegionError {
    /// A file of that name exists already (create).
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// No region of that name (open).
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The region name is unusable: empty, `.` or `..`, holding `/` or NUL, or longer than
    /// [`MAX_REGION_NAME`](super::MAX_REGION_NAME) bytes.
    BadName,
    /// The region's file is a symbolic link, which is never followed (a region file is always
    /// a regular file; a link under its name could point anywhere).
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// The region's file is not a regular file (a directory, a FIFO, a device...).
    NotRegularFile {
        /// The file.
        path: PathBuf,
    },
    /// The region's file belongs to another user, which the opener did not accept (see
    /// [`RegionOptions::allow_foreign_owner`](super::RegionOptions::allow_foreign_owner)).
    ForeignOwner {
        /// The file.
        path: PathBuf,
        /// The file's owner (uid).
        owner: u32,
        /// This process's effective uid.
        expected: u32,
    },
    /// Users the opener did not mean can write the region's file (see
    /// [`RegionOptions::permissions`](super::RegionOptions::permissions)).
    Permissions {
        /// The file.
        path: PathBuf,
        /// The file's permission bits.
        mode: u32,
        /// The widest permissions the opener accepts.
        allowed: u32,
    },
    /// The permissions asked for are not a region's: permission bits only (`0o777`), the
    /// owner must read and write, and the world must not write.
    InvalidPermissions {
        /// The mode asked for.
        mode: u32,
    },
    /// The file is not a ringgroup region (wrong magic).
    NotARegion,
    /// The region was made by another layout version.
    Version {
        /// Its version.
        found: u32,
        /// This build's.
        expected: u32,
    },
    /// The region carries another message type.
    TypeMismatch {
        /// The type asked for.
        expected: String,
        /// The type the region holds.
        found: String,
    },
    /// The file is shorter than its header says (or than a header).
    Truncated {
        /// The file's size.
        size: usize,
        /// The size it must have.
        expected: usize,
    },
    /// A header field is impossible.
    Corrupt {
        /// Which.
        what: &'static str,
    },
    /// The region was made in another pid namespace (another container, say): process
    /// identities, which decide who holds what, would be misread across it.
    OtherPidNamespace,
    /// The creator died before it finished writing the region.
    CreatorDied {
        /// The creator, if it was recorded.
        creator: Option<ProcessId>,
    },
    /// The creator is alive but still has not finished writing the region.
    NotReady,
    /// The device has no room for the region.
    NoSpace {
        /// Bytes asked for.
        bytes: usize,
    },
    /// The region would not fit the address space.
    TooLarge,
    /// A ring's geometry is invalid.
    Ring(BuildError),
    /// The system refused a file operation.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// What the system said.
        source: StdArc<std::io::Error>,
    },
}

impl RegionError {
    /// The error of file operation `op` on region `path`: `AlreadyExists` and `NotFound` by
    /// name, any other as `Io`.
    pub(crate) fn from_io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::AlreadyExists => RegionError::AlreadyExists {
                path: path.to_path_buf(),
            },
            std::io::ErrorKind::NotFound => RegionError::NotFound {
                path: path.to_path_buf(),
            },
            _ => RegionError::Io {
                path: path.to_path_buf(),
                op,
                source: StdArc::new(source),
            },
        }
    }
}

impl PartialEq for RegionError {
    fn eq(&self, other: &Self) -> bool {
        // Errors compare by what happened (and the io error by its kind).
        match (self, other) {
            (
                RegionError::Io { op, source, .. },
                RegionError::Io {
                    op: o, source: s, ..
                },
            ) => op == o && source.kind() == s.kind(),
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for RegionError {}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionError::AlreadyExists { path } => {
                write!(f, "region {} exists already", path.display())
            }
            RegionError::NotFound { path } => write!(f, "no region {}", path.display()),
            RegionError::BadName => write!(
                f,
                "a region name must be 1 to {} bytes, not \".\" or \"..\", without '/' or NUL",
                super::MAX_REGION_NAME
            ),
            RegionError::Symlink { path } => write!(
                f,
                "region {} is a symbolic link, which is never followed",
                path.display()
            ),
            RegionError::NotRegularFile { path } => {
                write!(f, "region {} is not a regular file", path.display())
            }
            RegionError::ForeignOwner {
                path,
                owner,
                expected,
            } => write!(
                f,
                "region {} is owned by uid {owner}, not by this process's uid {expected}",
                path.display()
            ),
            RegionError::Permissions {
                path,
                mode,
                allowed,
            } => write!(
                f,
                "region {} has mode {mode:04o}: writable by users that mode {allowed:04o} does \
                 not allow",
                path.display()
            ),
            RegionError::InvalidPermissions { mode } => write!(
                f,
                "mode {mode:04o} is not a region's: permission bits only, the owner reads and \
                 writes, the world does not write"
            ),
            RegionError::NotARegion => write!(f, "the file is not a ringgroup region"),
            RegionError::Version { found, expected } => write!(
                f,
                "the region has layout version {found}; this build reads {expected}"
            ),
            RegionError::TypeMismatch { expected, found } => {
                write!(f, "the region holds {found}, not {expected}")
            }
            RegionError::Truncated { size, expected } => {
                write!(f, "the region file is {size} bytes; it must be {expected}")
            }
            RegionError::Corrupt { what } => write!(f, "the region's {what} is corrupt"),
            RegionError::OtherPidNamespace => {
                write!(f, "the region was made in another pid namespace")
            }
            RegionError::CreatorDied { .. } => {
                write!(f, "the region's creator died before finishing it")
            }
            RegionError::NotReady => write!(f, "the region's creator has not finished it"),
            RegionError::NoSpace { bytes } => write!(f, "no room for a {bytes}-byte region"),
            RegionError::TooLarge => write!(f, "the region would not fit the address space"),
            RegionError::Ring(_) => write!(f, "a ring of the region is invalid"),
            RegionError::Io { path, op, .. } => {
                write!(f, "cannot {op} region {}", path.display())
            }
        }
    }
}

impl std::error::Error for RegionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RegionError::Ring(source) => Some(source),
            RegionError::Io { source, .. } => Some(&**source),
            _ => None,
        }
    }
}
