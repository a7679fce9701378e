//! The topic workload that `throughput`, `fanout` and `scale` measure, and how they measure it
//! ([`measure`]: runs, summary, record).
//!
//! One producer thread owns every partition's writer and publishes `batch` messages to each
//! partition in turn. Each of `groups` groups has `members` consumer threads polling up to
//! `batch` messages at a time, with auto-commit. Every message carries its partition offset in
//! its first word and every consumer checks it against the record's offset, and each group must
//! end with exactly `messages` deliveries (stable membership: no loss, no duplicates), so a run
//! that measured nothing cannot pass. The timed span runs from the start line (all threads
//! joined, assigned and spinning) to the last consumer seeing its partitions closed and drained.

use std::sync::atomic::AtomicUsize;
use std::thread;
use std::time::{Duration, Instant};

use ringgroup::ring::WaitStrategy;
use ringgroup::topic::Topic;
use ringgroup_results::names::system;
use ringgroup_testkit::alloc;
use ringgroup_testkit::threads::start_line;

use crate::common::Ctx;
use crate::cores::Cores;
use crate::report::{round, Record};

/// A message of `W` words (8 × `W` bytes); word 0 is the partition offset.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Message<const W: usize>(pub [u64; W]);

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Partitions in the topic.
    pub partitions: u32,
    /// Consumer groups, each reading every message.
    pub groups: u32,
    /// Members per group.
    pub members: u32,
    /// Messages per publish and at most per poll.
    pub batch: usize,
    /// Slots per partition ring.
    pub capacity: usize,
    /// Messages published in total (split evenly over the partitions).
    pub messages: u64,
    /// Message size in bytes: 8, 64 or 256.
    pub size: usize,
    /// How a blocked producer waits (consumers wait inside `Consumer::poll`).
    pub wait: WaitStrategy,
}

/// What one run measured.
#[derive(Clone, Copy, Debug)]
pub struct Measurement {
    /// From the start line to the last consumer done.
    pub elapsed: Duration,
    /// Messages published (a multiple of the partition count).
    pub published: u64,
    /// Allocations on the producer and consumer threads during the run, per published message.
    pub allocs_per_msg: f64,
}

impl Measurement {
    /// Published messages per second, in millions.
    pub fn mmsgs_per_s(&self) -> f64 {
        self.published as f64 / self.elapsed.as_secs_f64() / 1e6
    }
}

impl Workload {
    /// Threads this workload runs: one producer plus every member.
    pub fn threads(&self) -> usize {
        1 + (self.groups * self.members) as usize
    }

    /// This workload with the producer's wait strategy chosen by `wait` for `cores` cores.
    /// `partitions × groups × members` with the shared message and ring flags, `messages`
    /// messages, waiting as `ring.wait` says for this many threads on `cores` cores.
    pub fn from_flags(
        (partitions, groups, members): (u32, u32, u32),
        message: &crate::common::MessageFlags,
        ring: &crate::common::RingFlags,
        messages: u64,
        cores: usize,
    ) -> Self {
        Self {
            partitions,
            groups,
            members,
            batch: message.batch,
            capacity: ring.capacity,
            messages,
            size: message.size,
            wait: ringgroup::ring::WaitStrategy::BusySpin,
        }
        .waiting(ring.wait, cores)
    }

    pub fn waiting(self, wait: crate::common::Wait, cores: usize) -> Self {
        Self {
            wait: wait.strategy(self.threads(), cores),
            ..self
        }
    }

    /// Runs once; `Err` when the topic cannot be built or a check failed.
    pub fn run(&self, cores: &Cores) -> Result<Measurement, String> {
        match self.size {
            8 => self.run_sized::<1>(cores),
            64 => self.run_sized::<8>(cores),
            256 => self.run_sized::<32>(cores),
            other => Err(format!("message size {other} is not one of 8, 64, 256")),
        }
    }

