//! The walk's modes, its ledger of results, the self-check and the summary.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ringgroup_testkit::random::next_random;

use crate::process::{Outcome, Proc};
use crate::scene::{parse_u64, values, Case, CaseResult, Kind, Scene};
use crate::{CASES_PER_SCENE, DEFAULT_SECONDS, DEFAULT_SEED, MAX_RERUNS, STALL, STUCK};

/// Settings from the environment.
struct Settings {
    seed: u64,
    seconds: u64,
    full: bool,
    case: Option<Case>,
    words: Option<String>,
    kinds: Vec<Kind>,
    /// Where every case's outcome is written, one line each.
    log: Option<String>,
}

fn settings() -> Settings {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Settings {
        seed: env("RINGGROUP_WALK_SEED")
            .map(|s| parse_u64(&s).expect("RINGGROUP_WALK_SEED: a number"))
            .unwrap_or(DEFAULT_SEED),
        seconds: env("RINGGROUP_WALK_SECONDS")
            .map(|s| s.parse().expect("RINGGROUP_WALK_SECONDS: a number"))
            .unwrap_or(DEFAULT_SECONDS),
        full: env("RINGGROUP_WALK").is_some_and(|mode| mode == "full"),
        case: env("RINGGROUP_WALK_CASE").map(|c| {
            Case::parse(&c).expect("RINGGROUP_WALK_CASE: <scene>:<region>/<word>=<value>")
        }),
        words: env("RINGGROUP_WALK_WORDS"),
        log: env("RINGGROUP_WALK_LOG"),
        kinds: env("RINGGROUP_WALK_SCENES").map_or(Kind::ALL.to_vec(), |list| {
            list.split(',')
                .map(|k| Kind::parse(k.trim()).expect("RINGGROUP_WALK_SCENES: scene names"))
                .collect()
        }),
    }
}

/// Everything the walk saw.
#[derive(Default)]
struct Ledger {
    results: Vec<CaseResult>,
    /// Scenes that could not start (a failure of the walk).
    broken: Vec<String>,
}

impl Ledger {
    /// Records `result`; the failures of a scene's stop go to its last case.
    fn add(&mut self, result: CaseResult) {
        self.results.push(result);
    }

    fn stopped(&mut self, outcomes: Vec<(String, Outcome)>) {
        let Some(last) = self.results.last_mut() else {
            return;
        };
        for (role, outcome) in outcomes {
            if outcome != Outcome::Normal {
                last.children.push((format!("{role} (at stop)"), outcome));
            }
        }
    }
}

/// A scene of `kind`, started (a start that fails is recorded and retried once).
fn start(kind: Kind, ledger: &mut Ledger) -> Option<Scene> {
    for _ in 0..2 {
        match Scene::start(kind) {
            Ok(scene) => return Some(scene),
            Err(why) => {
                eprintln!("[walk] scene {} did not start: {why}", kind.name());
                ledger.broken.push(format!("{}: {why}", kind.name()));
            }
        }
    }
    None
}

/// Runs `case` on `scene` (starting one if needed), stopping the scene if it ended.
fn step(scene: &mut Option<Scene>, case: Case, seed: u64, ledger: &mut Ledger) -> bool {
    if scene.as_ref().is_none_or(|s| s.kind != case.kind) {
        if let Some(old) = scene.take() {
            let outcomes = old.stop();
            ledger.stopped(outcomes);
        }
        *scene = start(case.kind, ledger);
    }
    let Some(running) = scene.as_mut() else {
        return false;
    };
    let (result, alive) = running.run(case, seed);
    ledger.add(result);
    if !alive {
        if let Some(old) = scene.take() {
            let outcomes = old.stop();
            ledger.stopped(outcomes);
        }
    }
    true
}

