//! A single-thread request → poll → reply → wait loop, for instruction counts under
//! `valgrind --tool=callgrind` (not a timing benchmark: nothing here is timed).
//!
//! One requester and one responder on one thread: each round trip sends a request
//! (`Requester::request`), takes it with `Consumer::try_poll(1)`, answers it with
//! `Records::reply`, drops the batch (auto-commit) and takes the reply with
//! `PendingReply::wait`. Every reply is checked against its request, so the loop cannot measure
//! nothing.
//!
//! ```text
//! cargo build --release --bench reply_loop
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p target/release/deps/reply_loop-* 20000
//! ```
//!
//! The per-round-trip cost is the difference of two runs' totals (say 20000 and 10000 round
//! trips) over the difference of their counts, which takes set-up and tear-down out.

use std::time::Duration;

use ringgroup::producer_group::Request;
use ringgroup::Topic;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; any number among the arguments is the round-trip count.
    let round_trips: u64 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(10_000);
    let (topic, _producer) = Topic::<Request<u64, u64>>::builder("requests")
        .capacity(4096)
        .multi_producer()
        .build()?;
    let workers = topic.group("responders").build()?;
    let clients = topic.producer_group("requesters").build()?;
    let responder = workers.join()?;
    let requester = clients.join()?;
    // Settle the group: its one member owns the partition before the first request.
    while responder.assignment().len() != 1 {
        let _ = responder.try_poll(1);
    }
    let mut sum = 0_u64;
    for value in 0..round_trips {
        let pending = requester.request(&value.to_le_bytes(), value)?;
        let records = responder.try_poll(1)?;
        for record in &records {
            records.reply(&record, record.value.value ^ 0x5a5a)?;
        }
        drop(records);
        let reply = pending.wait(Duration::from_secs(1))?;
        if reply != value ^ 0x5a5a {
            return Err(format!("reply {reply:#x} does not answer {value:#x}").into());
        }
        sum = sum.wrapping_add(reply);
    }
    println!("{round_trips} round trips, checksum {sum:#x}");
    Ok(())
}
