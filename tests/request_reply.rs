//! Producer groups and replies through the public API: round trips, streams, draining in
//! arrival order, and each failure rule (duplicates, a requester that left, one that stops
//! draining, a request nobody answers, a full correlation table).

use std::time::{Duration, Instant};

use ringgroup::producer_group::{
    ProducerGroup, ProducerGroupError, ReplyError, Request, RequestError, WaitError,
};
use ringgroup::{Consumer, Group, Topic};

const PATIENCE: Duration = Duration::from_secs(20);

type Req = Request<u64, u64>;

fn setup(reply_capacity: usize, reply_wait: Duration) -> (Group<Req>, ProducerGroup<u64, u64>) {
    let (topic, _producer) = Topic::<Req>::builder("requests")
        .partitions(2)
        .multi_producer()
        .build()
        .unwrap();
    let workers = topic.group("workers").build().unwrap();
    let clients = topic
        .producer_group("clients")
        .reply_capacity(reply_capacity)
        .reply_wait(reply_wait)
        .max_pending(8)
        .build()
        .unwrap();
    (workers, clients)
}

/// Answers every request polled until `n` were answered, with `f` of the request.
fn answer(
    worker: &Consumer<Req>,
    n: usize,
    f: impl Fn(u64) -> u64,
) -> Vec<Result<(), ReplyError<u64>>> {
    let mut outcomes = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while outcomes.len() < n && Instant::now() < deadline {
        if let Ok(records) = worker.poll(8, Duration::from_millis(10)) {
            for record in &records {
                outcomes.push(records.reply(&record, f(record.value.value)));
            }
        }
    }
    outcomes
}

#[test]
fn requests_get_their_own_replies() {
    let (workers, clients) = setup(64, Duration::from_millis(1));
    let worker = workers.join().unwrap();
    let a = clients.join().unwrap();
    let b = clients.join().unwrap();
    assert_ne!(a.id(), b.id());
    let pa: Vec<_> = (0..4_u64)
        .map(|i| a.request(&i.to_le_bytes(), i).unwrap())
        .collect();
    let pb: Vec<_> = (10..14_u64)
        .map(|i| b.request(&i.to_le_bytes(), i).unwrap())
        .collect();
    assert!(answer(&worker, 8, |v| v * 2).iter().all(Result::is_ok));
    // Waited on in reverse: each ticket still gets its own reply.
    for (i, pending) in pa.iter().enumerate().rev() {
        assert_eq!(pending.wait(PATIENCE), Ok(i as u64 * 2));
    }
    for (i, pending) in pb.iter().enumerate() {
        assert_eq!(pending.wait(PATIENCE), Ok((10 + i as u64) * 2));
        assert_eq!(pending.try_recv(), Err(WaitError::Finished));
    }
    let metrics = clients.metrics();
    assert_eq!(metrics.replies_sent, 8);
    assert!(metrics
        .members
        .iter()
        .all(|m| m.sent == 4 && m.replies_received == 4));
}

#[test]
fn a_request_answered_twice_reaches_the_caller_once() {
    let (workers, clients) = setup(64, Duration::from_millis(1));
    let worker = workers.join().unwrap();
    let client = clients.join().unwrap();
    let pending = client.request(b"k", 5).unwrap();
    // As if the request were redelivered to a new owner after a rebalance.
    let records = worker.poll(8, PATIENCE).unwrap();
    let record = records.get(0).unwrap();
    records.reply(&record, 50).unwrap();
    records.reply(&record, 51).unwrap();
    drop(records);
    assert_eq!(pending.wait(PATIENCE), Ok(50));
    assert_eq!(
        pending.wait(Duration::from_millis(10)),
        Err(WaitError::Finished)
    );
    assert_eq!(clients.metrics().members[0].duplicates, 1);
}

