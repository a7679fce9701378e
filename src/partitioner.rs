//! Routing messages to partitions, compatible with Kafka's producer.
//!
//! A topic-level producer asks a [`Router`] which partition each message goes to. The
//! router applies one of four strategies ([`Partitioner`]):
//!
//! * [`Partitioner::Default`] (a topic's default): a record with a key goes where
//!   [`Partitioner::KeyHash`] puts it, a record without one goes round-robin. This is Kafka's
//!   default partitioner; Kafka spreads keyless records in sticky batches, which with no
//!   client-side batching here is the same spread as round-robin.
//! * [`Partitioner::KeyHash`]: the partition is `to_positive(murmur2(key)) % partitions`.
//!   [`murmur2`] is a bit-for-bit port of Kafka's `Utils.murmur2` (MurmurHash2, 32-bit,
//!   seed `0x9747b28c`, `m = 0x5bd1e995`, `r = 24`, little-endian 4-byte blocks, a 3/2/1
//!   byte tail, final mixes `h ^= h >>> 13; h *= m; h ^= h >>> 15`), and [`to_positive`]
//!   clears the sign bit like Kafka's `Utils.toPositive` (a mask, *not* `abs`). This is
//!   exactly what Kafka's default partitioner does for records that have a key
//!   (`BuiltInPartitioner.partitionForKey`), so a key lands on the same partition number
//!   here as it would in a Kafka topic with the same partition count.
//! * [`Partitioner::RoundRobin`]: partitions `0, 1, …, n - 1, 0, …` in turn; keys are
//!   ignored (like Kafka's `RoundRobinPartitioner`).
//! * [`Partitioner::Explicit`]: the caller names the partition for every message.
//!
//! Whatever the strategy, a partition passed explicitly to [`Router::route`] wins (like a
//! Kafka `ProducerRecord` with its partition set), after being checked against the
//! partition count.
//!
//! **Keyless messages under `KeyHash`** are an error ([`RouteError::MissingKey`]), not a
//! silent fallback. Kafka spreads null-key records with its sticky partitioner; here a
//! topic that hashes keys is assumed to rely on per-key ordering, so a missing key is more
//! likely a bug than a request to spread. Use [`Partitioner::Default`] for mixed traffic.
//!
//! # Examples
//!
//! ```
//! use ringgroup::partitioner::{kafka_partition, Partitioner, RouteError, Router};
//!
//! let mut router = Router::new(Partitioner::KeyHash, 12)?;
//! let p = router.route(Some(b"order-42"), None)?;
//! assert_eq!(p, kafka_partition(b"order-42", 12));
//! // An explicit partition overrides the hash, but must exist.
//! assert_eq!(router.route(Some(b"order-42"), Some(3))?, 3);
//! assert_eq!(
//!     router.route(Some(b"order-42"), Some(12)),
//!     Err(RouteError::UnknownPartition { partition: 12, partitions: 12 })
//! );
//! # Ok::<(), RouteError>(())
//! ```

use std::fmt;

/// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with seed `0x9747b28c`.
///
/// Returns the hash's bits as `u32`; Kafka's Java `int` is the same bits read as signed,
/// i.e. `murmur2(data) as i32`.
///
/// # Examples
///
/// ```
/// use ringgroup::partitioner::murmur2;
///
/// // Kafka's UtilsTest.testMurmur2 expects -790332482 for "foobar".
/// assert_eq!(murmur2(b"foobar") as i32, -790_332_482);
/// ```
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Java: `int h = seed ^ length;` — the length as a Java int, so truncate like Java
    // would (keys never approach 4 GiB in practice).
    let mut h = SEED ^ (data.len() as u32);

    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    // The tail: Java's `switch (length % 4)` with fallthrough from 3 to 2 to 1.
    let tail = blocks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// Kafka's `Utils.toPositive`: clears the sign bit (`x & 0x7fff_ffff`).
///
/// This is a mask, not an absolute value: a negative Java `int` `-n` maps to
/// `2^31 - n`, not `n`.
///
/// # Examples
///
/// ```
/// use ringgroup::partitioner::to_positive;
///
/// assert_eq!(to_positive(5), 5);
/// assert_eq!(to_positive(-1i32 as u32), 0x7fff_ffff);
/// assert_eq!(to_positive(i32::MIN as u32), 0);
/// ```
pub fn to_positive(x: u32) -> u32 {
    x & 0x7fff_ffff
}

