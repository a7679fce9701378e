//! The multi-producer streams of `compare/mpsc` and `compare/mpmc`, and their check.
//!
//! - Messages: the run's `messages` are numbered `0..n`; the [`PRODUCERS`] producers (thread
//!   slots `0..`) take them in chunks of [`CHUNK`] from a shared counter ([`Quota`]), and
//!   producer `p` sends sequence number `s` as [`tag`]`(p, s)` (its id in the top bits), one
//!   message per send. Chunks rather than a fixed half each: with three threads on two cores
//!   the producer alone on its core would finish its half long before the other, and leave its
//!   core idle for the rest of the run (a run that looks disturbed, and measures one producer).
//! - Consumers (thread slots `PRODUCERS..`) take up to `plan.batch` ready messages per receive
//!   and check them with [`Tagged`]: per producer, the sequence numbers each consumer takes
//!   must rise (per-producer order), each consumer must have taken from a producer no more than
//!   it sent, and over all consumers the sequence numbers must be exactly `0..n` once each (no
//!   loss, no duplicate: counted, summed and summed in squares).
//! - How consumers share the messages ([`Sharing`]): a work queue (crossbeam's channel and
//!   `ArrayQueue`) hands each message to one consumer; a broadcast ring (ringgroup's ring, and
//!   disruptor's handlers in `disruptor_ring`) shows every message to every consumer, so
//!   consumer `k` of `C` takes the messages at offsets `k mod C` and steps over the others:
//!   what each system can express for "two consumers sharing the messages". With one consumer
//!   both are the same.
//! - Timing: every thread is pinned, then meets at a start line; the time runs from the first
//!   producer leaving it until the last consumer knows every message was taken. A queue's
//!   consumer cannot know that from its own count, so while it finds the queue empty it
//!   publishes its count (its own cache line) and adds up everyone's.
//! - A waiting thread that makes no progress for `STALL` fails the run.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use crossbeam_utils::CachePadded;
use ringgroup_testkit::alloc;
use ringgroup_testkit::threads::{join, start_line_with};

use super::drive::Throughput;
use super::{send, Idle, Plan, Rx, Tx};

/// Producer threads of `mpsc` and `mpmc`.
pub const PRODUCERS: usize = 2;

/// Where a message's producer id starts.
const TAG_SHIFT: u32 = 48;

/// The sequence-number bits of a message.
const SEQUENCE: u64 = (1 << TAG_SHIFT) - 1;

/// The message producer `producer` sends as its `sequence`-th.
#[inline(always)]
pub fn tag(producer: usize, sequence: u64) -> u64 {
    ((producer as u64) << TAG_SHIFT) | sequence
}

/// Sequence numbers a producer takes from the [`Quota`] at a time.
pub const CHUNK: u64 = 256;

/// The sequence numbers `0..total` of a run, handed out to the producers in chunks.
pub struct Quota {
    next: CachePadded<AtomicU64>,
    total: u64,
}

impl Quota {
    /// `0..total` (at least one message), none handed out yet.
    pub fn new(total: u64) -> Self {
        Self {
            next: CachePadded::new(AtomicU64::new(0)),
            total: total.max(1),
        }
    }

    /// The run's messages.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The next chunk, or `None` once all were handed out.
    #[inline]
    pub fn claim(&self) -> Option<std::ops::Range<u64>> {
        // Relaxed: only the counter's atomicity matters; the messages are ordered by the queue.
        let first = self.next.fetch_add(CHUNK, Ordering::Relaxed);
        (first < self.total).then(|| first..(first + CHUNK).min(self.total))
    }

    /// Sends chunks as producer `p` through `send` until none are left; returns how many
    /// messages it sent.
    pub fn produce(
        &self,
        p: usize,
        mut send: impl FnMut(u64) -> Result<(), String>,
    ) -> Result<u64, String> {
        let mut sent = 0;
        while let Some(chunk) = self.claim() {
            for sequence in chunk {
                send(tag(p, sequence))?;
                sent += 1;
            }
        }
        Ok(sent)
    }
}

/// How the consumers of a multi-consumer run share the messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Every consumer sees every message and takes those at offsets `k mod C`.
    Broadcast,
    /// Each message goes to one consumer (a work queue).
    Queue,
}

/// Which messages of a broadcast one consumer takes: those whose offset is `index` modulo
/// `of`. `of == 1`: all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// This consumer's index.
    pub index: u64,
    /// How many consumers share the messages.
    pub of: u64,
}

