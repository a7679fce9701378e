use ringgroup::ring::{Ring, StartAt, WaitStrategy};
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1_000_000);
    let (mut w, s) = Ring::<u64>::builder()
        .capacity(4096)
        .wait_strategy(WaitStrategy::BusySpin)
        .build()
        .unwrap();
    let mut r = s.subscribe(StartAt::Earliest).unwrap();
    let mut sum = 0u64;
    for i in 0..n {
        w.try_publish(i).unwrap();
        let b = r.try_poll(1).unwrap();
        sum = sum.wrapping_add(*b.get(0).unwrap());
    }
    println!("{sum}");
}