/// The partition Kafka's default partitioner picks for a keyed record:
/// `to_positive(murmur2(key)) % partitions`.
///
/// # Panics
///
/// If `partitions` is 0 (division by zero). [`Router::new`] rejects 0 partitions, so
/// routing through a [`Router`] never panics.
///
/// # Examples
///
/// ```
/// use ringgroup::partitioner::kafka_partition;
///
/// // murmur2("foobar") is -790332482 as a Java int; masked it is 1357151166.
/// assert_eq!(kafka_partition(b"foobar", 12), 1_357_151_166 % 12);
/// assert_eq!(kafka_partition(b"foobar", 12), 6);
/// ```
pub fn kafka_partition(key: &[u8], partitions: u32) -> u32 {
    to_positive(murmur2(key)) % partitions
}

/// How a [`Router`] picks a partition when the caller does not name one.
///
/// # Examples
///
/// ```
/// use ringgroup::partitioner::{Partitioner, Router};
///
/// let router = Router::new(Partitioner::RoundRobin, 4)?;
/// assert_eq!(router.partitioner(), Partitioner::RoundRobin);
/// # Ok::<(), ringgroup::partitioner::RouteError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Partitioner {
    /// Kafka's default: hash the key like [`KeyHash`](Partitioner::KeyHash) when there is one,
    /// otherwise the next partition in turn like [`RoundRobin`](Partitioner::RoundRobin).
    #[default]
    Default,
    /// Hash the key with Kafka's murmur2 ([`kafka_partition`]); a message without a key
    /// is refused with [`RouteError::MissingKey`].
    KeyHash,
    /// Cycle through the partitions in order, starting at 0; keys are ignored.
    RoundRobin,
    /// The caller names the partition for every message; without one the message is
    /// refused with [`RouteError::MissingPartition`].
    Explicit,
}

/// Why a message could not be routed, or a [`Router`] could not be built.
///
/// # Examples
///
/// ```
/// use ringgroup::partitioner::{Partitioner, RouteError, Router};
///
/// assert_eq!(Router::new(Partitioner::KeyHash, 0).unwrap_err(), RouteError::NoPartitions);
/// let mut router = Router::new(Partitioner::KeyHash, 3)?;
/// let err = router.route(None, None).unwrap_err();
/// assert_eq!(err, RouteError::MissingKey);
/// assert_eq!(err.to_string(), "the key-hash partitioner needs a key, but the message has none");
/// # Ok::<(), RouteError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// A router was asked for with 0 partitions.
    NoPartitions,
    /// [`Partitioner::KeyHash`] was given a message with no key and no explicit partition.
    MissingKey,
    /// [`Partitioner::Explicit`] was given a message with no partition.
    MissingPartition,
    /// The explicit partition does not exist.
    UnknownPartition {
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has (valid ones are `0..partitions`).
        partitions: u32,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::NoPartitions => write!(f, "a topic needs at least 1 partition"),
            RouteError::MissingKey => write!(
                f,
                "the key-hash partitioner needs a key, but the message has none"
            ),
            RouteError::MissingPartition => write!(
                f,
                "the explicit partitioner needs a partition, but none was given"
            ),
            RouteError::UnknownPartition {
                partition,
                partitions,
            } => write!(
                f,
                "partition {partition} does not exist (the topic has {partitions} partitions)"
            ),
        }
    }
}

impl std::error::Error for RouteError {}

/// Picks the partition for each message of one topic.
///
/// Single-threaded by design: the producer owns it and calls [`route`](Router::route)
/// through `&mut self`, so the round-robin counter is a plain integer.
///
/// # Examples
///
/// ```
/// use ringgroup::partitioner::{Partitioner, Router};
///
/// let mut router = Router::new(Partitioner::RoundRobin, 3)?;
/// let picks: Vec<u32> = (0..5).map(|_| router.route(None, None)).collect::<Result<_, _>>()?;
/// assert_eq!(picks, [0, 1, 2, 0, 1]);
/// # Ok::<(), ringgroup::partitioner::RouteError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Router {
    partitioner: Partitioner,
    partitions: u32,
    /// The next round-robin partition; always `< partitions`.
    next: u32,
}

impl Router {
    /// A router over `partitions` partitions (numbered `0..partitions`).
    ///
    /// # Errors
    ///
    /// [`RouteError::NoPartitions`] if `partitions` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::partitioner::{Partitioner, RouteError, Router};
    ///
    /// let router = Router::new(Partitioner::KeyHash, 6)?;
    /// assert_eq!(router.partitions(), 6);
    /// assert_eq!(Router::new(Partitioner::Explicit, 0).unwrap_err(), RouteError::NoPartitions);
    /// # Ok::<(), RouteError>(())
    /// ```
    pub fn new(partitioner: Partitioner, partitions: u32) -> Result<Router, RouteError> {
        if partitions == 0 {
            return Err(RouteError::NoPartitions);
        }
        Ok(Router {
            partitioner,
            partitions,
            next: 0,
        })
    }