/// Runs `case` alone on a fresh scene, and stops it.
fn alone(case: Case, seed: u64) -> Option<CaseResult> {
    let mut ledger = Ledger::default();
    let mut scene = None;
    step(&mut scene, case, seed, &mut ledger);
    if let Some(scene) = scene.take() {
        let outcomes = scene.stop();
        ledger.stopped(outcomes);
    }
    ledger.results.pop()
}

fn wanted(settings: &Settings, word: &str) -> bool {
    settings
        .words
        .as_ref()
        .is_none_or(|w| word.contains(w.as_str()))
}

/// The randomized walk: random scenes' words and values until the time is up.
fn randomized(settings: &Settings, ledger: &mut Ledger) {
    let deadline = Instant::now() + Duration::from_secs(settings.seconds);
    let mut rng = settings.seed | 1;
    let mut scene: Option<Scene> = None;
    let mut turn = 0;
    let mut in_scene = 0;
    let mut skipped = 0;
    while Instant::now() < deadline {
        if scene.is_none() || in_scene >= CASES_PER_SCENE {
            if let Some(old) = scene.take() {
                let outcomes = old.stop();
                ledger.stopped(outcomes);
            }
            let kind = settings.kinds[turn % settings.kinds.len()];
            turn += 1;
            in_scene = 0;
            scene = start(kind, ledger);
            if scene.is_none() {
                continue;
            }
        }
        let running = scene.as_ref().expect("started above");
        let (region, word) = running.random_word(&mut rng);
        if !wanted(settings, &word.name) {
            skipped += 1;
            if skipped > 100_000 {
                break;
            }
            continue;
        }
        let values = values(&word, &mut rng);
        let (class, value) = values[(next_random(&mut rng) % values.len() as u64) as usize];
        let case = Case {
            kind: running.kind,
            region,
            word: word.name.clone(),
            offset: word.offset,
            value,
            class,
        };
        step(&mut scene, case, settings.seed, ledger);
        in_scene += 1;
    }
    if let Some(old) = scene.take() {
        let outcomes = old.stop();
        ledger.stopped(outcomes);
    }
}

/// The full walk: every word of every scene, every value.
fn full(settings: &Settings, ledger: &mut Ledger) {
    let mut rng = settings.seed | 1;
    let started = Instant::now();
    for &kind in &settings.kinds {
        let mut scene = start(kind, ledger);
        let Some(first) = scene.as_ref() else {
            continue;
        };
        let words: Vec<_> = first
            .words()
            .into_iter()
            .filter(|(_, w)| wanted(settings, &w.name))
            .collect();
        let cases: Vec<Case> = words
            .iter()
            .flat_map(|(region, word)| {
                values(word, &mut rng)
                    .into_iter()
                    .map(|(class, value)| Case {
                        kind,
                        region,
                        word: word.name.clone(),
                        offset: word.offset,
                        value,
                        class,
                    })
            })
            .collect();
        let total = cases.len();
        for (i, case) in cases.into_iter().enumerate() {
            step(&mut scene, case, settings.seed, ledger);
            if (i + 1) % 200 == 0 || i + 1 == total {
                let failures = ledger.results.iter().filter(|r| r.failed()).count();
                eprintln!(
                    "[walk] {}: {}/{total} cases; {failures} failing so far; {:.0} s",
                    kind.name(),
                    i + 1,
                    started.elapsed().as_secs_f64()
                );
            }
        }
        if let Some(old) = scene.take() {
            let outcomes = old.stop();
            ledger.stopped(outcomes);
        }
    }
}

/// Runs each failing case again alone: at most [`MAX_RERUNS`], within `budget`.
fn rerun_failures(ledger: &mut Ledger, budget: Duration) {
    let deadline = Instant::now() + budget;
    let mut reruns = 0;
    let mut seen: Vec<Case> = Vec::new();
    for i in 0..ledger.results.len() {
        if !ledger.results[i].failed() {
            continue;
        }
        if ledger.results[i].after == 0 {
            // The first case of a fresh scene: it failed alone already.
            ledger.results[i].alone = Some(true);
            continue;
        }
        let case = ledger.results[i].case.clone();
        if seen.contains(&case) || reruns >= MAX_RERUNS || Instant::now() > deadline {
            continue;
        }
        seen.push(case.clone());
        reruns += 1;
        let again = alone(case.clone(), ledger.results[i].seed).map(|r| r.failed());
        for result in &mut ledger.results[i..] {
            if result.case == case && result.after > 0 {
                result.alone = again;
            }
        }
    }
}

