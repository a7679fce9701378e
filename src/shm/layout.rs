//! A region's layout, word by word: where every word of a region file is, how wide it is, what
//! it is called and what it belongs to, read from the file's header alone (no message type
//! needed: the header records the type's size and alignment, and the geometry).
//!
//! It serves tools that look at a region from outside (an operations command, a test that
//! corrupts one word at a time), never the data path.
//!
//! # What it lists
//!
//! - the region header (`header.*`);
//! - the group registry: every field of every entry, then its per-partition reader slot, plan,
//!   tag and reservation words (`registry[e].*`);
//! - the extra area, as its user lays it out: a topic region's producer-group directory
//!   (`directory.*`), or a reply region's table (`replies.*`: its head, then each member
//!   slot's words);
//! - every ring (`ring[p].*`): its control block (`published`, `write_limit`, `readers_high`,
//!   `closed`, both wait signals' words, the multi-producer header and every claimer record),
//!   its reader cursors, holder words and reclaim count, and its stamps (multi-producer rings).
//!
//! Message slots are the user's data, not words: [`Layout::slots`] says where they are.
//!
//! # Which extra area
//!
//! A region's extra area is a reply table when its file is named as a reply region is
//! (`<request region file>.replies-<group>-<incarnation, 16 hex digits>`, the rule
//! [`remove`](super::remove) uses), with one member slot per partition. Any other region's
//! extra area is a producer-group directory: every topic region has room for one, zeroed until
//! a request topic builds a producer group. An extra area too short for its table or directory
//! is [`RegionError::Corrupt`].
//!
//! # How
//!
//! Offsets come from the structs themselves, never from copied numbers: each part's words are
//! listed next to its struct (`offset_of!`, the ring's `Geometry`, the registry's own entry
//! accessor), so the description moves with the code. The layers above `shm` describe their
//! extra-area words by implementing [`ExtraArea`] for the markers here, so `shm` names no layer
//! above it.
//!
//! # Invariants
//!
//! - Words never overlap, each is aligned to its size and lies inside the file; names are
//!   unique.
//! - [`describe`] only reads the header page (`pread`); it never maps the file. It checks the
//!   header as [`Topic::open`](crate::Topic::open) does (all but the message type), so a file
//!   that is not a whole, ready region of this layout version is a typed error.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::error::RegionError;
use super::groups;
use super::region::{self, Inspected};
use crate::ring::block;

/// One word of a part's struct: its name and offset within the struct, and its size. Kept next
/// to each struct that lies in a region, and placed into the file by [`describe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) offset: usize,
    pub(crate) size: usize,
}

impl Field {
    /// A word of type `W` called `name` at `offset`.
    pub(crate) fn of<W>(name: impl Into<String>, offset: usize) -> Self {
        Self {
            name: name.into(),
            offset,
            size: std::mem::size_of::<W>(),
        }
    }

    /// This word inside the struct `prefix` that starts at `base`.
    pub(crate) fn within(self, prefix: &str, base: usize) -> Self {
        Self {
            name: format!("{prefix}.{}", self.name),
            offset: base + self.offset,
            size: self.size,
        }
    }
}

/// The words of an extra-area layout that a layer above `shm` keeps (implemented where its
/// structs live, for the markers [`ProducerGroupDirectory`] and [`ReplyTable`]).
pub(crate) trait ExtraArea {
    /// Bytes the layout takes with `slots` member slots.
    fn bytes(slots: usize) -> usize;
    /// Every word, with offsets from the extra area's start.
    fn fields(slots: usize) -> Vec<Field>;
}

/// Marker: a topic region's producer-group directory.
pub(crate) struct ProducerGroupDirectory;

/// Marker: a reply region's table (head and member slots).
pub(crate) struct ReplyTable;

/// What a word belongs to.
///
/// # Examples
///
/// ```
/// use ringgroup::shm::layout::Part;
///
/// let part = Part::Ring { partition: 1 };
/// assert_ne!(part, Part::Header);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// The region header.
    Header,
    /// Entry `entry` of the group registry.
    Registry {
        /// The entry's index.
        entry: usize,
    },
    /// The extra area (see [`ExtraKind`]).
    Extra,
    /// Partition `partition`'s ring block.
    Ring {
        /// The partition.
        partition: u32,
    },
}

