//! Topics in shared memory: the same topic, its rings in a named region that other processes
//! open.
//!
//! The first process builds the topic with [`TopicBuilder::shared_memory`] (the region is made
//! under `/dev/shm/ringgroup_<name>`, or at a path of the caller's); others open it with
//! [`Topic::open`], which checks the region's layout version, message type and geometry, and
//! reads and subscribes as in one process. Messages must be plain data: [`bytemuck::Pod`], or
//! more generally [`bytemuck::AnyBitPattern`] (padding allowed: a request's route and value).
//!
//! # Who may open it
//!
//! The region's file is owner-only (`0600`) whatever the umask, unless the creator widens it
//! with [`SharedMemoryBuilder::permissions`] for a group of users. [`Topic::open`] accepts only
//! a regular file (never a symbolic link) that this process's user owns and no one else can
//! write; [`Topic::open_with`] takes [`RegionOptions`] that accept a group-writable file, or
//! another owner. A request topic's reply regions get its mode, and every process opens them
//! with the checks it opened the request topic's region with.
//!
//! A single-producer topic's producer belongs to one process (recorded in the region). If that
//! process dies, another takes the producer over with [`Topic::take_over_producer`] and goes on
//! at the published end: what the dead producer wrote but had not published was never visible,
//! and nothing published is lost. The takeover is refused while the holder lives (pid and start
//! time, not a timeout, decide).
//!
//! # Subscribers whose process died
//!
//! Every reader slot of a partition (a plain reader's, or a consumer group's cursor) records
//! the process that holds it. A process killed with `SIGKILL` never gives its slots back, and
//! the producer is gated on them, so a producer whose partition is full looks at the holders
//! of its reader slots (at most every 10 ms per partition while it stays full, before it waits
//! or times out, and a parked producer wakes for it) and takes back every slot whose holder is
//! **confirmed dead**, doing what that reader's drop would have done. The producer then goes
//! on, the other subscribers still receive everything, and the slot is free for a new
//! subscriber (one that finds every slot taken looks for dead holders too).
//! [`Topic::reclaimed_readers`] counts the slots taken back. A slow, stopped or hung process
//! keeps its slots: only its death (pid and start time, not a timeout) frees them, so a
//! hung reader still applies back-pressure. The processes must share a pid namespace.
//!
//! # Groups across processes
//!
//! A consumer group on a shared-memory topic is recorded in the region with its committed
//! offsets, and every process that builds it is a member: the partitions are planned across
//! the processes, and a dead process's partitions move to the live ones at its commits (see
//! `group::shared_memory`). Its cursors are the group's, not a process's: they are not taken
//! back when processes die, so a group with no member left keeps its place (and, like any
//! group, gates the producer) until the next process that builds it resumes at its commits,
//! or [`Topic::delete_group`] deletes it.

use std::path::{Path, PathBuf};

use bytemuck::AnyBitPattern;

use super::error::TopicError;
use super::producer::Producer;
use super::shared_producer::SharedProducer;
use super::{Topic, TopicBuilder};
use crate::partitioner::{Partitioner, Router};
use crate::ring::shared::Shared;
use crate::ring::{MultiProducer, SharedWriter, SingleProducer, Subscriber, WaitStrategy, Writer};
use crate::shm::{default_path, Region, RegionError, RegionOptions, Shape};
use crate::sync::{Arc, StdArc};

/// Configures a topic in shared memory; from [`TopicBuilder::shared_memory`]. Set the topic's
/// partitions, capacity and mode on the [`TopicBuilder`] before.
#[derive(Debug)]
#[must_use]
pub struct SharedMemoryBuilder<T, P> {
    builder: TopicBuilder<T, P>,
    path: Result<PathBuf, RegionError>,
    extra: usize,
    /// The region file's permissions, checked.
    mode: Result<u32, RegionError>,
}

impl<T: AnyBitPattern + Send + Sync, P> TopicBuilder<T, P> {
    /// Puts the topic in the shared-memory region `name` (`/dev/shm/ringgroup_<name>`), which
    /// this build creates and other processes [`Topic::open`]. A name that is not a region's
    /// (empty, `.` or `..`, holding `/` or NUL, longer than
    /// [`MAX_REGION_NAME`](crate::shm::MAX_REGION_NAME)) makes the build fail with
    /// [`RegionError::BadName`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::shm::RegionError;
    /// use ringgroup::{Topic, TopicError};
    ///
    /// let built = Topic::<u64>::builder("t").shared_memory("../escape").build();
    /// assert!(matches!(built, Err(TopicError::Region(RegionError::BadName))));
    /// ```
    pub fn shared_memory(self, name: &str) -> SharedMemoryBuilder<T, P> {
        let path = crate::shm::check_name(name).map(|()| default_path(name));
        SharedMemoryBuilder {
            builder: self,
            path,
            extra: crate::shm::TOPIC_EXTRA,
            mode: Ok(crate::shm::DEFAULT_PERMISSIONS),
        }
    }

