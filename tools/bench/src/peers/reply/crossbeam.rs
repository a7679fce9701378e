//! The crossbeam-channel baseline of `reply`: one bounded request channel shared by every
//! responder, one bounded reply channel per requester (see the parent module).

use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError, TrySendError};

use super::{answer, on_threads, per_requester, time_round_trips, ReplyCase};
use crate::peers::drive::RoundTrips;
use crate::peers::{multi, Idle, Plan, Sample, Waiting};
use crate::stats;

/// A request: who asked, its correlation id (the requester's request number), its value.
#[derive(Clone, Copy, Debug)]
struct Ask {
    from: u32,
    correlation: u64,
    value: u64,
}

/// `from` of the stop message a requester sends each responder when done.
const STOP: u32 = u32::MAX;

/// A reply: the request's correlation id and the answer.
type Answer = (u64, u64);

/// One requester's ends: the shared request channel and its own reply channel.
struct Asking {
    id: u32,
    requests: Sender<Ask>,
    replies: Receiver<Answer>,
}

/// One responder's ends: the shared request channel and every requester's reply channel.
struct Answering {
    requests: Receiver<Ask>,
    replies: Vec<Sender<Answer>>,
}

/// The channels of `case`, each of `plan.capacity` slots.
fn channels(case: ReplyCase, plan: &Plan) -> (Vec<Asking>, Vec<Answering>) {
    let (ask, take) = bounded(plan.capacity);
    let (reply_tx, reply_rx): (Vec<_>, Vec<_>) = (0..case.requesters())
        .map(|_| bounded(plan.capacity))
        .unzip();
    let asking = reply_rx
        .into_iter()
        .enumerate()
        .map(|(r, replies)| Asking {
            id: r as u32,
            requests: ask.clone(),
            replies,
        })
        .collect();
    let answering = (0..case.responders())
        .map(|_| Answering {
            requests: take.clone(),
            replies: reply_tx.clone(),
        })
        .collect();
    (asking, answering)
}

/// Sends `value`, waiting while the channel is full.
fn send<T>(tx: &Sender<T>, value: T, waiting: Waiting) -> Result<(), String> {
    let mut value = value;
    let mut idle = Idle::new(waiting);
    loop {
        match tx.try_send(value) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(back)) => {
                value = back;
                idle.wait()?;
            }
            Err(TrySendError::Disconnected(_)) => return Err("the channel is closed".into()),
        }
    }
}

/// Receives, waiting while the channel is empty.
fn recv<T>(rx: &Receiver<T>, waiting: Waiting) -> Result<T, String> {
    let mut idle = Idle::new(waiting);
    loop {
        match rx.try_recv() {
            Ok(value) => return Ok(value),
            Err(TryRecvError::Empty) => idle.wait()?,
            Err(TryRecvError::Disconnected) => return Err("the channel is closed".into()),
        }
    }
}

/// Answers requests, each to its requester's channel, until a stop from each of
/// `requesters`.
fn respond(ends: &Answering, requesters: usize, waiting: Waiting) -> Result<(), String> {
    let (mut stopped, mut answered) = (0, 0_u64);
    while stopped < requesters {
        let ask = recv(&ends.requests, waiting)
            .map_err(|e| format!("{e} after answering {answered} requests"))?;
        if ask.from == STOP {
            stopped += 1;
            continue;
        }
        let to = ends
            .replies
            .get(ask.from as usize)
            .ok_or_else(|| format!("a request from an unknown requester {}", ask.from))?;
        send(to, (ask.correlation, answer(ask.value)), waiting)
            .map_err(|e| format!("replying to request {answered}: {e}"))?;
        answered += 1;
    }
    Ok(())
}

/// Sends every responder a stop.
fn stop(ends: &Asking, responders: usize, waiting: Waiting) -> Result<(), String> {
    for _ in 0..responders {
        let ask = Ask {
            from: STOP,
            correlation: 0,
            value: 0,
        };
        send(&ends.requests, ask, waiting).map_err(|e| format!("sending a stop: {e}"))?;
    }
    Ok(())
}

