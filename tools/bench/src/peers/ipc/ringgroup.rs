//! ringgroup across processes: a single-producer topic of `u64` in a named shared-memory region
//! (`TopicBuilder::shared_memory`), made by the parent, opened by each child
//! (`Topic::open`) and read by a plain subscriber per child (`Subscriber::subscribe` from
//! offset 0; consumer groups do not cross processes yet).
//!
//! - Stream (`throughput`, `fanout`): the parent publishes `0 .. messages` one at a time
//!   (`Writer::publish_timeout`), every child polls up to `batch` at a time
//!   (`Reader::poll_timeout`) and checks each batch. Every subscriber gates the producer, so
//!   nothing is lost.
//! - Ping-pong: the parent makes the `ping` region; the echo child opens it and makes its own
//!   `pong` region (a single-producer topic's producer belongs to the process that made it),
//!   then the parent opens `pong`. In-process, the same two loops run on two threads over two
//!   topics on the heap ([`ping_pong_in_process`]), for the cross-process / in-process ratio.
//!
//! The topic's wait strategy (`BusySpin` or `Yield`, from the run's [`Waiting`]) is how every
//! poll and every blocked publish waits, in the parent and in the children alike (an opener
//! takes the region's).

use std::time::Instant;

use ringgroup::ring::{Reader, WaitStrategy, Writer};
use ringgroup::{PollError, Producer, StartAt, Topic};

use super::{
    cpu_share, echo_loop, fault, sent, ChildSpec, Children, Endpoint, IpcRun, Regions, RunPlan,
    Tally,
};
use crate::common::STALL;
use crate::cpu::process_cpu_time;
use crate::peers::{Sample, Waiting};

fn strategy(waiting: Waiting) -> WaitStrategy {
    waiting.ring_strategy()
}

fn subscribe(topic: &Topic<u64>) -> Result<Reader<u64>, String> {
    topic
        .subscriber(0)
        .ok_or("the topic has no partition 0")?
        .subscribe(StartAt::Offset(0))
        .map_err(|e| format!("subscribing: {e}"))
}

fn writer(producer: &mut Producer<u64>) -> Result<&mut Writer<u64>, String> {
    producer
        .partition_writer(0)
        .ok_or_else(|| "the topic has no partition 0".to_owned())
}

/// One stream run: the parent publishes, `plan.consumers` child processes read and check.
/// Returns the rate (from the first publish to the last child's report) and the allocations
/// per message of the producer's thread.
pub fn stream(plan: &RunPlan) -> Result<IpcRun, String> {
    let name = super::unique_name("stream");
    let (_topic, mut producer) = Topic::<u64>::builder("ipc")
        .capacity(plan.capacity)
        .wait_strategy(strategy(plan.waiting))
        .shared_memory(&name)
        .build()
        .map_err(|e| format!("creating region {name}: {e}"))?;
    let _regions = Regions(vec![name.clone()]);
    let mut children = Children::spawn(plan.reader_specs(super::IpcSystem::Ringgroup, &name))?;
    children.await_ready()?;
    let fault = fault();
    plan.pin_parent();
    let writer = writer(&mut producer)?;
    let before = ringgroup_testkit::alloc::allocations();
    ringgroup_testkit::alloc::count_this_thread();
    let cpu_before = process_cpu_time();
    let start = Instant::now();
    let mut published = Ok(());
    for i in 0..plan.messages {
        if let Err(e) = writer.publish_timeout(sent(i, fault), STALL) {
            published = Err(format!("publishing message {i}: {e}"));
            break;
        }
    }
    ringgroup_testkit::alloc::stop_counting_this_thread();
    let allocs = ringgroup_testkit::alloc::per_message(before, plan.messages);
    published?;
    let (last, children_cpu) = children.finish()?;
    drop(producer);
    Ok(IpcRun {
        sample: Sample::Rate {
            mmsgs_per_s: super::rate(plan.messages, last - start),
            allocs_per_msg: allocs,
        },
        cpu_share: cpu_share(cpu_before, children_cpu, start, last, plan.busy()),
    })
}

/// A child: reads `spec.messages` from region `spec.name` and checks them.
pub fn read(spec: &ChildSpec, ready: &dyn Fn()) -> Result<Tally, String> {
    let topic =
        Topic::<u64>::open(&spec.name).map_err(|e| format!("opening {}: {e}", spec.name))?;
    let mut reader = subscribe(&topic)?;
    ready();
    let mut tally = Tally::default();
    while tally.count() < spec.messages {
        match reader.poll_timeout(spec.batch, STALL) {
            Ok(batch) => {
                let (a, b) = batch.as_slices();
                tally.see_all(a);
                tally.see_all(b);
            }
            Err(PollError::Closed) => break,
            Err(e) => return Err(format!("after {} messages: {e}", tally.count())),
        }
    }
    Ok(tally)
}

