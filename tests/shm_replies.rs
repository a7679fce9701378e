//! Producer groups on a request topic in shared memory: requesters and consumers in different
//! processes, and every reply back to the process (and member) that asked.
//!
//! The cross-process tests run this test binary again as the children (`--exact` on their own
//! name, with the role in an environment variable).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringgroup::producer_group::{
    ProducerGroupError, ReplyError, Request, MAX_SHARED_PRODUCER_GROUPS,
    MAX_SHARED_PRODUCER_GROUP_NAME,
};
use ringgroup::shm::remove;
use ringgroup::{ConsumeError, Consumer, Topic};

type Job = Request<u64, u64>;

const ROLE: &str = "RINGGROUP_SHM_REPLY_ROLE";
const SECOND: Duration = Duration::from_secs(10);

fn name(test: &str) -> String {
    format!("replies-{}-{test}", std::process::id())
}

struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = remove(&self.0);
    }
}

/// The answer a worker gives to request `value`.
fn answer(value: u64) -> u64 {
    value.wrapping_mul(3).wrapping_add(1)
}

/// Polls `worker` once and answers every request of the batch; returns how many.
fn serve_once(worker: &Consumer<Job>) -> usize {
    match worker.poll(64, Duration::from_millis(5)) {
        Ok(records) => {
            for record in &records {
                records
                    .reply(&record, answer(record.value.value))
                    .expect("the requester is alive and drains its replies");
            }
            records.len()
        }
        Err(ConsumeError::Timeout) => 0,
        Err(e) => panic!("{e}"),
    }
}

/// A child process, killed when dropped (a failing test leaves no worker behind).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Killed {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Killed {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// This test binary's `test` as a child in role `role` on region `region`, and its stdout's
/// lines.
fn spawn(test: &str, role: &str, region: &str) -> (Killed, Lines) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, format!("{role} {region}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    (Killed(child), Lines(lines))
}

/// A child's stdout, line by line.
struct Lines(std::sync::mpsc::Receiver<String>);

/// Reads `out` until a line containing `what`; fails if the child ends or a minute passes first.
fn wait_for(out: &mut Lines, what: &str) {
    loop {
        match out.0.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(what) => return,
            Ok(_) => {}
            Err(e) => panic!("the child did not say {what:?}: {e}"),
        }
    }
}

fn request_topic(region: &str, partitions: u32) -> (Topic<Job>, ringgroup::SharedProducer<Job>) {
    Topic::<Job>::builder("jobs")
        .partitions(partitions)
        .multi_producer()
        .shared_memory(region)
        .build()
        .unwrap()
}

/// A handle that opened the region on its own (as another process does) answers requests: its
/// replies find the producer group through the region, and the group's counters are the
/// region's, seen from both sides.
#[test]
fn a_consumer_that_never_built_the_producer_group_replies_through_the_region() {
    let region = name("handles");
    let _cleanup = Cleanup(region.clone());
    let (topic, _producer) = request_topic(&region, 2);
    let clients = topic.producer_group("clients").build().unwrap();
    let client = clients.join().unwrap();
    let other = Topic::<Job>::open(&region).unwrap();
    let worker = other.group("workers").build().unwrap().join().unwrap();
    let pending: Vec<_> = (0..10_u64)
        .map(|i| (i, client.request(&i.to_le_bytes(), i).unwrap()))
        .collect();
    let mut served = 0;
    while served < 10 {
        served += serve_once(&worker);
    }
    for (i, ticket) in &pending {
        assert_eq!(ticket.wait(SECOND).unwrap(), answer(*i));
    }
    // The same group, built by name in the other handle, shares the counters and members.
    let seen = other.producer_group("clients").build().unwrap().metrics();
    assert_eq!(seen.replies_sent, 10);
    assert_eq!(seen.members.len(), 1);
    assert_eq!(seen.members[0].replies_received, 10);
    assert_eq!(clients.metrics().replies_sent, 10);
}

