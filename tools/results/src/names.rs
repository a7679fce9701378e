//! The names the schema uses: scenarios, systems and charts.

/// Scenario names. A record's `scenario` is a family (the subcommand) with, where it has
/// several, the case or series after a `/`: `compare/spsc`, `latency/fixed-rate`,
/// `scale/groups`, `balance/weighted`.
pub mod scenario {
    /// `throughput`: M msg/s through partitions × groups × members.
    pub const THROUGHPUT: &str = "throughput";
    /// `latency/ping-pong` and `latency/fixed-rate`.
    pub const LATENCY: &str = "latency";
    /// `fanout`: one partition read by several groups.
    pub const FANOUT: &str = "fanout";
    /// `scale/partitions`, `scale/groups`, `scale/members`.
    pub const SCALE: &str = "scale";
    /// `rebalance`: handoff times, stalls and duplicates.
    pub const REBALANCE: &str = "rebalance";
    /// `balance/<assignor>`: members of unequal speed.
    pub const BALANCE: &str = "balance";
    /// `compare/<case>`: ringgroup against the peers.
    pub const COMPARE: &str = "compare";
    /// `reply/round-trip` and `reply/sustained`: request → consume → reply through ringgroup's
    /// producer groups, against a crossbeam-channel baseline.
    pub const REPLY: &str = "reply";
    /// `ipc/throughput`, `ipc/ping-pong` and `ipc/fanout`: a shared-memory topic between
    /// processes, against iceoryx2's publish-subscribe; `ipc/reply`: request → reply round
    /// trips through a producer group with the responder in another process, against the same
    /// in one process.
    pub const IPC: &str = "ipc";
    /// `chaos`: the consumer-group chaos workload.
    pub const CHAOS: &str = "chaos";
    /// `bridge/sink` and `bridge/source`: records per second through the Kafka bridge against
    /// a local broker, beside librdkafka alone (not in the default suite: it needs a broker).
    pub const BRIDGE: &str = "bridge";

    /// The default suite's families, in its order.
    pub const SUITE: [&str; 10] = [
        COMPARE, REPLY, IPC, THROUGHPUT, LATENCY, FANOUT, SCALE, REBALANCE, BALANCE, CHAOS,
    ];

    /// Every family, in the order of the results README: the suite's, then `bridge` (outside
    /// the suite: it needs a broker).
    pub const FAMILIES: [&str; 11] = [
        COMPARE, REPLY, IPC, THROUGHPUT, LATENCY, FANOUT, SCALE, REBALANCE, BALANCE, CHAOS, BRIDGE,
    ];

    /// `latency`'s round trips through two topics.
    pub const LATENCY_PING_PONG: &str = "latency/ping-pong";
    /// `latency`'s one-way times at a fixed offered rate.
    pub const LATENCY_FIXED_RATE: &str = "latency/fixed-rate";
    /// `scale`'s three series, in the order they run.
    pub const SCALE_SERIES: [&str; 3] = ["scale/partitions", "scale/groups", "scale/members"];
    /// `compare`'s cases, in report order. `spsc` delivers one message per receive, and
    /// `spsc-drain` everything ready per receive (see `tools/bench/README.md`).
    pub const COMPARE_CASES: [&str; 7] = [
        "spsc",
        "spsc-drain",
        "spsc-batch",
        "fanout-3",
        "mpsc",
        "mpmc",
        "ping-pong",
    ];
    /// `compare`'s stream cases (every case but ping-pong), which report `mmsgs_per_s`, in
    /// report order.
    pub const COMPARE_STREAM_CASES: [&str; 6] = [
        "spsc",
        "spsc-drain",
        "spsc-batch",
        "fanout-3",
        "mpsc",
        "mpmc",
    ];
    /// `compare`'s cases with two producers, which only multi-producer queues run (not rtrb,
    /// bus or the floor).
    pub const COMPARE_MULTI_PRODUCER: [&str; 2] = ["compare/mpsc", "compare/mpmc"];
    /// `compare`'s ping-pong case, the only one the `floor` reference runs.
    pub const COMPARE_PING_PONG: &str = "compare/ping-pong";
    /// `reply`'s cases, in report order.
    pub const REPLY_CASES: [&str; 2] = ["round-trip", "sustained"];
    /// `ipc`'s cases, in report order.
    pub const IPC_CASES: [&str; 4] = ["throughput", "ping-pong", "fanout", "reply"];
    /// `bridge`'s cases, in report order.
    pub const BRIDGE_CASES: [&str; 2] = ["sink", "source"];