    fn run_sized<const W: usize>(&self, cores: &Cores) -> Result<Measurement, String> {
        let per_partition = (self.messages / u64::from(self.partitions)).max(1);
        let published = per_partition * u64::from(self.partitions);
        let (topic, producer) = Topic::<Message<W>>::builder("bench")
            .partitions(self.partitions)
            .capacity(self.capacity)
            .max_groups(self.groups as usize)
            .wait_strategy(self.wait)
            .build()
            .map_err(|e| e.to_string())?;
        let mut consumers = Vec::new();
        let mut groups = Vec::new();
        for g in 0..self.groups {
            let group = topic
                .group(format!("g{g}"))
                .build()
                .map_err(|e| e.to_string())?;
            for _ in 0..self.members {
                consumers.push((g, group.join().map_err(|e| e.to_string())?));
            }
            groups.push(group);
        }
        let mut writers = producer.into_partition_writers();
        let batch = self.batch.max(1);
        let threads = self.threads();
        let arrived = AtomicUsize::new(0);
        let before = alloc::allocations();
        let (start, ends, delivered) = thread::scope(|s| {
            let arrived = &arrived;
            let mut handles = Vec::new();
            for (slot, (group, consumer)) in consumers.into_iter().enumerate() {
                handles.push(s.spawn(move || {
                    cores.pin(slot + 1);
                    // Settle the assignment before the clock starts.
                    let _ = consumer.poll(batch, Duration::ZERO);
                    start_line(arrived, threads);
                    alloc::count_this_thread();
                    let mut seen = 0u64;
                    let mut broken = None;
                    loop {
                        match consumer.poll(batch, Duration::from_secs(5)) {
                            Ok(records) => {
                                for r in records.iter() {
                                    if r.value.0[0] != r.offset && broken.is_none() {
                                        broken = Some((r.partition, r.offset, r.value.0[0]));
                                    }
                                }
                                seen += records.len() as u64;
                            }
                            Err(ringgroup::ConsumeError::Closed) => break,
                            Err(e) => {
                                alloc::stop_counting_this_thread();
                                return Err(format!("group {group}: poll failed: {e}"));
                            }
                        }
                    }
                    let end = Instant::now();
                    alloc::stop_counting_this_thread();
                    drop(consumer);
                    match broken {
                        Some((p, o, v)) => Err(format!("partition {p} offset {o} carried {v}")),
                        None => Ok((group, seen, end)),
                    }
                }));
            }
            cores.pin(0);
            start_line(arrived, threads);
            alloc::count_this_thread();
            let start = Instant::now();
            let mut sent = 0u64;
            while sent < per_partition {
                let n = (per_partition - sent).min(batch as u64);
                for writer in &mut writers {
                    if n == 1 {
                        writer.publish(Message([sent; W]));
                    } else {
                        writer.publish_batch((sent..sent + n).map(|o| Message([o; W])));
                    }
                }
                sent += n;
            }
            alloc::stop_counting_this_thread();
            writers.clear(); // closes every partition
            let mut ends = Vec::new();
            let mut delivered = vec![0u64; self.groups as usize];
            for h in handles {
                let (group, seen, end) =
                    h.join().map_err(|_| "a consumer panicked".to_owned())??;
                delivered[group as usize] += seen;
                ends.push(end);
            }
            Ok::<_, String>((start, ends, delivered))
        })?;
        for (g, &n) in delivered.iter().enumerate() {
            if n != published {
                return Err(format!("group {g} received {n} of {published} messages"));
            }
        }
        let end = ends.into_iter().max().unwrap_or(start);
        drop(groups);
        drop(topic);
        Ok(Measurement {
            elapsed: end.saturating_duration_since(start),
            published,
            allocs_per_msg: alloc::per_message(before, published),
        })
    }
}

/// Accepts the three message sizes the workload is built for.
pub fn parse_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ (8 | 64 | 256)) => Ok(n),
        _ => Err(format!("{s:?} is not a message size: use 8, 64 or 256")),
    }
}

/// Runs `workload` `runs` times and summarises it as a `scenario` record of ringgroup.
pub fn measure(scenario: &str, w: &Workload, runs: u32, ctx: &mut Ctx) -> Result<Record, String> {
    let (mut rates, mut allocs) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        let m = w.run(&ctx.cores)?;
        rates.push(m.mmsgs_per_s());
        allocs.push(m.allocs_per_msg);
        ctx.progress.step(format!(
            "{scenario} p={} g={} m={} batch={} size={}: run {run}/{runs}: {:.1} M msg/s",
            w.partitions,
            w.groups,
            w.members,
            w.batch,
            w.size,
            m.mmsgs_per_s()
        ));
    }
    let gbytes: Vec<f64> = rates.iter().map(|r| r * w.size as f64 / 1e3).collect();
    let deliveries: Vec<f64> = rates.iter().map(|r| r * f64::from(w.groups)).collect();
    let worst_allocs = allocs.iter().copied().fold(0.0, f64::max);
    Ok(Record::new(scenario, system::RINGGROUP, runs)
        .param("partitions", w.partitions)
        .param("groups", w.groups)
        .param("members", w.members)
        .param("batch", w.batch)
        .param("size_bytes", w.size)
        .param("messages", w.messages)
        .summary("mmsgs_per_s", &rates)
        .summary("gbytes_per_s", &gbytes)
        .summary("deliveries_mmsgs_per_s", &deliveries)
        .figure("allocs_per_msg", round(worst_allocs)))
}
