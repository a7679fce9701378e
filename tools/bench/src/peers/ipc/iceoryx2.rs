//! iceoryx2 across processes: publish-subscribe services of `u64` (`ipc::Service`), the peer of
//! `ipc`. Every process makes its own node (signal handling disabled, so the harness keeps its
//! own Ctrl-C).
//!
//! - The service is lossless, as ringgroup's topics are: `enable_safe_overflow(false)`, so a
//!   publisher facing a full subscriber buffer retries until it is delivered
//!   (`BackpressureStrategy::RetryUntilDelivered`, iceoryx2's own adaptive wait), and gives up
//!   after [`STALL`] through a backpressure handler. Each subscriber's buffer holds
//!   `--capacity` samples (ringgroup's ring holds as many), no history.
//! - A message is a zero-copy loan: `loan_uninit`, `write_payload`, `send` (one sample per
//!   send; iceoryx2 has no batch send). A subscriber takes one sample per `receive`, and
//!   spins or yields (the run's [`Waiting`]) while there is none.
//! - Ping-pong: the parent makes `ping` and its publisher, the echo opens it and makes `pong`
//!   with its own publisher, and the parent subscribes to `pong` once the echo is ready.

use std::time::Instant;

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::BackpressureAction;
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSub;

use super::{
    cpu_share, echo_loop, fault, sent, ChildSpec, Children, Endpoint, IpcRun, IpcSystem, Patience,
    RunPlan, Tally,
};
use crate::common::STALL;
use crate::cpu::process_cpu_time;
use crate::peers::{Sample, Waiting};

type Node2 = Node<ipc::Service>;
type Pub = Publisher<ipc::Service, u64, ()>;
type Sub = Subscriber<ipc::Service, u64, ()>;

fn node() -> Result<Node2, String> {
    NodeBuilder::new()
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .map_err(|e| format!("iceoryx2 node: {e:?}"))
}

fn service_name(name: &str) -> Result<ServiceName, String> {
    ServiceName::new(name).map_err(|e| format!("iceoryx2 service name {name:?}: {e:?}"))
}

/// Makes service `name` for `subscribers` subscribers of `capacity` samples each.
fn create(
    node: &Node2,
    name: &str,
    subscribers: usize,
    capacity: usize,
) -> Result<PubSub<ipc::Service, u64, ()>, String> {
    node.service_builder(&service_name(name)?)
        .publish_subscribe::<u64>()
        .max_publishers(1)
        .max_subscribers(subscribers.max(1))
        .max_nodes(subscribers + 2)
        .subscriber_max_buffer_size(capacity)
        .subscriber_max_borrowed_samples(1)
        .history_size(0)
        .enable_safe_overflow(false)
        .create()
        .map_err(|e| format!("creating iceoryx2 service {name}: {e:?}"))
}

fn open(node: &Node2, name: &str) -> Result<PubSub<ipc::Service, u64, ()>, String> {
    node.service_builder(&service_name(name)?)
        .publish_subscribe::<u64>()
        .open()
        .map_err(|e| format!("opening iceoryx2 service {name}: {e:?}"))
}

fn publisher(service: &PubSub<ipc::Service, u64, ()>) -> Result<Pub, String> {
    service
        .publisher_builder()
        .max_loaned_samples(1)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .set_backpressure_handler(|info: &iceoryx2::port::BackpressureInfo| {
            if info.elapsed_time > STALL {
                BackpressureAction::DiscardDataAndFail
            } else {
                BackpressureAction::Retry
            }
        })
        .create()
        .map_err(|e| format!("iceoryx2 publisher: {e:?}"))
}

fn subscriber(service: &PubSub<ipc::Service, u64, ()>, capacity: usize) -> Result<Sub, String> {
    service
        .subscriber_builder()
        .buffer_size(capacity)
        .create()
        .map_err(|e| format!("iceoryx2 subscriber: {e:?}"))
}

/// Sends `value` as a zero-copy loan.
#[inline]
fn send(publisher: &Pub, value: u64) -> Result<(), String> {
    let sample = publisher
        .loan_uninit()
        .map_err(|e| format!("iceoryx2 loan: {e:?}"))?;
    sample
        .write_payload(value)
        .send()
        .map(|_| ())
        .map_err(|e| format!("iceoryx2 send: {e:?}"))
}

/// Receives one value, spinning or yielding while there is none, for at most [`STALL`].
#[inline]
fn recv(subscriber: &Sub, waiting: Waiting, patience: &mut Patience) -> Result<u64, String> {
    loop {
        match subscriber.receive() {
            Ok(Some(sample)) => {
                patience.progress();
                return Ok(*sample.payload());
            }
            Ok(None) => patience.idle(waiting, "message")?,
            Err(e) => return Err(format!("iceoryx2 receive: {e:?}")),
        }
    }
}

