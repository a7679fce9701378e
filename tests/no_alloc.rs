//! The hot path allocates nothing: a counting global allocator watches publish, batch publish,
//! claim, poll and release after construction, on one thread and across two, and the consumer
//! group's poll and commits, multi-producer sends, and requests with their replies.
//!
//! Counting is per thread: each thread that runs the hot path measures itself with `counted`
//! (the consumer thread hands its figure back through the join), so nothing else in this
//! binary, a parallel test or a library thread, can add to a figure.

use std::time::Duration;

use ringgroup::producer_group::Request;
use ringgroup::ring::{Ring, StartAt, WaitStrategy};
use ringgroup::topic::Topic;
use ringgroup_testkit::alloc::{assert_counting, counted, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn publish_and_poll_allocate_nothing() {
    // Counts this thread; the counter itself must see an allocation, or the checks below would
    // assert on nothing.
    assert_counting();

    // One thread.
    let (mut writer, subscriber) = Ring::<u64>::builder().capacity(64).build().unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    let (sum, allocations) = counted(|| {
        let mut sum = 0;
        for round in 0..1_000_u64 {
            writer.publish(round);
            writer.try_publish(round).unwrap();
            writer.publish_batch([round; 8]);
            let mut claim = writer.claim(4).unwrap();
            claim.extend([round; 4]);
            claim.publish();
            while let Ok(batch) = reader.try_poll(5) {
                sum += batch.iter().sum::<u64>();
            }
        }
        sum
    });
    assert_eq!(sum, (0..1_000_u64).map(|r| r * 14).sum::<u64>());
    assert_eq!(allocations, 0, "single-threaded hot path allocated");

    // Two threads, parking strategy (the park/unpark path must not allocate either).
    let (mut writer, subscriber) = Ring::<u64>::builder()
        .capacity(64)
        .wait_strategy(WaitStrategy::SpinThenPark)
        .build()
        .unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    let consumer = std::thread::spawn(move || {
        counted(|| {
            let mut count = 0_u64;
            while let Ok(batch) = reader.poll(32) {
                count += batch.len() as u64;
            }
            count
        })
    });
    let ((), allocations) = counted(|| {
        for value in 0..200_000_u64 {
            writer.publish(value);
        }
    });
    drop(writer);
    let (count, consumer_allocations) = consumer.join().unwrap();
    assert_eq!(count, 200_000);
    assert_eq!(allocations, 0, "cross-thread hot path allocated (producer)");
    assert_eq!(
        consumer_allocations, 0,
        "cross-thread hot path allocated (consumer)"
    );

    // Consumer groups: producer send, member poll, auto-commit and explicit commits, after
    // the first poll has synced the assignment (the control path may allocate).
    let (topic, mut producer) = Topic::<u64>::builder("t")
        .partitions(2)
        .capacity(64)
        .build()
        .unwrap();
    let auto = topic.group("auto").build().unwrap();
    let manual = topic.group("manual").auto_commit(false).build().unwrap();
    let auto_member = auto.join().unwrap();
    let manual_member = manual.join().unwrap();
    let _ = auto_member.poll(1, Duration::ZERO);
    let _ = manual_member.poll(1, Duration::ZERO);
    let (seen, allocations) = counted(|| {
        let mut seen = 0_u64;
        for round in 0..2_000_u64 {
            producer.send_to((round % 2) as u32, round).unwrap();
            producer.send(round).unwrap();
            while let Ok(records) = auto_member.poll(8, Duration::ZERO) {
                seen += records.iter().filter(|r| r.partition < 2).count() as u64;
            }
            loop {
                let (partition, end) = match manual_member.poll(8, Duration::ZERO) {
                    Ok(records) => (
                        records.partition(),
                        records.first_offset() + records.len() as u64,
                    ),
                    Err(_) => break,
                };
                manual_member.commit_offset(partition, end).unwrap();
            }
            manual_member.commit().unwrap();
            assert!(auto_member.is_owner(0));
        }
        seen
    });
    assert_eq!(seen, 4_000);
    assert_eq!(allocations, 0, "group hot path allocated");

    // Multi-producer sends, and requests with their replies, after a warm-up round.
    let (topic, producer) = Topic::<Request<u64, u64>>::builder("requests")
        .partitions(2)
        .capacity(64)
        .multi_producer()
        .build()
        .unwrap();
    let workers = topic.group("workers").build().unwrap();
    let clients = topic.producer_group("clients").build().unwrap();
    let worker = workers.join().unwrap();
    let client = clients.join().unwrap();
    let round_trip = |i: u64| {
        let pending = client.request(&i.to_le_bytes(), i).unwrap();
        producer.send(Request::new(i)).unwrap();
        let mut answered = 0;
        while answered < 2 {
            if let Ok(records) = worker.poll(8, Duration::ZERO) {
                for record in &records {
                    answered += 1;
                    let _ = records.reply(&record, record.value.value + 1);
                }
            }
        }
        pending.wait(Duration::from_secs(10)).unwrap()
    };
    assert_eq!(round_trip(0), 1); // warm-up: first poll syncs the assignment
    let (sum, allocations) = counted(|| (1..2_000_u64).map(round_trip).sum::<u64>());
    assert_eq!(sum, (2..2_001_u64).sum::<u64>());
    assert_eq!(allocations, 0, "request/reply path allocated");
}
