//! Who may use a shared-memory region, and which names are regions':
//!
//! - region files, reply regions included, are exactly `0600` under umask 0, 022 and 077, and
//!   exactly the mode asked for with `.permissions(0o660)`; a bad mode is a typed error;
//! - an opener refuses a symbolic link (without following it), a directory and a FIFO, a
//!   region another user owns and a region users it did not mean can write, unless its
//!   `RegionOptions` accept them, and opens reply regions with the checks it opened their
//!   request region with;
//! - a truncated reply region is a typed error on open;
//! - `shm::remove`, `shared_memory` and `open` refuse every name that is not a region's, and
//!   `remove` never deletes outside the region directory nor through a link.
//!
//! A `harness = false` test: the umask is process-wide, so the checks that set it do so in a
//! child process (this binary again, with its role in an environment variable), and `main` runs
//! the checks one after another.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use ringgroup::producer_group::{ProducerGroupError, Request};
use ringgroup::shm::{default_path, remove, RegionError, RegionOptions, MAX_REGION_NAME};
use ringgroup::{SharedProducer, Topic, TopicError};

type Job = Request<u64, u64>;

const ROLE: &str = "RINGGROUP_SHM_PERMISSIONS_ROLE";
/// The uid (and gid) of `nobody`, another user than the tests' (root).
const NOBODY: u32 = 65534;

/// A region name unique to this test and process.
fn name(test: &str) -> String {
    format!("test-{}-perm-{test}", std::process::id())
}

/// Removes a region (and its reply regions) when the test ends, however it ends.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = remove(&self.0);
    }
}

/// Removes a file that is not a region (a link, a directory, a FIFO) when the test ends.
struct CleanupPath(PathBuf);

impl Drop for CleanupPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0).or_else(|_| std::fs::remove_dir(&self.0));
    }
}

fn region_error<T>(result: Result<T, TopicError>) -> RegionError {
    match result {
        Err(TopicError::Region(error)) => error,
        Err(other) => panic!("expected a region error, got {other:?}"),
        Ok(_) => panic!("expected a region error, got a topic"),
    }
}

fn group_region_error<T>(result: Result<T, ProducerGroupError>) -> RegionError {
    match result {
        Err(ProducerGroupError::SharedMemory(TopicError::Region(error))) => error,
        Err(other) => panic!("expected a region error, got {other:?}"),
        Ok(_) => panic!("expected a region error, got a group"),
    }
}

/// The permission bits of `path` (not following a link).
fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The reply regions (companion files) of region `name`.
fn reply_regions(name: &str) -> Vec<PathBuf> {
    let prefix = format!("ringgroup_{name}.replies-");
    let mut found: Vec<PathBuf> = std::fs::read_dir(ringgroup::shm::DEFAULT_DIR)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// A multi-producer request topic in region `name`, with producer group "clients" built (so
/// its reply region exists), made with permissions `mode` if given. Returns its producer: a
/// request topic whose last producer is gone is closed, and takes no more producer groups.
fn request_topic_with_group(name: &str, mode: Option<u32>) -> SharedProducer<Job> {
    let builder = Topic::<Job>::builder("jobs")
        .multi_producer()
        .shared_memory(name);
    let builder = match mode {
        Some(mode) => builder.permissions(mode),
        None => builder,
    };
    let (topic, producer) = builder.build().unwrap();
    let group = topic.producer_group("clients").build().unwrap();
    drop((group, topic));
    producer
}

/// Child role `make:<umask>:<name>:<mode or "default">`: sets the umask, then makes a
/// single-producer topic in region `name` and a request topic with a producer group in region
/// `<name>-req`, and leaves them for the parent to look at.
fn make_under_umask(args: &str) {
    let mut parts = args.split(':');
    let umask = u32::from_str_radix(parts.next().unwrap(), 8).unwrap();
    let name = parts.next().unwrap();
    let mode = match parts.next().unwrap() {
        "default" => None,
        mode => Some(u32::from_str_radix(mode, 8).unwrap()),
    };
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(umask));
    let builder = Topic::<u64>::builder("t").shared_memory(name);
    let builder = match mode {
        Some(mode) => builder.permissions(mode),
        None => builder,
    };
    drop(builder.build().unwrap());
    // As if a producer process went on: the request topic stays open for the parent.
    std::mem::forget(request_topic_with_group(&format!("{name}-req"), mode));
}

