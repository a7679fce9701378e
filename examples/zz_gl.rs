use ringgroup::{Topic, WaitStrategy};
use std::time::Duration;
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(200_000);
    let (topic, mut producer) = Topic::<u64>::builder("t")
        .capacity(4096)
        .wait_strategy(WaitStrategy::BusySpin)
        .build()
        .unwrap();
    let group = topic.group("g").build().unwrap();
    let member = group.join().unwrap();
    let _ = member.poll(1, Duration::ZERO);
    let mut sum = 0u64;
    for round in 0..n {
        producer
            .partition_writer(0)
            .unwrap()
            .publish_batch(round * 64..round * 64 + 64);
        let records = member.poll(64, Duration::ZERO).unwrap();
        sum = sum.wrapping_add(records.values().sum::<u64>());
    }
    println!("{sum}");
}