    /// The strategy used when no partition is given explicitly.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::partitioner::{Partitioner, Router};
    ///
    /// let router = Router::new(Partitioner::Explicit, 2)?;
    /// assert_eq!(router.partitioner(), Partitioner::Explicit);
    /// # Ok::<(), ringgroup::partitioner::RouteError>(())
    /// ```
    pub fn partitioner(&self) -> Partitioner {
        self.partitioner
    }

    /// How many partitions the router spreads over (always at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::partitioner::{Partitioner, Router};
    ///
    /// let router = Router::new(Partitioner::RoundRobin, 8)?;
    /// assert_eq!(router.partitions(), 8);
    /// # Ok::<(), ringgroup::partitioner::RouteError>(())
    /// ```
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// The partition for one message.
    ///
    /// If `explicit` is `Some`, it is used whatever the strategy (after checking it
    /// exists), and the round-robin counter does not advance. Otherwise:
    ///
    /// * [`Partitioner::Default`]: [`kafka_partition`] of the key if there is one, else the
    ///   next partition in turn.
    /// * [`Partitioner::KeyHash`]: [`kafka_partition`] of the key.
    /// * [`Partitioner::RoundRobin`]: the next partition in turn; the key is ignored.
    /// * [`Partitioner::Explicit`]: an error, since no partition was given.
    ///
    /// # Errors
    ///
    /// * [`RouteError::UnknownPartition`] if `explicit` is not below
    ///   [`partitions`](Router::partitions).
    /// * [`RouteError::MissingKey`] for `KeyHash` with neither a key nor a partition.
    /// * [`RouteError::MissingPartition`] for `Explicit` without a partition.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::partitioner::{kafka_partition, Partitioner, RouteError, Router};
    ///
    /// let mut router = Router::new(Partitioner::KeyHash, 3)?;
    /// assert_eq!(router.route(Some(b"user-7"), None)?, kafka_partition(b"user-7", 3));
    /// assert_eq!(router.route(None, Some(2))?, 2);
    /// assert_eq!(router.route(None, None), Err(RouteError::MissingKey));
    ///
    /// let mut explicit = Router::new(Partitioner::Explicit, 3)?;
    /// assert_eq!(explicit.route(Some(b"user-7"), None), Err(RouteError::MissingPartition));
    /// # Ok::<(), RouteError>(())
    /// ```
    pub fn route(&mut self, key: Option<&[u8]>, explicit: Option<u32>) -> Result<u32, RouteError> {
        let partitions = self.partitions;
        let next = &mut self.next;
        Self::pick(self.partitioner, partitions, key, explicit, || {
            let partition = *next;
            // `next < partitions`, so `next + 1 <= partitions <= u32::MAX`: no overflow.
            *next = if partition + 1 == partitions {
                0
            } else {
                partition + 1
            };
            partition
        })
    }

    /// [`route`](Self::route) with the round-robin turn taken from `turn` (any counter, for
    /// producers shared between threads), which is called only when a turn is used.
    pub(crate) fn route_with(
        &self,
        key: Option<&[u8]>,
        explicit: Option<u32>,
        turn: impl FnOnce() -> u32,
    ) -> Result<u32, RouteError> {
        let partitions = self.partitions;
        Self::pick(self.partitioner, partitions, key, explicit, || {
            turn() % partitions
        })
    }

    fn pick(
        partitioner: Partitioner,
        partitions: u32,
        key: Option<&[u8]>,
        explicit: Option<u32>,
        round_robin: impl FnOnce() -> u32,
    ) -> Result<u32, RouteError> {
        if let Some(partition) = explicit {
            return if partition < partitions {
                Ok(partition)
            } else {
                Err(RouteError::UnknownPartition {
                    partition,
                    partitions,
                })
            };
        }
        match (partitioner, key) {
            (Partitioner::Default | Partitioner::KeyHash, Some(key)) => {
                Ok(kafka_partition(key, partitions))
            }
            (Partitioner::KeyHash, None) => Err(RouteError::MissingKey),
            (Partitioner::RoundRobin | Partitioner::Default, _) => Ok(round_robin()),
            (Partitioner::Explicit, _) => Err(RouteError::MissingPartition),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's own vectors, copied from `UtilsTest.testMurmur2` in apache/kafka,
    /// clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java. They are
    /// Java `int`s, so compare the bits read as `i32`. Tails covered: 2 ("21", "foobar",
    /// "a-little-bit-longer-string"), 3 ("abc"), 0 (the 24- and 48-byte strings).
    #[test]
    fn murmur2_matches_kafka_utils_test() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            // Kafka writes this one as `new byte[] {'a', 'b', 'c'}`.
            (b"abc", 479_470_107),
        ];
        for (data, expected) in cases {
            assert_eq!(
                murmur2(data) as i32,
                expected,
                "murmur2({:?})",
                String::from_utf8_lossy(data)
            );
        }
    }