/// The self-check: the classifier fails a child killed by a signal, a panic, a hang and
/// a reported bad record, and passes a child that was stopped.
fn self_check() {
    let expect = |role: &str, want: &str| {
        let mut proc = Proc::spawn(role, "none");
        proc.tell("ping 1");
        // Past the watchdog's report, which names the call a hung child is in.
        let heard = proc.await_line("pong 1", Instant::now() + STUCK + Duration::from_secs(1));
        let outcome = if heard { proc.stop() } else { proc.join() };
        let text = outcome.to_string();
        assert!(
            text.contains(want),
            "self-check: {role} was classified {text:?}, not {want:?}"
        );
    };
    expect("plant-abort", "FAILURE: killed by SIGABRT");
    expect("plant-panic", "FAILURE: panic");
    expect(
        "plant-invalid",
        "FAILURE: reported a record that was not published",
    );
    expect("plant-hang", "FAILURE: hang in setup");
    eprintln!("[walk] self-check: a signal, a panic, a bad record and a hang all fail");
}

/// `ring[1].stamp[5]` -> `ring[*].stamp[*]`.
fn generalized(word: &str) -> String {
    let mut out = String::new();
    let mut in_index = false;
    for c in word.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push_str("[*");
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            c => out.push(c),
        }
    }
    out
}

/// A failure's symptom, for grouping: the role and what went wrong.
fn symptom(role: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Failure { symptom, .. } => format!("{role}: {symptom}"),
        other => format!("{role}: {other}"),
    }
}

/// A typed error's kind, for counting: where, the error's variant, a corruption's word.
fn typed_kind(error: &str) -> String {
    if let Some(why) = error.strip_prefix("stalled (") {
        let context = why.split(':').next().unwrap_or("");
        return format!(
            "stalled in {context} (no progress for {} s)",
            STALL.as_secs()
        );
    }
    let context = error.split(':').next().unwrap_or("");
    let debug = error.rsplit(" | ").next().unwrap_or(error);
    let variant = debug.split(['(', ' ', '{']).next().unwrap_or(debug);
    match debug.find("word: \"") {
        Some(at) => {
            let word = debug[at + 7..].split('"').next().unwrap_or("");
            format!("{context}: {variant}(Corrupt {word})")
        }
        None => format!("{context}: {variant}"),
    }
}

