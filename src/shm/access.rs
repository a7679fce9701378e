//! Who may use a region: its file's mode and owner, and what kind of file it is.
//!
//! Whoever can write a region's file can change every word the processes that map it read, and
//! whoever can read it reads every message. So:
//!
//! - **Creating**: the file is made exclusively (`O_CREAT | O_EXCL`, which never follows a
//!   symbolic link: a file someone else made first under the name is `AlreadyExists`, never
//!   adopted), with mode `0600` or the creator's (`SharedMemoryBuilder::permissions`), and then
//!   set to exactly that mode with `fchmod`, since the umask may have narrowed it. The umask can
//!   only narrow the first mode, so the file is never wider than asked, even for an instant.
//! - **Opening**: the file is opened without following a symbolic link (`O_NOFOLLOW`), then
//!   checked through the open descriptor (`fstat`), so the file checked is the file mapped. It
//!   must be a regular file, owned by this process's effective user, and writable by no one
//!   the opener did not mean: group write is accepted only when the opener's
//!   [`RegionOptions::permissions`] grant it, world write only with
//!   [`RegionOptions::allow_world_writable`], another owner only with
//!   [`RegionOptions::allow_foreign_owner`]. Read bits are not compared: who may read a
//!   region is its creator's choice; who may write it decides what this process can trust.
//! - **Removing**: only a regular file is unlinked. `unlink` never follows the last component
//!   of a path, so even a file swapped for a symbolic link in between removes only the link.

use std::fs::File;
use std::io;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

use super::error::RegionError;

/// The mode of a region file unless its creator asks for another: owner read and write only.
pub const DEFAULT_PERMISSIONS: u32 = 0o600;

/// The permission bits of a mode.
const PERMISSION_BITS: u32 = 0o777;
const OWNER_READ_WRITE: u32 = 0o600;
const GROUP_WRITE: u32 = 0o020;
const WORLD_WRITE: u32 = 0o002;

/// How an opener checks a region's file before it maps it.
///
/// The default ([`RegionOptions::new`], what [`Topic::open`](crate::Topic::open) uses) accepts
/// only a regular file that this process's effective user owns and no one else can write.
/// Regions shared by a group of users are made with
/// [`SharedMemoryBuilder::permissions`](crate::topic::SharedMemoryBuilder::permissions) and
/// opened with the same [`permissions`](Self::permissions), and, by the users who do not own
/// the file, [`allow_foreign_owner`](Self::allow_foreign_owner).
///
/// # Examples
///
/// ```
/// use ringgroup::shm::{RegionError, RegionOptions};
/// use ringgroup::{Topic, TopicError};
///
/// let name = format!("doc-options-{}", std::process::id());
/// // A region a group of users shares: members of the file's group may read and write it.
/// let (topic, producer) = Topic::<u64>::builder("t")
///     .shared_memory(&name)
///     .permissions(0o660)
///     .build()?;
/// // The strict default refuses a region its group can write...
/// assert!(matches!(
///     Topic::<u64>::open(&name),
///     Err(TopicError::Region(RegionError::Permissions { mode: 0o660, .. }))
/// ));
/// // ...which an opener that means to share it accepts. A member of the group who does not
/// // own the file also says it trusts the owner.
/// let shared = RegionOptions::new()
///     .permissions(0o660)
///     .allow_foreign_owner(true);
/// let opened = Topic::<u64>::open_with(&name, shared)?;
/// # drop((topic, producer, opened));
/// ringgroup::shm::remove(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct RegionOptions {
    permissions: u32,
    allow_foreign_owner: bool,
    allow_world_writable: bool,
}

impl Default for RegionOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl RegionOptions {
    /// The strict default: the file must be this process's user's, and writable by it alone
    /// (permissions [`DEFAULT_PERMISSIONS`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::shm::RegionOptions;
    ///
    /// assert_eq!(RegionOptions::new(), RegionOptions::default());
    /// ```
    pub fn new() -> Self {
        Self {
            permissions: DEFAULT_PERMISSIONS,
            allow_foreign_owner: false,
            allow_world_writable: false,
        }
    }

    /// The widest permissions the opener accepts: a region's group may write it only if
    /// `mode` lets the group write (`0o660`, say). The mode is checked when the region is
    /// opened: permission bits only (`0o777`), the owner reads and writes, the world does not
    /// write; any other is [`RegionError::InvalidPermissions`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::shm::{RegionError, RegionOptions};
    /// use ringgroup::{Topic, TopicError};
    ///
    /// let world_writable = RegionOptions::new().permissions(0o666);
    /// assert!(matches!(
    ///     Topic::<u64>::open_with("any", world_writable),
    ///     Err(TopicError::Region(RegionError::InvalidPermissions { mode: 0o666 }))
    /// ));
    /// ```
    pub fn permissions(mut self, mode: u32) -> Self {
        self.permissions = mode;
        self
    }

    /// Accepts a region another user owns (by default only the effective user's are). Only
    /// for an owner this process trusts: the owner can change the file's mode, and every word
    /// in it, at any time.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::shm::RegionOptions;
    ///
    /// let options = RegionOptions::new().allow_foreign_owner(true);
    /// # let _ = options;
    /// ```
    pub fn allow_foreign_owner(mut self, allow: bool) -> Self {
        self.allow_foreign_owner = allow;
        self
    }