/// One end of a ringgroup ping-pong: a topic's writer and the other topic's reader.
struct End {
    producer: Producer<u64>,
    reader: Reader<u64>,
}

impl Endpoint for End {
    #[inline]
    fn send(&mut self, value: u64) -> Result<(), String> {
        writer(&mut self.producer)?
            .publish_timeout(value, STALL)
            .map_err(|e| format!("publishing: {e}"))
    }

    #[inline]
    fn recv(&mut self) -> Result<u64, String> {
        let batch = self
            .reader
            .poll_timeout(1, STALL)
            .map_err(|e| e.to_string())?;
        batch
            .get(0)
            .copied()
            .ok_or_else(|| "an empty batch".to_owned())
    }
}

/// A child: the echo of a cross-process ping-pong.
pub fn echo(spec: &ChildSpec, ready: &dyn Fn()) -> Result<Tally, String> {
    let ping = Topic::<u64>::open(&spec.name).map_err(|e| format!("opening {}: {e}", spec.name))?;
    let reader = subscribe(&ping)?;
    let (_pong, producer) = Topic::<u64>::builder("pong")
        .capacity(spec.capacity)
        .wait_strategy(strategy(spec.waiting))
        .shared_memory(&spec.reply)
        .build()
        .map_err(|e| format!("creating region {}: {e}", spec.reply))?;
    ready();
    echo_loop(&mut End { producer, reader }, spec.messages)
}

/// One cross-process ping-pong run: the parent pings, an echo process answers.
pub fn ping_pong(plan: &RunPlan) -> Result<IpcRun, String> {
    let ping_name = super::unique_name("ping");
    let pong_name = super::unique_name("pong");
    let (_ping, producer) = Topic::<u64>::builder("ping")
        .capacity(plan.capacity)
        .wait_strategy(strategy(plan.waiting))
        .shared_memory(&ping_name)
        .build()
        .map_err(|e| format!("creating region {ping_name}: {e}"))?;
    let _regions = Regions(vec![ping_name.clone(), pong_name.clone()]);
    let spec = plan.echo_spec(super::IpcSystem::Ringgroup, &ping_name, &pong_name);
    let mut children = Children::spawn(vec![spec])?;
    children.await_ready()?;
    let pong = Topic::<u64>::open(&pong_name).map_err(|e| format!("opening {pong_name}: {e}"))?;
    let reader = subscribe(&pong)?;
    let mut end = End { producer, reader };
    plan.pin_parent();
    let cpu_before = process_cpu_time();
    let start = Instant::now();
    let sample = super::counted_ping(&mut end, plan)?;
    drop(end);
    let (last, children_cpu) = children.finish()?;
    Ok(IpcRun {
        sample,
        cpu_share: cpu_share(cpu_before, children_cpu, start, last, plan.busy()),
    })
}

/// The same ping-pong in one process: the echo on a second thread (slot 1), two topics on the
/// heap, the same loops.
pub fn ping_pong_in_process(plan: &RunPlan) -> Result<IpcRun, String> {
    let topic = |name: &str| {
        Topic::<u64>::builder(name)
            .capacity(plan.capacity)
            .wait_strategy(strategy(plan.waiting))
            .build()
            .map_err(|e| format!("building topic {name}: {e}"))
    };
    let (ping_topic, ping_producer) = topic("ping")?;
    let (pong_topic, pong_producer) = topic("pong")?;
    let mut pinger = End {
        producer: ping_producer,
        reader: subscribe(&pong_topic)?,
    };
    let mut echoer = End {
        producer: pong_producer,
        reader: subscribe(&ping_topic)?,
    };
    let total = plan.warmup_round_trips() + plan.messages;
    let share = crate::cpu::Share::start(plan.busy());
    let sample = std::thread::scope(|s| {
        let echo = s.spawn(|| {
            plan.pin_slot(1);
            let tally = echo_loop(&mut echoer, total)?;
            drop(echoer);
            tally.expect.verdict()?;
            super::check_report(&tally.report(), total).map(|_| ())
        });
        let pinged = {
            plan.pin_slot(0);
            let pinged = super::counted_ping(&mut pinger, plan);
            drop(pinger);
            pinged
        };
        let echoed = echo
            .join()
            .unwrap_or_else(|_| Err("the echo thread panicked".into()));
        let sample = pinged?;
        echoed.map_err(|e| format!("the echo thread: {e}"))?;
        Ok::<_, String>(sample)
    })?;
    Ok(IpcRun {
        sample,
        cpu_share: share.finish().1,
    })
}