fn summary(ledger: &Ledger, settings: &Settings, elapsed: Duration) -> bool {
    let results = &ledger.results;
    let failed = results.iter().filter(|r| r.failed()).count();
    let typed = results.iter().filter(|r| !r.failed() && r.typed()).count();
    let normal = results.len() - failed - typed;
    eprintln!();
    eprintln!(
        "[walk] seed {:#x}: {} cases in {:.0} s: {normal} normal, {typed} typed errors, {failed} failing",
        settings.seed,
        results.len(),
        elapsed.as_secs_f64()
    );
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for result in results {
        for (_, outcome) in &result.children {
            if let Outcome::Typed(error) = outcome {
                *kinds.entry(typed_kind(error)).or_default() += 1;
            }
        }
    }
    for (kind, count) in &kinds {
        eprintln!("[walk]   typed {count:>5} x {kind}");
    }
    // A scene that fails before any corruption: a false alarm on a clean region, or a bug of
    // the walk. The first few, and how many.
    for broken in ledger.broken.iter().take(3) {
        eprintln!("[walk] FAILURE: a scene did not start: {broken}");
    }
    if ledger.broken.len() > 3 {
        eprintln!(
            "[walk] FAILURE: ... {} scenes in all did not start",
            ledger.broken.len()
        );
    }
    // Failures grouped by word (indices generalized) and symptom.
    let mut groups: BTreeMap<(String, String), Vec<&CaseResult>> = BTreeMap::new();
    for result in results.iter().filter(|r| r.failed()) {
        for (role, outcome) in &result.children {
            if outcome.is_failure() {
                let word = format!(
                    "{}:{}/{}",
                    result.case.kind.name(),
                    result.case.region,
                    generalized(&result.case.word)
                );
                let group = groups.entry((word, symptom(role, outcome))).or_default();
                if !group.last().is_some_and(|last| std::ptr::eq(*last, result)) {
                    group.push(result);
                }
            }
        }
    }
    for ((word, symptom), cases) in &groups {
        let mut classes: Vec<&str> = cases.iter().map(|r| r.case.class).collect();
        classes.sort_unstable();
        classes.dedup();
        eprintln!(
            "[walk] FAILING {word} = {{{}}}: {symptom} ({} cases)",
            classes.join(", "),
            cases.len()
        );
        for result in cases.iter().take(3) {
            eprintln!(
                "[walk]     RINGGROUP_WALK_CASE='{}' (offset {}, seed {:#x}, after {} cases on its scene, alone: {})",
                result.case,
                result.case.offset,
                result.seed,
                result.after,
                match result.alone {
                    Some(true) => "fails",
                    Some(false) => "passes",
                    None => "not run",
                }
            );
            if result.alone == Some(false) {
                eprintln!("[walk]       after {}", result.before.join(", "));
            }
            for (role, outcome) in &result.children {
                if *outcome != Outcome::Normal {
                    eprintln!("[walk]       {role}: {outcome}");
                }
            }
        }
        if cases.len() > 3 {
            let rest: Vec<String> = cases[3..].iter().map(|r| r.case.to_string()).collect();
            eprintln!("[walk]     and {}", rest.join(", "));
        }
    }
    failed == 0 && ledger.broken.is_empty()
}

/// Writes each case's outcome: the case, its value's class, offset, cases before it on its
/// scene, whether a failure fails alone, then each child's outcome, tab-separated.
fn write_log(path: &str, ledger: &Ledger) -> std::io::Result<()> {
    use std::io::Write;
    let mut log = std::io::BufWriter::new(std::fs::File::create(path)?);
    for result in &ledger.results {
        let alone = match result.alone {
            Some(true) => "fails-alone",
            Some(false) => "passes-alone",
            None => "-",
        };
        write!(
            log,
            "{}\t{}\t{}\t{}\t{alone}",
            result.case, result.case.class, result.case.offset, result.after
        )?;
        for (role, outcome) in &result.children {
            write!(log, "\t{role}: {outcome}")?;
        }
        writeln!(log)?;
    }
    log.flush()
}

pub(crate) fn run() {
    let settings = settings();
    let started = Instant::now();
    self_check();
    let mut ledger = Ledger::default();
    if let Some(case) = settings.case.clone() {
        if let Some(result) = alone(case, settings.seed) {
            for (role, outcome) in &result.children {
                eprintln!("[walk] {}: {role}: {outcome}", result.case);
            }
            ledger.add(result);
        }
        rerun_failures(&mut ledger, Duration::ZERO);
    } else if settings.full {
        full(&settings, &mut ledger);
        rerun_failures(&mut ledger, Duration::from_secs(600));
    } else {
        randomized(&settings, &mut ledger);
        rerun_failures(&mut ledger, Duration::from_secs(settings.seconds / 2));
    }
    if let Some(path) = &settings.log {
        if let Err(error) = write_log(path, &ledger) {
            eprintln!("[walk] cannot write the log {path}: {error}");
        }
    }
    if !summary(&ledger, &settings, started.elapsed()) {
        eprintln!("[walk] FAILED");
        std::process::exit(1);
    }
    eprintln!("[walk] passed");
}
