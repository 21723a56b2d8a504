//! What envs cost, as the runner sees it: the adopted processes' rusage counted for the env
//! whose group they were in, the once-a-second `/proc` sample of every running env's process
//! group (sent as `RunEvent::Usage`, and what `max_memory` counts a running env at when it is
//! above its expected peak), and the `max_memory` check of a ready env (`memory`'s policy).
//! Each command's own rusage is taken where it is reaped (`reap`).

use std::time::{Duration, Instant};

use super::{EnvPhase, Runner, sys};
use crate::event::{Resources, RunEvent};
use crate::plan::EnvId;

/// Time between two samples of the running envs' usage.
pub(super) const SAMPLE_EVERY: Duration = Duration::from_secs(1);

impl Runner {
    /// An adopted process of group `pgid` was reaped: its cost is the env's whose command
    /// leads that group.
    pub(super) fn count_adopted(&mut self, pgid: i32, usage: sys::ChildUsage) {
        if let Some(env) = self
            .envs
            .iter_mut()
            .find(|e| matches!(&e.phase, EnvPhase::Running(a) if a.pid == pgid))
        {
            env.usage.add(usage.cpu, usage.peak_rss);
        }
    }

    /// Whether the running envs' usage is sampled at all: for the TUI (live figures) and for
    /// `max_memory` (current RSS above the expected peak).
    fn samples_usage(&self) -> bool {
        self.options.keep_alive || self.options.memory.is_some()
    }

    /// When the next sample is due, if something runs and samples are wanted.
    pub(super) fn next_sample_at(&self) -> Option<Instant> {
        self.next_sample.filter(|_| self.samples_usage())
    }

    /// Samples every running env's process group when due (one pass over `/proc`) and sends
    /// each figure as `RunEvent::Usage`.
    pub(super) fn sample_usage(&mut self, now: Instant) {
        if !self.samples_usage() || self.next_sample.is_some_and(|at| at > now) {
            return;
        }
        let running: Vec<(EnvId, i32)> = self
            .envs
            .iter()
            .enumerate()
            .filter_map(|(id, e)| match &e.phase {
                EnvPhase::Running(a) => Some((id, a.pid)),
                _ => None,
            })
            .collect();
        if running.is_empty() {
            self.next_sample = None;
            return;
        }
        match self.next_sample {
            Some(at) if at > now => return,
            // The first sample a moment after the first start: a command that lives for less
            // than that costs nothing here.
            None => {
                self.next_sample = Some(now + SAMPLE_EVERY);
                return;
            }
            Some(_) => {}
        }
        self.next_sample = Some(now + SAMPLE_EVERY);
        let groups: Vec<i32> = running.iter().map(|&(_, pgid)| pgid).collect();
        let samples = sys::group_usage(&groups);
        for (&(id, _), sample) in running.iter().zip(samples) {
            let env = &mut self.envs[id];
            // CPU so far: the finished commands' plus the running one's.
            let live = Resources {
                cpu: env.usage.cpu + sample.cpu,
                peak_rss: sample.rss,
            };
            env.live = live;
            self.emit(RunEvent::Usage { env: id, now: live });
        }
    }

    /// Bytes env `id` is expected to use while running (its expected peak, or its current
    /// RSS when higher); 0 without `max_memory`.
    pub(super) fn expected_bytes(&self, id: EnvId) -> u64 {
        self.options.memory.as_ref().map_or(0, |m| {
            m.running_expected(id, self.envs.get(id).map_or(0, |e| e.live.peak_rss))
        })
    }

    /// What the running envs are expected to use together.
    pub(super) fn running_expected_bytes(&self) -> u64 {
        if self.options.memory.is_none() {
            return 0;
        }
        self.envs
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.phase, EnvPhase::Running(_)))
            .map(|(id, _)| self.expected_bytes(id))
            .fold(0, u64::saturating_add)
    }

    /// Whether ready env `id` may start under `max_memory` with `running` envs expected at
    /// `running_bytes`; the first time it may not, `WaitingForMemory` is sent.
    pub(super) fn memory_fits(&mut self, id: EnvId, running: usize, running_bytes: u64) -> bool {
        let Some(memory) = &self.options.memory else {
            return true;
        };
        if memory.fits(id, running, running_bytes) {
            return true;
        }
        let expected = memory.expected.get(id).copied().unwrap_or(0);
        if !self.envs[id].waiting_for_memory {
            self.envs[id].waiting_for_memory = true;
            self.emit(RunEvent::WaitingForMemory {
                env: id,
                expected,
                running: running_bytes,
            });
        }
        false
    }
}
