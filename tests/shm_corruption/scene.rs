//! A scene (a fresh region and its child processes), the parent's mapping of its files, and
//! a case (one word, one value) run on it.

use std::fmt::{self, Display};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

use memmap2::MmapMut;
use ringgroup::shm::layout::{self, Layout, Word};
use ringgroup_testkit::random::next_random;

use crate::process::{Outcome, Proc};
use crate::{CAPACITY, DEADLINE, DWELL, START_DEADLINE};

/// The three kinds of scene.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Single,
    Multi,
    Request,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Single, Kind::Multi, Kind::Request];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Single => "single",
            Kind::Multi => "multi",
            Kind::Request => "request",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The creator's role, then the others'.
    fn roles(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Kind::Single => ("sp-producer", &["member", "member", "reader"]),
            Kind::Multi => ("mp-producer-0", &["mp-producer-1", "mp-member"]),
            Kind::Request => ("requester", &["worker"]),
        }
    }

    /// True for a role that may have nothing to do in a healthy scene: a member of a
    /// two-member group may own no partition.
    fn may_idle(role: &str) -> bool {
        role == "member"
    }

    fn opener(self) -> &'static str {
        match self {
            Kind::Single => "opener",
            Kind::Multi => "mp-opener",
            Kind::Request => "rq-opener",
        }
    }
}

/// A region file the parent maps to write its words.
struct Mapped {
    label: &'static str,
    layout: Layout,
    /// The mapping's start (taken with `&mut` once, so writes through it are allowed).
    base: *mut u8,
    map: MmapMut,
}

impl Mapped {
    fn open(label: &'static str, path: PathBuf) -> Result<Mapped, String> {
        let layout = layout::describe(&path).map_err(|e| format!("describe {label}: {e}"))?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("open {label}: {e}"))?;
        // SAFETY: the region's file is never truncated while a process maps it (its users
        // only open it); the mapping is the file's current length.
        let mut map =
            unsafe { MmapMut::map_mut(&file) }.map_err(|e| format!("map {label}: {e}"))?;
        if (map.len() as u64) < layout.size {
            return Err(format!("{label} is shorter than its layout"));
        }
        let base = map.as_mut_ptr();
        Ok(Mapped {
            label,
            layout,
            base,
            map,
        })
    }

    /// Swaps `value` into `word`; the value it held.
    fn swap(&self, word: &Word, value: u64) -> u64 {
        self.with(word, |cell| cell.swap(value))
    }

    /// Puts `old` back if `word` still holds `planted`.
    fn restore(&self, word: &Word, planted: u64, old: u64) {
        self.with(word, |cell| cell.put_back(planted, old));
    }

    fn read(&self, word: &Word) -> u64 {
        self.with(word, |cell| cell.load())
    }

    fn with<R>(&self, word: &Word, f: impl FnOnce(Cell<'_>) -> R) -> R {
        let offset = word.offset as usize;
        assert!(offset + word.size <= self.map.len() && offset % word.size == 0);
        // SAFETY: the word lies inside the mapping (checked) at an offset aligned to its
        // size, the mapping outlives the reference, and every process accesses region
        // words atomically.
        let cell = unsafe {
            let at = self.base.add(offset);
            match word.size {
                1 => Cell::U8(AtomicU8::from_ptr(at)),
                4 => Cell::U32(AtomicU32::from_ptr(at.cast())),
                _ => Cell::U64(AtomicU64::from_ptr(at.cast())),
            }
        };
        f(cell)
    }
}

/// A word of the mapping, by size.
enum Cell<'a> {
    U8(&'a AtomicU8),
    U32(&'a AtomicU32),
    U64(&'a AtomicU64),
}

impl Cell<'_> {
    fn swap(&self, value: u64) -> u64 {
        match self {
            Cell::U8(cell) => u64::from(cell.swap(value as u8, Ordering::SeqCst)),
            Cell::U32(cell) => u64::from(cell.swap(value as u32, Ordering::SeqCst)),
            Cell::U64(cell) => cell.swap(value, Ordering::SeqCst),
        }
    }

    fn put_back(&self, planted: u64, old: u64) {
        let order = Ordering::SeqCst;
        // A failed exchange: the word moved on (a live word), and is left as it is.
        let _ = match self {
            Cell::U8(c) => c
                .compare_exchange(planted as u8, old as u8, order, order)
                .is_ok(),
            Cell::U32(c) => c
                .compare_exchange(planted as u32, old as u32, order, order)
                .is_ok(),
            Cell::U64(c) => c.compare_exchange(planted, old, order, order).is_ok(),
        };
    }

    fn load(&self) -> u64 {
        match self {
            Cell::U8(cell) => u64::from(cell.load(Ordering::SeqCst)),
            Cell::U32(cell) => u64::from(cell.load(Ordering::SeqCst)),
            Cell::U64(cell) => cell.load(Ordering::SeqCst),
        }
    }
}

/// Removes a scene's region files however the walk ends.
struct Removed(String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = ringgroup::shm::remove(&self.0);
    }
}