/// How a region's extra area is laid out (see the module docs for how it is decided).
///
/// # Examples
///
/// ```
/// use ringgroup::shm::layout::ExtraKind;
///
/// assert_ne!(ExtraKind::Directory, ExtraKind::ReplyTable { group: 0, incarnation: 1, members: 2 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtraKind {
    /// A topic region's producer-group directory.
    Directory,
    /// A reply region's table: the reply region of producer group `group` of incarnation
    /// `incarnation` (from the file name), with `members` member slots.
    ReplyTable {
        /// The producer group's index in its request region's directory.
        group: usize,
        /// The directory entry's incarnation the file name records.
        incarnation: u64,
        /// Member slots (one per partition).
        members: usize,
    },
}

/// One word of a region file.
///
/// # Examples
///
/// ```
/// use ringgroup::shm::layout::{Part, Word};
///
/// let word = Word::new("ring[0].published", 69_632, 8, Part::Ring { partition: 0 });
/// assert_eq!(word.max_value(), u64::MAX);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Word {
    /// Its stable name, such as `"ring[1].published"` or `"registry[0].plan[1]"`.
    pub name: String,
    /// Its byte offset in the file.
    pub offset: u64,
    /// Its size in bytes: 8 or 4.
    pub size: usize,
    /// What it belongs to.
    pub part: Part,
}

impl Word {
    /// A word called `name` of `size` bytes at `offset`, part of `part`.
    pub fn new(name: impl Into<String>, offset: u64, size: usize, part: Part) -> Self {
        Self {
            name: name.into(),
            offset,
            size,
            part,
        }
    }

    /// The largest value the word holds (all bits set).
    pub fn max_value(&self) -> u64 {
        match self.size {
            0 => 0,
            size if size >= 8 => u64::MAX,
            size => (1 << (8 * size)) - 1,
        }
    }
}

/// Every word of a region file, and what its header says the region holds.
///
/// # Examples
///
/// ```
/// use ringgroup::shm::layout;
/// use ringgroup::Topic;
///
/// let name = format!("layout-doc-{}", std::process::id());
/// let (_topic, _producer) = Topic::<u64>::builder("t")
///     .partitions(2)
///     .capacity(8)
///     .shared_memory(&name)
///     .build()?;
/// let layout = layout::describe(ringgroup::shm::default_path(&name))?;
/// assert_eq!((layout.partitions, layout.capacity), (2, 8));
/// assert!(layout.word("ring[1].published").is_some());
/// assert_eq!(layout.slots(0).map(|slots| slots.end - slots.start), Some(8 * 8));
/// ringgroup::shm::remove(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Layout {
    /// The region file.
    pub path: PathBuf,
    /// The file's length as its header records it.
    pub size: u64,
    /// The message type's name as the header records it (at most its first 128 bytes).
    pub message_type: String,
    /// The message type's size in bytes.
    pub message_size: usize,
    /// The message type's alignment.
    pub message_align: usize,
    /// Partitions (rings).
    pub partitions: u32,
    /// Slots per ring.
    pub capacity: usize,
    /// Entries of the group registry (and reader slots per ring).
    pub max_groups: usize,
    /// True for a multi-producer topic (whose rings have stamps).
    pub multi_producer: bool,
    /// What the extra area holds.
    pub extra: ExtraKind,
    /// Every word, by offset.
    pub words: Vec<Word>,
    /// Each ring's slots in use (message bytes, not words).
    slots: Vec<Range<u64>>,
}

impl Layout {
    /// The word called `name`.
    pub fn word(&self, name: &str) -> Option<&Word> {
        self.words.iter().find(|word| word.name == name)
    }

    /// The bytes of partition `partition`'s message slots (the user's data, not words).
    pub fn slots(&self, partition: u32) -> Option<Range<u64>> {
        self.slots.get(partition as usize).cloned()
    }
}

