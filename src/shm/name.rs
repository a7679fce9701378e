//! Region names: one rule for every name that becomes a file in the region directory.
//!
//! Region `name` is the file `ringgroup_<name>`; the reply region of its producer group `i`
//! (of incarnation `n`) is the companion file `ringgroup_<name>.replies-<i>-<n as 16 hex
//! digits>` beside it. A name is checked once, by [`check`], wherever a caller hands one in
//! (creating, opening, removing), so no name can reach outside the directory (`/`, `.`, `..`),
//! cut a path short (NUL), or make a companion too long for the filesystem.
//!
//! # Invariants
//! - Every file name this module makes, for a name [`check`] accepts and a group index below
//!   [`MAX_REPLY_REGIONS`], fits `NAME_MAX` (255 bytes).
//! - [`is_reply_file_name`] accepts exactly the names [`reply_file_name`] makes for a file.

use std::ffi::{OsStr, OsString};

use super::error::RegionError;

/// The prefix of every region file's name.
const FILE_PREFIX: &str = "ringgroup_";

/// The longest file name the filesystem takes (`NAME_MAX`; 255 bytes on Linux filesystems).
const NAME_MAX: usize = 255;

/// How many reply regions (producer groups) a region can have: companion indexes are below it.
pub(crate) const MAX_REPLY_REGIONS: usize = 16;

/// How many decimal digits the largest companion index takes.
const INDEX_DIGITS: usize = {
    let mut digits = 1;
    let mut rest = (MAX_REPLY_REGIONS - 1) / 10;
    while rest > 0 {
        digits += 1;
        rest /= 10;
    }
    digits
};

/// The longest suffix a companion adds to its region's file name:
/// `.replies-<index>-<16 hex digits>`.
const LONGEST_COMPANION_SUFFIX: usize = ".replies-".len() + INDEX_DIGITS + "-".len() + 16;

/// The longest region name, in bytes: the longest file of a region (a reply region's,
/// `ringgroup_<name>.replies-<index>-<16 hex digits>`) must still fit the filesystem's 255-byte
/// limit on a file name.
///
/// # Examples
///
/// ```
/// use ringgroup::shm::{RegionError, MAX_REGION_NAME};
/// use ringgroup::{Topic, TopicError};
///
/// let long = "x".repeat(MAX_REGION_NAME + 1);
/// assert!(matches!(
///     Topic::<u64>::open(&long),
///     Err(TopicError::Region(RegionError::BadName))
/// ));
/// ```
pub const MAX_REGION_NAME: usize = NAME_MAX - FILE_PREFIX.len() - LONGEST_COMPANION_SUFFIX;

/// Checks region name `name`: 1 to [`MAX_REGION_NAME`] bytes, not `.` or `..`, without `/`
/// or NUL.
pub(crate) fn check(name: &str) -> Result<(), RegionError> {
    let fits = !name.is_empty() && name.len() <= MAX_REGION_NAME;
    let plain = name != "." && name != ".." && !name.contains(['/', '\0']);
    if fits && plain {
        Ok(())
    } else {
        Err(RegionError::BadName)
    }
}

/// The file name of region `name` (checked): `ringgroup_<name>`.
pub(crate) fn file_name(name: &str) -> String {
    format!("{FILE_PREFIX}{name}")
}

/// The region name a region file's name stands for (the file name without its prefix).
pub(crate) fn region_name(file: &OsStr) -> String {
    let file = file.to_string_lossy();
    file.strip_prefix(FILE_PREFIX).unwrap_or(&file).to_string()
}

/// The file name of region file `file`'s reply region `index` of incarnation `incarnation`:
/// `<file>.replies-<index>-<incarnation as 16 hex digits>`. `BadName` if `index` is not below
/// [`MAX_REPLY_REGIONS`] or the name would not fit the filesystem (a region at a path of the
/// caller's can have any file name).
pub(crate) fn reply_file_name(
    file: &OsStr,
    index: usize,
    incarnation: u64,
) -> Result<OsString, RegionError> {
    let mut name = file.to_os_string();
    name.push(format!(".replies-{index}-{incarnation:016x}"));
    if index < MAX_REPLY_REGIONS && name.len() <= NAME_MAX {
        Ok(name)
    } else {
        Err(RegionError::BadName)
    }
}

/// True when `candidate` is the name of a reply region of region file `file` (as
/// [`reply_file_name`] makes them).
pub(crate) fn is_reply_file_name(file: &OsStr, candidate: &OsStr) -> bool {
    let (file, candidate) = (file.as_encoded_bytes(), candidate.as_encoded_bytes());
    let Some(rest) = candidate
        .strip_prefix(file)
        .and_then(|rest| rest.strip_prefix(b".replies-".as_slice()))
    else {
        return false;
    };
    let Some(dash) = rest.iter().position(|b| *b == b'-') else {
        return false;
    };
    let (index, incarnation) = (&rest[..dash], &rest[dash + 1..]);
    let index_ok = !index.is_empty()
        && index.len() <= INDEX_DIGITS
        && index.iter().all(u8::is_ascii_digit)
        && (index.len() == 1 || index[0] != b'0')
        && std::str::from_utf8(index)
            .ok()
            .and_then(|index| index.parse::<usize>().ok())
            .is_some_and(|index| index < MAX_REPLY_REGIONS);
    let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    index_ok && incarnation.len() == 16 && incarnation.iter().all(lower_hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_name_makes_a_companion_that_fits() {
        let name = "n".repeat(MAX_REGION_NAME);
        assert_eq!(check(&name), Ok(()));
        let file = file_name(&name);
        let longest =
            reply_file_name(file.as_ref(), MAX_REPLY_REGIONS - 1, u64::MAX).expect("fits");
        assert_eq!(longest.len(), NAME_MAX);
        assert_eq!(check(&format!("{name}n")), Err(RegionError::BadName));
    }

    #[test]
    fn names_that_leave_the_directory_or_cut_the_path_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "x/../../tmp/victim", "a\0b"] {
            assert_eq!(check(bad), Err(RegionError::BadName), "{bad:?}");
        }
        for good in ["a", "...", ".hidden", "a.b", "a-b_c"] {
            assert_eq!(check(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn companions_are_recognised_exactly() {
        let file = OsStr::new("ringgroup_t");
        let made = reply_file_name(file, 15, 0xab).unwrap();
        assert!(is_reply_file_name(file, &made));
        for other in [
            "ringgroup_t.replies-16-00000000000000ab",
            "ringgroup_t.replies-015-00000000000000ab",
            "ringgroup_t.replies-01-00000000000000ab",
            "ringgroup_t.replies-1-00000000000000AB",
            "ringgroup_t.replies--00000000000000ab",
            "ringgroup_t.replies-1-00000000000000a",
            "ringgroup_t.replies-1-00000000000000ab.x",
            "ringgroup_tt.replies-1-00000000000000ab",
        ] {
            assert!(!is_reply_file_name(file, OsStr::new(other)), "{other}");
        }
        assert_eq!(
            reply_file_name(file, MAX_REPLY_REGIONS, 1),
            Err(RegionError::BadName)
        );
    }
}
