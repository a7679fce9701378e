//! The roles a child plays: producers, consumers, a requester and a worker, and late openers.
//! Every record received is checked (the self-check's planted failures are in `child`).

use std::collections::VecDeque;

use ringgroup::partitioner::kafka_partition;
use ringgroup::producer_group::{ReplyError, RequestError, WaitError};
use ringgroup::{ConsumeError, PollError, ProducerRecord, SendError, StartAt, Topic, WaitStrategy};

use crate::child::{drive, enter, setup, typed, End, Phase, Turn};
use crate::{
    answer, Job, Tagged, CAPACITY, INVALID, MAX_BATCH, MAX_GROUPS, OK, OP_TIMEOUT, PARTITIONS,
    TYPED,
};

/// What a checked record is.
enum Seen {
    /// The record sent to that partition (and, when `seq` is the offset, at that offset).
    Record,
    /// A record of a later lap at the same slot: the producer lapped this reader.
    LaterLap,
}

/// Checks a record lent at `offset` of `partition`: tagged for the partition, and, when `seq`
/// is the offset, sent at that offset or (the one allowance, below) at a later lap of it.
fn check(partition: u32, offset: u64, value: &Tagged, seq_is_offset: bool) -> Result<Seen, End> {
    if !value.is_valid(u64::from(partition)) {
        return Err(End::Invalid(format!(
            "partition {partition} offset {offset}: {value:?} is not a record sent there"
        )));
    }
    if !seq_is_offset || value.seq == offset {
        return Ok(Seen::Record);
    }
    let lap = CAPACITY as u64;
    if value.seq > offset && (value.seq - offset) % lap == 0 {
        return Ok(Seen::LaterLap);
    }
    Err(End::Invalid(format!(
        "partition {partition} offset {offset}: record {} of another offset",
        value.seq
    )))
}

/// The partitions on which this reader was lapped. `shm::trust` allows one thing no check can
/// prevent: a gating word forged forward lets the producer lap a reader, so records already
/// lent may be overwritten by a later lap's. The reader must then learn it at its next poll
/// of that partition (`Corrupt`); a poll there that lends records again is a failure.
#[derive(Default)]
struct Lapped(Vec<u32>);

impl Lapped {
    /// Notes what `seen` says of `partition`.
    fn note(&mut self, partition: u32, seen: Seen) {
        if matches!(seen, Seen::LaterLap) && !self.0.contains(&partition) {
            self.0.push(partition);
        }
    }

    /// An error if `partition` was lapped and a poll lent records there again.
    fn lent_again(&self, partition: u32) -> Result<(), End> {
        if self.0.contains(&partition) {
            return Err(End::Invalid(format!(
                "partition {partition}: lapped (a later lap's record in a lent batch), then \
                 lent records again instead of Corrupt"
            )));
        }
        Ok(())
    }
}

fn too_many(len: usize) -> Result<(), End> {
    if len > MAX_BATCH {
        return Err(End::Invalid(format!(
            "a batch of {len} records for at most {MAX_BATCH}"
        )));
    }
    Ok(())
}

/// Creates the single-producer topic and sends `seq = offset` to each partition in turn.
pub(crate) fn single_producer(region: &str) -> i32 {
    let (_topic, mut producer) = setup(
        Topic::<Tagged>::builder("walk")
            .partitions(PARTITIONS)
            .capacity(CAPACITY)
            .max_groups(MAX_GROUPS)
            .wait_strategy(WaitStrategy::SpinThenPark)
            .shared_memory(region)
            .build(),
        "create",
    );
    println!("ready");
    let mut next = [0_u64; PARTITIONS as usize];
    let mut partition = 0;
    drive(|| {
        partition = (partition + 1) % PARTITIONS;
        let seq = next[partition as usize];
        let record = ProducerRecord::new(Tagged::new(seq, u64::from(partition)));
        enter(Phase::Send);
        match producer.send_timeout(record.partition(partition), OP_TIMEOUT) {
            Ok(sent) if sent.partition != partition || sent.offset != seq => Err(End::Invalid(
                format!("record {seq} of partition {partition} reported at {sent:?}"),
            )),
            Ok(_) => {
                next[partition as usize] += 1;
                Ok(Turn::Progress)
            }
            Err(error @ SendError::Timeout(_)) => Ok(Turn::Idle(format!("send: {error}"))),
            Err(error) => Err(typed("send", &error)),
        }
    })
}

