//! ringgroup's side of `reply`: a multi-producer topic of `Request<u64, u64>` with one
//! partition per responder, a consumer group of responders, a producer group of requesters
//! (see the parent module for the shape and the checks).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ringgroup::producer_group::{PendingReply, ProducerGroup, Request, Requester};
use ringgroup::{ConsumeError, Consumer, Group, ProducerRecord, SharedProducer, Topic};

use super::{answer, on_threads, per_requester, time_round_trips, ReplyCase};
use crate::common::STALL;
use crate::peers::drive::RoundTrips;
use crate::peers::{multi, Idle, Plan, Sample};
use crate::stats;

/// The messages of the request topic.
type Req = Request<u64, u64>;

/// Everything one run needs; dropped after the run.
struct Built {
    // Kept for the run: the topic, its first producer handle (the last handle to go closes
    // the topic), and the consumer group its members read.
    _topic: Topic<Req>,
    _producer: SharedProducer<Req>,
    _group: Group<Req>,
    clients: ProducerGroup<u64, u64>,
    responders: Vec<Consumer<Req>>,
    requesters: Vec<Requester<u64, u64>>,
}

/// A request topic of one partition per responder, `case`'s responders joined to its
/// consumer group and its requesters to its producer group.
fn build(case: ReplyCase, plan: &Plan) -> Result<Built, String> {
    let (topic, producer) = Topic::<Req>::builder("requests")
        .partitions(case.responders() as u32)
        .capacity(plan.capacity)
        .wait_strategy(plan.waiting.ring_strategy())
        .multi_producer()
        .build()
        .map_err(|e| format!("building the request topic: {e}"))?;
    let group = topic
        .group("responders")
        .build()
        .map_err(|e| format!("building the consumer group: {e}"))?;
    let clients = topic
        .producer_group("requesters")
        .build()
        .map_err(|e| format!("building the producer group: {e}"))?;
    let responders = (0..case.responders())
        .map(|_| group.join())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("joining the consumer group: {e}"))?;
    let requesters = (0..case.requesters())
        .map(|_| clients.join())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("joining the producer group: {e}"))?;
    Ok(Built {
        _topic: topic,
        _producer: producer,
        _group: group,
        clients,
        responders,
        requesters,
    })
}

/// Polls (finding nothing: no request is sent before the start line) until this member owns
/// exactly one partition, the group's rebalance done.
fn settle(consumer: &Consumer<Req>, plan: &Plan) -> Result<(), String> {
    let since = Instant::now();
    loop {
        match consumer.try_poll(1) {
            Err(ConsumeError::Empty) => {}
            Ok(_) => return Err("a request arrived before the start line".into()),
            Err(e) => return Err(format!("polling before the start line: {e}")),
        }
        let owned = consumer.assignment();
        if owned.len() == 1 && consumer.is_owner(owned[0].partition) {
            return Ok(());
        }
        if since.elapsed() >= STALL {
            return Err(format!(
                "owned {} partitions, not one, {} s after joining",
                owned.len(),
                STALL.as_secs()
            ));
        }
        plan.waiting.pause();
    }
}

/// Answers every request in this member's partition until a stop message (a request that
/// wants no reply) from each of `requesters`.
fn respond(consumer: &Consumer<Req>, requesters: usize, plan: &Plan) -> Result<(), String> {
    let mut idle = Idle::new(plan.waiting);
    let (mut stopped, mut answered) = (0, 0_u64);
    let max = plan.batch.max(1);
    while stopped < requesters {
        match consumer.try_poll(max) {
            Ok(records) => {
                idle.reset();
                for record in &records {
                    let request = record.value;
                    if !request.reply_to().wants_reply() {
                        stopped += 1;
                        continue;
                    }
                    records
                        .reply(&record, answer(request.value))
                        .map_err(|e| format!("replying to request {answered}: {e}"))?;
                    answered += 1;
                }
            }
            Err(ConsumeError::Empty) => idle
                .wait()
                .map_err(|e| format!("{e} after answering {answered} requests"))?,
            Err(e) => return Err(format!("polling after {answered} requests: {e}")),
        }
    }
    Ok(())
}

/// Sends each partition the stop message (a plain message: no reply wanted).
fn stop(requester: &Requester<u64, u64>, partitions: u32) -> Result<(), String> {
    for partition in 0..partitions {
        requester
            .send(ProducerRecord::new(0).partition(partition))
            .map_err(|e| format!("sending the stop message: {e}"))?;
    }
    Ok(())
}

