//! One memory budget for every pane's scrollback: the bytes of parsed lines (and raw bytes
//! waiting to be parsed) that all envs together may hold, and which envs give theirs up first
//! when the total is over it. Pure bookkeeping: the app tells it what each env holds and which
//! envs were viewed, and it names the envs to evict.
//!
//! The policy: least recently viewed first (an env never viewed is older than any viewed
//! one; among equals, the lower env id first), never an env that is resident (the focused
//! env and the envs drawn in the last frame), and only as many as it takes to get back under
//! the budget. An evicted env keeps its line index, so its lines page back from its log at
//! once when it is viewed again; the log is the source of truth.

use crate::plan::EnvId;

/// What each env holds and when it was last viewed.
#[derive(Debug, Clone)]
pub struct Budget {
    limit: usize,
    used: Vec<usize>,
    total: usize,
    /// Per env: the tick it was last viewed at (0: never).
    viewed: Vec<u64>,
    clock: u64,
}

impl Budget {
    /// A budget of `limit` bytes for `envs` envs that hold nothing yet.
    pub fn new(limit: usize, envs: usize) -> Self {
        Self {
            limit,
            used: vec![0; envs],
            total: 0,
            viewed: vec![0; envs],
            clock: 0,
        }
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held by all envs together, as last told.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Env `id` holds `bytes` now.
    pub fn set_used(&mut self, id: EnvId, bytes: usize) {
        if let Some(slot) = self.used.get_mut(id) {
            self.total = self.total - *slot + bytes;
            *slot = bytes;
        }
    }

    /// Env `id` was viewed (drawn) now: it becomes the most recently viewed.
    pub fn viewed(&mut self, id: EnvId) {
        if let Some(slot) = self.viewed.get_mut(id) {
            self.clock += 1;
            *slot = self.clock;
        }
    }

    /// Whether the envs hold more than the budget.
    pub fn over(&self) -> bool {
        self.total > self.limit
    }

    /// The envs to evict, least recently viewed first, to get back under the budget: never
    /// one for which `resident` says so, never one that holds nothing. Empty when under the
    /// budget. When the resident envs alone are over it, every other env that holds
    /// something is named (the resident ones stay: they are on screen).
    pub fn victims(&self, resident: impl Fn(EnvId) -> bool) -> Vec<EnvId> {
        if !self.over() {
            return Vec::new();
        }
        let mut candidates: Vec<EnvId> = (0..self.used.len())
            .filter(|&id| self.used[id] > 0 && !resident(id))
            .collect();
        candidates.sort_by_key(|&id| (self.viewed[id], id));
        let mut total = self.total;
        let mut out = Vec::new();
        for id in candidates {
            if total <= self.limit {
                break;
            }
            total -= self.used[id];
            out.push(id);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_follow_what_each_env_holds() {
        let mut budget = Budget::new(100, 3);
        budget.set_used(0, 40);
        budget.set_used(1, 50);
        assert_eq!(budget.total(), 90);
        assert!(!budget.over());
        budget.set_used(0, 10);
        assert_eq!(budget.total(), 60);
        budget.set_used(2, 41);
        assert!(budget.over());
        budget.set_used(9, 1000);
        assert_eq!(budget.total(), 101, "an unknown env changes nothing");
    }

    #[test]
    fn evicts_least_recently_viewed_first_and_only_as_many_as_needed() {
        // (held per env, views in order, resident envs, expected victims in order)
        type Case<'a> = (&'a [usize], &'a [EnvId], &'a [EnvId], &'a [EnvId]);
        let cases: [Case<'_>; 6] = [
            // Under the budget: nothing.
            (&[30, 30, 30], &[], &[], &[]),
            // Never viewed is oldest; among equals the lower id goes first.
            (&[40, 40, 40], &[1], &[], &[0]),
            // Viewed long ago goes before viewed recently.
            (&[40, 40, 40], &[2, 0, 1], &[], &[2]),
            // Resident envs are never named, however old.
            (&[40, 40, 40], &[2, 0, 1], &[2], &[0]),
            // As many as it takes to get under.
            (&[60, 60, 60, 0], &[0, 1, 2], &[], &[0, 1]),
            // Resident envs over the budget alone: every other env that holds something.
            (&[200, 10, 0, 10], &[], &[0], &[1, 3]),
        ];
        for (used, views, resident, victims) in cases {
            let mut budget = Budget::new(100, used.len());
            for (id, &bytes) in used.iter().enumerate() {
                budget.set_used(id, bytes);
            }
            for &id in views {
                budget.viewed(id);
            }
            assert_eq!(
                budget.victims(|id| resident.contains(&id)),
                victims,
                "used {used:?}, views {views:?}, resident {resident:?}"
            );
        }
    }
}