/// Creates (producer 0) or opens the multi-producer topic and sends to each partition in
/// turn.
pub(crate) fn multi_producer(region: &str, id: u64) -> i32 {
    let (_topic, producer) = if id == 0 {
        let built = Topic::<Tagged>::builder("walk")
            .partitions(PARTITIONS)
            .capacity(CAPACITY)
            .max_groups(MAX_GROUPS)
            .wait_strategy(WaitStrategy::SpinThenPark)
            .multi_producer()
            .shared_memory(region)
            .build();
        setup(built, "create")
    } else {
        let topic = setup(Topic::<Tagged>::open(region), "open");
        let producer = setup(topic.producer().ok_or("not multi-producer"), "producer");
        (topic, producer)
    };
    println!("ready");
    let mut next = 0_u64;
    drive(|| {
        let partition = (next % u64::from(PARTITIONS)) as u32;
        let record = Tagged::new((id << 40) | next, u64::from(partition));
        enter(Phase::Send);
        match producer.send_timeout(ProducerRecord::new(record).partition(partition), OP_TIMEOUT) {
            Ok(sent) if sent.partition != partition => Err(End::Invalid(format!(
                "a record for partition {partition} reported at {sent:?}"
            ))),
            Ok(_) => {
                next += 1;
                Ok(Turn::Progress)
            }
            Err(error @ SendError::Timeout(_)) => Ok(Turn::Idle(format!("send: {error}"))),
            Err(error) => Err(typed("send", &error)),
        }
    })
}

/// A member of group `walkers`, checking every record.
pub(crate) fn member(region: &str, seq_is_offset: bool) -> i32 {
    let topic = setup(Topic::<Tagged>::open(region), "open");
    let group = setup(topic.group("walkers").build(), "group");
    let member = setup(group.join(), "join");
    println!("ready");
    let mut lapped = Lapped::default();
    drive(|| {
        enter(Phase::Poll);
        match member.poll(MAX_BATCH, OP_TIMEOUT) {
            Ok(records) => {
                too_many(records.len())?;
                lapped.lent_again(records.partition())?;
                for record in records.iter() {
                    if record.partition != records.partition() {
                        return Err(End::Invalid(format!(
                            "a record of partition {} in a batch of {}",
                            record.partition,
                            records.partition()
                        )));
                    }
                    let seen = check(record.partition, record.offset, record.value, seq_is_offset)?;
                    lapped.note(record.partition, seen);
                }
                Ok(Turn::Progress)
            }
            Err(ConsumeError::Timeout | ConsumeError::Fenced) if member.assignment().is_empty() => {
                Ok(Turn::Unassigned)
            }
            Err(error @ (ConsumeError::Timeout | ConsumeError::Fenced)) => {
                Ok(Turn::Idle(format!("poll: {error}")))
            }
            Err(error) => Err(typed("poll", &error)),
        }
    })
}