#[test]
fn a_reply_to_a_member_that_left_is_dropped_and_counted() {
    let (workers, clients) = setup(64, Duration::from_millis(1));
    let worker = workers.join().unwrap();
    let leaver = clients.join().unwrap();
    drop(leaver.request(b"k", 1).unwrap());
    drop(leaver);
    // The slot is reused by a new member at once.
    let newcomer = clients.join().unwrap();
    let outcomes = answer(&worker, 1, |v| v);
    assert!(matches!(outcomes[..], [Err(ReplyError::RequesterGone(1))]));
    assert_eq!(clients.metrics().replies_to_gone, 1);
    let mut delivered = 0;
    newcomer.drain_replies(|_| delivered += 1);
    assert_eq!(delivered, 0, "a reply reached another member");
}

#[test]
fn a_requester_that_stops_draining_never_stalls_the_consumers() {
    let (workers, clients) = setup(2, Duration::from_millis(5));
    let worker = workers.join().unwrap();
    let client = clients.join().unwrap();
    let pending: Vec<_> = (0..8).map(|i| client.request(b"k", i).unwrap()).collect();
    let started = Instant::now();
    // Streams: their parts travel in the reply ring (a lone, final reply would land in its
    // ticket's cell, one per ticket, and never wait).
    let mut outcomes = Vec::new();
    while outcomes.len() < 8 && started.elapsed() < PATIENCE {
        if let Ok(records) = worker.poll(8, Duration::from_millis(10)) {
            for record in &records {
                outcomes.push(records.responder(&record).send(record.value.value));
            }
        }
    }
    // Two fit in the reply ring; the rest wait 5 ms each, then are dropped.
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 2);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Err(ReplyError::Full(_))))
            .count(),
        6
    );
    assert!(started.elapsed() < PATIENCE);
    assert_eq!(clients.metrics().replies_dropped, 6);
    assert_eq!(pending[0].wait(PATIENCE), Ok(0));
}

#[test]
fn lone_replies_land_in_their_tickets_and_never_wait() {
    // A reply ring of 2 and a requester that does not drain: every lone, final reply still
    // gets in at once (its ticket's cell), with nothing dropped.
    let (workers, clients) = setup(2, Duration::from_secs(5));
    let worker = workers.join().unwrap();
    let client = clients.join().unwrap();
    let pending: Vec<_> = (0..8).map(|i| client.request(b"k", i).unwrap()).collect();
    let started = Instant::now();
    assert!(answer(&worker, 8, |v| v + 100).iter().all(Result::is_ok));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(clients.metrics().replies_dropped, 0);
    assert_eq!(clients.metrics().replies_sent, 8);
    // Drained in ticket order, each once.
    let mut drained = Vec::new();
    client.drain_replies(|reply| drained.push((reply.correlation, reply.value, reply.last)));
    let expected: Vec<_> = pending
        .iter()
        .enumerate()
        .map(|(i, p)| (p.correlation(), i as u64 + 100, true))
        .collect();
    drained.sort();
    let mut expected = expected;
    expected.sort();
    assert_eq!(drained, expected);
    assert!(pending
        .iter()
        .all(|p| p.try_recv() == Err(WaitError::Finished)));
}

#[test]
fn a_reply_after_its_ticket_was_dropped_is_late() {
    let (workers, clients) = setup(64, Duration::from_millis(1));
    let worker = workers.join().unwrap();
    let client = clients.join().unwrap();
    let dropped = client.request(b"k", 1).unwrap();
    // Answered before the ticket goes: the reply sits in the cell, then the ticket is dropped.
    assert!(answer(&worker, 1, |v| v).iter().all(Result::is_ok));
    drop(dropped);
    assert_eq!(clients.metrics().members[0].late, 1);
    // Answered after: the cell is no longer armed; the reply takes the ring, and is late.
    let gone = client.request(b"k", 2).unwrap();
    let correlation = gone.correlation();
    drop(gone);
    assert!(answer(&worker, 1, |v| v).iter().all(Result::is_ok));
    let mut delivered = 0;
    client.drain_replies(|_| delivered += 1);
    assert_eq!(delivered, 0);
    assert_eq!(clients.metrics().members[0].late, 2);
    // The ticket is reused with a new sequence, and its next reply arrives.
    let again = client.request(b"k", 3).unwrap();
    assert_ne!(again.correlation(), correlation);
    assert!(answer(&worker, 1, |v| v * 3).iter().all(Result::is_ok));
    assert_eq!(again.wait(PATIENCE), Ok(9));
}