/// One requester, one responder: one request at a time, each round trip timed.
pub fn round_trips(plan: &Plan) -> Result<Sample, String> {
    let case = ReplyCase::RoundTrip;
    let waiting = plan.waiting;
    let (asking, answering) = channels(case, plan);
    let requesters = asking
        .into_iter()
        .map(|ends| Ok((ends, stats::histogram()?)))
        .collect::<Result<Vec<_>, String>>()?;
    let ran = on_threads(
        requesters,
        answering,
        plan,
        |_, (ends, histogram), line| {
            let start = line.cross();
            let mut correlation = 0;
            let timed = time_round_trips(plan, histogram, |value| {
                correlation += 1;
                let ask = Ask {
                    from: ends.id,
                    correlation,
                    value,
                };
                send(&ends.requests, ask, waiting).map_err(|e| format!("request: {e}"))?;
                let (answered, reply) = recv(&ends.replies, waiting)
                    .map_err(|e| format!("waiting for the reply: {e}"))?;
                if answered != correlation {
                    return Err(format!(
                        "the reply to request {answered} came while {correlation} was pending"
                    ));
                }
                Ok(reply)
            })?;
            stop(ends, case.responders(), waiting)?;
            Ok((start, timed))
        },
        |ends, line| {
            line.cross();
            respond(ends, case.requesters(), waiting)
        },
    )?;
    let ((_, histogram), timed) = ran.outputs.into_iter().next().ok_or("no requester")?;
    Ok(RoundTrips {
        histogram,
        allocs_per_msg: ran.allocations as f64 / timed.made.max(1) as f64,
        cut_short: timed.cut_short,
    }
    .sample())
}

/// A requester's window: per slot (`correlation mod window`), the value of the request
/// outstanding there and whether its reply arrived.
struct Window {
    values: Vec<u64>,
    answered: Vec<bool>,
}

/// Two requesters, each keeping `window` requests outstanding, two responders taking
/// requests from the one shared channel.
pub fn sustained(window: usize, plan: &Plan) -> Result<Sample, String> {
    let case = ReplyCase::Sustained;
    let waiting = plan.waiting;
    let each = per_requester(plan.messages, case.requesters());
    let (asking, answering) = channels(case, plan);
    // Each requester's window, made before the counted span.
    let requesters = asking
        .into_iter()
        .map(|ends| {
            let slots = Window {
                values: vec![0; window],
                answered: vec![false; window],
            };
            (ends, slots)
        })
        .collect();
    let ran = on_threads(
        requesters,
        answering,
        plan,
        |r, (ends, slots), line| {
            let start = line.cross();
            let end = keep_window(ends, slots, r, each, waiting)?;
            stop(ends, case.responders(), waiting)?;
            Ok((start, end))
        },
        |ends, line| {
            line.cross();
            respond(ends, case.requesters(), waiting)
        },
    )?;
    let end = ran
        .outputs
        .iter()
        .map(|(_, end)| *end)
        .max()
        .ok_or("no requester")?;
    let requests = each * case.requesters() as u64;
    let elapsed = end.saturating_duration_since(ran.start);
    Ok(Sample::Rate {
        mmsgs_per_s: requests as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6,
        allocs_per_msg: ran.allocations as f64 / requests.max(1) as f64,
    })
}

/// Sends requester `r`'s `n` requests keeping up to the window's size outstanding; replies
/// arrive in any order and are matched to their slot, and a new request goes out each time
/// the oldest outstanding one has its reply (as ringgroup's requester waits for its oldest
/// ticket). Returns when the last reply arrived.
fn keep_window(
    ends: &Asking,
    slots: &mut Window,
    r: usize,
    n: u64,
    waiting: Waiting,
) -> Result<std::time::Instant, String> {
    let window = slots.values.len() as u64;
    let (mut sent, mut oldest) = (0_u64, 0_u64);
    while oldest < n {
        while sent - oldest < window && sent < n {
            let value = multi::tag(r, sent);
            let slot = (sent % window) as usize;
            slots.values[slot] = value;
            slots.answered[slot] = false;
            let ask = Ask {
                from: ends.id,
                correlation: sent,
                value,
            };
            send(&ends.requests, ask, waiting).map_err(|e| format!("request {sent}: {e}"))?;
            sent += 1;
        }
        let (correlation, reply) = recv(&ends.replies, waiting)
            .map_err(|e| format!("waiting for the reply to request {oldest}: {e}"))?;
        let slot = (correlation % window) as usize;
        if correlation < oldest || correlation >= sent || slots.answered[slot] {
            return Err(format!(
                "a reply to request {correlation}, which is not outstanding ({oldest}..{sent})"
            ));
        }
        if reply != answer(slots.values[slot]) {
            return Err(format!(
                "request {correlation}: the reply {reply:#x} does not answer {:#x}",
                slots.values[slot]
            ));
        }
        slots.answered[slot] = true;
        while oldest < sent && slots.answered[(oldest % window) as usize] {
            oldest += 1;
        }
    }
    Ok(std::time::Instant::now())
}