/// Build errors of a producer group in a region: a name too long to record, a setting other
/// than the region's, and more groups than the directory holds.
#[test]
fn a_shared_producer_group_checks_its_name_settings_and_count() {
    let region = name("errors");
    let _cleanup = Cleanup(region.clone());
    let (topic, _producer) = request_topic(&region, 1);
    let long = "x".repeat(MAX_SHARED_PRODUCER_GROUP_NAME + 1);
    assert_eq!(
        topic.producer_group(long).build().unwrap_err(),
        ProducerGroupError::NameTooLong {
            max: MAX_SHARED_PRODUCER_GROUP_NAME
        }
    );
    let _first = topic.producer_group("c").max_members(4).build().unwrap();
    let other = Topic::<Job>::open(&region).unwrap();
    assert_eq!(
        other.producer_group("c").build().unwrap_err(),
        ProducerGroupError::Mismatch {
            what: "max_members",
            found: 4
        }
    );
    assert_eq!(
        other
            .producer_group("c")
            .max_members(4)
            .reply_wait(Duration::from_millis(5))
            .build()
            .unwrap_err(),
        ProducerGroupError::Mismatch {
            what: "reply_wait (ns)",
            found: 1_000_000
        }
    );
    assert_eq!(
        other
            .producer_group("big")
            .max_members(1 << 17)
            .build()
            .unwrap_err(),
        ProducerGroupError::TooManyMembers { max: 1 << 16 }
    );
    assert_eq!(
        other
            .producer_group("c")
            .max_members(4)
            .reply_capacity(64)
            .build()
            .unwrap_err(),
        ProducerGroupError::Mismatch {
            what: "reply_capacity",
            found: 1024
        }
    );
    let groups: Vec<_> = (1..MAX_SHARED_PRODUCER_GROUPS)
        .map(|i| other.producer_group(format!("g{i}")).build().unwrap())
        .collect();
    assert_eq!(
        topic.producer_group("one-more").build().unwrap_err(),
        ProducerGroupError::TooManyGroups {
            max: MAX_SHARED_PRODUCER_GROUPS
        }
    );
    // A group of the same name is the same group, not a new one: a member joined through one
    // handle is listed by the other.
    let member = topic
        .producer_group("g1")
        .build()
        .expect("an existing group is joined by name")
        .join()
        .unwrap();
    let listed: Vec<_> = groups[0].metrics().members.iter().map(|m| m.id).collect();
    assert_eq!(listed, [member.id()]);
    drop(groups);
}

/// Requesters in three processes (this one and two children) share one producer group, and
/// workers in two processes (this one and a child) share one consumer group: every request gets
/// exactly its own answer, at the process and member that asked, and nothing is lost.
#[test]
fn requesters_and_workers_in_several_processes_get_their_own_replies() {
    const TEST: &str = "requesters_and_workers_in_several_processes_get_their_own_replies";
    const REQUESTS: u64 = 3_000;
    if let Ok(role) = std::env::var(ROLE) {
        let (role, region) = role.split_once(' ').unwrap();
        let topic = Topic::<Job>::open(region).unwrap();
        match role {
            "worker" => {
                let worker = topic.group("workers").build().unwrap().join().unwrap();
                println!("ready");
                loop {
                    serve_once(&worker);
                }
            }
            requester => {
                let tag: u64 = requester.trim_start_matches("requester").parse().unwrap();
                requests(&topic, tag, REQUESTS);
                println!("done");
            }
        }
        return;
    }
    let region = name("several");
    let _cleanup = Cleanup(region.clone());
    let (topic, _producer) = request_topic(&region, 4);
    // The parent's worker thread, a member of the same consumer group as the worker child.
    let stop = Arc::new(AtomicBool::new(false));
    let worker = topic.group("workers").build().unwrap();
    let serving = {
        let stop = stop.clone();
        let member = worker.join().unwrap();
        std::thread::spawn(move || {
            let mut served = 0;
            while !stop.load(Ordering::Relaxed) {
                served += serve_once(&member);
            }
            served
        })
    };
    let (mut worker_child, mut out) = spawn(TEST, "worker", &region);
    wait_for(&mut out, "ready");
    let mut children: Vec<_> = [1, 2]
        .iter()
        .map(|tag| spawn(TEST, &format!("requester{tag}"), &region))
        .collect();
    requests(&topic, 0, REQUESTS);
    for (child, out) in &mut children {
        wait_for(out, "done");
        assert!(child.wait().unwrap().success(), "a requester child failed");
    }
    stop.store(true, Ordering::Relaxed);
    let served_here = serving.join().unwrap();
    worker_child.kill().unwrap();
    worker_child.wait().unwrap();
    let metrics = topic.producer_group("clients").build().unwrap().metrics();
    assert_eq!(metrics.replies_sent, 3 * REQUESTS);
    assert_eq!(metrics.replies_to_gone + metrics.replies_dropped, 0);
    assert!(
        served_here < 3 * REQUESTS as usize,
        "the worker child served none of {} requests",
        3 * REQUESTS
    );
}