    /// `family/case`.
    pub fn of(family: &str, case: &str) -> String {
        format!("{family}/{case}")
    }

    /// The family of a scenario: what comes before any `/`.
    pub fn family(scenario: &str) -> &str {
        scenario.split('/').next().unwrap_or(scenario)
    }

    /// Whether `scenario` is `family` itself or one of its cases.
    pub fn is_of(scenario: &str, family: &str) -> bool {
        self::family(scenario) == family
    }
}

/// System names: `ringgroup`, the peers by their crate names, and the `floor` reference.
pub mod system {
    /// Every system, ringgroup first: `ringgroup`, then the peers `rtrb`
    /// (`rtrb::RingBuffer`), `disruptor` (`disruptor::build_single_producer`, and
    /// `build_multi_producer` in `compare/mpsc` and `compare/mpmc`),
    /// `crossbeam-channel` (`crossbeam_channel::bounded`), `crossbeam-queue`
    /// (`crossbeam_queue::ArrayQueue`) and `bus` (`bus::Bus`), then the reference `floor`
    /// (one cache line each way, no queue: `compare/ping-pong` only), then `iceoryx2`
    /// (`iceoryx2` publish-subscribe between processes: `ipc/*` only), then `librdkafka`
    /// (its producer and consumer alone: `bridge/*` only), then `ringgroup-group` (ringgroup's
    /// consumer-group API, `Topic` / `Producer` / `Consumer`, beside the bare ring that
    /// `ringgroup` is in `compare/*`: `compare/*` only). This is the charts' order (each system
    /// keeps its colour on every chart) and the harness's (its `--systems` values) for the
    /// systems it runs. New systems go at the end, so older files keep their colours.
    pub const ALL: [&str; 10] = [
        "ringgroup",
        "rtrb",
        "disruptor",
        "crossbeam-channel",
        "crossbeam-queue",
        "bus",
        "floor",
        "iceoryx2",
        "librdkafka",
        "ringgroup-group",
    ];

    /// ringgroup itself.
    pub const RINGGROUP: &str = ALL[0];

    /// The physical floor of a ping-pong: two pinned threads bouncing one cache line each way.
    /// A reference, not a peer: it runs only `compare/ping-pong`, and ringgroup's
    /// `ratio_vs_floor` (floor p50 / ringgroup p50) is at most about 1.
    pub const FLOOR: &str = ALL[6];

    /// The baseline of `reply`, the only peer there.
    pub const CROSSBEAM_CHANNEL: &str = ALL[3];

    /// The peer of `ipc`, the only one there, and only there.
    pub const ICEORYX2: &str = ALL[7];

    /// The baseline of `bridge`, the only one there, and only there.
    pub const LIBRDKAFKA: &str = ALL[8];

    /// ringgroup's consumer-group API in `compare/*` (a heap `Topic` of one partition, its
    /// `Producer`, one group per consumer with one member, auto-commit,
    /// `Consumer::try_poll`), beside `ringgroup`, the bare partition ring. Its records carry
    /// `ratio_vs_ring` ([`figure::RATIO_VS_RING`](super::figure::RATIO_VS_RING)). It appears
    /// only in `compare/*`.
    pub const RINGGROUP_GROUP: &str = ALL[9];