/// Describes every word of the region file at `path` from its header (see the module docs).
///
/// Errors are the ones [`Topic::open`](crate::Topic::open) gives for a file that is not a
/// whole, ready region of this layout version, and [`RegionError::Corrupt`] for an extra area
/// too short for its table or directory.
///
/// # Examples
///
/// ```
/// use ringgroup::shm::layout::{self, Part};
/// use ringgroup::Topic;
///
/// let name = format!("layout-describe-{}", std::process::id());
/// let (_topic, _producer) = Topic::<[u8; 24]>::builder("t")
///     .capacity(16)
///     .multi_producer()
///     .shared_memory(&name)
///     .build()?;
/// let layout = layout::describe(ringgroup::shm::default_path(&name))?;
/// let stamp = layout.word("ring[0].stamp[15]").unwrap();
/// assert_eq!((stamp.size, stamp.part), (8, Part::Ring { partition: 0 }));
/// assert!(layout.word("directory.entry[0].state").is_some());
/// ringgroup::shm::remove(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn describe(path: impl AsRef<Path>) -> Result<Layout, RegionError> {
    let path = path.as_ref();
    let found = region::inspect(path)?;
    let extra = extra_kind(path, &found);
    let mut words = Vec::new();
    let mut place = |part: Part, base: usize, fields: Vec<Field>| {
        words.extend(fields.into_iter().map(|field| Word {
            name: field.name,
            offset: (base + field.offset) as u64,
            size: field.size,
            part,
        }));
    };
    let header = region::header_fields();
    place(
        Part::Header,
        0,
        header.into_iter().map(|f| f.within("header", 0)).collect(),
    );
    let stride = groups::entry_stride(found.shape.partitions);
    let entry = groups::entry_fields(found.shape.partitions);
    for index in 0..found.shape.max_groups {
        let prefix = format!("registry[{index}]");
        let fields = entry.iter().map(|f| f.clone().within(&prefix, 0)).collect();
        place(
            Part::Registry { entry: index },
            found.registry_offset + index * stride,
            fields,
        );
    }
    let (prefix, fields, bytes) = match extra {
        ExtraKind::Directory => (
            "directory",
            ProducerGroupDirectory::fields(0),
            ProducerGroupDirectory::bytes(0),
        ),
        ExtraKind::ReplyTable { members, .. } => (
            "replies",
            ReplyTable::fields(members),
            ReplyTable::bytes(members),
        ),
    };
    if found.shape.extra < bytes {
        return Err(RegionError::Corrupt { what: "extra area" });
    }
    let fields = fields.into_iter().map(|f| f.within(prefix, 0)).collect();
    place(Part::Extra, found.extra_offset, fields);
    let ring = ring_fields(&found);
    let mut slots = Vec::new();
    for partition in 0..found.shape.partitions {
        let base = found.rings_offset + partition as usize * found.ring_stride;
        let prefix = format!("ring[{partition}]");
        let fields = ring.iter().map(|f| f.clone().within(&prefix, 0)).collect();
        place(Part::Ring { partition }, base, fields);
        let first =
            base + found.geometry.slot_array_offset() + found.geometry.pad * found.type_size;
        let end = first + found.shape.capacity * found.type_size;
        slots.push(first as u64..end as u64);
    }
    words.sort_by_key(|word| word.offset);
    Ok(Layout {
        path: path.to_path_buf(),
        size: found.total as u64,
        message_type: found.type_name,
        message_size: found.type_size,
        message_align: found.type_align,
        partitions: found.shape.partitions,
        capacity: found.shape.capacity,
        max_groups: found.shape.max_groups,
        multi_producer: found.shape.multi,
        extra,
        words,
        slots,
    })
}

/// The extra area's kind: a reply table if the file is named as a reply region.
fn extra_kind(path: &Path, found: &Inspected) -> ExtraKind {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    match region::parse_reply_companion(&name) {
        Some((group, incarnation)) => ExtraKind::ReplyTable {
            group,
            incarnation,
            members: found.shape.partitions as usize,
        },
        None => ExtraKind::Directory,
    }
}