    /// Puts the topic in a shared-memory region at `path`.
    pub fn shared_memory_at(self, path: impl Into<PathBuf>) -> SharedMemoryBuilder<T, P> {
        self.shared_memory_unchecked_at(
            path.into(),
            crate::shm::TOPIC_EXTRA,
            crate::shm::DEFAULT_PERMISSIONS,
        )
    }
}

impl<T, P> TopicBuilder<T, P> {
    /// [`shared_memory_at`](Self::shared_memory_at) with an extra area of `extra` bytes and
    /// file permissions `mode` (taken as they are: a request region's), for a `T` the caller
    /// knows to be plain data (a reply of a request topic's reply type, which that topic's
    /// region already required to be [`AnyBitPattern`]).
    pub(crate) fn shared_memory_unchecked_at(
        self,
        path: PathBuf,
        extra: usize,
        mode: u32,
    ) -> SharedMemoryBuilder<T, P> {
        SharedMemoryBuilder {
            builder: self,
            path: Ok(path),
            extra,
            mode: Ok(mode),
        }
    }
}

impl<T, P> SharedMemoryBuilder<T, P> {
    /// The region file's permissions (default [`DEFAULT_PERMISSIONS`](crate::shm::DEFAULT_PERMISSIONS),
    /// `0o600`: its owner alone), set exactly whatever the umask. Widen them for a group of
    /// users who share the region (`0o660`: the file's group reads and writes it); they open it
    /// with [`RegionOptions::permissions`] of the same mode. The mode must be permission bits
    /// only (`0o777`), keep the owner's read and write, and not let the world write: another
    /// mode makes the build fail with [`RegionError::InvalidPermissions`]. The reply regions of
    /// the topic's producer groups get the same mode.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    ///
    /// use ringgroup::shm::{default_path, RegionError};
    /// use ringgroup::{Topic, TopicError};
    ///
    /// let name = format!("doc-permissions-{}", std::process::id());
    /// let (topic, producer) = Topic::<u64>::builder("t")
    ///     .shared_memory(&name)
    ///     .permissions(0o660)
    ///     .build()?;
    /// let mode = std::fs::metadata(default_path(&name))?.permissions().mode();
    /// assert_eq!(mode & 0o777, 0o660);
    /// # drop((topic, producer));
    /// ringgroup::shm::remove(&name)?;
    ///
    /// let owner_cannot_write = Topic::<u64>::builder("t")
    ///     .shared_memory(&name)
    ///     .permissions(0o460)
    ///     .build();
    /// assert!(matches!(
    ///     owner_cannot_write,
    ///     Err(TopicError::Region(RegionError::InvalidPermissions { mode: 0o460 }))
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn permissions(mut self, mode: u32) -> Self {
        self.mode = crate::shm::checked_permissions(mode);
        self
    }
}

fn strategy_code(strategy: WaitStrategy) -> u64 {
    match strategy {
        WaitStrategy::BusySpin => 0,
        WaitStrategy::Yield => 1,
        WaitStrategy::SpinThenPark => 2,
    }
}

fn strategy_of(code: u64) -> Result<WaitStrategy, RegionError> {
    Ok(match code {
        0 => WaitStrategy::BusySpin,
        1 => WaitStrategy::Yield,
        2 => WaitStrategy::SpinThenPark,
        _ => {
            return Err(RegionError::Corrupt {
                what: "wait strategy",
            })
        }
    })
}

fn partitioner_code(partitioner: Partitioner) -> u64 {
    match partitioner {
        Partitioner::Default => 0,
        Partitioner::KeyHash => 1,
        Partitioner::RoundRobin => 2,
        Partitioner::Explicit => 3,
    }
}

fn partitioner_of(code: u64) -> Result<Partitioner, RegionError> {
    Ok(match code {
        0 => Partitioner::Default,
        1 => Partitioner::KeyHash,
        2 => Partitioner::RoundRobin,
        3 => Partitioner::Explicit,
        _ => {
            return Err(RegionError::Corrupt {
                what: "partitioner",
            })
        }
    })
}

/// The rings of a region, one per partition.
fn rings<T>(region: &StdArc<Region>, strategy: WaitStrategy) -> Vec<Arc<Shared<T>>> {
    (0..region.shape().partitions)
        .map(|partition| {
            Arc::new(
                Shared::over(region.ring(partition), strategy).guarded(region.boundary(partition)),
            )
        })
        .collect()
}