/// A plain reader of each partition: contiguous offsets, `seq = offset`.
pub(crate) fn reader(region: &str) -> i32 {
    let topic = setup(Topic::<Tagged>::open(region), "open");
    let mut readers: Vec<_> = (0..PARTITIONS)
        .map(|p| {
            let subscriber = setup(topic.subscriber(p).ok_or("no partition"), "partition");
            setup(subscriber.subscribe(StartAt::Earliest), "subscribe")
        })
        .collect();
    let mut expected: Vec<Option<u64>> = vec![None; PARTITIONS as usize];
    let mut lapped = Lapped::default();
    println!("ready");
    let mut partition = 0;
    drive(|| {
        partition = (partition + 1) % PARTITIONS as usize;
        enter(Phase::Poll);
        match readers[partition].poll_timeout(MAX_BATCH, OP_TIMEOUT / 2) {
            Ok(batch) => {
                too_many(batch.len())?;
                lapped.lent_again(partition as u32)?;
                for (offset, value) in batch.iter_with_offsets() {
                    if expected[partition].is_some_and(|next| next != offset) {
                        return Err(End::Invalid(format!(
                            "partition {partition}: offset {offset} after {:?}",
                            expected[partition].map(|next| next - 1)
                        )));
                    }
                    lapped.note(
                        partition as u32,
                        check(partition as u32, offset, value, true)?,
                    );
                    expected[partition] = Some(offset + 1);
                }
                Ok(Turn::Progress)
            }
            Err(error @ PollError::Timeout) => Ok(Turn::Idle(format!("poll: {error}"))),
            Err(error) => Err(typed("poll", &error)),
        }
    })
}

/// Creates the request topic and its producer group, joins, and asks: up to four
/// requests in flight, each reply checked against its request.
pub(crate) fn requester(region: &str) -> i32 {
    let (topic, _producer) = setup(
        Topic::<Job>::builder("walk-jobs")
            .partitions(PARTITIONS)
            .capacity(CAPACITY)
            .max_groups(MAX_GROUPS)
            .wait_strategy(WaitStrategy::SpinThenPark)
            .multi_producer()
            .shared_memory(region)
            .build(),
        "create",
    );
    let clients = setup(
        topic
            .producer_group("clients")
            .max_members(2)
            .reply_capacity(CAPACITY)
            .build(),
        "producer group",
    );
    let requester = setup(clients.join(), "join");
    println!("ready");
    let mut pending = VecDeque::new();
    let mut next = 0_u64;
    // A key for each partition (a timed request is routed by its key).
    let keys: Vec<String> = (0..PARTITIONS)
        .map(|p| {
            (0..)
                .map(|i| format!("key-{i}"))
                .find(|key| kafka_partition(key.as_bytes(), PARTITIONS) == p)
                .expect("some key maps to each partition")
        })
        .collect();
    drive(|| {
        if pending.len() < 4 {
            let partition = (next % u64::from(PARTITIONS)) as u32;
            let value = Tagged::new(next, u64::from(partition));
            let key = keys[partition as usize].as_bytes();
            enter(Phase::Request);
            match requester.request_timeout(key, value, OP_TIMEOUT) {
                Ok(ticket) => {
                    pending.push_back((value, ticket));
                    next += 1;
                }
                Err(error @ RequestError::Send(SendError::Timeout(_))) => {
                    return Ok(Turn::Idle(format!("request: {error}")));
                }
                Err(error) => return Err(typed("request", &error)),
            }
        }
        let Some((value, ticket)) = pending.front() else {
            return Ok(Turn::Idle("nothing pending".into()));
        };
        enter(Phase::Wait);
        match ticket.wait(OP_TIMEOUT) {
            Ok(reply) if reply != answer(value) => Err(End::Invalid(format!(
                "reply {reply:?} to request {value:?}"
            ))),
            Ok(_) => {
                pending.pop_front();
                Ok(Turn::Progress)
            }
            Err(error @ WaitError::Timeout) => Ok(Turn::Idle(format!("wait: {error}"))),
            Err(error) => Err(typed("wait", &error)),
        }
    })
}