    /// The scenarios a system can appear in: the floor only in `compare/ping-pong`; rtrb and
    /// bus (single-producer) not in `compare/mpsc` and `compare/mpmc`; only ringgroup and
    /// crossbeam-channel in `reply/*`; only ringgroup and iceoryx2 in `ipc/*`, and iceoryx2
    /// nowhere else; ringgroup-group only in `compare/*`; the others anywhere.
    pub fn runs_in(system: &str, scenario: &str) -> bool {
        use super::scenario as s;
        if s::is_of(scenario, s::BRIDGE) {
            return system == RINGGROUP || system == LIBRDKAFKA;
        }
        if system == LIBRDKAFKA {
            return false;
        }
        if s::is_of(scenario, s::IPC) {
            return system == RINGGROUP || system == ICEORYX2;
        }
        if system == ICEORYX2 {
            return false;
        }
        if system == RINGGROUP_GROUP {
            return s::is_of(scenario, s::COMPARE);
        }
        if s::is_of(scenario, s::REPLY) {
            return system == RINGGROUP || system == CROSSBEAM_CHANNEL;
        }
        if s::COMPARE_MULTI_PRODUCER.contains(&scenario) {
            return !matches!(system, "rtrb" | "bus" | FLOOR);
        }
        system != FLOOR || scenario == s::COMPARE_PING_PONG
    }

    /// Where a system may appear ([`runs_in`]), for an error message.
    pub fn where_it_runs(system: &str) -> &'static str {
        match system {
            FLOOR => "only in compare/ping-pong",
            "rtrb" | "bus" => "everywhere but compare/mpsc, compare/mpmc and reply/*",
            RINGGROUP => "everywhere",
            CROSSBEAM_CHANNEL => "everywhere but ipc/*",
            ICEORYX2 => "only in ipc/*",
            LIBRDKAFKA => "only in bridge/*",
            RINGGROUP_GROUP => "only in compare/*",
            _ => "everywhere but reply/* and ipc/*",
        }
    }

    /// A system's place in [`ALL`]; systems not in it come after, at `ALL.len()`.
    pub fn rank(name: &str) -> usize {
        ALL.iter().position(|s| *s == name).unwrap_or(ALL.len())
    }
}

/// Figure keys that more than one tool reads.
pub mod figure {
    /// On ringgroup's `compare/ping-pong` record: ringgroup's p50 round trip ÷ the floor's
    /// (median of the per-run quotients, with `_min` and `_max`): 1.15 is 15 % above the floor.
    pub const P50_OVER_FLOOR: &str = "p50_over_floor";
    /// The same for p99.
    pub const P99_OVER_FLOOR: &str = "p99_over_floor";
    /// On `ringgroup-group`'s `compare/*` records: the group API against the bare ring measured
    /// in the same invocation, per run (median with `_min` and `_max`), above 1 meaning the
    /// group API did better: the group's rate ÷ the ring's in the stream cases, the ring's p50
    /// round trip ÷ the group's in `compare/ping-pong` (`p99_ratio_vs_ring` for p99). The
    /// project's target is at least [`GROUP_TARGET`](crate::GROUP_TARGET).
    pub const RATIO_VS_RING: &str = "ratio_vs_ring";
}

/// The charts `ringgroup-plot` draws into a results directory, which the README links.
pub mod chart {
    /// Throughput per system, from the `compare` stream cases.
    pub const THROUGHPUT: &str = "throughput.svg";
    /// Latency percentile curves.
    pub const LATENCY: &str = "latency.svg";
    /// The scale series.
    pub const SCALE: &str = "scale.svg";
    /// Rebalance handoff times.
    pub const HANDOFF: &str = "handoff.svg";

    /// Every chart file with its caption, in drawing order.
    pub const ALL: [(&str, &str); 4] = [
        (THROUGHPUT, "Throughput per system (compare)"),
        (LATENCY, "Latency percentiles"),
        (SCALE, "Scale curve"),
        (HANDOFF, "Rebalance handoff times"),
    ];
}
