//! ringgroup's request and reply across processes (`ipc/reply`): the requester in the parent,
//! the responder in a child process, through a request topic in shared memory; and the same
//! round trip in one process, for the cross-process / in-process ratio.
//!
//! - Cross-process ([`round_trips`]): the parent makes a multi-producer topic of
//!   `Request<u64, u64>` with one partition of `--capacity` slots in a named region
//!   (`TopicBuilder::shared_memory`), builds its producer group (`requesters`, whose reply
//!   rings are regions of their own beside the topic's) and joins it as the one requester. The
//!   child (role `responder`) opens the region (`Topic::open`), builds the consumer group
//!   `responders` there and joins it as its one member, owns the partition before it says
//!   `ready`, then takes what is ready (`Consumer::try_poll(--batch)`) and answers each request
//!   with `Records::reply`: the reply finds the parent's producer group in the region. The
//!   parent sends request `i` (`Requester::request`, keyed by its bytes), waits for its reply
//!   (`PendingReply::wait`, under the topic's wait strategy) and checks it is
//!   [`answer`]`(i)`; each round trip goes into an hdrhistogram, the first tenth (at most
//!   10 000) unrecorded. At the end it sends a plain message (no reply wanted), at which the
//!   responder stops and reports; it must have seen the requests `0, 1, 2, ...` in order.
//! - In-process ([`in_process`]): `reply/round-trip`'s ringgroup run (`peers::reply`: the same
//!   topic, groups and calls on the heap, the requester and the responder on two threads), of
//!   the same size.
//!
//! The responder waits the way every `ipc` child does (spinning or yielding between empty
//! polls); the requester waits inside `PendingReply::wait`, under the region's wait strategy,
//! set from the same `--wait`.

use std::time::Instant;

use ringgroup::producer_group::Request;
use ringgroup::{ConsumeError, Consumer, ProducerRecord, Topic};

use super::{cpu_share, fault, sent, ChildSpec, Children, IpcRun, Patience, Regions, RunPlan};
use crate::common::STALL;
use crate::cpu::process_cpu_time;
use crate::peers::reply::{answer, Reply, ReplyCase};
use crate::peers::{Sample, System, Workload};
use crate::stats;

/// The messages of the request topic.
type Req = Request<u64, u64>;

/// The consumer group of the responders.
const RESPONDERS: &str = "responders";

/// One cross-process run: the parent requests, a responder process answers.
pub fn round_trips(plan: &RunPlan) -> Result<IpcRun, String> {
    let name = super::unique_name("requests");
    let (topic, producer) = Topic::<Req>::builder("requests")
        .partitions(1)
        .capacity(plan.capacity)
        .wait_strategy(plan.waiting.ring_strategy())
        .multi_producer()
        .shared_memory(&name)
        .build()
        .map_err(|e| format!("creating region {name}: {e}"))?;
    let _regions = Regions(vec![name.clone()]);
    let clients = topic
        .producer_group("requesters")
        .build()
        .map_err(|e| format!("building the producer group: {e}"))?;
    let requester = clients
        .join()
        .map_err(|e| format!("joining the producer group: {e}"))?;
    let mut children = Children::spawn(vec![plan.responder_spec(&name)])?;
    children.await_ready()?;
    plan.pin_parent();
    let fault = fault();
    let warmup = plan.warmup_round_trips();
    let total = warmup + plan.messages;
    let mut histogram = stats::histogram()?;
    let before = ringgroup_testkit::alloc::allocations();
    ringgroup_testkit::alloc::count_this_thread();
    let cpu_before = process_cpu_time();
    let start = Instant::now();
    let mut asked = Ok(());
    for i in 0..total {
        let value = sent(i, fault);
        let began = Instant::now();
        let reply = requester
            .request(&value.to_le_bytes(), value)
            .map_err(|e| format!("request {i}: {e}"))
            .and_then(|pending| {
                pending
                    .wait(STALL)
                    .map_err(|e| format!("waiting for the reply to request {i}: {e}"))
            });
        let took = began.elapsed();
        match reply {
            Ok(reply) if reply == answer(value) => {}
            Ok(reply) => {
                asked = Err(format!(
                    "round trip {i}: the reply {reply:#x} does not answer request {value:#x}"
                ));
                break;
            }
            Err(e) => {
                asked = Err(e);
                break;
            }
        }
        if i >= warmup {
            histogram.saturating_record(took.as_nanos().max(1) as u64);
        }
    }
    ringgroup_testkit::alloc::stop_counting_this_thread();
    let allocs = ringgroup_testkit::alloc::per_message(before, total);
    // The responder stops at a plain message (no reply wanted), sent even after a failed
    // round trip so that it reports (its own stall check ends it otherwise).
    let stopped = requester
        .send(ProducerRecord::new(0).partition(0))
        .map(drop)
        .map_err(|e| format!("sending the stop message: {e}"));
    asked?;
    stopped?;
    let (last, children_cpu) = children.finish()?;
    let metrics = requester.metrics();
    if metrics.replies_received != total
        || metrics.replies_timed_out + metrics.duplicates + metrics.late + metrics.overflowed != 0
    {
        return Err(format!(
            "the requester made {total} requests: {metrics:?} (expected every reply once, none \
             timed out, duplicated, late or overflowed)"
        ));
    }
    drop(requester);
    drop(clients);
    drop(producer);
    Ok(IpcRun {
        sample: Sample::RoundTrip {
            histogram,
            allocs_per_msg: allocs,
            cut_short: false,
        },
        cpu_share: cpu_share(cpu_before, children_cpu, start, last, plan.busy()),
    })
}