    /// Kafka's vectors never have a 1-byte tail, nor an empty key. These come from
    /// librdkafka's `unittest_murmur2` (confluentinc/librdkafka, src/rdmurmur2.c), whose
    /// table is labelled `java_murmur2_results`. Tails covered: 1 ("kafka",
    /// "giberish123456789", "4", 37 bytes), 2, 3 and 0, plus the empty key.
    #[test]
    fn murmur2_matches_librdkafka_java_results() {
        let unaligned: &[u8] = b"PreAmbleWillBeRemoved,ThePrePartThatIs";
        let cases: [(&[u8], u32); 11] = [
            (b"kafka", 0xd067_cf64),
            (b"giberish123456789", 0x8f55_2b0c),
            (b"1234", 0x9fc9_7b14),
            (b"234", 0xe7c0_09ca),
            (b"34", 0x8739_30da),
            (b"4", 0x5a4b_5ca1),
            (unaligned, 0x7842_4f1c),
            (&unaligned[1..], 0x4a62_b377),
            (&unaligned[2..], 0xe0e4_e09e),
            (&unaligned[3..], 0x62b8_b43f),
            (b"", 0x106e_08d9),
        ];
        for (data, expected) in cases {
            assert_eq!(
                murmur2(data),
                expected,
                "murmur2({:?})",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn to_positive_masks_the_sign_bit() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(0x7fff_ffff), 0x7fff_ffff);
        assert_eq!(to_positive(0x8000_0000), 0);
        assert_eq!(to_positive(u32::MAX), 0x7fff_ffff);
        // -973932308 masked is 2^31 - 973932308, not 973932308.
        assert_eq!(to_positive(-973_932_308i32 as u32), 1_173_551_340);
    }

    /// Expected partitions worked by hand from the verified hashes:
    ///
    /// * "21": -973932308 masks to 1173551340. Its digit sum is 30, so it is 0 mod 3; its
    ///   last two digits 40 make it 0 mod 4; so 0 mod 12. With `abs` instead (973932308:
    ///   digit sum 44 → 2 mod 3, 0 mod 4) it would be 2 and 8.
    /// * "foobar": -790332482 masks to 1357151166: digit sum 36 → 0 mod 3; 66 → 2 mod 4;
    ///   so 6 mod 12. With `abs` (790332482: 2 mod 3, 2 mod 4) it would be 2 and 2.
    /// * "a-little-bit-long-string": -985981536 masks to 1161502112: digit sum 20 → 2 mod
    ///   3; 12 → 0 mod 4; so 8 mod 12. With `abs` (985981536) it would be 0 and 0.
    /// * "abc": 479470107 is already positive: digit sum 39 → 0 mod 3; 07 → 3 mod 4; so 3
    ///   mod 12.
    #[test]
    fn kafka_partition_masks_rather_than_abs() {
        let cases: [(&[u8], u32, u32); 4] = [
            (b"21", 0, 0),
            (b"foobar", 0, 6),
            (b"a-little-bit-long-string", 2, 8),
            (b"abc", 0, 3),
        ];
        for (key, p3, p12) in cases {
            assert_eq!(kafka_partition(key, 3), p3, "{key:?} over 3");
            assert_eq!(kafka_partition(key, 12), p12, "{key:?} over 12");
        }
        assert_eq!(kafka_partition(b"anything", 1), 0);
    }

    #[test]
    fn key_hash_routes_by_kafka_partition() {
        let mut router = Router::new(Partitioner::KeyHash, 12).unwrap();
        assert_eq!(router.route(Some(b"foobar"), None), Ok(6));
        assert_eq!(router.route(Some(b"21"), None), Ok(0));
        assert_eq!(router.route(Some(b"abc"), None), Ok(3));
        // Same key, same partition, every time.
        for _ in 0..10 {
            assert_eq!(router.route(Some(b"foobar"), None), Ok(6));
        }
        // An empty key is a key (Kafka hashes it too), not a missing one.
        assert_eq!(router.route(Some(b""), None), Ok(kafka_partition(b"", 12)));
    }

    #[test]
    fn key_hash_without_key_is_missing_key() {
        let mut router = Router::new(Partitioner::KeyHash, 3).unwrap();
        assert_eq!(router.route(None, None), Err(RouteError::MissingKey));
        // ... unless a partition is given.
        assert_eq!(router.route(None, Some(1)), Ok(1));
    }

    #[test]
    fn round_robin_cycles_and_ignores_keys() {
        let mut router = Router::new(Partitioner::RoundRobin, 3).unwrap();
        let picks: Vec<u32> = (0..7)
            .map(|i| {
                let key = if i % 2 == 0 { Some(&b"same"[..]) } else { None };
                router.route(key, None).unwrap()
            })
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);

        let mut single = Router::new(Partitioner::RoundRobin, 1).unwrap();
        for _ in 0..3 {
            assert_eq!(single.route(None, None), Ok(0));
        }
    }

