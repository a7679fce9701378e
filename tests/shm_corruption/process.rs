//! A child process seen from the parent: its orders, its output, and how it ended.

use std::collections::VecDeque;
use std::fmt::{self, Display};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{DEADLINE, INVALID, OK, ROLE, SETUP, TYPED};

/// How a child ended, or that it is still fine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Normal,
    /// The error's text (its context, Display and Debug).
    Typed(String),
    /// What went wrong (`killed by SIGSEGV`, `hang in poll`...), and the details.
    Failure {
        symptom: String,
        detail: String,
    },
}

impl Outcome {
    pub(crate) fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failure { .. })
    }
}

impl Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Normal => write!(f, "normal"),
            Outcome::Typed(error) => write!(f, "typed error: {error}"),
            Outcome::Failure { symptom, detail } => write!(f, "FAILURE: {symptom}: {detail}"),
        }
    }
}

/// A child process, killed if still running when dropped.
pub(crate) struct Proc {
    pub(crate) role: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// The last lines it wrote to stderr, and the thread that reads them (done once the
    /// child has exited).
    stderr: Arc<Mutex<VecDeque<String>>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    /// The last report line (`typed ...`, `invalid ...` or `setup ...`).
    report: Option<String>,
    /// The watchdog's line (`stuck <call>`), if the child's loop stopped turning.
    stuck: Option<String>,
    /// Records moved, as its last answer said.
    pub(crate) progress: u64,
    outcome: Option<Outcome>,
    /// True once its outcome is in a case's result.
    pub(crate) recorded: bool,
}

/// What waiting for a line found.
enum Heard {
    Line(String),
    Exited,
    Silent,
}

impl Proc {
    pub(crate) fn spawn(role: &str, region: &str) -> Proc {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, format!("{role} {region}"))
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the test binary runs again as a child");
        let (send, lines) = std::sync::mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let tail = stderr.clone();
        let err = BufReader::new(child.stderr.take().unwrap());
        let stderr_reader = std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                let mut tail = tail.lock().unwrap();
                if tail.len() == 8 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        Proc {
            role: role.to_string(),
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            stderr_reader: Some(stderr_reader),
            report: None,
            stuck: None,
            progress: 0,
            outcome: None,
            recorded: false,
        }
    }

    pub(crate) fn tell(&mut self, line: &str) {
        if let Some(stdin) = &mut self.stdin {
            if writeln!(stdin, "{line}").is_err() {
                self.stdin = None;
            }
        }
    }

    /// The next line that is not a report (reports are kept), within `deadline`.
    fn hear(&mut self, deadline: Instant) -> Heard {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with("stuck ") => self.stuck = Some(line),
                Ok(line)
                    if ["typed ", "invalid ", "setup "]
                        .iter()
                        .any(|p| line.starts_with(p)) =>
                {
                    self.report = Some(line)
                }
                Ok(line) => return Heard::Line(line),
                Err(RecvTimeoutError::Timeout) => return Heard::Silent,
                Err(RecvTimeoutError::Disconnected) => return Heard::Exited,
            }
        }
    }

    /// Waits for line `what` (alone, or followed by the child's progress count); false if
    /// the child exited or fell silent first (then its outcome is set).
    pub(crate) fn await_line(&mut self, what: &str, deadline: Instant) -> bool {
        loop {
            match self.hear(deadline) {
                Heard::Line(line) if line == what => return true,
                Heard::Line(line) if line.starts_with(&format!("{what} ")) => {
                    self.progress = line
                        .rsplit(' ')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(self.progress);
                    return true;
                }
                Heard::Line(_) => {}
                Heard::Exited => {
                    self.finish(deadline);
                    return false;
                }
                Heard::Silent => {
                    self.kill_hung();
                    return false;
                }
            }
        }
    }

    fn kill_hung(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let symptom = self
            .stuck
            .as_deref()
            .and_then(|line| line.strip_prefix("stuck "))
            .map_or("hang".to_string(), |phase| format!("hang in {phase}"));
        self.outcome = Some(Outcome::Failure {
            symptom,
            detail: format!("no answer within {} s; killed", DEADLINE.as_secs()),
        });
    }

    /// The outcome of a child whose output ended: its exit status and last report.
    fn finish(&mut self, deadline: Instant) {
        if self.outcome.is_some() {
            return;
        }
        // Its stdout is closed: it has exited or is about to. (std has no wait with a timeout;
        // this only collects the status, within the deadline.)
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                _ => break None,
            }
        };
        let Some(status) = status else {
            self.kill_hung();
            return;
        };
        // Its stderr is closed too: every line of it is in the tail once the reader ends.
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        // The reports it printed last.
        while let Ok(line) = self.lines.try_recv() {
            if ["typed ", "invalid ", "setup "]
                .iter()
                .any(|p| line.starts_with(p))
            {
                self.report = Some(line);
            }
        }
        let report = self.report.clone().unwrap_or_default();
        let detail = || {
            report
                .split_once(' ')
                .map_or("", |(_, rest)| rest)
                .to_string()
        };
        let failure = |symptom: String, detail: String| Outcome::Failure { symptom, detail };
        self.outcome = Some(match (status.code(), status.signal()) {
            (_, Some(signal)) => failure(
                format!("killed by {}", signal_name(signal)),
                self.stderr_tail(),
            ),
            (Some(OK), _) => Outcome::Normal,
            (Some(TYPED), _) => Outcome::Typed(detail()),
            (Some(INVALID), _) => {
                failure("reported a record that was not published".into(), detail())
            }
            (Some(SETUP), _) => failure("setup failed".into(), detail()),
            (Some(101), _) => failure("panic".into(), self.stderr_tail()),
            (code, _) => failure(format!("exit code {code:?}"), self.stderr_tail()),
        });
    }

    /// What the child last wrote to stderr: from its panic message on, if it panicked.
    fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock().unwrap();
        let from = tail
            .iter()
            .position(|line| line.contains("panicked at"))
            .unwrap_or(tail.len().saturating_sub(2));
        tail.iter()
            .skip(from)
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(" / ")
    }

    /// Stops the child and returns its outcome (exit within the deadline, or killed).
    pub(crate) fn stop(&mut self) -> Outcome {
        if self.outcome.is_none() {
            self.tell("stop");
            self.stdin = None;
            let deadline = Instant::now() + DEADLINE;
            loop {
                match self.hear(deadline) {
                    Heard::Line(_) => {}
                    Heard::Exited => {
                        self.finish(deadline);
                        break;
                    }
                    Heard::Silent => {
                        self.kill_hung();
                        break;
                    }
                }
            }
        }
        self.outcome.clone().unwrap_or(Outcome::Normal)
    }

    /// The outcome of a child that has exited by itself (an opener), within the deadline.
    pub(crate) fn join(&mut self) -> Outcome {
        let deadline = Instant::now() + DEADLINE;
        while self.outcome.is_none() {
            match self.hear(deadline) {
                Heard::Line(_) => {}
                Heard::Exited => self.finish(deadline),
                Heard::Silent => self.kill_hung(),
            }
        }
        self.outcome.clone().unwrap_or(Outcome::Normal)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "signal",
    }
}