/// The words of one ring block (offsets within the block).
fn ring_fields(found: &Inspected) -> Vec<Field> {
    let geometry = &found.geometry;
    let mut fields = block::header_fields();
    let cursor = std::mem::size_of::<u64>();
    let readers = geometry.readers_offset();
    for i in 0..geometry.max_readers {
        let offset = readers + i * block::reader_stride();
        fields.push(Field::of::<u64>(format!("reader[{i}]"), offset));
    }
    if let Some(owners) = geometry.owners_offset() {
        for i in 0..geometry.max_readers {
            fields.push(Field::of::<u64>(
                format!("holder[{i}]"),
                owners + i * cursor,
            ));
        }
        let reclaimed = owners + geometry.max_readers * cursor;
        fields.push(Field::of::<u64>("reclaimed", reclaimed));
    }
    if let Some(stamps) = geometry.stamps_offset() {
        for i in 0..geometry.capacity {
            fields.push(Field::of::<u64>(format!("stamp[{i}]"), stamps + i * cursor));
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};
    use std::os::unix::fs::FileExt;
    use std::time::Duration;

    use super::*;
    use crate::producer_group::Request;
    use crate::{StartAt, Topic};

    struct Removed(String);

    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = crate::shm::remove(&self.0);
        }
    }

    fn unique(test: &str) -> String {
        format!("layout-test-{}-{test}", std::process::id())
    }

    /// The value of `name` in the file, read at the offset the layout gives.
    fn read(layout: &Layout, name: &str) -> u64 {
        let word = layout
            .word(name)
            .unwrap_or_else(|| panic!("no word {name}"));
        let mut bytes = [0_u8; 8];
        std::fs::File::open(&layout.path)
            .unwrap()
            .read_exact_at(&mut bytes[..word.size], word.offset)
            .unwrap();
        u64::from_le_bytes(bytes)
    }

    /// Words are unique by name, inside the file, aligned to their size, and never overlap;
    /// message slots hold no word.
    fn check_shape(layout: &Layout) {
        let names: HashSet<_> = layout.words.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names.len(), layout.words.len(), "names are unique");
        let mut end = 0;
        for word in &layout.words {
            assert!(matches!(word.size, 1 | 4 | 8), "{word:?}");
            assert_eq!(word.offset % word.size as u64, 0, "{word:?} is aligned");
            assert!(word.offset >= end, "{word:?} overlaps the word before");
            end = word.offset + word.size as u64;
            for partition in 0..layout.partitions {
                let slots = layout.slots(partition).unwrap();
                assert!(
                    end <= slots.start || word.offset >= slots.end,
                    "{word:?} in slots"
                );
            }
        }
        assert!(end <= layout.size, "the last word is inside the file");
        check_dense(layout);
    }

    /// The region header, each registry entry and the directory are dense structs: their
    /// words follow one another without a gap, so none of their fields is left out.
    fn check_dense(layout: &Layout) {
        let dense = |part: Part| match part {
            Part::Header | Part::Registry { .. } => true,
            Part::Extra => layout.extra == ExtraKind::Directory,
            Part::Ring { .. } => false,
        };
        let mut parts: BTreeMap<Part, Vec<&Word>> = BTreeMap::new();
        for word in layout.words.iter().filter(|word| dense(word.part)) {
            parts.entry(word.part).or_default().push(word);
        }
        assert!(parts.contains_key(&Part::Header));
        for (part, words) in parts {
            for pair in words.windows(2) {
                let end = pair[0].offset + pair[0].size as u64;
                assert_eq!(end, pair[1].offset, "a gap in {part:?} after {:?}", pair[0]);
            }
        }
    }

    #[test]
    fn a_topic_regions_words_hold_what_the_topic_wrote() {
        let name = unique("topic");
        let _removed = Removed(name.clone());
        let (topic, mut producer) = Topic::<u64>::builder("t")
            .partitions(2)
            .capacity(8)
            .max_groups(3)
            .shared_memory(&name)
            .build()
            .unwrap();
        let _group = topic.group("walkers").build().unwrap().join().unwrap();
        let mut reader = topic
            .subscriber(1)
            .unwrap()
            .subscribe(StartAt::Earliest)
            .unwrap();
        for value in 0..3 {
            producer.send_to(1, value).unwrap();
        }
        assert_eq!(reader.poll_timeout(8, Duration::ZERO).unwrap().len(), 3);
        let layout = describe(crate::shm::default_path(&name)).unwrap();
        check_shape(&layout);
        assert_eq!(layout.extra, ExtraKind::Directory);
        assert!(!layout.multi_producer);
        assert_eq!(read(&layout, "header.capacity"), 8);
        assert_eq!(read(&layout, "header.partitions"), 2);
        assert_eq!(read(&layout, "header.type_size"), 8);
        assert_eq!(
            read(&layout, "header.producer") >> 32,
            u64::from(std::process::id())
        );
        assert_eq!(read(&layout, "ring[1].published"), 3);
        assert_eq!(read(&layout, "ring[0].published"), 0);
        assert_eq!(read(&layout, "ring[1].closed"), 0);
        assert_eq!(read(&layout, "ring[1].producers"), 0, "single producer");
        assert_eq!(
            read(&layout, "registry[0].name_len"),
            "walkers".len() as u64
        );
        assert_eq!(
            read(&layout, "registry[0].name[0]").to_le_bytes(),
            *b"walkers\0"
        );
        // The group's cursor on partition 1 is the slot its registry entry records.
        let slot = read(&layout, "registry[0].slot[1]");
        assert!(slot < 3, "a reader slot: {slot}");
        assert_eq!(read(&layout, &format!("ring[1].reader[{slot}]")), 0);
        assert_ne!(read(&layout, &format!("ring[1].holder[{slot}]")), 0);
        assert_eq!(read(&layout, "registry[1].slot[0]"), u64::from(u32::MAX));
        assert!(layout.word("ring[0].stamp[0]").is_none(), "no stamps");
        assert!(layout.word("ring[0].claimer[63].active").is_some());
        assert!(layout.word("ring[1].reclaimed").is_some());
        assert!(layout.word("registry[2].reserved[1]").is_some());
        assert!(layout.word("registry[3].generation").is_none());
        let first = layout.slots(0).unwrap();
        assert_eq!(first.end - first.start, 8 * 8);
    }

    #[test]
    fn a_request_region_and_its_reply_region_are_described() {
        let name = unique("request");
        let _removed = Removed(name.clone());
        let (topic, _producer) = Topic::<Request<u64, u64>>::builder("jobs")
            .partitions(1)
            .capacity(8)
            .multi_producer()
            .shared_memory(&name)
            .build()
            .unwrap();
        let clients = topic
            .producer_group("clients")
            .max_members(2)
            .reply_capacity(4)
            .build()
            .unwrap();
        let _client = clients.join().unwrap();
        let path = crate::shm::default_path(&name);
        let layout = describe(&path).unwrap();
        check_shape(&layout);
        assert!(layout.multi_producer);
        assert_eq!(read(&layout, "ring[0].stamp[7]"), 0);
        assert!(
            read(&layout, "ring[0].producers") >= 1,
            "the builder's producer"
        );
        assert_eq!(read(&layout, "ring[0].limit"), 8);
        assert_eq!(read(&layout, "directory.entry[0].state"), 2, "READY");
        assert_eq!(read(&layout, "directory.entry[0].name_len"), 7);
        assert_eq!(read(&layout, "directory.entry[0].max_members"), 2);
        assert_eq!(read(&layout, "directory.entry[0].reply_capacity"), 4);
        assert_eq!(read(&layout, "directory.entry[1].state"), 0);
        let incarnation = read(&layout, "directory.entry[0].incarnation");
        let replies = crate::shm::region::reply_companion(&path, 0, incarnation).unwrap();
        let table = describe(&replies).unwrap();
        check_shape(&table);
        assert_eq!(
            table.extra,
            ExtraKind::ReplyTable {
                group: 0,
                incarnation,
                members: 2
            }
        );
        assert_eq!((table.partitions, table.capacity), (2, 4));
        assert_eq!(read(&table, "replies.incarnation"), incarnation);
        assert_eq!(read(&table, "replies.slot[0].generation"), 1, "held");
        assert_eq!(read(&table, "replies.slot[1].generation"), 0, "free");
        assert_eq!(
            read(&table, "replies.slot[0].owner") >> 32,
            u64::from(std::process::id())
        );
        assert!(table.word("replies.group.replies_sent").is_some());
        assert!(table.word("replies.slot[1].overflowed").is_some());
        assert!(table.word("replies.slot[2].generation").is_none());
        assert!(table.word("directory.lock").is_none());
    }

    #[test]
    fn a_file_that_is_not_a_region_is_a_typed_error() {
        let path = std::env::temp_dir().join(unique("not-a-region"));
        std::fs::write(&path, vec![7_u8; 8192]).unwrap();
        let result = describe(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(result, Err(RegionError::NotARegion));
        let short = std::env::temp_dir().join(unique("short"));
        std::fs::write(&short, b"RNGGRP").unwrap();
        let result = describe(&short);
        let _ = std::fs::remove_file(&short);
        assert!(
            matches!(result, Err(RegionError::Truncated { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn max_value_fits_the_word() {
        let part = Part::Header;
        assert_eq!(Word::new("a", 0, 1, part).max_value(), 0xff);
        assert_eq!(Word::new("a", 0, 4, part).max_value(), u64::from(u32::MAX));
        assert_eq!(Word::new("a", 0, 8, part).max_value(), u64::MAX);
    }
}