    /// Accepts a region every local user can write (mode `o+w`; its group then may write
    /// too), which ringgroup never creates: any user could change what this process reads.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::shm::RegionOptions;
    ///
    /// let options = RegionOptions::new().allow_world_writable(true);
    /// # let _ = options;
    /// ```
    pub fn allow_world_writable(mut self, allow: bool) -> Self {
        self.allow_world_writable = allow;
        self
    }

    /// The options a region's creator opens its companions with: those its own file passes.
    pub(crate) fn of_creator(mode: u32) -> Self {
        Self {
            permissions: (mode & PERMISSION_BITS & !WORLD_WRITE) | OWNER_READ_WRITE,
            allow_foreign_owner: false,
            allow_world_writable: mode & WORLD_WRITE != 0,
        }
    }

    /// Checks the file behind `stat` (at `path`) against these options.
    fn check(&self, path: &Path, stat: &rustix::fs::Stat) -> Result<(), RegionError> {
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(RegionError::NotRegularFile {
                path: path.to_path_buf(),
            });
        }
        let me = rustix::process::geteuid().as_raw();
        if stat.st_uid != me && !self.allow_foreign_owner {
            return Err(RegionError::ForeignOwner {
                path: path.to_path_buf(),
                owner: stat.st_uid,
                expected: me,
            });
        }
        let mode = stat.st_mode & PERMISSION_BITS;
        // Who besides the owner may write: the group if the permissions say so; anyone, once
        // the world may (the group's bit then changes nothing).
        let writers = if self.allow_world_writable {
            GROUP_WRITE | WORLD_WRITE
        } else {
            self.permissions & GROUP_WRITE
        };
        if mode & (GROUP_WRITE | WORLD_WRITE) & !writers != 0 {
            return Err(RegionError::Permissions {
                path: path.to_path_buf(),
                mode,
                allowed: self.permissions | writers,
            });
        }
        Ok(())
    }
}

/// `mode` if it is a region file's: permission bits only, the owner reads and writes, and the
/// world does not write.
pub(crate) fn checked_permissions(mode: u32) -> Result<u32, RegionError> {
    let valid = mode & !PERMISSION_BITS == 0
        && mode & OWNER_READ_WRITE == OWNER_READ_WRITE
        && mode & WORLD_WRITE == 0;
    if valid {
        Ok(mode)
    } else {
        Err(RegionError::InvalidPermissions { mode })
    }
}

/// Creates region file `path` exclusively, read-write, with permissions at most `mode` (the
/// umask may narrow them; [`set_mode`] then sets them exactly).
pub(crate) fn create_exclusive(path: &Path, mode: u32) -> Result<File, RegionError> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::open(path, flags, Mode::from_raw_mode(mode & PERMISSION_BITS))
        .map(File::from)
        .map_err(|errno| RegionError::from_io(path, "create", errno.into()))
}

/// Sets the permissions of the region file `file` (at `path`) to exactly `mode`, whatever the
/// umask made of them.
pub(crate) fn set_mode(file: &File, path: &Path, mode: u32) -> Result<(), RegionError> {
    rustix::fs::fchmod(file, Mode::from_raw_mode(mode & PERMISSION_BITS))
        .map_err(|errno| RegionError::from_io(path, "set the mode of", errno.into()))
}

/// A region file opened and checked.
pub(crate) struct Checked {
    pub(crate) file: File,
    /// The file's size in bytes when checked.
    pub(crate) size: u64,
    /// The file's permission bits.
    pub(crate) mode: u32,
}

/// Opens region file `path` read-write without following a symbolic link, and checks the open
/// file against `options`.
pub(crate) fn open_checked(path: &Path, options: &RegionOptions) -> Result<Checked, RegionError> {
    checked_permissions(options.permissions)?;
    // NONBLOCK and NOCTTY: a FIFO or a terminal under the name neither blocks the open nor
    // becomes this process's terminal before `check` refuses it.
    let flags =
        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|errno| match errno {
        rustix::io::Errno::LOOP => RegionError::Symlink {
            path: path.to_path_buf(),
        },
        // A directory, or a socket or device no one serves.
        rustix::io::Errno::ISDIR | rustix::io::Errno::NXIO => RegionError::NotRegularFile {
            path: path.to_path_buf(),
        },
        errno => RegionError::from_io(path, "open", errno.into()),
    })?;
    let stat =
        rustix::fs::fstat(&fd).map_err(|errno| RegionError::from_io(path, "stat", errno.into()))?;
    options.check(path, &stat)?;
    Ok(Checked {
        file: File::from(fd),
        size: u64::try_from(stat.st_size).unwrap_or(0),
        mode: stat.st_mode & PERMISSION_BITS,
    })
}

/// Unlinks region file `path` if it is a regular file; a symbolic link or any other kind of
/// file is refused and left.
pub(crate) fn remove_regular(path: &Path) -> Result<(), RegionError> {
    let kind = std::fs::symlink_metadata(path)
        .map_err(|e| RegionError::from_io(path, "remove", e))?
        .file_type();
    if kind.is_symlink() {
        return Err(RegionError::Symlink {
            path: path.to_path_buf(),
        });
    }
    if !kind.is_file() {
        return Err(RegionError::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    std::fs::remove_file(path).map_err(|e: io::Error| RegionError::from_io(path, "remove", e))
}