/// Runs `make_under_umask` in a child process and waits for it.
fn make_in_child(umask: u32, name: &str, mode: Option<u32>) {
    let mode = mode.map_or("default".to_string(), |mode| format!("{mode:o}"));
    let status = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, format!("make:{umask:o}:{name}:{mode}"))
        .status()
        .unwrap();
    assert!(status.success(), "the child failed: {status}");
}

/// The region files (topic, request topic, its reply region) a `make_in_child` made.
fn made_files(name: &str) -> Vec<PathBuf> {
    let request = format!("{name}-req");
    let replies = reply_regions(&request);
    assert_eq!(replies.len(), 1, "one producer group, one reply region");
    [default_path(name), default_path(&request)]
        .into_iter()
        .chain(replies)
        .collect()
}

fn files_are_owner_only_whatever_the_umask() {
    for umask in [0o000, 0o022, 0o077] {
        let name = name(&format!("umask{umask:o}"));
        let _cleanup = (Cleanup(name.clone()), Cleanup(format!("{name}-req")));
        make_in_child(umask, &name, None);
        for file in made_files(&name) {
            assert_eq!(
                mode_of(&file),
                0o600,
                "{} under umask {umask:03o}",
                file.display()
            );
        }
    }
}

fn widened_permissions_are_exact_and_reach_reply_regions() {
    let name = name("widened");
    let request = format!("{name}-req");
    let _cleanup = (Cleanup(name.clone()), Cleanup(request.clone()));
    // umask 077 would clear every group bit of the first mode: only `fchmod` sets them.
    make_in_child(0o077, &name, Some(0o660));
    for file in made_files(&name) {
        assert_eq!(mode_of(&file), 0o660, "{}", file.display());
    }
    // The strict default refuses a group-writable region...
    assert!(matches!(
        region_error(Topic::<u64>::open(&name)),
        RegionError::Permissions {
            mode: 0o660,
            allowed: 0o600,
            ..
        }
    ));
    // ...an opener that means to share it opens it, and its reply regions with the same checks
    // (the group's reply region is group-writable too).
    let shared = RegionOptions::new().permissions(0o660);
    Topic::<u64>::open_with(&name, shared).unwrap();
    let requests = Topic::<Job>::open_with(&request, shared).unwrap();
    requests
        .producer_group("clients")
        .build()
        .expect("the reply region, opened with the request region's checks");
}

fn a_bad_mode_is_an_error() {
    let name = name("badmode");
    let _cleanup = Cleanup(name.clone());
    for mode in [0o400, 0o200, 0o000, 0o666, 0o602, 0o1600, 0o4600, 0o10600] {
        let built = Topic::<u64>::builder("t")
            .shared_memory(&name)
            .permissions(mode)
            .build();
        // (`RegionError`'s `==` compares variants only: fields are matched.)
        assert!(
            matches!(region_error(built), RegionError::InvalidPermissions { mode: found } if found == mode),
            "{mode:o}"
        );
        assert!(!default_path(&name).exists(), "nothing made for {mode:o}");
        let opened = Topic::<u64>::open_with(&name, RegionOptions::new().permissions(mode));
        assert!(
            matches!(region_error(opened), RegionError::InvalidPermissions { mode: found } if found == mode),
            "{mode:o}"
        );
    }
    let error = region_error(
        Topic::<u64>::builder("t")
            .shared_memory(&name)
            .permissions(0o666)
            .build(),
    );
    assert!(error.to_string().contains("0666"), "{error}");
    for mode in [0o600, 0o640, 0o660, 0o664] {
        let built = Topic::<u64>::builder("t")
            .shared_memory(&name)
            .permissions(mode)
            .build();
        drop(built.unwrap_or_else(|e| panic!("{mode:o}: {e}")));
        assert_eq!(mode_of(&default_path(&name)), mode);
        remove(&name).unwrap();
    }
}