impl Share {
    /// Every message.
    pub const ALL: Share = Share { index: 0, of: 1 };

    /// Whether the message at `offset` is this consumer's.
    #[inline(always)]
    pub fn takes(self, offset: u64) -> bool {
        offset % self.of == self.index
    }
}

/// One consumer's check of the tagged messages of [`PRODUCERS`] producers: per producer, the
/// sequence numbers it takes must rise and stay below the run's total; it counts, sums and sums
/// the squares of them, so that [`verdict`] can tell, over every consumer, that each message
/// arrived exactly once.
#[derive(Clone, Copy, Debug)]
pub struct Tagged {
    /// The run's messages: every sequence number is below.
    limit: u64,
    /// Per producer: the lowest sequence number acceptable next.
    next: [u64; PRODUCERS],
    /// Per producer: messages taken, their sum and their sum of squares (wrapping).
    count: [u64; PRODUCERS],
    sum: [u64; PRODUCERS],
    squares: [u64; PRODUCERS],
    /// Messages taken, from every producer.
    pub taken: u64,
    /// The first wrong message: (received, the lowest acceptable from its producer).
    broken: Option<(u64, u64)>,
}

impl Tagged {
    /// A check of a run of `limit` messages in all.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            next: [0; PRODUCERS],
            count: [0; PRODUCERS],
            sum: [0; PRODUCERS],
            squares: [0; PRODUCERS],
            taken: 0,
            broken: None,
        }
    }

    /// Checks one message taken.
    #[inline(always)]
    pub fn check(&mut self, value: u64) {
        let producer = (value >> TAG_SHIFT) as usize;
        let sequence = value & SEQUENCE;
        self.taken += 1;
        match self.next.get(producer) {
            Some(&next) if sequence >= next && sequence < self.limit => {
                self.next[producer] = sequence + 1;
                self.count[producer] += 1;
                self.sum[producer] = self.sum[producer].wrapping_add(sequence);
                self.squares[producer] =
                    self.squares[producer].wrapping_add(sequence.wrapping_mul(sequence));
            }
            next => self.note(value, next.copied()),
        }
    }

    /// Checks this consumer's share of a run of messages read at offsets `first..`. Never
    /// inlined, for the reason given at [`Expect::check_all`](super::Expect::check_all): every
    /// system's consumer runs the same machine code.
    #[inline(never)]
    pub fn check_all(&mut self, values: &[u64], first: u64, share: Share) {
        if share.of == 1 {
            for &value in values {
                self.check(value);
            }
            return;
        }
        // The first index whose offset is ours.
        let skip = (share.index + share.of - first % share.of) % share.of;
        for &value in values.iter().skip(skip as usize).step_by(share.of as usize) {
            self.check(value);
        }
    }

    #[cold]
    #[inline(never)]
    fn note(&mut self, value: u64, next: Option<u64>) {
        if self.broken.is_none() {
            self.broken = Some((value, next.unwrap_or(u64::MAX)));
        }
    }
}

/// `Err` unless every consumer took its messages in per-producer order and, over all of them,
/// producer `p` delivered exactly the `sent[p]` it sent and the sequence numbers `0..total`
/// arrived once each.
pub fn verdict(consumers: &[Tagged], sent: &[u64]) -> Result<(), String> {
    for (k, c) in consumers.iter().enumerate() {
        if let Some((got, want)) = c.broken {
            let producer = got >> TAG_SHIFT;
            return Err(format!(
                "consumer {k} received message {} of producer {producer} where at least {} \
                 (and below {}) was expected",
                got & SEQUENCE,
                if want == u64::MAX { 0 } else { want },
                c.limit
            ));
        }
    }
    let Some(total) = consumers.first().map(|c| c.limit) else {
        return Err("no consumers".into());
    };
    for (producer, &sent) in sent.iter().enumerate().take(PRODUCERS) {
        let count = consumers.iter().map(|c| c.count[producer]).sum::<u64>();
        if count != sent {
            return Err(format!(
                "producer {producer} sent {sent} messages, the consumers took {count}"
            ));
        }
    }
    let sent: u64 = sent.iter().sum();
    if sent != total {
        return Err(format!("the producers sent {sent} of {total} messages"));
    }
    let n = u128::from(total);
    let want_sum = (n * n.saturating_sub(1) / 2) as u64;
    let want_squares = (n.saturating_sub(1) * n * (2 * n).saturating_sub(1) / 6) as u64;
    let (mut sum, mut squares) = (0_u64, 0_u64);
    for c in consumers {
        for producer in 0..PRODUCERS {
            sum = sum.wrapping_add(c.sum[producer]);
            squares = squares.wrapping_add(c.squares[producer]);
        }
    }
    if sum != want_sum || squares != want_squares {
        return Err(format!(
            "the consumers took {total} messages, but not 0..{total} once each (one was lost \
             and another taken twice)"
        ));
    }
    Ok(())
}

