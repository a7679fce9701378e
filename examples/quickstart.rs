//! Quick start: one writer broadcasting to two readers over a partition ring, each thread
//! pinned to a core. Prints what each reader received and the throughput.
//!
//! `cargo run --release --example quickstart [MESSAGES]`

use std::time::Instant;

use ringgroup::affinity::{available_cores, pin_current_thread};
use ringgroup::ring::{Ring, StartAt, WaitStrategy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let messages: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 20_000_000,
    };
    // Read the core list once, before anything is pinned.
    let cores = available_cores().len();
    println!("{cores} cores; 1 writer and 2 readers (3 threads share {cores} cores)");

    let (mut writer, subscriber) = Ring::<u64>::builder()
        .capacity(4096)
        .wait_strategy(WaitStrategy::SpinThenPark)
        .build()?;
    let readers: Vec<_> = (0..2)
        .map(|i| {
            let mut reader = subscriber.subscribe(StartAt::Earliest)?;
            Ok(std::thread::spawn(move || {
                let _ = pin_current_thread((1 + i) % cores.max(1));
                let (mut count, mut sum, mut in_order) = (0_u64, 0_u64, true);
                while let Ok(batch) = reader.poll(256) {
                    for (offset, value) in batch.iter_with_offsets() {
                        in_order &= offset == *value;
                        sum = sum.wrapping_add(*value);
                    }
                    count += batch.len() as u64;
                }
                (count, sum, in_order)
            }))
        })
        .collect::<Result<_, ringgroup::SubscribeError>>()?;

    let _ = pin_current_thread(0);
    let start = Instant::now();
    let mut next = 0;
    while next < messages {
        let end = (next + 256).min(messages);
        writer.publish_batch(next..end);
        next = end;
    }
    drop(writer);
    let mut ok = true;
    for (i, reader) in readers.into_iter().enumerate() {
        let (count, sum, in_order) = reader.join().expect("reader thread panicked");
        let expected = (0..messages).fold(0_u64, u64::wrapping_add);
        let good = count == messages && sum == expected && in_order;
        ok &= good;
        println!(
            "reader {i}: {count} messages, in order: {in_order}, checksum ok: {}",
            sum == expected
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{messages} messages to 2 readers in {seconds:.3} s: {:.1} M msg/s per reader",
        messages as f64 / seconds / 1e6
    );
    if !ok {
        return Err("a reader missed or reordered messages".into());
    }
    Ok(())
}