fn a_symlink_is_refused_and_not_followed() {
    let target = name("target");
    let link = name("link");
    let outside = std::env::temp_dir().join(format!("ringgroup-outside-{}", std::process::id()));
    let link_path = default_path(&link);
    let _cleanup = (
        Cleanup(target.clone()),
        CleanupPath(link_path.clone()),
        CleanupPath(outside.clone()),
    );
    drop(
        Topic::<u64>::builder("t")
            .shared_memory(&target)
            .build()
            .unwrap(),
    );
    // A link to a real region: opening through it would succeed if it were followed.
    symlink(default_path(&target), &link_path).unwrap();
    let error = region_error(Topic::<u64>::open(&link));
    assert!(
        matches!(&error, RegionError::Symlink { path } if *path == link_path),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&link_path.display().to_string()),
        "{error}"
    );
    // Nor does the most permissive opener follow it.
    let permissive = RegionOptions::new()
        .permissions(0o660)
        .allow_foreign_owner(true)
        .allow_world_writable(true);
    assert!(matches!(
        region_error(Topic::<u64>::open_with(&link, permissive)),
        RegionError::Symlink { .. }
    ));
    // Creating over the link fails, and writes nothing through it.
    let before = std::fs::read(default_path(&target)).unwrap();
    assert!(matches!(
        region_error(Topic::<u64>::builder("t").shared_memory(&link).build()),
        RegionError::AlreadyExists { .. }
    ));
    assert_eq!(std::fs::read(default_path(&target)).unwrap(), before);
    // `remove` refuses it and deletes neither the link nor what it points to.
    assert!(matches!(remove(&link), Err(RegionError::Symlink { path }) if path == link_path));
    assert!(link_path.symlink_metadata().is_ok() && default_path(&target).exists());
    // A link to a file outside the region directory, under a reply region's name: `remove`
    // of the target's name leaves it (and the file it points to).
    std::fs::write(&outside, b"keep").unwrap();
    let companion = PathBuf::from(format!(
        "{}.replies-0-0000000000000001",
        default_path(&target).display()
    ));
    let _companion = CleanupPath(companion.clone());
    symlink(&outside, &companion).unwrap();
    remove(&target).unwrap();
    assert!(
        !default_path(&target).exists(),
        "the region itself is removed"
    );
    assert!(companion.symlink_metadata().is_ok(), "the link is left");
    assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
}

fn a_directory_or_a_fifo_is_refused() {
    let directory = name("directory");
    let fifo = name("fifo");
    let (directory_path, fifo_path) = (default_path(&directory), default_path(&fifo));
    let _cleanup = (
        CleanupPath(directory_path.clone()),
        CleanupPath(fifo_path.clone()),
    );
    std::fs::create_dir(&directory_path).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo_path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    for (name, path) in [(&directory, &directory_path), (&fifo, &fifo_path)] {
        assert!(
            matches!(region_error(Topic::<u64>::open(name)), RegionError::NotRegularFile { path: found } if found == *path),
            "{name}"
        );
        assert!(
            matches!(remove(name), Err(RegionError::NotRegularFile { path: found }) if found == *path),
            "{name}"
        );
        assert!(path.symlink_metadata().is_ok(), "{name} is left");
    }
}

/// Whether this process may give files away (the tests run as root).
fn can_chown() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        println!("(skipped: giving a file to another user needs root)");
    }
    root
}