/// Removes what the nodes of dead processes (killed children) left behind.
pub fn cleanup_dead_nodes() {
    let _ = Node2::try_cleanup_dead_nodes(Config::global_config());
}

/// One stream run: the parent publishes, `plan.consumers` child processes subscribe and check.
pub fn stream(plan: &RunPlan) -> Result<IpcRun, String> {
    let name = super::unique_name("stream");
    let node = node()?;
    let service = create(&node, &name, plan.consumers, plan.capacity)?;
    let publisher = publisher(&service)?;
    let mut children = Children::spawn(plan.reader_specs(IpcSystem::Iceoryx2, &name))?;
    children.await_ready()?;
    let fault = fault();
    plan.pin_parent();
    let before = ringgroup_testkit::alloc::allocations();
    ringgroup_testkit::alloc::count_this_thread();
    let cpu_before = process_cpu_time();
    let start = Instant::now();
    let mut published = Ok(());
    for i in 0..plan.messages {
        if let Err(e) = send(&publisher, sent(i, fault)) {
            published = Err(format!("publishing message {i}: {e}"));
            break;
        }
    }
    ringgroup_testkit::alloc::stop_counting_this_thread();
    let allocs = ringgroup_testkit::alloc::per_message(before, plan.messages);
    published?;
    let (last, children_cpu) = children.finish()?;
    drop(publisher);
    Ok(IpcRun {
        sample: Sample::Rate {
            mmsgs_per_s: super::rate(plan.messages, last - start),
            allocs_per_msg: allocs,
        },
        cpu_share: cpu_share(cpu_before, children_cpu, start, last, plan.busy()),
    })
}

/// A child: subscribes to service `spec.name`, receives `spec.messages` and checks them.
pub fn read(spec: &ChildSpec, ready: &dyn Fn()) -> Result<Tally, String> {
    let node = node()?;
    let service = open(&node, &spec.name)?;
    let subscriber = subscriber(&service, spec.capacity)?;
    ready();
    let mut tally = Tally::default();
    let mut patience = Patience::default();
    while tally.count() < spec.messages {
        match recv(&subscriber, spec.waiting, &mut patience) {
            Ok(value) => tally.see(value),
            Err(e) => return Err(format!("after {} messages: {e}", tally.count())),
        }
    }
    Ok(tally)
}

/// One end of an iceoryx2 ping-pong.
struct End {
    publisher: Pub,
    subscriber: Sub,
    waiting: Waiting,
    patience: Patience,
}

impl Endpoint for End {
    #[inline]
    fn send(&mut self, value: u64) -> Result<(), String> {
        send(&self.publisher, value)
    }

    #[inline]
    fn recv(&mut self) -> Result<u64, String> {
        recv(&self.subscriber, self.waiting, &mut self.patience)
    }
}

/// A child: the echo of a ping-pong.
pub fn echo(spec: &ChildSpec, ready: &dyn Fn()) -> Result<Tally, String> {
    let node = node()?;
    let ping = open(&node, &spec.name)?;
    let subscriber = subscriber(&ping, spec.capacity)?;
    let pong = create(&node, &spec.reply, 1, spec.capacity)?;
    let publisher = publisher(&pong)?;
    ready();
    let mut end = End {
        publisher,
        subscriber,
        waiting: spec.waiting,
        patience: Patience::default(),
    };
    echo_loop(&mut end, spec.messages)
}

/// One ping-pong run: the parent pings, an echo process answers.
pub fn ping_pong(plan: &RunPlan) -> Result<IpcRun, String> {
    let ping_name = super::unique_name("ping");
    let pong_name = super::unique_name("pong");
    let node = node()?;
    let ping = create(&node, &ping_name, 1, plan.capacity)?;
    let publisher = publisher(&ping)?;
    let spec = plan.echo_spec(IpcSystem::Iceoryx2, &ping_name, &pong_name);
    let mut children = Children::spawn(vec![spec])?;
    children.await_ready()?;
    let pong = open(&node, &pong_name)?;
    let subscriber = subscriber(&pong, plan.capacity)?;
    let mut end = End {
        publisher,
        subscriber,
        waiting: plan.waiting,
        patience: Patience::default(),
    };
    plan.pin_parent();
    let cpu_before = process_cpu_time();
    let start = Instant::now();
    let sample = super::counted_ping(&mut end, plan)?;
    let (last, children_cpu) = children.finish()?;
    drop(end);
    Ok(IpcRun {
        sample,
        cpu_share: cpu_share(cpu_before, children_cpu, start, last, plan.busy()),
    })
}