/// A running scene.
pub(crate) struct Scene {
    pub(crate) kind: Kind,
    region: String,
    procs: Vec<Proc>,
    mapped: Vec<Mapped>,
    /// Words nonzero once the scene ran (the words in use).
    hot: Vec<(usize, usize)>,
    /// The cases run on it so far.
    pub(crate) history: Vec<Case>,
    next_ping: u64,
    _removed: Removed,
}

/// One corruption: a word of a scene's region and the value written there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Case {
    pub(crate) kind: Kind,
    pub(crate) region: &'static str,
    pub(crate) word: String,
    pub(crate) offset: u64,
    pub(crate) value: u64,
    pub(crate) class: &'static str,
}

impl Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}/{}={:#x}",
            self.kind.name(),
            self.region,
            self.word,
            self.value
        )
    }
}

impl Case {
    /// Parses `<scene>:<region>/<word>=<value>` (offset found on the scene).
    pub(crate) fn parse(text: &str) -> Option<Case> {
        let (kind, rest) = text.split_once(':')?;
        let (word, value) = rest.rsplit_once('=')?;
        let (region, word) = word.split_once('/')?;
        let value = parse_u64(value)?;
        Some(Case {
            kind: Kind::parse(kind)?,
            region: match region {
                "topic" => "topic",
                "replies" => "replies",
                _ => return None,
            },
            word: word.to_string(),
            offset: 0,
            value,
            class: "given",
        })
    }
}

pub(crate) fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A case's result: each child's outcome (the opener's too).
#[derive(Clone, Debug)]
pub(crate) struct CaseResult {
    pub(crate) case: Case,
    pub(crate) children: Vec<(String, Outcome)>,
    /// Cases run on the same scene before this one.
    pub(crate) after: usize,
    /// The last few of them, latest first.
    pub(crate) before: Vec<String>,
    /// For a failure: whether it failed again alone on a fresh scene.
    pub(crate) alone: Option<bool>,
    /// The seed of the walk.
    pub(crate) seed: u64,
}

impl CaseResult {
    pub(crate) fn failed(&self) -> bool {
        self.children.iter().any(|(_, o)| o.is_failure())
    }

    pub(crate) fn typed(&self) -> bool {
        self.children
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Typed(_)))
    }
}

static SCENES: AtomicUsize = AtomicUsize::new(0);

impl Scene {
    /// Starts a scene: the creator, then the others, each ready; then runs it until every
    /// consumer has received records.
    pub(crate) fn start(kind: Kind) -> Result<Scene, String> {
        let n = SCENES.fetch_add(1, Ordering::Relaxed);
        let region = format!("walk-{}-{}-{n}", std::process::id(), kind.name());
        let removed = Removed(region.clone());
        let deadline = Instant::now() + START_DEADLINE;
        let (creator, others) = kind.roles();
        let mut procs = vec![Proc::spawn(creator, &region)];
        if !procs[0].await_line("ready", deadline) {
            return Err(format!("{creator} did not start: {}", procs[0].stop()));
        }
        let mut others: Vec<Proc> = others.iter().map(|r| Proc::spawn(r, &region)).collect();
        for proc in &mut others {
            if !proc.await_line("ready", deadline) {
                let outcome = proc.stop();
                return Err(format!("{} did not start: {outcome}", proc.role));
            }
        }
        procs.extend(others);
        let path = ringgroup::shm::default_path(&region);
        let mut mapped = vec![Mapped::open("topic", path.clone())?];
        if kind == Kind::Request {
            mapped.push(Mapped::open("replies", reply_region(&path)?)?);
        }
        let mut scene = Scene {
            kind,
            region,
            procs,
            mapped,
            hot: Vec::new(),
            history: Vec::new(),
            next_ping: 0,
            _removed: removed,
        };
        // Warm up: every child that consumes has received something.
        loop {
            if let Some(failed) = scene.ping() {
                let outcomes: Vec<String> = scene
                    .procs
                    .iter_mut()
                    .map(|proc| {
                        let outcome = proc.stop();
                        format!("{}: {outcome}", proc.role)
                    })
                    .collect();
                return Err(format!(
                    "{failed} failed before any corruption: {}",
                    outcomes.join("; ")
                ));
            }
            if scene
                .procs
                .iter()
                .all(|p| p.progress > 0 || Kind::may_idle(&p.role))
            {
                break;
            }
            if Instant::now() > deadline {
                return Err("no record flowed".into());
            }
        }
        scene.hot = scene.words_in_use();
        Ok(scene)
    }

    fn words_in_use(&self) -> Vec<(usize, usize)> {
        let mut hot = Vec::new();
        for (r, mapped) in self.mapped.iter().enumerate() {
            for (w, word) in mapped.layout.words.iter().enumerate() {
                if mapped.read(word) != 0 {
                    hot.push((r, w));
                }
            }
        }
        hot
    }