fn another_users_region_is_refused_unless_allowed() {
    if !can_chown() {
        return;
    }
    let name = name("foreign");
    let path = default_path(&name);
    let _cleanup = Cleanup(name.clone());
    drop(
        Topic::<u64>::builder("t")
            .shared_memory(&name)
            .build()
            .unwrap(),
    );
    // As if another user had made the file first under the name.
    std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
    let me = rustix::process::geteuid().as_raw();
    let error = region_error(Topic::<u64>::open(&name));
    assert!(
        matches!(
            &error,
            RegionError::ForeignOwner { path: found, owner: NOBODY, expected }
                if *found == path && *expected == me
        ),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains(&NOBODY.to_string()),
        "{text}"
    );
    // Making it again under the name is refused: the other user's file is never adopted.
    assert!(matches!(
        region_error(Topic::<u64>::builder("t").shared_memory(&name).build()),
        RegionError::AlreadyExists { .. }
    ));
    Topic::<u64>::open_with(&name, RegionOptions::new().allow_foreign_owner(true))
        .expect("an owner the opener accepts");
}

fn reply_regions_are_opened_with_the_request_regions_checks() {
    if !can_chown() {
        return;
    }
    let name = name("foreign-replies");
    let _cleanup = Cleanup(name.clone());
    let _producer = request_topic_with_group(&name, None);
    let replies = reply_regions(&name);
    assert_eq!(replies.len(), 1);
    // Another user's reply region beside this user's request region: refused.
    std::os::unix::fs::chown(&replies[0], Some(NOBODY), Some(NOBODY)).unwrap();
    let requests = Topic::<Job>::open(&name).unwrap();
    assert!(matches!(
        group_region_error(requests.producer_group("clients").build()),
        RegionError::ForeignOwner { owner: NOBODY, .. }
    ));
    drop(requests);
    // Both another user's, opened by one that accepts that owner: the reply region passes the
    // same checks.
    std::os::unix::fs::chown(default_path(&name), Some(NOBODY), Some(NOBODY)).unwrap();
    let foreign = RegionOptions::new().allow_foreign_owner(true);
    let requests = Topic::<Job>::open_with(&name, foreign).unwrap();
    requests
        .producer_group("clients")
        .build()
        .expect("the reply region, opened with the request region's checks");
}