/// A member of group `workers` of the request topic, answering every request.
pub(crate) fn worker(region: &str) -> i32 {
    let topic = setup(Topic::<Job>::open(region), "open");
    let group = setup(topic.group("workers").build(), "group");
    let worker = setup(group.join(), "join");
    println!("ready");
    drive(|| {
        enter(Phase::Poll);
        let records = match worker.poll(MAX_BATCH, OP_TIMEOUT) {
            Ok(records) => records,
            Err(ConsumeError::Timeout | ConsumeError::Fenced) if worker.assignment().is_empty() => {
                return Ok(Turn::Unassigned)
            }
            Err(error @ (ConsumeError::Timeout | ConsumeError::Fenced)) => {
                return Ok(Turn::Idle(format!("poll: {error}")))
            }
            Err(error) => return Err(typed("poll", &error)),
        };
        too_many(records.len())?;
        let mut idle = None;
        for record in records.iter() {
            check(record.partition, record.offset, &record.value.value, false)?;
            enter(Phase::Reply);
            match records.reply(&record, answer(&record.value.value)) {
                Ok(()) => {}
                Err(error @ (ReplyError::Full(_) | ReplyError::NoRoute(_))) => {
                    idle = Some(format!("reply: {error}"));
                }
                Err(error) => return Err(typed("reply", &error)),
            }
        }
        Ok(idle.map_or(Turn::Progress, Turn::Idle))
    })
}

/// A late opener: opens the topic (a typed error is an answer), reads a few batches of
/// partition 0 from the earliest record, checking them, and leaves.
pub(crate) fn opener(region: &str, seq_is_offset: bool) -> i32 {
    match open_and_read(region, seq_is_offset) {
        Ok(()) => OK,
        Err(End::Typed(error)) => {
            println!("typed {error}");
            TYPED
        }
        Err(End::Invalid(what)) => {
            println!("invalid {what}");
            INVALID
        }
    }
}

fn open_and_read(region: &str, seq_is_offset: bool) -> Result<(), End> {
    enter(Phase::Open);
    let topic = Topic::<Tagged>::open(region).map_err(|e| typed("open", &e))?;
    let subscriber = topic
        .subscriber(0)
        .ok_or_else(|| End::Typed("open: no partition 0".into()))?;
    let mut reader = subscriber
        .subscribe(StartAt::Earliest)
        .map_err(|e| typed("subscribe", &e))?;
    let mut lapped = Lapped::default();
    for _ in 0..2 {
        enter(Phase::Poll);
        match reader.poll_timeout(MAX_BATCH, OP_TIMEOUT) {
            Ok(batch) => {
                too_many(batch.len())?;
                lapped.lent_again(0)?;
                for (offset, value) in batch.iter_with_offsets() {
                    lapped.note(0, check(0, offset, value, seq_is_offset)?);
                }
            }
            Err(PollError::Timeout) => {}
            Err(error) => return Err(typed("poll", &error)),
        }
    }
    Ok(())
}

/// A late opener of a request topic: reads requests, then opens the producer group (and
/// with it the reply region), joins and leaves.
pub(crate) fn request_opener(region: &str) -> i32 {
    let result = (|| {
        enter(Phase::Open);
        let topic = Topic::<Job>::open(region).map_err(|e| typed("open", &e))?;
        let subscriber = topic
            .subscriber(0)
            .ok_or_else(|| End::Typed("open: no partition 0".into()))?;
        let mut reader = subscriber
            .subscribe(StartAt::Earliest)
            .map_err(|e| typed("subscribe", &e))?;
        enter(Phase::Poll);
        match reader.poll_timeout(MAX_BATCH, OP_TIMEOUT) {
            Ok(batch) => {
                too_many(batch.len())?;
                for (offset, request) in batch.iter_with_offsets() {
                    check(0, offset, &request.value, false)?;
                }
            }
            Err(PollError::Timeout) => {}
            Err(error) => return Err(typed("poll", &error)),
        }
        enter(Phase::Open);
        let clients = topic
            .producer_group("clients")
            .max_members(2)
            .reply_capacity(CAPACITY)
            .build()
            .map_err(|e| typed("producer group", &e))?;
        let _member = clients.join().map_err(|e| typed("join", &e))?;
        Ok(())
    })();
    match result {
        Ok(()) => OK,
        Err(End::Typed(error)) => {
            println!("typed {error}");
            TYPED
        }
        Err(End::Invalid(what)) => {
            println!("invalid {what}");
            INVALID
        }
    }
}