/// Member `tag`'s run: `count` requests, up to 32 in flight, each checked against its own
/// answer; replies are taken as they come (`drain_replies`), each once.
fn requests(topic: &Topic<Job>, tag: u64, count: u64) {
    let clients = topic.producer_group("clients").build().unwrap();
    let client = clients.join().unwrap();
    let mut waiting = std::collections::HashMap::new();
    let mut answered = BTreeSet::new();
    let mut next = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while answered.len() < count as usize {
        while next < count && waiting.len() < 32 {
            let value = (tag << 32) | next;
            let ticket = client.request(&value.to_le_bytes(), value).unwrap();
            // The ticket stays pending until its reply is in (dropping it would make the reply
            // late); `drain_replies` delivers the reply, then the ticket is dropped.
            waiting.insert(ticket.correlation(), (value, ticket));
            next += 1;
        }
        client.drain_replies(|delivered| {
            let (value, _ticket) = waiting
                .remove(&delivered.correlation)
                .expect("a reply to a request of this member");
            assert_eq!(
                delivered.value,
                answer(value),
                "the answer to its own request"
            );
            assert!(delivered.last);
            assert!(answered.insert(value), "a request answered twice");
        });
        assert!(
            std::time::Instant::now() < deadline,
            "member {tag}: {} of {count} answered",
            answered.len()
        );
        std::thread::yield_now();
    }
}