fn a_world_or_group_writable_region_is_refused_by_default() {
    let name = name("writable");
    let path = default_path(&name);
    let _cleanup = Cleanup(name.clone());
    drop(
        Topic::<u64>::builder("t")
            .shared_memory(&name)
            .build()
            .unwrap(),
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let error = region_error(Topic::<u64>::open(&name));
    assert!(
        matches!(
            &error,
            RegionError::Permissions { path: found, mode: 0o666, allowed: 0o600 } if *found == path
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("0666"), "{error}");
    // Widening to the group does not make the world welcome.
    assert!(matches!(
        region_error(Topic::<u64>::open_with(
            &name,
            RegionOptions::new().permissions(0o660)
        )),
        RegionError::Permissions { mode: 0o666, .. }
    ));
    Topic::<u64>::open_with(&name, RegionOptions::new().allow_world_writable(true))
        .expect("world-writable, explicitly accepted");
    // Group-writable only: refused by default, accepted once the opener widens.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o620)).unwrap();
    assert!(matches!(
        region_error(Topic::<u64>::open(&name)),
        RegionError::Permissions { mode: 0o620, .. }
    ));
    Topic::<u64>::open_with(&name, RegionOptions::new().permissions(0o660))
        .expect("group-writable, as the opener means");
    // Readable by others, writable by the owner alone: accepted (reading is the creator's
    // choice).
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    Topic::<u64>::open(&name).expect("only the owner writes");
}

fn a_truncated_reply_region_is_a_typed_error() {
    let name = name("short-replies");
    let _cleanup = Cleanup(name.clone());
    let _producer = request_topic_with_group(&name, None);
    let replies = reply_regions(&name);
    assert_eq!(replies.len(), 1);
    // Nothing maps it now (the topic and the group are dropped; the producer maps only the
    // request region), so cutting it faults no one.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&replies[0])
        .unwrap();
    let full = file.metadata().unwrap().len();
    file.set_len(full - 4096).unwrap();
    let requests = Topic::<Job>::open(&name).unwrap();
    assert!(matches!(
        group_region_error(requests.producer_group("clients").build()),
        RegionError::Truncated { expected, .. } if expected as u64 == full
    ));
    drop(requests);
    file.set_len(100).unwrap();
    let requests = Topic::<Job>::open(&name).unwrap();
    assert!(matches!(
        group_region_error(requests.producer_group("clients").build()),
        RegionError::Truncated { size: 100, .. }
    ));
}

fn names_that_are_not_regions_are_refused_everywhere() {
    let victim = std::env::temp_dir().join(format!("ringgroup-victim-{}", std::process::id()));
    let _cleanup = CleanupPath(victim.clone());
    std::fs::write(&victim, b"keep").unwrap();
    let escape = format!("x/../../../{}", victim.display());
    let too_long = "n".repeat(MAX_REGION_NAME + 1);
    for bad in [
        escape.as_str(),
        "",
        ".",
        "..",
        "a/b",
        "a\0b",
        "\0",
        too_long.as_str(),
    ] {
        assert_eq!(remove(bad), Err(RegionError::BadName), "remove {bad:?}");
        assert_eq!(
            region_error(Topic::<u64>::open(bad)),
            RegionError::BadName,
            "open {bad:?}"
        );
        assert_eq!(
            region_error(Topic::<u64>::open_with(bad, RegionOptions::new())),
            RegionError::BadName,
            "open_with {bad:?}"
        );
        assert_eq!(
            region_error(Topic::<u64>::builder("t").shared_memory(bad).build()),
            RegionError::BadName,
            "shared_memory {bad:?}"
        );
    }
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"keep",
        "the victim is intact"
    );
    let error = RegionError::BadName.to_string();
    assert!(error.contains(&MAX_REGION_NAME.to_string()), "{error}");
}

fn the_longest_name_has_room_for_its_reply_regions() {
    let prefix = name("long-");
    let longest = format!("{prefix}{}", "n".repeat(MAX_REGION_NAME - prefix.len()));
    assert_eq!(longest.len(), MAX_REGION_NAME);
    let _cleanup = Cleanup(longest.clone());
    drop(request_topic_with_group(&longest, None));
    let replies = reply_regions(&longest);
    assert_eq!(replies.len(), 1);
    let file_name = replies[0].file_name().unwrap().len();
    assert!(file_name <= 255, "{file_name}");
    remove(&longest).unwrap();
    assert!(!default_path(&longest).exists());
    assert!(reply_regions(&longest).is_empty(), "reply regions removed");
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        match role.split_once(':') {
            Some(("make", args)) => make_under_umask(args),
            _ => panic!("unknown role {role}"),
        }
        return;
    }
    let checks: [(&str, fn()); 11] = [
        (
            "files_are_owner_only_whatever_the_umask",
            files_are_owner_only_whatever_the_umask,
        ),
        (
            "widened_permissions_are_exact_and_reach_reply_regions",
            widened_permissions_are_exact_and_reach_reply_regions,
        ),
        ("a_bad_mode_is_an_error", a_bad_mode_is_an_error),
        (
            "a_symlink_is_refused_and_not_followed",
            a_symlink_is_refused_and_not_followed,
        ),
        (
            "a_directory_or_a_fifo_is_refused",
            a_directory_or_a_fifo_is_refused,
        ),
        (
            "another_users_region_is_refused_unless_allowed",
            another_users_region_is_refused_unless_allowed,
        ),
        (
            "reply_regions_are_opened_with_the_request_regions_checks",
            reply_regions_are_opened_with_the_request_regions_checks,
        ),
        (
            "a_world_or_group_writable_region_is_refused_by_default",
            a_world_or_group_writable_region_is_refused_by_default,
        ),
        (
            "a_truncated_reply_region_is_a_typed_error",
            a_truncated_reply_region_is_a_typed_error,
        ),
        (
            "names_that_are_not_regions_are_refused_everywhere",
            names_that_are_not_regions_are_refused_everywhere,
        ),
        (
            "the_longest_name_has_room_for_its_reply_regions",
            the_longest_name_has_room_for_its_reply_regions,
        ),
    ];
    for (name, check) in checks {
        println!("test {name} ...");
        check();
        println!("test {name} ... ok");
    }
}