    #[test]
    fn round_robin_wraps_at_u32_max_partitions() {
        let mut router = Router::new(Partitioner::RoundRobin, u32::MAX).unwrap();
        router.next = u32::MAX - 1;
        assert_eq!(router.route(None, None), Ok(u32::MAX - 1));
        assert_eq!(router.route(None, None), Ok(0));
    }

    #[test]
    fn explicit_partition_does_not_advance_round_robin() {
        let mut router = Router::new(Partitioner::RoundRobin, 4).unwrap();
        assert_eq!(router.route(None, None), Ok(0));
        assert_eq!(router.route(None, Some(3)), Ok(3));
        assert_eq!(router.route(None, None), Ok(1));
        assert_eq!(
            router.route(None, Some(4)),
            Err(RouteError::UnknownPartition {
                partition: 4,
                partitions: 4
            })
        );
        assert_eq!(router.route(None, None), Ok(2));
    }

    #[test]
    fn explicit_overrides_and_is_validated_for_every_partitioner() {
        for partitioner in [
            Partitioner::KeyHash,
            Partitioner::RoundRobin,
            Partitioner::Explicit,
        ] {
            let mut router = Router::new(partitioner, 5).unwrap();
            assert_eq!(router.partitioner(), partitioner);
            assert_eq!(router.partitions(), 5);
            // "foobar" hashes to 1357151166 % 5 = 1; the explicit 4 wins.
            assert_eq!(router.route(Some(b"foobar"), Some(4)), Ok(4));
            assert_eq!(router.route(None, Some(0)), Ok(0));
            for bad in [5, 6, u32::MAX] {
                assert_eq!(
                    router.route(Some(b"foobar"), Some(bad)),
                    Err(RouteError::UnknownPartition {
                        partition: bad,
                        partitions: 5
                    })
                );
            }
        }
    }

    #[test]
    fn explicit_without_partition_is_missing_partition() {
        let mut router = Router::new(Partitioner::Explicit, 2).unwrap();
        assert_eq!(router.route(None, None), Err(RouteError::MissingPartition));
        assert_eq!(
            router.route(Some(b"key"), None),
            Err(RouteError::MissingPartition)
        );
    }

    #[test]
    fn zero_partitions_is_refused() {
        for partitioner in [
            Partitioner::KeyHash,
            Partitioner::RoundRobin,
            Partitioner::Explicit,
        ] {
            assert_eq!(
                Router::new(partitioner, 0).unwrap_err(),
                RouteError::NoPartitions
            );
        }
    }

    #[test]
    fn errors_display_and_are_std_errors() {
        let errors = [
            (
                RouteError::NoPartitions,
                "a topic needs at least 1 partition",
            ),
            (
                RouteError::MissingKey,
                "the key-hash partitioner needs a key, but the message has none",
            ),
            (
                RouteError::MissingPartition,
                "the explicit partitioner needs a partition, but none was given",
            ),
            (
                RouteError::UnknownPartition {
                    partition: 7,
                    partitions: 3,
                },
                "partition 7 does not exist (the topic has 3 partitions)",
            ),
        ];
        for (err, text) in errors {
            assert_eq!(err.to_string(), text);
            let boxed: Box<dyn std::error::Error> = Box::new(err.clone());
            assert_eq!(boxed.to_string(), text);
            assert!(boxed.source().is_none());
        }
    }
}