/// Polls (finding nothing: no request is sent before `ready`) until `consumer` owns the
/// topic's one partition.
fn settle(consumer: &Consumer<Req>, spec: &ChildSpec) -> Result<(), String> {
    let mut patience = Patience::default();
    loop {
        match consumer.try_poll(1) {
            Err(ConsumeError::Empty) => {}
            Ok(_) => return Err("a request arrived before the responder was ready".into()),
            Err(e) => return Err(format!("polling before ready: {e}")),
        }
        let owned = consumer.assignment();
        if owned.len() == 1 && consumer.is_owner(owned[0].partition) {
            return Ok(());
        }
        patience.idle(spec.waiting, "partition")?;
    }
}

/// A child: the responder. Joins the consumer group of request region `spec.name`, answers
/// every request until a plain message says stop, and checks that the requests were `0, 1,
/// 2, ...`.
pub fn respond(spec: &ChildSpec, ready: &dyn Fn()) -> Result<super::Tally, String> {
    let topic =
        Topic::<Req>::open(&spec.name).map_err(|e| format!("opening {}: {e}", spec.name))?;
    let group = topic
        .group(RESPONDERS)
        .build()
        .map_err(|e| format!("building the consumer group: {e}"))?;
    let consumer = group
        .join()
        .map_err(|e| format!("joining the consumer group: {e}"))?;
    settle(&consumer, spec)?;
    ready();
    let mut tally = super::Tally::default();
    let mut patience = Patience::default();
    let max = spec.batch.max(1);
    loop {
        match consumer.try_poll(max) {
            Ok(records) => {
                patience.progress();
                for record in &records {
                    let request = record.value;
                    if !request.reply_to().wants_reply() {
                        return Ok(tally);
                    }
                    tally.see(request.value);
                    records
                        .reply(&record, answer(request.value))
                        .map_err(|e| format!("replying to request {}: {e}", tally.count()))?;
                }
            }
            Err(ConsumeError::Empty) => patience
                .idle(spec.waiting, "request")
                .map_err(|e| format!("{e} after {} requests", tally.count()))?,
            Err(e) => return Err(format!("polling after {} requests: {e}", tally.count())),
        }
    }
}

/// The same round trips in one process: `reply/round-trip`'s ringgroup run (a heap topic, the
/// requester on slot 0, the responder on slot 1).
pub fn in_process(plan: &RunPlan) -> Result<IpcRun, String> {
    let share = crate::cpu::Share::start(plan.busy());
    let case = Reply {
        case: ReplyCase::RoundTrip,
        window: 1,
    };
    let sample = case.run(System::Ringgroup, &plan.in_process())?;
    Ok(IpcRun {
        sample,
        cpu_share: share.finish().1,
    })
}