/// Runs [`PRODUCERS`] producers sending through `txs` (one each) to the consumers reading
/// `rxs`, sharing the messages as `sharing` says; `plan.messages` in all, up to `plan.batch`
/// per receive.
pub fn stream<T: Tx, R: Rx>(
    txs: Vec<T>,
    rxs: Vec<R>,
    sharing: Sharing,
    plan: &Plan,
) -> Result<Throughput, String> {
    if txs.len() != PRODUCERS || rxs.is_empty() {
        return Err(format!(
            "a multi-producer stream takes {PRODUCERS} producers and at least one consumer"
        ));
    }
    let quota = Quota::new(plan.messages);
    let total = quota.total();
    let waiting = plan.waiting;
    let consumers = rxs.len();
    let threads = PRODUCERS + consumers;
    let arrived = AtomicUsize::new(0);
    // Queue sharing: each consumer's count, published while it finds the queue empty.
    let counts: Vec<CachePadded<AtomicU64>> = (0..consumers)
        .map(|_| CachePadded::new(AtomicU64::new(0)))
        .collect();
    let before = alloc::allocations();
    let (starts, ends) = thread::scope(|s| {
        let (arrived, counts, quota) = (&arrived, &counts, &quota);
        let readers: Vec<_> = rxs
            .into_iter()
            .enumerate()
            .map(|(k, rx)| {
                let mut rx = CachePadded::new(rx);
                let share = match sharing {
                    Sharing::Broadcast => Share {
                        index: k as u64,
                        of: consumers as u64,
                    },
                    Sharing::Queue => Share::ALL,
                };
                s.spawn(move || {
                    plan.cores.pin(PRODUCERS + k);
                    start_line_with(arrived, threads, || waiting.pause());
                    alloc::count_this_thread();
                    let result = consume(&mut *rx, k, share, sharing, counts, total, plan);
                    let end = Instant::now();
                    alloc::stop_counting_this_thread();
                    result
                        .map(|tagged| (tagged, end))
                        .map_err(|e| format!("consumer {k}: {e}"))
                })
            })
            .collect();
        let writers: Vec<_> = txs
            .into_iter()
            .enumerate()
            .map(|(p, tx)| {
                let mut tx = CachePadded::new(tx);
                s.spawn(move || {
                    plan.cores.pin(p);
                    start_line_with(arrived, threads, || waiting.pause());
                    alloc::count_this_thread();
                    let start = Instant::now();
                    let result = quota.produce(p, |value| send(&mut *tx, value, waiting));
                    alloc::stop_counting_this_thread();
                    result
                        .map(|sent| (start, sent))
                        .map_err(|e| format!("producer {p}: {e}"))
                })
            })
            .collect();
        let starts: Vec<_> = writers.into_iter().map(|h| join(h, "producer")).collect();
        let ends: Vec<_> = readers.into_iter().map(|h| join(h, "consumer")).collect();
        (starts, ends)
    });
    let mut start = None;
    let mut sent = Vec::with_capacity(PRODUCERS);
    for s in starts {
        let (s, n) = s?;
        start = Some(start.map_or(s, |t: Instant| t.min(s)));
        sent.push(n);
    }
    let start = start.ok_or("no producers")?;
    let mut tallies = Vec::with_capacity(consumers);
    let mut last = start;
    for end in ends {
        let (tagged, end) = end?;
        tallies.push(tagged);
        last = last.max(end);
    }
    verdict(&tallies, &sent)?;
    Ok(Throughput {
        elapsed: last.saturating_duration_since(start),
        messages: total,
        allocs_per_msg: alloc::per_message(before, total),
    })
}

