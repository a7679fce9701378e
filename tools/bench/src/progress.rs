//! Progress on stderr, at most a line a second (plus one per finished step), off under `--quiet`.

use std::time::{Duration, Instant};

/// Rate-limited progress lines.
pub struct Progress {
    quiet: bool,
    started: Instant,
    last: Option<Instant>,
}

impl Progress {
    /// A reporter; `quiet` silences it.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            started: Instant::now(),
            last: None,
        }
    }

    /// Prints `message` (a finished step) unconditionally, unless quiet.
    pub fn step(&mut self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!(
                "[{:>6.1}s] {}",
                self.started.elapsed().as_secs_f64(),
                message.as_ref()
            );
            self.last = Some(Instant::now());
        }
    }

    /// Prints `message()` if a second has passed since the last line (for long loops).
    pub fn tick(&mut self, message: impl FnOnce() -> String) {
        if self.quiet {
            return;
        }
        if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.step(message());
        }
    }
}