#[test]
fn a_request_nobody_answers_times_out_and_is_counted() {
    let (_workers, clients) = setup(64, Duration::from_millis(1));
    let client = clients.join().unwrap();
    let pending = client.request(b"k", 1).unwrap();
    assert_eq!(
        pending.wait(Duration::from_millis(20)),
        Err(WaitError::Timeout)
    );
    assert_eq!(pending.try_recv(), Ok(None));
    assert_eq!(clients.metrics().members[0].replies_timed_out, 1);
}

#[test]
fn the_correlation_table_is_bounded() {
    let (_workers, clients) = setup(64, Duration::from_millis(1));
    let client = clients.join().unwrap();
    let held: Vec<_> = (0..8).map(|i| client.request(b"k", i).unwrap()).collect();
    assert!(matches!(
        client.request(b"k", 99),
        Err(RequestError::TooManyPending(99))
    ));
    drop(held);
    assert!(
        client.request(b"k", 100).is_ok(),
        "dropped tickets are free again"
    );
}

#[test]
fn replies_can_be_drained_in_arrival_order_and_streamed() {
    let (workers, clients) = setup(64, Duration::from_millis(1));
    let worker = workers.join().unwrap();
    let client = clients.join().unwrap();
    let first = client.request(b"k", 1).unwrap();
    let second = client.request(b"k", 2).unwrap();
    let records = worker.poll(8, PATIENCE).unwrap();
    for record in &records {
        let mut stream = records.responder(&record);
        stream.send(record.value.value * 10).unwrap();
        stream.finish(record.value.value * 10 + 1).unwrap();
    }
    drop(records);
    let mut drained = Vec::new();
    client.drain_replies(|reply| drained.push((reply.correlation, reply.value, reply.last)));
    let (c1, c2) = (first.correlation(), second.correlation());
    assert_eq!(
        drained,
        [
            (c1, 10, false),
            (c1, 11, true),
            (c2, 20, false),
            (c2, 21, true)
        ]
    );
    assert_eq!(first.try_recv(), Err(WaitError::Finished));
}

#[test]
fn a_plain_message_wants_no_reply() {
    let (workers, clients) = setup(64, Duration::from_millis(1));
    let worker = workers.join().unwrap();
    let client = clients.join().unwrap();
    client.send(7).unwrap();
    let outcomes = answer(&worker, 1, |v| v);
    assert!(matches!(outcomes[..], [Err(ReplyError::NoRoute(7))]));
}

/// A producer group is one group per name on its topic (Kafka's group id): building the name
/// again joins it, with the same settings or a `Mismatch` error.
#[test]
fn a_producer_group_name_is_one_group() {
    let (topic, _producer) = Topic::<Req>::builder("requests")
        .multi_producer()
        .build()
        .unwrap();
    let first = topic
        .producer_group("clients")
        .max_members(2)
        .build()
        .unwrap();
    let again = topic
        .producer_group("clients")
        .max_members(2)
        .build()
        .unwrap();
    let member = again.join().unwrap();
    let listed: Vec<_> = first.metrics().members.iter().map(|m| m.id).collect();
    assert_eq!(listed, [member.id()]);
    let _second = first.join().unwrap();
    assert_eq!(
        again.join().unwrap_err(),
        ProducerGroupError::Full { max: 2 },
        "the two handles share two slots"
    );
    assert_eq!(
        topic.producer_group("clients").build().unwrap_err(),
        ProducerGroupError::Mismatch {
            what: "max_members",
            found: 2
        }
    );
    topic
        .producer_group("others")
        .build()
        .expect("another name is another group");
}