/// One consumer: takes its share until every message was taken (by it, or by anyone when
/// the messages are shared through a queue).
#[allow(clippy::too_many_arguments)]
fn consume<R: Rx>(
    rx: &mut R,
    k: usize,
    share: Share,
    sharing: Sharing,
    counts: &[CachePadded<AtomicU64>],
    total: u64,
    plan: &Plan,
) -> Result<Tagged, String> {
    let mut tagged = Tagged::new(total);
    // Broadcast: messages read (every consumer's share), which are also the next offset.
    let mut seen = 0_u64;
    let mut idle = Idle::new(plan.waiting);
    let batch = plan.batch.max(1);
    loop {
        let got = rx.try_recv_batch(batch, &mut |values| {
            tagged.check_all(values, seen, share);
            seen += values.len() as u64;
        });
        if got > 0 {
            idle.reset();
            if sharing == Sharing::Broadcast && seen >= total {
                return Ok(tagged);
            }
            continue;
        }
        if sharing == Sharing::Queue {
            // Relaxed: a count for the stop condition only; the messages were checked by
            // whoever took them, and each consumer's tally is joined with its thread.
            counts[k].store(tagged.taken, Ordering::Relaxed);
            let all: u64 = counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
            if all >= total {
                return Ok(tagged);
            }
        }
        idle.wait().map_err(|e| {
            format!(
                "{e} after taking {} messages ({} of {total} read)",
                tagged.taken, seen
            )
        })?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_takes_every_other_offset() {
        let mut even = Tagged::new(10);
        let mut odd = Tagged::new(10);
        let values: Vec<u64> = (0..10).map(|i| tag((i % 2) as usize, i / 2)).collect();
        // Read in two runs, the second starting at an odd offset.
        for (first, run) in [(0, &values[..3]), (3, &values[3..])] {
            even.check_all(run, first, Share { index: 0, of: 2 });
            odd.check_all(run, first, Share { index: 1, of: 2 });
        }
        assert_eq!((even.taken, odd.taken), (5, 5));
        assert_eq!(even.count, [5, 0]);
        assert_eq!(odd.count, [0, 5]);
        let mut odd_all = Tagged::new(5);
        odd_all.check_all(&values, 0, Share::ALL);
        assert!(odd_all.broken.is_none());
    }

    #[test]
    fn the_verdict_needs_each_message_once_in_order() {
        let n = 100;
        let all = |order: &mut dyn Iterator<Item = u64>| {
            let mut t = Tagged::new(n);
            for v in order {
                t.check(v);
            }
            t
        };
        let half = [n / 2, n / 2];
        // Producer 0 sent the even numbers, producer 1 the odd ones; two consumers each took
        // every other pair, each in order: fine.
        let pair = |i: u64| [tag(0, 2 * i), tag(1, 2 * i + 1)];
        let a = all(&mut (0..n / 2).step_by(2).flat_map(pair));
        let b = all(&mut (1..n / 2).step_by(2).flat_map(pair));
        assert_eq!(verdict(&[a, b], &half), Ok(()));
        // Out of order within one producer.
        let c = all(&mut [tag(0, 2), tag(0, 0)].into_iter());
        assert!(verdict(&[c], &half)
            .unwrap_err()
            .contains("consumer 0 received message 0"));
        // One lost.
        let d = all(&mut (0..n / 2).filter(|&i| i != 7).flat_map(pair));
        assert!(verdict(&[d], &half)
            .unwrap_err()
            .contains("producer 0 sent 50 messages, the consumers took 49"));
        // One lost, another taken twice (by the other consumer).
        let e = all(&mut (0..n / 2).flat_map(pair).filter(|&v| v != tag(0, 14)));
        let f = all(&mut [tag(0, 16)].into_iter());
        assert!(verdict(&[e, f], &half).unwrap_err().contains("once each"));
        // The producers did not send them all.
        let g = all(&mut (0..n / 2 - 1).flat_map(pair));
        assert!(verdict(&[g], &[49, 49])
            .unwrap_err()
            .contains("sent 98 of 100"));
        // From an unknown producer, or past the end.
        assert!(verdict(&[all(&mut [tag(5, 0)].into_iter())], &half).is_err());
        assert!(verdict(&[all(&mut [tag(0, n)].into_iter())], &half).is_err());
    }

    #[test]
    fn the_quota_hands_out_every_number_once_in_chunks() {
        let quota = Quota::new(CHUNK * 2 + 3);
        let mut got = Vec::new();
        let sent = quota
            .produce(1, |value| {
                got.push(value);
                Ok(())
            })
            .unwrap();
        assert_eq!(sent, CHUNK * 2 + 3);
        assert_eq!(got, (0..sent).map(|s| tag(1, s)).collect::<Vec<_>>());
        assert_eq!(quota.claim(), None);
    }
}