/// A topic over a region's rings.
fn topic_of<T>(
    name: String,
    region: &StdArc<Region>,
    rings: &[Arc<Shared<T>>],
) -> Result<(Topic<T>, Router), TopicError> {
    let shape = region.shape();
    let router = Router::new(partitioner_of(shape.partitioner)?, shape.partitions)
        .map_err(|_| TopicError::Region(RegionError::Corrupt { what: "partitions" }))?;
    let subscribers = rings.iter().cloned().map(Subscriber::new).collect();
    let mut topic = Topic::from_parts(
        name,
        subscribers,
        strategy_of(shape.strategy)?,
        router.clone(),
        shape.multi,
    );
    topic.set_region(region.clone());
    Ok((topic, router))
}

/// A created topic, the rings its producer writes, and the router it sends by.
type Created<T> = (Topic<T>, Vec<Arc<Shared<T>>>, Router);

impl<T: Send + Sync, P> SharedMemoryBuilder<T, P> {
    fn create(self, multi: bool) -> Result<Created<T>, TopicError> {
        self.builder.validate(multi)?;
        let path = self.path?;
        let mode = self.mode?;
        let b = self.builder;
        let shape = Shape {
            partitions: b.partitions,
            capacity: b.capacity,
            max_groups: b.max_groups,
            multi,
            strategy: strategy_code(b.strategy),
            partitioner: partitioner_code(b.partitioner),
            extra: self.extra,
        };
        let region = Region::create::<T>(&path, shape, mode)?;
        let rings = rings::<T>(&region, b.strategy);
        let (topic, router) = topic_of(b.name, &region, &rings)?;
        Ok((topic, rings, router))
    }
}

impl<T: AnyBitPattern + Send + Sync> SharedMemoryBuilder<T, SingleProducer> {
    /// Creates the region and the topic in it, with its producer (held by this process).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{StartAt, Topic};
    ///
    /// let name = format!("doc-{}", std::process::id());
    /// let (topic, mut producer) = Topic::<u64>::builder("orders").shared_memory(&name).build()?;
    /// // Another process would do the same through `Topic::open(&name)`.
    /// let other = Topic::<u64>::open(&name)?;
    /// let mut reader = other.subscriber(0).unwrap().subscribe(StartAt::Earliest)?;
    /// producer.send(42)?;
    /// assert_eq!(reader.try_poll(8)?.iter().copied().collect::<Vec<_>>(), [42]);
    /// # drop((topic, other, reader, producer));
    /// ringgroup::shm::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<(Topic<T>, Producer<T>), TopicError> {
        let (topic, rings, router) = self.create(false)?;
        if let Some(region) = topic.region() {
            let _ = region.producer_owner().acquire();
        }
        let writers = rings.into_iter().map(Writer::new).collect();
        Ok((topic, Producer::new(writers, router)))
    }
}

impl<T: AnyBitPattern + Send + Sync> SharedMemoryBuilder<T, MultiProducer> {
    /// Creates the region and the multi-producer topic in it, with a first producer handle.
    /// Other processes get more from [`Topic::producer`].
    pub fn build(self) -> Result<(Topic<T>, SharedProducer<T>), TopicError> {
        self.build_unchecked()
    }
}

impl<T: Send + Sync> SharedMemoryBuilder<T, MultiProducer> {
    /// [`build`](Self::build) for a builder from
    /// [`shared_memory_unchecked_at`](TopicBuilder::shared_memory_unchecked_at).
    pub(crate) fn build_unchecked(self) -> Result<(Topic<T>, SharedProducer<T>), TopicError> {
        let (topic, rings, router) = self.create(true)?;
        let writers = rings.into_iter().map(SharedWriter::new).collect();
        Ok((topic, SharedProducer::new(writers, router)))
    }
}

