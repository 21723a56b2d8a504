//! Test results while an env runs, for the TUI: a small `runall-reports` thread that looks at
//! each running attempt's report files about once a second and, when one changed (size or
//! mtime), reads them and hands the counts to the render loop as a
//! [`Msg::TestsProgress`]. A test tool that writes its report as it goes (or per test
//! module, as Maven does) thus shows its counts in the env list and the pane title before the
//! env ends; the final counts still come with the env's result from the log writer.
//!
//! It is off the render path: the render loop never touches a file, the thread only stats
//! files while nothing changed (one glob per running env per second), and it never blocks
//! on the render loop's queue (`try_send`: a full queue means "next second").

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use super::queue::UiMsg;
use crate::log::REPORTS_DIR;
use crate::plan::{EnvId, Plan};
use crate::testreport::{self, ReportRequest, TestResults};
use crate::tui::app::Msg;

/// How often the running attempts' reports are looked at.
const POLL: Duration = Duration::from_secs(1);

/// What the watcher is told, from the runner's event stream.
pub(super) enum Watch {
    /// The env's attempt whose log is `log` started.
    Start {
        /// The env.
        env: EnvId,
        /// Its log for this attempt: the report folder is named after it.
        log: PathBuf,
    },
    /// The env's attempt ended: its final results come with its result.
    Stop {
        /// The env.
        env: EnvId,
    },
}

/// One running attempt's reports.
struct Watched {
    request: ReportRequest,
    /// The report files' paths, sizes and mtimes when last read.
    seen: Vec<(PathBuf, u64, Option<SystemTime>)>,
}

/// The watcher's state: the running attempts and where their reports are.
pub(super) struct Watcher {
    patterns: Vec<(Vec<String>, PathBuf)>,
    watched: HashMap<EnvId, Watched>,
}

impl Watcher {
    /// A watcher for `plan`'s envs (their `test_reports` and working directories).
    pub(super) fn new(plan: &Plan) -> Self {
        Self {
            patterns: plan
                .envs
                .iter()
                .map(|spec| (spec.reports.patterns.clone(), spec.cwd.clone()))
                .collect(),
            watched: HashMap::new(),
        }
    }

    /// Takes in what the runner said.
    pub(super) fn handle(&mut self, watch: Watch) {
        match watch {
            Watch::Start { env, log } => {
                let Some((patterns, cwd)) = self.patterns.get(env) else {
                    return;
                };
                if patterns.is_empty() {
                    return;
                }
                let dir = report_dir_of(&log);
                let since = std::fs::metadata(&dir).and_then(|m| m.modified()).ok();
                let request = ReportRequest {
                    patterns: testreport::expand_patterns(patterns, cwd, &dir),
                    since,
                    setup_warning: None,
                    fresh_dir: Some(dir),
                };
                self.watched.insert(
                    env,
                    Watched {
                        request,
                        seen: Vec::new(),
                    },
                );
            }
            Watch::Stop { env } => {
                self.watched.remove(&env);
            }
        }
    }

    /// The running attempts whose reports changed since the last look, read again; an
    /// attempt whose report `accept` refuses (a full queue) is read again next time.
    pub(super) fn scan(&mut self, mut accept: impl FnMut(EnvId, Arc<TestResults>) -> bool) {
        for (&env, watched) in &mut self.watched {
            let seen = fingerprint(&watched.request);
            if seen.is_empty() || seen == watched.seen {
                continue;
            }
            let results = testreport::read(&watched.request);
            if results.files.is_empty() || accept(env, Arc::new(results)) {
                watched.seen = seen;
            }
        }
    }
}

/// The attempt's report folder, from its log's path (`<log-dir>/<env>@<n>.log` →
/// `<log-dir>/reports/<env>@<n>`), absolute as the runner made it.
fn report_dir_of(log: &Path) -> PathBuf {
    let stem = log.file_stem().unwrap_or_default();
    let dir = log
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join(REPORTS_DIR)
        .join(stem);
    std::path::absolute(&dir).unwrap_or(dir)
}

/// The files the request's globs match now, with their sizes and mtimes.
fn fingerprint(request: &ReportRequest) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out: Vec<_> = request
        .patterns
        .iter()
        .filter_map(|pattern| glob::glob(pattern).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|path| {
            let meta = std::fs::metadata(&path)
                .ok()
                .filter(std::fs::Metadata::is_file)?;
            Some((path, meta.len(), meta.modified().ok()))
        })
        .collect();
    out.sort();
    out
}

/// Starts the `runall-reports` thread; it ends when the returned sender is dropped.
pub(super) fn spawn(plan: &Plan, ui: SyncSender<UiMsg>) -> std::io::Result<Sender<Watch>> {
    let (tx, rx) = mpsc::channel();
    let watcher = Watcher::new(plan);
    std::thread::Builder::new()
        .name("runall-reports".into())
        .spawn(move || run(watcher, &rx, &ui))?;
    Ok(tx)
}

fn run(mut watcher: Watcher, rx: &Receiver<Watch>, ui: &SyncSender<UiMsg>) {
    let mut next = Instant::now() + POLL;
    loop {
        match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(watch) => watcher.handle(watch),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if Instant::now() >= next {
            next = Instant::now() + POLL;
            watcher.scan(|env, tests| {
                match ui.try_send(UiMsg::App(Msg::TestsProgress { env, tests })) {
                    Ok(()) => true,
                    // The screen is busy: the same counts are read again next time. Once the
                    // render loop is gone nobody needs them.
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::EnvSpec;

    #[test]
    fn a_running_attempts_report_is_read_when_it_changes_and_only_then() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log_dir = dir.path().join("logs");
        let reports = log_dir.join("reports/unit@2");
        std::fs::create_dir_all(&reports).expect("mkdir");
        let plan = Plan::new(
            vec![EnvSpec::shell("unit", "true", dir.path())],
            1,
            &log_dir,
        );
        let mut watcher = Watcher::new(&plan);
        watcher.handle(Watch::Start {
            env: 0,
            log: log_dir.join("unit@2.log"),
        });
        let mut got = Vec::new();
        let scan = |watcher: &mut Watcher, got: &mut Vec<(EnvId, u64, u64)>, accept: bool| {
            watcher.scan(|env, tests| {
                got.push((env, tests.counts.total(), tests.counts.failed));
                accept
            });
        };
        scan(&mut watcher, &mut got, true);
        assert!(got.is_empty(), "no report yet");
        let report = reports.join("sub/j.xml");
        std::fs::create_dir_all(reports.join("sub")).expect("mkdir");
        std::fs::write(&report, "<testsuite><testcase name=\"a\"/></testsuite>").expect("write");
        scan(&mut watcher, &mut got, false);
        scan(&mut watcher, &mut got, true);
        scan(&mut watcher, &mut got, true);
        assert_eq!(got, [(0, 1, 0), (0, 1, 0)], "refused once, then read once");
        std::fs::write(
            &report,
            "<testsuite><testcase name=\"a\"/><testcase name=\"b\"><failure/></testcase></testsuite>",
        )
        .expect("write");
        scan(&mut watcher, &mut got, true);
        assert_eq!(got.last(), Some(&(0, 2, 1)));
        watcher.handle(Watch::Stop { env: 0 });
        std::fs::write(&report, "<testsuite/>").expect("write");
        let before = got.len();
        scan(&mut watcher, &mut got, true);
        assert_eq!(got.len(), before, "not watched any more");
    }
}