/// After the run: each requester's `sent` requests answered once each, nothing timed out,
/// duplicated, late or dropped.
fn check_metrics(built: &Built, requesters: &[(&Requester<u64, u64>, u64)]) -> Result<(), String> {
    for (r, &(requester, sent)) in requesters.iter().enumerate() {
        let m = requester.metrics();
        if m.replies_received != sent
            || m.replies_timed_out + m.duplicates + m.late + m.overflowed != 0
        {
            return Err(format!(
                "requester {r} made {sent} requests: {m:?} (expected every reply once, none \
                 timed out, duplicated, late or overflowed)"
            ));
        }
    }
    let m = built.clients.metrics();
    if m.replies_dropped + m.replies_to_gone != 0 {
        return Err(format!("replies were dropped: {m:?}"));
    }
    Ok(())
}

/// One requester, one responder: one request at a time, each round trip timed.
pub fn round_trips(plan: &Plan) -> Result<Sample, String> {
    let case = ReplyCase::RoundTrip;
    let mut built = build(case, plan)?;
    let partitions = case.responders() as u32;
    let requesters = std::mem::take(&mut built.requesters)
        .into_iter()
        .map(|r| Ok((r, stats::histogram()?)))
        .collect::<Result<Vec<_>, String>>()?;
    let ran = on_threads(
        requesters,
        std::mem::take(&mut built.responders),
        plan,
        |_, (requester, histogram), line| {
            let start = line.cross();
            let timed = time_round_trips(plan, histogram, |value| {
                let pending = requester
                    .request(&value.to_le_bytes(), value)
                    .map_err(|e| format!("request: {e}"))?;
                pending
                    .wait(STALL)
                    .map_err(|e| format!("waiting for the reply: {e}"))
            })?;
            stop(requester, partitions)?;
            Ok((start, timed))
        },
        |consumer, line| {
            settle(consumer, plan)?;
            line.cross();
            respond(consumer, case.requesters(), plan)
        },
    )?;
    let ((requester, histogram), timed) = ran.outputs.into_iter().next().ok_or("no requester")?;
    check_metrics(&built, &[(&requester, timed.made)])?;
    Ok(RoundTrips {
        histogram,
        allocs_per_msg: ran.allocations as f64 / timed.made.max(1) as f64,
        cut_short: timed.cut_short,
    }
    .sample())
}

/// Two requesters, each keeping `window` requests outstanding, two responders.
pub fn sustained(window: usize, plan: &Plan) -> Result<Sample, String> {
    let case = ReplyCase::Sustained;
    let mut built = build(case, plan)?;
    let partitions = case.responders() as u32;
    let each = per_requester(plan.messages, case.requesters());
    let ran = on_threads(
        std::mem::take(&mut built.requesters),
        std::mem::take(&mut built.responders),
        plan,
        |r, requester, line| {
            // The window of tickets, made before the start line.
            let mut tickets = Tickets::with_capacity(window);
            let start = line.cross();
            let end = keep_window(requester, &mut tickets, r, each, window)?;
            stop(requester, partitions)?;
            Ok((start, end))
        },
        |consumer, line| {
            settle(consumer, plan)?;
            line.cross();
            respond(consumer, case.requesters(), plan)
        },
    )?;
    let end = ran
        .outputs
        .iter()
        .map(|(_, end)| *end)
        .max()
        .ok_or("no requester")?;
    let requests = each * case.requesters() as u64;
    let made: Vec<_> = ran.outputs.iter().map(|(r, _)| (r, each)).collect();
    check_metrics(&built, &made)?;
    let elapsed: Duration = end.saturating_duration_since(ran.start);
    Ok(Sample::Rate {
        mmsgs_per_s: requests as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6,
        allocs_per_msg: ran.allocations as f64 / requests.max(1) as f64,
    })
}

/// A requester's window of tickets, each with the value its reply must answer.
type Tickets<'a> = VecDeque<(PendingReply<'a, u64, u64>, u64)>;

/// Sends requester `r`'s `n` requests keeping up to `window` outstanding in `tickets`, waiting
/// for the oldest one's reply (`PendingReply::wait`) whenever the window is full; returns when
/// the last reply arrived.
fn keep_window<'a>(
    requester: &'a Requester<u64, u64>,
    tickets: &mut Tickets<'a>,
    r: usize,
    n: u64,
    window: usize,
) -> Result<Instant, String> {
    let (mut sent, mut done) = (0, 0);
    while done < n {
        while tickets.len() < window && sent < n {
            let value = multi::tag(r, sent);
            let ticket = requester
                .request(&value.to_le_bytes(), value)
                .map_err(|e| format!("request {sent}: {e}"))?;
            tickets.push_back((ticket, value));
            sent += 1;
        }
        let (ticket, value) = tickets.pop_front().ok_or("no request outstanding")?;
        let reply = ticket
            .wait(STALL)
            .map_err(|e| format!("waiting for the reply to request {done}: {e}"))?;
        if reply != answer(value) {
            return Err(format!(
                "request {done}: the reply {reply:#x} does not answer {value:#x}"
            ));
        }
        done += 1;
    }
    Ok(Instant::now())
}