impl<T: AnyBitPattern + Send + Sync> Topic<T> {
    /// Opens the shared-memory topic in region `name` (`/dev/shm/ringgroup_<name>`), made by
    /// another process (or this one) with [`TopicBuilder::shared_memory`], with the strict
    /// checks of [`RegionOptions::new`]: the file must be a regular file (a symbolic link is
    /// never followed) that this process's user owns and no one else can write.
    ///
    /// Errors are typed, never a crash: a name that is not a region's, no such region, a link
    /// or another kind of file, another owner, permissions wider than accepted, another layout
    /// version, another message type, other geometry, a truncated or corrupt file, a creator
    /// that died before finishing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::Topic;
    ///
    /// let name = format!("doc-open-{}", std::process::id());
    /// let (topic, producer) = Topic::<u64>::builder("t").shared_memory(&name).build()?;
    /// let opened = Topic::<u64>::open(&name)?;
    /// assert_eq!(opened.partitions(), topic.partitions());
    /// # drop((topic, producer, opened));
    /// ringgroup::shm::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(name: &str) -> Result<Topic<T>, TopicError> {
        Self::open_with(name, RegionOptions::new())
    }

    /// [`open`](Self::open), with the checks of `options`: a region shared by a group of users
    /// (group-writable), or owned by another user.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::shm::RegionOptions;
    /// use ringgroup::Topic;
    ///
    /// let name = format!("doc-open-with-{}", std::process::id());
    /// let (topic, producer) = Topic::<u64>::builder("t")
    ///     .shared_memory(&name)
    ///     .permissions(0o660)
    ///     .build()?;
    /// let opened = Topic::<u64>::open_with(&name, RegionOptions::new().permissions(0o660))?;
    /// # drop((topic, producer, opened));
    /// ringgroup::shm::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_with(name: &str, options: RegionOptions) -> Result<Topic<T>, TopicError> {
        crate::shm::check_name(name)?;
        Self::open_at_with(default_path(name), options)
    }

    /// Opens the shared-memory topic at `path`, with the strict checks of [`open`](Self::open).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::shm::default_path;
    /// use ringgroup::Topic;
    ///
    /// let name = format!("doc-open-at-{}", std::process::id());
    /// let (topic, producer) = Topic::<u64>::builder("t").shared_memory(&name).build()?;
    /// let opened = Topic::<u64>::open_at(default_path(&name))?;
    /// # drop((topic, producer, opened));
    /// ringgroup::shm::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_at(path: impl AsRef<Path>) -> Result<Topic<T>, TopicError> {
        Self::open_at_with(path, RegionOptions::new())
    }

    /// Opens the shared-memory topic at `path`, with the checks of `options` (see
    /// [`open_with`](Self::open_with)).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::shm::{default_path, RegionOptions};
    /// use ringgroup::Topic;
    ///
    /// let name = format!("doc-open-at-with-{}", std::process::id());
    /// let (topic, producer) = Topic::<u64>::builder("t").shared_memory(&name).build()?;
    /// let opened = Topic::<u64>::open_at_with(default_path(&name), RegionOptions::new())?;
    /// # drop((topic, producer, opened));
    /// ringgroup::shm::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_at_with(
        path: impl AsRef<Path>,
        options: RegionOptions,
    ) -> Result<Topic<T>, TopicError> {
        Self::open_unchecked_at(path.as_ref(), &options)
    }

    /// Takes the producer of a single-producer shared-memory topic whose producing process
    /// died: production goes on at each partition's published end. Refused with
    /// [`TopicError::ProducerAlive`] while that process lives (it is identified by pid and start
    /// time, so a reused pid does not count), and with [`TopicError::Closed`] once the producer
    /// closed the topic.
    pub fn take_over_producer(&self) -> Result<Producer<T>, TopicError> {
        let Some(region) = self.region() else {
            return Err(TopicError::NotSharedMemory);
        };
        if self.is_multi_producer() {
            return Err(TopicError::NotSharedMemory);
        }
        region
            .producer_owner()
            .take_over()
            .map_err(|holder| TopicError::ProducerAlive { pid: holder.pid })?;
        if self.subscribers().iter().any(Subscriber::is_closed) {
            region.producer_owner().release();
            return Err(TopicError::Closed);
        }
        let writers = self
            .subscribers()
            .iter()
            .map(|ring| Writer::resume(ring.shared().clone()))
            .collect::<Result<_, _>>()
            .inspect_err(|_| region.producer_owner().release())?;
        Ok(Producer::new(writers, self.inner.router.clone()))
    }
}

impl<T: Send + Sync> Topic<T> {
    /// [`open_at_with`](Self::open_at_with) for a `T` the caller knows to be plain data (see
    /// [`TopicBuilder::shared_memory_unchecked_at`]).
    pub(crate) fn open_unchecked_at(
        path: &Path,
        options: &RegionOptions,
    ) -> Result<Topic<T>, TopicError> {
        let region = Region::open::<T>(path, options)?;
        let shape = region.shape().clone();
        let rings = rings::<T>(&region, strategy_of(shape.strategy)?);
        let name = path
            .file_name()
            .map(crate::shm::region_name)
            .unwrap_or_default();
        Ok(topic_of(name, &region, &rings)?.0)
    }
}