    /// Every word, by region and index.
    pub(crate) fn words(&self) -> Vec<(&'static str, Word)> {
        self.mapped
            .iter()
            .flat_map(|m| m.layout.words.iter().map(|w| (m.label, w.clone())))
            .collect()
    }

    /// A random word: three times in four one that was in use.
    pub(crate) fn random_word(&self, rng: &mut u64) -> (&'static str, Word) {
        let (r, w) = if next_random(rng) % 4 != 0 && !self.hot.is_empty() {
            self.hot[(next_random(rng) % self.hot.len() as u64) as usize]
        } else {
            let all: usize = self.mapped.iter().map(|m| m.layout.words.len()).sum();
            let mut pick = (next_random(rng) % all as u64) as usize;
            let mut r = 0;
            while pick >= self.mapped[r].layout.words.len() {
                pick -= self.mapped[r].layout.words.len();
                r += 1;
            }
            (r, pick)
        };
        (self.mapped[r].label, self.mapped[r].layout.words[w].clone())
    }

    /// Pings every child and waits for each answer; the first child that did not answer.
    fn ping(&mut self) -> Option<String> {
        self.next_ping += 1;
        let id = self.next_ping;
        for proc in &mut self.procs {
            proc.tell(&format!("ping {id}"));
        }
        let deadline = Instant::now() + DEADLINE;
        let mut silent = None;
        for proc in &mut self.procs {
            if !proc.await_line(&format!("pong {id}"), deadline) && silent.is_none() {
                silent = Some(proc.role.clone());
            }
        }
        silent
    }

    /// Stops the children, the producers (created first) last, so that no consumer reads the
    /// topic closing while it stops.
    fn stop_all(&mut self) {
        for proc in self.procs.iter_mut().rev() {
            proc.stop();
        }
    }

    /// Runs `case` on the scene: the result, and whether the scene still runs.
    pub(crate) fn run(&mut self, mut case: Case, seed: u64) -> (CaseResult, bool) {
        let Some(region) = self.mapped.iter().position(|m| m.label == case.region) else {
            panic!("no region {} in scene {}", case.region, self.kind.name());
        };
        let Some(word) = self.mapped[region].layout.word(&case.word).cloned() else {
            panic!("no word {} in {}", case.word, case.region);
        };
        case.offset = word.offset;
        case.value &= word.max_value();
        let before = self
            .history
            .iter()
            .rev()
            .take(3)
            .map(Case::to_string)
            .collect();
        let after = self.history.len();
        self.history.push(case.clone());
        let old = self.mapped[region].swap(&word, case.value);
        let mut opener = Proc::spawn(self.kind.opener(), &self.region);
        std::thread::sleep(DWELL);
        let silent = self.ping();
        let opened = opener.join();
        self.mapped[region].restore(&word, case.value, old);
        let alive = silent.is_none();
        if !alive {
            self.stop_all();
        }
        let mut children: Vec<(String, Outcome)> = Vec::new();
        for proc in &mut self.procs {
            let outcome = if alive {
                Outcome::Normal
            } else {
                proc.recorded = true;
                proc.stop()
            };
            children.push((proc.role.clone(), outcome));
        }
        children.push((opener.role.clone(), opened));
        let result = CaseResult {
            case,
            children,
            after,
            before,
            alone: None,
            seed,
        };
        (result, alive)
    }

    /// Stops every child; the outcomes not yet in a case's result (a crash on the way
    /// out is a failure too).
    pub(crate) fn stop(mut self) -> Vec<(String, Outcome)> {
        self.stop_all();
        self.procs
            .iter_mut()
            .map(|proc| (proc.role.clone(), proc.stop(), proc.recorded))
            .filter(|(_, _, recorded)| !recorded)
            .map(|(role, outcome, _)| (role, outcome))
            .collect()
    }
}

/// The reply region beside request region `path` (the only one: one producer group).
fn reply_region(path: &std::path::Path) -> Result<PathBuf, String> {
    let dir = path.parent().ok_or("no directory")?;
    let prefix = format!("{}.replies-", path.file_name().unwrap().to_string_lossy());
    std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|entry| entry.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        })
        .ok_or_else(|| "no reply region".to_string())
}

/// The values a word is tried with, deduplicated after masking to its size.
pub(crate) fn values(word: &Word, rng: &mut u64) -> Vec<(&'static str, u64)> {
    let capacity = CAPACITY as u64;
    let max = word.max_value();
    let mut values: Vec<(&'static str, u64)> = Vec::new();
    for (class, value) in [
        ("0", 0),
        ("1", 1),
        ("capacity-1", capacity - 1),
        ("capacity", capacity),
        ("capacity+1", capacity + 1),
        ("max", max),
        ("random", next_random(rng) & max),
    ] {
        if !values.iter().any(|(_, v)| *v == value) {
            values.push((class, value));
        }
    }
    values
}