/// A requester process killed with requests pending: its slot is freed for the next member
/// (the group has one slot), replies to it are dropped and counted, never delivered to the new
/// member, and the new member gets its own replies.
#[test]
fn a_killed_requesters_slot_is_freed_and_its_replies_never_reach_the_next_member() {
    const TEST: &str =
        "a_killed_requesters_slot_is_freed_and_its_replies_never_reach_the_next_member";
    if let Ok(role) = std::env::var(ROLE) {
        let (_, region) = role.split_once(' ').unwrap();
        let topic = Topic::<Job>::open(region).unwrap();
        let clients = topic
            .producer_group("clients")
            .max_members(1)
            .build()
            .unwrap();
        let client = clients.join().unwrap();
        let _pending: Vec<_> = (0..2).map(|i| client.request(b"k", i).unwrap()).collect();
        println!("sent");
        loop {
            std::thread::park();
        }
    }
    let region = name("killed");
    let _cleanup = Cleanup(region.clone());
    let (topic, _producer) = request_topic(&region, 1);
    let workers = topic.group("workers").build().unwrap();
    let worker = workers.join().unwrap();
    let clients = topic
        .producer_group("clients")
        .max_members(1)
        .build()
        .unwrap();
    let (mut child, mut out) = spawn(TEST, "requester", &region);
    wait_for(&mut out, "sent");
    assert_eq!(
        clients.join().unwrap_err(),
        ProducerGroupError::Full { max: 1 },
        "the live child holds the only slot"
    );
    // Take both requests while the child lives; answer the first now.
    let mut requests = Vec::new();
    while requests.len() < 2 {
        if let Ok(records) = worker.poll(8, Duration::from_millis(10)) {
            requests.extend(records.iter().map(|r| *r.value));
        }
    }
    worker.reply(&requests[0], 100).unwrap();
    assert_eq!(
        clients.metrics().members.len(),
        1,
        "the live child's member"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let client = clients.join().expect("the dead requester's slot is freed");
    let members: Vec<_> = clients.metrics().members.iter().map(|m| m.id).collect();
    assert_eq!(members, [client.id()], "only the new member is listed");
    assert_eq!(
        worker.reply(&requests[1], 101),
        Err(ReplyError::RequesterGone(101)),
        "a reply to a dead requester is dropped"
    );
    assert_eq!(clients.metrics().replies_to_gone, 1);
    let mut stale = Vec::new();
    client.drain_replies(|delivered| stale.push(delivered.value));
    assert_eq!(
        stale,
        Vec::<u64>::new(),
        "the new member got the old one's reply"
    );
    let ticket = client.request(b"k", 7).unwrap();
    while serve_once(&worker) == 0 {}
    assert_eq!(ticket.wait(SECOND).unwrap(), answer(7));
}

/// A worker process killed after it answered one of four polled requests and committed none:
/// the partition moves to the live worker at the commit, which answers all four again; the
/// requester gets each answer once and counts the second answer to the first as a duplicate.
#[test]
fn a_killed_workers_requests_are_answered_by_the_next_owner_once_each() {
    const TEST: &str = "a_killed_workers_requests_are_answered_by_the_next_owner_once_each";
    if let Ok(role) = std::env::var(ROLE) {
        let (_, region) = role.split_once(' ').unwrap();
        let topic = Topic::<Job>::open(region).unwrap();
        let worker = topic
            .group("workers")
            .auto_commit(false)
            .build()
            .unwrap()
            .join()
            .unwrap();
        println!("joined");
        let mut polled = Vec::new();
        while polled.len() < 4 {
            if let Ok(records) = worker.poll(8, Duration::from_millis(10)) {
                polled.extend(records.iter().map(|r| *r.value));
            }
        }
        worker.reply(&polled[0], answer(polled[0].value)).unwrap();
        println!("answered one");
        loop {
            std::thread::park();
        }
    }
    let region = name("worker-killed");
    let _cleanup = Cleanup(region.clone());
    let (topic, _producer) = request_topic(&region, 1);
    let clients = topic.producer_group("clients").build().unwrap();
    let client = clients.join().unwrap();
    let (mut child, mut out) = spawn(TEST, "worker", &region);
    wait_for(&mut out, "joined");
    let workers = topic.group("workers").auto_commit(false).build().unwrap();
    let standby = workers.join().unwrap();
    let tickets: Vec<_> = (10..14_u64)
        .map(|value| (value, client.request(b"k", value).unwrap()))
        .collect();
    wait_for(&mut out, "answered one");
    assert_eq!(tickets[0].1.wait(SECOND).unwrap(), answer(10));
    // While the child lives, its partition is its own: the standby gets nothing.
    assert_eq!(serve_once(&standby), 0);
    child.kill().unwrap();
    child.wait().unwrap();
    // The partition comes to the standby at the commit (none: offset 0): all four again.
    let mut served = 0;
    let deadline = std::time::Instant::now() + SECOND;
    while served < 4 {
        served += serve_once(&standby);
        assert!(std::time::Instant::now() < deadline, "served {served} of 4");
    }
    for (value, ticket) in &tickets[1..] {
        assert_eq!(ticket.wait(SECOND).unwrap(), answer(*value));
    }
    assert_eq!(
        tickets[0].1.try_recv(),
        Err(ringgroup::producer_group::WaitError::Finished)
    );
    let me = client.metrics();
    assert_eq!((me.replies_received, me.duplicates), (4, 1));
}

/// A requester process killed with more replies coming than its ring holds: the writers take
/// its dead reader back once the ring is full, and with it the slot, so the replies after that
/// are dropped and counted, and no reply ever waits for the dead reader.
#[test]
fn replies_to_a_killed_requester_beyond_its_ring_are_dropped_and_counted() {
    const TEST: &str = "replies_to_a_killed_requester_beyond_its_ring_are_dropped_and_counted";
    const REQUESTS: u64 = 12;
    if let Ok(role) = std::env::var(ROLE) {
        let (_, region) = role.split_once(' ').unwrap();
        let topic = Topic::<Job>::open(region).unwrap();
        let clients = topic
            .producer_group("clients")
            .max_members(1)
            .reply_capacity(4)
            .build()
            .unwrap();
        let client = clients.join().unwrap();
        let _pending: Vec<_> = (0..REQUESTS)
            .map(|i| client.request(b"k", i).unwrap())
            .collect();
        println!("sent");
        loop {
            std::thread::park();
        }
    }
    let region = name("full");
    let _cleanup = Cleanup(region.clone());
    let (topic, _producer) = request_topic(&region, 1);
    let worker = topic.group("workers").build().unwrap().join().unwrap();
    let (mut child, mut out) = spawn(TEST, "requester", &region);
    wait_for(&mut out, "sent");
    let mut requests = Vec::new();
    while requests.len() < REQUESTS as usize {
        if let Ok(records) = worker.poll(16, Duration::from_millis(10)) {
            requests.extend(records.iter().map(|r| *r.value));
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let results: Vec<_> = requests
        .iter()
        .map(|request| worker.reply(request, 1))
        .collect();
    let sent = results.iter().filter(|r| r.is_ok()).count();
    assert!(
        results[..4].iter().all(Result::is_ok),
        "the ring had room for 4: {results:?}"
    );
    assert_eq!(
        sent, 5,
        "the fifth reply takes the dead reader back and the slot with it: {results:?}"
    );
    assert!(results[5..]
        .iter()
        .all(|r| matches!(r, Err(ReplyError::RequesterGone(_)))));
    let clients = topic
        .producer_group("clients")
        .max_members(1)
        .reply_capacity(4)
        .build()
        .unwrap();
    let metrics = clients.metrics();
    assert_eq!(
        (
            metrics.replies_sent,
            metrics.replies_to_gone,
            metrics.members.len()
        ),
        (5, REQUESTS - 5, 0)
    );
}

/// A process still holding a request region that was removed and made again under the same
/// name: its late replies never reach the new region's members (the reply region is tied to
/// its region's incarnation), and its builds never touch the new region's files.
#[test]
fn a_removed_and_remade_region_gets_no_replies_from_the_old_one() {
    let region = name("remade");
    let _cleanup = Cleanup(region.clone());
    let (old, _old_producer) = request_topic(&region, 1);
    let old_client = old.producer_group("c").build().unwrap().join().unwrap();
    let old_worker = Topic::<Job>::open(&region)
        .unwrap()
        .group("w")
        .build()
        .unwrap()
        .join()
        .unwrap();
    let _old_ticket = old_client.request(b"k", 5).unwrap();
    let mut requests = Vec::new();
    while requests.is_empty() {
        if let Ok(records) = old_worker.poll(16, Duration::from_millis(10)) {
            requests.extend(records.iter().map(|r| *r.value));
        }
    }
    remove(&region).unwrap();
    let (new, _new_producer) = request_topic(&region, 1);
    let new_client = new.producer_group("c").build().unwrap().join().unwrap();
    let new_ticket = new_client.request(b"k", 6).unwrap();
    // The old worker's first reply opens the old incarnation's reply region: removed, so the
    // reply has no route, and it never lands in the new region's ring.
    assert_eq!(
        old_worker.reply(&requests[0], 999),
        Err(ReplyError::NoRoute(999))
    );
    assert_eq!(new_ticket.try_recv(), Ok(None));
    // An old-region build of another group makes its own files and removes none of the new.
    old.producer_group("d").build().unwrap();
    let new_worker = new.group("w").build().unwrap().join().unwrap();
    while serve_once(&new_worker) == 0 {}
    assert_eq!(new_ticket.wait(SECOND).unwrap(), answer(6));
}

/// `shm::remove` removes a region's reply regions, and no other region's files (names may
/// hold dots).
#[test]
fn remove_takes_the_reply_regions_and_nothing_else() {
    let base = name("remove");
    let dotted = format!("{base}.replies-0");
    let _cleanup = (Cleanup(base.clone()), Cleanup(dotted.clone()));
    let (topic, _producer) = request_topic(&base, 1);
    let (_other, _other_producer) = request_topic(&dotted, 1);
    topic.producer_group("c").build().unwrap();
    let companions = || {
        std::fs::read_dir(ringgroup::shm::DEFAULT_DIR)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| f.starts_with(&format!("ringgroup_{base}.replies-0-")))
            .count()
    };
    assert_eq!(companions(), 1, "the group's reply region");
    remove(&base).unwrap();
    assert_eq!(companions(), 0);
    Topic::<Job>::open(&dotted).expect("another region, whose name starts the same, is kept");
}
