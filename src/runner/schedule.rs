//! Scheduling: which pending env starts next (dependencies passed, a job slot free, in the
//! plan's [`crate::plan::Plan::start_order`]), skipping envs whose dependencies did not pass,
//! starting an env (its log opened), and an env's end: its result, a retry, or the first
//! failure of `--fail-fast`.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{EnvPhase, EnvRun, Runner, log, log_file_name};
use crate::event::{EnvResult, EnvStatus, Resources, RunEvent, ShutdownCause, Verdict};
use crate::log::{REPORTS_DIR, report_dir_name};
use crate::plan::EnvId;
use crate::testreport::{self, ReportRequest};

impl Runner {
    pub(super) fn all_finished(&self) -> bool {
        self.envs
            .iter()
            .all(|e| matches!(e.phase, EnvPhase::Finished(_)))
            && self.reap_later.is_empty()
    }

    fn running_count(&self) -> usize {
        self.envs
            .iter()
            .filter(|e| matches!(e.phase, EnvPhase::Running(_)))
            .count()
    }

    /// Start ready envs (deps passed) up to `jobs`; skip envs whose deps did not pass; mark
    /// everything pending as not run once shutting down.
    ///
    /// Runs every loop turn, so it stays O(envs): the running count is kept as it goes, not
    /// recounted per pending env (that was O(envs²) per turn with hundreds of envs).
    pub(super) fn schedule(&mut self, now: Instant) {
        let count = if self.plan.start_order.is_empty() {
            self.envs.len()
        } else {
            self.plan.start_order.len()
        };
        let mut running = self.running_count();
        let mut running_bytes = self.running_expected_bytes();
        loop {
            // Once an env waits for memory, no later one overtakes it.
            let mut memory_blocked = false;
            let mut changed = false;
            for i in 0..count {
                let id = self.plan.start_order.get(i).copied().unwrap_or(i);
                if !matches!(self.envs[id].phase, EnvPhase::Pending) {
                    continue;
                }
                if self.shutdown.is_some() || self.quitting {
                    self.finish_env(id, EnvStatus::NotRun, now);
                    changed = true;
                    continue;
                }
                let mut ready = true;
                let mut failed_dep = None;
                for &dep in &self.plan.envs[id].depends {
                    match self.envs[dep].phase {
                        EnvPhase::Finished(Verdict::Passed) => {}
                        EnvPhase::Finished(_) => failed_dep = Some(dep),
                        _ => ready = false,
                    }
                }
                // `after`: ordering only, any outcome will do.
                for &dep in &self.plan.envs[id].after {
                    if !matches!(self.envs[dep].phase, EnvPhase::Finished(_)) {
                        ready = false;
                    }
                }
                if let Some(dep) = failed_dep {
                    let dependency = self.plan.envs[dep].name.clone();
                    self.finish_env(id, EnvStatus::Skipped { dependency }, now);
                    changed = true;
                } else if ready && running < self.plan.jobs && !memory_blocked {
                    if !self.memory_fits(id, running, running_bytes) {
                        memory_blocked = true;
                        continue;
                    }
                    self.start_env(id, now);
                    if matches!(self.envs[id].phase, EnvPhase::Running(_)) {
                        running += 1;
                        running_bytes = running_bytes.saturating_add(self.expected_bytes(id));
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn start_env(&mut self, id: EnvId, now: Instant) {
        let env = &mut self.envs[id];
        env.attempt += 1;
        env.runs += 1;
        env.started = Some(now);
        env.usage = Resources::default();
        env.live = Resources::default();
        env.waiting_for_memory = false;
        env.timeout_at = self.plan.envs[id].timeout.map(|t| now + t);
        env.log_path = self
            .plan
            .log_dir
            .join(log_file_name(&self.plan.envs[id].name, env.runs));
        let attempt = env.attempt;
        let spec = &self.plan.envs[id];
        let dir = self
            .plan
            .log_dir
            .join(REPORTS_DIR)
            .join(report_dir_name(&spec.name, env.runs));
        env.reports = Some(fresh_report_dir(dir, &spec.reports.patterns, &spec.cwd));
        self.envs[id].stale_probe = false;
        if let Some(probe) = &self.plan.envs[id].skip_probe {
            // An earlier run's result must not speak for this one: if it cannot be removed,
            // it is not read at the end either (the env is then not reported as skipped).
            match std::fs::remove_file(&probe.result_json) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    self.envs[id].stale_probe = true;
                }
                _ => {}
            }
        }
        self.emit(RunEvent::EnvStarted { env: id, attempt });
        // A log that cannot be created does not stop the env: the log writer says so at once
        // and keeps its output in memory, and the env's result says the log is incomplete.
        let file = File::create(&self.envs[id].log_path);
        let _ = self.tx.send(log::ToLog::Open {
            env: id,
            path: self.envs[id].log_path.clone(),
            file,
        });
        self.spawn_command(id, 0, now);
    }

    pub(super) fn finish_env(&mut self, id: EnvId, status: EnvStatus, now: Instant) {
        let spec = &self.plan.envs[id];
        let env = &mut self.envs[id];
        if let Some((_, request)) = env.reports.take()
            && !request.patterns.is_empty()
        {
            // Read by the log writer, after the attempt and before its result is forwarded.
            let _ = self.tx.send(log::ToLog::ReadReports { env: id, request });
        }
        let _ = self.tx.send(log::ToLog::Close { env: id });
        let result = EnvResult {
            status,
            stopped_by: env.stopped_by,
            duration: env.started.map_or(Duration::ZERO, |s| now - s),
            leaked: std::mem::take(&mut env.leaked),
            on_leak: spec.on_leak,
            log_path: env.log_path.clone(),
            attempt: env.attempt.max(1),
            // Filled in by the log writer, which knows whether the log kept everything
            // and reads the test reports.
            log_incomplete: None,
            tests: None,
            resources: env.usage,
        };
        let verdict = result.verdict();
        let ran = env.attempt > 0;
        if verdict == Verdict::Failed
            && ran
            && env.attempt <= spec.retries
            && self.shutdown.is_none()
            && !self.quitting
        {
            env.reset();
            self.emit(RunEvent::EnvRetrying { env: id, result });
            return;
        }
        env.phase = EnvPhase::Finished(verdict);
        self.emit(RunEvent::EnvFinished { env: id, result });
        if verdict == Verdict::Failed && self.options.fail_fast && self.shutdown.is_none() {
            self.begin_shutdown(ShutdownCause::FailFast(id), now);
        }
    }
}

/// The file runall leaves in each report folder it makes: only a folder holding it is ever
/// emptied (a `--log-dir` may point into a tree whose `reports/<env>` is someone else's).
const REPORT_DIR_MARK: &str = ".runall-report-dir";

/// Makes the attempt's report folder fresh and empty (an earlier run's folder of the same
/// name is removed: it belongs to runall's log folder) and says what to read after it. The
/// folder's own mtime is the attempt's start for the stale check: it comes from the file
/// system's clock, as the reports' mtimes will. A folder that cannot be made is a warning in
/// the results; the env still runs.
fn fresh_report_dir(dir: PathBuf, patterns: &[String], cwd: &Path) -> (PathBuf, ReportRequest) {
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let mark = dir.join(REPORT_DIR_MARK);
    let made = match fs::symlink_metadata(&dir) {
        Ok(meta) if meta.is_dir() && mark.is_file() => fs::remove_dir_all(&dir),
        Ok(_) => Err(std::io::Error::other(
            "it is not a report folder runall made (no .runall-report-dir in it), so it is left \
             as it is",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
    .and_then(|()| fs::create_dir_all(&dir))
    .and_then(|()| fs::write(&mark, b""))
    .and_then(|()| fs::metadata(&dir)?.modified());
    let (since, setup_warning, fresh_dir) = match made {
        Ok(since) => (Some(since), None, Some(dir.clone())),
        // Whatever is in it now is older than this attempt: stale, never counted.
        Err(e) => (
            Some(std::time::SystemTime::now()),
            Some(format!(
                "{}: cannot make the report folder: {e}",
                dir.display()
            )),
            None,
        ),
    };
    let request = ReportRequest {
        patterns: testreport::expand_patterns(patterns, cwd, &dir),
        since,
        setup_warning,
        fresh_dir,
    };
    (dir, request)
}

impl EnvRun {
    /// Back to pending for another attempt (a retry or a rerun).
    pub(super) fn reset(&mut self) {
        self.phase = EnvPhase::Pending;
        self.stopped_by = None;
        self.leaked.clear();
        self.timeout_at = None;
    }
}
